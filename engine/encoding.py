"""Rendered prompt → token ids, with control tokens recognised only in template text.

A tokenizer, given a whole prompt string, turns every special-token string into its
control id wherever it occurs — including inside what a user typed. So we split the
prompt at the special tokens of *trusted* segments only, emit those ids directly, and
encode everything in between (user text included) with `split_special_tokens=True`.
HF tokenizers themselves split at special tokens before running the model, so for
prompts without injected markup the ids are the same as tokenizing the whole string.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from engine.formats import RenderedPrompt


def special_token_strings(tokenizer) -> tuple[str, ...]:
    """Every string the tokenizer would turn into a control id (longest first)."""
    specials = set(tokenizer.all_special_tokens)
    for token in getattr(tokenizer, "added_tokens_decoder", {}).values():
        if getattr(token, "special", False):
            specials.add(str(token))
    return tuple(sorted((s for s in specials if s), key=len, reverse=True))


@lru_cache(maxsize=32)
def _special_pattern(specials: tuple[str, ...]) -> re.Pattern | None:
    if not specials:
        return None
    return re.compile("(" + "|".join(re.escape(s) for s in specials) + ")")


@dataclass(frozen=True)
class EncodedPrompt:
    input_ids: list[int]
    # Per token: which role's words produced it ("template", "system", "user", "assistant").
    roles: list[str]


def encode_prompt(tokenizer, prompt: RenderedPrompt) -> EncodedPrompt:
    """Token ids for a rendered prompt; user-written markup stays plain text."""
    specials = special_token_strings(tokenizer)
    pattern = _special_pattern(specials)
    vocab_ids = {s: tokenizer.convert_tokens_to_ids(s) for s in specials}
    ids: list[int] = []
    roles: list[str] = []
    if prompt.add_bos and tokenizer.bos_token_id is not None:
        ids.append(tokenizer.bos_token_id)
        roles.append("template")
    pending: list[tuple[str, str]] = []  # plain text runs between two control tokens

    def flush() -> None:
        piece_ids, piece_roles = _encode_runs(tokenizer, pending)
        ids.extend(piece_ids)
        roles.extend(piece_roles)
        pending.clear()

    for segment in prompt.segments:
        parts = pattern.split(segment.text) if (segment.trusted and pattern) else [segment.text]
        for index, part in enumerate(parts):
            if index % 2 == 1:  # a control token written by the template
                flush()
                ids.append(vocab_ids[part])
                roles.append(segment.role)
            elif part:
                pending.append((part, segment.role))
    flush()
    return EncodedPrompt(ids, roles)


def _encode_runs(tokenizer, runs: list[tuple[str, str]]) -> tuple[list[int], list[str]]:
    """Encode the text between two control tokens as one string.

    Encoding each run on its own would change tokenization at run boundaries
    ("USER: " + "hello" is not "USER: hello" for SentencePiece vocabularies), so runs
    are joined and each token takes the role of the run holding its last character:
    a token like " hello" that starts in template whitespace belongs to the reply.
    """
    if not runs:
        return [], []
    text = "".join(run for run, _ in runs)
    encoded = tokenizer(
        text, add_special_tokens=False, split_special_tokens=True, return_offsets_mapping=True
    )
    bounds, position = [], 0
    for run, role in runs:
        position += len(run)
        bounds.append((position, role))
    roles = []
    for start, end in encoded["offset_mapping"]:
        last = max(end - 1, start)
        roles.append(next((role for limit, role in bounds if last < limit), bounds[-1][1]))
    return list(encoded["input_ids"]), roles


def count_tokens(tokenizer, prompt: RenderedPrompt) -> int:
    return len(encode_prompt(tokenizer, prompt).input_ids)
