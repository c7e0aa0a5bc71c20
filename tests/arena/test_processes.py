"""Votes across processes: killed mid-transaction, and several writers at once."""

from __future__ import annotations

import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from arena import load_votes, open_store, record_vote, start_battle
from tests.arena._worker import LONG_REPLY
from tests.arena.conftest import MODELS, STUDY, consistency, is_sqlite, transcript

ROOT = Path(__file__).resolve().parents[2]


def _worker(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tests.arena._worker", *map(str, args)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(process: subprocess.Popen, line: str, timeout_s: float = 120) -> None:
    ready, _, _ = select.select([process.stdout], [], [], timeout_s)
    if not ready:
        process.kill()
        pytest.fail(f"worker said nothing in {timeout_s} s; stderr: {process.stderr.read()[-2000:]}")
    got = process.stdout.readline()
    assert got.strip() == line, f"worker said {got!r}; stderr: {process.stderr.read()[-2000:]}"


def test_vote_killed_before_commit_is_absent_and_can_be_cast_again(store, rater, battle, database):
    db = database
    process = _worker("hold", db, battle.id, rater.id, "before")
    _wait_for(process, "held")  # the whole vote is written, the COMMIT not yet sent
    if is_sqlite(db):
        wal = Path(f"{db}-wal")
        assert wal.stat().st_size > 1_000_000, "the uncommitted vote should have spilled into the WAL"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)

    assert consistency(db) == (0, 0, 0)
    reopened = open_store(db)
    assert load_votes(reopened) == []
    receipt = record_vote(reopened, battle.id, rater, "model_b", transcript(), transcript())
    assert receipt.winner == "model_b"
    assert consistency(db) == (1, 1, 0)


def test_vote_killed_just_after_commit_is_all_there(store, rater, battle, database):
    db = database
    process = _worker("hold", db, battle.id, rater.id, "after")
    _wait_for(process, "held")
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)

    assert consistency(db) == (1, 1, 0)
    (record,) = load_votes(open_store(db))
    assert record.winner == "model_a" and record.model_a == battle.model_a
    assert record.transcript_b[-1]["content"] == LONG_REPLY


def test_votes_stay_whole_when_a_writer_is_killed_at_a_random_moment(store, rater, database):
    db = database
    for delay in (0.05, 0.2, 0.45):  # after the first vote: somewhere inside a later one
        process = _worker("loop", db, rater.id)
        _wait_for(process, "started")
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        votes, voted, mismatched = consistency(db)
        assert mismatched == 0 and votes == voted
    assert votes >= 3
    for record in load_votes(open_store(db)):  # every stored vote is complete
        assert record.transcript_a[-1]["content"].startswith("Iron deficiency")
        assert len(record.transcript_a[-1]["content"]) == 200_000


def test_concurrent_writers_lose_nothing(store, rater, database):
    db = database
    writers, per_writer = 3, 40
    processes = [_worker("write", db, rater.id, per_writer) for _ in range(writers)]
    for process in processes:
        _, stderr = process.communicate(timeout=240)
        assert process.returncode == 0, stderr[-3000:]
    votes = load_votes(store)
    assert len(votes) == writers * per_writer
    assert len({v.battle_id for v in votes}) == writers * per_writer
    assert consistency(db) == (writers * per_writer,) * 2 + (0,)
    # Each writer's questions all arrived: (question i) x writers.
    questions = sorted(v.transcript_a[0]["content"] for v in votes)
    assert questions == sorted(f"question {i}" for i in range(per_writer) for _ in range(writers))


def test_battles_and_votes_from_two_stores_interleave(store, rater, database):
    """Two engines on one database in one process (as two app workers would be)."""
    other = open_store(database)
    first = start_battle(store, rater, MODELS)
    second = start_battle(other, rater, MODELS)
    record_vote(other, first.id, rater, "tie", transcript(), transcript())
    record_vote(store, second.id, rater, "both_bad", transcript(), transcript())
    assert sorted(v.winner for v in load_votes(store)) == ["both_bad", "tie"]
    assert {v.study for v in load_votes(other)} == {STUDY}
