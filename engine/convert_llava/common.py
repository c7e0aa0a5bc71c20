"""What every step of the conversion shares: its error, JSON files, and key listings in messages."""

from __future__ import annotations

import json
from pathlib import Path


class ConversionError(ValueError):
    """The source cannot be converted as it is; the message says why and what to do."""


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


def _listing(keys: list[str], limit: int = 50) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", ... and {len(keys) - limit} more" if len(keys) > limit else "")
