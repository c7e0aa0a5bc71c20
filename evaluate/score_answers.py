"""Reference metrics for answer files of the VQA and report tasks, in the BiMediX2 paper's tables.

    python -m evaluate.score_answers --answers results/answers/vqa-rad-en-m.jsonl --answers DIR ... --out scores/

--answers takes answer files (evaluate/answers.py) or folders of them, repeatable. Scored:
- vqa-rad, slake, pathvqa: MultiMedEval's VQA metrics (evaluate/vqa_metrics.py). Closed or
  open follows the item's `meta["answer_type"]` (the dataset's own split: VQA-RAD, SLAKE) and
  MultiMedEval's yes/no rule where an item has none; a closed question whose answer is not
  yes/no ("left", "MRI") is scored by the same closed rule. The figures under the yes/no
  rule alone are kept in scores.json (`yes_no_rule`) for comparison with MultiMedEval.
- report-generation, report-summarization: BLEU-1, BLEU-4, ROUGE-L, METEOR
  (evaluate/text_metrics.py; METEOR reads "n/a" without NLTK's WordNet).
Items without a reference are counted and reported, not scored. An item answered twice for
the same task, language and model (overlapping files) is scored once, its last answer.
Answers of the judged tasks (bimed-mbench, uphill, conversations) are listed and left to
evaluate/judge.

Writes DIR/scores.json (every figure on a 0-1 scale, counts, the files read) and
DIR/scores.md: per language, the medical VQA table (rows BLEU-1, Closed Q Accuracy, Open Q
Recall, Recall, Open Q Accuracy, F1; one column group per dataset, one column per model in
it) and one table per report task (one row per model: BLEU-1, BLEU-4, ROUGE-L, METEOR), in
percent.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from evaluate.answers import AnswerRecord, read_answers
from evaluate.text_metrics import METEOR_UNAVAILABLE, text_scores
from evaluate.vqa_metrics import vqa_scores

VQA_TASKS = {"vqa-rad": "VQA-RAD", "slake": "SLAKE", "pathvqa": "PathVQA"}
REPORT_TASKS = {"report-generation": "Report generation (MIMIC-CXR)",
                "report-summarization": "Report summarization (findings -> impression)"}
VQA_ROWS = (("BLEU-1", "bleu1"), ("Closed Q Accuracy", "closed_accuracy"), ("Open Q Recall", "open_recall"),
            ("Recall", "recall"), ("Open Q Accuracy", "open_accuracy"), ("F1", "f1"))
REPORT_COLUMNS = (("BLEU-1", "bleu1"), ("BLEU-4", "bleu4"), ("ROUGE-L", "rougeL"), ("METEOR", "meteor"))
LANG_NAMES = {"en": "English", "ar": "Arabic"}
ANSWER_TYPES = {"closed": True, "open": False}


@dataclass(frozen=True)
class AnswerGroup:
    """One model's answers to one task in one language, each item once."""

    task: str
    lang: str
    model: str
    records: tuple[AnswerRecord, ...]
    repeated: int  # answers replaced by a later answer to the same item


def model_label(record: AnswerRecord) -> str:
    """The model as the tables name it; an adapter is part of the name (another model)."""
    return f"{record.model}+{Path(record.adapter).name}" if record.adapter else record.model


def answer_files(paths: list[Path]) -> list[Path]:
    """The files named, and the folders' answer files of these tasks (<task>-<lang>-<model>.jsonl;
    other files there, judge outputs for one, are not answer files)."""
    files = []
    for path in paths:
        if path.is_dir():
            files += sorted(found for found in path.glob("*.jsonl")
                            if any(found.name.startswith(f"{task}-") for task in (*VQA_TASKS, *REPORT_TASKS)))
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such answer file or folder")
    return files


def group_answers(records: list[AnswerRecord]) -> list[AnswerGroup]:
    by_key: dict[tuple[str, str, str], dict[str, AnswerRecord]] = {}
    repeated: dict[tuple[str, str, str], int] = {}
    for record in records:
        key = (record.task, record.lang, model_label(record))
        items = by_key.setdefault(key, {})
        repeated[key] = repeated.get(key, 0) + (record.item_id in items)
        items[record.item_id] = record
    return [AnswerGroup(*key, tuple(items.values()), repeated[key]) for key, items in by_key.items()]


def closed_flag(meta: dict) -> bool | None:
    """The dataset's answer type as vqa_scores takes it; None lets the yes/no rule decide."""
    return ANSWER_TYPES.get(str(meta.get("answer_type", "")).strip().lower())


def score_group(group: AnswerGroup, wordnet=None) -> dict:
    """Counts, and the task's metrics over the answers that have a reference (0-1)."""
    scored = [r for r in group.records if r.reference is not None and str(r.reference).strip()]
    counts = {"answers": len(group.records), "scored": len(scored), "no_reference": len(group.records) - len(scored),
              "empty_answers": sum(not r.answer.strip() for r in scored), "repeated": group.repeated}
    if not scored:
        return {"counts": counts}
    predictions, references = [r.answer for r in scored], [str(r.reference) for r in scored]
    if group.task in VQA_TASKS:
        closed = [closed_flag(r.meta) for r in scored]
        metrics = vqa_scores(predictions, references, closed)
        counts["answer_type_from_dataset"] = sum(flag is not None for flag in closed)
        return {"counts": counts, "metrics": metrics, "yes_no_rule": vqa_scores(predictions, references)}
    return {"counts": counts, "metrics": text_scores(predictions, references, wordnet)}


