"""The model to train: the base loaded the way the engine serves it, with a PEFT adapter on top.

- 4-bit (QLoRA) loads go through `engine.quantization.load_causal_lm_4bit`, so Mixtral's fused
  experts really are NF4 (`Experts4bit`), with the router kept in full precision; then
  `peft.prepare_model_for_kbit_training` freezes the base and upcasts the small
  full-precision weights, as QLoRA prescribes.
- LoRA on fused experts is PEFT's `target_parameters`; on 4-bit experts PEFT is pointed at
  `engine.experts_lora`, whose adapter files are PEFT's own (they load on a 16-bit base too).
- A Llava loads with its processor; the image placeholder is protected as the engine does.
- Modules trained in full (the projector) are PEFT `modules_to_save`, so both LMM stages
  are adapter directories the engine can load, and checkpoints hold only what trains.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from train.config import ConfigError, LoraSettings, ModelSettings
from train.masking import ImageTokens

log = logging.getLogger(__name__)


@dataclass
class TextSide:
    """What turns samples into tokens (and images into pixels); needs no weights."""

    tokenizer: object
    image_tokens: ImageTokens | None = None
    image_processor: object | None = None


def load_text_side(settings: ModelSettings, multimodal: bool) -> TextSide:
    from engine.loading import load_processor, load_tokenizer

    if not multimodal:
        return TextSide(load_tokenizer(settings.base))
    from transformers import AutoConfig

    from engine.vision import vision_inputs_for

    processor = load_processor(settings.base)
    config = AutoConfig.from_pretrained(settings.base)
    if getattr(config, "model_type", "") != "llava":
        raise ConfigError(f"{settings.base} is a {config.model_type!r} model; train.lmm trains Llava models")
    vision = vision_inputs_for(processor, config)  # also protects the image placeholder token
    return TextSide(processor.tokenizer, ImageTokens(vision.image_token_id, vision.tokens_per_image),
                    processor.image_processor)


def compute_dtype(training_args) -> torch.dtype:
    if training_args.bf16:
        return torch.bfloat16
    if training_args.fp16:
        return torch.float16
    return torch.float32


def sharded_training(training_args) -> bool:
    """DeepSpeed ZeRO-3 or FSDP, set in the training args or by `accelerate launch`'s environment."""
    import os

    from transformers.integrations import is_deepspeed_zero3_enabled

    def env_true(name: str) -> bool:
        return os.environ.get(name, "false").lower() in ("1", "true")

    zero3_launch = env_true("ACCELERATE_USE_DEEPSPEED") and os.environ.get("ACCELERATE_DEEPSPEED_ZERO_STAGE") == "3"
    return bool(is_deepspeed_zero3_enabled() or training_args.fsdp or env_true("ACCELERATE_USE_FSDP") or zero3_launch)


def _device_map() -> dict:
    # One full copy per process (data parallel): each process's own GPU.
    if torch.cuda.is_available():
        from accelerate import PartialState

        return {"": PartialState().local_process_index}
    return {"": "cpu"}


def load_base(settings: ModelSettings, training_args, multimodal: bool):
    from transformers import AutoModelForCausalLM, LlavaForConditionalGeneration

    model_class = LlavaForConditionalGeneration if multimodal else AutoModelForCausalLM
    dtype = compute_dtype(training_args)
    if settings.load_in_4bit:
        if sharded_training(training_args):
            raise ConfigError("4-bit (QLoRA) training runs data-parallel (one 4-bit copy per GPU): the packed "
                             "4-bit experts cannot be sharded by DeepSpeed ZeRO-3 or FSDP. Launch with "
                             "train/configs/accelerate_ddp.yaml, or train a 16-bit base under ZeRO-3/FSDP")
        from engine.quantization import build_bnb_config, load_causal_lm_4bit
        from engine.vision import VISION_MODULES

        config = build_bnb_config(dtype, keep_full_precision=VISION_MODULES if multimodal else ())
        return load_causal_lm_4bit(settings.base, model_class=model_class, quantization_config=config,
                                   device_map=_device_map(), dtype=dtype)
    return model_class.from_pretrained(settings.base, dtype=dtype)


def lora_config(settings: LoraSettings):
    from peft import LoraConfig
    from peft.utils.constants import DUMMY_TARGET_MODULES

    targets = settings.target_modules
    if not targets and not settings.target_parameters:
        # Only modules_to_save train (LMM stage 1: the projector); PEFT's placeholder says so.
        targets = DUMMY_TARGET_MODULES
    return LoraConfig(
        r=settings.r, lora_alpha=settings.alpha, lora_dropout=settings.dropout, bias="none",
        target_modules=targets, target_parameters=settings.target_parameters or None,
        modules_to_save=settings.modules_to_save or None, task_type="CAUSAL_LM")


def _merge_start_adapter(model, path: str):
    """Fold a previous stage's adapter into the base (its projector copy replaces the base's)."""
    from peft import PeftModel

    from engine.adapters import adapter_config

    log.info("starting from adapter %s", path)
    merged = PeftModel.from_pretrained(model, path, config=adapter_config(path, model))
    return merged.merge_and_unload()


def add_adapter(model, settings: LoraSettings, training_args, quantized: bool):
    from peft import get_peft_model, prepare_model_for_kbit_training

    from engine.experts_lora import has_4bit_experts, register_4bit_experts

    if quantized:
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=bool(training_args.activation_checkpointing),
            gradient_checkpointing_kwargs=training_args.activation_checkpointing_kwargs)
    config = lora_config(settings)
    if settings.target_parameters and has_4bit_experts(model):
        register_4bit_experts(config)
    sharded = sharded_training(training_args)
    # Mixed precision keeps the weights being trained in float32 (bf16 autocast computes). ZeRO-3
    # and FSDP manage that themselves and need one dtype per shard unit: leave them alone there.
    model = get_peft_model(model, config, autocast_adapter_dtype=not sharded)
    if not sharded:
        for parameter in model.parameters():
            if parameter.requires_grad and parameter.dtype in (torch.float16, torch.bfloat16):
                parameter.data = parameter.data.float()  # e.g. the projector copy in modules_to_save
    trainable, total = model.get_nb_trainable_parameters()
    log.info("trainable parameters: %d of %d (%.3f%%)", trainable, total, 100 * trainable / max(total, 1))
    return model


def build_model(settings: ModelSettings, lora: LoraSettings, training_args, multimodal: bool):
    """The base (16-bit or 4-bit), a previous stage merged in if asked, and the new adapter."""
    model = load_base(settings, training_args, multimodal)
    if settings.start_from_adapter:
        model = _merge_start_adapter(model, settings.start_from_adapter)
    # No KV cache while training (gradient checkpointing refuses it); a Llava keeps it in its text config.
    model.config.use_cache = False
    model.config.get_text_config().use_cache = False
    return add_adapter(model, lora, training_args, settings.load_in_4bit)
