"""The preview on the vLLM the app starts itself (engine/vllm_engine.py), as the app holds it:
it answers in Arabic and in English as the in-process engine does (the reply language asked
for by our chat template, where the engine's format asks), with vLLM's tokens equal to the
engine's; and it says which engine it is."""

from __future__ import annotations

import os
import re

import httpx

from engine.formats import TRANSCRIPT
from engine.generation import GenerationSettings
from engine.messages import Message
from engine.reply import ReplyOptions, reply
from tests.vllm.conftest import ADAPTER, KEY_VARIABLE, MODEL

GREEDY = ReplyOptions(settings=GenerationSettings(temperature=0, max_new_tokens=40, repetition_penalty=1.0))
ARABIC = re.compile(r"[\u0600-\u06FF]")


def test_it_is_the_preview_on_vllm_started_by_the_app(managed):
    assert managed.engine == "vllm" and managed.supervisor.state == "ready"
    assert managed.card.name == MODEL and managed.context_window == 2048 and managed.template_asks_language


def test_it_answers_arabic_in_arabic_and_english_in_english(managed):
    arabic = reply(managed, [Message("user", "ما هي أسباب الصداع؟")], GREEDY)
    list(arabic)
    english = reply(managed, [Message("user", "What can cause a fever?")], GREEDY)
    list(english)
    assert arabic.language == "ar" and len(ARABIC.findall(arabic.text)) > 10, arabic.text
    assert english.language == "en" and english.text.strip() and not ARABIC.search(english.text), english.text


def test_a_second_turn_in_the_other_language_is_answered_in_it(managed):
    """What a person saw first: after an English exchange, an Arabic question got the
    English answer again (the request asked for Arabic in the user's turn, far from where
    the base model writes)."""
    history = [Message("user", "What can cause a fever?"),
               Message("assistant", "A fever is usually caused by an infection."),
               Message("user", "ما هي أسباب الصداع؟")]
    answer = reply(managed, history, GREEDY)
    list(answer)
    assert answer.language == "ar" and len(ARABIC.findall(answer.text)) > 10, answer.text


def test_vllms_tokens_with_the_reply_language_are_the_engines(managed):
    from engine.encoding import encode_prompt
    from engine.loading import load_tokenizer
    from engine.preview import ensure_preview_checkpoint

    tokenizer = load_tokenizer(str(ensure_preview_checkpoint()))
    messages = [Message("user", "What can cause a fever?"), Message("assistant", "An infection."),
                Message("user", "ما هي أسباب الصداع؟")]
    wire = [{"role": m.role, "content": m.content} for m in messages]
    for language in ("ar", "en"):
        served = httpx.post(managed.endpoint.server_root + "/tokenize",
                            json={"model": MODEL, "messages": wire, "chat_template_kwargs": {"reply_language": language}},
                            headers={"Authorization": f"Bearer {os.environ[KEY_VARIABLE]}"}).json()["tokens"]
        assert served == encode_prompt(tokenizer, TRANSCRIPT.render(messages, reply_language=language)).input_ids


def test_an_adapter_by_name_writes_what_the_in_process_engine_writes_with_it(managed, adapter_dir):
    """vLLM's CPU build takes LoRA: a reply with the adapter is asked of vLLM by its name,
    and writes, token for token, what this process writes with the same adapter."""
    from dataclasses import replace

    from engine.loading import load_model

    assert managed.adapters.names() == [ADAPTER]
    question = [Message("user", "What is anemia?")]
    settings = replace(GREEDY.settings, max_new_tokens=16)
    in_process = load_model(MODEL, [str(adapter_dir)])
    texts = {}
    for model, where in ((managed, "vllm"), (in_process, "here")):
        for adapter in (None, ADAPTER):
            answer = reply(model, question, ReplyOptions(reply_language="en", adapter=adapter, settings=settings))
            list(answer)
            texts[where, adapter] = answer.text
    assert texts["vllm", ADAPTER] == texts["here", ADAPTER] != texts["vllm", None] == texts["here", None], texts
