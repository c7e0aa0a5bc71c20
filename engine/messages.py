"""Conversation data: the structured messages every other engine module works on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Role = Literal["system", "user", "assistant"]
ROLES: tuple[str, ...] = ("system", "user", "assistant")


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
