"""Export the translations a person or the threshold accepted, in the files train/ and
evaluate/ read.

    python -m train.translate.export --db OUT/translation.db --out OUT

Exported: a sample a reviewer approved (their edited Arabic), or one that passed the
threshold and no reviewer rejected (its last round). Nothing else: not one under the
threshold that nobody approved, not one a reviewer rejected. Every exported text passes
the checks again (placeholders, numbers, units, drug names, segments).

- MCQA → OUT/ar/<task>.jsonl, the layout `python -m evaluate.mcqa --lang ar --data-dir OUT`
  reads: {"id", "question", "options": {"A": ..}, "answer_idx", "answer"} (PubMedQA:
  {"id", "QUESTION", "CONTEXTS", "final_decision"}); the answer key is the source's.
- Training → OUT/sft/<source>.ar.jsonl in the `conversations` format with "language": "ar",
  which train/'s 1:2 Arabic:English mixing takes, and "translated_from" (the sample id).
Files are written whole through a temporary file, so a reader never sees half of one.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Annotated, Optional

import typer

from evaluate.tasks.templates import LETTERS, PUBMEDQA_CHOICES
from train.translate.checks import load_keep_terms, translation_problems
from train.translate.store import TranslationStore, store_url
from train.translate.tables import Sample


def accepted_translations(store: TranslationStore) -> tuple[list[tuple[Sample, dict, str]], dict[str, int]]:
    """(sample, Arabic, why) for each exportable sample, in source order; and the counts of
    those left out, by reason."""
    reviews, rounds = store.reviews(), store.all_rounds()
    accepted, left_out = [], defaultdict(int)
    for sample in store.samples():
        review = reviews.get(sample.id)
        if review is not None and review.decision == "approved":
            accepted.append((sample, review.arabic_after, "approved"))
        elif review is not None:
            left_out["rejected by a reviewer"] += 1
        elif sample.state == "passed":
            accepted.append((sample, rounds[sample.id][sample.rounds_used - 1].arabic, "passed"))
        else:
            left_out["awaiting review" if sample.state == "review" else "not finished"] += 1
    return accepted, dict(left_out)


def mcqa_line(sample: Sample, arabic: dict) -> dict:
    record = sample.record
    if record["layout"] == "pubmedqa":
        contexts = [arabic[k] for k in sorted((k for k in arabic if k.startswith("context:")),
                                              key=lambda k: int(k.split(":")[1]))]
        return {"id": record["item_id"], "QUESTION": arabic["question"], "CONTEXTS": contexts,
                "final_decision": PUBMEDQA_CHOICES["en"][record["gold"]]}
    letters = [k.split(":")[1] for k in sample.english if k.startswith("option:")]
    options = {letter: arabic[f"option:{letter}"] for letter in letters}
    answer = LETTERS[record["gold"]]
    return {"id": record["item_id"], "question": arabic["question"], "options": options, "answer_idx": answer,
            "answer": options[answer]}


def sft_line(sample: Sample, arabic: dict) -> dict:
    record = sample.record
    line = {key: value for key, value in record["extra"].items()}
    if "system" in arabic:
        line["system"] = arabic["system"]
    line["conversations"] = [{"from": speaker, "value": arabic[f"turn:{index}"]}
                             for index, speaker in enumerate(record["speakers"])]
    line.update(language="ar", translated_from=sample.id)
    return line


def export_translations(store: TranslationStore, out: Path, keep_terms: frozenset[str] = frozenset()) -> dict:
    """Write the files; returns what was written and what was left out."""
    accepted, left_out = accepted_translations(store)
    files: dict[Path, list[dict]] = defaultdict(list)
    for sample, arabic, _ in accepted:
        if translation_problems(sample.english, arabic, keep_terms):
            left_out["fails the checks"] = left_out.get("fails the checks", 0) + 1
            continue
        if sample.kind == "mcqa":
            files[out / "ar" / f"{sample.task}.jsonl"].append(mcqa_line(sample, arabic))
        else:
            files[out / "sft" / f"{sample.task}.ar.jsonl"].append(sft_line(sample, arabic))
    for path, lines in files.items():
        _write_whole(path, lines)
    return {"files": {str(path): len(lines) for path, lines in sorted(files.items())},
            "exported": sum(len(lines) for lines in files.values()),
            "approved": sum(why == "approved" for _, _, why in accepted), "left_out": left_out}


def _write_whole(path: Path, lines: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with partial.open("w", encoding="utf-8") as handle:
        for line in lines:
            handle.write(json.dumps(line, ensure_ascii=False) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)


app = typer.Typer(add_completion=False)


@app.command()
def main(
    out: Annotated[Path, typer.Option(help="folder for ar/<task>.jsonl (MCQA) and sft/<source>.ar.jsonl (training)")],
    db: Annotated[Optional[str], typer.Option(help="the translation database (URL or SQLite file); default OUT/translation.db")] = None,
    keep_terms: Annotated[Optional[Path], typer.Option(help="extra names kept in Latin script (as in the run)")] = None,
) -> None:
    """Export the approved translations and those that passed and were not rejected."""
    store = TranslationStore(store_url(db, out))
    try:
        summary = export_translations(store, out, load_keep_terms(keep_terms))
    finally:
        store.close()
    typer.echo(json.dumps(summary, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    app()
