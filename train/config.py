"""Training configs: YAML files read into dataclasses, every option with its help text.

A config has four sections:
- `model`: what to train on (our `ModelSettings`),
- `lora`: which weights the adapter adds or trains (`LoraSettings`),
- `data`: where the conversations come from and how they are mixed (`DataSettings`),
- `training`: `transformers.TrainingArguments`, passed through as written (its own field
  help applies), plus `bf16: auto` ("bf16 where the GPU has it", the default),
  `tf32: auto` ("TF32 where the GPU has it") and `projector_learning_rate` (the LMM
  projector's own learning rate: `TrainingSettings`).

Unknown keys are errors that list the known ones, so a typo never silently falls back
to a default. YAML 1.1 reads `1e-3` as a string; numbers written that way are converted
to the field's type.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from transformers import TrainingArguments

LANGUAGE_CHOICES = ("ar", "en", "auto")
# The Llava projector's module name in transformers (LLaVA's own code calls it mm_projector).
PROJECTOR_MODULE = "multi_modal_projector"


class ConfigError(ValueError):
    """A config file that cannot be used, with the file and key at fault."""


def _help(text: str, **kwargs) -> Any:
    return field(metadata={"help": text}, **kwargs)


@dataclass
class TrainingSettings(TrainingArguments):
    """`transformers.TrainingArguments` (the config's `training` section) plus the projector's
    learning rate (train/trainer.py gives the projector its own parameter groups)."""

    projector_learning_rate: float | None = field(default=None, metadata={"help": (
        "peak learning rate of the multimodal projector (trainable parameters under "
        f"`{PROJECTOR_MODULE}`; LLaVA's --mm_projector_lr), on the same schedule as learning_rate, "
        "which the other trainable parameters (the LoRA matrices) keep; null: the projector trains "
        "at learning_rate too. The projector must be in lora.modules_to_save")})


@dataclass
class ModelSettings:
    base: str = _help("hub id or local directory of the base model (HF layout)")
    prompt_format: str = _help(
        "prompt format the adapter is trained with and served in (engine.formats: vicuna, "
        "llama3_llava, transcript); written next to the adapter as bimedix_chat.json", default="vicuna")
    load_in_4bit: bool = _help(
        "QLoRA: load the base in NF4 through the engine (fused MoE experts included)", default=False)
    system_prompt: str | None = _help(
        "system prompt for samples without one; empty: the prompt format's default", default=None)
    start_from_adapter: str | None = _help(
        "an adapter merged into the base before training (LMM stage 2: stage 1's projector)",
        default=None)


@dataclass
class LoraSettings:
    r: int = _help("LoRA rank", default=128)
    alpha: int = _help("LoRA alpha (the update is scaled by alpha / r)", default=64)
    dropout: float = _help(
        "LoRA dropout; must be 0 when the router or fused experts are targeted (PEFT wraps those "
        "as parameters, where dropout cannot be applied)", default=0.0)
    target_modules: list[str] | str = _help(
        "module names (suffixes) or one regular expression for LoRA; empty: no LoRA layers",
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "gate"])
    target_parameters: list[str] = _help(
        "3-D fused expert parameters for LoRA (PEFT target_parameters), e.g. experts.gate_up_proj",
        default_factory=list)
    modules_to_save: list[str] = _help(
        "modules trained in full and saved with the adapter (e.g. multi_modal_projector)",
        default_factory=list)


@dataclass
class SourceSettings:
    path: str = _help("a JSON/JSONL/Parquet file or glob, or a hub dataset id")
    language: str = _help(
        "ar, en, or auto (a sample's own `language` field, else detected from its text)", default="auto")
    split: str = _help("split of a hub dataset", default="train")
    image_folder: str | None = _help(
        "folder the samples' image paths are relative to (default: data.image_folder)", default=None)
    max_samples: int | None = _help("use only the first N samples of this source", default=None)


@dataclass
class DataSettings:
    sources: list[SourceSettings] = _help("training data: Vicuna/LLaVA `conversations` files")
    eval_sources: list[SourceSettings] = _help(
        "held-out data for periodic eval loss (else eval_fraction of the mixed data)", default_factory=list)
    eval_fraction: float = _help(
        "share of the mixed training data held out for eval loss when no eval_sources", default=0.0)
    image_folder: str | None = _help("folder image paths are relative to (LLaVA's --image_folder)",
                                     default=None)
    language_ratio: dict[str, float] | None = _help(
        "Arabic:English sample ratio after mixing (BiMed1.3M: 1:2); null keeps every sample",
        default_factory=lambda: {"ar": 1.0, "en": 2.0})
    require_images: bool = _help(
        "skip (and report) samples without an image: LMM stage 1 trains only the projector, which "
        "text-only samples cannot teach", default=False)
    seed: int = _help("seed for mixing, sampling and the eval split", default=42)
    max_length: int = _help("tokens per sample; longer samples are truncated", default=2048)
    num_proc: int | None = _help("processes for validation and tokenization (datasets.map)",
                                 default=None)
    cache_dir: str | None = _help("datasets cache folder (default: the datasets library's)", default=None)


@dataclass
class TrainConfig:
    model: ModelSettings
    lora: LoraSettings
    data: DataSettings
    training: TrainingSettings
    path: Path | None = None


def _unwrap_optional(annotation):
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [a for a in args if a is not type(None)]
    return [annotation]


_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def _coerce(value, annotation, where: str):
    """Scalars written as strings ("1e-3") to numbers; nested dataclasses from mappings."""
    options = _unwrap_optional(annotation)
    for option in options:
        if dataclasses.is_dataclass(option) and isinstance(value, dict):
            return build(option, value, where)
        if typing.get_origin(option) is list and isinstance(value, list):
            (item,) = typing.get_args(option) or (Any,)
            if dataclasses.is_dataclass(item):
                return [build(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, str) and _NUMBER.match(value.strip()):
        if int in options:
            return int(float(value))
        if float in options:
            return float(value)
    if isinstance(value, int) and not isinstance(value, bool) and float in options and int not in options:
        return float(value)
    return value


def build(cls, values: dict | None, where: str):
    """An instance of dataclass `cls` from a mapping, with clear errors for bad keys."""
    values = {} if values is None else values
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: expected a mapping of options, got {type(values).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(fields))}")
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # an annotation this Python cannot resolve: keep values as written
        hints = {}
    kwargs = {name: _coerce(value, hints.get(name, Any), f"{where}.{name}") for name, value in values.items()}
    try:
        return cls(**kwargs)
    except TypeError as error:  # a required option is missing
        raise ConfigError(f"{where}: {error}") from None
    except ValueError as error:  # TrainingArguments' own checks
        raise ConfigError(f"{where}: {error}") from None


def _training_arguments(values: dict | None, where: str) -> TrainingSettings:
    values = dict(values or {})
    if not values.get("output_dir"):
        raise ConfigError(f"{where}: output_dir is required (checkpoints and the adapter go there)")
    if values.get("bf16", "auto") == "auto":
        values["bf16"] = bf16_available()
    if values.get("tf32") == "auto":
        values["tf32"] = tf32_available() or None
    # Our datasets carry image paths the collator needs; the model's signature does not name them.
    values["remove_unused_columns"] = False
    values.setdefault("report_to", "none")
    return build(TrainingSettings, values, where)


def bf16_available() -> bool:
    import torch

    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def tf32_available() -> bool:
    import torch

    return torch.cuda.is_available() and torch.cuda.get_device_capability()[0] >= 8


def _check(config: TrainConfig, where: str) -> None:
    from engine.formats import FORMATS

    if config.model.prompt_format not in FORMATS:
        raise ConfigError(f"{where}: model.prompt_format {config.model.prompt_format!r} is not one of "
                          f"{', '.join(FORMATS)}")
    for index, source in enumerate([*config.data.sources, *config.data.eval_sources]):
        if source.language not in LANGUAGE_CHOICES:
            raise ConfigError(f"{where}: data source {source.path!r} has language {source.language!r}; "
                              f"expected one of {', '.join(LANGUAGE_CHOICES)}")
    if not config.data.sources:
        raise ConfigError(f"{where}: data.sources is empty; name at least one training file")
    ratio = config.data.language_ratio
    if ratio is not None and (set(ratio) != {"ar", "en"} or min(ratio.values()) < 0 or sum(ratio.values()) <= 0):
        raise ConfigError(f"{where}: data.language_ratio must give non-negative weights for ar and en, "
                          f"e.g. {{ar: 1, en: 2}}; got {ratio!r}")
    lora = config.lora
    _check_projector_learning_rate(config.training.projector_learning_rate, lora, where)
    wraps_parameters = bool(lora.target_parameters) or (
        isinstance(lora.target_modules, list) and "gate" in lora.target_modules)
    if lora.dropout and wraps_parameters:
        raise ConfigError(f"{where}: lora.dropout must be 0 when the router (`gate`) or fused experts are "
                          "targeted: PEFT adapts them as parameters, where dropout cannot apply")


def _check_projector_learning_rate(learning_rate: float | None, lora: LoraSettings, where: str) -> None:
    if learning_rate is None:
        return
    if not isinstance(learning_rate, float) or learning_rate <= 0:
        raise ConfigError(f"{where}: training.projector_learning_rate must be a positive number or null; "
                          f"got {learning_rate!r}")
    if not any(PROJECTOR_MODULE in name for name in lora.modules_to_save):
        raise ConfigError(f"{where}: training.projector_learning_rate is set but the projector does not train: "
                          f"add {PROJECTOR_MODULE} to lora.modules_to_save, or remove projector_learning_rate")


def load_config(path: str | Path) -> TrainConfig:
    """Read and check a training config file."""
    path = Path(path)
    where = str(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"{where}: cannot read the config: {error}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected sections model, lora, data, training")
    unknown = sorted(set(raw) - {"model", "lora", "data", "training"})
    if unknown:
        raise ConfigError(f"{where}: unknown section(s) {', '.join(unknown)}; known: data, lora, model, training")
    config = TrainConfig(
        model=build(ModelSettings, raw.get("model"), f"{where}: model"),
        lora=build(LoraSettings, raw.get("lora"), f"{where}: lora"),
        data=build(DataSettings, raw.get("data"), f"{where}: data"),
        training=_training_arguments(raw.get("training"), f"{where}: training"),
        path=path,
    )
    _check(config, where)
    return config

