"""Arena fixtures: a fresh vote store per test, on SQLite and on a real PostgreSQL (every
test that uses the store runs on both), and ready-made transcripts."""

from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text

from arena import ensure_study, join_study, open_store, start_battle

MODELS = ["bimedix2-8b", "bimedix-bi", "card:adapter"]
STUDY = "pilot"


def transcript(question: str = "What causes anaemia?", reply: str = "Iron deficiency is the most common cause.") -> list[dict]:
    return [{"role": "user", "content": question}, {"role": "assistant", "content": reply}]


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    """Where a test's votes go: a SQLite file, or a fresh database on the session's PostgreSQL."""
    if request.param == "sqlite":
        yield str(tmp_path / "arena.db")
        return
    server = request.getfixturevalue("postgres")
    url = server.new_database()
    yield url
    server.drop_database(url)


@pytest.fixture
def store(database):
    opened = open_store(database, busy_timeout_s=2.0)
    yield opened
    opened.close()


@pytest.fixture
def rater(store):
    ensure_study(store, STUDY)
    return join_study(store, STUDY, "Dr Sara")


@pytest.fixture
def battle(store, rater):
    return start_battle(store, rater, MODELS, rng=7)


class FakeClock:
    """A monotonic clock that moves only when told: limits and lockouts without waiting."""

    def __init__(self, start: float = 1000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def is_sqlite(database: str) -> bool:
    return "://" not in database or database.startswith("sqlite")


def consistency(database: str) -> tuple[int, int, int]:
    """(votes, battles marked voted, battles marked voted without a vote or vice versa), read
    by a connection of its own (SQLite: after an integrity check)."""
    url = f"sqlite:///{database}" if "://" not in database else database
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            if is_sqlite(database):
                assert connection.execute(text("PRAGMA integrity_check")).scalar() == "ok"
            votes = connection.execute(text("SELECT COUNT(*) FROM arena_votes")).scalar()
            voted = connection.execute(text("SELECT COUNT(*) FROM arena_battles WHERE voted_at IS NOT NULL")).scalar()
            mismatched = connection.execute(text(
                "SELECT COUNT(*) FROM arena_battles b LEFT JOIN arena_votes v ON v.battle_id = b.id "
                "WHERE (b.voted_at IS NULL) != (v.id IS NULL)")).scalar()
    finally:
        engine.dispose()
    return votes, voted, mismatched


@contextmanager
def write_lock_held(database: str):
    """Another connection holding the vote store's write lock until the block ends or
    `release()` is called: SQLite's exclusive lock; on PostgreSQL the vote tables locked."""
    if is_sqlite(database):
        blocker = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
        blocker.execute("BEGIN EXCLUSIVE")
        finish = lambda: blocker.execute("COMMIT")  # noqa: E731
    else:
        import psycopg

        blocker = psycopg.connect(database.replace("postgresql+psycopg://", "postgresql://"))
        blocker.execute("LOCK TABLE arena_battles, arena_votes IN ACCESS EXCLUSIVE MODE")
        finish = blocker.commit
    released = threading.Event()

    def release() -> None:
        if not released.is_set():
            released.set()
            finish()

    try:
        yield release
    finally:
        release()
        blocker.close()
