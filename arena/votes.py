"""Casting a vote: one transaction holding everything the analysis will ever need.

The vote row (winner, reason, rater language, conversation language, both transcripts,
generation settings, leak flag) and the battle's `voted_at` are written together, so a
crash, a kill or a busy database leaves either the whole vote or nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, is_dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from arena.errors import ArenaError
from arena.leaks import LeakReport, find_identity_leaks
from arena.store import ArenaStore
from arena.study import RaterInfo, rater_code_revoked
from arena.tables import WINNERS, Battle, Vote, utc_now
from arena.transcripts import conversation_language, has_reply, stored_transcript

RATER_LANGUAGES: tuple[str, ...] = ("ar", "en", "ar+en")
REASON_LIMIT = 4000


@dataclass(frozen=True)
class VoteReceipt:
    """What the UI shows after a vote: the identities are revealed only now."""

    battle_id: str
    model_a: str
    model_b: str
    winner: str
    conversation_language: str  # "ar", "en" or "mixed"
    flagged_leak: bool
    leak_reason: str | None
    voted_at: datetime


def _settings_json(settings) -> dict:
    if settings is None:
        return {}
    if is_dataclass(settings):
        settings = asdict(settings)
    if not isinstance(settings, Mapping):
        raise TypeError("generation_settings must be a mapping or a dataclass")
    settings = dict(settings)
    json.dumps(settings)  # TypeError now, not a half-failed transaction later
    return settings


def _checked_inputs(winner: str, reason: str | None, rater_language: str | None) -> str | None:
    if winner not in WINNERS:
        raise ArenaError("invalid_winner", winner=winner)
    if rater_language is not None and rater_language not in RATER_LANGUAGES:
        raise ArenaError("invalid_rater_language", language=rater_language,
                         accepted=", ".join(RATER_LANGUAGES))
    reason = (reason or "").strip() or None
    if reason is not None and len(reason) > REASON_LIMIT:
        raise ArenaError("reason_too_long", size=len(reason), limit=REASON_LIMIT)
    return reason


def _replies(transcript: list[dict]) -> list[str]:
    return [m["content"] for m in transcript if m["role"] == "assistant"]


def record_vote(
    store: ArenaStore,
    battle_id: str,
    rater: RaterInfo | int,
    winner: str,
    transcript_a: Iterable,
    transcript_b: Iterable,
    generation_settings=None,
    *,
    reason: str | None = None,
    rater_language: str | None = None,
    leak_model_ids: Sequence[str] = (),
) -> VoteReceipt:
    """Store the rater's vote on a battle, all in one transaction.

    `winner`: "model_a", "model_b", "tie" or "both_bad". Transcripts: each side's messages
    (engine `Message`s or {"role", "content", "images"?} dicts); both must end with a reply.
    `generation_settings`: a GenerationSettings (or any dataclass/JSON-able mapping).
    `leak_model_ids`: configured ids to look for in the replies besides the battle's own.
    Raises ArenaError: "invalid_winner", "invalid_rater_language", "reason_too_long",
    "vote_before_replies", "battle_not_found", "battle_not_yours", "already_voted",
    "rater_code_invalid" (the rater's personal code was revoked), "database_busy",
    "database_unavailable"; nothing is stored when it raises.
    """
    vote = new_vote(winner, transcript_a, transcript_b, generation_settings,
                    reason=reason, rater_language=rater_language)
    rater_id = rater.id if isinstance(rater, RaterInfo) else rater
    try:
        with store.write() as session:
            return _write_vote(session, battle_id, rater_id, vote, leak_model_ids)
    except IntegrityError as error:  # a concurrent vote on the same battle won the race
        raise ArenaError("already_voted") from error


def _write_vote(session: Session, battle_id: str, rater_id: int, vote: Vote,
                leak_model_ids: Sequence[str]) -> VoteReceipt:
    """Inside the write transaction: check the battle, flag leaks, add the vote, close the battle."""
    battle = session.get(Battle, battle_id)
    if battle is None:
        raise ArenaError("battle_not_found")
    if battle.rater_id != rater_id:
        raise ArenaError("battle_not_yours")
    if rater_code_revoked(session, rater_id):
        raise ArenaError("rater_code_invalid")
    if battle.voted_at is not None:
        raise ArenaError("already_voted")
    leaks = close_battle(session, battle, vote, leak_model_ids)
    return VoteReceipt(battle.id, battle.model_a, battle.model_b, vote.winner,
                       vote.conversation_language, leaks.flagged, leaks.reason, vote.voted_at)


def new_vote(winner: str, transcript_a: Iterable, transcript_b: Iterable, generation_settings=None, *,
             reason: str | None = None, rater_language: str | None = None) -> Vote:
    """A vote row, not yet added: inputs checked, both transcripts as stored, the
    conversation's language detected. Shared by people's votes and judges' (arena/judges.py),
    so both are stored alike. Raises ArenaError as `record_vote` does."""
    reason = _checked_inputs(winner, reason, rater_language)
    side_a, side_b = stored_transcript(transcript_a), stored_transcript(transcript_b)
    for side, transcript in (("A", side_a), ("B", side_b)):
        if not has_reply(transcript):
            raise ArenaError("vote_before_replies", side=side)
    settings = _settings_json(generation_settings)
    return Vote(winner=winner, reason=reason, rater_language=rater_language,
                conversation_language=conversation_language(side_a, side_b),
                transcript_a=side_a, transcript_b=side_b, generation_settings=settings)


def close_battle(session: Session, battle: Battle, vote: Vote, leak_model_ids: Sequence[str] = (),
                 now: datetime | None = None) -> LeakReport:
    """Inside the write transaction: flag identity leaks in the replies, add the vote and
    stamp it and its battle as voted (`now`, default the current time)."""
    leaks = find_identity_leaks({"A": _replies(vote.transcript_a), "B": _replies(vote.transcript_b)},
                                [battle.model_a, battle.model_b, *leak_model_ids])
    vote.battle_id, vote.flagged_leak, vote.leak_reason = battle.id, leaks.flagged, leaks.reason
    vote.voted_at = battle.voted_at = now or utc_now()
    session.add(vote)
    session.flush()  # constraint violations surface here, inside the transaction
    return leaks
