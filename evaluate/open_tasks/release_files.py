"""Reading the VQA and report releases: JSON, JSON Lines, CSV and Parquet records, splits,
Arabic fields, and images embedded in hub exports.

Shared by evaluate/open_tasks/vqa.py and reports.py. Every error names the file and the
layout that was expected there, so a wrong `--data` says what to give instead.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from pathlib import Path

ARABIC = re.compile("[\u0600-\u06ff]")
# The releases name their validation split differently (SLAKE validate.json, MIMIC-CXR
# "validate", the hub "validation", PathVQA "val"); all are read as "validate".
SPLITS = {"train": "train", "test": "test", "validate": "validate", "validation": "validate", "val": "validate",
          "dev": "validate", "all": "all"}
SPLIT_FILE_NAMES = {"train": ("train",), "test": ("test",), "validate": ("validate", "validation", "val", "dev")}
_IMAGE_MAGIC = ((b"\xff\xd8\xff", ".jpg"), (b"\x89PNG", ".png"), (b"GIF8", ".gif"), (b"BM", ".bmp"),
                (b"II*\x00", ".tif"), (b"MM\x00*", ".tif"))


def canonical_split(split: str) -> str:
    """train, validate, test or all, from any release's spelling."""
    name = SPLITS.get(str(split).strip().lower())
    if name is None:
        raise ValueError(f"split {split!r} is not one of train, validate (validation, val), test, all")
    return name


def row_split(value, where: str) -> str:
    """A record's own split value (a `split` column) in canonical spelling."""
    try:
        return canonical_split(value)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None


def read_records(path: Path, layout: str) -> list[dict]:
    """The objects of a .json (a list, or {"data": [...]}) / .jsonl / .csv / .parquet file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file; expected {layout}")
    suffix = path.suffix.lower()
    try:
        records = _read(path, suffix)
    except (json.JSONDecodeError, UnicodeDecodeError, csv.Error, OSError) as error:
        raise ValueError(f"{path}: cannot be read as {suffix} ({error}); expected {layout}") from None
    if records is None:
        raise ValueError(f"{path}: unsupported file type {suffix!r} (.json, .jsonl, .csv, .parquet); "
                         f"expected {layout}")
    if not isinstance(records, list) or not all(isinstance(record, dict) for record in records):
        raise ValueError(f"{path}: expected a list of objects ({layout})")
    return records


def _read(path: Path, suffix: str):
    if suffix == ".jsonl":
        with path.open(encoding="utf-8-sig") as handle:
            return [json.loads(line) for line in handle if line.strip()]
    if suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8-sig"))
        return data.get("data") if isinstance(data, dict) else data
    if suffix == ".csv":
        # csv, not pandas: pandas would read a finding of "None" or "NA" as a missing value
        with path.open(encoding="utf-8-sig", newline="") as handle:
            return [{key.strip(): value for key, value in row.items() if key} for row in csv.DictReader(handle)]
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            return pq.read_table(path).to_pylist()
        except Exception as error:  # pyarrow raises its own types for a damaged file
            raise OSError(str(error)) from None
    return None


def text(record: dict, *names: str) -> str:
    """The first non-empty field among `names`, as stripped text (numbers too: VQA-RAD has some)."""
    for name in names:
        value = record.get(name)
        if value is not None and not isinstance(value, (dict, list)) and str(value).strip():
            return str(value).strip()
    return ""


def arabic_pair(record: dict, question_field: str, answer_field: str) -> tuple[str, str] | None:
    """(question, answer) in Arabic: `<field>_ar` columns, or the plain fields of a file
    translated in place; None when the record has no Arabic question."""
    question, answer = text(record, f"{question_field}_ar"), text(record, f"{answer_field}_ar")
    if question and answer:
        return question, answer
    question = text(record, question_field)
    if ARABIC.search(question):
        return question, text(record, answer_field)
    return None


def split_files(folder: Path, split: str, patterns: tuple[str, ...]) -> list[Path]:
    """Files of a split in a release folder; `patterns` use {name} for the split's file names
    (e.g. "{name}.json", "data/{name}-*.parquet"); the first pattern that matches wins."""
    for pattern in patterns:
        for name in SPLIT_FILE_NAMES[split]:
            found = sorted(folder.glob(pattern.format(name=name)))
            if found:
                return found
    return []


def extract_image(data: bytes, store: Path) -> str:
    """Write embedded image bytes (a hub export's `image.bytes`) once to `store`, named by
    content, so rows that repeat an image share one file; returns the file name."""
    suffix = next((ext for magic, ext in _IMAGE_MAGIC if data.startswith(magic)), ".img")
    name = hashlib.sha1(data).hexdigest()[:16] + suffix
    target = store / name
    if not target.exists():
        try:
            store.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        except OSError as error:
            raise ValueError(f"cannot write the embedded images to {store} ({error}); "
                             "copy the dataset to a writable folder") from None
    return name
