"""Task files and prompts: the real release formats, our Arabic fixtures, the harness's templates."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from evaluate.tasks import (MCQItem, MissingDataError, SchemaError, expand_tasks, load_items, read_task_file,
                            render, sample)
from evaluate.tasks.files import read_records, usmle_items
from evaluate.tasks.schemas import cop_offset, mcq_item


# --- golden prompts: one item per task, English and Arabic -------------------------------

def item(task, lang="en", options=("opt a", "opt b", "opt c", "opt d"), gold=0, contexts=()):
    return MCQItem(task, lang, "x", "What is it?", options if task != "pubmedqa" else (), gold, contexts)


GOLDEN_EN = {
    "pubmedqa": "Abstract: First part.\nSecond part.\nQuestion: What is it?\nAnswer:",
    "medmcqa": "Question: What is it?\nChoices:\nA. opt a\nB. opt b\nC. opt c\nD. opt d\nAnswer:",
    "medqa": "Question: What is it?\nA. opt a\nB. opt b\nC. opt c\nD. opt d\nAnswer:",
    "usmle": "Question: What is it?\nA. opt a\nB. opt b\nC. opt c\nD. opt d\nAnswer:",
    "mmlu_clinical_knowledge": "The following are multiple choice questions (with answers) about clinical "
                               "knowledge.\n\nWhat is it?\nA. opt a\nB. opt b\nC. opt c\nD. opt d\nAnswer:",
}
GOLDEN_AR = {
    "pubmedqa": "الملخص: First part.\nSecond part.\nالسؤال: What is it?\nالإجابة:",
    "medmcqa": "السؤال: What is it?\nالخيارات:\nA. opt a\nB. opt b\nC. opt c\nD. opt d\nالإجابة:",
    "medqa": "السؤال: What is it?\nA. opt a\nB. opt b\nC. opt c\nD. opt d\nالإجابة:",
    "usmle": "السؤال: What is it?\nA. opt a\nB. opt b\nC. opt c\nD. opt d\nالإجابة:",
    "mmlu_clinical_knowledge": "فيما يلي أسئلة اختيار من متعدد (مع الإجابات) حول المعرفة السريرية.\n\n"
                               "What is it?\nA. opt a\nB. opt b\nC. opt c\nD. opt d\nالإجابة:",
}


@pytest.mark.parametrize("lang, golden", [("en", GOLDEN_EN), ("ar", GOLDEN_AR)])
def test_golden_prompts_in_both_languages(lang, golden):
    for task, expected in golden.items():
        prompt = render(item(task, lang, contexts=("First part.", "Second part.")))
        assert prompt.context == expected, task
        words = ("yes", "no", "maybe") if lang == "en" else ("نعم", "لا", "ربما")
        expected_choices = words if task == "pubmedqa" else ("A", "B", "C", "D")
        assert prompt.choices == expected_choices
        assert prompt.continuations()[0] == " " + prompt.choices[0]


def test_usmle_prompts_have_as_many_letters_as_options():
    prompt = render(item("usmle", options=tuple(f"o{i}" for i in range(6))))
    assert prompt.choices == ("A", "B", "C", "D", "E", "F")
    assert prompt.context.endswith("E. o4\nF. o5\nAnswer:")


def test_english_prompts_are_the_harness_templates(shared_data):
    """Our prompt equals lm-evaluation-harness's own doc_to_text on the same real item."""
    from evaluate.agreement import harness_doc, harness_task_config

    for task in ("pubmedqa", "medmcqa", "medqa", "mmlu_anatomy", "mmlu_professional_medicine"):
        first = load_items(task, "en", shared_data, limit=1)[0]
        config = harness_task_config(task, shared_data / "unused.jsonl", shared_data / "unused")
        doc = harness_doc(first)
        doc_to_text = config["doc_to_text"]
        if callable(doc_to_text):
            text = doc_to_text(doc)
        else:  # MMLU: a Jinja template
            from jinja2 import Template
            text = Template(doc_to_text).render(**doc)
        text = config.get("description", "") + text
        assert render(first).context == text, task
        assert list(render(first).choices) == config["doc_to_choice"], task


# --- loaders on the real slices ------------------------------------------------------------

