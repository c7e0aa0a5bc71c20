"""How 4-bit a 4-bit MoE load really is: a Mixtral-shaped random model, bf16 vs 4-bit.

    python -m evaluate.bench_4bit [--layers 2] [--hidden 512] [--intermediate 1792] [--experts 8] [--json]

Writes a random Mixtral-shaped model (bf16, hub layout) to a temp dir, then loads it three ways, each
in a fresh process so one load's freed memory cannot hide the next one's peak:
  bf16        plain from_pretrained in bf16
  4bit        engine.quantization.load_causal_lm_4bit (experts quantized while loading)
  4bit-after  stock bnb 4-bit load (experts stay bf16) + quantize_fused_experts afterwards
Reported: weight footprint of each (params + buffers + bnb quant state), the 4-bit/bf16 ratio
(target <= 0.30), the share of parameters in experts, load times, peak anonymous memory during
each load (RssAnon on Linux CPU: the checkpoint's mmap pages are not counted; allocator peak on
CUDA), logit cosine 4-bit vs bf16, and the footprint projected for Mixtral-8x7B (BiMediX) from the
measured bytes per weight.
"""

from __future__ import annotations

import json
import multiprocessing
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated

import torch
import typer

MODES = ("bf16", "4bit", "4bit-after")


@dataclass
class Bench4bitResult:
    layers: int
    hidden: int
    intermediate: int
    experts: int
    vocab: int
    device: str
    params: int
    expert_param_share: float
    bf16_bytes: int
    q4_bytes: int
    ratio: float
    bf16_load_s: float
    q4_load_s: float
    q4_after_load_s: float
    bf16_peak_load_mb: float
    q4_peak_load_mb: float
    q4_after_peak_load_mb: float
    logits_cosine: float
    not_4bit: list
    mixtral_8x7b_bf16_gb: float
    mixtral_8x7b_q4_gb: float


def _mixtral_config(layers: int, hidden: int, intermediate: int, experts: int, vocab: int):
    from transformers import MixtralConfig

    heads = max(hidden // 64, 1)  # head_dim 64; 4 query heads per kv head, as in Mixtral (32/8)
    return MixtralConfig(num_hidden_layers=layers, hidden_size=hidden, intermediate_size=intermediate,
                         num_local_experts=experts, num_experts_per_tok=2, vocab_size=vocab,
                         num_attention_heads=heads, num_key_value_heads=max(heads // 4, 1),
                         max_position_embeddings=256, tie_word_embeddings=False)


def _param_counts(config) -> dict[str, int]:
    """Parameters by kind, counted on the meta device (no memory, works for 47B)."""
    from transformers import MixtralForCausalLM

    with torch.device("meta"):
        model = MixtralForCausalLM(config)
    counts = {"experts": 0, "linear": 0, "other": 0}
    for name, param in model.named_parameters():
        if ".experts." in name:
            counts["experts"] += param.numel()
        elif name.endswith("_proj.weight"):
            counts["linear"] += param.numel()
        else:
            counts["other"] += param.numel()  # embeddings, lm_head, router, norms: kept 16-bit
    return counts


class _PeakSampler:
    """Peak of anonymous RSS while a block runs (CPU), or the CUDA allocator's peak."""

    def __init__(self):
        self.cuda = torch.cuda.is_available()
        self.peak = self.base = 0
        self._stop = threading.Event()

    @staticmethod
    def _rss_anon() -> int:
        try:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0

    def _run(self):
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, self._rss_anon())

    def __enter__(self):
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
        else:
            self.base = self.peak = self._rss_anon()
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        if self.cuda:
            self.peak = torch.cuda.max_memory_allocated()
        else:
            self._stop.set()
            self._thread.join()
            self.peak = max(self.peak, self._rss_anon())

    @property
    def delta_mb(self) -> float:
        return (self.peak - self.base) / 2**20


def _load(mode: str, path: str):
    from transformers import AutoModelForCausalLM

    from engine import quantization as q

    if mode == "bf16":
        return AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16)
    if mode == "4bit":
        return q.load_causal_lm_4bit(path, dtype=torch.bfloat16)
    config = q.build_bnb_config()
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16, quantization_config=config)
    q.keep_4bit_weights_as_loaded(model)  # as load_causal_lm_4bit does, so both modes compute alike
    q.quantize_fused_experts(model, config)
    return model


