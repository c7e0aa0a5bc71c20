"""The models an app offers, loaded when first chosen and then shared by every session.

    pool = ModelPool([ModelSpec("bimedix2-8b"), ModelSpec("preview")])
    loaded, problem = pool.start()       # the first one, or the preview model and why
    other = pool.get("preview")          # loads once; UserFacingError if it cannot

A model that needs a GPU on a machine without one, or whose weights cannot be reached,
raises a UserFacingError (worded in both languages) and the caller keeps its current
model. Loading happens once per model even when several sessions ask at the same time.
"""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path
from dataclasses import dataclass, field
from typing import Callable, Sequence

from engine.backend import set_concurrency
from engine.continuous import set_batching
from engine.cards import ModelCard, resolve_card
from engine.endpoints import Endpoint, RemoteModel, connect, is_remote, parse_remote, remote_card
from engine.engines import choose_engine
from engine.errors import UserFacingError
from engine.loading import LoadedModel, load_model
from engine.vllm_managed import vllm_found

log = logging.getLogger(__name__)

PREVIEW = "preview"


@dataclass(frozen=True)
class ModelSpec:
    name: str = field(metadata={"help": "model card name or local checkpoint directory"})
    adapters: tuple[str, ...] = field(default=(), metadata={"help": "PEFT adapter directories"})
    load_in_4bit: bool | None = field(default=None, metadata={"help": "None: the card's default"})
    default_adapter: str | None = field(default=None, metadata={
        "help": "the adapter a new conversation starts with (a loaded adapter's name); None: the bare model"})
    engine: str = field(default="transformers", metadata={
        "help": "what runs it: transformers (in this process) or vllm (started by the app); engine/engines.py"})


def needs_gpu(card: ModelCard) -> bool:
    """The papers' models are far too large for a CPU; local checkpoints may be tiny."""
    return card.family in ("mixtral", "llava") and not card.is_local


def gpu_available() -> bool:
    import torch

    return torch.cuda.is_available()


def _card_or_none(name: str) -> ModelCard | None:
    """A misspelt name must not stop the app from starting: it fails when chosen."""
    try:
        return resolve_card(name)
    except ValueError:
        return None


def public_names(names, endpoints: dict[str, Endpoint] | None = None) -> dict[str, str]:
    """Each pool name's public name; built once, since the names never change. A remote
    model is shown by its server's model id (openai:MODEL@URL) or its endpoint's name."""
    endpoints = endpoints or {}
    public: dict[str, str] = {}
    for spec in names:
        if spec in endpoints:
            shown = endpoints[spec].model if is_remote(spec) else spec
        else:
            shown = Path(spec).name if ("/" in spec or "\\" in spec) else spec
        public[spec] = shown if shown not in public.values() else f"{shown}-{len(public) + 1}"
    return public


def open_model(name: str, adapters: Sequence[str] = (), load_in_4bit: bool | None = None,
               prompt_format: str | None = None, endpoints_file: str | Path | None = None,
               api_key_env: str | None = None, engine: str | None = None) -> LoadedModel | RemoteModel:
    """One model for a command-line tool: a local card or directory on `engine`
    (engine/engines.py: the flag, $BIMEDIX_ENGINE, else auto), or a remote one
    (openai:MODEL@URL, or a name in `endpoints_file`) connected to, its server asked once.
    Raises ValueError for a malformed remote spec or an unknown engine, UserFacingError
    when its server cannot be used."""
    from engine.endpoints import load_endpoints

    declared = {e.name: e for e in load_endpoints(endpoints_file)} if endpoints_file else {}
    if name in declared or is_remote(name):
        return connect(declared.get(name) or parse_remote(name, api_key_env))
    choice = choose_engine(engine, gpu_available, vllm_found)
    if choice.name == "vllm":
        served, problem = open_on_vllm_or_say_why(resolve_card(name, prompt_format), adapters)
        if served is not None:
            return served
        print(problem.message("en"), file=sys.stderr, flush=True)
    return load_model(name, list(adapters), load_in_4bit, prompt_format=prompt_format)


def open_on_vllm_or_say_why(card: ModelCard, adapters: Sequence[str],
                            wait: bool = True) -> tuple[RemoteModel | None, UserFacingError | None]:
    """`card` on a vLLM this process starts, or None and why it could not start (logged;
    the caller then runs the model in this process). `wait=False`: returned while vLLM
    starts (its supervisor's state says "starting"); finish_start() waits for it."""
    from engine.vllm_engine import begin_on_vllm, finish_start
    from engine.vllm_managed import VllmFailed, VllmSettings

    try:
        served = begin_on_vllm(card, adapters, VllmSettings(gpu=gpu_available()))
        if wait:
            finish_start(served)
        return served, None
    except VllmFailed as error:
        return None, vllm_problem(card, error)


