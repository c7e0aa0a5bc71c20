"""The app on `--engine vllm` in chromium (issue 28): the page is served while vLLM starts,
its model card says so and counts down, in the interface language; a message sent meanwhile
is refused with how long it will take and stays in its box; once vLLM answers, the card
says so without a reload and the reply comes from it. vLLM is the stand-in
(tests/engine/standin_vllm.py) with a start of several seconds; scripts/test_vllm.sh runs
the app on a real one."""

from __future__ import annotations

import re

import pytest

from tests.engine.standin_vllm import write_command
from tests.ui.browser import BOT_MESSAGES, IDLE, open_app, set_number
from tests.ui.conftest import running_app

SECONDS = re.compile(r"about (\d+) s more")


@pytest.fixture(scope="module")
def slow_vllm_app_url(tiny_dirs, tmp_path_factory):
    """The app on a tiny Llama and a tiny Gemma, each on a stand-in vLLM that takes 25 s to
    answer (the Gemma's starts when someone first chooses it)."""
    standin = write_command(tmp_path_factory.mktemp("standin"))
    with pytest.MonkeyPatch.context() as patch:  # the app's environment, read when it starts
        patch.setenv("BIMEDIX_VLLM", str(standin))
        patch.setenv("STANDIN_DELAY", "25")
        with running_app("--model", str(tiny_dirs("llama")), "--model", str(tiny_dirs("gemma")), "--engine", "vllm",
                         "--no-arena") as url:
            yield url


def card_text(page) -> str:
    return page.locator("#model-card").inner_text()


def test_the_page_says_vllm_is_starting_refuses_meanwhile_and_replies_once_it_is_up(page, slow_vllm_app_url,
                                                                                   screenshot):
    open_app(page, slow_vllm_app_url)
    first = SECONDS.search(card_text(page))
    assert first and "Engine: vLLM, starting" in card_text(page), card_text(page)
    screenshot("vllm-starting-card")
    page.wait_for_function("(n) => { const m = document.querySelector('#model-card').innerText"
                           ".match(/about (\\d+) s more/); return m && +m[1] < n; }", arg=int(first[1]), timeout=15_000)
    set_number(page, "bmx-max-new-tokens", 8)
    page.locator("#bmx-input textarea").fill("What can cause a fever?")
    page.locator("#bmx-send").click()
    page.wait_for_function("[...document.querySelectorAll('.toast-body')].some(t => t.innerText.includes("
                           "'still starting'))", timeout=30_000)
    page.wait_for_selector(IDLE, state="attached")
    assert page.locator("#bmx-input textarea").input_value() == "What can cause a fever?"  # kept
    assert page.locator(BOT_MESSAGES).count() == 0
    page.get_by_text("العربية", exact=True).first.click()
    page.wait_for_function("document.querySelector('#model-card').innerText.includes('قيد التشغيل')")
    # Up: the card changes by itself (no reload), in the language of the moment.
    page.wait_for_function("document.querySelector('#model-card').innerText.includes('يشغّله هذا التطبيق ويراقبه')",
                           timeout=120_000)
    assert "قيد التشغيل" not in card_text(page)
    page.locator("#bmx-send").click()
    page.wait_for_selector(f"{BOT_MESSAGES} .bmx-meta", timeout=120_000)
    page.wait_for_selector(IDLE, state="attached")
    assert page.locator(BOT_MESSAGES).count() == 1 and page.locator("#bmx-input textarea").input_value() == ""
    screenshot("vllm-ready-card")


def test_a_model_chosen_while_its_vllm_starts_counts_down_too(page, slow_vllm_app_url, tiny_dirs):
    gemma = tiny_dirs("gemma").name
    open_app(page, slow_vllm_app_url)
    page.locator("#bmx-model input").click()
    page.locator("ul[role='listbox'] li", has_text=gemma).click()
    page.wait_for_function(f"document.querySelector('#model-card').innerText.includes({gemma!r})")
    first = SECONDS.search(card_text(page))
    assert first and "Engine: vLLM, starting" in card_text(page), card_text(page)
    page.wait_for_function("(n) => { const m = document.querySelector('#model-card').innerText"
                           ".match(/about (\\d+) s more/); return m && +m[1] < n; }", arg=int(first[1]), timeout=15_000)
    page.wait_for_function("document.querySelector('#model-card').innerText.includes('started and watched')",
                           timeout=120_000)
    assert gemma in card_text(page)
