"""Convert an original LLaVA(-pp) ``llava_llama`` checkpoint to the HF Llava layout.

BiMediX2 was released twice: ``MBZUAI/BiMediX2-8B`` in the LLaVA codebase's layout
(``LlavaLlamaForCausalLM``, config ``model_type: "llava_llama"``) and ``MBZUAI/BiMediX2-8B-hf``
as a transformers ``LlavaForConditionalGeneration``. This module turns the first kind into the
second, with the safetensors keys in the transformers-4.x form the -hf hub checkpoint has::

    python -m engine.convert_llava SRC DST [--vision-tower DIR] [--dtype bfloat16|float16|float32]

or ``convert_llava_llama(src, dst, vision_tower=None, dtype=None)`` from Python.

Weights (LLaVA codebase name -> HF Llava name; ``KEY_PREFIXES`` below)::

    model.embed_tokens.*                          -> language_model.model.embed_tokens.*
    model.layers.N.*                              -> language_model.model.layers.N.*
    model.norm.*                                  -> language_model.model.norm.*
    lm_head.*                                     -> language_model.lm_head.*
    model.mm_projector.0.*  (mlp2x_gelu Linear 1) -> multi_modal_projector.linear_1.*
    model.mm_projector.2.*  (mlp2x_gelu Linear 2) -> multi_modal_projector.linear_2.*
    model.vision_tower.vision_tower.vision_model.* -> vision_tower.vision_model.*

This is the mapping of transformers' ``models/llava/convert_llava_weights_to_hf.py``
(``KEYS_TO_MODIFY_MAPPING``; that script is not shipped in the 5.x wheels, so it is written
out here as exact prefixes instead of its chained substring replacements). Like it, we drop
the ``rotary_emb.inv_freq`` buffers older checkpoints saved (and CLIP's ``position_ids``),
which the model recomputes. Any other key is an error that lists it: nothing is silently
dropped. LLaVA only saves the CLIP tower inside the checkpoint when it was trained; otherwise
the tower is ``CLIPVisionModel.from_pretrained(mm_vision_tower)`` at run time, and here it is
read from ``--vision-tower DIR`` (a local copy of that hub repo: a full ``CLIPModel`` as
``openai/clip-vit-large-patch14-336`` ships, whose text half is ignored, or a
``CLIPVisionModel`` save), or from ``mm_vision_tower`` itself when that is a local directory.

Config: the Llama fields become ``text_config``; the CLIP tower's config becomes
``vision_config``; ``mm_vision_select_layer`` -> ``vision_feature_layer``;
``mm_vision_select_feature`` "patch" -> ``vision_feature_select_strategy`` "default" (CLS
dropped), "cls_patch" -> "full"; ``mm_projector_type`` "mlp2x_gelu" -> ``projector_hidden_act``
"gelu" (the only projector HF Llava has); ``image_seq_length`` = patches per image (+1 CLS
for "full"). LLaVA never had an image token in its vocabulary (it splices id -200 into the
ids), so ``<image>`` is added to the tokenizer as a special token and ``image_token_index`` is
its id; the new embedding and lm_head rows are the mean of the existing rows (transformers'
converter samples near that mean; the mean keeps the output deterministic). No pad token is
added: a pad token or chat template the tokenizer has is kept as it is.

``image_aspect_ratio: "pad"``: LLaVA pads every image to a square with the CLIP mean colour
(``expand2square``) before the CLIP processor resizes the short side and centre-crops, so the
whole image is seen. HF's ``CLIPImageProcessor`` has no such step and would crop the sides of
a non-square image. transformers 5 has ``LlavaImageProcessor`` (a CLIP processor plus
``do_pad``, which pads to square with ``int(mean * 255)`` centred exactly like
``expand2square``), so for "pad" the written ``preprocessor_config.json`` names it with
``do_pad: true``; other aspect ratios keep the plain ``CLIPImageProcessor``. "anyres" (LLaVA-NeXT)
is not a Llava checkpoint and is refused.
"""

from __future__ import annotations

