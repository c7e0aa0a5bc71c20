"""evaluate.generate on tiny models in process: answer files, batches, resume, settings,
conversations replayed turn by turn, images from --image-dir."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from PIL import Image
from typer.testing import CliRunner

from engine.generation import GenerationSettings
from engine.messages import Message
from engine.reply import ReplyOptions, reply
from evaluate.answers import answers_path, read_answers
from evaluate.generate import app, generate_answers
from evaluate.open_tasks import OpenItem, load_open_task

OPTIONS = ReplyOptions("en", GenerationSettings(temperature=0, max_new_tokens=6, repetition_penalty=1.0))


@pytest.fixture
def items(fixtures):
    return load_open_task("bimed-mbench", "en", fixtures / "bimed_mbench")


def run(model, items, path, options=OPTIONS, **kwargs):
    return generate_answers(model, items, path, options, model_name="tiny", progress=False, **kwargs)


def test_answers_are_written_with_their_settings_and_a_rerun_skips_them(tiny_llama, items, tmp_path):
    path = answers_path(tmp_path, "bimed-mbench", "en", "tiny")
    summary = run(tiny_llama, items, path, batch_size=3)
    assert (summary.answered, summary.skipped, summary.failed) == (4, 0, [])
    records = read_answers(path)
    assert [r.item_id for r in records] == ["0", "1", "2", "3"]
    assert all(len(r.answers) == 1 and r.finish_reasons[0] in ("done", "length", "stop_string") for r in records)
    assert records[0].settings["max_new_tokens"] == 6 and records[0].settings["reply_language"] == "en"
    assert records[0].reference == items[0].reference and records[0].meta["domain"] == "chest_xray"
    assert all(r.completion_tokens >= 1 and r.prompt_tokens > 0 for r in records)
    again = run(tiny_llama, items, path)
    assert (again.answered, again.skipped) == (0, 4) and len(read_answers(path)) == 4


def test_a_crash_mid_line_loses_only_that_item(tiny_llama, items, tmp_path):
    path = tmp_path / "answers.jsonl"
    run(tiny_llama, items, path)
    data = path.read_bytes()
    path.write_bytes(data[:-40])  # the last line torn by a crash
    assert [r.item_id for r in read_answers(path)] == ["0", "1", "2"]
    resumed = run(tiny_llama, items, path)
    assert (resumed.answered, resumed.skipped) == (1, 3)
    assert [r.item_id for r in read_answers(path)] == ["0", "1", "2", "3"]
    assert all(json.loads(line) for line in path.read_text(encoding="utf-8").splitlines())


def test_resuming_with_other_settings_is_refused(tiny_llama, items, tmp_path):
    path = tmp_path / "answers.jsonl"
    run(tiny_llama, items[:1], path)
    other = replace(OPTIONS, settings=replace(OPTIONS.settings, max_new_tokens=7))
    with pytest.raises(ValueError, match="max_new_tokens"):
        run(tiny_llama, items, path, other)


def test_a_batch_answers_as_each_item_alone_when_greedy(tiny_llama, items, tmp_path):
    run(tiny_llama, items, tmp_path / "batched.jsonl", batch_size=4)
    run(tiny_llama, items, tmp_path / "alone.jsonl", batch_size=1)
    batched, alone = read_answers(tmp_path / "batched.jsonl"), read_answers(tmp_path / "alone.jsonl")
    assert [r.answers for r in batched] == [r.answers for r in alone]


def test_conversations_are_replayed_with_the_models_own_replies(tiny_llama, tmp_path):
    conversations = [OpenItem("conversations", "en", "a", ("I have a cough.", "Should I worry?")),
                     OpenItem("conversations", "en", "b", ("My knee hurts.", "It is swollen too.", "What now?"))]
    run(tiny_llama, conversations, tmp_path / "c.jsonl", batch_size=2)
    first, second = read_answers(tmp_path / "c.jsonl")
    assert len(first.answers) == 2 and len(second.answers) == 3 and len(second.finish_reasons) == 3
    assert [m["role"] for m in second.transcript()] == ["user", "assistant"] * 3
    history = [Message("user", "My knee hurts."), Message("assistant", second.answers[0]),
               Message("user", "It is swollen too.")]
    alone = reply(tiny_llama, history, OPTIONS)
    assert "".join(chunk.text for chunk in alone).strip() == second.answers[1]


def test_images_come_from_the_image_folder_when_there(tiny_dirs, items, tmp_path):
    from engine.loading import load_model

    folder = tmp_path / "images"
    folder.mkdir()
    Image.new("RGB", (30, 30), (120, 10, 10)).save(folder / "fig_a.png")
    Image.new("RGB", (30, 30), (10, 120, 10)).save(folder / "fig_b.png")
    llava = load_model(str(tiny_dirs("llava")))
    summary = run(llava, items, tmp_path / "v.jsonl", image_dir=folder, batch_size=4)
    records = read_answers(tmp_path / "v.jsonl")
    assert [r.image_sent for r in records] == [True, True, True, False]
    assert summary.images_missing == ["missing.png"]
    # the image's features are in the prompt: the same question without it is shorter
    run(llava, items[:1], tmp_path / "t.jsonl")
    assert read_answers(tmp_path / "t.jsonl")[0].prompt_tokens < records[0].prompt_tokens


def test_a_text_only_model_answers_without_the_image(tiny_llama, items, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    Image.new("RGB", (8, 8)).save(folder / "fig_a.png")
    run(tiny_llama, items[:1], tmp_path / "a.jsonl", image_dir=folder)
    assert read_answers(tmp_path / "a.jsonl")[0].image_sent is False


def test_command_line(tiny_dirs, fixtures, tmp_path):
    model = str(tiny_dirs("llama"))
    arguments = ["--model", model, "--task", "bimed-mbench", "--lang", "ar", "--data", str(fixtures / "bimed_mbench"),
                 "--out", str(tmp_path), "--limit", "2", "--max-new-tokens", "4", "--quiet"]
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code == 0, result.output
    path = answers_path(tmp_path, "bimed-mbench", "ar", model)
    assert path.name == f"bimed-mbench-ar-{tiny_dirs('llama').name}.jsonl"
    records = read_answers(path)
    assert len(records) == 2 and all(r.lang == "ar" and r.settings["reply_language"] == "ar" for r in records)
    assert "2 answered, 0 already there" in result.output
    again = CliRunner().invoke(app, arguments)
    assert again.exit_code == 0 and "0 answered, 2 already there" in again.output


def test_command_line_says_what_is_wrong(tmp_path):
    result = CliRunner().invoke(app, ["--model", "preview", "--task", "uphill", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "needs --data" in result.output
    result = CliRunner().invoke(app, ["--model", "preview", "--task", "nope", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "unknown task" in result.output


def test_an_item_with_an_english_reference_is_answered_in_english(tiny_llama, tmp_path):
    item = OpenItem("report-summarization", "ar", "r1", ("لخّص النتائج التالية في انطباع موجز.",),
                    reference="No acute findings.", meta={"reference_lang": "en"})
    arabic = OpenItem("report-summarization", "ar", "r2", ("لخّص النتائج التالية.",), reference="لا شيء",
                      meta={"reference_lang": "ar"})
    run(tiny_llama, [item, arabic], tmp_path / "r.jsonl", replace(OPTIONS, reply_language="ar"), batch_size=2)
    assert [r.reply_language for r in read_answers(tmp_path / "r.jsonl")] == ["en", "ar"]


def test_the_image_folder_a_task_names_is_used_without_image_dir(tiny_dirs, tmp_path):
    from engine.loading import load_model

    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.new("RGB", (30, 30), (0, 0, 200)).save(folder / "scan.png")
    item = OpenItem("slake", "en", "q1", ("Is this a CT?",), "scan.png", "yes", {"image_dir": str(folder)})
    run(load_model(str(tiny_dirs("llava"))), [item], tmp_path / "s.jsonl")
    assert read_answers(tmp_path / "s.jsonl")[0].image_sent is True


def test_an_adapter_answers_and_is_named_on_every_line(tiny_dirs, fixtures, tmp_path):
    from tests.engine.test_loading import make_adapter

    model = tiny_dirs("llama")
    adapter = make_adapter(model, tmp_path / "radiology", seed=3)
    common = ["--model", str(model), "--task", "bimed-mbench", "--data", str(fixtures / "bimed_mbench"),
              "--limit", "2", "--max-new-tokens", "5", "--quiet"]
    assert CliRunner().invoke(app, [*common, "--out", str(tmp_path / "bare")]).exit_code == 0
    result = CliRunner().invoke(app, [*common, "--out", str(tmp_path / "tuned"), "--adapter", str(adapter)])
    assert result.exit_code == 0, result.output
    bare = read_answers(answers_path(tmp_path / "bare", "bimed-mbench", "en", str(model)))
    tuned = read_answers(answers_path(tmp_path / "tuned", "bimed-mbench", "en", str(model)))
    assert {r.adapter for r in tuned} == {"radiology"} and tuned[0].settings["adapter"] == "radiology"
    assert bare[0].adapter is None and [r.answers for r in bare] != [r.answers for r in tuned]
