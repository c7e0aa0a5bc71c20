"""What each message carries on screen and in exports (ui/transcript.py, ui/export.py): its
time; for a reply the model, adapter, language asked and how it ended; a lasting note on a
turn whose image the model could not read; a reply's place in the queue while it waits."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from datetime import datetime, timezone

from engine.backend import reply_slot
from engine.messages import Message
from engine.red_flags import RedFlag
from ui import transcript
from ui.conversation import TurnInfo
from tests.ui.conftest import ROOT
from engine.pool import ModelPool, ModelSpec
from tests.engine.test_loading import make_adapter
from ui.export import export_files
from ui.handlers import ChatHandlers
from ui.transcript import chat_messages


def respond(handlers, text, conversation=None, files=(), lang="en", max_new_tokens=4, adapter="none",
            reply_language="auto"):
    outputs = list(handlers.respond({"text": text, "files": list(files)}, conversation, reply_language, 0, 0.9,
                                    max_new_tokens, 1.0, -1, adapter, lang))
    return outputs


def shown_text(message) -> str:
    content = message["content"]
    return content if isinstance(content, str) else " ".join(part for part in content if isinstance(part, str))


def test_each_reply_names_its_model_adapter_language_and_end_and_exports_keep_them(tiny_dirs, tmp_path):
    llama = tiny_dirs("llama")
    adapter = make_adapter(llama, tmp_path / "kind", seed=3)
    handlers = ChatHandlers(ModelPool([ModelSpec(str(llama), (str(adapter),))]))
    conversation = respond(handlers, "What is anemia?", max_new_tokens=2)[-1][2]
    conversation = respond(handlers, "ما هو فقر الدم؟", conversation, lang="ar", adapter="kind",
                           max_new_tokens=3)[-1][2]
    english, arabic = chat_messages(conversation, "en"), chat_messages(conversation, "ar")
    first, second = shown_text(english[1]), shown_text(arabic[3])
    assert fields(first)["model"].startswith("Local: tiny-llama")  # a field of its own
    assert "adapter: <bdi>none</bdi>" in first and "reply in: <bdi>English</bdi>" in first
    assert "cut at the length limit" in first  # 2 tokens: the limit ended it
    assert "المحوّل: <bdi>kind</bdi>" in second and "<bdi>العربية</bdi>" in second and "قُطع عند حد الطول" in second
    assert all("UTC</time>" in shown_text(message) for message in english)  # every message has its time
    record = json.loads(export_files(conversation, "en")[1][1])
    replies = [m for m in record["messages"] if m["role"] == "assistant"]
    assert [(r["adapter"], r["reply_language"], r["finish_reason"]) for r in replies] == [
        (None, "en", "length"), ("kind", "ar", "length")]
    assert [r["settings"]["max_new_tokens"] for r in replies] == [2, 3]  # each reply its own, not one at export
    assert all("at" in m for m in record["messages"])
    markdown = export_files(conversation, "en")[0][1].decode()
    assert "adapter: kind" in markdown and "max_new_tokens=3" in markdown


def test_a_reply_stopped_before_any_text_says_so_instead_of_an_empty_bubble(tiny_dirs):
    handlers = ChatHandlers(ModelPool([ModelSpec(str(tiny_dirs("llama")))]))
    conversation, _ = handlers.expect_reply(None)
    conversation.stop_requested = False
    stream = handlers.respond({"text": "hello", "files": []}, conversation, "auto", 0, 0.9, 50, 1.0, -1, "none", "en")
    next(stream)
    conversation.stop()  # before its first token
    last = list(stream)[-1][0]
    reply = shown_text(last[-1])
    assert last[-1]["role"] == "assistant" and "Stopped before any text" in reply and "stopped" in reply


def test_a_reply_waiting_for_its_model_shows_its_place_in_the_queue(tiny_dirs):
    pool = ModelPool([ModelSpec(str(tiny_dirs("llama")))])
    handlers = ChatHandlers(pool)
    key = pool.get(pool.default).key
    held, release = threading.Event(), threading.Event()

    def someone_else() -> None:  # another person's reply holds the model
        with reply_slot(key):
            held.set()
            release.wait(30)

    threading.Thread(target=someone_else, daemon=True).start()
    held.wait(10)
    stream = handlers.respond({"text": "hello", "files": []}, None, "auto", 0, 0.9, 2, 1.0, -1, "none", "ar")
    waiting = None
    for view, _, _ in stream:
        statuses = [shown_text(message) for message in view if message["role"] == "assistant"]
        if statuses and "بانتظار النموذج (الدور 1)" in statuses[-1]:
            waiting = view
            release.set()
    assert waiting is not None and waiting[0]["role"] == "user"  # the message shows at once, and its place
    assert "بانتظار" not in shown_text(view[-1])  # the status turned into the reply


# Issue 27: the notes in an Arabic interface, at once on Send, on a language switch, blind
# in the arena, and an emergency notice above the reply.

AT = datetime(2025, 3, 4, 14, 5, tzinfo=timezone.utc)


def fields(message_html: str) -> dict[str, str]:
    """Each note field's own element (a <bdi> of its own) -> its text, tags removed."""
    found = re.findall(r'<bdi class="bmx-field bmx-(\w+)" dir="(\w+)">(.*?)</bdi>(?= · | <button|</div>)',
                       message_html)
    return {name: re.sub(r"<[^>]+>", "", content) for name, _, content in found}


def restored_exchange(handlers, question="ما هو فقر الدم؟"):
    conversation = handlers.conversation(None)
    conversation.restore([Message("user", question), Message("assistant", "فقر الدم نقص في الهيموغلوبين")],
                         [TurnInfo(AT), TurnInfo(AT, "Offline preview (Gemma-3-270M, CPU)", None, "ar", "stopped")])
    return conversation