def test_real_slices_load_with_their_answers(shared_data):
    pubmedqa = load_items("pubmedqa", "en", shared_data)
    assert len(pubmedqa) == 300 and Counter(i.gold for i in pubmedqa) == {0: 167, 1: 96, 2: 37}
    medqa = load_items("medqa", "en", shared_data)
    assert len(medqa) == 300 and Counter(i.gold for i in medqa) == {0: 85, 1: 66, 2: 82, 3: 67}
    medmcqa = load_items("medmcqa", "en", shared_data)
    assert Counter(i.gold for i in medmcqa) == {0: 101, 1: 84, 2: 65, 3: 50}
    assert medmcqa[0].item_id == "b64a9cd7-d076-4c55-8be1-f9c44fece6cc"
    sizes = {s: len(load_items(f"mmlu_{s}", "en", shared_data)) for s in ("anatomy", "professional_medicine")}
    assert sizes == {"anatomy": 135, "professional_medicine": 272}  # the final release, not the early 282


def test_pubmedqa_uses_the_official_test_labels(shared_data):
    labels = json.loads((shared_data / "pubmedqa_pqal" / "test_ground_truth.json").read_text())
    for pubmed in load_items("pubmedqa", "en", shared_data)[:50]:
        assert ("yes", "no", "maybe")[pubmed.gold] == labels[pubmed.item_id]
        assert pubmed.contexts and pubmed.question.endswith("?")


def test_original_headerless_mmlu_csv_matches_the_final_release_copy(shared_data):
    early = read_task_file(shared_data / "mmlu_medical/test/anatomy_test.csv", "mmlu_anatomy", "en")
    final = load_items("mmlu_anatomy", "en", shared_data)
    assert [(i.question, i.options, i.gold) for i in early] == [(i.question, i.options, i.gold) for i in final]


def test_limit_takes_a_seeded_sample_not_the_head_of_the_file(shared_data):
    everything = load_items("pubmedqa", "en", shared_data)
    first = load_items("pubmedqa", "en", shared_data, limit=60)
    again = load_items("pubmedqa", "en", shared_data, limit=60)
    other_seed = load_items("pubmedqa", "en", shared_data, limit=60, seed=7)
    assert first == again and first != other_seed and first != everything[:60]
    positions = [everything.index(i) for i in first]
    assert positions == sorted(positions)  # file order kept
    assert len({i.gold for i in first}) == 3


# --- Arabic files in the BiMediX layout, USMLE, schemas -------------------------------------

def test_arabic_fixtures_load_in_every_layout(fixtures):
    medmcqa = load_items("medmcqa", "ar", fixtures)
    assert [i.gold for i in medmcqa] == [1, 2, 0, 3] and medmcqa[0].options[1] == "الإنسولين"
    assert [i.gold for i in load_items("medqa", "ar", fixtures)] == [2, 1, 0]
    pubmedqa = load_items("pubmedqa", "ar", fixtures)
    assert [i.gold for i in pubmedqa] == [0, 1, 2] and len(pubmedqa[0].contexts) == 2
    anatomy = load_items("mmlu_anatomy", "ar", fixtures)
    assert render(anatomy[0]).context.startswith("فيما يلي أسئلة اختيار من متعدد (مع الإجابات) حول علم التشريح.")


def test_usmle_self_assessment_layout(fixtures):
    items = load_items("usmle", "en", fixtures)
    assert [i.item_id for i in items] == ["step1-1", "step1-3", "step2-1"]  # figure and empty skipped
    assert [i.gold for i in items] == [1, 1, 0]  # "b" read as B
    assert [len(i.options) for i in items] == [5, 4, 6]
    with_figures = usmle_items(fixtures / "usmle_self_assessment", include_image_questions=True)
    assert "step1-2" in [i.item_id for i in with_figures]


