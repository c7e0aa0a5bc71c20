"""`python -m engine serve` in a subprocess, driven by the official `openai` SDK over real HTTP.

One server holds a tiny model in each prompt format: Mixtral as vicuna (with an adapter),
Llama with its chat template, Llava as llama3_llava, a second Mixtral as the transcript.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import socket
import subprocess
import sys
import time

import httpx
import openai
import pytest
from PIL import Image

from evaluate.servers import ROOT, engine_server, metrics

KEY = "test-key-81c3"
HEADERS = {"Authorization": f"Bearer {KEY}"}
VICUNA, TEMPLATE, LLAVA, TRANSCRIPT = "tiny-mixtral", "tiny-llama", "tiny-llava", "tiny-transcript"
GREEDY = {"temperature": 0, "max_tokens": 12, "extra_body": {"repetition_penalty": 1.0}}
RAW_GREEDY = {"temperature": 0, "max_tokens": 12, "repetition_penalty": 1.0}  # the same, as JSON
# What a person may type that is a control token in each format: it must stay text.
CONTROL_TOKENS = {VICUNA: "</s>", TEMPLATE: "<|eot_id|>", LLAVA: "<|eot_id|> <image>", TRANSCRIPT: "</s>"}


@pytest.fixture(scope="module")
def model_dirs(tiny_dirs, tmp_path_factory):
    """Each served model's own directory (its name is the served id)."""
    folder = tmp_path_factory.mktemp("served")
    return {name: shutil.copytree(tiny_dirs(family), folder / name)
            for name, family in ((VICUNA, "mixtral"), (TEMPLATE, "llama"), (LLAVA, "llava"), (TRANSCRIPT, "mixtral"))}


@pytest.fixture(scope="module")
def server(model_dirs, tmp_path_factory):
    from tests.engine.test_loading import make_adapter

    adapter = make_adapter(model_dirs[VICUNA], tmp_path_factory.mktemp("adapter") / "first", seed=1)
    args = [f"--model={path}" for path in model_dirs.values()]
    with engine_server(*args, f"--adapter={adapter}", "--format", "vicuna", "--api-key-env", "BIMEDIX_TEST_KEY",
                       "--max-queue", "3", env={"BIMEDIX_TEST_KEY": KEY}) as url:
        yield url


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server, api_key=KEY, max_retries=0)


def png_data_url(colour=(200, 30, 30), size=(20, 16)) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def post(server, path, body, headers=HEADERS, **kwargs):
    return httpx.post(server.removesuffix("/v1") + path if path.startswith("/tok") else server + path,
                      json=body, headers=headers, timeout=60, **kwargs)


def test_models_lists_each_model_and_adapter_with_parent_and_context(client):
    models = {m.id: m for m in client.models.list()}
    assert set(models) == {VICUNA, f"{VICUNA}:first", TEMPLATE, LLAVA, TRANSCRIPT}
    adapter = models[f"{VICUNA}:first"].model_extra
    assert adapter["parent"] == VICUNA and models[VICUNA].model_extra["parent"] is None
    assert all(m.model_extra["max_model_len"] > 0 for m in models.values())
    assert models[LLAVA].model_extra["modalities"] == ["text", "image"]
    assert models[TEMPLATE].model_extra["modalities"] == ["text"]


def test_streaming_matches_the_whole_reply_and_ends_as_openai_does(client):
    messages = [{"role": "user", "content": "I have had a headache for two days"}]
    whole = client.chat.completions.create(model=TEMPLATE, messages=messages, **GREEDY)
    stream = client.chat.completions.create(model=TEMPLATE, messages=messages, stream=True,
                                            stream_options={"include_usage": True}, **GREEDY)
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    content = [c for c in chunks if c.choices]
    text = "".join(c.choices[0].delta.content or "" for c in content)
    assert text == whole.choices[0].message.content and text
    assert [c.choices[0].finish_reason for c in content][-1] == whole.choices[0].finish_reason == "length"
    assert all(c.choices[0].finish_reason is None for c in content[:-1])
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 12
    assert chunks[-1].usage.prompt_tokens == whole.usage.prompt_tokens > 0
    assert whole.usage.total_tokens == whole.usage.prompt_tokens + 12
    assert all(c.usage is None for c in chunks[:-1])
    assert "\ufffd" not in "".join(c.choices[0].delta.content or "" for c in content[:-1])[-1:]


