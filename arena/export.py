"""All votes with their transcripts, for analysis outside the app.

- JSONL: one vote per line, UTF-8, Arabic as typed (no \\u escapes); lossless, the format
  to analyse with pandas (`pd.read_json(path, lines=True)`) or to archive.
- CSV: one vote per row; transcripts and generation settings are JSON strings in their
  columns. Written as UTF-8 *with* a byte-order mark ("utf-8-sig"): Excel opens a BOM-less
  CSV in the machine's legacy code page and shows Arabic as mojibake, while with the BOM it
  detects UTF-8 (pandas and Python's csv read it with encoding="utf-8-sig"). Cells a
  rater typed (name, reason) that start with = + - or @ get a leading apostrophe so a
  spreadsheet shows them as text instead of running them as formulas; the JSONL keeps
  them untouched. Excel shows at most 32,767 characters per cell: long transcripts are
  complete in the file but cut in Excel's view.

Files are written to a temporary name and renamed into place: an interrupted export
never leaves a truncated file under the requested name.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import fields, replace
from pathlib import Path
from typing import IO, Callable, Iterator

from arena.records import VoteRecord, load_votes
from arena.store import ArenaStore

CSV_COLUMNS = tuple(f.name for f in fields(VoteRecord))
JSON_COLUMNS = frozenset({"transcript_a", "transcript_b", "generation_settings"})
TYPED_COLUMNS = frozenset({"rater_name", "reason"})  # free text from raters
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@contextmanager
def _atomic_text(path: str | Path, encoding: str) -> Iterator[IO[str]]:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "w", encoding=encoding, newline="") as stream:
            yield stream
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_jsonl(records: Iterable[VoteRecord], path: str | Path) -> int:
    """Write one JSON object per vote; returns the number written."""
    count = 0
    with _atomic_text(path, "utf-8") as stream:
        for record in records:
            stream.write(json.dumps(record.to_dict(), ensure_ascii=False) + "\n")
            count += 1
    return count


def _csv_cell(column: str, value):
    if column in JSON_COLUMNS:
        return json.dumps(value, ensure_ascii=False)
    if column in TYPED_COLUMNS and isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def write_csv(records: Iterable[VoteRecord], path: str | Path) -> int:
    """Write one row per vote (see the module docstring for the encoding); returns the count."""
    count = 0
    with _atomic_text(path, "utf-8-sig") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(CSV_COLUMNS))
        writer.writeheader()
        for record in records:
            row = record.to_dict()
            writer.writerow({column: _csv_cell(column, row[column]) for column in CSV_COLUMNS})
            count += 1
    return count


def export_votes(store: ArenaStore, *, jsonl: str | Path | None = None, csv_path: str | Path | None = None,
                 study: str | None = None, include_flagged: bool = True, raters: str = "humans",
                 shown_name: Callable[[str], str] | None = None) -> int:
    """Export the votes (flagged ones included by default: analysts decide) to either or
    both formats; returns the number of votes exported. `raters`: "humans" (default),
    "judges" or "all" (arena.records.load_votes); a judge's rows name it as rater
    "judge:<model>". `shown_name`: each model as the files name it (the app passes the
    public name: a local model's id is its directory on the server)."""
    records = load_votes(store, study, include_flagged, raters)
    if shown_name is not None:
        records = [_renamed(record, shown_name) for record in records]
    if jsonl is not None:
        write_jsonl(records, jsonl)
    if csv_path is not None:
        write_csv(records, csv_path)
    return len(records)


def _renamed(record: VoteRecord, shown_name: Callable[[str], str]) -> VoteRecord:
    reason = record.leak_reason
    for model in (record.model_a, record.model_b):
        reason = reason.replace(model, shown_name(model)) if reason else reason
    return replace(record, model_a=shown_name(record.model_a), model_b=shown_name(record.model_b), leak_reason=reason)


def read_csv_records(path: str | Path) -> list[dict]:
    """The CSV back as dicts with the JSON columns decoded (what tests and notebooks want)."""
    with open(path, encoding="utf-8-sig", newline="") as stream:
        rows = list(csv.DictReader(stream))
    for row in rows:
        for column in JSON_COLUMNS:
            row[column] = json.loads(row[column])
    return rows
