"""Red flags: a message that describes an emergency gets a notice to seek emergency care.

A small model cannot be trusted to say "call an ambulance" (the preview model answered
chest pain with breathlessness with home advice), so the app does what a symptom checker
does: curated patterns, in Arabic and English, decide whether the person's message
describes an emergency, and the notice is shown above the reply whatever the model says.
It is not triage: it looks at one message's words, and misses what its patterns miss.

The patterns are data (`red_flags.yaml` beside this file): named `terms` (regular
expressions, OR'd), and per category `rules`, each a list of term names that must all
match; a name written `!name` must not match (history: "5 years ago"; a general question:
"what is anaphylaxis"). Both the message and the Arabic in the patterns are normalised
first (`normalize`), so one spelling of a word covers its hamza, taa marbuta and alef
maqsura variants. `python -m evaluate.red_flags` measures recall and false alarms on a
held-out set of phrasings.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

DATA = Path(__file__).with_name("red_flags.yaml")

# Short vowels, shadda, sukun, Quranic marks and tatweel carry no meaning a pattern needs.
_ARABIC_MARKS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
_ARABIC_LETTERS = str.maketrans({
    "أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا",  # alef with hamza or madda: bare alef
    "ؤ": "و", "ئ": "ي",  # hamza on waw / yaa: their seat, as people often type them
    "ة": "ه", "ى": "ي",  # taa marbuta and alef maqsura: as written without dots
    **{chr(0x0660 + d): str(d) for d in range(10)},  # Arabic-Indic digits
    **{chr(0x06F0 + d): str(d) for d in range(10)},  # Eastern (Persian) digits
})
_APOSTROPHES = re.compile("['’`´]")  # "can't" and "cant" are one word to a pattern
_NOT_WORD = re.compile(r"[^\w%]+")


@dataclass(frozen=True)
class RedFlag:
    """The notice for one message: both languages, since the emergency matters more than
    the interface language."""

    category: str
    text_en: str
    text_ar: str


def fold_arabic(text: str) -> str:
    """Arabic spelling variants folded to one form (the patterns are folded the same way)."""
    return _ARABIC_MARKS.sub("", text).translate(_ARABIC_LETTERS)


def normalize(text: str) -> str:
    """The message as the patterns read it: NFKC, lower case, Arabic folded, apostrophes
    dropped, punctuation as single spaces."""
    text = fold_arabic(unicodedata.normalize("NFKC", text).lower())
    return " " + " ".join(_NOT_WORD.sub(" ", _APOSTROPHES.sub("", text)).split()) + " "


@dataclass(frozen=True)
class _Category:
    name: str
    line_en: str
    line_ar: str
    rules: tuple[tuple[tuple[str, bool], ...], ...]  # (term name, must match) per rule


@dataclass(frozen=True)
class _Patterns:
    notice_en: str
    notice_ar: str
    terms: dict[str, re.Pattern]
    categories: tuple[_Category, ...]


def _parse_rule(rule: list[str], terms: dict) -> tuple[tuple[str, bool], ...]:
    parsed = tuple((name.lstrip("!"), not name.startswith("!")) for name in rule)
    unknown = [name for name, _ in parsed if name not in terms]
    if unknown:
        raise ValueError(f"red_flags.yaml: a rule names unknown terms {unknown}")
    return parsed


@lru_cache(maxsize=4)
def load_patterns(path: Path = DATA) -> _Patterns:
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    terms = {name: re.compile("|".join(f"(?:{fold_arabic(p)})" for p in patterns))
             for name, patterns in data["terms"].items()}
    categories = tuple(
        _Category(c["name"], c["en"].strip(), c["ar"].strip(),
                  tuple(_parse_rule(rule, terms) for rule in c["rules"]))
        for c in data["categories"])
    return _Patterns(data["notice"]["en"].strip(), data["notice"]["ar"].strip(), terms, categories)


def matching_category(text: str, patterns: _Patterns | None = None) -> str | None:
    """The first category (in the data's order, the most specific first) one of whose
    rules the message meets; None: no emergency recognised."""
    patterns = patterns or load_patterns()
    normalized = normalize(text)
    seen: dict[str, bool] = {}  # each term searched at most once per message

    def found(term: str) -> bool:
        if term not in seen:
            seen[term] = patterns.terms[term].search(normalized) is not None
        return seen[term]

    for category in patterns.categories:
        if any(all(found(term) == wanted for term, wanted in rule) for rule in category.rules):
            return category.name
    return None


# Cached as ui/bidi.render_message is: the chat re-renders every turn on each streamed chunk.
@lru_cache(maxsize=4096)
def emergency_notice(text: str) -> RedFlag | None:
    """The bilingual emergency notice for a message that describes an emergency, else None."""
    if not text or not text.strip():
        return None
    patterns = load_patterns()
    name = matching_category(text, patterns)
    if name is None:
        return None
    category = next(c for c in patterns.categories if c.name == name)
    return RedFlag(name, f"{patterns.notice_en} {category.line_en}".strip(),
                   f"{patterns.notice_ar} {category.line_ar}".strip())
