"""The Arena and Leaderboard handlers' attempt limits as the app builds them: counted in the
vote store (so replicas share one count), a correct personal code never refused for other
people's failures, wrong codes (personal, shared, organiser) still limited."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from arena import create_rater, ensure_study, open_store
from engine.backend import local_tokens
from tests.ui.test_arena import SHORT, pool  # noqa: F401  (pool: the tiny models, a fixture)
from ui.arena import ArenaHandlers
from ui.arena_round import ArenaConfig
from ui.leaderboard import LeaderboardHandlers

WRONG = "AAAA-AAAA-AA"


def request_from(host: str, forwarded_for: str | None = None):
    """What Gradio hands a handler's `request: gr.Request` parameter, as far as limits look."""
    headers = {"x-forwarded-for": forwarded_for} if forwarded_for else {}
    return SimpleNamespace(client=SimpleNamespace(host=host), headers=headers)


@pytest.fixture
def shown(monkeypatch):
    """The codes of the errors the handlers showed as warnings, in order."""
    codes = []
    for module in ("ui.arena", "ui.leaderboard"):
        monkeypatch.setattr(f"{module}.warn", lambda error, lang, *more: codes.append(error.code))
    return codes


@pytest.fixture
def database(tmp_path):
    return str(tmp_path / "arena.db")


def replica(pool, database: str, **config) -> ArenaHandlers:  # noqa: F811
    """One app replica's Arena handlers, with the limiters the app gives them."""
    return ArenaHandlers(pool, open_store(database), ArenaConfig(**config), local_tokens, SHORT)


def joined_as(handlers: ArenaHandlers, request, personal_code: str = "", code: str = "") -> str | None:
    rater = handlers.join("Dr Omar", code, personal_code, None, "en", request)[-1].rater
    return rater.display_name if rater else None


def test_others_failures_never_refuse_a_correct_personal_code(pool, database, shown):  # noqa: F811
    handlers = replica(pool, database, study="coded")
    _, code = create_rater(handlers.store, "coded", "Dr Sara")
    for index in range(20):  # 20 wrong codes from 4 addresses: everyone's lockout, were it a shared code
        assert joined_as(handlers, request_from(f"198.51.100.{index // 5}"), WRONG) is None
    assert shown == ["rater_code_invalid"] * 20
    assert joined_as(handlers, request_from("203.0.113.1"), code) == "Dr Sara"
    assert joined_as(handlers, request_from("198.51.100.0"), code) is None  # its own lockout holds
    assert shown[-1] == "too_many_attempts"


def test_a_wrong_shared_code_still_locks_everyone_out(pool, database, shown):  # noqa: F811
    handlers = replica(pool, database, study="shared", access_code="4711")
    for index in range(20):
        assert joined_as(handlers, request_from(f"198.51.100.{index // 5}"), code=f"{index:04d}") is None
    assert joined_as(handlers, request_from("203.0.113.1"), code="4711") is None  # the price of a 4-digit code
    assert shown == ["access_denied"] * 20 + ["too_many_attempts"]


def test_replicas_share_one_count_of_wrong_codes(pool, database, shown):  # noqa: F811
    first, second = replica(pool, database, study="coded"), replica(pool, database, study="coded")
    _, code = create_rater(first.store, "coded", "Dr Sara")
    attacker = request_from("198.51.100.9")
    for handlers in (first, second, first, second, first):  # five wrong codes, split between replicas
        assert joined_as(handlers, attacker, WRONG) is None
    assert joined_as(second, attacker, code) is None and joined_as(first, attacker, code) is None
    assert shown == ["rater_code_invalid"] * 5 + ["too_many_attempts"] * 2


def test_a_spoofed_forwarded_address_is_the_peer_it_came_from(pool, database, shown, monkeypatch):  # noqa: F811
    monkeypatch.delenv("BIMEDIX_TRUSTED_PROXIES", raising=False)
    monkeypatch.delenv("SPACE_ID", raising=False)
    handlers = replica(pool, database, study="coded")
    _, code = create_rater(handlers.store, "coded", "Dr Sara")
    for index in range(5):  # a new made-up address each time: still one client, 127.0.0.1
        joined_as(handlers, request_from("127.0.0.1", f"198.51.100.{index}"), WRONG)
    assert joined_as(handlers, request_from("127.0.0.1", "203.0.113.7"), code) is None
    assert shown == ["rater_code_invalid"] * 5 + ["too_many_attempts"]


def test_organiser_code_guesses_are_counted_in_the_store(database, shown):
    ensure_study(open_store(database), "default")
    boards = [LeaderboardHandlers(open_store(database), "default", "organiser-4711") for _ in range(2)]
    attacker = request_from("198.51.100.9")
    for index in range(5):
        assert boards[index % 2].progress(f"guess-{index}", "en", attacker)[0]["visible"] is False
    assert boards[1].progress("organiser-4711", "en", attacker)[0]["visible"] is False
    assert shown == ["too_many_attempts"]
