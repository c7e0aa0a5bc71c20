"""OpenAI chat-completions requests in, the engine's messages and options out; its
responses, stream chunks and errors back (the shapes OpenAI and vLLM send).

    messages = parse_messages(body["messages"])          # images decoded by engine.images
    options = reply_options(body, adapter=None, default_max_tokens=128)

Only what the engine takes is read; unknown fields are ignored, as vLLM does. Everything a
client can get wrong raises ApiError, which knows its HTTP status and OpenAI error shape;
its message is a bilingual UserFacingError (engine/errors.py), worded only when the response
is made, in the language `request_language` chose for the request.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import time
import uuid
from dataclasses import dataclass

from engine.errors import InvalidSetting, UserFacingError
from engine.generation import GenerationSettings, shown_value
from engine.images import MAX_FILE_BYTES, load_image
from engine.language import POLICIES
from engine.messages import ROLES, Message
from engine.prompt_input import MAX_CONVERSATION_CHARS, MAX_CONVERSATION_MESSAGES
from engine.reply import ReplyOptions

# A request holds at most a few images, together at most one file at the UI's limit
# (base64: 4/3), and a conversation within its bounds: every character JSON-escaped at its
# longest ("\ud83d\ude42", 12 bytes), and a little for the keys. Beyond that (it was 134 MB),
# a body is refused before it is read.
MAX_IMAGES_PER_REQUEST = 8
MAX_BODY_BYTES = MAX_FILE_BYTES * 4 // 3 + MAX_CONVERSATION_CHARS * 12 + MAX_CONVERSATION_MESSAGES * 256 + 2**20
MAX_STOP_STRINGS = 4  # OpenAI's limit

# The engine's reasons, in OpenAI's words: a stop string or the end of the turn is "stop".
OPENAI_FINISH_REASONS = {"done": "stop", "stop_string": "stop", "length": "length", "stopped": "stop"}

# Intake errors that mean "too large", whatever the file: HTTP 413.
_TOO_LARGE = {"image_too_large", "message_too_long", "message_too_many_tokens", "conversation_too_long",
              "conversation_too_many_tokens", "conversation_too_many_messages"}
_DATA_URL = re.compile(r"^data:(?P<type>[\w.+-]+/[\w.+-]+)?(?P<params>(;[^,;]*)*?);base64,(?P<data>.*)$", re.S)


@dataclass
class ApiError(Exception):
    """An error a client gets as `{"error": {message, type, param, code}}` with `status`.
    `problem` says what went wrong in both languages; `code` defaults to its code."""

    status: int
    problem: UserFacingError
    type: str = "invalid_request_error"
    param: str | None = None
    code: str | None = None

    def __post_init__(self) -> None:
        super().__init__(self.problem.message("en"))
        self.code = self.code or self.problem.code

    def body(self, lang: str) -> dict:
        return {"error": {"message": self.problem.message(lang), "type": self.type, "param": self.param,
                          "code": self.code}}


def refusal(status: int, code: str, param: str | None = None, **params) -> ApiError:
    """A request refused with the message `code` of engine/errors.py (an invalid_request_error)."""
    return ApiError(status, UserFacingError(code, **params), param=param)


def from_user_facing(error: UserFacingError, names: dict[str, str] | None = None) -> ApiError:
    """The engine's own refusal (worded for people) as an API error with the right status.
    `names`: the engine's names of settings as this request called them (max_new_tokens:
    max_tokens), so that a refused setting is named as the client sent it."""
    if isinstance(error, InvalidSetting):
        name = (names or {}).get(error.name, error.name)
        error = InvalidSetting(error.code, **{**error.params, "name": name})
        return ApiError(400, error, "invalid_request_error", name, error.code)
    if error.code == "server_busy":
        return ApiError(503, error, "server_error", None, error.code)
    if error.code == "unknown_adapter":
        return ApiError(404, error, "not_found_error", "model", "model_not_found")
    status = 413 if error.code in _TOO_LARGE else 400
    return ApiError(status, error, "invalid_request_error", "messages", error.code)


def request_language(accept_language: str | None) -> str:
    """The one choice of a client's language for every error it gets: Arabic for a client
    that asks for it first (Accept-Language: ar, ar-SA, ...), English otherwise."""
    return "ar" if (accept_language or "").strip().lower().startswith("ar") else "en"


def parse_messages(raw) -> list[Message]:
    """OpenAI messages (string content or content parts) as engine messages."""
    if not isinstance(raw, list) or not raw:
        raise refusal(400, "request_messages_missing", "messages")
    _check_whole_conversation(raw)
    messages, images = [], 0
    for index, item in enumerate(raw):
        if isinstance(item, dict) and item.get("role") == "developer":  # OpenAI's newer name for it
            item = {**item, "role": "system"}
        if not isinstance(item, dict) or item.get("role") not in ROLES:
            role = item.get("role") if isinstance(item, dict) else None
            raise refusal(400, "request_unsupported_role", f"messages[{index}].role", field=f"messages[{index}]",
                          role=repr(role), roles=", ".join(ROLES))
        text, pictures = _content(item.get("content"), index)
        images += len(pictures)
        if images > MAX_IMAGES_PER_REQUEST:
            raise ApiError(413, UserFacingError("request_too_many_images", limit=MAX_IMAGES_PER_REQUEST),
                           param="messages", code="too_many_images")
        if pictures and item["role"] != "user":
            raise refusal(400, "request_image_not_from_user", f"messages[{index}].content",
                          field=f"messages[{index}]")
        messages.append(Message(item["role"], text, tuple(pictures)))
    _check_alternation(messages)
    return messages


def _check_whole_conversation(raw: list) -> None:
    """The engine's bounds on a whole conversation (engine/prompt_input.py), checked again
    here on the raw request: before an image is decoded or a Message made."""
    if len(raw) > MAX_CONVERSATION_MESSAGES:
        error = UserFacingError("conversation_too_many_messages", count=len(raw), limit=MAX_CONVERSATION_MESSAGES)
        raise from_user_facing(error)
    size = sum(_text_length(item.get("content")) for item in raw if isinstance(item, dict))
    if size > MAX_CONVERSATION_CHARS:
        raise from_user_facing(UserFacingError("conversation_too_long", size=size, limit=MAX_CONVERSATION_CHARS))


def _text_length(content) -> int:
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):
        return sum(len(part["text"]) + 1 for part in content  # + 1: the parts are joined by newlines
                   if isinstance(part, dict) and isinstance(part.get("text"), str))
    return 0


def _check_alternation(messages: list[Message]) -> None:
    turns = [m for m in messages if m.role != "system"]
    if any(m.role == "system" for m in messages[len(messages) - len(turns):]):
        raise refusal(400, "request_system_not_first", "messages")
    for index, message in enumerate(turns):
        if message.role != ("user" if index % 2 == 0 else "assistant"):
            raise refusal(400, "request_turns_not_alternating", "messages")
    if not turns or turns[-1].role != "user":
        raise refusal(400, "request_last_not_user", "messages")


def _content(content, index: int) -> tuple[str, list]:
    if content is None:
        return "", []
    if isinstance(content, str):
        return content, []
    if not isinstance(content, list):
        raise refusal(400, "request_content_not_parts", f"messages[{index}].content",
                      field=f"messages[{index}].content")
    texts, images = [], []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind == "image_url":
            url = part.get("image_url")
            url = url.get("url") if isinstance(url, dict) else url
            images.append(decode_image_url(url, f"messages[{index}].content"))
        else:
            raise refusal(400, "request_unsupported_part", f"messages[{index}].content",
                          field=f"messages[{index}].content", kind=repr(kind))
    return "\n".join(texts), images


def decode_image_url(url, param: str):
    """A base64 `data:` URL through the engine's image intake; nothing is ever fetched."""
    if not isinstance(url, str):
        raise refusal(400, "request_image_url_not_string", param, field=param)
    if re.match(r"^\s*(https?|ftp|file):", url, re.I):
        raise ApiError(400, UserFacingError("request_image_url_fetched"), param=param, code="image_url_not_allowed")
    match = _DATA_URL.match(url)
    if not match:
        raise ApiError(400, UserFacingError("request_image_url_not_data", field=param), param=param,
                       code="invalid_image_url")
    if len(match["data"]) > MAX_FILE_BYTES * 4 // 3 + 4:
        raise from_user_facing(UserFacingError("image_too_large", limit_mb=MAX_FILE_BYTES // 2**20,
                                               limit_megapixels=50))
    try:
        data = base64.b64decode(match["data"], validate=False)
    except (binascii.Error, ValueError):
        raise ApiError(400, UserFacingError("request_image_base64_invalid", field=param), param=param,
                       code="invalid_image_url") from None
    try:
        return load_image(data, name="image.dcm" if "dicom" in (match["type"] or "") else "image")
    except UserFacingError as error:
        raise from_user_facing(error) from None


