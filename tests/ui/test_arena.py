"""The arena behind its tabs: rounds, side-by-side streaming, votes in a real SQLite store
(tiny models, so every reply is real generation and fast)."""

import threading

import pytest

from arena import ArenaError, ensure_study, load_votes, open_store, study_progress
from engine.backend import local_tokens
from engine.errors import UserFacingError
from engine.generation import GenerationSettings
from engine.pool import ModelPool, ModelSpec
from tests.engine.test_loading import make_adapter
from ui.arena import ArenaHandlers
from ui.arena_round import ArenaConfig, ArenaRound, contestants, split_contestant
from engine.reply import ReplyOptions

SHORT = ReplyOptions(settings=GenerationSettings(temperature=0, max_new_tokens=4, repetition_penalty=1.0))


@pytest.fixture(scope="module")
def pool(tiny_dirs, tmp_path_factory):
    llama = tiny_dirs("llama")
    adapter = make_adapter(llama, tmp_path_factory.mktemp("adapters") / "kind", seed=3)
    return ModelPool([ModelSpec(str(llama), (str(adapter),)), ModelSpec(str(tiny_dirs("gemma")))])


@pytest.fixture
def store(tmp_path):
    return open_store(str(tmp_path / "arena.db"))


def joined(pool, store, **config) -> ArenaRound:
    config = ArenaConfig(**config)
    ensure_study(store, config.study, access_code=config.access_code)
    arena = ArenaRound(pool, store, config, local_tokens)
    arena.join("Dr Sara", config.access_code)
    return arena


def finish(arena, text="What is anemia?"):
    for _ in arena.send(text, [], SHORT):
        pass


def test_contestants_are_every_model_bare_and_with_each_adapter(pool, tiny_dirs):
    llama, gemma = str(tiny_dirs("llama")), str(tiny_dirs("gemma"))
    assert contestants(pool) == [llama, f"{llama}:kind", gemma]
    assert contestants(pool, ["b", "a", "b"]) == ["b", "a"]
    assert split_contestant(pool, f"{llama}:kind") == (llama, "kind")
    with pytest.raises(UserFacingError):
        split_contestant(pool, "nobody:kind")


def test_a_round_streams_both_sides_and_votes_only_once_both_replied(pool, store):
    arena = joined(pool, store)
    assert not arena.can_vote
    a, b = arena.sides
    ticks = 0
    for _ in arena.send("ما هو فقر الدم؟", [], SHORT):
        ticks += 1
        assert not arena.can_vote or (a.pending is None and b.pending is None)
    assert ticks >= 2 and arena.can_vote
    for side in arena.sides:
        assert [m.role for m in side.messages] == ["user", "assistant"]
        assert side.messages[0].content == "ما هو فقر الدم؟"
    receipt = arena.vote("model_a", "clearer", "ar")
    assert {receipt.model_a, receipt.model_b} == {arena.battle.model_a, arena.battle.model_b}
    with pytest.raises(ArenaError) as again:
        arena.vote("model_b", None, None)
    assert again.value.code == "already_voted"
    (stored,) = load_votes(store, "default")
    assert stored.winner == "model_a" and stored.reason == "clearer" and stored.rater_language == "ar"
    assert stored.transcript_a[0]["content"] == "ما هو فقر الدم؟" and stored.conversation_language == "ar"
    assert stored.generation_settings["max_new_tokens"] == 4


def test_sides_and_pairs_are_drawn_at_random_per_round(pool, store):
    arena = joined(pool, store)
    seen = set()
    for _ in range(30):
        seen.add((arena.battle.model_a, arena.battle.model_b))
        arena.new_round()
    assert len(seen) >= 4  # 3 contestants: 6 ordered pairs
    assert all(a != b for a, b in seen)
    (progress,) = study_progress(store, "default")
    assert progress.battles_started == 31 and progress.votes == 0


def test_two_adapters_of_one_model_each_answer_with_their_own(pool, store, tiny_dirs):
    llama = str(tiny_dirs("llama"))
    arena = joined(pool, store, contestants=(llama, f"{llama}:kind"))
    finish(arena)
    by_id = dict(zip((arena.battle.model_a, arena.battle.model_b), arena.sides))
    assert by_id[llama].options.adapter is None and by_id[f"{llama}:kind"].options.adapter == "kind"
    replies = {side.messages[1].content for side in arena.sides}
    assert len(replies) == 2  # the adapter changes the (greedy) reply


def test_stop_ends_both_replies_and_keeps_what_was_shown(pool, store):
    arena = joined(pool, store)
    long = ReplyOptions(settings=GenerationSettings(temperature=0, max_new_tokens=400, repetition_penalty=1.0))
    stream = arena.send("Tell me everything", [], long)
    next(stream)
    stream.close()
    for side in arena.sides:
        assert side.pending is None and side.messages[-1].role == "assistant"
    assert threading.active_count() < 20 and not any(t.name == "bimedix-generate" for t in threading.enumerate())


def test_a_message_one_side_refuses_is_taken_back_from_both(pool, store, monkeypatch):
    arena = joined(pool, store)
    finish(arena)
    before = [list(side.messages) for side in arena.sides]
    refusing = arena.sides[1]
    monkeypatch.setattr(refusing.session, "send", lambda *a, **k: (_ for _ in ()).throw(
        UserFacingError("prompt_too_long", tokens=9000, budget=100)))
    with pytest.raises(UserFacingError):
        list(arena.send("a second question", [], SHORT))
    assert [side.messages for side in arena.sides] == before
    assert arena.can_vote  # the first exchange still stands


def test_the_study_code_is_checked_and_the_vote_waits_for_replies(pool, store):
    ensure_study(store, "locked", access_code="4711")
    with pytest.raises(ArenaError) as denied:
        ArenaRound(pool, store, ArenaConfig(study="locked", access_code="4711"), local_tokens).join("Ali", "1234")
    assert denied.value.code == "access_denied"
    handlers = ArenaHandlers(pool, store, ArenaConfig(), local_tokens, SHORT)
    _, _, *_, arena = handlers.join("Dr Omar", "", None, "en")
    unchanged = handlers.vote("tie", "", None, arena, "ar")
    assert arena.receipt is None and all(update == {"__type__": "update"} for update in unchanged[:2])
    assert load_votes(store, "default") == []


def test_joining_empties_the_access_code_box_whatever_the_outcome(pool, store):
    handlers = ArenaHandlers(pool, store, ArenaConfig(study="locked", access_code="4711"), local_tokens, SHORT)
    for code in ("1234", "4711"):  # refused, then let in
        outputs = handlers.join("Dr Omar", code, None, "en")
        assert outputs[2] == {"__type__": "update", "value": ""}
    assert outputs[1] == {"__type__": "update", "visible": True}  # the second one joined
