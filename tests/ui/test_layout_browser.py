"""The first screen, in a real browser, on a laptop (1366×768) and a phone (390×844), in
both interface languages (issue 27): the message box and the research notice are in view
without scrolling, on the Chat tab and the Arena tab; Gradio's own clear and share icons
are gone; the Arabic interface is Arabic down to tooltips, screen-reader labels and toast
titles; icons are SVG (no font needed) with a label."""

import re

import pytest

from tests.ui.browser import open_app, send

SCREENS = {"laptop": (1366, 768), "phone": (390, 844)}
ARABIC = "العربية"

# Every tooltip, screen-reader label and placeholder on the page, and every widget's label
# (shown or for screen readers only), outside the messages (of a message's label, its role).
LABELS_JS = """() => [
    ...[...document.querySelectorAll('[title], [aria-label], [placeholder]')]
        .filter(element => !element.closest('.bmx-msg'))
        .flatMap(element => ['title', 'aria-label', 'placeholder']
            .filter(name => element.hasAttribute(name))
            .map(name => `${name}=${element.getAttribute(name)}`)
            .map(label => element.matches('[data-testid=user], [data-testid=bot]') ? label.split(':')[0] : label)),
    ...[...document.querySelectorAll('[data-testid=block-info], [data-testid=block-label], .sr-only')]
        .filter(element => !element.closest('.bmx-msg') && element.textContent.trim())
        .map(element => `label=${element.textContent.trim()}`)]"""
# Latin words allowed in the Arabic interface: names, formats, the letters of the vote, and
# the language selector's own (bilingual) label.
ALLOWED = re.compile(r"BiMediX|tiny-[\w.-]+|Llava|Llama|PNG|JPEG|DICOM|Adapter|Markdown|JSON|Top-p|\bA\b|\bB\b"
                     r"|^Interface language · ")


def drawn(icon) -> bool:
    """Whether an icon (ui/icons.py) shows its whole outline: its mask is the SVG, scaled
    to fit a box about as big as the text around it."""
    style = icon.evaluate("""e => { const s = getComputedStyle(e), box = e.getBoundingClientRect();
        return {mask: s.maskImage || s.webkitMaskImage, size: s.maskSize || s.webkitMaskSize,
                width: box.width, height: box.height, font: parseFloat(s.fontSize)}; }""")
    return ("image/svg+xml" in style["mask"] and style["size"] == "contain"
            and 0.8 * style["font"] <= style["width"] == style["height"] <= 1.5 * style["font"])


def english_labels(page) -> list[str]:
    """The page's tooltips, screen-reader labels and placeholders with an English word left."""
    return [label for label in page.evaluate(LABELS_JS)
            if re.search(r"[A-Za-z]{2,}", ALLOWED.sub("", label.split("=", 1)[1]))]


def choose_arabic(page) -> None:
    page.locator("#bmx-ui-language label").filter(has_text=ARABIC).click()
    page.wait_for_function("document.documentElement.lang === 'ar'")


def in_view(page, selector: str) -> bool:
    """Whether the element lies wholly inside the viewport, the page not scrolled."""
    box = page.locator(selector).first.bounding_box()
    size = page.viewport_size
    return (box is not None and box["y"] >= 0 and box["x"] >= 0 and box["y"] + box["height"] <= size["height"]
            and box["x"] + box["width"] <= size["width"] + 1)


def open_arena(page, lang: str) -> None:
    """The Arena tab, joined (its tab button is reached at laptop width: a phone puts it in
    Gradio's "more tabs" menu)."""
    width, height = page.viewport_size["width"], page.viewport_size["height"]
    page.set_viewport_size({"width": 1366, "height": 768})
    page.locator("#arena-tab-button, button[role='tab']").filter(has_text=re.compile("Arena|الساحة")).first.click()
    page.locator("#arena-rater-name :is(input, textarea)").fill("Dr Layout")
    page.locator("#arena-join-button").click()
    page.locator("#arena-input").wait_for()
    page.set_viewport_size({"width": width, "height": height})
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_timeout(300)


