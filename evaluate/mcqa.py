"""Zero-shot medical MCQA by log-likelihood, English, Arabic or both, as the BiMediX papers score.

    python -m evaluate.mcqa --model bimedix-bi --tasks pubmedqa,medmcqa,medqa,mmlu --lang bi
    python -m evaluate.mcqa --model preview --tasks pubmedqa --limit 100 --out results/
    python -m evaluate.mcqa --rescore results/mcqa-preview-en.json

Every choice's log-likelihood is computed through the engine's loaded model
(evaluate.loglik, the lm-evaluation-harness method); acc and acc_norm follow the harness
(evaluate.report). Results: <out>/mcqa-<model>-<lang>.json with every item's
log-likelihoods (re-score them with --rescore) and a .md with the papers' table.
"""

from __future__ import annotations

import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Optional

import typer

from evaluate.loglik import ScoringConfig, model_max_length, score_requests
from evaluate.report import ItemResult, aggregate, load_results, markdown_report, write_results
from evaluate.tasks import MCQItem, MissingDataError, SchemaError, default_data_dir, expand_tasks, load_items, render, sample

LANG_CHOICES = {"en": ("en",), "ar": ("ar",), "bi": ("en", "ar")}
SOURCES = ("local", "hub")


@dataclass(frozen=True)
class Selection:
    """Which items to score."""

    tasks: tuple[str, ...] = field(metadata={"help": "task ids, see evaluate.tasks.TASKS"})
    lang: str = field(default="en", metadata={"help": "en, ar or bi"})
    data_dir: Path | None = field(default=None, metadata={"help": "benchmark files (../shared/data layout)"})
    ar_dir: Path | None = field(default=None, metadata={"help": "Arabic files; default <data_dir>/ar"})
    limit: int | None = field(default=None, metadata={"help": "seeded random sample per task and language"})
    seed: int = field(default=1234, metadata={"help": "seed of the sample"})
    source: str = field(default="local", metadata={"help": "local files, or hub (English, online)"})


def collect_items(selection: Selection) -> list[MCQItem]:
    """Every requested task in every language; all files are checked before any scoring."""
    items, missing = [], []
    for lang in LANG_CHOICES[selection.lang]:
        for task_id in selection.tasks:
            try:
                items += _task_items(selection, task_id, lang)
            except MissingDataError as error:
                missing.append(str(error))
    if missing:
        raise FileNotFoundError("\n\n".join(missing))
    return items


def _task_items(selection: Selection, task_id: str, lang: str) -> list[MCQItem]:
    if selection.source == "hub" and lang == "en":
        from evaluate.tasks.hub import hub_items

        return sample(hub_items(task_id), selection.limit, selection.seed)
    if selection.data_dir is None:
        raise MissingDataError(task_id, lang, [Path("<no --data-dir given and no ../shared/data>")])
    lang_dir = selection.ar_dir if lang == "ar" else None
    return load_items(task_id, lang, selection.data_dir, lang_dir, selection.limit, selection.seed)


def score_items(loaded, items: list[MCQItem], config: ScoringConfig) -> list[ItemResult]:
    """Log-likelihood of every choice of every item, batched across tasks and languages."""
    prompts = [render(item) for item in items]
    scores = score_requests(loaded.model, loaded.tokenizer, [(p.context, p.continuations()) for p in prompts], config)
    return [
        ItemResult(item.task, item.lang, item.item_id, item.gold, list(prompt.choices),
                   [s.loglik for s in choice_scores], [s.is_greedy for s in choice_scores],
                   [s.tokens for s in choice_scores], prompt.context)
        for item, prompt, choice_scores in zip(items, prompts, scores)
    ]


