"""`python -m evaluate.red_flags` as CI runs it (a subprocess), and its counting (in process)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import evaluate.red_flags as bench

ROOT = Path(__file__).resolve().parents[2]


def run(*args):
    return subprocess.run([sys.executable, "-m", "evaluate.red_flags", *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_prints_recall_and_false_alarms_with_counts_for_both_sets():
    result = run()
    assert result.returncode == 0, result.stderr
    heldout, dev = result.stdout.split("\ndev (")
    for part in (heldout, dev):
        assert "recall" in part and "false alarms" in part and "per category:" in part
    assert "held-out (red_flags_heldout.jsonl)" in heldout
    rows = bench.load_rows(bench.HELDOUT)
    emergencies = sum(r.category is not None for r in rows)
    assert f"/{emergencies})" in heldout.splitlines()[1]  # recall over every emergency
    assert f"/{len(rows) - emergencies})" in heldout.splitlines()[2]  # false alarms over the others
    assert "chest_pain" in heldout and "ar maghrebi" in heldout and "en typo" in heldout
    assert ": ok" in result.stderr


def test_exits_non_zero_under_the_floor_or_over_the_ceiling():
    under = run("--min-recall", "1.01")
    assert under.returncode == 1 and "under the floor 101%" in under.stderr
    over = run("--max-false-alarms", "-0.01")
    assert over.returncode == 1 and "over the ceiling" in over.stderr


def test_json_gives_both_sets():
    result = run("--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert set(payload) == {"held-out", "dev"}
    assert payload["held-out"]["recall"]["n"] >= 150 and payload["held-out"]["false_alarms"]["n"] >= 100


def test_the_floor_and_ceiling_hold_on_the_held_out_set():
    results, micros = bench.score(bench.load_rows(bench.HELDOUT))
    summary = bench.summarize(results)
    assert bench.failures(summary, bench.MIN_RECALL, bench.MAX_FALSE_ALARMS) == []
    from engine.red_flags import load_patterns

    assert set(summary["per_category"]) == {c.name for c in load_patterns().categories}


def test_counting_of_hits_misses_and_false_alarms():
    rows = [bench.Row("a", "en", "lay", "stroke"), bench.Row("b", "ar", "gulf", "stroke"),
            bench.Row("c", "en", "lay", None), bench.Row("d", "en", "lay", None)]
    results = [bench.Scored(rows[0], "stroke"), bench.Scored(rows[1], None),
               bench.Scored(rows[2], "burns"), bench.Scored(rows[3], None)]
    summary = bench.summarize(results)
    assert summary["recall"] == {"hits": 1, "n": 2, "share": 0.5}
    assert summary["false_alarms"] == {"hits": 1, "n": 2, "share": 0.5}
    assert summary["per_dialect"]["ar gulf"]["hits"] == 0
    assert [m["text"] for m in summary["misses"]] == ["b"]
    assert summary["false_alarm_rows"][0]["flagged"] == "burns"
    assert bench.failures(summary, 0.6, 0.6) == ["held-out recall 50.0% is under the floor 60%"]
