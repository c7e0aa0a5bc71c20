"""Typed role markers that would forge a turn, defused: their colon becomes "：".

A format whose turns open with plain text ("User:", "ASSISTANT:") reads any such marker in a
person's (or a model's) text as a new turn. A marker is a role name followed by a colon,
however it is typed: in any case, with whitespace (line breaks included) or invisible
characters between the name and the colon, invisible characters inside the name, and
indentation or invisible characters before it. Where it counts depends on the format:
at the start of the text or of a line (transcript, Llama-3: their turns start lines), or
anywhere (Vicuna writes "USER: q ASSISTANT: a</s>USER: ..." on one line).

The rule is written so that a Jinja chat template can apply it exactly (the templates in
engine/chat_templates hold the same invisible set and the same steps; tests hold them
equal): split the text at each colon; the piece before a colon, with invisible characters
removed (the whole text lower-cased), trailing whitespace dropped, must end with a name
(anywhere), or its last line (str.splitlines) without leading whitespace must be a name, in
the text's first piece or a piece that holds a line break (line start). Only that colon
changes.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFUSED_COLON = "："  # full width: reads the same to a person, opens no turn


def _ranges(*spans: tuple[int, int]) -> str:
    return "".join(chr(code) for first, last in spans for code in range(first, last + 1))


# Invisible characters: every format character (Unicode category Cf, as of Unicode 15.1:
# zero-width space and joiners, bidi marks and controls, word joiner, BOM, soft hyphen, tags,
# Arabic number signs...) and the other default-ignorable code points (CGJ, Hangul fillers,
# Khmer inherent vowels, Mongolian selectors, variation selectors). A literal, not computed
# from unicodedata, so that it is the same on every Python and in the Jinja templates.
INVISIBLE = _ranges(
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x0600, 0x0605), (0x061C, 0x061C), (0x06DD, 0x06DD),
    (0x070F, 0x070F), (0x0890, 0x0891), (0x08E2, 0x08E2), (0x115F, 0x1160), (0x17B4, 0x17B5),
    (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x2064), (0x2066, 0x206F),
    (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD), (0x110CD, 0x110CD), (0x13430, 0x1343F), (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A), (0xE0001, 0xE0001), (0xE0020, 0xE007F), (0xE0100, 0xE01EF),
)
_INVISIBLE_SET = frozenset(INVISIBLE)


@dataclass(frozen=True)
class RoleMarkers:
    """The role names of a format that open a turn when a colon follows them."""

    names: tuple[str, ...]  # as the format writes them; matched in any case
    anywhere: bool = False  # False: only at the start of the text or of a line

    def defuse(self, text: str) -> str:
        """`text` with the colon of every marker made full width; nothing else changes."""
        pieces = text.split(":")
        # Invisible characters are never colons, so these split the same way as `pieces`.
        cores = "".join(ch for ch in text if ch not in _INVISIBLE_SET).lower().split(":")
        out = [pieces[0]]
        for index, core in enumerate(cores[:-1]):
            out.append(DEFUSED_COLON if self._ends_in_marker(core.rstrip(), index == 0) else ":")
            out.append(pieces[index + 1])
        return "".join(out)

    def _ends_in_marker(self, core: str, starts_text: bool) -> bool:
        names = tuple(name.lower() for name in self.names)
        if self.anywhere:
            return core.endswith(names)
        lines = core.splitlines()
        return bool(lines) and (starts_text or len(lines) > 1) and lines[-1].lstrip() in names
