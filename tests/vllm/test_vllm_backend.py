"""The app's remote backend against a real vLLM (CPU build) serving the preview model with our
transcript chat template: streaming, usage, Stop → the server aborts, the context length
from /v1/models, counting on the server, errors; and the template equal to the engine's."""

from __future__ import annotations

import os
import time

import httpx
import openai
import pytest

from engine.endpoints import Endpoint, connect
from engine.errors import UserFacingError
from engine.formats import TRANSCRIPT
from engine.generation import GenerationSettings
from engine.messages import Message
from engine.reply import ReplyOptions, reply
from engine.session import ChatSession
from tests.vllm.conftest import KEY_VARIABLE, MODEL

GREEDY = GenerationSettings(temperature=0, max_new_tokens=16, repetition_penalty=1.0)


@pytest.fixture(scope="module")
def endpoint(vllm_url) -> Endpoint:
    return Endpoint("preview-on-vllm", vllm_url, MODEL, api_key_env=KEY_VARIABLE, stop=TRANSCRIPT.stop_strings)


@pytest.fixture(scope="module")
def remote(endpoint):
    return connect(endpoint)


def test_the_context_length_comes_from_v1_models_and_vllm_counts(remote):
    assert remote.context_window == 2048  # --max-model-len
    assert remote.counter == "server" and not remote.reads_images


def test_a_reply_streams_with_usage_and_its_reason(remote):
    answer = reply(remote, [Message("user", "What can cause a fever?")], ReplyOptions(settings=GREEDY))
    chunks = list(answer)
    assert len(chunks) > 2 and answer.text.strip()
    assert answer.finish_reason in ("done", "length") and 0 < answer.completion_tokens <= 16
    assert answer.prompt_tokens > 50  # the system prompt and the question, counted by vLLM


def test_the_prompt_count_is_vllms_own(remote, endpoint):
    from engine.remote import count_prompt

    messages = [Message("system", "You are careful."), Message("user", "عندي صداع")]
    counted = count_prompt(remote, messages, "ar")
    wire = [{"role": m.role, "content": m.content} for m in messages]
    wire[-1]["content"] += "\n\nأجب باللغة العربية."
    direct = httpx.post(endpoint.server_root + "/tokenize", json={"model": MODEL, "messages": wire},
                        headers={"Authorization": f"Bearer {os.environ[KEY_VARIABLE]}"}).json()
    assert counted.token_count == direct["count"]


def test_the_chat_template_gives_vllm_the_engines_prompt(remote, endpoint):
    """vLLM applies engine/chat_templates/transcript.jinja; its tokens are the engine's."""
    from engine.encoding import encode_prompt
    from engine.loading import load_tokenizer
    from engine.preview import ensure_preview_checkpoint

    tokenizer = load_tokenizer(str(ensure_preview_checkpoint()))
    for messages in ([Message("user", "What can cause a fever?")],
                     [Message("system", "أنت مساعد طبي."), Message("user", "عندي صداع"), Message("assistant", "منذ متى؟"),
                      Message("user", "منذ يومين")]):
        wire = [{"role": m.role, "content": m.content} for m in messages]
        served = httpx.post(endpoint.server_root + "/tokenize", json={"model": MODEL, "messages": wire},
                            headers={"Authorization": f"Bearer {os.environ[KEY_VARIABLE]}"}).json()["tokens"]
        assert served == encode_prompt(tokenizer, TRANSCRIPT.render(messages)).input_ids


def test_stop_closes_the_stream_and_vllm_aborts_the_request(remote, vllm_log):
    long = GenerationSettings(temperature=0.8, max_new_tokens=1500, repetition_penalty=1.0, seed=1)
    aborted_before = vllm_log.read_text(encoding="utf-8").count("Aborted request")
    answer = reply(remote, [Message("user", "Write a very long essay about the heart.")], ReplyOptions(settings=long))
    chunks = iter(answer)
    for _, _ in zip(range(3), chunks):
        pass
    started = time.monotonic()
    answer.stop()
    list(chunks)
    assert time.monotonic() - started < 2 and answer.finish_reason == "stopped"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if vllm_log.read_text(encoding="utf-8").count("Aborted request") > aborted_before:
            break
        time.sleep(0.2)
    assert vllm_log.read_text(encoding="utf-8").count("Aborted request") > aborted_before


def test_history_is_fitted_to_vllms_context(remote):
    history = []
    for turn in range(40):
        history += [Message("user", f"Question {turn}: " + "what about my blood pressure and my heart rate? " * 3),
                    Message("assistant", "It depends on several things. " * 6)]
    answer = reply(remote, [*history, Message("user", "And now?")], ReplyOptions(settings=GREEDY))
    list(answer)
    assert answer.dropped_turns > 0 and answer.prompt_tokens <= 2048 - 16


def test_vllms_refusal_is_said_and_the_chat_goes_on(endpoint):
    from dataclasses import replace

    # Told a larger context than the server has, the app sends a request vLLM refuses (400).
    overstated = connect(replace(endpoint, context_length=100_000))
    session = ChatSession(overstated, ReplyOptions(settings=GenerationSettings(temperature=0, max_new_tokens=3000)))
    answer = session.send("hello")
    with pytest.raises(UserFacingError) as raised:
        list(answer)
    assert raised.value.code == "remote_failed" and "HTTP 400" in raised.value.message("en")
    assert answer.finish_reason == "failed"
    session.options = ReplyOptions(settings=GREEDY)
    answer = session.send("What can cause a fever?")
    list(answer)
    assert answer.error is None and answer.completion_tokens > 0 and answer.finish_reason in ("done", "length")


def test_a_model_vllm_does_not_serve_and_a_wrong_key(vllm_url, monkeypatch):
    with pytest.raises(UserFacingError) as raised:
        connect(Endpoint("x", vllm_url, "bimedix2", api_key_env=KEY_VARIABLE))
    assert raised.value.code == "remote_model_missing" and MODEL in raised.value.message("en")
    monkeypatch.setenv("WRONG_VLLM_KEY", "wrong")
    with pytest.raises(UserFacingError) as raised:
        connect(Endpoint("x", vllm_url, MODEL, api_key_env="WRONG_VLLM_KEY"))
    assert raised.value.code == "remote_auth"


def test_vllm_errors_have_the_openai_shape_ours_copy(vllm_url):
    client = openai.OpenAI(base_url=vllm_url, api_key=os.environ[KEY_VARIABLE], max_retries=0)
    with pytest.raises(openai.NotFoundError) as raised:
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
    assert set(raised.value.body) >= {"message", "type", "code"}
