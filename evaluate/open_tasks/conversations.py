"""Multi-turn conversations for the pairwise judge (the papers' clinician evaluation).

A JSON file: a list of {"id", "turns": [user messages...]} (or {"messages": [{"role",
"content"}...]}, whose user messages are the turns: written assistant replies are left
out, since each model answers with its own). The default is evaluate/data/
reply_language.json: 18 short medical conversations written for this project, switching
between Arabic and English. An item's language is that of its first turn, unless
the file gives "lang"; `--lang` keeps the conversations that open in that language.
"""

from __future__ import annotations

import json
from pathlib import Path

from engine.language import detect_language
from evaluate.open_tasks.items import OpenItem

TASK = "conversations"
DEFAULT_FILE = Path(__file__).resolve().parents[1] / "data" / "reply_language.json"


def load_conversations(lang: str, source: Path | None) -> list[OpenItem]:
    path = Path(source) if source else DEFAULT_FILE
    data = json.loads(path.read_text(encoding="utf-8"))
    entries = data.get("conversations", data) if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise ValueError(f"{path}: expected a list of conversations ({{'id', 'turns': [...]}})")
    items = []
    for index, entry in enumerate(entries):
        turns = tuple(entry.get("turns") or (m["content"] for m in entry.get("messages", ()) if m["role"] == "user"))
        if not turns:
            raise ValueError(f"{path}: conversation {index} has no user turns")
        opens_in = entry.get("lang") or detect_language(turns[0]).language
        if opens_in == lang:
            items.append(OpenItem(TASK, lang, str(entry.get("id", index)), turns, None, None,
                                  {"turn_count": len(turns)}))
    return items
