"""`transformers.Trainer` and its arguments, plus the one thing BiMediX2's stage 2 adds: the
projector at its own learning rate.

LLaVA's trainer, which BiMediX2 trains with, takes `--mm_projector_lr`: the projector's
parameters get that learning rate and everything else `--learning_rate` (BiMediX2's stage 2:
LoRA at 2e-4, projector at 2e-5). Here it is `training.projector_learning_rate`.

`Trainer.create_optimizer` builds its parameter groups inline (weight decay on or off, one
group per device mesh) and then does optimizer-specific work (optimizer factories, 8-bit
embeddings). `optimizer_cls_and_kwargs` cannot give groups their own learning rate without
replacing that grouping, and rewriting the method would drop the rest. So HF builds the
optimizer as usual and each group then hands its projector parameters to a twin group that
differs only in `lr` (LLaVA's four groups: decay / no decay, each for the rest and for the
projector). This happens before the scheduler exists and before any step: the scheduler takes
each group's own peak (same warmup, same cosine), and the optimizer state a checkpoint saves
has the same groups when a run resumes.
"""

from __future__ import annotations

import torch
from transformers import Trainer

from train.config import PROJECTOR_MODULE, ConfigError


def projector_parameters(model) -> list[torch.nn.Parameter]:
    """The trainable parameters of the multimodal projector (PEFT's trained copy of it)."""
    return [parameter for name, parameter in model.named_parameters()
            if PROJECTOR_MODULE in name and parameter.requires_grad]


def give_projector_its_learning_rate(optimizer: torch.optim.Optimizer, projector: list, learning_rate: float) -> None:
    """Move `projector` out of each param group into a copy of that group at `learning_rate`.

    Groups left empty are dropped, so group 0 (whose rate the Trainer logs) is a group that trains.
    """
    moving = {id(parameter) for parameter in projector}
    for group in list(optimizer.param_groups):
        own = [parameter for parameter in group["params"] if id(parameter) in moving]
        if not own:
            continue
        group["params"] = [parameter for parameter in group["params"] if id(parameter) not in moving]
        settings = {key: value for key, value in group.items() if key != "params"}
        optimizer.add_param_group({**settings, "params": own, "lr": learning_rate})
    optimizer.param_groups[:] = [group for group in optimizer.param_groups if group["params"]]


class ProjectorLrTrainer(Trainer):
    """`Trainer` whose optimizer gives the projector `args.projector_learning_rate` when it is set;
    without it, exactly HF's optimizer."""

    def create_optimizer(self, model=None) -> torch.optim.Optimizer:
        learning_rate = getattr(self.args, "projector_learning_rate", None)
        if learning_rate is None or self.optimizer is not None:
            return super().create_optimizer(model)
        # Checked before HF builds anything, so a refused call leaves no optimizer behind.
        projector = projector_parameters(self.model if model is None else model)
        if not projector:
            raise ConfigError("training.projector_learning_rate is set, but no trainable parameter of this "
                              f"model belongs to {PROJECTOR_MODULE}: train it (lora.modules_to_save) or "
                              "remove projector_learning_rate")
        optimizer = super().create_optimizer(model)
        give_projector_its_learning_rate(optimizer, projector, learning_rate)
        return optimizer
