"""A multi-turn conversation with one loaded model: history, reply language, streaming.

    session = ChatSession(loaded)
    reply = session.send("عندي صداع منذ يومين")
    for chunk in reply:            # text chunks as they are generated
        print(chunk.text, end="")
    reply.stop()                   # from any thread: ends generation at the next token
    reply = session.regenerate()   # drop the last reply and answer the last message again
"""

from __future__ import annotations

import inspect
import threading
from dataclasses import dataclass, field
from typing import Iterator, Sequence

from engine.encoding import count_tokens, encode_prompt
from engine.errors import UserFacingError, notice
from engine.backend import GenerationRequest, TokenBackend, local_tokens
from engine.generation import Chunk, GenerationSettings, stream_text
from engine.history import fit_history
from engine.language import reply_language
from engine.loading import LoadedModel
from engine.messages import Message

MAX_MESSAGE_CHARS = 20_000  # far beyond any question; stops a pasted book before tokenizing

# Said to the model in the reply language itself, which steers small models best.
REPLY_INSTRUCTIONS = {
    "ar": "أجب باللغة العربية.",
    "en": "Answer in English.",
}


def _as_image(image):
    """Files (paths or bytes) go through image intake: type, size and decoding are checked."""
    from PIL import Image

    from engine.images import MedicalImage, load_image

    return image if isinstance(image, (MedicalImage, Image.Image)) else load_image(image)


def system_prompt_for(base: str, language: str, hint: bool) -> str:
    if not hint:
        return base
    return f"{base} {REPLY_INSTRUCTIONS[language]}".strip()


@dataclass
class Reply:
    """One streamed assistant reply. Iterate for chunks; `stop()` cancels it."""

    language: str
    dropped_turns: int
    prompt_tokens: int
    _chunks: Iterator[Chunk] = field(repr=False)
    _stop_event: threading.Event = field(repr=False)
    text: str = ""
    finish_reason: str | None = None
    dropped_images: int = 0  # images a text-only model could not take

    def __iter__(self) -> Iterator[Chunk]:
        try:
            for chunk in self._chunks:
                self.text += chunk.text
                if chunk.finish_reason:
                    self.finish_reason = chunk.finish_reason
                yield chunk
        finally:
            # A consumer that walks away (Stop in the UI, a closed tab) closes this
            # iterator; closing the chain below ends generation and records the turn.
            self.close()

    def stop(self) -> None:
        """Ask generation to end at the next token (safe from any thread)."""
        self._stop_event.set()

    def close(self) -> None:
        """Stop now and wait for the worker; the reply so far stays in the history."""
        self._stop_event.set()
        self._chunks.close()
        if self.finish_reason is None:
            self.finish_reason = "cancelled"

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


