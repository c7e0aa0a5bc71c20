"""The arena behind its tabs: rounds, side-by-side streaming, votes in a real SQLite store
(tiny models, so every reply is real generation and fast)."""

import logging
import re
import threading
from types import SimpleNamespace

import pytest
from gradio.helpers import special_args

from arena import (AttemptLimiter, ArenaError, LimitPolicy, create_rater, ensure_study, load_votes,
                   study_progress)
from engine.backend import local_tokens
from engine.errors import UserFacingError
from engine.generation import GenerationSettings
from ui.arena import ArenaHandlers
from ui.arena_round import ArenaConfig, ArenaRound, contestants, split_contestant
from ui.downloads import Downloads
from ui.leaderboard import LeaderboardHandlers
from engine.reply import ReplyOptions
from tests.arena.conftest import FakeClock
from tests.ui.arena_setup import LONG, SHORT, pool, store  # noqa: F401 (pool, store: fixtures)


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


def test_two_sides_on_one_base_model_stream_together(pool, store, tiny_dirs):
    """One batch (engine/batch.py): each side has text before either has ended. Taking
    turns on the model's one slot, the second side wrote nothing until the first ended."""
    llama = str(tiny_dirs("llama"))
    arena = joined(pool, store, contestants=(llama, f"{llama}:kind"))
    both_writing = False
    for _ in arena.send("Tell me about anemia", [], LONG):
        replies = [side.pending.reply for side in arena.sides]
        both_writing |= all(r.text for r in replies) and not any(r.ended for r in replies)
    assert both_writing and arena.can_vote
    assert arena.batching.last_batched and not arena.takes_turns


def holding_back(adapter: str, hold: dict):
    """A token backend on which the side with `adapter` writes nothing until it is stopped
    (as a side still waiting for its turn does), while `hold["on"]`."""
    def backend(request, stop):  # a generator, as backends are: nothing runs before it is read
        if hold["on"] and request.adapter == adapter:
            while not stop.is_set():
                threading.Event().wait(0.01)
            return
        yield from local_tokens(request, stop)
    return backend


def test_stop_before_a_side_wrote_anything_leaves_a_battle_that_can_go_on(pool, store, tiny_dirs):
    """Stop while A streams and B has written nothing: the exchange is taken back from both
    sides (the message goes back into the box), the vote buttons are off, as the store
    would refuse a vote; a new message then works, and a tie is taken."""
    llama = str(tiny_dirs("llama"))
    hold = {"on": True}
    handlers = ArenaHandlers(pool, store, ArenaConfig(contestants=(llama, f"{llama}:kind")),
                             holding_back("kind", hold), LONG)
    *_, arena = handlers.join("Dr Omar", "", "", None, "en")
    outputs = None
    with pytest.warns(UserWarning, match="^Stopped before one of the models had written anything"):
        for outputs in handlers.send({"text": "Tell me about anemia", "files": []}, arena, "en"):
            if any(side.pending and side.pending.reply.text for side in arena.sides):
                handlers.stop(arena)  # the Stop button, while one side streams
    chat_a, chat_b, box, *votes, _ = outputs
    assert all(vote["interactive"] is False for vote in votes) and not arena.can_vote
    assert [side.messages for side in arena.sides] == [[], []] and arena.taken_back == "arena_taken_back"
    assert chat_a == chat_b == [] and box == {"text": "Tell me about anemia", "files": []}
    handlers.vote("tie", "", None, arena, "en")
    assert arena.receipt is None and load_votes(store, "default") == []
    hold["on"] = False
    for outputs in handlers.send("What is anemia?", arena, "en"):
        pass
    assert all(vote["interactive"] for vote in outputs[3:7]) and arena.can_vote
    handlers.vote("tie", "", None, arena, "en")
    assert arena.receipt is not None and load_votes(store, "default")[0].winner == "tie"


def ending_at_once(adapter: str):
    """A token backend on which the side with `adapter` ends its reply before its first
    token (a model whose first token is the end: tiny random ones now and then)."""
    def backend(request, stop):
        if request.adapter == adapter:
            return
        yield from local_tokens(request, stop)
    return backend


