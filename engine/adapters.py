"""PEFT adapters on a loaded base model: load several, list them, switch without reloading.

The base weights stay in memory once; PEFT keeps every adapter's small matrices beside
them and `set_adapter` chooses which ones take part in the forward pass. "No adapter"
is served by disabling the adapter layers, which gives the base model's exact outputs.

Which adapter a reply uses is an argument of that reply (engine/reply.py), never state
shared between conversations: `default` is what a new conversation starts with (fixed
once the model is loaded), and `current` is only what the weights hold right now, which
the token worker (engine/backend.py) switches per reply under the model's lock.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

# An adapter directory may name the prompt format it was trained with (train/ writes it).
ADAPTER_META_FILE = "bimedix_chat.json"


def adapter_prompt_format(path: str | Path) -> str | None:
    meta = Path(path) / ADAPTER_META_FILE
    if meta.exists():
        return json.loads(meta.read_text()).get("prompt_format")
    return None


def adapter_config(path: str | Path, model):
    """The adapter's PEFT config, set up for this base model.

    Adapters on fused MoE experts (`target_parameters`, as train/ writes for Mixtral) need
    engine.experts_lora's wrapper when the experts are 4-bit.
    """
    from peft import PeftConfig

    config = PeftConfig.from_pretrained(str(path))
    config.inference_mode = True
    if getattr(config, "target_parameters", None):
        from engine.experts_lora import has_4bit_experts, register_4bit_experts

        if has_4bit_experts(model):
            register_4bit_experts(config)
    return config


def adapter_name(path: str | Path, taken: list[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(path).resolve().name) or "adapter"
    name, index = base, 2
    while name in taken:
        name, index = f"{base}_{index}", index + 1
    return name


class AdapterSet:
    """The model to generate with, plus the adapters it can switch between."""

    def __init__(self, base_model):
        self._base = base_model
        self._peft = None
        self.default: str | None = None  # the last adapter loaded, as `--adapter A --adapter B` means
        self._current: str | None = None

    @property
    def current(self) -> str | None:
        """The adapter in the weights right now (None: the bare base model)."""
        return self._current

    @property
    def model(self):
        return self._peft if self._peft is not None else self._base

    def names(self) -> list[str]:
        return list(self._peft.peft_config) if self._peft is not None else []

    def load(self, path: str | Path, name: str | None = None) -> str:
        """Load an adapter directory and make it the default; returns its name."""
        from peft import PeftModel

        if not (Path(path) / "adapter_config.json").exists():
            raise FileNotFoundError(f"{path} is not a PEFT adapter directory (no adapter_config.json)")
        name = name or adapter_name(path, self.names())
        config = adapter_config(path, self._base)
        if self._peft is None:
            self._peft = PeftModel.from_pretrained(self._base, str(path), adapter_name=name, config=config)
            self._peft.eval()
        else:
            # load_adapter reads the config from disk, which would lose the 4-bit experts hook:
            # add the adapter with our config first, then load only its weights.
            self._peft.add_adapter(name, config)
            self._peft.load_adapter(str(path), adapter_name=name)
        self.activate(name)
        self.default = name
        return name

    def activate(self, name: str | None) -> None:
        """Switch the weights to adapter `name`, or to the bare base model with None.
        Only for whoever holds the model for a forward pass (the token worker, a trainer)."""
        if name is None:
            if self._peft is not None:
                self._peft.base_model.disable_adapter_layers()
            self._current = None
            return
        if name not in self.names():
            raise KeyError(f"no adapter named {name!r}; loaded: {', '.join(self.names()) or 'none'}")
        self._peft.base_model.enable_adapter_layers()
        self._peft.set_adapter(name)
        self._current = name
