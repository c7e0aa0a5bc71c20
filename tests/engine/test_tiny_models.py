"""The tiny stand-in checkpoints look like the hub ones and load through the real Auto classes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open
from tokenizers import Tokenizer
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoProcessor,
    AutoTokenizer,
    GenerationConfig,
    LlavaForConditionalGeneration,
    LlavaProcessor,
)
from typer.testing import CliRunner

from engine.tiny_models import FAMILIES, build_tiny_model, tiny_model
from engine.tiny_models.__main__ import app

SEED = 7
COMMON_FILES = {
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
}
EXPECTED_FILES = {
    "mixtral": COMMON_FILES
    | {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json"},
    "llama": COMMON_FILES | {"model.safetensors"},
    "llava": COMMON_FILES
    | {"model.safetensors", "preprocessor_config.json", "processor_config.json", "chat_template.json"},
    "gemma": COMMON_FILES | {"model.safetensors"},
}
SPECIAL_TOKENS = {
    "mixtral": ["<unk>", "<s>", "</s>"],
    "llama": ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
    "llava": ["<|begin_of_text|>", "<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>", "<image>"],
    "gemma": ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"],
}
TEXTS = [
    "The patient has a fever of 38.5°C and a dry cough.",
    "يُعالَج داءُ السُّكَّرِيّ بالميتفورمين، والجرعة ٥٠٠ ملغ مرتين يومياً.",
    "تم تشخيص pneumonia والضغط 140/90 mmHg؛ أعطِ antibiotics لمدة ٧ أيام.",
    "Emoji and unseen scripts use byte fallback: 🙂👩‍⚕️ 漢字 Ωμέγα",
    "Line one\nسطر ثانٍ\twith a tab  and  double spaces.",
]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny")
    return {family: build_tiny_model(family, root / family, seed=SEED) for family in FAMILIES}


def _safetensors_keys(directory: Path) -> dict[str, str]:
    """Tensor name -> file name, with each file's metadata checked on the way."""
    keys: dict[str, str] = {}
    for path in sorted(directory.glob("*.safetensors")):
        with safe_open(str(path), "pt") as handle:
            assert handle.metadata() == {"format": "pt"}
            keys.update(dict.fromkeys(handle.keys(), path.name))
    return keys


def _load(family: str, directory: Path):
    cls = LlavaForConditionalGeneration if family == "llava" else AutoModelForCausalLM
    return cls.from_pretrained(directory, output_loading_info=True)


@pytest.mark.parametrize("family", FAMILIES)
def test_writes_the_hub_file_names(built, family):
    assert {path.name for path in built[family].iterdir()} == EXPECTED_FILES[family]


def test_mixtral_keeps_per_expert_hub_layout(built):
    keys = _safetensors_keys(built["mixtral"])
    for layer in range(2):
        for expert in range(4):
            for weight in ("w1", "w2", "w3"):
                assert f"model.layers.{layer}.block_sparse_moe.experts.{expert}.{weight}.weight" in keys
        assert f"model.layers.{layer}.block_sparse_moe.gate.weight" in keys
        assert f"model.layers.{layer}.self_attn.q_proj.weight" in keys
    assert {"model.embed_tokens.weight", "lm_head.weight", "model.norm.weight"} <= set(keys)
    assert not [key for key in keys if "gate_up_proj" in key or "down_proj" in key or ".mlp." in key]


