"""Samples to translate, read from training files or MCQA benchmark files, as segments.

A sample is translated whole (one request), as a JSON object of its segments, so the
question and its answer give each other context:
- MCQA: "question", "option:A".. (the letters and the answer key are kept, never sent),
  and PubMedQA's abstract as "context:0"..; read by evaluate.tasks (every layout it knows).
- Training (`conversations`): "system" when there is one, then "turn:0", "turn:1".. with
  `<image>` placeholders left in the text (they must come back where they were).
"""

from __future__ import annotations

import logging
from pathlib import Path

from evaluate.tasks.files import items_of_file
from evaluate.tasks.registry import TASKS, candidate_files, find_file, infer_task
from evaluate.tasks.templates import LETTERS
from train.translate.store import NewSample

log = logging.getLogger(__name__)
KINDS = ("sft", "mcqa")
SFT_SUFFIXES = (".json", ".jsonl", ".parquet")


def read_samples(source: Path, kind: str, task: str | None = None, limit: int | None = None
                 ) -> tuple[list[NewSample], list[str]]:
    """The samples of a file or folder, and the problems of those that cannot be translated."""
    if kind not in KINDS:
        raise ValueError(f"--kind must be one of {', '.join(KINDS)}")
    if not source.exists():
        raise FileNotFoundError(f"{source}: no such file or folder")
    if kind == "mcqa":
        files = [(source, task or infer_task(source))] if source.is_file() else mcqa_files(source)
        return [s for path, name in files for s in mcqa_samples(path, name, limit)], []
    files = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.suffix in SFT_SUFFIXES)
    samples, problems = [], []
    for path in files:
        found, bad = sft_samples(path, limit)
        samples += found
        problems += bad
    return samples, problems


def mcqa_files(folder: Path) -> list[tuple[Path, str]]:
    """Each known task's English file in a data folder (the layouts evaluate.mcqa reads)."""
    found = [(find_file(candidate_files(task_id, "en", folder)), task_id) for task_id in TASKS]
    found = [(path, task_id) for path, task_id in found if path is not None]
    if not found:
        raise FileNotFoundError(f"{folder}: no benchmark file in a layout evaluate.mcqa reads")
    return found


def mcqa_samples(path: Path, task: str, limit: int | None = None) -> list[NewSample]:
    items = items_of_file(path, task)
    samples, seen = [], set()
    for position, item in enumerate(items[:limit] if limit else items):
        english, labels_ = {"question": item.question}, {"question": "Question"}
        for letter, option in zip(LETTERS, item.options):
            english[f"option:{letter}"], labels_[f"option:{letter}"] = option, f"Option {letter}"
        for index, context in enumerate(item.contexts):
            english[f"context:{index}"], labels_[f"context:{index}"] = context, f"Context {index + 1}"
        sample_id = f"{task}:{item.item_id}"
        if sample_id in seen:  # a file with repeated ids: keep both, told apart by position
            sample_id = f"{sample_id}#{position}"
        seen.add(sample_id)
        record = {"item_id": item.item_id, "gold": item.gold, "layout": "pubmedqa" if task == "pubmedqa" else "mcq"}
        samples.append(NewSample(sample_id, "mcqa", task, str(path), position, english, labels_, record))
    return samples


def sft_samples(path: Path, limit: int | None = None) -> tuple[list[NewSample], list[str]]:
    """Training samples of one file; invalid ones (train.data's checks) are listed, not sent."""
    from train.config import SourceSettings
    from train.data import load_source, parse_sample

    rows = load_source(SourceSettings(path=str(path), max_samples=limit))
    samples, problems = [], []
    for position, row in enumerate(rows):
        row = {key: value for key, value in row.items() if value is not None}
        bad = parse_sample(row, allow_images=True, check_image_files=False).problems
        if bad:
            problems += [f"{path}: sample {position}: {problem}" for problem in bad]
            continue
        english, labels = {}, {}
        if isinstance(row.get("system"), str) and row["system"].strip():
            english["system"], labels["system"] = row["system"], "System prompt"
        speakers = []
        for index, turn in enumerate(row["conversations"]):
            english[f"turn:{index}"] = turn["value"]
            labels[f"turn:{index}"] = f"Turn {index + 1} ({turn['from']})"
            speakers.append(turn["from"])
        extra = {key: value for key, value in row.items() if key not in ("conversations", "system", "language")}
        sample_id = f"{path.stem}:{row.get('id', position)}"
        record = {"speakers": speakers, "extra": extra}
        samples.append(NewSample(sample_id, "sft", path.stem, str(path), position, english, labels, record))
    return samples, problems
