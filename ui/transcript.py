"""The conversation as the person sees it: turns with their files and languages, and the
Chatbot messages (each one an HTML block with its own direction) built from them.

The Chatbot is only a view: it is rebuilt from the Conversation on every update, so what
is shown is always what the engine holds.

The notes under a message (time, model, adapter, reply language, how it ended) are laid
out in the interface language, each field its own isolated run (<bdi>): in an Arabic
interface a Latin model name or a time must not pull its neighbours apart (issue 27).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from engine.red_flags import RedFlag, emergency_notice
from ui.bidi import render_message
from ui.conversation import PREVIEW_SUFFIX, Conversation, PendingExchange, TurnInfo
from ui.icons import icon
from ui.strings import text

LANGUAGE_NAMES = {"ar": "العربية", "en": "English"}  # native names, in either interface
FINISH_KEYS = {"stopped": "finish_stopped", "length": "finish_length", "failed": "finish_failed"}
ARABIC_HALF_DAY = ("ص", "م")  # صباحًا / مساءً: the Arabic AM / PM


@dataclass(frozen=True)
class Turn:
    role: str  # "user" or "assistant"
    text: str
    files: tuple[str, ...]
    lang: str  # "ar" or "en": the language (and so the direction) of this message
    html: str
    info: TurnInfo | None = None  # when, and for a finished reply what wrote it
    waiting: int | None = None  # a reply not begun: its place in the model's queue
    writing: bool = False  # a reply begun whose first words have not come yet
    emergency: RedFlag | None = None  # a reply to a message describing an emergency


def finished_turns(conversation: Conversation) -> list[Turn]:
    """Every finished message, each with the direction of its own content."""
    turns, previous, user_index, asked = [], None, 0, ""
    for index, message in enumerate(conversation.messages):
        if message.role not in ("user", "assistant"):
            continue
        files: tuple[str, ...] = ()
        if message.role == "user":
            attachments = conversation.attachments
            files = attachments[user_index] if user_index < len(attachments) else ()
            user_index += 1
            asked = message.content
        rendered = render_message(message.content, previous)
        emergency = emergency_notice(asked) if message.role == "assistant" else None
        turns.append(Turn(message.role, message.content, files, rendered.lang, rendered.html,
                          conversation.info.get(index), emergency=emergency))
        previous = rendered.lang
    return turns


def all_turns(conversation: Conversation, sending: PendingExchange | None = None) -> list[Turn]:
    """Finished turns plus the exchange being generated: the message at once with its time,
    then the reply so far, or while it has no words its place in the queue or "Writing…".
    `sending`: a message not yet started (its files still being read), shown as pending."""
    turns = finished_turns(conversation)
    pending = conversation.pending or sending
    if pending is None:
        return turns
    previous = turns[-1].lang if turns else None
    user = render_message(pending.text, previous)
    emergency = emergency_notice(pending.text)
    if pending.reply is None:  # shown while intake reads its files (ui/handlers.py): their names only
        names = _file_names(pending.files)
        turns.append(Turn("user", pending.text or names, (), user.lang, user.html + names, TurnInfo(pending.sent_at)))
        return [*turns, Turn("assistant", "", (), user.lang, "", writing=True, emergency=emergency)]
    turns.append(Turn("user", pending.text, pending.files, user.lang, user.html, TurnInfo(pending.sent_at)))
    if pending.reply.text.strip():
        # Until its first words arrive, a reply leans on the language it will be written in.
        reply = render_message(pending.reply.text, pending.reply.language)
        turns.append(Turn("assistant", pending.reply.text, (), reply.lang, reply.html, emergency=emergency))
    else:  # in the model's queue (the status becomes the reply), or begun
        turns.append(Turn("assistant", "", (), pending.reply.language, "", waiting=pending.waiting,
                          writing=pending.waiting is None, emergency=emergency))
    return turns


def _file_names(files: tuple[str, ...]) -> str:
    """The names of files not yet read. Never the files: an upload as sent (a DICOM with
    its patient tags) is not served back; the preview intake writes is shown once read."""
    if not files:
        return ""
    names = "".join(f"<li><bdi>{html.escape(Path(path).name.removesuffix(PREVIEW_SUFFIX))}</bdi></li>"
                    for path in files)
    return f'<ul class="bmx-attachments" dir="auto">{names}</ul>'


def chat_messages(conversation: Conversation | None, lang: str | None = None, blind: bool = False,
                  sending: PendingExchange | None = None) -> list[dict]:
    """The Chatbot's value (Gradio 6 message dicts). With `lang` (the interface language),
    each message carries its notes: time, and for a reply the model, adapter, language and
    how it ended. `blind` (the arena before the vote): time and how a reply ended, never
    what wrote it. Without `lang`, no notes. An emergency notice shows in every mode."""
    if conversation is None:
        return []
    messages = [_chat_message(turn, lang, blind) for turn in all_turns(conversation, sending)]
    return [message for message in messages if message is not None]


def _chat_message(turn: Turn, lang: str | None, blind: bool) -> dict | None:
    notes = _notes(turn, lang, blind) if lang else ""
    alert = _emergency_block(turn.emergency) if turn.emergency else ""
    body = alert + (turn.html if turn.text else "") + notes
    if not body and not turn.text and turn.role == "assistant" and turn.info is None:
        return None  # a reply not begun, with nothing to say about it in this mode
    files = [{"path": path, "orig_name": Path(path).name.removesuffix(PREVIEW_SUFFIX)} for path in turn.files]
    if not files:
        return {"role": turn.role, "content": body or turn.html}
    return {"role": turn.role, "content": files + ([body] if body else [])}


def _ui_block(css_class: str, content: str, lang: str, role: str | None = None) -> str:
    """A line of the app's own (not the message's), laid out in the interface language."""
    role_attribute = f' role="{role}"' if role else ""
    return (f'<div class="{css_class}" dir="{"rtl" if lang == "ar" else "ltr"}" lang="{lang}"'
            f"{role_attribute}>{content}</div>")


def _emergency_block(flag: RedFlag) -> str:
    """The emergency notice above a reply, in both languages whatever the interface: an
    alert of its own, never part of what the model wrote."""
    lines = _ui_block("bmx-emergency-line", html.escape(flag.text_ar), "ar") + _ui_block(
        "bmx-emergency-line", html.escape(flag.text_en), "en")
    return f'<div class="bmx-emergency" role="alert" data-category="{html.escape(flag.category)}">{lines}</div>'


def _notes(turn: Turn, lang: str, blind: bool) -> str:
    """The status of a reply not begun, or what a finished message carries."""
    if turn.waiting is not None:
        status = text("waiting_for_model", lang).format(position=turn.waiting)
        return _ui_block("bmx-status", f"{icon('hourglass')} {html.escape(status)}", lang, role="status")
    if turn.writing:
        return _ui_block("bmx-status bmx-writing", html.escape(text("writing_reply", lang)), lang, role="status")
    info = turn.info
    if info is None:
        return ""
    notes = []
    if turn.role == "assistant" and not turn.text:
        notes.append(_ui_block("bmx-note", html.escape(text("no_text_written", lang)), lang))
    return "".join(notes) + _ui_block("bmx-meta", _meta(turn, lang, blind), lang)


def clock(at: datetime, lang: str) -> str:
    """A time (UTC) as the interface language writes it: "14:15 UTC"; "02:15 م UTC"."""
    if lang == "ar":
        return f"{at:%I:%M} {ARABIC_HALF_DAY[at.hour >= 12]} UTC"
    return f"{at:%H:%M} UTC"


def _field(name: str, content: str, lang: str | None = None) -> str:
    """One note, isolated from its neighbours; `lang`: laid out in the interface direction
    (a label and its value), else by its own content (a model's name)."""
    direction = {"ar": "rtl", "en": "ltr"}.get(lang or "", "auto")
    return f'<bdi class="bmx-field bmx-{name}" dir="{direction}">{content}</bdi>'


def _labelled(name: str, label_key: str, value: str, lang: str) -> str:
    return _field(name, f"{html.escape(text(label_key, lang))}: <bdi>{value}</bdi>", lang)


def _meta(turn: Turn, lang: str, blind: bool) -> str:
    """Time, and for a reply: model · adapter · language asked · how it ended · copy.
    Blind: time and how it ended only."""
    info = turn.info
    stamp = info.at.strftime("%Y-%m-%dT%H:%M:%SZ")
    parts = [_field("time", f'<time datetime="{stamp}">{clock(info.at, lang)}</time>', lang)]
    if turn.role == "assistant":
        if not blind:
            parts.append(_field("model", html.escape(info.model)) if info.model else "")
            parts.append(_labelled("adapter", "meta_adapter", html.escape(info.adapter or text("adapter_none", lang)),
                                   lang))
            if info.language in LANGUAGE_NAMES:
                parts.append(_labelled("language", "meta_language", LANGUAGE_NAMES[info.language], lang))
        if info.finish_reason in FINISH_KEYS:
            parts.append(_field("finish", html.escape(text(FINISH_KEYS[info.finish_reason], lang)), lang))
    line = " · ".join(part for part in parts if part)
    if turn.role == "assistant" and turn.text:
        label = html.escape(text("copy", lang))
        line += f' <button type="button" class="bmx-copy" title="{label}" aria-label="{label}">{icon("copy")}</button>'
    return line
