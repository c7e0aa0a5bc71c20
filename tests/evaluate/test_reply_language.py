"""`python -m evaluate.reply_language` as a person runs it, on a tiny model (a subprocess),
and its scoring through the one engine call (in process, with a scripted token source)."""

from __future__ import annotations

import json
import subprocess
import sys
from functools import partial
from pathlib import Path

import engine.reply
import evaluate.reply_language as bench
from engine.generation import GenerationSettings
from engine.reply import ReplyOptions

ROOT = Path(__file__).resolve().parents[2]

CONVERSATIONS = {"conversations": [
    {"id": "fever", "messages": [
        {"role": "user", "content": "I have had a fever since Monday."},
        {"role": "assistant", "content": "Drink fluids and rest."},
        {"role": "user", "content": "هل أحتاج إلى مضاد حيوي؟"},
    ]},
    {"id": "cough", "messages": [{"role": "user", "content": "عندي سعال جاف منذ أسبوع"}]},
]}


def run(*args):
    return subprocess.run([sys.executable, "-m", "evaluate.reply_language", *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_runs_end_to_end_on_a_tiny_model(tiny_dirs, tmp_path):
    data = tmp_path / "conversations.json"
    data.write_text(json.dumps(CONVERSATIONS, ensure_ascii=False), encoding="utf-8")
    model = tiny_dirs("mixtral")  # the transcript format, which opens the reply in its language
    result = run("--model", model, "--data", data, "--max-new-tokens", "4", "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["model"] == model.name and payload["policy"] == "auto"
    assert payload["overall"]["n"] == 3 and payload["switched"]["n"] == 1
    assert {language: part["n"] for language, part in payload["per_language"].items()} == {"ar": 2, "en": 1}
    assert len(payload["misses"]) == 3 - payload["overall"]["hits"]
    assert "goal >= 95%" in result.stderr


def test_it_runs_on_the_engine_asked_for_and_refuses_an_unknown_one(tiny_dirs, tmp_path, monkeypatch):
    data = tmp_path / "conversations.json"
    data.write_text(json.dumps(CONVERSATIONS, ensure_ascii=False), encoding="utf-8")
    from tests.engine.standin_vllm import write_command

    monkeypatch.setenv("BIMEDIX_VLLM", str(write_command(tmp_path)))
    model = tiny_dirs("mixtral")
    result = run("--model", model, "--data", data, "--max-new-tokens", "4", "--json", "--engine", "vllm")
    assert result.returncode == 0, result.stderr
    assert "starting vLLM" in result.stderr and json.loads(result.stdout)["overall"]["n"] == 3
    refused = run("--model", model, "--data", data, "--engine", "tensorrt")
    assert refused.returncode == 2 and "tensorrt" in refused.stderr and "Traceback" not in refused.stderr


def test_the_shipped_conversations_switch_language_at_every_message():
    from engine.language import detect_language

    conversations = bench.load_conversations()
    assert 12 <= len(conversations) <= 24
    for messages in conversations.values():
        assert 2 <= len(messages) // 2 + 1 <= 4 and messages[-1].role == "user"
        users = [detect_language(m.content).language for m in messages if m.role == "user"]
        assert all(a != b for a, b in zip(users, users[1:])), users
    assert sum(case.switched for case in bench.cases(conversations)) == 35


def test_each_message_is_answered_through_the_engine_and_scored(tiny_dirs, tmp_path, monkeypatch):
    from engine.loading import load_model

    model = load_model(str(tiny_dirs("mixtral")))
    english = model.tokenizer(" Rest and drink plenty of water.", add_special_tokens=False)["input_ids"]
    calls = []

    def scripted_reply(model, messages, options):
        calls.append(list(messages))
        return engine.reply.reply(model, messages, options, backend=lambda request, stop: iter(english))

    monkeypatch.setattr(bench, "reply", scripted_reply)
    data = tmp_path / "conversations.json"
    data.write_text(json.dumps(CONVERSATIONS, ensure_ascii=False), encoding="utf-8")
    conversations = bench.load_conversations(data)
    options = ReplyOptions(settings=GenerationSettings(temperature=0, max_new_tokens=16))
    results = bench.run(model, conversations, options)
    assert [len(messages) for messages in calls] == [1, 3, 1]  # every user message, with its history
    assert [(r.conversation, r.turn, r.target, r.detected, r.switched) for r in results] == [
        ("fever", 0, "en", "en", False), ("fever", 1, "ar", "en", True), ("cough", 0, "ar", "en", False)]
    summary = bench.summarize(results)
    assert summary["overall"] == {"hits": 1, "n": 3, "share": 0.3333}
    assert summary["per_language"]["ar"]["share"] == 0.0 and summary["switched"]["hits"] == 0
    report = bench.report(summary, "tiny", "auto")
    assert "overall                   33.3%  (1/3)" in report and "miss fever#1: wanted ar, got en" in report
    forced = bench.summarize(bench.run(model, conversations, ReplyOptions(reply_language="en")))
    assert forced["overall"] == {"hits": 3, "n": 3, "share": 1.0} and list(forced["per_language"]) == ["en"]


def test_a_reply_with_no_language_of_its_own_is_a_miss():
    assert bench.language_of("") is None and bench.language_of("500 mg, 3x!") is None
    assert bench.language_of("الراحة والسوائل") == "ar" and bench.language_of("Rest.") == "en"
    scored = partial(bench.Scored, "c", 0, False, "ar", reply="")
    assert not scored(detected=None).hit and scored(detected="ar").hit
