"""The conversation as the person sees it: turns with their files and languages, and the
Chatbot messages (each one an HTML block with its own direction) built from them.

The Chatbot is only a view: it is rebuilt from the Conversation on every update, so what
is shown is always what the engine holds.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

from ui.bidi import render_message
from ui.conversation import PREVIEW_SUFFIX, Conversation, TurnInfo
from ui.strings import text

LANGUAGE_NAMES = {"ar": "العربية", "en": "English"}  # native names, in either interface
FINISH_KEYS = {"stopped": "finish_stopped", "length": "finish_length", "failed": "finish_failed"}


@dataclass(frozen=True)
class Turn:
    role: str  # "user" or "assistant"
    text: str
    files: tuple[str, ...]
    lang: str  # "ar" or "en": the language (and so the direction) of this message
    html: str
    info: TurnInfo | None = None  # finished turns: when, and what wrote a reply
    waiting: int | None = None  # a reply not begun: its place in the model's queue


def finished_turns(conversation: Conversation) -> list[Turn]:
    """Every finished message, each with the direction of its own content."""
    turns, previous, user_index = [], None, 0
    for index, message in enumerate(conversation.messages):
        if message.role not in ("user", "assistant"):
            continue
        files: tuple[str, ...] = ()
        if message.role == "user":
            attachments = conversation.attachments
            files = attachments[user_index] if user_index < len(attachments) else ()
            user_index += 1
        rendered = render_message(message.content, previous)
        turns.append(Turn(message.role, message.content, files, rendered.lang, rendered.html,
                          conversation.info.get(index)))
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
    elif pending.waiting is not None:  # in the model's queue: the status becomes the reply
        turns.append(Turn("assistant", "", (), pending.reply.language, "", waiting=pending.waiting))
    return turns


def chat_messages(conversation: Conversation | None, lang: str | None = None) -> list[dict]:
    """The Chatbot's value (Gradio 6 message dicts). With `lang` (the interface language),
    each message carries its notes: time, and for a reply the model, adapter, language and
    how it ended. Without, none: the arena must not name the models before the vote."""
    if conversation is None:
        return []
    return [_chat_message(turn, lang) for turn in all_turns(conversation)]


def _chat_message(turn: Turn, lang: str | None) -> dict:
    notes = _notes(turn, lang) if lang else ""
    body = (turn.html if turn.text else "") + notes
    files = [{"path": path, "orig_name": Path(path).name.removesuffix(PREVIEW_SUFFIX)} for path in turn.files]
    if not files:
        return {"role": turn.role, "content": body or turn.html}
    return {"role": turn.role, "content": files + ([body] if body else [])}


def _ui_block(css_class: str, content: str, lang: str) -> str:
    """A line of the app's own (not the message's), laid out in the interface language."""
    return f'<div class="{css_class}" dir="{"rtl" if lang == "ar" else "ltr"}" lang="{lang}">{content}</div>'


def _notes(turn: Turn, lang: str) -> str:
    """The status of a reply still waiting, or what a finished message carries."""
    if turn.waiting is not None:
        status = text("waiting_for_model", lang).format(position=turn.waiting)
        return _ui_block("bmx-status", f"⏳ {html.escape(status)}", lang)
    info = turn.info
    if info is None:
        return ""
    notes = []
    if info.images_unread:
        notes.append(_ui_block("bmx-note", "⚠️ " + html.escape(text("images_unread", lang)), lang))
    if turn.role == "assistant" and not turn.text:
        notes.append(_ui_block("bmx-note", html.escape(text("no_text_written", lang)), lang))
    return "".join(notes) + _ui_block("bmx-meta", _meta(turn, lang), lang)


def _meta(turn: Turn, lang: str) -> str:
    """Time, and for a reply: model · adapter · language asked · how it ended · copy."""
    info = turn.info
    stamp = info.at.strftime("%Y-%m-%dT%H:%M:%SZ")
    parts = [f'<time datetime="{stamp}">{info.at:%H:%M} UTC</time>']
    if turn.role == "assistant":
        parts.append(html.escape(info.model or ""))
        parts.append(html.escape(f"{text('meta_adapter', lang)}: {info.adapter or text('adapter_none', lang)}"))
        if info.language in LANGUAGE_NAMES:
            parts.append(f"{text('meta_language', lang)}: <bdi>{LANGUAGE_NAMES[info.language]}</bdi>")
        if info.finish_reason in FINISH_KEYS:
            parts.append(f'<span class="bmx-finish">{html.escape(text(FINISH_KEYS[info.finish_reason], lang))}</span>')
    line = " · ".join(part for part in parts if part)
    if turn.role == "assistant" and turn.text:
        line += f' <button type="button" class="bmx-copy" title="{html.escape(text("copy", lang))}">⧉</button>'
    return line