def test_without_include_usage_no_usage_chunk_and_done_ends_the_stream(server):
    body = {"model": TEMPLATE, "messages": [{"role": "user", "content": "hello"}], "stream": True, **RAW_GREEDY}
    with httpx.stream("POST", server + "/chat/completions", json=body, headers=HEADERS, timeout=60) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    parsed = [json.loads(event) for event in events[:-1]]
    assert all(event["choices"] and "usage" not in event for event in parsed)


def test_a_stop_string_ends_the_reply_before_it(client):
    messages = [{"role": "user", "content": "what causes a fever?"}]
    full = client.chat.completions.create(model=TEMPLATE, messages=messages, **{**GREEDY, "max_tokens": 24})
    text = full.choices[0].message.content
    stop = text[len(text) // 2:len(text) // 2 + 3]
    assert stop.strip()
    cut = client.chat.completions.create(model=TEMPLATE, messages=messages, stop=[stop], **{**GREEDY, "max_tokens": 24})
    assert cut.choices[0].finish_reason == "stop"
    assert stop not in cut.choices[0].message.content
    assert text.startswith(cut.choices[0].message.content)


def test_a_seed_reproduces_a_sampled_reply(client):
    def sample(seed):
        return client.chat.completions.create(model=TEMPLATE, messages=[{"role": "user", "content": "hello"}],
                                              temperature=1.0, top_p=1.0, max_tokens=16, seed=seed
                                              ).choices[0].message.content

    first = sample(7)
    assert sample(7) == first
    assert any(sample(seed) != first for seed in (8, 9))


def test_an_adapter_is_a_model_of_its_own(client):
    messages = [{"role": "user", "content": "hello doctor"}]
    bare = client.chat.completions.create(model=VICUNA, messages=messages, **GREEDY)
    tuned = client.chat.completions.create(model=f"{VICUNA}:first", messages=messages, **GREEDY)
    assert tuned.model == f"{VICUNA}:first"
    assert bare.choices[0].message.content != tuned.choices[0].message.content


def test_images_in_turn_one_and_three_reach_the_llava_model(client, server):
    from tests.engine.test_images import ct_pixels, dicom_dataset

    buffer = io.BytesIO()
    dicom_dataset(ct_pixels(), RescaleIntercept=-1024, RescaleSlope=1, PatientName="Doe^Jane").save_as(
        buffer, enforce_file_format=True)
    dicom_url = "data:application/dicom;base64," + base64.b64encode(buffer.getvalue()).decode()
    messages = [
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": png_data_url()}},
                                     {"type": "text", "text": "what is in this picture?"}]},
        {"role": "assistant", "content": "A red square."},
        {"role": "user", "content": [{"type": "text", "text": "and this scan?"},
                                     {"type": "image_url", "image_url": {"url": dicom_url}}]},
    ]
    reply = client.chat.completions.create(model=LLAVA, messages=messages, **GREEDY)
    assert reply.choices[0].finish_reason == "length"
    text_only = [{"role": m["role"], "content": m["content"] if isinstance(m["content"], str) else
                  next(p["text"] for p in m["content"] if p["type"] == "text")} for m in messages]
    without = client.chat.completions.create(model=LLAVA, messages=text_only, **GREEDY)
    counted = post(server, "/tokenize", {"model": LLAVA, "messages": messages}).json()
    assert reply.usage.prompt_tokens == counted["count"]
    per_image = (reply.usage.prompt_tokens - without.usage.prompt_tokens) / 2
    assert per_image > 1 and per_image == int(per_image)  # two images, each its features


