"""Conversation export as Markdown and JSON (UTF-8, both languages as typed).

Conversations may hold patient data, so nothing is written unless the person asks for an
export; each request gets its own temporary folder, and folders older than an hour are
deleted whenever a new export is made (and a session's own when the session ends).
"""

from __future__ import annotations

import html
import json
import shutil
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from ui.conversation import PREVIEW_SUFFIX, Conversation
from ui.strings import text
from ui.transcript import Turn, finished_turns

MAX_AGE_S = 3600
FOLDER_PREFIX = "export-"
ROLE_NAMES = {"en": {"user": "User", "assistant": "Assistant"},
              "ar": {"user": "المستخدم", "assistant": "المساعد"}}


def default_root() -> Path:
    """Inside Gradio's upload cache, so the download is served without another copy."""
    from gradio.utils import get_upload_folder

    return Path(get_upload_folder()) / "bimedix-exports"


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
    record = {"role": turn.role, "content": turn.text, "language": turn.lang}
    if turn.files:
        record["attachments"] = [Path(path).name.removesuffix(PREVIEW_SUFFIX) for path in turn.files]
    return record


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
        lines += [f"📎 {name}" for name in message.get("attachments", [])]
        # Escaped: what a person or the model wrote is text, never markup in the file.
        lines += [f'<div dir="{direction}" lang="{message["language"]}">', "",
                  html.escape(message["content"], quote=False), "", "</div>", ""]
    return "\n".join(lines)


def write_exports(conversation: Conversation, lang: str, root: Path | None = None) -> list[Path]:
    """Write the Markdown and JSON files into a fresh folder; returns their paths."""
    root = root or default_root()
    root.mkdir(parents=True, exist_ok=True)
    prune(root)
    folder = Path(tempfile.mkdtemp(prefix=FOLDER_PREFIX, dir=root))
    conversation.export_dirs.append(folder)
    now = datetime.now(timezone.utc)
    record = export_record(conversation, now)
    stem = f"bimedix-chat-{now:%Y%m%d-%H%M%S}"
    markdown, data = folder / f"{stem}.md", folder / f"{stem}.json"
    markdown.write_text(to_markdown(record, lang), encoding="utf-8")
    data.write_text(to_json(record), encoding="utf-8")
    return [markdown, data]


def prune(root: Path, max_age_s: float = MAX_AGE_S) -> None:
    """Delete export folders older than `max_age_s` (any session's)."""
    cutoff = time.time() - max_age_s
    for folder in root.glob(f"{FOLDER_PREFIX}*"):
        if folder.is_dir() and folder.stat().st_mtime < cutoff:
            shutil.rmtree(folder, ignore_errors=True)
