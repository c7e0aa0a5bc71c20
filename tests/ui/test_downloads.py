"""One-time downloads and browser-bound sessions (ui/downloads.py, ui/sessions.py, ui/security.py).

Through a real ASGI stack (Starlette's TestClient) with the app's middleware in front of a
small app standing in for Gradio's routes, so what is checked is what a browser or a
script holding someone else's session hash would get.
"""

from __future__ import annotations

import json

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from ui.assets import asset_file
from ui.downloads import Downloads, links_html
from ui.security import SecurityMiddleware
from ui.sessions import COOKIE


async def echo(request: Request):
    body = await request.body()
    return JSONResponse({"path": request.url.path, "body": body.decode() if body else None})


@pytest.fixture
def downloads(tmp_path):
    now = [0.0]
    store = Downloads(tmp_path / "downloads", max_age_s=60, clock=lambda: now[0])
    store.now = now  # the test moves the clock
    return store


@pytest.fixture
def app(downloads):
    routes = [Route("/", echo, methods=["GET", "HEAD"]),
              Route("/gradio_api/queue/join", echo, methods=["POST"]),
              Route("/gradio_api/queue/data", echo),
              Route("/gradio_api/heartbeat/{hash}", echo)]
    return Starlette(routes=routes, middleware=[Middleware(SecurityMiddleware, downloads=downloads,
                                                             assets=asset_file)])


def browser(app) -> TestClient:
    client = TestClient(app)
    client.get("/")  # the first page load sets the browser's cookie
    assert client.cookies.get(COOKIE)
    return client


def test_a_download_is_served_once_to_its_own_browser_then_deleted(app, downloads):
    alice, mallory = browser(app), browser(app)
    url = downloads.offer(alice.cookies[COOKIE], "bimedix-chat.md", "# نص\n".encode())
    assert "/tmp" not in url and str(downloads.root) not in url  # no server path in the link
    assert mallory.get("/" + url).status_code == 404  # someone else's browser: nothing
    assert TestClient(app).get("/" + url).status_code == 404  # a client without the cookie
    response = alice.get("/" + url)
    assert response.status_code == 200 and response.content == "# نص\n".encode()
    assert "attachment" in response.headers["content-disposition"]
    assert response.headers["cache-control"] == "no-store"
    assert list(downloads.root.iterdir()) == []  # deleted from the disk
    again = alice.get("/" + url)
    assert again.status_code == 404 and "served once" in again.text


def test_an_unfetched_download_expires_and_forget_deletes_at_once(downloads):
    url = downloads.offer("b1", "votes.csv", b"a,b\n")
    kept = downloads.offer("b1", "votes.jsonl", b"{}\n")
    downloads.forget([kept])  # the tab closed, or a newer export replaced it
    assert downloads.take(kept.split("/")[-2], "b1") is None
    downloads.now[0] = 61
    downloads.prune()
    assert downloads.take(url.split("/")[-2], "b1") is None
    assert list(downloads.root.iterdir()) == []


def test_links_show_names_only():
    html = links_html(["bimedix/download/abc/bimedix-chat%20x.md"], "once <only>")
    assert ">bimedix-chat x.md</a>" in html and "once &lt;only&gt;" in html


def test_a_session_hash_is_refused_from_another_browser(app):
    alice, mallory, script = browser(app), browser(app), TestClient(app)
    join = {"session_hash": "s3cr3t", "fn_index": 7, "data": ["مرحبا"]}
    first = alice.post("/gradio_api/queue/join", json=join)
    assert first.status_code == 200 and json.loads(first.json()["body"]) == join  # the body reaches the app intact
    assert mallory.post("/gradio_api/queue/join", json=join).status_code == 403
    assert script.post("/gradio_api/queue/join", json=join).status_code == 403  # no cookie, no session
    assert mallory.get("/gradio_api/queue/data", params={"session_hash": "s3cr3t"}).status_code == 403
    assert mallory.get("/gradio_api/heartbeat/s3cr3t").status_code == 403
    assert alice.get("/gradio_api/queue/data", params={"session_hash": "s3cr3t"}).status_code == 200
    # A script's own session, started without cookies, stays usable to it.
    assert script.post("/gradio_api/queue/join", json={**join, "session_hash": "mine"}).status_code == 200


def test_every_response_carries_the_browser_cookie_once(app):
    client = TestClient(app)
    first = client.get("/")
    cookie = first.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "set-cookie" not in client.get("/").headers  # kept by the browser, not renewed
    framed = TestClient(app).get("/", headers={"x-forwarded-proto": "https"})
    assert "Secure; SameSite=None; Partitioned" in framed.headers["set-cookie"]  # inside huggingface.co


def test_fonts_are_served_by_name_and_nothing_else(app):
    client = TestClient(app)
    font = client.get("/bimedix/assets/Amiri-Regular.ttf")
    assert font.status_code == 200 and font.content[:4] == b"\x00\x01\x00\x00"
    assert client.get("/bimedix/assets/chat.css").status_code == 404  # only the fonts
