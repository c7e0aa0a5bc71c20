"""The app as a person starts it (app.py on 127.0.0.1), and a real browser to drive it
(the browser itself, `playwright_driver` and `browser_page`, is tests/conftest.py's: one
Playwright per test session, shared with train/'s review screen)."""

from __future__ import annotations

from pathlib import Path

import pytest

from evaluate.servers import app_server
from tests.conftest import browser_page

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
ARENA_ADMIN_CODE = "organiser-4711"


def running_app(*args: str):
    """Start `app.py ARGS` on a free port; yield its URL; stop it (its output goes to
    artifacts/app-PORT.log: evaluate/servers.py)."""
    return app_server(*args)


@pytest.fixture(scope="session")
def app_url(preview):  # preview: the model cache is warm before the server starts
    with running_app() as url:
        yield url


@pytest.fixture(scope="module")
def unbatched_app_url(preview):
    """The preview app with one reply at a time (--max-batch 1): the queue is seen."""
    with running_app("--max-batch", "1", "--no-arena") as url:
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
