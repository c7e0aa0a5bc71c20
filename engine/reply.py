"""The one way to a reply: `reply(model, messages, options) -> Reply`.

    history = [Message("user", "عندي صداع منذ يومين")]
    answer = reply(loaded, history, ReplyOptions(settings=GenerationSettings(max_new_tokens=64)))
    for chunk in answer:           # text chunks as they are generated
        print(chunk.text, end="")
    answer.finish_reason           # "done" | "stop_string" | "length" | "stopped" | "failed"

A function of its inputs: the whole history (images already decoded at intake) and the
options of this one call. It decides the reply language, fits the history into the
context window, renders and encodes the prompt once, and streams. Where the model needs to
be told (a card with `language_hint`, or a forced language), the prompt format asks for the
reply language where the model writes: at the end of the newest user turn, or at the start
of the reply (engine/formats.py), not in the system prompt, far above. It keeps nothing
between calls and changes nothing it was given, so the chat, the arena, the CLI and the
HTTP server each keep their own state and call it (engine/session.py is the holder of one
history for callers that want one).

The adapter is an argument of each call: the weights are shared, and each reply's tokens
are generated with its own adapter switched in (engine/backend.py).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from itertools import takewhile
from typing import Callable, Iterator, Sequence

from engine.backend import GenerationRequest, TokenBackend, local_tokens
from engine.encoding import encode_prompt
from engine.errors import UserFacingError, notice
from engine.formats import REPLY_INSTRUCTIONS  # noqa: F401 (the instructions, as before)
from engine.generation import Chunk, GenerationSettings, stream_text
from engine.history import fit_history
from engine.images import is_decoded
from engine.language import POLICIES, conversation_language, detect_language
from engine.loading import LoadedModel
from engine.messages import Message, has_lone_surrogates, without_bidi_controls

MAX_MESSAGE_CHARS = 20_000  # far beyond any question; stops a pasted book before tokenizing
# Characters do not bound tokens (an emoji can be 4): 20,000 of them once made 80,000 tokens
# and 44 s of prefill on a long-context model, holding the model from everyone else.
MAX_MESSAGE_TOKENS = 8_192
MAX_TOKENS_PER_CHAR = 4  # byte-level tokenizers: at most one token per UTF-8 byte

# What a text-only model reads in place of the images it cannot take, in the turn's
# language: told, it says it cannot see them rather than describing a picture it never got.
IMAGE_NOTES = {  # (one image, several)
    "ar": ("[أُرفقت صورة بهذه الرسالة، لكن هذا النموذج لا يستطيع رؤية الصور.]",
           "[أُرفقت صور ({count}) بهذه الرسالة، لكن هذا النموذج لا يستطيع رؤية الصور.]"),
    "en": ("[An image was attached to this message, but this model cannot see images.]",
           "[{count} images were attached to this message, but this model cannot see images.]"),
}


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

    def __post_init__(self) -> None:
        if self.reply_language not in POLICIES:
            raise ValueError(f"unknown reply-language policy {self.reply_language!r}; expected one of {POLICIES}")


@dataclass(eq=False)
class Reply:
    """One streamed assistant reply. Iterate for chunks; `stop()` ends it at the next token.

    What the reply did is on the object: `language`, `dropped_turns` (oldest turns left
    out to fit the context), `prompt_tokens`, `dropped_images` (images a text-only model
    could not take), then `text`, `completion_tokens` and `finish_reason` as it streams.
    A failure mid-reply ends it with finish_reason "failed": iteration then raises the
    UserFacingError (also on `error`), after the text so far.
    """

    language: str
    dropped_turns: int
    prompt_tokens: int
    dropped_images: int
    _chunks: Iterator[Chunk] = field(repr=False)
    _stop: "ReplyStop" = field(repr=False)
    text: str = ""
    completion_tokens: int = 0
    finish_reason: str | None = None
    error: UserFacingError | None = None
    started: bool = False  # a consumer began reading it
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
        notes = []
        if self.dropped_images:
            notes.append(notice("images_not_supported", language))
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


def reply(
    model: LoadedModel,
    messages: Sequence[Message],
    options: ReplyOptions = ReplyOptions(),
    *,
    backend: TokenBackend = local_tokens,
    stop_event: threading.Event | None = None,
) -> Reply:
    """Start the assistant's reply to `messages` (the newest is the user's).

    Raises UserFacingError for what the person can fix (an empty or huge message, an
    image alone for a text-only model, a message that alone overflows the context, an
    adapter the model lacks), before anything is generated. Generation starts when the
    Reply is first read; a Reply never read generates nothing. `stop_event`, if given,
    is the caller's own way to stop it besides `Reply.stop`: it is only ever read.
    """
    newest = _newest_user_message(model, messages)
    _check_adapter(model, options.adapter)
    language = conversation_language([m.content for m in messages if m.role == "user"], options.reply_language)
    dropped_images = 0 if reads_images(model) else len(newest.images)
    history = _prompt_messages(model, messages, options, language)
    asked = language if asks_for_language(model, options) else None
    budget = model.context_window - options.settings.max_new_tokens
    fitted = fit_history(history, lambda candidate: measure_prompt(model, candidate, asked), budget)
    input_ids, model_inputs = _model_inputs(model, fitted)
    request = GenerationRequest(model.key, tuple(input_ids), options.settings, model.stop_token_ids,
                                options.adapter, model_inputs)
    stop = ReplyStop(stop_event)
    chunks = stream_text(backend(request, stop), model.tokenizer, options.settings.max_new_tokens,
                         model.prompt_format.stop_strings, model.stop_token_ids, stop)
    return Reply(language, fitted.dropped_turns, fitted.prompt_tokens, dropped_images, chunks, stop)


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


def reads_images(model: LoadedModel) -> bool:
    return model.vision is not None and model.prompt_format.supports_images


def asks_for_language(model: LoadedModel, options: ReplyOptions) -> bool:
    """Whether the prompt tells the model the reply language: models not tuned to mirror
    the user's language (the card's `language_hint`), and any model when it is forced."""
    return model.card.language_hint or options.reply_language != "auto"


@dataclass(frozen=True)
class MeasuredPrompt:
    """A rendered and encoded candidate prompt; history fitting hands back the one it kept."""

    input_ids: list[int]
    token_count: int  # with each image placeholder counted as the features it becomes


def measure_prompt(model: LoadedModel, messages: Sequence[Message],
                   reply_language: str | None = None) -> MeasuredPrompt:
    """Render (asking for `reply_language`, if given, where the model writes) and encode."""
    rendered = model.prompt_format.render(messages, reply_language=reply_language)
    ids = encode_prompt(model.tokenizer, rendered).input_ids
    per_image = model.vision.tokens_per_image - 1 if model.vision else 0
    return MeasuredPrompt(ids, len(ids) + rendered.image_count * per_image)


def _newest_user_message(model: LoadedModel, messages: Sequence[Message]) -> Message:
    if not messages or messages[-1].role != "user":
        raise ValueError("the newest message must be the user's")
    newest = messages[-1]
    if has_lone_surrogates(newest.content):
        raise UserFacingError("invalid_text")
    if _is_blank(newest.content) and not (newest.images and reads_images(model)):
        raise UserFacingError("images_not_supported" if newest.images else "empty_message")
    if len(newest.content) > MAX_MESSAGE_CHARS:
        raise UserFacingError("message_too_long", size=len(newest.content), limit=MAX_MESSAGE_CHARS)
    if len(newest.content) * MAX_TOKENS_PER_CHAR > MAX_MESSAGE_TOKENS:  # short text cannot be too many
        tokens = len(model.tokenizer(newest.content, add_special_tokens=False, split_special_tokens=True)["input_ids"])
        if tokens > MAX_MESSAGE_TOKENS:
            raise UserFacingError("message_too_many_tokens", tokens=tokens, limit=MAX_MESSAGE_TOKENS)
    return newest


def _check_adapter(model: LoadedModel, adapter: str | None) -> None:
    names = model.adapters.names()
    if adapter is not None and adapter not in names:
        raise UserFacingError("unknown_adapter", adapter=adapter, model=model.card.title,
                              available=", ".join(names) or "—")


def _prompt_messages(model: LoadedModel, messages: Sequence[Message], options: ReplyOptions,
                     language: str) -> list[Message]:
    """The system prompt and the turns as the model takes them: a text-only model gets a
    note in place of the images, a vision model only decoded ones. `language`: the reply's."""
    head = list(takewhile(lambda m: m.role == "system", messages))
    turns = [_as_read(model, m, language) for m in messages[len(head):]]
    if head:
        system = "\n\n".join(m.content for m in head)
    elif options.system_prompt is not None:
        system = options.system_prompt
    else:
        system = model.card.system_prompt or model.prompt_format.default_system
    # An empty system prompt is left out rather than rendered as an empty header.
    return ([Message("system", system)] if system else []) + turns


