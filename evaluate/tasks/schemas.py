"""Records of the benchmarks' real file formats -> MCQItem.

One function per layout, picked by the record's keys, so the same task reads the original
release, the hub copy and the BiMediX Arabic files alike:
- MedMCQA / BiMediX Arabic benchmark: question, opa, opb, opc, opd, cop
  (cop 0-3 as on the hub, 1-4 as in the original dev.json, or a letter)
- MedQA release / MedAgentsBench: question, options {A: ..}, answer_idx
- GBaker/MedQA-USMLE-4-options-hf: sent1, ending0..3, label
- MMLU: cais/mmlu question, choices [..], answer; the CSV mirror question, choice0..3,
  answer (0-3); the original headerless CSV (question, A, B, C, D, letter)
- PubMedQA (PQA-L release, bigbio source schema): QUESTION, CONTEXTS, final_decision
"""

from __future__ import annotations

from typing import Any, Iterable

from .items import MCQItem
from .templates import LETTERS, PUBMEDQA_CHOICES

ID_KEYS = ("id", "realidx", "pmid", "PMID", "qid", "no")


class SchemaError(ValueError):
    """A record that no known layout describes."""


def mcq_item(record: dict, task: str, lang: str, index: int, cop_offset: int = 0) -> MCQItem:
    """An MCQ record in any supported layout as an item."""
    question, options, answer = _mcq_fields(record, cop_offset)
    gold = _answer_index(answer, len(options))
    return MCQItem(task, lang, _item_id(record, index), str(question), tuple(str(o) for o in options), gold)


def _mcq_fields(record: dict, cop_offset: int) -> tuple[str, list, Any]:
    if "opa" in record:
        options = [record[key] for key in ("opa", "opb", "opc", "opd", "ope") if record.get(key) not in (None, "")]
        cop = record["cop"]
        return record["question"], options, cop - cop_offset if isinstance(cop, int) else cop
    if "options" in record:
        return (record["question"], *_options_and_answer(record))
    if "sent1" in record:
        return record["sent1"], [record[f"ending{i}"] for i in range(4)], record["label"]
    if "choices" in record:
        return record["question"], list(record["choices"]), record["answer"]
    if "choice0" in record:
        return record["question"], [record[f"choice{i}"] for i in range(4)], record["answer"]
    raise SchemaError(f"unknown multiple-choice layout (keys: {', '.join(sorted(record))}); expected "
                      "question+opa..opd+cop, question+options+answer_idx, sent1+ending0..3+label or "
                      "question+choices+answer")


def _options_and_answer(record: dict) -> tuple[list, Any]:
    """Options as a letter-keyed dict (MedQA, USMLE) or a list; the answer as given."""
    options = record["options"]
    answer = record.get("answer_idx", record.get("answer"))
    if not isinstance(options, dict):
        return list(options), answer
    keys = sorted(options)
    if isinstance(answer, str) and answer.strip().upper() in keys:
        answer = keys.index(answer.strip().upper())
    return [options[key] for key in keys], answer


def _answer_index(answer: Any, count: int) -> int:
    """0-based index from an int, a digit string or an option letter."""
    if isinstance(answer, str):
        text = answer.strip()
        if text.isdigit():
            return int(text)
        if len(text) == 1 and text.upper() in LETTERS[:count]:
            return LETTERS.index(text.upper())
        raise SchemaError(f"answer {answer!r} is neither an index nor one of the letters {LETTERS[:count]}")
    if isinstance(answer, bool) or not isinstance(answer, int):
        raise SchemaError(f"answer {answer!r} is neither an index nor a letter")
    return answer


def cop_offset(records: Iterable[dict]) -> int:
    """1 when a file's integer `cop` values are 1-4 (the original MedMCQA release), else 0.

    The hub copy uses 0-3. A file tells which by containing a 0 or a 4; a file with
    neither is read as 0-3, the layout of the hub and of lm-evaluation-harness.
    """
    values = {r["cop"] for r in records if isinstance(r.get("cop"), int)}
    return 1 if values and 0 not in values and 4 in values else 0


def pubmedqa_item(record: dict, lang: str, index: int, label: str | None = None) -> MCQItem:
    """A PubMedQA record (QUESTION, CONTEXTS, final_decision; any key case) as an item."""
    fields = {key.lower(): value for key, value in record.items()}
    contexts = fields.get("contexts", fields.get("context", []))
    contexts = [contexts] if isinstance(contexts, str) else list(contexts)
    decision = (label or fields.get("final_decision") or "").strip().lower()
    gold = _pubmedqa_label(decision)
    return MCQItem("pubmedqa", lang, _item_id(record, index), fields["question"], (), gold, tuple(contexts))


def _pubmedqa_label(decision: str) -> int:
    for choices in PUBMEDQA_CHOICES.values():
        if decision in choices:
            return choices.index(decision)
    raise SchemaError(f"PubMedQA label {decision!r} is not yes/no/maybe (or نعم/لا/ربما)")


def _item_id(record: dict, index: int) -> str:
    for key in ID_KEYS:
        if record.get(key) not in (None, ""):
            return str(record[key])
    return str(index)
