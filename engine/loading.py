"""Loading a model card: weights (16-bit or 4-bit), tokenizer, prompt format, adapters."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import torch

from engine.adapters import AdapterSet, adapter_prompt_format
from engine.cards import ModelCard, resolve_card
from engine.formats import PromptFormat, chat_template_format, get_format
from engine.vision import VISION_MODULES, VisionInputs, vision_inputs_for

log = logging.getLogger(__name__)


GPU_REPLY_TOKENS, CPU_REPLY_TOKENS = 512, 128


@dataclass
class LoadedModel:
    card: ModelCard
    tokenizer: object
    prompt_format: PromptFormat
    adapters: AdapterSet
    context_window: int
    load_in_4bit: bool
    vision: VisionInputs | None = None  # set for models that read images
    key: str = ""  # how generation requests name this model (engine/backend.py)
    engine = "transformers"  # what runs it (engine/engines.py)

    def __post_init__(self) -> None:
        from engine.backend import register

        if not self.key:
            self.key = register(self, self.card.name)
        # Computed once: every reply needs them.
        self._stop_token_ids = self._find_stop_token_ids()

    @property
    def model(self):
        return self.adapters.model

    @property
    def default_adapter(self) -> str | None:
        """The adapter a new conversation starts with (None: the bare base model)."""
        return self.adapters.default

    @property
    def stop_token_ids(self) -> tuple[int, ...]:
        return self._stop_token_ids

    @property
    def default_reply_tokens(self) -> int:
        """A reply length that answers in reasonable time on this model's device: 512
        tokens on a GPU; on a CPU that is a minute or more, so 128."""
        device = getattr(self.model, "device", None)
        return GPU_REPLY_TOKENS if getattr(device, "type", "cpu") == "cuda" else CPU_REPLY_TOKENS

    def _find_stop_token_ids(self) -> tuple[int, ...]:
        """EOS ids from the generation config plus every stop string that is one token."""
        eos = self.adapters.model.generation_config.eos_token_id
        ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        if self.tokenizer.eos_token_id is not None:
            ids.add(self.tokenizer.eos_token_id)
        for stop in self.prompt_format.stop_strings:
            token = self.tokenizer.convert_tokens_to_ids(stop)
            if token is not None and token != self.tokenizer.unk_token_id and stop in self.tokenizer.get_vocab():
                ids.add(token)
        return tuple(sorted(ids))


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def default_dtype(device: str) -> torch.dtype:
    # CPUs without bf16 units run float32 much faster; GPUs run bf16.
    return torch.bfloat16 if device.startswith("cuda") else torch.float32


def weights_location(card: ModelCard) -> str:
    if card.family == "preview":
        from engine.preview import ensure_preview_checkpoint

        return str(ensure_preview_checkpoint())
    return card.weights


def load_model(
    card: ModelCard | str,
    adapters: Sequence[str] = (),
    load_in_4bit: bool | None = None,
    device: str | None = None,
    prompt_format: str | None = None,
) -> LoadedModel:
    """Load a card (or a card name / local path) with optional PEFT adapters."""
    card = resolve_card(card, prompt_format) if isinstance(card, str) else card
    device = device or default_device()
    quantize = card.load_in_4bit if load_in_4bit is None else load_in_4bit
    location = weights_location(card)
    multimodal = card.family == "llava"
    processor = load_processor(location) if multimodal else None
    tokenizer = processor.tokenizer if processor is not None else load_tokenizer(location)
    model = _load_weights(location, quantize, device, multimodal)
    model.eval()
    adapter_set = AdapterSet(model)
    for path in adapters:
        adapter_set.load(path)
    fmt_name = prompt_format or (adapter_prompt_format(adapters[-1]) if adapters else None) or card.prompt_format
    fmt = chat_template_format(tokenizer) if fmt_name == "chat_template" else get_format(fmt_name)
    config = model.config.get_text_config() if multimodal else model.config
    window = getattr(config, "max_position_embeddings", None) or 4096
    if card.context_window:
        window = min(window, card.context_window)
    vision = vision_inputs_for(processor, model.config) if multimodal else None
    return LoadedModel(card, tokenizer, fmt, adapter_set, window, quantize, vision)


def load_processor(location: str):
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(location)


def load_tokenizer(location: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(location)


def _load_weights(location: str, quantize: bool, device: str, multimodal: bool = False):
    from transformers import AutoModelForCausalLM, LlavaForConditionalGeneration

    model_class = LlavaForConditionalGeneration if multimodal else AutoModelForCausalLM
    if quantize:
        from engine.quantization import build_bnb_config, load_causal_lm_4bit

        config = build_bnb_config(keep_full_precision=VISION_MODULES if multimodal else ())
        # Modules left unquantized (vision tower, projector, norms) load in the device's dtype:
        # bf16 on GPUs, float32 on CPUs.
        return load_causal_lm_4bit(location, model_class=model_class, quantization_config=config,
                                   device_map=device, dtype=default_dtype(device))
    model = model_class.from_pretrained(location, dtype=default_dtype(device))
    return model.to(device)
