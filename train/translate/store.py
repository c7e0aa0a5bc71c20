"""Where the translation pipeline's state lives: any SQLAlchemy URL, a SQLite file by default.

Every model answer is written as soon as it returns (a round, and the call itself in
`translation_calls`), so a crash loses at most the calls in flight and a rerun pays for
nothing twice. SQLite is set up as the arena's vote store is (WAL, busy timeout, write
lock at BEGIN: arena.store.database_engine). Reviews are one transaction each: a decision
is stored whole or not at all.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Iterable

from sqlalchemy import func, select

from arena.store import DEFAULT_BUSY_TIMEOUT_S, DatabaseStore, database_engine, database_url
from evaluate.judge.cache import CachedJudgment
from train.translate.errors import TranslationError
from train.translate.tables import Base, Call, Review, ReviewerCode, Round, Sample, Setting, utc_now

CLAIM_LEASE = timedelta(minutes=30)  # a reviewer who walked away frees the sample after this
REVIEWER_NAME_LIMIT = 120


@dataclass(frozen=True)
class NewSample:
    sample_id: str
    kind: str
    task: str
    source_file: str
    position: int
    english: dict
    labels: dict
    record: dict


class TranslationStore(DatabaseStore):
    """The pipeline's tables (train/translate/tables.py), created when missing."""

    error_type = TranslationError

    def __init__(self, url: str, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S):
        super().__init__(database_engine(url, busy_timeout_s), busy_timeout_s)
        with self._mapped_errors(), self._write_engine.begin() as connection:
            Base.metadata.create_all(connection)

    # --- settings and samples -------------------------------------------------------------

    def check_settings(self, settings: dict[str, str]) -> None:
        """Store a run's settings the first time; refuse a resume whose settings differ."""
        with self.write() as session:
            stored = {row.key: row.value for row in session.scalars(select(Setting))}
            changed = sorted(k for k, v in settings.items() if k in stored and stored[k] != v)
            if changed:
                raise TranslationError("settings_changed", keys=", ".join(
                    f"{k}: {stored[k]!r} then, {settings[k]!r} now" for k in changed))
            session.add_all(Setting(key=k, value=v) for k, v in settings.items() if k not in stored)

    def add_samples(self, samples: Iterable[NewSample]) -> int:
        """Insert the samples not stored yet; returns how many were new."""
        samples = list(samples)
        with self.write() as session:
            known = set(session.scalars(select(Sample.id)))
            fresh = [s for s in samples if s.sample_id not in known]
            session.add_all(Sample(id=s.sample_id, kind=s.kind, task=s.task, source_file=s.source_file,
                                   position=s.position, english=s.english, labels=s.labels, record=s.record)
                            for s in fresh)
        return len(fresh)

    def sample(self, sample_id: str) -> Sample:
        with self.read() as session:
            found = session.get(Sample, sample_id)
        if found is None:
            raise TranslationError("sample_not_found", sample=sample_id)
        return found

    def samples(self, ids: Iterable[str] | None = None) -> list[Sample]:
        with self.read() as session:
            query = select(Sample).order_by(Sample.task, Sample.position)
            if ids is not None:
                query = query.where(Sample.id.in_(list(ids)))
            return list(session.scalars(query))

    def pending_ids(self, ids: Iterable[str]) -> list[str]:
        wanted = list(ids)
        with self.read() as session:
            pending = set(session.scalars(select(Sample.id).where(Sample.state == "pending")))
        return [i for i in wanted if i in pending]

    # --- rounds ----------------------------------------------------------------------------

    def rounds(self, sample_id: str) -> list[Round]:
        with self.read() as session:
            return list(session.scalars(select(Round).where(Round.sample_id == sample_id).order_by(Round.number)))

    def all_rounds(self) -> dict[str, list[Round]]:
        by_sample: dict[str, list[Round]] = {}
        with self.read() as session:
            for row in session.scalars(select(Round).order_by(Round.sample_id, Round.number)):
                by_sample.setdefault(row.sample_id, []).append(row)
        return by_sample

    def add_round(self, **fields) -> Round:
        with self.write() as session:
            row = Round(**fields)
            session.add(row)
        return row

    def score_round(self, round_id: int, score: int | None, reasons: str, model: str, prompt: str) -> Round:
        with self.write() as session:
            row = session.get(Round, round_id)
            row.score, row.reasons, row.scorer_model, row.scorer_prompt = score, reasons, model, prompt
            row.scored_at = utc_now()
        return row

    def finish(self, sample_id: str, state: str, rounds_used: int, score: int | None,
               reason: str | None = None) -> None:
        with self.write() as session:
            row = session.get(Sample, sample_id)
            row.state, row.rounds_used, row.final_score, row.review_reason = state, rounds_used, score, reason

    def draw_review_sample(self, fraction: float, seed: int) -> list[str]:
        """Mark ceil(fraction × passed) high scorers for review, the same ones for the same
        seed and samples (ordered by a hash of seed and id, not by arrival); earlier draws
        stay drawn. Returns the newly drawn ids."""
        with self.write() as session:
            passed = list(session.scalars(select(Sample).where(Sample.state == "passed")))
            wanted = math.ceil(fraction * len(passed)) if fraction > 0 else 0
            ranked = sorted(passed, key=lambda s: hashlib.sha256(f"{seed}:{s.id}".encode()).hexdigest())
            drawn = [s for s in ranked[:wanted] if not s.review_sampled]
            for sample in drawn:
                sample.review_sampled = True
        return [s.id for s in drawn]

    # --- the call cache (JudgeClient's cache interface) ------------------------------------

    def get(self, key: str) -> CachedJudgment | None:
        with self.read() as session:
            row = session.get(Call, key)
        return CachedJudgment(row.text, row.prompt_tokens, row.completion_tokens) if row else None

    def put(self, key: str, model: str, prompt: str, judgment: CachedJudgment) -> None:
        with self.write() as session:
            session.merge(Call(key=key, model=model, prompt=prompt, text=judgment.text,
                               prompt_tokens=judgment.prompt_tokens, completion_tokens=judgment.completion_tokens))

    # --- reviews ---------------------------------------------------------------------------

    def review_queue(self) -> list[Sample]:
        """Samples a person must see: under the threshold after every round, then the drawn
        high scorers; oldest first; those already reviewed are not in it."""
        with self.read() as session:
            return list(session.scalars(_queue()))

    def review_queue_size(self) -> int:
        with self.read() as session:
            return session.scalar(select(func.count()).select_from(_queue().subquery()))

    def release(self, sample_id: str, reviewer: str) -> None:
        """Give back a sample `reviewer` holds (skipped): other reviewers get it at once."""
        with self.write() as session:
            sample = session.get(Sample, sample_id)
            if sample is not None and sample.claimed_by == reviewer:
                sample.claimed_by = sample.claimed_at = None

    def claim_next(self, reviewer: str, skip: Iterable[str] = (), *,
                   code_digest: str | None = None) -> Sample | None:
        """The next sample in the queue for `reviewer`: the one they hold, else one nobody
        holds (or whose holder's lease ran out), now held by them. With `code_digest` (the
        review screen), the reviewer's code must still stand (train/translate/reviewers.py)."""
        reviewer = checked_reviewer(reviewer)
        skipped = set(skip)
        with self.write() as session:
            _require_code(session, reviewer, code_digest)
            # FOR UPDATE (PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises): two
            # reviewers claiming at once must not both take the same free sample.
            queue = list(session.scalars(_queue().with_for_update(of=Sample)))
            now = utc_now()
            mine = [s for s in queue if s.claimed_by == reviewer and s.id not in skipped]
            free = [s for s in queue if s.id not in skipped and (
                s.claimed_by is None or s.claimed_at is None or now - s.claimed_at > CLAIM_LEASE)]
            chosen = (mine or free or [None])[0]
            if chosen is not None:
                chosen.claimed_by, chosen.claimed_at = reviewer, now
            return chosen

    def record_review(self, sample_id: str, reviewer: str, decision: str, arabic_before: dict | None,
                      arabic_after: dict | None, comment: str | None = None, *,
                      code_digest: str | None = None) -> Review:
        """One decision, stored whole. A sample is reviewed once; a sample another reviewer
        holds (within the lease) is refused; with `code_digest`, so is a revoked code."""
        reviewer = checked_reviewer(reviewer)
        if decision not in ("approved", "rejected"):
            raise ValueError(f"decision must be approved or rejected, not {decision!r}")
        with self.write() as session:
            _require_code(session, reviewer, code_digest)
            sample = session.get(Sample, sample_id, with_for_update=True)  # one decision at a time
            if sample is None:
                raise TranslationError("sample_not_found", sample=sample_id)
            earlier = session.scalars(select(Review).where(Review.sample_id == sample_id)).first()
            if earlier is not None:
                raise TranslationError("already_reviewed", other=earlier.reviewer)
            holder_active = sample.claimed_at is not None and utc_now() - sample.claimed_at <= CLAIM_LEASE
            if sample.claimed_by not in (None, reviewer) and holder_active:
                raise TranslationError("claimed_by_other", other=sample.claimed_by)
            edited = sorted(k for k in (arabic_after or {}) if (arabic_before or {}).get(k) != arabic_after[k])
            review = Review(sample_id=sample_id, reviewer=reviewer, decision=decision, arabic_before=arabic_before,
                            arabic_after=arabic_after if decision == "approved" else None, edited_keys=edited,
                            comment=(comment or "").strip() or None)
            session.add(review)
            sample.claimed_by = sample.claimed_at = None
        return review

    def reviews(self) -> dict[str, Review]:
        """Each reviewed sample's decision."""
        with self.read() as session:
            return {row.sample_id: row for row in session.scalars(select(Review).order_by(Review.id))}

    def reviewer_progress(self) -> list[dict]:
        """Per reviewer: samples approved, rejected, approved with edits, and the last decision."""
        progress: dict[str, dict] = {}
        for review in self.reviews().values():
            entry = progress.setdefault(review.reviewer, {"reviewer": review.reviewer, "approved": 0, "rejected": 0,
                                                          "edited": 0, "last": review.created_at})
            entry[review.decision] += 1
            entry["edited"] += bool(review.edited_keys)
            entry["last"] = max(entry["last"], review.created_at)
        return sorted(progress.values(), key=lambda e: e["reviewer"].casefold())


