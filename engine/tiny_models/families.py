"""The four tiny model families: configs, random weights and the files each one writes.

Every family mirrors the real checkpoint's architecture at toy size (2 layers, hidden 16)
with the vocabulary of its tiny tokenizer, so the engine's loading and prompting code can
run on them in seconds and without network access.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import (
    CLIPVisionConfig,
    Gemma3ForCausalLM,
    Gemma3TextConfig,
    GenerationConfig,
    LlamaConfig,
    LlamaForCausalLM,
    LlavaConfig,
    LlavaForConditionalGeneration,
    MixtralConfig,
    MixtralForCausalLM,
    PretrainedConfig,
    PreTrainedModel,
)

from . import checkpoints, templates
from .tokenizer_files import IMAGE_TOKEN, TinyTokenizer, gemma_tokenizer, llama3_tokenizer, mistral_tokenizer

HIDDEN = 16
INTERMEDIATE = 32
LAYERS = 2
HEADS = 4
# Larger than the usual 0.02 so logits differ clearly between tokens: a wrongly mapped
# weight then changes the logits visibly instead of hiding in near-uniform noise.
INIT_RANGE = 0.2
# Tiny CLIP tower: 30x30 images in 15x15 patches -> 4 patch features (+1 CLS, dropped by
# the "default" feature selection), the 336/14 -> 576 of BiMediX2 scaled down.
IMAGE_SIZE = 30
PATCH_SIZE = 15
IMAGE_TOKENS = (IMAGE_SIZE // PATCH_SIZE) ** 2
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


@dataclass(frozen=True)
class Family:
    name: str
    model_class: type[PreTrainedModel]
    tokenizer: Callable[[], TinyTokenizer]
    config: Callable[[TinyTokenizer], PretrainedConfig]
    generation: Callable[[TinyTokenizer], dict]
    hub_state_dict: Callable[[PreTrainedModel], dict[str, torch.Tensor]]
    shards: int = 1
    extra_files: Callable[[Path], None] | None = None


def _mixtral_config(tok: TinyTokenizer) -> MixtralConfig:
    return MixtralConfig(
        vocab_size=tok.vocab_size,
        hidden_size=HIDDEN,
        intermediate_size=INTERMEDIATE,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        num_key_value_heads=2,
        num_local_experts=4,
        num_experts_per_tok=2,
        max_position_embeddings=32768,
        initializer_range=INIT_RANGE,
        bos_token_id=tok.id("<s>"),
        eos_token_id=tok.id("</s>"),
        tie_word_embeddings=False,
    )


def _llama_eos(tok: TinyTokenizer) -> list[int]:
    # Llama-3.1-Instruct stops on any of these three.
    return [tok.id("<|end_of_text|>"), tok.id("<|eom_id|>"), tok.id("<|eot_id|>")]


def _llama_config(tok: TinyTokenizer) -> LlamaConfig:
    return LlamaConfig(
        vocab_size=tok.vocab_size,
        hidden_size=HIDDEN,
        intermediate_size=INTERMEDIATE,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        num_key_value_heads=2,
        max_position_embeddings=131072,
        rms_norm_eps=1e-5,
        # Llama-3.1's rope scaling, so the llama3 rope code path is what runs.
        rope_parameters={
            "rope_type": "llama3",
            "rope_theta": 500000.0,
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 8192,
        },
        initializer_range=INIT_RANGE,
        bos_token_id=tok.id("<|begin_of_text|>"),
        eos_token_id=_llama_eos(tok),
        tie_word_embeddings=False,
    )


def _llava_config(tok: TinyTokenizer) -> LlavaConfig:
    vision = CLIPVisionConfig(
        hidden_size=HIDDEN,
        intermediate_size=INTERMEDIATE,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        image_size=IMAGE_SIZE,
        patch_size=PATCH_SIZE,
        projection_dim=HIDDEN,
    )
    return LlavaConfig(
        text_config=_llama_config(tok),
        vision_config=vision,
        image_token_index=tok.id(IMAGE_TOKEN),
        image_seq_length=IMAGE_TOKENS,
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
        projector_hidden_act="gelu",
        tie_word_embeddings=False,
    )


def _gemma_config(tok: TinyTokenizer) -> Gemma3TextConfig:
    return Gemma3TextConfig(
        vocab_size=tok.vocab_size,
        hidden_size=HIDDEN,
        intermediate_size=INTERMEDIATE,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        num_key_value_heads=1,
        # As in gemma-3-270m, the attention width (heads * head_dim) differs from hidden.
        head_dim=8,
        query_pre_attn_scalar=8,
        layer_types=["sliding_attention", "full_attention"],
        sliding_window=512,
        max_position_embeddings=32768,
        initializer_range=INIT_RANGE,
        pad_token_id=tok.id("<pad>"),
        bos_token_id=tok.id("<bos>"),
        eos_token_id=tok.id("<eos>"),
        tie_word_embeddings=True,
    )


def _write_llava_processor(out_dir: Path) -> None:
    """CLIPImageProcessor + LlavaProcessor files as transformers 4.x saved them."""
    image_processor = {
        "crop_size": {"height": IMAGE_SIZE, "width": IMAGE_SIZE},
        "do_center_crop": True,
        "do_convert_rgb": True,
        "do_normalize": True,
        "do_rescale": True,
        "do_resize": True,
        "image_mean": CLIP_MEAN,
        "image_processor_type": "CLIPImageProcessor",
        "image_std": CLIP_STD,
        "processor_class": "LlavaProcessor",
        "resample": 3,
        "rescale_factor": 1 / 255,
        "size": {"shortest_edge": IMAGE_SIZE},
    }
    # Without patch_size and num_additional_image_tokens=1 (the CLS feature that the
    # "default" strategy drops) the processor would not expand <image> to IMAGE_TOKENS copies
    # and the model would reject the prompt as having the wrong number of image tokens.
    processor = {
        "image_token": IMAGE_TOKEN,
        "num_additional_image_tokens": 1,
        "patch_size": PATCH_SIZE,
        "processor_class": "LlavaProcessor",
        "vision_feature_select_strategy": "default",
    }
    for name, data in (
        ("preprocessor_config.json", image_processor),
        ("processor_config.json", processor),
        ("chat_template.json", {"chat_template": templates.LLAVA}),
    ):
        (out_dir / name).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


FAMILY_SPECS: dict[str, Family] = {
    "mixtral": Family(
        name="mixtral",
        model_class=MixtralForCausalLM,
        tokenizer=mistral_tokenizer,
        config=_mixtral_config,
        generation=lambda tok: {"bos_token_id": tok.id("<s>"), "eos_token_id": tok.id("</s>")},
        hub_state_dict=lambda model: checkpoints.mixtral_hub_state_dict(model.state_dict()),
        shards=2,
    ),
    "llama": Family(
        name="llama",
        model_class=LlamaForCausalLM,
        tokenizer=llama3_tokenizer,
        config=_llama_config,
        generation=lambda tok: {"bos_token_id": tok.id("<|begin_of_text|>"), "eos_token_id": _llama_eos(tok)},
        hub_state_dict=lambda model: checkpoints.plain_state_dict(model.state_dict(), tied_lm_head=False),
    ),
    "llava": Family(
        name="llava",
        model_class=LlavaForConditionalGeneration,
        tokenizer=lambda: llama3_tokenizer(image_token=True),
        config=_llava_config,
        generation=lambda tok: {"bos_token_id": tok.id("<|begin_of_text|>"), "eos_token_id": _llama_eos(tok)},
        hub_state_dict=lambda model: checkpoints.llava_hub_state_dict(model.state_dict()),
        extra_files=_write_llava_processor,
    ),
    "gemma": Family(
        name="gemma",
        model_class=Gemma3ForCausalLM,
        tokenizer=gemma_tokenizer,
        config=_gemma_config,
        generation=lambda tok: {
            "bos_token_id": tok.id("<bos>"),
            "eos_token_id": [tok.id("<eos>"), tok.id("<end_of_turn>")],
            "pad_token_id": tok.id("<pad>"),
        },
        hub_state_dict=lambda model: checkpoints.plain_state_dict(model.state_dict(), tied_lm_head=True),
    ),
}


def random_model(family: Family, tokenizer: TinyTokenizer, seed: int) -> PreTrainedModel:
    """The family's model with seeded random weights, without touching the global RNG."""
    config = family.config(tokenizer)
    config.architectures = [family.model_class.__name__]
    config.dtype = "float32"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = family.model_class(config)
    return model.eval()


def write_model_files(family: Family, tokenizer: TinyTokenizer, model: PreTrainedModel, out_dir: Path) -> None:
    model.config.save_pretrained(out_dir)
    GenerationConfig(**family.generation(tokenizer)).save_pretrained(out_dir)
    checkpoints.write_safetensors(out_dir, family.hub_state_dict(model), shards=family.shards)
    tokenizer.save(out_dir)
    if family.extra_files is not None:
        family.extra_files(out_dir)
