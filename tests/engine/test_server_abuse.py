"""Attacks on `python -m engine serve` (issue 26, items 4, 5 and 11), each against a real
server in a subprocess: clients that walk away, requests too large as a whole, parameters
no model can take. The test is the attack; what it asserts is what the server must do."""

from __future__ import annotations

import concurrent.futures
import json
import shutil
import socket
import time

import httpx
import pytest

from evaluate.servers import engine_server, metrics

KEY = "abuse-key-5d21"
HEADERS = {"Authorization": f"Bearer {KEY}"}
MODEL = "tiny-llama"
QUEUE = 15  # --max-queue, and the attack's count of clients that go away


@pytest.fixture(scope="module")
def server(tiny_dirs, tmp_path_factory):
    folder = shutil.copytree(tiny_dirs("llama"), tmp_path_factory.mktemp("served") / MODEL)
    with engine_server(f"--model={folder}", "--api-key-env", "BIMEDIX_TEST_KEY", "--max-queue", str(QUEUE),
                       env={"BIMEDIX_TEST_KEY": KEY}) as url:
        yield url


def _chat(server: str, body: dict, timeout: float = 60, headers: dict = HEADERS) -> httpx.Response:
    request = {"model": MODEL, "messages": [{"role": "user", "content": "hello"}], **body}
    return httpx.post(server + "/chat/completions", json=request, headers=headers, timeout=timeout)


def _settled(server: str, timeout: float) -> float:
    """Seconds until nothing runs (no reply, no generation thread); fails after `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        figures = metrics(server, **HEADERS)
        if figures["bimedix_replies_running"] == 0 and figures["bimedix_generation_threads"] == 0:
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"generation still running after {timeout} s: {metrics(server, **HEADERS)}")


# --- item 4: a non-streamed client that goes away ------------------------------------------

def _give_up_after(server: str, seconds: float) -> None:
    """A non-streamed client asking for a long reply, that times out and closes its connection."""
    with httpx.Client(timeout=seconds) as client:
        with pytest.raises(httpx.TimeoutException):
            client.post(server + "/chat/completions", headers=HEADERS, json={
                "model": MODEL, "messages": [{"role": "user", "content": "tell me everything"}],
                "max_tokens": 100_000, "temperature": 0})


def test_non_streamed_clients_that_disconnect_stop_their_generation(server):
    with concurrent.futures.ThreadPoolExecutor(QUEUE) as pool:
        list(pool.map(lambda _: _give_up_after(server, 2.0), range(QUEUE)))
    # Every one of them went away: within a few seconds nothing runs any more ...
    print(f"{QUEUE} non-streamed clients gone: nothing runs {_settled(server, timeout=10):.2f} s later")
    assert metrics(server, **HEADERS)["bimedix_replies_aborted_total"] >= QUEUE
    # ... and a new request is served at once, not behind 8 replies of 100,000 tokens.
    started = time.monotonic()
    answer = _chat(server, {"max_tokens": 4, "temperature": 0}, timeout=30)
    assert answer.status_code == 200, answer.text
    assert time.monotonic() - started < 15


# --- item 5: whole-request bounds ------------------------------------------------------------

def _history(turns: int, message: str) -> list[dict]:
    history = []
    for _ in range(turns):
        history += [{"role": "user", "content": message}, {"role": "assistant", "content": message}]
    return history + [{"role": "user", "content": "and now?"}]


WORDS = ("patient reports headache " * 800)[:19_000]  # within the per-message limits
HUGE_HISTORIES = {  # name: (history, the codes of the bounds it breaks)
    "999 turns, 19 MB (the attack)": (_history(999, WORDS),
                                      ("conversation_too_many_messages", "conversation_too_long")),
    "240 turns, 9 MB": (_history(240, WORDS), ("conversation_too_long",)),
    "180,000 emoji": (_history(9, "\U0001fa7a" * 10_000), ("conversation_too_many_tokens",)),
}


@pytest.mark.parametrize("path", ["/tokenize", "/v1/chat/completions"])
@pytest.mark.parametrize("name", list(HUGE_HISTORIES))
def test_a_huge_history_is_refused_at_once_in_openai_shape(server, path, name):
    history, codes = HUGE_HISTORIES[name]
    body = {"model": MODEL, "messages": history, "max_tokens": 1, "temperature": 0}
    for lang in ("en", "ar"):
        started = time.monotonic()
        response = httpx.post(server.removesuffix("/v1") + path, json=body, timeout=60,
                              headers={**HEADERS, "Accept-Language": lang})
        seconds = time.monotonic() - started
        assert response.status_code == 413, response.text[:300]
        error = response.json()["error"]
        assert error["code"] in codes and error["param"] == "messages"
        assert ("conversation" if lang == "en" else "المحادثة") in error["message"]
        assert seconds < 10, f"{path} took {seconds:.1f} s to refuse {name}"
        print(f"{name} on {path} ({lang}): {response.status_code} {error['code']} in {seconds:.2f} s")


def test_many_tiny_turns_are_refused_at_once(server):
    history = [{"role": "user" if i % 2 == 0 else "assistant", "content": "ok"} for i in range(60_001)]
    started = time.monotonic()
    response = _chat(server, {"messages": history, "max_tokens": 1}, timeout=60)
    assert response.status_code == 413, response.text[:300]
    assert response.json()["error"]["code"] == "conversation_too_many_messages"
    assert time.monotonic() - started < 10


def test_a_body_beyond_one_image_and_a_whole_conversation_is_refused_unread(server):
    """100 MB declared (the limit was 134 MB): refused before a byte of it is read."""
    host, port = server.removeprefix("http://").removesuffix("/v1").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {KEY}\r\n"
                     f"Content-Type: application/json\r\nContent-Length: {100 * 2**20}\r\n\r\n{{}}".encode())
        answer = _read_response(sock)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0].endswith(b"413 Request Entity Too Large")
    assert json.loads(body)["error"]["code"] == "request_too_large"


def _read_response(sock: socket.socket) -> bytes:
    """A whole HTTP response with a Content-Length, however the packets fall."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length"))
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def _hold_stream(client: httpx.Client):
    response = client.send(client.build_request("POST", "/chat/completions", headers=HEADERS, json={
        "model": MODEL, "messages": [{"role": "user", "content": "tell me everything"}], "stream": True,
        "max_tokens": 100_000, "temperature": 0}), stream=True)
    assert response.status_code == 200
    lines = response.iter_lines()
    next(lines)  # the role chunk: the request holds its place
    return response, lines


