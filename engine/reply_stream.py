"""What a reply is, apart from how it is made: the options of one call (`ReplyOptions`), the
streamed reply (`Reply`) and its stop (`ReplyStop`). Local models (engine/reply.py) and remote
ones (engine/remote.py) give the same Reply."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable, Iterator

from engine.errors import UserFacingError, notice
from engine.generation import Chunk, GenerationSettings
from engine.language import POLICIES


@dataclass(frozen=True)
class ReplyOptions:
    """Everything one reply may be asked for, besides the model and the history."""

    reply_language: str = field(default="auto", metadata={
        "help": "auto (the language of the newest user message), ar or en"})
    settings: GenerationSettings = field(default_factory=GenerationSettings, metadata={
        "help": "sampling and length"})
    adapter: str | None = field(default=None, metadata={
        "help": "a loaded PEFT adapter's name; None: the bare base model"})
    system_prompt: str | None = field(default=None, metadata={
        "help": "None: the model card's (or prompt format's) own; a leading system message in "
                "the history takes precedence over both"})
    stop: tuple[str, ...] = field(default=(), metadata={
        "help": "more stop strings, besides the prompt format's (an API client's `stop`)"})
    conversation: str | None = field(default=None, metadata={
        "help": "an id of the caller's conversation: its KV cache is kept between turns and reused "
                "(engine/prefix_cache.py); None: every turn prefills the whole prompt"})

    def __post_init__(self) -> None:
        if self.reply_language not in POLICIES:
            raise ValueError(f"unknown reply-language policy {self.reply_language!r}; expected one of {POLICIES}")


@dataclass(eq=False)
class Reply:
    """One streamed assistant reply. Iterate for chunks; `stop()` ends it at the next token.

    What the reply did is on the object: `language`, `dropped_turns` (oldest turns left
    out to fit the context), `prompt_tokens`, `intake_notes` (what intake said of the
    newest message's images: which frame of a DICOM series the model sees), then `text`,
    `completion_tokens` and `finish_reason` as it streams.
    A failure mid-reply ends it with finish_reason "failed": iteration then raises the
    UserFacingError (also on `error`), after the text so far.
    """

    language: str
    dropped_turns: int
    prompt_tokens: int
    _chunks: Iterator[Chunk] = field(repr=False)
    _stop: "ReplyStop" = field(repr=False)
    text: str = ""
    completion_tokens: int = 0
    finish_reason: str | None = None
    error: UserFacingError | None = None
    started: bool = False  # a consumer began reading it
    intake_notes: tuple = ()  # engine.images.IntakeNote of the newest message's images
    _ended: bool = field(default=False, repr=False)
    _done: list = field(default_factory=list, repr=False)

    def __iter__(self) -> Iterator[Chunk]:
        if self._ended:
            return
        self.started = True
        try:
            for chunk in self._chunks:
                self._take(chunk)
                yield chunk
        finally:
            # A consumer that walks away (Stop in the UI, a closed tab) closes this
            # iterator; closing ends generation and settles the reply.
            self.close()
        if self.error is not None:
            raise self.error

    @property
    def ended(self) -> bool:
        return self._ended

    def stop(self) -> None:
        """Ask generation to end at the next token (safe from any thread)."""
        self._stop.set()

    def close(self) -> None:
        """Stop now and let generation end (at most the token in flight); from the
        consumer's thread. The finish reason still comes from the generation layer."""
        if self._ended:
            return
        self._ended = True
        self._stop.set()
        try:
            for chunk in self._chunks:  # a backend checks Stop before starting: costs nothing
                self._take(chunk)
        except BaseException:  # the stream already died (Ctrl-C): nothing more to read
            pass
        self._chunks.close()
        if self.finish_reason is None:  # the stream died before its last chunk (Ctrl-C)
            self.finish_reason = "stopped"
        for callback in self._done:
            callback(self)

    def add_done_callback(self, callback: Callable[["Reply"], None]) -> None:
        """Call `callback(reply)` once the reply has ended (done, stopped or failed)."""
        if self._ended:
            callback(self)
        else:
            self._done.append(callback)

    def notices(self, language: str | None = None) -> list[str]:
        """Things the person should know about this reply, in `language` (default: the
        reply's own; a UI passes its interface language, like its other messages)."""
        language = language or self.language
        notes = [note.text(language) for note in self.intake_notes]
        if self.dropped_turns:
            notes.append(notice("history_trimmed", language, count=self.dropped_turns))
        return notes

    def _take(self, chunk: Chunk) -> None:
        self.text += chunk.text
        self.completion_tokens = chunk.tokens
        if chunk.finish_reason:
            self.finish_reason = chunk.finish_reason
            if chunk.error is not None:
                self.error = _as_user_facing(chunk.error)


class ReplyStop:
    """What generation reads to know it must stop: the Reply's own stop (`Reply.stop`,
    `Reply.close`) or the caller's event. Setting it never touches the caller's event."""

    def __init__(self, caller: threading.Event | None = None):
        self._own = threading.Event()
        self._caller = caller

    def set(self) -> None:
        self._own.set()

    def is_set(self) -> bool:
        return self._own.is_set() or (self._caller is not None and self._caller.is_set())


def _as_user_facing(error: Exception) -> UserFacingError:
    if isinstance(error, UserFacingError):
        return error
    return UserFacingError("generation_failed", detail=type(error).__name__)
