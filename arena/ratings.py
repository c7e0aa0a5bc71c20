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
- Bradley–Terry is fitted as FastChat does it: a logistic regression (scikit-learn) on a
  design matrix with +log(BASE) for one model and -log(BASE) for the other, weighted by
  the number of (half) wins;
- online Elo replays the votes in order with K=4.

Unlike FastChat's fit, ours is regularised by default: a weak Gaussian prior, each
model's rating N(mean, PRIOR_SD²) with PRIOR_SD = 200 Elo points (an L2 penalty
Σ c_i² / (2C) on the log10-strengths c_i = R_i / SCALE, so C = (PRIOR_SD / SCALE)²), and
the ratings are its posterior mode. Why: the maximum-likelihood ratings exist only when
every group of models has won (or tied) at least once against the rest (Zermelo/Ford's
condition: the "beat or tied" graph is strongly connected). Otherwise, e.g. after one
vote, the optimiser stops at a huge, meaningless rating (one vote gave 2706 and -706).
With the prior one vote moves the two models 71 points each way (1071 / 929); a few
hundred votes outweigh it (500 synthetic battles between four models: within 3 points of
the unregularised fit, 4000: within 0.3). `prior_sd=None` gives the plain maximum-likelihood fit.
`ratings_are_finite` still says whether the votes alone bound the ratings.

