"""The translation review screen in a real browser (Debian chromium through Playwright),
served by `python -m train.review` as a reviewer starts it: a name, the English beside
the Arabic each in its own direction, an edit approved, a refused edit, a rejection."""

from __future__ import annotations

import json
import sys

from evaluate.servers import free_port, subprocess_server
from tests.train.test_review import DOSE_ARABIC, fill_store
from tests.conftest import browser_page
from train.translate.store import TranslationStore, store_url

# The direction the browser computed for each English block and each Arabic box, and the
# `dir` the Arabic textarea carries.
DIRECTIONS_JS = """
() => [...document.querySelectorAll("[id^='rv-ar-']")].map((box, n) => {
    const english = document.querySelector('#rv-en-' + n + ' .rv-en');
    const area = box.querySelector('textarea');
    return {english: getComputedStyle(english).direction, englishText: english.innerText,
            arabic: getComputedStyle(area).direction, arabicDir: area.getAttribute('dir'), arabicText: area.value};
})
"""


def shows(page, selector: str, text: str) -> None:
    page.wait_for_function("([s, t]) => (document.querySelector(s)?.innerText || '').includes(t)",
                           arg=[selector, text], timeout=30_000)


def directions(page) -> list[dict]:
    found = page.evaluate(DIRECTIONS_JS)
    assert found and all(d["english"] == "ltr" and d["arabic"] == "rtl" and d["arabicDir"] == "rtl"
                         for d in found), json.dumps(found, ensure_ascii=False)
    return found


def progress_row(page) -> list[str]:
    cells = page.locator("#rv-progress-table tbody tr").first.locator("td").all_inner_texts()
    return [cell.strip() for cell in cells]


def test_a_reviewer_edits_approves_is_refused_and_rejects(playwright_driver, tmp_path, request):
    database = tmp_path / "translation.db"
    fill_store(database).close()
    port = free_port()
    command = [sys.executable, "-m", "train.review", "--db", str(database), "--port", str(port)]
    with subprocess_server(command, port, "/", "review", {"GRADIO_ANALYTICS_ENABLED": "False"}, start_timeout=120), \
            browser_page(playwright_driver, tmp_path / "chromium-profile", request) as page:
        store = TranslationStore(store_url(str(database), None))
        try:
            page.goto(f"http://127.0.0.1:{port}/")
            approve_an_edit(page, store)
            refuse_then_reject(page, store)
        finally:
            store.close()


def approve_an_edit(page, store: TranslationStore) -> None:
    page.locator("#rv-start").click()  # no name yet: told so, nothing shown
    shows(page, "#rv-message", "Please enter your name")
    assert page.locator("#rv-sample").count() == 0

    page.locator("#rv-name :is(input, textarea)").fill("Dr Amal")
    page.locator("#rv-start").click()
    shows(page, "#rv-sample", "medqa:1")
    shows(page, "#rv-sample", "Under the threshold after 2 round(s)")
    assert page.locator("#rv-rounds tbody tr").count() == 2
    assert directions(page)[0]["arabicText"] == DOSE_ARABIC

    # Edit one segment and approve: stored with the reviewer, the edited key, the new text.
    edited = "زيادة الجرعة إلى 1000 mg يوميًا"
    page.locator("#rv-ar-1 textarea").fill(edited)
    page.locator("#rv-approve").click()
    shows(page, "#rv-sample", "medqa:2")
    shows(page, "#rv-message", "Approved medqa:1")
    review = store.reviews()["medqa:1"]
    assert (review.reviewer, review.decision, review.edited_keys) == ("Dr Amal", "approved", ["option:A"])
    assert review.arabic_after["option:A"] == edited
    assert progress_row(page) == ["Dr Amal", "1", "0", "1"]


def refuse_then_reject(page, store: TranslationStore) -> None:
    # Each block in its own direction whatever its text: markup in the English is text,
    # a Latin-only Arabic segment ("Atenolol") still reads right to left.
    found = directions(page)
    assert "<b>Which</b>" in found[0]["englishText"] and found[1]["arabicText"] == "Atenolol"

    # An edit that loses a number is refused on the page, and nothing is stored.
    page.locator("#rv-ar-0 textarea").fill("معدل نبضها bpm. أي دواء؟")
    page.locator("#rv-approve").click()
    shows(page, "#rv-message", "numbers lost: 120")
    shows(page, "#rv-message", "لا يمكن اعتماد")
    assert "medqa:2" not in store.reviews()
    assert page.locator("#rv-ar-0 textarea").input_value() == "معدل نبضها bpm. أي دواء؟"  # the edit stays

    # Reject it; the next one loads and the progress table counts both decisions.
    page.locator("#rv-comment textarea").fill("the dose question lost its meaning")
    page.locator("#rv-reject").click()
    shows(page, "#rv-sample", "sft_chats:7")
    shows(page, "#rv-queue-left", "Left in the review queue: 2")
    assert progress_row(page) == ["Dr Amal", "1", "1", "1"]
    review = store.reviews()["medqa:2"]
    assert (review.decision, review.comment) == ("rejected", "the dose question lost its meaning")
