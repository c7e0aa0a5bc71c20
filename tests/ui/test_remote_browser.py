"""The app on models served elsewhere (`--model openai:MODEL@URL`), in chromium: `python -m
engine serve` in a subprocess stands in for vLLM or any OpenAI-compatible server."""

from __future__ import annotations

import pytest

from evaluate.servers import engine_server, free_port
from tests.ui.browser import BOT_MESSAGES, USER_MESSAGES, open_app, send, set_number, toast_texts
from tests.ui.conftest import ROOT, running_app

EXAMPLE_IMAGE = ROOT / "assets" / "examples" / "chest-xray-synthetic.png"


@pytest.fixture(scope="module")
def remote_app(tiny_dirs, tmp_path_factory):
    """(app URL, stop the model server): the app's two models live on one engine server."""
    with engine_server(f"--model={tiny_dirs('llama')}", f"--model={tiny_dirs('llava')}") as server:
        models = [f"openai:{tiny_dirs(family).name}@{server}" for family in ("llava", "llama")]
        models.append(f"openai:gone-model@http://127.0.0.1:{free_port()}/v1")  # a server that is down
        with running_app(*(f"--model={m}" for m in models), "--no-arena") as url:
            yield url, server


def test_remote_models_are_offered_with_where_they_run_and_reply(page, remote_app, tiny_dirs):
    url, server = remote_app
    open_app(page, url)
    card = page.locator("#model-card").inner_text()
    port = server.split(":")[-1].split("/")[0]
    assert f"127.0.0.1:{port}" in card and tiny_dirs("llava").name in card  # where it runs, no URL path
    assert "/v1" not in page.locator("#bmx-model").inner_text()
    set_number(page, "bmx-max-new-tokens", 6)
    send(page, "What does this X-ray show?", files=(EXAMPLE_IMAGE,))  # the LMM gets the image
    send(page, "عندي صداع")
    meta = page.locator(f"{BOT_MESSAGES} .bmx-meta").last.inner_text()
    assert tiny_dirs("llava").name in meta and "العربية" in meta
    assert page.locator(f"{BOT_MESSAGES} .bmx-msg").last.inner_text().strip()
    assert "cannot read images" not in page.locator("#chatbot").inner_text()


def test_a_server_that_is_down_is_said_in_arabic_and_the_chat_goes_on(page, remote_app, tiny_dirs):
    url, _ = remote_app
    open_app(page, url)
    set_number(page, "bmx-max-new-tokens", 4)
    page.get_by_text("العربية", exact=True).first.click()
    send(page, "مرحبا")
    page.locator("#bmx-model input").click()
    page.locator("ul[role='listbox'] li", has_text="gone-model").click()
    page.wait_for_function("document.body.innerText.includes('تعذّر الوصول إلى خادم')", timeout=30_000)
    assert tiny_dirs("llava").name in page.locator("#model-card").inner_text()  # the current model stays
    send(page, "ما هو فقر الدم؟")
    assert page.locator(USER_MESSAGES).count() == 2 and page.locator(BOT_MESSAGES).count() == 2
    assert not any("cannot be reached" in text for text in toast_texts(page))
