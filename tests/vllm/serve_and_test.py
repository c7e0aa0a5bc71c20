"""Serve the offline preview model with a real vLLM, run tests/vllm against it, stop it.

    .venv/bin/python -m tests.vllm.serve_and_test [pytest options]     (scripts/test_vllm.sh)

The model is the preview's dequantized Gemma-3-270M (a copy of the safetensors folder in
the preview cache: vLLM must not touch the cache), served under the name "preview" with
our transcript chat template and an API key.
"""

from __future__ import annotations

import os
import secrets
import sys
import tempfile
from pathlib import Path

import pytest

from engine.chat_templates import template_path
from evaluate.servers import preview_copy, vllm_server
from tests.vllm.conftest import KEY_VARIABLE, MODEL


def main(argv: list[str]) -> int:
    key = os.environ.setdefault(KEY_VARIABLE, secrets.token_hex(16))
    with tempfile.TemporaryDirectory(prefix="bimedix-vllm-") as folder:
        model_dir = preview_copy(Path(folder), MODEL)
        print(f"starting vLLM on {model_dir} (about 3 minutes)...", file=sys.stderr, flush=True)
        template = template_path("transcript")
        with vllm_server(model_dir, MODEL, template, api_key=key, log_requests=True) as (url, log_path):
            os.environ.update(BIMEDIX_VLLM_URL=url, BIMEDIX_VLLM_LOG=str(log_path))
            print(f"vLLM is up at {url} (log: {log_path})", file=sys.stderr, flush=True)
            return pytest.main(["tests/vllm", *argv])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