import inspect
import json
import math
import re
import shutil
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import torch
import typer

from engine.tiny_models import checkpoints

IMAGE_TOKEN = "<image>"
SOURCE_MODEL_TYPES = ("llava_llama",)
DEFAULT_MAX_SHARD_SIZE = "5GB"  # save_pretrained's default

# LLaVA codebase prefix -> transformers-4.x HF Llava prefix (as in MBZUAI/BiMediX2-8B-hf).
KEY_PREFIXES = (
    ("model.vision_tower.vision_tower.vision_model.", "vision_tower.vision_model."),
    ("model.mm_projector.0.", "multi_modal_projector.linear_1."),
    ("model.mm_projector.2.", "multi_modal_projector.linear_2."),
    ("model.embed_tokens.", "language_model.model.embed_tokens."),
    ("model.layers.", "language_model.model.layers."),
    ("model.norm.", "language_model.model.norm."),
    ("lm_head.", "language_model.lm_head."),
)
TOWER_PREFIX = "vision_tower.vision_model."
EMBED_KEY = "language_model.model.embed_tokens.weight"
LM_HEAD_KEY = "language_model.lm_head.weight"
# Buffers older transformers saved and the models recompute (non-persistent today).
DROPPED_BUFFERS = re.compile(r"(^|\.)(rotary_emb\.inv_freq|embeddings\.position_ids)$")
# In a CLIP tower directory: the parts of a full CLIPModel that LLaVA's CLIPVisionModel ignores.
TOWER_IGNORED = re.compile(r"^(text_model\.|text_projection\.|visual_projection\.|logit_scale$)")
# Keys of a CLIPVisionModel saved by transformers 5, which drops the ``vision_model.`` prefix.
TOWER_BARE = ("embeddings.", "encoder.", "pre_layrnorm.", "post_layernorm.")
SELECT_FEATURE = {"patch": "default", "cls_patch": "full"}
DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}
# llava_llama config keys that are Llama's, for text_config (the rest is LLaVA's own).
_LLAMA_EXCLUDED = {"self", "architectures", "transformers_version", "dtype", "id2label", "label2id",
                   "problem_type", "is_encoder_decoder", "chunk_size_feed_forward", "return_dict",
                   "output_hidden_states"}
_LEGACY_LLAMA_KEYS = {"rope_theta", "rope_scaling"}

# The tower LLaVA-1.5 and BiMediX2 use, so that a checkpoint that carries its tower's weights
# converts offline: its CLIP vision config and preprocessor_config.json, as on the hub.
_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
_CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


def _openai_clip_l14(image_size: int) -> tuple[dict, dict]:
    vision = {
        "model_type": "clip_vision_model", "hidden_size": 1024, "intermediate_size": 4096,
        "num_hidden_layers": 24, "num_attention_heads": 16, "image_size": image_size, "patch_size": 14,
        "projection_dim": 768, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5, "num_channels": 3,
        "attention_dropout": 0.0, "initializer_factor": 1.0, "initializer_range": 0.02,
    }
    processor = {
        "crop_size": image_size, "do_center_crop": True, "do_normalize": True, "do_resize": True,
        "feature_extractor_type": "CLIPFeatureExtractor", "image_mean": _CLIP_MEAN, "image_std": _CLIP_STD,
        "resample": 3, "size": image_size,
    }
    return vision, processor


KNOWN_TOWERS = {
    "openai/clip-vit-large-patch14-336": _openai_clip_l14(336),
    "openai/clip-vit-large-patch14": _openai_clip_l14(224),
}


class ConversionError(ValueError):
    """The source cannot be converted as it is; the message says why and what to do."""


# ---------------------------------------------------------------------------------------
# Reading checkpoints


