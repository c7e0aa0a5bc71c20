"""MCQA results: per-item predictions, per-task accuracy, the papers' table, JSON files.

Accuracy follows lm-evaluation-harness 0.4.13 (`ConfigurableTask.process_results`):
- acc:       argmax of the choices' log-likelihoods;
- acc_norm:  argmax of log-likelihood / len(choice) in characters (the choice without
             the leading space);
- acc_bytes: the same per UTF-8 byte (differs from acc_norm for Arabic words).
Ties go to the first choice (numpy argmax). acc_norm equals acc necessarily when every
choice of an item has the same length: the one-letter choices A-D of MedMCQA, MedQA,
USMLE and MMLU. Only PubMedQA (yes / no / maybe; نعم / لا / ربما) can differ.

The table has the BiMediX papers' columns (CKG, CBio, CMed, MedGen, ProMed, Ana, MedMCQA,
MedQA, [USMLE,] PubmedQA, AVG). AVG is the unweighted mean of the columns shown, as in
the papers. The bilingual row pools the English and Arabic items of each task.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from statistics import mean

import numpy as np

from evaluate.tasks import TASKS

LANG_NAMES = {"en": "English", "ar": "Arabic", "bi": "Bilingual"}
METRICS = ("acc", "acc_norm", "acc_bytes")


@dataclass
class ItemResult:
    task: str
    lang: str
    item_id: str
    gold: int
    choices: list[str]
    logliks: list[float]
    is_greedy: list[bool] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    context: str = ""

    def predictions(self) -> dict[str, int]:
        lls = np.array(self.logliks, dtype=float)
        chars = np.array([len(choice) for choice in self.choices], dtype=float)
        utf8 = np.array([len(choice.encode("utf-8")) for choice in self.choices], dtype=float)
        return {"acc": int(np.argmax(lls)), "acc_norm": int(np.argmax(lls / chars)),
                "acc_bytes": int(np.argmax(lls / utf8))}

    def scores(self) -> dict[str, float]:
        return {metric: float(pred == self.gold) for metric, pred in self.predictions().items()}

    def norm_is_acc(self) -> bool:
        """True when acc_norm cannot differ from acc: all choices have one length."""
        return len({len(choice) for choice in self.choices}) == 1

    def to_json(self) -> dict:
        return {**asdict(self), "pred": self.predictions(), **self.scores()}

    @classmethod
    def from_json(cls, data: dict) -> "ItemResult":
        return cls(**{key: data[key] for key in cls.__dataclass_fields__ if key in data})


def aggregate(results: list[ItemResult]) -> dict[str, dict]:
    """{lang: {task: {acc, acc_norm, acc_bytes, n, norm_is_acc}, "AVG": {...}}}, lang in en/ar/bi."""
    groups: dict[str, dict[str, list[ItemResult]]] = {}
    for result in results:
        groups.setdefault(result.lang, {}).setdefault(result.task, []).append(result)
    if {"en", "ar"} <= groups.keys():
        shared = groups["en"].keys() & groups["ar"].keys()
        groups["bi"] = {task: groups["en"][task] + groups["ar"][task] for task in shared}
    return {lang: _language_scores(groups[lang]) for lang in ("en", "ar", "bi") if lang in groups}


def _language_scores(by_task: dict[str, list[ItemResult]]) -> dict[str, dict]:
    scores = {}
    for task in (t for t in TASKS if t in by_task):  # table order
        items = by_task[task]
        per_item = [item.scores() for item in items]
        scores[task] = {metric: mean(s[metric] for s in per_item) for metric in METRICS}
        scores[task].update(n=len(items), norm_is_acc=all(item.norm_is_acc() for item in items))
    scores["AVG"] = {metric: mean(scores[t][metric] for t in by_task) for metric in METRICS}
    scores["AVG"]["n"] = sum(scores[t]["n"] for t in by_task)
    return scores


def markdown_table(scores: dict[str, dict], model: str, metric: str = "acc") -> str:
    """The papers' layout: one row per language, accuracy in percent."""
    tasks = [t for t in TASKS if any(t in by_task for by_task in scores.values())]
    header = ["Model", "Lang", *(TASKS[t].column for t in tasks), "AVG"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for lang, by_task in scores.items():
        cells = [_percent(by_task.get(task, {}).get(metric)) for task in [*tasks, "AVG"]]
        lines.append("| " + " | ".join([model, LANG_NAMES[lang], *cells]) + " |")
    return "\n".join(lines)


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def markdown_report(scores: dict[str, dict], model: str) -> str:
    counts = "; ".join(f"{LANG_NAMES[lang]}: " + ", ".join(f"{TASKS[t].column} {s['n']}" for t, s in by_task.items()
                                                           if t != "AVG") for lang, by_task in scores.items())
    equal = [TASKS[t].column for t in TASKS
             if any(t in by_task for by_task in scores.values())
             and all(by_task[t]["norm_is_acc"] for by_task in scores.values() if t in by_task)]
    parts = [f"## {model}: zero-shot MCQA, log-likelihood (lm-evaluation-harness method)", "",
             "### acc", "", markdown_table(scores, model, "acc"), "",
             "### acc_norm (per character of the choice)", "", markdown_table(scores, model, "acc_norm"), "",
             f"Items per task: {counts}.",
             f"acc_norm equals acc necessarily for {', '.join(equal) or 'no task'} "
             "(all choices of an item have the same length). AVG: unweighted mean of the columns."]
    return "\n".join(parts) + "\n"


def write_results(out_dir: Path, stem: str, meta: dict, results: list[ItemResult]) -> tuple[Path, Path]:
    """<stem>.json (every item's log-likelihoods, re-scorable) and <stem>.md (the tables)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    scores = aggregate(results)
    json_path, md_path = out_dir / f"{stem}.json", out_dir / f"{stem}.md"
    payload = {"meta": meta, "scores": scores, "items": [r.to_json() for r in results]}
    json_path.write_text(json.dumps(payload, ensure_ascii=False, indent=1), encoding="utf-8")
    md_path.write_text(markdown_report(scores, meta.get("model", "model")), encoding="utf-8")
    return json_path, md_path


def load_results(path: Path) -> tuple[dict, list[ItemResult]]:
    """(meta, items) of a results file; the scores are recomputed from the items."""
    payload = json.loads(Path(path).read_text(encoding="utf-8"))
    return payload["meta"], [ItemResult.from_json(item) for item in payload["items"]]
