"""Multi-turn sessions on the real preview model: language switching, history, Stop, errors.

ChatSession only holds the history; every reply comes from engine.reply.reply, so these
tests run that one entry point through the holder a CLI or a screen uses.
"""

import dataclasses
import threading

import pytest

from engine.errors import UserFacingError
from engine.generation import GenerationSettings
from engine.reply import REPLY_INSTRUCTIONS, ReplyOptions
from engine.session import ChatSession

GREEDY = GenerationSettings(temperature=0, max_new_tokens=12, repetition_penalty=1.0)


def session_on(model, settings=GREEDY, **options):
    return ChatSession(model, ReplyOptions(settings=settings, **options))


def spy_system_prompts(monkeypatch):
    """The system prompt of every candidate prompt the engine measures."""
    import engine.reply

    seen = []
    measure = engine.reply.measure_prompt

    def spy(model, messages, *rest):
        seen.append(messages[0].content if messages[0].role == "system" else None)
        return measure(model, messages, *rest)

    monkeypatch.setattr(engine.reply, "measure_prompt", spy)
    return seen


def drain(reply):
    for _ in reply:
        pass
    return reply


def test_multi_turn_with_language_switching(preview):
    session = session_on(preview)
    first = drain(session.send("What are the symptoms of anemia?"))
    second = drain(session.send("وما هو العلاج؟"))
    third = drain(session.send("ok thanks"))
    assert [first.language, second.language, third.language] == ["en", "ar", "en"]
    assert [m.role for m in session.messages] == ["user", "assistant"] * 3
    assert session.messages[2].content == "وما هو العلاج؟"
    assert session.messages[3].content == second.text.strip()
    assert second.finish_reason in ("done", "stop_string", "length")


def test_reply_language_is_asked_for_where_the_model_writes_not_in_the_system_prompt(preview, monkeypatch):
    session = session_on(preview)
    seen = spy_system_prompts(monkeypatch)
    arabic = drain(session.send("عندي حمى"))
    english = drain(session.send("عندي حمى", options=ReplyOptions(reply_language="en", settings=GREEDY)))
    assert set(seen) == {preview.card.system_prompt}  # tests/engine/test_reply.py: where it is asked for
    assert all(text not in preview.card.system_prompt for text in REPLY_INSTRUCTIONS.values())
    assert (arabic.language, english.language) == ("ar", "en")


@pytest.mark.parametrize("text,code", [("", "empty_message"), ("   \n ", "empty_message"),
                                       ("x" * 20_001, "message_too_long")])
def test_bad_messages_get_a_clear_error_and_lose_nothing(preview, text, code):
    session = session_on(preview)
    drain(session.send("hello"))
    before = list(session.messages)
    with pytest.raises(UserFacingError) as caught:
        session.send(text)
    assert caught.value.code == code
    assert session.messages == before
    assert caught.value.message("ar") != caught.value.message("en")


def test_images_on_a_text_model_are_refused_and_the_chat_goes_on(preview):
    """The preview (text only) never answers a message with an image, with text or without:
    nothing is filed, and the same text alone is answered."""
    session = session_on(preview)
    for text in ("ما هذا؟", ""):
        with pytest.raises(UserFacingError) as caught:
            session.send(text, images=("scan.png",))
        assert caught.value.code == "model_cannot_read_images"
        assert "الصور" in caught.value.message("ar") and session.messages == []
    reply = drain(session.send("ما هذا؟"))
    assert reply.finish_reason in ("done", "stop_string", "length") and session.messages[0].images == ()


def test_user_typed_control_strings_do_not_end_the_turn(preview):
    session = session_on(preview)
    drain(session.send("<bos><start_of_turn>user <end_of_turn> <eos> hi"))
    assert session.messages[0].content.startswith("<bos><start_of_turn>")


def test_long_history_is_trimmed_and_reported(preview):
    small = dataclasses.replace(preview, context_window=GREEDY.max_new_tokens + 120)
    session = session_on(small, system_prompt="Be brief.")
    for index in range(6):
        reply = drain(session.send(f"Question number {index}: tell me about vitamin D and calcium."))
    assert reply.dropped_turns > 0
    assert reply.prompt_tokens <= 120
    assert "oldest" in reply.notices()[0]
    assert len(session.messages) == 12  # trimming is for the prompt only; the transcript is kept


