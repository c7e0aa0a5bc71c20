"""Continuous batching in this process (engine/continuous.py): replies to different people on
one model share decoding steps. Each reply is what it would be alone (greedy: what
`generate` writes; sampled: its own seed's text whoever it shares the batch with), Stop of
one leaves the others running, the finish reasons are those of the one-at-a-time path,
replies that arrive while others run join them at once, a full batch shows the queue,
a conversation's next turn reuses its KV cache, and what cannot be batched goes the old way."""

from __future__ import annotations

import threading
import time

import pytest

from engine.backend import GenerationRequest, local_tokens, queue_position
from engine.continuous import _BATCHERS, batcher_for, set_batching
from engine.generation import GenerationSettings
from engine.loading import load_model
from engine.messages import Message
from engine.prefix_cache import PREFIX_CACHES
from engine.reply import ReplyOptions, reply

QUESTIONS = ["What can cause a fever?", "ما هي أسباب الصداع؟", "Tell me about anemia and its signs.",
             "How is diabetes treated?", "ما هو فقر الدم؟"]
GREEDY = GenerationSettings(temperature=0, max_new_tokens=24, repetition_penalty=1.1)


@pytest.fixture(scope="module", params=["llama", "gemma"])
def model(request, tiny_dirs):
    """A tiny Llama, and a tiny Gemma-3 (the preview's architecture: sliding-window layers)."""
    loaded = load_model(str(tiny_dirs(request.param)))
    yield loaded
    set_batching(loaded.key, 1)


@pytest.fixture
def batching(model):
    set_batching(model.key, 8)
    yield model
    set_batching(model.key, 1)


def ask(model, question: str, settings: GenerationSettings = GREEDY, **options):
    answer = reply(model, [Message("user", question)], ReplyOptions(settings=settings, **options))
    list(answer)
    return answer


