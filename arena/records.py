"""Reading votes back: full records for export, a compact battle table for ratings.

People's votes and LLM judges' (raters "judge:<model>") share the tables; readers get the
people's unless they ask for the judges' (`raters=`).

Every reader names a model as the Leaderboard does, by its public name: a local model's
battles were stored under its directory's path on the server, which no export, board or
ratings file may show (study files travel). `public_model_name` derives it as the model pool
does (engine.pool.public_names): the directory's own name, an adapter's ":name" kept.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import datetime

import re

import pandas as pd
from sqlalchemy import select

from arena.store import ArenaStore
from arena.study import JUDGE_PREFIX, clean_study_name, is_judge_rater
from arena.tables import Battle, Rater, Study, Vote

RATER_SETS: tuple[str, ...] = ("humans", "judges", "all")
BATTLE_COLUMNS = ("battle_id", "model_a", "model_b", "winner", "language", "flagged_leak", "voted_at")


@dataclass(frozen=True)
class VoteRecord:
    """One vote with its battle, rater and study: a row of the export."""

    battle_id: str
    study: str
    rater_id: int
    rater_name: str
    model_a: str
    model_b: str
    winner: str
    reason: str | None
    rater_language: str | None
    conversation_language: str
    flagged_leak: bool
    leak_reason: str | None
    started_at: datetime
    voted_at: datetime
    transcript_a: list
    transcript_b: list
    generation_settings: dict

    @property
    def rater_kind(self) -> str:
        """"judge" for an LLM judge's vote (rater "judge:<model>", arena/judges.py), else
        "human". A property, not a field: the export's columns stay as they were."""
        return "judge" if is_judge_rater(self.rater_name) else "human"

    def to_dict(self) -> dict:
        """JSON-ready: times as ISO 8601 UTC strings."""
        record = asdict(self)
        record["started_at"] = self.started_at.isoformat()
        record["voted_at"] = self.voted_at.isoformat()
        return record


def public_model_name(stored: str) -> str:
    """A contestant as people see it: a path ("/srv/models/tiny-llava:first") becomes the
    directory's own name ("tiny-llava:first"), a remote openai:MODEL@URL its server's model
    id; any other name stays as it is."""
    remote = re.match(r"^openai:(?P<model>.+)@https?://\S+$", stored)
    if remote:
        return remote["model"]
    return re.split(r"[\\/]", stored.rstrip("/\\"))[-1] or stored


def _publicly_named(record: "VoteRecord") -> "VoteRecord":
    names = {stored: public_model_name(stored) for stored in (record.model_a, record.model_b)}
    reason = record.leak_reason
    for stored, public in names.items():  # the leak check quotes what it found: the server's folder goes
        folder = stored[:-len(public)] if stored != public and stored.endswith(public) else None
        if reason:
            reason = reason.replace(folder, "") if folder else reason.replace(stored, public)
    return replace(record, model_a=names[record.model_a], model_b=names[record.model_b], leak_reason=reason)


def rater_filter(raters: str):
    """The WHERE clause keeping `raters`: "humans", "judges" or "all" (None: no clause)."""
    if raters not in RATER_SETS:
        raise ValueError(f"unknown rater set {raters!r}; expected one of {RATER_SETS}")
    # name_key: the casefolded name, so "Judge:x" is a judge as `is_judge_rater` says.
    judge = Rater.name_key.startswith(JUDGE_PREFIX, autoescape=True)
    return None if raters == "all" else judge if raters == "judges" else ~judge


def load_votes(store: ArenaStore, study: str | None = None, include_flagged: bool = True,
               raters: str = "humans") -> list[VoteRecord]:
    """Every vote (of one study, or all), oldest first — the order online Elo replays;
    models by their public names (`public_model_name`).

    `raters`: "humans" (the default, so an LLM judge's votes never enter the people's
    ratings or exports unasked), "judges" (raters "judge:<model>") or "all".
    """
    query = (
        select(Vote, Battle, Rater.display_name, Study.name)
        .join(Battle, Vote.battle_id == Battle.id)
        .join(Rater, Battle.rater_id == Rater.id)
        .join(Study, Battle.study_id == Study.id)
        .order_by(Vote.voted_at, Vote.id)
    )
    if study is not None:
        query = query.where(Study.name == clean_study_name(study))
    if not include_flagged:
        query = query.where(Vote.flagged_leak.is_(False))
    if (kept := rater_filter(raters)) is not None:
        query = query.where(kept)
    with store.read() as session:
        return [_publicly_named(
            VoteRecord(battle.id, study_name, battle.rater_id, rater_name, battle.model_a,
                       battle.model_b, vote.winner, vote.reason, vote.rater_language,
                       vote.conversation_language, vote.flagged_leak, vote.leak_reason,
                       battle.started_at, vote.voted_at, vote.transcript_a, vote.transcript_b,
                       vote.generation_settings))
            for vote, battle, rater_name, study_name in session.execute(query)
        ]


def battles_frame(records: list[VoteRecord]) -> pd.DataFrame:
    """The battle table the ratings use: one row per vote, in voting order."""
    rows = [(r.battle_id, r.model_a, r.model_b, r.winner, r.conversation_language, r.flagged_leak,
             r.voted_at) for r in records]
    return pd.DataFrame(rows, columns=list(BATTLE_COLUMNS))
