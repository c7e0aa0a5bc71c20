"""The Leaderboard tab's handler, as the page receives it: headers in the interface
language, the "too few votes" notice, and the tab's place among the app's tabs."""

from __future__ import annotations

import re

import gradio as gr
import pytest

from arena import ensure_study, join_study, load_votes, open_store, record_judge_verdict, record_vote, start_battle
from arena.leaderboard import COLUMNS, MIN_MODEL_BATTLES, MIN_VOTES
from engine.pool import ModelPool, ModelSpec
from tests.arena.conftest import transcript
from tests.ui.test_strings import arabic_letters
from ui.arena_round import ArenaConfig
from ui.icons import icon
from ui.judge_board import public_judge
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
    assert list(plot["value"].columns) == ["model", "rating"]  # what the BarPlot was built with (x=, y=)
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
    assert summary.startswith(icon("warning", "en") + " " + notice) and "1 votes counted" in summary
    ratings = dict(zip(table["Model"], table["Rating"]))
    assert 1000 < max(ratings.values()) < 1150 and 850 < min(ratings.values()) < 1000  # not 2706 / -706
    assert (table["95% high"] - table["95% low"] > 100).all()
    arabic, *_ = board.show("all", False, "ar")
    assert arabic.startswith(icon("warning", "ar") + " " + text("lb_too_few", "ar").format(votes=MIN_VOTES, battles=MIN_MODEL_BATTLES))


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


@pytest.mark.parametrize("lang", ["en", "ar"])
def test_a_shared_rank_is_marked_as_a_tie_and_said_so(store, lang):
    """One vote: both intervals overlap, so both models share rank 1, shown as "=1" with a
    line saying what "=" means, in the interface language."""
    vote(store)
    summary, table, _, _ = LeaderboardHandlers(store, "default", None).show("all", False, lang)
    assert list(table[column_headers(lang)["rank"]]) == ["=1", "=1"]
    assert text("lb_rank_shared", lang) in summary


def test_the_rating_axis_spans_the_prior_and_every_interval(store):
    """A 140-point gap on an axis of 940..1080 filled the chart; the axis always spans
    1000 ± 200, and more where an interval reaches beyond it."""
    vote(store)
    _, table, plot, _ = LeaderboardHandlers(store, "default", None).show("all", False, "en")
    low, high = plot["y_lim"]
    assert low <= 800 and high >= 1200
    assert low <= table["95% low"].min() and high >= table["95% high"].max()


def test_the_organisers_table_speaks_the_interface_language(store):
    """Headers, code states and times (minutes, UTC; never "02:31:24.126133+00:00") in the
    interface language, and again in the other one after a switch, from the rows kept."""
    from ui.progress_table import PROGRESS_COLUMNS

    vote(store)
    board = LeaderboardHandlers(store, "default", "organiser-4711")
    shown, _, rows = board.progress("organiser-4711", "ar", None)
    table = shown["value"]
    assert list(table.columns) == [text(f"admin_col_{column}", "ar") for column in PROGRESS_COLUMNS]
    assert all(arabic_letters(header) for header in table.columns)
    when = table[text("admin_col_last_activity", "ar")][0]
    assert re.fullmatch("\u2066\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d\u2069 بالتوقيت العالمي", when), when
    assert table[text("admin_col_personal_code", "ar")][0] == text("admin_code_none", "ar")
    english = board.progress_again(rows, "en")["value"]
    assert list(english.columns[:2]) == ["Rater", "Rounds started"] and english["Rater"][0] == "Dr Sara"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", english["Last active"][0])
    assert board.progress_again(None, "en") == gr.update()  # nothing shown: nothing to translate
    assert board.progress("wrong", "en", None)[2] is None


def judge(store, judge_model: str = "gpt-4o", *, same: bool = True) -> None:
    """The judge re-judges every person's vote: the same winner or the other one, the
    second of its two orders flipping on the first vote."""
    for index, person in enumerate(load_votes(store, "default")):
        other = {"model_a": "model_b", "model_b": "model_a"}.get(person.winner, "model_a")
        winner = person.winner if same else other
        record_judge_verdict(store, "default", judge_model, person.model_a, person.model_b, winner,
                             person.transcript_a, person.transcript_b, verdict_ab=winner,
                             verdict_ba=winner if index else "tie", prompt_version="v1",
                             source_battle_id=person.battle_id)


