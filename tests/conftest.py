"""Shared fixtures: the real offline preview model (a PyPI package, no hub) and tiny
random models written in the real hub layouts by engine.tiny_models."""

from __future__ import annotations

import pytest


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
