"""Replies asked for together (the arena's two sides) generated as one batch on their model.

A loaded model has one reply slot (engine/backend.py), and with adapters the weights are
switched per reply under a lock, so two replies on one base model would take turns: the
second waits for the whole first. PEFT LoRA can run one batch whose rows use different
adapters (`generate(..., adapter_names=[...])`, "__base__" for the bare model), so here
both prompts go into one left-padded batch, one `generate` call in one slot, and a
streamer hands each row's tokens to its own token iterator. Each iterator is what a token
backend yields, so each reply keeps its own detokenizer, stop strings, length limit and
finish reason (engine/generation.py `stream_text`, engine/reply.py), and its own Stop:
a stopped or finished row leaves the batch at the next step while the other goes on.

    batching = BatchingTokens(local_tokens)
    with batching.together():
        a = reply(model, history, options_a, backend=batching)
        b = reply(model, history, options_b, backend=batching)
    # iterate a and b (each in its own thread): one batch when `can_batch`, else as usual

Requests that cannot share a batch (different models, settings or stop tokens, adapters
PEFT cannot mix: DoRA, LoRA on fused experts; images of different shapes; a backend in
another process) go to the wrapped backend one by one, exactly as without this module.

Sampling: one `generate` call draws every row's next token from one random stream. Greedy
(temperature 0) rows are exactly what each would be alone (left padding is masked, and
transformers' repetition penalty ignores the padding). With sampling and a seed, the pair
is reproducible as a pair, but a row is not the reply its request would get alone with
the same seed: the rows share the draws.
"""

from __future__ import annotations

import queue
import threading
from contextlib import contextmanager
from typing import Iterator, Sequence

import torch
from transformers import StoppingCriteria, StoppingCriteriaList
from transformers.generation.streamers import BaseStreamer

from engine.backend import GenerationRequest, StopSignal, TokenBackend, local_tokens, registered, reply_slot
from engine.generation import pad_token_id

BASE_ROW = "__base__"  # PEFT's name for "no adapter" in `adapter_names`
_END = None  # what a row's queue gets when the row has left the batch


def mixes_adapters(loaded, adapters: Sequence[str | None]) -> bool:
    """Whether one batch of `loaded` can give each row its own adapter (None: bare).
    PEFT mixes plain LoRA adapters; DoRA and LoRA on parameters (fused MoE experts) it
    refuses, and a model without adapters has one way to run."""
    names = loaded.adapters.names()
    if not names:
        return all(adapter is None for adapter in adapters)
    configs = loaded.adapters.model.peft_config
    for name in names:  # every adapter: PEFT's layers check each one they hold
        config = configs[name]
        if (getattr(config, "peft_type", None) != "LORA" or getattr(config, "use_dora", False)
                or getattr(config, "target_parameters", None)):
            return False
    return all(adapter is None or adapter in names for adapter in adapters)


def merged_model_inputs(requests: Sequence[GenerationRequest]) -> dict | None:
    """The batch's extra inputs, or None when the rows' cannot be joined. Llava scatters
    image features over the image tokens in row-major order, so the rows' pixel values,
    concatenated in row order, meet their own rows' image tokens."""
    keys = set().union(*(request.model_inputs for request in requests))
    if keys - {"pixel_values"}:
        return None
    pixels = [request.model_inputs["pixel_values"] for request in requests if "pixel_values" in request.model_inputs]
    if not pixels:
        return {}
    if len({(tuple(p.shape[1:]), p.dtype) for p in pixels}) > 1:
        return None
    return {"pixel_values": torch.cat(pixels)}


def can_batch(requests: Sequence[GenerationRequest]) -> bool:
    """Whether `requests` can be generated as one batch in this process."""
    if len(requests) < 2:
        return False
    first = requests[0]
    if any((r.model_key, r.settings, r.stop_token_ids) != (first.model_key, first.settings, first.stop_token_ids)
           for r in requests):
        return False
    try:
        loaded = registered(first.model_key)
    except LookupError:
        return False
    return mixes_adapters(loaded, [r.adapter for r in requests]) and merged_model_inputs(requests) is not None


