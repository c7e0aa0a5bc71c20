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
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from engine.messages import Message, has_lone_surrogates, without_bidi_controls
from engine.errors import UserFacingError
from engine.prompt_input import MAX_CONVERSATION_CHARS, check_message_size
from ui.browser_seal import seal, unseal
from ui.conversation import Conversation

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
MAX_SEALED_CHARS = (6 * MAX_KEPT_CHARS + 64 * MAX_KEPT_MESSAGES + 1024) * 4 // 3
FORGOTTEN = {"keep": False}  # written over what was kept (Gradio leaves storage as it is for None)
ROLES = ("user", "assistant")


@dataclass
class Restored:
    """What came back of a kept conversation (`readable` False: something was kept, but not
    for this browser by this server, or changed since)."""

    messages: list[Message] = field(default_factory=list)
    left_out: int = 0
    readable: bool = True


def kept_value(keep: bool, conversation: Conversation | None, browser: str | None) -> dict:
    """What the browser keeps: nothing of the chat unless `keep` and the browser has its
    cookie (the key needs it); then the newest whole exchanges within the bounds, sealed."""
    if not keep or not browser:
        return dict(FORGOTTEN)
    messages = [m for m in conversation.messages if m.role in ROLES] if conversation is not None else []
    kept = newest_exchanges(messages, _tokenizer(conversation))
    return sealed_value([{"role": m.role, "content": m.content} for m in kept], browser)


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
    kept = newest_exchanges(messages, _tokenizer(conversation))
    conversation.restore(kept)
    return Restored(kept, left_out=len(items) - len(kept))


def newest_exchanges(messages: Sequence[Message | None], tokenizer) -> list[Message]:
    """The newest whole exchanges (a user message, then its reply) that each pass a typed
    message's limits and together stay within MAX_KEPT_MESSAGES and MAX_KEPT_CHARS. Stops at
    the first exchange, from the newest, that does not: a history with a hole in it would
    not be the conversation that was had. A last message with no reply is not kept."""
    cleaned = [_cleaned(m) for m in messages]
    end = len(cleaned) - 1 if cleaned and cleaned[-1] is not None and cleaned[-1].role == "user" else len(cleaned)
    kept: list[Message] = []
    size = 0
    while end >= 2 and len(kept) + 2 <= MAX_KEPT_MESSAGES:
        question, answer = cleaned[end - 2], cleaned[end - 1]
        if question is None or answer is None or (question.role, answer.role) != ROLES:
            break
        size += len(question.content) + len(answer.content)
        # Characters first: nothing past the bounds is ever tokenized.
        if size > MAX_KEPT_CHARS or not _within_typed_limits(question, tokenizer):
            break
        kept[:0] = [question, answer]
        end -= 2
    return kept


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