def test_the_judges_section_shows_only_once_a_judge_has_voted(store):
    vote(store, ["model_a", "model_b", "model_a", "model_a"])
    board = LeaderboardHandlers(store, "default", None)
    assert board.show_judges("all", False, "en") == ""
    judge(store)
    judge(store, "claude", same=False)
    english = board.show_judges("all", False, "en")
    assert english.startswith("### LLM judges") and "never counted in the ratings above" in english
    assert "judge:gpt\\-4o agreed with the raters on 4 of 4 battles (100%); rank correlation 1.00; " \
           "order flips 25%." in english
    assert "judge:claude agreed with the raters on 0 of 4 battles (0%); rank correlation -1.00" in english
    assert english.index("#### judge:claude") < english.index("#### judge:gpt")
    assert "| Rank | Model | Rating |" in english and "| bimedix2\\-8b |" in english
    # The raters' board is as it was: the judges' eight votes are not in it.
    assert "4 votes counted" in board.show("all", False, "en")[0]
    arabic = board.show_judges("all", False, "ar")
    assert arabic.startswith("### " + text("lb_judges", "ar"))
    assert "اتفق \u2066judge:gpt\\-4o\u2069 مع المقيّمين في 4 من 4 مواجهة (\u2066100%\u2069)" in arabic
    assert "ارتباط الترتيب \u2066-1.00\u2069" in arabic and "| المرتبة | النموذج |" in arabic
    assert board.show_judges("ar", False, "en").count(text("lb_empty", "en")) == 2  # no Arabic votes


def test_the_judges_section_follows_a_language_switch_and_hides_server_addresses(store):
    vote(store)
    judge(store, "openai:gpt-4o@http://10.0.0.5:8000/v1")
    board = LeaderboardHandlers(store, "default", None, shown_name=lambda model: model.upper())
    assert board.show_judges_again("", "all", False, "ar") == gr.update()
    arabic = board.show_judges_again("1 votes counted", "all", False, "ar")
    assert text("lb_judges_intro", "ar") in arabic and "10.0.0.5" not in arabic
    assert "judge:openai:gpt\\-4o" in arabic and "BIMEDIX2\\-8B" in arabic  # the public names
    assert public_judge("/models/qwen2-7b/") == "qwen2-7b" and public_judge("gpt-4o") == "gpt-4o"


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


def test_the_leaderboard_tab_has_a_judges_section(app):
    assert any(getattr(block, "elem_id", None) == "lb-judges" for block in app.blocks.values())


def test_the_organisers_messages_follow_a_language_switch(store, tmp_path):
    """The new rater's code and the export's note were rendered once, in the language of the
    moment: after a switch they are said again in the new one, from what was kept (the same
    name, code and links; the organiser code is not asked for again)."""
    from types import SimpleNamespace

    from ui.downloads import Downloads

    board = LeaderboardHandlers(store, "default", "organiser-4711", Downloads(tmp_path / "downloads"))
    organiser = SimpleNamespace(client=SimpleNamespace(host="10.0.0.1"), headers={}, cookies={})
    shown, _, kept = board.add_rater("organiser-4711", "Dr *Sara* 2", "en", organiser)
    code = re.search(r"`([A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{2})`", shown["value"]).group(1)
    arabic = board.rater_code_again(kept, "ar")["value"]
    assert arabic.startswith("الرمز الشخصي لـ ") and "Shown only" not in arabic
    # The name (as typed, never as Markdown) and the code, each isolated in a <bdi>.
    assert "<bdi>**Dr \\*Sara\\* 2**</bdi>" in arabic and f"<bdi>`{code}`</bdi>" in arabic
    assert board.rater_code_again(kept, "en")["value"] == shown["value"]
    assert board.rater_code_again(None, "ar") == gr.update()  # nothing shown: nothing to translate
    assert board.add_rater("wrong", "Dr Omar", "en", organiser)[2] is None  # hidden: nothing kept

    links, urls = board.export("organiser-4711", "en", organiser)
    assert text("download_once", "en") in links["value"] and len(urls) == 2
    again = board.export_again(urls, "ar")["value"]
    assert "يُنزَّل كل ملف مرة واحدة" in again and text("download_once", "en") not in again
    assert all(url in again for url in urls)  # the same one-time links, not new ones
    assert board.export_again(None, "ar") == gr.update()
    assert board.export("wrong", "en", organiser)[1] is None


def test_the_language_switch_re_renders_the_organisers_messages(app):
    """The tab wires the re-render: a change of the interface language updates the code's
    Markdown and the export's links from their gr.State."""
    by_id = {getattr(block, "elem_id", None): block for block in app.blocks.values()}
    wanted = {by_id["lb-rater-code"]._id: "rater_code_again", by_id["lb-export-files"]._id: "export_again"}
    found = {}
    for fn in app.fns.values():
        name = getattr(fn.fn, "__name__", "")
        if name in wanted.values() and fn.targets == [(by_id["bmx-ui-language"]._id, "change")]:
            found[name] = [block._id for block in fn.outputs]
    assert found == {name: [target] for target, name in wanted.items()}
