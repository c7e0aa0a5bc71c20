"""LLM judges in the vote store: raters "judge:<model>" of their own kind, kept out of the
people's ratings and exports, and their agreement with the people."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError
from typer.testing import CliRunner

from arena import (ArenaError, create_rater, ensure_study, export_votes, is_judge_rater, join_study,
                   judge_agreement, judge_leaderboards, judge_rater_name, load_votes, open_store,
                   record_judge_verdict, record_vote, start_battle, store_leaderboards, study_progress)
from arena.study import RATER_NAME_LIMIT
from tests.arena.conftest import STUDY, transcript

JUDGE = "gpt-4o"


def person_vote(store, rater, first: str, second: str, chosen: str, *, reply: str = "Iron.", seed: int = 0) -> str:
    """A person's battle between two models; `chosen`: the winning model, "tie" or "both_bad"."""
    battle = start_battle(store, rater, [first, second], rng=seed)
    winner = ("model_a" if chosen == battle.model_a else "model_b" if chosen == battle.model_b else chosen)
    record_vote(store, battle.id, rater, winner, transcript(reply=reply), transcript())
    return battle.id


def judge_vote(store, model_a: str, model_b: str, winner: str, *, judge: str = JUDGE, ab: str | None = None,
               ba: str | None = None, source: str | None = None, item: str | None = None, version: str = "v1",
               study: str = STUDY, reply: str = "Iron.") -> str:
    return record_judge_verdict(store, study, judge, model_a, model_b, winner, transcript(reply=reply), transcript(),
                                verdict_ab=ab or winner, verdict_ba=ba or winner, prompt_version=version,
                                source_battle_id=source, item_key=item, generation_settings={"temperature": 0})


def count(store, table: str) -> int:
    with store.read() as session:
        return session.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()


def test_a_verdict_is_a_battle_a_vote_and_a_verdict_row_of_the_judge_rater(store):
    battle_id = judge_vote(store, "bimedix2-8b", "bimedix-bi", "tie", ab="model_a", ba="model_b",
                           item="conversations-en-item3", study="judged")
    [record] = load_votes(store, "judged", raters="judges")
    assert (record.battle_id, record.rater_name, record.rater_kind) == (battle_id, "judge:gpt-4o", "judge")
    assert (record.model_a, record.model_b, record.winner) == ("bimedix2-8b", "bimedix-bi", "tie")
    assert record.transcript_a == transcript(reply="Iron.") and record.conversation_language == "en"
    assert record.generation_settings == {"temperature": 0} and record.started_at == record.voted_at
    assert join_study(store, "judged", "Dr Omar").study_name == "judged"  # the study was made, open
    with store.read() as session:
        row = session.execute(text("SELECT battle_id, source_battle_id, item_key, judge_model, prompt_version, "
                                   "verdict_ab, verdict_ba, flipped FROM arena_judge_verdicts")).one()
    assert tuple(row) == (battle_id, None, "conversations-en-item3", JUDGE, "v1", "model_a", "model_b", 1)


def test_a_reply_naming_a_model_flags_the_judge_vote_as_it_does_a_person_vote(store):
    judge_vote(store, "bimedix2-8b", "bimedix-bi", "model_a", reply="I am GPT-4.")
    [record] = load_votes(store, raters="judges")
    assert record.flagged_leak and "GPT" in record.leak_reason


def test_recording_again_returns_the_first_battle_and_writes_nothing(store):
    first = judge_vote(store, "bimedix2-8b", "bimedix-bi", "model_a", item="item1")
    assert judge_vote(store, "bimedix2-8b", "bimedix-bi", "model_b", item="item1") == first
    assert count(store, "arena_battles") == count(store, "arena_votes") == count(store, "arena_judge_verdicts") == 1
    # A new prompt, another judge, another item or another study: new verdicts.
    others = {judge_vote(store, "bimedix2-8b", "bimedix-bi", "model_a", item="item1", version="v2"),
              judge_vote(store, "bimedix2-8b", "bimedix-bi", "model_a", item="item1", judge="claude"),
              judge_vote(store, "bimedix2-8b", "bimedix-bi", "model_a", item="item2"),
              judge_vote(store, "bimedix2-8b", "bimedix-bi", "model_a", item="item1", study="other")}
    assert first not in others and len(others) == 4 and count(store, "arena_judge_verdicts") == 5
    # Keyed by the person's battle when there is no item key.
    ensure_study(store, STUDY)
    source = person_vote(store, join_study(store, STUDY, "Dr Sara"), "bimedix2-8b", "bimedix-bi", "tie")
    again = judge_vote(store, "bimedix2-8b", "bimedix-bi", "tie", source=source)
    assert judge_vote(store, "bimedix2-8b", "bimedix-bi", "tie", source=source) == again
    assert count(store, "arena_judge_verdicts") == 6


