"""Arena fixtures: a fresh SQLite vote store per test and ready-made transcripts."""

from __future__ import annotations

import pytest

from arena import ensure_study, join_study, open_store, start_battle

MODELS = ["bimedix2-8b", "bimedix-bi", "card:adapter"]
STUDY = "pilot"


def transcript(question: str = "What causes anaemia?", reply: str = "Iron deficiency is the most common cause.") -> list[dict]:
    return [{"role": "user", "content": question}, {"role": "assistant", "content": reply}]


@pytest.fixture
def store(tmp_path):
    opened = open_store(tmp_path / "arena.db", busy_timeout_s=2.0)
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
