"""Judgments cached on disk (SQLite), keyed by judge model, prompt version and inputs.

Every answered call is committed as soon as it returns, so a crash loses nothing and a
rerun asks the judge only what it has not answered yet. The key is the SHA-256 of the
judge's model id, the prompt's label (name@version) and the exact request (messages,
max_tokens, temperature): a different prompt, answer or setting is a different entry.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """CREATE TABLE IF NOT EXISTS judgments (
    key TEXT PRIMARY KEY, judge_model TEXT NOT NULL, prompt TEXT NOT NULL, text TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL,
    created_at TEXT NOT NULL DEFAULT (datetime('now')))"""


@dataclass(frozen=True)
class CachedJudgment:
    text: str
    prompt_tokens: int
    completion_tokens: int


def cache_key(judge_model: str, prompt_label: str, request: dict) -> str:
    material = json.dumps({"judge": judge_model, "prompt": prompt_label, "request": request},
                          ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


class JudgmentCache:
    """Thread-safe: the client's workers share one connection behind a lock."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(SCHEMA)
        self._db.commit()

    def get(self, key: str) -> CachedJudgment | None:
        with self._lock:
            row = self._db.execute("SELECT text, prompt_tokens, completion_tokens FROM judgments WHERE key = ?",
                                   (key,)).fetchone()
        return CachedJudgment(*row) if row else None

    def put(self, key: str, judge_model: str, prompt_label: str, judgment: CachedJudgment) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO judgments (key, judge_model, prompt, text, prompt_tokens, "
                             "completion_tokens) VALUES (?, ?, ?, ?, ?, ?)",
                             (key, judge_model, prompt_label, judgment.text, judgment.prompt_tokens,
                              judgment.completion_tokens))
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM judgments").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()