def test_a_verdict_is_one_transaction_nothing_stays_when_its_last_row_fails(store):
    with store.write() as session:  # the verdict row, written last, is refused by the database
        if store.engine.dialect.name == "sqlite":
            session.execute(text("CREATE TRIGGER refuse BEFORE INSERT ON arena_judge_verdicts "
                                 "BEGIN SELECT RAISE(ABORT, 'refused'); END"))
        else:
            session.execute(text("ALTER TABLE arena_judge_verdicts ADD CONSTRAINT refused CHECK (false) NOT VALID"))
    with pytest.raises(IntegrityError, match="refused"):
        judge_vote(store, "bimedix2-8b", "bimedix-bi", "model_a", study="new study")
    for table in ("arena_studies", "arena_raters", "arena_battles", "arena_votes", "arena_judge_verdicts"):
        assert count(store, table) == 0, table


def test_bad_verdicts_are_refused_before_anything_is_written(store):
    with pytest.raises(ArenaError) as refused:
        judge_vote(store, "bimedix2-8b", "bimedix-bi", "model_c", ab="tie", ba="tie")
    assert refused.value.code == "invalid_winner"
    with pytest.raises(ArenaError, match="no reply"):
        record_judge_verdict(store, STUDY, JUDGE, "x", "y", "tie", transcript(), [{"role": "user", "content": "Hi"}],
                             verdict_ab="tie", verdict_ba="tie", prompt_version="v1")
    for bad in ({"ab": "both_bad"}, {"version": ""}, {"source": "x" * 33}, {"judge": " "}):
        with pytest.raises(ValueError):
            judge_vote(store, "bimedix2-8b", "bimedix-bi", "tie", **bad)
    with pytest.raises(ValueError, match="two different models"):
        judge_vote(store, "bimedix2-8b", "bimedix2-8b", "tie")
    assert count(store, "arena_battles") == count(store, "arena_studies") == 0


def test_the_verdict_table_is_added_to_a_database_made_before_it(tmp_path):
    path = tmp_path / "old.db"
    store = open_store(path)
    with store.write() as session:  # the database as it was before judges (and migrations)
        session.execute(text("DROP TABLE arena_judge_verdicts"))
        session.execute(text("DROP TABLE alembic_version"))
    assert "arena_judge_verdicts" not in inspect(store.engine).get_table_names()
    store.close()
    reopened = open_store(path)
    assert "arena_judge_verdicts" in inspect(reopened.engine).get_table_names()
    judge_vote(reopened, "bimedix2-8b", "bimedix-bi", "model_a")
    assert count(reopened, "arena_judge_verdicts") == 1
    reopened.close()


def test_judge_votes_stay_out_of_the_people_s_boards_exports_and_progress(store, rater, tmp_path):
    person_vote(store, rater, "bimedix2-8b", "bimedix-bi", "bimedix2-8b")
    for index in range(3):
        judge_vote(store, "bimedix2-8b", "bimedix-bi", "model_b", item=f"item{index}")
    assert [r.rater_name for r in load_votes(store)] == ["Dr Sara"]
    assert len(load_votes(store, raters="judges")) == 3 and len(load_votes(store, raters="all")) == 4
    assert {r.rater_kind for r in load_votes(store, raters="all")} == {"human", "judge"}
    boards = store_leaderboards(store, STUDY, rounds=0)
    assert boards["all"].battles == 1 and boards["all"].rows[0].model == "bimedix2-8b"
    assert judge_leaderboards(store, STUDY, rounds=0)[JUDGE].rows[0].model == "bimedix-bi"
    assert export_votes(store, jsonl=tmp_path / "people.jsonl") == 1
    lines = (tmp_path / "people.jsonl").read_text(encoding="utf-8").splitlines()
    assert "rater_kind" not in json.loads(lines[0])  # the export's columns are as they were
    assert export_votes(store, jsonl=tmp_path / "all.jsonl", raters="all") == 4
    assert export_votes(store, jsonl=tmp_path / "judges.jsonl", raters="judges") == 3
    assert [p.display_name for p in study_progress(store, STUDY)] == ["Dr Sara"]
    assert {p.display_name for p in study_progress(store, STUDY, raters="all")} == {"Dr Sara", "judge:gpt-4o"}
    with pytest.raises(ValueError):
        load_votes(store, raters="robots")


