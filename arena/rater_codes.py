"""Personal rater codes: the organiser creates each rater, and the code says who is rating.

A typed display name proves nothing: anyone can type a colleague's name. With personal
codes the organiser adds each rater (`create_rater`, or `python -m arena.raters ... add`),
hands them the code once, and the rater joins with the code alone: the name comes from
the code, whatever name is typed. From the first code on, the study takes codes only
(arena.study.join_study refuses a typed name with "rater_code_required").

A code is 10 characters drawn with `secrets` from 31 that are hard to confuse (no 0/O,
no 1/I/L), shown as K7QX-M2PD-9R: 31^10 ≈ 8·10^14 codes, about 49 bits. Only its SHA-256
digest is stored. An unsalted fast hash is right for a random token of that size: there
is no dictionary to try, reversing a stolen digest means ~10^14 hashes per rater, and a
typed code is found by its digest instead of by trying a slow salted hash per rater.
Guessing online is what arena/limits.py slows down.
"""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from arena.access import normalise_code
from arena.errors import ArenaError
from arena.store import ArenaStore
from arena.study import (RaterInfo, clean_rater_name, find_study_row, personal_codes_issued, rater_info,
                         rater_name_key)
from arena.tables import Rater, RaterCode, Study, utc_now

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 10
CODE_GROUPS = (4, 4, 2)  # K7QX-M2PD-9R: short groups are easier to read out and type


@dataclass(frozen=True)
class RaterCodeStatus:
    """A rater of the study and where their personal code stands (never the code itself)."""

    rater_id: int
    display_name: str
    joined_at: datetime
    code_issued_at: datetime | None
    code_revoked_at: datetime | None

    @property
    def code_state(self) -> str:
        """"active", "revoked", or "none" (a rater who joined by name before codes)."""
        if self.code_issued_at is None:
            return "none"
        return "revoked" if self.code_revoked_at is not None else "active"


def new_rater_code() -> str:
    """A fresh random code, grouped for typing (K7QX-M2PD-9R)."""
    plain = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    groups, start = [], 0
    for size in CODE_GROUPS:
        groups.append(plain[start:start + size])
        start += size
    return "-".join(groups)


def normalise_rater_code(code: str | None) -> str:
    """What counts of a typed code: case, spaces and dashes (any kind) do not;
    Arabic-Indic digits read as 0-9 (as for study access codes)."""
    cleaned = normalise_code(code or "").upper()
    return "".join(ch for ch in cleaned if not ch.isspace() and unicodedata.category(ch) != "Pd")


def code_digest(code: str) -> str:
    """The hex SHA-256 of the normalised code: what the database holds."""
    return hashlib.sha256(normalise_rater_code(code).encode("utf-8")).hexdigest()


def create_rater(store: ArenaStore, study_name: str, display_name: str) -> tuple[RaterInfo, str]:
    """Add a rater to the study with a new personal code; returns (rater, code). The code
    is shown to the organiser this once: only its digest is kept.

    A rater who already joined by name (before codes) keeps their votes and gets a code;
    a rater whose code was revoked gets a new one. Raises ArenaError "rater_has_code"
    (an active code exists: revoke it first), "rater_name_invalid", "rater_name_reserved"
    (a "judge:" name), "study_not_found".
    """
    name = clean_rater_name(display_name)
    try:
        return _issue_code(store, study_name, name)
    except IntegrityError:  # another process added the same name just now
        return _issue_code(store, study_name, name)


def _issue_code(store: ArenaStore, study_name: str, name: str) -> tuple[RaterInfo, str]:
    code = new_rater_code()
    with store.write() as session:
        study = find_study_row(session, study_name)
        rater = _rater_row(session, study, name)
        if rater is None:
            rater = Rater(study_id=study.id, display_name=name, name_key=rater_name_key(name))
            session.add(rater)
            session.flush()
        row = session.scalar(select(RaterCode).where(RaterCode.rater_id == rater.id))
        if row is not None and row.revoked_at is None:
            raise ArenaError("rater_has_code", name=rater.display_name)
        if row is None:
            row = RaterCode(rater_id=rater.id)
            session.add(row)
        row.code_digest, row.created_at, row.revoked_at = code_digest(code), utc_now(), None
        session.flush()
        return rater_info(rater, study), code


def _rater_row(session: Session, study: Study, display_name: str) -> Rater | None:
    key = rater_name_key(display_name)
    return session.scalar(select(Rater).where(Rater.study_id == study.id, Rater.name_key == key))


def join_with_code(store: ArenaStore, study_name: str, code: str | None) -> RaterInfo:
    """The rater whose personal code this is. Raises ArenaError "rater_code_invalid" (no
    such code in this study, or revoked), "study_not_found"."""
    if not normalise_rater_code(code):
        raise ArenaError("rater_code_invalid")
    with store.read() as session:
        study = find_study_row(session, study_name)
        rater = session.scalar(
            select(Rater).join(RaterCode, RaterCode.rater_id == Rater.id)
            .where(RaterCode.code_digest == code_digest(code), RaterCode.revoked_at.is_(None),
                   Rater.study_id == study.id))
        if rater is None:
            raise ArenaError("rater_code_invalid")
        return rater_info(rater, study)


def study_has_personal_raters(store: ArenaStore, study_name: str) -> bool:
    """Whether the study takes personal codes only (any code was ever issued in it)."""
    with store.read() as session:
        return personal_codes_issued(session, find_study_row(session, study_name).id)


def revoke_rater_code(store: ArenaStore, study_name: str, display_name: str) -> bool:
    """Revoke the rater's code: it no longer joins, and the rater's open session can start
    no new round nor vote. True when a code was revoked now, False when there was no
    active one. Raises ArenaError "rater_unknown", "study_not_found"."""
    with store.write() as session:
        study = find_study_row(session, study_name)
        rater = _rater_row(session, study, display_name)
        if rater is None:
            raise ArenaError("rater_unknown", name=" ".join((display_name or "").split()))
        row = session.scalar(select(RaterCode).where(RaterCode.rater_id == rater.id))
        if row is None or row.revoked_at is not None:
            return False
        row.revoked_at = utc_now()
        return True


def list_raters(store: ArenaStore, study_name: str) -> list[RaterCodeStatus]:
    """Every rater of the study with their code's state, in the order they were added."""
    with store.read() as session:
        study = find_study_row(session, study_name)
        rows = session.execute(
            select(Rater, RaterCode).outerjoin(RaterCode, RaterCode.rater_id == Rater.id)
            .where(Rater.study_id == study.id).order_by(Rater.created_at, Rater.id)).all()
    return [RaterCodeStatus(rater.id, rater.display_name, rater.created_at,
                            code.created_at if code else None, code.revoked_at if code else None)
            for rater, code in rows]

