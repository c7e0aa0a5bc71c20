"""Generation in three layers (like mlx-lm):

1. `generate_tokens`: a token iterator over `model.generate` running in a worker thread;
2. `stream_text`: text chunks through the incremental detokenizer (stop strings cut),
   over any token iterator (`stream_reply` wires it to `generate_tokens`; a session uses
   the token backends of engine/backend.py, which may run in a GPU worker process);
3. `generate_reply`: the full text.

Stop is real: closing the iterator (or setting the `stop_event`) makes `generate` return
at its next step, and the worker thread is joined before the iterator finishes. The stop
event belongs to the caller: generation only reads it (closing uses an event of its own).

Why a reply ended is decided in one place, `finish_reason`, from what `stream_text` saw.
"""

from __future__ import annotations

import logging
import math
import numbers
import queue
import threading
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterator, Sequence

import torch
from transformers import StoppingCriteria, StoppingCriteriaList
from transformers.generation.streamers import BaseStreamer

from engine.detokenizer import IncrementalDetokenizer
from engine.errors import InvalidSetting

log = logging.getLogger(__name__)

# Why a reply ended. "done": the model ended its turn (an end-of-turn or EOS token, or a
# token source that finished on its own); "stop_string": a stop string of the prompt
# format; "length": max_new_tokens; "stopped": the caller's stop event (Stop, a closed
# tab, Ctrl-C); "failed": generation raised (the error comes with the final chunk).
FINISH_REASONS = ("done", "stop_string", "length", "stopped", "failed")


@dataclass(frozen=True)
class GenerationSettings:
    temperature: float = field(default=0.7, metadata={"help": "sampling temperature; 0 = greedy"})
    top_p: float = field(default=0.9, metadata={"help": "nucleus sampling: keep the smallest set of tokens with this much probability"})
    max_new_tokens: int = field(default=512, metadata={"help": "longest reply, in tokens"})
    repetition_penalty: float = field(default=1.1, metadata={"help": "> 1 discourages repeating earlier tokens"})
    seed: int | None = field(default=None, metadata={"help": "fix the sampling seed for reproducible replies"})
    top_k: int = field(default=0, metadata={"help": "sample from the k likeliest tokens only; 0 = no limit"})

    def __post_init__(self) -> None:
        # Refused here, named, rather than by torch mid-reply ("The model failed while
        # replying (ValueError)" for a seed of 2**80) or silently (NaN passes every `<`).
        _within("temperature", _finite("temperature", self.temperature) >= 0, self.temperature, "[0, ∞)")
        _within("top_p", 0 < _finite("top_p", self.top_p) <= 1, self.top_p, "(0, 1]")
        _within("max_new_tokens", _whole("max_new_tokens", self.max_new_tokens) >= 1, self.max_new_tokens, "[1, ∞)")
        _within("repetition_penalty", _finite("repetition_penalty", self.repetition_penalty) > 0,
                self.repetition_penalty, "(0, ∞)")
        if self.seed is not None:
            _within("seed", SEED_RANGE[0] <= _whole("seed", self.seed) <= SEED_RANGE[1], self.seed,
                    "[-2^63, 2^63 − 1]")
        _within("top_k", 0 <= _whole("top_k", self.top_k) <= TOP_K_MAX, self.top_k, "[0, 2^31 − 1]")

    def generate_kwargs(self) -> dict:
        sampling = self.temperature > 0
        kwargs = {"do_sample": sampling, "max_new_tokens": self.max_new_tokens,
                  "repetition_penalty": self.repetition_penalty}
        if sampling:
            kwargs.update(temperature=self.temperature, top_p=self.top_p, top_k=self.top_k)
        else:  # greedy: clear the checkpoint's sampling defaults so generate() does not warn
            kwargs.update(temperature=None, top_p=None, top_k=None)
        return kwargs

    def to_dict(self) -> dict:
        return asdict(self)


