"""Conversation export: Markdown and JSON, UTF-8, both languages intact."""

import json

import pytest
from PIL import Image

from engine.generation import GenerationSettings
from engine.loading import load_model
from engine.reply import ReplyOptions
from ui.conversation import Conversation
from ui.export import export_files

SHORT = ReplyOptions(settings=GenerationSettings(temperature=0, max_new_tokens=4, repetition_penalty=1.0))


@pytest.fixture(scope="module")
def conversation(tiny_dirs, tmp_path_factory):
    scan = tmp_path_factory.mktemp("uploads") / "chest.png"
    Image.new("RGB", (32, 32), "white").save(scan)
    conversation = Conversation(load_model(str(tiny_dirs("llava"))))  # it reads images
    for text, files in (("What is anemia?", [str(scan)]), ("ما هو علاج فقر الدم؟", [])):
        for _ in conversation.send(text, files, SHORT):
            pass
        conversation.finish()
    return conversation


def test_json_and_markdown_keep_both_languages(conversation):
    (md_name, markdown), (json_name, data) = export_files(conversation, "ar")
    assert md_name.endswith(".md") and json_name.endswith(".json")
    record = json.loads(data.decode("utf-8"))
    users = [m for m in record["messages"] if m["role"] == "user"]
    assert [m["content"] for m in users] == ["What is anemia?", "ما هو علاج فقر الدم؟"]
    assert [m["language"] for m in users] == ["en", "ar"]
    assert users[0]["attachments"] == ["chest.png"]  # the name only: no pixels, no server path
    assert record["model"]["card"] == conversation.loaded.card.name
    assert "ما هو علاج فقر الدم؟".encode() in data  # not \\u-escaped
    text = markdown.decode("utf-8")
    assert '<div dir="rtl" lang="ar">\n\nما هو علاج فقر الدم؟' in text
    assert "## المستخدم" in text and "📎 chest.png" in text
    assert "ليس جهازًا طبيًا" in text  # the disclaimer travels with the transcript