@pytest.mark.parametrize("lang, expected", [("en", "^One of the models ended its reply without writing anything"),
                                            ("ar", "^أنهى أحد النموذجين ردّه دون أن يكتب شيئًا")])
def test_a_model_that_writes_nothing_is_named_as_such_and_the_message_comes_back(pool, store, tiny_dirs, lang,
                                                                                 expected):
    """No Stop was pressed: the rater is told a model wrote nothing (not that it was
    stopped), in their language; the message comes back to send again, and no vote is taken."""
    llama = str(tiny_dirs("llama"))
    handlers = ArenaHandlers(pool, store, ArenaConfig(contestants=(llama, f"{llama}:kind")), ending_at_once("kind"),
                             SHORT)
    *_, arena = handlers.join("Dr Omar", "", "", None, lang)
    with pytest.warns(UserWarning, match=expected):
        *_, outputs = handlers.send({"text": "What is anemia?", "files": []}, arena, lang)
    chat_a, chat_b, box, *votes, _ = outputs
    assert arena.taken_back == "arena_empty_reply" and not arena.can_vote
    assert chat_a == chat_b == [] and box == {"text": "What is anemia?", "files": []}
    assert all(vote["interactive"] is False for vote in votes)


def test_the_vote_buttons_open_exactly_when_the_store_takes_a_vote(pool, store):
    """A side whose reply is empty (a model that wrote nothing) is no reply to vote on."""
    arena = joined(pool, store)
    finish(arena)
    assert arena.can_vote
    side = arena.sides[1]
    side.session.messages[-1] = type(side.messages[-1])("assistant", "  ")
    assert not arena.can_vote
    with pytest.raises(ArenaError) as refused:
        arena.vote("tie", None, None)
    assert refused.value.code == "vote_before_replies"


def arena_blocks(handlers):
    """The Arena tab as the app builds it; (widgets, its functions by handler)."""
    import gradio as gr

    from ui.arena import build_arena_tab
    from ui.labels import Labels

    with gr.Blocks() as demo:
        with gr.Tabs():
            w = build_arena_tab(handlers, gr.State("en"), {}, Labels())
    return w, {getattr(fn.fn, "__func__", fn.fn): fn for fn in demo.fns.values()}


def test_new_round_clears_the_reason_and_the_languages(pool, store):
    handlers = ArenaHandlers(pool, store, ArenaConfig(), local_tokens, SHORT)
    w, functions = arena_blocks(handlers)
    *_, arena = handlers.join("Dr Omar", "", "", None, "en")
    finish(arena)
    handlers.vote("model_a", "clearer", "ar", arena, "en")
    outputs = functions[ArenaHandlers.new_round].outputs
    shown = dict(zip((o._id for o in outputs), handlers.new_round(arena, "en")))
    assert shown[w.reason._id] == {"__type__": "update", "value": ""}
    assert shown[w.rater_language._id] == {"__type__": "update", "value": None}
    assert arena.receipt is None and not arena.takes_turns and shown[w.turns._id]["visible"] is False


def test_sides_that_must_take_turns_are_told_so(pool, store, tiny_dirs):
    """Without batching (a backend in another process), two sides on one model take turns."""
    llama = str(tiny_dirs("llama"))
    handlers = ArenaHandlers(pool, store, ArenaConfig(contestants=(llama, f"{llama}:kind")),
                             lambda request, stop: local_tokens(request, stop), SHORT)
    w, functions = arena_blocks(handlers)
    outputs = functions[ArenaHandlers.join].outputs
    shown = dict(zip((o._id for o in outputs), handlers.join("Dr Omar", "", "", None, "ar")))
    assert shown[w.turns._id] == {"__type__": "update", "visible": True}
    assert shown[w.battle_box._id]["visible"] is True


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
    _, _, *_, arena = handlers.join("Dr Omar", "", "", None, "en")
    unchanged = handlers.vote("tie", "", None, arena, "ar")
    assert arena.receipt is None and all(update == {"__type__": "update"} for update in unchanged[:2])
    assert load_votes(store, "default") == []


