"""Shared fixtures: the real offline preview model (a PyPI package, no hub), tiny random
models written in the real hub layouts by engine.tiny_models, servers in subprocesses, and
a real browser.

Browser tests use Debian's chromium through Playwright, one Playwright per test session
(a second one in the same process fails: its event loop is already running). Where
chromium or playwright is missing they are skipped with the reason, except in CI (the CI
variable is set), where a missing browser fails the run rather than letting browser tests
pass silently.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import pytest

# Nothing reaches a hub in tests. Set before any test module is imported: `datasets` and
# `huggingface_hub` read these once, at import, and collection imports every test module
# (with them train/ and evaluate/) before any fixture runs. Without this, `datasets` pings
# the hub's download counter the first time it builds a local JSON dataset on a machine.
for _variable in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_EVALUATE_OFFLINE"):
    os.environ.setdefault(_variable, "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM = os.environ.get("BIMEDIX_CHROMIUM", "/usr/bin/chromium")  # Debian's package
# The closed network refuses chromium's background connections; these keep it quiet.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


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


SCRIPTED_MODEL = "scripted-judge-1"


@pytest.fixture
def scripted(tmp_path):
    """start(script, model) -> (spec openai:MODEL@URL, stats()) of a scripted OpenAI-compatible
    server (tests/evaluate/scripted_judge.py, a real uvicorn subprocess) that lives for the test."""
    import json
    import sys

    import httpx

    from evaluate.servers import free_port, subprocess_server

    servers = []

    def start(script: dict, model: str = SCRIPTED_MODEL):
        path = tmp_path / f"script-{len(servers)}.json"
        path.write_text(json.dumps(script), encoding="utf-8")
        port = free_port()
        context = subprocess_server([sys.executable, "-m", "tests.evaluate.scripted_judge", str(path), str(port)],
                                    port, "/health", "scripted")
        context.__enter__()
        servers.append(context)
        url = f"http://127.0.0.1:{port}"
        return f"openai:{model}@{url}/v1", lambda: httpx.get(f"{url}/stats", timeout=5).json()

    yield start
    for context in servers:
        context.__exit__(None, None, None)


@pytest.fixture(scope="module")
def tiny_server(tiny_dirs):
    """`python -m engine serve` on the tiny Llama: (base URL, its model id: the folder's name)."""
    from evaluate.servers import engine_server

    model = tiny_dirs("llama")
    with engine_server(f"--model={model}") as url:
        yield url, model.name


def browser_unavailable() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -r requirements-test.txt)"
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} is missing (apt-get install -y chromium, or run bash scripts/test.sh as root)"
    return None


@pytest.fixture(scope="session")
def playwright_driver():
    reason = browser_unavailable()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests must run in CI: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call" and report.failed:
        item.stash[FAILED] = True
    return report


FAILED = pytest.StashKey[bool]()


@contextmanager
def browser_page(driver, profile: Path, request, name: str = ""):
    """A page in a fresh chromium profile (its own user-data-dir: a person of its own).
    A failed test leaves artifacts/failed-TEST[-NAME].png and the page's console."""
    context = driver.chromium.launch_persistent_context(
        str(profile), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
        viewport={"width": 1280, "height": 1000}, locale="en-US",
    )
    context.set_default_timeout(60_000)
    page = context.pages[0] if context.pages else context.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    try:
        yield page
    finally:
        if request.node.stash.get(FAILED, False):
            ARTIFACTS.mkdir(exist_ok=True)
            stem = f"failed-{request.node.name}{'-' + name if name else ''}"
            page.screenshot(path=str(ARTIFACTS / f"{stem}.png"), full_page=True)
            (ARTIFACTS / f"{stem}.console.txt").write_text("\n".join(console), encoding="utf-8")
        context.close()


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL for this test session (evaluate/servers.py); `new_database()` per test.
    Skipped with the reason where PostgreSQL is missing, except in CI, where that fails."""
    import tempfile

    from evaluate.servers import postgres_server, postgres_unavailable

    reason = postgres_unavailable()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL tests must run in CI: {reason}")
        pytest.skip(reason)
    with postgres_server(Path(tempfile.mkdtemp(prefix="bimedix-pg-"))) as server:
        yield server
