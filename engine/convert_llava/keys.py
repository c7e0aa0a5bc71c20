"""Key mapping: LLaVA codebase (and CLIP tower) tensor names -> transformers-4.x HF Llava names."""

from __future__ import annotations

import re
from pathlib import Path

from engine.convert_llava.common import ConversionError, _listing

# LLaVA codebase prefix -> transformers-4.x HF Llava prefix (as in MBZUAI/BiMediX2-8B-hf).
KEY_PREFIXES = (
    ("model.vision_tower.vision_tower.vision_model.", "vision_tower.vision_model."),
    ("model.mm_projector.0.", "multi_modal_projector.linear_1."),
    ("model.mm_projector.2.", "multi_modal_projector.linear_2."),
    ("model.embed_tokens.", "language_model.model.embed_tokens."),
    ("model.layers.", "language_model.model.layers."),
    ("model.norm.", "language_model.model.norm."),
    ("lm_head.", "language_model.lm_head."),
)
TOWER_PREFIX = "vision_tower.vision_model."
EMBED_KEY = "language_model.model.embed_tokens.weight"
LM_HEAD_KEY = "language_model.lm_head.weight"
# Buffers older transformers saved and the models recompute (non-persistent today).
DROPPED_BUFFERS = re.compile(r"(^|\.)(rotary_emb\.inv_freq|embeddings\.position_ids)$")
# In a CLIP tower directory: the parts of a full CLIPModel that LLaVA's CLIPVisionModel ignores.
TOWER_IGNORED = re.compile(r"^(text_model\.|text_projection\.|visual_projection\.|logit_scale$)")
# Keys of a CLIPVisionModel saved by transformers 5, which drops the ``vision_model.`` prefix.
TOWER_BARE = ("embeddings.", "encoder.", "pre_layrnorm.", "post_layernorm.")


def map_key(key: str) -> str | None:
    """The HF Llava (transformers-4.x) name of a llava_llama key, or None if unknown."""
    for old, new in KEY_PREFIXES:
        if key.startswith(old):
            return new + key.removeprefix(old)
    return None


def _map_checkpoint_keys(keys: list[str]) -> dict[str, str]:
    """New name -> source name; raises listing every key that has no mapping."""
    mapped: dict[str, str] = {}
    unknown = []
    for key in keys:
        if DROPPED_BUFFERS.search(key):
            continue
        new = map_key(key)
        if new is None:
            unknown.append(key)
        else:
            mapped[new] = key
    if unknown:
        raise ConversionError(f"{len(unknown)} checkpoint key(s) with no HF Llava name: {_listing(unknown)}")
    return mapped


def _map_tower_keys(keys: list[str], directory: Path) -> dict[str, str]:
    mapped: dict[str, str] = {}
    unknown = []
    for key in keys:
        if TOWER_IGNORED.match(key) or DROPPED_BUFFERS.search(key):
            continue
        if key.startswith("vision_model."):
            mapped[TOWER_PREFIX + key.removeprefix("vision_model.")] = key
        elif key.startswith(TOWER_BARE):
            mapped[TOWER_PREFIX + key] = key
        else:
            unknown.append(key)
    if unknown:
        raise ConversionError(f"{len(unknown)} key(s) in the vision tower {directory} that are not CLIP's: {_listing(unknown)}")
    if not mapped:
        raise ConversionError(f"{directory} has no CLIP vision weights (vision_model.*)")
    return mapped
