"""Open-answer tasks: loaders by task name, each returning `OpenItem`s.

    items = load_open_task("bimed-mbench", "ar", source=None)   # ../shared/data by default

| task | source (`--data`) | scored by |
|---|---|---|
| bimed-mbench | the question file or a folder holding it (default ../shared/data) | judge (`bimed-mbench`) |
| uphill | the UPHILL CSV (required) | judge (`uphill`) |
| conversations | a JSON file of multi-turn conversations (default evaluate/data/reply_language.json) | judge (`pairwise`) |
| vqa-rad, slake, pathvqa | the dataset's release folder or file (required) | evaluate.score_answers |
| report-generation, report-summarization | a CSV / JSON Lines file (required) | evaluate.score_answers |
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from evaluate.open_tasks.bimed_mbench import load_bimed_mbench
from evaluate.open_tasks.conversations import load_conversations
from evaluate.open_tasks.items import OpenItem
from evaluate.open_tasks.uphill import load_uphill
from evaluate.tasks import default_data_dir, sample


def _vqa(name: str) -> Callable:
    def load(lang: str, source: Path) -> list[OpenItem]:
        from evaluate.open_tasks import vqa

        return getattr(vqa, f"load_{name}")(lang, source)
    return load


def _reports(name: str) -> Callable:
    def load(lang: str, source: Path) -> list[OpenItem]:
        from evaluate.open_tasks import reports

        return getattr(reports, f"load_{name}")(lang, source)
    return load


LOADERS: dict[str, Callable[[str, Path | None], list[OpenItem]]] = {
    "bimed-mbench": load_bimed_mbench,
    "uphill": load_uphill,
    "vqa-rad": _vqa("vqa_rad"),
    "slake": _vqa("slake"),
    "pathvqa": _vqa("pathvqa"),
    "report-generation": _reports("report_generation"),
    "report-summarization": _reports("report_summarization"),
    "conversations": load_conversations,
}
TASK_NAMES = tuple(LOADERS)
# Tasks whose data has a default place; the others need --data.
DEFAULT_SOURCES: dict[str, Callable[[], Path | None]] = {
    "bimed-mbench": default_data_dir,
    "conversations": lambda: None,
}


def load_open_task(task: str, lang: str, source: str | Path | None = None, limit: int | None = None,
                   seed: int = 1234) -> list[OpenItem]:
    """A task's items in `lang`; `limit`: a seeded random sample, kept in file order."""
    if task not in LOADERS:
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASK_NAMES)}")
    if lang not in ("en", "ar"):
        raise ValueError(f"--lang must be en or ar, not {lang!r}")
    if source is None:
        if task not in DEFAULT_SOURCES:
            raise ValueError(f"task {task!r} needs --data: the path of its files")
        source = DEFAULT_SOURCES[task]()
        if source is None and task != "conversations":
            raise ValueError(f"task {task!r}: ../shared/data is absent; give --data")
    return sample(LOADERS[task](lang, Path(source) if source is not None else None), limit, seed)


__all__ = ["LOADERS", "OpenItem", "TASK_NAMES", "load_open_task"]
