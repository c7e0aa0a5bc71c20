"""Which engine runs a local model: one choice, made the same way by every command.

    --engine transformers   in this process (PyTorch + transformers): the reference, ZeroGPU
    --engine vllm           `vllm serve` started, watched and stopped by the app (engine/vllm_managed.py)
    --engine auto           (the default) the best this machine can run, said with the reason

`BIMEDIX_ENGINE` sets it where no flag can be passed (a Space). A remote model
(openai:MODEL@URL, an endpoints file) runs wherever its server runs: the choice does not
apply to it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

ENGINE_VARIABLE = "BIMEDIX_ENGINE"
ENGINES = ("transformers", "vllm")
CHOICES = ("auto", *ENGINES)
ENGINE_HELP = ("transformers (in this process), vllm (the app starts and supervises `vllm serve`), or auto: "
               f"the best this machine can run; default ${ENGINE_VARIABLE}, else auto")
TITLES = {"transformers": "transformers (in this process)", "vllm": "vLLM (started by the app)"}


@dataclass(frozen=True)
class EngineChoice:
    name: str  # one of ENGINES
    reason: str  # why, for the log and the model card: "asked for", "no GPU", ...


def requested_engine(flag: str | None) -> str:
    """The flag, else BIMEDIX_ENGINE, else "auto". Raises ValueError naming the choices."""
    asked = (flag or os.environ.get(ENGINE_VARIABLE) or "auto").strip().lower()
    if asked not in CHOICES:
        raise ValueError(f"unknown engine {asked!r}: choose one of {', '.join(CHOICES)}")
    return asked


def choose_engine(flag: str | None, has_gpu: Callable[[], bool], vllm_found: Callable[[], bool]) -> EngineChoice:
    """The engine to run local models on. vLLM is the better server where it is fast (a
    GPU: continuous batching, paged KV cache), and is chosen on its own only there; on a
    CPU its start takes minutes and the in-process engine is the better default."""
    asked = requested_engine(flag)
    if asked != "auto":
        return EngineChoice(asked, "asked for")
    if not has_gpu():
        return EngineChoice("transformers", "auto: no GPU on this machine")
    if not vllm_found():
        return EngineChoice("transformers", "auto: a GPU, but vLLM is not installed")
    return EngineChoice("vllm", "auto: a GPU and vLLM")
