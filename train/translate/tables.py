"""The translation pipeline's tables (SQLAlchemy 2 declarative ORM).

translation_samples ─< translation_rounds   (one row per translate/refine round, with its score)
translation_samples ─< translation_reviews  (a reviewer's decision, with the Arabic before and after)
translation_settings                         (what a run was started with: a resume must match)
translation_reviewers                        (who may review: a name and their personal code's digest)
translation_calls                            (every answered model call: a rerun never pays twice)

Texts are stored as JSON objects keyed like the sample's segments ("question", "option:A",
"turn:0", ...), so the review screen and the export rebuild the sample without parsing text.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from arena.tables import UTCDateTime, utc_now

SAMPLE_STATES = ("pending", "passed", "review")  # review: under the threshold after every round
DECISIONS = ("approved", "rejected")


class Base(DeclarativeBase):
    pass


class Sample(Base):
    __tablename__ = "translation_samples"

    id: Mapped[str] = mapped_column(String(300), primary_key=True)  # "<task>:<item id>"
    kind: Mapped[str] = mapped_column(String(10))  # sft | mcqa
    task: Mapped[str] = mapped_column(String(120), index=True)
    source_file: Mapped[str] = mapped_column(Text)
    position: Mapped[int] = mapped_column(Integer)  # order in its source: exports keep it
    english: Mapped[dict] = mapped_column(JSON)  # {segment key: English text}
    labels: Mapped[dict] = mapped_column(JSON)  # {segment key: label for people}
    record: Mapped[dict] = mapped_column(JSON)  # what the export needs besides the texts
    state: Mapped[str] = mapped_column(String(10), default="pending", index=True)
    review_reason: Mapped[str | None] = mapped_column(Text)
    review_sampled: Mapped[bool] = mapped_column(Boolean, default=False)  # a high scorer drawn for review
    rounds_used: Mapped[int] = mapped_column(Integer, default=0)
    final_score: Mapped[int | None] = mapped_column(Integer)
    # A reviewer holding it (so two reviewers do not get the same sample), until the lease ends.
    claimed_by: Mapped[str | None] = mapped_column(String(120))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class Round(Base):
    __tablename__ = "translation_rounds"
    __table_args__ = (UniqueConstraint("sample_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sample_id: Mapped[str] = mapped_column(ForeignKey("translation_samples.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)  # 1 = the first translation, 2.. = refinements
    raw_text: Mapped[str] = mapped_column(Text)  # the translator's whole answer
    arabic: Mapped[dict | None] = mapped_column(JSON)  # None: the answer was not the sample's JSON
    problems: Mapped[list] = mapped_column(JSON)  # refused: lost placeholders, numbers, units, names
    glossary_violations: Mapped[list] = mapped_column(JSON)
    score: Mapped[int | None] = mapped_column(Integer)  # None: not scored (refused) or unparsable
    reasons: Mapped[str | None] = mapped_column(Text)
    translator_model: Mapped[str] = mapped_column(String(200))
    translator_prompt: Mapped[str] = mapped_column(String(100))
    scorer_model: Mapped[str | None] = mapped_column(String(200))
    scorer_prompt: Mapped[str | None] = mapped_column(String(100))
    translated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    scored_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Review(Base):
    __tablename__ = "translation_reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sample_id: Mapped[str] = mapped_column(ForeignKey("translation_samples.id", ondelete="CASCADE"), index=True)
    reviewer: Mapped[str] = mapped_column(String(120), index=True)
    decision: Mapped[str] = mapped_column(String(10))  # approved | rejected
    arabic_before: Mapped[dict | None] = mapped_column(JSON)  # what the reviewer was shown
    arabic_after: Mapped[dict | None] = mapped_column(JSON)  # what the reviewer left (approved)
    edited_keys: Mapped[list] = mapped_column(JSON)  # the segments the reviewer changed
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class Setting(Base):
    __tablename__ = "translation_settings"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Call(Base):
    """An answered model call, keyed by evaluate.judge.cache.cache_key (model, prompt
    version, exact request)."""

    __tablename__ = "translation_calls"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    model: Mapped[str] = mapped_column(String(200))
    prompt: Mapped[str] = mapped_column(String(100))
    text: Mapped[str] = mapped_column(Text)
    prompt_tokens: Mapped[int] = mapped_column(Integer)
    completion_tokens: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class ReviewerCode(Base):
    """A reviewer the organiser added, and the SHA-256 digest of their personal code (never
    the code; train/translate/reviewers.py). The name is what claims and decisions store.

    A table of its own: `create_all` (TranslationStore) adds it to a database made before
    reviewer codes, with no migration. Revoking keeps the row and stamps `revoked_at`; a new
    code for the same person replaces the digest, so their earlier decisions stay theirs.
    """

    __tablename__ = "translation_reviewers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    name_key: Mapped[str] = mapped_column(String(120), unique=True)  # casefolded: one reviewer per name
    code_digest: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    code_issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
