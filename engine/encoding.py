"""Rendered prompt → token ids, with control tokens allowed only where the template put them.

Tokenizers turn every added-token string into its id wherever it occurs, including inside
what a user typed. So we tokenize the prompt the tokenizer's own way (for a clean prompt the
ids are exactly what the model saw in training, SentencePiece boundary quirks included) and
then look for control ids whose characters overlap text a person wrote. Control ids are
every added token, special or not: Gemma-3's `<start_of_image>` and `[multimodal]` are
ordinary added tokens, which `split_special_tokens=True` still matches. Only ordinary added
tokens made of whitespace (Gemma's "\n\n", space runs) are text: they are how the tokenizer
writes spacing. Each segment holding a control id is re-encoded by the tokenizer's pipeline
with no control token in its added vocabulary, which turns `<|eot_id|>`, `</s>`, `<image>`
or `<start_of_image>` into ordinary text pieces, and spliced back.

Token roles come from character offsets: each token takes the role of the segment that
holds its last character, so " hello" starting in template whitespace is part of the
reply. Trainers use these roles for loss masks.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass

from tokenizers import AddedToken, Tokenizer

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


def _is_control(token) -> bool:
    return bool(getattr(token, "special", False) or str(token).strip())


def control_token_strings(tokenizer) -> tuple[str, ...]:
    """Every string the tokenizer would turn into a control id: its special tokens and every
    added token, special or not, but the ordinary ones made only of whitespace."""
    controls = set(tokenizer.all_special_tokens)
    controls.update(str(token) for token in getattr(tokenizer, "added_tokens_decoder", {}).values()
                    if _is_control(token))
    return tuple(sorted(s for s in controls if s))


def control_token_ids(tokenizer) -> frozenset[int]:
    added = getattr(tokenizer, "added_tokens_decoder", {})
    specials = (tokenizer.convert_tokens_to_ids(s) for s in tokenizer.all_special_tokens if s)
    return frozenset([*(i for i, token in added.items() if _is_control(token)), *specials])


def _spans(prompt: RenderedPrompt) -> list[_Span]:
    spans, position = [], 0
    for segment in prompt.segments:
        spans.append(_Span(position, position + len(segment.text), segment.trusted, segment.role))
        position += len(segment.text)
    return spans


def _encode(tokenizer, text: str, split_special_tokens: bool = False) -> tuple[list[int], list[tuple[int, int]]]:
    encoded = tokenizer(text, add_special_tokens=False, split_special_tokens=split_special_tokens,
                        return_offsets_mapping=True)
    return list(encoded["input_ids"]), [tuple(o) for o in encoded["offset_mapping"]]


def plain_text_encoder(tokenizer):
    """`text -> (ids, offsets)` that makes no control id of text, where the tokenizer allows:
    its own pipeline with only its whitespace added tokens; else special tokens split (what a
    tokenizer without a `tokenizers` backend offers; encode_prompt's guard checks the rest)."""
    plain = _plain_backend(tokenizer)
    if plain is None:
        return lambda text: _encode(tokenizer, text, split_special_tokens=True)

    def encode(text: str) -> tuple[list[int], list[tuple[int, int]]]:
        encoded = plain.encode(text, add_special_tokens=False)
        return list(encoded.ids), list(encoded.offsets)
    return encode


def _plain_backend(tokenizer) -> Tokenizer | None:
    """The tokenizer's model, normalizer and pre-tokenizer (shared, not copied), with no
    control token among its added tokens; None where its whitespace tokens would move."""
    source = getattr(tokenizer, "backend_tokenizer", None)
    if source is None:
        return None
    plain = Tokenizer(source.model)
    for part in ("normalizer", "pre_tokenizer"):
        if getattr(source, part) is not None:
            setattr(plain, part, getattr(source, part))
    kept = {i: token for i, token in tokenizer.added_tokens_decoder.items() if not _is_control(token)}
    plain.add_tokens([AddedToken(str(t), special=False, normalized=t.normalized, lstrip=t.lstrip,
                                 rstrip=t.rstrip, single_word=t.single_word) for _, t in sorted(kept.items())])
    return plain if all(plain.token_to_id(str(token)) == i for i, token in kept.items()) else None


def encode_prompt(tokenizer, prompt: RenderedPrompt) -> EncodedPrompt:
    """Token ids for a rendered prompt; person-written markup stays plain text."""
    text = prompt.text
    spans = _spans(prompt)
    ids, offsets = _encode(tokenizer, text)
    controls = control_token_ids(tokenizer)
    plain = None
    ascending = _ascending(offsets)
    # Right to left, so earlier token indices stay valid while splicing.
    for span in reversed([s for s in spans if not s.trusted]):
        if _holds_control(span, ids, offsets, controls, ascending):
            plain = plain or plain_text_encoder(tokenizer)
            ids, offsets = _reencode_plain(plain, text, ids, offsets, span, controls)
            ascending = _ascending(offsets)
            if _holds_control(span, ids, offsets, controls):  # a guard: never a control id from a person
                raise ValueError(f"the {span.role}'s text could not be encoded without control tokens")
    starts = [span.start for span in spans]
    roles = [_role_at(spans, starts, max(end - 1, start)) for start, end in offsets]
    if prompt.add_bos and tokenizer.bos_token_id is not None:
        ids, roles = [tokenizer.bos_token_id] + ids, ["template"] + roles
    return EncodedPrompt(ids, roles)


def _ascending(offsets) -> bool:
    return all(a1 <= a2 and b1 <= b2 for (a1, b1), (a2, b2) in zip(offsets, offsets[1:]))


def _holds_control(span: _Span, ids, offsets, controls: frozenset[int], ascending: bool = False) -> bool:
    """Whether a token over `span` is a control id. Where the offsets ascend (`ascending`:
    every tokenizer here), only the span's own tokens are read, found by bisection, so a
    conversation of many turns costs its length once, not once per turn."""
    first, last = 0, len(ids)
    if ascending:
        first = bisect_right(offsets, span.start, key=lambda offset: offset[1])  # the first ending past its start
        last = bisect_left(offsets, span.end, key=lambda offset: offset[0])  # the first starting at its end
    return any(ids[k] in controls and offsets[k][0] < span.end and offsets[k][1] > span.start
               for k in range(first, max(first, last)))


def _ascending(offsets) -> bool:
    return all(a1 <= a2 and b1 <= b2 for (a1, b1), (a2, b2) in zip(offsets, offsets[1:]))


def _reencode_plain(plain, text, ids, offsets, span: _Span, controls: frozenset[int]):
    """Replace the tokens covering `span` by a plain-text encoding of the same characters."""
    hit = [k for k, (a, b) in enumerate(offsets) if a < span.end and b > span.start]
    first, last = hit[0], hit[-1]
    # Take in the plain-text neighbours too, so merges across the edge (" <" + "end")
    # come out as a plain encoding of the whole stretch would make them.
    if first > 0 and ids[first - 1] not in controls:
        first -= 1
    if last + 1 < len(ids) and ids[last + 1] not in controls:
        last += 1
    start = min(span.start, offsets[first][0])
    end = max(span.end, offsets[last][1])
    new_ids, new_offsets = plain(text[start:end])
    new_offsets = [(a + start, b + start) for a, b in new_offsets]
    return (ids[:first] + new_ids + ids[last + 1:], offsets[:first] + new_offsets + offsets[last + 1:])


def _role_at(spans: list[_Span], starts: list[int], position: int) -> str:
    if not spans:
        return "template"
    return spans[max(bisect_right(starts, position) - 1, 0)].role


def count_tokens(tokenizer, prompt: RenderedPrompt) -> int:
    return len(encode_prompt(tokenizer, prompt).input_ids)
