"""Keeping a conversation across reloads, in the person's own browser, only if they ask.

Off by default: on a shared clinical workstation the next person must not find the last
one's chat (see the privacy notes in docs/chatting.md). With "keep my conversation in this browser"
ticked, the conversation's text (not its images) is kept in the browser's localStorage,
sealed by the server for this browser alone (ui/browser_seal.py: Gradio's own BrowserState
encryption uses a secret every page can read). "Forget" deletes it at once. Nothing of it is
kept on the server.

What comes back passes the limits a typed message passes (issue 26, item 9: a forged 10 MB
history once made the next one-token reply take 43 s): each user message within the
engine's per-message characters and tokens, roles alternating, at most MAX_KEPT_MESSAGES
messages and MAX_KEPT_CHARS characters. What does not fit is cut the way history fitting
cuts: the newest whole exchanges are kept, older ones dropped, and the person is told. A
cut, not a refusal, because the same rule makes what is kept: a long conversation comes
back as its newest part, as the model would read it, instead of not at all.

Each message keeps its notes too (issue 27, item 13): its time, and for a reply the model's
shown title (never a server path), adapter, reply language and how it ended, so a restored
conversation shows them as before. Notes that do not read as such come back as none.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from engine.messages import Message, has_lone_surrogates, without_bidi_controls
from engine.errors import UserFacingError
from engine.prompt_input import MAX_CONVERSATION_CHARS, check_message_size
from ui.browser_seal import seal, unseal
from ui.conversation import Conversation, TurnInfo

STORAGE_KEY = "bimedix-chat-conversation"
# Gradio's BrowserState encrypts with this, and sends it to every page in /config: it hides
# nothing (the seal does). Fixed, so that with $BIMEDIX_BROWSER_SECRET a kept conversation
# still opens after a restart; never the server's secret, which would then be public.
PAGE_LAYER_SECRET = "bimedix-chat: public, protects nothing; see ui/browser_seal.py"
MAX_KEPT_MESSAGES = 200  # 100 exchanges
# The engine's bound on a whole conversation: some 50,000 tokens, more than the preview
# (2,048) and BiMediX's Mixtral (32,768) read, and well within localStorage after sealing.
MAX_KEPT_CHARS = MAX_CONVERSATION_CHARS
# The longest sealed value accepted back, refused before decoding: MAX_KEPT_CHARS as JSON
# (at most 6 bytes a character, with escapes) plus each message's keys, in base64.
MAX_NOTE_CHARS = 160  # a note's model title or adapter name; longer ones are not kept
# plus each message's keys and notes, in base64.
MAX_SEALED_CHARS = (6 * MAX_KEPT_CHARS + (64 + 6 * 2 * MAX_NOTE_CHARS + 128) * MAX_KEPT_MESSAGES + 1024) * 4 // 3
FINISH_REASONS = ("done", "stop_string", "length", "stopped", "failed")  # engine.generation's
FORGOTTEN = {"keep": False}  # written over what was kept (Gradio leaves storage as it is for None)
ROLES = ("user", "assistant")


@dataclass
class Restored:
    """What came back of a kept conversation (`readable` False: something was kept, but not
    for this browser by this server, or changed since)."""

    messages: list[Message] = field(default_factory=list)
    info: list[TurnInfo | None] = field(default_factory=list)  # each message's notes
    left_out: int = 0
    readable: bool = True


def kept_value(keep: bool, conversation: Conversation | None, browser: str | None) -> dict:
    """What the browser keeps: nothing of the chat unless `keep` and the browser has its
    cookie (the key needs it); then the newest whole exchanges within the bounds, sealed."""
    if not keep or not browser:
        return dict(FORGOTTEN)
    shown = [(index, m) for index, m in enumerate(conversation.messages)
             if m.role in ROLES] if conversation is not None else []
    start, stop = newest_span([m for _, m in shown], _tokenizer(conversation))
    items = []
    for index, message in shown[start:stop]:
        note = note_of(conversation.info.get(index))
        items.append({"role": message.role, "content": _cleaned(message).content, **({"note": note} if note else {})})
    return sealed_value(items, browser)


def sealed_value(messages: list[dict], browser: str) -> dict:
    data = json.dumps({"messages": messages}, ensure_ascii=False).encode("utf-8")
    return {"keep": True, "sealed": seal(data, browser)}


def restored(value, conversation: Conversation, browser: str | None) -> Restored | None:
    """Put a kept conversation back into a fresh `conversation`; None when nothing was kept."""
    if not value or value == FORGOTTEN:
        return None
    items = _opened(value, browser)
    if items is None:
        return Restored(readable=False)
    messages = [_as_message(item) for item in items]
    start, stop = newest_span(messages, _tokenizer(conversation))
    kept = [_cleaned(message) for message in messages[start:stop]]
    info = [info_of(item.get("note")) for item in items[start:stop]]
    conversation.restore(kept, info)
    return Restored(kept, info, left_out=len(items) - len(kept))


def newest_exchanges(messages: Sequence[Message | None], tokenizer) -> list[Message]:
    """The newest whole exchanges within the bounds (`newest_span`), as stored."""
    start, stop = newest_span(messages, tokenizer)
    return [_cleaned(message) for message in messages[start:stop]]


def newest_span(messages: Sequence[Message | None], tokenizer) -> tuple[int, int]:
    """Where the newest whole exchanges (a user message, then its reply) lie that each pass
    a typed message's limits and together stay within MAX_KEPT_MESSAGES and MAX_KEPT_CHARS.
    Stops at the first exchange, from the newest, that does not: a history with a hole in
    it would not be the conversation that was had. A last message with no reply is not kept."""
    cleaned = [_cleaned(m) for m in messages]
    end = len(cleaned) - 1 if cleaned and cleaned[-1] is not None and cleaned[-1].role == "user" else len(cleaned)
    stop, size = end, 0
    while end >= 2 and stop - end + 2 <= MAX_KEPT_MESSAGES:
        question, answer = cleaned[end - 2], cleaned[end - 1]
        if question is None or answer is None or (question.role, answer.role) != ROLES:
            break
        size += len(question.content) + len(answer.content)
        # Characters first: nothing past the bounds is ever tokenized.
        if size > MAX_KEPT_CHARS or not _within_typed_limits(question, tokenizer):
            break
        end -= 2
    return end, stop


def note_of(info: TurnInfo | None) -> dict | None:
    """What the browser keeps of a message's notes: what they show, no settings."""
    if info is None:
        return None
    note = {"at": info.at.isoformat(timespec="seconds")}
    if info.model is not None:
        note.update(model=public_title(info.model), adapter=info.adapter, language=info.language,
                    finish=info.finish_reason)
    return note


