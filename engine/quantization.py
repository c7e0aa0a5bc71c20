"""4-bit (bitsandbytes NF4) loading that really is 4-bit for MoE models such as BiMediX (Mixtral-8x7B).

transformers 5 stores Mixtral's experts as one fused module (`MixtralExperts`) holding two 3-D
`nn.Parameter`s, `gate_up_proj` (E, 2I, H) and `down_proj` (E, H, I). The stock bitsandbytes
quantizer only swaps `nn.Linear` for `Linear4bit`, so those ~96 % of Mixtral's weights stay in
full precision. This module closes that gap:

* `Experts4bit` replaces each fused experts module. It keeps the *names* `gate_up_proj` /
  `down_proj` (so the checkpoint-key conversion of transformers still targets them), but after
  quantization they hold NF4 codes packed two per uint8 byte, one row per expert, with the
  per-block statistics in companion buffers - the same layout transformers' own `FP8Experts` uses
  for its `*_scale_inv` companions.
* `_MoeBnb4BitQuantizer` (a `Bnb4BitHfQuantizer`) swaps the experts on the meta device before the
  weights are read and quantizes each fused tensor as the loader materializes it, so a layer's
  full-precision experts are freed before the next layer's are read.
* `quantize_fused_experts` does the same conversion on an already-loaded model (fallback for
  checkpoints the loader path cannot handle, e.g. ones that are already bnb-quantized).
"""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from typing import Callable, Iterator

import bitsandbytes as bnb
import torch
from torch import nn
from transformers import AutoModelForCausalLM, BitsAndBytesConfig
from transformers.core_model_loading import ConversionOps
from transformers.integrations.bitsandbytes import Bnb4bitQuantize
from transformers.quantizers import auto as quantizer_auto
from transformers.quantizers.quantizer_bnb_4bit import Bnb4BitHfQuantizer
from transformers.quantizers.quantizers_utils import get_module_from_name, should_convert_module

try:  # the gating every default-layout experts module uses (transformers >= 5)
    from transformers.integrations.moe import _default_apply_gate
except ImportError:  # pragma: no cover - older/newer layouts: accept only modules without custom gating
    _default_apply_gate = None

logger = logging.getLogger(__name__)

# Kept out of quantization (matched as a module-name suffix by transformers):
# - "lm_head": the output projection sets every logit; quantizing it costs accuracy for a tiny saving
#   (it is what transformers itself keeps in full precision by default).
# - "gate": the MoE router (`mlp.gate`, `MixtralTopKRouter` in transformers 5, an nn.Linear in older
#   Mixtral code and other MoE models). It is E x H (8 x 4096 for Mixtral, <0.01 % of the weights) and
#   its softmax/top-2 choice is precision-sensitive: a flipped expert choice changes the whole MLP
#   output, not just a rounding. AWQ/GPTQ Mixtral exports keep it unquantized for the same reason.
#   Suffix matching does not touch `gate_proj` / `gate_up_proj`.
KEEP_FULL_PRECISION = ["lm_head", "gate"]

BLOCKSIZE = 64  # bitsandbytes' default 4-bit block (what Linear4bit uses); NF4 error is per block.
NESTED_BLOCKSIZE = 256  # double quant: absmax quantized in blocks of 256 (the only size bnb kernels take).
_BNB_4BIT_KEY = "bitsandbytes_4bit"
_SWAP_LOCK = threading.Lock()
_CODE_CACHE: dict[tuple[str, str], torch.Tensor] = {}


def build_bnb_config(compute_dtype: torch.dtype | None = None,
                     keep_full_precision: tuple[str, ...] = ()) -> BitsAndBytesConfig:
    """The single shared 4-bit config: NF4, double quant, router and lm_head kept in full precision.

    `keep_full_precision` names more modules to leave unquantized (e.g. a vision tower).
    """
    if compute_dtype is None:
        compute_dtype = _default_compute_dtype()
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute_dtype,
        llm_int8_skip_modules=list(KEEP_FULL_PRECISION) + list(keep_full_precision),
    )


