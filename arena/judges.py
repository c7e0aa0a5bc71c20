"""LLM judges as raters of their own kind: their votes, kept apart from people's, and how far
they agree with people.

A judge (evaluate/judge/) compares two models' replies to the same conversation twice, once
in each order. Its vote is stored as an ordinary battle and vote of the rater
"judge:<model>", so the ratings code reads it unchanged, plus a JudgeVerdict row with what
each order gave and what was judged. Every reader of people's votes (arena.records.load_votes,
and so the leaderboards, the exports, the organiser's progress) leaves judges out unless
asked: a judge's votes must never move the people's ratings. A person cannot take a
"judge:" name (arena.study.clean_rater_name refuses it).

Agreement, per judge model, over the people's battles the judge re-judged (its verdict's
`source_battle_id` names a person's vote): the share where it picked the same winner. The
winner is compared as a model, not a side (the judge's battle may show the pair the other
way round), and "both bad" counts as a tie on either part, as the ratings count it. Beside
it: the share of verdicts that flipped with the order, and Spearman's rank correlation
between the judge's Bradley–Terry ratings and the people's over the models both rank.
"""

from __future__ import annotations

import math
import uuid
import warnings
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from scipy.stats import spearmanr
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from arena.leaderboard import DEFAULT_ROUNDS, Leaderboard, build_leaderboard
from arena.records import VoteRecord, battles_frame, load_votes
from arena.store import ArenaStore
from arena.study import (JUDGE_PREFIX, clean_study_name, is_judge_rater, judge_rater_name, rater_name_key)
from arena.tables import (BATTLE_ID_LENGTH, ITEM_KEY_LENGTH, MODEL_ID_LENGTH, PROMPT_VERSION_LENGTH, Battle,
                          JudgeVerdict, Rater, Study, utc_now)
from arena.votes import close_battle, new_vote

__all__ = ["JUDGE_PREFIX", "VERDICTS", "JudgeAgreement", "JudgeVote", "agreement_of", "is_judge_rater",
           "judge_agreement", "judge_boards", "judge_leaderboards", "judge_rater_name", "load_judge_votes",
           "rank_correlation", "record_judge_verdict"]

# What one order's verdict can be, mapped back to the battle's sides.
VERDICTS: tuple[str, ...] = ("model_a", "model_b", "tie")


@dataclass(frozen=True)
class JudgeAgreement:
    """One judge model against the people (see the module doc)."""

    judge_model: str
    compared: int  # people's battles this judge re-judged
    agreed: int  # ... where it chose the same winner (both bad = tie)
    agreement: float | None  # agreed / compared; None when nothing was compared
    verdicts: int  # all this judge's verdicts
    flips: int  # ... whose two orders disagreed
    flip_rate: float | None  # flips / verdicts
    rank_correlation: float | None  # Spearman's rho of the two boards' ratings
    common_models: int  # models both boards rank

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class JudgeVote:
    """A judge's vote as the ratings read it, with what only a judge's has."""

    record: VoteRecord
    judge_model: str
    source_battle_id: str | None  # the people's battle it re-judged, if any
    flipped: bool  # its two orders disagreed


def _text(value: str | None, what: str, limit: int, optional: bool = False) -> str | None:
    """A checked identifier: these are the calling program's values, so a bad one is a bug
    there (ValueError), not something to tell a rater."""
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise ValueError(f"{what} must be a non-empty string of at most {limit} characters: {value!r}")
    return value


def _check_inputs(judge_model: str, model_a: str, model_b: str, verdicts: Iterable[str], prompt_version: str,
                  source_battle_id: str | None, item_key: str | None) -> None:
    _text(judge_model, "judge_model", MODEL_ID_LENGTH)
    _text(model_a, "model_a", MODEL_ID_LENGTH)
    _text(model_b, "model_b", MODEL_ID_LENGTH)
    if model_a == model_b:
        raise ValueError(f"a battle needs two different models, not {model_a!r} twice")
    for verdict in verdicts:
        if verdict not in VERDICTS:
            raise ValueError(f"unknown verdict {verdict!r}; expected one of {VERDICTS}")
    _text(prompt_version, "prompt_version", PROMPT_VERSION_LENGTH)
    _text(source_battle_id, "source_battle_id", BATTLE_ID_LENGTH, optional=True)
    _text(item_key, "item_key", ITEM_KEY_LENGTH, optional=True)