@pytest.mark.parametrize("screen", SCREENS)
@pytest.mark.parametrize("lang", ["en", "ar"])
def test_the_first_screen_holds_the_message_box_and_the_notice(page, llava_app_url, screenshot, screen, lang):
    width, height = SCREENS[screen]
    page.set_viewport_size({"width": width, "height": height})
    open_app(page, llava_app_url)
    if lang == "ar":
        choose_arabic(page)
    page.wait_for_timeout(300)
    screenshot(f"layout-chat-{lang}-{screen}")
    for selector in ("#bmx-banner", "#bmx-input", "#bmx-send"):
        assert in_view(page, selector), (selector, page.locator(selector).bounding_box())
    open_arena(page, lang)
    screenshot(f"layout-arena-{lang}-{screen}")
    for selector in ("#bmx-banner", "#arena-input", "#arena-send", "#arena-a", "#arena-b"):
        assert in_view(page, selector), (selector, page.locator(selector).bounding_box())


def test_the_arabic_interface_is_arabic_and_has_one_control_per_action(page, llava_app_url, screenshot):
    page.set_viewport_size({"width": 1366, "height": 768})
    open_app(page, llava_app_url)
    choose_arabic(page)
    assert page.evaluate("[document.documentElement.lang, document.documentElement.dir]") == ["ar", "rtl"]
    send(page, "مرحبا")
    page.locator("#bmx-settings .label-wrap").click()  # the sliders' reset buttons
    page.locator("#bmx-export").click()  # nothing to export yet? a toast either way
    page.locator("#bmx-stop").evaluate("b => b")  # settle
    # No Gradio bin (or share) icon on the chat: the app's own Clear is the one control.
    assert page.locator("#chatbot .icon-button-wrapper button").filter(visible=True).count() == 0
    assert page.locator("#bmx-clear").is_visible()
    # Icons are drawn from SVG outlines, whole, at the text's size, with a label (none
    # depends on an emoji font; Gradio's sanitizer keeps them).
    copy = page.locator("#chatbot .bmx-copy").last
    assert copy.get_attribute("title") == "انسخ الرد" and drawn(copy.locator(".bmx-icon"))
    banner_icon = page.locator("#bmx-banner").get_by_role("img", name="تحذير")
    assert drawn(banner_icon)
    page.wait_for_timeout(500)
    screenshot("layout-chat-ar-labels")
    # Gradio's status announcer says a key its Arabic locale lacks ("common.complete") for a
    # moment after a step ends: one written now is said in Arabic too.
    page.evaluate("document.body.insertAdjacentHTML('beforeend', "
                  "'<span class=\"sr-only\" id=\"bmx-test-announcer\">common.complete</span>')")
    page.wait_for_function("document.querySelector('#bmx-test-announcer').textContent === 'اكتمل'")
    assert not english_labels(page), english_labels(page)
    # The other tabs too: the arena joined (its two chats), and the leaderboard (its tables and plot).
    open_arena(page, "ar")
    page.locator("#arena-a").wait_for()
    page.wait_for_timeout(500)
    screenshot("layout-arena-ar-labels")
    assert not english_labels(page), english_labels(page)
    page.locator("button[role='tab']").filter(has_text="لوحة الترتيب").first.click()
    page.locator("#lb-table").wait_for()
    page.locator("#lb-plot").wait_for()
    page.wait_for_timeout(1000)
    screenshot("layout-leaderboard-ar-labels")
    assert not english_labels(page), english_labels(page)


def test_toasts_are_titled_in_the_interface_language(page, llava_app_url):
    open_app(page, llava_app_url)
    choose_arabic(page)
    page.locator("#bmx-export").click()  # nothing to export: a warning
    title = page.locator(".toast-title").first
    title.wait_for()
    assert title.inner_text().strip() == "تحذير"
