"""Write state dicts as safetensors in the layouts the hub checkpoints use.

transformers 5 keeps some weights in memory under names and shapes that differ from the
files on the hub, and converts while loading (``transformers/conversion_mapping.py``):

* mixtral: ``block_sparse_moe.`` is renamed ``mlp.``; the per-expert ``w1``/``w3`` weights
  ([I, H] each) are stacked over experts and concatenated on dim 1 into one
  ``mlp.experts.gate_up_proj`` of shape [E, 2I, H] (gate = w1 first, up = w3 second); the
  ``w2`` weights ([H, I]) are stacked into ``mlp.experts.down_proj`` [E, H, I].
* llava: checkpoints saved by transformers 4.x have ``language_model.model.*``,
  ``language_model.lm_head.*``, ``vision_tower.vision_model.*`` and ``multi_modal_projector.*``;
  in memory they are ``model.language_model.*``, ``lm_head.*``, ``model.vision_tower.*``
  (CLIPVisionModel drops its ``vision_model`` prefix) and ``model.multi_modal_projector.*``.

``save_pretrained`` only partly undoes this: in 5.23 it does write mixtral's per-expert
keys, but a LLaVA comes out as ``vision_tower.embeddings.*`` (no ``vision_model``), a layout
no hub checkpoint has. So the tiny models are written here from the state dict, converted
back explicitly, which also fixes the shard split and keeps the bytes reproducible.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import torch
from safetensors.torch import save_file

SAFETENSORS_METADATA = {"format": "pt"}

_EXPERTS = re.compile(r"^(?P<prefix>.+)\.mlp\.experts\.(?P<param>gate_up_proj|down_proj)$")

# In-memory prefix -> transformers-4.x prefix, most specific first.
_LLAVA_PREFIXES = (
    ("lm_head.", "language_model.lm_head."),
    ("model.language_model.", "language_model.model."),
    ("model.vision_tower.", "vision_tower.vision_model."),
    ("model.multi_modal_projector.", "multi_modal_projector."),
)


def _own(tensor: torch.Tensor) -> torch.Tensor:
    # Slices of one fused parameter share storage, which safetensors refuses to save.
    return tensor.detach().clone().contiguous()


def mixtral_hub_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Inverse of transformers 5's mixtral load conversion (see the module docstring)."""
    hub: dict[str, torch.Tensor] = {}
    for key, tensor in state.items():
        match = _EXPERTS.match(key)
        if match is None:
            hub[key.replace(".mlp.gate.", ".block_sparse_moe.gate.")] = _own(tensor)
            continue
        experts = f"{match['prefix']}.block_sparse_moe.experts"
        if match["param"] == "gate_up_proj":
            gate, up = tensor.chunk(2, dim=1)  # Concatenate(dim=1) of [w1, w3], undone
            for index in range(tensor.shape[0]):
                hub[f"{experts}.{index}.w1.weight"] = _own(gate[index])
                hub[f"{experts}.{index}.w3.weight"] = _own(up[index])
        else:
            for index in range(tensor.shape[0]):
                hub[f"{experts}.{index}.w2.weight"] = _own(tensor[index])
    return _in_hub_order(hub)


def _in_hub_order(hub: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Order keys as the hub shards do: per layer, experts numerically, w1 w2 w3."""

    def sort_key(key: str) -> tuple:
        return tuple(int(part) if part.isdigit() else part for part in key.split("."))

    layer_keys = sorted((k for k in hub if ".layers." in k), key=sort_key)
    head = [k for k in hub if ".layers." not in k and "embed_tokens" in k]
    tail = [k for k in hub if ".layers." not in k and "embed_tokens" not in k]
    return {key: hub[key] for key in [*head, *layer_keys, *tail]}


def llava_hub_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename transformers 5 LLaVA keys to the transformers-4.x layout of BiMediX2-8B-hf."""
    hub: dict[str, torch.Tensor] = {}
    for key, tensor in state.items():
        for new, old in _LLAVA_PREFIXES:
            if key.startswith(new):
                hub[old + key.removeprefix(new)] = _own(tensor)
                break
        else:
            # Fail loudly if a future transformers moves a module: a silent pass-through
            # would write a checkpoint that no longer looks like the hub one.
            raise KeyError(f"no transformers-4.x name known for {key!r}")
    return hub


def plain_state_dict(state: dict[str, torch.Tensor], tied_lm_head: bool) -> dict[str, torch.Tensor]:
    """Llama/Gemma: the in-memory names are the hub names; tied heads are not stored."""
    return {key: _own(t) for key, t in state.items() if not (tied_lm_head and key == "lm_head.weight")}


def _save(tensors: dict[str, torch.Tensor], path: Path) -> None:
    save_file(tensors, str(path), metadata=SAFETENSORS_METADATA)
    # safetensors creates its files 0600; give them the umask default like every other
    # file here (and like hub downloads), so a shared checkpoint directory stays readable.
    umask = os.umask(0)
    os.umask(umask)
    path.chmod(0o666 & ~umask)


def write_safetensors(out_dir: Path, tensors: dict[str, torch.Tensor], shards: int = 1) -> list[str]:
    """Write ``model.safetensors``, or ``model-0000k-of-0000n.safetensors`` + index like the hub."""
    if shards == 1:
        _save(tensors, out_dir / "model.safetensors")
        return ["model.safetensors"]
    groups = _split_by_size(list(tensors), tensors, shards)
    names = [f"model-{i:05d}-of-{shards:05d}.safetensors" for i in range(1, shards + 1)]
    weight_map: dict[str, str] = {}
    for name, keys in zip(names, groups):
        _save({key: tensors[key] for key in keys}, out_dir / name)
        weight_map.update(dict.fromkeys(keys, name))
    index = {
        "metadata": {"total_size": sum(t.numel() * t.element_size() for t in tensors.values())},
        "weight_map": dict(sorted(weight_map.items())),
    }
    (out_dir / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")
    return [*names, "model.safetensors.index.json"]


def _split_by_size(keys: list[str], tensors: dict[str, torch.Tensor], shards: int) -> list[list[str]]:
    """Cut the ordered keys into ``shards`` contiguous, non-empty groups of similar byte size."""
    if len(keys) < shards:
        raise ValueError(f"cannot split {len(keys)} tensors into {shards} shards")
    sizes = [tensors[key].numel() * tensors[key].element_size() for key in keys]
    budget = sum(sizes) / shards
    groups: list[list[str]] = [[]]
    running = 0
    for position, (key, size) in enumerate(zip(keys, sizes)):
        remaining_keys = len(keys) - position
        remaining_groups = shards - len(groups)
        must_cut = remaining_keys == remaining_groups and remaining_groups > 0
        if groups[-1] and remaining_groups > 0 and (running + size > budget * len(groups) or must_cut):
            groups.append([])
        groups[-1].append(key)
        running += size
    return groups
