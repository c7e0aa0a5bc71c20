"""History fitting: drop the oldest turns so the prompt fits the context window.

The system prompt and the newest user turn are never dropped; a turn is dropped whole
(user message with its reply, images included), so no reply loses its question and no
image placeholder is ever separated from its pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Generic, Protocol, Sequence, TypeVar

from engine.errors import UserFacingError
from engine.messages import Message


class Measured(Protocol):
    token_count: int


M = TypeVar("M", bound=Measured)


@dataclass(frozen=True)
class FittedHistory(Generic[M]):
    messages: tuple[Message, ...]
    dropped_turns: int
    encoding: M  # the kept prompt as `measure` encoded it: the caller need not encode again

    @property
    def prompt_tokens(self) -> int:
        return self.encoding.token_count


def split_turns(messages: Sequence[Message]) -> tuple[list[Message], list[list[Message]]]:
    """(leading system messages, turns); a turn starts at each user message."""
    head: list[Message] = []
    turns: list[list[Message]] = []
    for message in messages:
        if message.role == "system" and not turns:
            head.append(message)
        elif message.role == "user" or not turns:
            turns.append([message])
        else:
            turns[-1].append(message)
    return head, turns


def fit_history(
    messages: Sequence[Message],
    measure: Callable[[Sequence[Message]], M],
    budget: int,
    headroom: float | None = None,
    keep_dropped: int | None = None,
) -> FittedHistory[M]:
    """Keep as many recent turns as fit in `budget` prompt tokens.

    `measure` renders and encodes a candidate history (the real prompt format and
    tokenizer) and says its `token_count`, so the count is exact; the kept candidate's
    encoding comes back with the result. Prompt length only grows with the turns kept, so
    the number of turns to drop is found by binary search: O(log n) renders.

    For a conversation whose KV cache is reused between turns (engine/prefix_cache.py),
    dropping one more turn at every turn would change the prompt's start every time and
    make the cache useless. So, given `keep_dropped` (the previous turn's cut), that cut is
    kept while it fits; when it no longer does, the history is trimmed to `headroom` of
    the budget (e.g. 0.75), which leaves room for several turns before the next cut.
    """
    if not messages or messages[-1].role != "user":
        raise ValueError("the newest message must be the user's")
    head, turns = split_turns(messages)

    def candidate(dropped: int) -> list[Message]:
        return head + [m for turn in turns[dropped:] for m in turn]

    whole = measure(candidate(0))
    if whole.token_count <= budget:
        return FittedHistory(tuple(messages), 0, whole)
    if keep_dropped is not None and 0 < keep_dropped < len(turns):
        kept = measure(candidate(keep_dropped))
        if kept.token_count <= budget:
            return FittedHistory(tuple(candidate(keep_dropped)), keep_dropped, kept)
    newest_only = measure(candidate(len(turns) - 1))
    if newest_only.token_count > budget:
        raise UserFacingError("prompt_too_long", tokens=newest_only.token_count, budget=budget)
    target = max(int(budget * headroom), newest_only.token_count) if headroom else budget
    low, high = 1, len(turns) - 1  # the answer lies in [low, high]; high is known to fit
    at_high = newest_only
    while low < high:
        middle = (low + high) // 2
        measured = measure(candidate(middle))
        if measured.token_count <= target:
            high, at_high = middle, measured
        else:
            low = middle + 1
    return FittedHistory(tuple(candidate(high)), high, at_high)
