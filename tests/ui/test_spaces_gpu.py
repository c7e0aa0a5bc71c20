"""spaces.GPU where the `spaces` package exists (Hugging Face Spaces), a no-op elsewhere."""

import sys
import types

from ui.spaces_gpu import gpu


def reply(text):
    yield from text.split()


def test_without_spaces_the_function_is_unchanged(monkeypatch):
    monkeypatch.setitem(sys.modules, "spaces", None)  # importing it raises ImportError
    assert gpu(reply) is reply


def test_with_spaces_the_function_is_wrapped(monkeypatch):
    wrapped = []
    fake = types.ModuleType("spaces")
    fake.GPU = lambda function: wrapped.append(function) or function
    monkeypatch.setitem(sys.modules, "spaces", fake)
    assert list(gpu(reply)("a b")) == ["a", "b"] and wrapped == [reply]
