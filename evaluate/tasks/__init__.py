"""Benchmark tasks: where their files are, how they read, how they are prompted.

    load_items("pubmedqa", "en", data_dir, limit=100)  -> list[MCQItem]
    render(item)                                        -> Prompt(context, choices)
"""

from __future__ import annotations

import random
from pathlib import Path

from .files import items_from_file, pubmedqa_labels, usmle_items
from .items import MCQItem
from .registry import MMLU_SUBJECTS, TASKS, TaskSpec, candidate_files, expand_tasks, find_file
from .schemas import SchemaError
from .templates import Prompt, render

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = PROJECT_ROOT / ".." / "shared" / "data"
LANGS = ("en", "ar")


class MissingDataError(FileNotFoundError):
    """No file for a task in a language; says every place that was tried."""

    def __init__(self, task_id: str, lang: str, looked: list[Path]):
        self.task_id, self.lang, self.looked = task_id, lang, looked
        places = "\n  ".join(str(path) for path in looked)
        hint = ("Arabic files use the BiMediX layout (question, opa, opb, opc, opd, cop; PubMedQA: "
                "QUESTION, CONTEXTS, final_decision)" if lang == "ar" else "see evaluate/README.md")
        super().__init__(f"no {lang} data for task {task_id!r}; looked for:\n  {places}\n{hint}; "
                         "point --data-dir (or --ar-dir) at the folder that has it")


def default_data_dir() -> Path | None:
    """../shared/data next to the project, when present."""
    return SHARED_DATA.resolve() if SHARED_DATA.is_dir() else None


def load_items(task_id: str, lang: str, data_dir: Path, lang_dir: Path | None = None,
               limit: int | None = None, seed: int = 1234) -> list[MCQItem]:
    """A task's items in one language from local files, sampled down to `limit`."""
    looked = candidate_files(task_id, lang, Path(data_dir), lang_dir)
    path = find_file(looked)
    if path is None:
        raise MissingDataError(task_id, lang, looked)
    return sample(read_task_file(path, task_id, lang), limit, seed)


def read_task_file(path: Path, task_id: str, lang: str) -> list[MCQItem]:
    if task_id == "usmle" and path.name == "step1.json":
        return usmle_items(path.parent, lang)
    labels = pubmedqa_labels(path.parent) if task_id == "pubmedqa" else None
    items = items_from_file(path, task_id, lang, labels)
    if labels is not None:  # the official 500-question test set (PQA-L test split)
        items = [item for item in items if item.item_id in labels]
    return items


def sample(items: list, limit: int | None, seed: int = 1234) -> list:
    """`limit` items drawn at random with a fixed seed, kept in file order.

    Not the first N: some releases are sorted (PubMedQA's label file is sorted by label),
    and a head-of-file slice would measure a biased subset.
    """
    if limit is None or limit >= len(items):
        return list(items)
    chosen = sorted(random.Random(seed).sample(range(len(items)), limit))
    return [items[index] for index in chosen]


__all__ = ["LANGS", "MMLU_SUBJECTS", "MCQItem", "MissingDataError", "Prompt", "SchemaError", "TASKS",
           "TaskSpec", "default_data_dir", "expand_tasks", "load_items", "read_task_file", "render", "sample"]
