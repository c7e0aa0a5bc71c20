"""scripts/_venv.sh: pip runs only when the requirement files changed (a start without it is
about 8 s faster), and always after they change."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_requirements_are_installed_again_only_when_they_change(tmp_path):
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "_venv.sh", tmp_path / "scripts" / "_venv.sh")
    (tmp_path / "requirements.txt").write_text("gradio==6.31.0\n")
    (tmp_path / "requirements-test.txt").write_text("-r requirements.txt\npytest\n")
    fake_python = tmp_path / ".venv" / "bin" / "python"
    fake_python.parent.mkdir(parents=True)
    fake_python.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/pip.log\n')  # stands in for the venv's pip
    fake_python.chmod(0o755)

    def start(requirements: str) -> int:
        subprocess.run(["bash", "-c", f"source scripts/_venv.sh; install_requirements {requirements}"],
                       cwd=tmp_path, check=True)
        log = tmp_path / "pip.log"
        return len(log.read_text().splitlines()) if log.exists() else 0

    assert start("requirements.txt") == 1
    assert start("requirements.txt") == 1  # unchanged: pip is not run again
    assert start("requirements-test.txt") == 2  # the other file has its own stamp
    (tmp_path / "requirements.txt").write_text("gradio==6.32.0\n")
    assert start("requirements.txt") == 3  # changed (also through an include): installed again
    assert start("requirements-test.txt") == 4
