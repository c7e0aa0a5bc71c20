"""LoRA on 4-bit fused MoE experts, in PEFT's own adapter format.

PEFT adapts transformers-5 fused experts (the 3-D `experts.gate_up_proj` / `experts.down_proj`
parameters) through `LoraConfig(target_parameters=[...])`: its `lora.ParamWrapper` adds the
low-rank update to the parameter before the experts' forward runs. On a 4-bit model
(`engine.quantization.Experts4bit`) those parameters are packed NF4 codes, so the update
cannot be added to them: `ParamWrapper` would read the packed (E, n/2) uint8 tensor as a
2-D weight. The wrapper below computes the update beside the 4-bit matmul instead, expert
by expert (y = W_e x + s * B_e A_e x), through `Experts4bit.route`.

Its LoRA matrices have exactly `ParamWrapper`'s names, shapes and layout, so an adapter
file trained on 4-bit experts loads with stock PEFT on a 16-bit base, and one trained on
a 16-bit base loads here. PEFT is told to use it through its custom-module hook
(`LoraConfig._register_custom_module`, see `register_4bit_experts`).
"""

from __future__ import annotations

from typing import Any

import torch
from peft.tuners.lora.layer import ParamWrapper as PeftParamWrapper

from engine.quantization import Experts4bit


class ParamWrapper(PeftParamWrapper):
    """PEFT's `lora.ParamWrapper` for an `Experts4bit` projection.

    The class keeps PEFT's name on purpose: when a second parameter of the same module is
    targeted, PEFT nests wrappers and recognises an existing wrapper by its class *name*.
    One wrapper per projection, nested as PEFT nests them; the outermost runs the forward
    for all of them.
    """

    def _get_in_out_features(self, module) -> tuple[int, int]:
        # The logical (E, out, in) shape, not the packed storage; returned in ParamWrapper's
        # (in, out) order for 3-D parameters, which `update_layer` then swaps.
        experts = self.get_base_layer()
        rows, cols = experts.shapes[self.parameter_name]
        self.num_experts = experts.num_experts
        self._param_ndim = 3
        return rows, cols

    def _lora_factors(self, adapter: str, expert: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(A_e, B_e) of one expert, in ParamWrapper's layout: A is expert-major, B rank-major."""
        weight_a = self.lora_A[adapter].weight  # (E * r, in)
        weight_b = self.lora_B[adapter].weight  # (out, r * E)
        a = weight_a.view(self.num_experts, -1, weight_a.shape[-1])[expert]
        b = weight_b.view(weight_b.shape[0], -1, self.num_experts)[:, :, expert]
        return a, b

    def lora_update(self, x: torch.Tensor, expert: int) -> torch.Tensor | None:
        """Sum over the active adapters of scaling * x A_e^T B_e^T, or None when none is active."""
        update = None
        for adapter in self.active_adapters:
            if adapter not in self.lora_A:
                continue
            a, b = self._lora_factors(adapter, expert)
            term = (x.to(a.dtype) @ a.T) @ b.T * self.scaling[adapter]
            update = term if update is None else update + term
        return update

    def _wrappers(self) -> list["ParamWrapper"]:
        chain, layer = [], self
        while isinstance(layer, ParamWrapper):
            chain.append(layer)
            layer = layer.base_layer
        return chain

    def forward(self, hidden_states: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        experts: Experts4bit = self.get_base_layer()
        if kwargs.pop("adapter_names", None) is not None:
            raise ValueError("LoRA on 4-bit experts does not support mixed adapter batches")
        if self.disable_adapters:
            return experts(hidden_states, *args, **kwargs)
        by_projection: dict[str, list[ParamWrapper]] = {}
        for wrapper in self._wrappers():
            by_projection.setdefault(wrapper.parameter_name, []).append(wrapper)

        def expert_linear(x: torch.Tensor, name: str, expert: int) -> torch.Tensor:
            out = experts._expert_linear(x, name, expert)
            for wrapper in by_projection.get(name, ()):
                update = wrapper.lora_update(x, expert)
                if update is not None:
                    out = out + update.to(out.dtype)
            return out

        return experts.route(hidden_states, *args, expert_linear=expert_linear, **kwargs)

    def merge(self, safe_merge: bool = False, adapter_names=None) -> None:
        raise NotImplementedError(
            "a LoRA update cannot be merged into 4-bit experts; load the base model in 16-bit to merge")

    def unmerge(self) -> None:
        raise NotImplementedError("4-bit experts are never merged")


def has_4bit_experts(model) -> bool:
    return any(isinstance(module, Experts4bit) for module in model.modules())


def register_4bit_experts(lora_config) -> None:
    """Make PEFT wrap `Experts4bit` parameters with the wrapper above (a no-op elsewhere)."""
    lora_config._register_custom_module({Experts4bit: ParamWrapper})
