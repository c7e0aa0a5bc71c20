"""`python -m evaluate.judge`: score answer files with any OpenAI-compatible judge.

    python -m evaluate.judge --answers answers/bimed-mbench-en-preview.jsonl \\
        --judge openai:gpt-4o-2024-08-06@https://api.openai.com/v1 --protocol bimed-mbench --out judged/
    python -m evaluate.judge --answers a.jsonl --answers b.jsonl --protocol pairwise --judge ... --out judged/
    python -m evaluate.judge --from-store --study clinic-2026 --protocol pairwise --judge ... --out judged/

Writes OUT/judgments.jsonl (one line per item) and OUT/scores.json + OUT/scores.md (the
tables, the judge, the prompt version, calls, cache hits, tokens, cost, wall time).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from evaluate.answers import read_answers
from evaluate.judge import bimed_mbench, pairwise, uphill
from evaluate.judge.cache import JudgmentCache
from evaluate.judge.client import JudgeClient, progress_bar

PROTOCOLS = ("bimed-mbench", "uphill", "pairwise")
ORDER_CHOICES = {"reference-first": ("reference-first",), "model-first": ("model-first",),
                 "both": bimed_mbench.ORDERS}

app = typer.Typer(add_completion=False)


@app.command()
def main(
    judge: Annotated[str, typer.Option(help="the judge: openai:MODEL@BASE_URL (any OpenAI-compatible server)")],
    protocol: Annotated[str, typer.Option(help=f"one of {', '.join(PROTOCOLS)}")],
    out: Annotated[Path, typer.Option(help="folder for judgments.jsonl, scores.json and scores.md")],
    answers: Annotated[Optional[list[Path]], typer.Option(help="answer file from evaluate.generate (repeatable; pairwise: two)")] = None,
    api_key_env: Annotated[Optional[str], typer.Option(help="variable holding the judge's key (default OPENAI_API_KEY)")] = None,
    order: Annotated[str, typer.Option(help="bimed-mbench: reference-first (the protocol), model-first, or both (position bias)")] = "reference-first",
    concurrency: Annotated[int, typer.Option(min=1, help="judge requests in flight at once")] = 4,
    max_attempts: Annotated[int, typer.Option(min=1, help="tries per request on 429, 5xx and dropped connections")] = 6,
    cache: Annotated[Optional[Path], typer.Option(help="judgment cache (SQLite); default OUT/judge-cache.sqlite")] = None,
    price_in: Annotated[Optional[float], typer.Option(help="USD per million input tokens (default: known prices, else 0)")] = None,
    price_out: Annotated[Optional[float], typer.Option(help="USD per million output tokens")] = None,
    db: Annotated[Optional[str], typer.Option(help="pairwise: the arena's vote store (SQLAlchemy URL or SQLite file; default the app's)")] = None,
    study: Annotated[str, typer.Option(help="pairwise: the arena study the verdicts go into (and --from-store reads)")] = "judge",
    from_store: Annotated[bool, typer.Option("--from-store", help="pairwise: judge the study's human-voted battles again")] = False,
    no_store: Annotated[bool, typer.Option("--no-store", help="pairwise: do not record verdicts in the vote store")] = False,
    max_tokens: Annotated[Optional[int], typer.Option(min=1, help="longest judgment (default: the prompt file's)")] = None,
    quiet: Annotated[bool, typer.Option(help="no progress bar")] = False,
) -> None:
    """Judge answers; every call cached, so a rerun costs nothing and a crash loses nothing."""
    from engine.endpoints import parse_remote

    started = time.monotonic()
    try:
        if protocol not in PROTOCOLS:
            raise ValueError(f"--protocol must be one of {', '.join(PROTOCOLS)}")
        if order not in ORDER_CHOICES:
            raise ValueError(f"--order must be one of {', '.join(ORDER_CHOICES)}")
        endpoint = parse_remote(judge, api_key_env)
        files = [read_answers(path) for path in answers or []]
        _check_inputs(protocol, answers or [], files, from_store)
    except (ValueError, FileNotFoundError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    out.mkdir(parents=True, exist_ok=True)
    judgment_cache = JudgmentCache(cache or out / "judge-cache.sqlite")
    price = None if price_in is None and price_out is None else (price_in or 0.0, price_out or 0.0)
    client = JudgeClient(endpoint, judgment_cache, concurrency=concurrency, max_attempts=max_attempts, price=price,
                         max_tokens=max_tokens)
    lines, runs, extra = _judge(protocol, client, files, ORDER_CHOICES[order], answers or [], db, study, from_store,
                                no_store, quiet)
    _write(out, protocol, client, lines, runs, extra, time.monotonic() - started)
    judgment_cache.close()
    if client.usage.failures:
        raise typer.Exit(1)


def _check_inputs(protocol: str, paths: list[Path], files: list, from_store: bool) -> None:
    for path, records in zip(paths, files):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such answer file")
        if not records:
            raise ValueError(f"{path}: no answers in it")
        tasks = {r.task for r in records}
        wanted = {"bimed-mbench": {"bimed-mbench"}, "uphill": {"uphill"}}.get(protocol)
        if wanted and not tasks <= wanted:
            raise ValueError(f"{path}: answers to {', '.join(sorted(tasks))}, not {protocol}")
    if protocol == "pairwise" and not from_store and len(files) != 2:
        raise ValueError("pairwise needs two --answers files (or --from-store)")
    if protocol != "pairwise" and not files:
        raise ValueError("give at least one --answers file")


def _judge(protocol, client, files, orders, paths, db, study, from_store, no_store, quiet):
    """(judgment lines, one summary per answer file, protocol extras)."""
    if protocol == "pairwise":
        return _pairwise(client, files, db, study, from_store, no_store, quiet)
    make_requests, read_judgments, score = _per_answer_protocol(protocol, orders)
    lines, runs = [], []
    for path, records in zip(paths, files):
        requests = make_requests(records)
        results = client.run(requests, progress_bar(len(requests), quiet, path.name))
        judged = read_judgments(records, results)
        lines += judged
        runs.append({"answers": str(path), "model": records[0].model, "lang": records[0].lang,
                     "items": len(records), "scores": score(judged)})
    return lines, runs, {}


def _per_answer_protocol(protocol: str, orders):
    """(requests, judgments, scores) of a protocol that judges each answer on its own."""
    if protocol == "bimed-mbench":
        return (lambda records: bimed_mbench.requests(records, orders),
                lambda records, results: bimed_mbench.judgments(records, results, orders),
                lambda lines: bimed_mbench.scores(lines, orders))
    return uphill.requests, uphill.judgments, uphill.scores


def _pairwise(client, files, db, study, from_store, no_store, quiet):
    from arena.store import open_store

    store = None if (no_store and not from_store) else open_store(db)
    battles = (pairwise.battles_from_store(store, study) if from_store
               else pairwise.battles_from_answers(files[0], files[1]))
    requests = pairwise.requests(battles)
    results = client.run(requests, progress_bar(len(requests), quiet, "pairwise"))
    lines = pairwise.judgments(battles, results)
    table = pairwise.scores(lines)
    recorded = 0 if no_store else pairwise.record(store, study, client.model, requests[0].prompt.label if requests
                                                  else "", battles, lines)
    extra = {"store": None if no_store else store.url, "study": study, "recorded_votes": recorded}
    return lines, [{"battles": len(battles), "scores": table}], extra


def _write(out: Path, protocol: str, client: JudgeClient, lines: list, runs: list, extra: dict, seconds: float):
    with (out / "judgments.jsonl").open("w", encoding="utf-8") as handle:
        for line in lines:
            handle.write(json.dumps(line, ensure_ascii=False) + "\n")
    prompts = sorted({r["prompt"] for r in _prompt_labels(protocol, runs)})
    summary = {"protocol": protocol, "judge": {"model": client.model, "server": client.endpoint.host},
               "prompts": prompts, "runs": runs, **extra, "usage": client.usage.to_dict(),
               "wall_seconds": round(seconds, 2)}
    (out / "scores.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
    (out / "scores.md").write_text(_markdown(protocol, summary), encoding="utf-8")
    usage = client.usage
    unparsable = sum(1 for line in lines if _unparsable(line))
    typer.echo(f"{out / 'scores.md'}: {usage.calls} judge calls, {usage.cache_hits} from the cache, "
               f"{usage.failures} failed, {unparsable} unparsable; {usage.prompt_tokens + usage.completion_tokens} "
               f"tokens, about ${usage.cost_usd:.4f}; {seconds:.1f} s")
    failed = [entry["error"] for line in lines for entry in (line, *line.get("orders", {}).values()) if "error" in entry]
    if failed:
        typer.echo(f"error: {len(failed)} judgments failed (a rerun asks again); first: {failed[0]}", err=True)


def _unparsable(line: dict) -> bool:
    return "unparsable" in line or any("unparsable" in entry for entry in line.get("orders", {}).values())


def _prompt_labels(protocol: str, runs: list) -> list[dict]:
    from evaluate.judge.prompts import load_prompt

    if protocol == "pairwise":
        return [{"prompt": load_prompt("pairwise").label}]
    if protocol == "uphill":
        return [{"prompt": load_prompt("uphill").label}]
    return [{"prompt": bimed_mbench.prompt_for(run["lang"]).label} for run in runs]


def _markdown(protocol: str, summary: dict) -> str:
    if protocol == "pairwise":
        body = pairwise.markdown(summary["runs"][0]["scores"])
    elif protocol == "uphill":
        body = uphill.markdown(summary["runs"])
    else:
        body = bimed_mbench.markdown(summary["runs"])
    usage = summary["usage"]
    return (f"# {protocol}: judged by {summary['judge']['model']} ({', '.join(summary['prompts'])})\n\n{body}\n"
            f"Judge calls: {usage['calls']} ({usage['cache_hits']} more from the cache), {usage['retries']} retries, "
            f"{usage['failures']} failed; tokens {usage['prompt_tokens']} in, {usage['completion_tokens']} out; "
            f"estimated cost ${usage['estimated_cost_usd']:.4f}; wall time {summary['wall_seconds']} s.\n")


if __name__ == "__main__":
    app()
