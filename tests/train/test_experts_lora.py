"""LoRA on 4-bit fused experts (engine/experts_lora.py): PEFT's adapter format, computed beside NF4.

The reference is PEFT's own `lora.ParamWrapper` on a 16-bit MixtralExperts holding exactly the
dequantized NF4 weights, so the only thing compared is how the LoRA update is applied.
"""

from __future__ import annotations

import pytest
import torch

bnb = pytest.importorskip("bitsandbytes")

from peft import LoraConfig, PeftModel, get_peft_model  # noqa: E402
from peft.tuners.lora.layer import ParamWrapper as PeftParamWrapper  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402

from engine import experts_lora  # noqa: E402
from engine.quantization import Experts4bit, load_causal_lm_4bit  # noqa: E402

EXPERT_PARAMETERS = ["experts.gate_up_proj", "experts.down_proj"]


def _lora(**kwargs) -> LoraConfig:
    # init_lora_weights=False: random B as well as A, so the update is not zero.
    return LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, init_lora_weights=False, **kwargs)


def _dequantized_into(quantized, full) -> None:
    """Copy the 4-bit experts' dequantized weights into the 16-bit model's fused experts."""
    pairs = zip([m for m in quantized.modules() if isinstance(m, Experts4bit)],
                [m for n, m in full.named_modules() if n.endswith("mlp.experts")])
    for packed, dense in pairs:
        for name in Experts4bit.PROJECTIONS:
            weights = [bnb.functional.dequantize_4bit(getattr(packed, name)[e].view(-1, 1),
                                                      packed.quant_state(name, e, torch.float32))
                       for e in range(packed.num_experts)]
            getattr(dense, name).data.copy_(torch.stack(weights).view_as(getattr(dense, name)))


@pytest.fixture(scope="module")
def mixtral_dir(tiny_dirs):
    return str(tiny_dirs("mixtral"))


def _routing(seed=0, tokens=12, hidden=16, experts=4):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(tokens, hidden, generator=generator)
    index = torch.randint(0, experts, (tokens, 2), generator=generator)
    weights = torch.rand(tokens, 2, generator=generator)
    return x, index, weights


def test_4bit_experts_apply_exactly_the_update_peft_applies_to_16bit_experts(mixtral_dir, tmp_path):
    quantized = load_causal_lm_4bit(mixtral_dir, dtype=torch.float32)
    full = AutoModelForCausalLM.from_pretrained(mixtral_dir, dtype=torch.float32)
    _dequantized_into(quantized, full)
    config = _lora(target_modules=[], target_parameters=EXPERT_PARAMETERS)
    experts_lora.register_4bit_experts(config)
    adapted = get_peft_model(quantized, config)
    adapted.save_pretrained(tmp_path / "adapter")
    reference = PeftModel.from_pretrained(full, str(tmp_path / "adapter"))  # stock PEFT, 16-bit
    ours = adapted.base_model.model.model.layers[0].mlp.experts
    theirs = reference.base_model.model.model.layers[0].mlp.experts
    assert type(ours) is experts_lora.ParamWrapper and type(theirs) is PeftParamWrapper
    x, index, weights = _routing()
    with torch.no_grad():
        base = ours.get_base_layer()(x, index, weights)
        with_lora = ours(x, index, weights)
        expected = theirs(x, index, weights)
    assert (with_lora - base).abs().mean() > 1e-3  # the update is really there...
    torch.testing.assert_close(with_lora, expected, atol=1e-5, rtol=1e-4)  # ...and it is PEFT's


def test_gradients_reach_every_expert_lora_matrix_and_nothing_frozen(mixtral_dir):
    model = load_causal_lm_4bit(mixtral_dir, dtype=torch.float32)
    config = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["q_proj", "gate"],
                        target_parameters=EXPERT_PARAMETERS)
    experts_lora.register_4bit_experts(config)
    model = get_peft_model(model, config)
    ids = torch.randint(3, 200, (2, 10), generator=torch.Generator().manual_seed(0))
    model(input_ids=ids, labels=ids).loss.backward()
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    with_grad = {n for n, p in model.named_parameters() if p.grad is not None}
    assert trainable == with_grad and all("lora_" in n for n in trainable)
    expert_b = [n for n in trainable if ".experts." in n and "lora_B" in n]
    assert len(expert_b) == 4  # 2 layers x (gate_up_proj, down_proj)
    assert all(model.get_parameter(n).grad.abs().sum() > 0 for n in expert_b)


def test_the_engine_serves_expert_adapters_on_4bit_and_16bit_bases(mixtral_dir, tmp_path):
    from engine.loading import load_model

    paths = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_pretrained(mixtral_dir, dtype=torch.float32)
        config = _lora(target_modules=["q_proj"], target_parameters=EXPERT_PARAMETERS)
        get_peft_model(model, config).save_pretrained(tmp_path / f"adapter{seed}")
        paths.append(str(tmp_path / f"adapter{seed}"))
    ids = torch.randint(3, 200, (1, 8), generator=torch.Generator().manual_seed(0))
    for four_bit, wrapper in ((True, experts_lora.ParamWrapper), (False, PeftParamWrapper)):
        loaded = load_model(mixtral_dir, adapters=paths, load_in_4bit=four_bit, device="cpu")
        assert type(loaded.model.base_model.model.model.layers[1].mlp.experts) is wrapper
        logits = {}
        for name in [*loaded.adapters.names(), None]:
            loaded.adapters.activate(name)
            with torch.no_grad():
                logits[name] = loaded.model(input_ids=ids).logits
        first, second = loaded.adapters.names()
        assert not torch.allclose(logits[first], logits[None], atol=1e-4)
        assert not torch.allclose(logits[first], logits[second], atol=1e-4)
        with loaded.model.disable_adapter(), torch.no_grad():
            torch.testing.assert_close(loaded.model(input_ids=ids).logits, logits[None])


def test_merging_into_4bit_experts_is_refused(mixtral_dir):
    config = _lora(target_modules=[], target_parameters=EXPERT_PARAMETERS)
    experts_lora.register_4bit_experts(config)
    model = get_peft_model(load_causal_lm_4bit(mixtral_dir, dtype=torch.float32), config)
    with pytest.raises(NotImplementedError, match="16-bit"):
        model.merge_and_unload()
