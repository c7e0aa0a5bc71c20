"""Pairwise judging over real HTTP (a scripted judge), its verdicts in the arena's vote
store as the rater judge:<model>, and re-judging the people's battles."""

from __future__ import annotations

import pytest

from arena import ensure_study, join_study, open_store, record_vote, start_battle, store_leaderboards
from arena.judges import judge_agreement, load_judge_votes
from evaluate.open_tasks import OpenItem
from tests.evaluate.test_judge_http import JUDGE, answer_file, judge, read

CONVERSATIONS = [OpenItem("conversations", "en", str(n), (f"question {n}",)) for n in range(4)]


def arguments(first, second, db, out):
    return ["--answers", str(first), "--answers", str(second), "--protocol", "pairwise", "--db", str(db),
            "--study", "auto-eval", "--out", str(out)]


def shown_first(name: str) -> str:
    """The judge prompt's text when `name`'s conversation is shown as Assistant A."""
    return f"[Conversation with Assistant A]\nUser: question 0\n\nAssistant: {name}"


def test_both_orders_a_flip_is_a_tie_and_verdicts_are_votes_of_the_judge(scripted, tmp_path):
    first = answer_file(tmp_path / "x.jsonl", CONVERSATIONS, ["x0", "x1", "x2", "x3"], model="model-x")
    second = answer_file(tmp_path / "y.jsonl", CONVERSATIONS, ["y0", "y1", "y2", "y3"], model="model-y")
    spec, stats = scripted({"rules": [
        # item 0: the judge picks whatever it sees first: flips with the order -> tie
        {"contains": "question 0", "reply": "First is better.\n[[A]]"},
        # item 1: x wins in both orders
        {"contains": "Assistant A]\nUser: question 1\n\nAssistant: x1", "reply": "[[A]]"},
        {"contains": "Assistant A]\nUser: question 1\n\nAssistant: y1", "reply": "[[B]]"},
        # item 2: a tie both ways; item 3: no verdict at all (unparsable, never a vote)
        {"contains": "question 2", "reply": "[[C]]"},
        {"contains": "question 3", "reply": "They are both fine."}]})
    db, out = tmp_path / "arena.db", tmp_path / "judged"
    result = judge(*arguments(first, second, db, out), "--judge", spec)
    assert result.exit_code == 0, result.output
    scores, lines = read(out)
    row = scores["runs"][0]["scores"]["pairs"]["model-x vs model-y"]["all"]
    assert row == {"a_wins": 1, "b_wins": 0, "ties": 2, "n": 3, "flips": 1, "flip_rate": pytest.approx(1 / 3)}
    assert [line.get("winner") for line in lines] == ["tie", "model_a", "tie", None]
    assert scores["recorded_votes"] == 3 and stats()["requests"] == 8

    store = open_store(db)
    votes = load_judge_votes(store, "auto-eval")
    assert len(votes) == 3 and {v.record.rater_name for v in votes} == {f"judge:{JUDGE}"}
    assert sorted(v.record.winner for v in votes) == ["model_a", "tie", "tie"]
    # people's leaderboard knows nothing of the judge's votes
    assert store_leaderboards(store, "auto-eval", rounds=0)["all"].rows == ()

    rerun = judge(*arguments(first, second, db, out), "--judge", spec)
    assert rerun.exit_code == 0, rerun.output
    assert read(out)[0]["usage"]["cache_hits"] == 8 and len(load_judge_votes(open_store(db), "auto-eval")) == 3


def test_rejudging_the_peoples_battles_measures_agreement(scripted, tmp_path):
    db = tmp_path / "arena.db"
    store = open_store(db)
    ensure_study(store, "clinic")
    rater = join_study(store, "clinic", "Dr Sara")
    expected = {}
    for n, winner in enumerate(["model_a", "model_b", "both_bad"]):
        battle = start_battle(store, rater, ["alpha", "beta"], rng=n)
        transcript = lambda name: [{"role": "user", "content": f"case {n}"},  # noqa: E731
                                   {"role": "assistant", "content": f"{name}-reply-{n}"}]
        record_vote(store, battle.id, rater, winner, transcript(battle.model_a), transcript(battle.model_b))
        expected[n] = {"model_a": battle.model_a, "model_b": battle.model_b, "both_bad": "tie"}[winner]
    # the judge prefers alpha's replies in either order, and calls case 2 a tie
    spec, _ = scripted({"rules": [
        {"contains": "case 2", "reply": "[[C]]"},
        {"contains": "[Conversation with Assistant A]\nUser: case 0\n\nAssistant: alpha", "reply": "[[A]]"},
        {"contains": "[Conversation with Assistant A]\nUser: case 1\n\nAssistant: alpha", "reply": "[[A]]"}],
        "default": "[[B]]"})
    out = tmp_path / "judged"
    result = judge("--from-store", "--study", "clinic", "--db", str(db), "--protocol", "pairwise", "--out", str(out),
                   "--judge", spec)
    assert result.exit_code == 0, result.output
    agreement = read(out)[0]["runs"][0]["scores"]["human_agreement"]
    humans_agree = sum((expected[n] == "alpha") or (expected[n] == "tie") for n in range(3))
    assert humans_agree == 2  # case 0: the person chose beta; case 1: alpha; case 2: both bad = tie
    assert agreement == {"compared": 3, "agreed": humans_agree, "rate": pytest.approx(humans_agree / 3)}
    [stored] = judge_agreement(open_store(db), "clinic")
    assert stored.judge_model == JUDGE and (stored.compared, stored.agreed) == (3, humans_agree)
    assert stored.flips == 0


def test_pairwise_needs_two_files_of_two_models(tmp_path):
    first = answer_file(tmp_path / "x.jsonl", CONVERSATIONS, ["a"] * 4, model="m")
    result = judge("--answers", str(first), "--protocol", "pairwise", "--judge", "openai:j@http://127.0.0.1:9/v1",
                   "--out", str(tmp_path / "o"))
    assert result.exit_code == 2 and "two --answers" in result.output
