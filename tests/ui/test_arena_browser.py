"""The arena as served, in a real browser, on one base model with two adapters: both sides
stream at once (one batch, engine/batch.py), and Stop mid-stream leaves a battle that can
be voted on, a tie included."""

from tests.ui.browser import open_app

VOTES = ["#arena-vote-a", "#arena-vote-b", "#arena-vote-tie", "#arena-vote-bad"]
# Both sides have written something while the reply still streams (the votes open only at its end).
BOTH_STREAMING = """() => ['#arena-a', '#arena-b'].every(side => {
    const bot = document.querySelector(side + " [data-testid='bot']");
    return bot && bot.innerText.trim().length > 0;
}) && document.querySelector('#arena-vote-tie').disabled"""
STOP_WHILE_BOTH_STREAM = f"""() => {{
    const stop = document.querySelector('#arena-stop');
    if (!(({BOTH_STREAMING})() && !stop.disabled)) return false;
    stop.click();
    return true;
}}"""


def test_both_sides_stream_together_and_a_stopped_battle_takes_a_tie(page, shared_base_arena_url, screenshot):
    open_app(page, shared_base_arena_url)
    page.get_by_role("tab", name="Arena (blind comparison)").click()
    page.locator("#arena-rater-name :is(input, textarea)").fill("Dr Test")
    page.locator("#arena-join-button").click()
    page.locator("#arena-battle").wait_for()
    assert page.locator("#arena-turns").is_hidden()  # one batch: no taking turns to announce
    page.locator("#arena-input textarea").fill("Tell me everything about anemia.")
    page.locator("#arena-send").click()
    # Stop is clicked in the page in the same poll that sees both sides writing: a tiny model
    # may end its reply within the moment a click from here would take, and Stop is enabled
    # only while replies run.
    page.wait_for_function(STOP_WHILE_BOTH_STREAM, polling=20, timeout=120_000)
    screenshot("arena-both-streaming")
    page.wait_for_function("!document.querySelector('#arena-vote-tie').disabled", timeout=60_000)
    assert all(page.locator(vote).is_enabled() for vote in VOTES)
    for side in ("#arena-a", "#arena-b"):  # what was written before Stop stays, on both sides
        assert page.locator(f"{side} [data-testid='bot']").inner_text().strip()
    page.locator("#arena-vote-tie").click()
    page.wait_for_function("document.querySelector('#arena-reveal').innerText.includes('Model A was')")
    assert all(page.locator(vote).is_disabled() for vote in VOTES)
