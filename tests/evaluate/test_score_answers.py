"""evaluate.score_answers: hand-computed VQA and report figures, the paper's tables, the CLI."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from evaluate.answers import AnswerRecord, answers_path, append_answers
from evaluate.score_answers import markdown_report, score_answer_files
from evaluate.text_metrics import METEOR_UNAVAILABLE, meteor_available
from evaluate.vqa_metrics import score_answer, vqa_scores

ROOT = Path(__file__).resolve().parents[2]
EPS = 1e-8  # MultiMedEval's epsilon in F1


def answer(task, item_id, reply, reference, model="m", answer_type=None, lang="en"):
    meta = {"answer_type": answer_type} if answer_type else {}
    return AnswerRecord(task, lang, item_id, model, None, ["question"], [reply], reference, None, False, meta, {})


VQA_RAD = [
    answer("vqa-rad", "1", "no", "Yes", answer_type="closed"),  # replaced by the later answer to item 1
    answer("vqa-rad", "1", "yes", "Yes", answer_type="closed"),  # closed, right
    answer("vqa-rad", "2", "Yes, it is.", "No", answer_type="closed"),  # closed, wrong: {yes, it, is} vs {no, not}
    answer("vqa-rad", "3", "the left side", "Left", answer_type="closed"),  # closed by the dataset, right
    answer("vqa-rad", "4", "left lobe", "left lower lobe", answer_type="open"),  # recall 2/3
    answer("vqa-rad", "5", "a large mass in the liver", "mass in liver", answer_type="open"),  # recall 1
    answer("vqa-rad", "6", "something", None, answer_type="open"),  # no reference: counted, not scored
]
SLAKE = [answer("slake", "1", "No.", "No", answer_type="closed"),
         answer("slake", "2", "spleen", "Liver", answer_type="open")]
REPORTS = [
    answer("report-generation", "s1", "No acute cardiopulmonary process.", "No acute cardiopulmonary process."),
    answer("report-generation", "s2", "Heart size is normal.", "The heart size is normal."),
    answer("report-generation", "s1", "", "Normal chest.", model="n"),  # an empty answer scores 0
    answer("report-generation", "s2", "Clear lungs.", None, model="n"),
]
JUDGED = [answer("bimed-mbench", "q1", "an answer", "a GPT-4 answer")]


def write_answers(folder: Path, records) -> None:
    for record in records:
        append_answers(answers_path(folder, record.task, record.lang, record.model), [record])


@pytest.fixture
def answers_dir(tmp_path) -> Path:
    folder = tmp_path / "answers"
    write_answers(folder, VQA_RAD + SLAKE + REPORTS + JUDGED)
    return folder


def test_dataset_answer_type_decides_closed_or_open():
    # "Left" is no yes/no answer: MultiMedEval's rule calls it open, the dataset closed
    assert not score_answer("left", "Left").closed
    assert score_answer("left", "Left", closed=True).closed_correct
    assert not score_answer("right", "Left", closed=True).closed_correct
    assert not score_answer("yes", "yes", closed=False).closed  # an open question answered yes
    with pytest.raises(ValueError, match="1 answer types for 2 references"):
        vqa_scores(["a", "b"], ["a", "b"], [True])


def test_vqa_figures_by_hand(answers_dir):
    result = score_answer_files([answers_dir])["scores"]["vqa-rad"]["en"]["m"]
    assert result["counts"] == {"answers": 6, "scored": 5, "no_reference": 1, "empty_answers": 0, "repeated": 1,
                                "answer_type_from_dataset": 5}
    metrics = result["metrics"]
    assert (metrics["n"], metrics["n_closed"], metrics["n_open"]) == (5, 3, 2)
    assert metrics["closed_accuracy"] == pytest.approx(2 / 3)  # items 1 and 3 of 1, 2, 3
    assert metrics["open_recall"] == pytest.approx((2 / 3 + 1) / 2)
    assert metrics["open_accuracy"] == pytest.approx(1 / 2)  # recall >= 0.75: item 5 only
    assert metrics["recall"] == pytest.approx((1 + 0 + 1 + 2 / 3 + 1) / 5)
    f1 = [2 / (2 + EPS), 0, 1 / (1.5 + EPS), (4 / 3) / (5 / 3 + EPS), 1.5 / (1.75 + EPS)]
    assert metrics["f1"] == pytest.approx(sum(f1) / 5, abs=1e-9)
    # BLEU-1 on cleaned strings: "left side" vs "left" 1/2; "left lobe" vs 3 words: brevity e^(1-3/2);
    # "large mass in liver" vs "mass in liver": 3/4
    assert metrics["bleu1"] == pytest.approx((1 + 0 + 0.5 + math.exp(-0.5) + 0.75) / 5)
    yes_no = result["yes_no_rule"]  # MultiMedEval's own split: item 3 ("Left") is open there
    assert (yes_no["n_closed"], yes_no["n_open"]) == (2, 3)
    assert yes_no["closed_accuracy"] == pytest.approx(1 / 2) and yes_no["open_accuracy"] == pytest.approx(2 / 3)


def test_report_figures_by_hand(answers_dir):
    scores = score_answer_files([answers_dir])["scores"]["report-generation"]["en"]
    m = scores["m"]["metrics"]
    # pair 2: 4 of 4 words and every n-gram match, brevity penalty e^(1-5/4); ROUGE-L LCS 4: P 1, R 4/5
    assert m["bleu1"] == pytest.approx((1 + math.exp(-0.25)) / 2)
    assert m["bleu4"] == pytest.approx((1 + math.exp(-0.25)) / 2)
    assert m["rougeL"] == pytest.approx((1 + 8 / 9) / 2)
    assert m["meteor"] == METEOR_UNAVAILABLE if not meteor_available() else 0 < m["meteor"] <= 1
    n = scores["n"]
    assert n["counts"]["scored"] == 1 and n["counts"]["no_reference"] == 1 and n["counts"]["empty_answers"] == 1
    assert n["metrics"]["bleu1"] == 0 and n["metrics"]["rougeL"] == 0


def test_tables_have_the_papers_rows_and_numbers(answers_dir):
    assert score_answer_files([answers_dir])["not_scored"] == {}  # a folder: only these tasks' files
    payload = score_answer_files([answers_dir, answers_path(answers_dir, "bimed-mbench", "en", "m")])
    assert payload["not_scored"] == {"bimed-mbench": 1}
    markdown = markdown_report(payload)
    lines = markdown.splitlines()
    assert "| Metric | VQA-RAD | SLAKE |" in lines  # one model: a column per dataset
    assert "| Closed Q Accuracy | 66.67 | 100.00 |" in lines
    assert "| Open Q Recall | 83.33 | 0.00 |" in lines
    assert "| Recall | 73.33 | 50.00 |" in lines
    assert "| Open Q Accuracy | 50.00 | 0.00 |" in lines
    assert "| BLEU-1 | 57.13 | 50.00 |" in lines
    assert "| F1 | 66.48 | 50.00 |" in lines
    labels = [line.split(" | ")[0].lstrip("| ") for line in lines if line.startswith("| ") and "VQA" not in line]
    assert labels[:6] == ["BLEU-1", "Closed Q Accuracy", "Open Q Recall", "Recall", "Open Q Accuracy", "F1"]
    assert "| Model | BLEU-1 | BLEU-4 | ROUGE-L | METEOR |" in lines
    m_meteor = payload["scores"]["report-generation"]["en"]["m"]["metrics"]["meteor"]
    meteor = "n/a" if not meteor_available() else f"{100 * m_meteor:.2f}"
    assert f"| m | 88.94 | 88.94 | 94.44 | {meteor} |" in lines
    assert any(line.startswith("| n | 0.00 | 0.00 | 0.00 |") for line in lines)
    assert "## Medical VQA, English, m (MultiMedEval metrics, %)" in lines
    assert "VQA-RAD m: 5 scored (3 closed, 2 open), 1 without reference, 0 empty answers, 1 answered twice" in markdown
    assert "bimed-mbench (1 answers)" in markdown


def test_several_models_share_a_dataset_column_group(tmp_path):
    write_answers(tmp_path, [answer("pathvqa", "1", "yes", "yes", model="a"),
                             answer("pathvqa", "1", "no", "yes", model="b"),
                             answer("slake", "1", "yes", "yes", model="a", answer_type="closed")])
    lines = markdown_report(score_answer_files([tmp_path])).splitlines()
    assert "| Metric | SLAKE (a) | PathVQA (a) | PathVQA (b) |" in lines
    assert "| Closed Q Accuracy | 100.00 | 100.00 | 0.00 |" in lines


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "evaluate.score_answers", *map(str, args)], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)


def test_cli_writes_scores_json_and_markdown(answers_dir, tmp_path):
    vqa_file = answers_path(answers_dir, "vqa-rad", "en", "m")
    result = run_cli("--answers", vqa_file, "--answers", answers_dir / "report-generation-en-m.jsonl",
                     "--out", tmp_path / "scores")
    assert result.returncode == 0, result.stderr
    payload = json.loads((tmp_path / "scores" / "scores.json").read_text(encoding="utf-8"))
    assert set(payload["scores"]) == {"vqa-rad", "report-generation"}
    assert payload["scores"]["vqa-rad"]["en"]["m"]["metrics"]["closed_accuracy"] == pytest.approx(2 / 3)
    markdown = (tmp_path / "scores" / "scores.md").read_text(encoding="utf-8")
    assert "| Closed Q Accuracy | 66.67 |" in markdown and "| Model | BLEU-1 | BLEU-4 | ROUGE-L | METEOR |" in markdown
    assert "| Closed Q Accuracy | 66.67 |" in result.stdout and "wrote" in result.stderr


def test_cli_errors(answers_dir, tmp_path):
    missing = run_cli("--answers", tmp_path / "absent.jsonl", "--out", tmp_path / "out")
    assert missing.returncode == 2 and "absent.jsonl: no such answer file" in missing.stderr
    judged_only = run_cli("--answers", answers_path(answers_dir, "bimed-mbench", "en", "m"), "--out", tmp_path / "out")
    assert judged_only.returncode == 2 and "no answers of vqa-rad" in judged_only.stderr
    assert not (tmp_path / "out").exists()
