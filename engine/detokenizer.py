"""Incremental detokenizer: token ids in, text chunks out.

Two promises to the reader of a stream:
- never half a character: byte-level and byte-fallback vocabularies split one Arabic
  letter or emoji over several tokens; until the bytes complete, the decoded text ends in
  U+FFFD and nothing is emitted;
- never a partial stop string: text that could be the start of a stop string (say "\\nUs"
  of "\\nUser:") is held back until it either completes the stop string (then the reply
  ends before it) or turns out to be ordinary text (then it is released);
- no separator space first: a prompt ends where the reply's first word begins, and that
  word's token carries the space a tokenizer puts before a word (SentencePiece "▁",
  byte-level "Ġ"). Decoders that keep it (Gemma's, byte-level ones) made every reply
  start with " If"; that one space is dropped here, where every local reply is decoded.
  Llama-2-style SentencePiece decoders strip it themselves, and a reply that begins with
  indentation (two or more spaces) or a newline keeps them: only a single space right
  before the first word is the separator.

Decoding uses a sliding window (the approach of vLLM and TGI): each step decodes only the
last few tokens, with some earlier tokens as context so SentencePiece leading spaces come
out right, which keeps the cost per token constant however long the reply grows.
"""

from __future__ import annotations

from typing import Sequence

REPLACEMENT_CHARACTER = "\ufffd"
# How a word's leading space is written in a token's piece: SentencePiece, byte-level BPE.
WORD_START_MARKERS = ("\u2581", "\u0120")
# Earlier tokens decoded alongside the new ones, so leading-space and merge effects show.
CONTEXT_TOKENS = 5


class IncrementalDetokenizer:
    def __init__(self, tokenizer, stop_strings: Sequence[str] = (), skip_special_tokens: bool = True):
        self._tokenizer = tokenizer
        self._stop_strings = tuple(s for s in stop_strings if s)
        self._skip_special = skip_special_tokens
        self._ids: list[int] = []
        self._prefix_offset = 0  # start of the context window
        self._read_offset = 0  # tokens before this have been turned into text
        self._held = ""  # decoded text withheld because it may start a stop string
        self._opening: str | None = ""  # the reply's first text while it may be a lone separator; None: decided
        self.stopped = False  # a stop string was found: the reply is complete
        self.text = ""  # everything emitted so far

    def push(self, token_id: int) -> str:
        """Add one token; return the newly visible text (possibly empty)."""
        if self.stopped:
            return ""
        self._ids.append(token_id)
        delta = self._decode_delta()
        if delta and self._opening is not None:
            delta = self._without_separator(delta)
        return self._release(self._held + delta) if delta else ""

    def finish(self) -> str:
        """End of generation: text held back for a stop string that never came is real."""
        if self.stopped:
            return ""
        tail = self._held + (self._opening or "")  # a lone space and nothing after it: kept as it came
        self._held, self._opening = "", None
        # Incomplete bytes at the very end are dropped rather than shown as U+FFFD.
        self.text += tail
        return tail

    def _decode(self, ids: list[int]) -> str:
        return self._tokenizer.decode(
            ids, skip_special_tokens=self._skip_special, clean_up_tokenization_spaces=False
        )

    def _decode_delta(self) -> str:
        prefix = self._decode(self._ids[self._prefix_offset:self._read_offset])
        full = self._decode(self._ids[self._prefix_offset:])
        if len(full) <= len(prefix) or full.endswith(REPLACEMENT_CHARACTER):
            return ""  # waiting for the rest of a multi-byte character
        delta = full[len(prefix):]
        self._read_offset = len(self._ids)
        self._prefix_offset = max(0, self._read_offset - CONTEXT_TOKENS)
        return delta

    def _without_separator(self, delta: str) -> str:
        """The reply's first text without the separator space its first word carries, if
        the decoder kept it (`without_separator`); spaces alone are held until a word comes."""
        opening = self._opening + delta
        self._opening, text = without_separator(opening)
        if self._opening is None and text != opening and not self._first_token_keeps_separator():
            return opening  # a Llama-2-style decoder dropped the separator itself: this space is real
        return text

    def _first_token_keeps_separator(self) -> bool:
        """Whether the reply's first token is a word start whose space the decoder kept
        (Llama-2-style decoders already drop it: then the space is a real one)."""
        special = set(self._tokenizer.all_special_ids)
        first = next((i for i in self._ids if i not in special), None)
        if first is None:
            return False
        piece = self._tokenizer.convert_ids_to_tokens(first)
        return isinstance(piece, str) and piece.startswith(WORD_START_MARKERS) and self._decode([first]).startswith(" ")

    def _release(self, text: str) -> str:
        cut = _first_stop(text, self._stop_strings)
        if cut is not None:
            self.stopped = True
            self._held = ""
            out = text[:cut]
        else:
            hold = _partial_stop_suffix(text, self._stop_strings)
            out, self._held = text[: len(text) - hold], text[len(text) - hold:]
        self.text += out
        return out


def _first_stop(text: str, stop_strings: tuple[str, ...]) -> int | None:
    positions = [index for s in stop_strings if (index := text.find(s)) >= 0]
    return min(positions) if positions else None


def _partial_stop_suffix(text: str, stop_strings: tuple[str, ...]) -> int:
    """Length of the longest end of `text` that is a proper prefix of a stop string."""
    longest = 0
    for stop in stop_strings:
        for size in range(min(len(stop) - 1, len(text)), longest, -1):
            if text.endswith(stop[:size]):
                longest = size
                break
    return longest


def without_separator(opening: str) -> tuple[str | None, str]:
    """A reply's first text, local or remote: held while it is only spaces; once a word
    comes, one space right before it is the tokenizer's separator (the first word's "▁" or
    "Ġ", decoded) and goes. Indentation (two spaces or more) or a newline is the reply's
    own. Returns (the text still held, or None once decided; the text to show)."""
    if not opening.strip():
        return opening, ""
    if opening.startswith(" ") and not opening[1].isspace():
        return None, opening[1:]
    return None, opening
