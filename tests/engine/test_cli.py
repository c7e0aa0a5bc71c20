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