# Every backend takes these: torch's manual_seed and vLLM's seed (int64), vLLM's top_k (int32).
SEED_RANGE = (-(2**63), 2**63 - 1)
TOP_K_MAX = 2**31 - 1


def shown_value(value) -> str:
    """A value as a message quotes it: short, whatever a client sent."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _finite(name: str, value) -> float:
    """`value` itself if it is a real number (not a bool), neither NaN nor infinite."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidSetting("setting_not_a_number", name=name, value=shown_value(value))
    if isinstance(value, numbers.Integral):
        return value  # exact, however large: float() of 10**400 overflows
    if not math.isfinite(value):
        raise InvalidSetting("setting_not_a_number", name=name, value=shown_value(value))
    return float(value)


def _whole(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidSetting("setting_not_an_integer", name=name, value=shown_value(value))
    return int(value)


def _within(name: str, allowed: bool, value, interval: str) -> None:
    if not allowed:
        raise InvalidSetting("setting_out_of_range", name=name, value=shown_value(value), allowed=interval)


@dataclass(frozen=True)
class Chunk:
    """A piece of a streamed reply; the last one carries the finish reason."""

    text: str
    tokens: int  # tokens generated so far
    finish_reason: str | None = None  # one of FINISH_REASONS, on the last chunk only
    error: Exception | None = None  # what failed, with finish_reason "failed"


class _QueueStreamer(BaseStreamer):
    """Hands each new token id from the generate() thread to the consumer."""

    def __init__(self) -> None:
        self.tokens: queue.Queue = queue.Queue()
        self._prompt_seen = False

    def put(self, value) -> None:
        if not self._prompt_seen:  # generate() first reports the prompt itself
            self._prompt_seen = True
            return
        for token in value.reshape(-1).tolist():
            self.tokens.put(token)

    def end(self) -> None:
        self.tokens.put(None)


class _StopWhenSet(StoppingCriteria):
    def __init__(self, *events: threading.Event):
        self.events = events

    def __call__(self, input_ids, scores, **kwargs):
        stop = any(event.is_set() for event in self.events)
        return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)


def generate_tokens(
    model,
    input_ids: Sequence[int],
    settings: GenerationSettings,
    stop_token_ids: Sequence[int] = (),
    stop_event: threading.Event | None = None,
    model_inputs: dict | None = None,
    past_key_values=None,
    on_done: Callable[[list[int]], None] | None = None,
) -> Iterator[int]:
    """Yield generated token ids as the model produces them.

    `stop_event` is the caller's and only read; closing the iterator ends generation
    through an event of its own, so a caller's event never changes behind its back.
    `past_key_values`: a cache already holding a prefix of `input_ids` (generate then
    prefills only the rest, engine/prefix_cache.py); `on_done(sequence)`: called with the
    whole sequence (prompt and reply) once generate returns, before the iterator ends.
    """
    stop_event = stop_event or threading.Event()
    closed = threading.Event()
    streamer = _QueueStreamer()
    ids = torch.tensor([list(input_ids)], dtype=torch.long, device=model.device)
    kwargs = dict(
        input_ids=ids, attention_mask=torch.ones_like(ids), streamer=streamer,
        stopping_criteria=StoppingCriteriaList([_StopWhenSet(stop_event, closed)]),
        eos_token_id=list(stop_token_ids) or None, pad_token_id=_pad_id(model, stop_token_ids),
        **settings.generate_kwargs(), **(model_inputs or {}),
    )
    if past_key_values is not None:
        kwargs["past_key_values"] = past_key_values
    failure: list[BaseException] = []

    def work() -> None:
        try:
            if settings.seed is not None:
                torch.manual_seed(settings.seed)
            with torch.inference_mode():
                sequences = model.generate(**kwargs)
            if on_done is not None:
                on_done(sequences[0].tolist())
        except BaseException as error:  # re-raised in the consumer's thread
            failure.append(error)
            streamer.end()

    worker = threading.Thread(target=work, name="bimedix-generate", daemon=True)
    worker.start()
    try:
        while (token := streamer.tokens.get()) is not None:
            yield token
    finally:
        closed.set()
        worker.join()
    if failure:
        raise failure[0]