def test_tokenize_is_under_admission(server):
    tokenize = {"model": MODEL, "messages": [{"role": "user", "content": "hello"}]}
    with httpx.Client(base_url=server, timeout=60) as client:
        held = [_hold_stream(client) for _ in range(QUEUE)]
        try:
            for lang, words in (("en", "busy"), ("ar", "مشغول")):
                response = httpx.post(server.removesuffix("/v1") + "/tokenize", json=tokenize, timeout=30,
                                      headers={**HEADERS, "Accept-Language": lang})
                assert response.status_code == 503, response.text
                error = response.json()["error"]
                assert error["code"] == "server_busy" and words in error["message"]
        finally:
            for response, _ in held:
                response.close()
    _settled(server, timeout=20)
    assert metrics(server, **HEADERS)["bimedix_requests_admitted"] == 0  # the refused ones took no place
    response = httpx.post(server.removesuffix("/v1") + "/tokenize", json=tokenize, headers=HEADERS, timeout=30)
    assert response.status_code == 200 and response.json()["count"] > 0


# --- item 11: every bad parameter is a 400 in OpenAI's shape, naming it ----------------------

BASE = '{"model": "%s", "messages": [{"role": "user", "content": "hello"}]' % MODEL


@pytest.mark.parametrize("extra,param", [
    ('"max_tokens": Infinity', "max_tokens"),
    ('"max_tokens": 1e400', "max_tokens"),
    ('"max_tokens": -Infinity', "max_tokens"),
    ('"max_completion_tokens": NaN', "max_completion_tokens"),
    ('"temperature": Infinity', "temperature"),
    ('"top_p": NaN', "top_p"),
    ('"repetition_penalty": NaN', "repetition_penalty"),
    ('"repetition_penalty": 1e400', "repetition_penalty"),
    ('"seed": %d' % 2**80, "seed"),
    ('"seed": 1e400', "seed"),
    ('"top_k": 1e400', "top_k"),
    ('"top_k": 2.5', "top_k"),
    ('"stream_options": []', "stream_options"),
])
def test_a_parameter_no_model_can_take_is_a_400_naming_it(server, extra, param):
    for stream in ("false", "true"):
        for lang in ("en", "ar"):
            response = httpx.post(server + "/chat/completions", content=f'{BASE}, {extra}, "stream": {stream}}}',
                                  timeout=30, headers={**HEADERS, "Accept-Language": lang,
                                                       "Content-Type": "application/json"})
            assert response.status_code == 400, response.text
            error = response.json()["error"]
            assert error["type"] == "invalid_request_error" and error["param"] == param, error
            assert param in error["message"]


def test_a_reply_longer_than_the_context_names_max_tokens_and_no_negative_budget(server):
    context = httpx.get(server + "/models", headers=HEADERS).json()["data"][0]["max_model_len"]
    for lang in ("en", "ar"):
        response = _chat(server, {"max_tokens": 10**9}, headers={**HEADERS, "Accept-Language": lang})
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["param"] == "max_tokens" and error["code"] == "reply_longer_than_context"
        assert "max_tokens" in error["message"] and str(10**9) in error["message"]
        assert str(context) in error["message"] and "-" not in error["message"].replace("max_tokens", "")


def test_json_nested_100k_deep_is_a_400_in_openai_shape(server):
    body = '{"model": "%s", "messages": %s}' % (MODEL, "[" * 100_000 + "]" * 100_000)
    response = httpx.post(server + "/chat/completions", content=body, timeout=30,
                          headers={**HEADERS, "Content-Type": "application/json"})
    assert response.status_code == 400, response.text[:300]
    assert response.headers["content-type"].startswith("application/json")
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}


def test_an_unexpected_failure_is_still_openai_shaped(tiny_dirs, monkeypatch):
    """Whatever slips past validation (a bug) is a JSON 500 in OpenAI's shape, never a plain-text page."""
    from fastapi.testclient import TestClient

    import engine.server
    from engine.admission import Admission
    from engine.loading import load_model

    def broken(*args, **kwargs):
        raise OverflowError("a bug nobody foresaw")

    monkeypatch.setattr(engine.server, "reply", broken)
    app = engine.server.create_app({MODEL: load_model(str(tiny_dirs("llama")))}, Admission(2))
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post("/v1/chat/completions", json={"model": MODEL, "messages": [
            {"role": "user", "content": "hello"}]}, headers={"Accept-Language": "ar"})
    assert response.status_code == 500 and response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["type"] == "server_error" and error["code"] == "internal_error" and "bug" not in error["message"]
    assert app.state.bimedix.admission.in_flight == 0
