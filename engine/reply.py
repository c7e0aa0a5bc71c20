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

import sys
import threading
from dataclasses import dataclass
from typing import Sequence

from engine.backend import GenerationRequest, TokenBackend, local_tokens
from engine.encoding import encode_prompt
from engine.endpoints import RemoteModel
from engine.formats import REPLY_INSTRUCTIONS  # noqa: F401 (the instructions, as before)
from engine.generation import stream_text
from engine.history import fit_history
from engine.language import conversation_language
from engine.loading import LoadedModel
from engine.messages import Message
from engine.prefix_cache import PREFIX_CACHES, image_key
from engine.prompt_input import (IMAGE_NOTES, MAX_MESSAGE_CHARS, MAX_MESSAGE_TOKENS,  # noqa: F401 (as before)
                                 MAX_TOKENS_PER_CHAR, asks_for_language, check_adapter, intake_notes,
                                 newest_user_message, prompt_budget, prompt_messages, reads_images)
from engine.reply_stream import Reply, ReplyOptions, ReplyStop  # noqa: F401 (callers import them from here)

# A conversation that reuses its KV cache is trimmed to this share of the budget when it
# must be trimmed, so the next turns keep the same start (engine/history.py).
TRIM_HEADROOM = 0.75


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
    image for a model that cannot see images, a message that alone overflows the context, an
    adapter the model lacks), before anything is generated. Generation starts when the
    Reply is first read; a Reply never read generates nothing. `stop_event`, if given,
    is the caller's own way to stop it besides `Reply.stop`: it is only ever read.
    A remote model (engine/endpoints.py) replies from its server, with the same checks,
    language policy and history fitting; `backend` is then not used.
    """
    if isinstance(model, RemoteModel):
        from engine.remote import remote_reply

        return remote_reply(model, messages, options, stop_event)
    prepared = prepare_prompt(model, messages, options)
    input_ids, model_inputs = _model_inputs(model, prepared.fitted)
    request = GenerationRequest(model.key, tuple(input_ids), options.settings, model.stop_token_ids,
                                options.adapter, model_inputs, options.conversation,
                                _image_keys(prepared.fitted) if options.conversation and model.vision else ())
    stop = ReplyStop(stop_event)
    chunks = stream_text(backend(request, stop), model.tokenizer, options.settings.max_new_tokens,
                         (*model.prompt_format.stop_strings, *options.stop), model.stop_token_ids, stop)
    return Reply(prepared.language, prepared.fitted.dropped_turns, prepared.fitted.prompt_tokens, chunks, stop,
                 intake_notes=intake_notes(messages))


@dataclass(frozen=True)
class PreparedPrompt:
    """What a reply will read: its language, the fitted history and its encoding."""

    language: str
    fitted: object  # engine.history.FittedHistory of MeasuredPrompt


def prepare_prompt(model: LoadedModel, messages: Sequence[Message], options: ReplyOptions,
                   fit: bool = True) -> PreparedPrompt:
    """The checks, language, system prompt and history fitting of `reply`, without
    generating. `fit=False` keeps every turn: a server's /tokenize counts the whole
    conversation (as vLLM's does), so that its client can do the fitting."""
    newest_user_message(model, messages)  # refuses what the person must fix (an image unseen)
    check_adapter(model, options.adapter)
    language = conversation_language([m.content for m in messages if m.role == "user"], options.reply_language)
    history = prompt_messages(model, messages, options, language)
    asked = language if asks_for_language(model, options) else None
    budget = prompt_budget(model, options) if fit else sys.maxsize
    # A conversation keeps its cut while it fits, and is trimmed with headroom when it must
    # be (engine/history.py), whether or not its cache is kept: the same prompts either way.
    conversation = options.conversation
    fitted = fit_history(history, lambda candidate: measure_prompt(model, candidate, asked), budget,
                         headroom=TRIM_HEADROOM if conversation else None,
                         keep_dropped=PREFIX_CACHES.last_fit(conversation))
    PREFIX_CACHES.remember_fit(conversation, fitted.dropped_turns)
    return PreparedPrompt(language, fitted)


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


def _image_keys(fitted) -> tuple[str, ...]:
    return tuple(image_key(image) for m in fitted.messages for image in m.images)


def _model_inputs(model: LoadedModel, fitted) -> tuple[list[int], dict]:
    """Token ids (each image placeholder expanded) and pixels of the images kept, in order."""
    ids = fitted.encoding.input_ids
    if model.vision is None:
        return ids, {}
    pictures = [getattr(image, "image", image) for m in fitted.messages for image in m.images]
    return model.vision.expand(ids), model.vision.model_inputs(pictures, model.model)
