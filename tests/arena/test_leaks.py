"""Identity-leak detection: names of models and vendors in replies, English and Arabic."""

from __future__ import annotations

import pytest

from arena import find_identity_leaks, load_votes, record_vote, store_leaderboards
from arena.leaks import model_id_spellings
from tests.arena.conftest import MODELS, transcript


def _names(reply: str, models=MODELS) -> tuple[str, ...]:
    return find_identity_leaks({"A": [reply]}, models).names


@pytest.mark.parametrize("reply, label", [
    ("I am BiMediX, a medical assistant.", "BiMediX"),
    ("As an AI developed by OpenAI, I cannot diagnose you.", "OpenAI"),
    ("i'm chatgpt", "ChatGPT"),
    ("Based on GPT-4 guidance, rest is advised.", "GPT"),
    ("I was trained by Meta.", "Meta"),
    ("Built on llama 3 by MBZUAI.", "Llama"),
    ("This is Mixtral speaking.", "Mixtral"),
    ("Google's Gemma model here.", "Gemma"),
    ("أنا بايميديكس، مساعد طبي.", "BiMediX"),
    ("تم تطويري بواسطة شركة ميتا.", "Meta"),
    ("أنا مبني على نموذج لاما.", "Llama"),
    ("طورتني شركة وميسترال", "Mistral"),  # the "و" clitic glued on
    ("أنا من تطوير جوجل", "Google"),
    ("Model bimedix2 8b answering.", "bimedix2-8b"),  # a configured id, spaced differently
    ("I run the medqa adapter of card", None),
])
def test_names_of_models_and_vendors_are_found(reply, label):
    names = _names(reply)
    if label is None:
        assert names == ()
    else:
        assert label in names


@pytest.mark.parametrize("reply", [
    "Metabolic syndrome raises cardiovascular risk.",
    "A meta-analysis of 12 trials found no benefit.",
    "Metastatic disease needs oncology review.",
    "The patient's gemmaceous lesion",  # not a word, but not Gemma either
    "Take paracetamol; see a doctor if the pain persists.",
    "وُلد الجنين ميتا بعد الأسبوع الأربعين.",  # "dead", not Meta
    "قال الطبيب كلاما مطمئنا عن التحاليل.",  # "words", not Llama
    "Preview the results before the appointment.",  # "preview" is a card but a plain word
])
def test_ordinary_medical_words_are_not_leaks(reply):
    assert _names(reply, MODELS + ["preview"]) == ()


def test_only_replies_are_searched_and_the_reason_says_where():
    report = find_identity_leaks({"A": ["Rest and fluids."], "B": ["I'm Claude, made by Anthropic."]})
    assert report.flagged and report.names == ("Claude",)
    assert "(B)" in report.reason and "Claude" in report.reason
    assert not find_identity_leaks({"A": ["Rest."], "B": ["Fluids."]}).flagged


def test_model_id_spellings():
    assert model_id_spellings("bimedix2-8b") == ("bimedix2-8b", "bimedix2")
    assert model_id_spellings("openai:m42-health/Med42-8B@http://gpu-box:8000/v1") == (
        "m42-health/Med42-8B", "Med42-8B", "m42-health/Med42", "Med42")
    assert model_id_spellings("bimedix-bi:medqa-lora") == ("bimedix-bi:medqa-lora", "bimedix-bi")
    assert model_id_spellings("preview") == ()


def test_a_remote_contestant_is_found_by_its_servers_model_name():
    report = find_identity_leaks({"A": ["I am Med42, trained by M42."], "B": ["Rest and drink water."]},
                                 ["openai:med42-8b@http://gpu-box:8000/v1", "preview"])
    assert report.flagged and "'Med42' (A)" in report.reason
    assert not find_identity_leaks({"A": ["Take 8000 steps a day."], "B": ["ok"]},
                                   ["openai:med42-8b@http://gpu-box:8000/v1"]).flagged


def test_a_leaking_battle_is_stored_flagged_and_left_out_of_ratings(store, rater, battle):
    from arena import start_battle

    question = [{"role": "user", "content": "Are you ChatGPT?"}]
    leaking = question + [{"role": "assistant", "content": "No, I am BiMediX."}]
    receipt = record_vote(store, battle.id, rater, "model_b", transcript(), leaking)
    assert receipt.flagged_leak and "BiMediX" in receipt.leak_reason
    clean = start_battle(store, rater, MODELS, rng=1)
    asked = question + [{"role": "assistant", "content": "I am a medical assistant."}]
    assert not record_vote(store, clean.id, rater, "model_a", asked, transcript()).flagged_leak

    (stored,) = [v for v in load_votes(store) if v.flagged_leak]
    assert stored.battle_id == battle.id and "BiMediX" in stored.leak_reason
    default = store_leaderboards(store, rounds=5)["all"]
    assert (default.battles, default.flagged_excluded) == (1, 1)
    assert store_leaderboards(store, rounds=5, include_flagged=True)["all"].battles == 2
