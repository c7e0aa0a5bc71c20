"""A reply from a model on an OpenAI-compatible server (engine/endpoints.py), streamed
through the official `openai` SDK into the same `Reply` a local model gives.

What stays in the app: the checks on the newest message, the reply-language policy (the
request closes the newest user turn, where the model writes), the bilingual system prompt,
history fitting to the server's context length, images as base64 data URLs (already
decoded, so no DICOM patient tag leaves the app), the refusal of a new image for a model
that cannot see images, the note it gets in place of an older turn's image. Stop closes the HTTP stream, so the server aborts the request. Nothing
is retried once a token has been shown (the SDK retries only a request that never began).
"""

from __future__ import annotations

import base64
import io
import threading
from dataclasses import dataclass
from typing import Iterator, Sequence

from engine.detokenizer import without_separator
from engine.endpoints import (TOKENS_PER_IMAGE, TOKENS_PER_MESSAGE, RemoteModel, count_on_server, estimate_tokens,
                              remote_error)
from engine.errors import UserFacingError
from engine.formats import REPLY_INSTRUCTIONS
from engine.generation import Chunk, finish_reason
from engine.history import fit_history
from engine.language import conversation_language
from engine.messages import Message
from engine.prompt_input import (asks_for_language, check_adapter, intake_notes, newest_user_message, prompt_budget,
                                 prompt_messages)
from engine.reply_stream import Reply, ReplyOptions, ReplyStop

STOP_POLL_S = 0.05  # how soon Stop closes a stream that is waiting for the server


@dataclass(frozen=True)
class CountedPrompt:
    """A candidate history as it would be sent, and its token count (history fitting)."""

    messages: list[dict]
    token_count: int


def remote_reply(model: RemoteModel, messages: Sequence[Message], options: ReplyOptions,
                 stop_event: threading.Event | None = None) -> Reply:
    """As engine.reply.reply, for a remote model (which calls it)."""
    newest_user_message(model, messages)  # refuses what the person must fix (an image unseen)
    if model.supervisor is not None and model.supervisor.first_start_pending:  # said before any request
        raise server_error(model, None)
    check_adapter(model, options.adapter)
    language = conversation_language([m.content for m in messages if m.role == "user"], options.reply_language)
    history = prompt_messages(model, messages, options, language)
    asked = language if asks_for_language(model, options) else None
    budget = prompt_budget(model, options)  # never negative: a reply longer than the context is refused
    fitted = fit_history(history, lambda candidate: count_prompt(model, candidate, asked), budget)
    stop = ReplyStop(stop_event)
    chunks = _stream(model, _payload(model, fitted.encoding.messages, options, template_kwargs(model, asked)),
                     options, stop)
    return Reply(language, fitted.dropped_turns, fitted.prompt_tokens, chunks, stop,
                 intake_notes=intake_notes(messages))


def count_prompt(model: RemoteModel, messages: Sequence[Message], reply_language: str | None) -> CountedPrompt:
    """The OpenAI messages for a candidate history and their token count: by the local
    tokenizer, the server's /tokenize, or the conservative estimate (`model.counter`)."""
    templated = template_kwargs(model, reply_language)
    wire = openai_messages(messages, None if templated else reply_language)
    text_only = [{"role": m["role"], "content": _text_of(m["content"])} for m in wire]
    images = sum(len(m.images) for m in messages)
    if model.counter == "tokenizer":
        count = _count_locally(model.tokenizer, text_only)
    elif model.counter == "server":
        try:
            count = count_on_server(model.client, model.endpoint, text_only, templated)
        except Exception as error:  # down since it connected: said like any other failure
            raise server_error(model, error) from error
    else:
        count = estimate_tokens(text_only)
    return CountedPrompt(wire, count + images * TOKENS_PER_IMAGE)


def template_kwargs(model: RemoteModel, reply_language: str | None) -> dict:
    """For a server whose chat template is engine/chat_templates' (a vLLM the app started):
    the reply language as the template's own variable, so the request is asked for where
    the in-process engine asks for it. Else {}: the request closes the newest user turn."""
    return {"reply_language": reply_language} if model.template_asks_language and reply_language else {}


def _count_locally(tokenizer, messages: list[dict]) -> int:
    if getattr(tokenizer, "chat_template", None):
        rendered = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return len(tokenizer(rendered, add_special_tokens=False)["input_ids"])
    return sum(len(tokenizer(m["content"], add_special_tokens=False)["input_ids"]) + TOKENS_PER_MESSAGE
               for m in messages)


def openai_messages(messages: Sequence[Message], reply_language: str | None = None) -> list[dict]:
    """Engine messages as the chat-completions API takes them: images as data URLs before
    their text (LLaVA's order), the reply-language request closing the newest user turn."""
    wire = []
    for index, message in enumerate(messages):
        text = message.content
        if reply_language and index == len(messages) - 1:
            text = f"{text}\n\n{REPLY_INSTRUCTIONS[reply_language]}"
        if message.images:
            parts = [{"type": "image_url", "image_url": {"url": data_url(image)}} for image in message.images]
            wire.append({"role": message.role, "content": [*parts, {"type": "text", "text": text}]})
        else:
            wire.append({"role": message.role, "content": text})
    return wire