def _default_compute_dtype() -> torch.dtype:
    # bf16 where the GPU has it; fp16 on pre-Ampere GPUs (T4/V100), the usual QLoRA choice there;
    # float32 on CPU, where bf16/fp16 matmuls are slow or missing.
    if torch.cuda.is_available():
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def _cached_code(kind: str, device: torch.device) -> torch.Tensor:
    """NF4/FP4 level table or the 8-bit dynamic map used for nested absmax, one copy per device."""
    key = (kind, str(device))
    if key not in _CODE_CACHE:
        if kind == "dynamic":
            code = bnb.functional.create_dynamic_map().to(device)
        else:
            code = bnb.functional.get_4bit_type(kind, device=device)
        _CODE_CACHE[key] = code
    return _CODE_CACHE[key]


class Experts4bit(nn.Module):
    """Fused MoE experts with per-expert bitsandbytes 4-bit weights.

    For each projection `p` in (`gate_up_proj`, `down_proj`):
      `p`               uint8 (E, rows*cols/2): the packed codes of expert e in row e
      `p_absmax`        per-64-block scale, uint8 (E, nb) with double quant, else float32
      `p_nested_absmax` float32 (E, ceil(nb/256)) and `p_offset` float32 (E,): double quant only
    Each expert is quantized on its own (exactly what a per-expert `Linear4bit` would hold), so the
    expert's row plus its statistics form a complete bnb `QuantState` and the forward can hand them to
    `bnb.matmul_4bit`, which also provides the input gradient QLoRA needs.
    Before quantization `p` is a meta placeholder of the logical (E, rows, cols) shape, like the meta
    weight of a `Linear4bit`, so the loader's key matching and memory planning see the real size.
    """

    PROJECTIONS = ("gate_up_proj", "down_proj")

    def __init__(self, num_experts, hidden_dim, intermediate_dim, act_fn, *, quant_type="nf4",
                 double_quant=True, compute_dtype=None):
        super().__init__()
        self.num_experts = num_experts
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.act_fn = act_fn
        self.quant_type = quant_type
        self.double_quant = double_quant
        self.compute_dtype = compute_dtype
        self.shapes = {"gate_up_proj": (2 * intermediate_dim, hidden_dim),
                       "down_proj": (hidden_dim, intermediate_dim)}
        for name, (rows, cols) in self.shapes.items():
            placeholder = torch.empty(num_experts, rows, cols, device="meta")
            self.register_parameter(name, nn.Parameter(placeholder, requires_grad=False))
            for suffix, (shape, dtype) in self._companion_specs(rows * cols).items():
                empty = torch.empty(num_experts, *shape, dtype=dtype, device="meta")
                self.register_buffer(name + suffix, empty)

    @classmethod
    def replacing(cls, experts: nn.Module, bnb_config: BitsAndBytesConfig) -> "Experts4bit":
        """An empty (meta) 4-bit stand-in shaped like the fused `experts` module."""
        num_experts, two_i, hidden = experts.gate_up_proj.shape
        return cls(num_experts, hidden, two_i // 2, experts.act_fn,
                   quant_type=bnb_config.bnb_4bit_quant_type,
                   double_quant=bnb_config.bnb_4bit_use_double_quant,
                   compute_dtype=bnb_config.bnb_4bit_compute_dtype)

    def _companion_specs(self, numel: int) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
        blocks = -(-numel // BLOCKSIZE)
        if not self.double_quant:
            return {"_absmax": ((blocks,), torch.float32)}
        return {"_absmax": ((blocks,), torch.uint8),
                "_nested_absmax": ((-(-blocks // NESTED_BLOCKSIZE),), torch.float32),
                "_offset": ((), torch.float32)}

    @torch.no_grad()
    def quantize_projection(self, name: str, weight: torch.Tensor) -> dict[str, torch.Tensor]:
        """Quantize a full-precision (E, rows, cols) stack expert by expert.

        Returns {"": packed codes, "_absmax": ..., ...}; the caller installs them (the loader does it
        through `set_param_for_module`, `install` does it directly). Only one expert's temporaries
        exist at a time, next to the packed output.
        """
        if tuple(weight.shape) != (self.num_experts, *self.shapes[name]):
            expected = (self.num_experts, *self.shapes[name])
            raise ValueError(f"{name}: expected {expected}, got {tuple(weight.shape)}")
        numel = weight[0].numel()
        out = {"": torch.empty(self.num_experts, (numel + 1) // 2, dtype=torch.uint8, device=weight.device)}
        for suffix, (shape, dtype) in self._companion_specs(numel).items():
            out[suffix] = torch.empty(self.num_experts, *shape, dtype=dtype, device=weight.device)
        for e in range(self.num_experts):
            packed, state = bnb.functional.quantize_4bit(
                weight[e].contiguous(), blocksize=BLOCKSIZE, compress_statistics=self.double_quant,
                quant_type=self.quant_type, quant_storage=torch.uint8)
            out[""][e] = packed.view(-1)
            out["_absmax"][e] = state.absmax
            if self.double_quant:
                out["_nested_absmax"][e] = state.state2.absmax
                out["_offset"][e] = state.offset
        return out

    def install(self, name: str, quantized: dict[str, torch.Tensor]) -> None:
        """Put the output of `quantize_projection` in place of the placeholders."""
        setattr(self, name, nn.Parameter(quantized[""], requires_grad=False))
        for suffix, tensor in quantized.items():
            if suffix:
                setattr(self, name + suffix, tensor)

    def quant_state(self, name: str, expert: int, dtype: torch.dtype) -> bnb.functional.QuantState:
        """The bnb QuantState of one expert's projection, built from views (no copies)."""
        device = getattr(self, name).device
        state2, offset = None, None
        if self.double_quant:
            offset = getattr(self, name + "_offset")[expert].float()
            state2 = bnb.functional.QuantState(
                absmax=getattr(self, name + "_nested_absmax")[expert].float(),
                code=_cached_code("dynamic", device), blocksize=NESTED_BLOCKSIZE, dtype=torch.float32)
        absmax = getattr(self, name + "_absmax")[expert]
        return bnb.functional.QuantState(
            absmax=absmax if self.double_quant else absmax.float(), shape=torch.Size(self.shapes[name]),
            code=_cached_code(self.quant_type, device), blocksize=BLOCKSIZE, quant_type=self.quant_type,
            dtype=dtype, offset=offset, state2=state2)

    def _expert_linear(self, x: torch.Tensor, name: str, expert: int) -> torch.Tensor:
        # Same contract as Linear4bit.forward: compute in the configured dtype, return the input dtype.
        dtype = self.compute_dtype or x.dtype
        state = self.quant_state(name, expert, dtype)
        return bnb.matmul_4bit(x.to(dtype), getattr(self, name)[expert], quant_state=state).to(x.dtype)

    def forward(self, hidden_states: torch.Tensor, top_k_index: torch.Tensor,
                top_k_weights: torch.Tensor) -> torch.Tensor:
        return self.route(hidden_states, top_k_index, top_k_weights, self._expert_linear)

    def route(self, hidden_states: torch.Tensor, top_k_index: torch.Tensor, top_k_weights: torch.Tensor,
              expert_linear: Callable[[torch.Tensor, str, int], torch.Tensor]) -> torch.Tensor:
        """The MoE forward with `expert_linear(x, projection, expert)` as each expert's matmul.

        `forward` passes the plain 4-bit matmul; a LoRA wrapper (engine/experts_lora.py) passes one
        that adds its low-rank update, which cannot be folded into packed 4-bit codes.
        """
        # Mirrors MixtralExperts.forward (eager path) so that only the weights' NF4 error differs.
        final_hidden_states = torch.zeros_like(hidden_states)
        with torch.no_grad():
            expert_mask = nn.functional.one_hot(top_k_index, num_classes=self.num_experts + 1)
            expert_mask = expert_mask.permute(2, 1, 0)
            expert_hit = torch.greater(expert_mask.sum(dim=(-1, -2)), 0).nonzero()
        for expert_idx in expert_hit:
            expert = int(expert_idx[0])
            if expert == self.num_experts:
                continue
            top_k_pos, token_idx = torch.where(expert_mask[expert])
            gate, up = expert_linear(hidden_states[token_idx], "gate_up_proj", expert).chunk(2, dim=-1)
            current = expert_linear(self.act_fn(gate) * up, "down_proj", expert)
            current = current * top_k_weights[token_idx, top_k_pos, None]
            final_hidden_states.index_add_(0, token_idx, current.to(final_hidden_states.dtype))
        return final_hidden_states

    def extra_repr(self) -> str:
        return (f"num_experts={self.num_experts}, hidden_dim={self.hidden_dim}, "
                f"intermediate_dim={self.intermediate_dim}, quant_type={self.quant_type}, "
                f"double_quant={self.double_quant}")


def _is_fused_experts(module: nn.Module) -> bool:
    """A transformers-5 fused experts module in the default layout, which `Experts4bit` mirrors.

    Layouts it does not mirror (transposed, interleaved gate/up, biases, custom gating such as
    gpt-oss's clamped SwiGLU) are left alone, and `is_4bit_everywhere` reports them.
    """
    if isinstance(module, Experts4bit):
        return False
    gate_up, down = getattr(module, "gate_up_proj", None), getattr(module, "down_proj", None)
    if not (isinstance(gate_up, nn.Parameter) and isinstance(down, nn.Parameter)):
        return False
    if gate_up.dim() != 3 or down.dim() != 3 or not hasattr(module, "act_fn"):
        return False
    if getattr(module, "is_transposed", False) or not getattr(module, "is_concatenated", True):
        return False
    if getattr(module, "has_bias", False) or getattr(module, "has_post_expert_norm", False):
        return False
    if getattr(type(module), "_apply_gate", None) not in (None, _default_apply_gate):
        return False
    num_experts, two_i, hidden = gate_up.shape
    return two_i % 2 == 0 and tuple(down.shape) == (num_experts, hidden, two_i // 2)


def _fused_experts(model: nn.Module, skip: list[str] | None) -> list[tuple[str, nn.Module]]:
    return [(name, module) for name, module in model.named_modules()
            if _is_fused_experts(module) and should_convert_module(name, skip)]


class _Quantize4bitOp(ConversionOps):
    """Loader op: fused expert tensors go to `Experts4bit`, Linear weights to the stock bnb op."""

    def __init__(self, hf_quantizer: "_MoeBnb4BitQuantizer"):
        self.hf_quantizer = hf_quantizer
        self.linear_op = Bnb4bitQuantize(hf_quantizer)

    def convert(self, input_dict, model=None, full_layer_name=None, **kwargs):
        result, linear_inputs = {}, {}
        for param_name, value in input_dict.items():
            module, name = get_module_from_name(model, param_name)
            if not isinstance(module, Experts4bit):
                linear_inputs[param_name] = value
                continue
            value = value[0] if isinstance(value, list) else value
            for suffix, tensor in module.quantize_projection(name, value).items():
                # Parameters for the codes (frozen), buffers for the statistics: set_param_for_module
                # keeps buffers as buffers and would make a float Parameter trainable.
                if not suffix:
                    tensor = nn.Parameter(tensor, requires_grad=False)
                result[param_name + suffix] = tensor
            module._is_hf_initialized = True
            self.hf_quantizer.experts_quantized += 1
        if linear_inputs:
            result.update(self.linear_op.convert(
                linear_inputs, model=model, full_layer_name=full_layer_name, **kwargs))
        return result


class _MoeBnb4BitQuantizer(Bnb4BitHfQuantizer):
    """The stock bnb 4-bit quantizer, plus fused MoE experts quantized while the weights load."""

    def __init__(self, quantization_config, **kwargs):
        super().__init__(quantization_config, **kwargs)
        self.experts_quantized = 0  # fused projections (2 per experts module) quantized by the loader

    @staticmethod
    def get_modules_to_not_convert(model, skip_modules=None, keep_in_fp32_modules=None,
                                   add_default_skips=False):
        # Our skip list replaces transformers' defaults (tied/output embeddings) unless we ask for both;
        # keep both so an output head not called `lm_head` stays in full precision too.
        return Bnb4BitHfQuantizer.get_modules_to_not_convert(
            model, skip_modules, keep_in_fp32_modules, add_default_skips=True)

    def _process_model_before_weight_loading(self, model, device_map, **kwargs):
        super()._process_model_before_weight_loading(model, device_map, **kwargs)
        if self.pre_quantized:
            return  # a bnb checkpoint carries no 4-bit experts; load_causal_lm_4bit converts them after
        for name, module in _fused_experts(model, self.modules_to_not_convert):
            model.set_submodule(name, Experts4bit.replacing(module, self.quantization_config))

    def param_needs_quantization(self, model, param_name: str, **kwargs) -> bool:
        module, name = get_module_from_name(model, param_name)
        if isinstance(module, Experts4bit):
            return name in Experts4bit.PROJECTIONS
        return super().param_needs_quantization(model, param_name, **kwargs)

    def get_quantize_ops(self):
        return _Quantize4bitOp(self)

    def is_serializable(self):
        # Packed experts have no bnb/Hub serialization format (and the checkpoint conversion cannot
        # be reversed on packed codes): save the full-precision model or the LoRA adapter instead.
        return self.experts_quantized == 0 and super().is_serializable()


@contextmanager
def _moe_aware_bnb_loading() -> Iterator[None]:
    """Make `from_pretrained` build `_MoeBnb4BitQuantizer` for bnb 4-bit configs, for this call only.

    transformers picks the quantizer class by name from AUTO_QUANTIZER_MAPPING and offers no per-call
    override, so the entry is swapped for the duration of the load and restored afterwards; the lock
    keeps concurrent loads from seeing each other's swap.
    """
    with _SWAP_LOCK:
        original = quantizer_auto.AUTO_QUANTIZER_MAPPING[_BNB_4BIT_KEY]
        quantizer_auto.AUTO_QUANTIZER_MAPPING[_BNB_4BIT_KEY] = _MoeBnb4BitQuantizer
        try:
            yield
        finally:
            quantizer_auto.AUTO_QUANTIZER_MAPPING[_BNB_4BIT_KEY] = original


def load_causal_lm_4bit(path_or_id: str, model_class=AutoModelForCausalLM, **from_pretrained_kwargs) -> nn.Module:
    """Load any causal LM in 4-bit with the shared config; fused MoE experts become 4-bit too.

    Experts are quantized while the checkpoint is read, one fused tensor at a time. Peak memory is
    the 4-bit model plus one fused projection in full precision about three times over (transformers
    materializes the per-expert checkpoint tensors, stacks them, then concatenates gate and up; for
    Mixtral-8x7B in bf16 that is ~5.6 GB on top of ~24.5 GB), never the 93 GB bf16 model.
    A `quantization_config` in the kwargs overrides the shared one; `model_class` loads other
    architectures (e.g. LlavaForConditionalGeneration) the same way.
    """
    bnb_config = from_pretrained_kwargs.pop("quantization_config", None) or build_bnb_config()
    with _moe_aware_bnb_loading():
        model = model_class.from_pretrained(
            path_or_id, quantization_config=bnb_config, **from_pretrained_kwargs)
    if not getattr(bnb_config, "load_in_4bit", False):
        return model  # an 8-bit or other config: nothing of ours to add
    keep_4bit_weights_as_loaded(model)
    late = quantize_fused_experts(model, bnb_config)
    if late:
        logger.warning("%d fused expert modules were loaded in full precision and quantized afterwards; "
                       "peak memory during this load held them all in full precision", late)
    return model


def keep_4bit_weights_as_loaded(model: nn.Module) -> None:
    """Turn off bitsandbytes' CPU repacking of every `Linear4bit` weight in the model.

    On CPUs with AVX512-BF16, `Linear4bit.forward` rewrites its weight in place into a CPU-only
    layout on the first forward in eval mode without grad (bitsandbytes 0.50). On such a machine
    that layout:
    * asserts for a layer whose output size is not a multiple of 32 ("N must be divisible by
      block_n");
    * routes every later forward, training included, through `gemv_4bit`, which has no
      autograd kernel. After a periodic eval, LoRA layers below a 4-bit layer silently get no
      gradient;
    * computes with bf16 block scales, so answers would depend on the CPU the model runs on.
    The portable NF4 path stays exact and differentiable. CPU 4-bit is a development path here
    (the Mixtral experts, ~96 % of the weights, never used the repacked kernel), and GPUs are
    unaffected.
    """
    for module in model.modules():
        if isinstance(module, bnb.nn.Linear4bit):
            module.support_avx512bf16_for_cpu = False


@torch.no_grad()
def quantize_fused_experts(model: nn.Module, bnb_config: BitsAndBytesConfig) -> int:
    """Replace every full-precision fused experts module of a loaded model with `Experts4bit`.

    Returns how many modules were converted. Each projection's full-precision tensor is dropped as
    soon as its 4-bit copy exists, so memory falls module by module; the peak is still the
    full-precision model that was loaded (plus one expert's quantization temporaries).
    """
    converted = 0
    for name, experts in _fused_experts(model, bnb_config.llm_int8_skip_modules):
        if any(getattr(experts, p).is_meta for p in Experts4bit.PROJECTIONS):
            raise ValueError(f"{name}: experts are offloaded (meta); load them on a device to quantize")
        new = Experts4bit.replacing(experts, bnb_config)
        for proj in Experts4bit.PROJECTIONS:
            new.install(proj, new.quantize_projection(proj, getattr(experts, proj).data))
            experts._parameters[proj] = None  # drop our reference to the full-precision tensor now
        _move_accelerate_hook(experts, new)
        model.set_submodule(name, new)
        converted += 1
    quantizer = getattr(model, "hf_quantizer", None)
    if converted and isinstance(quantizer, _MoeBnb4BitQuantizer):
        quantizer.experts_quantized += 2 * converted
    return converted


def _move_accelerate_hook(old: nn.Module, new: nn.Module) -> None:
    # A model dispatched over several devices has accelerate hooks moving inputs to each module's device.
    if hasattr(old, "_hf_hook"):
        from accelerate.hooks import add_hook_to_module, remove_hook_from_module

        hook = old._hf_hook
        remove_hook_from_module(old)
        add_hook_to_module(new, hook)


def _quant_state_tensors(param: torch.Tensor) -> list[torch.Tensor]:
    """Tensors hanging off a bnb Params4bit's QuantState (absmax, code, nested absmax/code, offset)."""
    state = getattr(param, "quant_state", None)
    if state is None:
        return []
    tensors = [state.absmax, state.code, getattr(state, "offset", None)]
    nested = getattr(state, "state2", None) if getattr(state, "nested", False) else None
    if nested is not None:
        tensors += [nested.absmax, nested.code]
    return [t for t in tensors if isinstance(t, torch.Tensor)]


def weight_footprint_bytes(model: nn.Module) -> int:
    """Bytes held by all parameters, buffers and bnb quantization statistics, each storage once.

    A Params4bit is its packed uint8 storage (numel * element_size counts two codes per byte) plus its
    QuantState tensors, which are not parameters or buffers and so are added explicitly. `Experts4bit`
    keeps its statistics in buffers. Tied weights and shared tensors are counted once.
    """
    seen: set[tuple[str, int, int]] = set()
    total = 0
    tensors = [t for _, t in model.named_parameters()] + [t for _, t in model.named_buffers()]
    for param in list(tensors):
        tensors.extend(_quant_state_tensors(param))
    for tensor in tensors:
        nbytes = tensor.numel() * tensor.element_size()
        key = (str(tensor.device), tensor.data_ptr(), nbytes)
        if tensor.is_meta or key in seen:
            continue
        seen.add(key)
        total += nbytes
    return total


def _kept_full_precision(model: nn.Module) -> set[str]:
    """Names of modules meant to stay full precision: embeddings, output head, routers, norms."""
    output = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    kept = set()
    for name, module in model.named_modules():
        kind = type(module).__name__.lower()
        if (isinstance(module, (nn.Embedding, nn.LayerNorm)) or module is output or "norm" in kind
                or "router" in kind or not should_convert_module(name, KEEP_FULL_PRECISION)):
            kept.add(name)
    return kept


def is_4bit_everywhere(model: nn.Module, min_elements: int = 4096) -> list[str]:
    """Names of large floating-point parameters that are not 4-bit, outside the intended exceptions.

    Exceptions: embeddings, the output head, MoE routers, norms (see `KEEP_FULL_PRECISION`), and LoRA
    adapter weights, which are full precision by design. An empty list means every big matrix of the
    model body is stored as 4-bit codes.
    """
    kept = _kept_full_precision(model)
    leftovers = []
    for name, param in model.named_parameters():
        module_name = name.rpartition(".")[0]
        if "lora_" in name or module_name in kept or param.numel() < min_elements:
            continue
        if param.is_floating_point():  # 4-bit codes (Params4bit, Experts4bit) are uint8
            leftovers.append(name)
    return leftovers