def test_mixtral_index_matches_shards(built):
    index = json.loads((built["mixtral"] / "model.safetensors.index.json").read_text())
    keys = _safetensors_keys(built["mixtral"])
    assert index["weight_map"] == keys
    assert set(keys.values()) == {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"}
    model = tiny_model("mixtral", seed=SEED)
    assert index["metadata"]["total_size"] == sum(p.numel() * p.element_size() for p in model.parameters())


def test_mixtral_files_have_the_hub_expert_semantics(built):
    """w2(silu(w1 x) * w3 x), as Mixtral checkpoints mean it, equals the fused in-memory expert."""
    prefix = "model.layers.1.block_sparse_moe.experts.2"
    path = built["mixtral"] / _safetensors_keys(built["mixtral"])[f"{prefix}.w1.weight"]
    with safe_open(str(path), "pt") as handle:
        w1, w2, w3 = (handle.get_tensor(f"{prefix}.{name}.weight") for name in ("w1", "w2", "w3"))
    experts = tiny_model("mixtral", seed=SEED).model.layers[1].mlp.experts
    x = torch.randn(5, 16, generator=torch.Generator().manual_seed(0))
    expected = torch.nn.functional.silu(x @ w1.T) * (x @ w3.T) @ w2.T
    with torch.no_grad():
        fused = experts(x, torch.full((5, 1), 2), torch.ones(5, 1))
    torch.testing.assert_close(fused, expected)


def test_llava_keeps_transformers4_layout(built):
    keys = _safetensors_keys(built["llava"])
    assert "language_model.lm_head.weight" in keys
    assert "language_model.model.embed_tokens.weight" in keys
    assert "language_model.model.layers.1.self_attn.q_proj.weight" in keys
    assert "vision_tower.vision_model.encoder.layers.1.self_attn.q_proj.weight" in keys
    assert "vision_tower.vision_model.embeddings.patch_embedding.weight" in keys
    assert {f"multi_modal_projector.linear_{i}.{p}" for i in (1, 2) for p in ("weight", "bias")} <= set(keys)
    prefixes = (
        "language_model.model.",
        "language_model.lm_head.",
        "vision_tower.vision_model.",
        "multi_modal_projector.",
    )
    assert all(key.startswith(prefixes) for key in keys)


@pytest.mark.parametrize("family", ["llama", "gemma"])
def test_text_models_use_the_standard_layout(built, family):
    keys = _safetensors_keys(built[family])
    assert "model.layers.0.mlp.gate_proj.weight" in keys
    assert "model.embed_tokens.weight" in keys
    # Gemma-3 ties the head to the embeddings, so (as on the hub) the file has no lm_head.
    assert ("lm_head.weight" in keys) == (family == "llama")


@pytest.mark.parametrize("family", FAMILIES)
def test_reload_gives_the_in_memory_model(built, family):
    loaded, info = _load(family, built[family])
    assert not any(info.values()), info  # no missing/unexpected/mismatched keys, no errors
    reference = tiny_model(family, seed=SEED)
    expected, actual = reference.state_dict(), loaded.state_dict()
    assert expected.keys() == actual.keys()
    for key in expected:
        assert torch.equal(expected[key], actual[key]), key
    tokenizer = AutoTokenizer.from_pretrained(built[family])
    ids = tokenizer(TEXTS[2], return_tensors="pt").input_ids
    with torch.no_grad():
        torch.testing.assert_close(loaded(input_ids=ids).logits, reference(input_ids=ids).logits, rtol=0, atol=0)


@pytest.mark.parametrize("family", FAMILIES)
def test_config_ids_agree_with_the_tokenizer(built, family):
    tokenizer = AutoTokenizer.from_pretrained(built[family])
    config = AutoConfig.from_pretrained(built[family])
    text_config = config.get_text_config()
    assert tokenizer.is_fast
    assert 800 <= len(tokenizer) <= 1500
    assert text_config.vocab_size == len(tokenizer)
    assert text_config.bos_token_id == tokenizer.bos_token_id
    generation = GenerationConfig.from_pretrained(built[family])
    eos_ids = generation.eos_token_id if isinstance(generation.eos_token_id, list) else [generation.eos_token_id]
    assert tokenizer.eos_token_id in eos_ids
    assert generation.bos_token_id == tokenizer.bos_token_id
    if family in ("llama", "llava"):
        assert tokenizer.convert_tokens_to_ids("<|eot_id|>") in eos_ids
    if family == "llava":
        assert config.image_token_index == tokenizer.convert_tokens_to_ids("<image>")


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize("family", FAMILIES)
def test_tokenizer_round_trips(built, family, text):
    tokenizer = AutoTokenizer.from_pretrained(built[family])
    assert tokenizer.decode(tokenizer.encode(text, add_special_tokens=False)) == text
    ids = tokenizer.encode(text)
    assert ids[0] == tokenizer.bos_token_id
    assert tokenizer.decode(ids, skip_special_tokens=True) == text
    # transformers rebuilds some pipelines itself; it must agree with tokenizer.json.
    assert Tokenizer.from_file(str(built[family] / "tokenizer.json")).encode(text).ids == ids


@pytest.mark.parametrize("family", FAMILIES)
def test_special_tokens_are_single_ids(built, family):
    tokenizer = AutoTokenizer.from_pretrained(built[family])
    for token in SPECIAL_TOKENS[family]:
        token_id = tokenizer.convert_tokens_to_ids(token)
        assert token_id != tokenizer.unk_token_id or token == "<unk>"
        assert tokenizer.encode(token, add_special_tokens=False) == [token_id]
        assert tokenizer.encode(f"قبل {token} after", add_special_tokens=False).count(token_id) == 1


def test_sentencepiece_style_vocab_layout(built):
    vocab = json.loads((built["mixtral"] / "tokenizer.json").read_text(encoding="utf-8"))["model"]["vocab"]
    assert [vocab["<unk>"], vocab["<s>"], vocab["</s>"], vocab["<0x00>"], vocab["<0xFF>"]] == [0, 1, 2, 3, 258]
    gemma = AutoTokenizer.from_pretrained(built["gemma"])
    assert [gemma.pad_token_id, gemma.eos_token_id, gemma.bos_token_id, gemma.unk_token_id] == [0, 1, 2, 3]


def test_llama_chat_template(built):
    tokenizer = AutoTokenizer.from_pretrained(built["llama"])
    messages = [{"role": "system", "content": "You are BiMediX2."}, {"role": "user", "content": "ما هو الربو؟"}]
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert prompt == (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are BiMediX2.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nما هو الربو؟<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )


def test_gemma_chat_template(built):
    tokenizer = AutoTokenizer.from_pretrained(built["gemma"])
    messages = [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "What is asthma?"},
        {"role": "assistant", "content": "A chronic airway disease."},
        {"role": "user", "content": "وما علاجه؟"},
    ]
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert prompt == (
        "<bos><start_of_turn>user\nAnswer briefly.\n\nWhat is asthma?<end_of_turn>\n"
        "<start_of_turn>model\nA chronic airway disease.<end_of_turn>\n"
        "<start_of_turn>user\nوما علاجه؟<end_of_turn>\n<start_of_turn>model\n"
    )


