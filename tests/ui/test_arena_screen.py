"""The arena's screen as a new user met it (issue 27): Stop only while replies run, who is
rating, the message box's placeholder, and blind notes under each reply (tiny models, real
generation)."""

import pytest

from engine.backend import local_tokens
from tests.ui.arena_setup import LONG, SHORT, pool, store  # noqa: F401 (pool, store: fixtures)
from ui.arena import ArenaHandlers
from ui.arena_round import ArenaConfig


def test_stop_is_enabled_only_while_a_battles_replies_run(pool, store, tiny_dirs):
    """As the chat's Stop: off before anything is sent, on from the click, off again once
    both replies have ended (and still on while a side's reply runs)."""
    llama = str(tiny_dirs("llama"))
    handlers = ArenaHandlers(pool, store, ArenaConfig(contestants=(llama, f"{llama}:kind")), local_tokens, SHORT)
    assert handlers.expect_reply(None)[1]["interactive"] is False  # not joined: nothing to stop
    *_, arena = handlers.join("Dr Omar", "", "", None, "en")
    assert handlers.stop_button(arena)["interactive"] is False
    arena, stop = handlers.expect_reply(arena)
    assert stop["interactive"] is True
    replies = handlers.send("What is anemia?", arena, "en")
    next(replies)
    assert handlers.stop_button(arena)["interactive"] is True  # mid-reply
    for _ in replies:
        pass
    assert handlers.stop_button(arena)["interactive"] is False


@pytest.mark.parametrize("lang, line", [("en", "You are rating as: "), ("ar", "تقيّم باسم: ")])
def test_the_rater_is_told_whom_they_rate_as(pool, store, lang, line):
    handlers = ArenaHandlers(pool, store, ArenaConfig(), local_tokens, SHORT)
    assert handlers.rater_line(None, lang) == ""
    *_, arena = handlers.join("<b>Dr</b> د. عمر", "", "", None, lang)
    shown = handlers.rater_line(arena, lang)
    assert f"{line}<bdi>&lt;b&gt;Dr&lt;/b&gt; د. عمر</bdi>" in shown  # isolated and escaped


def test_the_arena_message_box_has_a_placeholder_in_both_languages(pool, store):
    import gradio as gr

    from ui.arena import build_arena_tab
    from ui.labels import Labels
    from ui.strings import text

    labels = Labels()
    handlers = ArenaHandlers(pool, store, ArenaConfig(), local_tokens, SHORT)
    with gr.Blocks(), gr.Tabs():
        ui_lang = gr.State("en")
        w = build_arena_tab(handlers, ui_lang, {}, labels)
    assert w.message.placeholder == text("arena_placeholder", "en")
    assert labels.relabel("ar")[w.message]["placeholder"] == text("arena_placeholder", "ar")
    assert w.stop.interactive is False


@pytest.mark.parametrize("lang", ["en", "ar"])
def test_replies_carry_blind_notes_and_a_stopped_mark(pool, store, tiny_dirs, lang):
    """Each side's reply says when it came and how it ended ("stopped" after Stop), in the
    interface language, and nothing in either panel names a model before the vote."""
    from ui.strings import text

    llama = str(tiny_dirs("llama"))
    handlers = ArenaHandlers(pool, store, ArenaConfig(contestants=(llama, f"{llama}:kind")), local_tokens, LONG)
    *_, arena = handlers.join("Dr Omar", "", "", None, lang)
    for outputs in handlers.send("Tell me about anemia", arena, lang):
        if all(side.pending and side.pending.reply.text for side in arena.sides):
            handlers.stop(arena)  # Stop once both sides have written something
    chat_a, chat_b = outputs[:2]
    for chat in (chat_a, chat_b):
        notes = chat[-1]["content"].split('class="bmx-meta', 1)[1]  # the notes, after the reply's text
        assert text("finish_stopped", lang) in notes and "UTC" in notes
        assert "llama" not in notes.lower() and "kind" not in notes  # neither model nor adapter
    assert handlers.panels(arena, "en" if lang == "ar" else "ar")[0] != chat_a  # follows a language switch
