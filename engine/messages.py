"""Conversation data: the structured messages every other engine module works on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Role = Literal["system", "user", "assistant"]
ROLES: tuple[str, ...] = ("system", "user", "assistant")

# Bidi embedding, override and isolate controls: invisible, they reorder what is shown
# ("Dose: \u202e05\u202c mg" displays as "50 mg" while the model reads "05"). Removed from
# what the model reads, what is stored and what is shown. The marks (LRM, RLM, ALM) stay:
# Arabic text uses them, and they reverse nothing.
BIDI_CONTROLS = dict.fromkeys([*range(0x202A, 0x202F), *range(0x2066, 0x206A)])


def without_bidi_controls(text: str) -> str:
    return text.translate(BIDI_CONTROLS)


def has_lone_surrogates(text: str) -> bool:
    """Text no UTF-8 can hold (a lone surrogate sent through the API)."""
    return any(0xD800 <= ord(ch) <= 0xDFFF for ch in text)


@dataclass(frozen=True)
class Message:
    """One message of a conversation.

    `images` holds references (paths or decoded images) attached to *this* turn; the
    multimodal formats place one image placeholder per entry at the start of the text.
    """

    role: Role
    content: str
    images: tuple = field(default=())

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r}; expected one of {ROLES}")
        if not isinstance(self.content, str):
            raise TypeError("message content must be a string")

    def to_dict(self) -> dict:
        data = {"role": self.role, "content": self.content}
        if self.images:
            data["images"] = [str(image) for image in self.images]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "Message":
        return cls(role=data["role"], content=data["content"], images=tuple(data.get("images", ())))


def system(content: str) -> Message:
    return Message("system", content)


def user(content: str, images: tuple = ()) -> Message:
    return Message("user", content, tuple(images))


def assistant(content: str) -> Message:
    return Message("assistant", content)