class _Weights:
    """The tensors of a checkpoint directory, read one at a time (safetensors or torch .bin)."""

    def __init__(self, directory: Path):
        from safetensors import safe_open

        files = _weight_files(directory)
        if not files:
            raise ConversionError(
                f"no weights in {directory}: expected model.safetensors, model-*-of-*.safetensors "
                "(+ index) or pytorch_model*.bin"
            )
        self.directory = directory
        self._where: dict[str, Path] = {}
        self._handles: dict[Path, object] = {}
        self._bins: dict[Path, dict[str, torch.Tensor]] = {}
        for path in files:
            if path.suffix == ".safetensors":
                handle = safe_open(str(path), "pt")
                self._handles[path] = handle
                keys = list(handle.keys())
            else:
                self._bins[path] = state = _torch_load(path)
                keys = list(state)
            for key in keys:
                if key in self._where:
                    raise ConversionError(f"{key!r} is in both {self._where[key].name} and {path.name}")
                self._where[key] = path

    def keys(self) -> list[str]:
        return list(self._where)

    def get(self, key: str) -> torch.Tensor:
        path = self._where[key]
        if path in self._bins:
            # Own storage: torch.save keeps tied tensors shared, which safetensors refuses to write.
            return self._bins[path][key].clone()
        return self._handles[path].get_tensor(key)


def _weight_files(directory: Path) -> list[Path]:
    for index_name, single, pattern in (
        ("model.safetensors.index.json", "model.safetensors", "model-*-of-*.safetensors"),
        ("pytorch_model.bin.index.json", "pytorch_model.bin", "pytorch_model-*-of-*.bin"),
    ):
        index = directory / index_name
        if index.is_file():
            weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
            files = [directory / name for name in sorted(set(weight_map.values()))]
            missing = [path.name for path in files if not path.is_file()]
            if missing:
                raise ConversionError(f"{index} names shard(s) that are not there: {', '.join(missing)}")
            return files
        if (directory / single).is_file():
            return [directory / single]
        shards = sorted(directory.glob(pattern))
        if shards:
            return shards
    return []


def _torch_load(path: Path) -> dict[str, torch.Tensor]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError:  # files written before torch's zip format cannot be memory-mapped
        return torch.load(path, map_location="cpu", weights_only=True)


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _read_source_config(src: Path) -> dict:
    path = src / "config.json"
    if not path.is_file():
        raise ConversionError(f"{src} has no config.json: not a checkpoint directory")
    config = _read_json(path)
    model_type = config.get("model_type")
    if model_type not in SOURCE_MODEL_TYPES:
        hint = " (it already is a transformers Llava checkpoint)" if model_type == "llava" else ""
        raise ConversionError(
            f"{src} is not a LLaVA llava_llama checkpoint: its config has model_type {model_type!r}{hint}; "
            f"expected one of {SOURCE_MODEL_TYPES}"
        )
    if not config.get("mm_vision_tower"):
        raise ConversionError(f"{path} has no mm_vision_tower: a llava_llama config without a vision tower")
    projector = config.get("mm_projector_type", "linear")
    if projector != "mlp2x_gelu":
        raise ConversionError(
            f"mm_projector_type {projector!r} is not supported: HF Llava's projector is Linear-GELU-Linear, "
            "which is LLaVA's 'mlp2x_gelu'"
        )
    feature = config.get("mm_vision_select_feature", "patch")
    if feature not in SELECT_FEATURE:
        raise ConversionError(f"mm_vision_select_feature {feature!r} is not one of {sorted(SELECT_FEATURE)}")
    aspect = config.get("image_aspect_ratio") or "square"
    if aspect.startswith("anyres") or config.get("mm_patch_merge_type", "flat") != "flat":
        raise ConversionError(
            f"image_aspect_ratio {aspect!r} / mm_patch_merge_type {config.get('mm_patch_merge_type')!r} is "
            "LLaVA-NeXT tiling, which HF's LlavaForConditionalGeneration does not do"
        )
    for flag in ("mm_use_im_start_end", "mm_use_im_patch_token"):
        if config.get(flag):
            raise ConversionError(
                f"{flag}: true is not supported: HF Llava has no <im_start>/<im_end>/<im_patch> tokens around images"
            )
    return config


# ---------------------------------------------------------------------------------------
# Key mapping