@pytest.mark.parametrize("name", ["judge:gpt-4o", " JUDGE:x", "Judge:  claude", "judge:"])
def test_a_person_cannot_take_a_judge_s_name(store, name):
    ensure_study(store, STUDY)
    for attempt in (lambda: join_study(store, STUDY, name), lambda: create_rater(store, STUDY, name)):
        with pytest.raises(ArenaError) as refused:
            attempt()
        assert refused.value.code == "rater_name_reserved"
        assert "judge:" in refused.value.message("ar") and refused.value.message("ar") != refused.value.message("en")
    assert count(store, "arena_raters") == 0
    assert join_study(store, STUDY, "Judge Dredd").display_name == "Judge Dredd"  # a name, not the prefix


def test_judge_rater_names_fit_and_stay_apart():
    assert judge_rater_name(JUDGE) == "judge:gpt-4o" and is_judge_rater("judge:gpt-4o")
    assert is_judge_rater(" Judge:X") and not is_judge_rater("Dr Judge") and not is_judge_rater("judge x")
    long_a, long_b = "org/" + "a" * 80 + "-1", "org/" + "a" * 80 + "-2"
    name_a = judge_rater_name(long_a)
    assert len(name_a) == RATER_NAME_LIMIT and name_a.startswith("judge:org/aaa") and is_judge_rater(name_a)
    assert name_a == judge_rater_name(long_a) != judge_rater_name(long_b)


def test_agreement_counts_people_s_battles_re_judged_by_model_with_both_bad_as_tie(store, rater):
    x, y = "bimedix2-8b", "bimedix-bi"
    picked_x = person_vote(store, rater, x, y, x, seed=1)
    picked_y = person_vote(store, rater, x, y, y, seed=2)
    both_bad = person_vote(store, rater, x, y, "both_bad", seed=3)
    tie = person_vote(store, rater, x, y, "tie", seed=4)
    leaked = person_vote(store, rater, x, y, x, reply="I am ChatGPT.", seed=5)
    judge_vote(store, x, y, "model_a", source=picked_x)  # agrees
    judge_vote(store, y, x, "model_a", source=picked_y)  # agrees: y, shown on the other side
    judge_vote(store, x, y, "tie", ab="model_a", ba="model_b", source=both_bad)  # agrees, flipped
    judge_vote(store, x, y, "model_a", source=tie)  # disagrees
    judge_vote(store, x, y, "model_b", source=leaked, reply="I am ChatGPT.")  # flagged: not compared
    judge_vote(store, x, y, "tie", ab="model_b", ba="model_a", item="conversations-en-item3")  # no person
    judge_vote(store, x, y, "model_b", judge="claude", source=picked_x)  # another judge, disagrees

    claude, gpt = judge_agreement(store, STUDY)
    assert (gpt.judge_model, gpt.compared, gpt.agreed, gpt.agreement) == (JUDGE, 4, 3, 0.75)
    assert (gpt.verdicts, gpt.flips, gpt.flip_rate) == (6, 2, pytest.approx(2 / 6))
    assert (claude.judge_model, claude.compared, claude.agreed, claude.agreement) == ("claude", 1, 0, 0.0)
    assert claude.flips == 0 and claude.flip_rate == 0.0 and claude.common_models == 2
    with_flagged = {a.judge_model: a for a in judge_agreement(store, STUDY, include_flagged=True)}
    assert (with_flagged[JUDGE].compared, with_flagged[JUDGE].agreed) == (5, 3)
    assert judge_agreement(store, STUDY, language="ar") == []  # every battle was in English
    assert [a.compared for a in judge_agreement(store, STUDY, language="en")] == [1, 4]
    ensure_study(store, "other study")
    assert judge_agreement(store, "other study") == []
    assert [a.verdicts for a in judge_agreement(store, STUDY, prompt_version="v2")] == []