def record_judge_verdict(store: ArenaStore, study: str, judge_model: str, model_a: str, model_b: str,
                         winner: str, transcript_a, transcript_b, *, verdict_ab: str, verdict_ba: str,
                         prompt_version: str, source_battle_id: str | None = None, item_key: str | None = None,
                         generation_settings=None) -> str:
    """Store a judge's vote on a pair of replies, in one transaction; returns its battle id.

    `winner`: the vote as counted ("model_a", "model_b", "tie"; the caller makes a flipped
    verdict a tie). `verdict_ab` / `verdict_ba`: what the judge said with model_a's reply
    shown first / model_b's first, both already mapped back to the battle's sides.
    Transcripts are stored as a person's vote's are (arena.votes), leak flag included.
    The study is created (open) when missing, and the rater "judge:<model>" on first use.

    Idempotent: when this judge model already gave a verdict with this `prompt_version` in
    this study on the same `item_key` (or, without one, the same `source_battle_id`), that
    verdict's battle id is returned and nothing is written, so rerunning a judge does not
    count it twice. Without either key every call is a new vote.
    Raises ValueError for a malformed argument, ArenaError "invalid_winner",
    "vote_before_replies", "study_name_invalid", "database_busy", "database_unavailable".
    """
    _check_inputs(judge_model, model_a, model_b, (verdict_ab, verdict_ba), prompt_version, source_battle_id,
                  item_key)
    verdict = {"source_battle_id": source_battle_id, "item_key": item_key, "judge_model": judge_model,
               "prompt_version": prompt_version, "verdict_ab": verdict_ab, "verdict_ba": verdict_ba,
               "flipped": verdict_ab != verdict_ba}
    sides = (model_a, model_b, winner, transcript_a, transcript_b, generation_settings)
    try:
        return _write_judge_vote(store, clean_study_name(study), verdict, sides)
    except IntegrityError:  # another process created the study, the judge's rater or this very
        # verdict just now (the unique indexes): the second try finds and returns theirs.
        return _write_judge_vote(store, clean_study_name(study), verdict, sides)


def _write_judge_vote(store: ArenaStore, study_name: str, verdict: dict, sides: tuple) -> str:
    model_a, model_b, winner, transcript_a, transcript_b, settings = sides
    # Built before the transaction: bad input fails with nothing written, and each attempt
    # gets rows of its own.
    vote = new_vote(winner, transcript_a, transcript_b, settings)
    with store.write() as session:
        study = session.scalar(select(Study).where(Study.name == study_name))
        if study is None:
            study = Study(name=study_name)
            session.add(study)
            session.flush()
        earlier = _earlier_verdict(session, study.id, verdict)
        if earlier is not None:
            return earlier
        now = utc_now()
        rater = _judge_rater(session, study, verdict["judge_model"])
        battle = Battle(id=uuid.uuid4().hex, study_id=study.id, rater_id=rater.id, model_a=model_a,
                        model_b=model_b, started_at=now)
        session.add(battle)
        session.flush()
        close_battle(session, battle, vote, now=now)
        session.add(JudgeVerdict(battle_id=battle.id, study_id=study.id, created_at=now, **verdict))
        session.flush()
        return battle.id


def _earlier_verdict(session: Session, study_id: int, verdict: dict) -> str | None:
    """The battle of this judge's verdict on the same item in this study, if it gave one.
    Looked up inside the write transaction: on SQLite it holds the write lock, so two runs
    at once cannot both miss it."""
    if verdict["item_key"] is not None:
        same_item = JudgeVerdict.item_key == verdict["item_key"]
    elif verdict["source_battle_id"] is not None:
        same_item = JudgeVerdict.source_battle_id == verdict["source_battle_id"]
    else:
        return None
    query = (select(JudgeVerdict.battle_id).join(Battle, JudgeVerdict.battle_id == Battle.id)
             .where(Battle.study_id == study_id, JudgeVerdict.judge_model == verdict["judge_model"],
                    JudgeVerdict.prompt_version == verdict["prompt_version"], same_item)
             .order_by(JudgeVerdict.id).limit(1))
    return session.scalar(query)


def _judge_rater(session: Session, study: Study, judge_model: str) -> Rater:
    name = judge_rater_name(judge_model)
    key = rater_name_key(name)
    rater = session.scalar(select(Rater).where(Rater.study_id == study.id, Rater.name_key == key))
    if rater is None:
        rater = Rater(study_id=study.id, display_name=name, name_key=key)
        session.add(rater)
        session.flush()
    return rater


def load_judge_votes(store: ArenaStore, study: str | None = None,
                     prompt_version: str | None = None) -> list[JudgeVote]:
    """Every judge vote (flagged ones too), oldest first, with its judge model; only those of
    `prompt_version` when given."""
    records = load_votes(store, study, include_flagged=True, raters="judges")
    query = select(JudgeVerdict.battle_id, JudgeVerdict.judge_model, JudgeVerdict.prompt_version,
                   JudgeVerdict.source_battle_id, JudgeVerdict.flipped)
    if study is not None:
        query = query.join(Battle, JudgeVerdict.battle_id == Battle.id).join(Study, Battle.study_id == Study.id)
        query = query.where(Study.name == clean_study_name(study))
    with store.read() as session:
        verdicts = {row.battle_id: row for row in session.execute(query)}
    votes = []
    for record in records:
        row = verdicts.get(record.battle_id)
        if row is None:  # a "judge:" rater's vote without a verdict row: its model from the name
            if prompt_version is None:
                votes.append(JudgeVote(record, record.rater_name[len(JUDGE_PREFIX):], None, False))
        elif prompt_version is None or row.prompt_version == prompt_version:
            votes.append(JudgeVote(record, row.judge_model, row.source_battle_id, row.flipped))
    return votes


