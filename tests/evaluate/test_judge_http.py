"""`python -m evaluate.judge` over real HTTP: a scripted judge server (recorded judgments,
malformed ones, 429/500/400) for exact scores, and `engine serve` on a tiny model for the
client, its cache and resuming."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evaluate.answers import AnswerRecord, append_answers
from evaluate.judge.__main__ import app
from evaluate.open_tasks import load_open_task
from evaluate.servers import free_port

JUDGE = "scripted-judge-1"  # the model id the `scripted` fixture serves by default




def answer_file(path: Path, items, answers: list[str], model: str = "model-x") -> Path:
    records = [AnswerRecord(i.task, i.lang, i.item_id, model, None, list(i.turns), [a], i.reference, i.image, False,
                            dict(i.meta), {"max_new_tokens": 8}) for i, a in zip(items, answers)]
    append_answers(path, records)
    return path


def judge(*arguments: str):
    return CliRunner().invoke(app, [*arguments, "--quiet"])


def read(out: Path) -> tuple[dict, list[dict]]:
    scores = json.loads((out / "scores.json").read_text(encoding="utf-8"))
    lines = [json.loads(line) for line in (out / "judgments.jsonl").read_text(encoding="utf-8").splitlines()]
    return scores, lines


@pytest.fixture
def mbench_answers(fixtures, tmp_path):
    items = load_open_task("bimed-mbench", "en", fixtures / "bimed_mbench")
    return answer_file(tmp_path / "answers.jsonl", items, ["lung", "a chest film", "blue dye", "T2 MRI"])


def test_bimed_mbench_scores_from_recorded_judgments_and_a_free_rerun(scripted, mbench_answers, tmp_path):
    spec, stats = scripted({"rules": [
        {"contains": "What organ is shown?", "reply": "8 6\nThe second is shorter."},
        {"contains": "Describe the image in detail.", "reply": "5 5"},
        {"contains": "What stain was used?", "reply": "Assistant 2 is better overall."},  # malformed
        {"contains": "Which sequence is this?", "status": 429, "times": 2},
        {"contains": "Which sequence is this?", "reply": "10 5"}]})
    out = tmp_path / "judged"
    result = judge("--answers", str(mbench_answers), "--judge", spec, "--protocol", "bimed-mbench", "--out", str(out))
    assert result.exit_code == 0, result.output
    scores, lines = read(out)
    table = scores["runs"][0]["scores"]["orders"]["reference-first"]
    assert table["columns"]["overall"]["relative"] == pytest.approx((75 + 100 + 50) / 3)
    assert table["columns"]["conversation"]["n"] == 2 and table["columns"]["chest_xray"]["n"] == 2
    assert table["unparsable"] == {"2": "first line is not two scores: 'Assistant 2 is better overall.'"}
    assert [line["item_id"] for line in lines] == ["0", "1", "2", "3"]
    assert lines[2]["orders"]["reference-first"]["text"] == "Assistant 2 is better overall."
    usage = scores["usage"]
    assert (usage["calls"], usage["retries"], usage["cache_hits"], usage["failures"]) == (4, 2, 0, 0)
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (400, 40)  # the server's usage
    assert scores["judge"]["model"] == JUDGE and scores["prompts"] == ["bimed-mbench-en@v1"]
    assert stats()["requests"] == 6
    assert "| model-x | en | 62.5 (2) | 100.0 (1) |" in (out / "scores.md").read_text(encoding="utf-8")

    rerun = judge("--answers", str(mbench_answers), "--judge", spec, "--protocol", "bimed-mbench", "--out", str(out))
    assert rerun.exit_code == 0, rerun.output
    again, _ = read(out)
    assert (again["usage"]["calls"], again["usage"]["cache_hits"], again["usage"]["cache_hit_rate"]) == (0, 4, 1.0)
    assert stats()["requests"] == 6  # nothing reached the judge
    assert again["runs"] == scores["runs"]


def test_both_orders_measure_position_bias(scripted, mbench_answers, tmp_path):
    # The scripted judge always prefers whatever it reads first: a pure position bias.
    spec, _ = scripted({"default": "9 3"})
    out = tmp_path / "judged"
    result = judge("--answers", str(mbench_answers), "--judge", spec, "--protocol", "bimed-mbench", "--out", str(out),
                   "--order", "both")
    assert result.exit_code == 0, result.output
    runs = read(out)[0]["runs"][0]["scores"]
    assert runs["orders"]["reference-first"]["columns"]["overall"]["relative"] == pytest.approx(100 / 3)
    assert runs["orders"]["model-first"]["columns"]["overall"]["relative"] == pytest.approx(300)
    assert runs["position_bias"]["relative_shift"] == pytest.approx(300 - 100 / 3)


def test_a_failing_judge_loses_nothing_and_a_rerun_asks_only_what_failed(scripted, mbench_answers, tmp_path):
    spec, _ = scripted({"rules": [{"contains": "Which sequence", "status": 500}], "default": "7 7"})
    out = tmp_path / "judged"
    arguments = ["--answers", str(mbench_answers), "--protocol", "bimed-mbench", "--out", str(out),
                 "--max-attempts", "2"]
    result = judge(*arguments, "--judge", spec)
    assert result.exit_code == 1
    scores, lines = read(out)
    assert scores["usage"]["failures"] == 1 and "HTTP 500" in lines[3]["orders"]["reference-first"]["error"]
    assert scores["runs"][0]["scores"]["orders"]["reference-first"]["failed"].keys() == {"3"}
    assert scores["runs"][0]["scores"]["orders"]["reference-first"]["columns"]["overall"]["n"] == 3
    fixed, stats = scripted({"default": "8 4"})  # the judge is back (another server, the same model id)
    rerun = judge(*arguments, "--judge", fixed)
    assert rerun.exit_code == 0, rerun.output
    assert stats()["requests"] == 1
    scores, _ = read(out)
    assert (scores["usage"]["calls"], scores["usage"]["cache_hits"]) == (1, 3)
    assert scores["runs"][0]["scores"]["orders"]["reference-first"]["columns"]["overall"]["n"] == 4


def test_a_refused_request_is_not_retried(scripted, mbench_answers, tmp_path):
    spec, stats = scripted({"rules": [{"contains": "What organ", "status": 400}], "default": "6 6"})
    result = judge("--answers", str(mbench_answers), "--judge", spec, "--protocol", "bimed-mbench",
                   "--out", str(tmp_path / "j"))
    assert result.exit_code == 1
    assert stats()["rules"]["0"] == 1 and stats()["requests"] == 4


def test_a_judge_that_is_down_is_said_clearly(mbench_answers, tmp_path):
    spec = f"openai:{JUDGE}@http://127.0.0.1:{free_port()}/v1"
    result = judge("--answers", str(mbench_answers), "--judge", spec, "--protocol", "bimed-mbench",
                   "--out", str(tmp_path / "j"), "--max-attempts", "1")
    assert result.exit_code == 1
    assert "4 judgments failed" in result.output and "APIConnectionError" in result.output


def test_uphill_accuracy_from_recorded_labels(scripted, fixtures, tmp_path):
    items = load_open_task("uphill", "ar", fixtures / "uphill" / "claims.csv")
    # the model's answer says which stance the scripted judge reports
    stance = {"true": "agree", "false": "disagree", "mixture": "agree", "fabricated": "agree"}
    answers = [f"answer-{stance[i.meta['veracity']]}-{i.item_id}" for i in items]
    path = answer_file(tmp_path / "uphill.jsonl", items, answers)
    spec, _ = scripted({"rules": [{"contains": "answer-agree", "reply": "agree\nIt supports the claim."},
                                  {"contains": "answer-disagree", "reply": "Disagree."}]})
    out = tmp_path / "judged"
    result = judge("--answers", str(path), "--judge", spec, "--protocol", "uphill", "--out", str(out))
    assert result.exit_code == 0, result.output
    table = read(out)[0]["runs"][0]["scores"]
    assert table["accuracy"]["overall"] == {"accuracy": pytest.approx(2 / 3), "right": 10, "n": 15}
    assert table["accuracy"]["neutral"]["accuracy"] == pytest.approx(2 / 3)
    assert table["consistency"]["all_levels_same"] == 1.0
    assert table["fabricated_agree_rate"]["writing demand"] == {"rate": 1.0, "n": 1}
    assert "| model-x | ar | 66.7 |" in (out / "scores.md").read_text(encoding="utf-8")


def test_the_wrong_protocol_for_a_file_is_refused(mbench_answers, tmp_path):
    result = judge("--answers", str(mbench_answers), "--judge", "openai:j@http://127.0.0.1:9/v1", "--protocol", "uphill",
                   "--out", str(tmp_path))
    assert result.exit_code == 2 and "not uphill" in result.output




def test_answers_from_a_remote_model(tiny_server, fixtures, tmp_path):
    from evaluate.answers import answers_path, read_answers
    from evaluate.generate import app as generate

    url, name = tiny_server
    spec = f"openai:{name}@{url}"
    result = CliRunner().invoke(generate, ["--model", spec, "--task", "bimed-mbench", "--lang", "ar", "--data",
                                           str(fixtures / "bimed_mbench"), "--out", str(tmp_path), "--batch-size", "3",
                                           "--max-new-tokens", "4", "--quiet"])
    assert result.exit_code == 0, result.output
    path = answers_path(tmp_path, "bimed-mbench", "ar", spec)
    assert path.name == f"bimed-mbench-ar-{name}.jsonl"
    records = read_answers(path)
    assert len(records) == 4 and {r.model for r in records} == {spec}
    assert all(r.completion_tokens >= 1 and r.settings["context_window"] > 0 for r in records)


def test_the_judge_client_against_engine_serve_caches_and_resumes(tiny_server, fixtures, tmp_path):
    items = load_open_task("bimed-mbench", "ar", fixtures / "bimed_mbench")
    first_half = answer_file(tmp_path / "half.jsonl", items[:2], ["رئة", "صورة"])
    whole = answer_file(tmp_path / "whole.jsonl", items, ["رئة", "صورة", "صبغة", "رنين"])
    out = tmp_path / "judged"
    url, name = tiny_server
    spec = f"openai:{name}@{url}"
    arguments = ["--protocol", "bimed-mbench", "--out", str(out), "--max-tokens", "6", "--concurrency", "2"]
    assert judge("--answers", str(first_half), "--judge", spec, *arguments).exit_code == 0
    assert read(out)[0]["usage"]["calls"] == 2
    # a run cut short, then the whole file: only the new items reach the judge
    result = judge("--answers", str(whole), "--judge", spec, *arguments)
    assert result.exit_code == 0, result.output
    scores, lines = read(out)
    assert (scores["usage"]["calls"], scores["usage"]["cache_hits"]) == (2, 2)
    assert scores["usage"]["prompt_tokens"] > 0 and scores["prompts"] == ["bimed-mbench-ar@v1"]
    # the tiny model writes noise: every judgment is kept, and counted unparsable, never scored
    assert len(lines) == 4 and all("text" in line["orders"]["reference-first"] for line in lines)
    table = scores["runs"][0]["scores"]["orders"]["reference-first"]
    assert len(table["unparsable"]) + table["columns"]["overall"]["n"] == 4
    # a judge that is gone (nothing listens at this address): answered from the cache alone
    gone = f"openai:{name}@http://127.0.0.1:{free_port()}/v1"
    rerun = judge("--answers", str(whole), "--judge", gone, *arguments)
    assert rerun.exit_code == 0, rerun.output
    assert read(out)[0]["usage"]["cache_hit_rate"] == 1.0 and read(out)[0]["runs"] == scores["runs"]
