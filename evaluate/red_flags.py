"""Does the emergency notice fire on emergencies, and stay quiet otherwise? Recall and false alarms.

    python -m evaluate.red_flags [--min-recall 0.95] [--max-false-alarms 0.03] [--json]

Each row of the held-out set `evaluate/data/red_flags_heldout.jsonl` (written before the
patterns, never used to tune them) and of the development set `red_flags_dev.jsonl` (the
one the patterns were curated on) is one person's message: `text`, `lang` (ar, en),
`dialect` (msa, gulf, egyptian, levantine, maghrebi; lay, clinical, typo for English) and
`category` (the emergency it describes) or null (no emergency: many are hard negatives that
name the condition without one, "my father had a stroke 5 years ago, what should he eat").
Every message goes through `engine.red_flags.emergency_notice`, the call the app makes.

Printed per set: recall per category and overall (a notice shown, whatever its category),
the share of notices naming the labelled category, recall per language and dialect, the
false-alarm rate on the non-emergencies, each miss and false alarm, and the time per
message. Exits 1 when the held-out recall is under --min-recall or its false-alarm rate
over --max-false-alarms; no model is loaded, so it runs in about a second (CI runs it whole).
"""

from __future__ import annotations

import json
import sys
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Sequence

import typer

from engine.red_flags import emergency_notice

DATA = Path(__file__).parent / "data"
HELDOUT = DATA / "red_flags_heldout.jsonl"
DEV = DATA / "red_flags_dev.jsonl"
# Set from the measurement (see docs/chatting.md): a little under the held-out recall and a
# little over its false-alarm rate, so a pattern change that loses ground fails CI.
MIN_RECALL = 0.95
MAX_FALSE_ALARMS = 0.03


@dataclass(frozen=True)
class Row:
    text: str
    lang: str
    dialect: str
    category: str | None  # None: not an emergency


@dataclass(frozen=True)
class Scored:
    row: Row
    flagged: str | None  # the notice's category; None: no notice

    @property
    def hit(self) -> bool:
        """Right about whether there is an emergency (the category may differ)."""
        return (self.flagged is not None) == (self.row.category is not None)


def load_rows(path: Path) -> list[Row]:
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [Row(**json.loads(line)) for line in lines if line.strip()]


def score(rows: Sequence[Row]) -> tuple[list[Scored], float]:
    """Each row's notice, and the mean time per message in microseconds."""
    emergency_notice("warm up")  # reading and compiling the patterns is not per message
    started = time.perf_counter()
    results = []
    for row in rows:
        notice = emergency_notice(row.text)
        results.append(Scored(row, notice.category if notice else None))
    return results, (time.perf_counter() - started) / max(len(rows), 1) * 1e6


def share(hits: int, n: int) -> dict:
    return {"hits": hits, "n": n, "share": round(hits / n, 4) if n else None}


def summarize(results: Sequence[Scored]) -> dict:
    emergencies = [r for r in results if r.row.category is not None]
    others = [r for r in results if r.row.category is None]
    by_category, by_dialect = defaultdict(list), defaultdict(list)
    for result in emergencies:
        by_category[result.row.category].append(result)
        by_dialect[f"{result.row.lang} {result.row.dialect}"].append(result)
    recall = lambda group: share(sum(r.hit for r in group), len(group))  # noqa: E731
    return {
        "recall": recall(emergencies),
        "same_category": share(sum(r.flagged == r.row.category for r in emergencies), len(emergencies)),
        "per_category": {name: recall(group) for name, group in sorted(by_category.items())},
        "per_dialect": {name: recall(group) for name, group in sorted(by_dialect.items())},
        "false_alarms": share(sum(not r.hit for r in others), len(others)),
        "misses": [asdict(r.row) for r in emergencies if not r.hit],
        "false_alarm_rows": [{**asdict(r.row), "flagged": r.flagged} for r in others if not r.hit],
    }


def report(name: str, summary: dict, micros: float) -> str:
    def line(label: str, part: dict) -> str:
        value = "n/a" if part["share"] is None else f"{part['share']:.1%}"
        return f"  {label:<22} {value:>6}  ({part['hits']}/{part['n']})"

    lines = [f"{name}: {micros:.0f} µs per message",
             line("recall", summary["recall"]),
             line("false alarms", summary["false_alarms"]),
             line("category named right", summary["same_category"]),
             "  per category:"]
    lines += [line(category, part) for category, part in summary["per_category"].items()]
    lines.append("  per language and dialect:")
    lines += [line(dialect, part) for dialect, part in summary["per_dialect"].items()]
    lines += [f"  miss [{m['category']}, {m['lang']} {m['dialect']}]: {m['text']}" for m in summary["misses"]]
    lines += [f"  false alarm [{f['flagged']}]: {f['text']}" for f in summary["false_alarm_rows"]]
    return "\n".join(lines)


def failures(summary: dict, min_recall: float, max_false_alarms: float) -> list[str]:
    """What is over the ceiling or under the floor, said; empty when both hold."""
    recall, false_alarms = summary["recall"]["share"] or 0.0, summary["false_alarms"]["share"] or 0.0
    said = []
    if recall < min_recall:
        said.append(f"held-out recall {recall:.1%} is under the floor {min_recall:.0%}")
    if false_alarms > max_false_alarms:
        said.append(f"held-out false alarms {false_alarms:.1%} are over the ceiling {max_false_alarms:.0%}")
    return said


def main(
    heldout: Annotated[Path, typer.Option(help="held-out messages (JSONL): the figures that count")] = HELDOUT,
    dev: Annotated[Path, typer.Option(help="development messages (JSONL) the patterns were curated on")] = DEV,
    min_recall: Annotated[float, typer.Option(help="exit 1 when the held-out recall is under this share")] = MIN_RECALL,
    max_false_alarms: Annotated[float, typer.Option(help="exit 1 when the held-out false-alarm rate is over this share")] = MAX_FALSE_ALARMS,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Recall and false alarms of the emergency notice (engine/red_flags.py)."""
    summaries = {}
    for name, path in (("held-out", heldout), ("dev", dev)):
        results, micros = score(load_rows(path))
        summaries[name] = {**summarize(results), "microseconds_per_message": round(micros, 1)}
        if not as_json:
            print(report(f"{name} ({path.name})", summaries[name], micros))
    if as_json:
        print(json.dumps(summaries, ensure_ascii=False))
    said = failures(summaries["held-out"], min_recall, max_false_alarms)
    for line in said:
        print(line, file=sys.stderr)
    if said:
        raise typer.Exit(1)
    print(f"held-out recall >= {min_recall:.0%} and false alarms <= {max_false_alarms:.0%}: ok", file=sys.stderr)


if __name__ == "__main__":
    typer.run(main)
