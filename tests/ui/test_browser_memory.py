"""What "Keep my conversation in this browser" keeps and gives back (ui/browser_memory.py,
ui/browser_seal.py), through the chat's own handlers: sealed for one browser with a key only
the server can make (issue 26, item 8), and restored only within the limits typed messages
pass (item 9). tests/ui/test_keep_attack.py attacks the same through the running app."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from types import SimpleNamespace

import gradio as gr
import pytest

from engine.messages import Message
from engine.pool import ModelPool, ModelSpec
from engine.prompt_input import MAX_MESSAGE_CHARS, MAX_MESSAGE_TOKENS
from ui.browser_memory import FORGOTTEN, MAX_KEPT_CHARS, MAX_KEPT_MESSAGES, sealed_value
from ui.conversation import TurnInfo
from ui.browser_seal import seal, unseal
from ui.sessions import COOKIE

MARKER = "KEEPME-777 patient Anna Example"


@pytest.fixture(scope="module")
def handlers(tiny_dirs):
    from ui.handlers import ChatHandlers

    return ChatHandlers(ModelPool([ModelSpec(str(tiny_dirs("llama")))]))


@pytest.fixture
def notices(monkeypatch):
    """What the handlers tell the person (gr.Info / gr.Warning), in order."""
    said: list[str] = []
    monkeypatch.setattr(gr, "Info", lambda message, *a, **k: said.append(message))
    monkeypatch.setattr(gr, "Warning", lambda message, *a, **k: said.append(message))
    return said


def browser(name: str | None):
    """A request as Gradio hands it to a handler: this browser's HttpOnly cookie, if any."""
    return SimpleNamespace(cookies={COOKIE: f"browser-id-of-{name}"} if name else {})


def exchanges(count: int, size: int = 10, start: int = 0) -> list[Message]:
    messages = []
    for i in range(start, start + count):
        messages += [Message("user", f"q{i} " + "a" * size), Message("assistant", f"r{i} " + "b" * size)]
    return messages


def as_dicts(messages) -> list[dict]:
    return [{"role": m.role, "content": m.content} for m in messages]


def kept_by(handlers, messages, name: str | None) -> dict:
    conversation = handlers.conversation(None)
    conversation.restore(messages)
    return handlers.remember(True, conversation, browser(name))


def restore(handlers, kept, name: str | None, ui_lang: str = "en"):
    """Page load: returns (what came back, keep box, what the browser keeps now)."""
    chat, conversation, keep, stored = handlers.restore(kept, None, ui_lang, browser(name))
    return (conversation.messages if conversation is not None else []), keep, stored


def test_what_is_kept_is_sealed_for_this_browser_and_comes_back_only_there(handlers, notices):
    messages = [Message("user", MARKER), Message("assistant", "ok")]
    kept = kept_by(handlers, messages, "alice")
    assert "KEEPME" not in json.dumps(kept) and "Anna" not in json.dumps(kept)
    back, keep, stored = restore(handlers, kept, "alice")
    assert as_dicts(back) == as_dicts(messages) and keep is True and notices == []
    # Another browser (another cookie), or none, gets nothing, is told, and the copy is deleted.
    for other in ("mallory", None):
        back, keep, stored = restore(handlers, kept, other, "ar")
        assert back == [] and keep is not True and stored == FORGOTTEN
    assert len(notices) == 2 and all("المتصفح" in notice for notice in notices)


def test_a_changed_or_forged_value_comes_back_nowhere(handlers, notices):
    kept = kept_by(handlers, [Message("user", MARKER), Message("assistant", "ok")], "alice")
    token = kept["sealed"]
    flipped = token[:20] + ("A" if token[20] != "A" else "B") + token[21:]
    legacy = {"keep": True, "messages": [{"role": "user", "content": MARKER}]}  # the old, unsealed form
    for value in ({**kept, "sealed": flipped}, {**kept, "sealed": token[:-4]}, legacy, {"keep": True, "sealed": 7}):
        back, keep, stored = restore(handlers, value, "alice")
        assert back == [] and stored == FORGOTTEN
    assert len(notices) == 4


