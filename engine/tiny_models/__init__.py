"""Tiny random stand-ins for the hub checkpoints, for offline tests of the engine.

``build_tiny_model("mixtral", out_dir)`` writes a 2-layer, hidden-16 model with a tokenizer
trained on a small Arabic/English medical corpus. File names and safetensors key layouts
are those of the real checkpoints (BiMediX/BiMediX-Bi, MBZUAI/BiMediX2-8B-hf,
Llama-3.1, google/gemma-3-270m), so the engine's real loading code runs on them unchanged.

CLI: ``python -m engine.tiny_models --family mixtral --out DIR [--seed N]``.
"""

from __future__ import annotations

from pathlib import Path

from transformers import PreTrainedModel

from .families import FAMILY_SPECS, random_model, write_model_files

FAMILIES: tuple[str, ...] = ("mixtral", "llama", "llava", "gemma")

# Every name any family writes; a rebuild removes them first so that switching family or
# shard count in one directory never leaves a stale checkpoint next to the new one.
_OUTPUT_NAMES = (
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "model.safetensors.index.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "preprocessor_config.json",
    "processor_config.json",
    "chat_template.json",
)


def _family(name: str):
    if name not in FAMILIES:
        raise ValueError(f"unknown family {name!r}; expected one of {FAMILIES}")
    return FAMILY_SPECS[name]


def tiny_model(family: str, seed: int = 0) -> PreTrainedModel:
    """The in-memory model ``build_tiny_model(family, ..., seed)`` writes (same weights)."""
    spec = _family(family)
    return random_model(spec, spec.tokenizer(), seed)


def build_tiny_model(family: str, out_dir: str | Path, seed: int = 0) -> Path:
    """Write a tiny random ``family`` checkpoint into ``out_dir`` and return its path.

    The output is deterministic for a given ``seed``: two builds are byte-identical.
    """
    spec = _family(family)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for stale in [*(out / name for name in _OUTPUT_NAMES), *out.glob("model-*-of-*.safetensors")]:
        stale.unlink(missing_ok=True)
    tokenizer = spec.tokenizer()
    model = random_model(spec, tokenizer, seed)
    write_model_files(spec, tokenizer, model, out)
    return out


__all__ = ["FAMILIES", "build_tiny_model", "tiny_model"]
