"""Answer files: what evaluate/generate.py writes and the judges and scorers read.

`DIR/<task>-<lang>-<model>.jsonl`, one JSON object per line, one line per item, written
and flushed as each answer is done (a crash loses at most the batch in flight; a rerun
skips the item ids already there). Each line carries the prompt settings it was answered
with, so a file mixing runs says so, item by item.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from evaluate.open_tasks.items import OpenItem


@dataclass(frozen=True)
class AnswerRecord:
    task: str
    lang: str
    item_id: str
    model: str  # the model as named on the command line (a card, a directory's name, openai:MODEL@URL's MODEL)
    adapter: str | None
    turns: list[str]  # the user's messages, as asked
    answers: list[str]  # the model's reply to each turn (the last is "the answer")
    reference: str | None
    image: str | None  # the image file name, when the item has one
    image_sent: bool  # whether the image was found and attached
    meta: dict
    settings: dict  # generation settings, reply language, system prompt, max context
    finish_reasons: list[str] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reply_language: str | None = None
    seconds: float = 0.0

    @property
    def answer(self) -> str:
        return self.answers[-1] if self.answers else ""

    def transcript(self) -> list[dict]:
        """The conversation as the arena stores it: user and assistant turns in order."""
        messages = []
        for question, reply in zip(self.turns, self.answers):
            messages += [{"role": "user", "content": question}, {"role": "assistant", "content": reply}]
        return messages

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict) -> "AnswerRecord":
        known = set(cls.__dataclass_fields__)
        return cls(**{key: value for key, value in data.items() if key in known})

    @classmethod
    def pending(cls, item: OpenItem, model: str, adapter: str | None, settings: dict) -> "AnswerRecord":
        return cls(item.task, item.lang, item.item_id, model, adapter, list(item.turns), [], item.reference,
                   item.image, False, dict(item.meta), settings)


def safe_name(name: str) -> str:
    """A model name as a file-name part: `openai:m@http://h:1/v1` -> `m`; a path -> its last part."""
    name = name.split("@", 1)[0].removeprefix("openai:") if name.startswith("openai:") else name
    name = name.rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1]
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", name) or "model"


def answers_path(out_dir: str | Path, task: str, lang: str, model: str) -> Path:
    return Path(out_dir) / f"{task}-{lang}-{safe_name(model)}.jsonl"


def read_answers(path: str | Path) -> list[AnswerRecord]:
    """Every complete line of an answer file; a torn last line (a crash mid-write) is ignored."""
    return list(iter_answers(path))


def iter_answers(path: str | Path) -> Iterator[AnswerRecord]:
    path = Path(path)
    if not path.exists():
        return
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError:
                if line.endswith("\n"):
                    raise ValueError(f"{path}:{number}: not a JSON line") from None
                return  # the last line, cut by a crash: that item is answered again
            yield AnswerRecord.from_dict(data)


def append_answers(path: str | Path, records: Iterable[AnswerRecord]) -> None:
    """Append whole lines and flush them to disk. A torn last line (a crash mid-write) is
    cut off first: its item was not counted as answered, so it is being answered again."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.stat().st_size:
        data = path.read_bytes()
        if not data.endswith(b"\n"):
            with path.open("r+b") as handle:
                handle.truncate(data.rfind(b"\n") + 1)
    with path.open("a", encoding="utf-8") as handle:
        for record in records:
            handle.write(record.to_json() + "\n")
        handle.flush()
