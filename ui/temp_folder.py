"""The app's own temporary folder: Gradio's upload cache, exports and downloads live there.

Gradio's default cache (/tmp/gradio) is shared by every Gradio app on the machine and is
never emptied after a crash: one instance served another's export, and a DICOM uploaded
before a kill -9 (its full header, patient tags included) was still served after the
restart. So each instance gets `<base>/port-<PORT>` (two instances cannot share a port),
emptied at start; folders of instances whose process is gone are deleted too.

Imports nothing of Gradio: GRADIO_TEMP_DIR must be set before Gradio is first imported
(some of its modules read it at import time).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

TEMP_ENV = "BIMEDIX_TEMP_DIR"
INSTANCE_ENV = "BIMEDIX_INSTANCE_DIR"  # set for this process by prepare_temp_folder
PID_FILE = "pid"
PREVIEW_SUFFIX = ".preview.png"  # ui/conversation.py: a conversation's de-identified image
# An upload not sent within this long is deleted: intake reads a sent one at once, so an
# older one was abandoned (removed from the box, replaced, or its tab closed).
UPLOAD_MAX_AGE_S = 10 * 60


def temp_base() -> Path:
    """$BIMEDIX_TEMP_DIR, else <system temp>/bimedix-chat."""
    return Path(os.environ.get(TEMP_ENV) or Path(tempfile.gettempdir()) / "bimedix-chat")


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def _owner_pid(folder: Path) -> int | None:
    try:
        return int((folder / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None


def remove_abandoned(base: Path) -> list[Path]:
    """Delete the folders of instances that are no longer running; returns them."""
    removed = []
    for folder in base.glob("port-*"):
        pid = _owner_pid(folder)
        if folder.is_dir() and (pid is None or not _process_alive(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def prepare_temp_folder(port: int, base: Path | None = None) -> Path:
    """Empty (or create) this instance's folder, point Gradio's cache into it; returns it."""
    base = base or temp_base()
    base.mkdir(parents=True, exist_ok=True)
    remove_abandoned(base)
    folder = base / f"port-{port}"
    shutil.rmtree(folder, ignore_errors=True)  # what an earlier run on this port left
    folder.mkdir(mode=0o700)
    (folder / PID_FILE).write_text(str(os.getpid()))
    os.environ["GRADIO_TEMP_DIR"] = str(folder / "gradio")
    os.environ[INSTANCE_ENV] = str(folder)
    return folder


def instance_folder() -> Path | None:
    """This instance's folder, when app.py prepared one."""
    configured = os.environ.get(INSTANCE_ENV)
    return Path(configured) if configured else None


def delete_abandoned_uploads(folder: Path, max_age_s: float = UPLOAD_MAX_AGE_S, now: float | None = None) -> list[Path]:
    """Delete the uploads under `folder` (Gradio's upload cache) older than `max_age_s`;
    the previews of live conversations stay (they go with their conversation). Returns them."""
    cutoff, removed = (time.time() if now is None else now) - max_age_s, []
    for path in sorted(Path(folder).rglob("*"), reverse=True):  # files before their folders
        try:
            if path.is_file() and not path.name.endswith(PREVIEW_SUFFIX) and path.stat().st_mtime < cutoff:
                path.unlink()
                removed.append(path)
            elif path.is_dir() and not any(path.iterdir()) and path.stat().st_mtime < cutoff:
                path.rmdir()
        except OSError:  # deleted meanwhile (intake, another sweep)
            continue
    return removed


def sweep_abandoned_uploads(folder: Path, max_age_s: float = UPLOAD_MAX_AGE_S, every_s: float = 60.0) -> threading.Thread:
    """Run `delete_abandoned_uploads` every `every_s` seconds, for the process's life."""

    def sweep() -> None:
        while True:
            time.sleep(every_s)
            delete_abandoned_uploads(folder, max_age_s)

    thread = threading.Thread(target=sweep, name="upload-sweeper", daemon=True)
    thread.start()
    return thread
