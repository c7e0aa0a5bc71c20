"""BLEU, ROUGE-L and METEOR on English and Arabic answers."""

from __future__ import annotations

import math

import pytest
from rouge_score import rouge_scorer
from rouge_score import tokenize as rouge_tokenize

from evaluate.text_metrics import (METEOR_UNAVAILABLE, meteor, meteor_available, rouge_l, sentence_bleu,
                                   text_scores, tokens)


def test_known_english_values():
    prediction, reference = "the cat sat on the mat", "the cat is on the mat"
    assert sentence_bleu(prediction, reference, 1) == pytest.approx(5 / 6)  # 5 of 6 unigrams, same length
    assert sentence_bleu(prediction, reference, 4) == 0.0  # no shared 4-gram, unsmoothed
    assert rouge_l(prediction, reference) == pytest.approx(5 / 6)  # LCS "the cat on the mat"
    assert sentence_bleu("left lobe", "the left lower lobe", 1) == pytest.approx(math.exp(1 - 4 / 2))  # brevity
    scores = text_scores([prediction, reference], [reference, reference])
    assert scores["bleu1"] == pytest.approx((5 / 6 + 1) / 2) and scores["rougeL"] == pytest.approx((5 / 6 + 1) / 2)
    assert scores["n"] == 2


def test_arabic_is_tokenized_and_diacritics_do_not_count():
    prediction, reference = "الطِّبُّ الوقائيّ مهمٌّ", "الطب الوقائي مهم"
    assert tokens(prediction) == ["الطب", "الوقائي", "مهم"]
    assert rouge_l(prediction, reference) == 1.0 and sentence_bleu(prediction, reference, 1) == pytest.approx(1.0)
    default = rouge_scorer.RougeScorer(["rougeL"]).score(reference, prediction)["rougeL"].fmeasure
    assert default == 0.0  # why the default tokenizer cannot be used: it drops Arabic letters


def test_tokens_equal_rouge_scores_own_on_english(shared_data):
    import json

    lines = (shared_data / "bimed_mbench_llavamed_eval" / "llava_med_eval_qa50_qa.jsonl").read_text().splitlines()
    answers = [json.loads(line)["gpt4_answer"] for line in lines]
    ascii_answers = [a for a in answers if a.isascii()]
    assert len(ascii_answers) > 150
    for answer in ascii_answers:
        assert tokens(answer) == rouge_tokenize.tokenize(answer, None)


def test_real_arabic_answers_score_against_themselves_and_each_other(shared_data):
    answers = (shared_data / "mentalqa_arabic" / "Subtask3_output_test.tsv").read_text(encoding="utf-8").splitlines()[:20]
    same = text_scores(answers, answers, wordnet=_NoSynonyms())
    assert same["rougeL"] == 1.0 and same["bleu1"] == pytest.approx(1.0) and same["bleu4_corpus"] == pytest.approx(1.0)
    shifted = text_scores(answers[1:], answers[:-1])
    assert 0 < shifted["rougeL"] < 0.5 and 0 < shifted["bleu1"] < 1


class _NoSynonyms:
    """A WordNet stand-in with no synonyms: METEOR's exact and stem stages only."""

    def synsets(self, word, *args, **kwargs):
        return []


def test_meteor_with_a_wordnet_reader():
    six = "the patient has a high fever"
    # exact match of 6 tokens in 1 chunk: 1 - 0.5 * (1/6)^3
    assert meteor(six, six, _NoSynonyms()) == pytest.approx(1 - 0.5 / 216)
    assert meteor("fevers", "fever", _NoSynonyms()) > 0  # the stemmer matches them


def test_meteor_is_reported_unavailable_without_wordnet():
    if meteor_available():
        pytest.skip("the NLTK WordNet corpus is installed here")
    assert text_scores(["a b"], ["a b"])["meteor"] == METEOR_UNAVAILABLE
    assert "python -m nltk.downloader wordnet" in METEOR_UNAVAILABLE


def test_mismatched_inputs_are_refused():
    with pytest.raises(ValueError, match="2 predictions for 1 references"):
        text_scores(["a", "b"], ["a"])
