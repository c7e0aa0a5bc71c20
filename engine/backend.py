"""Where a reply's tokens are generated: in this process, or in a GPU worker process.

A `GenerationRequest` holds everything generation needs as plain, picklable data: the
model is named by its registry key, never passed as an object, and tensors stay on the
CPU. That is what lets the same request run in a forked GPU worker (ZeroGPU on Hugging
Face Spaces runs decorated functions in a forked process and pickles their arguments and
results), whose copy of this module's registry holds the models loaded before the fork.

A backend is `backend(request, stop_event) -> iterator of token ids`:
- `local_tokens` generates in this process;
- `RemoteTokens(run)` calls `run(request)` (an iterator that may live in another process)
  and closes it when the stop event is set.

Both take one of the model's reply slots first: each loaded model generates at most
`set_concurrency(key, n)` replies at once (1 by default); the others wait their turn.
"""

from __future__ import annotations

import itertools
import threading
import time
import weakref
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Callable, Iterator, Protocol

from engine.generation import GenerationSettings, generate_tokens
from engine.prefix_cache import PREFIX_CACHES, CachedPrefix, ReusePlan, plan_reuse


@dataclass(frozen=True)
class GenerationRequest:
    model_key: str
    input_ids: tuple[int, ...]
    settings: GenerationSettings
    stop_token_ids: tuple[int, ...] = ()
    adapter: str | None = None  # None: the base model without adapters
    model_inputs: dict = field(default_factory=dict)  # e.g. pixel_values, on the CPU
    # Whose KV cache to reuse and leave (engine/prefix_cache.py); None: none. The images'
    # fingerprints, in prompt order, tell a cached image from another one.
    conversation: str | None = None
    image_keys: tuple[str, ...] = ()


class StopSignal(Protocol):
    """What a backend reads to know it must stop (a threading.Event, or a Reply's stop)."""

    def is_set(self) -> bool: ...


TokenBackend = Callable[[GenerationRequest, StopSignal], Iterator[int]]

# Weak: a model nobody uses any more is freed; a forked worker inherits the entries.
_MODELS: "weakref.WeakValueDictionary[str, object]" = weakref.WeakValueDictionary()
_SLOTS: dict[str, threading.BoundedSemaphore] = {}
_ADAPTER_LOCKS: dict[str, threading.Lock] = {}
_WAITING: dict[str, list[int]] = {}  # per model: the threads waiting for a slot, in order
_CAPACITY: dict[str, int] = {}  # per model: replies at once (set_concurrency; default 1)
SLOT_POLL_S = 0.05  # how soon a reply waiting for its slot notices Stop
_counter = itertools.count(1)
_registry_lock = threading.Lock()


def register(loaded, name: str) -> str:
    """Give a loaded model a key that requests can name it by."""
    with _registry_lock:
        key = f"{name}#{next(_counter)}"
        _MODELS[key] = loaded
        _SLOTS[key] = threading.BoundedSemaphore(1)
        _ADAPTER_LOCKS[key] = threading.Lock()
    return key


def registered(key: str):
    try:
        return _MODELS[key]
    except KeyError:
        raise LookupError(f"no loaded model has the key {key!r} in this process") from None


def set_concurrency(key: str, replies: int) -> None:
    """Let a model generate up to `replies` replies at once (call before serving)."""
    if replies < 1:
        raise ValueError("replies must be >= 1")
    _SLOTS[key] = threading.BoundedSemaphore(replies)
    _CAPACITY[key] = replies


@contextmanager
def reply_slot(key: str, stop_event: StopSignal | None = None) -> Iterator[bool]:
    """Wait for a free reply slot on this model; yields whether it got one.

    Stop must work while a reply waits for its turn too: the wait gives up (yielding
    False) as soon as `stop_event` is set, instead of holding Stop until the reply
    ahead of it ends.
    """
    slot = _SLOTS[key]
    waiter = threading.get_ident()
    with _registry_lock:
        _WAITING.setdefault(key, []).append(waiter)
    try:
        while not _take_in_turn(key, slot, waiter):  # first come, first served
            if stop_event is not None and stop_event.is_set():
                yield False
                return
    finally:
        with _registry_lock:
            _WAITING[key].remove(waiter)
    try:
        yield True
    finally:
        slot.release()


def _take_in_turn(key: str, slot: threading.BoundedSemaphore, waiter: int) -> bool:
    """Take a slot only when `waiter` is among the first `capacity` waiting: a semaphore
    alone lets whoever polls first after a release cut ahead of earlier arrivals."""
    with _registry_lock:
        in_turn = _WAITING[key].index(waiter) < _CAPACITY.get(key, 1)
    if in_turn:
        return slot.acquire(timeout=SLOT_POLL_S)
    time.sleep(SLOT_POLL_S)
    return False


def queue_position(thread_id: int) -> int | None:
    """1 for the next reply to get its model, 2 for the one after...; None when the reply
    generated in thread `thread_id` is not waiting (it runs, or has not asked yet). Replies
    are shown their place while they wait (the screen's "waiting for the model")."""
    with _registry_lock:
        for waiters in _WAITING.values():
            if thread_id in waiters:
                return waiters.index(thread_id) + 1
        batchers = list(_BATCHERS.values())
    for batcher in batchers:  # a reply waiting for a row in a full batch
        place = batcher.position(thread_id)
        if place is not None:
            return place
    return None