def test_in_arabic_each_note_is_an_isolated_field_and_the_time_reads_as_arabic(tiny_dirs):
    handlers = ChatHandlers(ModelPool([ModelSpec(str(tiny_dirs("llama")))]))
    user, reply = (shown_text(message) for message in chat_messages(restored_exchange(handlers), "ar"))
    assert fields(user) == {"time": "02:05 م UTC"}
    assert fields(reply) == {"time": "02:05 م UTC", "model": "Offline preview (Gemma-3-270M, CPU)",
                             "adapter": "المحوّل: بلا محوّل", "language": "الرد بـ: العربية", "finish": "أُوقف"}
    assert '<bdi class="bmx-field bmx-time" dir="rtl"><time datetime="2025-03-04T14:05:00Z">' in reply
    english = shown_text(chat_messages(restored_exchange(handlers), "en")[1])
    assert fields(english)["time"] == "14:05 UTC" and fields(english)["adapter"] == "adapter: none"
    from ui.transcript import clock

    assert clock(AT.replace(hour=0), "ar") == "12:05 ص UTC" and clock(AT.replace(hour=9), "ar") == "09:05 ص UTC"


def test_the_message_shows_at_once_with_its_time_and_the_reply_says_it_is_being_written(tiny_dirs):
    handlers = ChatHandlers(ModelPool([ModelSpec(str(tiny_dirs("llama")))]))
    stream = handlers.respond({"text": "hello", "files": []}, None, "auto", 0, 0.9, 2, 1.0, -1, "none", "ar")
    first, _, conversation = next(stream)
    assert [message["role"] for message in first] == ["user", "assistant"]
    assert "<time " in shown_text(first[0])  # its time at once, not when the reply ends
    placeholder = shown_text(first[1])
    assert 'role="status"' in placeholder and "يكتب الرد…" in placeholder and 'lang="ar"' in placeholder
    list(stream)


def test_a_language_switch_while_a_reply_is_written_renders_its_notes_in_the_new_language(tiny_dirs):
    handlers = ChatHandlers(ModelPool([ModelSpec(str(tiny_dirs("llama")))]))
    stream = handlers.respond({"text": "hello", "files": []}, None, "auto", 0, 0.9, 3, 1.0, -1, "none", "en")
    first, _, conversation = next(stream)
    assert "Writing…" in shown_text(first[-1])
    conversation.ui_lang = "ar"  # what the language switch (ui/chat.py relabel) leaves on the Conversation
    last = list(stream)[-1][0]
    reply = fields(shown_text(last[-1]))
    assert reply["time"].endswith(("ص UTC", "م UTC")) and reply["language"].startswith("الرد بـ")
    assert "reply in" not in shown_text(last[-1])


def test_blind_notes_give_the_time_and_how_a_reply_ended_but_never_what_wrote_it(tiny_dirs):
    handlers = ChatHandlers(ModelPool([ModelSpec(str(tiny_dirs("llama")))]))
    user, reply = (shown_text(message) for message in chat_messages(restored_exchange(handlers), "en", blind=True))
    assert fields(user) == {"time": "14:05 UTC"}
    assert fields(reply) == {"time": "14:05 UTC", "finish": "stopped"}
    assert "Gemma" not in reply and "adapter" not in reply
    assert all("bmx-meta" not in shown_text(m) for m in chat_messages(restored_exchange(handlers)))  # no lang: no notes


def test_an_emergency_notice_shows_above_the_reply_in_both_languages_at_once_and_in_the_arena(tiny_dirs, monkeypatch):
    flag = RedFlag("cardiac", "Call emergency services (997) now.", "اتصل بالإسعاف (997) الآن.")
    monkeypatch.setattr(transcript, "emergency_notice", lambda text: flag if "chest pain" in text else None)
    handlers = ChatHandlers(ModelPool([ModelSpec(str(tiny_dirs("llama")))]))
    stream = handlers.respond({"text": "crushing chest pain", "files": []}, None, "auto", 0, 0.9, 2, 1.0, -1,
                              "none", "en")
    first, _, conversation = next(stream)
    assert 'role="alert"' not in shown_text(first[0])  # not inside the person's own message
    placeholder = shown_text(first[1])
    assert placeholder.startswith('<div class="bmx-emergency" role="alert"')  # before the reply's first words
    assert "اتصل بالإسعاف (997) الآن." in placeholder and "Call emergency services (997) now." in placeholder
    list(stream)
    conversation = respond(handlers, "What is anemia?", conversation)[-1][2]
    for view in (chat_messages(conversation, "ar"), chat_messages(conversation, "en", blind=True),
                 chat_messages(conversation)):
        alerts = [i for i, message in enumerate(view) if 'role="alert"' in shown_text(message)]
        assert alerts == [1]  # the first reply only, above what the model wrote
        assert shown_text(view[1]).index('role="alert"') < shown_text(view[1]).index('class="bmx-msg"')


def test_the_language_detector_is_ready_before_the_first_message(tmp_path):
    # Loaded on first use it took ~2 s of the first person's Send before their message showed.
    script = ("import sys; sys.path.insert(0, '.'); import langdetect.detector_factory as factory\n"
              "from ui.handlers import ChatHandlers\n"
              "assert factory._factory is None\n"
              "ChatHandlers(pool=None)\n"
              "print(factory._factory is not None and len(factory._factory.langlist) > 50)\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.stdout.strip() == "True", done.stderr[-2000:]
