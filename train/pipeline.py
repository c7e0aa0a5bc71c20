"""One training run, shared by train.sft and train.lmm: data first, then the model, then Trainer.

Order matters for people's time: every sample is validated and tokenized before any
weights load, so a broken file fails in seconds, not after a 26 GB load.

The loop is `transformers.Trainer`: it already does what the papers' runs need and what
we would otherwise hand-write and test ourselves (gradient accumulation, cosine schedule
with warmup, bf16 autocast, gradient checkpointing, periodic eval loss, tqdm progress,
checkpoints with optimizer/scheduler/RNG state and exact resume, and DDP / DeepSpeed /
FSDP through accelerate). With a PEFT model it saves only the adapter. The one addition,
the LMM projector's own learning rate, is `train.trainer`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from datasets import Dataset

from engine.adapters import ADAPTER_META_FILE
from engine.formats import get_format
from train.collate import Collator, pad_token_id
from train.config import ConfigError, DataSettings, ModelSettings, TrainConfig
from train.data import DataError, prepare_source
from train.masking import SkipReport, encode_dataset
from train.mixing import MixReport, mix, split_eval
from train.models import TextSide, build_model, load_text_side

log = logging.getLogger(__name__)


@dataclass
class PreparedData:
    train: Dataset
    eval: Dataset | None
    mix: MixReport
    skipped: SkipReport
    eval_skipped: SkipReport | None = None


@dataclass
class RunResult:
    output_dir: Path
    data: PreparedData
    log_history: list[dict]
    model: object  # the trained PeftModel, for callers that keep going in-process (tests)


def prepare_data(data: DataSettings, settings: ModelSettings, multimodal: bool) -> tuple[PreparedData, TextSide]:
    """Validate every source, mix the languages, hold out eval data, then tokenize.

    The samples are checked before even the tokenizer loads, so bad data fails first and fast.
    """
    def validated(sources):
        return [prepare_source(source, data.image_folder, multimodal, data.cache_dir, data.num_proc)
                for source in sources]

    mixed, report = mix(validated(data.sources), data.language_ratio, data.seed)
    if data.eval_sources:
        train_rows, eval_rows = mixed, mix(validated(data.eval_sources), None, data.seed)[0]
    else:
        train_rows, eval_rows = split_eval(mixed, data.eval_fraction, data.seed)
    text = load_text_side(settings, multimodal)
    fmt = get_format(settings.prompt_format)

    def encoded(rows):
        return encode_dataset(rows, text.tokenizer, fmt, data.max_length, text.image_tokens,
                              settings.system_prompt or None, data.num_proc, data.require_images)

    train, skipped = encoded(train_rows)
    if len(train) == 0:
        raise DataError(f"no training sample is left after tokenization ({skipped})")
    evaluation, eval_skipped = encoded(eval_rows) if eval_rows is not None else (None, None)
    return PreparedData(train, evaluation, report, skipped, eval_skipped), text


def write_adapter_meta(directory: Path, prompt_format: str, base: str) -> None:
    """The engine reads `prompt_format` from here to serve the adapter in its training format."""
    meta = {"prompt_format": prompt_format, "base_model": base}
    (Path(directory) / ADAPTER_META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def _meta_callback(prompt_format: str, base: str):
    from transformers import TrainerCallback

    class AdapterMeta(TrainerCallback):
        """Every checkpoint is an adapter the engine can serve in the right format."""

        def on_save(self, args, state, control, **kwargs):
            checkpoint = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if state.is_world_process_zero and checkpoint.is_dir():
                write_adapter_meta(checkpoint, prompt_format, base)

    return AdapterMeta()


def resolve_resume(resume, output_dir: str):
    """True/"last": the newest checkpoint in output_dir, or a fresh start when there is none."""
    from transformers.trainer_utils import get_last_checkpoint

    if resume in (None, False, "", "false", "False"):
        return None
    if resume is True or str(resume).lower() in ("true", "last"):
        last = get_last_checkpoint(output_dir) if Path(output_dir).is_dir() else None
        if last is None:
            log.info("no checkpoint in %s yet: starting from the beginning", output_dir)
        return last
    if not Path(resume).is_dir():
        raise ConfigError(f"resume_from_checkpoint: {resume} is not a checkpoint directory")
    return str(resume)


@dataclass
class PreparedRun:
    config: TrainConfig
    data: PreparedData
    trainer: object  # train.trainer.ProjectorLrTrainer, model and data in place, not yet trained


def prepare_run(config: TrainConfig, multimodal: bool) -> PreparedRun:
    """Data validated and tokenized, model built, Trainer ready."""
    from train.trainer import ProjectorLrTrainer

    args, settings = config.training, config.model
    data, text = prepare_data(config.data, settings, multimodal)
    log.info("%s; %d training and %d eval samples; %s", data.mix, len(data.train),
             len(data.eval) if data.eval is not None else 0, data.skipped)
    model = build_model(settings, config.lora, args, multimodal)
    collator = Collator(pad_token_id(text.tokenizer), text.image_processor, _vision_dtype(model) or torch.float32)
    trainer = ProjectorLrTrainer(model=model, args=args, train_dataset=data.train, eval_dataset=data.eval,
                                 data_collator=collator,
                                 callbacks=[_meta_callback(settings.prompt_format, settings.base)])
    return PreparedRun(config, data, trainer)


def train_and_save(prepared: PreparedRun, resume=None) -> RunResult:
    """Train (resuming if asked), report the final eval loss, save the adapter and its format."""
    trainer, args, settings = prepared.trainer, prepared.config.training, prepared.config.model
    trainer.train(resume_from_checkpoint=resolve_resume(resume or args.resume_from_checkpoint, args.output_dir))
    if prepared.data.eval is not None:
        trainer.evaluate()
    if getattr(trainer, "is_fsdp_enabled", False):
        # A sharded state dict would save each process's shard; the adapter must be whole.
        trainer.accelerator.state.fsdp_plugin.set_state_dict_type("FULL_STATE_DICT")
    trainer.save_model(args.output_dir)
    if trainer.is_world_process_zero():
        write_adapter_meta(Path(args.output_dir), settings.prompt_format, settings.base)
    return RunResult(Path(args.output_dir), prepared.data, trainer.state.log_history, trainer.model)


def run(config: TrainConfig, multimodal: bool, resume=None) -> RunResult:
    """Prepare the data, build the model, train, and save the adapter with its prompt format."""
    return train_and_save(prepare_run(config, multimodal), resume)


def _vision_dtype(model):
    for name, parameter in model.named_parameters():
        if "vision_tower" in name:
            return parameter.dtype
    return None
