"""The app as a person starts it (app.py on 127.0.0.1), and a real browser to drive it.

Browser tests use Debian's chromium through Playwright. Where chromium or playwright is
missing they are skipped with the reason, except in CI (the CI variable is set), where a
missing browser fails the run rather than letting browser tests pass silently.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import pytest

from evaluate.servers import app_server

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
ARENA_ADMIN_CODE = "organiser-4711"
CHROMIUM = os.environ.get("BIMEDIX_CHROMIUM", "/usr/bin/chromium")  # Debian's package
# The closed network refuses chromium's background connections; these keep it quiet.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def running_app(*args: str):
    """Start `app.py ARGS` on a free port; yield its URL; stop it (its output goes to
    artifacts/app-PORT.log: evaluate/servers.py)."""
    return app_server(*args)


@pytest.fixture(scope="session")
def app_url(preview):  # preview: the model cache is warm before the server starts
    with running_app() as url:
        yield url


@pytest.fixture(scope="session")
def llava_app_url(tiny_dirs, tmp_path_factory):
    """The app on a tiny random Llava (images really reach a vision model, quickly), with
    a tiny text-only Llama offered in the model selector, and so an arena of the two,
    voting into a fresh SQLite file."""
    database = tmp_path_factory.mktemp("arena") / "arena.db"
    with running_app("--model", str(tiny_dirs("llava")), "--model", str(tiny_dirs("llama")),
                     "--arena-db", str(database), "--arena-admin-code", ARENA_ADMIN_CODE) as url:
        yield url


@pytest.fixture(scope="session")
def adapter_app_url(tiny_dirs, tmp_path_factory):
    """The app on a tiny Llama with two adapters (the configured default: the last,
    "second"), and a tiny Gemma offered beside it."""
    from tests.engine.test_loading import make_adapter

    folder = tmp_path_factory.mktemp("adapters")
    llama = tiny_dirs("llama")
    adapters = [make_adapter(llama, folder / name, seed=seed) for name, seed in (("first", 1), ("second", 2))]
    with running_app("--model", str(llama), *(f"--adapter={path}" for path in adapters), "--default-adapter", "second",
                     "--model", str(tiny_dirs("gemma")), "--no-arena") as url:
        yield url


@pytest.fixture(scope="session")
def shared_base_arena_url(tiny_dirs, tmp_path_factory):
    """The app on a tiny Llama with two adapters and nothing else: an arena whose every pair
    (bare, "first", "second") shares one base model, voting into a fresh SQLite file."""
    from tests.engine.test_loading import make_adapter

    folder = tmp_path_factory.mktemp("shared-base")
    llama = tiny_dirs("llama")
    adapters = [make_adapter(llama, folder / name, seed=seed) for name, seed in (("first", 1), ("second", 2))]
    with running_app("--model", str(llama), *(f"--adapter={path}" for path in adapters),
                     "--arena-db", str(folder / "arena.db")) as url:
        yield url


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


@pytest.fixture
def page(playwright_driver, tmp_path, request):
    """A fresh chromium profile per test."""
    with browser_page(playwright_driver, tmp_path / "chromium-profile", request) as page:
        yield page


@pytest.fixture
def second_page(playwright_driver, tmp_path, request):
    """Another person's browser, beside `page`: its own profile, so its own session."""
    with browser_page(playwright_driver, tmp_path / "chromium-profile-2", request, "second") as page:
        yield page


@pytest.fixture
def screenshot(page):
    """Save a full-page screenshot under artifacts/ (kept as a test artifact)."""
    ARTIFACTS.mkdir(exist_ok=True)

    def save(name: str) -> Path:
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return save
