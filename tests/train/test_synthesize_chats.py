"""`python -m train.synthesize_chats` over real HTTP: a scripted OpenAI-compatible server
(canned dialogues and verdicts, a 500) for exact outcomes, and `engine serve` on a tiny
model for the client, its cache and resuming; unit tests for the checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evaluate.servers import free_port
from evaluate.tasks.items import MCQItem
from train import chat_synthesis as checks
from train.chat_synthesis import Turn
from train.data import parse_sample
from evaluate.tasks.files import items_of_file
from evaluate.tasks.registry import infer_task
from train.synthesize_chats import app

SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
MEDQA = "medqa_usmle_4opt/phrases_no_exclude_test_first300.jsonl"
WRITER = "scripted-writer"
FINAL_TURN_HEADER = "[Doctor's final turn]"  # only the judge's prompt holds it


@pytest.fixture
def medqa() -> Path:
    path = SHARED_DATA / MEDQA
    if not path.is_file():
        pytest.skip("../shared/data (the real benchmark slices) is absent")
    return path.resolve()




def dialogue(final: str, exchanges: int = 3) -> list[dict]:
    turns = []
    for n in range(exchanges - 1):
        turns += [{"role": "patient", "text": f"I have not felt right for a while, doctor ({n})."},
                  {"role": "doctor", "text": f"When did it start, and has anything made it worse ({n})?"}]
    return turns + [{"role": "patient", "text": "About a week ago; nothing helps."}, {"role": "doctor", "text": final}]


def as_json(turns: list[dict]) -> str:
    return json.dumps({"turns": turns})


def questions(path: Path, count: int) -> list[str]:
    """A distinctive piece of each of the first items' questions: what a draft rule matches."""
    return [item.question[:60] for item in items_of_file(path, "medqa")[:count]]


def synthesize(*arguments: str):
    return CliRunner().invoke(app, [*arguments, "--quiet"])


def read_out(out: Path) -> tuple[dict, list[dict], list[dict]]:
    report = json.loads((out / "synthesis-report.json").read_text(encoding="utf-8"))
    lines = [[json.loads(line) for line in (out / name).read_text(encoding="utf-8").splitlines()]
             for name in ("chats.jsonl", "rejected.jsonl")]
    return report, lines[0], lines[1]


