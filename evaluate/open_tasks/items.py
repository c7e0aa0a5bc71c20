"""One open-answer question (or multi-turn conversation), whatever file it came from.

Open tasks are answered in words (evaluate/generate.py) and then scored by a judge
(evaluate/judge/) or by reference metrics (evaluate/score_answers.py), unlike the MCQA
tasks of evaluate/tasks/, which are scored by log-likelihood.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class OpenItem:
    """A question in one canonical shape.

    `turns` are the user's messages in order: one for a single question, several for a
    conversation that is replayed as the arena does (each model answers every turn with
    its own earlier replies in the history). `image` is a file name under the runner's
    `--image-dir` (the first turn's image), or None. `reference` is what the answer is
    scored against (BiMed-MBench's GPT-4 answer, a VQA answer, a report, a summary), or
    None. `meta` holds what a scorer needs and nothing the model should read (question
    type, domain, caption, a claim's veracity, a VQA answer type...).
    """

    task: str  # bimed-mbench, uphill, vqa-rad, slake, pathvqa, report-generation, report-summarization, conversations
    lang: str  # "en" or "ar"
    item_id: str
    turns: tuple[str, ...]
    image: str | None = None
    reference: str | None = None
    meta: dict = field(default_factory=dict, hash=False, compare=False)

    def __post_init__(self):
        if not self.turns or not all(isinstance(t, str) and t.strip() for t in self.turns):
            raise ValueError(f"{self.task} item {self.item_id}: every turn needs text")
        if self.lang not in ("en", "ar"):
            raise ValueError(f"{self.task} item {self.item_id}: language {self.lang!r} is not en or ar")
