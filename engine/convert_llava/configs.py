"""The HF configs: Llama ``text_config``, CLIP ``vision_config`` and the ``LlavaConfig`` around them."""

from __future__ import annotations

import inspect

import torch

from engine.convert_llava.common import ConversionError, _listing
from engine.convert_llava.keys import LM_HEAD_KEY
from engine.convert_llava.source import SELECT_FEATURE
from engine.tiny_models import checkpoints

# llava_llama config keys that are Llama's, for text_config (the rest is LLaVA's own).
_LLAMA_EXCLUDED = {"self", "architectures", "transformers_version", "dtype", "id2label", "label2id",
                   "problem_type", "is_encoder_decoder", "chunk_size_feed_forward", "return_dict",
                   "output_hidden_states"}
_LEGACY_LLAMA_KEYS = {"rope_theta", "rope_scaling"}


def _text_config(source: dict, vocab_size: int, dtype_name: str):
    from transformers import LlamaConfig

    allowed = (set(inspect.signature(LlamaConfig.__init__).parameters) - _LLAMA_EXCLUDED) | _LEGACY_LLAMA_KEYS
    fields = {key: value for key, value in source.items() if key in allowed}
    fields["vocab_size"] = vocab_size
    text = LlamaConfig(**fields)
    text.dtype = dtype_name
    return text


def _vision_config(raw: dict, dtype_name: str):
    from transformers import CLIPVisionConfig

    drop = {"model_type", "architectures", "transformers_version", "dtype", "torch_dtype", "_name_or_path"}
    vision = CLIPVisionConfig(**{key: value for key, value in raw.items() if key not in drop})
    vision.dtype = dtype_name
    return vision


def _llava_config(source: dict, text_config, vision_config, image_token_id: int):
    from transformers import LlavaConfig

    strategy = SELECT_FEATURE[source.get("mm_vision_select_feature", "patch")]
    patches = (vision_config.image_size // vision_config.patch_size) ** 2
    mm_hidden = source.get("mm_hidden_size")
    if mm_hidden is not None and mm_hidden != vision_config.hidden_size:
        raise ConversionError(
            f"mm_hidden_size {mm_hidden} differs from the vision tower's hidden_size {vision_config.hidden_size}: "
            "the --vision-tower is not the one this checkpoint was trained with"
        )
    config = LlavaConfig(
        text_config=text_config,
        vision_config=vision_config,
        image_token_index=image_token_id,
        image_seq_length=patches + (1 if strategy == "full" else 0),
        projector_hidden_act="gelu",
        vision_feature_select_strategy=strategy,
        vision_feature_layer=source.get("mm_vision_select_layer", -1),
        multimodal_projector_bias=True,
        tie_word_embeddings=text_config.tie_word_embeddings,
    )
    config.architectures = ["LlavaForConditionalGeneration"]
    config.dtype = text_config.dtype
    return config


def _check_against_model(config, tensors: dict[str, torch.Tensor]) -> None:
    """Every parameter the HF Llava has is there, with its shape, and nothing else."""
    from transformers import LlavaForConditionalGeneration

    with torch.device("meta"):
        model = LlavaForConditionalGeneration(config)
    expected = {key: tuple(t.shape) for key, t in checkpoints.llava_hub_state_dict(model.state_dict()).items()}
    if config.text_config.tie_word_embeddings and LM_HEAD_KEY not in tensors:
        expected.pop(LM_HEAD_KEY, None)
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    wrong = [f"{key} {tuple(tensors[key].shape)} (expected {expected[key]})"
             for key in expected if key in tensors and tuple(tensors[key].shape) != expected[key]]
    problems = []
    if missing:
        problems.append(f"missing {_listing(missing, 10)}")
    if extra:
        problems.append(f"not in HF Llava {_listing(extra, 10)}")
    if wrong:
        problems.append(f"wrong shape {_listing(wrong, 10)}")
    if problems:
        raise ConversionError("the converted weights do not fit the HF Llava built from the config: " + "; ".join(problems))
