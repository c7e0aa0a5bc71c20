"""The CLIP vision tower: where its config, weights and image processor config come from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.convert_llava.common import ConversionError, _read_json
from engine.convert_llava.weights import _weight_files

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
        # LLaVA's expand2square (see the package docstring): LlavaImageProcessor's do_pad.
        cfg["image_processor_type"] = "LlavaImageProcessor"
        cfg["do_pad"] = True
    else:
        cfg["image_processor_type"] = "CLIPImageProcessor"
    cfg["processor_class"] = "LlavaProcessor"
    return cfg
