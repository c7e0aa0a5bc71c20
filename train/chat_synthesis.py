"""Doctor-patient dialogues grounded on MCQA items: the prompts' inputs, the model's JSON
read tolerantly, and every check a dialogue must pass before it becomes training data.

Each failed check is a named reason (the constants below), so a run's report can count
them; all reasons that apply are reported, not just the first. The conclusion's agreement
with the item's answer is left to a judge model (train/prompts/dialogue_check.v1.yaml):
only the checks here are free, so they run first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from evaluate.tasks.items import MCQItem
from train.model_output import first_json_object
from evaluate.tasks.templates import LETTERS, PUBMEDQA_CHOICES

PROMPTS_DIR = Path(__file__).parent / "prompts"
DRAFT_PROMPT, CHECK_PROMPT = "dialogue", "dialogue_check"

# Turn lengths in characters: a turn of one character says nothing ("?" or "."), and a
# turn over 1500 is a lecture, not a consultation (real doctor turns in the BiMediX
# dialogues are a few sentences); both mean the model misread the task.
MIN_TURN_CHARS = 2
MAX_TURN_CHARS = 1500

UNPARSABLE = "unparsable JSON"
WRONG_SHAPE = "wrong shape"
WRONG_ORDER = "wrong turn order"
TOO_FEW_EXCHANGES = "too few exchanges"
TOO_MANY_EXCHANGES = "too many exchanges"
TURN_TOO_SHORT = "turn too short"
TURN_TOO_LONG = "turn too long"
NO_FOLLOW_UP = "no follow-up question"
LETTER_LEAK = "option letter leak"
EXAM_MENTION = "mentions the exam"
DISAGREES = "conclusion disagrees with the answer"
JUDGE_UNPARSABLE = "judge answer unparsable"

ROLES = ("patient", "doctor")
SPEAKERS = {"patient": "human", "doctor": "gpt"}  # the training format's names

# An option letter as exam items write it: one capital standing alone, not followed by a
# digit, a hyphen or a letter, so "vitamin B12", "a B-cell lymphoma" and "Bx" never count.
# A-E only: no release has more than five options, and "I" is the pronoun ("the other
# option I see"). The keyword is case-free, the letter is not, so "the answer is a
# combination" does not count. Keyword and letter on one line ([ \t], not \s).
OPTION_LETTERS = LETTERS[:5]
_LETTER = rf"[{OPTION_LETTERS}](?![\w-])"
_LEAK_PATTERNS = tuple(re.compile(pattern, re.MULTILINE) for pattern in (
    rf"(?i:\b(?:answer|option|choice|alternative)s?)[ \t]*(?:(?i:is|was|would[ \t]+be|will[ \t]+be|=)[ \t]*)?"
    rf"[:\-]?[ \t]*\(?{_LETTER}\)?",
    rf"\({_LETTER}\)",  # "(A)": the way option lists mark their letters
    # "B) ..." or "C: ..." opening a line, and "C. Report ..." but not "E. coli" (a species)
    rf"^[ \t]*{_LETTER}[ \t]*(?:[):]|\.(?=[ \t]+[A-Z]))",
))
# Signs that the model let on the dialogue came from an exam item.
_EXAM_PATTERN = re.compile(r"\b(?:which of the following|multiple[- ]choice|answer choices?|"
                           r"(?:exam|board|test|quiz) questions?|vignette|USMLE)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Turn:
    role: str  # "patient" or "doctor"
    text: str


@dataclass(frozen=True)
class Answer:
    label: str  # the option letter, or yes / no / maybe for PubMedQA
    text: str


def parse_turns_range(spec: str) -> tuple[int, int]:
    """'3-6' -> (3, 6); '4' -> (4, 4). Raises ValueError on anything else."""
    found = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", spec or "")
    if not found:
        raise ValueError(f"--turns {spec!r}: expected a number of exchanges or a range LO-HI, e.g. 3-6")
    low = int(found[1])
    high = int(found[2]) if found[2] is not None else low
    if low < 1 or high < low:
        raise ValueError(f"--turns {spec!r}: the range must satisfy 1 <= LO <= HI")
    return low, high


def answer_of(item: MCQItem) -> Answer:
    if not item.options:  # PubMedQA: gold indexes yes / no / maybe
        word = PUBMEDQA_CHOICES["en"][item.gold]
        return Answer(word, word)
    return Answer(LETTERS[item.gold], item.options[item.gold])


def draft_values(item: MCQItem, bounds: tuple[int, int]) -> dict[str, str]:
    """The drafting prompt's fields. Options are listed without their letters, so the
    model has no letter to repeat."""
    if item.options:
        options = "\n".join(f"- {option}" for option in item.options)
    else:
        options = "- " + "\n- ".join(PUBMEDQA_CHOICES["en"])
    context = "\n\n".join(item.contexts) if item.contexts else "(none)"
    return {"question": item.question, "options": options, "answer": answer_of(item).text, "context": context,
            "min_exchanges": str(bounds[0]), "max_exchanges": str(bounds[1])}


def check_values(item: MCQItem, final_turn: str) -> dict[str, str]:
    return {"question": item.question, "answer": answer_of(item).text, "conclusion": final_turn}


def parse_dialogue(text: str | None) -> tuple[list[Turn] | None, list[str]]:
    """The turns of the model's JSON (in code fences or amid prose), or the reason why not."""
    data = first_json_object(text or "")
    if data is None:
        return None, [UNPARSABLE]
    turns = data.get("turns")
    if not isinstance(turns, list) or not turns:
        return None, [WRONG_SHAPE]
    parsed = []
    for turn in turns:
        if not isinstance(turn, dict) or not isinstance(turn.get("text"), str):
            return None, [WRONG_SHAPE]
        role = str(turn.get("role", "")).strip().lower()
        if role not in ROLES:
            return None, [WRONG_SHAPE]
        parsed.append(Turn(role, turn["text"].strip()))
    return parsed, []


