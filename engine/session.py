"""One conversation's history, for callers that want the engine to keep one.

    session = ChatSession(loaded)
    reply = session.send("عندي صداع منذ يومين")
    for chunk in reply:            # text chunks as they are generated
        print(chunk.text, end="")
    reply.stop()                   # from any thread: ends generation at the next token
    reply = session.regenerate()   # drop the last reply and answer the last message again

A thin holder: every reply comes from the stateless `engine.reply.reply`, with this
session's history and the options given to the call (else the session's own). When a
reply ends (done, stopped or failed) the exchange is filed, with the reply as far as it
was written.

A session is one conversation for the KV cache too (`ReplyOptions.conversation`, its own
id): each turn reuses what the last one computed (engine/prefix_cache.py). Clear starts a
new conversation; `release()` frees the cache when the session is given up.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from functools import partial
from typing import Sequence

from engine.backend import TokenBackend, local_tokens
from engine.errors import UserFacingError
from engine.images import decoded
from engine.loading import LoadedModel
from engine.messages import Message, without_bidi_controls
from engine.prefix_cache import PREFIX_CACHES
from engine.prompt_input import check_images_readable, newest_within_bounds
from engine.reply import Reply, ReplyOptions, reply


class ChatSession:
    def __init__(self, model: LoadedModel, options: ReplyOptions | None = None,
                 backend: TokenBackend = local_tokens, messages: Sequence[Message] = ()):
        self.model = model
        # Used when a call brings no options of its own; starts on the model's default adapter.
        self.options = options or ReplyOptions(adapter=model.default_adapter)
        # Where tokens are generated: this process, or a GPU worker (engine/backend.py).
        self.backend = backend
        self.messages: list[Message] = list(messages)
        self._current: Reply | None = None  # the reply being generated, if any
        self.conversation = uuid.uuid4().hex  # whose KV cache the replies reuse

    @property
    def busy(self) -> bool:
        """A reply is being written (started and not ended)."""
        return self._current is not None and self._current.started and not self._current.ended

    def send(self, text: str, images: Sequence = (), options: ReplyOptions | None = None) -> Reply:
        """Start the reply to a new user message. Raises UserFacingError on bad input,
        with nothing changed. Image files go through intake here (decoded once); an image
        for a model that cannot see images is refused first, before any file is read."""
        self._ensure_idle()
        check_images_readable(self.model, images)
        images = tuple(map(decoded, images))
        # Stored as the model reads it: no invisible bidi controls (engine/messages.py).
        user = Message("user", without_bidi_controls(text or "").strip(), images)
        options = options or self.options
        if options.conversation is None:
            options = replace(options, conversation=self.conversation)
        history = newest_within_bounds([*self.messages, user])  # a very long chat goes on with its newest turns
        started = reply(self.model, history, options, backend=self.backend)
        started.add_done_callback(partial(self._file, user))
        self._current = started
        return started

    def regenerate(self, options: ReplyOptions | None = None) -> Reply:
        """Drop the last exchange and answer its user message again (text and images).

        The dropped exchange comes back unchanged if the new reply cannot start.
        """
        self._ensure_idle()
        if len(self.messages) < 2 or self.messages[-1].role != "assistant":
            raise UserFacingError("nothing_to_regenerate")
        exchange = self.messages[-2:]
        del self.messages[-2:]
        try:
            return self.send(exchange[0].content, exchange[0].images, options)
        except Exception:
            self.messages += exchange
            raise

    def rollback(self, length: int) -> None:
        """Forget every message after the first `length`."""
        self._ensure_idle()
        del self.messages[length:]

    def clear(self) -> None:
        """Forget the conversation; a reply still being written stops and is not filed."""
        if self._current is not None:
            self._current.stop()
        self._current = None
        self.messages.clear()
        self.release()
        self.conversation = uuid.uuid4().hex

    def release(self) -> None:
        """Free this conversation's KV cache now (the session is closed or replaced)."""
        PREFIX_CACHES.forget(self.conversation)

    def _file(self, user: Message, ended: Reply) -> None:
        # A reply never read left no turn; one cleared away must not come back.
        if ended.started and ended is self._current:
            self.messages += [user, Message("assistant", without_bidi_controls(ended.text).strip())]
        if ended is self._current:
            self._current = None

    def _ensure_idle(self) -> None:
        """One reply at a time; a reply that was never started is simply discarded."""
        if self._current is None:
            return
        if self.busy:
            raise UserFacingError("generation_in_progress")
        self._current.close()
        self._current = None