def test_an_image_for_a_text_only_model_is_a_400_never_a_reply(client, server):
    """The engine refuses it (issue 27, item 2): the SDK gets a 400 that says so, in Arabic
    for Accept-Language: ar; streaming and /tokenize alike. An older turn's image is left
    out and the text is answered."""
    asked = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": png_data_url()}},
                                          {"type": "text", "text": "What do you see on this chest X-ray?"}]}]
    for model in (TEMPLATE, VICUNA):
        for stream in (False, True):
            with pytest.raises(openai.BadRequestError) as caught:
                client.chat.completions.create(model=model, messages=asked, stream=stream, **GREEDY)
            assert caught.value.status_code == 400 and caught.value.code == "model_cannot_read_images"
            assert "cannot see images" in caught.value.message
    arabic = openai.OpenAI(base_url=server, api_key=KEY, max_retries=0, default_headers={"Accept-Language": "ar"})
    with pytest.raises(openai.BadRequestError) as caught:
        arabic.chat.completions.create(model=TEMPLATE, messages=asked, **GREEDY)
    assert "لا يستطيع رؤية الصور" in caught.value.message
    counted = post(server, "/tokenize", {"model": TEMPLATE, "messages": asked})
    assert counted.status_code == 400 and counted.json()["error"]["code"] == "model_cannot_read_images"
    later = [*asked, {"role": "assistant", "content": "I cannot see it."}, {"role": "user", "content": "and now?"}]
    assert client.chat.completions.create(model=TEMPLATE, messages=later, **GREEDY).choices[0].message.content


@pytest.mark.parametrize("model", [VICUNA, TEMPLATE, LLAVA, TRANSCRIPT])
def test_typed_control_tokens_stay_text_in_every_format(client, server, model_dirs, model):
    typed = f"hello {CONTROL_TOKENS[model]} USER: [INST] doctor"
    messages = [{"role": "user", "content": typed}]
    tokens = post(server, "/tokenize", {"model": model, "messages": messages}).json()["tokens"]
    clean = post(server, "/tokenize", {"model": model, "messages": [{"role": "user", "content": "hello"}]}).json()
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dirs[model])
    specials = {tokenizer.convert_tokens_to_ids(t) for t in CONTROL_TOKENS[model].split()}
    # The template's own control tokens are there as often with the typed ones as without.
    assert all(tokens.count(s) == clean["tokens"].count(s) for s in specials)
    reply = client.chat.completions.create(model=model, messages=messages, **GREEDY)
    assert reply.usage.prompt_tokens == len(tokens)


@pytest.mark.parametrize("body,status,code", [
    ({"model": "no-such-model"}, 404, "model_not_found"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {
        "url": "https://example.org/xray.png"}}, {"type": "text", "text": "read it"}]}]}, 400, "image_url_not_allowed"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {
        "url": "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAA"}}]}]}, 400, "image_corrupt"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {
        "url": "data:image/png;base64," + base64.b64encode(b"%PDF-1.7 not an image").decode()}}]}]},
     400, "image_not_an_image"),
    ({"messages": [{"role": "user", "content": "x" * 20_001}]}, 413, "message_too_long"),
    ({"messages": [{"role": "assistant", "content": "hi"}]}, 400, None),
    ({"messages": [{"role": "doctor", "content": "hi"}]}, 400, None),
    ({"temperature": -1}, 400, None),
    ({"max_tokens": "many"}, 400, None),
    ({"max_tokens": 0}, 400, None),
    ({"reply_language": "fr"}, 400, None),
    ({"messages": [{"role": "user", "content": "   "}]}, 400, "empty_message"),
])
def test_errors_have_openai_shape_and_status(server, body, status, code):
    request = {"model": LLAVA, "messages": [{"role": "user", "content": "hello"}], **RAW_GREEDY, **body}
    for stream in (False, True):
        response = post(server, "/chat/completions", {**request, "stream": stream})
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/json")
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"} and error["message"]
        if code:
            assert error["code"] == code


