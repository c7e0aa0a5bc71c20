"""The app's folder as browsers see it: `/bimedix-files/...`, never the server's path.

Gradio names files by their path on the server, in the page (the example image), in
`/config`, in every upload's reply and in the events it streams: each told a stranger
where the app keeps its files, for which port, under which user's temp folder. The
middleware (ui/security.py) writes the folder's path as `ALIAS` in what goes out and back
in what comes in (a JSON body naming a file, a `/gradio_api/file=` URL), so Gradio keeps
working on real paths and the browser never sees one.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ui.asgi_bodies import rewriting_whole_body

ALIAS = "/bimedix-files"
# Text that can name a file; images and other downloads pass untouched.
_TEXT_TYPES = (b"application/json", b"text/html", b"text/event-stream", b"text/plain", b"application/javascript")
_END = rb"(?=[/\"'\\\s<>)]|$)"  # a whole path component: port-78 is not port-7860's prefix


class PathAlias:
    def __init__(self, folder: Path):
        reals = sorted({str(folder), os.path.realpath(folder)}, key=len, reverse=True)
        self.real = str(folder)
        self._hide = re.compile(b"|".join(re.escape(real.encode()) + _END for real in reals))
        self._reveal = re.compile(re.escape(ALIAS.encode()) + _END)

    def hide(self, data: bytes) -> bytes:
        return self._hide.sub(ALIAS.encode(), data)

    def reveal(self, data: bytes) -> bytes:
        return self._reveal.sub(self.real.encode().replace(b"\\", b"\\\\"), data)

    def reveal_path(self, scope) -> dict:
        """The scope with a file URL's alias put back to the real folder."""
        if ALIAS not in scope["path"]:
            return scope
        path = self.reveal(scope["path"].encode()).decode()
        return {**scope, "path": path, "raw_path": path.encode()}

    def hiding(self, send):
        """A `send` that writes the folder as ALIAS in text responses: a whole body is held
        back to set its new length (ui/asgi_bodies.py); a stream is rewritten chunk by chunk."""
        whole = rewriting_whole_body(send, self.hide, lambda start: _is_text(start) and _has_length(start))
        streaming = {"text": False}

        async def hiding_send(message):
            if message["type"] == "http.response.start":
                streaming["text"] = _is_text(message) and not _has_length(message)
            elif message["type"] == "http.response.body" and streaming["text"]:
                message = {**message, "body": self.hide(message.get("body", b""))}
            await whole(message)

        return hiding_send


def _is_text(start: dict) -> bool:
    return dict(start.get("headers", [])).get(b"content-type", b"").startswith(_TEXT_TYPES)


def _has_length(start: dict) -> bool:
    return b"content-length" in dict(start.get("headers", []))
