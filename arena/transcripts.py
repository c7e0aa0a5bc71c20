"""Transcripts as stored with a vote, and the language a conversation was held in.

A stored message is `{"role", "content"}` plus `"images": [file names]` on the turns that
carried images. Only the file's name is kept, never the local path (it says nothing about
the conversation and may name a patient folder) and never the pixels.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import PurePath

from engine.language import detect_language
from engine.messages import ROLES, Message

StoredMessage = dict


def image_name(image) -> str:
    """A file name for a path-like image; "<image>" for an in-memory one (e.g. PIL)."""
    if isinstance(image, (str, PurePath)):
        return PurePath(str(image)).name
    filename = getattr(image, "filename", None)  # PIL images opened from a file
    return PurePath(filename).name if filename else "<image>"


def stored_message(message: Message | Mapping) -> StoredMessage:
    """One message as stored: accepts engine `Message`s and message dicts.

    Dicts may name their images "images", "files" or "attachments" (the UI's names).
    """
    if isinstance(message, Message):
        role, content, images = message.role, message.content, message.images
    else:
        role, content = message.get("role"), message.get("content")
        images = message.get("images") or message.get("files") or message.get("attachments") or ()
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {ROLES}")
    if not isinstance(content, str):
        raise TypeError(f"message content must be a string, not {type(content).__name__}")
    record: StoredMessage = {"role": role, "content": content}
    if images:
        record["images"] = [image_name(image) for image in images]
    return record


def stored_transcript(messages: Iterable[Message | Mapping]) -> list[StoredMessage]:
    return [stored_message(message) for message in messages]


def has_reply(transcript: list[StoredMessage]) -> bool:
    """True when the transcript ends with a non-empty assistant reply."""
    return bool(transcript) and transcript[-1]["role"] == "assistant" and bool(transcript[-1]["content"].strip())


def conversation_language(*transcripts: list[StoredMessage]) -> str:
    """"ar", "en" or "mixed": the languages the rater wrote in.

    Only user messages count: they are the same on both sides and are what the rater
    chose; a model answering English to an Arabic question does not make the conversation
    English. Each message is judged by `engine.language.detect_language` (script share
    first, langdetect as tie-breaker); messages with no language of their own ("CBC?",
    an image alone) do not vote. Both languages among the messages: "mixed". No evidence
    at all: the replies decide the same way, else "en" (the engine's own default).
    """
    for role in ("user", "assistant"):
        found = _languages_of(transcripts, role)
        if found:
            return found.pop() if len(found) == 1 else "mixed"
    return "en"


def _languages_of(transcripts: tuple[list[StoredMessage], ...], role: str) -> set[str]:
    texts = {message["content"] for transcript in transcripts for message in transcript
             if message["role"] == role and message["content"].strip()}
    found = set()
    for text in texts:
        guess = detect_language(text)
        if guess.method not in ("default", "previous"):  # no evidence of its own
            found.add(guess.language)
    return found
