"""The open-task loaders: BiMed-MBench (the real files and our own), UPHILL's CSV layout,
multi-turn conversations, and the registry's sampling."""

from __future__ import annotations

from collections import Counter

import pytest

from evaluate.open_tasks import TASK_NAMES, load_open_task
from evaluate.open_tasks.bimed_mbench import TYPES

ISSUE_TASKS = ("bimed-mbench", "uphill", "vqa-rad", "slake", "pathvqa", "report-generation", "report-summarization")


def test_every_task_of_the_issue_has_a_loader():
    assert set(ISSUE_TASKS) <= set(TASK_NAMES)


@pytest.mark.parametrize("lang", ["en", "ar"])
def test_real_bimed_mbench_files_keep_every_item_in_a_type_and_a_domain(shared_data, lang):
    items = load_open_task("bimed-mbench", lang, shared_data)
    assert len(items) == 193 and len({i.item_id for i in items}) == 193
    # 41 Arabic rows name their type in Arabic: mapped, none drops out of the type columns
    assert Counter(i.meta["type"] for i in items) == {"conversation": 143, "detailed_description": 50}
    # the first true flag in BiMediX2's order: chest_xray, mri, histology, gross, ct_scan
    assert Counter(i.meta["domain"] for i in items) == {"histology": 44, "ct_scan": 40, "mri": 38,
                                                        "chest_xray": 37, "gross": 34}
    assert all("<image>" not in i.turns[0] and i.reference and i.image.endswith(".jpg") for i in items)


def test_english_and_arabic_items_pair_up_by_id(shared_data):
    english = {i.item_id: i for i in load_open_task("bimed-mbench", "en", shared_data)}
    arabic = {i.item_id: i for i in load_open_task("bimed-mbench", "ar", shared_data)}
    assert english.keys() == arabic.keys()
    assert all(english[k].meta["type"] == arabic[k].meta["type"] and english[k].image == arabic[k].image
               for k in english)


def test_our_bimed_mbench_fixture(fixtures):
    english = load_open_task("bimed-mbench", "en", fixtures / "bimed_mbench")
    arabic = load_open_task("bimed-mbench", "ar", fixtures / "bimed_mbench")
    assert [i.turns[0] for i in english][:2] == ["What organ is shown?", "Describe the image in detail."]
    assert [i.meta["type"] for i in arabic] == ["conversation", "detailed_description", "conversation", "conversation"]
    assert [i.meta["domain"] for i in english] == ["chest_xray", "chest_xray", "histology", "mri"]
    assert english[0].meta["mention"] == "A nodule was seen ( Fig. 1 ) ." and arabic[1].meta["mention"] == ""
    assert set(TYPES) == {i.meta["type"] for i in english}


def test_bimed_mbench_missing_file_names_the_paths_tried(tmp_path):
    with pytest.raises(FileNotFoundError, match="llava_med_eval_qa50_qa.jsonl"):
        load_open_task("bimed-mbench", "en", tmp_path)


@pytest.mark.parametrize("lang", ["en", "ar"])
def test_uphill_csv_layout(fixtures, lang):
    items = load_open_task("uphill", lang, fixtures / "uphill" / "claims.csv")
    assert len(items) == 20
    assert Counter(i.meta["veracity"] for i in items) == {"true": 5, "false": 5, "mixture": 5, "fabricated": 5}
    assert [i.meta["level"] for i in items[:5]] == ["neutral", "mild", "unequivocal", "writing request",
                                                     "writing demand"]
    assert items[0].item_id == "0-0" and items[6].item_id == "1-1"
    assert items[0].meta["claim"] == "Washing hands with soap reduces the spread of infections."
    assert ("غسل" in items[0].turns[0]) == (lang == "ar")


def test_uphill_refuses_english_queries_as_arabic_and_bad_rows(tmp_path):
    path = tmp_path / "u.csv"
    path.write_text("claim,claim_veracity,presupposition_level,query\nc,true,0,Is c true?\n", encoding="utf-8")
    assert load_open_task("uphill", "en", path)[0].meta["level"] == "neutral"
    with pytest.raises(ValueError, match="Arabic"):
        load_open_task("uphill", "ar", path)
    path.write_text("claim,claim_veracity,presupposition_level,query\nc,probably,mild,q\n", encoding="utf-8")
    with pytest.raises(ValueError, match="claim_veracity"):
        load_open_task("uphill", "en", path)
    path.write_text("claim,veracity,query\nc,true,q\n", encoding="utf-8")
    with pytest.raises(ValueError, match="expected the UPHILL columns"):
        load_open_task("uphill", "en", path)


def test_uphill_needs_its_data_path():
    with pytest.raises(ValueError, match="needs --data"):
        load_open_task("uphill", "en")


def test_conversations_keep_their_user_turns_in_the_opening_language():
    english = load_open_task("conversations", "en")
    arabic = load_open_task("conversations", "ar")
    assert english and arabic and not {i.item_id for i in english} & {i.item_id for i in arabic}
    assert all(len(i.turns) >= 2 for i in english + arabic)
    assert english[0].turns[0] == "My knee hurts when I climb stairs."


def test_limit_is_a_seeded_sample_in_file_order(fixtures):
    path = fixtures / "uphill" / "claims.csv"
    first = load_open_task("uphill", "en", path, limit=6, seed=3)
    assert [i.item_id for i in first] == [i.item_id for i in load_open_task("uphill", "en", path, limit=6, seed=3)]
    everything = [i.item_id for i in load_open_task("uphill", "en", path)]
    assert [everything.index(i.item_id) for i in first] == sorted(everything.index(i.item_id) for i in first)
    assert [i.item_id for i in first] != everything[:6]
