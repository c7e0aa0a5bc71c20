"""Ratings from battles: Bradley–Terry (with bootstrap intervals), online Elo, win rates.

Input everywhere is a battle table (pandas DataFrame) with columns `model_a`, `model_b`
and `winner` in {"model_a", "model_b", "tie", "both_bad"}, in voting order; see
`arena.records.battles_frame`.

Conventions follow FastChat's Chatbot Arena (fastchat/serve/monitor/elo_analysis.py):
- ratings on the Elo scale: P(i beats j) = 1 / (1 + BASE ** ((R_j - R_i) / SCALE)) with
  SCALE=400, BASE=10, and ratings centred on INIT_RATING=1000 (mean of the models);
- a tie is half a win for each side, and "both bad" is a tie (FastChat's
  "tie (bothbad)"): both models failed the rater equally, which says nothing about
  which is better;
- Bradley–Terry is the maximum-likelihood fit of that model, done as FastChat does it:
  an unpenalised logistic regression (scikit-learn) on a design matrix with +log(BASE)
  for one model and -log(BASE) for the other, weighted by the number of (half) wins;
- online Elo replays the votes in order with K=4.

The maximum-likelihood ratings exist only when every group of models has won (or tied)
at least once against the rest (Zermelo/Ford's condition: the "beat or tied" graph is
strongly connected). Otherwise, e.g. a model that never lost, the optimiser stops at a
huge, meaningless rating; `ratings_are_finite` tells, so the UI can say "more votes needed".
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy.sparse.csgraph import connected_components

SCALE, BASE, INIT_RATING, K_FACTOR = 400.0, 10.0, 1000.0, 4.0
# Score of model_a in each outcome.
OUTCOME_SCORE = {"model_a": 1.0, "model_b": 0.0, "tie": 0.5, "both_bad": 0.5}


def _check_winners(battles: pd.DataFrame) -> None:
    unknown = set(battles["winner"]) - set(OUTCOME_SCORE)
    if unknown:
        raise ValueError(f"unknown winner value(s) {sorted(unknown)}; expected {sorted(OUTCOME_SCORE)}")


def models_of(battles: pd.DataFrame) -> list[str]:
    return sorted(set(battles["model_a"]) | set(battles["model_b"]))


def _outcome_table(battles: pd.DataFrame, models: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (index of A, index of B, score of A) outcomes and how often each occurred."""
    _check_winners(battles)
    position = {m: i for i, m in enumerate(models)}
    keys = np.column_stack([battles["model_a"].map(position).to_numpy(dtype=float),
                            battles["model_b"].map(position).to_numpy(dtype=float),
                            battles["winner"].map(OUTCOME_SCORE).to_numpy(dtype=float)])
    outcomes, counts = np.unique(keys, axis=0, return_counts=True)
    return outcomes, counts.astype(float)


