"""Attempt limits: windows per client and overall, lockouts that refuse even the right
code, logged without the code (on a fake clock: nothing here waits). Every behaviour holds
wherever the counts are kept: in memory (one process), or in the vote store on SQLite and
on PostgreSQL, where every replica sharing the database sees one count."""

from __future__ import annotations

import logging
import threading
from types import SimpleNamespace

import pytest

from arena import ArenaError, AttemptLimiter, LimitPolicy, client_address, open_store
from tests.arena.conftest import STUDY, FakeClock

MINUTE = 60.0


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def counts_in(request, tmp_path):
    """Where a test's limiters count: None (in memory), or a vote store on SQLite or PostgreSQL."""
    if request.param == "memory":
        yield None
        return
    if request.param == "sqlite":
        store = open_store(str(tmp_path / "arena.db"), busy_timeout_s=5.0)
        yield store
        store.close()
        return
    server = request.getfixturevalue("postgres")
    url = server.new_database()
    store = open_store(url, busy_timeout_s=5.0)
    yield store
    store.close()
    server.drop_database(url)


@pytest.fixture
def limiter_for(counts_in):
    """AttemptLimiter(purpose, policy, clock) counting where `counts_in` says."""
    def make(purpose: str, policy: LimitPolicy | None = None, clock=None) -> AttemptLimiter:
        where = {} if counts_in is None else {"store": counts_in}
        return AttemptLimiter(purpose, policy, clock=clock or FakeClock(), **where)
    return make


def refused(limiter: AttemptLimiter, client: str) -> ArenaError | None:
    try:
        limiter.admit(client, STUDY)
    except ArenaError as error:
        return error
    return None


def test_five_failures_lock_the_client_out_even_for_the_right_code(limiter_for):
    clock = FakeClock()
    limiter = limiter_for("arena join", clock=clock)
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


def test_a_person_who_mistypes_a_few_times_is_not_locked_out(limiter_for):
    clock = FakeClock()
    limiter = limiter_for("arena join", clock=clock)
    for _ in range(4):
        assert refused(limiter, "10.0.0.1") is None
        limiter.record_failure("10.0.0.1", STUDY)
        clock.advance(5)
    assert refused(limiter, "10.0.0.1") is None
    clock.advance(15 * MINUTE)  # old failures leave the window
    for _ in range(4):
        limiter.record_failure("10.0.0.1", STUDY)
    assert refused(limiter, "10.0.0.1") is None


def test_attempts_per_client_slide_and_refusals_do_not_count(limiter_for):
    clock = FakeClock()
    limiter = limiter_for("arena vote", LimitPolicy(attempts_per_client=10), clock=clock)
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


def test_many_clients_cannot_share_the_guessing(limiter_for):
    clock = FakeClock()
    limiter = limiter_for("organiser code", clock=clock)
    for index in range(20):  # one failure each, from 20 addresses
        client = f"10.0.1.{index}"
        assert refused(limiter, client) is None
        limiter.record_failure(client, STUDY)
    error = refused(limiter, "10.0.9.9")  # a fresh address: everyone is locked out
    assert error is not None and error.params["minutes"] == 15
    clock.advance(15 * MINUTE)
    assert refused(limiter, "10.0.9.9") is None


def test_the_overall_attempt_window_holds_across_clients(limiter_for):
    clock = FakeClock()
    limiter = limiter_for("arena join", LimitPolicy(attempts_per_client=10, attempts_overall=30), clock=clock)
    for index in range(30):
        assert refused(limiter, f"client-{index}") is None
    assert refused(limiter, "client-new") is not None
    clock.advance(MINUTE)
    assert refused(limiter, "client-new") is None


def test_guessing_a_four_digit_code_takes_days():
    """The defaults against a script with as many addresses as it likes: how long do
    10,000 guesses take, guessing as fast as the limits let it? (In memory only: the
    arithmetic is the limiter's, the same wherever it counts, and 20,000 transactions
    would only measure the disk.)"""
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


def test_failures_and_lockouts_are_logged_with_client_and_study(limiter_for, caplog):
    clock = FakeClock()
    limiter = limiter_for("arena join", clock=clock)
    with caplog.at_level(logging.INFO, logger="bimedix.arena"):
        for _ in range(5):
            limiter.record_failure("192.0.2.7", STUDY)
    records = [r for r in caplog.records if r.name == "bimedix.arena"]
    assert len(records) == 6 and all(r.levelno == logging.WARNING for r in records)
    assert all("192.0.2.7" in r.getMessage() and STUDY in r.getMessage() for r in records)
    assert "locked out for 15 min" in records[-1].getMessage()


