"""VQA-RAD, SLAKE, PathVQA and the MIMIC-CXR report tasks read from their release layouts
(fixtures written here, see fixtures/README.md), as evaluate.generate receives them."""

from __future__ import annotations

import json
import logging

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from evaluate.open_tasks.reports import (ANSWER_IN_ENGLISH, GENERATION_INSTRUCTIONS, SUMMARY_INSTRUCTIONS,
                                         load_report_generation, load_report_summarization)
from evaluate.open_tasks.vqa import load_pathvqa, load_slake, load_vqa_rad

PNG = b"\x89PNG\r\n\x1a\n" + b"fixture image one"
JPEG = b"\xff\xd8\xff\xe0" + b"fixture image two"


def by_id(items):
    return {item.item_id: item for item in items}


# --- VQA-RAD ----------------------------------------------------------------------------

def test_vqa_rad_release_test_split_and_answer_types(fixtures):
    items = load_vqa_rad("en", fixtures / "vqa" / "vqa_rad")
    assert list(by_id(items)) == ["3", "4", "5", "6"]  # phrase_type test_freeform / test_para only
    left = by_id(items)["4"]
    assert left.turns == ("Is the effusion on the left or the right?",) and left.reference == "Left"
    assert left.image == "synpic90002.jpg" and left.task == "vqa-rad" and left.lang == "en"
    # the dataset's CLOSED, though "Left" is not yes/no
    assert left.meta["answer_type"] == "closed" and left.meta["answer_type_from"] == "dataset"
    assert left.meta["split"] == "test" and left.meta["phrase_type"] == "test_para"
    assert [item.meta["answer_type"] for item in items] == ["closed", "closed", "open", "open"]
    assert by_id(items)["6"].reference == "2"  # a number in the JSON is read as text


def test_vqa_rad_release_other_splits_and_file_path(fixtures):
    release = fixtures / "vqa" / "vqa_rad" / "VQA_RAD Dataset Public.json"
    assert [item.item_id for item in load_vqa_rad("en", release, "train")] == ["1", "2"]
    assert len(load_vqa_rad("en", release, "all")) == 6
    with pytest.raises(ValueError, match="no validation split"):
        load_vqa_rad("en", release, "validate")


def test_vqa_rad_release_image_folder_is_named_when_present(fixtures, tmp_path):
    release = fixtures / "vqa" / "vqa_rad" / "VQA_RAD Dataset Public.json"
    (tmp_path / "VQA_RAD Image Folder").mkdir()
    (tmp_path / release.name).write_bytes(release.read_bytes())
    item = load_vqa_rad("en", tmp_path)[0]
    assert item.meta["image_dir"] == str((tmp_path / "VQA_RAD Image Folder").resolve())
    assert "image_dir" not in load_vqa_rad("en", release)[0].meta  # the fixture has no images


def _hub_export(root, split, rows):
    (root / "data").mkdir(parents=True, exist_ok=True)
    table = pa.table({"image": [{"bytes": data, "path": None} for data, _, _ in rows],
                      "question": [q for _, q, _ in rows], "answer": [a for _, _, a in rows]})
    pq.write_table(table, root / "data" / f"{split}-00000-of-00001.parquet")


def test_vqa_rad_hub_export_extracts_images_once_and_splits_by_yes_no(tmp_path):
    _hub_export(tmp_path, "test", [(PNG, "is there a fracture?", "no"), (PNG, "where is the lesion?", "left lung"),
                                   (JPEG, "is the heart enlarged?", "Yes")])
    _hub_export(tmp_path, "train", [(JPEG, "what organ is shown?", "brain")])
    items = load_vqa_rad("en", tmp_path)
    assert [item.item_id for item in items] == ["test-00000", "test-00001", "test-00002"]
    assert [item.meta["answer_type"] for item in items] == ["closed", "open", "closed"]
    assert {item.meta["answer_type_from"] for item in items} == {"yes/no answer"}
    images = tmp_path / "images"
    assert items[0].image == items[1].image != items[2].image  # one file per distinct image
    assert items[0].image.endswith(".png") and items[2].image.endswith(".jpg")
    assert sorted(p.name for p in images.iterdir()) == sorted({items[0].image, items[2].image})
    assert (images / items[0].image).read_bytes() == PNG and items[0].meta["image_dir"] == str(images.resolve())
    train = load_vqa_rad("en", tmp_path / "data" / "train-00000-of-00001.parquet", "train")
    assert train[0].reference == "brain" and train[0].meta["split"] == "train"
    assert (images / train[0].image).read_bytes() == JPEG  # images/ beside data/, not inside it


# --- SLAKE ------------------------------------------------------------------------------

