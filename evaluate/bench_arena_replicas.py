"""Votes per second the vote store sustains: one replica on SQLite, one and two on PostgreSQL.

    python -m evaluate.bench_arena_replicas [--raters 8] [--seconds 20]

A replica is a process with its own store (its own connection pool), as an app replica has.
`--raters` concurrent raters (threads), split evenly between the replicas, each voting as
fast as it can: a battle started, then its vote (two turns of Arabic or English each side),
for `--seconds`. Printed per setup: votes/s over the whole run, and the vote's median and
p95 latency (`record_vote`, the call behind the vote button). The PostgreSQL is a private
server started for the run (evaluate/servers.py). The app's replies are not part of it:
this measures the store the replicas share.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Annotated

import typer

ROOT = Path(__file__).resolve().parents[1]
MODELS = ["model-a", "model-b", "model-c", "model-d"]
TURNS = ({"role": "user", "content": "ما هو فقر الدم؟"}, {"role": "assistant", "content": "نقص في الهيموغلوبين. " * 20},
         {"role": "user", "content": "And its causes?"}, {"role": "assistant", "content": "Iron deficiency. " * 20})

app = typer.Typer(add_completion=False)


def replica(database: str, raters: int, seconds: float, first_rater: int) -> dict:
    """One process's raters voting for `seconds`; their latencies."""
    from arena import join_study, open_store, record_vote, start_battle

    store = open_store(database, busy_timeout_s=30)
    latencies: list[float] = []
    lock = threading.Lock()

    def rater(index: int) -> None:
        who = join_study(store, "bench", f"rater {index}")
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            battle = start_battle(store, who, MODELS)
            started = time.perf_counter()
            record_vote(store, battle.id, who, "tie", list(TURNS), list(TURNS))
            with lock:
                latencies.append(time.perf_counter() - started)

    threads = [threading.Thread(target=rater, args=(first_rater + n,)) for n in range(raters)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    store.close()
    return {"latencies": latencies}


def run_setup(database: str, replicas: int, raters: int, seconds: float) -> dict:
    from arena import ensure_study, open_store

    store = open_store(database)
    ensure_study(store, "bench")
    store.close()
    share = [raters // replicas + (1 if n < raters % replicas else 0) for n in range(replicas)]
    started = time.perf_counter()
    processes = [subprocess.Popen([sys.executable, "-m", "evaluate.bench_arena_replicas", "--child", database,
                                   "--raters", str(count), "--seconds", str(seconds),
                                   "--first-rater", str(sum(share[:n]))],
                                  cwd=ROOT, stdout=subprocess.PIPE, text=True) for n, count in enumerate(share)]
    latencies = []
    for process in processes:
        out, _ = process.communicate()
        latencies += json.loads(out.strip().splitlines()[-1])["latencies"]
    wall = time.perf_counter() - started
    ordered = sorted(latencies)
    return {"replicas": replicas, "raters": raters, "votes": len(latencies),
            "votes_per_s": round(len(latencies) / seconds, 1), "wall_s": round(wall, 1),
            "median_ms": round(1000 * statistics.median(ordered), 1),
            "p95_ms": round(1000 * ordered[int(0.95 * (len(ordered) - 1))], 1)}


@app.command()
def main(
    raters: Annotated[int, typer.Option(min=1, help="concurrent raters, split between the replicas")] = 8,
    seconds: Annotated[float, typer.Option(min=1, help="how long each setup votes")] = 20,
    child: Annotated[str, typer.Option(hidden=True)] = "",
    first_rater: Annotated[int, typer.Option(hidden=True)] = 0,
) -> None:
    """Votes/s and p95 vote latency: SQLite x1, PostgreSQL x1, PostgreSQL x2."""
    if child:
        print(json.dumps(replica(child, raters, seconds, first_rater)))
        return
    from evaluate.servers import postgres_server, postgres_unavailable

    reason = postgres_unavailable()
    if reason:
        typer.echo(f"error: {reason}", err=True)
        raise typer.Exit(2)
    rows = [("SQLite", run_setup(f"{tempfile.mkdtemp()}/bench.db", 1, raters, seconds))]
    with postgres_server(Path(tempfile.mkdtemp(prefix="bimedix-pg-"))) as server:
        rows.append(("PostgreSQL", run_setup(server.new_database(), 1, raters, seconds)))
        rows.append(("PostgreSQL", run_setup(server.new_database(), 2, raters, seconds)))
    typer.echo("store        replicas  raters  votes  votes/s  median ms  p95 ms")
    for name, row in rows:
        typer.echo(f"{name:<12} {row['replicas']:>8}  {row['raters']:>6}  {row['votes']:>5}  {row['votes_per_s']:>7}"
                   f"  {row['median_ms']:>9}  {row['p95_ms']:>6}")


if __name__ == "__main__":
    app()
