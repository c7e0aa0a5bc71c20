"""The conversation as the person sees it: turns with their files and languages, and the
Chatbot messages (each one an HTML block with its own direction) built from them.

The Chatbot is only a view: it is rebuilt from the Conversation on every update, so what
is shown is always what the engine holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ui.bidi import render_message
from ui.conversation import PREVIEW_SUFFIX, Conversation


@dataclass(frozen=True)
class Turn:
    role: str  # "user" or "assistant"
    text: str
    files: tuple[str, ...]
    lang: str  # "ar" or "en": the language (and so the direction) of this message
    html: str


def finished_turns(conversation: Conversation) -> list[Turn]:
    """Every finished message, each with the direction of its own content."""
    turns, previous, user_index = [], None, 0
    for message in conversation.messages:
        if message.role not in ("user", "assistant"):
            continue
        files: tuple[str, ...] = ()
        if message.role == "user":
            attachments = conversation.attachments
            files = attachments[user_index] if user_index < len(attachments) else ()
            user_index += 1
        rendered = render_message(message.content, previous)
        turns.append(Turn(message.role, message.content, files, rendered.lang, rendered.html))
        previous = rendered.lang
    return turns


def all_turns(conversation: Conversation) -> list[Turn]:
    """Finished turns plus the exchange being generated (the reply so far)."""
    turns = finished_turns(conversation)
    pending = conversation.pending
    if pending is None:
        return turns
    previous = turns[-1].lang if turns else None
    user = render_message(pending.text, previous)
    turns.append(Turn("user", pending.text, pending.files, user.lang, user.html))
    if pending.reply.text.strip():
        # Until its first words arrive, a reply leans on the language it will be written in.
        reply = render_message(pending.reply.text, pending.reply.language)
        turns.append(Turn("assistant", pending.reply.text, (), reply.lang, reply.html))
    return turns


def chat_messages(conversation: Conversation | None) -> list[dict]:
    """The Chatbot's value (Gradio 6 message dicts)."""
    if conversation is None:
        return []
    return [_chat_message(turn) for turn in all_turns(conversation)]


def _chat_message(turn: Turn) -> dict:
    files = [{"path": path, "orig_name": Path(path).name.removesuffix(PREVIEW_SUFFIX)} for path in turn.files]
    if not files:
        return {"role": turn.role, "content": turn.html}
    return {"role": turn.role, "content": files + ([turn.html] if turn.text else [])}
