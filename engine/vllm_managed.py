"""vLLM as an engine of the app: `vllm serve` started, watched and stopped by the app itself.

    server = ManagedVllm.for_card(card, adapters, settings)   # the command, from the card
    server.start()            # blocks until it answers (minutes on a CPU); VllmFailed if not
    endpoint = server.endpoint                                  # what the remote backend talks to
    ...
    server.stop()             # also at exit, after Ctrl-C or SIGTERM

What the card knows goes on the command line: the chat template of its prompt format
(engine/chat_templates, tested equal to engine/formats.py), the served name, the context
length, the dtype and 4-bit quantization (bitsandbytes) on a GPU, each adapter as a LoRA
module with the rank they need, the image limit of a vision model. It listens on a private
loopback port with a random API key (in its environment, never on a command line that
`ps` shows). A watcher thread, which also started it, restarts it when it dies (a few
times, then gives up and says so); people whose replies fail meanwhile are told, in their
language, that it is restarting (engine/remote.py). It runs in a process group of its own,
stopped as a group, under a guard (engine/process_guard.py) that Linux's parent-death
signal reaches, so the group ends with the app even when the app is killed with SIGKILL.
"""

from __future__ import annotations

import atexit
import ctypes
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from engine.adapters import adapter_name
from engine.cards import ModelCard
from engine.endpoints import Endpoint

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
VLLM_VARIABLE = "BIMEDIX_VLLM"  # the `vllm` command to run, where it is not found by itself
KEY_VARIABLE_PREFIX = "BIMEDIX_MANAGED_VLLM_KEY_"
LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)  # the values vLLM's --max-lora-rank takes
IMAGES_PER_PROMPT = 8  # as engine serve's MAX_IMAGES_PER_REQUEST
# Measured on this project's 2-core CPU (../shared/notes/vllm-cpu.md): 170 s, mostly
# torch.compile warm-up. A GPU start is model loading and CUDA graphs.
EXPECTED_START_S = {"cpu": 180, "gpu": 90}
STOP_WAIT_S = 30
HEALTH_EVERY_S, HEALTH_TIMEOUT_S, HEALTH_FAILURES = 10.0, 10.0, 3  # a hung server: restarted after ~1 min
PROGRESS_EVERY_S = 20.0  # how often a start in progress is said in the terminal
RESTART_WINDOW_S = 600


class VllmFailed(RuntimeError):
    """vLLM could not be started, or died too often; the message says why (one line)."""


@dataclass(frozen=True)
class VllmSettings:
    executable: str | None = field(default=None, metadata={
        "help": f"the vllm command; None: ${VLLM_VARIABLE}, else .venv-vllm/bin/vllm, else vllm on PATH"})
    gpu: bool = field(default=False, metadata={"help": "serve on the GPU (else vLLM's CPU build)"})
    start_timeout_s: float = field(default=900.0, metadata={"help": "longest wait for it to answer"})
    cpu_kv_cache_gb: float = field(default=2.0, metadata={"help": "KV cache on a CPU (VLLM_CPU_KVCACHE_SPACE)"})
    max_restarts: int = field(default=3, metadata={"help": "restarts after a crash within 10 minutes before giving up"})
    work_dir: Path | None = field(default=None, metadata={"help": "its log and model copy; None: a private temp folder"})
    extra_args: tuple[str, ...] = field(default=(), metadata={
        "help": "more `vllm serve` options (the tests add --enable-log-requests; never for real conversations)"})

    @property
    def expected_start_s(self) -> int:
        return EXPECTED_START_S["gpu" if self.gpu else "cpu"]


def find_vllm(explicit: str | None = None) -> str | None:
    """The vllm command: `explicit`, $BIMEDIX_VLLM, the project's .venv-vllm (as
    scripts/test_vllm.sh and scripts/run.sh make it), or `vllm` on PATH."""
    for candidate in (explicit, os.environ.get(VLLM_VARIABLE), ROOT / ".venv-vllm" / "bin" / "vllm"):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("vllm")


def vllm_found() -> bool:
    return find_vllm() is not None


def lora_rank(adapters: Sequence[str | Path]) -> int:
    """The smallest --max-lora-rank vLLM accepts that holds every adapter's rank."""
    ranks = [int(json.loads((Path(a) / "adapter_config.json").read_text(encoding="utf-8")).get("r", 8))
             for a in adapters]
    needed = max(ranks, default=8)
    return next((rank for rank in LORA_RANKS if rank >= needed), needed)


def lora_modules(adapters: Sequence[str | Path]) -> dict[str, str]:
    """Adapter name -> directory, named as the in-process engine names them."""
    named: dict[str, str] = {}
    for path in adapters:
        named[adapter_name(path, list(named))] = str(Path(path).resolve())
    return named