def test_joining_empties_the_access_code_box_whatever_the_outcome(pool, store):
    handlers = ArenaHandlers(pool, store, ArenaConfig(study="locked", access_code="4711"), local_tokens, SHORT)
    for code in ("1234", "4711"):  # refused, then let in
        outputs = handlers.join("Dr Omar", code, "", None, "en")
        assert outputs[2] == outputs[3] == {"__type__": "update", "value": ""}
    assert outputs[1] == {"__type__": "update", "visible": True}  # the second one joined


ADMIN_CODE = "organiser-4711"
MINUTE = 60.0


def request_from(host: str):
    """What Gradio hands a handler's `request: gr.Request` parameter, as far as limits look."""
    return SimpleNamespace(client=SimpleNamespace(host=host))


@pytest.fixture
def warnings_shown(monkeypatch):
    """The codes of the errors the handlers showed as warnings, in order."""
    shown = []
    for module in ("ui.arena", "ui.leaderboard"):
        monkeypatch.setattr(f"{module}.warn", lambda error, lang, *more: shown.append(error.code))
    return shown


def limited(pool, store, clock, vote_policy=None, **config) -> ArenaHandlers:
    return ArenaHandlers(pool, store, ArenaConfig(**config), local_tokens, SHORT,
                         join_limiter=AttemptLimiter("arena join", clock=clock),
                         vote_limiter=AttemptLimiter("arena vote", vote_policy, clock=clock))


def test_a_personal_code_joins_as_its_rater_whatever_name_is_typed(pool, store, warnings_shown):
    handlers = limited(pool, store, FakeClock(), study="coded", access_code="4711")
    sara, code = create_rater(store, "coded", "Dr Sara")
    outputs = handlers.join("Mallory", "", code.lower(), None, "en", request_from("10.0.0.1"))
    assert outputs[-1].rater.id == sara.id and outputs[-1].rater.display_name == "Dr Sara"
    assert outputs[1] == {"__type__": "update", "visible": True}
    assert outputs[2] == outputs[3] == {"__type__": "update", "value": ""}  # both code boxes emptied
    for name in ("  DR SARA ", "Mallory"):  # a name alone, even with the study code, is refused
        outputs = handlers.join(name, "4711", "", None, "en", request_from("10.0.0.2"))
        assert outputs[-1].rater is None and outputs[1] == {"__type__": "update"}
        assert outputs[2] == outputs[3] == {"__type__": "update", "value": ""}
    assert warnings_shown == ["rater_code_required", "rater_code_required"]


def test_wrong_codes_lock_the_client_out_even_for_the_right_code(pool, store, warnings_shown):
    clock = FakeClock()
    handlers = limited(pool, store, clock)
    _, code = create_rater(store, "default", "Dr Sara")
    attacker = request_from("198.51.100.9")
    for _ in range(5):
        assert handlers.join("", "", "AAAA-AAAA-AA", None, "en", attacker)[-1].rater is None
    assert handlers.join("", "", code, None, "en", attacker)[-1].rater is None  # right, but locked out
    assert warnings_shown == ["rater_code_invalid"] * 5 + ["too_many_attempts"]
    colleague = handlers.join("", "", code, None, "en", request_from("203.0.113.1"))[-1]
    assert colleague.rater.display_name == "Dr Sara"  # another address is not locked out
    clock.advance(15 * MINUTE)
    assert handlers.join("", "", code, None, "en", attacker)[-1].rater.display_name == "Dr Sara"


