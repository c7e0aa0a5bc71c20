"""What a person does in the chat screen, as Playwright steps, and what the screen shows."""

from __future__ import annotations

from pathlib import Path

IDLE = "#chatbot > [data-testid='status-tracker'].hide"  # Gradio hides it when no event runs
USER_MESSAGES = "#chatbot [data-testid='user']"
BOT_MESSAGES = "#chatbot [data-testid='bot']"

# For every message: its direction and alignment as computed by the browser, and where each
# line of its first paragraph sits relative to the paragraph's edges.
MESSAGE_LAYOUT_JS = """
(element) => {
    const body = element.querySelector('.bmx-msg');
    const style = getComputedStyle(body);
    const para = body.querySelector('p') || body;
    const box = para.getBoundingClientRect();
    const lines = [];  // one rect per bidi run per line
    const walker = document.createTreeWalker(para, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        if (!node.textContent.trim() || node.parentElement.closest('code')) continue;
        const range = document.createRange();
        range.selectNodeContents(node);
        for (const rect of range.getClientRects()) lines.push({left: rect.left, right: rect.right, top: rect.top, bottom: rect.bottom});
    }
    return {dir: body.getAttribute('dir'), lang: body.getAttribute('lang'), direction: style.direction,
            textAlign: style.textAlign, fontFamily: style.fontFamily, text: body.innerText,
            left: box.left, right: box.right, runs: lines};
}
"""


def open_app(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("#bmx-send")
    page.wait_for_selector(IDLE, state="attached")


def set_number(page, elem_id: str, value: float) -> None:
    """Type into a slider's box, as a person does in the settings, until the slider shows it."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout  # only where a browser runs

    accordion = page.locator("#bmx-settings")
    content = accordion.locator("[data-testid='accordion-content']")
    if content.is_hidden():
        accordion.locator(".label-wrap").click()
    content.wait_for()
    box = page.locator(f"#{elem_id} input[type='number']")
    slider = page.locator(f"#{elem_id} input[type='range']")
    for _ in range(5):  # a box typed into while the page still settles can lose the value
        box.fill(str(value))
        box.press("Tab")  # Gradio takes the value when the box loses focus
        try:
            page.wait_for_function("([e, v]) => e.value == v", arg=[slider.element_handle(), str(value)],
                                   timeout=3000)
            return
        except PlaywrightTimeout:
            continue
    raise AssertionError(f"{elem_id} did not take the value {value}")


def send(page, text: str, files: tuple[Path, ...] = ()) -> None:
    """Type a message (attach files), press Send, and wait until the reply is finished."""
    before = page.locator(USER_MESSAGES).count()
    if files:
        page.locator("#bmx-input input[type='file']").set_input_files([str(f) for f in files])
        page.wait_for_selector("#bmx-input .thumbnail-item, #bmx-input img")
    page.locator("#bmx-input textarea").fill(text)
    page.locator("#bmx-send").click()
    page.wait_for_function(f"document.querySelectorAll(\"{USER_MESSAGES}\").length > {before}")
    page.wait_for_selector(IDLE, state="attached")


def message_layouts(page, selector: str) -> list[dict]:
    layouts = [handle.evaluate(MESSAGE_LAYOUT_JS) for handle in page.query_selector_all(selector)
               if handle.query_selector(".bmx-msg")]
    for layout in layouts:
        layout["lines"] = visual_lines(layout.pop("runs"))
    return layouts


def visual_lines(runs: list[dict]) -> list[dict]:
    """Merge the rects of bidi runs (and of fonts with different heights) into lines."""
    lines: list[dict] = []
    for run in sorted(runs, key=lambda r: r["top"]):
        middle = (run["top"] + run["bottom"]) / 2
        if lines and lines[-1]["top"] <= middle <= lines[-1]["bottom"]:
            line = lines[-1]
            line.update(left=min(line["left"], run["left"]), right=max(line["right"], run["right"]),
                        bottom=max(line["bottom"], run["bottom"]))
        else:
            lines.append(dict(run))
    return lines


def box(page, selector: str) -> dict:
    return page.locator(selector).first.bounding_box()


def toast_texts(page) -> list[str]:
    return [text.strip() for text in page.locator(".toast-body").all_inner_texts()]


# Counts, from the moment it is installed, the arena's toasts saying that a model ended its
# reply without writing anything (in either language): a toast goes away on its own, so it
# is counted as it appears rather than looked for afterwards.
COUNT_EMPTY_REPLIES_JS = """
() => {
    if (window.bmxEmptyReplies !== undefined) return;
    window.bmxEmptyReplies = 0;
    const counted = new WeakSet();  // a toast's text may come after the toast itself
    new MutationObserver(() => {
        for (const toast of document.querySelectorAll('.toast-body')) {
            if (counted.has(toast) || !/without writing anything|دون أن يكتب شيئًا/.test(toast.innerText)) continue;
            counted.add(toast);
            window.bmxEmptyReplies += 1;
        }
    }).observe(document.body, {childList: true, subtree: true, characterData: true});
}
"""
VOTES_OPEN_OR_TAKEN_BACK_JS = """
(before) => !document.querySelector('#arena-vote-a').disabled ? 'votes'
    : (window.bmxEmptyReplies > before ? 'taken back' : null)
"""


def ask_both(page, message: str, attempts: int = 3, timeout: int = 120_000) -> None:
    """Send `message` in the arena and wait until both models have replied (the votes open).

    A tiny random model now and then ends its reply before its first word (about 1 reply
    in 100 for the tiny Llava); the arena then takes the exchange back from both sides and
    says so, and the message is sent again, as a rater would. A wait that ends otherwise
    fails with what the screen showed."""
    page.evaluate(COUNT_EMPTY_REPLIES_JS)
    for _ in range(attempts):
        before = page.evaluate("window.bmxEmptyReplies")
        page.locator("#arena-input textarea").fill(message)
        page.locator("#arena-send").click()
        try:
            outcome = page.wait_for_function(VOTES_OPEN_OR_TAKEN_BACK_JS, arg=before, timeout=timeout).json_value()
        except Exception as error:  # Playwright's TimeoutError: say what the screen showed
            raise AssertionError(f"the votes never opened: {arena_screen(page)}") from error
        if outcome == "votes":
            return
    raise AssertionError(f"{attempts} exchanges taken back in a row: {arena_screen(page)}")


def arena_screen(page) -> dict:
    """What the arena shows: both sides' text, the message box and any toasts."""
    return {"a": page.locator("#arena-a").inner_text(), "b": page.locator("#arena-b").inner_text(),
            "box": page.locator("#arena-input textarea").input_value(), "toasts": toast_texts(page)}
