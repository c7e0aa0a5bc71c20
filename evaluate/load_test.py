"""Load test: N clients of a running app, one of them flooding; the others' time to first token.

Starts `app.py` (from `--app-dir`, so an older checkout can be measured the same way) on the
preview model, then:
- the flooding client (one browser session) sends `--flood` long replies at once;
- `--clients` other clients (each its own session) each send one short message a moment
  later and time how long until the first token of their reply shows.

Prints each client's time to first token, the median and the worst, and what became of
the flood (replies written, refused). Bounded in time: every wait has a deadline.

    .venv/bin/python -m evaluate.load_test --clients 3 --flood 6
    .venv/bin/python -m evaluate.load_test --app-dir /tmp/old-checkout   # before the fix
    .venv/bin/python -m evaluate.load_test --clients 8 --flood 0 --engine vllm   # 8 sessions at once, per engine
"""

from __future__ import annotations

import argparse
import re
import statistics
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {"reply_language": "auto", "temperature": 0.0, "top_p": 0.9, "repetition_penalty": 1.0, "seed": -1,
            "adapter": "none", "ui_lang": "en"}


def reply_text(history) -> str:
    """The visible text of the last message when it is the assistant's (its HTML stripped)."""
    if not isinstance(history, list) or not history or history[-1].get("role") != "assistant":
        return ""
    shown = " ".join(part.get("text", "") for part in history[-1]["content"] if isinstance(part, dict))
    return re.sub(r"<[^>]+>", "", shown).strip()


def time_to_first_token(client, text: str, max_new_tokens: int, timeout_s: float) -> float | None:
    """Seconds from sending until the reply's first text shows; None if it never did."""
    start = time.monotonic()
    job = client.submit({"text": text, "files": []}, **SETTINGS, max_new_tokens=max_new_tokens,
                        api_name="/respond")
    while time.monotonic() - start < timeout_s:
        outputs = job.outputs()
        if outputs and reply_text(outputs[-1][0]):
            job.cancel()
            return time.monotonic() - start
        if job.done() and not any(reply_text(output[0]) for output in job.outputs()):
            return None  # ended without a reply: refused
        time.sleep(0.02)
    return None


def flood(client, count: int, max_new_tokens: int, results: dict, timeout_s: float) -> None:
    jobs = [client.submit({"text": f"Write a long essay about the heart, part {index}.", "files": []}, **SETTINGS,
                          max_new_tokens=max_new_tokens, api_name="/respond") for index in range(count)]
    deadline = time.monotonic() + timeout_s
    for job in jobs:
        while not job.done() and time.monotonic() < deadline:
            time.sleep(0.1)
    written = [job.done() and any(reply_text(output[0]) for output in job.outputs()) for job in jobs]
    results["written"] = sum(written)
    results["refused"] = sum(1 for job, wrote in zip(jobs, written) if job.done() and not wrote)
    results["unfinished"] = sum(1 for job in jobs if not job.done())


def run(app_dir: Path, clients: int, flood_count: int, flood_tokens: int, timeout_s: float,
        engine: str | None = None) -> dict:
    from gradio_client import Client

    from evaluate.servers import app_server

    chosen = ("--engine", engine) if engine else ()  # an older checkout may not know the option
    with app_server("--no-arena", *chosen, app_dir=app_dir, start_timeout=900) as url:
        warm = Client(url, verbose=False)
        # The first reply warms the model up; on vLLM, the page is up minutes before the
        # model (a message meanwhile is refused): asked again until a reply comes.
        deadline = time.monotonic() + 900
        while time_to_first_token(warm, "Hello", 4, timeout_s) is None and time.monotonic() < deadline:
            time.sleep(5)
        results: dict = {}
        flooder = threading.Thread(target=flood, args=(Client(url, verbose=False), flood_count, flood_tokens,
                                                       results, timeout_s))
        flooder.start()
        time.sleep(1.0)  # the flood is in before the others arrive
        others = [Client(url, verbose=False) for _ in range(clients)]
        waits: list[float | None] = [None] * clients

        def measure(index: int) -> None:
            waits[index] = time_to_first_token(others[index], "What is anemia?", 8, timeout_s)

        threads = [threading.Thread(target=measure, args=(index,)) for index in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout_s + 5)
        flooder.join(timeout_s + 5)
        return {"ttft_s": waits, **results}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--app-dir", type=Path, default=ROOT, help="the checkout whose app.py is measured")
    parser.add_argument("--clients", type=int, default=3, help="clients besides the flooding one")
    parser.add_argument("--flood", type=int, default=6, help="long replies the flooding client asks for at once")
    parser.add_argument("--flood-tokens", type=int, default=160, help="max new tokens of each flooding reply")
    parser.add_argument("--timeout", type=float, default=240, help="seconds any one wait may take")
    parser.add_argument("--engine", default=None, help="the app's --engine (transformers, vllm); default: its own choice")
    args = parser.parse_args(argv)
    figures = run(args.app_dir.resolve(), args.clients, args.flood, args.flood_tokens, args.timeout, args.engine)
    waits = figures["ttft_s"]
    shown = [f"{wait:.2f}" if wait is not None else "none" for wait in waits]
    print(f"app: {args.app_dir}  engine: {args.engine or 'its default'}  clients: {args.clients} + 1 flooding "
          f"with {args.flood} x {args.flood_tokens} tokens")
    print(f"others' time to first token (s): {', '.join(shown)}")
    measured = [wait for wait in waits if wait is not None]
    if measured:
        ordered = sorted(measured)
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        print(f"median {statistics.median(measured):.2f} s, p95 {p95:.2f} s, worst {max(measured):.2f} s")
    print(f"flood: {figures.get('written', 0)} written, {figures.get('refused', 0)} refused, "
          f"{figures.get('unfinished', 0)} unfinished at the deadline")


if __name__ == "__main__":
    main()