def test_accepted_and_rejected_dialogues_and_a_free_rerun(scripted, medqa, tmp_path):
    q = questions(medqa, 5)
    leaked = dialogue("The answer is B: tell your attending you must disclose the cut tendon.")
    disordered = [{"role": "patient", "text": "My knee hurts."}, {"role": "patient", "text": "A lot."},
                  {"role": "doctor", "text": "It is arthritis."}]
    spec, stats = scripted({"rules": [
        {"contains": "conclusion-delta", "reply": "No\nThe doctor names another diagnosis."},
        {"contains": FINAL_TURN_HEADER, "reply": "yes\nSame conclusion."},
        {"contains": q[0], "reply": "Here it is:\n```json\n" + as_json(dialogue(
            "You must tell the attending the mistake has to be disclosed (conclusion-alpha).")) + "\n```"},
        {"contains": q[1], "reply": as_json(leaked)},
        {"contains": q[2], "reply": as_json(disordered)},
        {"contains": q[3], "reply": as_json(dialogue("This is an allergy, not an infection (conclusion-delta)."))},
        {"contains": q[4], "reply": "I am sorry, I cannot write that conversation."}]}, WRITER)
    out = tmp_path / "chats"
    arguments = ["--source", str(medqa), "--out", str(out), "--model", spec, "--limit", "5"]
    result = synthesize(*arguments)
    assert result.exit_code == 0, result.output
    report, accepted, rejected = read_out(out)
    assert (report["items"], report["accepted"], report["rejected"], report["failed"]) == (5, 1, 4, 0)
    assert stats()["requests"] == 7  # five drafts, and the judge only for the two that passed the checks
    assert [line["id"] for line in accepted] == ["medqa:0"]
    assert parse_sample(accepted[0]).problems == [] and accepted[0]["language"] == "en"
    assert [turn["from"] for turn in accepted[0]["conversations"]] == ["human", "gpt"] * 3
    assert accepted[0]["provenance"] == {
        "source": str(medqa), "task": "medqa", "item_id": "0", "answer_label": "B",
        "answer_text": "Tell the attending that he cannot fail to disclose this mistake", "model": WRITER,
        "judge": WRITER, "prompts": {"draft": "dialogue@v1", "check": "dialogue_check@v1"}}
    reasons = {line["id"]: line["reasons"] for line in rejected}
    assert list(reasons) == ["medqa:1", "medqa:2", "medqa:3", "medqa:4"]  # item order
    assert reasons["medqa:1"] == [checks.LETTER_LEAK]
    assert {checks.WRONG_ORDER, checks.TOO_FEW_EXCHANGES} <= set(reasons["medqa:2"])
    assert reasons["medqa:3"] == [checks.DISAGREES] and rejected[2]["judge_reply"].startswith("No")
    assert reasons["medqa:4"] == [checks.UNPARSABLE] and "cannot write" in rejected[3]["raw"]
    assert report["rejection_reasons"][checks.LETTER_LEAK] == 1 and report["mean_exchanges_accepted"] == 3
    assert report["usage"]["draft"]["calls"] == 5 and report["usage"]["judge"]["calls"] == 2
    assert "option letter leak" in result.output
    # everything cached: the same arguments make no request and write the same files
    rerun = synthesize(*arguments)
    assert rerun.exit_code == 0, rerun.output
    assert stats()["requests"] == 7
    again, accepted_again, rejected_again = read_out(out)
    assert (accepted_again, rejected_again) == (accepted, rejected)
    assert (again["usage"]["draft"]["calls"], again["usage"]["draft"]["cache_hits"]) == (0, 5)
    assert (again["usage"]["judge"]["calls"], again["usage"]["judge"]["cache_hits"]) == (0, 2)


def test_a_failed_call_is_retried_on_the_next_run_only(scripted, medqa, tmp_path):
    q = questions(medqa, 3)
    drafts = [{"contains": text, "reply": as_json(dialogue(f"My conclusion for case {n}."))}
              for n, text in enumerate(q)]
    judge = {"contains": FINAL_TURN_HEADER, "reply": "yes\nAgrees."}
    spec, _ = scripted({"rules": [judge, drafts[0], {"contains": q[1], "status": 500}, drafts[2]]}, WRITER)
    out = tmp_path / "chats"
    arguments = ["--source", str(medqa), "--out", str(out), "--limit", "3", "--max-attempts", "2"]
    result = synthesize(*arguments, "--model", spec)
    assert result.exit_code == 1
    report, accepted, rejected = read_out(out)
    assert (report["accepted"], report["rejected"], report["failed"]) == (2, 0, 1)
    assert report["failed_items"][0]["id"] == "medqa:1" and "HTTP 500" in report["failed_items"][0]["error"]
    assert [line["id"] for line in accepted] == ["medqa:0", "medqa:2"] and rejected == []
    fixed, stats = scripted({"rules": [judge, *drafts]}, WRITER)  # the server is back (another port, the same model id)
    rerun = synthesize(*arguments, "--model", fixed)
    assert rerun.exit_code == 0, rerun.output
    assert stats()["requests"] == 2  # the failed item's draft and its check; nothing asked twice
    report, accepted, _ = read_out(out)
    assert [line["id"] for line in accepted] == ["medqa:0", "medqa:1", "medqa:2"] and report["failed"] == 0


