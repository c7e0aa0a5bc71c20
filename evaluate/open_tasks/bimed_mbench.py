"""BiMed-MBench: the LLaVA-Med eval questions (English) and their verified Arabic version.

Files (as released; see ../shared/data/*/SOURCE.txt): one JSON object per line with
`question_id`, `image`, `text` (the question; the English file ends it with "\\n<image>"),
`gpt4_answer` (the reference), `fig_caption`, `fig_label`, `in_text_mention`, `domain`
(five flags) and `type`.

Two quirks of the Arabic file are mended here so that no item drops out of a column:
- 41 rows name their type in Arabic (محادثة, وصف تفصيلي, وصف مفصل): mapped to
  conversation / detailed_description;
- `in_text_mention` is "" on 14 rows where the English file has null.
Each item's domain is the first true flag in the order chest_xray, mri, histology, gross,
ct_scan, as BiMediX2's summary script assigns it.
"""

from __future__ import annotations

import json
from pathlib import Path

from evaluate.open_tasks.items import OpenItem

TASK = "bimed-mbench"
FILES = {"en": ("bimed_mbench_llavamed_eval/llava_med_eval_qa50_qa.jsonl", "llava_med_eval_qa50_qa.jsonl"),
         "ar": ("bimed_mbench_arabic/llava_med_eval_qa50_qa_arabic_verified.jsonl",
                "llava_med_eval_qa50_qa_arabic_verified.jsonl", "bimed-mbench_ara.jsonl")}
TYPES = ("conversation", "detailed_description")
TYPE_NAMES = {"conversation": "conversation", "detailed_description": "detailed_description",
              "محادثة": "conversation", "وصف تفصيلي": "detailed_description", "وصف مفصل": "detailed_description"}
DOMAIN_ORDER = ("chest_xray", "mri", "histology", "gross", "ct_scan")
IMAGE_TAG = "<image>"


def find_file(lang: str, source: Path) -> Path:
    """`source` is the file itself, or a folder holding it (../shared/data, or its subfolder)."""
    if source.is_file():
        return source
    for relative in FILES[lang]:
        for candidate in (source / relative, source / Path(relative).name):
            if candidate.is_file():
                return candidate
    tried = ", ".join(str(source / relative) for relative in FILES[lang])
    raise FileNotFoundError(f"no BiMed-MBench question file for {lang!r}; tried {tried}")


def load_bimed_mbench(lang: str, source: Path) -> list[OpenItem]:
    path = find_file(lang, Path(source))
    items = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                items.append(_item(json.loads(line), lang, f"{path}:{number}"))
    return items


def _item(row: dict, lang: str, where: str) -> OpenItem:
    try:
        question = row["text"].replace(IMAGE_TAG, "").strip()
        kind = TYPE_NAMES[row["type"].strip()]
        domain = next((name for name in DOMAIN_ORDER if row["domain"].get(name)), "other")
        meta = {"question_id": row["question_id"], "type": kind, "domain": domain,
                "caption": row.get("fig_caption") or "", "fig_label": row.get("fig_label") or "",
                "mention": _mention(row.get("in_text_mention"))}
        return OpenItem(TASK, lang, str(row["question_id"]), (question,), row.get("image") or None,
                        row["gpt4_answer"], meta)
    except KeyError as error:
        raise ValueError(f"{where}: not a BiMed-MBench row (missing or unknown {error})") from None


def _mention(value) -> str:
    """The in-text mentions of the figure, as one paragraph (None and "" are no mention)."""
    if not value:
        return ""
    if isinstance(value, str):
        return value
    return " ".join(part.get("tokens", "") for part in value if isinstance(part, dict)).strip()
