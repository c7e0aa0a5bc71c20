"""Conversation export: Markdown and JSON, UTF-8, both languages intact, old files deleted."""

import json
import os
import time

import pytest
from PIL import Image

from engine.generation import GenerationSettings
from engine.loading import load_model
from engine.reply import ReplyOptions
from ui.conversation import Conversation
from ui.export import MAX_AGE_S, write_exports

SHORT = ReplyOptions(settings=GenerationSettings(temperature=0, max_new_tokens=4, repetition_penalty=1.0))


@pytest.fixture(scope="module")
def conversation(tiny_dirs, tmp_path_factory):
    scan = tmp_path_factory.mktemp("uploads") / "chest.png"
    Image.new("RGB", (32, 32), "white").save(scan)
    conversation = Conversation(load_model(str(tiny_dirs("llama"))))
    for text, files in (("What is anemia?", [str(scan)]), ("ما هو علاج فقر الدم؟", [])):
        for _ in conversation.send(text, files, SHORT):
            pass
        conversation.finish()
    return conversation


def test_json_and_markdown_keep_both_languages(conversation, tmp_path):
    markdown, data = write_exports(conversation, "ar", root=tmp_path)
    record = json.loads(data.read_bytes().decode("utf-8"))
    users = [m for m in record["messages"] if m["role"] == "user"]
    assert [m["content"] for m in users] == ["What is anemia?", "ما هو علاج فقر الدم؟"]
    assert [m["language"] for m in users] == ["en", "ar"]
    assert users[0]["attachments"] == ["chest.png"]  # the name only: no pixels, no server path
    assert record["model"]["card"] == conversation.loaded.card.name
    assert "ما هو علاج فقر الدم؟" in data.read_text(encoding="utf-8")  # not \\u-escaped
    text = markdown.read_text(encoding="utf-8")
    assert '<div dir="rtl" lang="ar">\n\nما هو علاج فقر الدم؟' in text
    assert "## المستخدم" in text and "📎 chest.png" in text
    assert "ليس جهازًا طبيًا" in text  # the disclaimer travels with the transcript


def test_each_export_gets_its_own_folder_and_old_ones_are_deleted(conversation, tmp_path):
    first = write_exports(conversation, "en", root=tmp_path)[0].parent
    stale = time.time() - MAX_AGE_S - 60
    os.utime(first, (stale, stale))
    second = write_exports(conversation, "en", root=tmp_path)[0].parent
    assert second != first and second.exists()
    assert not first.exists()  # older than an hour: removed by the next export


def test_a_closed_session_deletes_its_exports(tiny_dirs, tmp_path):
    conversation = Conversation(load_model(str(tiny_dirs("llama"))))
    for _ in conversation.send("hello", [], SHORT):
        pass
    conversation.finish()
    folder = write_exports(conversation, "en", root=tmp_path)[0].parent
    conversation.discard()  # what gr.State's delete_callback does when the tab is gone
    assert not folder.exists()
