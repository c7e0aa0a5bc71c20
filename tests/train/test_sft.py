"""QLoRA SFT end to end on CPU: a tiny Mixtral loaded 4-bit through the engine trains on the
bilingual fixture, resumes from its checkpoint, and the saved adapter changes what the engine
generates."""

from __future__ import annotations

import json

import pytest
from transformers import TrainerCallback
from typer.testing import CliRunner

from engine.quantization import Experts4bit, is_4bit_everywhere
from tests.train.conftest import FIXTURES, changed_tensors, greedy_reply, quick_training, state_snapshot
from train.config import ConfigError, load_config
from train.pipeline import prepare_run, train_and_save


class Interrupt(TrainerCallback):
    def __init__(self, at_step: int):
        self.at_step = at_step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.at_step:
            control.should_training_stop = True


class StepRecorder(TrainerCallback):
    def __init__(self):
        self.seen = []

    def on_step_end(self, args, state, control, **kwargs):
        self.seen.append(state.global_step)


def _sft_config(base, output_dir, **training):
    return {
        "model": {"base": str(base), "prompt_format": "vicuna", "load_in_4bit": True},
        "lora": {"r": 8, "alpha": 16, "target_modules": ["q_proj", "k_proj", "v_proj", "gate"],
                 "target_parameters": ["experts.gate_up_proj", "experts.down_proj"]},
        "data": {"sources": [{"path": str(FIXTURES / "sft_en.jsonl"), "language": "en"},
                             {"path": str(FIXTURES / "sft_ar.json")}],
                 "language_ratio": {"ar": 1, "en": 2}, "max_length": 160,
                 "eval_sources": [{"path": str(FIXTURES / "sft_ar.json"), "max_samples": 1}],
                 "cache_dir": str(output_dir.parent / "datasets-cache")},
        "training": quick_training(output_dir, **{"train_sampling_strategy": "group_by_length",
                                                  "activation_checkpointing": True,
                                                  "activation_checkpointing_kwargs": {"use_reentrant": False},
                                                  **training}),
    }


@pytest.fixture(scope="module")
def mixtral_dir(tiny_dirs):
    return tiny_dirs("mixtral")


def test_qlora_trains_only_the_adapter_resumes_and_serves(mixtral_dir, tmp_path, write_config):
    output = tmp_path / "adapter"
    config = write_config("sft", _sft_config(mixtral_dir, output, max_steps=10, save_strategy="steps", save_steps=5,
                                             eval_strategy="steps", eval_steps=5))
    prepared = prepare_run(load_config(config), multimodal=False)
    assert prepared.data.mix.used == {"ar": 2, "en": 4}
    for row in prepared.data.train:
        assert all(label in (-100, token) for token, label in zip(row["input_ids"], row["labels"]))
    model = prepared.trainer.model
    experts = [m for m in model.modules() if isinstance(m, Experts4bit)]
    assert len(experts) == 2 and is_4bit_everywhere(model) == []  # the experts train as NF4 codes
    before = state_snapshot(model)
    loss_before = prepared.trainer.evaluate(prepared.data.train)["eval_loss"]
    prepared.trainer.add_callback(Interrupt(at_step=5))
    train_and_save(prepared)  # stops after step 5, as a killed job would, with checkpoint-5 saved
    assert (output / "checkpoint-5" / "adapter_model.safetensors").exists()
    assert json.loads((output / "checkpoint-5" / "bimedix_chat.json").read_text())["prompt_format"] == "vicuna"

    # The same command again resumes from the checkpoint (optimizer, schedule and step included).
    resumed = prepare_run(load_config(config), multimodal=False)
    steps = StepRecorder()
    resumed.trainer.add_callback(steps)
    result = train_and_save(resumed, resume="last")
    assert steps.seen == list(range(6, 11))
    assert sum("eval_loss" in entry for entry in result.log_history) >= 2  # periodic eval loss
    loss_after = resumed.trainer.evaluate(resumed.data.train)["eval_loss"]
    print(f"\nQLoRA tiny Mixtral train loss {loss_before:.4f} -> {loss_after:.4f}")
    assert loss_after < loss_before - 0.05

    changed = changed_tensors(before, state_snapshot(resumed.trainer.model))
    assert changed and all("lora_" in name for name in changed)
    for part in (".q_proj.", ".v_proj.", ".mlp.gate.", ".mlp.experts.lora_B", ".mlp.experts.base_layer.lora_B"):
        assert any(part in name for name in changed), part

    meta = json.loads((output / "bimedix_chat.json").read_text())
    assert meta == {"prompt_format": "vicuna", "base_model": str(mixtral_dir)}
    _assert_engine_serves(mixtral_dir, output)


def _assert_engine_serves(base, adapter):
    from engine.loading import load_model

    question = "What are the symptoms of asthma?"
    for four_bit in (True, False):
        loaded = load_model(str(base), adapters=[str(adapter)], load_in_4bit=four_bit, device="cpu")
        assert loaded.prompt_format.name == "vicuna"
        tuned = greedy_reply(loaded, question)
        loaded.adapters.activate(None)
        assert greedy_reply(loaded, question) != tuned


def test_the_command_line_checks_data_and_reports_bad_samples(mixtral_dir, tmp_path, write_config):
    from train.sft import app

    good = write_config("good", _sft_config(mixtral_dir, tmp_path / "out"))
    result = CliRunner().invoke(app, ["--config", str(good), "--check-data"])
    assert result.exit_code == 0, result.output
    assert "ar: 2 of 2, en: 4 of 4" in result.output and "training samples: 6" in result.output

    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"conversations": [{"from": "human", "value": "Hi"}]}\n', encoding="utf-8")
    data = _sft_config(mixtral_dir, tmp_path / "out")
    data["data"]["sources"] = [{"path": str(broken), "language": "en"}]
    result = CliRunner().invoke(app, ["--config", str(write_config("bad", data))])
    assert result.exit_code == 2
    assert f"{broken}: sample 0: missing turns" in result.output
    assert not (tmp_path / "out").exists()  # nothing trained, nothing written


def test_images_are_refused_for_a_text_model(mixtral_dir, tmp_path, write_config):
    from train.data import DataError

    data = _sft_config(mixtral_dir, tmp_path / "out")
    data["data"].update(sources=[{"path": str(FIXTURES / "lmm.json")}], image_folder=str(FIXTURES / "images"),
                        language_ratio=None)
    with pytest.raises(DataError, match="reads text only"):
        prepare_run(load_config(write_config("images", data)), multimodal=False)
    assert not (tmp_path / "out").exists()


def test_4bit_training_refuses_sharding_launchers(mixtral_dir, tmp_path, write_config, monkeypatch):
    from train.models import load_base

    config = load_config(write_config("sft", _sft_config(mixtral_dir, tmp_path / "out")))
    for variables in ({"ACCELERATE_USE_FSDP": "true"},
                      {"ACCELERATE_USE_DEEPSPEED": "true", "ACCELERATE_DEEPSPEED_ZERO_STAGE": "3"}):
        with monkeypatch.context() as patch:
            for name, value in variables.items():
                patch.setenv(name, value)
            with pytest.raises(ConfigError, match="accelerate_ddp.yaml"):
                load_base(config.model, config.training, multimodal=False)