def test_slake_keeps_english_questions_only(fixtures):
    items = load_slake("en", fixtures / "vqa" / "slake")
    assert [item.item_id for item in items] == ["9001", "9002", "9004"]  # 9003 is q_lang zh
    assert all(item.turns[0].isascii() for item in items)
    bigger = by_id(items)["9004"]
    assert bigger.image == "xmlab103/source.jpg" and bigger.reference == "Liver"
    assert bigger.meta["answer_type"] == "closed" and bigger.meta["content_type"] == "Size"
    assert bigger.meta["modality"] == "CT" and bigger.meta["location"] == "Abdomen" and bigger.meta["split"] == "test"
    assert by_id(items)["9002"].meta["answer_type"] == "open"


def test_slake_splits(fixtures):
    folder = fixtures / "vqa" / "slake"
    assert [(i.item_id, i.meta["split"]) for i in load_slake("en", folder, "validation")] == [("8001", "validate")]
    assert [i.item_id for i in load_slake("en", folder, "train")] == ["7001"]  # 7002 is Chinese
    assert len(load_slake("en", folder, "all")) == 5
    assert [i.item_id for i in load_slake("en", folder / "test.json", "train")] == ["9001", "9002", "9004"]


def test_slake_arabic_uses_arabic_fields_and_refuses_english(fixtures, tmp_path):
    with pytest.raises(ValueError, match="no Arabic questions.*not scored as Arabic"):
        load_slake("ar", fixtures / "vqa" / "slake")
    records = json.loads((fixtures / "vqa" / "slake" / "test.json").read_text(encoding="utf-8"))
    records[0].update(question_ar="هل تحتوي الصورة على الكبد؟", answer_ar="نعم")
    (tmp_path / "test.json").write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    items = load_slake("ar", tmp_path)
    assert [(i.item_id, i.lang, i.turns[0], i.reference) for i in items] == [
        ("9001", "ar", "هل تحتوي الصورة على الكبد؟", "نعم")]
    assert items[0].meta["answer_type"] == "closed"


# --- PathVQA ----------------------------------------------------------------------------

def test_pathvqa_json_lines_closed_by_yes_no_and_image_extension(fixtures):
    items = load_pathvqa("en", fixtures / "vqa" / "pathvqa")
    assert [(i.item_id, i.image, i.reference, i.meta["answer_type"]) for i in items] == [
        ("test-00000", "test_0001.jpg", "yes", "closed"), ("test-00001", "test_0001.jpg", "fibrosis", "open"),
        ("test-00002", "test_0002.jpg", "no", "closed")]
    assert [i.item_id for i in load_pathvqa("en", fixtures / "vqa" / "pathvqa", "train")] == ["train-00000"]


def test_pathvqa_hub_export_validation_split(tmp_path):
    _hub_export(tmp_path, "validation", [(JPEG, "is this benign?", "yes")])
    (item,) = load_pathvqa("en", tmp_path, "validate")
    assert item.meta["split"] == "validate" and item.meta["answer_type"] == "closed"
    assert (tmp_path / "images" / item.image).read_bytes() == JPEG


