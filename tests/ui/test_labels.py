"""Each widget's text is written once, in a registry every tab fills while it is built, and
the interface-language switch relabels everything that shows interface text."""

import gradio as gr
import pytest

from engine.pool import ModelPool, ModelSpec
from tests.ui.test_strings import arabic_letters
from ui.arena_round import ArenaConfig
from ui.chat import build_chat_app
from ui.labels import Labels, Text
from ui.strings import STRINGS, reply_language_choices


def test_a_widget_is_built_in_english_and_relabelled_in_arabic():
    labels = Labels()
    with gr.Blocks():
        button = labels.make(gr.Button, value=Text("send"), variant="primary")
        radio = labels.make(gr.Radio, choices=Text(reply_language_choices), value="auto", label=Text("reply_language"))
    assert button.value == "Send" and radio.value == "auto" and radio.label == "Reply language"
    updates = labels.relabel("ar")
    assert updates[button]["value"] == "إرسال" and set(updates[radio]) == {"__type__", "label", "choices"}
    assert updates[radio]["choices"] == reply_language_choices("ar")
    assert labels.components == [button, radio]


@pytest.fixture(scope="module")
def app(tiny_dirs, tmp_path_factory):
    pool = ModelPool([ModelSpec(str(tiny_dirs("llama"))), ModelSpec(str(tiny_dirs("gemma")))])
    database = tmp_path_factory.mktemp("arena") / "arena.db"
    return build_chat_app(pool, arena=ArenaConfig(database=str(database)))


def relabel_event(app):
    ui_lang = next(block for block in app.blocks.values() if getattr(block, "elem_id", None) == "bmx-ui-language")
    return next(fn for fn in app.fns.values() if fn.inputs and fn.inputs[0] is ui_lang and len(fn.outputs) > 10)


def shown_texts(block) -> list[str]:
    texts = [getattr(block, name, None) for name in ("label", "info", "placeholder")]
    if isinstance(block, (gr.Button, gr.Markdown)):
        texts.append(block.value)
    return [t for t in texts if isinstance(t, str)]


def test_every_widget_showing_interface_text_is_relabelled_in_every_tab(app):
    event = relabel_event(app)
    english = {value for value in STRINGS["en"].values()}
    # Widgets whose texts come from the table (the arena's sides are named A/B until the vote).
    with_table_text = {block for block in app.blocks.values()
                       if any(t in english or t.split("\n")[0].lstrip("# ") in english for t in shown_texts(block))
                       and getattr(block, "elem_id", None) not in ("arena-a", "arena-b")}
    assert len(with_table_text) > 40  # chat, arena and leaderboard
    assert with_table_text <= set(event.outputs)
    updates = event.fn("ar", None)
    for block in event.outputs:
        update = updates[block]  # an update, or a plain value (the model card's Markdown)
        shown = [update] if isinstance(update, str) else [
            value for key, value in update.items() if key in ("label", "value", "info", "placeholder")
            and isinstance(value, str)]
        assert shown and all(arabic_letters(value) for value in shown), (block, updates[block])


def test_gradio_s_own_texts_and_toast_titles_have_their_arabic():
    """What assets/chat.js writes over Gradio's English (ui/labels.py): an Arabic text for
    each, a pattern's template keeping what the pattern caught, a toast title per kind."""
    import re

    from ui.labels import gradio_patterns, gradio_texts, toast_titles

    assert all(arabic_letters(arabic) for arabic in gradio_texts("ar").values())
    for pattern, arabic in gradio_patterns("ar").items():
        assert re.compile(pattern).groups == 1 and "$1" in arabic and arabic_letters(arabic.replace("$1", ""))
    slider = next(p for p in gradio_patterns("ar") if re.match(p, "range slider for Top-p"))
    assert re.sub(slider, gradio_patterns("ar")[slider].replace("$1", r"\1"), "range slider for Top-p").startswith("Top-p")
    assert toast_titles()["ar"] == {"warning": "تحذير", "info": "ملاحظة", "error": "خطأ"}
    assert toast_titles()["en"]["warning"] == "Warning"
