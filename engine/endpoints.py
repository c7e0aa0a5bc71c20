"""Models served elsewhere, over the OpenAI chat-completions API (vLLM, `engine serve`, ...).

    --model openai:bimedix2@http://gpu-box:8000/v1      one model, by its server's id
    --endpoints endpoints.yaml                          several, each with its own settings

    # endpoints.yaml (like FastChat's api_endpoints.json)
    - name: bimedix2-gpu                 # how the app names it (selector, arena)
      base_url: http://gpu-box:8000/v1
      model: bimedix2                    # the server's model id
      api_key_env: GPU_BOX_KEY           # default OPENAI_API_KEY
      multimodal: true                   # default: what the server's /v1/models says, else false
      context_length: 8192               # default: max_model_len from /v1/models
      tokenizer: /models/bimedix2        # optional: counts prompt tokens here
      stop: ["\nUser:"]                  # optional: sent with every request

`connect(endpoint)` asks the server once for the model (its context length), and picks how
prompt tokens are counted for history fitting: the named local tokenizer; else the server's
`/tokenize` (vLLM's, and ours) where it answers; else a conservative estimate.
"""

from __future__ import annotations

import logging
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from engine.cards import ModelCard
from engine.errors import UserFacingError

log = logging.getLogger(__name__)

PREFIX = "openai:"
DEFAULT_KEY_VARIABLE = "OPENAI_API_KEY"
DEFAULT_CONTEXT = 4096  # a server that does not say (OpenAI's own API)
REMOTE_REPLY_TOKENS = 512  # a serving box is a GPU box; a person may lower it per chat
# Conservative counts, for servers that cannot count: more tokens than any byte-level BPE
# gives (one per two UTF-8 bytes) and more features than LLaVA-1.5 (576) or Llama-3.2 give.
BYTES_PER_TOKEN, TOKENS_PER_MESSAGE, TOKENS_PER_IMAGE = 2, 8, 1024


@dataclass(frozen=True)
class Endpoint:
    name: str = field(metadata={"help": "the app's name for it (model selector, arena contestant)"})
    base_url: str = field(metadata={"help": "the API root, ending in /v1"})
    model: str = field(metadata={"help": "the server's model id (GET /v1/models)"})
    api_key_env: str | None = field(default=None, metadata={"help": f"variable holding the key; default {DEFAULT_KEY_VARIABLE}"})
    multimodal: bool | None = field(default=None, metadata={"help": "sends images; None: as the server says, else no"})
    context_length: int | None = field(default=None, metadata={"help": "None: the server's max_model_len"})
    tokenizer: str | None = field(default=None, metadata={"help": "a local tokenizer to count prompt tokens with"})
    timeout_s: float = field(default=120.0, metadata={"help": "longest wait for the server between two tokens"})
    stop: tuple[str, ...] = field(default=(), metadata={
        "help": "stop strings sent with every request (a base model's turn markers: \\nUser:)"})
    sampling_extras: bool = field(default=True, metadata={
        "help": "send repetition_penalty and top_k (vLLM and engine serve take them; OpenAI's own API refuses them)"})

    @property
    def host(self) -> str:
        """Where it runs, for people: host and port, never credentials or paths."""
        parts = urlsplit(self.base_url)
        return parts.hostname + (f":{parts.port}" if parts.port else "") if parts.hostname else self.base_url

    @property
    def key_variable(self) -> str:
        return self.api_key_env or DEFAULT_KEY_VARIABLE

    @property
    def server_root(self) -> str:
        """Where vLLM's non-OpenAI routes (/tokenize) live: the base URL without /v1."""
        url = self.base_url.rstrip("/")
        return url[:-3] if url.endswith("/v1") else url


def is_remote(spec: str) -> bool:
    return spec.startswith(PREFIX)


def parse_remote(spec: str, api_key_env: str | None = None) -> Endpoint:
    """`openai:MODEL@BASE_URL` as an Endpoint named by the spec itself."""
    body = spec[len(PREFIX):] if is_remote(spec) else spec
    found = re.match(r"^(?P<model>.+)@(?P<url>https?://\S+)$", body)  # a model id may hold "@"
    model, base_url = (found["model"], found["url"]) if found else ("", "")
    if not model:
        raise ValueError(f"{spec!r}: a remote model is openai:MODEL@BASE_URL, e.g. "
                         "openai:bimedix2@http://gpu-box:8000/v1")
    return Endpoint(spec, base_url.rstrip("/"), model, api_key_env)


