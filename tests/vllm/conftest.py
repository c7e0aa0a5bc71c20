"""The tests against a real vLLM run only from scripts/test_vllm.sh (which serves the preview
model and sets BIMEDIX_VLLM_URL): the main suite leaves this folder out, and .ci/run runs
the script after it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

MODEL = "preview"
KEY_VARIABLE = "BIMEDIX_VLLM_KEY"
MANAGED = None  # the preview on the managed vLLM, as the app holds it (tests/vllm/serve_and_test.py)
ADAPTER = "clinic"  # the LoRA adapter it serves by name
ADAPTER_DIR = None  # ... and its folder


@pytest.fixture(scope="session")
def vllm_url() -> str:
    return os.environ["BIMEDIX_VLLM_URL"]


@pytest.fixture(scope="session")
def managed():
    """The RemoteModel the app holds for the preview on its own vLLM (supervisor included)."""
    return MANAGED


@pytest.fixture(scope="session")
def adapter_dir() -> Path:
    return ADAPTER_DIR


@pytest.fixture(scope="session")
def vllm_log() -> Path:
    return Path(os.environ["BIMEDIX_VLLM_LOG"])


def pytest_ignore_collect(collection_path, config):
    """Decided at collection time: scripts/test_vllm.sh sets the URL just before it runs pytest."""
    return collection_path.name.startswith("test_") and not os.environ.get("BIMEDIX_VLLM_URL")
