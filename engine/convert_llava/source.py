"""The source checkpoint's config.json: a llava_llama config this converter can turn into HF Llava."""

from __future__ import annotations

from pathlib import Path

from engine.convert_llava.common import ConversionError, _read_json

SOURCE_MODEL_TYPES = ("llava_llama",)
SELECT_FEATURE = {"patch": "default", "cls_patch": "full"}


def _read_source_config(src: Path) -> dict:
    path = src / "config.json"
    if not path.is_file():
        raise ConversionError(f"{src} has no config.json: not a checkpoint directory")
    config = _read_json(path)
    model_type = config.get("model_type")
    if model_type not in SOURCE_MODEL_TYPES:
        hint = " (it already is a transformers Llava checkpoint)" if model_type == "llava" else ""
        raise ConversionError(
            f"{src} is not a LLaVA llava_llama checkpoint: its config has model_type {model_type!r}{hint}; "
            f"expected one of {SOURCE_MODEL_TYPES}"
        )
    if not config.get("mm_vision_tower"):
        raise ConversionError(f"{path} has no mm_vision_tower: a llava_llama config without a vision tower")
    projector = config.get("mm_projector_type", "linear")
    if projector != "mlp2x_gelu":
        raise ConversionError(
            f"mm_projector_type {projector!r} is not supported: HF Llava's projector is Linear-GELU-Linear, "
            "which is LLaVA's 'mlp2x_gelu'"
        )
    feature = config.get("mm_vision_select_feature", "patch")
    if feature not in SELECT_FEATURE:
        raise ConversionError(f"mm_vision_select_feature {feature!r} is not one of {sorted(SELECT_FEATURE)}")
    aspect = config.get("image_aspect_ratio") or "square"
    if aspect.startswith("anyres") or config.get("mm_patch_merge_type", "flat") != "flat":
        raise ConversionError(
            f"image_aspect_ratio {aspect!r} / mm_patch_merge_type {config.get('mm_patch_merge_type')!r} is "
            "LLaVA-NeXT tiling, which HF's LlavaForConditionalGeneration does not do"
        )
    for flag in ("mm_use_im_start_end", "mm_use_im_patch_token"):
        if config.get(flag):
            raise ConversionError(
                f"{flag}: true is not supported: HF Llava has no <im_start>/<im_end>/<im_patch> tokens around images"
            )
    return config