@pytest.mark.parametrize("record, gold", [
    ({"question": "q", "opa": "a", "opb": "b", "opc": "c", "opd": "d", "cop": 2}, 2),
    ({"question": "q", "opa": "a", "opb": "b", "opc": "c", "opd": "d", "cop": "D"}, 3),
    ({"question": "q", "options": {"B": "b", "A": "a", "C": "c", "D": "d"}, "answer_idx": "B"}, 1),
    ({"sent1": "q", "ending0": "a", "ending1": "b", "ending2": "c", "ending3": "d", "label": 3}, 3),
    ({"question": "q", "choices": ["a", "b", "c", "d"], "answer": 0}, 0),
    ({"question": "q", "choice0": "a", "choice1": "b", "choice2": "c", "choice3": "d", "answer": "1"}, 1),
])
def test_every_supported_layout_gives_the_same_item(record, gold):
    parsed = mcq_item(record, "medmcqa", "en", 0)
    assert (parsed.question, parsed.options, parsed.gold) == ("q", ("a", "b", "c", "d"), gold)


def test_one_based_cop_files_are_recognised():
    one_based = [{"cop": c} for c in (1, 4, 2)]
    assert cop_offset(one_based) == 1
    assert cop_offset([{"cop": c} for c in (0, 3, 2)]) == 0
    assert cop_offset([{"cop": c} for c in (1, 2, 3)]) == 0  # ambiguous: the hub's 0-3


def test_csv_with_header_in_the_bimedix_layout(tmp_path):
    path = tmp_path / "medmcqa.csv"
    path.write_text("question,opa,opb,opc,opd,cop\nما علاج نقص الحديد؟,حديد,None,NA,زنك,0\n", encoding="utf-8")
    (parsed,) = read_task_file(path, "medmcqa", "ar")
    assert parsed.options == ("حديد", "None", "NA", "زنك") and parsed.gold == 0  # no NaN for "None"/"NA"
    assert read_records(path)[0]["cop"] == 0


def test_bad_records_and_missing_files_say_what_and_where(tmp_path):
    bad = tmp_path / "en" / "medqa.jsonl"
    bad.parent.mkdir()
    bad.write_text(json.dumps({"prompt": "q", "target": "a"}) + "\n")
    with pytest.raises(SchemaError, match="medqa.jsonl.*unknown multiple-choice layout"):
        load_items("medqa", "en", tmp_path)
    with pytest.raises(MissingDataError) as error:
        load_items("pubmedqa", "ar", tmp_path)
    assert str(tmp_path / "ar" / "pubmedqa.jsonl") in str(error.value) and "opa" in str(error.value)
    with pytest.raises(ValueError, match="not one of the 4 choices"):
        mcq_item({"question": "q", "choices": list("abcd"), "answer": 7}, "medqa", "en", 0)


def test_task_names_expand_in_table_order():
    assert expand_tasks("pubmedqa,mmlu")[:2] == ["mmlu_clinical_knowledge", "mmlu_college_biology"]
    assert expand_tasks("pubmedqa,medqa") == ["medqa", "pubmedqa"]
    with pytest.raises(ValueError, match="unknown task 'medqa5'"):
        expand_tasks("medqa5")


def test_sample_keeps_everything_when_the_limit_is_larger():
    items = [item("medqa") for _ in range(3)]
    assert sample(items, 10) == items and len(sample(items, 2)) == 2


def test_hub_records_read_through_the_same_layouts(monkeypatch):
    import datasets

    from evaluate.tasks.hub import hub_items

    served = {
        "GBaker/MedQA-USMLE-4-options-hf": [{"id": "q1", "sent1": "q", "ending0": "a", "ending1": "b",
                                             "ending2": "c", "ending3": "d", "label": 2}],
        "cais/mmlu": [{"question": "q", "subject": "anatomy", "choices": ["a", "b", "c", "d"], "answer": 1}],
        "bigbio/pubmed_qa": [{"QUESTION": "q?", "CONTEXTS": ["c1", "c2"], "final_decision": "maybe", "pubid": 1}],
    }
    asked = []

    def fake_load_dataset(path, name=None, split=None):
        asked.append((path, name, split))
        return served[path]

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    assert hub_items("medqa")[0].gold == 2 and hub_items("mmlu_anatomy")[0].gold == 1
    assert hub_items("pubmedqa")[0].contexts == ("c1", "c2") and hub_items("pubmedqa")[0].gold == 2
    assert asked[:2] == [("GBaker/MedQA-USMLE-4-options-hf", None, "test"), ("cais/mmlu", "anatomy", "test")]