def _by_judge(votes: Iterable[JudgeVote]) -> dict[str, list[JudgeVote]]:
    grouped: dict[str, list[JudgeVote]] = {}
    for vote in votes:
        grouped.setdefault(vote.judge_model, []).append(vote)
    return dict(sorted(grouped.items()))


def judge_boards(votes: Iterable[JudgeVote], language: str = "all", *, include_flagged: bool = False,
                 rounds: int = DEFAULT_ROUNDS, seed: int = 0, confidence: float = 0.95) -> dict[str, Leaderboard]:
    """Judge model -> the leaderboard of its votes alone, sorted by judge model."""
    return {judge: build_leaderboard(battles_frame([vote.record for vote in mine]), language,
                                     include_flagged=include_flagged, rounds=rounds, seed=seed,
                                     confidence=confidence)
            for judge, mine in _by_judge(votes).items()}


def judge_leaderboards(store: ArenaStore, study: str | None = None, *, language: str = "all",
                       include_flagged: bool = False, rounds: int = DEFAULT_ROUNDS, seed: int = 0,
                       confidence: float = 0.95, prompt_version: str | None = None) -> dict[str, Leaderboard]:
    """Judge model -> its leaderboard (arena.leaderboard.build_leaderboard over its votes
    alone), sorted by judge model; empty when no judge has voted. `prompt_version`: only
    that prompt's verdicts (default: all)."""
    return judge_boards(load_judge_votes(store, study, prompt_version), language,
                        include_flagged=include_flagged, rounds=rounds, seed=seed, confidence=confidence)


def _chosen(record: VoteRecord) -> str:
    """The winner as a model id, or "tie" (both bad included: the ratings count it so)."""
    if record.winner == "model_a":
        return record.model_a
    return record.model_b if record.winner == "model_b" else "tie"


def rank_correlation(first: Leaderboard, second: Leaderboard) -> tuple[float | None, int]:
    """Spearman's rho between two boards' ratings over the models both rank, and how many
    those are; rho is None below two common models or when undefined (equal ratings)."""
    mine, theirs = ({row.model: row.rating for row in board.rows} for board in (first, second))
    common = sorted(set(mine) & set(theirs))
    if len(common) < 2:
        return None, len(common)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant ratings: scipy warns and gives NaN
        rho = float(spearmanr([mine[m] for m in common], [theirs[m] for m in common])[0])
    return (None if math.isnan(rho) else rho), len(common)


def agreement_of(humans: list[VoteRecord], votes: Iterable[JudgeVote], language: str = "all", *,
                 include_flagged: bool = False, rounds: int = 0, seed: int = 0) -> list[JudgeAgreement]:
    """`judge_agreement` over votes already loaded: the people's (arena.records.load_votes,
    flagged ones included) and the judges' (`load_judge_votes`)."""
    votes = [vote for vote in votes if language in ("all", vote.record.conversation_language)]
    human_board = build_leaderboard(battles_frame(humans), language, include_flagged=include_flagged,
                                    rounds=rounds, seed=seed)
    counted = {r.battle_id: r for r in humans if (include_flagged or not r.flagged_leak)
               and language in ("all", r.conversation_language)}
    boards = judge_boards(votes, language, include_flagged=include_flagged, rounds=rounds, seed=seed)
    results = []
    for judge, mine in _by_judge(votes).items():
        pairs = [(vote.record, counted[vote.source_battle_id]) for vote in mine
                 if vote.source_battle_id in counted]
        agreed = sum(_chosen(judged) == _chosen(person) for judged, person in pairs)
        flips = sum(vote.flipped for vote in mine)
        rho, common = rank_correlation(human_board, boards[judge])
        results.append(JudgeAgreement(judge, len(pairs), agreed, agreed / len(pairs) if pairs else None,
                                      len(mine), flips, flips / len(mine), rho, common))
    return results


def judge_agreement(store: ArenaStore, study: str | None = None, *, language: str = "all",
                    include_flagged: bool = False, rounds: int = 0, seed: int = 0,
                    prompt_version: str | None = None) -> list[JudgeAgreement]:
    """One JudgeAgreement per judge model (sorted by model); see the module doc.

    `language`: "all", or only the battles (people's and judges') held in "ar", "en" or
    "mixed"; a judge without any there is left out. People's battles
    flagged for an identity leak are compared only with `include_flagged`, as the boards
    count them. `rounds`: bootstrap rounds of the boards compared; the ratings correlated
    are the fit itself and do not depend on it, so 0 (no bootstrap) is the fast default.
    """
    humans = load_votes(store, study, include_flagged=True)
    return agreement_of(humans, load_judge_votes(store, study, prompt_version), language,
                        include_flagged=include_flagged, rounds=rounds, seed=seed)
