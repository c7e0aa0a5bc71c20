"""Rendered prompt → token ids, with control tokens allowed only where the template put them.

Tokenizers turn every special-token string into its control id wherever it occurs,
including inside what a user typed. So we tokenize the prompt the tokenizer's own way
(for a clean prompt the ids are exactly what the model saw in training, SentencePiece
boundary quirks included) and then look for control ids whose characters overlap text a
person wrote. Each such segment is re-encoded with `split_special_tokens=True`, which
turns `<|eot_id|>`, `</s>` or `<image>` into ordinary text pieces, and spliced back.

Token roles come from character offsets: each token takes the role of the segment that
holds its last character, so " hello" starting in template whitespace is part of the
reply. Trainers use these roles for loss masks.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

from engine.formats import RenderedPrompt


@dataclass(frozen=True)
class EncodedPrompt:
    input_ids: list[int]
    roles: list[str]  # per token: "template", "system", "user" or "assistant"


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    trusted: bool
    role: str


def special_token_strings(tokenizer) -> tuple[str, ...]:
    """Every string the tokenizer would turn into a control id."""
    specials = set(tokenizer.all_special_tokens)
    for token in getattr(tokenizer, "added_tokens_decoder", {}).values():
        if getattr(token, "special", False):
            specials.add(str(token))
    return tuple(sorted(s for s in specials if s))


def special_token_ids(tokenizer) -> frozenset[int]:
    return frozenset(tokenizer.convert_tokens_to_ids(s) for s in special_token_strings(tokenizer))


def _spans(prompt: RenderedPrompt) -> list[_Span]:
    spans, position = [], 0
    for segment in prompt.segments:
        spans.append(_Span(position, position + len(segment.text), segment.trusted, segment.role))
        position += len(segment.text)
    return spans


def _encode(tokenizer, text: str, plain: bool) -> tuple[list[int], list[tuple[int, int]]]:
    encoded = tokenizer(text, add_special_tokens=False, split_special_tokens=plain,
                        return_offsets_mapping=True)
    return list(encoded["input_ids"]), [tuple(o) for o in encoded["offset_mapping"]]


def encode_prompt(tokenizer, prompt: RenderedPrompt) -> EncodedPrompt:
    """Token ids for a rendered prompt; person-written markup stays plain text."""
    text = prompt.text
    spans = _spans(prompt)
    ids, offsets = _encode(tokenizer, text, plain=False)
    specials = special_token_ids(tokenizer)
    # Right to left, so earlier token indices stay valid while splicing.
    for span in reversed([s for s in spans if not s.trusted]):
        if any(i in specials and a < span.end and b > span.start for i, (a, b) in zip(ids, offsets)):
            ids, offsets = _reencode_plain(tokenizer, text, ids, offsets, span, specials)
    starts = [span.start for span in spans]
    roles = [_role_at(spans, starts, max(end - 1, start)) for start, end in offsets]
    if prompt.add_bos and tokenizer.bos_token_id is not None:
        ids, roles = [tokenizer.bos_token_id] + ids, ["template"] + roles
    return EncodedPrompt(ids, roles)


def _reencode_plain(tokenizer, text, ids, offsets, span: _Span, specials: frozenset[int]):
    """Replace the tokens covering `span` by a plain-text encoding of the same characters."""
    hit = [k for k, (a, b) in enumerate(offsets) if a < span.end and b > span.start]
    first, last = hit[0], hit[-1]
    # Take in the plain-text neighbours too, so merges across the edge (" <" + "end")
    # come out as a plain encoding of the whole stretch would make them.
    if first > 0 and ids[first - 1] not in specials:
        first -= 1
    if last + 1 < len(ids) and ids[last + 1] not in specials:
        last += 1
    start = min(span.start, offsets[first][0])
    end = max(span.end, offsets[last][1])
    new_ids, new_offsets = _encode(tokenizer, text[start:end], plain=True)
    new_offsets = [(a + start, b + start) for a, b in new_offsets]
    return (ids[:first] + new_ids + ids[last + 1:], offsets[:first] + new_offsets + offsets[last + 1:])


def _role_at(spans: list[_Span], starts: list[int], position: int) -> str:
    if not spans:
        return "template"
    return spans[max(bisect_right(starts, position) - 1, 0)].role


def count_tokens(tokenizer, prompt: RenderedPrompt) -> int:
    return len(encode_prompt(tokenizer, prompt).input_ids)
