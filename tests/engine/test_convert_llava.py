"""engine.convert_llava: an original LLaVA(-pp) llava_llama checkpoint becomes an HF Llava.

The source checkpoints are written here from the tiny HF Llava of engine.tiny_models, under the
LLaVA codebase's key names and config (``LlavaLlamaForCausalLM``), with the CLIP tower inside
the checkpoint or in a separate directory; the converted model must load without missing or
unexpected keys and give the original tiny Llava's logits on a prompt with an image.
"""

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
from safetensors.torch import save_file
from transformers import (
    AutoProcessor,
    AutoTokenizer,
    CLIPConfig,
    CLIPImageProcessor,
    CLIPModel,
    CLIPVisionModel,
    LlavaForConditionalGeneration,
)
from typer.testing import CliRunner

from engine.convert_llava import ConversionError, app, convert_llava_llama, map_key
from engine.tiny_models import checkpoints, templates, tiny_model
from engine.tiny_models.families import CLIP_MEAN, CLIP_STD, IMAGE_SIZE, IMAGE_TOKENS
from engine.tiny_models.tokenizer_files import IMAGE_TOKEN, llama3_tokenizer

ROOT = Path(__file__).resolve().parents[2]
SEED = 5
TOWER_ID = "openai/clip-vit-large-patch14-336"
PROMPT = (
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n<image>\nصف الصورة. Describe the scan."
    "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
)
HF_PREFIXES = ("language_model.model.", "language_model.lm_head.", "vision_tower.vision_model.", "multi_modal_projector.")


# ---------------------------------------------------------------------------------------
# Tiny llava_llama checkpoints


def reference_llava(seed: int = SEED) -> LlavaForConditionalGeneration:
    """The tiny HF Llava, with its <image> rows set as the converter sets a new token's rows.

    LLaVA has no <image> token (it splices id -200 into the ids), so the llava_llama checkpoint
    is written without that last row, and the converter re-adds it as the mean of the others.
    """
    model = tiny_model("llava", seed=seed)
    assert model.config.image_token_index == model.config.text_config.vocab_size - 1
    with torch.no_grad():
        for weight in (model.get_input_embeddings().weight, model.lm_head.weight):
            weight[-1] = weight[:-1].mean(dim=0)
    return model


