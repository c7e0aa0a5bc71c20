"""Data loading, validation (clear errors before training) and bilingual mixing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from datasets import Dataset

from train.config import SourceSettings
from train.data import DataError, load_source, parse_sample, prepare_source
from train.mixing import mix, split_eval, target_counts

FIXTURES = Path(__file__).parent / "fixtures"


def _turns(*pairs):
    return {"conversations": [{"from": speaker, "value": value} for speaker, value in pairs]}


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


def test_a_valid_multi_turn_sample_becomes_structured_messages():
    row = _turns(("human", "Hi"), ("gpt", "Hello!"), ("human", "Fever?"), ("gpt", "Rest.")) | {"system": "Be kind."}
    parsed = parse_sample(row)
    assert parsed.problems == []
    assert [(m["role"], m["content"]) for m in parsed.messages] == [
        ("system", "Be kind."), ("user", "Hi"), ("assistant", "Hello!"), ("user", "Fever?"), ("assistant", "Rest.")]


@pytest.mark.parametrize("row, expected", [
    ({"id": 3}, "no `conversations`"),
    (_turns(("human", "Hi")), "no gpt answer"),
    (_turns(("gpt", "Hello"), ("human", "Hi")), "expected a human turn, got gpt"),
    (_turns(("human", "Hi"), ("human", "Hi again"), ("gpt", "Hello")), "expected a gpt turn, got human"),
    (_turns(("human", "Hi"), ("gpt", "Hello"), ("human", "Bye")), "ends with a human turn"),
    (_turns(("human", "Hi"), ("gpt", "   ")), "turn 1 (gpt): empty value"),
    (_turns(("doctor", "Hi"), ("gpt", "Hello")), "`from` is 'doctor'"),
    ({"conversations": [{"from": "human"}, {"from": "gpt", "value": "x"}]}, "`value` is missing"),
    (_turns(("human", "Hi"), ("gpt", "Look: <image>")) | {"image": "x.png"}, "only allowed in human turns"),
    (_turns(("system", "A"), ("human", "Hi"), ("gpt", "Hello")) | {"system": "B"}, "got system"),
])
def test_broken_samples_say_what_is_wrong(row, expected):
    problems = parse_sample(row).problems
    assert any(expected in problem for problem in problems), problems


def test_images_are_checked_and_attached_to_their_turn():
    folder = str(FIXTURES / "images")
    row = _turns(("human", "What is this?\n<image>"), ("gpt", "An X-ray.")) | {"image": "chest.png"}
    parsed = parse_sample(row, folder)
    assert parsed.problems == []
    assert parsed.messages[0]["content"] == "What is this?"
    assert parsed.messages[0]["images"] == [str(FIXTURES / "images" / "chest.png")]
    missing = parse_sample(row | {"image": "lost.png"}, folder).problems
    assert any("image file not found" in p and "lost.png" in p for p in missing)
    unplaced = parse_sample(_turns(("human", "Hi"), ("gpt", "Hello")) | {"image": "chest.png"}, folder).problems
    assert any("0 <image> placeholder(s) in the text but 1 image(s)" in p for p in unplaced)
    text_only = parse_sample(row, folder, allow_images=False).problems
    assert any("reads text only" in p for p in text_only)


def test_a_bad_file_is_reported_with_every_sample_and_problem(tmp_path):
    path = _write_jsonl(tmp_path / "bad.jsonl", [
        _turns(("human", "Hi"), ("gpt", "Hello")),
        _turns(("human", "Hi")),
        _turns(("human", ""), ("gpt", "Hello")),
    ])
    with pytest.raises(DataError) as error:
        prepare_source(SourceSettings(str(path), language="en"), cache_dir=str(tmp_path / "cache"))
    message = str(error.value)
    assert "2 training sample(s) cannot be used" in message
    assert f"{path}: sample 1: missing turns" in message
    assert f"{path}: sample 2: turn 0 (human): empty value" in message
    assert "sample 0" not in message


def test_sources_load_from_json_jsonl_and_parquet_alike(tmp_path):
    en = load_source(SourceSettings(str(FIXTURES / "sft_en.jsonl")), str(tmp_path))
    en.to_parquet(str(tmp_path / "en.parquet"))
    parquet = load_source(SourceSettings(str(tmp_path / "en.parquet")), str(tmp_path))
    assert parquet["conversations"] == en["conversations"] and len(en) == 4
    assert len(load_source(SourceSettings(str(FIXTURES / "sft_ar.json"), max_samples=1), str(tmp_path))) == 1
    with pytest.raises(DataError, match="no such file"):
        load_source(SourceSettings(str(tmp_path / "missing.jsonl")))
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"conversations": [\n', encoding="utf-8")
    with pytest.raises(DataError, match=f"{broken}: cannot be read as a dataset"):
        load_source(SourceSettings(str(broken)), str(tmp_path))


def test_language_comes_from_the_source_then_the_sample_then_the_text(tmp_path):
    cache = str(tmp_path / "cache")
    detected = prepare_source(SourceSettings(str(FIXTURES / "sft_ar.json")), cache_dir=cache)
    assert detected["language"] == ["ar", "ar"]
    forced = prepare_source(SourceSettings(str(FIXTURES / "sft_ar.json"), language="en"), cache_dir=cache)
    assert forced["language"] == ["en", "en"]
    path = _write_jsonl(tmp_path / "tagged.jsonl", [_turns(("human", "Hi"), ("gpt", "Hello")) | {"language": "ar"},
                                                    _turns(("human", "Hi"), ("gpt", "Hello"))])
    assert prepare_source(SourceSettings(str(path)), cache_dir=cache)["language"] == ["ar", "en"]


def _pool(n_ar: int, n_en: int) -> Dataset:
    languages = ["ar"] * n_ar + ["en"] * n_en
    return Dataset.from_dict({"language": languages, "index": list(range(len(languages)))})


def test_mixing_keeps_the_arabic_english_ratio_without_repeating_samples():
    mixed, report = mix([_pool(10, 10)], {"ar": 1, "en": 2}, seed=1)
    assert report.used == {"ar": 5, "en": 10} and len(mixed) == 15
    assert len(set(mixed["index"])) == 15
    assert mixed["language"] != sorted(mixed["language"])  # shuffled, not grouped by language
    again, _ = mix([_pool(10, 10)], {"ar": 1, "en": 2}, seed=1)
    other, _ = mix([_pool(10, 10)], {"ar": 1, "en": 2}, seed=2)
    assert again["index"] == mixed["index"] and other["index"] != mixed["index"]
    assert target_counts({"ar": 100, "en": 50}, {"ar": 1, "en": 2}) == {"ar": 25, "en": 50}
    everything, _ = mix([_pool(3, 1), _pool(0, 2)], None, seed=0)
    assert sorted(everything["language"]) == ["ar"] * 3 + ["en"] * 3


def test_mixing_refuses_a_ratio_the_sources_cannot_meet():
    with pytest.raises(DataError, match="asks for Arabic samples but the sources have none"):
        mix([_pool(0, 5)], {"ar": 1, "en": 2}, seed=0)
    only_english, _ = mix([_pool(0, 5)], {"ar": 0, "en": 1}, seed=0)
    assert len(only_english) == 5


def test_eval_split_holds_out_a_fraction():
    train, held_out = split_eval(_pool(5, 15), 0.1, seed=0)
    assert len(held_out) == 2 and len(train) == 18
    assert not set(train["index"]) & set(held_out["index"])
    assert split_eval(_pool(1, 1), 0.0, seed=0)[1] is None
