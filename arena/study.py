"""Studies, raters and battles: who rates, behind which code, on which pair of models.

A study is a named comparison campaign with an optional access code. Raters join with a
display name; joining again with the same name (ignoring case and extra spaces) returns
the same rater, so a refreshed tab or a second device continues that rater's work. The
code, when set, is what keeps strangers from taking a name. Once the organiser has given
any rater of the study a personal code (arena/rater_codes.py), a typed name no longer
opens the study at all: every rater joins with their own code.

Each round is a battle: two distinct models drawn uniformly at random among the configured
ones, each randomly on side A or B.
"""

from __future__ import annotations

import hashlib
import random
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from arena.access import check_access_code, hash_access_code
from arena.errors import ArenaError
from arena.store import ArenaStore
from arena.tables import MODEL_ID_LENGTH, Battle, Rater, RaterCode, Study

STUDY_NAME_LIMIT = 120
RATER_NAME_LIMIT = 64
# LLM judges vote as raters named "judge:<model>" (arena/judges.py); a person's name may not
# start so, or their votes could pass for a judge's and a judge's for theirs.
JUDGE_PREFIX = "judge:"


@dataclass(frozen=True)
class StudyInfo:
    id: int
    name: str
    has_access_code: bool
    created_at: datetime


@dataclass(frozen=True)
class RaterInfo:
    id: int
    study_id: int
    study_name: str
    display_name: str
    created_at: datetime


@dataclass(frozen=True)
class Pair:
    model_a: str  # shown as "Model A"
    model_b: str  # shown as "Model B"


@dataclass(frozen=True)
class BattleInfo:
    id: str
    study_name: str
    rater_id: int
    model_a: str
    model_b: str
    started_at: datetime


def _clean_text(text: str) -> str:
    """NFC, control characters dropped, runs of spaces collapsed, ends trimmed."""
    text = unicodedata.normalize("NFC", text or "")
    text = "".join(ch for ch in text if not unicodedata.category(ch).startswith("C") or ch == " ")
    return " ".join(text.split())


def clean_study_name(name: str) -> str:
    """The name as stored: NFC, single spaces, trimmed. Raises ArenaError "study_name_invalid"."""
    cleaned = _clean_text(name)
    if not cleaned or len(cleaned) > STUDY_NAME_LIMIT:
        raise ArenaError("study_name_invalid", limit=STUDY_NAME_LIMIT)
    return cleaned


def _study_info(study: Study) -> StudyInfo:
    return StudyInfo(study.id, study.name, study.access_code_hash is not None, study.created_at)


def find_study_row(session: Session, name: str) -> Study:
    study = session.scalar(select(Study).where(Study.name == clean_study_name(name)))
    if study is None:
        raise ArenaError("study_not_found", study=_clean_text(name))
    return study


def ensure_study(store: ArenaStore, name: str, access_code: str | None = None) -> StudyInfo:
    """Get the study, creating it when missing (what the app does at start-up).

    A non-empty `access_code` becomes the study's code, replacing a different one: the
    deployment's configuration is the source of truth. None/"" leaves an existing code as it
    is (use `set_access_code(store, name, None)` to open a study).
    """
    cleaned = clean_study_name(name)
    try:
        return _ensure_study(store, cleaned, access_code)
    except IntegrityError:  # another process created it just now (servers without
        return _ensure_study(store, cleaned, access_code)  # SQLite's write lock)


def _ensure_study(store: ArenaStore, name: str, access_code: str | None) -> StudyInfo:
    with store.write() as session:
        study = session.scalar(select(Study).where(Study.name == name))
        if study is None:
            study = Study(name=name)
            session.add(study)
        unchanged = study.access_code_hash is not None and check_access_code(access_code, study.access_code_hash)
        if access_code and not unchanged:
            study.access_code_hash = hash_access_code(access_code)
        session.flush()
        return _study_info(study)


def set_access_code(store: ArenaStore, name: str, access_code: str | None) -> StudyInfo:
    """Set, change or (None/"") remove a study's access code."""
    with store.write() as session:
        study = find_study_row(session, name)
        study.access_code_hash = hash_access_code(access_code) if access_code else None
        return _study_info(study)


def get_study(store: ArenaStore, name: str) -> StudyInfo:
    with store.read() as session:
        return _study_info(find_study_row(session, name))


def list_studies(store: ArenaStore) -> list[StudyInfo]:
    with store.read() as session:
        return [_study_info(s) for s in session.scalars(select(Study).order_by(Study.created_at, Study.id))]


def verify_access_code(store: ArenaStore, study_name: str, code: str | None) -> bool:
    """True when `code` opens the study (always True for a study without a code)."""
    with store.read() as session:
        stored = find_study_row(session, study_name).access_code_hash
    return check_access_code(code, stored)  # ~30 ms of scrypt, outside the transaction


def rater_name_key(display_name: str) -> str:
    return _clean_text(display_name).casefold()


def clean_rater_name(display_name: str) -> str:
    """A person's name as stored: NFC, single spaces, trimmed. Raises ArenaError
    "rater_name_invalid", or "rater_name_reserved" for a judge's name (see JUDGE_PREFIX)."""
    name = _clean_text(display_name)
    if not name or len(name) > RATER_NAME_LIMIT:
        raise ArenaError("rater_name_invalid", limit=RATER_NAME_LIMIT)
    if is_judge_rater(name):
        raise ArenaError("rater_name_reserved", prefix=JUDGE_PREFIX)
    return name


