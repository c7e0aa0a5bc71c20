"""Attempt limits: sliding windows per client and overall, and lockouts after failures.

Without them a 4-digit study code falls to the API in under half an hour (~6 tries/s) and
the organiser code not much later. One `AttemptLimiter` guards one kind of attempt (joins,
votes, organiser-code checks) for one process:

    limiter = AttemptLimiter("arena join")
    limiter.admit(client, study)          # ArenaError("too_many_attempts") when refused
    if not code_is_right:
        limiter.record_failure(client, study)

`admit` refuses, before any code is checked, while the client (or everyone) is locked out
or over its window: a right code typed during a lockout is refused too, or the lockout
would only slow guessing down until the right guess. Refused attempts are not counted, so
pressing again while waiting does not lengthen the wait.

Defaults (`LimitPolicy()`), and why:
- 10 attempts per client per minute, 300 overall: plenty for people, nothing for a script.
- A client with 5 failures within 15 minutes is locked out for 15 minutes: mistyping twice
  (or four times) costs nothing. One address then gets ~20 guesses an hour, so a 4-digit
  code takes ~10 days on average.
- 20 failures from all clients together within 15 minutes lock everyone out for 15
  minutes, so many addresses cannot share the guessing: at most ~80 guesses an hour, ~2.6
  days on average for a 4-digit code (5 for all 10,000). The price: someone failing on
  purpose from several addresses can keep new joins out, a quarter of an hour at a time;
  each lockout is logged, and raters already in keep rating.

Failures and lockouts go to the "bimedix.arena" logger with the client and the study,
never the typed code (this module never sees it). Limits are per process: replicas
sharing a database each count their own.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

from arena.errors import ArenaError

log = logging.getLogger("bimedix.arena")

UNKNOWN_CLIENT = "unknown"
# The ArenaError codes that mean "a wrong code was typed": what callers count as failures.
WRONG_CODE_ERRORS = frozenset({"access_denied", "rater_code_invalid"})
_SWEEP_AT = 1024  # tracked clients before stale ones are dropped (memory stays bounded)


@dataclass(frozen=True)
class LimitPolicy:
    """How many attempts and failures are allowed, and for how long a lockout lasts."""

    attempts_per_client: int = 10
    attempts_overall: int = 300
    window_s: float = 60.0
    failures_per_client: int = 5
    failures_overall: int = 20
    failure_window_s: float = 15 * 60.0
    lockout_s: float = 15 * 60.0

    def __post_init__(self) -> None:
        counts = (self.attempts_per_client, self.attempts_overall, self.failures_per_client, self.failures_overall)
        if min(counts) < 1 or min(self.window_s, self.failure_window_s, self.lockout_s) <= 0:
            raise ValueError(f"limits must be positive: {self}")


# Votes are not guesses (no failures counted); the window only stops a script stuffing
# the ballot. A vote needs both models' replies first, so people stay far below it.
VOTE_POLICY = LimitPolicy(attempts_per_client=20, attempts_overall=600)


@dataclass
class _Record:
    """Recent attempts and failures (monotonic times) of one client, or of everyone."""

    attempts: deque = field(default_factory=deque)
    failures: deque = field(default_factory=deque)
    locked_until: float = 0.0

    def prune(self, now: float, policy: LimitPolicy) -> None:
        for times, span in ((self.attempts, policy.window_s), (self.failures, policy.failure_window_s)):
            while times and times[0] <= now - span:
                times.popleft()

    def stale(self, now: float) -> bool:
        return not self.attempts and not self.failures and self.locked_until <= now


def _window_wait(times: deque, limit: int, window_s: float, now: float) -> float:
    """Seconds until one more attempt fits in the window (0: it fits now)."""
    if len(times) < limit:
        return 0.0
    return times[-limit] + window_s - now


def client_address(request) -> str:
    """The client's address from a `gr.Request` (or anything with `.client.host`);
    "unknown" without one (a direct call, a test)."""
    host = getattr(getattr(request, "client", None), "host", None) if request is not None else None
    return str(host) if host else UNKNOWN_CLIENT


class AttemptLimiter:
    """Thread-safe limits for one kind of attempt. `purpose` names it in the log;
    `clock` (monotonic seconds) is injectable so tests can pass time."""

    def __init__(self, purpose: str, policy: LimitPolicy | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.purpose, self.policy, self._clock = purpose, policy or LimitPolicy(), clock
        self._lock = threading.Lock()
        self._clients: dict[str, _Record] = {}
        self._overall = _Record()
        self._sweep_at = _SWEEP_AT

    def admit(self, client: str, study: str = "") -> None:
        """Count an attempt from `client`, or raise ArenaError("too_many_attempts", minutes=N)
        (not counted) while it is locked out or over a window."""
        with self._lock:
            now = self._clock()
            record = self._record(client, now)
            policy = self.policy
            wait = max(self._overall.locked_until - now, record.locked_until - now,
                       _window_wait(record.attempts, policy.attempts_per_client, policy.window_s, now),
                       _window_wait(self._overall.attempts, policy.attempts_overall, policy.window_s, now))
            if wait > 0:
                log.debug("%s refused for client %s (study %r): wait %.0f s", self.purpose, client, study, wait)
                raise ArenaError("too_many_attempts", minutes=max(1, math.ceil(wait / 60)))
            record.attempts.append(now)
            self._overall.attempts.append(now)

    def record_failure(self, client: str, study: str = "") -> None:
        """A wrong code from `client`: counted towards its lockout and everyone's."""
        with self._lock:
            now = self._clock()
            record, policy = self._record(client, now), self.policy
            record.failures.append(now)
            self._overall.failures.append(now)
            log.warning("%s failed for client %s (study %r): failure %d of %d before a %.0f-minute lockout",
                        self.purpose, client, study, len(record.failures), policy.failures_per_client,
                        policy.lockout_s / 60)
            if len(record.failures) >= policy.failures_per_client:
                record.locked_until = now + policy.lockout_s
                record.failures.clear()  # after the lockout, a fresh count
                log.warning("%s: client %s locked out for %.0f min (study %r) after %d failures",
                            self.purpose, client, policy.lockout_s / 60, study, policy.failures_per_client)
            if len(self._overall.failures) >= policy.failures_overall:
                self._overall.locked_until = now + policy.lockout_s
                self._overall.failures.clear()
                log.warning("%s: every client locked out for %.0f min (study %r) after %d failures from "
                            "all clients within %.0f min", self.purpose, policy.lockout_s / 60, study,
                            policy.failures_overall, policy.failure_window_s / 60)

    def _record(self, client: str, now: float) -> _Record:
        """The client's record, pruned to the windows (with the overall one)."""
        if len(self._clients) >= self._sweep_at:
            for kept in self._clients.values():
                kept.prune(now, self.policy)
            self._clients = {key: kept for key, kept in self._clients.items() if not kept.stale(now)}
            self._sweep_at = max(_SWEEP_AT, 2 * len(self._clients))
        record = self._clients.setdefault(client or UNKNOWN_CLIENT, _Record())
        record.prune(now, self.policy)
        self._overall.prune(now, self.policy)
        return record