def _as_read(model: LoadedModel, message: Message, language: str) -> Message:
    message = replace(message, content=without_bidi_controls(message.content))
    if not message.images:
        return message
    if not reads_images(model):
        # Said in the turn's own language (a turn with none: the reply's), before its text,
        # where a vision format puts the image.
        turn_language = detect_language(message.content, previous=language).language
        one, several = IMAGE_NOTES[turn_language]
        note = one if len(message.images) == 1 else several.format(count=len(message.images))
        text = message.content.strip()
        return Message(message.role, f"{note}\n{text}" if text else note)
    for image in message.images:
        if not is_decoded(image):
            raise TypeError(f"images reach the engine decoded (engine.images.load_image at intake), "
                            f"not as {type(image).__name__}")
    return message


def _is_blank(text: str) -> bool:
    """Nothing visible: only spaces and invisible format characters (bidi controls, marks)."""
    return not any(ch.isprintable() and not ch.isspace() for ch in text)


def _model_inputs(model: LoadedModel, fitted) -> tuple[list[int], dict]:
    """Token ids (each image placeholder expanded) and pixels of the images kept, in order."""
    ids = fitted.encoding.input_ids
    if model.vision is None:
        return ids, {}
    pictures = [getattr(image, "image", image) for m in fitted.messages for image in m.images]
    return model.vision.expand(ids), model.vision.model_inputs(pictures, model.model)


def _as_user_facing(error: Exception) -> UserFacingError:
    if isinstance(error, UserFacingError):
        return error
    return UserFacingError("generation_failed", detail=type(error).__name__)
