"""`python -m evaluate.mcqa` as a person runs it, on a tiny model, in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(*args):
    return subprocess.run([sys.executable, "-m", "evaluate.mcqa", *map(str, args)], capture_output=True,
                          text=True, cwd=ROOT, timeout=300)


def test_bilingual_run_writes_json_and_markdown_then_rescores(tiny_dirs, shared_data, fixtures, tmp_path):
    model = tiny_dirs("llama")
    result = run("--model", model, "--tasks", "pubmedqa,medmcqa", "--lang", "bi", "--limit", "3",
                 "--data-dir", shared_data, "--ar-dir", fixtures / "ar", "--out", tmp_path, "--batch-size", "4")
    assert result.returncode == 0, result.stderr
    assert "log-likelihoods" in result.stderr  # the progress bar
    payload = json.loads((tmp_path / f"mcqa-{model.name}-bi.json").read_text(encoding="utf-8"))
    items = payload["items"]
    assert len(items) == 12 and {(i["task"], i["lang"]) for i in items} == {
        ("pubmedqa", "en"), ("pubmedqa", "ar"), ("medmcqa", "en"), ("medmcqa", "ar")}
    arabic = next(i for i in items if i["task"] == "pubmedqa" and i["lang"] == "ar")
    assert arabic["choices"] == ["نعم", "لا", "ربما"] and arabic["context"].startswith("الملخص: ")
    assert all(len(i["logliks"]) == len(i["choices"]) and max(i["logliks"]) < 0 for i in items)
    for scored in items:  # acc and acc_norm again by hand from the stored log-likelihoods
        lls, choices = scored["logliks"], scored["choices"]
        best = max(range(len(lls)), key=lambda k: (lls[k], -k))
        best_norm = max(range(len(lls)), key=lambda k: (lls[k] / len(choices[k]), -k))
        assert (scored["acc"], scored["acc_norm"]) == (float(best == scored["gold"]), float(best_norm == scored["gold"]))
    scores = payload["scores"]
    assert set(scores) == {"en", "ar", "bi"} and scores["bi"]["medmcqa"]["n"] == 6
    pooled = sum(i["acc"] for i in items if i["task"] == "medmcqa") / 6
    assert scores["bi"]["medmcqa"]["acc"] == pooled
    assert payload["meta"]["model"] == model.name and payload["meta"]["lang"] == "bi"
    markdown = (tmp_path / f"mcqa-{model.name}-bi.md").read_text(encoding="utf-8")
    assert "| Model | Lang | MedMCQA | PubmedQA | AVG |" in markdown
    assert all(f"| {model.name} | {row} |" in markdown for row in ("English", "Arabic", "Bilingual"))
    assert "| Model | Lang |" in result.stdout

    rescored = run("--rescore", tmp_path / f"mcqa-{model.name}-bi.json", "--out", tmp_path)
    assert rescored.returncode == 0, rescored.stderr
    again = json.loads((tmp_path / f"mcqa-{model.name}-bi-rescored.json").read_text(encoding="utf-8"))
    assert again["scores"] == scores and again["meta"]["rescored_from"].endswith("-bi.json")


def test_missing_arabic_files_are_named_without_a_traceback(tmp_path):
    result = run("--model", "preview", "--tasks", "pubmedqa,medqa", "--lang", "ar", "--data-dir", tmp_path)
    assert result.returncode == 2
    assert str(tmp_path / "ar" / "pubmedqa.jsonl") in result.stderr
    assert str(tmp_path / "ar" / "medqa.jsonl") in result.stderr  # every missing task, not only the first
    assert "Traceback" not in result.stderr


def test_bad_options_are_reported():
    assert "--lang" in run("--model", "preview", "--lang", "fr").stderr
    assert "unknown task 'medqa5'" in run("--model", "preview", "--tasks", "medqa5").stderr