class _Row:
    """One request's place in the batch: its tokens, its Stop, and whether it has left."""

    def __init__(self, request: GenerationRequest, stop: StopSignal):
        self.request, self.stop = request, stop
        self.tokens: queue.Queue = queue.Queue()
        self.closed = threading.Event()  # its consumer closed its iterator
        self.left = False  # its end was sent: later tokens (padding) are not its own

    def done(self) -> bool:
        return self.stop.is_set() or self.closed.is_set()

    def leave(self) -> None:
        if not self.left:
            self.left = True
            self.tokens.put(_END)


class _RowStreamer(BaseStreamer):
    """Routes each step's tokens (one per row) to the rows still in the batch."""

    def __init__(self, rows: Sequence[_Row]):
        self.rows = rows
        self._prompt_seen = False

    def put(self, value) -> None:
        if not self._prompt_seen:  # generate() first reports the prompts themselves
            self._prompt_seen = True
            return
        for row, token in zip(self.rows, value.reshape(len(self.rows), -1)[:, -1].tolist()):
            if not row.left:
                row.tokens.put(token)

    def end(self) -> None:
        for row in self.rows:
            row.leave()


class _RowsDone(StoppingCriteria):
    """Per row, after each step: stopped, closed or at a stop token ends that row only.
    Called after the streamer has handed out the step's tokens, so a row leaves right
    after its last one."""

    def __init__(self, rows: Sequence[_Row]):
        self.rows = rows

    def __call__(self, input_ids, scores, **kwargs):
        last = input_ids[:, -1].tolist()
        done = []
        for row, token in zip(self.rows, last):
            if row.done() or token in row.request.stop_token_ids:
                row.leave()
            done.append(row.left)
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


class _AllDone:
    """The stop signal of the batch's wait for a slot: every row stopped."""

    def __init__(self, rows: Sequence[_Row]):
        self.rows = rows

    def is_set(self) -> bool:
        return all(row.done() for row in self.rows)


class TokenBatch:
    """Requests that `can_batch`, generated as one batch in one worker thread; `tokens(i)`
    is row i's token iterator. Generation starts when any row is first read; the slot and
    the model's adapters are held by the worker for the whole batch."""

    def __init__(self, requests: Sequence[GenerationRequest], stops: Sequence[StopSignal]):
        self.rows = [_Row(request, stop) for request, stop in zip(requests, stops)]
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None
        self._closed = 0
        self._failure: list[BaseException] = []

    def tokens(self, index: int) -> Iterator[int]:
        row = self.rows[index]
        self._start()
        try:
            while (token := row.tokens.get()) is not _END:
                yield token
        finally:
            row.closed.set()
            self._row_closed()
        if self._failure:
            raise self._failure[0]

    def _start(self) -> None:
        with self._lock:
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, name="bimedix-generate", daemon=True)
                self._worker.start()

    def _row_closed(self) -> None:
        """The last row to close joins the worker (it ends at its next step: no row is left)."""
        with self._lock:
            self._closed += 1
            last = self._closed == len(self.rows)
        if last and self._worker is not threading.current_thread():
            self._worker.join()

    def _work(self) -> None:
        key = self.rows[0].request.model_key
        try:
            with reply_slot(key, _AllDone(self.rows)) as free:
                for row in self.rows:
                    if row.done():  # stopped while it waited: it never starts (as local_tokens)
                        row.leave()
                live = [row for row in self.rows if not row.left]
                if free and live:
                    self._generate(registered(key), live)
        except BaseException as error:  # re-raised in every row's consumer
            self._failure.append(error)
        finally:
            for row in self.rows:
                row.leave()

    def _generate(self, loaded, rows: Sequence[_Row]) -> None:
        requests = [row.request for row in rows]
        first = requests[0]
        model = loaded.model
        pad = pad_token_id(model, first.stop_token_ids)
        pad = 0 if pad is None else pad  # masked out: any id will do
        width = max(len(r.input_ids) for r in requests)
        ids = torch.tensor([[pad] * (width - len(r.input_ids)) + list(r.input_ids) for r in requests],
                           dtype=torch.long, device=model.device)
        mask = torch.tensor([[0] * (width - len(r.input_ids)) + [1] * len(r.input_ids) for r in requests],
                            dtype=torch.long, device=model.device)
        inputs = {name: value.to(model.device) for name, value in merged_model_inputs(requests).items()}
        kwargs = dict(input_ids=ids, attention_mask=mask, streamer=_RowStreamer(rows),
                      stopping_criteria=StoppingCriteriaList([_RowsDone(rows)]),
                      eos_token_id=list(first.stop_token_ids) or None, pad_token_id=pad,
                      **first.settings.generate_kwargs(), **inputs)
        with _adapters_held(loaded, requests) as adapter_names:
            if adapter_names is not None:
                kwargs["adapter_names"] = adapter_names
            if first.settings.seed is not None:
                torch.manual_seed(first.settings.seed)
            with torch.inference_mode():
                model.generate(**kwargs)


