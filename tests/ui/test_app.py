"""The app as a person starts it: a real server on 127.0.0.1, spoken to over HTTP (gradio_client).

Each gradio_client Client is one browser session, with its own conversation on the server.
"""

import json
import re
import threading
from pathlib import Path

import httpx
import pytest

from engine.pool import ModelPool

SHORT = {"reply_language": "auto", "temperature": 0.0, "top_p": 0.9, "max_new_tokens": 8,
         "repetition_penalty": 1.0, "seed": -1, "adapter": "none"}


def client_for(url):
    from gradio_client import Client

    return Client(url, verbose=False)


def say(client, text, files=(), ui_lang="en", **settings):
    from gradio_client import handle_file

    message = {"text": text, "files": [handle_file(str(f)) for f in files]}
    history, box = client.predict(message, **{**SHORT, **settings}, ui_lang=ui_lang, api_name="/respond")
    return history, box


def texts(history):
    """The text of each message as shown (its HTML, with the message's dir and lang)."""
    return [" ".join(part.get("text", "") for part in message["content"]) for message in history]


@pytest.mark.slow
def test_chat_box_answers_in_both_languages(app_url):
    client = client_for(app_url)
    say(client, "What is anemia?")
    history, _ = say(client, "ما هو فقر الدم؟")
    assert [m["role"] for m in history] == ["user", "assistant"] * 2
    shown = texts(history)
    assert "What is anemia?" in shown[0] and 'dir="ltr"' in shown[0]
    assert "ما هو فقر الدم؟" in shown[2] and 'dir="rtl" lang="ar"' in shown[2]


@pytest.mark.slow
def test_empty_message_does_not_break_the_chat(app_url):
    client = client_for(app_url)
    history, box = say(client, "   ")
    assert history == [] and box["text"] == "   "  # nothing sent; the input is given back as typed
    history, _ = say(client, "hello")
    assert len(history) == 2


@pytest.mark.slow
def test_markup_typed_by_a_user_is_shown_as_text(app_url):
    history, _ = say(client_for(app_url), "<img src=x onerror=alert(1)> is this <b>bold</b>?")
    assert "&lt;img src=x onerror=alert(1)&gt;" in texts(history)[0]
    assert "<b>" not in texts(history)[0]


