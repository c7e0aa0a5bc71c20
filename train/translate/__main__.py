"""`python -m train.translate`: English → Arabic, scored and refined, with a review queue.

    python -m train.translate --source ../shared/data/medqa_usmle_4opt --kind mcqa --out translated/ \\
        --translator openai:gpt-4o@https://api.openai.com/v1 --scorer openai:gpt-4o@https://api.openai.com/v1
    python -m train.review --db translated/translation.db          # reviewers approve or fix
    python -m train.translate.export --db translated/translation.db --out translated/

State lives in the database (--db, default OUT/translation.db): stop it at any point and
run the same command again; nothing answered is asked again. Writes OUT/translation-report.json
and exports what is accepted so far (see train/translate/export.py).
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from evaluate.tasks.schemas import SchemaError
from train.translate.checks import load_glossary, load_keep_terms
from train.translate.errors import TranslationError

app = typer.Typer(add_completion=False)


@app.command()
def main(
    source: Annotated[Path, typer.Option(help="a file, or a folder of files (MCQA: a data folder as evaluate.mcqa reads)")],
    kind: Annotated[str, typer.Option(help="sft (conversations files) or mcqa (benchmark items)")],
    out: Annotated[Path, typer.Option(help="folder for the report, the exports and (by default) the database")],
    translator: Annotated[str, typer.Option(help="openai:MODEL@BASE_URL that translates and refines")],
    scorer: Annotated[str, typer.Option(help="openai:MODEL@BASE_URL that scores translations 0-100")],
    threshold: Annotated[int, typer.Option(min=0, max=100, help="a translation passes at this score")] = 85,
    max_rounds: Annotated[int, typer.Option(min=1, help="translation + refinements before the review queue")] = 3,
    review_sample: Annotated[float, typer.Option(min=0.0, max=1.0, help="share of passing translations drawn for review")] = 0.05,
    seed: Annotated[int, typer.Option(help="seed of the review draw")] = 0,
    glossary: Annotated[Optional[Path], typer.Option(help="CSV/TSV (english, arabic; alternatives a|b) or JSON glossary")] = None,
    keep_terms: Annotated[Optional[Path], typer.Option(help="more drug or brand names to keep in Latin script, one per line")] = None,
    db: Annotated[Optional[str], typer.Option(help="SQLAlchemy URL or SQLite file; default OUT/translation.db")] = None,
    task: Annotated[Optional[str], typer.Option(help="MCQA: the task id of a --source file (default: from its layout)")] = None,
    limit: Annotated[Optional[int], typer.Option(min=1, help="only the first N samples of each file")] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="samples in flight at once")] = 4,
    max_tokens: Annotated[Optional[int], typer.Option(min=1, help="longest answer of either model (default: the prompt files')")] = None,
    max_attempts: Annotated[int, typer.Option(min=1, help="tries per call on 429, 5xx and dropped connections")] = 6,
    api_key_env: Annotated[Optional[str], typer.Option(help="variable holding the translator's key (default OPENAI_API_KEY)")] = None,
    scorer_key_env: Annotated[Optional[str], typer.Option(help="variable holding the scorer's key (default: --api-key-env)")] = None,
    quiet: Annotated[bool, typer.Option(help="no progress bar")] = False,
) -> None:
    """Translate, score, refine; queue what stays under the threshold for a person."""
    import datasets

    from engine.endpoints import parse_remote
    from train.translate.samples import read_samples

    started = time.monotonic()
    datasets.disable_progress_bars()  # reading a file is quick; the samples' own bar follows
    try:
        samples, invalid = read_samples(source, kind, task, limit)
        endpoints = parse_remote(translator, api_key_env), parse_remote(scorer, scorer_key_env or api_key_env)
        glossary_ = load_glossary(glossary) if glossary else None
        keep = load_keep_terms(keep_terms)
    except (ValueError, FileNotFoundError, SchemaError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    if not samples:
        typer.echo(f"error: {source}: no sample to translate" + (f" ({len(invalid)} invalid)" if invalid else ""),
                   err=True)
        raise typer.Exit(2)
    out.mkdir(parents=True, exist_ok=True)
    try:
        identity = {"glossary": _digest(glossary), "keep_terms": _digest(keep_terms)}
        summary = _run(samples, out, endpoints, glossary_, keep, db, threshold, max_rounds, review_sample, seed,
                       concurrency, max_attempts, max_tokens, quiet, identity)
    except TranslationError as error:
        typer.echo(f"error: {error.message('en')}", err=True)
        raise typer.Exit(2) from None
    summary.update(invalid_samples=invalid, seconds=round(time.monotonic() - started, 2))
    (out / "translation-report.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2, default=str),
                                                 encoding="utf-8")
    _print(summary, out)
    if summary["failed"]:
        raise typer.Exit(1)


def _run(samples, out, endpoints, glossary, keep, db, threshold, max_rounds, review_sample, seed, concurrency,
         max_attempts, max_tokens, quiet, identity: dict) -> dict:
    from evaluate.judge.client import JudgeClient, progress_bar
    from train.translate.export import export_translations
    from train.translate.pipeline import Prompts, TranslationPipeline
    from train.translate.report import translation_report
    from train.translate.store import TranslationStore, store_url

    store = TranslationStore(store_url(db, out))
    try:
        prompts = Prompts.load()
        store.check_settings({"translator": endpoints[0].model, "scorer": endpoints[1].model,
                              "threshold": str(threshold), "max_rounds": str(max_rounds),
                              "prompts": ",".join(p.label for p in (prompts.translate, prompts.refine, prompts.score)),
                              **identity})
        added = store.add_samples(samples)
        translator, scorer = (JudgeClient(e, store, concurrency=concurrency, max_attempts=max_attempts,
                                          max_tokens=max_tokens) for e in endpoints)
        pipeline = TranslationPipeline(store, translator, scorer, threshold=threshold, max_rounds=max_rounds,
                                       glossary=glossary, keep_terms=keep, prompts=prompts)
        ids = [s.sample_id for s in samples]
        outcomes = pipeline.run(ids, concurrency, progress_bar(len(store.pending_ids(ids)), quiet, "samples", "sample"))
        drawn = store.draw_review_sample(review_sample, seed)
        failed = [{"sample": o.sample_id, "error": o.error} for o in outcomes if o.state == "failed"]
        return {"database": store.url, "new_samples": added, "translated_now": len(outcomes), "failed": failed,
                "drawn_for_review_now": len(drawn), **translation_report(store, threshold),
                "usage": {"translator": translator.usage.to_dict(), "scorer": scorer.usage.to_dict()},
                "export": export_translations(store, out, keep)}
    finally:
        store.close()


def _digest(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16] if path else "none"


def _print(summary: dict, out: Path) -> None:
    from train.translate.report import format_report

    typer.echo(format_report(summary))
    usage = summary["usage"]
    calls = {name: (u["calls"], u["cache_hits"]) for name, u in usage.items()}
    typer.echo(f"calls: translator {calls['translator'][0]} (+{calls['translator'][1]} from the database), "
               f"scorer {calls['scorer'][0]} (+{calls['scorer'][1]}); about "
               f"${sum(u['estimated_cost_usd'] for u in usage.values()):.4f}; {summary['seconds']:.1f} s")
    typer.echo(f"exported {summary['export']['exported']} samples: "
               + ", ".join(f"{path} ({n})" for path, n in summary["export"]["files"].items()))
    typer.echo(f"report: {out / 'translation-report.json'}; review: python -m train.review --db {summary['database']}")
    if summary["invalid_samples"]:
        typer.echo(f"{len(summary['invalid_samples'])} invalid samples not sent; first: {summary['invalid_samples'][0]}",
                   err=True)
    if summary["failed"]:
        typer.echo(f"error: {len(summary['failed'])} samples failed (a rerun continues them); first: "
                   f"{summary['failed'][0]['error']}", err=True)


if __name__ == "__main__":
    app()
