"""Start the offline preview model on a real vLLM the way the app does, run tests/vllm
against it, stop it, and check that nothing of it is left.

    .venv/bin/python -m tests.vllm.serve_and_test [pytest options]     (scripts/test_vllm.sh)

The vLLM is the app's own managed one (engine/vllm_engine.py open_on_vllm: the preview's
dequantized Gemma-3-270M copied into its private folder, served as "preview" with our
transcript chat template, a random key, a private port, under engine/process_guard.py),
with one LoRA adapter of the preview (CPU builds of vLLM take LoRA) and vLLM's request log
on, which the Stop test reads. The tests reach the model the app
holds (tests/vllm/conftest.py MANAGED) and its server directly (URL and key).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import pytest

from engine.cards import CARDS
from engine.vllm_engine import open_on_vllm
from engine.vllm_managed import VllmSettings, group_alive
from tests.vllm import conftest
from tests.vllm.conftest import ADAPTER, KEY_VARIABLE, MODEL


def preview_adapter() -> Path:
    """A LoRA adapter of the preview (random, so it really changes the reply), served by name."""
    from engine.preview import ensure_preview_checkpoint
    from tests.engine.test_loading import make_adapter

    return make_adapter(ensure_preview_checkpoint(), Path(tempfile.mkdtemp(prefix="vllm-lora-")) / ADAPTER, seed=3)


def main(argv: list[str]) -> int:
    adapter = preview_adapter()
    started = time.monotonic()
    model = open_on_vllm(CARDS[MODEL], (adapter,), VllmSettings(extra_args=("--enable-log-requests",)))
    server = model.supervisor
    print(f"vLLM (managed) is up at {server.base_url} after {time.monotonic() - started:.0f} s "
          f"(log: {server.log_path})", file=sys.stderr, flush=True)
    conftest.MANAGED, conftest.ADAPTER_DIR = model, adapter
    os.environ.update(BIMEDIX_VLLM_URL=server.base_url, BIMEDIX_VLLM_LOG=str(server.log_path))
    os.environ[KEY_VARIABLE] = os.environ[model.endpoint.key_variable]
    try:
        code = pytest.main(["tests/vllm", *argv])
    finally:
        group = server.pid
        server.stop()
    if group_alive(group):
        print(f"vLLM's process group {group} outlived its stop", file=sys.stderr)
        return 1
    print("vLLM stopped: none of its processes is left", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
