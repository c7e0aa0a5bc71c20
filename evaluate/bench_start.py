"""Start-up time of the offline preview model, as a fresh process sees it.

    python -m evaluate.bench_start [--cold] [--repeats 3] [--json]

Each start runs in a new Python process (imports included) that loads the preview model
through the engine and generates one token. `--cold` also measures a first start with an
empty cache (GGUF dequantization + conversion); warm starts use the app's cache.
Target: a warm start within 15 s.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer

ROOT = Path(__file__).resolve().parents[1]
START_SCRIPT = (
    "from engine.loading import load_model\n"
    "from engine.generation import GenerationSettings, generate_reply\n"
    "m = load_model('preview')\n"
    "generate_reply(m.model, m.tokenizer, m.tokenizer('Hi')['input_ids'], GenerationSettings(max_new_tokens=1))\n"
)


def timed_start(env: dict) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", START_SCRIPT], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main(
    cold: Annotated[bool, typer.Option(help="also time a first start with an empty cache")] = False,
    repeats: Annotated[int, typer.Option(help="warm starts to time; the median is reported")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Time cold and warm starts of the preview model in fresh processes."""
    result: dict[str, float] = {}
    env = dict(os.environ)
    if cold:
        with tempfile.TemporaryDirectory() as cache:
            cold_env = dict(env, BIMEDIX_CACHE_DIR=cache)
            result["cold_start_s"] = round(timed_start(cold_env), 2)
            warm_after_cold = [timed_start(cold_env) for _ in range(repeats)]
            result["warm_start_s"] = round(statistics.median(warm_after_cold), 2)
    else:
        timed_start(env)  # make sure the app's cache exists
        result["warm_start_s"] = round(statistics.median(timed_start(env) for _ in range(repeats)), 2)
    result["target_warm_start_s"] = 15.0
    if as_json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:<20} {value}")


if __name__ == "__main__":
    typer.run(main)
