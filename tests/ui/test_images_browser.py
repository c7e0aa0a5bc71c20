"""Images in chromium (issue 27, items 2 and 11): a text-only model is offered no image
example and never answers an image (the message stays, "Send without the image" sends its
text); a model that reads images is offered them and reads one; a file intake refuses
leaves the box. 1366×768, English and Arabic."""

from __future__ import annotations

import pytest

from tests.ui.browser import BOT_MESSAGES, IDLE, USER_MESSAGES, open_app, set_number, toast_texts
from tests.ui.conftest import ROOT

EXAMPLE_IMAGE = ROOT / "assets" / "examples" / "chest-xray-synthetic.png"
THUMBNAILS = "#bmx-input .thumbnail-item"
CANNOT_SEE = {"en": "This model cannot see images", "ar": "هذا النموذج لا يستطيع رؤية الصور"}
SEND_TEXT_ONLY = {"en": "Send without the image", "ar": "أرسل من دون الصورة"}


def open_at_laptop_size(page, url: str, lang: str) -> None:
    page.set_viewport_size({"width": 1366, "height": 768})
    open_app(page, url)
    if lang == "ar":
        page.get_by_text("العربية", exact=True).first.click()
        page.wait_for_function("document.querySelector('#bmx-send').innerText.includes('إرسال')")


def attach(page, *files) -> None:
    page.locator("#bmx-input input[type='file']").set_input_files([str(f) for f in files])
    page.wait_for_function(f"document.querySelectorAll('{THUMBNAILS}').length >= {len(files)}")


def wait_for_toast(page, words: str) -> None:
    page.wait_for_function("(w) => [...document.querySelectorAll('.toast-body')].some(t => t.innerText.includes(w))",
                           arg=words, timeout=60_000)


@pytest.mark.parametrize("lang", ["en", "ar"])
def test_a_text_only_model_keeps_the_image_in_the_box_and_sends_the_text_alone(page, app_url, screenshot, lang):
    open_at_laptop_size(page, app_url, lang)
    set_number(page, "bmx-max-new-tokens", 4)
    assert page.locator("#bmx-examples").is_hidden() and page.locator("#bmx-examples-text").is_visible()
    assert "X-ray" not in page.locator("#bmx-examples-text").inner_text()
    assert page.locator("#bmx-send-text-only").is_hidden()
    attach(page, EXAMPLE_IMAGE)
    page.locator("#bmx-input textarea").fill("What do you see on this chest X-ray?")
    page.locator("#bmx-send").click()
    wait_for_toast(page, CANNOT_SEE[lang])
    page.wait_for_selector(IDLE, state="attached")
    button = page.locator("#bmx-send-text-only")
    button.wait_for(state="visible")
    assert SEND_TEXT_ONLY[lang] in button.inner_text()
    assert page.locator(USER_MESSAGES).count() == 0 and page.locator(BOT_MESSAGES).count() == 0  # nothing sent
    assert page.locator("#bmx-input textarea").input_value() == "What do you see on this chest X-ray?"
    assert page.locator(THUMBNAILS).count() == 1  # the image stays with it
    screenshot(f"image-refused-{lang}")
    button.click()
    page.wait_for_selector(f"{BOT_MESSAGES} .bmx-msg", timeout=120_000)
    page.wait_for_selector(IDLE, state="attached")
    assert "chest X-ray" in page.locator(USER_MESSAGES).first.inner_text()
    assert page.locator(f"{USER_MESSAGES} img").count() == 0  # the text alone went
    assert page.locator(THUMBNAILS).count() == 0 and page.locator("#bmx-input textarea").input_value() == ""
    button.wait_for(state="hidden")


def test_a_model_that_reads_images_is_offered_the_image_examples_and_reads_one(page, llava_app_url):
    open_at_laptop_size(page, llava_app_url, "en")
    set_number(page, "bmx-max-new-tokens", 4)
    examples = page.locator("#bmx-examples")
    assert examples.is_visible() and page.locator("#bmx-examples-text").is_hidden()
    page.locator("#bmx-model input").click()
    assert page.get_by_role("option").filter(has_text="reads images").count() == 1  # the Llava, not the Llama
    page.keyboard.press("Escape")
    examples.get_by_text("What do you see on this chest X-ray?").click()
    page.wait_for_selector(THUMBNAILS)
    page.locator("#bmx-send").click()
    page.wait_for_selector(f"{BOT_MESSAGES} .bmx-msg", timeout=120_000)
    page.wait_for_selector(IDLE, state="attached")
    assert page.locator(f"{USER_MESSAGES} img").count() == 1
    assert not any(CANNOT_SEE["en"] in text for text in toast_texts(page))
    assert page.locator("#bmx-send-text-only").is_hidden()


@pytest.mark.parametrize("lang", ["en", "ar"])
def test_a_refused_file_leaves_the_box_and_the_next_one_is_judged_on_its_own(page, llava_app_url, tmp_path, lang):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00")
    open_at_laptop_size(page, llava_app_url, lang)
    set_number(page, "bmx-max-new-tokens", 4)
    attach(page, broken)
    page.locator("#bmx-input textarea").fill("What is this?")
    page.locator("#bmx-send").click()
    wait_for_toast(page, "damaged" if lang == "en" else "تالف")
    page.wait_for_selector(IDLE, state="attached")
    page.wait_for_function(f"document.querySelectorAll('{THUMBNAILS}').length === 0")  # the refused file is gone
    assert page.locator("#bmx-input textarea").input_value() == "What is this?"  # the text stays
    damaged = {"en": "damaged", "ar": "تالف"}[lang]
    before = len([t for t in toast_texts(page) if damaged in t])  # toasts go on their own: never more
    attach(page, EXAMPLE_IMAGE)
    page.locator("#bmx-send").click()
    page.wait_for_selector(f"{BOT_MESSAGES} .bmx-msg", timeout=120_000)
    page.wait_for_selector(IDLE, state="attached")
    assert page.locator(f"{USER_MESSAGES} img").count() == 1  # sent with the new file alone
    assert len([t for t in toast_texts(page) if damaged in t]) <= before  # no second refusal