def served_weights(card: ModelCard, folder: Path) -> str:
    """What vLLM loads: a local directory as it is, the preview as a copy of its dequantized
    checkpoint (vLLM must not write into the app's cache), else the card's hub id."""
    if card.family == "preview":
        from engine.preview import ensure_preview_checkpoint

        copy = folder / "preview-weights"
        if not copy.exists():
            shutil.copytree(ensure_preview_checkpoint(), copy)
        return str(copy)
    return card.weights


def serve_command(executable: str, card: ModelCard, weights: str, adapters: dict[str, str], port: int,
                  gpu: bool) -> list[str]:
    """The `vllm serve` command line for a card (no secret on it: the key is in the environment)."""
    command = [executable, "serve", weights, "--host", "127.0.0.1", "--port", str(port),
               "--served-model-name", card.name, "--dtype", "auto" if gpu else "float32"]
    if card.prompt_format != "chat_template":  # our format, as a chat template vLLM renders
        from engine.chat_templates import template_path

        command += ["--chat-template", str(template_path(card.prompt_format))]
    if card.context_window:
        command += ["--max-model-len", str(card.context_window)]
    if gpu and card.load_in_4bit:
        command += ["--quantization", "bitsandbytes"]
    if adapters:
        command += ["--enable-lora", "--max-loras", str(len(adapters)), "--max-lora-rank",
                    str(lora_rank(list(adapters.values()))), "--lora-modules",
                    *(f"{name}={path}" for name, path in adapters.items())]
    if card.multimodal:
        command += ["--limit-mm-per-prompt", json.dumps({"image": IMAGES_PER_PROMPT})]
    return command


def serve_environment(key: str, settings: VllmSettings) -> dict[str, str]:
    environment = dict(os.environ, VLLM_API_KEY=key, VLLM_NO_USAGE_STATS="1", DO_NOT_TRACK="1")
    if not settings.gpu:  # ../shared/notes/vllm-cpu.md: both cores, a bounded KV cache
        environment.update(VLLM_CPU_KVCACHE_SPACE=f"{settings.cpu_kv_cache_gb:g}", VLLM_CPU_NUM_OF_RESERVED_CPU="0")
    return environment


