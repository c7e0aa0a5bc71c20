"""A ten-turn conversation on the preview model, with and without the conversation's KV
cache kept between turns (engine/prefix_cache.py), in one run.

    python -m evaluate.bench_multiturn [--turns 10] [--max-new-tokens 96] [--json]

Mixed Arabic and English questions, greedy replies of up to `--max-new-tokens`, through
`ChatSession` as the chat screen sends them. Each mode runs in a fresh process of its own
(so each has its own peak memory), one after the other. Printed per turn: prompt tokens,
positions reused from the cache, time to the first chunk in both modes; then the whole
conversation's time, peak RSS and the cache's bytes.

Targets (issue 18): with reuse, turn 10's first chunk within 1.3× turn 2's, and the
median first chunk over turns 5-10 at least 3× faster than without reuse. The replies
must be identical in both modes (greedy): the script says whether they are.
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = [
    "I have had a headache for two days and some fever. What could it be?",
    "عندي صداع منذ يومين مع حرارة خفيفة، هل يجب أن أقلق؟",
    "What dose of paracetamol is safe for an adult?",
    "وهل يمكن أخذ الإيبوبروفين مع الباراسيتامول؟",
    "My temperature this morning was 38.5 °C. Should I see a doctor?",
    "ما العلامات التي تستدعي الذهاب إلى الطوارئ فورًا؟",
    "Could this be sinusitis? My face hurts when I bend down.",
    "كم يومًا تستمر أعراض التهاب الجيوب الأنفية عادةً؟",
    "Are antibiotics needed for sinusitis?",
    "شكرًا، هل هناك شيء آخر يجب أن أنتبه له؟",
]

app = typer.Typer(add_completion=False)


def run_mode(reuse: bool, turns: int, max_new_tokens: int) -> dict:
    """One conversation in this process; returns its figures."""
    from engine.generation import GenerationSettings
    from engine.loading import load_model
    from engine.prefix_cache import PREFIX_CACHES
    from engine.reply import ReplyOptions
    from engine.session import ChatSession

    PREFIX_CACHES.configure(None if reuse else 0)
    model = load_model("preview")
    session = ChatSession(model, ReplyOptions(settings=GenerationSettings(temperature=0, max_new_tokens=max_new_tokens)))
    rows, replies, started = [], [], time.perf_counter()
    for question in (QUESTIONS * 2)[:turns]:
        sent = time.perf_counter()
        reply = session.send(question)
        first, text = None, []
        for chunk in reply:
            if first is None and chunk.text:
                first = time.perf_counter() - sent
            text.append(chunk.text)
        entry = PREFIX_CACHES.peek(session.conversation)
        rows.append({"prompt_tokens": reply.prompt_tokens, "reply_tokens": reply.completion_tokens,
                     "reused": entry.reused if entry else 0, "first_chunk_ms": round(1000 * (first or 0), 1),
                     "reply_s": round(time.perf_counter() - sent, 2), "dropped_turns": reply.dropped_turns})
        replies.append("".join(text))
    return {"turns": rows, "replies": replies, "conversation_s": round(time.perf_counter() - started, 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "kv_cache_mb": round(PREFIX_CACHES.used_bytes() / 2**20, 1)}


def in_child(reuse: bool, turns: int, max_new_tokens: int) -> dict:
    command = [sys.executable, "-m", "evaluate.bench_multiturn", "--child", "reuse" if reuse else "full",
               "--turns", str(turns), "--max-new-tokens", str(max_new_tokens)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def summary(reuse: dict, full: dict) -> dict:
    first = [row["first_chunk_ms"] for row in reuse["turns"]]
    plain = [row["first_chunk_ms"] for row in full["turns"]]
    late = slice(4, len(first))
    return {
        "turn_last_over_turn_2": round(first[-1] / first[1], 2) if len(first) > 1 and first[1] else None,
        "median_first_chunk_turns_5_on_ms": {"reuse": statistics.median(first[late]) if first[late] else None,
                                             "full": statistics.median(plain[late]) if plain[late] else None},
        "speedup_turns_5_on": round(statistics.median(plain[late]) / statistics.median(first[late]), 2)
        if first[late] else None,
        "same_replies": reuse["replies"] == full["replies"],
    }


def table(reuse: dict, full: dict, figures: dict) -> str:
    lines = ["turn  prompt  reused  first chunk (reuse)  first chunk (full)"]
    for n, (a, b) in enumerate(zip(reuse["turns"], full["turns"]), start=1):
        lines.append(f"{n:>4}  {a['prompt_tokens']:>6}  {a['reused']:>6}  {a['first_chunk_ms']:>16.0f} ms"
                     f"  {b['first_chunk_ms']:>15.0f} ms")
    lines += [f"whole conversation: {reuse['conversation_s']} s with reuse, {full['conversation_s']} s without",
              f"peak RSS: {reuse['peak_rss_mb']} MB with reuse ({reuse['kv_cache_mb']} MB of KV cache kept), "
              f"{full['peak_rss_mb']} MB without",
              f"turn {len(reuse['turns'])} / turn 2 first chunk (reuse): {figures['turn_last_over_turn_2']} "
              f"(target <= 1.3)",
              f"median first chunk, turns 5 on: {figures['median_first_chunk_turns_5_on_ms']['reuse']} ms vs "
              f"{figures['median_first_chunk_turns_5_on_ms']['full']} ms: {figures['speedup_turns_5_on']}x "
              f"(target >= 3)",
              f"replies identical in both modes: {figures['same_replies']}"]
    return "\n".join(lines)


@app.command()
def main(
    turns: Annotated[int, typer.Option(min=2, help="turns in the conversation")] = 10,
    max_new_tokens: Annotated[int, typer.Option(min=1, help="longest reply, in tokens")] = 96,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    child: Annotated[str, typer.Option(hidden=True, help="run one mode here: reuse or full")] = "",
) -> None:
    """Time to the first chunk per turn, with and without the conversation's KV cache."""
    if child:
        print(json.dumps(run_mode(child == "reuse", turns, max_new_tokens), ensure_ascii=False))
        return
    reuse = in_child(True, turns, max_new_tokens)
    full = in_child(False, turns, max_new_tokens)
    figures = summary(reuse, full)
    if as_json:
        print(json.dumps({"reuse": reuse, "full": full, **figures}, ensure_ascii=False, indent=1))
    else:
        print(table(reuse, full, figures))


if __name__ == "__main__":
    app()
