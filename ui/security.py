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
from starlette.responses import FileResponse, PlainTextResponse, Response

from ui.downloads import Downloads, content_type
from ui.sessions import (SessionBindings, cookie_value, hash_in_body, hash_in_url, needs_body, new_browser_id,
                         read_body, replaying, set_cookie_header)

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
REFUSED_PATHS = ("/gradio_api/deep_link",)


GONE = ("This download is no longer available: each export is served once, to the browser that made it.\n"
        "هذا التنزيل لم يعد متاحًا: يُقدَّم كل تصدير مرة واحدة، للمتصفح الذي طلبه.\n")
FOREIGN_SESSION = ("This session belongs to another browser.\nهذه الجلسة تخص متصفحًا آخر.\n")


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
                 assets: Callable[[str], Path | None] = lambda path: None):
        """`assets`: the bundled file a URL path names, served as it is (ui/assets.py)."""
        self.app, self.downloads, self.assets = app, downloads, assets
        self.bindings = bindings or SessionBindings()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if scope["path"].rstrip("/").endswith(REFUSED_PATHS):
            return await PlainTextResponse("Not Found", status_code=404)(scope, receive, send)
        browser = cookie_value(scope.get("headers", []))
        extra = [] if browser else [set_cookie_header(new_browser_id(), _https(scope))]
        font = self.assets(scope["path"])
        if font is not None and scope["method"] in ("GET", "HEAD"):
            return await FileResponse(font, headers={"cache-control": "public, max-age=86400"})(scope, receive, send)
        token = Downloads.token_in(scope["path"])
        if token and self.downloads is not None:
            return await self._download(token, browser)(scope, receive, send)
        session_hash = hash_in_url(scope)
        if session_hash is None and needs_body(scope):
            body, within_limit = await read_body(receive)
            if not within_limit:
                return await PlainTextResponse("Request too large", status_code=413)(scope, receive, send)
            receive, session_hash = replaying(body, receive), hash_in_body(body)
        if session_hash and not self.bindings.allows(session_hash, browser):
            return await PlainTextResponse(FOREIGN_SESSION, status_code=403)(scope, receive, send)

        async def with_headers(message):
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *extra,
                                      *((name, value) for name, value in HEADERS if name not in names)]
            await send(message)

        await self.app(scope, receive, with_headers)

    def _download(self, token: str, browser: str | None) -> Response:
        taken = self.downloads.take(token, browser)
        if taken is None:
            return PlainTextResponse(GONE, status_code=404, headers={"cache-control": "no-store"})
        name, data = taken
        return Response(data, media_type=content_type(name), headers={
            "content-disposition": f"attachment; filename*=UTF-8''{quote(name)}",
            "cache-control": "no-store", **{key.decode(): value.decode() for key, value in HEADERS}})


def app_kwargs(downloads: Downloads | None = None, assets: Callable[[str], Path | None] = lambda path: None) -> dict:
    return {"middleware": [Middleware(SecurityMiddleware, downloads=downloads, assets=assets)]}