def map_key(key: str) -> str | None:
    """The HF Llava (transformers-4.x) name of a llava_llama key, or None if unknown."""
    for old, new in KEY_PREFIXES:
        if key.startswith(old):
            return new + key.removeprefix(old)
    return None


def _map_checkpoint_keys(keys: list[str]) -> dict[str, str]:
    """New name -> source name; raises listing every key that has no mapping."""
    mapped: dict[str, str] = {}
    unknown = []
    for key in keys:
        if DROPPED_BUFFERS.search(key):
            continue
        new = map_key(key)
        if new is None:
            unknown.append(key)
        else:
            mapped[new] = key
    if unknown:
        raise ConversionError(f"{len(unknown)} checkpoint key(s) with no HF Llava name: {_listing(unknown)}")
    return mapped


def _map_tower_keys(keys: list[str], directory: Path) -> dict[str, str]:
    mapped: dict[str, str] = {}
    unknown = []
    for key in keys:
        if TOWER_IGNORED.match(key) or DROPPED_BUFFERS.search(key):
            continue
        if key.startswith("vision_model."):
            mapped[TOWER_PREFIX + key.removeprefix("vision_model.")] = key
        elif key.startswith(TOWER_BARE):
            mapped[TOWER_PREFIX + key] = key
        else:
            unknown.append(key)
    if unknown:
        raise ConversionError(f"{len(unknown)} key(s) in the vision tower {directory} that are not CLIP's: {_listing(unknown)}")
    if not mapped:
        raise ConversionError(f"{directory} has no CLIP vision weights (vision_model.*)")
    return mapped


def _listing(keys: list[str], limit: int = 50) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", ... and {len(keys) - limit} more" if len(keys) > limit else "")


# ---------------------------------------------------------------------------------------
# Vision tower: config, weights and image processor


@dataclass
class _Tower:
    vision_config: dict
    processor: dict | None
    weights_dir: Path | None  # None: weights come from the checkpoint
    where: str  # for messages


def _local_tower_dir(name: str) -> Path | None:
    path = Path(name).expanduser()
    return path if (path / "config.json").is_file() else None


def _resolve_tower(config: dict, option: Path | None, inside: bool, src: Path) -> _Tower:
    tower_id = config["mm_vision_tower"]
    directory = Path(option) if option is not None else _local_tower_dir(tower_id)
    if option is not None and not (directory / "config.json").is_file():
        raise ConversionError(f"--vision-tower {directory} has no config.json: pass a downloaded {tower_id} directory")
    download = (
        f"download it (e.g. `huggingface-cli download {tower_id} --local-dir DIR`) and pass --vision-tower DIR"
    )
    if directory is not None:
        vision = _clip_vision_dict(_read_json(directory / "config.json"), directory)
        processor_path = next(
            (path for path in (directory / "preprocessor_config.json", src / "preprocessor_config.json") if path.is_file()),
            None,
        )
        processor = _read_json(processor_path) if processor_path else KNOWN_TOWERS.get(tower_id, (None, None))[1]
        if not inside and not _weight_files(directory):
            raise ConversionError(
                f"the checkpoint has no vision tower weights and {directory} has none either; {download}"
            )
        return _Tower(vision, processor, None if inside else directory, str(directory))
    if not inside:
        raise ConversionError(
            f"the checkpoint does not contain its vision tower (no model.vision_tower.* keys); LLaVA loads it "
            f"from the hub repo {tower_id!r} named by mm_vision_tower: {download}"
        )
    if tower_id in KNOWN_TOWERS:
        vision, processor = KNOWN_TOWERS[tower_id]
        return _Tower(dict(vision), dict(processor), None, tower_id)
    raise ConversionError(
        f"the checkpoint contains the vision tower weights but not their config (mm_vision_tower {tower_id!r} "
        f"is not a known tower); {download}"
    )


def _clip_vision_dict(raw: dict, directory: Path) -> dict:
    model_type = raw.get("model_type")
    if model_type == "clip":
        raw = {"model_type": "clip_vision_model", **raw.get("vision_config", {})}
    elif model_type != "clip_vision_model":
        raise ConversionError(f"{directory} is not a CLIP model (model_type {model_type!r}); LLaVA's tower is CLIP")
    return raw


