"""Tiny tokenizers trained on the bilingual corpus, saved in the hub models' formats.

Three styles, one per real tokenizer family:

* Mistral/Mixtral (BiMediX): SentencePiece-converted BPE, ``▁`` word prefix, byte fallback.
  Ids 0-2 are ``<unk> <s> </s>`` and 3-258 the 256 ``<0xXX>`` byte pieces, as in Mistral's vocab.
* Llama-3 (BiMediX2): byte-level BPE with the Llama-3 split regex, special tokens after the
  trained vocabulary (the real ones sit at 128000+).
* Gemma-3: SentencePiece-converted BPE without a dummy prefix, byte fallback.

The pipelines (normalizer, pre-tokenizer, decoder) are the ones transformers 5 rebuilds in
``LlamaTokenizer``/``GemmaTokenizer`` when it loads these files, so what the ``tokenizers``
library does with ``tokenizer.json`` and what ``AutoTokenizer`` does agree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from tokenizers import trainers

from . import templates
from .corpus import sentences

# Tokens learned from the corpus (alphabet included) on top of the reserved ones. The corpus
# supports about 1480 before every word is a single token, so the trainer always reaches
# this size and the vocabulary does not shift when a sentence is edited.
TRAINED_VOCAB = 1024
BYTE_PIECES = tuple(f"<0x{value:02X}>" for value in range(256))
# The pre-tokenizer regex of Llama-3's tokenizer.json.
LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
LLAMA3_SPECIALS = (
    "<|begin_of_text|>",
    "<|end_of_text|>",
    "<|reserved_special_token_0|>",
    "<|reserved_special_token_1|>",
    "<|finetune_right_pad_id|>",
    "<|reserved_special_token_2|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eom_id|>",
    "<|eot_id|>",
    "<|python_tag|>",
    *(f"<|reserved_special_token_{n}|>" for n in range(3, 8)),
)
MISTRAL_SPECIALS = ("<unk>", "<s>", "</s>")
GEMMA_SPECIALS = ("<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "<start_of_turn>", "<end_of_turn>")
IMAGE_TOKEN = "<image>"


@dataclass
class TinyTokenizer:
    """A backend tokenizer plus the transformers-side files that describe it."""

    backend: Tokenizer
    config: dict
    special_tokens_map: dict = field(default_factory=dict)

    def id(self, token: str) -> int:
        token_id = self.backend.token_to_id(token)
        if token_id is None:
            raise KeyError(token)
        return token_id

    @property
    def vocab_size(self) -> int:
        return self.backend.get_vocab_size(with_added_tokens=True)

    def save(self, out_dir: Path) -> None:
        self.backend.save(str(out_dir / "tokenizer.json"), pretty=True)
        added = {
            str(token_id): {
                "content": token.content,
                "lstrip": token.lstrip,
                "normalized": token.normalized,
                "rstrip": token.rstrip,
                "single_word": token.single_word,
                "special": token.special,
            }
            for token_id, token in sorted(self.backend.get_added_tokens_decoder().items())
        }
        _write_json(out_dir / "tokenizer_config.json", {"added_tokens_decoder": added, **self.config})
        _write_json(out_dir / "special_tokens_map.json", self.special_tokens_map)


def _write_json(path: Path, data: dict) -> None:
    # Sorted keys and a trailing newline, like save_pretrained, and byte-stable across runs.
    path.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


def _special(content: str) -> AddedToken:
    return AddedToken(content, special=True, normalized=False)


@lru_cache(maxsize=None)
def _trained(style: str) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """Learn (tokens in id order, merges) once per style; training is deterministic."""
    tokenizer = Tokenizer(models.BPE())
    alphabet: list[str] = []
    if style == "bytelevel":
        tokenizer.pre_tokenizer = _llama3_pre_tokenizer()
        alphabet = pre_tokenizers.ByteLevel.alphabet()
    else:
        # Split into "▁word" units while training so no merge spans two words, as in
        # SentencePiece; the saved pipeline then never needs to split (split=False).
        prepend = "always" if style == "metaspace" else "never"
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme=prepend, split=True)
    trainer = trainers.BpeTrainer(
        vocab_size=TRAINED_VOCAB, min_frequency=1, show_progress=False, initial_alphabet=alphabet
    )
    tokenizer.train_from_iterator(sentences(), trainer=trainer)
    model = json.loads(tokenizer.to_str())["model"]
    tokens = tuple(sorted(model["vocab"], key=model["vocab"].__getitem__))
    merges = tuple(tuple(merge.split(" ") if isinstance(merge, str) else merge) for merge in model["merges"])
    return tokens, merges


def _byte_fallback_bpe(specials: tuple[str, ...], style: str) -> Tokenizer:
    trained, merges = _trained(style)
    reserved = (*specials, *BYTE_PIECES)
    taken = set(reserved)
    pieces = [*reserved, *(token for token in trained if token not in taken)]
    vocab = {piece: index for index, piece in enumerate(pieces)}
    model = models.BPE(vocab=vocab, merges=list(merges), unk_token="<unk>", fuse_unk=True, byte_fallback=True)
    tokenizer = Tokenizer(model)
    tokenizer.add_special_tokens([_special(token) for token in specials])
    return tokenizer


def _llama3_pre_tokenizer() -> pre_tokenizers.PreTokenizer:
    return pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(LLAMA3_SPLIT), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
        ]
    )


def _bos_template(bos: str, bos_id: int) -> processors.TemplateProcessing:
    return processors.TemplateProcessing(
        single=f"{bos}:0 $A:0", pair=f"{bos}:0 $A:0 {bos}:1 $B:1", special_tokens=[(bos, bos_id)]
    )


def mistral_tokenizer() -> TinyTokenizer:
    """Mixtral-8x7B-style tokenizer (what BiMediX inherits)."""
    backend = _byte_fallback_bpe(MISTRAL_SPECIALS, "metaspace")
    # prepend_scheme "first" + split=False is transformers 5's LlamaTokenizer with legacy=False.
    backend.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False)
    backend.decoder = decoders.Sequence(
        [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)]
    )
    backend.post_processor = _bos_template("<s>", 1)
    config = {
        "add_bos_token": True,
        "add_eos_token": False,
        "bos_token": "<s>",
        # False rather than the hub's default so decode(encode(s)) == s holds for any text.
        "clean_up_tokenization_spaces": False,
        "eos_token": "</s>",
        "legacy": False,
        "model_max_length": 32768,
        "pad_token": None,
        "spaces_between_special_tokens": False,
        "tokenizer_class": "LlamaTokenizer",
        "unk_token": "<unk>",
        "use_default_system_prompt": False,
    }
    special_map = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
    return TinyTokenizer(backend, config, special_map)


def gemma_tokenizer() -> TinyTokenizer:
    """google/gemma-3-270m-style tokenizer: no dummy prefix, spaces normalised to ▁."""
    backend = _byte_fallback_bpe(GEMMA_SPECIALS, "metaspace_no_prefix")
    backend.normalizer = normalizers.Replace(" ", "▁")
    backend.pre_tokenizer = pre_tokenizers.Split(" ", behavior="merged_with_previous", invert=False)
    backend.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    backend.post_processor = _bos_template("<bos>", 2)
    config = {
        "add_bos_token": True,
        "add_eos_token": False,
        "bos_token": "<bos>",
        "chat_template": templates.GEMMA3,
        "clean_up_tokenization_spaces": False,
        "eos_token": "<eos>",
        "mask_token": "<mask>",
        "model_max_length": 32768,
        "pad_token": "<pad>",
        "spaces_between_special_tokens": False,
        "tokenizer_class": "GemmaTokenizer",
        "unk_token": "<unk>",
    }
    special_map = {key: config[key] for key in ("bos_token", "eos_token", "mask_token", "pad_token", "unk_token")}
    return TinyTokenizer(backend, config, special_map)


def llama3_tokenizer(image_token: bool = False) -> TinyTokenizer:
    """Llama-3.1-Instruct-style tokenizer; with ``image_token`` the BiMediX2 (LLaVA) one."""
    trained, merges = _trained("bytelevel")
    backend = Tokenizer(
        models.BPE(vocab={t: i for i, t in enumerate(trained)}, merges=list(merges), ignore_merges=True)
    )
    specials = [*LLAMA3_SPECIALS, *([IMAGE_TOKEN] if image_token else [])]
    backend.add_special_tokens([_special(token) for token in specials])
    backend.pre_tokenizer = _llama3_pre_tokenizer()
    backend.decoder = decoders.ByteLevel()
    bos = "<|begin_of_text|>"
    backend.post_processor = processors.Sequence(
        [
            processors.ByteLevel(add_prefix_space=True, trim_offsets=False, use_regex=True),
            _bos_template(bos, backend.token_to_id(bos)),
        ]
    )
    # No add_bos_token key, as on the hub: the post-processor above adds <|begin_of_text|>.
    config = {
        "bos_token": bos,
        "chat_template": templates.LLAVA if image_token else templates.LLAMA3,
        "clean_up_tokenization_spaces": False,
        "eos_token": "<|eot_id|>",
        "model_input_names": ["input_ids", "attention_mask"],
        "model_max_length": 131072,
        "tokenizer_class": "PreTrainedTokenizerFast",
    }
    return TinyTokenizer(backend, config, {"bos_token": bos, "eos_token": "<|eot_id|>"})
