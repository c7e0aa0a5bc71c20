"""4-bit Mixtral must really be 4-bit: fused MoE experts quantized on load, numerically NF4-only.

Every model here is a tiny random one written with save_pretrained (Mixtral's hub layout: per-expert
w1/w2/w3), so the loader's real key conversion runs. All of it runs on CPU.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

bnb = pytest.importorskip("bitsandbytes")

from transformers import (  # noqa: E402
    AutoModelForCausalLM,
    BitsAndBytesConfig,
    LlamaConfig,
    LlamaForCausalLM,
    MixtralConfig,
    MixtralForCausalLM,
)
from transformers.models.mixtral.modeling_mixtral import MixtralExperts  # noqa: E402
from transformers.quantizers.quantizer_bnb_4bit import Bnb4BitHfQuantizer  # noqa: E402

from engine import quantization as q  # noqa: E402

TINY = dict(num_hidden_layers=2, hidden_size=64, intermediate_size=128, num_local_experts=4,
            num_experts_per_tok=2, vocab_size=256, num_attention_heads=4, num_key_value_heads=2,
            max_position_embeddings=64, tie_word_embeddings=False)
# With the default init (std 0.02) the experts barely move the logits: deleting them outright still
# leaves a logit cosine of 0.994, so "cosine > 0.95" would prove nothing. At std 0.05 deleting them
# drops it to ~0.93, which is what makes the closeness bound below meaningful.
INIT_STD = 0.05


def _save(model_cls, config, path, dtype=torch.bfloat16):
    torch.manual_seed(0)
    model_cls(config).to(dtype).save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def mixtral_dir(tmp_path_factory):
    return _save(MixtralForCausalLM, MixtralConfig(**TINY, initializer_range=INIT_STD),
                 tmp_path_factory.mktemp("tiny-mixtral"))


@pytest.fixture(scope="module")
def q_mixtral(mixtral_dir):
    """Loaded once, in fp32 outside the quantized weights, so NF4 is the only source of error."""
    return q.load_causal_lm_4bit(mixtral_dir, dtype=torch.float32)


def _ids(n=16, batch=2):
    return torch.randint(0, TINY["vocab_size"], (batch, n), generator=torch.Generator().manual_seed(1))


def _dequantized(experts: q.Experts4bit, name: str) -> torch.Tensor:
    return torch.stack([bnb.functional.dequantize_4bit(getattr(experts, name)[e],
                                                       experts.quant_state(name, e, torch.float32))
                        for e in range(experts.num_experts)])


def test_shared_config_is_nf4_double_quant_and_keeps_router_and_head():
    config = q.build_bnb_config()
    assert isinstance(config, BitsAndBytesConfig) and config.load_in_4bit
    assert config.bnb_4bit_quant_type == "nf4" and config.bnb_4bit_use_double_quant
    assert {"lm_head", "gate"} <= set(config.llm_int8_skip_modules)
    if not torch.cuda.is_available():
        assert config.bnb_4bit_compute_dtype == torch.float32
    assert q.build_bnb_config(torch.float16).bnb_4bit_compute_dtype == torch.float16


def test_every_big_matrix_is_4bit_after_loading(q_mixtral):
    assert q.is_4bit_everywhere(q_mixtral) == []
    for layer in q_mixtral.model.layers:
        experts = layer.mlp.experts
        assert isinstance(experts, q.Experts4bit)
        for name, (rows, cols) in experts.shapes.items():
            packed = getattr(experts, name)
            assert packed.dtype == torch.uint8 and not packed.requires_grad
            assert packed.numel() * 2 == TINY["num_local_experts"] * rows * cols  # two NF4 codes a byte
        assert isinstance(layer.self_attn.q_proj, bnb.nn.Linear4bit)
        assert layer.mlp.gate.weight.dtype == torch.float32  # router untouched
    assert q_mixtral.lm_head.weight.dtype == torch.float32
    assert q_mixtral.hf_quantizer.experts_quantized == 2 * TINY["num_hidden_layers"]


def test_experts_are_quantized_while_loading_not_after(mixtral_dir, monkeypatch):
    # The post-load fallback must find nothing left: the loader already quantized every fused tensor.
    seen = []
    real = q.quantize_fused_experts

    def spy(model, config):
        seen.append(len(q._fused_experts(model, None)))
        return real(model, config)

    monkeypatch.setattr(q, "quantize_fused_experts", spy)
    q.load_causal_lm_4bit(mixtral_dir, dtype=torch.float32)
    assert seen == [0]


def test_experts4bit_is_mixtral_experts_on_dequantized_weights():
    config = MixtralConfig(**TINY)
    torch.manual_seed(0)
    reference = MixtralExperts(config)
    nn.init.normal_(reference.gate_up_proj, std=0.05)
    nn.init.normal_(reference.down_proj, std=0.05)
    experts = q.Experts4bit.replacing(reference, q.build_bnb_config(torch.float32))
    for name in experts.PROJECTIONS:
        experts.install(name, experts.quantize_projection(name, getattr(reference, name).data))

    hidden = torch.randn(40, TINY["hidden_size"])
    weights, index = torch.rand(40, TINY["num_local_experts"]).softmax(-1).topk(2, dim=-1)
    with torch.no_grad():
        exact = reference(hidden, index, weights)
        quantized = experts(hidden, index, weights)
        for name in experts.PROJECTIONS:
            getattr(reference, name).copy_(_dequantized(experts, name))
        on_dequantized = reference(hidden, index, weights)
    # Same routing, same math: the only difference from MixtralExperts is the NF4 weights...
    torch.testing.assert_close(quantized, on_dequantized, rtol=1e-5, atol=1e-6)
    # ...whose error is NF4-sized (about 10 % of a Gaussian weight's spread), nothing worse.
    assert (quantized - exact).norm() / exact.norm() < 0.2


def test_logits_differ_from_full_precision_by_nf4_error_only(mixtral_dir, q_mixtral):
    reference = AutoModelForCausalLM.from_pretrained(mixtral_dir, dtype=torch.float32)
    with torch.no_grad():
        exact = reference(_ids()).logits
        quantized = q_mixtral(_ids()).logits
        # Give the full-precision model the dequantized NF4 weights: it must then match exactly.
        for ref_layer, q_layer in zip(reference.model.layers, q_mixtral.model.layers):
            for name in q.Experts4bit.PROJECTIONS:
                getattr(ref_layer.mlp.experts, name).copy_(_dequantized(q_layer.mlp.experts, name))
            for proj in ("q_proj", "k_proj", "v_proj", "o_proj"):
                linear = getattr(q_layer.self_attn, proj)
                dq = bnb.functional.dequantize_4bit(linear.weight.data, linear.weight.quant_state)
                getattr(ref_layer.self_attn, proj).weight.copy_(dq)
        on_dequantized = reference(_ids()).logits
    torch.testing.assert_close(quantized, on_dequantized, rtol=1e-4, atol=1e-4)
    cosine = nn.functional.cosine_similarity(exact.flatten(), quantized.flatten(), dim=0)
    assert cosine > 0.97  # deleting the experts instead would give ~0.93 (see INIT_STD)


def test_cpu_inference_never_repacks_weights_and_training_still_gets_gradients(mixtral_dir, monkeypatch):
    # bitsandbytes repacks Linear4bit weights in place on CPUs with AVX512-BF16 at the first
    # no-grad eval forward; later training forwards then skip autograd. Pretend every CPU has it,
    # so this test fails without the guard on any machine.
    monkeypatch.setattr(bnb.nn.modules, "has_avx512bf16", lambda: True)
    model = q.load_causal_lm_4bit(mixtral_dir, dtype=torch.float32)
    linears = {n: m for n, m in model.named_modules() if isinstance(m, bnb.nn.Linear4bit)}
    assert linears
    before = {n: m.weight.data.clone() for n, m in linears.items()}
    model.eval()
    with torch.no_grad():
        eval_logits = model(_ids()).logits
    for name, layer in linears.items():
        assert not getattr(layer.weight.quant_state, "packing_format_for_cpu", False), name
        assert torch.equal(layer.weight.data, before[name]), name
    model.train()
    embeddings = model.get_input_embeddings()(_ids()).detach().requires_grad_(True)
    train_logits = model(inputs_embeds=embeddings).logits
    train_logits.sum().backward()
    torch.testing.assert_close(train_logits.detach(), eval_logits)
    assert embeddings.grad is not None and embeddings.grad.abs().sum() > 0


def test_footprint_is_under_30_percent_of_bf16(tmp_path):
    # Experts dominate here (~94 % of the weights) as they do in Mixtral-8x7B (~96 %).
    config = MixtralConfig(**{**TINY, "num_hidden_layers": 1, "hidden_size": 256,
                              "intermediate_size": 896, "num_local_experts": 8})
    path = _save(MixtralForCausalLM, config, tmp_path / "m")
    full = q.weight_footprint_bytes(AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16))
    model = q.load_causal_lm_4bit(path, dtype=torch.bfloat16)
    assert q.is_4bit_everywhere(model) == []
    assert q.weight_footprint_bytes(model) <= 0.30 * full
    experts = model.model.layers[0].mlp.experts
    expert_bytes = sum(t.numel() * t.element_size() for t in [*experts.parameters(), *experts.buffers()])
    # NF4 + double-quant statistics: 4 + 8/64 + 32/(64*256) bits = ~4.13 bits a weight.
    assert expert_bytes * 8 / (3 * 8 * 256 * 896) < 4.15


def test_generate_works(q_mixtral):
    prompt = _ids(n=6, batch=1)
    out = q_mixtral.generate(prompt, max_new_tokens=5, min_new_tokens=5, do_sample=False)
    assert out.shape == (1, 11) and torch.equal(out[:, :6], prompt)


def test_lora_on_attention_and_router_trains_only_adapters(mixtral_dir):
    peft = pytest.importorskip("peft")
    model = q.load_causal_lm_4bit(mixtral_dir, dtype=torch.float32)
    # "gate" is the router (MixtralTopKRouter, not an nn.Linear in transformers 5): PEFT wraps its
    # weight in lora.ParamWrapper, which requires lora_dropout=0.
    config = peft.LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0,
                             target_modules=["q_proj", "k_proj", "v_proj", "gate"])
    model = peft.get_peft_model(model, config)
    model.train()
    names = {n for n, _ in model.named_parameters()}
    assert any(".mlp.gate.lora_A." in n for n in names) and any(".q_proj.lora_A." in n for n in names)
    ids = _ids()
    model(input_ids=ids, labels=ids).loss.backward()
    with_grad = {n for n, p in model.named_parameters() if p.grad is not None}
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert with_grad == trainable and all("lora_" in n for n in with_grad)
    # lora_B starts at zero, so a non-zero gradient there shows the signal got through the 4-bit experts.
    assert all(model.get_parameter(n).grad.abs().sum() > 0 for n in with_grad if "lora_B" in n)


def test_non_moe_model_loads_with_linear_layers_4bit(tmp_path):
    config = LlamaConfig(num_hidden_layers=2, hidden_size=64, intermediate_size=128, vocab_size=256,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    model = q.load_causal_lm_4bit(_save(LlamaForCausalLM, config, tmp_path / "llama"))
    assert q.is_4bit_everywhere(model) == []
    for layer in model.model.layers:
        children = [*layer.self_attn.children(), *layer.mlp.children()]
        linears = [m for m in children if isinstance(m, nn.Linear)]
        assert len(linears) == 7  # q, k, v, o, gate_proj, up_proj, down_proj
        assert all(isinstance(m, bnb.nn.Linear4bit) and m.weight.dtype == torch.uint8 for m in linears)
    assert not isinstance(model.lm_head, bnb.nn.Linear4bit)
    assert model.generate(_ids(n=4, batch=1), max_new_tokens=3, do_sample=False).shape == (1, 7)


def test_stock_bnb_loading_leaves_experts_full_precision_and_fallback_fixes_it(mixtral_dir, q_mixtral):
    # The problem this module solves, seen by the detector...
    stock = AutoModelForCausalLM.from_pretrained(mixtral_dir, dtype=torch.float32,
                                                 quantization_config=q.build_bnb_config())
    assert type(stock.hf_quantizer) is Bnb4BitHfQuantizer  # our loader swap was undone after loading
    leftovers = q.is_4bit_everywhere(stock)
    assert leftovers and all(".experts." in name for name in leftovers)
    # ...and the post-load fallback, which must produce the very same codes as the loader path.
    assert q.quantize_fused_experts(stock, q.build_bnb_config()) == TINY["num_hidden_layers"]
    assert q.is_4bit_everywhere(stock) == []
    for name, tensor in q_mixtral.model.layers[0].mlp.experts.state_dict().items():
        assert torch.equal(stock.model.layers[0].mlp.experts.state_dict()[name], tensor)


def test_footprint_counts_packed_storage_and_quant_state():
    layer = bnb.nn.Linear4bit(128, 64, bias=False, quant_type="nf4", compress_statistics=True).to("cpu")
    state = layer.weight.quant_state
    expected = (128 * 64 // 2  # packed codes, uint8
                + state.absmax.numel() + state.offset.numel() * 4 + state.code.numel() * 4
                + state.state2.absmax.numel() * 4 + state.state2.code.numel() * 4)
    assert q.weight_footprint_bytes(layer) == expected


def test_saving_packed_experts_is_refused(q_mixtral, tmp_path):
    with pytest.raises(ValueError, match="not serializable"):
        q_mixtral.save_pretrained(tmp_path / "out")
