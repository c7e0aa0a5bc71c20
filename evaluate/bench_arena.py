"""Arena speed: writing votes, and computing the leaderboard as the tab and the CLI do.

    python -m evaluate.bench_arena [--votes 300] [--models 4] [--db URL]

Writes synthetic votes (Arabic and English conversations, random winners) into a fresh
SQLite file (or --db), then times: one vote (median), the Leaderboard tab's view (one
language, 200 bootstrap rounds) and `evaluate.arena_ratings`' computation (4 views, 1000).
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from typing import Annotated, Optional

import typer

from arena import (battles_frame, build_leaderboard, ensure_study, join_study, load_votes, open_store,
                   record_vote, start_battle, store_leaderboards)

QUESTIONS = ("What is anemia?", "ما هو فقر الدم؟")


def main(
    votes: Annotated[int, typer.Option(help="synthetic votes to write")] = 300,
    models: Annotated[int, typer.Option(help="contestants")] = 4,
    db: Annotated[Optional[str], typer.Option(help="SQLAlchemy URL (default: a fresh SQLite file)")] = None,
) -> None:
    store = open_store(db or f"{tempfile.mkdtemp()}/arena-bench.db")
    ensure_study(store, "bench")
    rater = join_study(store, "bench", "bench rater")
    rng, names = random.Random(0), [f"model-{i}" for i in range(models)]
    timings = []
    for _ in range(votes):
        battle = start_battle(store, rater, names, rng)
        question = rng.choice(QUESTIONS)
        start = time.perf_counter()
        record_vote(store, battle.id, rater, rng.choice(["model_a", "model_b", "tie", "both_bad"]),
                    [{"role": "user", "content": question}, {"role": "assistant", "content": "reply A " * 50}],
                    [{"role": "user", "content": question}, {"role": "assistant", "content": "reply B " * 50}])
        timings.append(time.perf_counter() - start)
    print(f"votes: {votes}, one vote (median): {statistics.median(timings) * 1000:.1f} ms")
    start = time.perf_counter()
    build_leaderboard(battles_frame(load_votes(store, "bench")), "all", rounds=200)
    print(f"Leaderboard tab view (1 language, 200 rounds): {time.perf_counter() - start:.2f} s")
    start = time.perf_counter()
    store_leaderboards(store, "bench", rounds=1000)
    print(f"arena_ratings computation (4 views, 1000 rounds): {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    typer.run(main)