def split_state(model) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(language model + projector under LLaVA's names, CLIP tower under CLIPVisionModel's)."""
    renames = (
        ("model.language_model.", "model."),
        ("lm_head.", "lm_head."),
        ("model.multi_modal_projector.linear_1.", "model.mm_projector.0."),
        ("model.multi_modal_projector.linear_2.", "model.mm_projector.2."),
    )
    llm, tower = {}, {}
    for key, tensor in model.state_dict().items():
        tensor = tensor.detach().clone().contiguous()
        if key.startswith("model.vision_tower."):
            tower[key.removeprefix("model.vision_tower.")] = tensor
            continue
        new, old = next((new, old) for old, new in renames if key.startswith(old))
        llm[new + key.removeprefix(old)] = tensor
    for key in ("model.embed_tokens.weight", "lm_head.weight"):
        llm[key] = llm[key][:-1].clone()  # no <image> row
    return llm, tower


def llava_llama_config(model, **overrides) -> dict:
    """config.json as LLaVA-pp's LlavaLlamaForCausalLM saves it (transformers 4.4x era)."""
    text = model.config.text_config
    rope = dict(text.rope_parameters)
    theta = rope.pop("rope_theta")
    config = {
        "_name_or_path": "tiny/BiMediX2-like",
        "architectures": ["LlavaLlamaForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": text.bos_token_id,
        "eos_token_id": text.eos_token_id,
        "freeze_mm_mlp_adapter": False,
        "hidden_act": "silu",
        "hidden_size": text.hidden_size,
        "image_aspect_ratio": "pad",
        "initializer_range": text.initializer_range,
        "intermediate_size": text.intermediate_size,
        "max_position_embeddings": text.max_position_embeddings,
        "mlp_bias": False,
        "mm_hidden_size": model.config.vision_config.hidden_size,
        "mm_patch_merge_type": "flat",
        "mm_projector_lr": None,
        "mm_projector_type": "mlp2x_gelu",
        "mm_use_im_patch_token": False,
        "mm_use_im_start_end": False,
        "mm_vision_select_feature": "patch",
        "mm_vision_select_layer": -2,
        "mm_vision_tower": TOWER_ID,
        "model_type": "llava_llama",
        "num_attention_heads": text.num_attention_heads,
        "num_hidden_layers": text.num_hidden_layers,
        "num_key_value_heads": text.num_key_value_heads,
        "pretraining_tp": 1,
        "rms_norm_eps": text.rms_norm_eps,
        "rope_scaling": rope,
        "rope_theta": theta,
        "tie_word_embeddings": False,
        "tokenizer_model_max_length": 4096,
        "tokenizer_padding_side": "right",
        "torch_dtype": "float32",
        "transformers_version": "4.43.1",
        "tune_mm_mlp_adapter": False,
        "unfreeze_mm_vision_tower": False,
        "use_cache": True,
        "use_mm_proj": True,
        "vocab_size": text.vocab_size - 1,
    }
    config.update(overrides)
    return config


def write_llava_llama(out: Path, model, *, tower_inside: bool, weights: str = "safetensors", shards: int = 1,
                      extra: dict | None = None, **config_overrides) -> Path:
    """A llava_llama checkpoint directory as the LLaVA codebase saves one."""
    out.mkdir(parents=True)
    llm, tower = split_state(model)
    tensors = dict(llm)
    # Older transformers saved the rotary buffers; the converter drops them.
    tensors["model.layers.0.self_attn.rotary_emb.inv_freq"] = torch.ones(2)
    if tower_inside:
        tensors.update({f"model.vision_tower.vision_tower.vision_model.{k}": v for k, v in tower.items()})
    tensors.update(extra or {})
    if weights == "safetensors":
        checkpoints.write_safetensors(out, tensors, shards=shards)
    else:
        torch.save(tensors, out / "pytorch_model.bin")
    (out / "config.json").write_text(json.dumps(llava_llama_config(model, **config_overrides), indent=2))
    text = model.config.text_config
    (out / "generation_config.json").write_text(json.dumps(
        {"bos_token_id": text.bos_token_id, "eos_token_id": text.eos_token_id, "temperature": 0.6}))
    llama3_tokenizer().save(out)  # Llama-3.1's tokenizer: no <image> token
    return out


def hub_preprocessor_config() -> dict:
    """openai/clip-vit-large-patch14-336's preprocessor_config.json, at the tiny size."""
    return {
        "crop_size": IMAGE_SIZE, "do_center_crop": True, "do_normalize": True, "do_resize": True,
        "feature_extractor_type": "CLIPFeatureExtractor", "image_mean": CLIP_MEAN, "image_std": CLIP_STD,
        "resample": 3, "size": IMAGE_SIZE,
    }


def write_hub_clip(out: Path, model, weights: bool = True, seed: int = 0) -> Path:
    """A full CLIPModel directory as openai/clip-vit-* ship it (vision_model.* + text_model.*)."""
    out.mkdir(parents=True)
    vision = model.config.vision_config.to_dict()
    text = {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 4,
            "vocab_size": 64, "max_position_embeddings": 8, "bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 1}
    clip_config = CLIPConfig(text_config=text, vision_config=vision, projection_dim=16)
    raw = {"architectures": ["CLIPModel"], "model_type": "clip", "projection_dim": 16, "logit_scale_init_value": 2.6592,
           "initializer_factor": 1.0, "text_config": text,
           "vision_config": {k: v for k, v in vision.items() if k not in ("dtype", "architectures")}}
    (out / "config.json").write_text(json.dumps(raw, indent=2))
    (out / "preprocessor_config.json").write_text(json.dumps(hub_preprocessor_config(), indent=2))
    if weights:
        _, tower = split_state(model)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            state = {k: v.detach().clone().contiguous() for k, v in CLIPModel(clip_config).state_dict().items()}
        state.update({f"vision_model.{k}": v for k, v in tower.items()})
        state["vision_model.embeddings.position_ids"] = torch.arange(5).unsqueeze(0)  # pre-4.31 CLIP buffer
        state["text_model.embeddings.position_ids"] = torch.arange(8).unsqueeze(0)
        save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    return out


def write_vision_model_save(out: Path, model) -> Path:
    """A CLIPVisionModel saved by transformers 5 (keys without the vision_model. prefix)."""
    _, tower = split_state(model)
    vision = CLIPVisionModel(model.config.vision_config)
    vision.load_state_dict(tower)
    vision.save_pretrained(out)
    processor = CLIPImageProcessor(**{k: v for k, v in hub_preprocessor_config().items() if k != "feature_extractor_type"})
    processor.save_pretrained(out)
    return out


# ---------------------------------------------------------------------------------------
# Checks


def an_image() -> Image.Image:
    # Not square, so LLaVA's pad-to-square matters.
    return Image.fromarray((np.arange(40 * 56 * 3) % 251).astype("uint8").reshape(40, 56, 3))


def load_converted(directory: Path):
    model, info = LlavaForConditionalGeneration.from_pretrained(directory, output_loading_info=True)
    assert not any(info.values()), info  # no missing/unexpected/mismatched keys, no errors
    return model.eval(), AutoProcessor.from_pretrained(directory)


def assert_same_logits(directory: Path, reference, image_tokens: int = IMAGE_TOKENS) -> None:
    model, processor = load_converted(directory)
    inputs = processor(images=an_image(), text=PROMPT, add_special_tokens=False, return_tensors="pt")
    assert (inputs.input_ids == model.config.image_token_index).sum() == image_tokens
    assert inputs.pixel_values.shape == (1, 3, IMAGE_SIZE, IMAGE_SIZE)
    with torch.no_grad():
        torch.testing.assert_close(model(**inputs).logits, reference(**inputs).logits)


def safetensors_keys(directory: Path) -> dict[str, str]:
    """Tensor name -> safetensors dtype (F32, BF16, ...)."""
    keys = {}
    for path in sorted(directory.glob("*.safetensors")):
        with safe_open(str(path), "pt") as handle:
            keys.update({key: handle.get_slice(key).get_dtype() for key in handle.keys()})
    return keys


@pytest.fixture(scope="module")
def reference():
    return reference_llava()


@pytest.fixture(scope="module")
def hub_tower(tmp_path_factory, reference):
    return write_hub_clip(tmp_path_factory.mktemp("clip") / "clip-vit-tiny", reference)


# ---------------------------------------------------------------------------------------
# Conversions


def test_cli_converts_a_checkpoint_without_its_tower(tmp_path, reference, hub_tower):
    src = write_llava_llama(tmp_path / "src", reference, tower_inside=False)
    dst = tmp_path / "hf"
    result = subprocess.run(
        [sys.executable, "-m", "engine.convert_llava", str(src), str(dst), "--vision-tower", str(hub_tower)],
        capture_output=True, text=True, cwd=ROOT, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(dst)
    assert_same_logits(dst, reference)


@pytest.mark.parametrize("variant", ["inside+other-tower-dir", "inside+local-mm_vision_tower", "bin+v5-tower-save"])
def test_api_converts_each_layout(tmp_path, reference, variant):
    if variant == "inside+other-tower-dir":
        # The tower's weights are in the checkpoint; the directory only lends its config and
        # image processor, and its different weights must not replace the checkpoint's.
        other = write_hub_clip(tmp_path / "other-clip", reference_llava(seed=SEED + 1))
        src = write_llava_llama(tmp_path / "src", reference, tower_inside=True, shards=2)
        out = convert_llava_llama(src, tmp_path / "hf", vision_tower=other)
    elif variant == "inside+local-mm_vision_tower":
        # As in LLaVA, mm_vision_tower may be a local directory (here: config files only).
        tower = write_hub_clip(tmp_path / "clip", reference, weights=False)
        src = write_llava_llama(tmp_path / "src", reference, tower_inside=True, mm_vision_tower=str(tower))
        out = convert_llava_llama(src, tmp_path / "hf")
    else:
        tower = write_vision_model_save(tmp_path / "clip", reference)
        src = write_llava_llama(tmp_path / "src", reference, tower_inside=False, weights="bin")
        out = convert_llava_llama(src, tmp_path / "hf", vision_tower=tower)
    assert out == tmp_path / "hf"
    assert_same_logits(out, reference)


def test_output_looks_like_the_hf_hub_checkpoint(tmp_path, reference, hub_tower):
    src = write_llava_llama(tmp_path / "src", reference, tower_inside=False)
    dst = convert_llava_llama(src, tmp_path / "hf", vision_tower=hub_tower)
    assert {p.name for p in dst.iterdir()} == {
        "config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
        "special_tokens_map.json", "preprocessor_config.json", "processor_config.json", "chat_template.json",
    }
    keys = safetensors_keys(dst)
    assert all(key.startswith(HF_PREFIXES) for key in keys), sorted(keys)
    expected = set(checkpoints.llava_hub_state_dict(reference.state_dict()))
    assert set(keys) == expected
    assert set(keys.values()) == {"F32"}

    config = json.loads((dst / "config.json").read_text())
    tokenizer = AutoTokenizer.from_pretrained(dst)
    image_id = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    assert tokenizer.encode(f"a {IMAGE_TOKEN} b", add_special_tokens=False).count(image_id) == 1
    assert config["model_type"] == "llava" and config["architectures"] == ["LlavaForConditionalGeneration"]
    assert config["image_token_index"] == image_id == reference.config.image_token_index
    assert config["text_config"]["vocab_size"] == len(tokenizer) == reference.config.text_config.vocab_size
    assert config["vision_feature_layer"] == -2 and config["vision_feature_select_strategy"] == "default"
    assert config["projector_hidden_act"] == "gelu" and config["image_seq_length"] == IMAGE_TOKENS
    assert config["text_config"]["rope_parameters"] == reference.config.text_config.rope_parameters
    assert config["vision_config"]["hidden_size"] == 16 and config["vision_config"]["patch_size"] == 15
    assert not any(key.startswith("mm_") for key in config["text_config"])
    # The tokenizer's chat template and other files are kept; <image> is the only addition.
    assert tokenizer.chat_template == templates.LLAMA3
    assert json.loads((dst / "chat_template.json").read_text()) == {"chat_template": templates.LLAMA3}
    assert tokenizer.eos_token == "<|eot_id|>" and tokenizer.pad_token is None
    assert json.loads((dst / "generation_config.json").read_text())["temperature"] == 0.6
    assert json.loads((dst / "processor_config.json").read_text()) == {
        "image_token": IMAGE_TOKEN, "num_additional_image_tokens": 1, "patch_size": 15,
        "processor_class": "LlavaProcessor", "vision_feature_select_strategy": "default",
    }
    processor = json.loads((dst / "preprocessor_config.json").read_text())
    assert processor["image_processor_type"] == "LlavaImageProcessor" and processor["do_pad"] is True
    assert processor["size"] == {"shortest_edge": IMAGE_SIZE}
    assert processor["crop_size"] == {"height": IMAGE_SIZE, "width": IMAGE_SIZE}


def expand2square(image: Image.Image, background: tuple[int, ...]) -> Image.Image:
    """LLaVA's llava/mm_utils.py expand2square, verbatim in behaviour."""
    width, height = image.size
    if width == height:
        return image
    side = max(width, height)
    result = Image.new(image.mode, (side, side), background)
    result.paste(image, ((side - width) // 2, (side - height) // 2))
    return result


@pytest.mark.parametrize("size", [(56, 40), (30, 71)])
def test_pad_aspect_ratio_pads_to_square_like_llava(tmp_path, reference, hub_tower, size):
    src = write_llava_llama(tmp_path / "src", reference, tower_inside=False)
    dst = convert_llava_llama(src, tmp_path / "hf", vision_tower=hub_tower)
    image = an_image().resize(size)
    clip = CLIPImageProcessor.from_pretrained(hub_tower)
    padded = expand2square(image, tuple(int(x * 255) for x in clip.image_mean))
    expected = clip(images=padded, return_tensors="pt").pixel_values
    actual = AutoProcessor.from_pretrained(dst).image_processor(images=image, return_tensors="pt").pixel_values
    torch.testing.assert_close(actual, expected)
    # Cropping the sides instead (what a plain CLIP processor does) would differ.
    assert not torch.allclose(clip(images=image, return_tensors="pt").pixel_values, expected)


def test_square_aspect_ratio_keeps_the_clip_processor(tmp_path, reference, hub_tower):
    src = write_llava_llama(tmp_path / "src", reference, tower_inside=False, image_aspect_ratio="square")
    dst = convert_llava_llama(src, tmp_path / "hf", vision_tower=hub_tower)
    processor = json.loads((dst / "preprocessor_config.json").read_text())
    assert processor["image_processor_type"] == "CLIPImageProcessor" and "do_pad" not in processor


def test_cls_patch_becomes_the_full_strategy(tmp_path, reference, hub_tower):
    src = write_llava_llama(tmp_path / "src", reference, tower_inside=False, mm_vision_select_feature="cls_patch")
    dst = convert_llava_llama(src, tmp_path / "hf", vision_tower=hub_tower)
    config = json.loads((dst / "config.json").read_text())
    assert config["vision_feature_select_strategy"] == "full" and config["image_seq_length"] == IMAGE_TOKENS + 1
    full = reference_llava()
    full.config.vision_feature_select_strategy = "full"
    full.config.image_seq_length = IMAGE_TOKENS + 1
    assert_same_logits(dst, full, image_tokens=IMAGE_TOKENS + 1)


def test_large_outputs_are_sharded_with_an_index(tmp_path, reference, hub_tower):
    src = write_llava_llama(tmp_path / "src", reference, tower_inside=False)
    dst = convert_llava_llama(src, tmp_path / "hf", vision_tower=hub_tower, max_shard_size="40KB")
    shards = sorted(p.name for p in dst.glob("model-*-of-*.safetensors"))
    assert len(shards) > 1 and not (dst / "model.safetensors").exists()
    index = json.loads((dst / "model.safetensors.index.json").read_text())
    assert set(index["weight_map"].values()) == set(shards)
    assert set(index["weight_map"]) == set(safetensors_keys(dst))
    assert_same_logits(dst, reference)


def test_dtype_option_casts_every_weight(tmp_path, reference, hub_tower):
    src = write_llava_llama(tmp_path / "src", reference, tower_inside=False)
    dst = convert_llava_llama(src, tmp_path / "hf", vision_tower=hub_tower, dtype="bfloat16")
    assert set(safetensors_keys(dst).values()) == {"BF16"}
    assert json.loads((dst / "config.json").read_text())["dtype"] == "bfloat16"
    model, _ = load_converted(dst)
    assert model.dtype == torch.bfloat16


# ---------------------------------------------------------------------------------------
# Errors


def test_unknown_keys_are_listed_not_dropped(tmp_path, reference, hub_tower):
    extra = {"model.vision_resampler.weight": torch.zeros(2), "model.image_newline": torch.zeros(16)}
    src = write_llava_llama(tmp_path / "src", reference, tower_inside=False, extra=extra)
    with pytest.raises(ConversionError, match="2 checkpoint key") as error:
        convert_llava_llama(src, tmp_path / "hf", vision_tower=hub_tower)
    assert "model.vision_resampler.weight" in str(error.value) and "model.image_newline" in str(error.value)
    assert not (tmp_path / "hf").exists()
    result = CliRunner().invoke(app, [str(src), str(tmp_path / "hf"), "--vision-tower", str(hub_tower)])
    assert result.exit_code == 1 and "model.image_newline" in result.output


def test_missing_vision_tower_names_the_repo_to_download(tmp_path, reference):
    src = write_llava_llama(tmp_path / "src", reference, tower_inside=False)
    with pytest.raises(ConversionError, match="--vision-tower") as error:
        convert_llava_llama(src, tmp_path / "hf")
    assert TOWER_ID in str(error.value)
    empty = write_hub_clip(tmp_path / "no-weights", reference, weights=False)
    with pytest.raises(ConversionError, match=TOWER_ID):
        convert_llava_llama(src, tmp_path / "hf", vision_tower=empty)


def test_a_tower_of_the_wrong_size_is_caught(tmp_path, reference):
    # The weights are inside; the config comes from the known openai/clip-vit-large-patch14-336
    # table, which is ViT-L and does not fit the tiny tower's tensors.
    src = write_llava_llama(tmp_path / "src", reference, tower_inside=True)  # mm_hidden_size 16
    with pytest.raises(ConversionError, match="mm_hidden_size 16 differs .* hidden_size 1024"):
        convert_llava_llama(src, tmp_path / "hf")
    src = write_llava_llama(tmp_path / "src2", reference, tower_inside=True, mm_hidden_size=None)
    with pytest.raises(ConversionError, match="wrong shape .*patch_embedding"):
        convert_llava_llama(src, tmp_path / "hf")


def test_not_a_llava_llama_checkpoint(tmp_path, tiny_dirs):
    with pytest.raises(ConversionError, match="model_type 'llava'.*already"):
        convert_llava_llama(tiny_dirs("llava"), tmp_path / "hf")
    with pytest.raises(ConversionError, match="model_type 'llama'"):
        convert_llava_llama(tiny_dirs("llama"), tmp_path / "hf")
    with pytest.raises(ConversionError, match="no config.json"):
        convert_llava_llama(tmp_path, tmp_path / "hf")


def test_unsupported_projector_is_refused(tmp_path, reference, hub_tower):
    src = write_llava_llama(tmp_path / "src", reference, tower_inside=False, mm_projector_type="linear")
    with pytest.raises(ConversionError, match="mlp2x_gelu"):
        convert_llava_llama(src, tmp_path / "hf", vision_tower=hub_tower)


def test_key_mapping():
    assert map_key("model.layers.3.mlp.gate_proj.weight") == "language_model.model.layers.3.mlp.gate_proj.weight"
    assert map_key("model.embed_tokens.weight") == "language_model.model.embed_tokens.weight"
    assert map_key("model.norm.weight") == "language_model.model.norm.weight"
    assert map_key("lm_head.weight") == "language_model.lm_head.weight"
    assert map_key("model.mm_projector.0.bias") == "multi_modal_projector.linear_1.bias"
    assert map_key("model.mm_projector.2.weight") == "multi_modal_projector.linear_2.weight"
    assert (map_key("model.vision_tower.vision_tower.vision_model.encoder.layers.0.mlp.fc1.weight")
            == "vision_tower.vision_model.encoder.layers.0.mlp.fc1.weight")
    assert map_key("model.mm_projector.1.weight") is None
    assert map_key("model.vision_resampler.weight") is None
