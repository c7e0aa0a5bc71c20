"""One browser session's conversation: the engine's ChatSession plus what only the screen needs.

The engine keeps the history the model reads (a text-only model never keeps an image;
a vision model keeps decoded pixels). The screen also shows each turn's files as they
were uploaded, and the exchange that is still being generated; both live here.
One Conversation per browser session (gr.State), so no one sees another person's chat.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from engine.generation import GenerationSettings
from engine.loading import LoadedModel
from engine.session import ChatSession, Reply

NO_ADAPTER = "none"


@dataclass(frozen=True)
class ChatOptions:
    """What the person chose in the settings, applied before each reply."""

    reply_language: str = "auto"
    settings: GenerationSettings = field(default_factory=GenerationSettings)
    adapter: str = NO_ADAPTER


@dataclass
class PendingExchange:
    text: str
    files: tuple[str, ...]
    reply: Reply
    epoch: int  # Conversation.epoch when it started; Clear starts a new epoch


class Conversation:
    def __init__(self, loaded: LoadedModel):
        self.session = ChatSession(loaded)
        self.attachments: list[tuple[str, ...]] = []  # uploaded files, one entry per finished user turn
        self.pending: PendingExchange | None = None
        self.export_dirs: list[Path] = []
        self.epoch = 0

    @property
    def loaded(self) -> LoadedModel:
        return self.session.loaded

    def send(self, text: str, files: Sequence[str], options: ChatOptions) -> Reply:
        """Start a reply; raises UserFacingError (bad file, empty message) with nothing changed."""
        self._apply(options)
        files = tuple(files)
        reply = self.session.send(text or "", images=files)
        self.pending = PendingExchange((text or "").strip(), files, reply, self.epoch)
        return reply

    def regenerate(self, options: ChatOptions) -> Reply:
        """Answer the last user message again; its files go with it."""
        self._apply(options)
        last = self.session.messages[-2] if len(self.session.messages) >= 2 else None
        reply = self.session.regenerate()  # raises before anything changes
        files = self.attachments.pop() if self.attachments else ()
        self.pending = PendingExchange(last.content, files, reply, self.epoch)
        return reply

    def finish(self) -> None:
        """The reply ended (done, stopped, failed): file its turn's uploads with it."""
        if self.pending is None:
            return
        if self.pending.epoch != self.epoch:
            # Cleared while it streamed: the engine filed the stopped exchange after the
            # clear, and it must not come back.
            self.session.clear()
            self.pending = None
            return
        users = sum(1 for message in self.session.messages if message.role == "user")
        if users > len(self.attachments):  # a reply never started leaves no turn behind
            self.attachments.append(self.pending.files)
        self.pending = None

    def clear(self) -> None:
        self.stop()
        self.session.clear()
        self.attachments.clear()
        self.epoch += 1

    def stop(self) -> None:
        if self.pending is not None:
            self.pending.reply.stop()

    def discard(self) -> None:
        """The browser session ended: stop generating and delete this session's exports."""
        self.stop()
        for folder in self.export_dirs:
            shutil.rmtree(folder, ignore_errors=True)
        self.export_dirs.clear()

    def _apply(self, options: ChatOptions) -> None:
        self.session.language_policy = options.reply_language
        self.session.settings = options.settings
        adapters = self.loaded.adapters
        # The base weights are shared by every session; replies are generated one at a time
        # per model (the queue's concurrency limit), so each reply sets its own adapter.
        if adapters.names():
            adapters.activate(None if options.adapter == NO_ADAPTER else options.adapter)
