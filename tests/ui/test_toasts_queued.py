"""A toast (gr.Info / gr.Warning, or ui/common.py's warn/warning/info) reaches the page only
from a queued event: from one wired with queue=False Gradio prints it in the server's log and
the person sees nothing (the silent "Forget", the keep box's "needs the cookie", restore's
"could not be read"). So no unqueued event of the app may toast."""

from __future__ import annotations

import dis
import inspect
import types

import gradio as gr
import pytest

import ui.common as common

from engine.pool import ModelPool, ModelSpec
from ui.arena_round import ArenaConfig

# gr.Info, gr.Warning, gr.Success, and ui/common.py's helpers around them.
TOASTS = {gr.Info, gr.Warning, gr.Success, common.warn, common.warning, common.info}
PROJECT = ("ui.", "engine.", "arena.")


def names_used(code: types.CodeType):
    """(kind, name) for each global ("global") and attribute ("attr") a function's code, and
    code nested in it, loads."""
    for instruction in dis.get_instructions(code):
        if instruction.opname == "LOAD_GLOBAL":
            yield "global", instruction.argval
        elif instruction.opname in ("LOAD_ATTR", "LOAD_METHOD"):
            yield "attr", instruction.argval
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from names_used(const)


def toasting(fn, seen: set | None = None) -> list[str]:
    """The chain of calls by which `fn` may toast ([] if none is found): the globals it calls,
    followed into the project's own functions, and its owner's methods it calls."""
    seen = set() if seen is None else seen
    function = getattr(inspect.unwrap(fn), "__func__", inspect.unwrap(fn))
    code = getattr(function, "__code__", None)
    if code is None or code in seen:
        return []
    seen.add(code)
    owner = type(fn.__self__) if inspect.ismethod(fn) else None
    for kind, name in names_used(code):
        if kind == "attr" and name in ("Info", "Warning", "Success"):  # gr.Info(...)
            return [function.__qualname__, f"gr.{name}"]
        callee = function.__globals__.get(name) if kind == "global" else getattr(owner, name, None)
        if any(callee is toast for toast in TOASTS):
            return [function.__qualname__, name]
        if callable(callee) and (getattr(callee, "__module__", None) or "").startswith(PROJECT):
            if chain := toasting(callee, seen):
                return [function.__qualname__, *chain]
    return []


@pytest.fixture(scope="module")
def app(tiny_dirs, tmp_path_factory):
    from ui.chat import build_chat_app

    pool = ModelPool([ModelSpec(str(tiny_dirs("llama"))), ModelSpec(str(tiny_dirs("gemma")))])
    return build_chat_app(pool, arena=ArenaConfig(database=str(tmp_path_factory.mktemp("arena") / "arena.db")))


def test_no_unqueued_event_toasts(app):
    functions = [dependency for dependency in app.fns.values() if dependency.fn is not None]
    by_name = {getattr(dependency.fn, "__name__", ""): dependency for dependency in functions}
    # The check finds the toasts it looks for: these handlers do toast (and are queued).
    for name in ("choose_keep", "restore", "forget", "add_rater"):
        assert toasting(by_name[name].fn), name
    unqueued = [dependency for dependency in functions if dependency.queue is False]
    assert unqueued, "the app's unqueued steps (Stop's state, the relabelling) were not found"
    assert {name: chain for dependency in unqueued
            if (chain := toasting(dependency.fn)) for name in [dependency.fn.__name__]} == {}