@pytest.mark.slow
def test_two_sessions_never_see_each_other(app_url):
    first, second = client_for(app_url), client_for(app_url)
    results = {}

    def chat(name, client, text):
        results[name] = say(client, text)[0]

    threads = [threading.Thread(target=chat, args=("first", first, "First patient: I have a rash.")),
               threading.Thread(target=chat, args=("second", second, "المريض الثاني: عندي سعال."))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Both replies arrive (the queue runs them one after the other on the shared model)...
    assert len(results["first"]) == len(results["second"]) == 2
    # ...and each window holds only its own conversation, then and later.
    assert "rash" in texts(results["first"])[0] and "سعال" not in " ".join(texts(results["first"]))
    assert "rash" not in " ".join(texts(say(second, "وماذا بعد؟")[0]))


@pytest.mark.slow
def test_regenerate_replaces_only_the_last_reply(app_url):
    client = client_for(app_url)
    say(client, "What is a fever?")
    history, _ = say(client, "وما علاجها؟")
    again = client.predict(**{**SHORT, "temperature": 1.0, "seed": 3}, ui_lang="en", api_name="/regenerate")
    assert len(again) == 4 and texts(again)[:3] == texts(history)[:3]
    assert [m["role"] for m in again] == ["user", "assistant"] * 2


@pytest.mark.slow
def test_export_keeps_both_languages(app_url):
    from gradio_client import Client

    browser = {"bimedix_browser": "a-browser-id"}  # what a browser keeps after its first page load
    client = Client(app_url, verbose=False, httpx_kwargs={"cookies": browser})
    say(client, "What is anemia?")
    say(client, "ما هو فقر الدم؟")
    shown = client.predict("ar", api_name="/export")  # an update: the download links become visible
    assert shown["visible"] is True and "/tmp" not in shown["value"]  # links by name, no server path
    links = re.findall(r'href="([^"]+)"', shown["value"])
    assert all(httpx.get(app_url + link).status_code == 404 for link in links)  # not for another browser
    files = {Path(link).suffix: httpx.get(app_url + link, cookies=browser) for link in links}
    record = json.loads(files[".json"].content.decode("utf-8"))
    assert [m["content"] for m in record["messages"] if m["role"] == "user"] == ["What is anemia?", "ما هو فقر الدم؟"]
    assert [m["language"] for m in record["messages"]][::2] == ["en", "ar"]
    markdown = files[".md"].content.decode("utf-8")
    assert "ما هو فقر الدم؟" in markdown and "## المستخدم" in markdown
    assert httpx.get(app_url + links[0], cookies=browser).status_code == 404  # served once, then deleted


@pytest.mark.slow
def test_an_image_on_the_text_only_preview_is_refused_not_answered(app_url):
    """Issue 27 item 2, through the app's API: the preview cannot see images, so no reply
    is written about one (it would invent findings); the message stays in its box."""
    image = Path(__file__).resolve().parents[2] / "assets" / "examples" / "chest-xray-synthetic.png"
    history, box = say(client_for(app_url), "What is this?", files=[image])
    assert history == [] and box["text"] == "What is this?"
    assert len(box["files"]) == 1  # the picture waits for "Send without the image" or another model


def test_gpu_cards_fall_back_to_the_preview_on_a_cpu_machine(monkeypatch):
    import torch

    from app import model_specs

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    pool = ModelPool(model_specs(["bimedix-bi"], [], None))
    loaded, problem = pool.start()
    assert loaded.card.name == "preview" and pool.default == "preview"
    assert problem.code == "model_needs_gpu"
    assert "needs a GPU" in problem.message("en") and "GPU" in problem.message("ar")
    assert pool.names() == ["bimedix-bi", "preview"]  # still offered: choosing it says why it cannot run


def test_models_come_from_repeated_options_or_a_comma_separated_variable():
    from app import model_specs

    specs = model_specs(["bimedix2-8b,preview", "preview", "/models/mine"], ["/adapters/a"], True)
    assert [spec.name for spec in specs] == ["bimedix2-8b", "preview", "/models/mine"]
    assert specs[0].adapters == ("/adapters/a",) and specs[1].adapters == ()
    assert all(spec.load_in_4bit for spec in specs)

def test_serving_beyond_loopback_needs_a_login_or_says_it_is_open():
    import os
    import subprocess
    import sys

    from app import exposure_problem

    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        assert exposure_problem(host, [], False, environ={}) is None
    assert "--auth" in exposure_problem("0.0.0.0", [], False, environ={})
    assert exposure_problem("0.0.0.0", ["ana:secret"], False, environ={}) is None
    assert exposure_problem("0.0.0.0", [], True, environ={}) is None
    assert exposure_problem("0.0.0.0", [], False, environ={"SPACE_ID": "me/bimedix"}) is None  # Spaces front it
    refused = subprocess.run([sys.executable, "app.py", "--host", "0.0.0.0"], cwd=Path(__file__).resolve().parents[2],
                             capture_output=True, text=True, timeout=120, env={**os.environ, "SPACE_ID": ""})
    assert refused.returncode == 2 and "no login" in refused.stderr  # refused before any model loads


def test_a_bad_endpoints_file_or_remote_model_stops_the_start_with_the_reason(tmp_path):
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    (tmp_path / "endpoints.yaml").write_text("- name: gpu\n  model: bimedix2\n", encoding="utf-8")
    for args, reason in ((["--endpoints", str(tmp_path / "endpoints.yaml")], "needs name, base_url and model"),
                         (["--endpoints", str(tmp_path / "missing.yaml")], "missing.yaml"),
                         (["--model", "openai:bimedix2"], "openai:MODEL@BASE_URL")):
        refused = subprocess.run([sys.executable, "app.py", *args], cwd=root, capture_output=True, text=True, timeout=120)
        assert refused.returncode == 2 and reason in refused.stderr
