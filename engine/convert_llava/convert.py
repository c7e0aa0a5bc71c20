"""The conversion: a llava_llama checkpoint directory in, an HF Llava checkpoint directory out."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from engine.convert_llava.common import ConversionError, _write_json
from engine.convert_llava.configs import _check_against_model, _llava_config, _text_config, _vision_config
from engine.convert_llava.keys import EMBED_KEY, LM_HEAD_KEY, TOWER_PREFIX, _map_checkpoint_keys, _map_tower_keys
from engine.convert_llava.source import _read_source_config
from engine.convert_llava.tokenizer import IMAGE_TOKEN, _check_written_tokenizer, _grow_rows, _tokenizer_plan
from engine.convert_llava.tower import _image_processor_config, _resolve_tower
from engine.convert_llava.weights import (
    DEFAULT_MAX_SHARD_SIZE,
    _clear_outputs,
    _ordered,
    _target_dtype,
    _Weights,
    _write_weights,
    parse_size,
)


def convert_llava_llama(
    src: str | Path,
    dst: str | Path,
    vision_tower: str | Path | None = None,
    dtype: str | torch.dtype | None = None,
    max_shard_size: int | str = DEFAULT_MAX_SHARD_SIZE,
) -> Path:
    """Write ``src`` (an original LLaVA ``llava_llama`` checkpoint) to ``dst`` as an HF Llava.

    ``vision_tower``: a local CLIP directory (the ``mm_vision_tower`` hub repo), needed when the
    checkpoint does not contain the tower, and for the tower's config otherwise (unless it is a
    known tower). ``dtype``: bfloat16, float16 or float32; default: the source config's dtype.
    """
    src, dst = Path(src), Path(dst)
    if dst.resolve() == src.resolve():
        raise ConversionError("the output directory must differ from the source")
    source = _read_source_config(src)
    weights = _Weights(src)
    mapped = _map_checkpoint_keys(weights.keys())
    inside = any(key.startswith(TOWER_PREFIX) for key in mapped)
    tower = _resolve_tower(source, Path(vision_tower) if vision_tower is not None else None, inside, src)
    aspect = source.get("image_aspect_ratio") or "square"
    processor_config = _image_processor_config(tower.processor, aspect, tower.where)
    plan = _tokenizer_plan(src)
    target = _target_dtype(dtype, source, weights, mapped)
    dtype_name = str(target).removeprefix("torch.")

    def cast(tensor: torch.Tensor) -> torch.Tensor:
        return tensor.to(target) if tensor.is_floating_point() else tensor

    tensors = {new: cast(weights.get(old)) for new, old in mapped.items()}
    if not inside:
        tower_weights = _Weights(tower.weights_dir)
        for new, old in _map_tower_keys(tower_weights.keys(), tower.weights_dir).items():
            tensors[new] = cast(tower_weights.get(old))
    if EMBED_KEY not in tensors:
        raise ConversionError("the checkpoint has no model.embed_tokens.weight")
    rows = max(tensors[EMBED_KEY].shape[0], plan.vocab_len)
    for key in (EMBED_KEY, LM_HEAD_KEY):
        if key in tensors:
            tensors[key] = _grow_rows(tensors[key], rows, plan.added_ids)

    text_config = _text_config(source, rows, dtype_name)
    vision_config = _vision_config(tower.vision_config, dtype_name)
    config = _llava_config(source, text_config, vision_config, plan.image_token_id)
    _check_against_model(config, tensors)
    crop = processor_config.get("crop_size") or {}
    if crop and (crop.get("height"), crop.get("width")) != (vision_config.image_size,) * 2:
        raise ConversionError(
            f"the image processor crops to {crop} but the vision tower takes {vision_config.image_size}px images"
        )

    _write_outputs(src, dst, config, text_config, tensors, plan, processor_config, max_shard_size)
    _check_written_tokenizer(dst, plan.image_token_id)
    return dst

def _write_outputs(src, dst, config, text_config, tensors, plan, processor_config, max_shard_size) -> None:
    """Write the converted checkpoint: config, weights, tokenizer and processor files."""
    from transformers import GenerationConfig

    vision_config = config.vision_config
    dst.mkdir(parents=True, exist_ok=True)
    _clear_outputs(dst)
    config.save_pretrained(dst)
    if (src / "generation_config.json").is_file():
        shutil.copyfile(src / "generation_config.json", dst / "generation_config.json")
    else:
        GenerationConfig(bos_token_id=text_config.bos_token_id, eos_token_id=text_config.eos_token_id).save_pretrained(dst)
    _write_weights(dst, _ordered(tensors), parse_size(max_shard_size))
    plan.write(dst)
    _write_json(dst / "preprocessor_config.json", processor_config)
    # transformers 5's LlavaProcessor needs patch_size and num_additional_image_tokens=1 (CLIP's
    # CLS) to expand each <image> into image_seq_length tokens for the "default" strategy.
    _write_json(dst / "processor_config.json", {
        "image_token": IMAGE_TOKEN,
        "num_additional_image_tokens": 1,
        "patch_size": vision_config.patch_size,
        "processor_class": "LlavaProcessor",
        "vision_feature_select_strategy": config.vision_feature_select_strategy,
    })
    if plan.chat_template is not None:
        _write_json(dst / "chat_template.json", {"chat_template": plan.chat_template})
