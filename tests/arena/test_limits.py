"""Attempt limits: windows per client and overall, lockouts that refuse even the right
code, logged without the code (on a fake clock: nothing here waits)."""

from __future__ import annotations

import logging
import threading
from types import SimpleNamespace

import pytest

from arena import ArenaError, AttemptLimiter, LimitPolicy, client_address
from tests.arena.conftest import STUDY, FakeClock

MINUTE = 60.0


def refused(limiter: AttemptLimiter, client: str) -> ArenaError | None:
    try:
        limiter.admit(client, STUDY)
    except ArenaError as error:
        return error
    return None


def test_five_failures_lock_the_client_out_even_for_the_right_code():
    clock = FakeClock()
    limiter = AttemptLimiter("arena join", clock=clock)
    for _ in range(5):
        assert refused(limiter, "10.0.0.1") is None
        limiter.record_failure("10.0.0.1", STUDY)
        clock.advance(30)
    error = refused(limiter, "10.0.0.1")  # whatever is typed next, it is not checked
    assert error is not None and error.code == "too_many_attempts"
    assert error.params["minutes"] == 15
    assert "15" in error.message("en") and "15" in error.message("ar") and "wait" in error.message("en")
    assert refused(limiter, "10.0.0.2") is None  # another client is not affected
    clock.advance(14 * MINUTE)
    assert refused(limiter, "10.0.0.1").params["minutes"] == 1
    clock.advance(MINUTE)
    assert refused(limiter, "10.0.0.1") is None  # the lockout is over


def test_a_person_who_mistypes_a_few_times_is_not_locked_out():
    clock = FakeClock()
    limiter = AttemptLimiter("arena join", clock=clock)
    for _ in range(4):
        assert refused(limiter, "10.0.0.1") is None
        limiter.record_failure("10.0.0.1", STUDY)
        clock.advance(5)
    assert refused(limiter, "10.0.0.1") is None
    clock.advance(15 * MINUTE)  # old failures leave the window
    for _ in range(4):
        limiter.record_failure("10.0.0.1", STUDY)
    assert refused(limiter, "10.0.0.1") is None


def test_attempts_per_client_slide_and_refusals_do_not_count():
    clock = FakeClock()
    limiter = AttemptLimiter("arena vote", LimitPolicy(attempts_per_client=10), clock=clock)
    for _ in range(10):
        assert refused(limiter, "c") is None
        clock.advance(1)
    assert refused(limiter, "c").params["minutes"] == 1
    clock.advance(40)
    for _ in range(5):  # pressing again while waiting does not push the wait back
        assert refused(limiter, "c") is not None
    clock.advance(10)  # the first attempt is now a minute old
    assert refused(limiter, "c") is None
    assert refused(limiter, "c") is not None  # the second one is not yet


def test_many_clients_cannot_share_the_guessing():
    clock = FakeClock()
    limiter = AttemptLimiter("organiser code", clock=clock)
    for index in range(20):  # one failure each, from 20 addresses
        client = f"10.0.1.{index}"
        assert refused(limiter, client) is None
        limiter.record_failure(client, STUDY)
    error = refused(limiter, "10.0.9.9")  # a fresh address: everyone is locked out
    assert error is not None and error.params["minutes"] == 15
    clock.advance(15 * MINUTE)
    assert refused(limiter, "10.0.9.9") is None


def test_the_overall_attempt_window_holds_across_clients():
    clock = FakeClock()
    limiter = AttemptLimiter("arena join", LimitPolicy(attempts_per_client=10, attempts_overall=30), clock=clock)
    for index in range(30):
        assert refused(limiter, f"client-{index}") is None
    assert refused(limiter, "client-new") is not None
    clock.advance(MINUTE)
    assert refused(limiter, "client-new") is None


def test_guessing_a_four_digit_code_takes_days():
    """The defaults against a script with as many addresses as it likes: how long do
    10,000 guesses take, guessing as fast as the limits let it?"""
    clock = FakeClock()
    limiter = AttemptLimiter("arena join", clock=clock)
    guesses, client = 0, 0
    while guesses < 10_000:
        error = refused(limiter, f"bot-{client % 50}")
        if error is None:
            limiter.record_failure(f"bot-{client % 50}", STUDY)
            guesses += 1
            client += 1
        else:
            clock.advance(MINUTE)
    days = (clock.now - 1000.0) / 86_400
    assert days > 3, days


def test_failures_and_lockouts_are_logged_with_client_and_study(caplog):
    clock = FakeClock()
    limiter = AttemptLimiter("arena join", clock=clock)
    with caplog.at_level(logging.INFO, logger="bimedix.arena"):
        for _ in range(5):
            limiter.record_failure("192.0.2.7", STUDY)
    records = [r for r in caplog.records if r.name == "bimedix.arena"]
    assert len(records) == 6 and all(r.levelno == logging.WARNING for r in records)
    assert all("192.0.2.7" in r.getMessage() and STUDY in r.getMessage() for r in records)
    assert "locked out for 15 min" in records[-1].getMessage()


def test_the_limiter_is_thread_safe():
    limiter = AttemptLimiter("arena vote", LimitPolicy(attempts_per_client=100, attempts_overall=1000))
    admitted = []

    def hammer(client: str) -> None:
        for _ in range(200):
            admitted.append(refused(limiter, client) is None)

    threads = [threading.Thread(target=hammer, args=(f"c{index % 4}",)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(admitted) == 400  # 4 clients x 100, exactly


def test_the_client_is_the_requests_address_or_unknown():
    assert client_address(SimpleNamespace(client=SimpleNamespace(host="203.0.113.5"))) == "203.0.113.5"
    assert client_address(None) == client_address(SimpleNamespace(client=None)) == "unknown"


def test_policies_must_be_positive():
    with pytest.raises(ValueError):
        LimitPolicy(failures_per_client=0)
    with pytest.raises(ValueError):
        LimitPolicy(lockout_s=0)
