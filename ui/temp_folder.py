"""The app's own temporary folder: Gradio's upload cache, exports and downloads live there.

Gradio's default cache (/tmp/gradio) is shared by every Gradio app on the machine and is
never emptied after a crash: one instance served another's export, and a DICOM uploaded
before a kill -9 (its full header, patient tags included) was still served after the
restart. So each instance gets `<base>/port-<PORT>` (two instances cannot share a port),
emptied at start; folders of instances whose process is gone are deleted too.

A live instance's folder is never touched: its process holds an flock on the folder's
lock file for its whole life (the OS drops it when the process dies, even by kill -9; a
pid file alone is fooled when the pid is reused), and a second start on its port is
refused before anything is deleted. Every folder here is 0700 whatever the umask, and a
base folder that another user owns is not used.

Imports nothing of Gradio: GRADIO_TEMP_DIR must be set before Gradio is first imported
(some of its modules read it at import time).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import stat
import tempfile
import threading
import time
from pathlib import Path
from types import MappingProxyType

from engine.errors import UserFacingError

TEMP_ENV = "BIMEDIX_TEMP_DIR"
INSTANCE_ENV = "BIMEDIX_INSTANCE_DIR"  # set for this process by prepare_temp_folder
PID_FILE = "pid"
LOCK_FILE = "lock"  # flock'ed by the folder's process for its whole life
PREVIEW_SUFFIX = ".preview.png"  # ui/conversation.py: a conversation's de-identified image
# An upload not sent within this long is deleted: intake reads a sent one at once, so an
# older one was abandoned (removed from the box, replaced, or its tab closed).
UPLOAD_MAX_AGE_S = 10 * 60
PRIVATE_DIR, PRIVATE_FILE = 0o700, 0o600

# Open for the process's life: closing a descriptor would drop its folder's lock.
_held_locks: dict[Path, int] = {}


class StartupRefused(UserFacingError):
    """Why the app does not start (shown on the command line, in both languages)."""

    messages = MappingProxyType({
        "port_in_use": {
            "en": "Port {port} is already in use (is BiMediX Chat already running?). Start with --port {other}, "
                  "or stop the other app first.",
            "ar": "المنفذ {port} مستخدم بالفعل (هل يعمل BiMediX Chat مسبقًا؟). شغّل التطبيق بالخيار "
                  "--port {other}، أو أوقف التطبيق الآخر أولًا.",
        },
        "folder_in_use": {
            "en": "Another BiMediX Chat (process {pid}) is using port {port} and its folder {folder}. Start with "
                  "--port {other}, or stop the other app first.",
            "ar": "تطبيق BiMediX Chat آخر (العملية {pid}) يستخدم المنفذ {port} ومجلده {folder}. شغّل التطبيق "
                  "بالخيار --port {other}، أو أوقف التطبيق الآخر أولًا.",
        },
        "base_not_owned": {
            "en": "The folder {base} belongs to another user (or is not a folder), so the app will not keep its "
                  "files there. Set {variable} to a folder of your own.",
            "ar": "المجلد {base} مملوك لمستخدم آخر (أو ليس مجلدًا)، لذا لن يحفظ التطبيق ملفاته فيه. اضبط "
                  "{variable} على مجلد خاص بك.",
        },
    })


def temp_base() -> Path:
    """$BIMEDIX_TEMP_DIR, else <system temp>/bimedix-chat."""
    return Path(os.environ.get(TEMP_ENV) or Path(tempfile.gettempdir()) / "bimedix-chat")


def check_port_free(host: str, port: int) -> None:
    """Raise StartupRefused when `host:port` cannot be listened on: run before anything is
    deleted, so a second start on a live instance's port leaves that instance alone. Binds
    as uvicorn does (SO_REUSEADDR), and on loopback too, which Gradio checks first."""
    host = host.strip("[]") or "127.0.0.1"
    for address in dict.fromkeys([host, "127.0.0.1"]):
        try:
            family, kind, proto, _, where = socket.getaddrinfo(address, port, type=socket.SOCK_STREAM,
                                                               flags=socket.AI_PASSIVE)[0]
        except socket.gaierror:  # an unknown host name is not a busy port: the server says so
            continue
        try:
            with socket.socket(family, kind, proto) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind(where)
        except OSError as error:
            raise StartupRefused("port_in_use", port=port, other=port + 1) from error


def _owned_private_dir(path: Path) -> bool:
    """Create `path` if missing; True when it is a real folder of this user (now 0700)."""
    try:
        path.mkdir(mode=PRIVATE_DIR, parents=True)
    except FileExistsError:
        pass
    info = os.lstat(path)  # lstat: a link planted by someone else is not followed
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
        return False
    os.chmod(path, PRIVATE_DIR)  # mkdir's mode is cut by the umask; an older base may be looser
    return True


def private_base(base: Path | None = None) -> Path:
    """The base folder, this user's own and 0700. The default one, when another user owns
    it, gives way to a per-user one; a base someone named that is not ours is refused."""
    chosen = base or temp_base()
    if _owned_private_dir(chosen):
        return chosen
    if base is None and not os.environ.get(TEMP_ENV):
        per_user = chosen.with_name(f"{chosen.name}-{os.geteuid()}")
        if _owned_private_dir(per_user):
            return per_user
        chosen = per_user
    raise StartupRefused("base_not_owned", base=chosen, variable=TEMP_ENV)


def make_private(tree: Path) -> None:
    """Folders 0700 and files 0600 under `tree` (copies keep their source's looser mode)."""
    for root, folders, files in os.walk(tree):
        os.chmod(root, PRIVATE_DIR)
        for name in files:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                os.chmod(path, PRIVATE_FILE)


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


def _try_lock(folder: Path) -> int | None:
    """A descriptor holding `folder`'s lock, or None when a live process holds it.
    FileNotFoundError when the folder is gone."""
    descriptor = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, PRIVATE_FILE)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(descriptor)
        return None
    return descriptor


