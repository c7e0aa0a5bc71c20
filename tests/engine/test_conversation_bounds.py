"""The whole conversation is bounded in the engine, before any tokenizer work (issue 26,
item 5): every caller of `reply` (the app, the arena, `engine chat`, `engine serve`) gets
the same refusal, in both languages, at once."""

from __future__ import annotations

import dataclasses
import time

import pytest

from engine.errors import UserFacingError
from engine.generation import GenerationSettings
from engine.loading import load_model
from engine.messages import Message
from engine.prompt_input import MAX_CONVERSATION_CHARS, MAX_CONVERSATION_MESSAGES, MAX_CONVERSATION_TOKENS
from engine.reply import prepare_prompt, reply
from engine.reply_stream import ReplyOptions


@pytest.fixture(scope="module")
def llama(tiny_dirs):
    return load_model(str(tiny_dirs("llama")))


def history(turns: int, text: str) -> list[Message]:
    messages = []
    for _ in range(turns):
        messages += [Message("user", text), Message("assistant", text)]
    return messages + [Message("user", "and now?")]


@pytest.mark.parametrize("messages,code", [
    (history(MAX_CONVERSATION_MESSAGES // 2, "ok"), "conversation_too_many_messages"),
    (history(MAX_CONVERSATION_CHARS // 38_000 + 1, "headache " * 2_111), "conversation_too_long"),
    (history(MAX_CONVERSATION_TOKENS // 20_000 + 1, "\U0001fa7a" * 10_000), "conversation_too_many_tokens"),
], ids=["messages", "characters", "tokens"])
def test_a_conversation_beyond_a_bound_is_refused_at_once(llama, messages, code):
    for call in (lambda: reply(llama, messages), lambda: prepare_prompt(llama, messages, ReplyOptions(), False)):
        started = time.monotonic()
        with pytest.raises(UserFacingError) as refused:
            call()
        assert refused.value.code == code and time.monotonic() - started < 5
        english, arabic = refused.value.message("en"), refused.value.message("ar")
        assert "conversation" in english and "المحادثة" in arabic


def test_a_long_conversation_within_the_bounds_is_fitted_and_answered(llama):
    """Within the bounds a conversation is fitted as before (a 2,048-token context: the oldest
    turns are left out; prefilling 60,000 tokens on a CPU would only measure the CPU)."""
    small = dataclasses.replace(llama, context_window=2048)
    messages = history(20, "headache " * 500)  # 41 messages, 180,008 characters
    answer = reply(small, messages, ReplyOptions(settings=GenerationSettings(max_new_tokens=2)))
    list(answer)
    assert answer.error is None and 0 < answer.prompt_tokens <= 2046 and answer.dropped_turns > 0


def test_a_held_conversation_past_the_bounds_goes_on_with_its_newest_exchanges(tiny_dirs):
    """The app and `engine chat` hold their conversation: past the bounds a person is not
    refused for ever (the API's request is), the oldest exchanges are left out."""
    from engine.loading import load_model
    from engine.messages import Message
    from engine.prompt_input import MAX_CONVERSATION_CHARS, MAX_CONVERSATION_MESSAGES, newest_within_bounds
    from engine.session import ChatSession

    many = [Message(role, f"{role} {n}") for n in range(400) for role in ("user", "assistant")]
    kept = newest_within_bounds([Message("system", "be brief"), *many, Message("user", "last")])
    assert len(kept) <= MAX_CONVERSATION_MESSAGES and kept[0].role == "system" and kept[1].role == "user"
    assert kept[-1].content == "last" and kept[-2].content == "assistant 399"
    long = [Message(role, "x" * 19_000) for _ in range(12) for role in ("user", "assistant")]
    kept = newest_within_bounds([*long, Message("user", "last")])
    assert sum(len(m.content) for m in kept) <= MAX_CONVERSATION_CHARS and kept[0].role == "user"
    session = ChatSession(load_model(str(tiny_dirs("llama"))), messages=many)
    answer = session.send("and now?", options=None)
    list(answer)
    assert answer.finish_reason in ("done", "length", "stop_string")
