"""`spaces.GPU` on Hugging Face Spaces, a no-op everywhere else.

On ZeroGPU hardware a GPU is attached only while a function decorated with `spaces.GPU`
runs, and that function runs in a forked worker process: its arguments and everything it
yields are pickled across. So only token generation is decorated, and it takes a plain
`GenerationRequest` (the model named by its registry key, tensors on the CPU) and yields
token ids; conversations, history and the detokenizer stay in the app's process.
The `spaces` package exists only on Spaces (elsewhere it is itself a no-op).
"""

from __future__ import annotations

import importlib
from typing import Callable, TypeVar

from engine.backend import RemoteTokens, TokenBackend, local_tokens, worker_tokens

F = TypeVar("F", bound=Callable)


def gpu(function: F) -> F:
    """`spaces.GPU(function)` when the `spaces` package is installed, else `function`."""
    try:
        spaces = importlib.import_module("spaces")
    except ImportError:
        return function
    return spaces.GPU(function)


def token_backend() -> TokenBackend:
    """How replies get their tokens: through `spaces.GPU` on Spaces, else in this process."""
    try:
        importlib.import_module("spaces")
    except ImportError:
        return local_tokens
    return RemoteTokens(gpu(worker_tokens))