def free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:
    """In the guard before exec: SIGTERM when the thread that started it ends (the app's
    supervisor thread, which lives as long as the app), also after the app's SIGKILL."""
    if sys.platform == "linux":
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class ManagedVllm:
    """One `vllm serve` process, its restarts and its stop. `state` is one of "starting",
    "ready", "restarting", "failed", "stopped"."""

    def __init__(self, command: list[str], environment: dict[str, str], port: int, served_name: str,
                 key: str, settings: VllmSettings, work_dir: Path):
        self.command, self.port, self.served_name, self.settings = command, port, served_name, settings
        self._environment, self._key, self.work_dir = environment, key, work_dir
        self.log_path = work_dir / "vllm.log"
        self.state, self.problem = "stopped", ""
        self._attempt_began = time.monotonic()  # when the process now starting was started
        self.restarts: list[float] = []
        self._process: subprocess.Popen | None = None
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def for_card(cls, card: ModelCard, adapters: Sequence[str | Path] = (),
                 settings: VllmSettings = VllmSettings()) -> "ManagedVllm":
        """Raises VllmFailed when there is no vLLM to run."""
        executable = find_vllm(settings.executable)
        if executable is None:
            raise VllmFailed("vLLM is not installed (bash scripts/run.sh --engine vllm installs it into .venv-vllm, "
                             f"or set {VLLM_VARIABLE} to the vllm command)")
        work_dir = Path(settings.work_dir or tempfile.mkdtemp(prefix="bimedix-vllm-"))
        work_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        port, key = free_loopback_port(), secrets.token_hex(16)
        command = serve_command(executable, card, served_weights(card, work_dir), lora_modules(adapters), port,
                                settings.gpu) + list(settings.extra_args)
        return cls(command, serve_environment(key, settings), port, card.name, key, settings, work_dir)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def first_start_pending(self) -> bool:
        """Whether it is on its first start: nothing can be asked of it yet (a restart is
        "restarting", said differently to the people waiting)."""
        return self.state == "starting"

    @property
    def pid(self) -> int | None:
        """The guard's process id, which is also its process group's (engine/process_guard.py)."""
        return self._process.pid if self._process is not None else None

    def endpoint(self, name: str, stop: tuple[str, ...] = (), multimodal: bool = False) -> Endpoint:
        """The remote backend's view of it; its key in a variable of this process alone."""
        variable = f"{KEY_VARIABLE_PREFIX}{self.port}"
        os.environ[variable] = self._key
        return Endpoint(name, self.base_url, self.served_name, api_key_env=variable, multimodal=multimodal,
                        stop=stop, timeout_s=600.0)

    def start(self) -> None:
        """Start it and wait until it answers. Raises VllmFailed with the reason."""
        self.begin()
        self.wait_ready()

    def begin(self) -> None:
        """Start it and return at once (the app serves its page meanwhile; `state` says
        "starting" until it answers, then "ready", or "failed" with `problem`)."""
        self._stopping.clear()
        self.state = "starting"
        self._attempt_began = time.monotonic()
        atexit.register(self.stop)
        # The supervisor thread starts every process (see _die_with_parent) and watches it.
        self._thread = threading.Thread(target=self._supervise, name=f"vllm-{self.port}", daemon=True)
        self._thread.start()

    def wait_ready(self) -> None:
        """Wait until the first start ends. Raises VllmFailed with the reason it failed."""
        with self._changed:
            self._changed.wait_for(lambda: self.state in ("ready", "failed", "stopped"))
        if self.state != "ready":
            raise VllmFailed(self.problem or "vLLM stopped while starting")

    def seconds_to_ready(self) -> int:
        """About how long until it answers (for the people waiting): the expected start
        less what has passed of this one, at least a few seconds while it is not up."""
        passed = time.monotonic() - self._attempt_began
        return max(5, round(self.settings.expected_start_s - passed))

    def stop(self) -> None:
        """Stop it and everything it started (its engine processes); idempotent."""
        self._stopping.set()
        self._end_process()
        self._set("stopped")

    def _supervise(self) -> None:
        while not self._stopping.is_set():
            problem = self._run_once()
            if self._stopping.is_set():
                return
            now = time.monotonic()
            self.restarts = [t for t in self.restarts if now - t < RESTART_WINDOW_S]
            if len(self.restarts) >= self.settings.max_restarts or self.state == "starting":
                # A first start that fails is said at once: the app then runs without it.
                self.problem = problem
                log.error("vLLM: %s; not restarting it (log: %s)", problem, self.log_path)
                self._set("failed")
                return
            self.restarts.append(now)
            log.warning("vLLM: %s; restarting it (%d of %d in 10 minutes)", problem, len(self.restarts),
                        self.settings.max_restarts)
            self._set("restarting")

    def _run_once(self) -> str:
        """Run one process until it ends; returns what ended it."""
        with self.log_path.open("a", encoding="utf-8") as output:
            # Through engine/process_guard.py, which ends vLLM's whole group when this app dies.
            self._attempt_began = time.monotonic()
            self._process = subprocess.Popen([sys.executable, "-m", "engine.process_guard", *self.command],
                                             cwd=ROOT, env=self._environment, stdout=output,
                                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                             start_new_session=True, preexec_fn=_die_with_parent)
        log.info("vLLM: started (pid %d), about %d s to answer; its log: %s", self._process.pid,
                 self.settings.expected_start_s, self.log_path)
        if not self._wait_until_up():
            if self._process.poll() is None:
                self._end_process()
                return f"vLLM did not answer within {self.settings.start_timeout_s:.0f} s"
            return f"vLLM exited while starting (code {self._process.returncode}): {self._last_line()}"
        self._set("ready")
        problem = self._watch_health()
        self._end_process()  # what it started, if it died alone (kill -9), or all of it when hung
        return problem

    def _watch_health(self) -> str:
        """Wait while it runs and answers /health; returns why it no longer does."""
        import httpx

        failures = 0
        while not self._stopping.is_set():
            try:
                code = self._process.wait(timeout=HEALTH_EVERY_S)
                return f"vLLM exited (code {code})"
            except subprocess.TimeoutExpired:
                pass
            try:
                healthy = httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=HEALTH_TIMEOUT_S).status_code == 200
            except httpx.HTTPError:
                healthy = False
            failures = 0 if healthy else failures + 1
            if failures >= HEALTH_FAILURES:
                return f"vLLM stopped answering /health ({failures} checks in a row)"
        return "stopped"

    def _wait_until_up(self) -> bool:
        import httpx

        deadline = time.monotonic() + self.settings.start_timeout_s
        said = time.monotonic()
        while time.monotonic() < deadline and not self._stopping.is_set():
            if self._process.poll() is not None:
                return False
            if time.monotonic() - said >= PROGRESS_EVERY_S:  # the terminal's progress line
                said = time.monotonic()
                log.info("vLLM: starting, %d s so far, about %d s more (%s)", said - self._attempt_began,
                         self.seconds_to_ready(), self._last_line())
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=2).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            self._stopping.wait(0.5)
        return False

    def _end_process(self) -> None:
        process = self._process
        if process is None:
            return
        for sig, wait in ((signal.SIGTERM, STOP_WAIT_S), (signal.SIGKILL, 10)):
            try:
                os.killpg(process.pid, sig)  # its group: the guard, the API server and its engine processes
            except ProcessLookupError:
                return
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                process.poll()  # reaps the guard: a zombie still counts in its group
                if not group_alive(process.pid):
                    return
                time.sleep(0.2)

    def _last_line(self) -> str:
        lines = [line for line in self.log_path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
        return (lines[-1] if lines else "no output")[:300]

    def _set(self, state: str) -> None:
        with self._changed:
            self.state = state
            self._changed.notify_all()


def group_alive(group: int) -> bool:
    """Whether any process of process group `group` is still there."""
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
