"""Training data: Vicuna/LLaVA `conversations` files in, validated structured messages out.

The format both papers train on (FastChat/Axolotl for BiMediX, LLaVA for BiMediX2):

    {"conversations": [{"from": "human", "value": "<image>\\nWhat does the X-ray show?"},
                       {"from": "gpt", "value": "..."}, ...],
     "image": "pmc/123.jpg",          # optional; a string or a list, one per <image>
     "system": "...",                 # optional (or a first turn with "from": "system")
     "language": "ar"}                # optional; else the source's language, else detected

Files are read with `datasets` (JSON, JSONL, Parquet, or a hub dataset id), so large
sources are memory-mapped and validation runs in parallel (`data.num_proc`). Every sample
is checked before any training starts; all problems are reported together with the file,
the sample index and what is wrong. Each `<image>` is taken out of the text and its image
attached to that user turn: the prompt formats put image placeholders where the engine
puts them when serving (LLaVA's `<image>\\n` before the text).
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass
from pathlib import Path

from datasets import Dataset, Features, List, Value, load_dataset

from engine.formats import IMAGE_PLACEHOLDER
from train.config import SourceSettings

ROLE_NAMES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
              "system": "system"}
FILE_BUILDERS = {".json": "json", ".jsonl": "json", ".parquet": "parquet"}
MAX_LISTED_PROBLEMS = 20

MESSAGE = {"role": Value("string"), "content": Value("string"), "images": List(Value("string"))}
SAMPLE_FEATURES = Features({
    "messages": List(MESSAGE),
    "language": Value("string"),
    "source": Value("string"),
    "index": Value("int64"),
    "problems": List(Value("string")),
})


class DataError(ValueError):
    """Training data that cannot be used; the message names every file and sample at fault."""


@dataclass(frozen=True)
class ParsedSample:
    messages: list[dict]
    problems: list[str]


def load_source(source: SourceSettings, cache_dir: str | None = None) -> Dataset:
    """The raw rows of one source: local files by extension, anything else as a hub id."""
    pattern = os.path.expanduser(source.path)
    files = sorted(f for f in glob.glob(pattern) if os.path.isfile(f))
    suffixes = {Path(f).suffix.lower() for f in files}
    try:
        if files:
            unknown = suffixes - set(FILE_BUILDERS)
            if unknown or len({FILE_BUILDERS[s] for s in suffixes}) != 1:
                raise DataError(f"{source.path}: expected .json, .jsonl or .parquet files of one kind, "
                                f"got {', '.join(sorted(suffixes))}")
            builder = FILE_BUILDERS[suffixes.pop()]
            dataset = load_dataset(builder, data_files=files, split="train", cache_dir=cache_dir)
        elif os.path.isdir(pattern):  # a folder of data files: datasets picks the builder
            dataset = load_dataset(pattern, split=source.split, cache_dir=cache_dir)
        elif Path(pattern).suffix.lower() in FILE_BUILDERS or glob.has_magic(pattern):
            raise DataError(f"{source.path}: no such file")
        else:  # "owner/name": a hub dataset
            dataset = load_dataset(source.path, split=source.split, cache_dir=cache_dir)
    except DataError:
        raise
    except Exception as error:  # malformed JSON, schema clashes, unreachable hub: name the source
        raise DataError(f"{source.path}: cannot be read as a dataset: {error}") from None
    if source.max_samples is not None:
        dataset = dataset.select(range(min(source.max_samples, len(dataset))))
    return dataset


def _image_paths(field, image_folder: str | None, problems: list[str], check_files: bool = True) -> list[str]:
    if field is None:
        return []
    names = [field] if isinstance(field, str) else field
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        problems.append(f"`image` must be a path or a list of paths, got {field!r}")
        return []
    paths = []
    for name in names:
        path = Path(name).expanduser()
        if not path.is_absolute() and image_folder:
            path = Path(image_folder).expanduser() / path
        if check_files and not path.is_file():
            problems.append(f"image file not found: {path}")
        paths.append(str(path))
    return paths


def _without_placeholders(value: str) -> str:
    return re.sub(r"\s*" + re.escape(IMAGE_PLACEHOLDER) + r"\s*", " ", value).strip()


def _turn(index: int, turn, images: list[str], used: int, problems: list[str]) -> tuple[dict | None, int]:
    """One turn as a message dict; returns it and how many images it took."""
    if not isinstance(turn, dict):
        problems.append(f"turn {index} is not a mapping with `from` and `value`")
        return None, 0
    speaker, value = turn.get("from"), turn.get("value")
    role = ROLE_NAMES.get(str(speaker).strip().lower()) if speaker is not None else None
    if role is None:
        problems.append(f"turn {index}: `from` is {speaker!r}; expected human or gpt")
        return None, 0
    if not isinstance(value, str):
        problems.append(f"turn {index} ({speaker}): `value` is missing or not text")
        return None, 0
    count = value.count(IMAGE_PLACEHOLDER)
    if count and role != "user":
        problems.append(f"turn {index} ({speaker}): {IMAGE_PLACEHOLDER} is only allowed in human turns")
    attached = images[used:used + count] if role == "user" else []
    text = _without_placeholders(value) if count else value.strip()
    if not text and not attached:
        problems.append(f"turn {index} ({speaker}): empty value")
    return {"role": role, "content": text, "images": attached}, count


def _order_problems(messages: list[dict]) -> list[str]:
    """Turns alternate human, gpt, ... after an optional leading system prompt; gpt ends."""
    problems = []
    turns = messages[1:] if messages and messages[0]["role"] == "system" else messages
    for index, message in enumerate(turns):
        expected = "user" if index % 2 == 0 else "assistant"
        if message["role"] != expected:
            shown = {"user": "human", "assistant": "gpt"}.get(message["role"], message["role"])
            problems.append(f"conversation turn {index}: expected a {'human' if expected == 'user' else 'gpt'} "
                            f"turn, got {shown} (turns alternate human, gpt, ...; a system prompt only comes first)")
            return problems
    if not any(m["role"] == "assistant" for m in turns):
        problems.append("missing turns: no gpt answer to learn from")
    elif turns[-1]["role"] != "assistant":
        problems.append("the conversation ends with a human turn that has no gpt answer")
    return problems


def parse_sample(row: dict, image_folder: str | None = None, allow_images: bool = True,
                 check_image_files: bool = True) -> ParsedSample:
    """Structured messages of one raw sample, and every problem found in it.
    `check_image_files=False`: the paths are not looked up (the translation pipeline sends
    only the text)."""
    turns = row.get("conversations")
    if not isinstance(turns, list) or not turns:
        return ParsedSample([], ["no `conversations` list (expected [{from: human, value: ...}, "
                                 "{from: gpt, value: ...}, ...])"])
    problems: list[str] = []
    images = _image_paths(row.get("image"), image_folder, problems, check_image_files)
    if images and not allow_images:
        problems.append("the sample has images but this model reads text only")
    messages: list[dict] = []
    system = row.get("system")
    if isinstance(system, str) and system.strip():
        messages.append({"role": "system", "content": system.strip(), "images": []})
    used, every_turn_read = 0, True
    for index, turn in enumerate(turns):
        message, count = _turn(index, turn, images, used, problems)
        used += count
        every_turn_read &= message is not None
        if message is not None:
            messages.append(message)
    if used != len(images):
        problems.append(f"{used} {IMAGE_PLACEHOLDER} placeholder(s) in the text but {len(images)} image(s) "
                        "in `image`")
    if every_turn_read:  # the order of turns that could not be read says nothing more
        problems += _order_problems(messages)
    return ParsedSample(messages, problems)


def sample_language(row: dict, messages: list[dict], configured: str) -> str:
    """The source's language, else the sample's own `language` field, else detected from its text."""
    if configured in ("ar", "en"):
        return configured
    own = str(row.get("language") or "").strip().lower()
    if own in ("ar", "en"):
        return own
    from engine.language import detect_language

    text = " ".join(m["content"] for m in messages if m["role"] != "system")[:2000]
    return detect_language(text).language


def _parse_batch(rows: dict, indices: list[int], *, source: SourceSettings, image_folder: str | None,
                 allow_images: bool) -> dict:
    out = {name: [] for name in SAMPLE_FEATURES}
    for offset, index in enumerate(indices):
        row = {name: values[offset] for name, values in rows.items()}
        parsed = parse_sample(row, image_folder, allow_images)
        language = sample_language(row, parsed.messages, source.language) if not parsed.problems else ""
        for name, value in (("messages", parsed.messages), ("language", language), ("source", source.path),
                            ("index", index), ("problems", parsed.problems)):
            out[name].append(value)
    return out


def prepare_source(source: SourceSettings, image_folder: str | None = None, allow_images: bool = True,
                   cache_dir: str | None = None, num_proc: int | None = None) -> Dataset:
    """Validated samples of one source: columns messages, language, source, index.

    Raises DataError naming every bad sample (the first MAX_LISTED_PROBLEMS in full).
    """
    raw = load_source(source, cache_dir)
    folder = source.image_folder or image_folder
    parsed = raw.map(
        _parse_batch, batched=True, with_indices=True, remove_columns=raw.column_names,
        features=SAMPLE_FEATURES, num_proc=num_proc, desc=f"checking {Path(source.path).name}",
        load_from_cache_file=False,  # image files may have gone since the last check: look again
        fn_kwargs={"source": source, "image_folder": folder, "allow_images": allow_images})
    bad = parsed.filter(lambda problems: len(problems) > 0, input_columns="problems", num_proc=num_proc)
    if len(bad):
        raise DataError(describe_problems(bad))
    return parsed.remove_columns("problems")


def describe_problems(bad: Dataset) -> str:
    listed = [f"  {row['source']}: sample {row['index']}: {problem}"
              for row in bad.select(range(min(len(bad), MAX_LISTED_PROBLEMS)))
              for problem in row["problems"]]
    more = f"\n  ... and {len(bad) - MAX_LISTED_PROBLEMS} more bad samples" if len(bad) > MAX_LISTED_PROBLEMS else ""
    return f"{len(bad)} training sample(s) cannot be used:\n" + "\n".join(listed) + more