def test_bad_input_is_refused_clearly(medqa, tmp_path):
    model = ["--model", f"openai:m@http://127.0.0.1:{free_port()}/v1", "--out", str(tmp_path / "o")]
    missing = synthesize("--source", str(tmp_path / "nope.jsonl"), *model)
    assert missing.exit_code == 2 and "no such file" in missing.output
    unknown = tmp_path / "odd.jsonl"
    unknown.write_text(json.dumps({"prompt": "?", "completion": "!"}) + "\n", encoding="utf-8")
    layout = synthesize("--source", str(unknown), *model)
    assert layout.exit_code == 2 and "unknown multiple-choice layout" in layout.output
    for turns in ("6-3", "x", "0"):
        bad = synthesize("--source", str(medqa), "--turns", turns, *model)
        assert bad.exit_code == 2 and "--turns" in bad.output, turns
    assert not (tmp_path / "o").exists()




def test_a_tiny_model_writes_garbage_that_is_rejected_and_cached(tiny_server, medqa, tmp_path):
    url, name = tiny_server
    out = tmp_path / "chats"
    arguments = ["--source", str(medqa), "--out", str(out), "--model", f"openai:{name}@{url}", "--limit", "2",
                 "--max-tokens", "12", "--temperature", "0", "--concurrency", "2"]
    result = synthesize(*arguments)
    assert result.exit_code == 0, result.output
    report, accepted, rejected = read_out(out)
    assert accepted == [] and [line["id"] for line in rejected] == ["medqa:0", "medqa:1"]
    assert all(set(line["reasons"]) <= {checks.UNPARSABLE, checks.WRONG_SHAPE} for line in rejected)
    assert report["usage"]["draft"]["calls"] == 2 and report["usage"]["judge"]["calls"] == 0
    rerun = synthesize(*arguments)
    assert rerun.exit_code == 0, rerun.output
    report, _, rerejected = read_out(out)
    assert (report["usage"]["draft"]["calls"], report["usage"]["draft"]["cache_hits"]) == (0, 2)
    assert rerejected == rejected


# ---- the checks on their own ----

@pytest.mark.parametrize("text", [
    "The answer is B.", "Option C fits best.", "I would pick choice (D).", "(A) is the one.",
    "B) Tell the attending", "The correct answer: C", "Answer: E", "Both options B and C are wrong.",
    "Let me list them.\nC. Report the physician"])
def test_option_letters_are_caught(text):
    assert checks.letter_leaks(text)


@pytest.mark.parametrize("text", [
    "Your vitamin B12 is low.", "You have hepatitis B.", "He has a type A personality.",
    "This is a B-cell lymphoma.", "E. coli caused the infection.", "The answer is a combination of rest and fluids.",
    "Another option I would consider is surgery.", "Is there an alternative?\nA biopsy would tell us.",
    "Vitamin C: take it daily.", "A few days ago it started.", "Plan A is rest."])
def test_ordinary_text_is_not_a_letter_leak(text):
    assert checks.letter_leaks(text) == []


def test_turns_range():
    assert checks.parse_turns_range("3-6") == (3, 6)
    assert checks.parse_turns_range("4") == (4, 4)
    assert checks.parse_turns_range(" 2 - 5 ") == (2, 5)
    for bad in ("6-3", "x", "0", "", "3-", "-3", "2-x"):
        with pytest.raises(ValueError, match="--turns"):
            checks.parse_turns_range(bad)


def turns(*pairs: tuple[str, str]) -> list[Turn]:
    return [Turn(role, text) for role, text in pairs]


GOOD = turns(("patient", "My chest hurts when I climb stairs."), ("doctor", "How long has this been going on?"),
             ("patient", "About a month."), ("doctor", "Does it ease when you rest?"),
             ("patient", "Yes, within minutes."),
             ("doctor", "This sounds like stable angina; we will do a stress test."))


def test_a_good_dialogue_passes_and_its_conversation_is_training_data():
    assert checks.check_dialogue(GOOD, (3, 6)) == []
    assert checks.exchange_count(GOOD) == 3
    sample = {"conversations": checks.conversation(GOOD), "language": "en"}
    assert parse_sample(sample).problems == []


