"""Exports (JSONL, CSV that Excel reads as UTF-8) and the ratings command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from arena import export_votes, join_study, read_csv_records, record_vote, start_battle
from evaluate import arena_ratings
from tests.arena.conftest import MODELS, transcript

ROOT = Path(__file__).resolve().parents[2]
ARABIC_Q = "ما هي أعراض فقر الدم؟"


def _fill(store, rater, votes: int = 12) -> None:
    """Votes where bimedix2-8b always wins whenever it plays; the rest tie."""
    for index in range(votes):
        battle = start_battle(store, rater, MODELS, rng=index)
        winner = ("model_a" if battle.model_a == "bimedix2-8b" else
                  "model_b" if battle.model_b == "bimedix2-8b" else "tie")
        question = ARABIC_Q if index % 2 else "What are the symptoms of anaemia?"
        record_vote(store, battle.id, rater, winner, transcript(question), transcript(question),
                    {"temperature": 0.7}, reason="=SUM(A1)" if index == 0 else "clearer")
    leak = start_battle(store, rater, MODELS, rng=99)
    record_vote(store, leak.id, rater, "model_a", transcript(reply="I am GPT-4."), transcript())


def test_jsonl_and_csv_hold_every_vote_with_arabic_intact(store, rater, tmp_path):
    _fill(store, rater)
    jsonl, csv_path = tmp_path / "out" / "votes.jsonl", tmp_path / "out" / "votes.csv"
    assert export_votes(store, jsonl=jsonl, csv_path=csv_path) == 13
    lines = jsonl.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 13 and ARABIC_Q in jsonl.read_text(encoding="utf-8")  # not \\u-escaped
    first = json.loads(lines[0])
    assert first["transcript_a"] == transcript("What are the symptoms of anaemia?")
    assert first["reason"] == "=SUM(A1)" and first["voted_at"].endswith("+00:00")
    assert sum(json.loads(line)["flagged_leak"] for line in lines) == 1

    raw = csv_path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM that makes Excel read UTF-8
    rows = read_csv_records(csv_path)
    assert [row["battle_id"] for row in rows] == [json.loads(line)["battle_id"] for line in lines]
    assert rows[1]["transcript_a"][0]["content"] == ARABIC_Q
    assert rows[0]["reason"] == "'=SUM(A1)"  # shown as text by spreadsheets, not run
    frame = pd.read_csv(csv_path, encoding="utf-8-sig")
    assert len(frame) == 13 and frame["conversation_language"].tolist()[:2] == ["en", "ar"]
    assert not list(tmp_path.joinpath("out").glob("*.part"))  # no temporary files left


def test_export_can_select_a_study_and_leave_out_flagged_votes(store, rater, tmp_path):
    _fill(store, rater, votes=3)
    from arena import ensure_study

    ensure_study(store, "other")
    elsewhere = join_study(store, "other", "Dr Omar")
    battle = start_battle(store, elsewhere, MODELS)
    record_vote(store, battle.id, elsewhere, "tie", transcript(), transcript())
    assert export_votes(store, jsonl=tmp_path / "a.jsonl") == 5
    assert export_votes(store, jsonl=tmp_path / "p.jsonl", study=" pilot ", include_flagged=False) == 3
    assert export_votes(store, jsonl=tmp_path / "o.jsonl", study="other") == 1


def test_cli_prints_the_table_and_writes_json_and_csv(store, rater, database, tmp_path):
    _fill(store, rater)
    out = tmp_path / "ratings"
    result = CliRunner().invoke(_typer_app(), [
        "--db", database, "--out", str(out), "--rounds", "20", "--study", "pilot",
        "--export-jsonl", str(tmp_path / "v.jsonl"), "--export-csv", str(tmp_path / "v.csv")])
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "All conversations: 12 battles (1 flagged" in text and "Arabic: 6 battles" in text
    assert "English: 6 battles" in text and "Mixed Arabic/English: 0 battles" in text
    table_lines = text.split("\n\n")[0].splitlines()
    assert table_lines[1].split()[:5] == ["rank", "model", "rating", "ci_low", "ci_high"]
    assert table_lines[2].split()[1] == "bimedix2-8b"  # it won every battle it played
    assert "unbounded" in text  # ... so its rating has no finite estimate: said so

    saved = json.loads((out / "leaderboard.json").read_text(encoding="utf-8"))
    assert set(saved) == {"all", "ar", "en", "mixed"} and saved["all"]["battles"] == 12
    assert saved["all"]["rows"][0]["model"] == "bimedix2-8b" and saved["all"]["bootstrap_rounds"] == 20
    board = pd.read_csv(out / "leaderboard.csv", encoding="utf-8-sig")
    assert set(board["language"]) == {"all", "ar", "en"} and "win_rate" in board
    assert pd.read_csv(out / "win_rates.csv", encoding="utf-8-sig", index_col=0).shape == (3, 3)
    assert len((tmp_path / "v.jsonl").read_text(encoding="utf-8").splitlines()) == 13

    flagged = CliRunner().invoke(_typer_app(), ["--db", database, "--out",
                                                str(out), "--rounds", "5", "--include-flagged"])
    assert "All conversations: 13 battles (0 flagged" in flagged.stdout


def test_cli_reports_missing_databases_and_studies(tmp_path, store, database):
    missing = CliRunner().invoke(_typer_app(), ["--db", str(tmp_path / "nope.db")])
    assert missing.exit_code != 0 and "no arena database" in missing.output
    assert not (tmp_path / "nope.db").exists()
    unknown = CliRunner().invoke(_typer_app(), ["--db", database, "--study", "x",
                                                "--out", str(tmp_path / "o")])
    assert unknown.exit_code == 1 and "no study named" in unknown.output


def test_cli_runs_as_a_module(store, rater, database, tmp_path):
    _fill(store, rater, votes=2)
    done = subprocess.run([sys.executable, "-m", "evaluate.arena_ratings", "--db",
                           database if "://" in database else f"sqlite:///{database}", "--out", str(tmp_path / "o"),
                           "--rounds", "5"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "rank" in done.stdout and (tmp_path / "o" / "leaderboard.csv").exists()


def _typer_app():
    import typer

    app = typer.Typer()
    app.command()(arena_ratings.main)
    return app
