"""BiMed-MBench: the LLaVA-Med relative score, in English and Arabic.

The judge sees text only, as the protocol does: the figure's label, caption and in-text
mentions, the question, the GPT-4 reference answer and the model's answer. It scores both
1-10 on its first line. An item's relative score is model / reference x 100; a column's
score is the mean over its items, per question type, per domain and overall.

Orders: `reference-first` (the protocol: the reference is Assistant 1) and `model-first`
(swapped). Judging both measures position bias: how much the score moves when only the
order changes.
"""

from __future__ import annotations

import re
from statistics import mean
from typing import Sequence

from evaluate.answers import AnswerRecord
from evaluate.judge.client import JudgeRequest, JudgeResult
from evaluate.judge.prompts import load_prompt

ORDERS = ("reference-first", "model-first")
TYPE_COLUMNS = ("conversation", "detailed_description")
DOMAIN_COLUMNS = ("chest_xray", "mri", "histology", "gross", "ct_scan")
COLUMNS = (*TYPE_COLUMNS, *DOMAIN_COLUMNS, "overall")
HEADERS = {"conversation": "Conversation", "detailed_description": "Description", "chest_xray": "CXR",
           "mri": "MRI", "histology": "Histology", "gross": "Gross", "ct_scan": "CT", "overall": "Overall"}
_NUMBER = r"(10(?:\.0+)?|\d(?:\.\d+)?)"
# A judge writing Arabic may give its scores in Arabic-Indic digits.
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹٫", "01234567890123456789.")
_FIRST_LINE = re.compile(rf"^\W*?{_NUMBER}\s*(?:[,;/]|\s)\s*{_NUMBER}\s*\W*$")


def prompt_for(lang: str):
    return load_prompt(f"bimed_mbench.{lang}")


def context_of(record: AnswerRecord) -> str:
    meta = record.meta
    caption = f"{meta.get('fig_label')}: {meta.get('caption', '')}" if meta.get("fig_label") else meta.get("caption", "")
    return "\n".join(part for part in (caption.strip(), (meta.get("mention") or "").strip()) if part)


def requests(records: Sequence[AnswerRecord], orders: Sequence[str] = ORDERS[:1]) -> list[JudgeRequest]:
    out = []
    for record in records:
        prompt = prompt_for(record.lang)
        for order in orders:
            first, second = ((record.reference, record.answer) if order == "reference-first"
                             else (record.answer, record.reference))
            messages = prompt.render(context=context_of(record), question=record.turns[0],
                                     answer_1=first or "", answer_2=second or "")
            out.append(JudgeRequest(f"{record.lang}|{record.item_id}|{order}", prompt, messages))
    return out


def parse_scores(text: str | None) -> tuple[float, float]:
    """The two 1-10 scores on the judgment's first non-empty line; ValueError says why not."""
    line = next((line.strip() for line in (text or "").translate(_DIGITS).splitlines() if line.strip()), "")
    found = _FIRST_LINE.match(line)
    if not found:
        raise ValueError(f"first line is not two scores: {line[:80]!r}" if line else "empty judgment")
    first, second = float(found[1]), float(found[2])
    if not (1 <= first <= 10 and 1 <= second <= 10):
        raise ValueError(f"scores outside 1-10: {line[:80]!r}")
    return first, second


def judgments(records: Sequence[AnswerRecord], results: Sequence[JudgeResult], orders: Sequence[str]) -> list[dict]:
    """One line per item: each order's judgment, its scores or why it could not be scored."""
    by_key = {result.request.key: result for result in results}
    lines = []
    for record in records:
        line = {"item_id": record.item_id, "lang": record.lang, "model": record.model, "type": record.meta.get("type"),
                "domain": record.meta.get("domain"), "orders": {}}
        for order in orders:
            result = by_key[f"{record.lang}|{record.item_id}|{order}"]
            line["orders"][order] = _judged(result, order)
        lines.append(line)
    return lines


def _judged(result: JudgeResult, order: str) -> dict:
    entry = {"text": result.text, "cached": result.cached}
    if result.error is not None:
        return {**entry, "error": result.error}
    try:
        first, second = parse_scores(result.text)
    except ValueError as error:
        return {**entry, "unparsable": str(error)}
    reference, model = (first, second) if order == "reference-first" else (second, first)
    return {**entry, "reference_score": reference, "model_score": model, "relative": model / reference * 100}


def column_scores(lines: Sequence[dict], order: str) -> dict:
    """{column: {relative, reference, model, n}} over the items scored in `order`."""
    scored = [(line, line["orders"][order]) for line in lines if "relative" in line["orders"][order]]
    table = {}
    for column in COLUMNS:
        chosen = [entry for line, entry in scored
                  if column == "overall" or line["type"] == column or line["domain"] == column]
        table[column] = {
            "relative": mean(e["relative"] for e in chosen) if chosen else None,
            "reference": mean(e["reference_score"] for e in chosen) if chosen else None,
            "model": mean(e["model_score"] for e in chosen) if chosen else None,
            "n": len(chosen)}
    return table


def scores(lines: Sequence[dict], orders: Sequence[str]) -> dict:
    """Tables per order, what could not be scored, and the position bias when both orders ran."""
    result = {"orders": {}}
    for order in orders:
        entries = [(line["item_id"], line["orders"][order]) for line in lines]
        result["orders"][order] = {
            "columns": column_scores(lines, order),
            "unparsable": {item: e["unparsable"] for item, e in entries if "unparsable" in e},
            "failed": {item: e["error"] for item, e in entries if "error" in e}}
    if len(orders) == 2:
        result["position_bias"] = position_bias(lines)
    return result


def position_bias(lines: Sequence[dict]) -> dict:
    """Model-first minus reference-first, on the items scored in both orders."""
    both = [line["orders"] for line in lines
            if all("relative" in line["orders"][order] for order in ORDERS)]
    if not both:
        return {"n": 0, "relative_shift": None, "items_changed": None}
    shifts = [o["model-first"]["relative"] - o["reference-first"]["relative"] for o in both]
    changed = sum(o["model-first"]["model_score"] != o["reference-first"]["model_score"] for o in both)
    return {"n": len(both), "relative_shift": mean(shifts), "items_changed": changed / len(both)}


def markdown(runs: Sequence[dict]) -> str:
    """The paper's layout: one row per model and language, a column per type and domain."""
    parts = []
    orders = sorted({order for run in runs for order in run["scores"]["orders"]}, key=ORDERS.index)
    for order in orders:
        parts.append(f"### BiMed-MBench relative score (%), {order}\n")
        parts.append("| Model | Lang | " + " | ".join(HEADERS[c] for c in COLUMNS) + " | Unparsable |")
        parts.append("|---|---|" + "---|" * (len(COLUMNS) + 1))
        for run in runs:
            table = run["scores"]["orders"].get(order)
            if table is None:
                continue
            cells = [_cell(table["columns"][c]) for c in COLUMNS]
            parts.append(f"| {run['model']} | {run['lang']} | " + " | ".join(cells) + f" | {len(table['unparsable'])} |")
        parts.append("")
    for run in runs:
        bias = run["scores"].get("position_bias")
        if bias and bias["n"]:
            parts.append(f"Position bias ({run['model']}, {run['lang']}): model-first minus reference-first "
                         f"{bias['relative_shift']:+.1f} points over {bias['n']} items; the model's score changed "
                         f"on {bias['items_changed']:.0%} of them.")
    return "\n".join(parts) + "\n"


def _cell(column: dict) -> str:
    return "—" if column["relative"] is None else f"{column['relative']:.1f} ({column['n']})"