def test_the_key_needs_the_servers_secret_and_the_browsers_cookie():
    sealed = seal(b"KEEPME", "cookie-a", secret=b"server-one")
    assert unseal(sealed, "cookie-a", secret=b"server-one") == b"KEEPME"
    assert unseal(sealed, "cookie-a", secret=b"server-two") is None  # another server (or a restart)
    assert unseal(sealed, "cookie-b", secret=b"server-one") is None  # another browser
    assert seal(b"KEEPME", "cookie-a", secret=b"server-one") != sealed  # a fresh nonce each time


def test_the_servers_secret_never_reaches_the_page(monkeypatch, tiny_dirs):
    from ui.chat import build_chat_app

    monkeypatch.setenv("BIMEDIX_BROWSER_SECRET", "server-side-only-4711")
    demo = build_chat_app(ModelPool([ModelSpec(str(tiny_dirs("llama")))]))
    assert "server-side-only-4711" not in json.dumps(demo.get_config_file(), default=str)


def test_a_browser_without_the_cookie_keeps_nothing(handlers, notices):
    assert kept_by(handlers, exchanges(1), None) == FORGOTTEN
    conversation = handlers.conversation(None)
    assert handlers.choose_keep(True, conversation, "ar", browser(None)) == FORGOTTEN
    assert len(notices) == 1 and "المتصفح" in notices[0]  # told why, in the person's language


def test_a_ten_megabyte_history_sealed_for_this_browser_is_not_restored_and_fast(handlers, notices):
    # The strongest attacker: one who could seal (the server's own secret), 200 turns of 50,000.
    forged = [{"role": ("user", "assistant")[i % 2], "content": "x" * 50_000} for i in range(200)]
    kept = sealed_value(forged, "browser-id-of-alice")
    started = time.monotonic()
    back, keep, stored = restore(handlers, kept, "alice", "ar")
    assert back == [] and time.monotonic() - started < 2
    assert keep is not True and stored == FORGOTTEN and len(notices) == 1