def load_endpoints(path: str | Path) -> list[Endpoint]:
    """The endpoints a YAML file declares (a list, or a mapping with an `endpoints` list)."""
    import yaml

    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    entries = data.get("endpoints") if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise ValueError(f"{path}: expected a list of endpoints (name, base_url, model, ...)")
    known = set(Endpoint.__dataclass_fields__)
    endpoints = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not {"name", "base_url", "model"} <= set(entry):
            raise ValueError(f"{path}: endpoint {index} needs name, base_url and model")
        unknown = set(entry) - known
        if unknown:
            raise ValueError(f"{path}: endpoint {entry['name']!r} has unknown fields {sorted(unknown)}")
        endpoints.append(Endpoint(**{**entry, "base_url": str(entry["base_url"]).rstrip("/"),
                                     "stop": tuple(entry.get("stop") or ())}))
    names = [e.name for e in endpoints]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: endpoint names must be unique")
    return endpoints


# What stays in the app, whichever server replies: a bilingual medical system prompt.
REMOTE_SYSTEM = (
    "You are a careful medical assistant for clinicians and patients. Answer in the language of the "
    "user's latest message, Arabic or English, clearly and briefly, and say when something needs a "
    "doctor's examination. You do not give a diagnosis as certain.\n"
    "أنت مساعد طبي حريص. أجب بلغة آخر رسالة من المستخدم، العربية أو الإنجليزية، بوضوح وإيجاز."
)


def remote_card(endpoint: Endpoint, multimodal: bool = False) -> ModelCard:
    return ModelCard(system_prompt=REMOTE_SYSTEM,
        name=endpoint.name, title=endpoint.model, family="remote", weights=endpoint.base_url,
        prompt_format="remote", multimodal=multimodal, medical=False, language_hint=True,
        description=f"Runs on the server at {endpoint.host} (OpenAI-compatible API), as model "
                    f"\u2068{endpoint.model}\u2069.",
        description_ar=f"يعمل على الخادم \u2066{endpoint.host}\u2069 (واجهة متوافقة مع OpenAI) باسم "
                       f"النموذج \u2066{endpoint.model}\u2069.",
        notice="Remote model: the app cannot tell whether it is a medical model.",
        notice_ar="نموذج بعيد: لا يستطيع التطبيق معرفة ما إذا كان نموذجًا طبيًا.",
    )


class NoAdapters:
    """A remote model's adapters: the server names each adapter as a model of its own."""

    default = None

    @staticmethod
    def names() -> list[str]:
        return []


@dataclass(frozen=True)
class ServedAdapters:
    """Adapters a server serves by name (vLLM's LoRA modules): a request names one as its model."""

    served: tuple[str, ...]
    default: str | None = None

    def names(self) -> list[str]:
        return list(self.served)


@dataclass(frozen=True)
class ServerFormat:
    """What the prompt builder asks of a format, for a server that renders its own."""

    default_system: str = ""


@dataclass(eq=False)
class RemoteModel:
    """What the app holds for a remote model: the parts of LoadedModel that screens read
    (card, adapters, reply length, key), and what engine/remote.py needs to reply."""

    endpoint: Endpoint
    card: ModelCard
    client: object  # openai.OpenAI
    context_window: int
    reads_images: bool
    counter: str  # "tokenizer", "server" or "estimate": how prompt tokens are counted
    tokenizer: object | None = None
    adapters: NoAdapters | ServedAdapters = field(default_factory=NoAdapters)
    default_reply_tokens: int = REMOTE_REPLY_TOKENS
    default_adapter: str | None = None
    vision: None = None
    prompt_format: ServerFormat = field(default_factory=ServerFormat)
    # Its chat template is engine/chat_templates' and takes `reply_language` (engine/remote.py).
    template_asks_language: bool = False
    # A server the app started and watches (engine/vllm_managed.ManagedVllm): its state
    # words a failed reply ("restarting, about N s").
    supervisor: object | None = None

    @property
    def key(self) -> str:
        return f"remote:{self.endpoint.name}"

    @property
    def engine(self) -> str:
        """"vllm" for a vLLM this app started; "remote" for a server run elsewhere."""
        return "vllm" if self.supervisor is not None else "remote"


@dataclass(frozen=True)
class ServerFacts:
    """What a server says about a model: whether it reads images, its context length, and
    how its tokens are counted ("tokenizer", "server" or "estimate")."""

    reads_images: bool
    context_window: int
    counter: str
    tokenizer: object = None


def ask_server(endpoint: Endpoint, client=None) -> ServerFacts:
    """Ask the server about the model once. Raises UserFacingError (down, wrong key, no
    such model)."""
    client = client or make_client(endpoint)
    entry = _model_entry(client, endpoint)
    extra = getattr(entry, "model_extra", None) or {}
    reads_images = endpoint.multimodal if endpoint.multimodal is not None else "image" in (extra.get("modalities") or ())
    window = endpoint.context_length or extra.get("max_model_len") or DEFAULT_CONTEXT
    tokenizer = _local_tokenizer(endpoint.tokenizer) if endpoint.tokenizer else None
    counter = "tokenizer" if tokenizer is not None else "server" if _server_counts(client, endpoint) else "estimate"
    log.info("%s: %s at %s, context %d, images %s, tokens counted by %s", endpoint.name, endpoint.model,
             endpoint.host, window, reads_images, counter)
    return ServerFacts(bool(reads_images), int(window), counter, tokenizer)


