"""Which browser may fetch each file of the app's own folder: the one it was shown to.

Gradio serves any file of its cache (`/gradio_api/file=PATH`) to whoever names its path:
an upload (a DICOM with its patient tags, before intake deletes it), the preview of
another person's X-ray. Here a file under the instance folder is served only to a browser
whose own responses named it: the upload's reply (`/upload`), the events streamed to its
sessions (`/queue/data`, bound to the browser by ui/sessions.py) and its unqueued calls
(`/run/`). Files of the public folders (the example images) are served to everyone.
"""

from __future__ import annotations

import codecs
import json
import os
import re
import secrets
import threading
from collections import OrderedDict
from pathlib import Path

from ui.asgi_bodies import rewriting_whole_body

UPLOAD_ROUTE = re.compile(r"/gradio_api/upload/?$")
# Responses whose text can name a file for the browser that asked.
NAMING_ROUTES = re.compile(r"/gradio_api/(?:upload|queue/data|run/)")
_FILE_ROUTE = re.compile(r"/gradio_api/file[=/]([^?#]+)")
_PATH_END = r"[^\"'\\\s<>)]*"  # a path in JSON or HTML text ends at a quote, a space or markup


def _real(path: str | Path) -> str:
    return os.path.realpath(path)


def _strings(value):
    """Every string in a parsed JSON value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


class FileOwners:
    """Thread-safe; the newest `capacity` files are remembered (older ones are long deleted)."""

    def __init__(self, root: Path, public: tuple[Path, ...] = (), capacity: int = 200_000):
        self.root, self.public = _real(root), tuple(_real(folder) for folder in public)
        self.capacity = capacity
        self._names = [re.compile(re.escape(prefix) + _PATH_END)
                       for prefix in {str(root), self.root}]
        self._owners: OrderedDict[str, str | None] = OrderedDict()
        self._lock = threading.Lock()

    def note(self, browser: str | None, text: str) -> None:
        """Every file of the folder that `text` (a response to `browser`) names is theirs.
        A file already shown to another browser stays that browser's."""
        paths = {_real(match.group(0)) for pattern in self._names for match in pattern.finditer(text)}
        with self._lock:
            for path in paths:
                if path.startswith(self.root + os.sep) and path not in self._owners:
                    self._owners[path] = browser
                    if len(self._owners) > self.capacity:
                        self._owners.popitem(last=False)

    def foreign_in(self, holder: str, body: bytes) -> bool:
        """Whether a request body from `holder` names a file of the folder that was not
        shown to them (or to nobody yet): Gradio would hand it to their handler, which reads
        it. Every string of the JSON is read as Gradio reads a path (relative to the working
        folder, links resolved), and a `/gradio_api/file=` URL by its path."""
        try:
            strings = list(_strings(json.loads(body)))
        except (ValueError, UnicodeDecodeError, RecursionError):
            strings = [body.decode("utf-8", "replace")]
        with self._lock:
            for string in strings:
                for candidate in (string, *(match.group(1) for match in _FILE_ROUTE.finditer(string))):
                    if len(candidate) > 4096 or os.sep not in candidate:
                        continue  # no path is that long, and a file name alone is not in the folder
                    path = _real(os.path.abspath(candidate.strip()))
                    if self._private(path) and self._owners.get(path) != holder:
                        return True
        return False

    def _private(self, path: str) -> bool:
        return path.startswith(self.root + os.sep) and not any(
            path.startswith(folder + os.sep) for folder in self.public)

    def may_fetch(self, holder: str, request_path: str) -> bool:
        """Whether `holder` may have the file a `/gradio_api/file=` URL path names. A path
        through a link (`/proc/self/fd/N`) is refused: it could point elsewhere by the time
        Gradio opens it."""
        match = _FILE_ROUTE.search(request_path)
        if match is None:
            return True
        named = os.path.normpath(os.path.abspath(match.group(1)))
        path = _real(named)
        if path != named:
            return False
        if not self._private(path):
            return True  # not the app's folder (Gradio's own rules apply) or a public file
        with self._lock:
            return self._owners.get(path) == holder

    def noting(self, browser: str | None, send):
        """A `send` that notes the files named in the response's body as it goes out."""
        decoder, tail = codecs.getincrementaldecoder("utf-8")("replace"), [""]

        async def noting_send(message):
            if message["type"] == "http.response.body":
                text = tail[0] + decoder.decode(message.get("body", b""), final=not message.get("more_body"))
                self.note(browser, text)
                tail[0] = text[-4096:]  # a path cut between two chunks is read whole next time
            await send(message)

        return noting_send


def own_folder_for_each_upload(send):
    """A `send` for `/gradio_api/upload` that moves each stored file into a folder of its
    own before its path goes out. Gradio names an upload's folder by a hash of its bytes:
    two people uploading the same X-ray shared one file, so one's intake deleted the
    other's, and only the first could fetch it."""
    return rewriting_whole_body(send, _moved, lambda start: start.get("status") == 200)


def _moved(body: bytes) -> bytes:
    try:
        paths = json.loads(body)
    except ValueError:
        return body
    if not isinstance(paths, list) or not all(isinstance(path, str) for path in paths):
        return body
    moved = []
    for path in map(Path, paths):
        folder = path.parent.parent / secrets.token_hex(16)
        try:
            folder.mkdir(mode=0o700)
            moved.append(str(path.rename(folder / path.name)))
            path.parent.rmdir()  # its hash folder, when no one else's file is in it
        except OSError:  # not stored yet (copied in the background), or the folder not empty
            moved.append(str(folder / path.name) if (folder / path.name).exists() else str(path))
    return json.dumps(moved, ensure_ascii=False).encode()