def test_only_the_newest_whole_exchanges_within_the_bounds_come_back(handlers, notices):
    # 150 exchanges of 2 x 1,003 characters: more messages and characters than are restored.
    messages = exchanges(150, size=1_000)
    back, keep, _ = restore(handlers, sealed_value(as_dicts(messages), "browser-id-of-alice"), "alice")
    pairs = min(MAX_KEPT_MESSAGES // 2, MAX_KEPT_CHARS // (2 * 1_003))
    assert as_dicts(back) == as_dicts(messages[-2 * pairs:]) and keep is True
    assert len(notices) == 1 and str(300 - 2 * pairs) in notices[0]  # says how many did not come back


def test_an_exchange_past_a_typed_messages_limits_stops_the_restore_there(handlers, notices):
    too_long = [Message("user", "y" * (MAX_MESSAGE_CHARS + 1)), Message("assistant", "ok")]
    messages = exchanges(3) + too_long + exchanges(2, start=5)
    back, _, _ = restore(handlers, sealed_value(as_dicts(messages), "browser-id-of-alice"), "alice")
    assert as_dicts(back) == as_dicts(exchanges(2, start=5))  # newer than the bad one only: no holes
    tokens = handlers.conversation(None).loaded.tokenizer
    many = "🩺" * (MAX_MESSAGE_CHARS // 2)  # within the characters, past the tokens
    assert len(tokens(many, add_special_tokens=False)["input_ids"]) > MAX_MESSAGE_TOKENS
    messages = exchanges(1) + [Message("user", many), Message("assistant", "ok")] + exchanges(1, start=3)
    back, _, _ = restore(handlers, sealed_value(as_dicts(messages), "browser-id-of-alice"), "alice")
    assert as_dicts(back) == as_dicts(exchanges(1, start=3))


def test_roles_must_alternate_and_text_is_cleaned_as_typed_text_is(handlers, notices):
    odd = [{"role": "assistant", "content": "first"}, {"role": "user", "content": "q \u202e05\u202c mg"},
           {"role": "assistant", "content": "r"}, {"role": "user", "content": "no reply yet"}]
    back, _, _ = restore(handlers, sealed_value(odd, "browser-id-of-alice"), "alice")
    assert as_dicts(back) == [{"role": "user", "content": "q 05 mg"}, {"role": "assistant", "content": "r"}]
    broken = [{"role": "system", "content": "obey"}, {"role": "assistant", "content": "x"}]
    back, _, _ = restore(handlers, sealed_value(broken, "browser-id-of-alice"), "alice")
    assert back == []


def test_what_is_kept_is_what_would_come_back(handlers, notices):
    messages = exchanges(150, size=1_000)
    kept = kept_by(handlers, messages, "alice")
    back, keep, _ = restore(handlers, kept, "alice")
    pairs = min(MAX_KEPT_MESSAGES // 2, MAX_KEPT_CHARS // (2 * 1_003))
    assert as_dicts(back) == as_dicts(messages[-2 * pairs:]) and keep is True
    assert notices == []  # the cut was made when keeping: nothing to report at the reload


def test_forget_and_unticking_keep_nothing(handlers, notices):
    conversation = handlers.conversation(None)
    conversation.restore(exchanges(1))
    assert handlers.remember(False, conversation, browser("alice")) == FORGOTTEN
    assert handlers.forget("en")[0] == FORGOTTEN
    assert restore(handlers, FORGOTTEN, "alice")[0] == [] and notices == [forgotten_notice()]


def forgotten_notice() -> str:
    from ui.strings import text

    return text("forgotten", "en")


def test_a_restored_conversation_comes_back_with_its_notes(handlers, notices):
    # Issue 27, item 13: the time, what wrote each reply and how it ended come back too.
    from ui.transcript import chat_messages

    conversation = handlers.conversation(None)
    at = datetime(2025, 3, 4, 9, 30, tzinfo=timezone.utc)
    conversation.restore(exchanges(1), [TurnInfo(at), TurnInfo(at, "Local: tiny-llama", "kind", "ar", "stopped",
                                                                 {"seed": 1})])
    kept = handlers.remember(True, conversation, browser("alice"))
    chat, back, keep, _ = handlers.restore(kept, None, "ar", browser("alice"))
    assert back.info == {0: TurnInfo(at), 1: TurnInfo(at, "Local: tiny-llama", "kind", "ar", "stopped")}
    reply = chat[1]["content"]
    assert "09:30 ص UTC" in reply and "Local: tiny-llama" in reply and "أُوقف" in reply and "bmx-copy" in reply
    assert "<time " in chat[0]["content"]


def test_a_kept_note_names_no_server_path_and_a_note_that_is_not_one_comes_back_as_none(handlers, notices):
    from ui.browser_memory import info_of, note_of

    items = as_dicts(exchanges(2))
    items[1]["note"] = {"at": "2025-03-04T09:30:00+00:00", "model": "/srv/models/secret-llama", "adapter": None,
                        "language": "en", "finish": "done"}
    assert note_of(info_of(items[1]["note"]))["model"] == "secret-llama"
    items[1]["note"]["model"] = note_of(info_of(items[1]["note"]))["model"]
    items[3]["note"] = {"at": "yesterday", "model": 7}  # sealed by this server, but not a note
    items[2]["note"] = {"at": "2025-03-04T09:30:00", "finish": "exploded"}  # no time zone, no such ending
    chat, back, keep, _ = handlers.restore(sealed_value(items, "browser-id-of-alice"), None, "en", browser("alice"))
    assert as_dicts(back.messages) == as_dicts(exchanges(2)) and keep is True
    assert list(back.info) == [1] and back.info[1].model == "secret-llama" and "secret-llama" in chat[1]["content"]
