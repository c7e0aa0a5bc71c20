"""Ratings on battle tables whose answer is known: hand-computed cases and synthetic
battles drawn from ground-truth Bradley–Terry strengths."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from arena import (bootstrap_bradley_terry, build_leaderboard, fit_bradley_terry,
                   leaderboards_by_language, online_elo, record_counts, win_rate_matrix)
from arena.leaderboard import MIN_MODEL_BATTLES, MIN_VOTES
from arena.ratings import PRIOR_SD

TRUTH = pd.Series({"bimedix2-8b": 1150.0, "bimedix-bi": 1050.0, "card:adapter": 950.0, "preview": 850.0})


def battles(rows) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["model_a", "model_b", "winner"])
    frame["language"], frame["flagged_leak"] = "en", False
    return frame


def synthetic(n: int, seed: int, truth: pd.Series = TRUTH) -> pd.DataFrame:
    """Battles between random pairs; outcomes drawn with P(A wins) from the truth."""
    rng = np.random.default_rng(seed)
    models, rows = list(truth.index), []
    for _ in range(n):
        a, b = rng.choice(models, 2, replace=False)
        p_a = 1 / (1 + 10 ** ((truth[b] - truth[a]) / 400))
        rows.append((a, b, "model_a" if rng.random() < p_a else "model_b"))
    frame = battles(rows)
    frame["language"] = rng.choice(["ar", "en", "mixed"], n)
    return frame


def test_two_models_ties_count_as_half_wins():
    # x beats y twice, loses once, ties twice (one of them "both bad"):
    # x scores 2 + 2 * 0.5 = 3 of 5, so P(x beats y) = 3/5 and R_x - R_y = 400 log10(3/2).
    # That closed form is the maximum-likelihood gap, so this checks the unregularised fit
    # (prior_sd=None); the default fit's prior pulls five votes' gap towards 0 (below).
    table = battles([("x", "y", "model_a"), ("y", "x", "model_b"), ("x", "y", "model_b"),
                     ("y", "x", "tie"), ("x", "y", "both_bad")])
    ratings = fit_bradley_terry(table, prior_sd=None)
    assert ratings["x"] - ratings["y"] == pytest.approx(400 * math.log10(1.5), abs=1e-3)
    assert ratings.mean() == pytest.approx(1000)
    without_ties = fit_bradley_terry(table.iloc[:3], prior_sd=None)  # 2 of 3: a different, larger gap
    assert without_ties["x"] - without_ties["y"] == pytest.approx(400 * math.log10(2), abs=1e-3)
    shrunk = fit_bradley_terry(table)
    assert 0 < shrunk["x"] - shrunk["y"] < ratings["x"] - ratings["y"] and shrunk.mean() == pytest.approx(1000)


def test_one_vote_gives_modest_ratings_and_real_intervals():
    one = battles([("x", "y", "model_a")])
    # The maximum-likelihood fit runs off to the optimiser's limit: what the tab showed.
    unbounded = fit_bradley_terry(one, prior_sd=None)
    assert unbounded["x"] - unbounded["y"] > 2000
    # The prior's posterior mode: 1070.7 / 929.3 for PRIOR_SD = 200 (see arena/ratings.py).
    ratings = fit_bradley_terry(one)
    assert np.isfinite(ratings).all() and ratings.mean() == pytest.approx(1000)
    assert 20 < ratings["x"] - 1000 < 150 and ratings["x"] - 1000 == pytest.approx(1000 - ratings["y"])
    # Every resample of one vote is that vote: the bootstrap alone gives a zero-width
    # interval, the posterior does not (about ±220 here), and the rating sits inside it.
    table = bootstrap_bradley_terry(one, rounds=50, seed=0)
    width = table["upper"] - table["lower"]
    assert (width > 100).all() and (width < 4 * PRIOR_SD).all()
    assert ((table["lower"] < table["rating"]) & (table["rating"] < table["upper"])).all()
    assert table.loc["y", "upper"] > table.loc["x", "lower"]  # one vote does not separate them
    plain = bootstrap_bradley_terry(one, rounds=50, seed=0, prior_sd=None)
    assert (plain["upper"] - plain["lower"] == 0).all()  # the bug the prior mends
    assert (bootstrap_bradley_terry(one, rounds=0)["lower"] == table["lower"]).all()  # the posterior alone


def test_large_samples_agree_with_the_unregularised_fit():
    table = synthetic(4000, seed=4)
    regularised, plain = fit_bradley_terry(table), fit_bradley_terry(table, prior_sd=None)
    assert (regularised - plain).abs().max() < 2  # points: the prior is outweighed
    with_prior = bootstrap_bradley_terry(table, rounds=60, seed=1)
    without = bootstrap_bradley_terry(table, rounds=60, seed=1, prior_sd=None)
    assert (with_prior["rating"] - without["rating"]).abs().max() < 2
    for bound in ("lower", "upper"):  # the posterior's interval is about the bootstrap's here
        assert (with_prior[bound] - without[bound]).abs().max() < 10


def test_only_ties_means_equal_ratings():
    ratings = fit_bradley_terry(battles([("x", "y", "tie"), ("y", "x", "both_bad")]))
    assert ratings["x"] == pytest.approx(ratings["y"], abs=1e-6)


def test_recovered_ordering_and_gaps_match_the_truth():
    ratings = fit_bradley_terry(synthetic(3000, seed=1))
    assert list(ratings.sort_values(ascending=False).index) == list(TRUTH.index)
    assert (ratings - TRUTH.reindex(ratings.index)).abs().max() < 40  # truth is centred on 1000 too


def test_bootstrap_intervals_contain_the_truth_in_most_studies():
    covered = total = 0
    for seed in range(8):
        table = bootstrap_bradley_terry(synthetic(500, seed), rounds=150, seed=seed)
        assert (table["lower"] <= table["rating"]).all() and (table["rating"] <= table["upper"]).all()
        truth = TRUTH.reindex(table.index)
        covered += ((table["lower"] <= truth) & (truth <= table["upper"])).sum()
        total += len(TRUTH)
    assert covered / total >= 0.85  # nominal 95%


def test_bootstrap_is_deterministic_for_a_seed_and_narrows_with_more_battles():
    table = synthetic(400, seed=3)
    first = bootstrap_bradley_terry(table, rounds=50, seed=11)
    pd.testing.assert_frame_equal(first, bootstrap_bradley_terry(table, rounds=50, seed=11))
    assert not first.equals(bootstrap_bradley_terry(table, rounds=50, seed=12))
    wide = (first["upper"] - first["lower"]).mean()
    big = bootstrap_bradley_terry(synthetic(4000, seed=3), rounds=50, seed=11)
    assert (big["upper"] - big["lower"]).mean() < wide / 2


def test_online_elo_matches_a_hand_computed_update():
    # Start at 1000 each: expected 0.5, so A's win moves both by K * 0.5 = 2 points.
    first = online_elo(battles([("x", "y", "model_a")]))
    assert (first["x"], first["y"]) == (pytest.approx(1002), pytest.approx(998))
    # Then a tie with y as A: expected_y = 1 / (1 + 10 ** (4 / 400)).
    expected_y = 1 / (1 + 10 ** (4 / 400))
    second = online_elo(battles([("x", "y", "model_a"), ("y", "x", "tie")]))
    assert second["y"] == pytest.approx(998 + 4 * (0.5 - expected_y))
    assert second.sum() == pytest.approx(2000)  # Elo is zero-sum


def test_online_elo_orders_a_long_synthetic_run_like_the_truth():
    elo = online_elo(synthetic(4000, seed=5))
    assert list(elo.sort_values(ascending=False).index) == list(TRUTH.index)


def test_win_rate_matrix_counts_outright_wins_over_all_meetings():
    table = battles([("x", "y", "model_a"), ("y", "x", "model_a"), ("x", "y", "tie"),
                     ("x", "y", "model_a"), ("x", "z", "both_bad")])
    matrix = win_rate_matrix(table)
    assert matrix.loc["x", "y"] == pytest.approx(2 / 4) and matrix.loc["y", "x"] == pytest.approx(1 / 4)
    assert matrix.loc["x", "z"] == 0 and np.isnan(matrix.loc["y", "z"]) and np.isnan(matrix.loc["x", "x"])
    counts = record_counts(table)
    assert counts.loc["x"].tolist() == [5, 2, 2, 1]  # battles, wins, ties, losses
    assert counts.loc["z"].tolist() == [1, 0, 1, 0]


def test_unknown_winner_values_are_rejected():
    with pytest.raises(ValueError, match="unknown winner"):
        fit_bradley_terry(battles([("x", "y", "A")]))


def test_leaderboard_rows_ranks_and_language_views():
    table = synthetic(1500, seed=7)
    table.loc[table.index[:100], "flagged_leak"] = True
    table.loc[table.index[:100], "winner"] = "model_b"  # flagged votes must not count
    boards = leaderboards_by_language(table, rounds=100, seed=0)
    assert set(boards) == {"all", "ar", "en", "mixed"}
    overall = boards["all"]
    assert overall.battles == 1400 and overall.flagged_excluded == 100
    assert [row.model for row in overall.rows] == list(TRUTH.index)
    assert [row.rank for row in overall.rows] == [1, 2, 3, 4]  # intervals clearly apart
    assert sum(board.battles for lang, board in boards.items() if lang != "all") == 1400
    top = overall.rows[0]
    assert top.ci_low <= top.rating <= top.ci_high and top.win_rate == pytest.approx(top.wins / top.battles)
    assert sum(row.battles for row in overall.rows) == 2 * 1400
    frame = overall.to_frame()
    assert list(frame.columns[:5]) == ["rank", "model", "rating", "ci_low", "ci_high"]
    with_flagged = build_leaderboard(table, include_flagged=True, rounds=10)
    assert with_flagged.battles == 1500 and with_flagged.flagged_excluded == 0


def test_models_whose_intervals_overlap_share_a_rank():
    close = pd.Series({"a": 1010.0, "b": 990.0, "c": 800.0})
    board = build_leaderboard(synthetic(200, seed=2, truth=close), rounds=100)
    ranks = {row.model: row.rank for row in board.rows}
    assert ranks["a"] == ranks["b"] == 1 and ranks["c"] == 3


def test_empty_tables_give_empty_boards_not_errors():
    empty = synthetic(0, seed=0)
    board = build_leaderboard(empty, "ar", rounds=10)
    assert board.rows == () and board.battles == 0 and board.to_dict()["rows"] == []
    with pytest.raises(ValueError):
        build_leaderboard(empty, "fr")


def test_small_views_are_provisional():
    pair = [("a", "b", "model_a"), ("b", "a", "model_a")]
    assert build_leaderboard(battles(pair[:1]), rounds=5).provisional  # one vote
    assert build_leaderboard(battles(pair * (MIN_VOTES // 2)), rounds=5).provisional is False
    # Enough votes, but c has been in fewer than MIN_MODEL_BATTLES battles.
    rare = battles(pair * (MIN_VOTES // 2) + [("a", "c", "tie")] * (MIN_MODEL_BATTLES - 1))
    board = build_leaderboard(rare, rounds=5)
    assert board.provisional and board.to_dict()["provisional"] is True
    assert build_leaderboard(synthetic(0, seed=0), rounds=5).provisional is False  # no rows: "no votes yet"


def test_unbounded_ratings_are_detected():
    from arena.ratings import ratings_are_finite

    assert not ratings_are_finite(battles([("a", "b", "model_a")] * 5))  # b never scored
    assert ratings_are_finite(battles([("a", "b", "model_a"), ("a", "b", "tie")]))  # a tie is half a win
    cycle = battles([("a", "b", "model_a"), ("b", "c", "model_a"), ("c", "a", "model_a")])
    assert ratings_are_finite(cycle)
    # a and b beat each other, but c only ever loses to them: c's group never scored.
    assert not ratings_are_finite(battles([("a", "b", "model_a"), ("b", "a", "model_a"), ("c", "a", "model_b")]))
    assert not build_leaderboard(battles([("a", "b", "model_a")] * 5), rounds=5).ratings_finite
    assert build_leaderboard(synthetic(300, seed=1), rounds=5).ratings_finite


def test_a_shared_rank_is_marked_and_a_rank_held_alone_is_not():
    from arena.leaderboard import shared_rank_marks

    assert shared_rank_marks([1, 1, 3]) == ["=1", "=1", "3"]
    assert shared_rank_marks([1, 2, 2, 2]) == ["1", "=2", "=2", "=2"]
    assert shared_rank_marks([]) == []
    # Many lopsided votes: statistically apart, each rank its own.
    board = build_leaderboard(battles([("strong", "weak", "model_a")] * 60), rounds=50)
    assert shared_rank_marks(row.rank for row in board.rows) == ["1", "2"]


def test_the_rating_axis_always_spans_the_prior_and_every_interval():
    from arena.leaderboard import rating_axis
    from arena.ratings import INIT_RATING

    close = build_leaderboard(battles([("a", "b", "model_a"), ("a", "b", "model_b")] * 3), rounds=50)
    assert rating_axis(close) == [INIT_RATING - PRIOR_SD, INIT_RATING + PRIOR_SD]  # not 940..1060
    apart = build_leaderboard(battles([("strong", "weak", "model_a")] * 200), rounds=50)
    low, high = rating_axis(apart)
    assert low <= min(row.ci_low for row in apart.rows) and high >= max(row.ci_high for row in apart.rows)
    assert low < INIT_RATING - PRIOR_SD and low % 50 == 0 and high % 50 == 0