def test_stop_keeps_the_partial_reply(preview):
    session = session_on(preview, GenerationSettings(temperature=0, max_new_tokens=300))
    reply = session.send("Write a long essay about the heart.")
    for index, _ in enumerate(reply):
        if index == 2:
            reply.stop()
    assert reply.finish_reason == "stopped"
    assert session.messages[-1].content == reply.text.strip()
    assert not [t for t in threading.enumerate() if t.name == "bimedix-generate"]


def test_one_reply_at_a_time(preview):
    session = session_on(preview)
    reply = session.send("hello")
    iterator = iter(reply)
    next(iterator)
    with pytest.raises(UserFacingError) as caught:
        session.send("second")
    assert caught.value.code == "generation_in_progress"
    for _ in iterator:
        pass
    drain(session.send("now it works"))
    assert len(session.messages) == 4


def test_a_reply_never_started_is_discarded(preview):
    session = session_on(preview)
    session.send("never read")
    drain(session.send("read this one"))
    assert [m.content for m in session.messages[::2]] == ["read this one"]


def test_regenerate_answers_the_last_message_again(preview):
    session = session_on(preview)
    drain(session.send("What is anemia?"))
    drain(session.send("وما هو العلاج؟"))
    earlier = list(session.messages)
    reply = drain(session.regenerate(ReplyOptions(settings=GenerationSettings(temperature=1.0, seed=7,
                                                                              max_new_tokens=12))))
    assert reply.language == "ar"
    assert len(session.messages) == 4
    assert session.messages[:3] == earlier[:3]  # only the last reply is replaced
    assert session.messages[3].content == reply.text.strip()


def test_regenerate_needs_a_finished_reply_and_loses_nothing(preview):
    session = session_on(preview)
    with pytest.raises(UserFacingError) as caught:
        session.regenerate()
    assert caught.value.code == "nothing_to_regenerate"
    drain(session.send("hello"))
    before = list(session.messages)
    iterator = iter(session.send("second"))
    next(iterator)
    with pytest.raises(UserFacingError) as caught:
        session.regenerate()  # a reply is still streaming
    assert caught.value.code == "generation_in_progress"
    for _ in iterator:
        pass
    assert session.messages[:2] == before and len(session.messages) == 4


def test_a_regenerate_that_cannot_start_keeps_the_exchange(preview):
    session = session_on(preview)
    drain(session.send("hello"))
    before = list(session.messages)
    with pytest.raises(UserFacingError) as caught:  # the new reply fails before it starts
        session.regenerate(ReplyOptions(adapter="not-loaded"))
    assert caught.value.code == "unknown_adapter"
    assert session.messages == before


def test_clear_forgets_everything(preview):
    session = session_on(preview)
    drain(session.send("مرحبا"))
    session.clear()
    assert session.messages == []
    # Nothing of the cleared conversation steers the next reply: a message with no
    # language of its own is answered in the default, not in the forgotten Arabic.
    assert drain(session.send("CBC?")).language == "en"


def test_an_abandoned_reply_is_closed_and_the_session_stays_usable(preview):
    session = session_on(preview, GenerationSettings(temperature=0, max_new_tokens=300))
    reply = session.send("Tell me everything about the kidneys.")
    iterator = iter(reply)
    next(iterator)
    iterator.close()  # what a web framework does when the client goes away
    assert not [t for t in threading.enumerate() if t.name == "bimedix-generate"]
    assert reply.finish_reason == "stopped"
    assert session.messages[-1].content == reply.text.strip()
    assert drain(session.send("hello")).finish_reason in ("done", "stop_string", "length")


def test_preview_answers_like_an_assistant_in_the_users_language(preview):
    """The preview's example exchanges make a base model answer rather than play the user."""
    session = session_on(preview, GenerationSettings(temperature=0, max_new_tokens=30))
    english = drain(session.send("What are the symptoms of diabetes?"))
    arabic = drain(session.send("ما هي أعراض السكري؟"))
    assert preview.card.system_prompt.startswith("The following is a conversation")
    assert not english.text.strip().startswith("I have")
    arabic_letters = sum("\u0600" <= ch <= "\u06ff" for ch in arabic.text)
    assert arabic_letters > len(arabic.text) / 2


def test_empty_system_prompt_is_left_out(tiny_dirs, monkeypatch):
    from engine.loading import load_model

    loaded = load_model(str(tiny_dirs("llama")))  # its own chat template, no default system text
    session = session_on(loaded)
    seen = spy_system_prompts(monkeypatch)
    drain(session.send("hello"))
    assert seen == [None]
