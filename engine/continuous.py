"""Continuous batching in this process: replies to different people on one model share
decoding steps instead of waiting in line.

    set_batching(loaded.key, rows=16)      # the app and `engine serve` do this by default
    # then engine.backend.local_tokens sends each reply it can batch here

One scheduler thread per model runs the model. A reply that arrives is prefilled alone
(from its conversation's cached prefix where there is one, engine/prefix_cache.py) and
joins the running batch at the next step; a reply that ends (its end-of-turn token, its
length, its Stop, a closed stream) leaves it at the next step, its KV cache kept for its
conversation's next turn. Rows are left-padded to one length in one KV cache; each step
is one forward pass over every row's newest token.

Why not transformers' own ContinuousBatchingManager (paged KV cache, the scheduler of
`transformers serve`)? It runs, here on the CPU too, but it samples with one random stream
for all requests and takes per request only temperature, top-p and top-k: no repetition
penalty (every reply of this app has one by default: 1.1) and no seed, so the same seed
would not give the same text. Here each row is processed by transformers' own logits
processors on its own tokens and sampled from its own generator: a reply's tokens are the
same whoever it shares the batch with (greedy ones are what `generate` gives alone).

What is not batched (engine/backend.py sends it down the one-reply-at-a-time path, in its
reply slot): a model with adapters (PEFT switches them for the whole model), images
(their features are merged into the prompt by the vision path), a GPU worker process
(ZeroGPU: engine/backend.py RemoteTokens), and the arena's pairs, which engine/batch.py
already generates as one batch.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass, field
from typing import Iterator

import torch
from transformers import DynamicCache, LogitsProcessorList
from transformers.generation.logits_process import (RepetitionPenaltyLogitsProcessor, TemperatureLogitsWarper,
                                                    TopKLogitsWarper, TopPLogitsWarper)

from engine.backend import GenerationRequest, StopSignal, registered, use_batcher
from engine.prefix_cache import PREFIX_CACHES, CachedPrefix, common_prefix, plan_reuse

log = logging.getLogger(__name__)

DEFAULT_BATCH_ROWS = 16  # the app's and `engine serve`'s default: 8 clients measured ~4x one alone
_BATCHERS: dict[str, "Batcher"] = {}
_lock = threading.Lock()
_END = None
# The opening kept from the last prompt prefilled, for the next: the system prompt that every
# reply on a model starts with is then prefilled once, not once per person.
SHARED_MIN_TOKENS, SHARED_MAX_TOKENS = 16, 1024
LEAVE_WAIT_S = 60  # longest a finished reply waits for its row to leave (one step, at most a prefill)


def set_batching(key: str, rows: int) -> None:
    """Let model `key` decode up to `rows` replies together (1: off)."""
    with _lock:
        old = _BATCHERS.pop(key, None)
        if rows > 1:
            _BATCHERS[key] = Batcher(key, rows)
        use_batcher(key, _BATCHERS.get(key))
    if old is not None:
        old.close()


def batcher_for(request: GenerationRequest) -> "Batcher | None":
    """The batcher that takes `request`, or None when it goes down the one-at-a-time path."""
    batcher = _BATCHERS.get(request.model_key)
    return batcher if batcher is not None and batcher.takes(request) else None


@dataclass(eq=False)
class Row:
    """One reply in the batch: its tokens so far, how it samples, where its tokens go."""

    request: GenerationRequest
    stop_event: StopSignal
    tokens: queue.Queue = field(default_factory=queue.Queue)
    ids: list[int] = field(default_factory=list)  # prompt and reply so far
    generated: int = 0
    pad: int = 0  # left padding in the batch's KV cache
    closed: threading.Event = field(default_factory=threading.Event)  # the consumer walked away
    reused: int = 0
    processors: LogitsProcessorList | None = None
    generator: torch.Generator | None = None
    done: bool = False
    left: threading.Event = field(default_factory=threading.Event)  # out of the batch, its cache kept
    thread: int = field(default_factory=threading.get_ident)  # whose reply: its queue position

    def finished(self, token: int) -> bool:
        settings = self.request.settings
        return (token in self.request.stop_token_ids or self.generated >= settings.max_new_tokens
                or self.stop_event.is_set() or self.closed.is_set())


class Batcher:
    def __init__(self, key: str, rows: int):
        self.key, self.capacity = key, rows
        self._incoming: queue.Queue[Row] = queue.Queue()
        self._active: list[Row] = []
        self._cache: DynamicCache | None = None
        self._mask: torch.Tensor | None = None  # [rows, length]: 0 over each row's padding
        self._closing = threading.Event()
        self._waiting: list[Row] = []  # arrived, not yet in the batch, in order
        self._shared: tuple[tuple[int, ...], DynamicCache | None] = ((), None)  # the last prompt's opening
        self._waiting_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"bimedix-batch-{key}", daemon=True)
        self._thread.start()

    def takes(self, request: GenerationRequest) -> bool:
        """Whether this reply can be batched: text only, on a model without adapters."""
        if request.model_inputs or request.adapter is not None:
            return False
        loaded = registered(self.key)
        return not loaded.adapters.names() and loaded.vision is None

    def tokens(self, request: GenerationRequest, stop_event: StopSignal) -> Iterator[int]:
        """A reply's token ids as the batch decodes them (the token backend's contract)."""
        row = Row(request, stop_event, ids=list(request.input_ids))
        with self._waiting_lock:
            self._waiting.append(row)
        self._incoming.put(row)
        try:
            while (token := row.tokens.get()) is not _END:
                if isinstance(token, BaseException):
                    raise token
                yield token
        finally:
            row.closed.set()
            with self._waiting_lock:
                queued = row in self._waiting
                if queued:  # never admitted: the scheduler skips it
                    self._waiting.remove(row)
            if not queued:  # as generate's worker is joined: the row leaves (its cache kept) first
                row.left.wait(LEAVE_WAIT_S)

    def position(self, thread: int) -> int | None:
        """1 for the next reply to join the batch...; None when `thread`'s reply is not waiting."""
        with self._waiting_lock:
            return next((index + 1 for index, row in enumerate(self._waiting) if row.thread == thread), None)

    def close(self) -> None:
        self._closing.set()
        self._incoming.put(None)

    # The scheduler thread.

    def _run(self) -> None:
        while not self._closing.is_set():
            try:
                self._admit(block=not self._active)
                self._leave([row for row in self._active if row.done])  # ended at their first token
                if self._active:
                    with torch.inference_mode():
                        self._step()
            except Exception as error:  # a failed forward ends the replies it was writing
                log.exception("batched generation failed")
                for row in self._active:
                    row.tokens.put(error)
                    row.left.set()
                self._active, self._cache, self._mask = [], None, None

    def _admit(self, block: bool) -> None:
        """Prefill what arrived (while there is room) and add it to the batch."""
        while len(self._active) < self.capacity:
            try:
                row = self._incoming.get(block=block, timeout=None if block else 0)
            except queue.Empty:
                return
            if row is None:  # closing
                return
            block = False
            with self._waiting_lock:
                if row not in self._waiting:  # its consumer left while it waited
                    continue
                self._waiting.remove(row)
            if row.closed.is_set() or row.stop_event.is_set():
                self._end(row)
                continue
            try:
                with torch.inference_mode():
                    self._prefill(row)
            except Exception as error:
                log.exception("prefill failed")
                row.tokens.put(error)
                row.left.set()

    def _prefill(self, row: Row) -> None:
        loaded = registered(self.key)
        model, request = loaded.model, row.request
        cache, start = self._cached_prefix(row)
        ids = torch.tensor([row.ids[start:]], dtype=torch.long, device=model.device)
        positions = torch.arange(start, len(row.ids), device=model.device).unsqueeze(0)
        out = model(input_ids=ids, past_key_values=cache, position_ids=positions, use_cache=True, logits_to_keep=1,
                    attention_mask=torch.ones((1, len(row.ids)), dtype=torch.long, device=model.device))
        row.processors = _processors(request.settings)
        if request.settings.seed is not None:
            row.generator = torch.Generator(device=model.device).manual_seed(request.settings.seed)
        token = self._pick(row, out.logits[:, -1, :])
        self._share_opening(row, out.past_key_values)
        self._join(row, out.past_key_values)
        self._emit(row, token)

    def _cached_prefix(self, row: Row) -> tuple[DynamicCache, int]:
        """A cache to prefill `row` from, and the positions it covers: its conversation's
        own (engine/prefix_cache.py), else the opening it shares with the prompt prefilled
        last (the system prompt, the same for everyone: the preview's is 130 tokens of
        example turns), else nothing."""
        request = row.request
        entry = None
        if request.conversation is not None and PREFIX_CACHES.enabled:
            entry = PREFIX_CACHES.take(request.conversation, self.key, request.adapter)
        plan = plan_reuse(entry, request.input_ids, (), None) if entry else None
        if plan and plan.length > 0:
            cache = entry.cache
            cache.crop(plan.length - cache.get_seq_length())
            row.reused = plan.length
            return cache, plan.length
        shared_ids, shared = self._shared
        length = min(common_prefix(shared_ids, request.input_ids), len(request.input_ids) - 1)
        if shared is None or length < SHARED_MIN_TOKENS:
            return DynamicCache(), 0
        cache = _positions(shared, slice(0, length), copy=True)
        row.reused = length
        return cache, length

    def _share_opening(self, row: Row, cache: DynamicCache) -> None:
        """Keep the opening of the prompt just prefilled for the next arrival."""
        length = min(cache.get_seq_length(), SHARED_MAX_TOKENS)
        self._shared = (tuple(row.ids[:length]),
                        _positions(cache, slice(0, length), copy=True))

    def _join(self, row: Row, cache: DynamicCache) -> None:
        """Add a prefilled row to the batch: the shorter side is padded on the left."""
        length = cache.get_seq_length()
        if not self._active:
            self._cache, self._mask, row.pad = cache, torch.ones((1, length), dtype=torch.long), 0
            self._active = [row]
            return
        current = self._cache.get_seq_length()
        if length > current:  # every row in the batch gets more padding
            self._cache, self._mask = _left_pad(self._cache, self._mask, length - current)
            for other in self._active:
                other.pad += length - current
        mask = torch.ones((1, length), dtype=torch.long)
        row.pad = max(current - length, 0)
        if row.pad:
            cache, mask = _left_pad(cache, mask, row.pad)
        self._cache = DynamicCache([(torch.cat([a.keys, b.keys]), torch.cat([a.values, b.values]))
                                    for a, b in zip(self._cache.layers, cache.layers)])
        self._mask = torch.cat([self._mask, mask])
        self._active.append(row)

    def _step(self) -> None:
        """One decoding step for every row: each row's newest token in, its next token out."""
        model = registered(self.key).model
        length = self._cache.get_seq_length()
        newest = torch.tensor([[row.ids[-1]] for row in self._active], dtype=torch.long, device=model.device)
        self._mask = torch.cat([self._mask, torch.ones((len(self._active), 1), dtype=torch.long)], dim=1)
        positions = torch.tensor([[length - row.pad] for row in self._active], device=model.device)
        out = model.get_decoder()(input_ids=newest, past_key_values=self._cache, use_cache=True,
                                  attention_mask=self._mask.to(model.device), position_ids=positions,
                                  cache_position=torch.tensor([length], device=model.device))
        self._cache = out.past_key_values
        logits = output_logits(model, out.last_hidden_state[:, -1, :])
        for index, row in enumerate(self._active):
            self._emit(row, self._pick(row, logits[index:index + 1]))
        self._leave([row for row in self._active if row.done])

    def _pick(self, row: Row, logits: torch.Tensor) -> int:
        ids = torch.tensor([row.ids], dtype=torch.long, device=logits.device)
        scores = row.processors(ids, logits.float())
        if row.request.settings.temperature <= 0:
            return int(scores.argmax(dim=-1))
        probabilities = torch.softmax(scores, dim=-1)
        return int(torch.multinomial(probabilities, 1, generator=row.generator))

    def _emit(self, row: Row, token: int) -> None:
        row.ids.append(token)
        row.generated += 1
        if row.closed.is_set():  # the consumer walked away: nothing more to say to it
            row.done = True
            return
        row.tokens.put(token)
        row.done = row.finished(token)

    def _leave(self, rows: list[Row]) -> None:
        """Rows that ended leave the batch; their caches stay for their conversations."""
        if not rows:
            return
        for row in rows:
            self._keep_prefix(row)
            self._end(row)
        staying = [index for index, row in enumerate(self._active) if not row.done]
        self._active = [self._active[index] for index in staying]
        if not self._active:
            self._cache, self._mask = None, None
            return
        self._cache.batch_select_indices(torch.tensor(staying))
        self._mask = self._mask[staying]
        trim = min(row.pad for row in self._active)  # columns that are padding in every row
        if trim:
            self._cache = _positions(self._cache, slice(trim, None))
            self._mask = self._mask[:, trim:]
            for row in self._active:
                row.pad -= trim

    @staticmethod
    def _end(row: Row) -> None:
        row.tokens.put(_END)
        row.left.set()

    def _keep_prefix(self, row: Row) -> None:
        request = row.request
        if request.conversation is None or not PREFIX_CACHES.enabled:
            return
        index = self._active.index(row)
        # The newest token was never fed: the cache covers the sequence but it.
        cache = _positions(self._cache, slice(row.pad, None), rows=slice(index, index + 1), copy=True)
        covered = cache.get_seq_length()
        PREFIX_CACHES.put(request.conversation, CachedPrefix(
            self.key, None, tuple(row.ids[:covered]), cache, (), reused=row.reused), cache.layers[0].keys.device)


