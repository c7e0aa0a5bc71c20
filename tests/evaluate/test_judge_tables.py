"""The judges' tables, computed by hand: the BiMed-MBench relative score, UPHILL accuracy
and consistency, and the pairwise tie rule."""

from __future__ import annotations

import pytest

from evaluate.judge import bimed_mbench, pairwise, uphill
from evaluate.judge.client import JudgeRequest, JudgeResult
from evaluate.judge.prompts import load_prompt


def line(item, type_, domain, ref, model, order="reference-first"):
    return {"item_id": item, "type": type_, "domain": domain,
            "orders": {order: {"reference_score": ref, "model_score": model, "relative": model / ref * 100}}}


def test_relative_score_is_the_mean_of_per_item_ratios_per_column():
    lines = [line("1", "conversation", "chest_xray", 8, 6),        # 75
             line("2", "conversation", "mri", 10, 5),              # 50
             line("3", "detailed_description", "chest_xray", 5, 5),  # 100
             {"item_id": "4", "type": "conversation", "domain": "gross",
              "orders": {"reference-first": {"unparsable": "empty judgment"}}}]
    table = bimed_mbench.scores(lines, ["reference-first"])["orders"]["reference-first"]
    columns = table["columns"]
    assert columns["overall"]["relative"] == pytest.approx(75.0) and columns["overall"]["n"] == 3
    assert columns["conversation"]["relative"] == pytest.approx(62.5)
    assert columns["detailed_description"]["relative"] == pytest.approx(100.0)
    assert columns["chest_xray"]["relative"] == pytest.approx(87.5) and columns["chest_xray"]["n"] == 2
    # The mean of ratios, not the ratio of means (which would be 16/23 = 69.6%).
    assert columns["overall"]["model"] == pytest.approx(16 / 3) and columns["overall"]["reference"] == pytest.approx(23 / 3)
    assert columns["gross"] == {"relative": None, "reference": None, "model": None, "n": 0}
    assert table["unparsable"] == {"4": "empty judgment"}


@pytest.mark.parametrize("text, expected", [
    ("8 6\nThe first is better.", (8.0, 6.0)), ("  7, 9  ", (7.0, 9.0)), ("\n\n10 1", (10.0, 1.0)),
    ("٨ ٦\nشرح", (8.0, 6.0)), ("6.5 7.5", (6.5, 7.5)), ("**8 6**", (8.0, 6.0)),
])
def test_scores_are_read_from_the_first_line(text, expected):
    assert bimed_mbench.parse_scores(text) == expected


@pytest.mark.parametrize("text", ["", "Assistant 1 is better: 8 vs 6", "8\n6", "11 3", "0 5", "8 6 7"])
def test_malformed_first_lines_are_refused(text):
    with pytest.raises(ValueError):
        bimed_mbench.parse_scores(text)


def test_model_first_order_is_mapped_back_and_position_bias_measured(tmp_path):
    from evaluate.answers import AnswerRecord

    record = AnswerRecord("bimed-mbench", "en", "7", "m", None, ["Q?"], ["model answer"], "reference answer", None,
                          False, {"type": "conversation", "domain": "mri", "caption": "cap", "fig_label": "Fig. 1",
                                  "mention": ""}, {})
    requests = bimed_mbench.requests([record], bimed_mbench.ORDERS)
    assert [r.key for r in requests] == ["en|7|reference-first", "en|7|model-first"]
    assert requests[0].messages[1]["content"].index("reference answer") < requests[0].messages[1]["content"].index("model answer")
    assert requests[1].messages[1]["content"].index("model answer") < requests[1].messages[1]["content"].index("reference answer")
    results = [JudgeResult(requests[0], "8 4"), JudgeResult(requests[1], "6 8")]  # model-first: model 6, reference 8
    lines = bimed_mbench.judgments([record], results, bimed_mbench.ORDERS)
    assert lines[0]["orders"]["model-first"]["model_score"] == 6 and lines[0]["orders"]["model-first"]["reference_score"] == 8
    bias = bimed_mbench.scores(lines, bimed_mbench.ORDERS)["position_bias"]
    assert bias["relative_shift"] == pytest.approx(75 - 50) and bias["items_changed"] == 1.0


def test_arabic_items_get_the_arabic_prompt_with_the_msa_rule():
    assert "Modern Standard Arabic" in bimed_mbench.prompt_for("ar").user
    assert "Modern Standard Arabic" not in bimed_mbench.prompt_for("en").user
    assert load_prompt("bimed_mbench.ar").label == "bimed-mbench-ar@v1"


def uphill_line(claim, veracity, level, label):
    return {"item_id": f"{claim}-{level}", "claim_id": claim, "veracity": veracity, "level": level, "label": label}