def _queue():
    """Unreviewed samples under the threshold ("review" sorts before "passed"), then drawn ones."""
    return (select(Sample).where((Sample.state == "review") | Sample.review_sampled.is_(True))
            .where(Sample.id.not_in(select(Review.sample_id)))
            .order_by(Sample.state.desc(), Sample.task, Sample.position))


def _require_code(session, reviewer: str, digest: str | None) -> None:
    """Inside a write: the code `digest` is active and is `reviewer`'s, else
    TranslationError("reviewer_code_revoked"). None: no code to check (the pipeline, tests)."""
    if digest is None:
        return
    row = session.scalar(select(ReviewerCode).where(ReviewerCode.code_digest == digest))
    if row is None or row.revoked_at is not None or row.name != reviewer:
        raise TranslationError("reviewer_code_revoked")


def checked_reviewer(name: str | None) -> str:
    cleaned = " ".join((name or "").split())
    if not 1 <= len(cleaned) <= REVIEWER_NAME_LIMIT:
        raise TranslationError("reviewer_name_invalid", limit=REVIEWER_NAME_LIMIT)
    return cleaned


def store_url(db: str | None, out: Path | None) -> str:
    """--db as given (a URL or a SQLite file), else OUT/translation.db."""
    if db is None and out is None:
        raise ValueError("give --db (a SQLAlchemy URL or a SQLite file) or --out")
    return database_url(db if db is not None else Path(out) / "translation.db")
