"""LMM stage 2's two learning rates (LLaVA's --mm_projector_lr): the projector trains at
`training.projector_learning_rate`, the LoRA matrices at `learning_rate`, with HF's weight-decay
grouping and schedule kept, through training and a resume; without the option the optimizer is
exactly HF's."""

from __future__ import annotations

import pytest
from transformers import Trainer

from tests.train.conftest import state_snapshot
from tests.train.test_lmm import LANGUAGE_MODEL_LINEARS, _lmm_config
from train.config import ConfigError, load_config
from train.pipeline import prepare_run, train_and_save

LORA_LR, PROJECTOR_LR, WEIGHT_DECAY = 2.0e-4, 2.0e-5, 0.1
STAGE2_LORA = {"r": 8, "alpha": 16, "target_modules": LANGUAGE_MODEL_LINEARS,
               "modules_to_save": ["multi_modal_projector"]}


@pytest.fixture(scope="module")
def llava_dir(tiny_dirs):
    return tiny_dirs("llava")


def _stage2(llava_dir, tmp_path, write_config, **training):
    training = {"learning_rate": LORA_LR, "weight_decay": WEIGHT_DECAY, **training}
    path = write_config("stage2", _lmm_config(llava_dir, tmp_path / "out", dict(STAGE2_LORA), training=training))
    return prepare_run(load_config(path), multimodal=True)


def _groups_by_name(optimizer, model) -> list[list[str]]:
    names = {id(parameter): name for name, parameter in model.named_parameters()}
    return [[names[id(parameter)] for parameter in group["params"]] for group in optimizer.param_groups]


def _is_projector(name: str) -> bool:
    return "multi_modal_projector" in name


def test_the_projector_gets_its_own_groups_and_learning_rate(llava_dir, tmp_path, write_config):
    trainer = _stage2(llava_dir, tmp_path, write_config, projector_learning_rate=PROJECTOR_LR).trainer
    optimizer = trainer.create_optimizer()
    model = trainer.model
    groups = _groups_by_name(optimizer, model)
    trainable = sorted(name for name, parameter in model.named_parameters() if parameter.requires_grad)
    placed = sorted(name for names in groups for name in names)
    assert placed == trainable  # every trainable parameter exactly once, nothing frozen
    decayed = set(trainer.get_decay_parameter_names(model))
    for group, names in zip(optimizer.param_groups, groups):
        assert names, "no empty groups"
        projector = [_is_projector(name) for name in names]
        assert all(projector) or not any(projector), names  # a group is all projector or none of it
        assert group["lr"] == (PROJECTOR_LR if all(projector) else LORA_LR)
        # HF's weight-decay split survives inside each side: biases get none, weights do.
        assert {(name in decayed) for name in names} == {group["weight_decay"] == WEIGHT_DECAY}
    projector_names = {name for names in groups for name in names if _is_projector(name)}
    assert projector_names and all("modules_to_save" in name for name in projector_names)
    lora_names = {name for names in groups for name in names if not _is_projector(name)}
    assert lora_names and all("lora_" in name and "language_model" in name for name in lora_names)
    assert {group["weight_decay"] for group in optimizer.param_groups} == {0.0, WEIGHT_DECAY}
    assert optimizer.param_groups[0]["lr"] == LORA_LR  # the rate the Trainer logs is the LoRA one

    # The schedule (warmup, then cosine) scales both from their own peaks.
    scheduler = trainer.create_scheduler(num_training_steps=10)
    for _ in range(6):
        optimizer.step()
        scheduler.step()
        factors = [group["lr"] / (PROJECTOR_LR if _is_projector(names[0]) else LORA_LR)
                   for group, names in zip(optimizer.param_groups, groups)]
        assert max(factors) == pytest.approx(min(factors)) and min(factors) > 0
    assert max(factors) < 0.9  # the cosine has come down, for both