def _one_blas_thread():
    """These fits are tiny: a BLAS thread pool only adds start-up and contention, which made
    150 bootstrap rounds take 8 s instead of 0.6 s on a shared 2-core machine."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def _fit_weighted(outcomes: np.ndarray, weights: np.ndarray, n_models: int,
                  scale: float, base: float, init: float) -> np.ndarray:
    """Bradley–Terry ratings from outcome rows and their (possibly resampled) counts."""
    # Imported here: scikit-learn takes ~1.5 s to import, and processes that only store
    # votes (the app at start-up, vote writers) never fit ratings.
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    a, b, score = outcomes[:, 0].astype(int), outcomes[:, 1].astype(int), outcomes[:, 2]
    wins = np.zeros((n_models, n_models))  # wins[i, j]: (half) wins of i over j
    np.add.at(wins, (a, b), weights * score)
    np.add.at(wins, (b, a), weights * (1 - score))
    played = wins + wins.T
    pairs = [(i, j) for i in range(n_models) for j in range(i + 1, n_models) if played[i, j] > 0]
    ratings = np.full(n_models, np.nan)
    if not pairs:
        return ratings
    design = np.zeros((2 * len(pairs), n_models))
    target, sample_weight = np.tile([1, 0], len(pairs)), np.zeros(2 * len(pairs))
    for row, (i, j) in enumerate(pairs):
        design[2 * row: 2 * row + 2, i], design[2 * row: 2 * row + 2, j] = math.log(base), -math.log(base)
        sample_weight[2 * row], sample_weight[2 * row + 1] = wins[i, j], wins[j, i]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # perfect records: see module doc
        fit = LogisticRegression(fit_intercept=False, C=np.inf, tol=1e-8, max_iter=1000)
        fit.fit(design, target, sample_weight=sample_weight)
    seen = played.sum(axis=1) > 0
    coef = fit.coef_[0]
    # Only differences are identified; centre the models that played on `init`.
    ratings[seen] = scale * (coef[seen] - coef[seen].mean()) + init
    return ratings


def fit_bradley_terry(battles: pd.DataFrame, scale: float = SCALE, base: float = BASE,
                      init: float = INIT_RATING) -> pd.Series:
    """Maximum-likelihood Bradley–Terry ratings, one per model (index: model id)."""
    models = models_of(battles)
    if not models:
        return pd.Series(dtype=float)
    outcomes, counts = _outcome_table(battles, models)
    with _one_blas_thread():
        return pd.Series(_fit_weighted(outcomes, counts, len(models), scale, base, init), index=models)


def bootstrap_bradley_terry(battles: pd.DataFrame, rounds: int = 1000, seed: int = 0,
                            confidence: float = 0.95, scale: float = SCALE, base: float = BASE,
                            init: float = INIT_RATING) -> pd.DataFrame:
    """Ratings with percentile bootstrap intervals: columns rating, lower, upper.

    Each round resamples the battles with replacement (drawn as multinomial counts over
    the distinct outcomes: the same distribution as resampling rows, far fewer to fit)
    and refits. Same battles + same seed -> same intervals.
    """
    if not 0 < confidence < 1:
        raise ValueError("confidence must be between 0 and 1")
    models = models_of(battles)
    if not models:
        return pd.DataFrame(columns=["rating", "lower", "upper"], dtype=float)
    outcomes, counts = _outcome_table(battles, models)
    rng = np.random.default_rng(seed)
    with _one_blas_thread():
        samples = np.array([
            _fit_weighted(outcomes, rng.multinomial(int(counts.sum()), counts / counts.sum()).astype(float),
                          len(models), scale, base, init)
            for _ in range(rounds)
        ]).reshape(rounds, len(models))
        rating = _fit_weighted(outcomes, counts, len(models), scale, base, init)
    tail = (1 - confidence) / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a model absent from every resample
        lower, upper = np.nanquantile(samples, [tail, 1 - tail], axis=0) if rounds else (np.nan, np.nan)
    return pd.DataFrame({"rating": rating, "lower": lower, "upper": upper}, index=models)


def ratings_are_finite(battles: pd.DataFrame) -> bool:
    """True when the Bradley–Terry maximum-likelihood ratings exist (see the module doc)."""
    models = models_of(battles)
    if len(models) < 2:
        return bool(models)
    outcomes, counts = _outcome_table(battles, models)
    a, b, score = outcomes[:, 0].astype(int), outcomes[:, 1].astype(int), outcomes[:, 2]
    beat = np.zeros((len(models), len(models)))
    np.add.at(beat, (a, b), counts * score)  # an edge i -> j: i scored against j
    np.add.at(beat, (b, a), counts * (1 - score))
    components, _ = connected_components(beat > 0, directed=True, connection="strong")
    return components == 1


def online_elo(battles: pd.DataFrame, k: float = K_FACTOR, scale: float = SCALE,
               base: float = BASE, init: float = INIT_RATING) -> pd.Series:
    """Classic Elo updated vote by vote, in the table's order (FastChat's compute_elo)."""
    _check_winners(battles)
    rating = {model: init for model in models_of(battles)}
    for model_a, model_b, winner in battles[["model_a", "model_b", "winner"]].itertuples(index=False):
        expected_a = 1 / (1 + base ** ((rating[model_b] - rating[model_a]) / scale))
        change = k * (OUTCOME_SCORE[winner] - expected_a)
        rating[model_a] += change
        rating[model_b] -= change
    return pd.Series(rating, dtype=float)


def win_rate_matrix(battles: pd.DataFrame) -> pd.DataFrame:
    """[row, column]: share of the row model's battles against the column model it won.

    Outright wins only, over all their battles including ties (as FastChat's
    compute_pairwise_win_fraction): row+column entries sum to 1 minus the tie share.
    NaN where two models never met, and on the diagonal.
    """
    _check_winners(battles)
    models = models_of(battles)
    wins = pd.DataFrame(0.0, index=models, columns=models)
    games = wins.copy()
    for model_a, model_b, winner in battles[["model_a", "model_b", "winner"]].itertuples(index=False):
        games.loc[model_a, model_b] += 1
        games.loc[model_b, model_a] += 1
        if winner == "model_a":
            wins.loc[model_a, model_b] += 1
        elif winner == "model_b":
            wins.loc[model_b, model_a] += 1
    return wins / games.where(games > 0)


def record_counts(battles: pd.DataFrame) -> pd.DataFrame:
    """Per model: battles, wins, ties (both_bad included), losses."""
    _check_winners(battles)
    rows = []
    for side, other in (("model_a", "model_b"), ("model_b", "model_a")):
        rows.append(pd.DataFrame({"model": battles[side],
                                  "wins": battles["winner"].eq(side).astype(int),
                                  "losses": battles["winner"].eq(other).astype(int),
                                  "ties": battles["winner"].isin(["tie", "both_bad"]).astype(int)}))
    table = pd.concat(rows).groupby("model")[["wins", "ties", "losses"]].sum() if len(battles) else \
        pd.DataFrame(columns=["wins", "ties", "losses"], dtype=int)
    table.insert(0, "battles", table.sum(axis=1))
    return table