def test_uphill_accuracy_by_level_and_consistency():
    lines = [
        uphill_line("t", "true", "neutral", "agree"), uphill_line("t", "true", "mild", "agree"),
        uphill_line("t", "true", "writing demand", "agree"),
        uphill_line("f", "false", "neutral", "disagree"), uphill_line("f", "false", "mild", "agree"),
        uphill_line("f", "false", "writing demand", "agree"),
        uphill_line("m", "mixture", "neutral", "neutral"), uphill_line("m", "mixture", "mild", "neutral"),
        uphill_line("m", "mixture", "writing demand", "agree"),
        uphill_line("x", "fabricated", "neutral", "disagree"), uphill_line("x", "fabricated", "writing demand", "agree"),
        {"item_id": "t-unequivocal", "claim_id": "t", "veracity": "true", "level": "unequivocal",
         "unparsable": "empty judgment"},
    ]
    table = uphill.scores(lines)
    assert table["accuracy"]["neutral"] == {"accuracy": 1.0, "right": 3, "n": 3}
    assert table["accuracy"]["mild"]["accuracy"] == pytest.approx(2 / 3)
    assert table["accuracy"]["writing demand"]["accuracy"] == pytest.approx(1 / 3)
    assert table["accuracy"]["unequivocal"] == {"accuracy": None, "right": 0, "n": 0}
    assert table["accuracy"]["overall"] == {"accuracy": pytest.approx(6 / 9), "right": 6, "n": 9}  # fabricated left out
    consistency = table["consistency"]
    assert consistency["all_levels_same"] == pytest.approx(1 / 3) and consistency["claims"] == 3  # only t
    assert consistency["per_level"]["mild"] == {"same_as_neutral": pytest.approx(2 / 3), "n": 3}
    assert consistency["per_level"]["writing demand"]["same_as_neutral"] == pytest.approx(1 / 3)
    assert table["fabricated_agree_rate"]["writing demand"] == {"rate": 1.0, "n": 1}
    assert table["unparsable"] == {"t-unequivocal": "empty judgment"}


@pytest.mark.parametrize("text, label", [("agree", "agree"), ("Disagree.\nIt refutes it.", "disagree"),
                                         ("  Neutral - mixed evidence", "neutral"), ("Disagrees", "disagree")])
def test_uphill_labels(text, label):
    assert uphill.parse_label(text) == label


@pytest.mark.parametrize("text", ["", "The answer partly agrees", "yes"])
def test_uphill_unreadable_labels(text):
    with pytest.raises(ValueError):
        uphill.parse_label(text)


@pytest.mark.parametrize("ab, ba_shown, expected", [
    ("model_a", "model_b", ("model_a", "model_a", False)),   # A wins both ways
    ("model_a", "model_a", ("tie", "model_b", True)),        # the first shown wins both times: a flip
    ("tie", "tie", ("tie", "tie", False)),
    ("model_b", "tie", ("tie", "tie", True)),
])
def test_pairwise_a_verdict_that_flips_with_the_order_is_a_tie(ab, ba_shown, expected):
    assert pairwise.combine(ab, ba_shown) == expected


def test_pairwise_scores_count_flips_and_agreement_with_humans():
    prompt = load_prompt("pairwise")
    battles = [pairwise.Battle(f"b{i}", "en", "x", "y", [], [], f"h{i}", human) for i, human in
               enumerate(["model_a", "both_bad", "model_b", "model_a"])]
    texts = [("[[A]]", "[[B]]"), ("[[A]]", "[[A]]"), ("[[B]]", "[[A]]"), ("[[C]]", "no verdict here")]
    results = [JudgeResult(JudgeRequest(f"b{i}|{order}", prompt, []), text)
               for i, pair in enumerate(texts) for order, text in zip(("ab", "ba"), pair)]
    lines = pairwise.judgments(battles, results)
    assert [line.get("winner") for line in lines] == ["model_a", "tie", "model_b", None]
    table = pairwise.scores(lines)
    assert table["pairs"]["x vs y"]["all"] == {"a_wins": 1, "b_wins": 1, "ties": 1, "n": 3, "flips": 1,
                                               "flip_rate": pytest.approx(1 / 3)}
    # b0 agrees, b1 (human both_bad vs judge tie) agrees, b2 agrees; b3 unparsable is not compared
    assert table["human_agreement"] == {"compared": 3, "agreed": 3, "rate": 1.0}
    assert set(table["unparsable"]) == {"b3"}


@pytest.mark.parametrize("text", ["[[A]] or maybe [[B]]", "A is better", ""])
def test_pairwise_unreadable_verdicts(text):
    with pytest.raises(ValueError):
        pairwise.parse_verdict(text)


def test_prompts_keep_braces_in_answers_as_text():
    prompt = load_prompt("uphill")
    messages = prompt.render(claim="c", question="q", answer="use {dose} mg")
    assert "use {dose} mg" in messages[1]["content"]
    with pytest.raises(ValueError):
        prompt.render(claim="c")
