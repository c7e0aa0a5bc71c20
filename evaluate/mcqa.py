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

import logging
import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Optional

import typer

from evaluate.loglik import ScoringConfig, model_max_length, score_requests
from evaluate.report import ItemResult, aggregate, load_results, markdown_report, write_results
from evaluate.tasks import MCQItem, MissingDataError, SchemaError, default_data_dir, expand_tasks, load_items, render, sample

log = logging.getLogger(__name__)
LANG_CHOICES = {"en": ("en",), "ar": ("ar",), "bi": ("en", "ar")}


def collect_items(task_ids: list[str], langs: tuple[str, ...], data_dir: Path | None, ar_dir: Path | None,
                  limit: int | None, seed: int, source: str = "local") -> list[MCQItem]:
    """Every requested task in every language; all files are checked before any scoring."""
    items, missing = [], []
    for lang in langs:
        for task_id in task_ids:
            try:
                items += _task_items(task_id, lang, data_dir, ar_dir if lang == "ar" else None, limit, seed, source)
            except MissingDataError as error:
                missing.append(str(error))
    if missing:
        raise FileNotFoundError("\n\n".join(missing))
    return items


def _task_items(task_id, lang, data_dir, lang_dir, limit, seed, source) -> list[MCQItem]:
    if source == "hub" and lang == "en":
        from evaluate.tasks.hub import hub_items

        return sample(hub_items(task_id), limit, seed)
    if data_dir is None:
        raise MissingDataError(task_id, lang, [Path("<no --data-dir and no ../shared/data>")])
    return load_items(task_id, lang, data_dir, lang_dir, limit, seed)


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


def run_meta(loaded, args: dict, config: ScoringConfig) -> dict:
    import torch
    import transformers

    model = loaded.model
    return {
        "model": loaded.card.name, "weights": loaded.card.weights, "adapters": args["adapter"],
        "load_in_4bit": loaded.load_in_4bit, "device": str(model.device), "dtype": str(model.dtype),
        "max_length": config.max_length or model_max_length(model, loaded.tokenizer),
        "method": "zero-shot log-likelihood; prompts and acc/acc_norm of lm-evaluation-harness 0.4.13",
        "tasks": args["tasks"], "lang": args["lang"], "limit": args["limit"], "seed": args["seed"],
        "data_dir": str(args["data_dir"]), "source": args["source"], "scoring": asdict(config),
        "torch": torch.__version__, "transformers": transformers.__version__, "python": platform.python_version(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
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
    if lang not in LANG_CHOICES:
        raise typer.BadParameter("--lang must be en, ar or bi")
    try:
        task_ids = expand_tasks(tasks)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    data_dir = data_dir or default_data_dir()
    try:
        items = collect_items(task_ids, LANG_CHOICES[lang], data_dir, ar_dir, limit, seed, source)
    except (FileNotFoundError, SchemaError) as error:
        sys.stderr.write(f"error: {error}\n")
        raise typer.Exit(2) from error
    from engine.loading import load_model

    loaded = load_model(model, adapter or [], load_in_4bit or None)
    config = ScoringConfig(batch_size=batch_size)
    results = score_items(loaded, items, config)
    meta = run_meta(loaded, {"adapter": adapter or [], "tasks": task_ids, "lang": lang, "limit": limit,
                             "seed": seed, "data_dir": data_dir, "source": source}, config)
    _write(out, f"mcqa-{_slug(loaded.card.name)}-{lang}", meta, results)


def _rescore(path: Path, out: Path) -> None:
    meta, results = load_results(path)
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
