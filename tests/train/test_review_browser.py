"""The translation review screen in a real browser (Debian chromium through Playwright),
served by `python -m train.review` as a reviewer starts it: a personal code (a typed name
signs nobody in), the English beside the Arabic each in its own direction, an edit
approved, a refused edit, a rejection; then a second browser with another reviewer's code,
whose code is revoked while its page is open (issue 26, item 6)."""

from __future__ import annotations

import json
import sys

from evaluate.servers import free_port, subprocess_server
from tests.train.test_review import DOSE_ARABIC, fill_store
from tests.conftest import browser_page
from train.translate.reviewers import add_reviewer, revoke_reviewer
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


def test_reviewers_sign_in_with_codes_edit_approve_reject_and_are_revoked(playwright_driver, tmp_path, request):
    database = tmp_path / "translation.db"
    store = fill_store(database)
    codes = {name: add_reviewer(store, name)[1] for name in ("Dr Amal", "Dr Omar")}
    port = free_port()
    command = [sys.executable, "-m", "train.review", "--db", str(database), "--port", str(port)]
    try:
        with subprocess_server(command, port, "/", "review", {"GRADIO_ANALYTICS_ENABLED": "False"},
                               start_timeout=120), \
                browser_page(playwright_driver, tmp_path / "chromium-profile", request) as page:
            page.goto(f"http://127.0.0.1:{port}/")
            approve_an_edit(page, store, codes["Dr Amal"])
            refuse_then_reject(page, store)
            with browser_page(playwright_driver, tmp_path / "second-profile", request, "second") as second:
                second.goto(f"http://127.0.0.1:{port}/")
                second_browser_is_revoked(second, store, codes["Dr Omar"])
    finally:
        store.close()


def sign_in(page, code: str) -> None:
    page.locator("#rv-code input").fill(code)
    page.locator("#rv-start").click()


def approve_an_edit(page, store: TranslationStore, code: str) -> None:
    page.locator("#rv-start").click()  # no code yet: told so, nothing shown
    shows(page, "#rv-message", "Please enter your personal reviewer code")
    assert page.locator("#rv-sample").count() == 0

    sign_in(page, "Dr Amal")  # the old way in: a name is not a code
    shows(page, "#rv-message", "That reviewer code is not valid")
    assert page.locator("#rv-sample").count() == 0 and page.locator("#rv-progress-table").count() == 0

    assert page.locator("#rv-code input").get_attribute("type") == "password"
    sign_in(page, code)
    shows(page, "#rv-sample", "medqa:1")
    shows(page, "#rv-sample", "Reviewing as · تراجع باسم: Dr Amal")
    assert page.locator("#rv-code input").input_value() == ""  # the code does not stay in the page
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


def second_browser_is_revoked(page, store: TranslationStore, code: str) -> None:
    """Another reviewer, in another browser, gets a sample nobody else holds; once their code
    is revoked, the open page's next action is refused and stores nothing."""
    sign_in(page, code)
    shows(page, "#rv-sample", "Reviewing as · تراجع باسم: Dr Omar")
    shows(page, "#rv-sample", "pubmedqa:3")
    held = {s.id: s.claimed_by for s in store.review_queue() if s.claimed_by}
    assert held == {"sft_chats:7": "Dr Amal", "pubmedqa:3": "Dr Omar"}, held

    assert revoke_reviewer(store, "Dr Omar")  # from the command line, while the page is open
    page.locator("#rv-reject").click()
    shows(page, "#rv-message", "Your reviewer code was revoked")
    shows(page, "#rv-message", "أُلغي رمزك الشخصي")
    page.wait_for_function("() => !document.querySelector('#rv-sample')")  # the sample left the screen
    assert "pubmedqa:3" not in store.reviews() and len(store.reviews()) == 2
    sign_in(page, code)  # the same code again: refused
    shows(page, "#rv-message", "That reviewer code is not valid")
    assert page.locator("#rv-sample").count() == 0
