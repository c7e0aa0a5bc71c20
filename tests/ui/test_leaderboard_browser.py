"""The Leaderboard in a real browser (Debian chromium through Playwright), in Arabic: one
tab, Arabic headers, numbers that read left to right and cells under their headers."""

from __future__ import annotations

import json

from tests.ui.browser import ask_both, open_app
from ui.leaderboard import column_headers
from ui.strings import text

# Where each character of `text` lands when it is shown in a cell of the ratings table (a
# second span beside the cell's own, so the page's own text is left alone), and the same
# in a plain right-to-left block, which lays "-706.2" out as "706.2-".
MINUS_LAYOUT_JS = """
(value) => {
    const lefts = (element) => {
        const node = element.firstChild, out = [];
        for (let i = 0; i < value.length; i++) {
            const range = document.createRange();
            range.setStart(node, i);
            range.setEnd(node, i + 1);
            out.push(range.getBoundingClientRect().left);
        }
        return out;
    };
    const own = document.querySelector("#lb-table [data-testid='cell-0-3'] .cell-wrap > span");
    const probe = own.cloneNode(false);
    probe.textContent = value;
    own.after(probe);
    const plain = document.createElement('div');
    plain.dir = 'rtl';
    plain.textContent = value;
    document.querySelector('#lb-summary').after(plain);
    const result = {cell: lefts(probe), plain: lefts(plain), direction: getComputedStyle(probe).direction,
                    shown: probe.innerText};
    probe.remove();
    plain.remove();
    return result;
}
"""

# For every body cell of a table: the right edge of its text and of its column header's text.
CELL_EDGES_JS = """
(id) => {
    const right = (element) => {
        const range = document.createRange();
        range.selectNodeContents(element);
        return range.getBoundingClientRect().right;
    };
    const root = document.querySelector('#' + id);
    const headers = {};
    for (const th of root.querySelectorAll('th[aria-colindex]')) headers[th.getAttribute('aria-colindex')] = th;
    return [...root.querySelectorAll(".virtual-row [role='gridcell']")]
        .filter(cell => cell.innerText.trim())
        .map(cell => ({text: cell.innerText.trim(), cell: right(cell.querySelector('.cell-wrap > span')),
                       header: right(headers[cell.getAttribute('aria-colindex')].querySelector('.header-content span'))}));
}
"""


def vote_once(page, url: str) -> None:
    """Join the arena, ask both models, vote A (as tests/ui/test_browser.py's vote flow)."""
    open_app(page, url)
    page.get_by_role("tab", name="Arena (blind comparison)").click()
    page.locator("#arena-rater-name :is(input, textarea)").fill("Dr Test")
    page.locator("#arena-join-button").click()
    page.locator("#arena-battle").wait_for()
    ask_both(page, "ما هو فقر الدم؟")
    page.locator("#arena-vote-a").click()
    page.wait_for_function("document.querySelector('#arena-reveal').innerText.includes('Model A was')")


def test_the_leaderboard_in_arabic(page, llava_app_url, tiny_dirs, screenshot):
    vote_once(page, llava_app_url)
    page.get_by_role("tab", name="Leaderboard").click()
    page.wait_for_function(f"document.querySelector('#lb-table').innerText.includes({tiny_dirs('llava').name!r})")
    assert "Too few votes" in page.locator("#lb-summary").inner_text()
    page.locator("#bmx-ui-language label", has_text="العربية").click()
    arabic = column_headers("ar")
    page.wait_for_function(f"document.querySelector('#lb-table th').innerText.includes({arabic['rank']!r})")

    # One Leaderboard tab (opening it used to add a second), still the one shown.
    # Gradio relabels the tabs in more than one render: the check is a wait for exactly the
    # Arabic labels (it fails when they never come), not a read at the first moment every
    # tab shows some Arabic, which once caught a tab on its way between two renders.
    expected = [text(key, "ar") for key in ("chat_tab", "arena_tab", "leaderboard_tab")]
    page.wait_for_function("(expected) => JSON.stringify([...document.querySelectorAll(\"[role='tab']\")]"
                           ".map(t => t.innerText.trim())) === JSON.stringify(expected)", arg=expected,
                           timeout=30_000)
    assert page.locator("[role='tab'][aria-selected='true']").inner_text() == text("leaderboard_tab", "ar")

    headers = [header.strip() for header in page.locator("#lb-table th .header-content").all_inner_texts()]
    assert headers == list(arabic.values())
    assert page.locator("#lb-win-rates th .header-content").first.inner_text().strip() == arabic["model"]
    titles = page.locator("#lb-plot .role-axis-title text").all_text_contents()
    assert titles == [arabic["model"], arabic["rating"]]
    assert text("lb_too_few", "ar")[:20] in page.locator("#lb-summary").inner_text()

    # Numbers read left to right in the right-to-left table: the minus sign comes first.
    for value in ("-706.2", "\u2212500"):
        layout = page.evaluate(MINUS_LAYOUT_JS, value)
        shown = json.dumps(layout, ensure_ascii=False)
        assert layout["direction"] == "ltr" and layout["shown"] == value, shown
        assert layout["cell"] == sorted(layout["cell"]), shown  # each character right of the one before
        assert layout["plain"][0] > layout["plain"][1], shown  # what a right-to-left cell did

    # Each cell's text under its own header's (both on the right, in Arabic).
    for table in ("lb-table", "lb-win-rates"):
        edges = page.evaluate(CELL_EDGES_JS, table)
        assert edges and all(abs(edge["cell"] - edge["header"]) <= 3 for edge in edges), (table, edges)
    screenshot("leaderboard-arabic")
