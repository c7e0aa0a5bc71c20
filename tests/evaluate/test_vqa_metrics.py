"""VQA metrics as MultiMedEval defines them: hand-computed cases and the LLaVA-Med answers."""

from __future__ import annotations

import json
import math
from collections import Counter

import pytest

from evaluate.vqa_metrics import clean_str, score_answer, vqa_scores


def test_clean_str_follows_multimedeval():
    assert clean_str("Yes. The X-ray shows a 2.5 cm mass (left lobe)!") == "yes x ray shows 2.5 cm mass left lobe"
    assert clean_str("There are none, only two") == "there are 0 only 2"
    assert clean_str("It isnt") == "it isn't"


def test_open_answer_by_hand():
    # reference tokens {left, lower, lobe} ("the" dropped), prediction {left, lobe}
    score = score_answer("left lobe", "The left lower lobe")
    assert score.recall == pytest.approx(2 / 3) and score.precision == 1.0
    assert score.f1 == pytest.approx(0.8, abs=1e-7)
    assert score.bleu1 == pytest.approx(math.exp(1 - 3 / 2))  # precision 1, brevity penalty e^(1 - 3/2)
    assert not score.closed


def test_closed_answers_need_recall_of_0_4_and_no_counts_not():
    assert score_answer("No, there is none.", "no").closed_correct  # {no, not}: 1 of 2 >= 0.4
    assert score_answer("It is not present", "No").closed_correct  # "not" counts for "no"
    assert not score_answer("yes", "no").closed_correct
    assert score_answer("yes it is", "Yes").closed_correct


def test_corpus_figures_by_hand():
    predictions = ["yes", "no", "left lobe", "a large mass in the liver"]
    references = ["yes", "yes", "the left lower lobe", "mass in liver"]
    scores = vqa_scores(predictions, references)
    assert (scores["n_closed"], scores["n_open"]) == (2, 2)
    assert scores["closed_accuracy"] == 0.5
    assert scores["open_recall"] == pytest.approx((2 / 3 + 1) / 2)
    assert scores["open_accuracy"] == 0.5  # 2/3 < 0.75 <= 1
    assert scores["recall"] == pytest.approx((1 + 0 + 2 / 3 + 1) / 4)


def _bleu1_by_hand(prediction: str, reference: str) -> float:
    """Clipped unigram precision x brevity penalty (torchmetrics BLEUScore(n_gram=1))."""
    pred, ref = clean_str(prediction).split(), clean_str(reference).split()
    if not pred:
        return 0.0
    matches = sum((Counter(pred) & Counter(ref)).values())
    penalty = 1.0 if len(pred) > len(ref) else math.exp(1 - len(ref) / len(pred))
    return penalty * matches / len(pred)


def test_on_the_llava_med_answers(shared_data):
    lines = (shared_data / "bimed_mbench_llavamed_eval" / "llava_med_eval_qa50_qa.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    answers = [r["gpt4_answer"] for r in records]
    same = vqa_scores(answers, answers)
    assert same["n"] == 193 and same["recall"] == 1.0 and same["bleu1"] == pytest.approx(1.0)
    assert same["f1"] == pytest.approx(1.0, abs=1e-7) and same["n_open"] == 193 - same["n_closed"]
    captions = [r["fig_caption"] for r in records]
    for caption, answer in zip(captions, answers):
        assert score_answer(caption, answer).bleu1 == pytest.approx(_bleu1_by_hand(caption, answer), abs=1e-9)
    cross = vqa_scores(captions, answers)
    assert 0 < cross["recall"] < 1 and 0 < cross["f1"] < 1
