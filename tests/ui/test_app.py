"""The app as a person starts it: a real server on 127.0.0.1, spoken to over HTTP."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def app_url(preview):  # preview: make sure the model cache is warm before the server starts
    port = free_port()
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False")
    server = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 180
    while time.time() < deadline:
        if server.poll() is not None:
            raise RuntimeError("app exited:\n" + server.stdout.read())
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.5)
    else:
        server.kill()
        raise RuntimeError("app did not start")
    yield url
    server.terminate()
    server.wait(timeout=30)


def test_chat_box_answers_in_both_languages(app_url):
    from gradio_client import Client

    client = Client(app_url, verbose=False)
    for text in ["What is anemia?", "ما هو فقر الدم؟"]:
        history, cleared, *_ = client.predict(text, [], "auto", 0.0, 16, api_name="/respond")
        assert cleared == ""
        assert history[0]["role"] == "user" and text in str(history[0]["content"])
        assert history[1]["role"] == "assistant"


def test_empty_message_does_not_break_the_chat(app_url):
    from gradio_client import Client

    client = Client(app_url, verbose=False)
    history, *_ = client.predict("   ", [], "auto", 0.0, 16, api_name="/respond")
    assert history == []
    history, *_ = client.predict("hello", [], "auto", 0.0, 16, api_name="/respond")
    assert len(history) == 2


def test_gpu_cards_fall_back_to_the_preview_on_a_cpu_machine(monkeypatch):
    import torch

    from app import load_with_fallback

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    loaded, reason = load_with_fallback("bimedix-bi", [], None)
    assert loaded.card.name == "preview"
    assert "needs a GPU" in reason
