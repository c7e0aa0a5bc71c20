"""Replies read in threads of their own, so that a screen's handler can do something while
it waits (show the queue place, interleave the arena's two sides) and still end them at once."""

from __future__ import annotations

import queue
import threading
from typing import Iterator, Sequence

from engine.reply import Reply


class ReplyReaders:
    """One reader thread per reply; what they read comes back on one queue as events."""

    def __init__(self, replies: Sequence[Reply]):
        self.replies = list(replies)
        self._events: queue.Queue = queue.Queue()
        self.threads = [threading.Thread(target=self._pump, args=(reply,), name="bimedix-reply-reader", daemon=True)
                        for reply in self.replies]
        self._running = len(self.threads)
        for thread in self.threads:
            thread.start()

    def _pump(self, reply: Reply) -> None:
        try:
            for _ in reply:
                self._events.put(("chunk", reply))
        except BaseException as error:  # handed to the handler's thread
            self._events.put(("error", error))
        finally:
            self._events.put(("done", reply))

    def events(self, idle_s: float | None = None) -> Iterator[tuple[str, object]]:
        """("chunk", reply), ("error", exception), ("done", reply), and ("idle", None) after
        `idle_s` without news, until every reply is done."""
        while self._running:
            try:
                kind, payload = self._events.get(timeout=idle_s)
            except queue.Empty:
                yield "idle", None
                continue
            self._running -= kind == "done"
            yield kind, payload

    def close(self) -> None:
        """Stop every reply (the handler went away: Stop, a closed tab); each reader ends at
        its reply's next token."""
        for reply in self.replies:
            reply.stop()
        for thread in self.threads:
            thread.join()
