"""A model card run on a vLLM the app starts itself: to every caller it is a remote model
(engine/remote.py) that keeps its own card, prompt format, system prompt and adapters.

    model = open_on_vllm(card, adapters, VllmSettings())   # minutes on a CPU; VllmFailed if not

The chat template vLLM renders is engine/chat_templates' twin of the card's prompt format
(tested equal on every input), so a reply's prompt is the one the in-process engine
builds. What stays in the app is what stays for any remote model: the checks on the
newest message, the reply-language policy, history fitting (counted by vLLM's /tokenize),
the identity-leak check and the finish reasons.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Sequence

from engine.cards import ModelCard
from engine.endpoints import DEFAULT_CONTEXT, RemoteModel, ServedAdapters, ServerFormat, ask_server, make_client
from engine.errors import UserFacingError
from engine.formats import FORMATS
from engine.vllm_managed import ManagedVllm, VllmFailed, VllmSettings, lora_modules

log = logging.getLogger(__name__)

def open_on_vllm(card: ModelCard, adapters: Sequence[str | Path] = (),
                 settings: VllmSettings = VllmSettings()) -> RemoteModel:
    """Start vLLM for `card`, wait until it answers and connect. Raises VllmFailed with the reason."""
    model = begin_on_vllm(card, adapters, settings)
    finish_start(model)
    return model


def begin_on_vllm(card: ModelCard, adapters: Sequence[str | Path] = (),
                  settings: VllmSettings = VllmSettings()) -> RemoteModel:
    """Start vLLM for `card` and return its model at once, while vLLM starts (minutes on a
    CPU): a reply meanwhile is refused with how long it will take (engine/remote.py), and
    the model card says so. Raises VllmFailed when there is no vLLM to run."""
    server = ManagedVllm.for_card(card, adapters, settings)
    print(f"starting vLLM for {card.title}, about {settings.expected_start_s} s (log: {server.log_path})",
          file=sys.stderr, flush=True)
    server.begin()
    prompt_format = FORMATS.get(card.prompt_format)
    endpoint = server.endpoint(card.name, stop=prompt_format.stop_strings if prompt_format else (),
                               multimodal=card.multimodal)
    named = tuple(lora_modules(adapters))
    system = card.system_prompt or (prompt_format.default_system if prompt_format else "")
    # Until it answers, what the card says; finish_start() puts in what vLLM says.
    return RemoteModel(endpoint, card, make_client(endpoint), card.context_window or DEFAULT_CONTEXT,
                       card.multimodal, "server", adapters=ServedAdapters(named, named[-1] if named else None),
                       default_adapter=named[-1] if named else None, prompt_format=ServerFormat(system),
                       supervisor=server, template_asks_language=prompt_format is not None)


def finish_start(model: RemoteModel) -> None:
    """Wait until the vLLM behind `model` answers, and take its context length and token
    counting from it. Raises VllmFailed (vLLM stopped) with the reason."""
    server: ManagedVllm = model.supervisor
    server.wait_ready()
    try:
        facts = ask_server(model.endpoint, model.client)
    except UserFacingError as error:
        server.stop()
        raise VllmFailed(error.message("en")) from error
    model.context_window, model.counter = facts.context_window, facts.counter
