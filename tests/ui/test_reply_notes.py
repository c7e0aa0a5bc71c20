"""What each message carries on screen and in exports (ui/transcript.py, ui/export.py): its
time; for a reply the model, adapter, language asked and how it ended; a lasting note on a
turn whose image the model could not read; a reply's place in the queue while it waits."""

from __future__ import annotations

import json
import threading

from PIL import Image

from engine.backend import reply_slot
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
    assert "Local: tiny-llama" in first and "adapter: none" in first and "reply in: <bdi>English</bdi>" in first
    assert "cut at the length limit" in first  # 2 tokens: the limit ended it
    assert "المحوّل: kind" in second and "<bdi>العربية</bdi>" in second and "قُطع عند حد الطول" in second
    assert all("UTC</time>" in shown_text(message) for message in english)  # every message has its time
    record = json.loads(export_files(conversation, "en")[1][1])
    replies = [m for m in record["messages"] if m["role"] == "assistant"]
    assert [(r["adapter"], r["reply_language"], r["finish_reason"]) for r in replies] == [
        (None, "en", "length"), ("kind", "ar", "length")]
    assert [r["settings"]["max_new_tokens"] for r in replies] == [2, 3]  # each reply its own, not one at export
    assert all("at" in m for m in record["messages"])
    markdown = export_files(conversation, "en")[0][1].decode()
    assert "adapter: kind" in markdown and "max_new_tokens=3" in markdown


def test_the_note_on_an_image_the_model_could_not_read_stays_with_its_turn(tiny_dirs, tmp_path):
    scan = tmp_path / "scan.png"
    Image.new("RGB", (16, 16), "white").save(scan)
    handlers = ChatHandlers(ModelPool([ModelSpec(str(tiny_dirs("llama")))]))
    conversation = respond(handlers, "What is this?", files=[str(scan)])[-1][2]
    conversation = respond(handlers, "And now?", conversation)[-1][2]  # a later turn: the note stays
    user = chat_messages(conversation, "ar")[0]
    assert "هذا النموذج لا يستطيع قراءة الصور" in shown_text(user)
    assert "cannot read images" not in shown_text(chat_messages(conversation, "en")[2])  # only on its own turn


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
