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
) -> FittedHistory[M]:
    """Keep as many recent turns as fit in `budget` prompt tokens.

    `measure` renders and encodes a candidate history (the real prompt format and
    tokenizer) and says its `token_count`, so the count is exact; the kept candidate's
    encoding comes back with the result. Prompt length only grows with the turns kept, so
    the number of turns to drop is found by binary search: O(log n) renders.
    """
    if not messages or messages[-1].role != "user":
        raise ValueError("the newest message must be the user's")
    head, turns = split_turns(messages)

    def candidate(dropped: int) -> list[Message]:
        return head + [m for turn in turns[dropped:] for m in turn]

    whole = measure(candidate(0))
    if whole.token_count <= budget:
        return FittedHistory(tuple(messages), 0, whole)
    newest_only = measure(candidate(len(turns) - 1))
    if newest_only.token_count > budget:
        raise UserFacingError("prompt_too_long", tokens=newest_only.token_count, budget=budget)
    low, high = 1, len(turns) - 1  # the answer lies in [low, high]; high is known to fit
    at_high = newest_only
    while low < high:
        middle = (low + high) // 2
        measured = measure(candidate(middle))
        if measured.token_count <= budget:
            high, at_high = middle, measured
        else:
            low = middle + 1
    return FittedHistory(tuple(candidate(high)), high, at_high)
