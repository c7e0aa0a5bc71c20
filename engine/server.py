"""`python -m engine serve`: the engine behind an OpenAI-compatible HTTP API (FastAPI).

    GET  /v1/models              every model and each model:adapter pair (vLLM's LoRA listing)
    POST /v1/chat/completions    streamed (server-sent events) or whole
    POST /tokenize               vLLM's: a conversation's prompt token count, for clients
                                 that fit history to the context (engine/remote.py); admitted
                                 like a reply (a full server answers 503)
    GET  /health, GET /metrics   liveness; requests admitted, replies running and generation
                                 threads alive

Every reply goes through `engine.reply.reply`, like the chat's and the arena's: the same
reply-language policy, history fitting, control-token safety and stop strings. A client
that disconnects, streamed or not, ends its generation at the next token and frees its
reply slot. Whatever a client sends, the answer is in OpenAI's shape: a bad parameter is a
400 naming it, a request beyond the bounds (the body, the whole conversation) a 413, an
unknown path a 404, and even a bug a JSON 500; every message is in the client's language
(Accept-Language: ar), worded where the response is made (`_error_response`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hmac
import json
import threading
from dataclasses import dataclass, field

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException

from engine.admission import Admission
from engine.errors import UserFacingError
from engine.openai_api import (OPENAI_FINISH_REASONS, MAX_BODY_BYTES, ApiError, Completion, from_user_facing,
                               parse_messages, refusal, reply_options, request_language, setting_names,
                               stream_choice)
from engine.reply import Reply, prepare_prompt, reads_images, reply

_END = object()
# Reads replies' next chunks; as many threads as replies may be streamed at once, and more.
_READER = concurrent.futures.ThreadPoolExecutor(max_workers=256, thread_name_prefix="bimedix-stream")


@dataclass(frozen=True)
class Served:
    """One id a client may ask for: a loaded model, bare or with one of its adapters."""

    id: str
    model: object  # engine.loading.LoadedModel
    adapter: str | None = None
    parent: str | None = None  # the bare model's id, for an adapter's entry


@dataclass
class ServerState:
    served: dict[str, Served]
    admission: Admission
    api_key: str | None = None
    replies_running: int = 0
    replies_aborted: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def served_models(named_models: dict[str, object]) -> dict[str, Served]:
    """`{id: Served}` for each model and each of its adapters (`id:adapter`)."""
    served = {}
    for name, model in named_models.items():
        served[name] = Served(name, model)
        for adapter in model.adapters.names():
            served[f"{name}:{adapter}"] = Served(f"{name}:{adapter}", model, adapter, parent=name)
    return served


def create_app(named_models: dict[str, object], admission: Admission, api_key: str | None = None) -> FastAPI:
    state = ServerState(served_models(named_models), admission, api_key)
    app = FastAPI(title="BiMediX Chat engine", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.bimedix = state

    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError):
        return _error_response(error, request.headers)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException):
        """Starlette's own (an unknown path, a wrong method): OpenAI's shape, not {"detail": ...}."""
        return _error_response(_routing_error(error, request), request.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError):
        detail = "; ".join(".".join(map(str, e.get("loc", ()))) + ": " + str(e.get("msg")) for e in error.errors())
        return _error_response(refusal(400, "request_invalid", detail=detail), request.headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception):
        """A bug is still an error in OpenAI's shape, never a plain-text page (uvicorn logs it)."""
        failure = ApiError(500, UserFacingError("server_failed"), "server_error", None, "internal_error")
        return _error_response(failure, request.headers)

    if api_key:
        app.add_middleware(ApiKeyCheck, key=api_key)

    @app.get("/health")
    async def health():
        return PlainTextResponse("ok")

    @app.get("/metrics")
    async def metrics():
        threads = sum(1 for t in threading.enumerate() if t.name == "bimedix-generate" and t.is_alive())
        return PlainTextResponse(f"bimedix_requests_admitted {state.admission.in_flight}\n"
                                 f"bimedix_replies_running {state.replies_running}\n"
                                 f"bimedix_replies_aborted_total {state.replies_aborted}\n"
                                 f"bimedix_generation_threads {threads}\n")

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [_model_entry(entry) for entry in state.served.values()]}

    @app.post("/tokenize")
    async def tokenize(request: Request):
        asked = await _read_request(state, request)
        ticket = _admit(state.admission)  # counting is work too: it waits its turn like a reply
        try:
            prepared = await anyio.to_thread.run_sync(prepare_prompt, asked.entry.model, asked.messages,
                                                      asked.options, False)
        except UserFacingError as error:
            raise from_user_facing(error, asked.names) from None
        finally:
            ticket.release()
        encoding = prepared.fitted.encoding  # images count as the features they become
        return {"count": encoding.token_count, "max_model_len": asked.entry.model.context_window,
                "tokens": encoding.input_ids}

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request):
        asked = await _read_request(state, request)
        if asked.body.get("n", 1) != 1:
            raise refusal(400, "request_n_unsupported", "n")
        streamed, include_usage = stream_choice(asked.body)
        ticket = _admit(state.admission)
        try:
            answer = await anyio.to_thread.run_sync(lambda: reply(asked.entry.model, asked.messages, asked.options))
        except UserFacingError as error:
            ticket.release()
            raise from_user_facing(error, asked.names) from None
        except BaseException:  # the ticket must never leak, whatever failed
            ticket.release()
            raise
        completion = Completion(asked.entry.id)
        if streamed:
            events = _stream(state, answer, ticket, completion, include_usage, asked.lang)
            return ReplyStream(events, lambda: _abandon(answer, ticket))
        return await _whole(state, request, answer, ticket, completion)

    return app


