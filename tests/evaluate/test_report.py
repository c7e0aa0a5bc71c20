"""Accuracy from log-likelihoods, bilingual pooling, the papers' table, re-scoring."""

from __future__ import annotations

import json

import pytest

from evaluate.report import ItemResult, aggregate, load_results, markdown_report, markdown_table, write_results

YES_NO_MAYBE = ["yes", "no", "maybe"]


def result(task, lang, gold, logliks, choices=None, item_id="x"):
    return ItemResult(task, lang, item_id, gold, choices or ["A", "B", "C", "D"], logliks)


def test_acc_and_acc_norm_by_hand():
    # per character: yes -3.0/3 = -1.0, no -2.5/2 = -1.25, maybe -5.5/5 = -1.1
    item = result("pubmedqa", "en", 0, [-3.0, -2.5, -5.5], YES_NO_MAYBE)
    assert item.predictions() == {"acc": 1, "acc_norm": 0, "acc_bytes": 0}
    assert item.scores() == {"acc": 0.0, "acc_norm": 1.0, "acc_bytes": 1.0}
    assert not item.norm_is_acc()


def test_acc_bytes_differs_from_acc_norm_for_arabic():
    # نعم 3 chars / 6 bytes, لا 2 / 4, okay 4 / 4
    # per char: -2.0, -2.5, -1.125 -> okay;  per byte: -1.0, -1.25, -1.125 -> نعم
    item = result("pubmedqa", "ar", 0, [-6.0, -5.0, -4.5], ["نعم", "لا", "okay"])
    assert item.predictions() == {"acc": 2, "acc_norm": 2, "acc_bytes": 0}


def test_ties_go_to_the_first_choice_as_numpy_argmax():
    assert result("medqa", "en", 0, [-1.0, -1.0, -2.0, -3.0]).predictions()["acc"] == 0


def test_letter_choices_make_acc_norm_equal_to_acc():
    items = [result("medqa", "en", g, ll) for g, ll in [(0, [-1, -2, -3, -4]), (2, [-4, -1, -3, -2])]]
    assert all(i.norm_is_acc() for i in items)
    scores = aggregate(items)["en"]["medqa"]
    assert scores["acc"] == scores["acc_norm"] == 0.5 and scores["norm_is_acc"]


def test_bilingual_pools_items_and_average_is_the_mean_of_columns():
    results = [
        result("medqa", "en", 0, [-1, -2, -3, -4]), result("medqa", "en", 0, [-2, -1, -3, -4]),
        result("medqa", "ar", 0, [-1, -2, -3, -4]), result("medqa", "ar", 0, [-1, -2, -3, -4]),
        result("medqa", "ar", 1, [-1, -2, -3, -4]), result("medqa", "ar", 0, [-1, -2, -3, -4]),
        result("pubmedqa", "en", 0, [-1.0, -2.0, -3.0], YES_NO_MAYBE),
        result("pubmedqa", "ar", 0, [-1.0, -2.0, -3.0], ["نعم", "لا", "ربما"]),
    ]
    scores = aggregate(results)
    assert scores["en"]["medqa"]["acc"] == 0.5 and scores["ar"]["medqa"]["acc"] == 0.75
    assert scores["bi"]["medqa"]["acc"] == pytest.approx(4 / 6)  # pooled 4 of 6, not (0.5 + 0.75) / 2
    assert scores["bi"]["medqa"]["n"] == 6
    assert scores["bi"]["AVG"]["acc"] == pytest.approx((4 / 6 + 1.0) / 2)


def test_table_has_the_papers_columns_and_rows():
    results = [result("mmlu_anatomy", "en", 0, [-1, -2, -3, -4]), result("pubmedqa", "en", 1, [-3, -1, -2], YES_NO_MAYBE),
               result("mmlu_clinical_knowledge", "en", 3, [-1, -2, -3, -4])]
    table = markdown_table(aggregate(results), "tiny")
    lines = table.splitlines()
    assert lines[0] == "| Model | Lang | CKG | Ana | PubmedQA | AVG |"
    assert lines[2] == "| tiny | English | 0.0 | 100.0 | 100.0 | 66.7 |"
    report = markdown_report(aggregate(results), "tiny")
    assert "acc_norm equals acc necessarily for CKG, Ana" in report


def test_results_round_trip_and_rescore(tmp_path):
    results = [result("medqa", "en", 1, [-2.0, -1.0, -3.0, -4.0], item_id="q1"),
               result("pubmedqa", "en", 2, [-4.5, -2.5, -5.4], YES_NO_MAYBE, item_id="p1")]
    json_path, md_path = write_results(tmp_path, "run", {"model": "tiny"}, results)
    payload = json.loads(json_path.read_text(encoding="utf-8"))
    assert payload["items"][0]["logliks"] == [-2.0, -1.0, -3.0, -4.0] and payload["items"][0]["acc"] == 1.0
    assert payload["scores"]["en"]["pubmedqa"]["acc_norm"] == 1.0  # per char -1.5, -1.25, -1.08: maybe
    assert "| tiny | English |" in md_path.read_text(encoding="utf-8")
    meta, loaded = load_results(json_path)
    assert meta == {"model": "tiny"} and aggregate(loaded) == aggregate(results)
