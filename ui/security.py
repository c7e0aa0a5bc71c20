"""HTTP hardening around the Gradio app: response headers, and routes the app must not serve.

- Content-Security-Policy: images and media only from the app itself (or data:/blob:
  URLs it makes), so nothing in a message or a reply can make the browser fetch, and so
  leak to, another server; no plugins; framing only by the app itself and Hugging Face
  (a Space is shown inside huggingface.co).
- X-Content-Type-Options: nosniff, so an uploaded file is never run as another type;
  Referrer-Policy: no-referrer.
- `/gradio_api/deep_link` is refused: Gradio writes every field of a session (a typed
  access code included) to a file anyone holding the link can download.
- A session is served only to the browser it started in (ui/sessions.py), and exports
  only through one-time downloads (ui/downloads.py).

Passed to the FastAPI app Gradio builds (`launch(app_kwargs={"middleware": ...})`), so it
applies to every route, Gradio's own included.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable
from urllib.parse import quote

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import FileResponse, PlainTextResponse, Response

from engine.images import MAX_FILE_BYTES
from ui.downloads import Downloads, content_type
from ui.file_owners import NAMING_ROUTES, UPLOAD_ROUTE, FileOwners, own_folder_for_each_upload
from ui.path_alias import PathAlias
from ui.sessions import (SessionBindings, bounded, closed_route, cookie_value, declared_size, event_sessions,
                         hashes_in_url, identity, names_in_body, needs_body, new_browser_id, read_body, replaying,
                         request_address, starts_session,
                         set_cookie_header)

CONTENT_SECURITY_POLICY = "; ".join([
    "img-src 'self' data: blob:",
    "media-src 'self' data: blob:",
    "object-src 'none'",
    "base-uri 'self'",
    "frame-ancestors 'self' https://huggingface.co https://*.huggingface.co https://*.hf.space",
])
HEADERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)

GONE = ("This download is no longer available: each export is served once, to the browser that made it.\n"
        "هذا التنزيل لم يعد متاحًا: يُقدَّم كل تصدير مرة واحدة، للمتصفح الذي طلبه.\n")
FOREIGN_SESSION = ("This session belongs to another browser.\nهذه الجلسة تخص متصفحًا آخر.\n")
NOT_YOURS = ("Not found: a file of this app is served only to the browser it was shown to.\n"
             "غير موجود: يُقدَّم ملف هذا التطبيق فقط للمتصفح الذي عُرض عليه.\n")
TOO_LARGE = ("Too large: a file may be at most 50 MB.\nكبير جدًا: الحد الأقصى للملف 50 ميغابايت.\n")
# What one upload request may store: the intake's limit for each of a message's files.
MAX_STORED_BYTES = MAX_FILE_BYTES * 4 + 1024 * 1024
TWO_SESSIONS = ("A request names one session only.\nيُسمّي الطلب جلسة واحدة فقط.\n")


def _https(scope) -> bool:
    forwarded = dict(scope.get("headers", [])).get(b"x-forwarded-proto", b"").decode("latin-1")
    return scope.get("scheme") == "https" or forwarded.split(",")[0].strip() == "https"


class SecurityMiddleware:
    """A pure ASGI middleware (streaming responses pass through untouched but for headers).

    Beyond the headers and refused routes: it gives each browser its id cookie, refuses a
    session named from another browser (ui/sessions.py), and serves the one-time
    downloads (ui/downloads.py).
    """

    def __init__(self, app, downloads: Downloads | None = None, bindings: SessionBindings | None = None,
                 assets: Callable[[str], Path | None] = lambda path: None,
                 event_session: Callable[[str], str | None] = lambda event_id: None,
                 files: FileOwners | None = None, alias: PathAlias | None = None):
        """`assets`: the bundled file a URL path names, served as it is (ui/assets.py).
        `event_session`: the session hash an event id belongs to (Gradio's queue), or None.
        `files`: which browser each file of the app's folder was shown to (ui/file_owners.py);
        `alias`: how the app's folder is named to browsers (ui/path_alias.py)."""
        self.app, self.downloads, self.assets, self.event_session = app, downloads, assets, event_session
        self.files, self.alias = files, alias
        self.bindings = bindings or SessionBindings()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if closed_route(scope):
            return await PlainTextResponse("Not Found", status_code=404)(scope, receive, send)
        browser = cookie_value(scope.get("headers", []))
        extra = [] if browser else [set_cookie_header(new_browser_id(), _https(scope))]
        font = self.assets(scope["path"])
        if font is not None and scope["method"] in ("GET", "HEAD"):
            return await FileResponse(font, headers={"cache-control": "public, max-age=86400"})(scope, receive, send)
        token = Downloads.token_in(scope["path"])
        if token and self.downloads is not None:
            return await self._download(token, browser)(scope, receive, send)
        scope = self.alias.reveal_path(scope) if self.alias is not None else scope
        address = request_address(scope)
        holder = identity(scope.get("headers", []), address)  # the cookie, else the address
        receive, refusal = await self._screen(scope, receive, holder, address)
        if refusal is not None:
            return await refusal(scope, receive, send)
        send = self.alias.hiding(send) if self.alias is not None else send
        if self.files is not None and NAMING_ROUTES.search(scope["path"]):
            send = self.files.noting(holder, send)  # real paths: before the alias hides them
        if self.files is not None and UPLOAD_ROUTE.search(scope["path"]):
            send = own_folder_for_each_upload(send)  # before its new path is noted

        async def with_headers(message):
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *extra,
                                      *((name, value) for name, value in HEADERS if name not in names)]
            await send(message)

        await self.app(scope, receive, with_headers)

    async def _screen(self, scope, receive, holder: str, address: str) -> tuple:
        """(the `receive` the app reads, a refusal Response or None): the sessions, events
        and files the request names must be `holder`'s; bodies stay within bounds."""
        if self.files is not None and not self.files.may_fetch(holder, scope["path"]):
            return receive, PlainTextResponse(NOT_YOURS, status_code=404)
        hashes, events, body = hashes_in_url(scope), [], b""
        if needs_body(scope):
            body, within_limit = await read_body(receive)
            if not within_limit:
                return receive, PlainTextResponse("Request too large", status_code=413)
            body = self.alias.reveal(body) if self.alias is not None else body
            receive, (in_body, events) = replaying(body, receive), names_in_body(body)
            hashes += in_body
        elif scope["method"] == "POST":
            if declared_size(scope) > MAX_STORED_BYTES:
                return receive, PlainTextResponse(TOO_LARGE, status_code=413)
            receive = bounded(receive, MAX_STORED_BYTES)
        refusal = self._refusal(hashes, events, holder, address, starts_session(scope))
        if refusal is None and self.files is not None and self.files.foreign_in(holder, body):
            refusal = FOREIGN_SESSION
        return receive, None if refusal is None else PlainTextResponse(refusal, status_code=403)

    def _refusal(self, hashes: list[str], events: list[str], holder: str, address: str,
                 may_start: bool) -> str | None:
        """Why a request naming these sessions and events is refused for `holder`, or None.
        An event names the session it belongs to; an event no session holds names none. A
        hash that is an event id names that event's session too (Gradio's /call/ routes
        take one for the other)."""
        owners = map(self.event_session, [*events, *hashes])
        sessions = set(hashes) | {owner for owner in owners if owner is not None}
        if len(sessions) > 1:
            return TWO_SESSIONS
        if any(not self.bindings.allows(session, holder, address, may_start) for session in sessions):
            return FOREIGN_SESSION
        return None

    def _download(self, token: str, browser: str | None) -> Response:
        taken = self.downloads.take(token, browser)
        if taken is None:
            return PlainTextResponse(GONE, status_code=404, headers={"cache-control": "no-store"})
        name, data = taken
        return Response(data, media_type=content_type(name), headers={
            "content-disposition": f"attachment; filename*=UTF-8''{quote(name)}",
            "cache-control": "no-store", **{key.decode(): value.decode() for key, value in HEADERS}})


