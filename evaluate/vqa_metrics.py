"""Medical VQA metrics as MultiMedEval defines them (the toolkit BiMediX2 reports VQA with).

Source: github.com/corentin-ryr/MultiMedEval, `multimedeval/task_families.py` class `VQA`
(`evaluate`) and `multimedeval/utils.py` (`clean_str`). Per question, on cleaned strings:
- tokens: the *set* of whitespace tokens of clean_str(text);
- recall = |pred ∩ ref| / |ref|, precision = |pred ∩ ref| / |pred|,
  F1 = 2 P R / (P + R + 1e-8) (MultiMedEval's epsilon);
- BLEU-1: torchmetrics BLEUScore(n_gram=1) on the cleaned strings = clipped unigram
  precision x brevity penalty, unsmoothed (computed here with sacrebleu, same definition);
- closed question: the cleaned reference is "yes" or "no"; it counts as correct when the
  recall against the reference tokens, with "not" added to {"no"}, is at least 0.4;
- open questions: mean recall ("openQuestionsRecall") and the share with recall >= 0.75.
Corpus figures are plain means over questions.

The closed/open split may instead come from the dataset (VQA-RAD's and SLAKE's own
`answer_type`): pass `closed` per question. A closed question is then scored by the same
rule whatever its answer ("left", "CT"), and a yes/no answer to an open question counts as
open. Without `closed`, MultiMedEval's yes/no rule decides. MultiMedEval's cleaning is English
(articles, number words, contractions); Arabic text passes through with only punctuation
and case handling.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from statistics import mean
from typing import Sequence

from sacrebleu.metrics import BLEU

# --- clean_str, reproduced from MultiMedEval utils.py (quirks included, see below) ---
_PUNCT = [";", r"/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`", ",", "?", "!"]
_PERIOD_STRIP = re.compile(r"(?!<=\d)(\.)(?!\d)")  # upstream's pattern: drops periods not before a digit
_COMMA_STRIP = re.compile(r"(\d)(\,)(\d)")
_MANUAL_MAP = {"none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
               "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10"}
_ARTICLES = ("a", "an", "the")
_CONTRACTIONS = {
    "aint": "ain't", "arent": "aren't", "cant": "can't", "couldve": "could've", "couldnt": "couldn't",
    "couldn'tve": "couldn't've", "couldnt've": "couldn't've", "didnt": "didn't", "doesnt": "doesn't",
    "dont": "don't", "hadnt": "hadn't", "hadnt've": "hadn't've", "hadn'tve": "hadn't've", "hasnt": "hasn't",
    "havent": "haven't", "hed": "he'd", "hed've": "he'd've", "he'dve": "he'd've", "hes": "he's",
    "howd": "how'd", "howll": "how'll", "hows": "how's", "Id've": "I'd've", "I'dve": "I'd've", "Im": "I'm",
    "Ive": "I've", "isnt": "isn't", "itd": "it'd", "itd've": "it'd've", "it'dve": "it'd've", "itll": "it'll",
    "let's": "let's", "maam": "ma'am", "mightnt": "mightn't", "mightnt've": "mightn't've",
    "mightn'tve": "mightn't've", "mightve": "might've", "mustnt": "mustn't", "mustve": "must've",
    "neednt": "needn't", "notve": "not've", "oclock": "o'clock", "oughtnt": "oughtn't", "ow's'at": "'ow's'at",
    "'ows'at": "'ow's'at", "'ow'sat": "'ow's'at", "shant": "shan't", "shed've": "she'd've",
    "she'dve": "she'd've", "she's": "she's", "shouldve": "should've", "shouldnt": "shouldn't",
    "shouldnt've": "shouldn't've", "shouldn'tve": "shouldn't've", "somebody'd": "somebodyd",
    "somebodyd've": "somebody'd've", "somebody'dve": "somebody'd've", "somebodyll": "somebody'll",
    "somebodys": "somebody's", "someoned": "someone'd", "someoned've": "someone'd've",
    "someone'dve": "someone'd've", "someonell": "someone'll", "someones": "someone's",
    "somethingd": "something'd", "somethingd've": "something'd've", "something'dve": "something'd've",
    "somethingll": "something'll", "thats": "that's", "thered": "there'd", "thered've": "there'd've",
    "there'dve": "there'd've", "therere": "there're", "theres": "there's", "theyd": "they'd",
    "theyd've": "they'd've", "they'dve": "they'd've", "theyll": "they'll", "theyre": "they're",
    "theyve": "they've", "twas": "'twas", "wasnt": "wasn't", "wed've": "we'd've", "we'dve": "we'd've",
    "weve": "we've", "werent": "weren't", "whatll": "what'll", "whatre": "what're", "whats": "what's",
    "whatve": "what've", "whens": "when's", "whered": "where'd", "wheres": "where's", "whereve": "where've",
    "whod": "who'd", "whod've": "who'd've", "who'dve": "who'd've", "wholl": "who'll", "whos": "who's",
    "whove": "who've", "whyll": "why'll", "whyre": "why're", "whys": "why's", "wont": "won't",
    "wouldve": "would've", "wouldnt": "wouldn't", "wouldnt've": "wouldn't've", "wouldn'tve": "wouldn't've",
    "yall": "y'all", "yall'll": "y'all'll", "y'allll": "y'all'll", "yall'd've": "y'all'd've",
    "y'alld've": "y'all'd've", "y'all'dve": "y'all'd've", "youd": "you'd", "youd've": "you'd've",
    "you'dve": "you'd've", "youll": "you'll", "youre": "you're", "youve": "you've",
}
CLOSED_ANSWERS = ("yes", "no")
_BLEU1 = BLEU(max_ngram_order=1, tokenize="none", smooth_method="none", effective_order=False)


def clean_str(text: str) -> str:
    """MultiMedEval's answer normalisation: lower case, punctuation, articles, number words."""
    text = text.lower()
    cleaned = text
    for mark in _PUNCT:
        if (mark + " " in text or " " + mark in text) or _COMMA_STRIP.search(text) is not None:
            cleaned = cleaned.replace(mark, "")
        else:
            cleaned = cleaned.replace(mark, " ")
    # Upstream passes re.UNICODE as sub()'s third argument, i.e. count=32: at most 32
    # periods are removed. Kept so that scores match MultiMedEval's exactly.
    text = _PERIOD_STRIP.sub("", cleaned, re.UNICODE)
    words = [_MANUAL_MAP.get(word, word) for word in text.lower().split()]
    words = [_CONTRACTIONS.get(word, word) for word in words if word not in _ARTICLES]
    return " ".join(words).replace(",", "")