def _is_live(folder: Path) -> bool:
    # A folder of an older version of the app has no lock file: its pid is all there is.
    if not (folder / LOCK_FILE).exists():
        pid = _owner_pid(folder)
        return pid is not None and _process_alive(pid)
    return False


def remove_abandoned(base: Path) -> list[Path]:
    """Delete the folders of instances that are no longer running; returns them. A folder
    whose lock is held (a live instance, this one included) is never deleted."""
    removed = []
    for folder in base.glob("port-*"):
        if not folder.is_dir() or folder.is_symlink() or _is_live(folder):
            continue
        try:
            descriptor = _try_lock(folder)
        except OSError:  # deleted meanwhile by another start's clean-up
            continue
        if descriptor is None:
            continue
        try:  # deleted while holding its lock: no instance can claim it halfway
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
        finally:
            os.close(descriptor)
    return removed


def _claim(folder: Path, port: int) -> int:
    """Hold `folder`'s lock for this process's life; StartupRefused when another holds it."""
    for _ in range(5):
        if not _owned_private_dir(folder):
            raise StartupRefused("base_not_owned", base=folder, variable=TEMP_ENV)
        try:
            descriptor = _try_lock(folder)
        except FileNotFoundError:  # another start's clean-up deleted it meanwhile: again
            continue
        if descriptor is None:
            raise StartupRefused("folder_in_use", pid=_owner_pid(folder) or "?", port=port, folder=folder,
                                 other=port + 1)
        try:  # the same file still? Another start's clean-up may have deleted it meanwhile
            if os.fstat(descriptor).st_ino == os.stat(folder / LOCK_FILE, follow_symlinks=False).st_ino:
                return descriptor
        except FileNotFoundError:
            pass
        os.close(descriptor)
    raise StartupRefused("folder_in_use", pid="?", port=port, folder=folder, other=port + 1)


def _empty(folder: Path, keep: str) -> None:
    for child in folder.iterdir():
        if child.name == keep:
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def prepare_temp_folder(port: int, base: Path | None = None) -> Path:
    """Claim this instance's folder (its lock held until the process ends), empty it, point
    Gradio's cache into it; returns it. Raises StartupRefused, having deleted nothing of a
    live instance, when another one holds it or the base is another user's."""
    base = private_base(base)
    remove_abandoned(base)
    folder = base / f"port-{port}"
    descriptor = _claim(folder, port)
    _held_locks[folder] = descriptor
    _empty(folder, keep=LOCK_FILE)  # what an earlier run on this port left
    (folder / PID_FILE).write_text(str(os.getpid()))
    _owned_private_dir(folder / "gradio")
    make_private(folder)
    os.environ["GRADIO_TEMP_DIR"] = str(folder / "gradio")
    os.environ[INSTANCE_ENV] = str(folder)
    return folder


def release_temp_folder(folder: Path) -> None:
    """Delete this instance's own folder, then let its lock go (at a clean stop)."""
    if folder in _held_locks:
        shutil.rmtree(folder, ignore_errors=True)
        os.close(_held_locks.pop(folder))


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
