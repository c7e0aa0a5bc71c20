"""What a translation must keep (placeholders, numbers, units, drug names, segments), the
glossary, the model answers' parsing, and reading samples from real benchmark files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from train.translate.checks import (glossary_violations, load_glossary, load_keep_terms, numbers,
                                    translation_problems)
from train.model_output import first_json_object
from train.translate.pipeline import parse_score
from train.translate.samples import read_samples

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


def test_numbers_are_compared_as_values_in_either_digit_form():
    assert numbers("1,000 mg, 3.5 mmol/L and 120/80") == numbers("١٠٠٠ mg، ٣٫٥ mmol/L و 120/80")
    assert numbers("2.5") != numbers("25")


@pytest.mark.parametrize(("english", "arabic", "problem"), [
    ("Give 5 mg now.", "أعطِ 5 ملغ الآن.", "units not kept as written: mg"),
    ("Give 5 mg now.", "أعطِ mg الآن.", "numbers lost: 5"),
    ("<image>\nWhat is this?", "ما هذا؟", "<image> placeholders 1 in the source, 0"),
    ("Start metformin.", "ابدأ الميتفورمين.", "drug names not kept in Latin script: metformin"),
    ("Start lisinopril.", "ابدأ الليزينوبريل.", "drug names not kept in Latin script: lisinopril"),  # a stem
    ("A fever.", "", "empty translation"),
])
def test_a_lost_invariant_is_refused(english, arabic, problem):
    problems = translation_problems({"question": english}, {"question": arabic})
    assert any(problem in p for p in problems), problems


def test_a_faithful_translation_passes_and_ordinary_words_are_not_drugs():
    english = {"question": "<image>\nA 45-year-old takes Metformin 500 mg; cholesterol is 6.2 mmol/L.",
               "option:A": "Lactic acidosis"}
    arabic = {"question": "<image>\nمريض عمره 45 عامًا يتناول metformin بجرعة 500 mg؛ الكوليسترول 6.2 mmol/L.",
              "option:A": "الحماض اللبني"}
    assert translation_problems(english, arabic) == []
    assert translation_problems({"q": "Start Zestril."}, {"q": "ابدأ زستريل."}) == []
    keep = frozenset({"zestril"})
    assert translation_problems({"q": "Start Zestril."}, {"q": "ابدأ زستريل."}, keep) == [
        "q: drug names not kept in Latin script: zestril"]


def test_the_structure_must_come_back_whole():
    english = {"question": "Q?", "option:A": "Yes", "option:B": "No"}
    assert translation_problems(english, {"question": "س؟", "option:A": "نعم"}) == [
        "structure: segments missing: option:B"]
    assert translation_problems(english, None) == ["structure: the answer is not the sample's JSON object"]
    assert "structure: segments not in the source: option:C" in translation_problems(
        english, {"question": "س؟", "option:A": "نعم", "option:B": "لا", "option:C": "ربما"})


def test_glossary_files_and_violations(tmp_path):
    csv_path = tmp_path / "g.csv"
    csv_path.write_text("english,arabic\nHypertension,ارتفاع ضغط الدم|فرط ضغط الدم\n", encoding="utf-8")
    json_path = tmp_path / "g.json"
    json_path.write_text(json.dumps({"hypertension": ["ارتفاع ضغط الدم", "فرط ضغط الدم"]}), encoding="utf-8")
    for glossary in (load_glossary(csv_path), load_glossary(json_path)):
        english = {"question": "Is this hypertension?"}
        assert glossary_violations(english, {"question": "هل هذا فرط ضغط الدم؟"}, glossary) == []
        assert len(glossary_violations(english, {"question": "هل هذا ضغط عالٍ؟"}, glossary)) == 1
        assert glossary_violations({"question": "hypertensions"}, {"question": "x"}, glossary)  # plural: the term
        assert not glossary_violations({"question": "prehypertension"}, {"question": "x"}, glossary)
    bad = tmp_path / "bad.csv"
    bad.write_text("term,translation\na,b\n", encoding="utf-8")
    with pytest.raises(ValueError, match="english and arabic"):
        load_glossary(bad)
    keep = tmp_path / "keep.txt"
    keep.write_text("Zestril  # a brand\n\n# comment\nGlucophage\n", encoding="utf-8")
    assert load_keep_terms(keep) == {"zestril", "glucophage"}


@pytest.mark.parametrize(("text", "expected"), [
    ('{"score": 87, "reasons": "fluent"}', (87, "fluent")),
    ('```json\n{"score": "92", "reasons": ["a", "b"]}\n```', (92, "a; b")),
    ("Score: 70\nMostly right.", (70, "Score: 70\nMostly right.")),
    ('{"score": 140}', (None, "")),
    ("I cannot rate this.", (None, "I cannot rate this.")),
])
def test_scores_are_read_or_refused(text, expected):
    assert parse_score(text) == expected


def test_the_first_json_object_is_read_around_words_and_fences():
    assert first_json_object('Here: {"a": "x {y}"} done') == {"a": "x {y}"}
    assert first_json_object("{not json} then {\"b\": 1}") == {"b": 1}
    assert first_json_object("[1, 2]") is None


def test_mcqa_samples_keep_letters_and_the_answer_key():
    path = SHARED / "medqa_usmle_4opt" / "phrases_no_exclude_test_first300.jsonl"
    pubmedqa = SHARED / "pubmedqa_pqal" / "ori_pqal_test_first300.json"
    if not path.is_file():
        pytest.skip("../shared/data (the real benchmark slices) is absent")
    samples, problems = read_samples(path, "mcqa", limit=2)
    first = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
    assert problems == [] and [s.sample_id for s in samples] == ["medqa:0", "medqa:1"]
    assert samples[0].english == {"question": first["question"],
                                  **{f"option:{k}": v for k, v in first["options"].items()}}
    assert samples[0].record["gold"] == "ABCD".index(first["answer_idx"])
    assert "answer_idx" not in json.dumps(samples[0].english)  # the key is never sent
    contexts = read_samples(pubmedqa, "mcqa", limit=1)[0][0]
    assert contexts.task == "pubmedqa" and "context:0" in contexts.english and contexts.record["layout"] == "pubmedqa"


def test_invalid_training_samples_are_listed_not_sent(tmp_path):
    path = tmp_path / "chats.jsonl"
    rows = [{"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}], "id": "a1"},
            {"conversations": [{"from": "gpt", "value": "Hello"}]}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    samples, problems = read_samples(path, "sft")
    assert [s.sample_id for s in samples] == ["chats:a1"]
    assert samples[0].labels == {"turn:0": "Turn 1 (human)", "turn:1": "Turn 2 (gpt)"}
    assert len(problems) == 1 and problems[0].startswith(f"{path}: sample 1:")
    with pytest.raises(ValueError, match="--kind"):
        read_samples(path, "poems")
