"""Reading a checkpoint's tensors (safetensors or torch .bin), their dtype, and writing the result."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import torch

from engine.convert_llava.common import ConversionError
from engine.convert_llava.keys import EMBED_KEY
from engine.tiny_models import checkpoints

DEFAULT_MAX_SHARD_SIZE = "5GB"  # save_pretrained's default
DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


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


def _clear_outputs(dst: Path) -> None:
    """Remove what an earlier conversion into ``dst`` wrote, so no stale file is left beside the new ones."""
    names = ("model.safetensors", "model.safetensors.index.json", "chat_template.json", "chat_template.jinja",
             "special_tokens_map.json", "generation_config.json")
    stale = [*(dst / name for name in names), *dst.glob("model-*-of-*.safetensors")]
    for path in stale:
        path.unlink(missing_ok=True)
