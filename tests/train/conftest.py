"""Helpers for the end-to-end training tests: configs written as the CLI reads them, and
state snapshots to tell which weights training changed."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models gain nothing from intra-op threads, and on a shared machine the threads
    wait on each other: one thread runs these tests several times faster."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def write_config(tmp_path):
    """Write a training config (dict) as YAML; returns its path."""
    def write(name: str, data: dict) -> Path:
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        return path

    return write


def quick_training(output_dir: Path, **overrides) -> dict:
    """TrainingArguments for a few CPU steps: fast, quiet, deterministic."""
    return {"output_dir": str(output_dir), "max_steps": 10, "per_device_train_batch_size": 2,
            "per_device_eval_batch_size": 2, "learning_rate": 2.0e-2, "lr_scheduler_type": "cosine",
            "warmup_steps": 0.1, "logging_steps": 1, "save_strategy": "no", "use_cpu": True,
            "disable_tqdm": True, "seed": 0, "dataloader_pin_memory": False, **overrides}


def state_snapshot(model) -> dict[str, torch.Tensor]:
    """Every parameter and buffer by name, copied."""
    tensors = dict(model.named_parameters())
    tensors.update(dict(model.named_buffers()))
    return {name: tensor.detach().clone() for name, tensor in tensors.items()}


def changed_tensors(before: dict, after: dict) -> set[str]:
    assert before.keys() == after.keys()
    return {name for name in before if not torch.equal(before[name], after[name])}


def greedy_reply(loaded, text: str, images: tuple = (), new_tokens: int = 8) -> list[int]:
    """Greedy token ids the engine's loaded model produces for one user message."""
    from engine.encoding import encode_prompt
    from engine.messages import Message

    prompt = loaded.prompt_format.render([Message("user", text, images)])
    ids = encode_prompt(loaded.tokenizer, prompt).input_ids
    extra = {}
    if loaded.vision is not None:
        ids = loaded.vision.expand(ids)
        extra = loaded.vision.model_inputs(list(images), loaded.model)
    tensor = torch.tensor([ids])
    with torch.no_grad():
        out = loaded.model.generate(tensor, attention_mask=torch.ones_like(tensor), do_sample=False,
                                    max_new_tokens=new_tokens, min_new_tokens=new_tokens, **extra)
    return out[0, len(ids):].tolist()
