"""Reading benchmark files: JSON, JSON Lines, CSV, and the USMLE self-assessment set."""

from __future__ import annotations

import csv
import json
import logging
import re
from dataclasses import replace
from pathlib import Path

from .items import MCQItem
from .schemas import SchemaError, cop_offset, mcq_item, pubmedqa_item

log = logging.getLogger(__name__)

USMLE_STEPS = ("step1", "step2", "step3")
ANSWER_COLUMNS = ("cop", "answer", "label")


def read_records(path: Path) -> list[dict]:
    """Records of a .jsonl, .json (a list, or a dict keyed by id as in PubMedQA) or .csv file."""
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        lines = path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]
    if suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict):  # {"<PMID>": {...}}: keep the key as the item id
            return [{"id": key, **value} for key, value in data.items()]
        return list(data)
    if suffix == ".csv":
        return _read_csv(path)
    raise SchemaError(f"{path}: unsupported file type {suffix!r} (use .jsonl, .json or .csv)")


def _read_csv(path: Path) -> list[dict]:
    # csv, not pandas: pandas turns options such as "None" or "NA" into NaN.
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        return []
    header = [cell.strip() for cell in rows[0]]
    if "question" in header:
        return [{key: _typed(key, cell) for key, cell in zip(header, row)} for row in rows[1:]]
    if len(header) != 6:
        raise SchemaError(f"{path}: a CSV needs a header with 'question', or the 6 MMLU columns "
                          f"(question, A, B, C, D, answer letter); found {len(header)} columns")
    return [{"question": row[0], "choices": row[1:5], "answer": row[5].strip()} for row in rows]


def _typed(key: str, cell: str):
    """Answer cells (cop, answer, label) as ints when they are digits, as in the JSON copies."""
    return int(cell) if key in ANSWER_COLUMNS and cell.strip().isdigit() else cell


def items_from_file(path: Path, task: str, lang: str, labels: dict[str, str] | None = None) -> list[MCQItem]:
    records = read_records(path)
    try:
        if task == "pubmedqa":
            return [pubmedqa_item(r, lang, i, (labels or {}).get(str(r.get("id")))) for i, r in enumerate(records)]
        offset = cop_offset(records)
        if offset:
            log.info("%s: cop values are 1-4 (original MedMCQA release); read as 1-based", path)
        return [mcq_item(r, task, lang, i, offset) for i, r in enumerate(records)]
    except (SchemaError, KeyError) as error:
        raise SchemaError(f"{path}: {error}") from error


def pubmedqa_labels(folder: Path) -> dict[str, str] | None:
    """The official test labels (test_ground_truth.json) when the folder has them."""
    path = folder / "test_ground_truth.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def usmle_items(folder: Path, lang: str = "en", include_image_questions: bool = False) -> list[MCQItem]:
    """The USMLE self-assessment set as MedAlpaca publishes it
    (hub: medalpaca/medical_meadow_usmle_self_assessment).

    stepN.json: a list of {"no", "question", "options": {"A": .., ..}}; stepN_solutions.json:
    {"<no>": "<letter>"}; question_with_images.json: {"stepN": [no, ..]}, the questions that
    need a figure, left out by default as MedAlpaca and Meditron do. Items without options
    or without a solution are skipped and counted in the log.
    """
    with_images = _json_or(folder / "question_with_images.json", {})
    items: list[MCQItem] = []
    for step in USMLE_STEPS:
        questions_path = folder / f"{step}.json"
        if not questions_path.exists():
            continue
        solutions = json.loads((folder / f"{step}_solutions.json").read_text(encoding="utf-8"))
        skip = {int(no) for no in with_images.get(step, [])} if not include_image_questions else set()
        skipped = 0
        for record in json.loads(questions_path.read_text(encoding="utf-8")):
            number = int(record["no"])
            answer = solutions.get(str(number))
            if number in skip or not record.get("options") or not answer:
                skipped += 1
                continue
            item = mcq_item({**record, "answer_idx": answer}, "usmle", lang, 0)
            items.append(replace(item, item_id=f"{step}-{number}"))
        log.info("USMLE %s: %d skipped (figure, no options or no solution)", step, skipped)
    return items


def _json_or(path: Path, default):
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else default


def items_of_file(path: Path, task_id: str, lang: str = "en") -> list[MCQItem]:
    """The file's items; raises FileNotFoundError, or SchemaError for an unknown layout or
    a file that is not valid JSON."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if task_id == "usmle" and re.fullmatch(r"step\d\.json", path.name):
        # A USMLE step file holds no answers: they are in stepN_solutions.json beside it.
        return [item for item in usmle_items(path.parent, lang) if item.item_id.startswith(f"{path.stem}-")]
    labels = pubmedqa_labels(path.parent) if task_id == "pubmedqa" else None
    try:
        return items_from_file(path, task_id, lang, labels)
    except json.JSONDecodeError as error:  # the decoder's message names no file
        raise SchemaError(f"{path}: not valid JSON: {error}") from None
