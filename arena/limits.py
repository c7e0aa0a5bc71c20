"""Attempt limits: sliding windows per client and overall, and lockouts after failures.

Without them a 4-digit study code falls to the API in under half an hour (~6 tries/s) and
the organiser code not much later. One `AttemptLimiter` guards one kind of attempt (joins,
votes, organiser-code checks):

    limiter = AttemptLimiter("arena join", store=store)   # counted in the vote store
    limiter.admit(client, study)          # ArenaError("too_many_attempts") when refused
    if not code_is_right:
        limiter.record_failure(client, study)

`admit` refuses, before any code is checked, while the client (or everyone) is locked out
or over its window: a right code typed during a lockout is refused too, or the lockout
would only slow guessing down until the right guess. Refused attempts are not counted, so
pressing again while waiting does not lengthen the wait. The client is the address
`arena.addresses.client_address` gives: the socket peer, or what a configured proxy says.

Defaults (`LimitPolicy()`), and why:
- 10 attempts per client per minute, 300 overall: plenty for people, nothing for a script.
- A client with 5 failures within 15 minutes is locked out for 15 minutes: mistyping twice
  (or four times) costs nothing. One address then gets ~20 guesses an hour, so a 4-digit
  code takes ~10 days on average.
- 20 failures from all clients together within 15 minutes lock everyone out for 15
  minutes, so many addresses cannot share the guessing: at most ~80 guesses an hour, ~2.6
  days on average for a 4-digit code (5 for all 10,000).

Lock guessing, not people: anyone failing on purpose from a few addresses can fill the
overall window or trigger the overall lockout, so those never refuse a personal code
(`admit(..., personal_code=True)`): at ~49 bits (arena/rater_codes.py) it is safe behind
each client's own limits alone (at 20 guesses an hour, finding any one of 100 raters'
codes takes ~4·10^11 hours from one address, ~4·10^8 from a thousand). The overall limits still guard the shared study code
and the organiser code, which are short enough to need them.

Counts: with a `store`, in the vote store (arena/ledgers.py), so every replica sharing the
database sees one count and one lockout; without one, in this process only (scripts,
tests). The clock is wall-clock time, the same on every replica.

Failures and lockouts go to the "bimedix.arena" logger with the client and the study,
never the typed code (this module never sees it).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Callable

from arena.addresses import UNKNOWN_CLIENT, client_address  # noqa: F401  (client_address: re-exported)
from arena.errors import ArenaError
from arena.ledgers import Book, DatabaseLedger, MemoryLedger
from arena.store import ArenaStore

log = logging.getLogger("bimedix.arena")

# The ArenaError codes that mean "a wrong code was typed": what callers count as failures.
WRONG_CODE_ERRORS = frozenset({"access_denied", "rater_code_invalid"})


@dataclass(frozen=True)
class LimitPolicy:
    """How many attempts and failures are allowed, and for how long a lockout lasts."""

    attempts_per_client: int = 10  # attempts one client may make within `window_s`
    attempts_overall: int = 300  # attempts all clients together may make within `window_s`
    window_s: float = 60.0
    failures_per_client: int = 5  # wrong codes within `failure_window_s` that lock the client out
    failures_overall: int = 20  # wrong codes from all clients that lock everyone out (shared codes)
    failure_window_s: float = 15 * 60.0
    lockout_s: float = 15 * 60.0

    def __post_init__(self) -> None:
        counts = (self.attempts_per_client, self.attempts_overall, self.failures_per_client, self.failures_overall)
        if min(counts) < 1 or min(self.window_s, self.failure_window_s, self.lockout_s) <= 0:
            raise ValueError(f"limits must be positive: {self}")


# Votes are not guesses (no failures counted); the window only stops a script stuffing
# the ballot. A vote needs both models' replies first, so people stay far below it.
VOTE_POLICY = LimitPolicy(attempts_per_client=20, attempts_overall=600)


class AttemptLimiter:
    """Thread-safe limits for one kind of attempt. `purpose` names it in the log and in
    the store; `store`: count in the vote store, shared by every replica (None: in this
    process only); `clock` (seconds, wall-clock by default) is injectable so tests can
    pass time."""

    def __init__(self, purpose: str, policy: LimitPolicy | None = None,
                 clock: Callable[[], float] = time.time, store: ArenaStore | None = None):
        self.purpose, self.policy, self._clock = purpose, policy or LimitPolicy(), clock
        self._ledger = DatabaseLedger(store) if store is not None else MemoryLedger()

    def admit(self, client: str, study: str = "", *, personal_code: bool = False) -> None:
        """Count an attempt from `client`, or raise ArenaError("too_many_attempts", minutes=N)
        (not counted) while it is locked out or over a window. `personal_code`: the attempt
        is a personal code, which only the client's own limits refuse (see above)."""
        client = client or UNKNOWN_CLIENT
        with self._ledger.open(self.purpose, study) as book:
            now = self._clock()
            self._forget_old(book, now)
            wait = self._wait(book, client, now)
            if not personal_code:
                wait = max(wait, self._wait(book, None, now))
            if wait <= 0:
                book.add(client, False, now)
        if wait > 0:
            log.debug("%s refused for client %s (study %r): wait %.0f s", self.purpose, client, study, wait)
            raise ArenaError("too_many_attempts", minutes=max(1, math.ceil(wait / 60)))

    def record_failure(self, client: str, study: str = "") -> None:
        """A wrong code from `client`: counted towards its lockout and everyone's."""
        client, policy = client or UNKNOWN_CLIENT, self.policy
        with self._ledger.open(self.purpose, study) as book:
            now = self._clock()
            book.add(client, True, now)
            failures = self._failures(book, client, now, policy.failures_per_client)
            if failures >= policy.failures_per_client:
                book.lock(client, now + policy.lockout_s, counted_from=now)  # after it, a fresh count
            everyone_locked = self._failures(book, None, now, policy.failures_overall) >= policy.failures_overall
            if everyone_locked:
                book.lock(None, now + policy.lockout_s, counted_from=now)
        self._log_failure(client, study, failures, everyone_locked)

    def _wait(self, book: Book, client: str | None, now: float) -> float:
        """Seconds before `client` (None: anyone) may try again; 0 or less: now."""
        policy = self.policy
        limit = policy.attempts_per_client if client is not None else policy.attempts_overall
        locked_until, _ = book.lockout(client)
        recent = book.recent(client, False, now - policy.window_s, limit)
        window_wait = recent[limit - 1] + policy.window_s - now if len(recent) >= limit else 0.0
        return max(locked_until - now, window_wait)

    def _failures(self, book: Book, client: str | None, now: float, limit: int) -> int:
        """`client`'s failures (None: everyone's) in the window since its last lockout, up to `limit`."""
        _, counted_from = book.lockout(client)
        return len(book.recent(client, True, max(now - self.policy.failure_window_s, counted_from), limit))

    def _forget_old(self, book: Book, now: float) -> None:
        policy = self.policy
        book.forget(attempts_before=now - policy.window_s, failures_before=now - policy.failure_window_s,
                    lockouts_before=now - policy.failure_window_s)

    def _log_failure(self, client: str, study: str, failures: int, everyone_locked: bool) -> None:
        policy = self.policy
        log.warning("%s failed for client %s (study %r): failure %d of %d before a %.0f-minute lockout",
                    self.purpose, client, study, failures, policy.failures_per_client, policy.lockout_s / 60)
        if failures >= policy.failures_per_client:
            log.warning("%s: client %s locked out for %.0f min (study %r) after %d failures",
                        self.purpose, client, policy.lockout_s / 60, study, policy.failures_per_client)
        if everyone_locked:
            log.warning("%s: every client locked out for %.0f min (study %r) after %d failures from all "
                        "clients within %.0f min (personal codes are still checked)", self.purpose,
                        policy.lockout_s / 60, study, policy.failures_overall, policy.failure_window_s / 60)