def _measure(mode: str, path: str, warmup_path: str, prompt: torch.Tensor) -> dict:
    """One load in this (fresh) process: time, peak, footprint, logits on `prompt`.

    A tiny model is loaded the same way first, so lazy imports and one-off allocations of the code
    path are not counted as the load's peak.
    """
    import bitsandbytes as bnb

    from engine import quantization as q

    _load(mode, warmup_path)
    with _PeakSampler() as peak:
        start = time.perf_counter()
        model = _load(mode, path)
        load_s = time.perf_counter() - start
    experts = [m for m in model.modules() if isinstance(m, q.Experts4bit)]
    expert_bytes = sum(t.numel() * t.element_size() for m in experts for t in [*m.parameters(), *m.buffers()])
    expert_weights = sum(m.num_experts * 3 * m.hidden_dim * m.intermediate_dim for m in experts)
    linears = [m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    linear_weights = sum(m.in_features * m.out_features for m in linears)
    linear_bytes = sum(q.weight_footprint_bytes(m) for m in linears)
    footprint = q.weight_footprint_bytes(model)  # before any forward: bnb's CPU repacking is lazy
    with torch.no_grad():
        logits = model(prompt.to(model.device)).logits.float().cpu()
    return {"load_s": load_s, "peak_mb": peak.delta_mb, "bytes": footprint, "logits": logits,
            "not_4bit": q.is_4bit_everywhere(model) if mode != "bf16" else [],
            "expert_bytes_per_weight": expert_bytes / expert_weights if expert_weights else 0.0,
            "linear_bytes_per_weight": linear_bytes / linear_weights if linear_weights else 0.0}


def _measure_in_child(mode: str, path: str, warmup_path: str, prompt: torch.Tensor) -> dict:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(_measure, mode, path, warmup_path, prompt).result()


def _project_mixtral_8x7b(q4: dict) -> tuple[float, float]:
    """bf16 and 4-bit footprint (GB) of Mixtral-8x7B from the bytes per weight measured here."""
    from transformers import MixtralConfig

    counts = _param_counts(MixtralConfig())  # the defaults are Mixtral-8x7B's (and BiMediX's)
    bf16 = 2 * sum(counts.values())
    q4_bytes = (counts["experts"] * q4["expert_bytes_per_weight"]
                + counts["linear"] * q4["linear_bytes_per_weight"]
                + counts["other"] * 2)
    return bf16 / 1e9, q4_bytes / 1e9


def run(layers: int, hidden: int, intermediate: int, experts: int, vocab: int) -> Bench4bitResult:
    from transformers import MixtralForCausalLM

    config = _mixtral_config(layers, hidden, intermediate, experts, vocab)
    counts = _param_counts(config)
    prompt = torch.randint(0, vocab, (1, 32), generator=torch.Generator().manual_seed(0))
    with tempfile.TemporaryDirectory(prefix="bench4bit-") as tmp:
        torch.manual_seed(0)
        MixtralForCausalLM(config).to(torch.bfloat16).save_pretrained(f"{tmp}/model")
        warmup = _mixtral_config(1, 64, 128, experts, 256)
        MixtralForCausalLM(warmup).to(torch.bfloat16).save_pretrained(f"{tmp}/warmup")
        results = {mode: _measure_in_child(mode, f"{tmp}/model", f"{tmp}/warmup", prompt) for mode in MODES}
    bf16, q4, after = (results[m] for m in MODES)
    proj_bf16, proj_q4 = _project_mixtral_8x7b(q4)
    cosine = torch.nn.functional.cosine_similarity(bf16["logits"].flatten(), q4["logits"].flatten(), dim=0)
    return Bench4bitResult(
        layers=layers, hidden=hidden, intermediate=intermediate, experts=experts, vocab=vocab,
        device="cuda" if torch.cuda.is_available() else "cpu", params=sum(counts.values()),
        expert_param_share=counts["experts"] / sum(counts.values()),
        bf16_bytes=bf16["bytes"], q4_bytes=q4["bytes"], ratio=q4["bytes"] / bf16["bytes"],
        bf16_load_s=bf16["load_s"], q4_load_s=q4["load_s"], q4_after_load_s=after["load_s"],
        bf16_peak_load_mb=bf16["peak_mb"], q4_peak_load_mb=q4["peak_mb"],
        q4_after_peak_load_mb=after["peak_mb"],
        logits_cosine=float(cosine), not_4bit=q4["not_4bit"],
        mixtral_8x7b_bf16_gb=proj_bf16, mixtral_8x7b_q4_gb=proj_q4)


def _print(r: Bench4bitResult) -> None:
    mb = 2**20
    print(f"Mixtral-shaped: {r.layers} layers, hidden {r.hidden}, intermediate {r.intermediate}, "
          f"{r.experts} experts, vocab {r.vocab} ({r.params / 1e6:.1f}M params, "
          f"{r.expert_param_share:.1%} in experts), device {r.device}")
    print(f"  bf16 footprint        {r.bf16_bytes / mb:9.2f} MiB   load {r.bf16_load_s:6.2f} s   "
          f"peak while loading +{r.bf16_peak_load_mb:.0f} MiB")
    print(f"  4-bit footprint       {r.q4_bytes / mb:9.2f} MiB   load {r.q4_load_s:6.2f} s   "
          f"peak while loading +{r.q4_peak_load_mb:.0f} MiB")
    print(f"  4-bit, experts after  {'':9}        load {r.q4_after_load_s:6.2f} s   "
          f"peak while loading +{r.q4_after_peak_load_mb:.0f} MiB")
    print(f"  ratio 4-bit / bf16    {r.ratio:.3f}  (target <= 0.30)")
    print(f"  logit cosine vs bf16  {r.logits_cosine:.4f}")
    print(f"  full precision left   {r.not_4bit or 'none'}")
    print(f"  Mixtral-8x7B projected: bf16 {r.mixtral_8x7b_bf16_gb:.1f} GB "
          f"-> 4-bit {r.mixtral_8x7b_q4_gb:.1f} GB")


def main(
    layers: Annotated[int, typer.Option(help="decoder layers")] = 2,
    hidden: Annotated[int, typer.Option(help="hidden size")] = 512,
    intermediate: Annotated[int, typer.Option(help="expert intermediate size")] = 1792,
    experts: Annotated[int, typer.Option(help="experts per MoE layer")] = 8,
    vocab: Annotated[int, typer.Option(help="vocabulary size")] = 2048,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    result = run(layers, hidden, intermediate, experts, vocab)
    if as_json:
        print(json.dumps(asdict(result)))
    else:
        _print(result)


if __name__ == "__main__":
    typer.run(main)
