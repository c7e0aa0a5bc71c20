"""Every error of `python -m engine serve` follows Accept-Language (issue 27, item 12a): one
real server in a subprocess, each way a request can go wrong asked in Arabic and in English.
The answer is OpenAI's shape and status either way; only the message's language differs."""

from __future__ import annotations

import base64
import io
import re
import shutil

import httpx
import openai
import pytest
from PIL import Image

from evaluate.servers import engine_server

KEY = "languages-key-3e07"
MODEL = "tiny-llama"
ARABIC = re.compile("[\u0621-\u064a]")
HELLO = [{"role": "user", "content": "hello"}]


def _png() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


IMAGE = {"type": "image_url", "image_url": {"url": _png()}}

# (what is sent, the status): each a different path through the server's refusals.
BODIES = {
    "unknown model": ({"model": "no-such-model"}, 404),
    "no messages": ({"messages": []}, 400),
    "messages not a list": ({"messages": "hello"}, 400),
    "unknown role": ({"messages": [{"role": "doctor", "content": "hi"}]}, 400),
    "system not first": ({"messages": [*HELLO, {"role": "assistant", "content": "a"},
                                       {"role": "system", "content": "s"}, *HELLO]}, 400),
    "turns not alternating": ({"messages": [*HELLO, *HELLO]}, 400),
    "last not the user's": ({"messages": [*HELLO, {"role": "assistant", "content": "a"}]}, 400),
    "content a number": ({"messages": [{"role": "user", "content": 7}]}, 400),
    "unknown part": ({"messages": [{"role": "user", "content": [{"type": "audio"}]}]}, 400),
    "image url a number": ({"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": 7}}]}]}, 400),
    "image fetched": ({"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://example.org/x.png"}}]}]}, 400),
    "image not a data url": ({"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png,raw"}}]}]}, 400),
    "image from the assistant": ({"messages": [*HELLO, {"role": "assistant", "content": [IMAGE]}, *HELLO]}, 400),
    "too many images": ({"messages": [{"role": "user", "content": [IMAGE] * 9}]}, 413),
    "stop a number": ({"stop": 5}, 400),
    "reply_language unknown": ({"reply_language": "fr"}, 400),
    "max_tokens a word": ({"max_tokens": "many"}, 400),
    "n of two": ({"n": 2}, 400),
    "stream a word": ({"stream": "yes"}, 400),
    "stream_options a list": ({"stream_options": []}, 400),
    "empty message": ({"messages": [{"role": "user", "content": "  "}]}, 400),
}
# Raw bodies, not JSON objects the client builds.
RAW = {"invalid JSON": (b"{not json", 400), "a JSON list": (b"[1, 2]", 400),
       "nested too deeply": (b"[" * 100_000 + b"]" * 100_000, 400)}


@pytest.fixture(scope="module")
def server(tiny_dirs, tmp_path_factory):
    folder = shutil.copytree(tiny_dirs("llama"), tmp_path_factory.mktemp("served") / MODEL)
    with engine_server(f"--model={folder}", "--api-key-env", "BIMEDIX_TEST_KEY",
                       env={"BIMEDIX_TEST_KEY": KEY}) as url:
        yield url


def _headers(lang: str, key: str | None = KEY) -> dict:
    return {"Accept-Language": lang, **({"Authorization": f"Bearer {key}"} if key else {})}


def _check_languages(ask, status: int) -> None:
    """`ask(headers)` gives the same error in both languages: shape and status alike, its
    message in Arabic for `ar` and in English for `en`."""
    answers = {lang: ask(_headers(lang)) for lang in ("ar-SA,ar;q=0.9", "en-US")}
    for lang, response in answers.items():
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/json")
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"} and error["message"]
        assert bool(ARABIC.search(error["message"])) == lang.startswith("ar"), error["message"]
    arabic, english = (answers[lang].json()["error"] for lang in answers)
    assert (arabic["type"], arabic["param"], arabic["code"]) == (english["type"], english["param"], english["code"])


@pytest.mark.parametrize("case", BODIES)
def test_each_refused_request_is_worded_in_the_clients_language(server, case):
    body, status = BODIES[case]
    request = {"model": MODEL, "messages": HELLO, "max_tokens": 4, **body}
    _check_languages(lambda headers: httpx.post(server + "/chat/completions", json=request, headers=headers,
                                                timeout=60), status)


@pytest.mark.parametrize("case", RAW)
def test_a_body_that_is_not_a_request_is_refused_in_the_clients_language(server, case):
    content, status = RAW[case]
    _check_languages(lambda headers: httpx.post(server + "/chat/completions", content=content,
                                                headers={**headers, "Content-Type": "application/json"},
                                                timeout=60), status)


def test_a_body_beyond_the_limit_is_refused_in_the_clients_language(server):
    from engine.openai_api import MAX_BODY_BYTES

    def body():
        yield b'{"model": "tiny-llama", "messages": "'
        for _ in range(MAX_BODY_BYTES // 2**20 + 2):
            yield b"x" * 2**20

    _check_languages(lambda headers: httpx.post(server + "/chat/completions", content=body(), headers=headers,
                                                timeout=60), 413)


@pytest.mark.parametrize("method,path,status", [
    ("GET", "/v1/no-such-route", 404), ("GET", "/v1/chat/completions", 405), ("DELETE", "/v1/models", 405),
    ("POST", "/tokenize-nothing", 404)])
def test_an_unknown_route_or_method_is_openai_shaped_in_the_clients_language(server, method, path, status):
    url = server.removesuffix("/v1") + path
    _check_languages(lambda headers: httpx.request(method, url, headers=headers, timeout=30), status)


def test_a_missing_key_and_an_unknown_model_to_tokenize_follow_the_language(server):
    models = server + "/models"
    _check_languages(lambda headers: httpx.get(models, headers={"Accept-Language": headers["Accept-Language"]},
                                               timeout=30), 401)
    tokenize = server.removesuffix("/v1") + "/tokenize"
    _check_languages(lambda headers: httpx.post(tokenize, json={"model": "nope", "messages": HELLO},
                                                headers=headers, timeout=30), 404)


def test_the_openai_sdk_gets_the_arabic_message(server):
    client = openai.OpenAI(base_url=server, api_key=KEY, max_retries=0, default_headers={"Accept-Language": "ar"})
    with pytest.raises(openai.NotFoundError) as raised:
        client.chat.completions.create(model="no-such-model", messages=HELLO, max_tokens=4)
    error = raised.value.body
    assert error["code"] == "model_not_found" and ARABIC.search(error["message"]) and MODEL in error["message"]
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model=MODEL, messages=[], max_tokens=4)
    assert ARABIC.search(raised.value.body["message"])
