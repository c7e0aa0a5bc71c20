"""Conversation export as Markdown and JSON (UTF-8, both languages as typed).

Conversations may hold patient data, so nothing is written unless the person asks for an
export, and then only as one-time downloads (ui/downloads.py): served once, to the
browser that asked, then deleted.
"""

from __future__ import annotations

import html
import json
from datetime import datetime, timezone
from pathlib import Path

from ui.conversation import PREVIEW_SUFFIX, Conversation
from ui.strings import text
from ui.transcript import Turn, finished_turns

ROLE_NAMES = {"en": {"user": "User", "assistant": "Assistant"},
              "ar": {"user": "المستخدم", "assistant": "المساعد"}}


def export_record(conversation: Conversation, exported_at: datetime) -> dict:
    card = conversation.loaded.card
    return {
        "app": "BiMediX Chat",
        "exported_at": exported_at.isoformat(timespec="seconds"),
        "model": {"card": card.name, "title": card.title, "medical": card.medical,
                  "adapter": conversation.options.adapter},
        "messages": [_message_record(turn) for turn in finished_turns(conversation)],
    }


def _message_record(turn: Turn) -> dict:
    """A message, and what it carries: when; for a reply, what wrote it, with which
    settings, in which language asked, and how it ended (each reply its own)."""
    record = {"role": turn.role, "content": turn.text, "language": turn.lang}
    if turn.files:
        record["attachments"] = [Path(path).name.removesuffix(PREVIEW_SUFFIX) for path in turn.files]
    info = turn.info
    if info is not None:
        record["at"] = info.at.isoformat(timespec="seconds")
        if turn.role == "assistant":
            record.update(model=info.model, adapter=info.adapter, reply_language=info.language,
                          finish_reason=info.finish_reason, settings=info.settings)
    return record


def _markdown_meta(message: dict) -> str:
    """The line under a message's heading: time, and what wrote a reply."""
    parts = [message.get("at", "")]
    if message["role"] == "assistant" and "model" in message:
        settings = message.get("settings") or {}
        parts += [message["model"] or "", f"adapter: {message['adapter'] or 'none'}",
                  f"reply language: {message['reply_language']}", f"finish: {message['finish_reason']}",
                  ", ".join(f"{key}={value}" for key, value in settings.items())]
    return html.escape(" · ".join(part for part in parts if part), quote=False)


def to_json(record: dict) -> str:
    return json.dumps(record, ensure_ascii=False, indent=2) + "\n"


def to_markdown(record: dict, lang: str) -> str:
    """Readable anywhere; each message keeps its own direction where Markdown allows HTML."""
    roles = ROLE_NAMES.get(lang, ROLE_NAMES["en"])
    lines = [f"# BiMediX Chat — {record['model']['title']}", "",
             f"_{record['exported_at']}_", "", f"> {text('disclaimer', lang)}", ""]
    for message in record["messages"]:
        direction = "rtl" if message["language"] == "ar" else "ltr"
        lines += [f"## {roles[message['role']]}", ""]
        meta = _markdown_meta(message)
        lines += [f"🕒 {meta}", ""] if meta else []
        lines += [f"📎 {name}" for name in message.get("attachments", [])]
        # Escaped: what a person or the model wrote is text, never markup in the file.
        lines += [f'<div dir="{direction}" lang="{message["language"]}">', "",
                  html.escape(message["content"], quote=False), "", "</div>", ""]
    return "\n".join(lines)


def export_files(conversation: Conversation, lang: str, now: datetime | None = None) -> list[tuple[str, bytes]]:
    """The Markdown and JSON files as (name, UTF-8 bytes)."""
    now = now or datetime.now(timezone.utc)
    record = export_record(conversation, now)
    stem = f"bimedix-chat-{now:%Y%m%d-%H%M%S}"
    return [(f"{stem}.md", to_markdown(record, lang).encode("utf-8")),
            (f"{stem}.json", to_json(record).encode("utf-8"))]