@contextmanager
def _adapters_held(loaded, requests: Sequence[GenerationRequest]) -> Iterator[list[str] | None]:
    """Hold the model's adapters for the batch (nobody switches them meanwhile) with the
    adapter layers on, and yield each row's adapter for PEFT (None: a model without)."""
    from engine.backend import adapter_lock

    adapters = loaded.adapters
    if not adapters.names():
        yield None
        return
    with adapter_lock(requests[0].model_key):
        # `adapter_names` picks each row's adapter; the layers must be enabled for it to
        # be read at all ("no adapter" otherwise disables them for the whole model).
        adapters.activate(next((r.adapter for r in requests if r.adapter), adapters.names()[0]))
        yield [r.adapter or BASE_ROW for r in requests]


class _Group:
    """The requests made inside one `BatchingTokens.together()`."""

    def __init__(self, inner: TokenBackend, in_process: bool):
        self.inner, self.in_process = inner, in_process
        self.entries: list[tuple[GenerationRequest, StopSignal]] = []
        self.batch: TokenBatch | None = None
        self._sealed = False
        self._lock = threading.Lock()

    def add(self, request: GenerationRequest, stop: StopSignal) -> Iterator[int]:
        with self._lock:
            if self._sealed:  # too late to join the batch: on its own
                return self.inner(request, stop)
            self.entries.append((request, stop))
            return self._tokens(len(self.entries) - 1)

    def seal(self) -> None:
        """No more requests: decide once whether they run as one batch."""
        with self._lock:
            if self._sealed:
                return
            self._sealed = True
            requests = [request for request, _ in self.entries]
            if self.in_process and can_batch(requests):
                self.batch = TokenBatch(requests, [stop for _, stop in self.entries])

    def _tokens(self, index: int) -> Iterator[int]:
        self.seal()  # a row read before the group closed (its partner was refused) runs alone
        if self.batch is None:
            yield from self.inner(*self.entries[index])
        else:
            yield from self.batch.tokens(index)


class BatchingTokens:
    """A token backend: requests made inside `together()` are generated as one batch when
    they `can_batch`, else each through `inner`; requests outside go to `inner`.

    One per caller that asks for replies together (one arena session): `together()` is
    not for several threads at once. Batching needs the model in this process, so it is
    off when `inner` is not `local_tokens` (a ZeroGPU worker) unless `in_process` says so.
    """

    def __init__(self, inner: TokenBackend = local_tokens, in_process: bool | None = None):
        self.inner = inner
        self.in_process = inner is local_tokens if in_process is None else in_process
        self._group: _Group | None = None
        self.last_batched = False  # whether the latest `together()` ran as one batch

    @contextmanager
    def together(self) -> Iterator[None]:
        group = _Group(self.inner, self.in_process)
        self._group = group
        try:
            yield
        finally:
            self._group = None
            group.seal()
            self.last_batched = group.batch is not None

    def __call__(self, request: GenerationRequest, stop: StopSignal) -> Iterator[int]:
        group = self._group
        return self.inner(request, stop) if group is None else group.add(request, stop)
