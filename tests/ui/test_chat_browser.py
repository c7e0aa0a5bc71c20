"""The chat screen in chromium, for what a new user met first (issue 14): the research-only
notice in view on a laptop and a phone, Stop only while something runs, each reply naming
what wrote it, the queue shown, and the note on an image a text-only model cannot read."""

from __future__ import annotations

import pytest

from tests.ui.browser import BOT_MESSAGES, IDLE, USER_MESSAGES, open_app, send, set_number


@pytest.mark.parametrize("width,height", [(1366, 768), (390, 844)], ids=["laptop", "phone"])
def test_the_research_notice_is_in_view_and_the_header_fits(page, llava_app_url, screenshot, width, height):
    page.set_viewport_size({"width": width, "height": height})
    open_app(page, llava_app_url)
    banner = page.locator("#bmx-banner").bounding_box()
    assert banner is not None and banner["y"] + banner["height"] <= height  # no scrolling needed
    assert "Research use only" in page.locator("#bmx-banner").inner_text()
    title = page.locator("#bmx-title h1")
    line_height = float(title.evaluate("h => parseFloat(getComputedStyle(h).lineHeight) || 30"))
    assert title.bounding_box()["height"] < 2.5 * line_height  # "BiMediX Chat" does not wrap per syllable
    language = page.locator("#bmx-ui-language").bounding_box()
    assert language["x"] >= 0 and language["x"] + language["width"] <= width + 1  # nothing off screen
    page.get_by_text("العربية", exact=True).first.click()
    page.wait_for_function("document.querySelector('#bmx-banner').innerText.includes('للاستخدام البحثي')")
    screenshot(f"first-screen-{width}")


def test_stop_runs_only_with_a_reply_and_each_reply_names_what_wrote_it(page, app_url):
    # The preview model on the CPU: its long reply is still being written when the second
    # message comes (a tiny random model may end at any token).
    open_app(page, app_url)
    stop = page.locator("#bmx-stop")
    assert stop.is_disabled()  # nothing runs yet
    set_number(page, "bmx-max-new-tokens", 400)  # within the preview's context, a minute to write
    page.locator("#bmx-input textarea").fill("Write a long essay about the human heart, its chambers and valves.")
    page.locator("#bmx-send").click()
    page.wait_for_selector(f"{BOT_MESSAGES} .bmx-msg")  # the reply is being written
    assert not stop.is_disabled()
    page.locator("#bmx-input textarea").fill("A second message while the first is written")
    page.locator("#bmx-send").click()  # refused with a message, not silently dropped
    page.wait_for_function("document.body.innerText.includes('still being written')", timeout=20_000)
    page.wait_for_timeout(500)
    assert page.locator("#bmx-input textarea").input_value().startswith("A second message")  # kept
    assert not stop.is_disabled()  # the refusal leaves the first reply's Stop alone
    stop.click()
    page.wait_for_selector(IDLE, state="attached")
    page.wait_for_function("document.querySelector('#bmx-stop').disabled")
    meta = page.locator(f"{BOT_MESSAGES} .bmx-meta").last.inner_text()
    assert "Offline preview" in meta and "adapter: none" in meta and "reply in: English" in meta
    assert "stopped" in meta
    assert page.locator(f"{USER_MESSAGES} .bmx-meta time").count() == 1  # every message has its time


def a_long_reply_then_a_second_person_asks(page, second_page, url: str) -> None:
    """A asks for a long reply (the preview on the CPU: about a minute to write; a tiny
    random model may end at any token); while it is written, B asks a short question."""
    open_app(page, url)
    set_number(page, "bmx-max-new-tokens", 400)
    page.locator("#bmx-input textarea").fill("Write a long essay about the human heart, its chambers and valves.")
    page.locator("#bmx-send").click()
    page.wait_for_selector(f"{BOT_MESSAGES} .bmx-msg")  # A's reply is being written
    open_app(second_page, url)
    set_number(second_page, "bmx-max-new-tokens", 4)
    second_page.locator("#bmx-input textarea").fill("ما هو فقر الدم؟")
    second_page.locator("#bmx-send").click()
    second_page.wait_for_selector(USER_MESSAGES)  # B's message shows at once


