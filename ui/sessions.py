"""Which browser a request comes from, and which browser each Gradio session belongs to.

Gradio knows a session only by its hash, which travels in URLs and request bodies: whoever
holds another session's hash can run that session's handlers (export its chat, vote in
its battle) and listen to its replies. So every browser gets a random HttpOnly cookie
(`bimedix_browser`) with its first response, and the first request that names a session
hash binds that session to the request's browser; later requests naming it from another
browser are refused (403). A client that keeps no cookies (a script using the API) has no
browser id and can use only sessions it started itself without one.

The session hash is read where Gradio takes it: the `/heartbeat/<hash>` and
`/stream/<hash>/...` paths, the `session_hash` query parameter, and the JSON body of the
API's POST routes.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Hashable
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qs

COOKIE = "bimedix_browser"
MAX_BODY_BYTES = 16 * 1024 * 1024  # a message is 20,000 characters; files go by upload
_PATH_HASH = re.compile(r"/gradio_api/(?:heartbeat|stream)/([^/]+)")
_JSON_ROUTES = re.compile(r"/gradio_api/(?:queue/join|run/|api/|call/|cancel|reset)")


def cookie_value(headers) -> str | None:
    """The browser id in raw ASGI headers (a list of (bytes, bytes))."""
    for name, value in headers:
        if name.lower() == b"cookie":
            try:
                morsel = SimpleCookie(value.decode("latin-1")).get(COOKIE)
            except CookieError:
                continue
            if morsel is not None and morsel.value:
                return morsel.value
    return None


def browser_of(request) -> str | None:
    """The browser id of a `gr.Request` (None without one, e.g. an API script)."""
    try:
        cookies = dict(request.cookies) if request is not None else {}
    except AttributeError:
        return None
    return cookies.get(COOKIE) or None


def session_key(request, fallback: object) -> Hashable:
    """Whose replies admission counts (engine/admission.py): the browser session, named by
    its hash. Not its Conversation: requests sent together through the API, before any
    state was saved, would each get a fresh one. `fallback` where there is no request."""
    session_hash = getattr(request, "session_hash", None) if request is not None else None
    return ("session", session_hash) if session_hash else ("object", id(fallback))


def set_cookie_header(browser: str, https: bool) -> tuple[bytes, bytes]:
    # Over https the app may be framed by huggingface.co: a cross-site, partitioned cookie.
    attributes = "Secure; SameSite=None; Partitioned" if https else "SameSite=Lax"
    return b"set-cookie", f"{COOKIE}={browser}; Path=/; HttpOnly; {attributes}".encode()


class SessionBindings:
    """session hash -> browser id, first come; the oldest are forgotten past `capacity`."""

    def __init__(self, capacity: int = 200_000):
        self.capacity = capacity
        self._owners: OrderedDict[str, str | None] = OrderedDict()
        self._lock = threading.Lock()

    def allows(self, session_hash: str, browser: str | None) -> bool:
        with self._lock:
            if session_hash not in self._owners:
                self._owners[session_hash] = browser
                if len(self._owners) > self.capacity:
                    self._owners.popitem(last=False)
                return True
            return self._owners[session_hash] == browser


def hash_in_url(scope) -> str | None:
    match = _PATH_HASH.search(scope["path"])
    if match:
        return match.group(1)
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("session_hash")
    return values[0] if values else None


def needs_body(scope) -> bool:
    return scope["method"] == "POST" and bool(_JSON_ROUTES.search(scope["path"]))


def hash_in_body(body: bytes) -> str | None:
    try:
        value = json.loads(body).get("session_hash")
    except (ValueError, AttributeError, UnicodeDecodeError):
        return None
    return value if isinstance(value, str) else None


async def read_body(receive) -> tuple[bytes, bool]:
    """The whole request body, and whether it stayed within MAX_BODY_BYTES."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), True
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if size > MAX_BODY_BYTES:
            return b"", False
        if not message.get("more_body"):
            return b"".join(chunks), True


def replaying(body: bytes, receive):
    """A `receive` that hands the app the body already read, then the real stream."""
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def new_browser_id() -> str:
    return secrets.token_urlsafe(24)
