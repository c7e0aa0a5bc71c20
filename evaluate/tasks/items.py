"""One benchmark question, whatever file it came from."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MCQItem:
    """A multiple-choice item in one canonical shape.

    `gold` indexes the task's choices: the option letters for MedMCQA / MedQA / USMLE /
    MMLU, and (yes, no, maybe) for PubMedQA. `contexts` holds PubMedQA's abstract
    sections; `options` is empty there.
    """

    task: str  # a task id: pubmedqa, medmcqa, medqa, usmle, mmlu_anatomy, ...
    lang: str  # "en" or "ar"
    item_id: str
    question: str
    options: tuple[str, ...]
    gold: int
    contexts: tuple[str, ...] = ()

    def __post_init__(self):
        count = len(self.options) if self.options else 3  # PubMedQA: yes / no / maybe
        if not 0 <= self.gold < count:
            raise ValueError(f"{self.task} item {self.item_id}: answer index {self.gold} is not one of "
                             f"the {count} choices")
