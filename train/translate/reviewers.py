"""Who may review translations: reviewers the organiser adds, each with a personal code.

A typed name proves nothing (two browsers typing "Dr Amal" were both Dr Amal). So the
organiser adds each reviewer (`python -m train.review codes add NAME`), hands them the
code, shown once; the review screen asks for the code, and the reviewer stored with each
claim and decision is the code's. Codes are made, normalised and hashed exactly as the
arena's personal rater codes (arena/rater_codes.py: 10 characters, ~49 bits, only the
SHA-256 digest stored). A revoked code signs nobody in, and an open session that signed in
with it is refused at its next action: the store checks the code inside the same
transaction as the claim or the decision (TranslationStore.claim_next / record_review).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from arena.rater_codes import code_digest, new_rater_code, normalise_rater_code
from train.translate.errors import TranslationError
from train.translate.store import TranslationStore, checked_reviewer
from train.translate.tables import ReviewerCode, Sample, utc_now


@dataclass(frozen=True)
class Reviewer:
    """Who a session signed in as. Kept in the session's server-side state only; `digest`
    lets every later action check that the code still stands."""

    name: str
    digest: str


@dataclass(frozen=True)
class ReviewerStatus:
    """A reviewer and where their code stands (never the code itself)."""

    name: str
    added_at: datetime
    code_issued_at: datetime
    revoked_at: datetime | None

    @property
    def code_state(self) -> str:
        return "revoked" if self.revoked_at is not None else "active"


def name_key(name: str) -> str:
    """What makes two names one reviewer: Unicode form, case and spacing do not."""
    return unicodedata.normalize("NFC", checked_reviewer(name)).casefold()


def add_reviewer(store: TranslationStore, name: str) -> tuple[str, str]:
    """Add a reviewer (or give a revoked one a new code); returns (name as stored, code).
    The code is for the organiser to hand over now: only its digest is kept. Raises
    TranslationError "reviewer_has_code" (revoke it first), "reviewer_name_invalid"."""
    cleaned = checked_reviewer(name)
    try:
        return _issue_code(store, cleaned)
    except IntegrityError:  # another process added the same name just now
        return _issue_code(store, cleaned)


def _issue_code(store: TranslationStore, name: str) -> tuple[str, str]:
    code = new_rater_code()
    with store.write() as session:
        row = _reviewer_row(session, name)
        if row is not None and row.revoked_at is None:
            raise TranslationError("reviewer_has_code", name=row.name)
        if row is None:
            row = ReviewerCode(name=name, name_key=name_key(name))
            session.add(row)
        row.code_digest, row.code_issued_at, row.revoked_at = code_digest(code), utc_now(), None
        session.flush()
        return row.name, code


def revoke_reviewer(store: TranslationStore, name: str) -> bool:
    """Revoke the reviewer's code and give back the sample they hold, so another reviewer
    gets it at once. True when a code was revoked now, False when it already was. Raises
    TranslationError "reviewer_unknown"."""
    with store.write() as session:
        row = _reviewer_row(session, name)
        if row is None:
            raise TranslationError("reviewer_unknown", name=" ".join((name or "").split()))
        if row.revoked_at is not None:
            return False
        row.revoked_at = utc_now()
        session.execute(update(Sample).where(Sample.claimed_by == row.name).values(claimed_by=None, claimed_at=None))
        return True


def list_reviewers(store: TranslationStore) -> list[ReviewerStatus]:
    """Every reviewer, in the order they were added."""
    with store.read() as session:
        rows = session.scalars(select(ReviewerCode).order_by(ReviewerCode.created_at, ReviewerCode.id))
        return [ReviewerStatus(r.name, r.created_at, r.code_issued_at, r.revoked_at) for r in rows]


def sign_in(store: TranslationStore, code: str | None) -> Reviewer:
    """The reviewer whose active code this is. Raises TranslationError
    "reviewer_code_required" (nothing typed), "reviewer_code_invalid" (unknown or revoked)."""
    if not normalise_rater_code(code):
        raise TranslationError("reviewer_code_required")
    digest = code_digest(code)
    with store.read() as session:
        row = session.scalar(select(ReviewerCode).where(ReviewerCode.code_digest == digest,
                                                        ReviewerCode.revoked_at.is_(None)))
    if row is None:
        raise TranslationError("reviewer_code_invalid")
    return Reviewer(row.name, digest)


def _reviewer_row(session: Session, name: str) -> ReviewerCode | None:
    return session.scalar(select(ReviewerCode).where(ReviewerCode.name_key == name_key(name)))
