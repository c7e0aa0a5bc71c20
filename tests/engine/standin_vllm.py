"""A stand-in for the `vllm` command, for the supervisor's tests in the main suite (the real
vLLM is tested by scripts/test_vllm.sh): `serve MODEL_DIR --port P --served-model-name NAME
...` runs this project's own OpenAI-compatible server (`python -m engine serve`, a real HTTP
server) on MODEL_DIR under NAME, with vLLM's key variable, beside a child process of its own
as vLLM's engine process is, so that a stop that leaves a process behind is seen.

It writes its command line and whether VLLM_API_KEY reached it to STANDIN_RECORD (a file
per start), exits with code 3 at once when STANDIN_FAIL is set, and takes STANDIN_DELAY
seconds more to start (vLLM takes minutes).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def write_command(folder: Path) -> Path:
    """An executable `vllm` in `folder` that runs this stand-in (for $BIMEDIX_VLLM)."""
    root = Path(__file__).resolve().parents[2]
    script = folder / "vllm"
    script.write_text(f"#!/bin/sh\ncd {root}\nexec {sys.executable} -m tests.engine.standin_vllm \"$@\"\n")
    script.chmod(0o755)
    return script


def main(argv: list[str]) -> int:
    if os.environ.get("STANDIN_FAIL"):
        print("stand-in vLLM: failing on purpose", flush=True)
        return 3
    assert argv[0] == "serve", argv
    options = dict(zip(argv[2::2], argv[3::2]))
    record = os.environ.get("STANDIN_RECORD")
    if record:
        with open(record, "a", encoding="utf-8") as out:
            out.write(json.dumps({"argv": argv, "has_key": bool(os.environ.get("VLLM_API_KEY")),
                                  "pid": os.getpid()}) + "\n")
    # Served under NAME: engine serve names a local directory by its folder's name.
    named = Path(tempfile.mkdtemp(prefix="standin-")) / options["--served-model-name"]
    named.symlink_to(Path(argv[1]).resolve(), target_is_directory=True)
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])  # vLLM's engine process
    time.sleep(float(os.environ.get("STANDIN_DELAY", "0")))
    os.execv(sys.executable, [sys.executable, "-m", "engine", "serve", "--model", str(named), "--host",
                              "127.0.0.1", "--port", options["--port"], "--api-key-env", "VLLM_API_KEY",
                              "--max-concurrency", "4"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