def _vision_config(raw: dict, dtype_name: str):
    from transformers import CLIPVisionConfig

    drop = {"model_type", "architectures", "transformers_version", "dtype", "torch_dtype", "_name_or_path"}
    vision = CLIPVisionConfig(**{key: value for key, value in raw.items() if key not in drop})
    vision.dtype = dtype_name
    return vision


def _image_processor_config(raw: dict | None, aspect: str, where: str) -> dict:
    if raw is None:
        raise ConversionError(f"no preprocessor_config.json for the image processor in {where}")
    cfg = {key: value for key, value in raw.items()
           if key not in ("feature_extractor_type", "image_processor_type", "processor_class", "_processor_class")}
    if isinstance(cfg.get("size"), int):
        cfg["size"] = {"shortest_edge": cfg["size"]}
    if isinstance(cfg.get("crop_size"), int):
        cfg["crop_size"] = {"height": cfg["crop_size"], "width": cfg["crop_size"]}
    if aspect == "pad":
        # LLaVA's expand2square (see the module docstring): LlavaImageProcessor's do_pad.
        cfg["image_processor_type"] = "LlavaImageProcessor"
        cfg["do_pad"] = True
    else:
        cfg["image_processor_type"] = "CLIPImageProcessor"
    cfg["processor_class"] = "LlavaProcessor"
    return cfg


# ---------------------------------------------------------------------------------------
# Tokenizer


@dataclass
class _TokenizerPlan:
    image_token_id: int
    vocab_len: int
    added_ids: list[int]
    chat_template: str | None
    write: object = field(repr=False)  # callable(dst)


def _tokenizer_plan(src: Path) -> _TokenizerPlan:
    if (src / "tokenizer.json").is_file():
        return _fast_tokenizer_plan(src)
    return _auto_tokenizer_plan(src)


