"""Starting the app again while it runs (issue 27, item 1): the second start emptied the
running app's folder (its exports and examples gone, the folder back world-readable)
before dying with Gradio's raw traceback. Now it is refused first, in plain words, and
every folder of the app is its user's alone whatever the umask it was started with.

Real app.py processes, each with its output in artifacts/ (evaluate/servers.py)."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from evaluate.servers import ARTIFACTS, ROOT, free_port, stop, wait_until_up

START_S = 300


def app_env(base: Path) -> dict:
    return dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", PYTHONPATH=str(ROOT), BIMEDIX_TEMP_DIR=str(base))


def start_app(base: Path, port: int, *args: str, umask: int = 0o022) -> tuple[subprocess.Popen, Path]:
    """app.py ARGS on `port`, started under `umask`, its instance folder in `base`; waited for."""
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / f"second-start-{port}.log"
    with log_path.open("w", encoding="utf-8") as log:
        server = subprocess.Popen([sys.executable, "app.py", "--port", str(port), "--no-arena", *args], cwd=ROOT,
                                  env=app_env(base), stdout=log, stderr=subprocess.STDOUT,
                                  preexec_fn=lambda: os.umask(umask))
    wait_until_up(f"http://127.0.0.1:{port}/", server, log_path, START_S)
    return server, log_path


@pytest.fixture(scope="module")
def first_app(tiny_dirs, tmp_path_factory):
    """The app on a tiny Llama, started under umask 000, its base folder made beforehand
    world-readable (as an older version, or another tool, left it)."""
    base = tmp_path_factory.mktemp("second-start") / "bimedix-chat"
    base.mkdir()
    base.chmod(0o755)
    port = free_port()
    server, _ = start_app(base, port, "--model", str(tiny_dirs("llama")), umask=0)
    try:
        yield base, port
    finally:
        stop(server)


def files_under(folder: Path) -> set[str]:
    return {str(path.relative_to(folder)) for path in folder.rglob("*")}


def test_a_second_start_on_a_busy_port_is_refused_in_plain_words_and_the_first_keeps_its_files(first_app, tiny_dirs):
    base, port = first_app
    folder = base / f"port-{port}"
    before = files_under(folder)
    assert "examples/chest-xray-synthetic.png" in before

    second = subprocess.run([sys.executable, "app.py", "--port", str(port), "--model", str(tiny_dirs("llama"))],
                            cwd=ROOT, env=app_env(base), capture_output=True, text=True, timeout=START_S)
    assert second.returncode != 0
    assert "Traceback" not in second.stderr + second.stdout
    english = [line for line in second.stderr.splitlines() if line.startswith(f"Port {port} ")]
    assert english == [f"Port {port} is already in use (is BiMediX Chat already running?). "
                       f"Start with --port {port + 1}, or stop the other app first."]
    assert any(f"--port {port + 1}" in line and "المنفذ" in line for line in second.stderr.splitlines())

    assert files_under(folder) == before  # nothing of the first instance deleted
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert (folder / "examples" / "chest-xray-synthetic.png").is_file()
    assert httpx.get(f"http://127.0.0.1:{port}/", timeout=30).status_code == 200


def test_every_folder_and_file_of_the_app_is_its_users_alone_under_umask_000(first_app):
    base, port = first_app
    folder = base / f"port-{port}"
    assert stat.S_IMODE(base.stat().st_mode) == 0o700  # was 0755: tightened
    for path in [folder, *folder.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        assert mode & 0o077 == 0, f"{path} is {oct(mode)}"
    for name in ("", "gradio", "examples"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o700, name


def test_a_model_that_cannot_load_falls_back_to_the_preview_says_why_and_sigterm_deletes_only_its_folder(
        first_app, preview):
    base, first_port = first_app
    port = free_port()
    server, log_path = start_app(base, port, "--model", "/nonexistent/dir")
    try:
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=30)
        assert page.status_code == 200
        config = httpx.get(f"http://127.0.0.1:{port}/config", timeout=30).text
        assert "could not be loaded" in config and "The offline preview model is running instead." in config
        assert "/nonexistent" not in config  # the card names the model, never a server path
        assert (base / f"port-{port}").is_dir()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    assert "KeyError" not in log_path.read_text(encoding="utf-8")
    assert not (base / f"port-{port}").exists()  # its own folder, deleted at the stop
    assert (base / f"port-{first_port}" / "examples" / "chest-xray-synthetic.png").is_file()


def test_a_first_model_that_needs_a_gpu_falls_back_to_a_preview_the_page_can_name(tiny_dirs):
    from engine.loading import load_model
    from engine.pool import ModelPool, ModelSpec

    tiny = load_model(str(tiny_dirs("llama")))
    pool = ModelPool([ModelSpec("bimedix-bi")], has_gpu=lambda: False, loader=lambda *args, **kwargs: tiny)
    loaded, problem = pool.start()
    assert loaded is tiny and problem.code == "model_needs_gpu" and pool.default == "preview"
    assert pool.public_name(pool.default) == "preview"  # was a KeyError: the page could not be built
    assert [pool.public_name(name) for name in pool.names()] == ["bimedix-bi", "preview"]