class SameOriginOnly(CORSMiddleware):
    """Stands in for Gradio's CORS middleware, which reflects any http://localhost origin
    with credentials: any page open on the clinician's machine could then read the app's
    answers. The page itself is same-origin and needs no CORS, so no origin is allowed (a
    preflight is refused, a response carries no Access-Control-Allow-Origin)."""

    def __init__(self, app, strict_cors: bool = True, parent_app=None):
        super().__init__(app, allow_origins=[], allow_credentials=False)


def app_kwargs(downloads: Downloads | None = None, assets: Callable[[str], Path | None] = lambda path: None,
               blocks=None, files: FileOwners | None = None, alias: PathAlias | None = None) -> dict:
    """`blocks`: the Gradio app whose queue says which session each event id belongs to;
    `files`: who may fetch each file of the app's folder (None: Gradio's rules alone);
    `alias`: the app's folder as browsers see it (None: its path). Also puts SameOriginOnly
    where Gradio builds its CORS middleware (gradio.routes, read when the app is built)."""
    import gradio.routes

    gradio.routes.CustomCORSMiddleware = SameOriginOnly
    return {"middleware": [
        Middleware(SecurityMiddleware, downloads=downloads, assets=assets, files=files, alias=alias,
                   event_session=(lambda event_id: None) if blocks is None else event_sessions(blocks)),
    ]}
