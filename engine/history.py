"""History fitting: drop the oldest turns so the prompt fits the context window.

The system prompt and the newest user turn are never dropped; a turn is dropped whole
(user message with its reply, images included), so no reply loses its question and no
image placeholder is ever separated from its pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from engine.errors import UserFacingError
from engine.messages import Message


@dataclass(frozen=True)
class FittedHistory:
    messages: tuple[Message, ...]
    dropped_turns: int
    prompt_tokens: int


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
    count_tokens: Callable[[Sequence[Message]], int],
    budget: int,
) -> FittedHistory:
    """Keep as many recent turns as fit in `budget` prompt tokens.

    `count_tokens` renders and tokenizes a candidate history (the real prompt format and
    tokenizer), so the count is exact. Prompt length only grows with the turns kept, so
    the number of turns to drop is found by binary search: O(log n) renders.
    """
    if not messages or messages[-1].role != "user":
        raise ValueError("the newest message must be the user's")
    head, turns = split_turns(messages)

    def candidate(dropped: int) -> list[Message]:
        return head + [m for turn in turns[dropped:] for m in turn]

    total = count_tokens(candidate(0))
    if total <= budget:
        return FittedHistory(tuple(messages), 0, total)
    newest_only = count_tokens(candidate(len(turns) - 1))
    if newest_only > budget:
        raise UserFacingError("prompt_too_long", tokens=newest_only, budget=budget)
    low, high = 1, len(turns) - 1  # the answer lies in [low, high]; high is known to fit
    tokens_at_high = newest_only
    while low < high:
        middle = (low + high) // 2
        tokens = count_tokens(candidate(middle))
        if tokens <= budget:
            high, tokens_at_high = middle, tokens
        else:
            low = middle + 1
    return FittedHistory(tuple(candidate(high)), high, tokens_at_high)