def data_url(image) -> str:
    """A decoded image (engine.images) as a PNG data URL: pixels only, no metadata."""
    picture = getattr(image, "image", image)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _text_of(content) -> str:
    return content if isinstance(content, str) else "\n".join(p["text"] for p in content if p["type"] == "text")


def _payload(model: RemoteModel, messages: list[dict], options: ReplyOptions, templated: dict | None = None) -> dict:
    settings = options.settings
    served = options.adapter or model.endpoint.model  # an adapter is a model of its own on the server
    payload = {"model": served, "messages": messages, "max_tokens": settings.max_new_tokens,
               "temperature": settings.temperature, "stream": True, "stream_options": {"include_usage": True}}
    if settings.temperature > 0:
        payload["top_p"] = settings.top_p
    if settings.seed is not None:
        payload["seed"] = settings.seed
    stop = [*options.stop, *model.endpoint.stop]
    if stop:
        payload["stop"] = stop[:4]  # OpenAI's (and vLLM's) limit
    if model.endpoint.sampling_extras:
        payload["extra_body"] = {"repetition_penalty": settings.repetition_penalty,
                                 **({"top_k": settings.top_k} if settings.top_k else {})}
    if templated:
        payload.setdefault("extra_body", {})["chat_template_kwargs"] = templated
    return payload


def _stream(model: RemoteModel, payload: dict, options: ReplyOptions, stop: ReplyStop) -> Iterator[Chunk]:
    """Server-sent chunks as the engine's Chunks; the last one says why the reply ended
    (decided by engine.generation.finish_reason, as for local models)."""
    count, said, failure, stream = 0, None, None, None
    watcher, opening = None, ""  # opening: the reply's first text while it is only spaces; None once past it
    try:
        if stop.is_set():
            return
        stream = _open(model, payload, stop)
        if stream is None:  # stopped before the server answered
            return
        watcher = _close_on_stop(stream, stop)
        for event in stream:
            if stop.is_set():
                break
            if event.usage is not None:
                count = event.usage.completion_tokens
            for choice in event.choices:
                if choice.delta is not None and choice.delta.content:
                    count += 1
                    text = choice.delta.content
                    if opening is not None:
                        opening, text = without_separator(opening + text)
                    if text:
                        yield Chunk(text, count)
                said = choice.finish_reason or said
    except Exception as error:  # down, timed out, refused, or the stream broke
        if not stop.is_set():
            failure = server_error(model, error)
    finally:
        if watcher is not None:
            watcher.set()
        if stream is not None:
            stream.close()  # the server sees the connection close and aborts the request
    limit = options.settings.max_new_tokens
    # Spaces alone and nothing after them: kept as they came.
    yield Chunk(opening or "", count, finish_reason(failed=failure is not None, stop_token=said == "stop",
                                                    stop_string=False, stopped=stop.is_set(),
                                                    tokens=limit if said == "length" else 0, max_new_tokens=limit),
                failure)



def _open(model: RemoteModel, payload: dict, stop: ReplyStop):
    """The stream, once the server has answered; None if Stop came first. The request is
    made in a thread of its own, since a server in a long prefill (or a stalled one) sends
    no headers for a while: an abandoned request's stream is closed as soon as it arrives."""
    opened: dict = {}
    done = threading.Event()

    def call() -> None:
        try:
            opened["stream"] = model.client.chat.completions.create(**payload)
        except Exception as error:  # raised in the reply's own thread below
            opened["error"] = error
        finally:
            done.set()
            if stop.is_set() and "stream" in opened:
                opened["stream"].close()

    threading.Thread(target=call, name="bimedix-remote-open", daemon=True).start()
    while not done.wait(STOP_POLL_S):
        if stop.is_set():
            return None
    if "error" in opened:
        raise opened["error"]
    return opened["stream"]


def _close_on_stop(stream, stop: ReplyStop) -> threading.Event:
    """Close the stream as soon as Stop is pressed, even while the server sends nothing
    (a long prefill, a stalled server). Returns the event that ends the watch."""
    done = threading.Event()

    def watch() -> None:
        while not done.wait(STOP_POLL_S):
            if stop.is_set():
                stream.close()
                return

    threading.Thread(target=watch, name="bimedix-remote-stop", daemon=True).start()
    return done


def server_error(model: RemoteModel, error: Exception | None) -> UserFacingError:
    """What went wrong, worded for the person; for a server the app runs itself (managed
    vLLM), what it is doing about it: restarting (and about how long), or given up."""
    supervisor = model.supervisor
    if supervisor is not None and supervisor.first_start_pending:
        return UserFacingError("engine_starting", model=model.card.title, seconds=supervisor.seconds_to_ready())
    if supervisor is not None and supervisor.state == "restarting":
        return UserFacingError("engine_restarting", model=model.card.title, seconds=supervisor.seconds_to_ready())
    if supervisor is not None and supervisor.state == "failed":
        return UserFacingError("engine_failed", model=model.card.title)
    return remote_error(error, model.endpoint)