def check_dialogue(turns: list[Turn], bounds: tuple[int, int]) -> list[str]:
    """Every reason (but the judge's) that the dialogue cannot be used; [] when it can."""
    reasons = []
    if not _alternates(turns):
        reasons.append(WRONG_ORDER)
    exchanges = exchange_count(turns)
    if exchanges < bounds[0]:
        reasons.append(TOO_FEW_EXCHANGES)
    elif exchanges > bounds[1]:
        reasons.append(TOO_MANY_EXCHANGES)
    if any(len(turn.text) < MIN_TURN_CHARS for turn in turns):
        reasons.append(TURN_TOO_SHORT)
    if any(len(turn.text) > MAX_TURN_CHARS for turn in turns):
        reasons.append(TURN_TOO_LONG)
    doctor_turns = [turn.text for turn in turns if turn.role == "doctor"]
    if not any("?" in text for text in doctor_turns[:-1]):
        reasons.append(NO_FOLLOW_UP)
    text = "\n".join(turn.text for turn in turns)
    if letter_leaks(text):
        reasons.append(LETTER_LEAK)
    if _EXAM_PATTERN.search(text):
        reasons.append(EXAM_MENTION)
    return reasons


def _alternates(turns: list[Turn]) -> bool:
    """Patient, doctor, patient, ... and the doctor has the last word."""
    return (bool(turns) and len(turns) % 2 == 0
            and all(turn.role == ROLES[index % 2] for index, turn in enumerate(turns)))


def exchange_count(turns: list[Turn]) -> int:
    """Patient-doctor pairs; the doctor's turns count them even when the order is wrong."""
    return sum(turn.role == "doctor" for turn in turns)


def letter_leaks(text: str) -> list[str]:
    """The option-letter references in the text ("the answer is B", "(C)", "D) ..."), as found."""
    return [found.group(0).strip() for pattern in _LEAK_PATTERNS for found in pattern.finditer(text)]


def parse_verdict(text: str | None) -> bool | None:
    """The judge's first line: yes -> True, no -> False, anything else None."""
    lines = [line for line in (text or "").splitlines() if line.strip()]
    if not lines:
        return None
    word = re.sub(r"[^a-z]", "", lines[0].lower())  # "**Yes.**" as much as "yes"
    return {"yes": True, "no": False}.get(word)


def conversation(turns: list[Turn]) -> list[dict]:
    """The turns in the training `conversations` format (patient human, doctor gpt)."""
    return [{"from": SPEAKERS[turn.role], "value": turn.text} for turn in turns]