class ChatSession:
    def __init__(
        self,
        loaded: LoadedModel,
        language_policy: str = "auto",
        settings: GenerationSettings | None = None,
        system_prompt: str | None = None,
        backend: TokenBackend = local_tokens,
    ):
        self.loaded = loaded
        # Where tokens are generated: this process, or a GPU worker (engine/backend.py).
        self.backend = backend
        # This conversation's adapter (None: the bare base model). The weights are shared;
        # each reply switches them to its own session's adapter.
        self.adapter: str | None = loaded.adapters.active
        self.language_policy = language_policy
        self.settings = settings or GenerationSettings()
        if system_prompt is None:
            system_prompt = loaded.card.system_prompt or loaded.prompt_format.default_system
        self.system_prompt = system_prompt
        self.messages: list[Message] = []
        self.last_language: str | None = None
        self._current: Iterator[Chunk] | None = None  # the reply being generated, if any

    def clear(self) -> None:
        self.messages.clear()
        self.last_language = None

    @property
    def reads_images(self) -> bool:
        return self.loaded.vision is not None and self.loaded.prompt_format.supports_images

    def count_prompt_tokens(self, messages: Sequence[Message]) -> int:
        rendered = self.loaded.prompt_format.render(messages)
        per_image = self.loaded.vision.tokens_per_image - 1 if self.loaded.vision else 0
        return count_tokens(self.loaded.tokenizer, rendered) + rendered.image_count * per_image

    def send(self, text: str, images: Sequence = ()) -> Reply:
        """Add a user message and start the reply. Raises UserFacingError on bad input."""
        language = reply_language(text, self.language_policy, previous=self.last_language)
        self._validate(text, images)
        self._ensure_idle()
        # A text-only model answers the text and says it could not look at the image.
        dropped_images = 0 if self.reads_images else len(images)
        images = tuple(map(_as_image, images)) if self.reads_images else ()
        user = Message("user", text.strip(), images)
        system = system_prompt_for(self.system_prompt, language,
                                   self.loaded.card.language_hint or self.language_policy != "auto")
        # An empty system prompt is left out rather than rendered as an empty header.
        history = ([Message("system", system)] if system else []) + self.messages + [user]
        budget = self.loaded.context_window - self.settings.max_new_tokens
        fitted = fit_history(history, self.count_prompt_tokens, budget)
        input_ids, model_inputs = self._model_inputs(fitted.messages)
        self.last_language = language
        stop_event = threading.Event()
        self._current = self._run(user, input_ids, model_inputs, stop_event)
        return Reply(language, fitted.dropped_turns, fitted.prompt_tokens, self._current, stop_event,
                     dropped_images=dropped_images)

    def regenerate(self) -> Reply:
        """Drop the last exchange and answer its user message again (text and images).

        The dropped exchange comes back unchanged if the new reply cannot start.
        """
        self._ensure_idle()
        if len(self.messages) < 2 or self.messages[-1].role != "assistant":
            raise UserFacingError("nothing_to_regenerate")
        exchange = self.messages[-2:]
        del self.messages[-2:]
        try:
            return self.send(exchange[0].content, exchange[0].images)
        except Exception:
            self.messages += exchange
            raise

    def _model_inputs(self, messages: Sequence[Message]) -> tuple[list[int], dict]:
        """Token ids and, for image turns kept in the prompt, their pixels in prompt order."""
        encoded = encode_prompt(self.loaded.tokenizer, self.loaded.prompt_format.render(messages))
        vision = self.loaded.vision
        if vision is None:
            return encoded.input_ids, {}
        pictures = [getattr(image, "image", image) for m in messages for image in m.images]
        return vision.expand(encoded.input_ids), vision.model_inputs(pictures, self.loaded.model)

    def _ensure_idle(self) -> None:
        """One reply at a time; a reply that was never started is simply discarded."""
        if self._current is None:
            return
        state = inspect.getgeneratorstate(self._current)
        if state in (inspect.GEN_RUNNING, inspect.GEN_SUSPENDED):
            raise UserFacingError("generation_in_progress")
        self._current.close()
        self._current = None

    def _validate(self, text: str, images: Sequence) -> None:
        if not (text and text.strip()) and not (images and self.reads_images):
            raise UserFacingError("images_not_supported" if images else "empty_message")
        if len(text) > MAX_MESSAGE_CHARS:
            raise UserFacingError("message_too_long", size=len(text), limit=MAX_MESSAGE_CHARS)

    def _run(self, user: Message, input_ids: list[int], model_inputs: dict,
             stop_event: threading.Event) -> Iterator[Chunk]:
        loaded = self.loaded
        reply_text = ""
        request = GenerationRequest(loaded.key, tuple(input_ids), self.settings, loaded.stop_token_ids,
                                    self.adapter, model_inputs)
        chunks = stream_text(self.backend(request, stop_event), loaded.tokenizer, self.settings.max_new_tokens,
                             loaded.prompt_format.stop_strings, loaded.stop_token_ids, stop_event)
        try:
            for chunk in chunks:
                reply_text += chunk.text
                yield chunk
        except UserFacingError:
            raise
        except Exception as error:  # keep the conversation usable; say what failed
            raise UserFacingError("generation_failed", detail=type(error).__name__) from error
        finally:
            chunks.close()  # a consumer that walked away: generation ends here
            # Whatever was shown is kept: a stopped reply stays in the history as shown.
            self.messages += [user, Message("assistant", reply_text.strip())]