def connect(endpoint: Endpoint) -> RemoteModel:
    """A remote model, from what its server says (ask_server). Raises UserFacingError
    (down, wrong key, no such model), so the app can keep its current model and say why."""
    client = make_client(endpoint)
    facts = ask_server(endpoint, client)
    return RemoteModel(endpoint, remote_card(endpoint, facts.reads_images), client, facts.context_window,
                       facts.reads_images, facts.counter, facts.tokenizer)


def make_client(endpoint: Endpoint, max_retries: int = 1):
    """The `openai` SDK client for an endpoint: the one way the app, the judges and the data
    pipeline reach an OpenAI-compatible server (key from its variable, "EMPTY" for servers
    that need none). `max_retries=1` repeats only a request that never began; callers
    with their own backoff (the judges) pass 0."""
    import openai

    return openai.OpenAI(base_url=endpoint.base_url, api_key=os.environ.get(endpoint.key_variable) or "EMPTY",
                         timeout=openai.Timeout(endpoint.timeout_s, connect=10.0), max_retries=max_retries)


def _model_entry(client, endpoint: Endpoint):
    try:
        models = list(client.models.list())
    except Exception as error:  # down, refused, wrong key: worded by remote_error
        raise remote_error(error, endpoint) from error
    for entry in models:
        if entry.id == endpoint.model:
            return entry
    raise UserFacingError("remote_model_missing", host=endpoint.host, model=endpoint.model,
                          available=", ".join(m.id for m in models) or "—")


def _local_tokenizer(location: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(location)


def _server_counts(client, endpoint: Endpoint) -> bool:
    """Whether the server answers vLLM's POST /tokenize for this model."""
    try:
        count_on_server(client, endpoint, [{"role": "user", "content": "hello"}])
    except Exception as error:  # not vLLM (404), or an older one: estimate instead
        log.info("%s: no /tokenize on the server (%s); estimating prompt tokens", endpoint.name,
                 type(error).__name__)
        return False
    return True


def count_on_server(client, endpoint: Endpoint, messages: list[dict], template_kwargs: dict | None = None) -> int:
    """The prompt's token count by the server's own template and tokenizer (vLLM's route)."""
    import httpx

    body = {"model": endpoint.model, "messages": messages}
    if template_kwargs:
        body["chat_template_kwargs"] = template_kwargs
    response = httpx.post(f"{endpoint.server_root}/tokenize", json=body,
                          headers={"Authorization": f"Bearer {client.api_key}"}, timeout=10.0)
    response.raise_for_status()
    return int(response.json()["count"])


def estimate_tokens(messages: list[dict]) -> int:
    """More tokens than the prompt can have (see BYTES_PER_TOKEN): fitting stays safe."""
    total = 0
    for message in messages:
        text = message["content"] if isinstance(message["content"], str) else "".join(
            part.get("text", "") for part in message["content"])
        total += math.ceil(len(text.encode("utf-8")) / BYTES_PER_TOKEN) + TOKENS_PER_MESSAGE
    return total


def remote_error(error: Exception, endpoint: Endpoint) -> UserFacingError:
    """What went wrong with the server, worded for the person (both languages)."""
    import httpx
    import openai

    if isinstance(error, UserFacingError):
        return error
    if isinstance(error, openai.APITimeoutError):
        return UserFacingError("remote_timeout", model=endpoint.name)
    if isinstance(error, openai.APIConnectionError):
        return UserFacingError("remote_unreachable", model=endpoint.name, detail=f"{endpoint.host}: no connection")
    if isinstance(error, (openai.AuthenticationError, openai.PermissionDeniedError)):
        return UserFacingError("remote_auth", model=endpoint.name, variable=endpoint.key_variable)
    if isinstance(error, httpx.TimeoutException):
        return UserFacingError("remote_timeout", model=endpoint.name)
    if isinstance(error, httpx.HTTPStatusError) and error.response.status_code in (401, 403):
        return UserFacingError("remote_auth", model=endpoint.name, variable=endpoint.key_variable)
    if isinstance(error, httpx.HTTPStatusError):
        return UserFacingError("remote_failed", model=endpoint.name, detail=f"HTTP {error.response.status_code}")
    if isinstance(error, openai.APIStatusError):
        message = getattr(error, "body", None)
        message = message.get("message") if isinstance(message, dict) else None
        return UserFacingError("remote_failed", model=endpoint.name,
                               detail=f"HTTP {error.status_code}: {message or error.message}"[:300])
    return UserFacingError("remote_unreachable", model=endpoint.name, detail=f"{endpoint.host}: {type(error).__name__}")
