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
import os
import re
import threading
from collections import OrderedDict
from pathlib import Path

# Responses whose text can name a file for the browser that asked.
NAMING_ROUTES = re.compile(r"/gradio_api/(?:upload|queue/data|run/)")
_FILE_ROUTE = re.compile(r"/gradio_api/file[=/](.+)$")
_PATH_END = r"[^\"'\\\s<>)]*"  # a path in JSON or HTML text ends at a quote, a space or markup


def _real(path: str | Path) -> str:
    return os.path.realpath(path)


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

    def foreign_in(self, browser: str | None, text: str) -> bool:
        """Whether `text` (a request from `browser`) names a file of the folder that is not
        theirs: Gradio would hand another person's upload to this browser's handler."""
        paths = {_real(match.group(0)) for pattern in self._names for match in pattern.finditer(text)}
        with self._lock:
            return any(self._owners.get(path, browser) != browser for path in paths
                       if path.startswith(self.root + os.sep)
                       and not any(path.startswith(folder + os.sep) for folder in self.public))

    def may_fetch(self, browser: str | None, request_path: str) -> bool:
        """Whether `browser` may have the file a `/gradio_api/file=` URL path names."""
        match = _FILE_ROUTE.search(request_path)
        if match is None:
            return True
        path = _real(match.group(1))
        if not path.startswith(self.root + os.sep) or any(
                path.startswith(folder + os.sep) for folder in self.public):
            return True  # not the app's folder (Gradio's own rules apply) or a public file
        with self._lock:
            return path in self._owners and self._owners[path] == browser

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