def test_without_projector_learning_rate_the_optimizer_is_hfs(llava_dir, tmp_path, write_config):
    trainer = _stage2(llava_dir, tmp_path, write_config).trainer
    assert trainer.args.projector_learning_rate is None
    ours = trainer.create_optimizer()
    hf = Trainer(model=trainer.model, args=trainer.args).create_optimizer()
    assert len(ours.param_groups) == len(hf.param_groups) == 2
    for mine, theirs in zip(ours.param_groups, hf.param_groups):
        assert [id(p) for p in mine["params"]] == [id(p) for p in theirs["params"]]
        assert {k: v for k, v in mine.items() if k != "params"} == {k: v for k, v in theirs.items() if k != "params"}
        assert mine["lr"] == LORA_LR
    groups = _groups_by_name(ours, trainer.model)
    assert any(_is_projector(name) for name in groups[0] + groups[1])  # the projector trains, at learning_rate


def _largest_change(before: dict, after: dict, which) -> float:
    return max((after[name] - before[name]).abs().max().item() for name in before if which(name))


def test_training_steps_the_projector_at_its_rate_and_resumes_with_it(llava_dir, tmp_path, write_config):
    """Adam's first step moves a weight by about its learning rate, whatever the gradient's size: the
    projector moves ~10x less than the LoRA matrices. A resumed run loads the same groups back."""
    training = {"projector_learning_rate": PROJECTOR_LR, "lr_scheduler_type": "constant", "warmup_steps": 0,
                "max_steps": 1, "save_strategy": "steps", "save_steps": 1}
    first = _stage2(llava_dir, tmp_path, write_config, **training)
    trainable = {name for name, p in first.trainer.model.named_parameters() if p.requires_grad}
    before = {name: t for name, t in state_snapshot(first.trainer.model).items() if name in trainable}
    train_and_save(first)
    after = state_snapshot(first.trainer.model)
    projector_step = _largest_change(before, after, _is_projector)
    lora_step = _largest_change(before, after, lambda name: "lora_B" in name)  # lora_A has no gradient at B=0
    assert projector_step == pytest.approx(PROJECTOR_LR, rel=0.1)
    assert lora_step == pytest.approx(LORA_LR, rel=0.1)

    resumed = _stage2(llava_dir, tmp_path, write_config, **{**training, "max_steps": 2})
    result = train_and_save(resumed, resume="last")
    assert [entry["step"] for entry in result.log_history if "loss" in entry] == [1, 2]  # step 1 from the checkpoint
    optimizer = resumed.trainer.optimizer
    groups = _groups_by_name(optimizer, resumed.trainer.model)
    for group, names in zip(optimizer.param_groups, groups):
        expected = PROJECTOR_LR if _is_projector(names[0]) else LORA_LR
        assert group["lr"] == group["initial_lr"] == expected
        assert all(optimizer.state[p]["step"].item() == 2 for p in group["params"])  # state carried over


@pytest.mark.parametrize("change, message", [
    ({"lora": {"modules_to_save": []}}, "add multi_modal_projector to lora.modules_to_save"),
    ({"training": {"output_dir": "o", "projector_learning_rate": -1.0e-5}}, "must be a positive number"),
    ({"training": {"output_dir": "o", "projector_learning_rate": "fast"}}, "must be a positive number"),
])
def test_a_projector_learning_rate_that_cannot_apply_is_an_error(write_config, change, message):
    config = {"model": {"base": "some/llava"}, "data": {"sources": [{"path": "a.json"}]},
              "lora": {"modules_to_save": ["multi_modal_projector"]},
              "training": {"output_dir": "o", "projector_learning_rate": 1.0e-5}} | change
    with pytest.raises(ConfigError, match=message):
        load_config(write_config("bad", config))


def test_a_model_without_a_trainable_projector_is_refused_when_the_optimizer_is_built(
        llava_dir, tmp_path, write_config):
    """The config check cannot see the model; the optimizer can (e.g. a projector frozen by hand)."""
    trainer = _stage2(llava_dir, tmp_path, write_config, projector_learning_rate=PROJECTOR_LR).trainer
    for name, parameter in trainer.model.named_parameters():
        if _is_projector(name):
            parameter.requires_grad_(False)
    with pytest.raises(ConfigError, match="no trainable parameter of this model belongs to multi_modal_projector"):
        trainer.create_optimizer()
    assert trainer.optimizer is None  # nothing half-built that a later call would reuse