def vllm_problem(card: ModelCard, error: Exception) -> UserFacingError:
    log.warning("vLLM could not start for %s: %s. It runs in this process instead.", card.title, error)
    return UserFacingError("vllm_unavailable", model=card.title, detail=str(error)[:300])


class ModelPool:
    def __init__(self, specs: Sequence[ModelSpec], replies_per_model: int = 1,
                 loader: Callable[..., LoadedModel] = load_model, has_gpu: Callable[[], bool] = gpu_available,
                 endpoints: Sequence[Endpoint] = (), api_key_env: str | None = None, batch_rows: int = 1,
                 vllm_in_background: bool = False):
        """`endpoints`: remote models by name (engine/endpoints.py); a spec named
        openai:MODEL@URL is one too, its key in `api_key_env` (default OPENAI_API_KEY).
        `replies_per_model`: replies generated at once, each alone, where they cannot be
        batched; `batch_rows`: replies decoded together where they can (engine/continuous.py).
        `vllm_in_background`: a model on vLLM is offered while vLLM starts (the app's page
        says so) instead of the load waiting minutes for it. Raises ValueError for a malformed openai: spec."""
        if not specs:
            raise ValueError("a model pool needs at least one model")
        self.specs = {spec.name: spec for spec in specs}
        self.endpoints = {endpoint.name: endpoint for endpoint in endpoints}
        self.endpoints.update({name: parse_remote(name, api_key_env) for name in self.specs
                               if is_remote(name) and name not in self.endpoints})
        self.cards = {name: remote_card(self.endpoints[name]) if name in self.endpoints else _card_or_none(name)
                      for name in self.specs}
        self.replies_per_model = replies_per_model
        self.batch_rows = batch_rows
        self.vllm_in_background = vllm_in_background
        self._loader = loader
        self._has_gpu = has_gpu
        self._loaded: dict[str, LoadedModel] = {}
        self.engine_problems: dict[str, UserFacingError] = {}  # a model not on the engine asked for, and why
        self._locks = {name: threading.Lock() for name in self.specs}
        # A vLLM that failed its first start, and the name whose in-process model replaced it.
        self._replaced: list[tuple[RemoteModel, str]] = []
        self.default = specs[0].name
        self._public = public_names(self.specs, self.endpoints)

    def names(self) -> list[str]:
        return list(self.specs)

    def title(self, name: str) -> str:
        card = self.cards[name]
        return card.title if card else self.public_name(name)

    def default_adapter(self, name: str) -> str | None:
        """What a new conversation on this model starts with: the configured adapter, else
        none (not whichever adapter happened to be loaded last)."""
        return self.specs[name].default_adapter

    def public_name(self, name: str) -> str:
        """The name shown to people: a card's name, or a local directory's own name (never
        the path, which tells strangers how the server is laid out)."""
        return self._public[name]

    def by_public_name(self, public: str) -> str:
        """The pool name behind a public name (a pool name is accepted as it is)."""
        if public in self.specs:
            return public
        return next((name for name, shown in self._public.items() if shown == public), public)

    def public_contestant(self, contestant: str) -> str:
        """An arena contestant id ("name" or "name:adapter") with its model's public name."""
        if contestant in self.specs:
            return self.public_name(contestant)
        name, _, adapter = contestant.rpartition(":")
        return f"{self.public_name(name)}:{adapter}" if name in self.specs else contestant

    def name_of(self, loaded: LoadedModel) -> str:
        """The pool name a loaded model was chosen by."""
        return next(name for name, model in self._loaded.items() if model is loaded)

    def is_loaded(self, name: str) -> bool:
        return name in self._loaded

    def current(self, loaded: LoadedModel | RemoteModel) -> LoadedModel | RemoteModel:
        """What now serves in place of `loaded`: itself, or the in-process model that took
        over when its vLLM could not start (a conversation begun meanwhile goes on with it)."""
        name = next((name for model, name in self._replaced if model is loaded), None)
        return self._loaded.get(name, loaded) if name is not None else loaded

    def problem_of(self, loaded: LoadedModel | RemoteModel) -> UserFacingError | None:
        """Why a model is not on the engine asked for (vLLM could not start), if it is not."""
        name = next((name for name, model in self._loaded.items() if model is loaded), None)
        return self.engine_problems.get(name) if name is not None else None

    def get(self, name: str) -> LoadedModel:
        """The loaded model, loading it first if needed. Raises UserFacingError."""
        if name not in self.specs:
            raise UserFacingError("unknown_model", model=name,
                                  available=", ".join(map(self.public_name, self.specs)))
        if name in self._loaded:
            return self._loaded[name]
        with self._locks[name]:  # one load per model, however many sessions ask
            if name not in self._loaded:
                self._loaded[name] = self._load(name)
        return self._loaded[name]

    def start(self) -> tuple[LoadedModel, UserFacingError | None]:
        """Load the default model; if it cannot be, the preview model and the reason why
        (a UserFacingError, so the screen can word it in either language)."""
        try:
            return self.get(self.default), self.engine_problems.get(self.default)
        except UserFacingError as error:
            if self.default == PREVIEW:
                raise
            log.warning("%s Falling back to the offline preview model.", error.message("en"))
            if PREVIEW not in self.specs:
                self.specs[PREVIEW] = ModelSpec(PREVIEW)
                self.cards[PREVIEW] = resolve_card(PREVIEW)
                self._locks[PREVIEW] = threading.Lock()
                self._public = public_names(self.specs, self.endpoints)  # the page names it too
            self.default = PREVIEW
            return self.get(PREVIEW), error

    def preload(self) -> list[str]:
        """Load every model now (ZeroGPU forks its GPU worker from the loaded process, so a
        model loaded later would be missing there). Models that cannot be loaded are taken
        out of the offer; returns why, one line each."""
        problems = []
        for name in self.names():
            try:
                self.get(name)
            except UserFacingError as error:
                problems.append(error.message("en"))
                del self.specs[name], self.cards[name], self._locks[name]
        return problems

    def _load(self, name: str) -> LoadedModel | RemoteModel:
        if name in self.endpoints:  # asks its server once; UserFacingError when it cannot
            return connect(self.endpoints[name])
        spec, card = self.specs[name], self.cards[name]
        if card is None:  # neither a card nor a directory: say so (resolve_card's wording)
            try:
                resolve_card(name)
            except ValueError as error:  # shown on the page: its public name, not the server's path
                log.warning("%s", error)
                public = self.public_name(name)
                raise UserFacingError("model_load_failed", model=public,
                                      detail=str(error).replace(name, public)) from error
        if needs_gpu(card) and not self._has_gpu():
            raise UserFacingError("model_needs_gpu", model=card.title)
        if spec.engine == "vllm":
            served = self._on_vllm(name, card)
            if served is not None:
                return served
        return self._in_process(card, spec)

    def _in_process(self, card: ModelCard, spec: ModelSpec) -> LoadedModel:
        try:
            loaded = self._loader(card, list(spec.adapters), spec.load_in_4bit)
        except UserFacingError:
            raise
        except Exception as error:  # no network, no weights, not enough memory ...
            log.exception("loading %s failed", spec.name)
            raise UserFacingError("model_load_failed", model=card.title,
                                  detail=f"{type(error).__name__}: {error}"[:300]) from error
        set_concurrency(loaded.key, self.replies_per_model)
        set_batching(loaded.key, self.batch_rows)
        return loaded

    def _on_vllm(self, name: str, card: ModelCard) -> RemoteModel | None:
        """The model on a vLLM this app starts; None (and the reason kept, for the screen)
        when vLLM cannot start: the model then runs in this process."""
        served, problem = open_on_vllm_or_say_why(card, self.specs[name].adapters, wait=not self.vllm_in_background)
        if problem is not None:
            self.engine_problems[name] = problem
        elif self.vllm_in_background:
            threading.Thread(target=self._await_vllm, args=(name, card, served), name=f"await-vllm-{name}",
                             daemon=True).start()
        return served

    def _await_vllm(self, name: str, card: ModelCard, served: RemoteModel) -> None:
        """Wait for a vLLM started in the background; if it cannot start, the model runs in
        this process from then on (and the card says why)."""
        from engine.vllm_engine import finish_start
        from engine.vllm_managed import VllmFailed

        try:
            finish_start(served)
            log.info("vLLM is up for %s", card.title)
            return
        except VllmFailed as error:
            problem = vllm_problem(card, error)
        with self._locks[name]:
            try:
                self._loaded[name] = self._in_process(card, self.specs[name])
            except UserFacingError as error:  # said to whoever chooses it next
                log.warning("%s", error.message("en"))
                self._loaded.pop(name, None)
            self.engine_problems[name] = problem
            self._replaced.append((served, name))
