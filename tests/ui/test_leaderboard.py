"""The Leaderboard tab's handler, as the page receives it: headers in the interface
language, the "too few votes" notice, and the tab's place among the app's tabs."""

from __future__ import annotations

import gradio as gr
import pytest

from arena import ensure_study, join_study, open_store, record_vote, start_battle
from arena.leaderboard import COLUMNS, MIN_MODEL_BATTLES, MIN_VOTES
from engine.pool import ModelPool, ModelSpec
from tests.arena.conftest import transcript
from tests.ui.test_strings import arabic_letters
from ui.arena_round import ArenaConfig
from ui.leaderboard import LeaderboardHandlers, column_headers
from ui.strings import text

MODELS = ["bimedix2-8b", "bimedix-bi"]


@pytest.fixture
def store(tmp_path):
    opened = open_store(tmp_path / "arena.db", busy_timeout_s=2.0)
    ensure_study(opened, "default")
    yield opened
    opened.close()


def vote(store, winners=("model_a",)) -> None:
    rater = join_study(store, "default", "Dr Sara")
    for index, winner in enumerate(winners):
        battle = start_battle(store, rater, MODELS, rng=index)
        record_vote(store, battle.id, rater, winner, transcript(), transcript())


def test_headers_are_shown_in_the_interface_language(store):
    vote(store)
    board = LeaderboardHandlers(store, "default", None)
    _, table, plot, matrix = board.show("all", False, "ar")
    assert list(table.columns) == [text(f"lb_col_{column}", "ar") for column in COLUMNS]
    assert all(arabic_letters(header) for header in table.columns)
    assert list(plot.columns) == ["model", "rating"]  # what the BarPlot was built with (x=, y=)
    assert matrix.columns[0] == "النموذج" and set(matrix.columns[1:]) == set(MODELS)
    assert list(matrix[matrix.columns[0]]) == sorted(MODELS)
    _, english, _, english_matrix = board.show("all", False, "en")
    assert list(english.columns[:3]) == ["Rank", "Model", "Rating"] and english_matrix.columns[0] == "Model"
    assert column_headers("ar")["ci_low"] == "الحد الأدنى 95%"


def test_one_vote_gives_sane_ratings_under_a_too_few_votes_notice(store):
    vote(store)
    board = LeaderboardHandlers(store, "default", None)
    summary, table, _, _ = board.show("all", False, "en")
    notice = text("lb_too_few", "en").format(votes=MIN_VOTES, battles=MIN_MODEL_BATTLES)
    assert summary.startswith("⚠️ " + notice) and "1 votes counted" in summary
    ratings = dict(zip(table["Model"], table["Rating"]))
    assert 1000 < max(ratings.values()) < 1150 and 850 < min(ratings.values()) < 1000  # not 2706 / -706
    assert (table["95% high"] - table["95% low"] > 100).all()
    arabic, *_ = board.show("all", False, "ar")
    assert arabic.startswith("⚠️ " + text("lb_too_few", "ar").format(votes=MIN_VOTES, battles=MIN_MODEL_BATTLES))


def test_the_notice_goes_once_there_are_enough_votes(store):
    vote(store, ["model_a", "model_b"] * (MIN_VOTES // 2))
    summary, *_ = LeaderboardHandlers(store, "default", None).show("all", False, "en")
    assert "Too few votes" not in summary and f"{MIN_VOTES} votes counted" in summary


def test_a_new_vote_is_shown_and_a_language_switch_shows_the_board_again(store):
    board = LeaderboardHandlers(store, "default", None)
    assert board.show("all", False, "en")[0] == text("lb_empty", "en")
    vote(store)
    assert "1 votes counted" in board.show("all", False, "en")[0]  # not the cached empty board
    # Not shown yet (its summary is empty until then): nothing to translate, nothing computed.
    assert board.show_again("", "all", False, "ar") == tuple(gr.update() for _ in range(4))
    summary, table, _, _ = board.show_again("1 votes counted", "all", False, "ar")
    assert "عدد الأصوات المحتسبة 1" in summary and table.columns[0] == "المرتبة"


@pytest.fixture(scope="module")
def app(tiny_dirs, tmp_path_factory):
    from ui.chat import build_chat_app

    pool = ModelPool([ModelSpec(str(tiny_dirs("llama"))), ModelSpec(str(tiny_dirs("gemma")))])
    return build_chat_app(pool, arena=ArenaConfig(database=str(tmp_path_factory.mktemp("arena") / "arena.db")))


def test_the_tabs_hold_nothing_but_tabs(app):
    # The browser numbers each tab by its place among the gr.Tabs' children, but lists the
    # tabs without the other children: anything else there (the arena's gr.State was)
    # put the Leaderboard at place 3 of a list of 3, and opening it added a second one.
    tabs = next(block for block in app.blocks.values() if getattr(block, "elem_id", None) == "bmx-tabs")
    assert [type(child) for child in tabs.children] == [gr.Tab] * 3
    assert [child.elem_id for child in tabs.children] == ["chat-tab", "arena-tab", "leaderboard-tab"]