def together(model, questions, settings=GREEDY, stagger_s=0.05):
    """Each question in its own thread, a little after the one before (people arriving)."""
    answers = [None] * len(questions)

    def run(index):
        time.sleep(stagger_s * index)
        answers[index] = ask(model, questions[index], settings)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(questions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def test_greedy_replies_together_are_each_what_generate_writes_alone(model):
    alone = [ask(model, q) for q in QUESTIONS]  # batching off: `generate`, one at a time
    set_batching(model.key, 8)
    try:
        batched = together(model, QUESTIONS)
    finally:
        set_batching(model.key, 1)
    for one, other in zip(alone, batched):
        assert (other.text, other.finish_reason, other.completion_tokens) == (
            one.text, one.finish_reason, one.completion_tokens)


def test_a_sampled_reply_with_a_seed_is_its_own_whoever_shares_the_batch(batching):
    seeded = GenerationSettings(temperature=0.9, top_p=0.95, top_k=40, max_new_tokens=16, seed=7)
    alone = ask(batching, QUESTIONS[0], seeded).text
    companions = together(batching, QUESTIONS[:1] + QUESTIONS[1:4], seeded)
    assert companions[0].text == alone
    other_seed = ask(batching, QUESTIONS[0], GenerationSettings(temperature=0.9, max_new_tokens=16, seed=8)).text
    assert other_seed != alone


def test_replies_run_at_once_and_stop_of_one_leaves_the_others(batching):
    # Token streams with no end-of-turn token: a tiny random model may write one at any step.
    long = GenerationSettings(temperature=0, max_new_tokens=60, repetition_penalty=1.0)
    stops = [threading.Event() for _ in range(3)]
    prompts = [tuple(batching.tokenizer(q)["input_ids"]) for q in QUESTIONS[:3]]
    streams = [local_tokens(GenerationRequest(batching.key, ids, long), stop) for ids, stop in zip(prompts, stops)]
    written = [[next(stream)] for stream in streams]  # each has begun: all three are in the batch
    assert len(_BATCHERS[batching.key]._active) == 3
    stops[1].set()
    for tokens, stream in zip(written, streams):
        tokens.extend(stream)
    assert len(written[1]) < 60 // 2  # stopped within a step or two
    assert len(written[0]) == len(written[2]) == 60  # the others ran to their length
    assert not _BATCHERS[batching.key]._active  # everyone left the batch


def test_the_finish_reasons_are_those_of_the_one_at_a_time_path(model):
    """length, stop_string (a stop string the reply would write), and stopped before it began."""
    long = GenerationSettings(temperature=0, max_new_tokens=40, repetition_penalty=1.0)
    text = ask(model, QUESTIONS[0], long).text
    middle = len(text) // 2
    cases = [(GenerationSettings(temperature=0, max_new_tokens=5), {}),
             (long, {"stop": (text[middle:middle + 3],)})]
    alone = [ask(model, QUESTIONS[0], settings, **extra) for settings, extra in cases]
    set_batching(model.key, 8)
    try:
        batched = [ask(model, QUESTIONS[0], settings, **extra) for settings, extra in cases]
        stopped = threading.Event()
        stopped.set()
        assert list(local_tokens(GenerationRequest(model.key, (1, 2, 3), GREEDY), stopped)) == []
    finally:
        set_batching(model.key, 1)
    assert [(a.finish_reason, a.text) for a in batched] == [(a.finish_reason, a.text) for a in alone]
    if text.strip():  # the tiny Gemma writes tokens that decode to nothing: no stop string to meet
        assert [a.finish_reason for a in alone] == ["length", "stop_string"]
    else:
        assert model.card.name.startswith("tiny-gemma")


def test_a_full_batch_shows_the_queue_and_takes_the_next_when_a_row_frees(model):
    set_batching(model.key, 1)  # off: nothing to queue
    set_batching(model.key, 2)
    try:
        long = GenerationSettings(temperature=0, max_new_tokens=400, repetition_penalty=1.0)
        running = [reply(model, [Message("user", q)], ReplyOptions(settings=long)) for q in QUESTIONS[:2]]
        streams = [iter(a) for a in running]
        for stream in streams:
            next(stream)
        places, third = [], {}

        def wait_in_line():
            answer = reply(model, [Message("user", QUESTIONS[2])], ReplyOptions(settings=GREEDY))
            chunks = iter(answer)
            third["first"] = next(chunks)
            third["answer"] = answer
            list(chunks)

        waiter = threading.Thread(target=wait_in_line)
        waiter.start()
        deadline = time.monotonic() + 10
        while not places and time.monotonic() < deadline:
            place = queue_position(waiter.ident)
            if place is not None:
                places.append(place)
            time.sleep(0.01)
        assert places == [1] and "first" not in third
        running[0].stop()
        list(streams[0])
        waiter.join(timeout=60)
        assert third["answer"].finish_reason in ("length", "done") and queue_position(waiter.ident) is None
        running[1].stop()
        list(streams[1])
    finally:
        set_batching(model.key, 1)


def test_a_conversations_next_turn_reuses_its_cache_and_writes_the_same(batching):
    PREFIX_CACHES.configure(64)
    try:
        first = [Message("user", QUESTIONS[0])]
        answer = reply(batching, first, ReplyOptions(settings=GREEDY, conversation="c1"))
        list(answer)
        history = [*first, Message("assistant", answer.text), Message("user", QUESTIONS[3])]
        reused = reply(batching, history, ReplyOptions(settings=GREEDY, conversation="c1"))
        list(reused)
        entry = PREFIX_CACHES.take("c1", batching.key, None)
        assert entry is not None and entry.reused > 10
        fresh = reply(batching, history, ReplyOptions(settings=GREEDY))
        list(fresh)
        assert reused.text == fresh.text
    finally:
        PREFIX_CACHES.configure(None)


def test_what_cannot_be_batched_goes_one_at_a_time(tiny_dirs, tmp_path):
    from tests.engine.test_loading import make_adapter

    llama = tiny_dirs("llama")
    with_adapter = load_model(str(llama), adapters=[str(make_adapter(llama, tmp_path / "a", seed=1))])
    llava = load_model(str(tiny_dirs("llava")))
    for loaded in (with_adapter, llava):
        set_batching(loaded.key, 8)
        try:
            assert batcher_for(GenerationRequest(loaded.key, (1, 2), GREEDY)) is None
        finally:
            set_batching(loaded.key, 1)


def test_the_opening_everyone_shares_is_prefilled_once(batching, monkeypatch):
    """The system prompt every reply starts with: the second person's prefill starts after
    it, and writes what it writes alone."""
    from engine.continuous import SHARED_MIN_TOKENS, Batcher

    starts = []
    original = Batcher._cached_prefix

    def recorded(self, row):
        cache, start = original(self, row)
        starts.append(start)
        return cache, start

    monkeypatch.setattr(Batcher, "_cached_prefix", recorded)
    system = "You are a careful medical assistant who answers briefly and clearly. " * 3
    first, second = ask(batching, QUESTIONS[0], system_prompt=system), ask(batching, QUESTIONS[3], system_prompt=system)
    assert starts[0] == 0 or starts[0] >= SHARED_MIN_TOKENS  # (an earlier test's opening may be there)
    assert starts[1] >= SHARED_MIN_TOKENS
    set_batching(batching.key, 1)
    assert ask(batching, QUESTIONS[3], system_prompt=system).text == second.text
