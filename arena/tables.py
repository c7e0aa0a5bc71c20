"""The arena's database tables (SQLAlchemy 2 declarative ORM).

studies ─< raters ─< battles ─< votes (at most one per battle: `votes.battle_id` is unique)
           raters ─ rater_codes (at most one personal code per rater)
                      battles ─ judge_verdicts (an LLM judge's battle: both orders it was asked in)
attempts, lockouts: the attempt limits' counts (arena/limits.py), shared by every replica

A battle is created when a round starts (the pair is drawn and the sides assigned), so a
study's progress shows rounds started but never voted. A vote row holds everything needed
to analyse it later without the app: both full transcripts, the identities behind each
side, the generation settings and the detected conversation language. Times are UTC.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (JSON, Boolean, DateTime, Double, ForeignKey, Index, Integer, String, Text, TypeDecorator,
                        UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

WINNERS: tuple[str, ...] = ("model_a", "model_b", "tie", "both_bad")
CONVERSATION_LANGUAGES: tuple[str, ...] = ("ar", "en", "mixed")

MODEL_ID_LENGTH = 200
BATTLE_ID_LENGTH = 32
ITEM_KEY_LENGTH = 200
PROMPT_VERSION_LENGTH = 100
PURPOSE_LENGTH = 60  # what an attempt limit guards ("arena join")
SCOPE_LENGTH = 200  # within what (a study's name)
CLIENT_LENGTH = 64  # an IPv6 address is at most 45 characters


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes on every backend.

    SQLite has no time zone type and hands back naive values; storing naive UTC and
    re-attaching UTC on the way out keeps comparisons and ISO exports unambiguous.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("arena timestamps must be timezone-aware")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        return None if value is None else value.replace(tzinfo=timezone.utc)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class Study(Base):
    __tablename__ = "arena_studies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    # "scrypt$n$r$p$salt$hash" (see arena.study.hash_access_code); None: an open study.
    access_code_hash: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)

    raters: Mapped[list[Rater]] = relationship(back_populates="study")


class Rater(Base):
    __tablename__ = "arena_raters"
    # One rater per (study, name key): joining again with the same name returns the same
    # rater, so a refreshed browser tab continues a rater's progress instead of forking it.
    __table_args__ = (UniqueConstraint("study_id", "name_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("arena_studies.id", ondelete="CASCADE"), index=True)
    display_name: Mapped[str] = mapped_column(String(64))
    # The display name normalised (NFC, collapsed spaces, casefolded): "Dr  Sara" == "dr sara".
    name_key: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)

    study: Mapped[Study] = relationship(back_populates="raters")


class Battle(Base):
    __tablename__ = "arena_battles"

    # A random hex id, not a counter: safe to hold in a browser session and unique across
    # databases when exports from several deployments are merged.
    id: Mapped[str] = mapped_column(String(BATTLE_ID_LENGTH), primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("arena_studies.id", ondelete="CASCADE"), index=True)
    rater_id: Mapped[int] = mapped_column(ForeignKey("arena_raters.id", ondelete="CASCADE"), index=True)
    # The side assignment: model_a is the model shown as "Model A", model_b as "Model B".
    model_a: Mapped[str] = mapped_column(String(MODEL_ID_LENGTH))
    model_b: Mapped[str] = mapped_column(String(MODEL_ID_LENGTH))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    # Set in the vote's own transaction; a battle with voted_at and no vote (or the other
    # way round) would be a half-written vote, which the crash tests look for.
    voted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    vote: Mapped[Vote | None] = relationship(back_populates="battle")


class Vote(Base):
    __tablename__ = "arena_votes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    battle_id: Mapped[str] = mapped_column(ForeignKey("arena_battles.id", ondelete="CASCADE"), unique=True)
    winner: Mapped[str] = mapped_column(String(16))  # one of WINNERS
    reason: Mapped[str | None] = mapped_column(Text)
    rater_language: Mapped[str | None] = mapped_column(String(16))
    conversation_language: Mapped[str] = mapped_column(String(8), index=True)  # CONVERSATION_LANGUAGES
    # Lists of {"role", "content", "images"?: [file names]} as each side saw them.
    transcript_a: Mapped[list] = mapped_column(JSON)
    transcript_b: Mapped[list] = mapped_column(JSON)
    generation_settings: Mapped[dict] = mapped_column(JSON)
    flagged_leak: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    leak_reason: Mapped[str | None] = mapped_column(Text)
    voted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)

    battle: Mapped[Battle] = relationship(back_populates="vote")


class RaterCode(Base):
    """A rater's personal code, as its SHA-256 digest only (see arena/rater_codes.py).

    A table of its own rather than a column of arena_raters, so that databases made before
    personal codes existed get it from `create_all` without a migration. Revoking keeps
    the row (and so the rule that the study takes personal codes only) and stamps
    `revoked_at`.
    """

    __tablename__ = "arena_rater_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rater_id: Mapped[int] = mapped_column(ForeignKey("arena_raters.id", ondelete="CASCADE"), unique=True)
    # hex SHA-256 of the normalised code: unsalted, so a typed code is found by its digest.
    code_digest: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class JudgeVerdict(Base):
    """How an LLM judge reached its vote (arena/judges.py): one row per judge battle.

    The judge's vote itself is an ordinary battle and vote of the rater "judge:<model>",
    so the ratings code reads it like any other; this row adds what only a judge has: the
    verdict in each order it was shown the pair, and what it re-judged. Like
    arena_rater_codes, a table of its own so that `create_all` adds it to older databases.
    """

    __tablename__ = "arena_judge_verdicts"
    # What a rerun of the judge looks up to find the verdict it already gave.
    # One verdict per judge, prompt version and item (or source battle) in a study, enforced
    # by the database (revision 2): two runs at once cannot both record it. NULLs differ, so
    # a verdict with neither key is always a new one.
    __table_args__ = (
        Index("uq_arena_judge_verdicts_item", "study_id", "judge_model", "prompt_version", "item_key", unique=True),
        Index("uq_arena_judge_verdicts_source", "study_id", "judge_model", "prompt_version", "source_battle_id",
              unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    battle_id: Mapped[str] = mapped_column(ForeignKey("arena_battles.id", ondelete="CASCADE"), unique=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("arena_studies.id", ondelete="CASCADE",
                                                     name="fk_arena_judge_verdicts_study_id"))
    # The person's battle this one re-judged, if any. Not a foreign key: the verdict keeps
    # its meaning (and its agreement is simply not counted) should that battle be deleted.
    source_battle_id: Mapped[str | None] = mapped_column(String(BATTLE_ID_LENGTH), index=True)
    # The judged item outside the store (e.g. "conversations-en-item3").
    item_key: Mapped[str | None] = mapped_column(String(ITEM_KEY_LENGTH))
    judge_model: Mapped[str] = mapped_column(String(MODEL_ID_LENGTH))
    prompt_version: Mapped[str] = mapped_column(String(PROMPT_VERSION_LENGTH))
    # Each order's verdict mapped back to the battle's sides: "model_a", "model_b" or "tie".
    verdict_ab: Mapped[str] = mapped_column(String(16))  # model_a's reply shown first
    verdict_ba: Mapped[str] = mapped_column(String(16))  # model_b's reply shown first
    flipped: Mapped[bool] = mapped_column(Boolean)  # the two orders disagreed
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class AttemptEvent(Base):
    """One attempt admitted by an attempt limit, or one failure (a wrong code) it was told of.

    Rows are deleted once older than the window that counts them (arena/ledgers.py), so the
    table holds minutes of attempts, not a history. Times are the limiter's clock: seconds
    since the epoch, the same on every replica (arena/limits.py).
    """

    __tablename__ = "arena_attempts"
    __table_args__ = (
        Index("ix_arena_attempts_everyone", "purpose", "scope", "failure", "at"),
        Index("ix_arena_attempts_client", "purpose", "scope", "client", "failure", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    purpose: Mapped[str] = mapped_column(String(PURPOSE_LENGTH))
    scope: Mapped[str] = mapped_column(String(SCOPE_LENGTH))
    client: Mapped[str] = mapped_column(String(CLIENT_LENGTH))
    failure: Mapped[bool] = mapped_column(Boolean)  # False: an attempt admitted
    at: Mapped[float] = mapped_column(Double)


class AttemptLockout(Base):
    """A lockout of one client, or of everyone (client "*"), for one purpose and scope."""

    __tablename__ = "arena_lockouts"

    purpose: Mapped[str] = mapped_column(String(PURPOSE_LENGTH), primary_key=True)
    scope: Mapped[str] = mapped_column(String(SCOPE_LENGTH), primary_key=True)
    client: Mapped[str] = mapped_column(String(CLIENT_LENGTH), primary_key=True)
    locked_until: Mapped[float] = mapped_column(Double)
    # The failures up to this moment earned the lockout: after it they are not counted again.
    counted_from: Mapped[float] = mapped_column(Double)