def reply_options(body: dict, adapter: str | None, default_max_tokens: int) -> ReplyOptions:
    """The sampling and length of one request (max_completion_tokens wins over max_tokens).
    A setting no model can take is a 400 naming it."""
    stop = body.get("stop")
    stop = [stop] if isinstance(stop, str) else (stop or [])
    if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop) or len(stop) > MAX_STOP_STRINGS:
        raise refusal(400, "request_stop_invalid", "stop", limit=MAX_STOP_STRINGS)
    language = body.get("reply_language", "auto")
    if language not in POLICIES:
        raise refusal(400, "request_reply_language_invalid", "reply_language", allowed=", ".join(POLICIES))
    try:
        settings = _settings(body, default_max_tokens)
    except InvalidSetting as error:
        raise from_user_facing(error, setting_names(body)) from None
    return ReplyOptions(reply_language=language, settings=settings, adapter=adapter, stop=tuple(stop))


def setting_names(body: dict) -> dict[str, str]:
    """The engine's setting names as this request's parameters (see from_user_facing)."""
    return {"max_new_tokens": "max_completion_tokens" if body.get("max_completion_tokens") is not None
            else "max_tokens"}


def _settings(body: dict, default_max_tokens: int) -> GenerationSettings:
    limit = _number(body, "max_completion_tokens", int)
    limit = _number(body, "max_tokens", int) if limit is None else limit
    defaults = GenerationSettings()
    return GenerationSettings(
        temperature=_pick(body, "temperature", float, defaults.temperature),
        top_p=_pick(body, "top_p", float, defaults.top_p),
        max_new_tokens=default_max_tokens if limit is None else limit,
        repetition_penalty=_pick(body, "repetition_penalty", float, defaults.repetition_penalty),
        seed=_number(body, "seed", int),
        top_k=max(0, _pick(body, "top_k", int, 0)),  # vLLM's -1 means "no limit" too
    )


