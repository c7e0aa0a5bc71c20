"""The translation pipeline end to end over real HTTP: `engine serve` on a tiny model for
the plumbing and resuming, and a MedQA slice of ../shared/data translated, exported and
scored by `python -m evaluate.mcqa --lang ar`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evaluate.tasks.files import items_from_file
from tests.train.test_translate_pipeline import SCORE, TRANSLATE, score
from train.translate.__main__ import app
from train.translate.store import TranslationStore

ROOT = Path(__file__).resolve().parents[2]
MEDQA = ROOT / ".." / "shared" / "data" / "medqa_usmle_4opt" / "phrases_no_exclude_test_first300.jsonl"


@pytest.fixture
def medqa() -> Path:
    if not MEDQA.is_file():
        pytest.skip("../shared/data (the real benchmark slices) is absent")
    return MEDQA.resolve()


def translate(*arguments: str):
    return CliRunner().invoke(app, [*arguments, "--quiet"])


def test_a_tiny_model_behind_engine_serve_runs_the_pipeline_and_resumes(tiny_server, medqa, tmp_path):
    url, name = tiny_server
    out = tmp_path / "out"
    spec = f"openai:{name}@{url}"
    arguments = ["--source", str(medqa), "--kind", "mcqa", "--out", str(out), "--translator", spec,
                 "--scorer", spec, "--max-rounds", "2", "--max-tokens", "8", "--concurrency", "2"]
    first = translate(*arguments, "--limit", "2")
    assert first.exit_code == 0, first.output
    report = json.loads((out / "translation-report.json").read_text(encoding="utf-8"))
    # A random tiny model writes no JSON: every round is refused, both samples go to review.
    assert report["finished"] == 2 and report["sent_to_review"] == 1.0 and report["rounds"] == 4
    assert report["rounds_refused_by_check"] == {"structure": 4}
    assert report["usage"]["translator"]["calls"] == 4 and report["usage"]["scorer"]["calls"] == 0
    assert report["export"]["exported"] == 0 and report["export"]["left_out"] == {"awaiting review": 2}
    store = TranslationStore(f"sqlite:///{out / 'translation.db'}")
    rounds = store.rounds("medqa:0")
    assert [r.number for r in rounds] == [1, 2] and all(r.translator_model == name for r in rounds)
    assert rounds[1].translator_prompt == "refine@v1" and rounds[0].arabic is None and rounds[0].raw_text
    assert rounds[0].problems == ["structure: the answer is not the sample's JSON object"]

    more = translate(*arguments, "--limit", "3")  # one more item: only it is asked
    assert more.exit_code == 0, more.output
    again = json.loads((out / "translation-report.json").read_text(encoding="utf-8"))
    assert again["new_samples"] == 1 and again["translated_now"] == 1
    assert again["usage"]["translator"]["calls"] == 2 and again["finished"] == 3


def test_a_medqa_slice_translated_exported_and_scored_in_arabic(scripted, medqa, tiny_dirs, tmp_path):
    endpoint, _ = scripted({"rules": [
        {"contains": SCORE, "reply": score(91)},
        {"contains": TRANSLATE, "echo_json": {"after": TRANSLATE, "prefix": "بالعربية: "}}]})
    out = tmp_path / "out"
    result = translate("--source", str(medqa), "--kind", "mcqa", "--out", str(out), "--translator", endpoint,
                       "--scorer", endpoint, "--limit", "6", "--review-sample", "0")
    assert result.exit_code == 0, result.output
    exported = [json.loads(x) for x in (out / "ar" / "medqa.jsonl").read_text(encoding="utf-8").splitlines()]
    english = items_from_file(medqa, "medqa", "en")[:6]
    arabic = items_from_file(out / "ar" / "medqa.jsonl", "medqa", "ar")
    assert [a.gold for a in arabic] == [e.gold for e in english]  # the answer key and letters are kept
    assert [a.options for a in arabic] == [tuple(f"بالعربية: {o}" for o in e.options) for e in english]
    assert exported[0]["answer"] == exported[0]["options"][exported[0]["answer_idx"]]

    scored = subprocess.run(
        [sys.executable, "-m", "evaluate.mcqa", "--model", str(tiny_dirs("llama")), "--tasks", "medqa", "--lang",
         "ar", "--data-dir", str(out), "--out", str(out / "results"), "--batch-size", "8"],
        capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert scored.returncode == 0, scored.stderr
    payload = json.loads(next((out / "results").glob("mcqa-*-ar.json")).read_text(encoding="utf-8"))
    assert payload["scores"]["ar"]["medqa"]["n"] == 6
    assert all(item["lang"] == "ar" and item["task"] == "medqa" for item in payload["items"])
