"""Rewriting a whole response body on its way out of the app (pure ASGI).

The body is held back until its last chunk, rewritten, and sent in one piece with its new
Content-Length. For responses the middleware reads and changes: an upload's reply
(ui/file_owners.py), the page and its config (ui/path_alias.py).
"""

from __future__ import annotations

from typing import Callable


def rewriting_whole_body(send, rewrite: Callable[[bytes], bytes], applies: Callable[[dict], bool]):
    """A `send` that passes `rewrite(body)` for the responses whose start message
    `applies`, and everything else as it comes."""
    state: dict = {"start": None, "held": []}

    async def rewriting_send(message):
        if message["type"] == "http.response.start":
            if not applies(message):
                return await send(message)
            state["start"] = message
            return
        if message["type"] != "http.response.body" or state["start"] is None:
            return await send(message)
        state["held"].append(message.get("body", b""))
        if message.get("more_body"):
            return
        body, start = rewrite(b"".join(state["held"])), state["start"]
        headers = [(name, value) for name, value in start.get("headers", []) if name != b"content-length"]
        await send({**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    return rewriting_send
