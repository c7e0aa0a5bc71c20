"""Speed through the engine vs a bare `model.generate`, side by side.

    python -m evaluate.bench --model preview [--prompt-tokens 128] [--new-tokens 64] [--json]

The engine path is the one every caller takes: `engine.reply.reply` on the conversation
(language policy, history fitting, rendering, encoding, the reply slot, streaming text).
Both paths generate exactly the same number of tokens greedily from the same prompt.
Reported: decode tokens/s of each and their ratio (target >= 0.95), time to the first
streamed chunk vs a bare prefill (target <= prefill + 50 ms), prefill tokens/s, and
peak memory (process RSS on CPU, allocator peak on CUDA). Medians over --repeats runs.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass, replace
from typing import Annotated, Optional

import torch
import typer

from engine.backend import local_tokens
from engine.generation import GenerationSettings
from engine.messages import Message
from engine.reply import ReplyOptions, measure_prompt, reply

PROMPT_TEXT = (
    "A 54-year-old man presents with crushing chest pain radiating to the left arm, sweating "
    "and shortness of breath for the last hour. He has hypertension and smokes. "
)


@dataclass
class BenchResult:
    model: str
    device: str
    prompt_tokens: int
    new_tokens: int
    bare_tokens_per_s: float
    engine_tokens_per_s: float
    ratio: float
    bare_prefill_ms: float
    prefill_tokens_per_s: float
    engine_first_chunk_ms: float
    first_chunk_overhead_ms: float
    peak_memory_mb: float


BENCH_OPTIONS = ReplyOptions(reply_language="en", system_prompt="")


def build_prompt(loaded, prompt_tokens: int) -> tuple[list[Message], list[int]]:
    """A user turn long enough to reach about `prompt_tokens` tokens, and the prompt ids
    the engine generates from (the bare path gets the same ids)."""
    text = PROMPT_TEXT
    while measure_prompt(loaded, [Message("user", text)]).token_count < prompt_tokens:
        text += PROMPT_TEXT
    messages, requests = [Message("user", text)], []
    for _ in reply(loaded, messages, BENCH_OPTIONS, backend=lambda request, stop: requests.append(request) or iter(())):
        pass
    return messages, list(requests[0].input_ids)


def exactly(new_tokens: int):
    """A token backend that keeps generating to `new_tokens` (no early end of turn), so
    both paths time the same work."""
    def backend(request, stop_event):
        inputs = {**request.model_inputs, "min_new_tokens": new_tokens}
        return local_tokens(replace(request, model_inputs=inputs), stop_event)
    return backend


def _timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def bare_generate_seconds(model, ids: list[int], new_tokens: int) -> float:
    tensor = torch.tensor([ids], device=model.device)
    with torch.inference_mode():
        return _timed(lambda: model.generate(
            tensor, attention_mask=torch.ones_like(tensor), max_new_tokens=new_tokens,
            min_new_tokens=new_tokens, do_sample=False, temperature=None, top_p=None, top_k=None,
            repetition_penalty=1.0))


def bare_prefill_seconds(model, ids: list[int]) -> float:
    tensor = torch.tensor([ids], device=model.device)
    with torch.inference_mode():
        # logits for the last position only, as generate() computes them
        return _timed(lambda: model(tensor, use_cache=True, logits_to_keep=1))


def engine_stream_seconds(loaded, messages: list[Message], new_tokens: int) -> tuple[float, float, int]:
    """(seconds to the first chunk with text, total seconds, tokens generated), through
    the engine's one reply call."""
    settings = GenerationSettings(temperature=0, max_new_tokens=new_tokens, repetition_penalty=1.0)
    options = replace(BENCH_OPTIONS, settings=settings)
    start = time.perf_counter()
    first = None
    answer = reply(loaded, messages, options, backend=exactly(new_tokens))
    for chunk in answer:
        if first is None and chunk.text:
            first = time.perf_counter() - start
    return first or float("nan"), time.perf_counter() - start, answer.completion_tokens


def peak_memory_mb(device: str) -> float:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB


def run_bench(loaded, prompt_tokens: int, new_tokens: int, repeats: int) -> BenchResult:
    messages, ids = build_prompt(loaded, prompt_tokens)
    model = loaded.model
    bare_generate_seconds(model, ids, 4)  # warm-up: first calls allocate and compile paths
    engine_stream_seconds(loaded, messages, 4)
    bare, engine, prefill, first = [], [], [], []
    for _ in range(repeats):  # interleaved, so drifting machine load hits both alike
        prefill.append(bare_prefill_seconds(model, ids))
        bare.append(bare_generate_seconds(model, ids, new_tokens))
        first_s, total_s, generated = engine_stream_seconds(loaded, messages, new_tokens)
        assert generated == new_tokens, f"engine generated {generated} tokens, expected {new_tokens}"
        engine.append(total_s)
        first.append(first_s)
    bare_tps = new_tokens / statistics.median(bare)
    engine_tps = new_tokens / statistics.median(engine)
    prefill_s, first_s = statistics.median(prefill), statistics.median(first)
    device = str(model.device)
    return BenchResult(
        model=loaded.card.name, device=device, prompt_tokens=len(ids), new_tokens=new_tokens,
        bare_tokens_per_s=round(bare_tps, 2), engine_tokens_per_s=round(engine_tps, 2),
        ratio=round(engine_tps / bare_tps, 3), bare_prefill_ms=round(prefill_s * 1000, 1),
        prefill_tokens_per_s=round(len(ids) / prefill_s, 1),
        engine_first_chunk_ms=round(first_s * 1000, 1),
        first_chunk_overhead_ms=round((first_s - prefill_s) * 1000, 1),
        peak_memory_mb=round(peak_memory_mb(device), 1),
    )


def main(
    model: Annotated[str, typer.Option(help="model card or local directory")] = "preview",
    load_in_4bit: Annotated[bool, typer.Option("--load-in-4bit", help="load the weights in 4-bit")] = False,
    prompt_tokens: Annotated[int, typer.Option(help="prompt length in tokens (approximate, from above)")] = 128,
    new_tokens: Annotated[int, typer.Option(help="tokens to generate per run")] = 64,
    repeats: Annotated[int, typer.Option(help="runs per path; medians are reported")] = 5,
    adapter: Annotated[Optional[list[str]], typer.Option(help="PEFT adapter directory")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Engine streaming vs bare generate: tokens/s, time to first chunk, prefill, memory."""
    from engine.loading import load_model

    loaded = load_model(model, adapter or [], load_in_4bit or None)
    result = run_bench(loaded, prompt_tokens, new_tokens, repeats)
    if as_json:
        print(json.dumps(asdict(result)))
        return
    width = max(len(k) for k in asdict(result))
    for key, value in asdict(result).items():
        print(f"{key:<{width}}  {value}")
    print(f"\nengine/bare tokens/s ratio {result.ratio:.3f} (target >= 0.95); first chunk "
          f"{result.first_chunk_overhead_ms:+.1f} ms vs bare prefill (target <= +50 ms)", file=sys.stderr)


if __name__ == "__main__":
    typer.run(main)