def public_title(title: str) -> str:
    """A model's title as notes show it: a folder's name, never its path on the server."""
    if title.startswith(("/", "\\", "~")) or ":\\" in title:
        return title.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    return title


def info_of(note) -> TurnInfo | None:
    """A kept note as a TurnInfo; None for anything that is not one (each field checked)."""
    if not isinstance(note, dict) or not isinstance(note.get("at"), str):
        return None
    try:
        at = datetime.fromisoformat(note["at"])
    except ValueError:
        return None
    model, adapter = note.get("model"), note.get("adapter")
    language, finish = note.get("language"), note.get("finish")
    if at.tzinfo is None or not all(value is None or (isinstance(value, str) and len(value) <= MAX_NOTE_CHARS)
                                    for value in (model, adapter)):
        return None
    if language not in (None, "ar", "en") or finish not in (None, *FINISH_REASONS):
        return None
    return TurnInfo(at, model and without_bidi_controls(model), adapter and without_bidi_controls(adapter),
                    language, finish)


def _within_typed_limits(message: Message, tokenizer) -> bool:
    """engine/prompt_input's size checks of a typed message (not the blank one: an
    image-only turn's text is blank, and its image was not kept)."""
    try:
        check_message_size(tokenizer, message.content)
    except UserFacingError:
        return False
    return True


def _cleaned(message: Message | None) -> Message | None:
    """As typed text is stored: without bidi controls; text no UTF-8 holds is refused."""
    if message is None or has_lone_surrogates(message.content):
        return None
    return Message(message.role, without_bidi_controls(message.content))


def _opened(value, browser: str | None) -> list | None:
    """The kept messages, if `value` was sealed for this browser by this server."""
    if not browser or not isinstance(value, dict):
        return None
    data = unseal(value.get("sealed"), browser, max_chars=MAX_SEALED_CHARS)
    try:
        items = json.loads(data)["messages"] if data is not None else None
    except (ValueError, KeyError, TypeError):
        return None
    return items if isinstance(items, list) else None


def _as_message(item) -> Message | None:
    if not isinstance(item, dict) or item.get("role") not in ROLES or not isinstance(item.get("content"), str):
        return None
    return Message(item["role"], item["content"])


def _tokenizer(conversation: Conversation | None):
    return getattr(conversation.loaded, "tokenizer", None) if conversation is not None else None