def test_a_second_person_is_answered_while_the_first_reply_is_still_written(page, second_page, app_url):
    """Continuous batching (engine/continuous.py, on by default): B's reply shares the
    model's steps with A's instead of waiting for the whole of it."""
    a_long_reply_then_a_second_person_asks(page, second_page, app_url)
    second_page.wait_for_selector(f"{BOT_MESSAGES} .bmx-msg", timeout=60_000)  # B's reply
    second_page.wait_for_selector(IDLE, state="attached", timeout=60_000)  # ... and it ended
    assert not page.locator("#bmx-stop").is_disabled()  # while A's is still being written
    page.locator("#bmx-stop").click()


def test_a_second_person_sees_their_message_and_their_place_in_the_queue(page, second_page, unbatched_app_url):
    """With one reply at a time (--max-batch 1, or what cannot be batched), the one who
    waits sees their place."""
    a_long_reply_then_a_second_person_asks(page, second_page, unbatched_app_url)
    second_page.wait_for_function("document.querySelector('#chatbot').innerText.includes('Waiting for the model (position 1)')")
    page.locator("#bmx-stop").click()  # A stops: B's status turns into B's reply
    second_page.wait_for_function("!document.querySelector('#chatbot').innerText.includes('Waiting for the model')")
    second_page.wait_for_selector(f"{BOT_MESSAGES} .bmx-msg")


def test_a_conversation_comes_back_after_a_reload_only_when_asked_and_forget_deletes_it(page, llava_app_url):
    open_app(page, llava_app_url)
    set_number(page, "bmx-max-new-tokens", 4)
    send(page, "Patient Layla Haddad, HbA1c 9.1")
    page.reload()
    page.wait_for_selector("#bmx-send")
    page.wait_for_timeout(1000)
    assert page.locator(USER_MESSAGES).count() == 0  # not asked: nothing came back
    assert page.locator("#bmx-keep input").is_checked() is False
    page.locator("#bmx-keep input").check()  # the person asks to keep it
    set_number(page, "bmx-max-new-tokens", 4)
    send(page, "ما هو فقر الدم؟")
    page.wait_for_timeout(1000)
    stored = page.evaluate("() => JSON.stringify(Object.entries(localStorage))")
    assert "فقر" not in stored  # kept encrypted, not in plain text
    page.reload()
    page.wait_for_function("(document.querySelector('#chatbot') || {innerText: ''}).innerText.includes('ما هو فقر الدم؟')")
    assert page.locator("#bmx-keep input").is_checked()
    page.locator("#bmx-forget").click()
    page.wait_for_timeout(1000)
    page.reload()
    page.wait_for_selector("#bmx-send")
    page.wait_for_timeout(1500)
    assert page.locator(USER_MESSAGES).count() == 0 and not page.locator("#bmx-keep input").is_checked()


def test_an_english_question_after_an_arabic_turn_is_answered_in_english(page, app_url):
    from engine.language import detect_language

    open_app(page, app_url)
    set_number(page, "bmx-max-new-tokens", 24)
    page.locator("#bmx-temperature input[type='number']").fill("0")
    page.locator("#bmx-temperature input[type='number']").press("Enter")
    send(page, "ما هي أعراض فقر الدم؟")
    send(page, "What foods are rich in iron?")
    reply = page.locator(f"{BOT_MESSAGES} .bmx-msg").last.inner_text()
    meta = page.locator(f"{BOT_MESSAGES} .bmx-meta").last.inner_text()
    assert "reply in: English" in meta  # the language asked for is shown by the reply
    assert detect_language(reply).language == "en", reply


def test_a_pdf_in_the_arabic_interface_gets_an_arabic_message_not_gradios_english(page, llava_app_url, tmp_path):
    open_app(page, llava_app_url)
    page.locator("#bmx-ui-language label", has_text="العربية").click()
    page.wait_for_function("document.querySelector('.gradio-container').getAttribute('dir') === 'rtl'")
    report = tmp_path / "report.pdf"
    report.write_bytes(b"%PDF-1.7 lab report")
    page.locator("#bmx-input input[type='file']").set_input_files(str(report))
    page.wait_for_selector("#bmx-input .thumbnail-item")  # taken, not refused by Gradio in English
    page.locator("#bmx-input textarea").fill("ما هذا؟")
    page.locator("#bmx-send").click()
    page.wait_for_function("[...document.querySelectorAll('.toast-body')].some(e => e.innerText.includes('هذا الملف ليس صورة'))")
    assert "Invalid file type" not in page.locator("body").inner_text()
