"""After Send, the message (with its time) and "Writing…" show at once, before intake has
read its files (issue 27, item 14): a large DICOM takes seconds to decode, and the person
must not wait that long to see that the message went. A message intake or the model then
refuses goes back to its box and the view to the finished turns; a Stop in that window
stops the reply before it writes anything."""

import threading

import pytest
from PIL import Image

from engine.images import load_image
from engine.pool import ModelPool, ModelSpec
from ui.common import EMPTY_INPUT, split_message
from ui.handlers import ChatHandlers
from ui.strings import text

SETTINGS = ("auto", 0.0, 0.9, 4, 1.0, -1, "none")  # reply language ... adapter, as the screen sends them
INTAKE_WAIT_S = 3  # how long the slow intake waits for the test to have seen the first view


@pytest.fixture(scope="module")
def pool(tiny_dirs):
    return ModelPool([ModelSpec(str(tiny_dirs("llama"))), ModelSpec(str(tiny_dirs("llava")))], has_gpu=lambda: False)


@pytest.fixture
def scan(tmp_path, monkeypatch):
    """An upload in Gradio's upload cache (tmp_path stands for it)."""
    monkeypatch.setattr("gradio.utils.get_upload_folder", lambda: str(tmp_path))
    path = tmp_path / "chest.png"
    Image.new("RGB", (24, 16), "white").save(path)
    return str(path)


@pytest.fixture
def slow_intake(monkeypatch):
    """Intake that waits until the test has taken the first view (or INTAKE_WAIT_S), and
    records whether that view came first."""
    seen_first_view, calls = threading.Event(), []

    def load(path, *args, **kwargs):
        calls.append(seen_first_view.wait(INTAKE_WAIT_S))
        return load_image(path, *args, **kwargs)
    monkeypatch.setattr("ui.conversation.load_image", load)
    return seen_first_view, calls


def shown(message) -> str:
    content = message["content"]
    return content if isinstance(content, str) else " ".join(part for part in content if isinstance(part, str))


def test_the_message_and_writing_show_before_intake_reads_the_image(pool, scan, slow_intake):
    seen_first_view, calls = slow_intake
    handlers = ChatHandlers(pool)
    conversation = handlers.conversation(None)
    conversation.switch_model(pool.get(pool.names()[1]))  # the tiny Llava reads images
    stream = handlers.respond({"text": "What is on this X-ray?", "files": [scan]}, conversation, *SETTINGS, "en")
    first, box, _ = next(stream)
    seen_first_view.set()
    assert calls == []  # intake has not begun
    assert box == EMPTY_INPUT
    assert [message["role"] for message in first] == ["user", "assistant"]
    assert "What is on this X-ray?" in shown(first[0]) and "chest.png" in shown(first[0])
    assert "<time " in shown(first[0]) and isinstance(first[0]["content"], str)  # names only, never the upload
    assert text("writing_reply", "en") in shown(first[1]) and 'role="status"' in shown(first[1])
    outputs = list(stream)
    assert calls == [True]
    final = outputs[-1][0]
    assert conversation.messages[0].images and final[0]["content"][0]["orig_name"] == "chest.png"
    time_note = shown(first[0]).split("<time ")[1].split("</time>")[0]
    assert time_note in shown(final[0])  # the time it showed at Send is the time it keeps


@pytest.mark.parametrize("lang", ["en", "ar"])
def test_a_refused_message_is_shown_then_goes_back_to_its_box(pool, scan, slow_intake, lang):
    seen_first_view, calls = slow_intake
    handlers = ChatHandlers(pool)  # the tiny Llama cannot see images: refused after intake
    stream = handlers.respond({"text": "What is on this X-ray?", "files": [scan]}, None, *SETTINGS, lang)
    first, box, _ = next(stream)
    seen_first_view.set()
    assert [message["role"] for message in first] == ["user", "assistant"] and box == EMPTY_INPUT
    assert text("writing_reply", lang) in shown(first[1])
    view, box, conversation = list(stream)[-1]
    assert calls[0] is True and view == [] and conversation.pending is None and conversation.messages == []
    assert box["text"] == "What is on this X-ray?" and len(split_message(box)[1]) == 1


def test_a_stop_while_intake_reads_stops_the_reply_before_it_writes(pool, scan, slow_intake):
    seen_first_view, calls = slow_intake
    handlers = ChatHandlers(pool)
    conversation = handlers.conversation(None)
    conversation.switch_model(pool.get(pool.names()[1]))
    conversation.expect_reply()  # the click
    stream = handlers.respond({"text": "What is on this X-ray?", "files": [scan]}, conversation, *SETTINGS, "en")
    next(stream)
    handlers.stop(conversation)  # pressed while the image is still being read
    seen_first_view.set()
    view, _, conversation = list(stream)[-1]
    assert calls == [True] and conversation.pending is None
    assert conversation.info[1].finish_reason == "stopped" and conversation.messages[1].content == ""
    assert text("finish_stopped", "en") in shown(view[1])
