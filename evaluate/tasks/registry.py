"""The benchmarks: ids, the papers' column names, and where their files are found."""

from __future__ import annotations

import glob
import os
from fnmatch import fnmatch
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

# The six medical MMLU subsets in the order of the BiMediX tables.
MMLU_SUBJECTS = ("clinical_knowledge", "college_biology", "college_medicine", "medical_genetics",
                 "professional_medicine", "anatomy")

SUFFIXES = (".jsonl", ".json", ".csv")


@dataclass(frozen=True)
class TaskSpec:
    task_id: str
    column: str  # header in the papers' tables
    harness_task: str | None  # the lm-evaluation-harness task whose prompt we reproduce
    # Known release layouts under --data-dir (English), first match wins; glob patterns.
    release_files: tuple[str, ...] = ()


def _mmlu(subject: str, column: str) -> TaskSpec:
    return TaskSpec(f"mmlu_{subject}", column, f"mmlu_{subject}", (
        # final release first: it gives numbers comparable with published MMLU results
        f"mmlu_medical/final_release_mirror_*/{subject}_test.csv",
        f"mmlu_medical/test/{subject}_test.csv",
    ))


TASKS: dict[str, TaskSpec] = {spec.task_id: spec for spec in (
    _mmlu("clinical_knowledge", "CKG"),
    _mmlu("college_biology", "CBio"),
    _mmlu("college_medicine", "CMed"),
    _mmlu("medical_genetics", "MedGen"),
    _mmlu("professional_medicine", "ProMed"),
    _mmlu("anatomy", "Ana"),
    TaskSpec("medmcqa", "MedMCQA", "medmcqa", ("medmcqa_dev/*.jsonl",)),
    TaskSpec("medqa", "MedQA", "medqa_4options", ("medqa_usmle_4opt/*.jsonl",)),
    TaskSpec("usmle", "USMLE", None, ("usmle_self_assessment/step1.json",)),
    TaskSpec("pubmedqa", "PubmedQA", "pubmedqa", ("pubmedqa_pqal/ori_pqal*.json",)),
)}

ALIASES = {"mmlu": tuple(f"mmlu_{s}" for s in MMLU_SUBJECTS)}


def expand_tasks(names: str | list[str]) -> list[str]:
    """'pubmedqa,mmlu' -> task ids in table order; 'mmlu' is the six medical subsets."""
    parts = names.split(",") if isinstance(names, str) else list(names)
    wanted: set[str] = set()
    for part in (p.strip() for p in parts if p.strip()):
        if part in ALIASES:
            wanted.update(ALIASES[part])
        elif part in TASKS:
            wanted.add(part)
        else:
            raise ValueError(f"unknown task {part!r}; choose from {', '.join([*ALIASES, *TASKS])}")
    return [task_id for task_id in TASKS if task_id in wanted]


def candidate_files(task_id: str, lang: str, data_dir: Path, lang_dir: Path | None = None) -> list[Path]:
    """Where a task's file may be, in the order tried.

    First `<lang_dir>/<task_id>.jsonl|.json|.csv` (default `<data_dir>/<lang>/`): the place
    for Arabic files in the BiMediX layout and for any file of your own; a folder
    `<lang_dir>/usmle/` holds the USMLE step files. English then falls back to the release
    layouts of ../shared/data.
    """
    own_dir = lang_dir or data_dir / lang
    paths = [own_dir / f"{task_id}{suffix}" for suffix in SUFFIXES]
    if task_id == "usmle":
        paths.append(own_dir / "usmle" / "step1.json")
    if lang == "en":
        paths += [data_dir / pattern for pattern in TASKS[task_id].release_files]
    return paths


def find_file(candidates: list[Path]) -> Path | None:
    """The first candidate that exists; patterns take their first match in name order."""
    for candidate in candidates:
        matches = sorted(glob.glob(str(candidate)))
        if matches:
            return Path(matches[0])
    return None


def infer_task(path: Path) -> str:
    """The task whose release layout matches the path's tail (e.g. medqa_usmle_4opt/*.jsonl),
    else the file's stem."""
    parts = Path(os.path.abspath(path)).parts  # abspath, not resolve: a linked data folder keeps its name
    for task_id, spec in TASKS.items():
        for pattern in spec.release_files:
            depth = len(PurePosixPath(pattern).parts)
            if len(parts) >= depth and fnmatch("/".join(parts[-depth:]), pattern):
                return task_id
    return path.stem