@dataclass(frozen=True)
class VQAItemScore:
    recall: float
    precision: float
    f1: float
    bleu1: float
    closed: bool
    closed_correct: bool


def score_answer(prediction: str, reference: str, closed: bool | None = None) -> VQAItemScore:
    """One question's scores; `closed`: the dataset's answer type (None: reference is yes/no)."""
    clean_pred, clean_ref = clean_str(prediction), clean_str(reference)
    predicted, correct = set(clean_pred.split()), set(clean_ref.split())
    overlap = len(predicted & correct)
    precision = overlap / len(predicted) if predicted else 0.0
    recall = overlap / len(correct) if correct else 0.0
    f1 = 2 * precision * recall / (precision + recall + 1e-8)
    bleu1 = _BLEU1.corpus_score([clean_pred], [[clean_ref]]).score / 100  # one pair: its sentence BLEU
    if closed is None:
        closed = clean_ref in CLOSED_ANSWERS
    closed_correct = False
    if closed:
        targets = correct | {"not"} if correct == {"no"} else correct
        closed_correct = bool(targets) and len(predicted & targets) / len(targets) >= 0.4
    return VQAItemScore(recall, precision, f1, bleu1, closed, closed_correct)


def vqa_scores(predictions: list[str], references: list[str],
               closed: Sequence[bool | None] | None = None) -> dict:
    """MultiMedEval's VQA metrics over a set of questions (0-1 scale).

    `closed`: per question, the dataset's answer type (True closed, False open, None:
    MultiMedEval's rule, the reference is yes/no); omitted: the rule for every question.
    """
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    closed = [None] * len(references) if closed is None else list(closed)
    if len(closed) != len(references):
        raise ValueError(f"{len(closed)} answer types for {len(references)} references")
    items = [score_answer(p, r, c) for p, r, c in zip(predictions, references, closed)]
    closed = [s for s in items if s.closed]
    open_ = [s for s in items if not s.closed]
    return {
        "bleu1": mean(s.bleu1 for s in items) if items else 0.0,
        "f1": mean(s.f1 for s in items) if items else 0.0,
        "recall": mean(s.recall for s in items) if items else 0.0,
        "closed_accuracy": sum(s.closed_correct for s in closed) / len(closed) if closed else 0.0,
        "open_recall": mean(s.recall for s in open_) if open_ else 0.0,
        "open_accuracy": sum(s.recall >= 0.75 for s in open_) / len(open_) if open_ else 0.0,
        "n": len(items), "n_closed": len(closed), "n_open": len(open_),
    }