def test_study_code_failures_are_logged_without_the_code(pool, store, caplog, warnings_shown):
    handlers = limited(pool, store, FakeClock(), study="locked", access_code="4711")
    attacker = request_from("198.51.100.9")
    guesses = ("1234", "2345", "3456", "9876", "8765")
    with caplog.at_level(logging.DEBUG, logger="bimedix.arena"):
        for _ in range(3):  # an empty box guesses nothing: not counted, not logged
            handlers.join("Ali", "", "", None, "en", attacker)
        for guess in guesses:
            handlers.join("Ali", guess, "", None, "en", attacker)
        assert handlers.join("Ali", "4711", "", None, "en", attacker)[-1].rater is None
    assert warnings_shown == ["access_denied"] * 8 + ["too_many_attempts"]
    logged = [record for record in caplog.records if record.name == "bimedix.arena"]
    failures = [r.getMessage() for r in logged if r.levelno == logging.WARNING]
    assert len(failures) == 6 and "locked out for 15 min" in failures[-1]
    assert all("198.51.100.9" in message and "'locked'" in message for message in failures)
    assert not any(code in record.getMessage() for record in logged for code in (*guesses, "4711"))


def test_votes_are_rate_limited(pool, store, warnings_shown):
    clock = FakeClock()
    handlers = limited(pool, store, clock, vote_policy=LimitPolicy(attempts_per_client=1))
    voter = request_from("10.0.0.7")
    arena = handlers.join("Dr Omar", "", "", None, "en", voter)[-1]
    finish(arena)
    handlers.vote_handler("tie")("", None, arena, "en", voter)
    assert arena.receipt is not None
    handlers.new_round(arena, "en")
    finish(arena)
    handlers.vote("model_a", "", None, arena, "en", voter)
    assert arena.receipt is None and warnings_shown == ["too_many_attempts"]
    clock.advance(MINUTE)
    handlers.vote("model_a", "", None, arena, "en", voter)
    assert arena.receipt is not None and len(load_votes(store, "default")) == 2


def organiser_view(store, clock=None) -> LeaderboardHandlers:
    ensure_study(store, "default")
    board = LeaderboardHandlers(store, "default", ADMIN_CODE)
    board.admin_limiter = AttemptLimiter("organiser code", clock=clock or FakeClock())
    return board


def test_the_organiser_code_is_locked_out_too(store, warnings_shown):
    clock = FakeClock()
    board = organiser_view(store, clock)
    attacker = request_from("198.51.100.9")
    for guess in ("admin", "4711", "organiser", "s3cret", "password"):
        assert board.progress(guess, "en", attacker)[0]["visible"] is False
    assert board.progress(ADMIN_CODE, "en", attacker)[0]["visible"] is False  # right, but locked out
    assert board.add_rater(ADMIN_CODE, "Dr Eve", "en", attacker)[0]["visible"] is False
    assert warnings_shown == ["too_many_attempts", "too_many_attempts"]
    clock.advance(15 * MINUTE)
    assert board.progress(ADMIN_CODE, "en", attacker)[0]["visible"] is True


def test_the_organiser_adds_a_rater_and_sees_the_code_once(pool, store, warnings_shown):
    board = organiser_view(store)
    organiser = request_from("10.0.0.1")
    assert board.add_rater("wrong", "Dr Omar", "en", organiser)[0] == {"__type__": "update", "value": "",
                                                                       "visible": False}
    shown, name_box, _ = board.add_rater(ADMIN_CODE, "Dr *Sara*", "en", organiser)
    assert shown["visible"] is True and name_box == {"__type__": "update", "value": ""}
    assert r"**Dr \*Sara\***" in shown["value"]  # the typed name shows as typed
    code = re.search(r"`([A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{2})`", shown["value"]).group(1)
    board.add_rater(ADMIN_CODE, "dr *sara*", "en", organiser)
    assert warnings_shown == ["rater_has_code"]
    arabic, _, _ = board.add_rater(ADMIN_CODE, "د. عمر", "ar", organiser)
    assert "الرمز الشخصي" in arabic["value"]
    handlers = limited(pool, store, FakeClock())
    assert handlers.join("", "", code, None, "en", organiser)[-1].rater.display_name == "Dr *Sara*"
    table = board.progress(ADMIN_CODE, "en", organiser)[0]["value"]
    assert dict(zip(table["Rater"], table["Personal code"])) == {"Dr *Sara*": "active", "د. عمر": "active"}


