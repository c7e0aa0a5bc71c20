"""`python -m train.synthesize_chats`: doctor-patient dialogues grounded on MCQA items
(BiMediX, section 3.1.2), drafted by any OpenAI-compatible model and checked before use.

    python -m train.synthesize_chats --source ../shared/data/medqa_usmle_4opt/phrases_no_exclude_test_first300.jsonl \\
        --out chats/medqa --model openai:gpt-4o-mini@https://api.openai.com/v1 --turns 3-6 --limit 100

Each item becomes one dialogue: the patient presents the case in their own words, the
doctor asks follow-up questions and concludes with the item's correct answer. Dialogues
that fail a check (train/chat_synthesis.py) or whose conclusion the judge (--judge, default
--model) finds in disagreement with the answer are rejected, with every reason.

Writes OUT/chats.jsonl (the training `conversations` format), OUT/rejected.jsonl,
OUT/synthesis-report.json, and OUT/calls.sqlite: every call cached, so a rerun with the
same arguments makes no call twice, asks again only what failed, and rewrites the files whole.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Optional

import typer

from engine.endpoints import parse_remote
from evaluate.judge.cache import JudgmentCache
from evaluate.judge.client import JudgeClient, JudgeRequest, progress_bar
from evaluate.judge.prompts import load_prompt
from evaluate.tasks.files import items_of_file
from evaluate.tasks.items import MCQItem
from evaluate.tasks.registry import infer_task
from train import chat_synthesis as checks

app = typer.Typer(add_completion=False)


@dataclass
class Outcome:
    """One item's fate: accepted, rejected (with reasons) or failed (a call that erred)."""

    item: MCQItem
    raw: str | None = None
    turns: list[checks.Turn] | None = None
    reasons: list[str] = field(default_factory=list)
    judge_reply: str | None = None
    error: str | None = None

    @property
    def status(self) -> str:
        return "failed" if self.error else "rejected" if self.reasons else "accepted"


@app.command()
def main(
    source: Annotated[Path, typer.Option(help="an MCQA file (.jsonl, .json or .csv) in any layout evaluate/ reads")],
    out: Annotated[Path, typer.Option(help="folder for chats.jsonl, rejected.jsonl, synthesis-report.json and the call cache")],
    model: Annotated[str, typer.Option(help="the drafting model: openai:MODEL@BASE_URL")],
    turns: Annotated[str, typer.Option(help="exchanges (patient+doctor pairs) per dialogue: LO-HI or one number")] = "3-6",
    judge: Annotated[Optional[str], typer.Option(help="the model that checks conclusions (default: --model)")] = None,
    task: Annotated[Optional[str], typer.Option(help="task id (default: from the path's release layout, else the file name)")] = None,
    limit: Annotated[Optional[int], typer.Option(min=1, help="the first N items only")] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="requests in flight at once")] = 4,
    max_attempts: Annotated[int, typer.Option(min=1, help="tries per request on 429, 5xx and dropped connections")] = 6,
    api_key_env: Annotated[Optional[str], typer.Option(help="variable holding the key (default OPENAI_API_KEY)")] = None,
    temperature: Annotated[float, typer.Option(min=0.0, help="drafting temperature (the judge uses 0)")] = 0.7,
    max_tokens: Annotated[Optional[int], typer.Option(min=1, help="longest draft (default: the prompt file's)")] = None,
    quiet: Annotated[bool, typer.Option(help="no progress bars")] = False,
) -> None:
    """Draft one dialogue per item, check it, keep the good ones; a rerun costs nothing."""
    started = time.monotonic()
    try:
        bounds = checks.parse_turns_range(turns)
        drafting, judging = parse_remote(model, api_key_env), parse_remote(judge or model, api_key_env)
        task_id = task or infer_task(source)
        items = items_of_file(source, task_id)[:limit]
        if not items:
            raise ValueError(f"{source}: no items in it")
    except (ValueError, FileNotFoundError) as error:  # SchemaError is a ValueError
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    out.mkdir(parents=True, exist_ok=True)
    cache = JudgmentCache(out / "calls.sqlite")  # one file for both clients: keys name the model and prompt
    drafter = JudgeClient(drafting, cache, concurrency=concurrency, max_attempts=max_attempts,
                          temperature=temperature, max_tokens=max_tokens)
    checker = JudgeClient(judging, cache, concurrency=concurrency, max_attempts=max_attempts)
    outcomes = synthesize(items, drafter, checker, bounds, quiet)
    settings = {"source": str(source), "task": task_id, "model": drafter.model, "judge": checker.model,
                "turns": list(bounds), "limit": limit, "concurrency": concurrency, "max_attempts": max_attempts,
                "temperature": temperature, "max_tokens": max_tokens, "prompts": prompt_labels()}
    write_outputs(out, outcomes, settings)
    report = build_report(outcomes, drafter, checker, settings, time.monotonic() - started)
    write_json(out / "synthesis-report.json", report)
    typer.echo(report_table(report, out))
    cache.close()
    if report["failed"]:
        first = next(o for o in outcomes if o.error)
        typer.echo(f"error: {report['failed']} items failed (a rerun asks again); first: {first.error}", err=True)
        raise typer.Exit(1)


def prompt_labels() -> dict[str, str]:
    return {"draft": _prompt(checks.DRAFT_PROMPT).label, "check": _prompt(checks.CHECK_PROMPT).label}