def output_logits(model, hidden: torch.Tensor) -> torch.Tensor:
    """The model's output layer on each row's newest hidden state ([rows, hidden] ->
    [rows, vocabulary]), as its forward computes it (a linear layer, then Gemma's optional
    soft cap). For several rows it is computed as W·hᵀ: for a few rows times a very wide
    matrix, MKL's kernel behind `linear` is 2-2.6x slower on this project's CPUs (measured
    with Gemma-3's 262k-token vocabulary at 8 rows: 274 ms against 104 ms a step), and
    that layer is most of a small model's step."""
    head = model.get_output_embeddings()
    if hidden.shape[0] == 1:
        logits = head(hidden)
    else:
        logits = torch.mm(head.weight, hidden.t()).t()
        if head.bias is not None:
            logits = logits + head.bias
    cap = getattr(model.config, "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return logits


def _processors(settings) -> LogitsProcessorList:
    """What `generate` applies for these settings, in its order."""
    processors = LogitsProcessorList()
    if settings.repetition_penalty != 1.0:
        processors.append(RepetitionPenaltyLogitsProcessor(settings.repetition_penalty))
    if settings.temperature > 0:
        if settings.temperature != 1.0:
            processors.append(TemperatureLogitsWarper(settings.temperature))
        if settings.top_k:
            processors.append(TopKLogitsWarper(settings.top_k))
        if settings.top_p < 1.0:
            processors.append(TopPLogitsWarper(settings.top_p))
    return processors


def _positions(cache: DynamicCache, kept: slice, rows: slice = slice(None), copy: bool = False) -> DynamicCache:
    """A cache of `cache`'s `rows` at the positions `kept` (a copy of its own with `copy`)."""
    def part(tensor: torch.Tensor) -> torch.Tensor:
        taken = tensor[rows, :, kept]
        return taken.clone() if copy else taken

    return DynamicCache([(part(layer.keys), part(layer.values)) for layer in cache.layers])


def _left_pad(cache: DynamicCache, mask: torch.Tensor, columns: int) -> tuple[DynamicCache, torch.Tensor]:
    def pad(tensor: torch.Tensor) -> torch.Tensor:
        shape = list(tensor.shape)
        shape[2] = columns
        return torch.cat([tensor.new_zeros(shape), tensor], dim=2)

    padded = DynamicCache([(pad(layer.keys), pad(layer.values)) for layer in cache.layers])
    return padded, torch.cat([mask.new_zeros((mask.shape[0], columns)), mask], dim=1)