Intervals: a percentile bootstrap, widened where the posterior is wider. The bootstrap
only sees the variation among the votes there are: one vote, or any single outcome
repeated, resamples to itself and gives a zero-width interval. So each bound is the
wider of the bootstrap's and the normal (Laplace) approximation of the posterior around
its mode; with many votes the two agree closely.
"""

from __future__ import annotations

import math
import warnings
from statistics import NormalDist

import numpy as np
import pandas as pd
from scipy.sparse.csgraph import connected_components

SCALE, BASE, INIT_RATING, K_FACTOR = 400.0, 10.0, 1000.0, 4.0
# The prior's spread of ratings around their mean, in Elo points (see the module doc): weak
# (two models' gap is within about ±550 a priori, a 96% win rate), yet enough to keep
# a handful of votes from giving ratings thousands of points apart.
PRIOR_SD = 200.0
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


def _wins_matrix(outcomes: np.ndarray, weights: np.ndarray, n_models: int) -> np.ndarray:
    """[i, j]: (half) wins of model i over model j."""
    a, b, score = outcomes[:, 0].astype(int), outcomes[:, 1].astype(int), outcomes[:, 2]
    wins = np.zeros((n_models, n_models))
    np.add.at(wins, (a, b), weights * score)
    np.add.at(wins, (b, a), weights * (1 - score))
    return wins


def _inverse_prior_variance(prior_sd: float | None, scale: float) -> float:
    """1/C of the L2 penalty Σ c² / (2C) on the coefficients c = R / scale (0: no prior)."""
    return (scale / prior_sd) ** 2 if prior_sd else 0.0


def _fit_weighted(outcomes: np.ndarray, weights: np.ndarray, n_models: int,
                  scale: float, base: float, init: float, prior_sd: float | None) -> np.ndarray:
    """Bradley–Terry ratings from outcome rows and their (possibly resampled) counts: the
    posterior mode under the prior, or the maximum-likelihood fit when `prior_sd` is None."""
    # Imported here: scikit-learn takes ~1.5 s to import, and processes that only store
    # votes (the app at start-up, vote writers) never fit ratings.
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    wins = _wins_matrix(outcomes, weights, n_models)
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
    # scikit-learn minimises Σ weight · log-loss + |c|² / (2C): C is the prior's variance of c.
    inverse_c = _inverse_prior_variance(prior_sd, scale)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # unpenalised perfect records: see module doc
        fit = LogisticRegression(fit_intercept=False, C=1 / inverse_c if inverse_c else np.inf,
                                 tol=1e-8, max_iter=1000)
        fit.fit(design, target, sample_weight=sample_weight)
    seen = played.sum(axis=1) > 0
    coef = fit.coef_[0]
    # Only differences are identified; centre the models that played on `init`.
    ratings[seen] = scale * (coef[seen] - coef[seen].mean()) + init
    return ratings


def _posterior_sd(outcomes: np.ndarray, counts: np.ndarray, rating: np.ndarray, scale: float,
                  base: float, prior_sd: float) -> np.ndarray:
    """Each centred rating's standard deviation under the normal (Laplace) approximation
    of the posterior at its mode `rating`: the inverse of the penalised log-likelihood's
    curvature, Σ n_ij p_ij (1 - p_ij) log(base)² over the pairs plus 1/C per model."""
    seen = np.flatnonzero(~np.isnan(rating))
    spread = np.full(len(rating), np.nan)
    if not seen.size:
        return spread
    wins = _wins_matrix(outcomes, counts, len(rating))[np.ix_(seen, seen)]
    strength = rating[seen] / scale
    p = 1 / (1 + base ** (strength[None, :] - strength[:, None]))  # p[i, j]: P(i beats j)
    weight = (wins + wins.T) * p * (1 - p) * math.log(base) ** 2
    hessian = np.diag(weight.sum(axis=1)) - weight + np.eye(len(seen)) * _inverse_prior_variance(prior_sd, scale)
    centre = np.eye(len(seen)) - 1 / len(seen)  # the ratings shown are centred on their mean
    covariance = centre @ np.linalg.inv(hessian) @ centre
    spread[seen] = scale * np.sqrt(np.clip(np.diag(covariance), 0, None))
    return spread


def fit_bradley_terry(battles: pd.DataFrame, scale: float = SCALE, base: float = BASE,
                      init: float = INIT_RATING, prior_sd: float | None = PRIOR_SD) -> pd.Series:
    """Bradley–Terry ratings, one per model (index: model id): the posterior mode under
    the weak prior (see the module doc), or with `prior_sd=None` the maximum likelihood."""
    models = models_of(battles)
    if not models:
        return pd.Series(dtype=float)
    outcomes, counts = _outcome_table(battles, models)
    with _one_blas_thread():
        return pd.Series(_fit_weighted(outcomes, counts, len(models), scale, base, init, prior_sd), index=models)


def bootstrap_bradley_terry(battles: pd.DataFrame, rounds: int = 1000, seed: int = 0,
                            confidence: float = 0.95, scale: float = SCALE, base: float = BASE,
                            init: float = INIT_RATING, prior_sd: float | None = PRIOR_SD) -> pd.DataFrame:
    """Ratings with intervals: columns rating, lower, upper.

    Each round resamples the battles with replacement (drawn as multinomial counts over
    the distinct outcomes: the same distribution as resampling rows, far fewer to fit)
    and refits; the percentile interval is then widened to the posterior's normal
    approximation where that is wider (module doc), which alone gives the interval when
    `rounds` is 0. Without a prior (`prior_sd=None`): the bootstrap alone, as FastChat.
    Same battles + same seed -> same intervals.
    """
    if not 0 < confidence < 1:
        raise ValueError("confidence must be between 0 and 1")
    models = models_of(battles)
    if not models:
        return pd.DataFrame(columns=["rating", "lower", "upper"], dtype=float)
    outcomes, counts = _outcome_table(battles, models)
    rng = np.random.default_rng(seed)
    fit = lambda weights: _fit_weighted(outcomes, weights, len(models), scale, base, init, prior_sd)  # noqa: E731
    with _one_blas_thread():
        samples = np.array([fit(rng.multinomial(int(counts.sum()), counts / counts.sum()).astype(float))
                            for _ in range(rounds)]).reshape(rounds, len(models))
        rating = fit(counts)
    tail = (1 - confidence) / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a model absent from every resample
        lower, upper = np.nanquantile(samples, [tail, 1 - tail], axis=0) if rounds else (np.nan, np.nan)
    if prior_sd:
        spread = NormalDist().inv_cdf(1 - tail) * _posterior_sd(outcomes, counts, rating, scale, base, prior_sd)
        lower, upper = np.fmin(lower, rating - spread), np.fmax(upper, rating + spread)  # fmin: NaN loses
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
