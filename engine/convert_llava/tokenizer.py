"""The tokenizer: LLaVA's plus an ``<image>`` special token, and the embedding rows it needs."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import torch

from engine.convert_llava.common import ConversionError, _read_json

IMAGE_TOKEN = "<image>"


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


def _check_written_tokenizer(dst: Path, image_token_id: int) -> None:
    """transformers must read <image> back as the one token the config names."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(dst)
    ids = tokenizer.encode(f"x {IMAGE_TOKEN}\ny", add_special_tokens=False)
    if tokenizer.convert_tokens_to_ids(IMAGE_TOKEN) != image_token_id or ids.count(image_token_id) != 1:
        raise ConversionError(
            f"the tokenizer written to {dst} does not encode {IMAGE_TOKEN} as the single token {image_token_id}"
        )
