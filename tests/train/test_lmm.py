"""Two-stage LMM training end to end on CPU with a tiny Llava: stage 1 trains only the projector,
stage 2 starts from it and adds LoRA on the language model; both adapters load in the engine and
change what it says about an image."""

from __future__ import annotations

import json

import pytest
import torch

from engine.images import load_image
from tests.train.conftest import FIXTURES, changed_tensors, greedy_reply, quick_training, state_snapshot
from train.config import load_config
from train.pipeline import prepare_run, train_and_save

IMAGE = FIXTURES / "images" / "chest.png"
LANGUAGE_MODEL_LINEARS = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"


def _lmm_config(base, output_dir, lora: dict, **extra) -> dict:
    model = {"base": str(base), "prompt_format": "llama3_llava", **extra.pop("model", {})}
    return {
        "model": model,
        "lora": lora,
        "data": {"sources": [{"path": str(FIXTURES / "lmm.json")}], "image_folder": str(FIXTURES / "images"),
                 "language_ratio": None, "max_length": 256, "cache_dir": str(output_dir.parent / "datasets-cache"),
                 **extra.pop("data", {})},
        "training": quick_training(output_dir, **extra.pop("training", {})),
    }


def _projector(model, copy: str) -> dict[str, torch.Tensor]:
    """The projector's weights: PEFT's trained copy ("modules_to_save") or the base's ("original_module")."""
    return {name.split(f"{copy}.")[-1].removeprefix("default."): tensor.detach().clone()
            for name, tensor in model.named_parameters() if "multi_modal_projector" in name and copy in name}


def _train(config_path):
    prepared = prepare_run(load_config(config_path), multimodal=True)
    before = state_snapshot(prepared.trainer.model)
    loss_before = prepared.trainer.evaluate(prepared.data.train)["eval_loss"]
    result = train_and_save(prepared)
    loss_after = prepared.trainer.evaluate(prepared.data.train)["eval_loss"]
    return prepared, result, loss_before, loss_after, changed_tensors(before, state_snapshot(result.model))


def _assert_engine_image_replies_change(base, adapter):
    from engine.loading import load_model

    loaded = load_model(str(base), adapters=[str(adapter)], device="cpu")
    assert loaded.prompt_format.name == "llama3_llava" and loaded.vision is not None
    picture = load_image(IMAGE).image
    tuned = greedy_reply(loaded, "What does this chest X-ray show?", (picture,))
    loaded.adapters.activate(None)
    assert greedy_reply(loaded, "What does this chest X-ray show?", (picture,)) != tuned


@pytest.fixture(scope="module")
def llava_dir(tiny_dirs):
    return tiny_dirs("llava")


def test_stage1_trains_the_projector_and_stage2_starts_from_it(llava_dir, tmp_path, write_config):
    stage1_dir, stage2_dir = tmp_path / "stage1", tmp_path / "stage2"
    stage1 = write_config("stage1", _lmm_config(
        llava_dir, stage1_dir, {"target_modules": [], "modules_to_save": ["multi_modal_projector"]},
        data={"require_images": True}, training={"learning_rate": 5.0e-2, "max_steps": 8}))
    prepared, result, before, after, changed = _train(stage1)
    print(f"\nstage 1 (projector) tiny Llava train loss {before:.4f} -> {after:.4f}")
    assert after < before
    assert prepared.data.skipped.count == 1 and "no image" in prepared.data.skipped.samples[0][2]
    assert changed and all("multi_modal_projector.modules_to_save" in name for name in changed)
    assert json.loads((stage1_dir / "bimedix_chat.json").read_text())["prompt_format"] == "llama3_llava"
    _assert_engine_image_replies_change(llava_dir, stage1_dir)
    trained_projector = _projector(result.model, "modules_to_save")

    stage2 = write_config("stage2", _lmm_config(
        llava_dir, stage2_dir,
        {"r": 8, "alpha": 16, "target_modules": LANGUAGE_MODEL_LINEARS, "modules_to_save": ["multi_modal_projector"]},
        model={"start_from_adapter": str(stage1_dir)},
        training={"learning_rate": 2.0e-2, "max_steps": 8, "activation_checkpointing": True,
                  "activation_checkpointing_kwargs": {"use_reentrant": False}}))
    prepared = prepare_run(load_config(stage2), multimodal=True)
    starting_projector = _projector(prepared.trainer.model, "original_module")
    assert starting_projector.keys() == trained_projector.keys()
    assert all(torch.equal(starting_projector[k], trained_projector[k]) for k in trained_projector)
    before_state = state_snapshot(prepared.trainer.model)
    before = prepared.trainer.evaluate(prepared.data.train)["eval_loss"]
    result = train_and_save(prepared)
    after = prepared.trainer.evaluate(prepared.data.train)["eval_loss"]
    print(f"stage 2 (LoRA + projector) tiny Llava train loss {before:.4f} -> {after:.4f}")
    assert after < before - 0.05
    changed = changed_tensors(before_state, state_snapshot(result.model))
    assert all("lora_" in name or "multi_modal_projector.modules_to_save" in name for name in changed)
    lora_changed = [name for name in changed if "lora_" in name]
    assert lora_changed and all("language_model" in name for name in lora_changed)
    assert any("modules_to_save" in name for name in changed)
    _assert_engine_image_replies_change(llava_dir, stage2_dir)


def test_bf16_training_keeps_the_trained_weights_in_float32(llava_dir, tmp_path, write_config):
    """A bf16 base trains through autocast; the adapter and the projector copy stay float32."""
    config = write_config("bf16", _lmm_config(
        llava_dir, tmp_path / "out",
        {"r": 8, "alpha": 16, "target_modules": LANGUAGE_MODEL_LINEARS, "modules_to_save": ["multi_modal_projector"]},
        training={"bf16": True, "max_steps": 2}))
    prepared = prepare_run(load_config(config), multimodal=True)
    parameters = dict(prepared.trainer.model.named_parameters())
    trainable = {name for name, p in parameters.items() if p.requires_grad}
    assert trainable and all(parameters[name].dtype == torch.float32 for name in trainable)
    assert parameters["base_model.model.model.language_model.embed_tokens.weight"].dtype == torch.bfloat16
    result = train_and_save(prepared)
    losses = [entry["loss"] for entry in result.log_history if "loss" in entry]
    assert len(losses) == 2 and all(loss == loss for loss in losses)  # trained, no NaN
