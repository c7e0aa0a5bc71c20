"""An image for a model that cannot see images (issue 27, items 2 and 11), behind the
screens: the chat keeps the message in its box and offers "Send without the image", the
examples and the model selector follow which models read images, the arena refuses before
either side starts, and a file intake refused leaves the box."""

from pathlib import Path

import pytest
from PIL import Image

from arena import ensure_study, load_votes, open_store
from engine.backend import local_tokens
from engine.errors import UserFacingError
from engine.generation import GenerationSettings
from engine.pool import ModelPool, ModelSpec
from engine.reply import ReplyOptions
from ui.arena import ArenaHandlers
from ui.arena_round import ArenaConfig, ArenaRound
from ui.assets import example_messages
from ui.common import split_message
from ui.handlers import ChatHandlers
from ui.image_support import model_choices
from ui.strings import text

SETTINGS = ("auto", 0.0, 0.9, 4, 1.0, -1, "none")  # reply language ... adapter, as the screen sends them
SHORT = ReplyOptions(settings=GenerationSettings(temperature=0, max_new_tokens=4, repetition_penalty=1.0))


@pytest.fixture(scope="module")
def pool(tiny_dirs):
    return ModelPool([ModelSpec(str(tiny_dirs("llama"))), ModelSpec(str(tiny_dirs("llava")))], has_gpu=lambda: False)


@pytest.fixture
def upload(tmp_path, monkeypatch):
    """Files as Gradio's upload cache holds them (tmp_path stands for it)."""
    monkeypatch.setattr("gradio.utils.get_upload_folder", lambda: str(tmp_path))

    def write(name: str, content: bytes | None = None) -> str:
        path = tmp_path / name
        if content is None:
            Image.new("RGB", (24, 16), "white").save(path)
        else:
            path.write_bytes(content)
        return str(path)
    return write


@pytest.fixture
def warnings(monkeypatch):
    shown = []
    monkeypatch.setattr("ui.common.gr.Warning", lambda message, **kwargs: shown.append(message))
    return shown


def box_files(box) -> list[str]:
    return split_message(box)[1]


@pytest.mark.parametrize("lang", ["en", "ar"])
def test_an_image_to_a_text_only_model_stays_in_the_box_with_send_without_the_image(pool, upload, warnings,
                                                                                  lang):
    handlers = ChatHandlers(pool)
    scan = upload("scan.png")
    message = {"text": "What do you see on this chest X-ray?", "files": [scan]}
    shown, box, conversation = list(handlers.respond(message, None, *SETTINGS, lang))[-1]
    assert warnings == [UserFacingError("model_cannot_read_images").message(lang)]
    assert conversation.messages == [] and shown == []
    assert box["text"] == message["text"] and len(box_files(box)) == 1  # the text and the image stay
    assert Path(box_files(box)[0]).is_file()
    images_examples, text_examples, button = handlers.image_controls(box, conversation)
    assert button["visible"] and text_examples["visible"] and not images_examples["visible"]
    outputs = list(handlers.respond_text_only(box, conversation, *SETTINGS, lang))
    _, sent_box, conversation = outputs[-1]
    assert [m.content for m in conversation.messages][0] == message["text"] and conversation.messages[1].content
    assert conversation.messages[0].images == () and not box_files(sent_box)
    assert not Path(box_files(box)[0]).exists()  # the unsent image left the server
    assert not handlers.image_controls(sent_box, conversation)[2]["visible"]


def test_a_model_that_reads_images_gets_the_image_examples_and_no_button(pool, upload):
    handlers = ChatHandlers(pool)
    conversation = handlers.conversation(None)
    conversation.switch_model(pool.get(pool.names()[1]))  # the tiny Llava
    images_examples, text_examples, button = handlers.image_controls({"text": "x", "files": [upload("a.png")]},
                                                                     conversation)
    assert images_examples["visible"] and not text_examples["visible"] and not button["visible"]


