"""Whose address an attempt counts against (arena/addresses.py): the socket peer, unless the
peer is a configured proxy; then the address that proxy saw, read from the right of
`X-Forwarded-For`. A header from anyone else is ignored, loopback included."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
import uvicorn
from starlette.datastructures import Headers
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from arena import TrustedProxies, client_address
from arena.addresses import SPACE_PROXIES, TRUSTED_PROXIES_ENV, use_trusted_proxies


def request(peer: str | None, *forwarded_for: str, pickled: bool = False):
    """What a handler's `gr.Request` shows: `.client.host` and `.headers` (a starlette
    Headers with every header line, or, once Gradio has pickled the request, a dict)."""
    raw = [(b"x-forwarded-for", value.encode("latin-1")) for value in forwarded_for]
    headers = Headers(raw=raw)
    return SimpleNamespace(client=SimpleNamespace(host=peer) if peer else None,
                           headers=dict(headers) if pickled else headers)


NOBODY = TrustedProxies.parse([])
PROXY = TrustedProxies.parse(["127.0.0.3", "10.1.0.0/16"])


def test_a_forwarded_address_from_an_untrusted_peer_is_ignored():
    for peer in ("127.0.0.1", "::1", "203.0.113.7"):  # loopback is not a proxy unless configured
        assert client_address(request(peer, "198.51.100.1"), NOBODY) == peer
        assert client_address(request(peer, "198.51.100.1"), PROXY) == peer


def test_a_trusted_proxy_is_believed_from_the_right():
    assert client_address(request("127.0.0.3", "203.0.113.50"), PROXY) == "203.0.113.50"
    # The client's own header comes first; the proxy appends the address it saw.
    assert client_address(request("127.0.0.3", "198.51.100.1, 203.0.113.50"), PROXY) == "203.0.113.50"
    # Two trusted hops: the first untrusted address from the right.
    assert client_address(request("127.0.0.3", "198.51.100.1, 203.0.113.50, 10.1.2.3"), PROXY) == "203.0.113.50"
    # Header lines in order, as one list (a proxy may add a line instead of extending one).
    assert client_address(request("127.0.0.3", "198.51.100.1", "203.0.113.50"), PROXY) == "203.0.113.50"
    assert client_address(request("127.0.0.3", "[2001:db8::5]:4711"), PROXY) == "2001:db8::5"
    assert client_address(request("127.0.0.3", "203.0.113.50:4711"), PROXY) == "203.0.113.50"
    assert client_address(request("127.0.0.3"), PROXY) == "127.0.0.3"  # no header: the proxy itself


def test_what_is_not_an_address_is_never_taken_for_one():
    """An entry that is no address stops the walk at the trusted hop that passed it on: a
    typed string never becomes a client in the counts or the log."""
    assert client_address(request("127.0.0.3", "evil\nWARNING forged"), PROXY) == "127.0.0.3"
    assert client_address(request("127.0.0.3", "203.0.113.50, unknown, 10.1.2.3"), PROXY) == "10.1.2.3"
    assert client_address(request("127.0.0.3", "x" * 5000), PROXY) == "127.0.0.3"


def test_a_pickled_request_keeps_the_same_answer():
    assert client_address(request("127.0.0.3", "198.51.100.1, 203.0.113.50", pickled=True), PROXY) == "203.0.113.50"


def test_no_request_is_unknown():
    assert client_address(None, PROXY) == client_address(request(None), PROXY) == "unknown"


def test_proxies_come_from_the_environment_and_a_space_trusts_its_own(monkeypatch):
    monkeypatch.delenv(TRUSTED_PROXIES_ENV, raising=False)
    monkeypatch.delenv("SPACE_ID", raising=False)
    assert client_address(request("127.0.0.1", "198.51.100.1")) == "127.0.0.1"  # nobody by default
    monkeypatch.setenv(TRUSTED_PROXIES_ENV, "127.0.0.3, 10.1.0.0/16")
    assert client_address(request("10.1.9.9", "198.51.100.1")) == "198.51.100.1"
    monkeypatch.delenv(TRUSTED_PROXIES_ENV)
    monkeypatch.setenv("SPACE_ID", "someone/bimedix")
    # Hugging Face's proxy reaches a Space from a private address (10.16.3.80 was seen).
    assert client_address(request("10.16.3.80", "198.51.100.1, 203.0.113.9")) == "203.0.113.9"
    assert client_address(request("203.0.113.1", "198.51.100.1")) == "203.0.113.1"
    assert TrustedProxies.from_environment({"SPACE_ID": "x"}) == TrustedProxies.parse(SPACE_PROXIES)
    assert TrustedProxies.from_environment({"SPACE_ID": "x", TRUSTED_PROXIES_ENV: "127.0.0.3"}) == \
        TrustedProxies.parse(["127.0.0.3"])


def test_a_bad_proxy_is_refused_by_name():
    with pytest.raises(ValueError, match="proxy.example"):
        TrustedProxies.parse(["proxy.example"])
    with pytest.raises(ValueError, match=r"\*"):
        TrustedProxies.parse(["*"])
    assert TrustedProxies.parse(["10.1.2.3/16"]) == TrustedProxies.parse(["10.1.0.0/16"])  # host bits ignored


def _peer_seen(middleware, peer: str, forwarded_for: str) -> str:
    """The client an app behind `middleware` sees (run in a thread of its own: an event loop
    another test left running in this one must not matter)."""
    seen = {}

    async def app(scope, receive, send):
        seen["client"] = scope["client"][0]

    scope = {"type": "http", "client": (peer, 5000), "headers": [(b"x-forwarded-for", forwarded_for.encode())]}
    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, middleware(app)(scope, None, None)).result()
    return seen["client"]


def test_the_server_leaves_the_peer_alone_once_the_app_takes_over(monkeypatch):
    """uvicorn (Gradio's server) would replace a loopback peer with X-Forwarded-For before the
    app sees it; `use_trusted_proxies` (app.py at start) makes it trust nobody, and hands the
    configured list to `client_address` through the environment."""
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
    monkeypatch.delenv(TRUSTED_PROXIES_ENV, raising=False)
    proxies = use_trusted_proxies(["127.0.0.3"])
    assert proxies == TrustedProxies.parse(["127.0.0.3"])
    config = uvicorn.Config(app=None)  # what Gradio's launch builds: it reads the variable then
    middleware = lambda app: ProxyHeadersMiddleware(app, trusted_hosts=config.forwarded_allow_ips)  # noqa: E731
    assert _peer_seen(middleware, "127.0.0.1", "198.51.100.1") == "127.0.0.1"
    assert _peer_seen(middleware, "127.0.0.3", "198.51.100.1") == "127.0.0.3"
    assert client_address(request("127.0.0.3", "198.51.100.1")) == "198.51.100.1"