def worker_tokens(request: GenerationRequest, stop_event: StopSignal | None = None) -> Iterator[int]:
    """Generate in this process, without taking a reply slot: what a GPU worker runs.

    With adapters, the shared model is switched to this request's adapter and held for
    the whole reply, so replies with different adapters never interleave.
    """
    loaded = registered(request.model_key)
    adapters = loaded.adapters
    lock = _ADAPTER_LOCKS[request.model_key] if adapters.names() else None
    with lock or _no_lock():
        if adapters.names():
            adapters.activate(request.adapter)
        model = loaded.model
        inputs = {name: value.to(model.device) if hasattr(value, "to") else value
                  for name, value in request.model_inputs.items()}
        if request.conversation is not None and PREFIX_CACHES.enabled:
            yield from _reusing_cache(loaded, request, inputs, stop_event)
            return
        yield from generate_tokens(model, request.input_ids, request.settings, request.stop_token_ids,
                                   stop_event, inputs)


def _reusing_cache(loaded, request: GenerationRequest, inputs: dict, stop_event) -> Iterator[int]:
    """Generate from the conversation's cached prefix, and leave the cache for its next turn."""
    from transformers import DynamicCache

    entry = PREFIX_CACHES.take(request.conversation, request.model_key, request.adapter)
    vision = loaded.vision
    plan = plan_reuse(entry, request.input_ids, request.image_keys, vision.image_token_id if vision else None,
                      vision.tokens_per_image if vision else 1) if entry else ReusePlan(0, 0)
    if plan.length > 0:
        cache = entry.cache
        cache.crop(plan.length - cache.get_seq_length())  # a negative count: positions removed
    else:
        # No config: every layer keeps every position, so it can be cropped back later (a
        # sliding-window layer cannot); the model's masks still slide.
        cache = DynamicCache()
    if plan.cached_images and "pixel_values" in inputs:  # their features are in the cache
        inputs = dict(inputs, pixel_values=inputs["pixel_values"][plan.cached_images:])
        if not len(inputs["pixel_values"]):
            del inputs["pixel_values"]
    model = loaded.model

    def keep(sequence: list[int]) -> None:
        covered = cache.get_seq_length()
        if covered <= len(sequence):
            PREFIX_CACHES.put(request.conversation, CachedPrefix(
                request.model_key, request.adapter, tuple(sequence[:covered]), cache, request.image_keys,
                reused=plan.length), model.device)

    yield from generate_tokens(model, request.input_ids, request.settings, request.stop_token_ids, stop_event,
                               inputs, past_key_values=cache, on_done=keep)


def adapter_lock(key: str) -> threading.Lock:
    """The lock that whoever switches model `key`'s adapters holds for a whole reply (or a
    batch of replies, engine/batch.py), so that no one switches them mid-reply."""
    return _ADAPTER_LOCKS[key]


class Batcher(Protocol):
    """Replies on one model decoded together (engine/continuous.py registers them here)."""

    def takes(self, request: GenerationRequest) -> bool: ...

    def tokens(self, request: GenerationRequest, stop_event: StopSignal) -> Iterator[int]: ...

    def position(self, thread: int) -> int | None: ...


_BATCHERS: dict[str, Batcher] = {}


def use_batcher(key: str, batcher: Batcher | None) -> None:
    """Model `key`'s replies that `batcher` takes go to it from now on (None: none do)."""
    with _registry_lock:
        if batcher is None:
            _BATCHERS.pop(key, None)
        else:
            _BATCHERS[key] = batcher


def local_tokens(request: GenerationRequest, stop_event: StopSignal) -> Iterator[int]:
    """The default backend: with the model's continuous batching on, join its batch
    (engine/continuous.py); else, and for what cannot be batched, take a reply slot and
    generate in this process."""
    batcher = _BATCHERS.get(request.model_key)
    if batcher is not None and batcher.takes(request):
        yield from batcher.tokens(request, stop_event)
        return
    with reply_slot(request.model_key, stop_event) as free:
        if free and not stop_event.is_set():
            yield from worker_tokens(request, stop_event)


class RemoteTokens:
    """A backend around `run(request) -> token iterator` that may run in another process.

    The stop event cannot cross a process boundary, so stopping closes the iterator: a
    ZeroGPU worker then ends its generator after the token in flight.
    """

    def __init__(self, run: Callable[[GenerationRequest], Iterator[int]]):
        self.run = run

    def __call__(self, request: GenerationRequest, stop_event: StopSignal) -> Iterator[int]:
        with reply_slot(request.model_key, stop_event) as free:
            if not free or stop_event.is_set():
                return
            # Nothing survives in the worker between calls (ZeroGPU forks one per call): no
            # conversation cache there.
            tokens = self.run(replace(request, conversation=None))
            try:
                for token in tokens:
                    yield token
                    if stop_event.is_set():
                        return
            finally:
                close = getattr(tokens, "close", None)
                if close:
                    close()


@contextmanager
def _no_lock():
    yield
