"""Two app replicas on one PostgreSQL, as a study on two Space replicas runs: two real app
processes, a rater on each (sticky: each browser stays on its replica), and every vote
counted once, on both replicas' Leaderboard and organiser's view."""

from __future__ import annotations

from arena import load_votes, open_store
from tests.conftest import browser_page
from tests.ui.browser import open_app
from tests.ui.conftest import running_app
from tests.ui.test_leaderboard_browser import vote_once

ADMIN_CODE = "organiser-4711"


def both_votes_shown(page, url: str) -> None:
    """The replica's Leaderboard counts both votes, and its organiser's view shows the rater
    with both battles and both votes (each taken on another replica)."""
    open_app(page, url)
    page.get_by_role("tab", name="Leaderboard").click()
    page.wait_for_function("document.querySelector('#lb-summary').innerText.includes('2 votes counted')",
                           timeout=60_000)
    page.locator("#lb-admin .label-wrap").click()
    page.locator("#lb-admin-code :is(input, textarea)").fill(ADMIN_CODE)
    page.locator("#lb-admin-show").click()
    # The progress table's row: display name, battles started, votes, flagged votes, ...
    page.wait_for_function("/Dr Test\\s+2\\s+2\\s+0\\s/.test((document.querySelector('#lb-progress') || {}).innerText || '')",
                           timeout=60_000)


def test_two_replicas_share_one_postgresql(postgres, tiny_dirs, playwright_driver, tmp_path, request):
    database = postgres.new_database()
    args = ("--model", str(tiny_dirs("llava")), "--model", str(tiny_dirs("llama")), "--arena-db", database,
            "--arena-admin-code", ADMIN_CODE)
    with running_app(*args) as first, running_app(*args) as second:
        for name, url in (("first", first), ("second", second)):
            with browser_page(playwright_driver, tmp_path / f"profile-{name}", request, name) as page:
                vote_once(page, url)
        for name, url in (("first", first), ("second", second)):
            with browser_page(playwright_driver, tmp_path / f"profile-{name}-check", request, name) as page:
                both_votes_shown(page, url)
    store = open_store(database)
    try:
        votes = load_votes(store)
        assert len(votes) == 2 and len({v.battle_id for v in votes}) == 2  # each once, distinct battles
        assert {v.rater_name for v in votes} == {"Dr Test"}
    finally:
        store.close()
    postgres.drop_database(database)
