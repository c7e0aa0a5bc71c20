"""Translate → check → score → refine, per sample, with every step stored as it happens.

    round 1: translate the whole sample
    each round: refused when it lost a placeholder, a number, a unit, a drug name or a
        segment, or broke the glossary (not scored: nothing to score); else scored 0-100
    passed: the first round scored at or above the threshold
    else: the next round refines the last one, given its score, reasons and problems
    after max_rounds without passing: the review queue (a medical professional decides)

A rerun starts where the database stands: stored rounds are read, never asked again; a
round whose translation came back but whose score did not is scored, not translated again.
A call that fails after its retries leaves the sample pending for the next run.
"""

from __future__ import annotations

import json
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from evaluate.judge.client import JudgeClient, JudgeRequest
from evaluate.judge.prompts import JudgePrompt, load_prompt
from train.model_output import first_json_object
from train.translate.checks import Glossary, glossary_violations, translation_problems
from train.translate.store import TranslationStore
from train.translate.tables import Round, Sample

log = logging.getLogger(__name__)
PROMPTS_DIR = Path(__file__).parent / "prompts"


@dataclass(frozen=True)
class Prompts:
    translate: JudgePrompt
    refine: JudgePrompt
    score: JudgePrompt

    @classmethod
    def load(cls) -> Prompts:
        return cls(*(load_prompt(name, folder=PROMPTS_DIR) for name in ("translate", "refine", "score")))


@dataclass(frozen=True)
class Outcome:
    sample_id: str
    state: str  # passed | review | failed (a call failed: still pending)
    error: str | None = None


class TranslationPipeline:
    def __init__(self, store: TranslationStore, translator: JudgeClient, scorer: JudgeClient, *,
                 threshold: int = 85, max_rounds: int = 3, glossary: Glossary | None = None,
                 keep_terms: frozenset[str] = frozenset(), prompts: Prompts | None = None):
        self.store, self.translator, self.scorer = store, translator, scorer
        self.threshold, self.max_rounds = threshold, max_rounds
        self.glossary, self.keep_terms = glossary, keep_terms
        self.prompts = prompts or Prompts.load()

    def run(self, sample_ids: Sequence[str], concurrency: int = 4,
            on_outcome: Callable[[Outcome], None] | None = None) -> list[Outcome]:
        """Each pending sample through its rounds, `concurrency` samples at a time."""
        samples = self.store.samples(self.store.pending_ids(sample_ids))
        outcomes = []
        with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="bimedix-translate") as pool:
            for outcome in pool.map(self.translate_sample, samples):
                outcomes.append(outcome)
                if on_outcome:
                    on_outcome(outcome)
        return outcomes

    def translate_sample(self, sample: Sample) -> Outcome:
        stored = {row.number: row for row in self.store.rounds(sample.id)}
        previous: Round | None = None
        for number in range(1, self.max_rounds + 1):
            current = stored.get(number)
            if current is None:
                current = self._translate(sample, number, previous)
                if isinstance(current, Outcome):
                    return current
            if not (current.problems or current.glossary_violations):
                if current.score is None and current.scorer_model is None:
                    current = self._score(sample, current)
                    if isinstance(current, Outcome):
                        return current
                if current.score is None:  # the scorer's answer could not be read: a person decides
                    self.store.finish(sample.id, "review", number, None, f"round {number}: {current.reasons}")
                    return Outcome(sample.id, "review")
                if current.score >= self.threshold:
                    self.store.finish(sample.id, "passed", number, current.score)
                    return Outcome(sample.id, "passed")
            previous = current
        reason = (f"refused after {self.max_rounds} rounds: " + "; ".join(previous.problems + previous.glossary_violations)
                  if previous.problems or previous.glossary_violations
                  else f"score {previous.score} < {self.threshold} after {self.max_rounds} rounds")
        self.store.finish(sample.id, "review", self.max_rounds, previous.score, reason)
        return Outcome(sample.id, "review")

    def _translate(self, sample: Sample, number: int, previous: Round | None) -> Round | Outcome:
        request = self._translate_request(sample, number, previous)
        result = self.translator.answer(request)
        if result.error is not None:
            return Outcome(sample.id, "failed", f"translator: {result.error}")
        arabic = first_json_object(result.text or "")
        problems = translation_problems(sample.english, arabic, self.keep_terms)
        violations = glossary_violations(sample.english, arabic, self.glossary) if arabic is not None else []
        return self.store.add_round(
            sample_id=sample.id, number=number, raw_text=result.text or "",
            arabic=arabic if isinstance(arabic, dict) else None, problems=problems,
            glossary_violations=violations, translator_model=self.translator.model,
            translator_prompt=request.prompt.label)

    def _translate_request(self, sample: Sample, number: int, previous: Round | None) -> JudgeRequest:
        values = {"source_json": _json(sample.english), "glossary": self._glossary_text(sample)}
        if previous is None:
            return JudgeRequest(f"{sample.id}#1", self.prompts.translate, self.prompts.translate.render(**values))
        shown = previous.arabic if previous.arabic is not None else previous.raw_text
        problems = previous.problems + previous.glossary_violations
        values.update(previous_json=_json(shown) if isinstance(shown, dict) else shown,
                      score="not scored (refused)" if previous.score is None else str(previous.score),
                      reasons=previous.reasons or "none", problems="; ".join(problems) or "none")
        return JudgeRequest(f"{sample.id}#{number}", self.prompts.refine, self.prompts.refine.render(**values))

    def _score(self, sample: Sample, current: Round) -> Round | Outcome:
        prompt = self.prompts.score
        request = JudgeRequest(f"{sample.id}#{current.number}:score", prompt, prompt.render(
            source_json=_json(sample.english), translation_json=_json(current.arabic)))
        result = self.scorer.answer(request)
        if result.error is not None:
            return Outcome(sample.id, "failed", f"scorer: {result.error}")
        score, reasons = parse_score(result.text or "")
        if score is None:
            reasons = f"the scorer's answer has no score 0-100: {(result.text or '')[:200]!r}"
        return self.store.score_round(current.id, score, reasons, self.scorer.model, prompt.label)

    def _glossary_text(self, sample: Sample) -> str:
        relevant = self.glossary.relevant(sample.english.values()) if self.glossary else {}
        if not relevant:
            return "none for this sample."
        return "; ".join(f"{term} = {' / '.join(arabic)}" for term, arabic in sorted(relevant.items()))


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False, indent=1)


def parse_score(text: str) -> tuple[int | None, str]:
    """(score, reasons) from {"score": N, "reasons": ...}, else from "score: N"; None when
    there is no score in 0..100."""
    value = first_json_object(text)
    if value is not None and "score" in value:
        try:
            score = round(float(str(value["score"]).strip()))
        except ValueError:
            score = None
        reasons = value.get("reasons", value.get("reason", ""))
        reasons = "; ".join(map(str, reasons)) if isinstance(reasons, list) else str(reasons)
    else:
        found = re.search(r"score\D{0,10}(\d{1,3})", text, re.IGNORECASE)
        score = int(found.group(1)) if found else None
        reasons = text.strip()
    return (score if score is not None and 0 <= score <= 100 else None), reasons.strip()