def test_image_examples_are_kept_apart_and_the_selector_marks_who_reads_images(pool):
    assert any(example["files"] for example in example_messages())
    text_only = example_messages(with_images=False)
    assert text_only and not any(example["files"] for example in text_only)
    for lang in ("en", "ar"):
        (llama, _), (llava, _) = model_choices(pool, lang)
        assert llava.endswith(f" · {text('reads_images', lang)}") and text("reads_images", lang) not in llama


def test_a_file_intake_refuses_leaves_the_box_and_the_good_one_stays(pool, upload, warnings):
    """Item 11: the refused file goes, the text and the accepted file stay; the next send
    is judged on what is left."""
    handlers = ChatHandlers(pool)
    conversation = handlers.conversation(None)
    conversation.switch_model(pool.get(pool.names()[1]))
    good, broken = upload("good.png"), upload("broken.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00")
    message = {"text": "compare these", "files": [good, broken]}
    _, box, conversation = list(handlers.respond(message, conversation, *SETTINGS, "en"))[-1]
    assert "damaged" in warnings[0] and box["text"] == "compare these"
    assert len(box_files(box)) == 1 and "broken" not in box_files(box)[0] and not Path(broken).exists()
    assert [file.orig_name for file in box["files"]] == ["good.png"]
    _, box, conversation = list(handlers.respond(box, conversation, *SETTINGS, "en"))[-1]
    assert len(warnings) == 1 and conversation.messages[0].images  # sent with the good image alone


def joined_arena(pool, tmp_path) -> tuple:
    """An arena of the pool's models on a fresh SQLite store, and a round joined by Dr Sara:
    (store, handlers, round)."""
    store = open_store(str(tmp_path / "arena.db"))
    config = ArenaConfig(contestants=tuple(pool.names()))
    ensure_study(store, config.study)
    state = ArenaRound(pool, store, config, local_tokens)
    state.join("Dr Sara", None)
    return store, ArenaHandlers(pool, store, config, local_tokens, SHORT), state


@pytest.mark.parametrize("lang", ["en", "ar"])
def test_the_arena_refuses_an_image_unless_both_sides_read_images(pool, upload, tmp_path, monkeypatch, lang):
    shown = []
    monkeypatch.setattr("ui.arena.warning", lambda message, lang: shown.append(message))
    store, handlers, state = joined_arena(pool, tmp_path)
    message = {"text": "What is this?", "files": [upload("scan.png")]}
    outputs = list(handlers.send(message, state, lang))
    assert shown == [text("arena_cannot_read_images", lang)]
    assert outputs[-1][2] == message  # the message stays in its box
    assert all(side.messages == [] and side.pending is None for side in state.sides)
    assert not state.can_vote and load_votes(store) == []
    with pytest.raises(UserFacingError) as caught:  # the round refuses it too (the API)
        list(state.send("What is this?", [upload("again.png")], SHORT))
    assert caught.value.code == "model_cannot_read_images"
    assert all(side.messages == [] for side in state.sides)


def test_a_file_intake_refuses_in_the_arena_leaves_the_box_and_the_text_stays(pool, upload, tmp_path, monkeypatch):
    """Item 11 in the arena: as in the chat, the refused file goes (else the next send
    repeats the error), the text and the file intake read stay."""
    shown = []
    monkeypatch.setattr("ui.arena.warn", lambda error, lang, *more: shown.append(error.code))
    # Intake refuses before either model is asked, so which models they are does not matter.
    monkeypatch.setattr(ArenaRound, "reads_images", property(lambda self: True), raising=False)
    store, handlers, state = joined_arena(pool, tmp_path)
    good, broken = upload("good.png"), upload("broken.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00")
    message = {"text": "compare these", "files": [good, broken]}
    box = list(handlers.send(message, state, "en"))[-1][2]
    assert shown == ["image_corrupt"] and box["text"] == "compare these"
    assert [file.orig_name for file in box["files"]] == ["good.png"] and not Path(broken).exists()
    assert Path(box_files(box)[0]).is_file() and not Path(good).exists()  # a preview, not the upload
    assert all(side.messages == [] and side.pending is None for side in state.sides)