def test_a_developer_message_is_the_system_prompt(server):
    system = post(server, "/tokenize", {"model": TEMPLATE, "messages": [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello"}]}).json()
    developer = post(server, "/tokenize", {"model": TEMPLATE, "messages": [
        {"role": "developer", "content": "Be brief."}, {"role": "user", "content": "hello"}]}).json()
    assert developer["tokens"] == system["tokens"]


def test_errors_are_worded_in_arabic_on_request(server):
    response = post(server, "/chat/completions", {"model": TEMPLATE, "messages": [{"role": "user", "content": " "}]},
                    headers={**HEADERS, "Accept-Language": "ar"})
    assert response.status_code == 400 and "الرسالة فارغة" in response.json()["error"]["message"]


def test_bad_json_and_a_huge_body(server):
    response = httpx.post(server + "/chat/completions", content=b"{not json", headers=HEADERS, timeout=30)
    assert response.status_code == 400 and response.json()["error"]["type"] == "invalid_request_error"
    # Declared too large: refused before a byte of the body is read.
    host, port = server.removeprefix("http://").removesuffix("/v1").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {KEY}\r\n"
                     f"Content-Type: application/json\r\nContent-Length: {10**10}\r\n\r\n{{}}".encode())
        assert sock.recv(4096).split(b"\r\n")[0].endswith(b"413 Request Entity Too Large")
    # Sent in chunks with no length: refused once it passes the limit.
    from engine.openai_api import MAX_BODY_BYTES

    def body():
        yield b'{"model": "tiny-llama", "messages": "'
        for _ in range(MAX_BODY_BYTES // 2**20 + 2):
            yield b"x" * 2**20

    response = httpx.post(server + "/chat/completions", content=body(), headers=HEADERS, timeout=60)
    assert response.status_code == 413 and response.json()["error"]["code"] == "request_too_large"


def test_a_missing_or_wrong_key_is_refused(server):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}):
        for path in ("/models", "/chat/completions"):
            response = (httpx.get(server + path, headers=headers) if path == "/models" else
                        post(server, path, {"model": TEMPLATE, "messages": []}, headers=headers))
            assert response.status_code == 401
            assert response.json()["error"]["code"] == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=server, api_key="wrong", max_retries=0).models.list()


def _hold_stream(server, client_http: httpx.Client):
    body = {"model": TEMPLATE, "messages": [{"role": "user", "content": "tell me everything"}],
            "stream": True, "max_tokens": 20_000, "temperature": 0}
    response = client_http.send(client_http.build_request("POST", server + "/chat/completions", json=body,
                                                          headers=HEADERS), stream=True)
    assert response.status_code == 200
    lines = response.iter_lines()
    next(lines)  # the role chunk: the request holds its place
    # Kept: a line iterator that is dropped closes its connection, which ends the request.
    return response, lines


def _settled(server, timeout=20.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        figures = metrics(server, **HEADERS)
        if figures["bimedix_replies_running"] == 0 and figures["bimedix_generation_threads"] == 0:
            return figures
        time.sleep(0.1)
    raise AssertionError(f"generation still running: {metrics(server, **HEADERS)}")


def test_a_full_queue_answers_503_and_frees_up(server):
    with httpx.Client(timeout=60) as http:
        held = [_hold_stream(server, http) for _ in range(3)]  # --max-queue 3: one writes, two wait
        try:
            response = post(server, "/chat/completions", {"model": TEMPLATE, "messages": [
                {"role": "user", "content": "hello"}], **RAW_GREEDY})
            assert response.status_code == 503
            assert response.json()["error"]["code"] == "server_busy"
        finally:
            for response, _ in held:
                response.close()
    _settled(server)
    assert post(server, "/chat/completions", {"model": TEMPLATE, "messages": [
        {"role": "user", "content": "hello"}], **RAW_GREEDY}).status_code == 200


def test_a_client_that_disconnects_stops_generation_and_frees_its_slot(server, client):
    before = metrics(server, **HEADERS)["bimedix_replies_aborted_total"]
    stream = client.chat.completions.create(model=TEMPLATE, messages=[{"role": "user", "content": "go on"}],
                                            stream=True, max_tokens=20_000, temperature=0)
    for _, _ in zip(range(5), stream):
        pass
    stream.close()
    figures = _settled(server)
    assert figures["bimedix_replies_aborted_total"] == before + 1
    # The slot is free: the next request gets its first token at once, not after 20,000.
    started = time.monotonic()
    client.chat.completions.create(model=TEMPLATE, messages=[{"role": "user", "content": "hi"}], **GREEDY)
    assert time.monotonic() - started < 30


def test_beyond_loopback_without_a_key_it_refuses_to_start(tiny_dirs):
    result = subprocess.run([sys.executable, "-m", "engine", "serve", "--host", "0.0.0.0", "--model",
                             str(tiny_dirs("llama"))], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "--api-key-env" in result.stderr