def hammered(limiters: list[AttemptLimiter], threads_each: int, tries: int, clients: int) -> int:
    """Attempts admitted when `threads_each` threads per limiter try `tries` times each, from
    `clients` clients taken in turn, all at once."""
    admitted = []

    def hammer(limiter: AttemptLimiter, client: str) -> None:
        for _ in range(tries):
            admitted.append(refused(limiter, client) is None)

    threads = [threading.Thread(target=hammer, args=(limiter, f"c{index % clients}"))
               for limiter in limiters for index in range(threads_each)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(admitted)


def test_the_limiter_is_thread_safe(limiter_for):
    limiter = limiter_for("arena vote", LimitPolicy(attempts_per_client=20, attempts_overall=1000))
    assert hammered([limiter], threads_each=8, tries=25, clients=4) == 80  # 4 clients x 20, exactly


def two_replicas(database: str, clock: FakeClock, policy: LimitPolicy | None = None):
    """Two app replicas' limiters on one database: each with its own store (engine, pool)."""
    stores = [open_store(database, busy_timeout_s=10.0) for _ in range(2)]
    return stores, [AttemptLimiter("arena join", policy, clock=clock, store=store) for store in stores]


def test_replicas_sharing_a_database_share_one_count(database):
    clock = FakeClock()
    stores, (first, second) = two_replicas(database, clock)
    try:
        for limiter in (first, second, first, second):  # four failures, split between the replicas
            assert refused(limiter, "10.0.0.1") is None
            limiter.record_failure("10.0.0.1", STUDY)
        assert refused(second, "10.0.0.1") is None
        second.record_failure("10.0.0.1", STUDY)  # the fifth: locked out on every replica
        assert refused(first, "10.0.0.1").code == refused(second, "10.0.0.1").code == "too_many_attempts"
        for index in range(15):  # and everyone's count is one count too
            limiter = (first, second)[index % 2]
            limiter.record_failure(f"10.0.2.{index}", STUDY)
        assert refused(first, "10.0.9.9") is not None and refused(second, "10.0.9.9") is not None
    finally:
        for store in stores:
            store.close()


def test_replicas_admitting_at_once_never_exceed_the_limit(database):
    stores, limiters = two_replicas(database, FakeClock(), LimitPolicy(attempts_per_client=15, attempts_overall=25))
    try:
        assert hammered(limiters, threads_each=3, tries=10, clients=2) == 25  # 2 x 15 allowed, 25 overall
    finally:
        for store in stores:
            store.close()


def test_a_correct_personal_code_is_never_refused_for_others_failures(limiter_for):
    """Lock guessing, not people: the overall lockout and window, which anyone failing on
    purpose can fill, do not refuse a personal code (too strong to guess within one
    client's own limits); the client's own limits still do."""
    clock = FakeClock()
    limiter = limiter_for("arena join", LimitPolicy(attempts_overall=25), clock=clock)
    for index in range(20):  # 20 wrong codes from 20 addresses: the overall lockout
        assert refused(limiter, f"10.0.1.{index}") is None
        limiter.record_failure(f"10.0.1.{index}", STUDY)
    assert refused(limiter, "10.0.9.9").code == "too_many_attempts"  # a shared code: locked
    limiter.admit("10.0.9.9", STUDY, personal_code=True)  # a personal code: checked
    for index in range(5):  # the overall window full as well
        limiter.admit(f"10.0.3.{index}", STUDY, personal_code=True)
    limiter.admit("10.0.9.8", STUDY, personal_code=True)
    for _ in range(5):  # but a client guessing personal codes is locked out by its own failures
        limiter.admit("10.0.4.1", STUDY, personal_code=True)
        limiter.record_failure("10.0.4.1", STUDY)
    with pytest.raises(ArenaError) as locked:
        limiter.admit("10.0.4.1", STUDY, personal_code=True)
    assert locked.value.code == "too_many_attempts" and locked.value.params["minutes"] == 15


def test_counts_are_kept_only_as_long_as_a_window_needs_them(counts_in):
    """The store forgets attempts older than the windows, and lockouts long over, as new
    attempts come (a table that only grows would slow every attempt down)."""
    if counts_in is None:
        pytest.skip("in memory: stale clients are swept as before")
    from sqlalchemy import func, select

    from arena.tables import AttemptEvent, AttemptLockout

    clock = FakeClock()
    limiter = AttemptLimiter("arena join", clock=clock, store=counts_in)
    for index in range(30):  # 30 attempts and failures, one lockout of one client, one of everyone
        client = f"10.0.5.{index % 25}"
        limiter.admit(client, STUDY, personal_code=True)
        limiter.record_failure(client, STUDY)
        clock.advance(1)
    for _ in range(5):
        limiter.record_failure("10.0.5.99", STUDY)
    with counts_in.read() as session:
        assert session.scalar(select(func.count()).select_from(AttemptLockout)) == 2
    clock.advance(60 * MINUTE)
    limiter.admit("10.0.6.1", STUDY)
    with counts_in.read() as session:
        assert session.scalar(select(func.count()).select_from(AttemptEvent)) == 1
        assert session.scalar(select(func.count()).select_from(AttemptLockout)) == 0


def test_the_client_is_the_requests_address_or_unknown():
    assert client_address(SimpleNamespace(client=SimpleNamespace(host="203.0.113.5"))) == "203.0.113.5"
    assert client_address(None) == client_address(SimpleNamespace(client=None)) == "unknown"


def test_policies_must_be_positive():
    with pytest.raises(ValueError):
        LimitPolicy(failures_per_client=0)
    with pytest.raises(ValueError):
        LimitPolicy(lockout_s=0)
