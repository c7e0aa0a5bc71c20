"""BiMed-MBench end to end on this machine: a model answers (English and Arabic), `engine
serve` judges, and a second judging run must come entirely from the cache.

    python -m evaluate.bench_judge [--model preview] [--judge-model preview] [--limit N] [--out DIR]

Runs the same commands a user would (`python -m evaluate.generate`, `python -m
evaluate.judge`), each in a subprocess, and prints the wall time of every step, the judge
calls, the cache hits of the rerun and the tables. With the preview model as answerer and
judge the scores mean nothing; the point is that the whole run completes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from evaluate.answers import answers_path
from evaluate.servers import engine_server

app = typer.Typer(add_completion=False)


def _run(command: list[str]) -> float:
    began = time.monotonic()
    subprocess.run([sys.executable, "-m", *command], check=True)
    return time.monotonic() - began


@app.command()
def main(
    model: Annotated[str, typer.Option(help="the answering model")] = "preview",
    judge_model: Annotated[str, typer.Option(help="the model `engine serve` judges with")] = "preview",
    out: Annotated[Path, typer.Option(help="answers, judgments and the cache go here")] = Path("results/bench-judge"),
    limit: Annotated[Optional[int], typer.Option(help="items per language (default: all 193)")] = None,
    max_new_tokens: Annotated[int, typer.Option(help="longest answer")] = 128,
    judge_max_tokens: Annotated[int, typer.Option(help="longest judgment (the preview rambles past its first line)")] = 16,
    batch_size: Annotated[int, typer.Option(help="answers generated together")] = 8,
) -> None:
    figures: dict = {"steps": {}}
    files = []
    for lang in ("en", "ar"):
        command = ["evaluate.generate", "--model", model, "--task", "bimed-mbench", "--lang", lang, "--out",
                   str(out / "answers"), "--max-new-tokens", str(max_new_tokens), "--batch-size", str(batch_size),
                   "--quiet", *(["--limit", str(limit)] if limit else [])]
        figures["steps"][f"answers {lang}"] = _run(command)
        files.append(answers_path(out / "answers", "bimed-mbench", lang, model))
    with engine_server("--model", judge_model) as url:
        for attempt in ("first", "rerun"):
            command = ["evaluate.judge", "--judge", f"openai:{judge_model}@{url}", "--protocol", "bimed-mbench",
                       "--out", str(out / "judged"), "--concurrency", "1", "--max-tokens", str(judge_max_tokens),
                       "--quiet", *[arg for path in files for arg in ("--answers", str(path))]]
            figures["steps"][f"judge {attempt}"] = _run(command)
            scores = json.loads((out / "judged" / "scores.json").read_text(encoding="utf-8"))
            figures[f"usage {attempt}"] = scores["usage"]
    typer.echo(json.dumps(figures, indent=2))
    typer.echo((out / "judged" / "scores.md").read_text(encoding="utf-8"))
    rerun = figures["usage rerun"]
    if rerun["calls"] != 0 or rerun["cache_hit_rate"] != 1.0:
        typer.echo(f"error: the rerun asked the judge {rerun['calls']} times", err=True)
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