def is_judge_rater(display_name: str) -> bool:
    """Whether a rater's name is a judge's ("judge:<model>"), ignoring case and spacing as
    names are matched (`rater_name_key`)."""
    return rater_name_key(display_name or "").startswith(JUDGE_PREFIX)


def judge_rater_name(judge_model: str) -> str:
    """The rater an LLM judge votes as: "judge:" + the model, cleaned as names are.

    A model id too long for a rater name is cut and ends in "~" + 8 hex digits of its
    SHA-256, so two long ids sharing their first characters still get two raters, and the
    same id always gets the same one.
    """
    model = _clean_text(judge_model)
    if not model:
        raise ValueError("a judge needs a model name")
    name = JUDGE_PREFIX + model
    if len(name) <= RATER_NAME_LIMIT:
        return name
    digest = hashlib.sha256(model.encode("utf-8")).hexdigest()[:8]
    return name[:RATER_NAME_LIMIT - len(digest) - 1] + "~" + digest


def join_study(store: ArenaStore, study_name: str, display_name: str,
               access_code: str | None = None) -> RaterInfo:
    """The rater with this name in the study, created on first join.

    Raises ArenaError "access_denied" (wrong or missing code), "study_not_found",
    "rater_name_invalid", "rater_name_reserved" (a "judge:" name: judges only vote through
    arena.judges), "rater_code_required" (the study has personal codes: see
    arena.rater_codes.join_with_code).
    """
    with store.read() as session:
        # Before the access code is checked: a refusal here says nothing about that code.
        if personal_codes_issued(session, find_study_row(session, study_name).id):
            raise ArenaError("rater_code_required")
    name = clean_rater_name(display_name)
    if not verify_access_code(store, study_name, access_code):
        raise ArenaError("access_denied")
    try:
        return _get_or_create_rater(store, study_name, name)
    except IntegrityError:  # another process created the same name just now (servers
        return _get_or_create_rater(store, study_name, name)  # without SQLite's write lock)


def personal_codes_issued(session: Session, study_id: int) -> bool:
    """Whether any rater of the study was ever given a personal code. Revoked codes count:
    revoking the last code must not reopen the study to anyone who types a name."""
    query = select(RaterCode.id).join(Rater, RaterCode.rater_id == Rater.id).where(Rater.study_id == study_id)
    return session.scalar(query.limit(1)) is not None


def rater_code_revoked(session: Session, rater_id: int) -> bool:
    """Inside a transaction: whether this rater's personal code was revoked (a rater
    without a code is not revoked)."""
    revoked = session.scalar(select(RaterCode.revoked_at).where(RaterCode.rater_id == rater_id))
    return revoked is not None


def rater_info(rater: Rater, study: Study) -> RaterInfo:
    return RaterInfo(rater.id, study.id, study.name, rater.display_name, rater.created_at)


def _get_or_create_rater(store: ArenaStore, study_name: str, name: str) -> RaterInfo:
    with store.write() as session:
        study = find_study_row(session, study_name)
        key = name.casefold()
        rater = session.scalar(select(Rater).where(Rater.study_id == study.id, Rater.name_key == key))
        if rater is None:
            rater = Rater(study_id=study.id, display_name=name, name_key=key)
            session.add(rater)
            session.flush()
        return rater_info(rater, study)


def draw_pair(models: Sequence[str], rng: random.Random | int | None = None) -> Pair:
    """Two distinct models, uniform over unordered pairs, then a fair coin for the sides.

    `rng`: a `random.Random` (or a seed) for reproducible draws; None draws from the OS
    (`random.SystemRandom`), so no one can predict pairs from earlier ones.
    Duplicated ids count once. Raises ArenaError("too_few_models") with < 2 distinct ids.
    """
    distinct = list(dict.fromkeys(models))
    for model in distinct:
        if not isinstance(model, str) or not model.strip() or len(model) > MODEL_ID_LENGTH:
            raise ValueError(f"model ids must be non-empty strings of at most {MODEL_ID_LENGTH} characters: {model!r}")
    if len(distinct) < 2:
        raise ArenaError("too_few_models", count=len(distinct))
    if rng is None:
        rng = random.SystemRandom()
    elif isinstance(rng, int):
        rng = random.Random(rng)
    first, second = sorted(rng.sample(range(len(distinct)), 2))  # the unordered pair
    if rng.random() < 0.5:  # the sides: an explicit coin flip per battle
        first, second = second, first
    return Pair(distinct[first], distinct[second])


def start_battle(store: ArenaStore, rater: RaterInfo, models: Sequence[str],
                 rng: random.Random | int | None = None) -> BattleInfo:
    """Draw a pair for the rater's next round and record the battle (before any reply).

    Raises ArenaError "too_few_models", "rater_not_found", "rater_code_invalid" (the
    rater's personal code was revoked since they joined).
    """
    pair = draw_pair(models, rng)
    with store.write() as session:
        row = session.get(Rater, rater.id)
        if row is None or row.study_id != rater.study_id:
            raise ArenaError("rater_not_found")
        if rater_code_revoked(session, row.id):
            raise ArenaError("rater_code_invalid")
        battle = Battle(id=uuid.uuid4().hex, study_id=row.study_id, rater_id=row.id,
                        model_a=pair.model_a, model_b=pair.model_b)
        session.add(battle)
        session.flush()
        return BattleInfo(battle.id, rater.study_name, row.id, battle.model_a, battle.model_b,
                          battle.started_at)