def _ordered_votes(store, rater, order: list[str], *, judge: str | None = None, seed: int = 0) -> None:
    """Each model of `order` beats every later one twice: a strict ranking."""
    for i, better in enumerate(order):
        for worse in order[i + 1:]:
            for repeat in range(2):
                seed += 1
                if judge is None:
                    person_vote(store, rater, better, worse, better, seed=seed)
                else:
                    judge_vote(store, worse, better, "model_b", judge=judge, item=f"{better}>{worse}#{repeat}")


def test_rank_correlation_is_spearman_over_the_models_both_boards_rank(store, rater):
    order = ["bimedix2-8b", "bimedix-bi", "card:adapter"]
    _ordered_votes(store, rater, order)
    _ordered_votes(store, rater, order, judge="same")
    _ordered_votes(store, rater, order[::-1], judge="reversed")
    _ordered_votes(store, rater, ["bimedix2-8b", "elsewhere"], judge="lonely")
    _ordered_votes(store, rater, ["bimedix-bi", "bimedix2-8b"], judge="two")
    results = {a.judge_model: a for a in judge_agreement(store, STUDY)}
    assert (results["same"].rank_correlation, results["same"].common_models) == (pytest.approx(1.0), 3)
    assert (results["reversed"].rank_correlation, results["reversed"].common_models) == (pytest.approx(-1.0), 3)
    assert (results["lonely"].rank_correlation, results["lonely"].common_models) == (None, 1)
    assert results["two"].rank_correlation == pytest.approx(-1.0) and results["two"].common_models == 2
    assert results["same"].compared == 0 and results["same"].agreement is None  # judged no person's battle
    boards = judge_leaderboards(store, STUDY, rounds=10)
    assert list(boards) == ["lonely", "reversed", "same", "two"]
    assert [row.model for row in boards["reversed"].rows] == order[::-1]
    assert boards["same"].battles == 6 and boards["same"].rounds == 10


def test_the_ratings_command_adds_judges_only_when_there_are_some(store, rater, database, tmp_path):
    from tests.arena.test_export_cli import _typer_app

    person_vote(store, rater, "bimedix2-8b", "bimedix-bi", "bimedix2-8b")
    args = ["--db", database, "--out", str(tmp_path / "out"), "--rounds", "5"]
    plain = CliRunner().invoke(_typer_app(), args)
    assert plain.exit_code == 0, plain.output
    assert "judge" not in plain.stdout.lower()
    assert "judges" not in json.loads((tmp_path / "out" / "leaderboard.json").read_text(encoding="utf-8"))
    judge_vote(store, "bimedix2-8b", "bimedix-bi", "tie", ab="model_a", ba="model_b",
               source=load_votes(store)[0].battle_id)
    judged = CliRunner().invoke(_typer_app(), [*args, "--export-jsonl", str(tmp_path / "v.jsonl")])
    assert judged.exit_code == 0, judged.output
    assert judged.stdout.startswith("All conversations: 1 battles")  # the people's board, as before
    assert "judge:gpt-4o agreed with the raters on 0 of 1 battles (0%)" in judged.stdout
    assert "order flips 100%" in judged.stdout
    saved = json.loads((tmp_path / "out" / "leaderboard.json").read_text(encoding="utf-8"))
    assert saved["all"]["battles"] == 1 and saved["judges"]["boards"][JUDGE]["battles"] == 1
    assert saved["judges"]["agreement"][0] == {
        "judge_model": JUDGE, "compared": 1, "agreed": 0, "agreement": 0.0, "verdicts": 1, "flips": 1,
        "flip_rate": 1.0, "rank_correlation": None, "common_models": 2}
    assert len((tmp_path / "v.jsonl").read_text(encoding="utf-8").splitlines()) == 1  # people only