def test_gradio_hands_the_request_to_every_limited_handler(pool, store):
    handlers, board = limited(pool, store, FakeClock()), organiser_view(store)
    marker = object()
    for handler, inputs in ((handlers.join, ["Ali", "", "", None, "en"]),
                            (handlers.vote_handler("tie"), ["", None, None, "en"]),
                            (board.progress, ["code", "en"]), (board.add_rater, ["code", "Ali", "en"])):
        filled, *_ = special_args(handler, list(inputs), request=marker)
        assert filled == [*inputs, marker]


def test_in_the_browser_the_organiser_adds_a_rater_who_joins_with_the_code(page, tiny_dirs, tmp_path):
    """The app as served: the code appears once in the organiser's view, joins as its rater
    whatever name is typed, and a name alone is refused. An app of its own: once its study
    has a coded rater, it takes no more typed names."""
    from tests.ui.browser import open_app
    from tests.ui.conftest import running_app

    with running_app("--model", str(tiny_dirs("llava")), "--model", str(tiny_dirs("llama")),
                     "--arena-db", str(tmp_path / "arena.db"), "--arena-admin-code", ADMIN_CODE) as url:
        open_app(page, url)
        page.get_by_role("tab", name="Leaderboard").click()
        page.locator("#lb-admin .label-wrap").click()
        page.locator("#lb-admin-code :is(input, textarea)").fill(ADMIN_CODE)
        page.locator("#lb-rater-name :is(input, textarea)").fill("Dr Sara")
        page.locator("#lb-add-rater").click()
        page.wait_for_function("(document.querySelector('#lb-rater-code') || {}).innerText?.includes('Dr Sara')")
        code = re.search(r"[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{2}", page.locator("#lb-rater-code").inner_text()).group()
        assert page.locator("#lb-rater-name :is(input, textarea)").input_value() == ""

        page.get_by_role("tab", name="Arena (blind comparison)").click()
        page.locator("#arena-rater-name :is(input, textarea)").fill("Dr Sara")  # a name alone
        page.locator("#arena-join-button").click()
        page.wait_for_function("[...document.querySelectorAll('.toast-body')].some(t => t.innerText.includes('personal code'))")
        assert page.locator("#arena-battle").is_hidden()
        page.locator("#arena-rater-name :is(input, textarea)").fill("Mallory")
        page.locator("#arena-personal-code input").fill(code.lower())
        page.locator("#arena-join-button").click()
        page.locator("#arena-battle").wait_for()  # joined as Dr Sara (the handler tests check the name)


def test_the_organisers_export_names_models_as_the_board_does_never_by_their_directory(store, tmp_path):
    """Issue 26, item 12: a local model's id is its directory on the server; the export
    names it as the public board does, in the model columns and in a leak's reason."""
    from arena import join_study, record_vote, start_battle
    from tests.arena.conftest import transcript

    local = "/srv/models/secret-llama"
    ensure_study(store, "default")
    rater = join_study(store, "default", "Dr Omar")
    battle = start_battle(store, rater, [local, "preview"], rng=1)
    record_vote(store, battle.id, rater, "model_a", transcript(reply="I am secret-llama."), transcript(), {})
    downloads = Downloads(tmp_path / "downloads")
    board = LeaderboardHandlers(store, "default", ADMIN_CODE, downloads, shown_name=lambda name: name.rsplit("/", 1)[-1])
    board.admin_limiter = AttemptLimiter("organiser code", clock=FakeClock())
    links = board.export(ADMIN_CODE, "en", request_from("10.0.0.1"))[0]["value"]
    tokens = re.findall(r"bimedix/download/([A-Za-z0-9_-]+)/", links)
    files = [downloads.take(token, None)[1].decode("utf-8-sig") for token in tokens]
    assert len(files) == 2 and all("secret-llama" in data for data in files)
    assert not any("/srv/models" in data for data in files)
