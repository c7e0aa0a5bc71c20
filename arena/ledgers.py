"""Where the attempt limits (arena/limits.py) keep their counts: in this process's memory,
or in the vote store, where every replica sharing the database sees one count.

A ledger opens a `Book` for one purpose ("arena join") and scope (a study): a view of its
recent attempts, failures and lockouts that nothing else changes while it is open. In
memory a lock makes it so; in the database it is one small write transaction, serialised
per purpose and scope (SQLite: BEGIN IMMEDIATE, the store's write lock; PostgreSQL: an
advisory lock on the pair), so two replicas admitting at once cannot both take the last
place in a window.

Times are the limiter's clock (seconds). A client of None means everyone together.
"""

from __future__ import annotations

import hashlib
import threading
from collections import deque
from contextlib import contextmanager
from typing import Iterator, Protocol

from sqlalchemy import bindparam, delete, insert, select, text
from sqlalchemy.orm import Session

from arena.store import ArenaStore
from arena.tables import CLIENT_LENGTH, PURPOSE_LENGTH, SCOPE_LENGTH, AttemptEvent, AttemptLockout

EVERYONE = "*"  # the client a lockout of everyone is kept under (no address looks like it)
_SWEEP_AT = 1024  # keys held in memory before stale ones are dropped (memory stays bounded)


class Book(Protocol):
    """One purpose and scope's counts, while the ledger holds them open."""

    def recent(self, client: str | None, failure: bool, since: float, limit: int) -> list[float]:
        """Up to `limit` times after `since`, newest first: `client`'s, or everyone's."""

    def add(self, client: str, failure: bool, at: float) -> None:
        """An attempt admitted (failure=False) or a wrong code (failure=True)."""

    def lockout(self, client: str | None) -> tuple[float, float]:
        """(locked until, failures counted only after); (0, 0) when never locked out."""

    def lock(self, client: str | None, until: float, counted_from: float) -> None: ...

    def forget(self, attempts_before: float, failures_before: float, lockouts_before: float) -> None:
        """Drop what no window counts any more: attempts and failures at or before their
        cutoffs, lockouts that ended at or before theirs."""


