"""Reply-language policy: which language ("ar" or "en") the assistant should answer in.

The rule for "auto" is the language of the newest user message. Script decides first,
because langdetect's character n-grams are unreliable on the short, mixed Arabic/English
messages patients actually type ("CBC نتائج", "عندي headache"); langdetect only breaks
near-ties and confirms Latin-only text. Arabizi ("3ndi sda3") is written in Latin letters
and is out of scope: it is answered in English.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal, Sequence

from langdetect import DetectorFactory, detect_langs
from langdetect.lang_detect_exception import LangDetectException

ReplyLanguagePolicy = Literal["auto", "ar", "en"]
POLICIES: tuple[str, ...] = ("auto", "ar", "en")
LANGUAGES: tuple[str, ...] = ("ar", "en")

# langdetect samples n-grams randomly; a fixed seed makes the same text give the same
# answer every time. Set once at import so every call shares it.
DetectorFactory.seed = 0

# Arabic share of scored words at or beyond which the script count alone decides; between
# the two it is a near-tie (e.g. one word each) and langdetect breaks it.
CLEAR_ARABIC = 0.6
CLEAR_OTHER = 0.4

# langdetect's profiles for other Arabic-script languages often claim short Arabic,
# especially dialect ("ايش فيني" -> fa). The app cannot answer in those, so they vote Arabic.
ARABIC_SCRIPT_CODES = frozenset({"ar", "fa", "ur", "ps"})

# Latin-script tokens written the same way inside Arabic clinical text. They weigh 0, not
# a small weight: an Arabic message quoting several (e.g. "HbA1c 7% و LDL 130 mg/dl طبيعي؟")
# would otherwise drift toward English although every real word in it is Arabic.
UNITS = frozenset(
    {
        "mg", "mcg", "µg", "ug", "g", "kg", "ml", "l", "dl", "cc", "mmol", "meq", "iu",
        "ng", "pg", "mmhg", "bpm", "cm", "mm", "kcal", "bid", "tid", "qid", "prn",
    }
)

# Word tokens: letters/digits plus Arabic combining marks (tashkeel, superscript alef),
# which \w does not match, so "مَرْحَبًا" stays one word instead of splitting at each mark.
_TOKEN = re.compile(r"[\w\u0610-\u061A\u064B-\u065F\u0670\u06D6-\u06ED]+")


@dataclass(frozen=True)
class LanguageGuess:
    """The chosen language, the Arabic share of scored words, and which rule decided."""

    language: str
    arabic_share: float
    method: str


def _is_arabic_letter(ch: str) -> bool:
    # Arabic-Indic digits are named "ARABIC-INDIC DIGIT ..." but are not letters: neutral.
    return ch.isalpha() and unicodedata.name(ch, "").startswith("ARABIC")


def _is_neutral(token: str) -> bool:
    """Acronyms, doses, units and numbers say nothing about the writer's language."""
    if any(ch.isdigit() for ch in token):  # "500mg", "HbA1c", "B12", "٣", "2024"
        return True
    if token.lower() in UNITS:
        return True
    # "CBC", "MRI", "ECG". Known cost: an all-caps English message ("WHAT IS THIS") also
    # reads as neutral, so it keeps the previous language; rare next to quoted acronyms.
    return len(token) >= 2 and token.isupper()


def _count_words(text: str) -> tuple[list[str], list[str]]:
    """Split tokens into Arabic-script words and other (Latin) words; neutral ones drop out.

    A token with any Arabic letter is Arabic: Arabic prefixes glued to a Latin term
    ("بالMRI", "والCBC") are still Arabic writing.
    """
    tokens = _TOKEN.findall(text)
    arabic = [t for t in tokens if any(map(_is_arabic_letter, t))]
    other = [
        t
        for t in tokens
        if not any(map(_is_arabic_letter, t)) and any(map(str.isalpha, t)) and not _is_neutral(t)
    ]
    return arabic, other


def _langdetect_arabic(text: str) -> bool | None:
    """True/False when langdetect prefers Arabic / something else; None when it cannot tell."""
    try:
        guesses = detect_langs(text)
    except LangDetectException:  # raised when the text has no usable features
        return None
    arabic = sum(g.prob for g in guesses if g.lang in ARABIC_SCRIPT_CODES)
    rest = sum(g.prob for g in guesses if g.lang not in ARABIC_SCRIPT_CODES)
    if arabic == rest:
        return None
    return arabic > rest


def _fallback(previous: str | None, share: float) -> LanguageGuess:
    """No usable evidence in this message: keep the conversation's language, else English."""
    if previous is not None:
        return LanguageGuess(previous, share, "previous")
    return LanguageGuess("en", share, "default")


def _check_previous(previous: str | None) -> None:
    if previous is not None and previous not in LANGUAGES:
        raise ValueError(f"unknown previous language {previous!r}; expected one of {LANGUAGES}")


def detect_language(text: str, previous: str | None = None) -> LanguageGuess:
    """Guess the language of one user message (see the module docstring for the rules)."""
    _check_previous(previous)
    arabic, other = _count_words(text)
    scored = len(arabic) + len(other)
    if scored == 0:
        # No letters ("123", "?", emoji) or only neutral tokens ("CBC?", "500mg"): the
        # message carries no language of its own, so the conversation's language stands.
        return _fallback(previous, 0.0)
    share = len(arabic) / scored
    if share >= CLEAR_ARABIC:
        return LanguageGuess("ar", share, "script")
    if arabic and share <= CLEAR_OTHER:
        return LanguageGuess("en", share, "script")
    # Near-tie or Latin-only. Only scored words go to langdetect: the neutral tokens were
    # removed on purpose and would pull its n-gram profile toward European languages.
    verdict = _langdetect_arabic(" ".join(arabic + other))
    if verdict is None:
        # Latin-only text is English whatever langdetect fails on; a tie stays undecided.
        return _fallback(previous, share) if arabic else LanguageGuess("en", share, "script")
    # The app replies only in Arabic or English, so any non-Arabic verdict means English.
    return LanguageGuess("ar" if verdict else "en", share, "langdetect")


def resolve_reply_language(
    text: str, policy: str = "auto", previous: str | None = None
) -> LanguageGuess:
    """Apply the policy: a forced language wins, "auto" follows the newest user message."""
    if policy not in POLICIES:
        raise ValueError(f"unknown reply-language policy {policy!r}; expected one of {POLICIES}")
    if policy == "auto":
        return detect_language(text, previous)
    _check_previous(previous)
    arabic, other = _count_words(text)
    scored = len(arabic) + len(other)
    return LanguageGuess(policy, len(arabic) / scored if scored else 0.0, "forced")


def reply_language(text: str, policy: str = "auto", previous: str | None = None) -> str:
    """The language code ("ar" or "en") the assistant should reply in."""
    return resolve_reply_language(text, policy, previous).language


def conversation_language(user_texts: Sequence[str], policy: str = "auto") -> str:
    """The reply language for a conversation, from its user messages (oldest first).

    What a person has to say is in the newest message; a message with no language of its
    own ("CBC?", "500mg", "؟") keeps the language of the latest one that had one, as if
    each turn had been decided in order. Only as far back as needed is looked at.
    """
    if not user_texts:
        raise ValueError("a conversation needs a user message")
    *earlier, newest = user_texts
    if policy != "auto":
        return reply_language(newest, policy)
    # With no previous language, "default" is exactly "this message has none of its own".
    for guess in map(detect_language, [newest, *reversed(earlier)]):
        if guess.method != "default":
            return guess.language
    return "en"