def score_answer_files(paths: list[Path], wordnet=None) -> dict:
    """The scores.json payload: {"files", "scores": {task: {lang: {model: ...}}}, "not_scored"}."""
    files = answer_files(paths)
    records = [record for path in files for record in read_answers(path)]
    scores: dict[str, dict] = {}
    not_scored: dict[str, int] = {}
    for group in group_answers(records):
        if group.task not in VQA_TASKS and group.task not in REPORT_TASKS:
            not_scored[group.task] = not_scored.get(group.task, 0) + len(group.records)
            continue
        scores.setdefault(group.task, {}).setdefault(group.lang, {})[group.model] = score_group(group, wordnet)
    ordered = {task: scores[task] for task in (*VQA_TASKS, *REPORT_TASKS) if task in scores}
    return {"files": [str(path) for path in files], "scores": ordered, "not_scored": not_scored}


# --- tables ---------------------------------------------------------------------------

def _percent(value) -> str:
    if value is None:
        return "–"
    return "n/a" if isinstance(value, str) else f"{100 * value:.2f}"


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def vqa_table(scores: dict, lang: str) -> str:
    """Rows: the paper's VQA metrics; columns: per dataset, its models."""
    columns = [(task, model) for task in VQA_TASKS for model in scores.get(task, {}).get(lang, {})]
    several = len({model for _, model in columns}) > 1
    header = ["Metric", *(f"{VQA_TASKS[task]} ({model})" if several else VQA_TASKS[task] for task, model in columns)]
    lines = [_row(header), "|" + "|".join("---" for _ in header) + "|"]
    for label, key in VQA_ROWS:
        cells = [_percent(scores[task][lang][model].get("metrics", {}).get(key)) for task, model in columns]
        lines.append(_row([label, *cells]))
    return "\n".join(lines)


def report_table(scores: dict, task: str, lang: str) -> str:
    header = ["Model", *(label for label, _ in REPORT_COLUMNS)]
    lines = [_row(header), "|" + "|".join("---" for _ in header) + "|"]
    for model, result in scores[task][lang].items():
        lines.append(_row([model, *(_percent(result.get("metrics", {}).get(key)) for _, key in REPORT_COLUMNS)]))
    return "\n".join(lines)


def _counts_line(scores: dict, tasks: dict[str, str], lang: str) -> str:
    parts = []
    for task, name in tasks.items():
        for model, result in scores.get(task, {}).get(lang, {}).items():
            counts, metrics = result["counts"], result.get("metrics", {})
            split = f" ({metrics['n_closed']} closed, {metrics['n_open']} open)" if "n_closed" in metrics else ""
            repeated = f", {counts['repeated']} answered twice (the last kept)" if counts["repeated"] else ""
            parts.append(f"{name} {model}: {counts['scored']} scored{split}, {counts['no_reference']} without "
                         f"reference, {counts['empty_answers']} empty answers{repeated}")
    return "Items: " + "; ".join(parts) + "."


def markdown_report(payload: dict) -> str:
    scores, parts = payload["scores"], []
    for lang in LANG_NAMES:
        models = {model for task in VQA_TASKS for model in scores.get(task, {}).get(lang, {})}
        if models:
            named = f", {next(iter(models))}" if len(models) == 1 else ""  # else the columns name them
            parts += [f"## Medical VQA, {LANG_NAMES[lang]}{named} (MultiMedEval metrics, %)", "",
                      vqa_table(scores, lang), "",
                      _counts_line(scores, VQA_TASKS, lang),
                      "Closed / open: the dataset's answer_type where it has one, else a yes/no answer.", ""]
        for task, title in REPORT_TASKS.items():
            if lang in scores.get(task, {}):
                parts += [f"## {title}, {LANG_NAMES[lang]} (%)", "", report_table(scores, task, lang), "",
                          _counts_line(scores, {task: title}, lang), ""]
    if any(r.get("metrics", {}).get("meteor") == METEOR_UNAVAILABLE
           for task in REPORT_TASKS for by_model in scores.get(task, {}).values() for r in by_model.values()):
        parts.append(f"METEOR n/a: {METEOR_UNAVAILABLE}.")
    if payload["not_scored"]:
        parts.append("Not scored here (judged by evaluate.judge): "
                     + ", ".join(f"{task} ({n} answers)" for task, n in payload["not_scored"].items()) + ".")
    return "\n".join(parts).rstrip() + "\n"


def write_scores(payload: dict, out: Path) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / "scores.json", out / "scores.md"
    json_path.write_text(json.dumps(payload, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    md_path.write_text(markdown_report(payload), encoding="utf-8")
    return json_path, md_path


def main(
    answers: Annotated[list[Path], typer.Option(help="answer file (evaluate.generate) or folder of them; repeatable")],
    out: Annotated[Path, typer.Option(help="folder for scores.json and scores.md")] = Path("scores"),
) -> None:
    """Score VQA and report answers with reference metrics; write the BiMediX2 paper's tables."""
    try:
        payload = score_answer_files(answers)
    except (OSError, ValueError, TypeError) as error:
        sys.stderr.write(f"error: {error}\n")
        raise typer.Exit(2) from error
    if not payload["scores"]:
        sys.stderr.write(f"error: no answers of {', '.join([*VQA_TASKS, *REPORT_TASKS])} in "
                         f"{', '.join(payload['files']) or 'the paths given'}\n")
        raise typer.Exit(2)
    json_path, md_path = write_scores(payload, out)
    sys.stdout.write(markdown_report(payload))
    sys.stderr.write(f"wrote {json_path} and {md_path}\n")


if __name__ == "__main__":
    typer.run(main)