def run_meta(loaded, selection: Selection, adapters: list[str], config: ScoringConfig) -> dict:
    import torch
    import transformers

    model = loaded.model
    return {
        "model": loaded.card.name, "weights": loaded.card.weights, "adapters": adapters,
        "load_in_4bit": loaded.load_in_4bit, "device": str(model.device), "dtype": str(model.dtype),
        "max_length": config.max_length or model_max_length(model, loaded.tokenizer),
        "method": "zero-shot log-likelihood; prompts and acc/acc_norm of lm-evaluation-harness 0.4.13",
        **{key: str(value) if isinstance(value, Path) else value for key, value in asdict(selection).items()},
        "scoring": asdict(config), "torch": torch.__version__, "transformers": transformers.__version__,
        "python": platform.python_version(), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def main(
    model: Annotated[Optional[str], typer.Option(help="model card (bimedix-bi, bimedix2-8b, preview, ...) or local checkpoint directory")] = None,
    adapter: Annotated[Optional[list[str]], typer.Option(help="PEFT adapter directory (repeatable; the last is active)")] = None,
    load_in_4bit: Annotated[bool, typer.Option("--load-in-4bit", help="quantize the weights to 4-bit nf4")] = False,
    tasks: Annotated[str, typer.Option(help="comma-separated: pubmedqa, medmcqa, medqa, usmle, mmlu (the six medical subsets) or mmlu_<subject>")] = "pubmedqa,medmcqa,medqa,mmlu",
    lang: Annotated[str, typer.Option(help="en, ar, or bi (both, pooled per task as in the papers)")] = "en",
    limit: Annotated[Optional[int], typer.Option(help="at most N items per task and language, a seeded random sample")] = None,
    seed: Annotated[int, typer.Option(help="seed of the --limit sample")] = 1234,
    data_dir: Annotated[Optional[Path], typer.Option(help="benchmark files; default ../shared/data when present")] = None,
    ar_dir: Annotated[Optional[Path], typer.Option(help="Arabic files <task>.jsonl|.json|.csv; default <data-dir>/ar")] = None,
    source: Annotated[str, typer.Option(help="local files, or hub (English only, online: the harness's dataset ids)")] = "local",
    out: Annotated[Path, typer.Option(help="folder for the JSON and Markdown results")] = Path("results"),
    batch_size: Annotated[int, typer.Option(help="most sequences per forward pass")] = 16,
    rescore: Annotated[Optional[Path], typer.Option(help="recompute the scores and tables of a results JSON; loads no model")] = None,
) -> None:
    """Score a model card (+ adapters) on medical MCQA benchmarks, the way the papers do."""
    if rescore is not None:
        _rescore(rescore, out)
        return
    if model is None:
        raise typer.BadParameter("--model is required (or --rescore FILE)")
    selection = _selection(tasks, lang, data_dir, ar_dir, limit, seed, source)
    try:
        items = collect_items(selection)
    except (FileNotFoundError, SchemaError) as error:
        sys.stderr.write(f"error: {error}\n")
        raise typer.Exit(2) from error
    from engine.loading import load_model

    loaded = load_model(model, adapter or [], load_in_4bit or None)
    config = ScoringConfig(batch_size=batch_size)
    results = score_items(loaded, items, config)
    meta = run_meta(loaded, selection, adapter or [], config)
    _write(out, f"mcqa-{_slug(loaded.card.name)}-{lang}", meta, results)


def _selection(tasks: str, lang: str, data_dir, ar_dir, limit, seed: int, source: str) -> Selection:
    if lang not in LANG_CHOICES:
        raise typer.BadParameter("--lang must be en, ar or bi")
    if source not in SOURCES:
        raise typer.BadParameter("--source must be local or hub")
    try:
        task_ids = tuple(expand_tasks(tasks))
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    return Selection(task_ids, lang, data_dir or default_data_dir(), ar_dir, limit, seed, source)


def _rescore(path: Path, out: Path) -> None:
    try:
        meta, results = load_results(path)
    except (OSError, ValueError, KeyError, TypeError) as error:
        sys.stderr.write(f"error: {path} is not a results file of evaluate.mcqa ({error})\n")
        raise typer.Exit(2) from error
    meta = {**meta, "rescored_from": str(path)}
    _write(out, f"{path.stem}-rescored", meta, results)


def _write(out: Path, stem: str, meta: dict, results: list[ItemResult]) -> None:
    json_path, md_path = write_results(out, stem, meta, results)
    sys.stdout.write(markdown_report(aggregate(results), meta["model"]))
    sys.stderr.write(f"wrote {json_path} and {md_path}\n")


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


if __name__ == "__main__":
    typer.run(main)
