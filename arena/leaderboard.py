"""The leaderboard: ratings, intervals, Elo and records per model, overall and per language.

Rank, as in FastChat's leaderboard, is 1 + the number of models that are *statistically*
better (their interval's lower end above this model's upper end): with few votes several
models share a rank rather than being ordered by noise. Rows are sorted by rating.
Battles flagged for an identity leak are left out unless `include_flagged` is set.

A view is *provisional* below MIN_VOTES votes, or while some model has been in fewer than
MIN_MODEL_BATTLES battles: the weak prior (arena/ratings.py) keeps such ratings sane, but
they still say more about the prior than about the models, so the tab and the command
line say so. Ten votes between two models put each in ten battles; with more models,
the per-model count is what keeps a rarely drawn one from being ranked on two votes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from arena.ratings import (INIT_RATING, PRIOR_SD, bootstrap_bradley_terry, online_elo, ratings_are_finite,
                           record_counts, win_rate_matrix)

LANGUAGE_VIEWS: tuple[str, ...] = ("all", "ar", "en", "mixed")
DEFAULT_ROUNDS = 1000
MIN_VOTES, MIN_MODEL_BATTLES = 10, 5
COLUMNS = ("rank", "model", "rating", "ci_low", "ci_high", "elo", "battles", "wins", "ties",
           "losses", "win_rate")


@dataclass(frozen=True)
class LeaderboardRow:
    rank: int
    model: str
    rating: float  # Bradley–Terry, Elo scale (mean of the models = 1000)
    ci_low: float
    ci_high: float
    elo: float  # online Elo, K=4
    battles: int
    wins: int
    ties: int  # ties and "both bad"
    losses: int
    win_rate: float  # outright wins / battles


@dataclass(frozen=True)
class Leaderboard:
    language: str  # "all", "ar", "en" or "mixed"
    rows: tuple[LeaderboardRow, ...]
    battles: int  # battles counted (after leaving out flagged ones)
    flagged_excluded: int  # flagged battles left out of this view
    win_rates: pd.DataFrame = field(repr=False)  # see arena.ratings.win_rate_matrix
    # False: some model (or group) never lost or never won against the others, so the votes
    # alone would leave its Bradley–Terry rating unbounded; the one shown is held by the
    # prior (arena/ratings.py) and means little; more votes needed.
    ratings_finite: bool = True
    # Fewer than MIN_VOTES votes, or a model in fewer than MIN_MODEL_BATTLES battles.
    provisional: bool = False
    rounds: int = DEFAULT_ROUNDS
    seed: int = 0
    confidence: float = 0.95

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([asdict(row) for row in self.rows], columns=list(COLUMNS))

    def to_dict(self) -> dict:
        """JSON-ready (NaN becomes None)."""
        rates = self.win_rates.astype(object).where(self.win_rates.notna(), None)
        return {"language": self.language, "battles": self.battles,
                "flagged_excluded": self.flagged_excluded, "ratings_finite": self.ratings_finite,
                "provisional": self.provisional, "min_votes": MIN_VOTES, "min_model_battles": MIN_MODEL_BATTLES,
                "bootstrap_rounds": self.rounds,
                "seed": self.seed, "confidence": self.confidence,
                "rows": [_json_row(row) for row in self.rows],
                "win_rates": {model: rates.loc[model].to_dict() for model in rates.index}}


def _json_row(row: LeaderboardRow) -> dict:
    return {key: (None if isinstance(value, float) and np.isnan(value) else value)
            for key, value in asdict(row).items()}


def _ranks(table: pd.DataFrame) -> pd.Series:
    lower, upper = table["lower"].to_numpy(), table["upper"].to_numpy()
    better = [(lower > upper[i]).sum() for i in range(len(table))]
    return pd.Series(np.array(better, dtype=int) + 1, index=table.index)


def shared_rank_marks(ranks) -> list[str]:
    """Each rank as shown: "=1" where two or more models share rank 1 (their intervals
    overlap: a tie the votes cannot yet break), "1" where one model holds it alone."""
    ranks = [int(rank) for rank in ranks]
    return [f"={rank}" if ranks.count(rank) > 1 else str(rank) for rank in ranks]


def rating_axis(board: "Leaderboard", step: float = 50.0) -> list[float]:
    """The rating chart's value axis: always the prior's INIT_RATING ± PRIOR_SD (so a
    100-point gap between two models looks like the half of one prior spread it is, not
    like the whole chart), widened to every interval shown, in whole `step`s."""
    low, high = INIT_RATING - PRIOR_SD, INIT_RATING + PRIOR_SD
    values = [value for row in board.rows for value in (row.ci_low, row.ci_high, row.rating)
              if np.isfinite(value)]
    low, high = min([low, *values]), max([high, *values])
    return [float(np.floor(low / step) * step), float(np.ceil(high / step) * step)]


def is_provisional(votes: int, battles_per_model) -> bool:
    """Whether a view with `votes` votes and these battle counts per model is too small."""
    return votes < MIN_VOTES or any(count < MIN_MODEL_BATTLES for count in battles_per_model)


def build_leaderboard(battles: pd.DataFrame, language: str = "all", *, include_flagged: bool = False,
                      rounds: int = DEFAULT_ROUNDS, seed: int = 0, confidence: float = 0.95) -> Leaderboard:
    """One leaderboard from a battle table (`arena.records.battles_frame`).

    `language`: "all" or a conversation language ("ar", "en", "mixed") to keep.
    """
    if language not in LANGUAGE_VIEWS:
        raise ValueError(f"unknown language view {language!r}; expected one of {LANGUAGE_VIEWS}")
    chosen = battles if language == "all" else battles[battles["language"] == language]
    flagged = chosen["flagged_leak"].astype(bool) if "flagged_leak" in chosen else pd.Series(False, index=chosen.index)
    counted = chosen if include_flagged else chosen[~flagged]
    table = bootstrap_bradley_terry(counted, rounds, seed, confidence)
    table = table.join(online_elo(counted).rename("elo")).join(record_counts(counted))
    table = table.sort_values("rating", ascending=False)
    ranks = _ranks(table) if rounds else pd.Series(range(1, len(table) + 1), index=table.index)
    rows = tuple(
        LeaderboardRow(int(ranks[model]), model, float(r.rating), float(r.lower), float(r.upper),
                       float(r.elo), int(r.battles), int(r.wins), int(r.ties), int(r.losses),
                       float(r.wins / r.battles))
        for model, r in table.iterrows()
    )
    excluded = 0 if include_flagged else int(flagged.sum())
    return Leaderboard(language, rows, len(counted), excluded, win_rate_matrix(counted),
                       ratings_are_finite(counted) if rows else True,
                       bool(rows) and is_provisional(len(counted), [row.battles for row in rows]),
                       rounds, seed, confidence)


def leaderboards_by_language(battles: pd.DataFrame, *, include_flagged: bool = False,
                             rounds: int = DEFAULT_ROUNDS, seed: int = 0,
                             confidence: float = 0.95) -> dict[str, Leaderboard]:
    """{"all", "ar", "en", "mixed"} -> Leaderboard; a language with no battles has no rows."""
    return {language: build_leaderboard(battles, language, include_flagged=include_flagged,
                                        rounds=rounds, seed=seed, confidence=confidence)
            for language in LANGUAGE_VIEWS}


def store_leaderboards(store, study: str | None = None, *, include_flagged: bool = False,
                       rounds: int = DEFAULT_ROUNDS, seed: int = 0,
                       confidence: float = 0.95) -> dict[str, Leaderboard]:
    """`leaderboards_by_language` over the votes in the store (one study, or all)."""
    from arena.records import battles_frame, load_votes

    battles = battles_frame(load_votes(store, study, include_flagged=True))
    return leaderboards_by_language(battles, include_flagged=include_flagged, rounds=rounds,
                                    seed=seed, confidence=confidence)
