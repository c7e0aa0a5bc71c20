"""`spaces.GPU` on Hugging Face Spaces, a no-op everywhere else.

On ZeroGPU hardware a GPU is attached only while a function decorated with `spaces.GPU`
runs, so the functions that generate replies are wrapped. The `spaces` package exists
only on Spaces (and on other Hugging Face hardware it is itself a no-op).
"""

from __future__ import annotations

import importlib
from typing import Callable, TypeVar

F = TypeVar("F", bound=Callable)


def gpu(function: F) -> F:
    """`spaces.GPU(function)` when the `spaces` package is installed, else `function`."""
    try:
        spaces = importlib.import_module("spaces")
    except ImportError:
        return function
    return spaces.GPU(function)