def _pick(body: dict, name: str, kind, default):
    value = _number(body, name, kind)
    return default if value is None else value


def _number(body: dict, name: str, kind):
    """A JSON number as `kind`. JSON's NaN, Infinity and 1e400 (Python reads all three) are
    no setting: refused here, named, before int() or a model gets them."""
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not _finite(value):
        raise InvalidSetting("setting_not_a_number", name=name, value=shown_value(value))
    if kind is int and value != int(value):
        raise InvalidSetting("setting_not_an_integer", name=name, value=shown_value(value))
    return kind(value)


def _finite(value: int | float) -> bool:
    return not isinstance(value, float) or math.isfinite(value)  # an int is (math.isfinite(10**400) overflows)


def stream_choice(body: dict) -> tuple[bool, bool]:
    """(stream, include_usage) of a request."""
    stream, options = body.get("stream"), body.get("stream_options")
    if stream is not None and not isinstance(stream, bool):
        raise refusal(400, "request_stream_invalid", "stream")
    if options is not None and not isinstance(options, dict):
        raise refusal(400, "request_stream_options_invalid", "stream_options")
    return bool(stream), bool((options or {}).get("include_usage"))


class Completion:
    """The ids and shapes of one chat completion's response (streamed or whole)."""

    def __init__(self, model: str):
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.model = model

    def chunk(self, delta: dict, finish_reason: str | None = None) -> dict:
        return {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]}

    def usage_chunk(self, prompt_tokens: int, completion_tokens: int) -> dict:
        return {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                "choices": [], "usage": usage(prompt_tokens, completion_tokens)}

    def whole(self, text: str, finish_reason: str, prompt_tokens: int, completion_tokens: int) -> dict:
        return {"id": self.id, "object": "chat.completion", "created": self.created, "model": self.model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "logprobs": None, "finish_reason": finish_reason}],
                "usage": usage(prompt_tokens, completion_tokens)}


def usage(prompt_tokens: int, completion_tokens: int) -> dict:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}
