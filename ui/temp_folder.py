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
from pathlib import Path

TEMP_ENV = "BIMEDIX_TEMP_DIR"
INSTANCE_ENV = "BIMEDIX_INSTANCE_DIR"  # set for this process by prepare_temp_folder
PID_FILE = "pid"


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
