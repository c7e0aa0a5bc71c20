"""Metrics for open answers, English and Arabic: BLEU-1/4, ROUGE-L, METEOR.

- Tokens: lower case, Arabic diacritics (harakat) and tatweel removed, then runs of
  letters and digits of any script. rouge-score's default tokenizer keeps only [a-z0-9]
  and would turn an Arabic answer into nothing (every Arabic pair would score 0); on
  English text the tokens here are exactly rouge-score's (a test checks it).
- BLEU-1 / BLEU-4: sacrebleu sentence BLEU on those tokens, unsmoothed, averaged over
  pairs, as MultiMedEval scores reports (torchmetrics BLEUScore per pair); plus sacrebleu's
  corpus BLEU-4.
- ROUGE-L: rouge-score F-measure with the tokenizer above, averaged over pairs.
- METEOR: NLTK's meteor_score, which needs the WordNet corpus for its synonym stage. The
  corpus is a separate download (`python -m nltk.downloader wordnet`); without it METEOR
  is reported as unavailable rather than computed without synonyms. WordNet is English:
  for Arabic only the exact-match stage can fire.
"""

from __future__ import annotations

import re
from statistics import mean

from rouge_score import rouge_scorer
from sacrebleu.metrics import BLEU

# Arabic diacritics and Quranic annotation marks, and tatweel (U+0640): they vary with the
# writer, not the meaning, and \w does not match combining marks (they would split words).
ARABIC_MARKS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
NON_WORD = re.compile(r"[\W_]+")
METEOR_UNAVAILABLE = "unavailable: needs the NLTK wordnet corpus (python -m nltk.downloader wordnet)"

_BLEU = {order: BLEU(max_ngram_order=order, tokenize="none", smooth_method="none", effective_order=False)
         for order in (1, 4)}


class UnicodeTokenizer:
    """rouge-score's tokenizer interface (`tokenize(text) -> list[str]`) for any script."""

    def tokenize(self, text: str) -> list[str]:
        return [token for token in NON_WORD.split(ARABIC_MARKS.sub("", text.lower())) if token]


_TOKENIZER = UnicodeTokenizer()
_ROUGE = rouge_scorer.RougeScorer(["rougeL"], tokenizer=_TOKENIZER)


def tokens(text: str) -> list[str]:
    return _TOKENIZER.tokenize(text)


def sentence_bleu(prediction: str, reference: str, order: int = 4) -> float:
    """Unsmoothed BLEU-`order` of one pair, 0-1."""
    # corpus_score of one pair is its sentence BLEU (sentence_score would warn about
    # effective_order on every call; MultiMedEval's per-pair BLEU does not use it either)
    return _BLEU[order].corpus_score([" ".join(tokens(prediction))], [[" ".join(tokens(reference))]]).score / 100


def rouge_l(prediction: str, reference: str) -> float:
    return _ROUGE.score(reference, prediction)["rougeL"].fmeasure


def meteor(prediction: str, reference: str, wordnet=None) -> float:
    """NLTK METEOR of one pair; raises LookupError when WordNet is not installed."""
    from nltk.translate.meteor_score import meteor_score

    options = {"wordnet": wordnet} if wordnet is not None else {}
    return meteor_score([tokens(reference)], tokens(prediction), **options)


def meteor_available() -> bool:
    from nltk.corpus import wordnet

    try:
        wordnet.ensure_loaded()
    except LookupError:
        return False
    return True


def text_scores(predictions: list[str], references: list[str], wordnet=None) -> dict:
    """Mean BLEU-1, BLEU-4, ROUGE-L and METEOR (0-1) of paired open answers, plus corpus BLEU-4.

    `wordnet` replaces NLTK's WordNet reader (tests); METEOR is the string
    METEOR_UNAVAILABLE when no WordNet can be read.
    """
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    if not predictions:
        raise ValueError("no answers to score")
    pairs = list(zip(predictions, references))
    corpus = _BLEU[4].corpus_score([" ".join(tokens(p)) for p in predictions],
                                   [[" ".join(tokens(r)) for r in references]])
    scores = {
        "bleu1": mean(sentence_bleu(p, r, 1) for p, r in pairs),
        "bleu4": mean(sentence_bleu(p, r, 4) for p, r in pairs),
        "bleu4_corpus": corpus.score / 100,
        "rougeL": mean(rouge_l(p, r) for p, r in pairs),
        "n": len(pairs),
    }
    if wordnet is None and not meteor_available():
        scores["meteor"] = METEOR_UNAVAILABLE
    else:
        scores["meteor"] = mean(meteor(p, r, wordnet) for p, r in pairs)
    return scores