def test_order_bounds_lengths_and_follow_up_checks():
    assert checks.check_dialogue(GOOD[1:] + GOOD[:1], (1, 6)) == [checks.WRONG_ORDER]  # doctor first
    assert checks.WRONG_ORDER in checks.check_dialogue(GOOD[:-1], (1, 6))  # the patient has the last word
    assert checks.check_dialogue(GOOD, (4, 6)) == [checks.TOO_FEW_EXCHANGES]
    assert checks.check_dialogue(GOOD, (1, 2)) == [checks.TOO_MANY_EXCHANGES]
    short = GOOD[:2] + turns(("patient", "."), ("doctor", GOOD[-1].text))
    assert checks.check_dialogue(short, (1, 6)) == [checks.TURN_TOO_SHORT]
    long = GOOD[:-1] + turns(("doctor", "x" * (checks.MAX_TURN_CHARS + 1)))
    assert checks.check_dialogue(long, (1, 6)) == [checks.TURN_TOO_LONG]
    no_question = [Turn(t.role, t.text.replace("?", ".")) for t in GOOD]
    assert checks.check_dialogue(no_question, (1, 6)) == [checks.NO_FOLLOW_UP]
    exam = GOOD[:-1] + turns(("doctor", "Which of the following fits? Angina."))
    assert checks.check_dialogue(exam, (1, 6)) == [checks.EXAM_MENTION]


def test_model_output_is_read_tolerantly():
    body = as_json(dialogue("Done."))
    for text in (body, f"```json\n{body}\n```", f"Sure! Here you go: {body} Hope it helps {{not json}}."):
        parsed, reasons = checks.parse_dialogue(text)
        assert reasons == [] and len(parsed) == 6 and parsed[-1] == Turn("doctor", "Done.")
    assert checks.parse_dialogue("no JSON at all")[1] == [checks.UNPARSABLE]
    assert checks.parse_dialogue(None)[1] == [checks.UNPARSABLE]
    for shape in ({"dialogue": []}, {"turns": []}, {"turns": [{"role": "nurse", "text": "hi"}]},
                  {"turns": [{"role": "patient"}]}, {"turns": ["hello"]}):
        assert checks.parse_dialogue(json.dumps(shape)) == (None, [checks.WRONG_SHAPE])


def test_judge_verdicts():
    assert checks.parse_verdict("yes\nThe same diagnosis.") is True
    assert checks.parse_verdict("\n**No.**\nA different drug.") is False
    for unclear in ("Maybe", "", None, "Yes and no"):
        assert checks.parse_verdict(unclear) is None


def test_pubmedqa_items_are_drafted_with_their_abstract_and_a_yes_no_answer():
    item = MCQItem("pubmedqa", "en", "123", "Does coffee raise blood pressure?", (), 1,
                   ("Background text.", "Results."))
    assert checks.answer_of(item) == checks.Answer("no", "no")
    values = checks.draft_values(item, (3, 6))
    assert values["answer"] == "no" and "Background text." in values["context"] and "maybe" in values["options"]
    mcq = MCQItem("medqa", "en", "7", "Q?", ("first", "second"), 1)
    assert "A" not in checks.draft_values(mcq, (3, 6))["options"]  # options listed without letters


def test_the_task_comes_from_the_release_layout(tmp_path):
    assert infer_task(SHARED_DATA / MEDQA) == "medqa"
    assert infer_task(SHARED_DATA / "pubmedqa_pqal" / "ori_pqal_test_first300.json") == "pubmedqa"
    assert infer_task(SHARED_DATA / "mmlu_medical" / "test" / "anatomy_test.csv") == "mmlu_anatomy"
    assert infer_task(tmp_path / "my_cases.jsonl") == "my_cases"