class ApiKeyCheck:
    """The API key (Authorization: Bearer), compared in constant time, on every path but
    /health. Plain ASGI, not `@app.middleware("http")`: behind Starlette's BaseHTTPMiddleware
    a handler never saw its client go away, and non-streamed replies of clients that had
    gone kept generating."""

    OPEN_PATHS = ("/health",)

    def __init__(self, app, key: str):
        self.app = app
        self.key = key.encode()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"] not in self.OPEN_PATHS:
            given = Headers(scope=scope).get("authorization", "")
            token = given[7:] if given.lower().startswith("bearer ") else ""
            if not hmac.compare_digest(token.encode(), self.key):
                error = ApiError(401, UserFacingError("request_api_key_invalid"), "authentication_error", None,
                                 "invalid_api_key")
                await _error_response(error, Headers(scope=scope))(scope, receive, send)
                return
        await self.app(scope, receive, send)


@dataclass(frozen=True)
class ChatRequest:
    """A request's body, and what it asks of the engine."""

    lang: str  # the client's language (request_language), for an error event in a stream already begun
    body: dict
    entry: Served
    messages: list
    options: object  # engine.reply.ReplyOptions
    names: dict  # the engine's setting names as this request's parameters (openai_api.setting_names)


async def _read_request(state: ServerState, request: Request) -> ChatRequest:
    lang = request_language(request.headers.get("accept-language"))
    body = await _json_body(request)
    entry = _served(state, body.get("model"))
    options = reply_options(body, entry.adapter, entry.model.default_reply_tokens)
    # Off the event loop: decoding images (a 50 MB DICOM) would hold every other client.
    messages = await anyio.to_thread.run_sync(parse_messages, body.get("messages"))
    return ChatRequest(lang, body, entry, messages, options, setting_names(body))


def _model_entry(entry: Served) -> dict:
    model = entry.model
    return {"id": entry.id, "object": "model", "created": 0, "owned_by": "bimedix",
            "root": entry.id if entry.parent is None else entry.adapter, "parent": entry.parent,
            "max_model_len": model.context_window,
            # Not OpenAI's: lets our own remote backend know it may send images.
            "modalities": ["text", "image"] if reads_images(model) else ["text"]}


def _error_response(error: ApiError, headers) -> JSONResponse:
    """Every error a client gets, worded in the language its request asked for."""
    lang = request_language(headers.get("accept-language"))
    return JSONResponse(error.body(lang), status_code=error.status)


def _routing_error(error: HTTPException, request: Request) -> ApiError:
    path = request.url.path
    if error.status_code == 404:
        return ApiError(404, UserFacingError("request_route_not_found", path=path), "not_found_error")
    if error.status_code == 405:
        return ApiError(405, UserFacingError("request_method_not_allowed", method=request.method, path=path))
    return ApiError(error.status_code, UserFacingError("request_invalid", detail=str(error.detail)))


def _served(state: ServerState, name) -> Served:
    if not isinstance(name, str) or name not in state.served:
        missing = UserFacingError("unknown_model", model=repr(name), available=", ".join(state.served))
        raise ApiError(404, missing, "not_found_error", "model", "model_not_found")
    return state.served[name]


def _admit(admission: Admission):
    try:
        return admission.admit(object())  # a fresh holder: API requests are not sessions
    except UserFacingError as error:
        raise from_user_facing(error) from None