def _pad_id(model, stop_token_ids: Sequence[int]) -> int | None:
    pad = getattr(model.generation_config, "pad_token_id", None)
    if pad is not None:
        return pad
    return stop_token_ids[0] if stop_token_ids else None


def pad_token_id(model, stop_token_ids: Sequence[int] = ()) -> int | None:
    """The id generate() pads with: the model's own pad token, else its first stop token
    (engine/batch.py left-pads a batch with it)."""
    return _pad_id(model, stop_token_ids)


def finish_reason(*, failed: bool, stop_token: bool, stop_string: bool, stopped: bool, tokens: int,
                  max_new_tokens: int) -> str:
    """Why a reply ended: the one place that decides it (see FINISH_REASONS)."""
    if failed:
        return "failed"
    if stop_token:
        return "done"
    if stop_string:
        return "stop_string"
    if tokens >= max_new_tokens:
        return "length"
    if stopped:
        return "stopped"
    return "done"


def stream_text(
    tokens: Iterator[int],
    tokenizer,
    max_new_tokens: int,
    stop_strings: Sequence[str] = (),
    stop_token_ids: Sequence[int] = (),
    stop_event: threading.Event | None = None,
) -> Iterator[Chunk]:
    """Token ids → text chunks through the incremental detokenizer; the final chunk says
    why the reply ended, and carries the error when generation failed (nothing is raised:
    the caller gets the text so far and the reason). Closing this closes `tokens` (which
    ends their generation)."""
    stop_event = stop_event or threading.Event()
    detokenizer = IncrementalDetokenizer(tokenizer, stop_strings)
    count, hit_stop_token, failure = 0, False, None
    try:
        for token in tokens:
            count += 1
            if token in stop_token_ids:
                hit_stop_token = True
                break
            text = detokenizer.push(token)
            if text:
                yield Chunk(text, count)
            # The length limit holds whatever the token source does (a remote server, a worker).
            if detokenizer.stopped or count >= max_new_tokens:
                break
    except Exception as error:  # the model, a worker or a server failed: said in the last chunk
        log.warning("generation failed after %d tokens: %s", count, type(error).__name__, exc_info=error)
        failure = error
    finally:
        close = getattr(tokens, "close", None)
        if close:
            close()  # stops and joins the worker thread
    reason = finish_reason(failed=failure is not None, stop_token=hit_stop_token,
                           stop_string=detokenizer.stopped, stopped=stop_event.is_set(), tokens=count,
                           max_new_tokens=max_new_tokens)
    yield Chunk(detokenizer.finish(), count, reason, failure)


def stream_reply(
    model,
    tokenizer,
    input_ids: Sequence[int],
    settings: GenerationSettings,
    stop_strings: Sequence[str] = (),
    stop_token_ids: Sequence[int] = (),
    stop_event: threading.Event | None = None,
    model_inputs: dict | None = None,
) -> Iterator[Chunk]:
    """Generate on `model` in this process and yield the reply as text chunks."""
    stop_event = stop_event or threading.Event()
    tokens = generate_tokens(model, input_ids, settings, stop_token_ids, stop_event, model_inputs)
    return stream_text(tokens, tokenizer, settings.max_new_tokens, stop_strings, stop_token_ids, stop_event)


def generate_reply(*args, **kwargs) -> str:
    """The whole reply as one string (same arguments as `stream_reply`); raises what
    made generation fail."""
    text = []
    for chunk in stream_reply(*args, **kwargs):
        text.append(chunk.text)
        if chunk.error is not None:
            raise chunk.error
    return "".join(text)
