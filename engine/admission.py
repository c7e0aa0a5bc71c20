"""How many replies an app holds at once, and at most one per holder (a browser session).

Without a bound, one client could queue as many long replies as it liked and every other
person waited behind them (six requests from one client delayed another's first token
from 0.2 s to 28.5 s). A reply is admitted when it is asked for, before it waits for its
model (engine/backend.py), and holds its ticket until it ends; a holder that already has
one in flight, or an app already holding `limit` replies, is refused at once with a
message the person can act on.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from dataclasses import dataclass, field

from engine.errors import UserFacingError

DEFAULT_LIMIT = 16


@dataclass
class Ticket:
    admission: "Admission"
    holder: Hashable
    _released: bool = field(default=False, repr=False)

    def release(self) -> None:
        """Idempotent: the reply ended (done, stopped, failed, refused)."""
        self.admission._release(self)


class Admission:
    """Thread-safe; one per app, shared by every screen that starts replies."""

    def __init__(self, limit: int = DEFAULT_LIMIT):
        if limit < 1:
            raise ValueError("the admission limit must be >= 1")
        self.limit = limit
        self._holders: set[Hashable] = set()
        self._lock = threading.Lock()

    @property
    def in_flight(self) -> int:
        with self._lock:
            return len(self._holders)

    def admit(self, holder: Hashable) -> Ticket:
        """A ticket for `holder`'s next reply (a key such as a browser session's hash: not
        an object the caller may create anew per request). Raises UserFacingError
        "generation_in_progress" (this holder has one) or "server_busy" (the app is full)."""
        with self._lock:
            if holder in self._holders:
                raise UserFacingError("generation_in_progress")
            if len(self._holders) >= self.limit:
                raise UserFacingError("server_busy", count=len(self._holders))
            self._holders.add(holder)
        return Ticket(self, holder)

    def _release(self, ticket: Ticket) -> None:
        with self._lock:
            if not ticket._released:
                ticket._released = True
                self._holders.discard(ticket.holder)