def _prompt(name: str):
    return load_prompt(name, folder=checks.PROMPTS_DIR)


def item_key(item: MCQItem) -> str:
    return f"{item.task}:{item.item_id}"


def synthesize(items: list[MCQItem], drafter: JudgeClient, checker: JudgeClient, bounds: tuple[int, int],
               quiet: bool) -> list[Outcome]:
    """Draft every item, check the drafts, and ask the judge only about those that passed."""
    draft = _prompt(checks.DRAFT_PROMPT)
    requests = [JudgeRequest(item_key(i), draft, draft.render(**checks.draft_values(i, bounds))) for i in items]
    outcomes = []
    for item, result in zip(items, drafter.run(requests, progress_bar(len(requests), quiet, "drafts"))):
        outcome = Outcome(item, raw=result.text, error=result.error)
        if not outcome.error:
            outcome.turns, outcome.reasons = checks.parse_dialogue(result.text)
            if outcome.turns is not None:
                outcome.reasons = checks.check_dialogue(outcome.turns, bounds)
        outcomes.append(outcome)
    _judge(outcomes, checker, quiet)
    return outcomes


def _judge(outcomes: list[Outcome], checker: JudgeClient, quiet: bool) -> None:
    """Does each passing dialogue's last doctor turn agree with the answer? (paid calls:
    only for dialogues nothing else rejected)"""
    check = _prompt(checks.CHECK_PROMPT)
    waiting = [o for o in outcomes if o.status == "accepted"]
    requests = [JudgeRequest(item_key(o.item), check, check.render(**checks.check_values(o.item, o.turns[-1].text)))
                for o in waiting]
    for outcome, result in zip(waiting, checker.run(requests, progress_bar(len(requests), quiet, "checks"))):
        if result.error:
            outcome.error = f"judge: {result.error}"
            continue
        outcome.judge_reply = result.text
        verdict = checks.parse_verdict(result.text)
        if verdict is None:
            outcome.reasons.append(checks.JUDGE_UNPARSABLE)
        elif not verdict:
            outcome.reasons.append(checks.DISAGREES)


def provenance(outcome: Outcome, settings: dict) -> dict:
    answer = checks.answer_of(outcome.item)
    return {"source": settings["source"], "task": outcome.item.task, "item_id": outcome.item.item_id,
            "answer_label": answer.label, "answer_text": answer.text, "model": settings["model"],
            "judge": settings["judge"], "prompts": settings["prompts"]}


def write_outputs(out: Path, outcomes: list[Outcome], settings: dict) -> None:
    """chats.jsonl and rejected.jsonl, whole and in item order; failed items in neither."""
    accepted, rejected = [], []
    for outcome in outcomes:
        key, origin = item_key(outcome.item), provenance(outcome, settings)
        if outcome.status == "accepted":
            accepted.append({"id": key, "conversations": checks.conversation(outcome.turns), "language": "en",
                             "provenance": origin})
        elif outcome.status == "rejected":
            line = {"id": key, "reasons": outcome.reasons, "raw": outcome.raw, "provenance": origin}
            if outcome.judge_reply is not None:
                line["judge_reply"] = outcome.judge_reply
            rejected.append(line)
    write_jsonl(out / "chats.jsonl", accepted)
    write_jsonl(out / "rejected.jsonl", rejected)


def write_jsonl(path: Path, rows: list[dict]) -> None:
    """Written beside the target, then renamed over it: an interrupted run tears no file."""
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(temporary, path)


def write_json(path: Path, data: dict) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    os.replace(temporary, path)


def build_report(outcomes: list[Outcome], drafter: JudgeClient, checker: JudgeClient, settings: dict,
                 seconds: float) -> dict:
    statuses = Counter(o.status for o in outcomes)
    reasons = Counter(reason for o in outcomes if o.status == "rejected" for reason in o.reasons)
    exchanges = [checks.exchange_count(o.turns) for o in outcomes if o.status == "accepted"]
    return {"items": len(outcomes), "accepted": statuses["accepted"], "rejected": statuses["rejected"],
            "failed": statuses["failed"], "rejection_reasons": dict(reasons.most_common()),
            "mean_exchanges_accepted": round(sum(exchanges) / len(exchanges), 2) if exchanges else None,
            "failed_items": [{"id": item_key(o.item), "error": o.error} for o in outcomes if o.error],
            "usage": {"draft": drafter.usage.to_dict(), "judge": checker.usage.to_dict()},
            "seconds": round(seconds, 2), "settings": settings}


def report_table(report: dict, out: Path) -> str:
    rows = [("items", report["items"]), ("accepted", report["accepted"]), ("rejected", report["rejected"]),
            *((f"  {reason}", count) for reason, count in report["rejection_reasons"].items()),
            ("failed", report["failed"])]
    width = max(len(name) for name, _ in rows)
    lines = [f"{name:<{width}}  {count:>6}" for name, count in rows]
    for role, usage in report["usage"].items():
        lines.append(f"{role}: {usage['calls']} calls, {usage['cache_hits']} from the cache, {usage['failures']} "
                     f"failed; {usage['prompt_tokens'] + usage['completion_tokens']} tokens, about "
                     f"${usage['estimated_cost_usd']:.4f}")
    lines.append(f"{out / 'chats.jsonl'}; {report['seconds']:.1f} s")
    return "\n".join(lines)


if __name__ == "__main__":
    app()
