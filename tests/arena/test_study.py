"""Studies, access codes, raters, pairing and the admin progress view."""

from __future__ import annotations

import itertools
import random
from collections import Counter

import pytest
from scipy.stats import chisquare
from sqlalchemy import text

from arena import (ArenaError, draw_pair, ensure_study, get_study, join_study, list_studies,
                   record_vote, set_access_code, start_battle, study_progress, verify_access_code)
from arena.access import check_access_code, hash_access_code
from tests.arena.conftest import MODELS, transcript


def test_access_codes_are_stored_salted_and_hashed(store):
    ensure_study(store, "locked", access_code="4711")
    with store.read() as session:
        stored = session.execute(text("SELECT access_code_hash FROM arena_studies WHERE name = 'locked'")).scalar()
    assert "4711" not in stored and stored.startswith("scrypt$")
    assert hash_access_code("4711") != hash_access_code("4711")  # a fresh salt each time
    assert verify_access_code(store, "locked", "4711")
    assert verify_access_code(store, "locked", " ٤٧١١ ")  # Arabic-Indic digits, stray spaces
    assert not verify_access_code(store, "locked", "4712")
    assert not verify_access_code(store, "locked", None)
    assert not check_access_code("", stored)


def test_open_studies_accept_anyone_and_codes_can_be_set_later(store):
    ensure_study(store, "open")
    assert verify_access_code(store, "open", None) and not get_study(store, "open").has_access_code
    set_access_code(store, "open", "abc")
    assert not verify_access_code(store, "open", None) and verify_access_code(store, "open", "abc")
    ensure_study(store, "open", access_code="xyz")  # the configuration wins
    assert verify_access_code(store, "open", "xyz") and not verify_access_code(store, "open", "abc")
    ensure_study(store, "open")  # no code given: the existing one stays
    assert get_study(store, "open").has_access_code
    set_access_code(store, "open", None)
    assert verify_access_code(store, "open", "anything")
    assert [s.name for s in list_studies(store)] == ["open"]


def test_joining_needs_the_code_and_a_sensible_name(store):
    ensure_study(store, "s", access_code="1234")
    with pytest.raises(ArenaError) as denied:
        join_study(store, "s", "Dr Sara", access_code="9999")
    assert denied.value.code == "access_denied"
    for bad in ("", "   ", "\u200f\n", "x" * 65):
        with pytest.raises(ArenaError) as invalid:
            join_study(store, "s", bad, access_code="1234")
        assert invalid.value.code == "rater_name_invalid"
    with pytest.raises(ArenaError) as missing:
        join_study(store, "nope", "Dr Sara")
    assert missing.value.code == "study_not_found"


def test_joining_again_with_the_same_name_returns_the_same_rater(store):
    ensure_study(store, "s")
    first = join_study(store, "s", "  د. سارة  Ali ")
    again = join_study(store, "s", "د. سارة ali")
    other = join_study(store, "s", "Dr Omar")
    assert again.id == first.id and first.display_name == "د. سارة Ali"
    assert other.id != first.id
    ensure_study(store, "t")
    assert join_study(store, "t", "د. سارة Ali").id != first.id  # names are per study


def test_draw_pair_gives_two_distinct_models_with_sides_randomized():
    rng = random.Random(0)
    pairs = [draw_pair(MODELS + ["bimedix-bi"], rng) for _ in range(6000)]  # duplicate counts once
    assert all(p.model_a != p.model_b for p in pairs)
    unordered = Counter(frozenset((p.model_a, p.model_b)) for p in pairs)
    assert set(unordered) == {frozenset(c) for c in itertools.combinations(MODELS, 2)}
    assert chisquare(list(unordered.values())).pvalue > 0.001  # uniform over the 3 pairs
    ordered = Counter((p.model_a, p.model_b) for p in pairs)
    assert len(ordered) == 6 and chisquare(list(ordered.values())).pvalue > 0.001  # fair sides


def test_draw_pair_is_reproducible_with_a_seed_and_rejects_too_few_models():
    first = [draw_pair(MODELS, random.Random(42)) for _ in range(3)]
    assert first == [draw_pair(MODELS, 42)] * 3
    seeded = random.Random(9)
    run_a = [draw_pair(MODELS, seeded) for _ in range(20)]
    seeded = random.Random(9)
    assert run_a == [draw_pair(MODELS, seeded) for _ in range(20)]
    assert len(set(run_a)) > 1
    for models in (["only"], ["same", "same"], []):
        with pytest.raises(ArenaError) as few:
            draw_pair(models)
        assert few.value.code == "too_few_models"
    with pytest.raises(ValueError):
        draw_pair(["a", ""])


def test_start_battle_needs_a_known_rater(store, rater):
    from dataclasses import replace

    with pytest.raises(ArenaError) as unknown:
        start_battle(store, replace(rater, id=999), MODELS)
    assert unknown.value.code == "rater_not_found"


def test_study_progress_counts_battles_votes_and_flags_per_rater(store, rater):
    other = join_study(store, "pilot", "Dr Omar")
    battles = [start_battle(store, rater, MODELS, rng=i) for i in range(3)]
    record_vote(store, battles[0].id, rater, "model_a", transcript(), transcript())
    record_vote(store, battles[1].id, rater, "tie", transcript(), transcript(reply="I am ChatGPT."))
    progress = {p.display_name: p for p in study_progress(store, "pilot")}
    sara, omar = progress["Dr Sara"], progress["Dr Omar"]
    assert (sara.battles_started, sara.votes, sara.flagged_votes, sara.unfinished) == (3, 2, 1, 1)
    assert (omar.battles_started, omar.votes, omar.flagged_votes) == (0, 0, 0)
    assert omar.last_activity == omar.joined_at
    assert sara.last_activity >= battles[2].started_at
    start_battle(store, other, MODELS)
    assert study_progress(store, "pilot")[0].display_name == "Dr Omar"  # most recent first
