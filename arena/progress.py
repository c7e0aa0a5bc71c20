"""The admin view's data: how far each rater of a study has got."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select

from arena.records import rater_filter
from arena.store import ArenaStore
from arena.study import find_study_row
from arena.tables import Battle, Rater, Vote


@dataclass(frozen=True)
class RaterProgress:
    rater_id: int
    display_name: str
    joined_at: datetime
    battles_started: int
    votes: int
    flagged_votes: int  # votes whose replies leaked a model's identity
    last_activity: datetime  # the latest of joining, starting a round and voting

    @property
    def unfinished(self) -> int:
        """Rounds started and never voted on (abandoned, or in progress now)."""
        return self.battles_started - self.votes


def study_progress(store: ArenaStore, study_name: str, raters: str = "humans") -> list[RaterProgress]:
    """One row per rater of the study, most recently active first.

    `raters`: "humans" (default: the organiser follows people; a judge's hundreds of votes
    would crowd them out), "judges" or "all". Show it only after `verify_access_code`
    passed. Raises ArenaError "study_not_found".
    """
    with store.read() as session:
        study = find_study_row(session, study_name)
        query = (
            select(Rater.id, Rater.display_name, Rater.created_at,
                   func.count(Battle.id), func.count(Vote.id),
                   func.coalesce(func.sum(case((Vote.flagged_leak, 1), else_=0)), 0),
                   func.max(Battle.started_at), func.max(Vote.voted_at))
            .select_from(Rater)
            .outerjoin(Battle, Battle.rater_id == Rater.id)
            .outerjoin(Vote, Vote.battle_id == Battle.id)
            .where(Rater.study_id == study.id)
            .group_by(Rater.id, Rater.display_name, Rater.created_at)
        )
        if (kept := rater_filter(raters)) is not None:
            query = query.where(kept)
        rows = session.execute(query).all()
    progress = [
        RaterProgress(rater_id, name, joined, started, votes, flagged,
                      max(t for t in (joined, last_start, last_vote) if t is not None))
        for rater_id, name, joined, started, votes, flagged, last_start, last_vote in rows
    ]
    return sorted(progress, key=lambda p: (p.last_activity, p.rater_id), reverse=True)