class MemoryLedger:
    """Counts in this process only (a limiter built without a store)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.times: dict[tuple, deque] = {}  # (purpose, scope, client, failure) -> times, oldest first
        self.lockouts: dict[tuple, tuple[float, float]] = {}  # (purpose, scope, client) -> lockout
        self.sweep_at = _SWEEP_AT

    @contextmanager
    def open(self, purpose: str, scope: str) -> Iterator[Book]:
        with self._lock:
            yield _MemoryBook(self, purpose, scope)


class _MemoryBook:
    def __init__(self, ledger: MemoryLedger, purpose: str, scope: str):
        self.ledger, self.key = ledger, (purpose, scope)

    def recent(self, client, failure, since, limit):
        found = []
        for at in reversed(self.ledger.times.get((*self.key, client or EVERYONE, failure), ())):
            if at <= since or len(found) == limit:
                break
            found.append(at)
        return found

    def add(self, client, failure, at):
        for who in (client, EVERYONE):
            self.ledger.times.setdefault((*self.key, who, failure), deque()).append(at)

    def lockout(self, client):
        return self.ledger.lockouts.get((*self.key, client or EVERYONE), (0.0, 0.0))

    def lock(self, client, until, counted_from):
        self.ledger.lockouts[(*self.key, client or EVERYONE)] = (until, counted_from)

    def forget(self, attempts_before, failures_before, lockouts_before):
        ledger = self.ledger
        everyone = [(*self.key, EVERYONE, failure) for failure in (False, True)]
        sweep = len(ledger.times) + len(ledger.lockouts) >= ledger.sweep_at
        for key in list(ledger.times) if sweep else everyone:
            times, cutoff = ledger.times.get(key), failures_before if key[3] else attempts_before
            while times and times[0] <= cutoff:
                times.popleft()
            if sweep and not times:
                ledger.times.pop(key, None)
        if sweep:
            ledger.lockouts = {key: held for key, held in ledger.lockouts.items() if held[0] > lockouts_before}
            ledger.sweep_at = max(_SWEEP_AT, 2 * (len(ledger.times) + len(ledger.lockouts)))


class DatabaseLedger:
    """Counts in the vote store (arena_attempts, arena_lockouts): one count for every
    replica on the database, one small transaction per call."""

    def __init__(self, store: ArenaStore):
        self.store = store

    @contextmanager
    def open(self, purpose: str, scope: str) -> Iterator[Book]:
        purpose, scope = purpose[:PURPOSE_LENGTH], scope[:SCOPE_LENGTH]
        with self.store.write() as session:
            if session.get_bind().dialect.name == "postgresql":
                # PostgreSQL has no database-wide write lock to take at BEGIN: an advisory lock
                # on this pair makes replicas take turns, as SQLite's BEGIN IMMEDIATE does.
                session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _lock_key(purpose, scope)})
            yield _DatabaseBook(session, purpose, scope)


def _lock_key(purpose: str, scope: str) -> int:
    digest = hashlib.sha256(f"attempts\0{purpose}\0{scope}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


# Built once: an attempt is a few statements, and building them each time cost more than running them.
_ATTEMPTS, _LOCKOUTS = AttemptEvent.__table__, AttemptLockout.__table__
_IN_SCOPE = (_ATTEMPTS.c.purpose == bindparam("purpose"), _ATTEMPTS.c.scope == bindparam("scope"),
             _ATTEMPTS.c.failure == bindparam("failure"), _ATTEMPTS.c.at > bindparam("since"))
_RECENT_OF_EVERYONE = select(_ATTEMPTS.c.at).where(*_IN_SCOPE).order_by(_ATTEMPTS.c.at.desc()).limit(
    bindparam("limit"))
_RECENT_OF_CLIENT = _RECENT_OF_EVERYONE.where(_ATTEMPTS.c.client == bindparam("client"))
_ADD = insert(_ATTEMPTS)
_LOCKOUTS_OF = select(_LOCKOUTS.c.client, _LOCKOUTS.c.locked_until, _LOCKOUTS.c.counted_from).where(
    _LOCKOUTS.c.purpose == bindparam("purpose"), _LOCKOUTS.c.scope == bindparam("scope"),
    _LOCKOUTS.c.client.in_([bindparam("client"), EVERYONE]))
_FORGET_EVENTS = delete(_ATTEMPTS).where(_ATTEMPTS.c.purpose == bindparam("purpose"),
                                         _ATTEMPTS.c.scope == bindparam("scope"),
                                         _ATTEMPTS.c.failure == bindparam("failure"),
                                         _ATTEMPTS.c.at <= bindparam("cutoff"))
_FORGET_LOCKOUTS = delete(_LOCKOUTS).where(_LOCKOUTS.c.purpose == bindparam("purpose"),
                                           _LOCKOUTS.c.scope == bindparam("scope"),
                                           _LOCKOUTS.c.locked_until <= bindparam("cutoff"))


class _DatabaseBook:
    def __init__(self, session: Session, purpose: str, scope: str):
        self.session, self.key = session, {"purpose": purpose, "scope": scope}
        self.lockouts: dict[str, tuple[float, float]] | None = None  # read once, for one client and everyone

    def recent(self, client, failure, since, limit):
        found = {**self.key, "failure": failure, "since": since, "limit": limit}
        if client is None:
            return list(self.session.scalars(_RECENT_OF_EVERYONE, found))
        return list(self.session.scalars(_RECENT_OF_CLIENT, {**found, "client": client[:CLIENT_LENGTH]}))

    def add(self, client, failure, at):
        self.session.execute(_ADD, {**self.key, "client": client[:CLIENT_LENGTH], "failure": failure, "at": at})

    def lockout(self, client):
        who = (client or EVERYONE)[:CLIENT_LENGTH]
        if self.lockouts is None or who not in self.lockouts:
            rows = self.session.execute(_LOCKOUTS_OF, {**self.key, "client": who})
            self.lockouts = {**(self.lockouts or {}), who: (0.0, 0.0), EVERYONE: (0.0, 0.0),
                             **{row.client: (row.locked_until, row.counted_from) for row in rows}}
        return self.lockouts[who]

    def lock(self, client, until, counted_from):
        who = (client or EVERYONE)[:CLIENT_LENGTH]
        held = self.session.get(AttemptLockout, (self.key["purpose"], self.key["scope"], who))
        if held is None:
            self.session.add(AttemptLockout(**self.key, client=who, locked_until=until, counted_from=counted_from))
        else:
            held.locked_until, held.counted_from = until, counted_from
        self.session.flush()
        self.lockouts = {**(self.lockouts or {}), who: (until, counted_from)}

    def forget(self, attempts_before, failures_before, lockouts_before):
        for failure, cutoff in ((False, attempts_before), (True, failures_before)):
            self.session.execute(_FORGET_EVENTS, {**self.key, "failure": failure, "cutoff": cutoff})
        self.session.execute(_FORGET_LOCKOUTS, {**self.key, "cutoff": lockouts_before})
