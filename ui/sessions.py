"""Which browser a request comes from, and which browser each Gradio session belongs to.

Gradio knows a session only by its hash, which travels in URLs and request bodies: whoever
holds another session's hash can run that session's handlers (export its chat, vote in
its battle) and listen to its replies. So every browser gets a random HttpOnly cookie
(`bimedix_browser`) with its first response, and the first request that names a session
hash binds that session to the request's browser; later requests naming it from another
browser are refused (403). A client that keeps no cookies (a script using the API) has no
browser id and can use only sessions it started itself without one.

Gradio reads a session hash, or an event id standing for one, in many places: the path
(`/heartbeat/<hash>`, `/stream/<hash>/...`), the `session_hash` query parameter (FastAPI takes
the last of several), the JSON body of the POST routes (`session_hash`, `event_id`), and the
path of the `/call/...` routes, where an unknown event id is taken as a session hash. So every
place is read, every occurrence: a request naming two sessions is refused, and each one it
names must be this browser's. An event id is checked through the session its event belongs
to. Routes the app never uses that name sessions or events are closed (`CLOSED_ROUTES`).
tests/ui/test_session_routes.py reads Gradio's own route table and fails when a route there
names a session or an event and is neither checked here nor closed.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from urllib.parse import parse_qs

from starlette.requests import Request, cookie_parser

COOKIE = "bimedix_browser"
MAX_BODY_BYTES = 16 * 1024 * 1024  # a message is 20,000 characters; files go by upload
# GET routes whose path names a session: the heartbeat and the media streams.
_PATH_HASH = re.compile(r"/gradio_api/(?:heartbeat|stream)/([^/]+)")
# POST routes whose JSON body names a session (`session_hash`) or an event (`event_id`).
_JSON_ROUTES = re.compile(r"/gradio_api/(?:queue/join|run/|cancel|reset)")
# Routes that name a session or an event and that the page never calls (its events go
# through /queue/join, or /run/ for the unqueued ones): the `/call/` API, whose GET takes an
# event id for a session hash; the old `/api/` alias of /run/; the streaming inputs
# (POST /stream/<event id>); the components' server functions (a multipart body naming any
# session); deep links (a session's every value in a file).
CLOSED_ROUTES = (("*", re.compile(r"/gradio_api/(?:call|api|component_server|deep_link)(?:/|$)")),
                 ("POST", re.compile(r"/gradio_api/stream/")))


def cookie_value(headers) -> str | None:
    """The browser id in raw ASGI headers (a list of (bytes, bytes)), read as Starlette reads
    cookies (the standard library's parser gives up on the first cookie it dislikes, such as
    another app's JSON value on the same host, and the browser would look cookieless)."""
    for name, value in headers:
        if name.lower() == b"cookie":
            found = cookie_parser(value.decode("latin-1")).get(COOKIE)
            if found:
                return found
    return None


def request_address(scope) -> str:
    """The client's address for an ASGI scope: the socket peer, or what a trusted proxy saw
    (the attempt limits' rule: arena.addresses.client_address)."""
    from arena.addresses import client_address

    return client_address(Request(scope))


def identity(headers, address: str) -> str:
    """Who a request is, for the session and file bindings: its browser's cookie, else its
    address (a script that keeps no cookie, a browser refusing the cookie in a frame).
    Never one shared "nobody" that every cookieless client would be."""
    return cookie_value(headers) or f"address:{address}"


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


def client_keys(request) -> tuple[Hashable, ...]:
    """Who else a reply counts against (engine/admission.py): the browser (its cookie), and
    the address it comes from (the socket peer, or what a trusted proxy saw: arena.limits).
    A script that drops its cookie to start sessions anew is still one address."""
    from arena.limits import UNKNOWN_CLIENT, client_address

    if request is None:
        return ()
    browser, address = browser_of(request), client_address(request)
    return ((("browser", browser),) if browser else ()) + ((("address", address),) if address != UNKNOWN_CLIENT else ())


def set_cookie_header(browser: str, https: bool) -> tuple[bytes, bytes]:
    # Over https the app may be framed by huggingface.co: a cross-site, partitioned cookie.
    attributes = "Secure; SameSite=None; Partitioned" if https else "SameSite=Lax"
    return b"set-cookie", f"{COOKIE}={browser}; Path=/; HttpOnly; {attributes}".encode()


# Routes where a session starts: its page's heartbeat, its first event. Elsewhere a session
# hash nobody holds is refused, so a flood of made-up hashes binds nothing.
_STARTS_SESSION = re.compile(r"/gradio_api/(?:heartbeat/|queue/join|run/)")


def starts_session(scope) -> bool:
    return bool(_STARTS_SESSION.search(scope["path"]))


class SessionBindings:
    """session hash -> who holds it (`identity`), first come. The least recently used are
    forgotten past `capacity`, and one address binds at most `per_address` sessions, so a
    flood cannot push a live session out to take it over."""

    def __init__(self, capacity: int = 200_000, per_address: int = 5_000):
        self.capacity, self.per_address = capacity, per_address
        self._owners: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self._per_address: dict[str, int] = {}
        self._lock = threading.Lock()

    def allows(self, session_hash: str, holder: str, address: str = "", may_start: bool = True) -> bool:
        """Whether `holder` may use this session; a new one is bound to it where
        `may_start` and the address has room."""
        with self._lock:
            owner = self._owners.get(session_hash)
            if owner is not None:
                self._owners.move_to_end(session_hash)
                return owner[0] == holder
            if not may_start or self._per_address.get(address, 0) >= self.per_address:
                return False
            self._owners[session_hash] = (holder, address)
            self._per_address[address] = self._per_address.get(address, 0) + 1
            if len(self._owners) > self.capacity:
                _, (_, gone) = self._owners.popitem(last=False)
                self._per_address[gone] -= 1
            return True


def closed_route(scope) -> bool:
    return any(method in ("*", scope["method"]) and pattern.search(scope["path"])
               for method, pattern in CLOSED_ROUTES)


def hashes_in_url(scope) -> list[str]:
    """Every session hash the URL names: its path, and each `session_hash` query value."""
    match = _PATH_HASH.search(scope["path"]) if scope["method"] in ("GET", "HEAD") else None
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    return ([match.group(1)] if match else []) + query.get("session_hash", [])


def needs_body(scope) -> bool:
    return scope["method"] == "POST" and bool(_JSON_ROUTES.search(scope["path"]))


class _Pairs(list):
    """A JSON object as its (key, value) pairs, duplicates kept."""


def names_in_body(body: bytes) -> tuple[list[str], list[str]]:
    """(session hashes, event ids) a JSON body's top-level object names, every occurrence:
    a key given twice is read twice (Python's parser, like FastAPI's, keeps the last)."""
    try:
        top = json.loads(body, object_pairs_hook=_Pairs)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return [], []
    found: dict[str, list[str]] = {"session_hash": [], "event_id": []}
    for key, value in top if isinstance(top, _Pairs) else ():
        if key in found and value is not None:
            found[key].append(value if isinstance(value, str) else json.dumps(value))
    return found["session_hash"], found["event_id"]


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


def declared_size(scope) -> int:
    """The request's Content-Length (0 when it gives none)."""
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0


def bounded(receive, limit: int):
    """A `receive` that ends the request (a disconnect) once its body passes `limit` bytes,
    whatever its Content-Length said: the app stores no more of it."""
    size = 0

    async def receive_within_limit():
        nonlocal size
        message = await receive()
        if message["type"] == "http.request":
            size += len(message.get("body", b""))
            if size > limit:
                return {"type": "http.disconnect"}
        return message

    return receive_within_limit


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


def event_sessions(blocks) -> Callable[[str], str | None]:
    """The session hash each event id of `blocks`' queue belongs to (None: no such event).
    An event leaves `event_ids_to_events` when it ends but stays in
    `pending_event_ids_session` until its last message is read."""

    def session_of(event_id: str) -> str | None:
        queue = getattr(blocks, "_queue", None)
        if queue is None:
            return None
        event = queue.event_ids_to_events.get(event_id)
        if event is not None:
            return event.session_hash
        return next((session for session, ids in list(queue.pending_event_ids_session.items())
                     if event_id in ids), None)

    return session_of


def new_browser_id() -> str:
    return secrets.token_urlsafe(24)