async def _json_body(request: Request) -> dict:
    too_large = ApiError(413, UserFacingError("request_too_large", limit_mb=MAX_BODY_BYTES // 2**20))
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise too_large
    data = bytearray()
    async for piece in request.stream():
        data += piece
        if len(data) > MAX_BODY_BYTES:
            raise too_large
    try:  # in a thread: tens of MB of JSON would hold the event loop
        body = await anyio.to_thread.run_sync(json.loads, data)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, UserFacingError("request_not_json"), code="invalid_json") from None
    except RecursionError:  # arrays nested 100,000 deep: refused, not a plain-text 500
        raise ApiError(400, UserFacingError("request_nested_too_deeply"), code="invalid_json") from None
    if not isinstance(body, dict):
        raise refusal(400, "request_not_an_object")
    return body


def _next_chunk(chunks):
    """The next chunk, `_END`, or the UserFacingError a failed reply ends with."""
    try:
        return next(chunks, _END)
    except UserFacingError as error:
        return error


class ReplyStream(StreamingResponse):
    """Server-sent events that end their reply whenever the response ends. A client that
    disconnects while the server waits to send (its buffers full) cancels the sending, and
    leaves the event generator suspended at a `yield`: closed here, at once, rather than
    whenever the garbage collector gets to it (replies kept generating, and holding their
    admission tickets, for as long as that took). `on_end` covers a generator that never
    started."""

    def __init__(self, events, on_end):
        super().__init__(events, media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
        self._on_end = on_end

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await self.body_iterator.aclose()
                await anyio.to_thread.run_sync(self._on_end)


async def _stream(state: ServerState, answer: Reply, ticket, completion: Completion, include_usage: bool,
                  lang: str):
    chunks = iter(answer)
    finished, failed, reading = False, False, None
    _running(state, +1)
    try:
        yield _event(completion.chunk({"role": "assistant", "content": ""}))
        while True:
            # Read in a thread of our own rather than await anyio's: a cancelled await then
            # returns at once (the reply is stopped below) instead of waiting for the token.
            reading = _READER.submit(_next_chunk, chunks)
            chunk = await asyncio.wrap_future(reading)
            if chunk is _END:
                break
            if isinstance(chunk, UserFacingError):  # after the stream began: one error event
                failure = from_user_facing(chunk)
                failure.type = "server_error"
                yield _event(failure.body(lang))
                failed = True
                break
            reason = OPENAI_FINISH_REASONS.get(chunk.finish_reason) if chunk.finish_reason else None
            if chunk.text or reason:
                yield _event(completion.chunk({"content": chunk.text} if chunk.text else {}, reason))
        if include_usage and not failed:
            yield _event(completion.usage_chunk(answer.prompt_tokens, answer.completion_tokens))
        yield "data: [DONE]\n\n"
        finished = True
    finally:
        # A disconnect lands here too (cancelled at an await, or closed at a yield): stop now
        # (a reply waiting for its slot gives up, one generating ends at its next token),
        # then close, shielded so the cancellation cannot skip it, and give the slot back.
        answer.stop()
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(_close, chunks, answer, reading)
        ticket.release()
        _running(state, -1, aborted=not finished)


async def _whole(state: ServerState, request: Request, answer: Reply, ticket, completion: Completion) -> JSONResponse:
    _running(state, +1)
    collected = asyncio.ensure_future(anyio.to_thread.run_sync(_collect, answer))
    aborted = False
    try:
        while not collected.done():
            await asyncio.wait({collected}, timeout=0.25)
            if not collected.done() and await request.is_disconnected():
                answer.stop()  # nobody is waiting for the text any more
                aborted = True
        error = collected.result()
    finally:
        ticket.release()
        _running(state, -1, aborted=aborted)
    if error is not None:
        raise ApiError(500, error, "server_error", None, error.code)
    return JSONResponse(completion.whole(answer.text, OPENAI_FINISH_REASONS.get(answer.finish_reason, "stop"),
                                         answer.prompt_tokens, answer.completion_tokens))


def _collect(answer: Reply) -> UserFacingError | None:
    try:
        for _ in answer:
            pass
    except UserFacingError as error:
        return error
    return None


def _abandon(answer: Reply, ticket) -> None:
    """Both are idempotent: after a stream that ran, this changes nothing."""
    answer.stop()
    if not answer.started:
        answer.close()  # never read: the backend sees Stop before it starts
    ticket.release()


def _close(chunks, answer: Reply, reading: concurrent.futures.Future | None = None) -> None:
    answer.stop()
    if reading is not None:  # a read still in flight: the reply may be closed only after it
        try:
            reading.result()
        except BaseException:  # its outcome no longer matters (cancelled before it ran, ...)
            pass
    close = getattr(chunks, "close", None)
    if close:
        close()
    answer.close()


def _running(state: ServerState, change: int, aborted: bool = False) -> None:
    with state.lock:
        state.replies_running += change
        state.replies_aborted += int(aborted and change < 0)


def _event(data: dict) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"
