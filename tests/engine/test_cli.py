"""`python -m engine ...` as a person runs it, in a subprocess."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(*args, stdin=""):
    return subprocess.run([sys.executable, "-m", "engine", *args], input=stdin, capture_output=True,
                          text=True, cwd=ROOT, timeout=300)


def test_chat_streams_replies_for_each_line(preview):
    result = run("chat", "--model", "preview", "--temperature", "0", "--max-new-tokens", "6",
                 stdin="What is a fever?\n\nما هي الحمى؟\n/clear\nok\n/exit\nnot read\n")
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 3  # one reply line per message, none for commands
    assert "not a medical model" in result.stderr


def test_chat_reports_bad_options():
    result = run("chat", "--lang", "fr")
    assert result.returncode != 0 and "--lang" in result.stderr


def test_prompt_prints_the_rendered_prompt_and_token_count(tmp_path, preview):
    messages = tmp_path / "conversation.json"
    messages.write_text(json.dumps([
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "عندي صداع"},
        {"role": "assistant", "content": "منذ متى؟"},
        {"role": "user", "content": "<end_of_turn> since Monday"},
    ], ensure_ascii=False), encoding="utf-8")
    result = run("prompt", "--model", "preview", "--messages", str(messages))
    assert result.returncode == 0, result.stderr
    expected = "sys\n\nUser: عندي صداع\nAssistant: منذ متى؟\nUser: <end_of_turn> since Monday\nAssistant:"
    assert result.stdout.startswith(expected + "\n")
    count = int(result.stdout.rsplit("tokens:", 1)[1])
    text_tokens = len(preview.tokenizer(expected, split_special_tokens=True)["input_ids"])
    assert count == text_tokens  # BOS + the text, with the typed <end_of_turn> as plain text


def test_prompt_with_a_named_format(tmp_path):
    messages = tmp_path / "m.json"
    messages.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}]}))
    result = run("prompt", "--model", "preview", "--format", "vicuna", "--messages", str(messages))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].endswith("USER: hi ASSISTANT:")


def test_chat_lists_and_switches_adapters(tiny_dirs, tmp_path):
    from tests.engine.test_loading import make_adapter

    directory = tiny_dirs("llama")
    first = make_adapter(directory, tmp_path / "first", seed=1)
    second = make_adapter(directory, tmp_path / "second", seed=2)
    result = run("chat", "--model", str(directory), "--adapter", str(first), "--adapter", str(second),
                 "--temperature", "0", "--max-new-tokens", "4",
                 stdin="/adapter\n/adapter first\nhello\n/adapter none\n/adapter nope\n")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("adapters:") or "nope" in line]
    assert lines[0] == "adapters: first, second; active: second"
    assert lines[1] == "adapters: first, second; active: first"
    assert lines[2] == "adapters: first, second; active: none"
    assert "no adapter named 'nope'" in lines[3]


def test_chat_attaches_images_to_the_next_turn(tiny_dirs, tmp_path):
    from PIL import Image

    Image.new("RGB", (40, 40), "red").save(tmp_path / "red.png")
    Image.new("RGB", (40, 40), "blue").save(tmp_path / "blue.jpg")
    (tmp_path / "notes.png").write_text("not an image")
    result = run("chat", "--model", str(tiny_dirs("llava")), "--image", str(tmp_path / "red.png"),
                 "--temperature", "0", "--max-new-tokens", "3",
                 stdin=f"what is this?\n/image {tmp_path / 'notes.png'}\n/image {tmp_path / 'blue.jpg'}\n"
                       "وهذه؟\n")
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("(attached: ") == 2
    rejection = next(line for line in result.stderr.splitlines() if line.startswith("notes.png:"))
    assert "not an image" in rejection and "ليس صورة" in rejection
    assert len(result.stdout.splitlines()) == 2


def test_text_model_given_an_image_refuses_it_and_sends_nothing(tmp_path, preview):
    """The message with the image is not sent (no reply that pretends to see it); the
    next line, text alone, is answered."""
    from PIL import Image

    Image.new("RGB", (40, 40), "red").save(tmp_path / "red.png")
    result = run("chat", "--model", "preview", "--image", str(tmp_path / "red.png"),
                 "--temperature", "0", "--max-new-tokens", "3", stdin="ما هذا؟\nما هذا؟\n")
    assert result.returncode == 0, result.stderr
    assert "لا يستطيع رؤية الصور" in result.stderr
    assert len(result.stdout.splitlines()) == 1  # one reply: to the text alone


def test_prompt_counts_image_tokens(tiny_dirs, tmp_path):
    messages = tmp_path / "m.json"
    messages.write_text(json.dumps([{"role": "user", "content": "ما هذا؟", "images": ["a.png", "b.png"]}]))
    result = run("prompt", "--model", str(tiny_dirs("llava")), "--messages", str(messages))
    assert result.returncode == 0, result.stderr
    assert "<image>\n<image>\nما هذا؟" in result.stdout
    assert "images: 2 x 4 tokens" in result.stdout


def test_chat_says_its_commands_at_the_start_and_on_help_in_both_languages(tiny_dirs):
    from engine.errors import notice

    result = run("chat", "--model", str(tiny_dirs("llama")), "--temperature", "0", "--max-new-tokens", "3",
                 stdin="/help\n/exit\n")
    assert result.returncode == 0, result.stderr
    for lang in ("en", "ar"):
        assert result.stderr.count(notice("cli_commands", lang)) == 2  # at the start, then for /help
    for command in ("/image", "/clear", "/help", "/exit"):
        assert command in notice("cli_commands", "en") and command in notice("cli_commands", "ar")
    assert result.stdout == ""  # /help is a command, not a message to the model


def test_chat_replies_do_not_start_with_the_separator_space(preview):
    result = run("chat", "--model", "preview", "--temperature", "0", "--max-new-tokens", "6",
                 stdin="What is a fever?\nما هي الحمى؟\n")
    assert result.returncode == 0, result.stderr
    replies = result.stdout.splitlines()
    assert len(replies) == 2 and all(reply and not reply[0].isspace() for reply in replies), replies


def test_chat_says_which_frame_of_a_dicom_series_the_model_sees(tiny_dirs, tmp_path):
    from tests.engine.test_reply import three_frame_dicom

    series = three_frame_dicom(tmp_path / "series.dcm")
    result = run("chat", "--model", str(tiny_dirs("llava")), "--image", str(series), "--lang", "en",
                 "--temperature", "0", "--max-new-tokens", "3", stdin="what is this?\n")
    assert result.returncode == 0, result.stderr
    assert "3 frames; the model sees only frame 2" in result.stderr
