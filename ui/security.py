"""HTTP hardening around the Gradio app: response headers, and routes the app must not serve.

- Content-Security-Policy: images and media only from the app itself (or data:/blob:
  URLs it makes), so nothing in a message or a reply can make the browser fetch, and so
  leak to, another server; no plugins; framing only by the app itself and Hugging Face
  (a Space is shown inside huggingface.co).
- X-Content-Type-Options: nosniff, so an uploaded file is never run as another type;
  Referrer-Policy: no-referrer.
- `/gradio_api/deep_link` is refused: Gradio writes every field of a session (a typed
  access code included) to a file anyone holding the link can download.

Passed to the FastAPI app Gradio builds (`launch(app_kwargs={"middleware": ...})`), so it
applies to every route, Gradio's own included.
"""

from __future__ import annotations

from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse

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


class SecurityMiddleware:
    """A pure ASGI middleware (streaming responses pass through untouched but for headers)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if scope["path"].rstrip("/").endswith(REFUSED_PATHS):
            return await PlainTextResponse("Not Found", status_code=404)(scope, receive, send)

        async def with_headers(message):
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *((name, value) for name, value in HEADERS if name not in names)]
            await send(message)

        await self.app(scope, receive, with_headers)


def app_kwargs() -> dict:
    return {"middleware": [Middleware(SecurityMiddleware)]}
