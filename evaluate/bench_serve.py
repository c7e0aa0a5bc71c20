"""Serving benchmark: the in-process engine, `python -m engine serve`, and a real vLLM, on the
preview model, this machine's CPU, the same prompts.

    .venv/bin/python -m evaluate.bench_serve [--tokens 128] [--repeats 3] [--clients 1,4,8,16] [--no-vllm]

Prints, one block each:
1. one client: tokens/s and time to first token, in process and through `engine serve`
   (targets: >= 0.95x the tokens/s, first token <= 30 ms later);
2. concurrency: 1, 4, 8 and 16 streaming clients against `engine serve` with its default
   options (continuous batching, engine/continuous.py), against vLLM started by hand, and
   against vLLM started by the app (engine/vllm_managed.py): aggregate tokens/s, tokens/s
   per client, first token p50 and p95. Targets: `engine serve` at 8 clients >= 3x its own
   one-client aggregate, first token p95 <= 5 s; the managed vLLM within 5% of vLLM by hand;
3. overhead: the app's remote backend (engine.reply on a RemoteModel) against a bare
   `openai` SDK client on the same vLLM, same messages and settings (target <= 5%).
`engine serve` runs alone; the two vLLMs are both up and measured in turns, the other one
paused (bench_vllm says why). vLLM needs .venv-vllm
(scripts/test_vllm.sh installs it). The llama.cpp engine is issue 29's.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

PROMPT = "Explain the main causes of high blood pressure and how to lower it."
KEY_VARIABLE = "BIMEDIX_BENCH_KEY"


@dataclass(frozen=True)
class Run:
    first_token_s: float
    total_s: float
    tokens: int

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.total_s


def in_process(model, tokens: int) -> Run:
    from engine.generation import GenerationSettings
    from engine.messages import Message
    from engine.reply import ReplyOptions, reply

    options = ReplyOptions(settings=GenerationSettings(temperature=0, max_new_tokens=tokens, repetition_penalty=1.0))
    started = time.perf_counter()
    answer = reply(model, [Message("user", PROMPT)], options)
    first = None
    for chunk in answer:
        if first is None and chunk.text:
            first = time.perf_counter() - started
    return Run(first or 0.0, time.perf_counter() - started, answer.completion_tokens)


def streamed(client, model: str, messages: list[dict], tokens: int, extra: dict | None = None) -> Run:
    started = time.perf_counter()
    first, used = None, 0
    stream = client.chat.completions.create(model=model, messages=messages, max_tokens=tokens, temperature=0,
                                            stream=True, stream_options={"include_usage": True},
                                            extra_body={"repetition_penalty": 1.0, **(extra or {})})
    for event in stream:
        if event.choices and event.choices[0].delta.content and first is None:
            first = time.perf_counter() - started
        if event.usage is not None:
            used = event.usage.completion_tokens
    return Run(first or 0.0, time.perf_counter() - started, used)


def median_run(runs: list[Run]) -> Run:
    return Run(statistics.median(r.first_token_s for r in runs), statistics.median(r.total_s for r in runs),
               round(statistics.median(r.tokens for r in runs)))


def concurrent(client, model: str, messages: list[dict], tokens: int, clients: int, extra=None) -> dict:
    runs: list[Run] = []
    lock = threading.Lock()

    def one() -> None:
        run = streamed(client, model, messages, tokens, extra)
        with lock:
            runs.append(run)

    started = time.perf_counter()
    threads = [threading.Thread(target=one) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    firsts = sorted(r.first_token_s for r in runs)
    return {"clients": clients, "aggregate": sum(r.tokens for r in runs) / wall,
            "per_client": statistics.mean(r.tokens_per_s for r in runs),
            "p50": percentile(firsts, 50), "p95": percentile(firsts, 95)}


def percentile(sorted_values: list[float], pct: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(pct / 100 * (len(sorted_values) - 1))))
    return sorted_values[index]


def print_concurrency(name: str, rows: list[dict]) -> None:
    for row in rows:
        print(f"  {name:<13} {row['clients']:>2} clients: {row['aggregate']:6.2f} tok/s in all, "
              f"{row['per_client']:6.2f} per client, first token p50 {row['p50']:6.2f} s, p95 {row['p95']:6.2f} s")


def bench_engine(args) -> list[dict]:
    import openai

    from engine.loading import load_model
    from evaluate.servers import engine_server

    model = load_model("preview")
    in_process(model, 8)  # warm-up
    local = median_run([in_process(model, args.tokens) for _ in range(args.repeats)])
    del model
    messages = [{"role": "user", "content": PROMPT}]
    with engine_server("--model", "preview", "--max-queue", "64") as url:
        client = openai.OpenAI(base_url=url, api_key="none", max_retries=0)
        streamed(client, "preview", messages, 8)
        served = median_run([streamed(client, "preview", messages, args.tokens) for _ in range(args.repeats)])
        rows = [concurrent(client, "preview", messages, args.tokens, n) for n in args.clients]
    print("1. One client, preview model, CPU, same prompt (median of", args.repeats, "runs)")
    for name, run in (("in process", local), ("engine serve", served)):
        print(f"  {name:<13} {run.tokens_per_s:6.2f} tok/s ({run.tokens} tokens in {run.total_s:.2f} s), "
              f"first token {run.first_token_s * 1000:7.1f} ms")
    print(f"  ratio {served.tokens_per_s / local.tokens_per_s:.3f}x tokens/s (target >= 0.95); first token "
          f"{(served.first_token_s - local.first_token_s) * 1000:+.1f} ms (target <= +30 ms)")
    return rows


def bench_vllm(args) -> tuple[list[dict], list[dict], str]:
    """vLLM started by hand and vLLM started by the app, both up, measured in turns: each
    client count, each repeat, the order alternating, with the other server paused
    (SIGSTOP: an idle vLLM's workers poll for work). One after the other, the machine's
    drift was larger than the difference sought (a "20% gap" that was the order of runs)."""
    import openai

    from engine.chat_templates import template_path
    from engine.endpoints import Endpoint, connect
    from engine.remote import count_prompt
    from evaluate.servers import preview_copy, vllm_server

    key = os.environ.setdefault(KEY_VARIABLE, secrets.token_hex(8))
    messages = [{"role": "user", "content": PROMPT}]
    with tempfile.TemporaryDirectory() as folder, \
            vllm_server(preview_copy(Path(folder)), "preview", template_path("transcript"), api_key=key) as (url, log):
        hand = Paused(server_group(log), openai.OpenAI(base_url=url, api_key=key, max_retries=0))
        hand.pause()  # while the app's starts (minutes, both cores)
        managed = None if args.no_managed else start_managed()
        try:
            sides = {"hand": hand} if managed is None else {"hand": hand, "app": managed}
            rows = in_turns(sides, messages, args)
            hand.resume()
            remote = connect(Endpoint("vllm", url, "preview", api_key_env=KEY_VARIABLE))
            return rows["hand"], rows.get("app", []), overhead(args, hand.client, remote, count_prompt)
        finally:
            hand.resume()
            if managed is not None:
                managed.resume()
                managed.server.stop()


class Paused:
    """A server's processes, paused and resumed as one, and a client of it."""

    def __init__(self, pids: list[int], client, server=None):
        self.pids, self.client, self.server = pids, client, server

    def pause(self) -> None:
        for pid in self.pids:
            os.kill(pid, signal.SIGSTOP)

    def resume(self) -> None:
        for pid in self.pids:
            os.kill(pid, signal.SIGCONT)


def server_group(log_path: Path) -> list[int]:
    """vLLM's processes (API server, engine core, workers), found by the port in its log's
    name: the processes whose command line or parent chain leads to that server."""
    port = log_path.stem.rsplit("-", 1)[1]
    root = next(pid for pid, args in _processes().items() if "vllm" in args and f"--port {port}" in args)
    return [root, *descendants(root)]


def _processes() -> dict[int, str]:
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                found[int(entry)] = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                pass
    return found


def descendants(root: int) -> list[int]:
    parents = {}
    for pid in _processes():
        try:
            parents[pid] = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError):
            pass
    found, frontier = [], [root]
    while frontier:
        children = [pid for pid, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def start_managed() -> Paused:
    """The vLLM the app starts for the preview (its own key, port and folder)."""
    import openai

    from engine.cards import CARDS
    from engine.vllm_engine import open_on_vllm

    model = open_on_vllm(CARDS["preview"])
    server = model.supervisor
    client = openai.OpenAI(base_url=server.base_url, api_key=os.environ[model.endpoint.key_variable], max_retries=0)
    return Paused([server.pid, *descendants(server.pid)], client, server)


def in_turns(sides: dict[str, Paused], messages: list[dict], args) -> dict[str, list[dict]]:
    """Each client count on each side, `args.repeats` times in alternating order, the
    other side paused; a side's row is the median of its repeats."""
    for side in sides.values():
        side.resume()
        streamed(side.client, "preview", messages, 8)  # warm-up
        side.pause()
    rows = {name: [] for name in sides}
    for clients in args.clients:
        runs = {name: [] for name in sides}
        for repeat in range(args.repeats):
            for name in (list(sides) if repeat % 2 == 0 else list(sides)[::-1]):
                sides[name].resume()
                runs[name].append(concurrent(sides[name].client, "preview", messages, args.tokens, clients))
                sides[name].pause()
        for name in sides:
            rows[name].append({key: statistics.median(run[key] for run in runs[name]) for key in runs[name][0]})
    if "app" in sides and sides["app"].server.restarts:
        print("  (the app restarted its paused vLLM: a turn was longer than its health checks allow; "
              "use fewer --tokens)")
    return rows


def overhead(args, client, remote, count_prompt) -> str:
    """The same request through the app's backend and through a bare SDK client, interleaved."""
    from engine.messages import Message

    # Exactly what the app sends: its system prompt, and the reply-language request it adds.
    wire = count_prompt(remote, [Message("system", remote.card.system_prompt), Message("user", PROMPT)],
                        "en").messages
    ours, bare = [], []
    for _ in range(args.repeats + 2):
        ours.append(in_process(remote, args.tokens))
        bare.append(streamed(client, "preview", wire, args.tokens))
    ours_run, bare_run = median_run(ours), median_run(bare)
    lines = [f"3. Overhead of the app's remote backend on vLLM (median of {len(ours)} interleaved runs)"]
    for name, run in (("app backend", ours_run), ("bare openai", bare_run)):
        lines.append(f"  {name:<13} {run.tokens_per_s:6.2f} tok/s ({run.tokens} tokens in {run.total_s:.2f} s), "
                     f"first token {run.first_token_s * 1000:7.1f} ms")
    lines.append(f"  overhead {(ours_run.total_s / ours_run.tokens) / (bare_run.total_s / bare_run.tokens) - 1:+.1%} "
                 "time per token (target <= 5%)")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=128, help="reply length")
    parser.add_argument("--repeats", type=int, default=3, help="runs per single-client figure")
    parser.add_argument("--clients", type=lambda s: [int(n) for n in s.split(",")], default=[1, 4, 8, 16])
    parser.add_argument("--no-managed", action="store_true", help="leave the vLLM started by the app out")
    parser.add_argument("--no-vllm", action="store_true", help="leave vLLM out")
    parser.add_argument("--only-vllm", action="store_true", help="leave the engine's own figures out")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    engine_rows = [] if args.only_vllm else bench_engine(args)
    vllm_rows, managed_rows, overhead_text = ([], [], "3. (vLLM left out)") if args.no_vllm else bench_vllm(args)
    print("2. Concurrency: streaming clients, same prompt,", args.tokens, "tokens each")
    print_concurrency("engine serve", engine_rows)
    print_concurrency("vLLM by hand", vllm_rows)
    print_concurrency("vLLM by app", managed_rows)
    for line in targets(engine_rows, vllm_rows, managed_rows):
        print(line)
    print(overhead_text)


def targets(engine_rows: list[dict], vllm_rows: list[dict], managed_rows: list[dict]) -> list[str]:
    """The issue's targets, each said with its figure."""
    by = {name: {row["clients"]: row for row in rows}
          for name, rows in (("engine", engine_rows), ("hand", vllm_rows), ("app", managed_rows))}
    lines = []
    if 1 in by["engine"] and 8 in by["engine"]:
        one, eight = by["engine"][1], by["engine"][8]
        lines.append(f"  engine serve at 8 clients: {eight['aggregate'] / one['aggregate']:.2f}x its one-client "
                     f"tok/s (target >= 3), first token p95 {eight['p95']:.2f} s (target <= 5 s)")
    for clients in sorted(set(by["hand"]) & set(by["app"])):
        ratio = by["app"][clients]["aggregate"] / by["hand"][clients]["aggregate"]
        lines.append(f"  vLLM by app / by hand at {clients:>2} clients: {ratio:.3f}x tok/s (target within 5%)")
    return lines


if __name__ == "__main__":
    main()