def _fast_tokenizer_plan(src: Path) -> _TokenizerPlan:
    """Edit the files themselves, so that everything but the new <image> token stays as it was."""
    from tokenizers import AddedToken, Tokenizer

    backend = Tokenizer.from_file(str(src / "tokenizer.json"))
    config_path = src / "tokenizer_config.json"
    tokenizer_config = _read_json(config_path) if config_path.is_file() else {}
    added: list[int] = []
    image_id = backend.token_to_id(IMAGE_TOKEN)
    if image_id is None:
        backend.add_special_tokens([AddedToken(IMAGE_TOKEN, special=True, normalized=False)])
        image_id = backend.token_to_id(IMAGE_TOKEN)
        added.append(image_id)
        tokenizer_config.setdefault("added_tokens_decoder", {})[str(image_id)] = {
            "content": IMAGE_TOKEN, "lstrip": False, "normalized": False, "rstrip": False,
            "single_word": False, "special": True,
        }
    template = tokenizer_config.get("chat_template")
    if template is None and (src / "chat_template.jinja").is_file():
        template = (src / "chat_template.jinja").read_text(encoding="utf-8")

    def write(dst: Path) -> None:
        backend.save(str(dst / "tokenizer.json"), pretty=True)
        (dst / "tokenizer_config.json").write_text(
            json.dumps(tokenizer_config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        for name in ("special_tokens_map.json", "chat_template.jinja"):
            if (src / name).is_file():
                shutil.copyfile(src / name, dst / name)

    vocab_len = backend.get_vocab_size(with_added_tokens=True)
    return _TokenizerPlan(image_id, vocab_len, added, template if isinstance(template, str) else None, write)


def _auto_tokenizer_plan(src: Path) -> _TokenizerPlan:
    from transformers import AddedToken, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(src)
    added: list[int] = []
    if IMAGE_TOKEN not in tokenizer.get_vocab():
        tokenizer.add_tokens([AddedToken(IMAGE_TOKEN, special=True, normalized=False)], special_tokens=True)
        added.append(tokenizer.convert_tokens_to_ids(IMAGE_TOKEN))
    template = tokenizer.chat_template if isinstance(tokenizer.chat_template, str) else None
    return _TokenizerPlan(tokenizer.convert_tokens_to_ids(IMAGE_TOKEN), len(tokenizer), added, template,
                          lambda dst: tokenizer.save_pretrained(dst))


def _grow_rows(weight: torch.Tensor, rows: int, fill_ids: list[int]) -> torch.Tensor:
    """``rows`` rows: new ones, and those of ``fill_ids``, are the mean of the existing rows."""
    mean = weight.float().mean(dim=0).to(weight.dtype)
    extra = rows - weight.shape[0]
    grown = torch.cat([weight, mean.expand(extra, -1)]) if extra > 0 else weight.clone()
    for token_id in fill_ids:
        grown[token_id] = mean
    return grown


# ---------------------------------------------------------------------------------------
# Config


def _text_config(source: dict, vocab_size: int, dtype_name: str):
    from transformers import LlamaConfig

    allowed = (set(inspect.signature(LlamaConfig.__init__).parameters) - _LLAMA_EXCLUDED) | _LEGACY_LLAMA_KEYS
    fields = {key: value for key, value in source.items() if key in allowed}
    fields["vocab_size"] = vocab_size
    text = LlamaConfig(**fields)
    text.dtype = dtype_name
    return text


def _llava_config(source: dict, text_config, vision_config, image_token_id: int):
    from transformers import LlavaConfig

    strategy = SELECT_FEATURE[source.get("mm_vision_select_feature", "patch")]
    patches = (vision_config.image_size // vision_config.patch_size) ** 2
    mm_hidden = source.get("mm_hidden_size")
    if mm_hidden is not None and mm_hidden != vision_config.hidden_size:
        raise ConversionError(
            f"mm_hidden_size {mm_hidden} differs from the vision tower's hidden_size {vision_config.hidden_size}: "
            "the --vision-tower is not the one this checkpoint was trained with"
        )
    config = LlavaConfig(
        text_config=text_config,
        vision_config=vision_config,
        image_token_index=image_token_id,
        image_seq_length=patches + (1 if strategy == "full" else 0),
        projector_hidden_act="gelu",
        vision_feature_select_strategy=strategy,
        vision_feature_layer=source.get("mm_vision_select_layer", -1),
        multimodal_projector_bias=True,
        tie_word_embeddings=text_config.tie_word_embeddings,
    )
    config.architectures = ["LlavaForConditionalGeneration"]
    config.dtype = text_config.dtype
    return config


def _check_against_model(config, tensors: dict[str, torch.Tensor]) -> None:
    """Every parameter the HF Llava has is there, with its shape, and nothing else."""
    from transformers import LlavaForConditionalGeneration

    with torch.device("meta"):
        model = LlavaForConditionalGeneration(config)
    expected = {key: tuple(t.shape) for key, t in checkpoints.llava_hub_state_dict(model.state_dict()).items()}
    if config.text_config.tie_word_embeddings and LM_HEAD_KEY not in tensors:
        expected.pop(LM_HEAD_KEY, None)
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    wrong = [f"{key} {tuple(tensors[key].shape)} (expected {expected[key]})"
             for key in expected if key in tensors and tuple(tensors[key].shape) != expected[key]]
    problems = []
    if missing:
        problems.append(f"missing {_listing(missing, 10)}")
    if extra:
        problems.append(f"not in HF Llava {_listing(extra, 10)}")
    if wrong:
        problems.append(f"wrong shape {_listing(wrong, 10)}")
    if problems:
        raise ConversionError("the converted weights do not fit the HF Llava built from the config: " + "; ".join(problems))


# ---------------------------------------------------------------------------------------
# Writing


def parse_size(size: int | str) -> int:
    """Bytes from 5000000, "5GB" (10^9) or "5GiB" (2^30)."""
    if isinstance(size, int):
        return size
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?\s*", size, flags=re.IGNORECASE)
    if match is None:
        raise ConversionError(f"not a size: {size!r} (e.g. 5GB, 500MB, 2GiB)")
    number, unit = float(match[1]), (match[2] or "B").upper()
    powers = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
              "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}
    return int(number * powers[unit])


def _ordered(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    def sort_key(key: str) -> tuple:
        group = next(i for i, prefix in enumerate(
            ("language_model.model.embed_tokens.", "language_model.model.layers.", "language_model.model.",
             "language_model.lm_head.", "multi_modal_projector.", "vision_tower.")) if key.startswith(prefix))
        return (group, *((0, int(part), "") if part.isdigit() else (1, 0, part) for part in key.split(".")))

    return {key: tensors[key] for key in sorted(tensors, key=sort_key)}


def _write_weights(dst: Path, tensors: dict[str, torch.Tensor], max_shard_size: int) -> None:
    total = sum(t.numel() * t.element_size() for t in tensors.values())
    shards = max(1, min(len(tensors), math.ceil(total / max_shard_size)))
    checkpoints.write_safetensors(dst, tensors, shards=shards)


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


def _clear_outputs(dst: Path) -> None:
    """Remove what an earlier conversion into ``dst`` wrote, so no stale file is left beside the new ones."""
    names = ("model.safetensors", "model.safetensors.index.json", "chat_template.json", "chat_template.jinja",
             "special_tokens_map.json", "generation_config.json")
    stale = [*(dst / name for name in names), *dst.glob("model-*-of-*.safetensors")]
    for path in stale:
        path.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------
# The conversion


def convert_llava_llama(
    src: str | Path,
    dst: str | Path,
    vision_tower: str | Path | None = None,
    dtype: str | torch.dtype | None = None,
    max_shard_size: int | str = DEFAULT_MAX_SHARD_SIZE,
) -> Path:
    """Write ``src`` (an original LLaVA ``llava_llama`` checkpoint) to ``dst`` as an HF Llava.

    ``vision_tower``: a local CLIP directory (the ``mm_vision_tower`` hub repo), needed when the
    checkpoint does not contain the tower, and for the tower's config otherwise (unless it is a
    known tower). ``dtype``: bfloat16, float16 or float32; default: the source config's dtype.
    """
    from transformers import GenerationConfig

    src, dst = Path(src), Path(dst)
    if dst.resolve() == src.resolve():
        raise ConversionError("the output directory must differ from the source")
    source = _read_source_config(src)
    weights = _Weights(src)
    mapped = _map_checkpoint_keys(weights.keys())
    inside = any(key.startswith(TOWER_PREFIX) for key in mapped)
    tower = _resolve_tower(source, Path(vision_tower) if vision_tower is not None else None, inside, src)
    aspect = source.get("image_aspect_ratio") or "square"
    processor_config = _image_processor_config(tower.processor, aspect, tower.where)
    plan = _tokenizer_plan(src)
    target = _target_dtype(dtype, source, weights, mapped)
    dtype_name = str(target).removeprefix("torch.")

    def cast(tensor: torch.Tensor) -> torch.Tensor:
        return tensor.to(target) if tensor.is_floating_point() else tensor

    tensors = {new: cast(weights.get(old)) for new, old in mapped.items()}
    if not inside:
        tower_weights = _Weights(tower.weights_dir)
        for new, old in _map_tower_keys(tower_weights.keys(), tower.weights_dir).items():
            tensors[new] = cast(tower_weights.get(old))
    if EMBED_KEY not in tensors:
        raise ConversionError("the checkpoint has no model.embed_tokens.weight")
    rows = max(tensors[EMBED_KEY].shape[0], plan.vocab_len)
    for key in (EMBED_KEY, LM_HEAD_KEY):
        if key in tensors:
            tensors[key] = _grow_rows(tensors[key], rows, plan.added_ids)

    text_config = _text_config(source, rows, dtype_name)
    vision_config = _vision_config(tower.vision_config, dtype_name)
    config = _llava_config(source, text_config, vision_config, plan.image_token_id)
    _check_against_model(config, tensors)
    crop = processor_config.get("crop_size") or {}
    if crop and (crop.get("height"), crop.get("width")) != (vision_config.image_size,) * 2:
        raise ConversionError(
            f"the image processor crops to {crop} but the vision tower takes {vision_config.image_size}px images"
        )

    dst.mkdir(parents=True, exist_ok=True)
    _clear_outputs(dst)
    config.save_pretrained(dst)
    if (src / "generation_config.json").is_file():
        shutil.copyfile(src / "generation_config.json", dst / "generation_config.json")
    else:
        GenerationConfig(bos_token_id=text_config.bos_token_id, eos_token_id=text_config.eos_token_id).save_pretrained(dst)
    _write_weights(dst, _ordered(tensors), parse_size(max_shard_size))
    plan.write(dst)
    _write_json(dst / "preprocessor_config.json", processor_config)
    # transformers 5's LlavaProcessor needs patch_size and num_additional_image_tokens=1 (CLIP's
    # CLS) to expand each <image> into image_seq_length tokens for the "default" strategy.
    _write_json(dst / "processor_config.json", {
        "image_token": IMAGE_TOKEN,
        "num_additional_image_tokens": 1,
        "patch_size": vision_config.patch_size,
        "processor_class": "LlavaProcessor",
        "vision_feature_select_strategy": config.vision_feature_select_strategy,
    })
    if plan.chat_template is not None:
        _write_json(dst / "chat_template.json", {"chat_template": plan.chat_template})
    _check_written_tokenizer(dst, plan.image_token_id)
    return dst


def _check_written_tokenizer(dst: Path, image_token_id: int) -> None:
    """transformers must read <image> back as the one token the config names."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(dst)
    ids = tokenizer.encode(f"x {IMAGE_TOKEN}\ny", add_special_tokens=False)
    if tokenizer.convert_tokens_to_ids(IMAGE_TOKEN) != image_token_id or ids.count(image_token_id) != 1:
        raise ConversionError(
            f"the tokenizer written to {dst} does not encode {IMAGE_TOKEN} as the single token {image_token_id}"
        )


def _target_dtype(dtype, source: dict, weights: _Weights, mapped: dict[str, str]) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    name = dtype or source.get("dtype") or source.get("torch_dtype")
    if name is None:
        return weights.get(mapped[EMBED_KEY]).dtype if EMBED_KEY in mapped else torch.float32
    if name not in DTYPES:
        raise ConversionError(f"dtype {name!r} is not one of {sorted(DTYPES)}")
    return DTYPES[name]


# ---------------------------------------------------------------------------------------
# CLI


class DType(str, Enum):
    bfloat16 = "bfloat16"
    float16 = "float16"
    float32 = "float32"


app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Convert an original LLaVA llava_llama checkpoint (MBZUAI/BiMediX2-8B) to HF Llava.")


@app.command()
def main(
    src: Annotated[Path, typer.Argument(help="the llava_llama checkpoint directory (config.json + weights + tokenizer)")],
    dst: Annotated[Path, typer.Argument(help="output directory for the HF LlavaForConditionalGeneration checkpoint")],
    vision_tower: Annotated[Optional[Path], typer.Option(
        "--vision-tower", help="local copy of the CLIP repo named by mm_vision_tower (for its weights when the "
                               "checkpoint lacks them, and its config and preprocessor_config.json)")] = None,
    dtype: Annotated[Optional[DType], typer.Option("--dtype", help="weight dtype; default: the source config's")] = None,
    max_shard_size: Annotated[str, typer.Option("--max-shard-size", help="largest safetensors shard, e.g. 5GB")]
    = DEFAULT_MAX_SHARD_SIZE,
) -> None:
    """Convert SRC (LLaVA codebase layout) into DST (transformers Llava layout, like BiMediX2-8B-hf)."""
    try:
        out = convert_llava_llama(src, dst, vision_tower, dtype.value if dtype else None, max_shard_size)
    except ConversionError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(str(out))


if __name__ == "__main__":
    app()
