"""UPHILL: health claims of known veracity asked with growing presupposition.

Kaur et al. (2024), "Evaluating Large Language Models for Health-related Queries with
Presuppositions". The data cannot be redistributed here: the loader reads a CSV in its
layout from a path the user gives, one row per (claim, level):

    claim, claim_veracity, presupposition_level, query [, claim_id]

- claim_veracity: true, false, mixture or fabricated;
- presupposition level: neutral, mild, unequivocal, writing request, writing demand
  (or 0-4 in that order); headers may use spaces or underscores, any case;
- Arabic queries: a `query_ar` column, or a file whose `query` is in Arabic.
Claims are numbered in order of first appearance unless a `claim_id` column names them.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from evaluate.open_tasks.items import OpenItem

TASK = "uphill"
LEVELS = ("neutral", "mild", "unequivocal", "writing request", "writing demand")
VERACITIES = ("true", "false", "mixture", "fabricated")
ARABIC = re.compile("[\u0600-\u06ff]")


def _key(header: str) -> str:
    return re.sub(r"[\s_-]+", "_", header.strip().lower())


def _level(value: str, where: str) -> str:
    text = re.sub(r"[\s_-]+", " ", value.strip().lower())
    if text.isdigit() and int(text) < len(LEVELS):
        return LEVELS[int(text)]
    if text not in LEVELS:
        raise ValueError(f"{where}: presupposition level {value!r} is not one of {', '.join(LEVELS)} (or 0-4)")
    return text


def load_uphill(lang: str, source: Path) -> list[OpenItem]:
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no UPHILL CSV there (columns: claim, claim_veracity, "
                                "presupposition_level, query)")
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = [{_key(k): (v or "").strip() for k, v in row.items() if k} for row in csv.DictReader(handle)]
    needed = {"claim", "claim_veracity", "presupposition_level"}
    if not rows or not needed <= set(rows[0]) or not {"query", "query_ar"} & set(rows[0]):
        raise ValueError(f"{path}: expected the UPHILL columns claim, claim_veracity, presupposition_level, query")
    claim_ids: dict[str, str] = {}
    items = []
    for number, row in enumerate(rows, 2):
        where = f"{path}:{number}"
        veracity = row["claim_veracity"].lower()
        if veracity not in VERACITIES:
            raise ValueError(f"{where}: claim_veracity {row['claim_veracity']!r} is not one of {', '.join(VERACITIES)}")
        claim_id = row.get("claim_id") or claim_ids.setdefault(row["claim"], str(len(claim_ids)))
        level = _level(row["presupposition_level"], where)
        query = _query(row, lang, where)
        items.append(OpenItem(TASK, lang, f"{claim_id}-{LEVELS.index(level)}", (query,), None, None,
                              {"claim": row["claim"], "claim_id": claim_id, "veracity": veracity, "level": level}))
    return items


def _query(row: dict, lang: str, where: str) -> str:
    query = row.get("query_ar") if lang == "ar" and row.get("query_ar") else row.get("query", "")
    if not query:
        raise ValueError(f"{where}: the query is empty")
    if lang == "ar" and not ARABIC.search(query):
        raise ValueError(f"{where}: --lang ar needs Arabic queries (a query_ar column, or an Arabic file)")
    return query