def test_pathvqa_arabic_fields(tmp_path):
    rows = [{"image": "test_0001", "question": "Is there fibrosis?", "answer": "yes",
             "question_ar": "هل يوجد تليف؟", "answer_ar": "نعم"},
            {"image": "test_0002", "question": "What is shown?", "answer": "granuloma"}]
    (tmp_path / "test.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                         encoding="utf-8")
    (item,) = load_pathvqa("ar", tmp_path)  # the row without Arabic is not asked in English
    assert item.turns == ("هل يوجد تليف؟",) and item.reference == "نعم" and item.meta["answer_type"] == "closed"


def test_pathvqa_release_pickle_is_refused_with_a_conversion(tmp_path):
    (tmp_path / "qas" / "test").mkdir(parents=True)
    (tmp_path / "qas" / "test" / "test_qa.pkl").write_bytes(b"not unpickled")
    with pytest.raises(ValueError, match=r"test_qa\.pkl.*pickle\.load"):
        load_pathvqa("en", tmp_path)


# --- bad files --------------------------------------------------------------------------

def test_missing_and_malformed_files_name_the_path_and_layout(fixtures, tmp_path):
    with pytest.raises(FileNotFoundError, match=rf"{tmp_path}.*train\.json, validate\.json, test\.json"):
        load_slake("en", tmp_path)
    with pytest.raises(FileNotFoundError, match="flaviagiammarino/path-vqa"):
        load_pathvqa("en", tmp_path / "absent.jsonl")
    with pytest.raises(FileNotFoundError, match="VQA-RAD OSF release"):
        load_vqa_rad("en", tmp_path)
    broken = tmp_path / "test.json"
    broken.write_text('[{"question": "cut', encoding="utf-8")
    with pytest.raises(ValueError, match=rf"{broken}: cannot be read as \.json.*SLAKE release"):
        load_slake("en", tmp_path)
    broken.write_text(json.dumps([{"img_name": "a.jpg", "question": "q", "answer": "a"}]), encoding="utf-8")
    with pytest.raises(ValueError, match="no q_lang"):
        load_slake("en", tmp_path)
    (tmp_path / "test.jsonl").write_text(json.dumps({"image": "a.jpg", "caption": "x"}) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"test\.jsonl: row 1: no question / answer"):
        load_pathvqa("en", tmp_path / "test.jsonl")
    release = json.loads((fixtures / "vqa" / "vqa_rad" / "VQA_RAD Dataset Public.json").read_text())
    release[2]["answer_type"] = "MAYBE"
    (tmp_path / "VQA_RAD Dataset Public.json").write_text(json.dumps(release))
    with pytest.raises(ValueError, match="qid 3: answer_type 'MAYBE' is not CLOSED or OPEN"):
        load_vqa_rad("en", tmp_path)
    with pytest.raises(ValueError, match="split 'dev2'"):
        load_slake("en", fixtures / "vqa" / "slake", "dev2")


# --- reports ----------------------------------------------------------------------------

def test_report_generation_first_frontal_image_and_findings(fixtures, caplog):
    with caplog.at_level(logging.WARNING):
        items = load_report_generation("en", fixtures / "reports" / "mimic_cxr_reports.csv")
    # 50000003 has only a lateral view, 50000004 no findings, 50000005 is in train
    assert [item.item_id for item in items] == ["50000001", "50000002"]
    first = items[0]
    assert first.image == "files/p10/p10000001/s50000001/d0001-pa.jpg"  # the PA, not the lateral before it
    assert first.meta["view"] == "PA" and len(first.meta["images"]) == 2
    assert first.reference.startswith("The lungs are clear.") and first.meta["impression"].startswith("No acute")
    assert first.turns == (GENERATION_INSTRUCTIONS["en"],) and first.meta["reference_lang"] == "en"
    assert "no frontal image" in caplog.text and "no findings" in caplog.text
    train = load_report_generation("en", fixtures / "reports" / "mimic_cxr_reports.csv", "train")
    assert [item.item_id for item in train] == ["50000005"] and train[0].meta["split"] == "train"


def test_report_generation_arabic_sections_or_an_english_answer(fixtures):
    items = by_id(load_report_generation("ar", fixtures / "reports" / "studies.jsonl"))
    arabic, english = items["s50000011"], items["s50000012"]
    assert arabic.image.endswith("/b.jpg") and arabic.meta["view"] == "PA"
    assert arabic.reference == "لا يوجد تكثف بؤري. حجم القلب طبيعي." and arabic.meta["reference_lang"] == "ar"
    assert arabic.turns == (GENERATION_INSTRUCTIONS["ar"],)
    # no Arabic findings: the instruction is Arabic, the answer is asked in English like its reference
    assert english.turns == (GENERATION_INSTRUCTIONS["ar"] + ANSWER_IN_ENGLISH,)
    assert english.reference.startswith("Endotracheal") and english.meta["reference_lang"] == "en"


def test_report_summarization_csv_and_mimic_rrs(fixtures):
    items = load_report_summarization("en", fixtures / "reports" / "summarization.csv")
    assert [item.item_id for item in items] == ["s50000021", "s50000022"]  # 23 has no impression, 24 is train
    assert items[1].turns == (f"{SUMMARY_INSTRUCTIONS['en']}\n\nFindings: Enlarged cardiac silhouette. "
                              "Pulmonary vascular congestion.",)
    assert items[1].reference == "Cardiomegaly with mild edema." and items[1].image is None
    rrs = load_report_summarization("en", fixtures / "reports" / "mimic-rrs")
    assert [(i.item_id, i.reference) for i in rrs] == [("test-00000", "no acute process ."),
                                                       ("test-00001", "small right pneumothorax .")]
    arabic = load_report_summarization("ar", fixtures / "reports" / "summarization.csv")
    assert arabic[0].turns[0].startswith(SUMMARY_INSTRUCTIONS["ar"] + ANSWER_IN_ENGLISH)
    assert arabic[0].reference == "No acute process."


def test_report_files_bad_layouts(fixtures, tmp_path):
    with pytest.raises(FileNotFoundError, match=rf"{tmp_path}: no test.*MIMIC-CXR-JPG"):
        load_report_generation("en", tmp_path)
    (tmp_path / "test.findings.tok").write_text("a .\nb .\n", encoding="utf-8")
    (tmp_path / "test.impression.tok").write_text("a .\n", encoding="utf-8")
    with pytest.raises(ValueError, match="has 2 lines.*1.*line-parallel"):
        load_report_summarization("en", tmp_path)
    no_findings = tmp_path / "reports.csv"
    no_findings.write_text("study_id,report\n1,normal\n", encoding="utf-8")
    with pytest.raises(ValueError, match=rf"{no_findings}: no findings column"):
        load_report_generation("en", no_findings)
    with pytest.raises(ValueError, match="no validate items"):
        load_report_summarization("en", fixtures / "reports" / "summarization.csv", "validate")