def test_llava_processor_and_model_run_with_an_image(built):
    processor = AutoProcessor.from_pretrained(built["llava"])
    assert isinstance(processor, LlavaProcessor)
    content = [{"type": "image"}, {"type": "text", "text": "صف الصورة. Describe it."}]
    messages = [{"role": "user", "content": content}]
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True)
    assert prompt.count("<image>") == 1
    image = Image.fromarray((np.arange(40 * 56 * 3) % 251).astype("uint8").reshape(40, 56, 3))
    inputs = processor(images=image, text=prompt, add_special_tokens=False, return_tensors="pt")
    model, _ = _load("llava", built["llava"])
    assert inputs.pixel_values.shape == (1, 3, 30, 30)
    assert (inputs.input_ids == model.config.image_token_index).sum() == model.config.image_seq_length == 4
    reference = tiny_model("llava", seed=SEED)
    with torch.no_grad():
        torch.testing.assert_close(model(**inputs).logits, reference(**inputs).logits, rtol=0, atol=0)
    output = model.generate(**inputs, max_new_tokens=3, do_sample=False)
    assert output.shape[1] == inputs.input_ids.shape[1] + 3


def test_builds_are_byte_identical_per_seed(tmp_path):
    first = build_tiny_model("mixtral", tmp_path / "a", seed=1)
    second = build_tiny_model("mixtral", tmp_path / "b", seed=1)
    other = build_tiny_model("mixtral", tmp_path / "c", seed=2)
    for path in first.iterdir():
        assert path.read_bytes() == (second / path.name).read_bytes(), path.name
    assert (first / "tokenizer.json").read_bytes() == (other / "tokenizer.json").read_bytes()
    assert (first / "model-00001-of-00002.safetensors").read_bytes() != (
        other / "model-00001-of-00002.safetensors"
    ).read_bytes()


def test_build_leaves_the_global_rng_alone(tmp_path):
    state = torch.random.get_rng_state()
    build_tiny_model("gemma", tmp_path, seed=3)
    assert torch.equal(state, torch.random.get_rng_state())


def test_rebuilding_another_family_removes_stale_files(tmp_path):
    build_tiny_model("mixtral", tmp_path)
    build_tiny_model("gemma", tmp_path)
    assert {path.name for path in tmp_path.iterdir()} == EXPECTED_FILES["gemma"]


def test_unknown_family_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="unknown family"):
        build_tiny_model("gpt2", tmp_path)


def test_cli_builds_a_model(tmp_path):
    result = CliRunner().invoke(app, ["--family", "llama", "--out", str(tmp_path / "m"), "--seed", "4"])
    assert result.exit_code == 0, result.output
    assert {path.name for path in (tmp_path / "m").iterdir()} == EXPECTED_FILES["llama"]
    assert CliRunner().invoke(app, ["--family", "gpt2", "--out", str(tmp_path)]).exit_code != 0


def test_cli_help_runs_as_a_module():
    result = subprocess.run(
        [sys.executable, "-m", "engine.tiny_models", "--help"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "--family" in result.stdout and "--out" in result.stdout
