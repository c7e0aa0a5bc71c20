"""How many replies an app holds at once: one per holder (a browser session), a few per
client (a browser, an address), a bound in all.

Without a bound, one client could queue as many long replies as it liked and every other
person waited behind them (six requests from one client delayed another's first token
from 0.2 s to 28.5 s). A reply is admitted when it is asked for, before it waits for its
model (engine/backend.py), and holds its ticket until it ends; a holder that already has
one in flight, or an app already holding `limit` replies, is refused at once with a
message the person can act on.

Holders alone were not enough: one script opened 17 sessions under one cookie, each
holder admitted, and filled every place while another browser waited two minutes with no
word. So a reply also names its clients (the browser's cookie and the address it comes
from, ui/sessions.py: `client_keys`) and each client holds at most `per_client` replies:
the script's extra sessions are told at once that they already have replies being written.
An address gets more places than a browser (several people can share one, a clinic
behind one router), but never all of them.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass, field

from engine.errors import UserFacingError

DEFAULT_LIMIT = 16
PER_BROWSER = 2  # a chat tab and an arena tab of one browser


@dataclass
class Ticket:
    admission: "Admission"
    holder: Hashable
    clients: tuple[Hashable, ...] = ()
    _released: bool = field(default=False, repr=False)

    def release(self) -> None:
        """Idempotent: the reply ended (done, stopped, failed, refused)."""
        self.admission._release(self)


class Admission:
    """Thread-safe; one per app, shared by every screen that starts replies."""

    def __init__(self, limit: int = DEFAULT_LIMIT, per_browser: int = PER_BROWSER, per_address: int | None = None):
        """`per_browser`, `per_address`: the most replies one browser (its cookie) and one
        address hold at once (default for an address: half of `limit`, at least `per_browser`)."""
        if limit < 1 or per_browser < 1 or (per_address is not None and per_address < 1):
            raise ValueError("the admission limits must be >= 1")
        self.limit, self.per_browser = limit, per_browser
        self.per_address = per_address or max(per_browser, limit // 2)
        self._holders: set[Hashable] = set()
        self._clients: Counter[Hashable] = Counter()
        self._lock = threading.Lock()

    @property
    def in_flight(self) -> int:
        with self._lock:
            return len(self._holders)

    def admit(self, holder: Hashable, clients: tuple[Hashable, ...] = ()) -> Ticket:
        """A ticket for `holder`'s next reply (a key such as a browser session's hash: not
        an object the caller may create anew per request), counted against each of its
        `clients` (("browser", id) and ("address", host) keys). Raises UserFacingError
        "generation_in_progress" (this holder has one), "client_busy" (a client already holds
        its share) or "server_busy" (the app is full)."""
        with self._lock:
            if holder in self._holders:
                raise UserFacingError("generation_in_progress")
            for client in clients:
                if self._clients[client] >= self._share(client):
                    raise UserFacingError("client_busy", count=self._clients[client])
            if len(self._holders) >= self.limit:
                raise UserFacingError("server_busy", count=len(self._holders))
            self._holders.add(holder)
            self._clients.update(clients)
        return Ticket(self, holder, tuple(clients))

    def _share(self, client: Hashable) -> int:
        kind = client[0] if isinstance(client, tuple) and client else None
        return self.per_address if kind == "address" else self.per_browser

    def _release(self, ticket: Ticket) -> None:
        with self._lock:
            if not ticket._released:
                ticket._released = True
                self._holders.discard(ticket.holder)
                self._clients.subtract(ticket.clients)
                self._clients += Counter()  # drops the clients back at zero
