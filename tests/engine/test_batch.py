"""Replies asked for together on one base model, generated as one batch (engine/batch.py):
each row with its own adapter, its own stop and its own end, on a tiny Llama with two
adapters (greedy, so a row must be exactly what its adapter writes alone)."""

import threading
import time

import pytest
from peft import LoraConfig, get_peft_model

from engine.backend import local_tokens
from engine.batch import BatchingTokens, can_batch, mixes_adapters
from engine.generation import GenerationSettings
from engine.loading import load_model
from engine.messages import Message
from engine.reply import ReplyOptions, reply
from tests.engine.test_loading import make_adapter

GREEDY = GenerationSettings(temperature=0, max_new_tokens=24, repetition_penalty=1.1)
QUESTION = [Message("user", "What is anemia, and how is it treated?")]
# A longer history on one side: the rows' prompts differ in length, so one is left-padded.
LONGER = [Message("user", "hello"), Message("assistant", "Hello! How can I help you today?"), *QUESTION]


@pytest.fixture(scope="module")
def loaded(tiny_dirs, tmp_path_factory):
    llama = tiny_dirs("llama")
    folder = tmp_path_factory.mktemp("batch-adapters")
    adapters = [make_adapter(llama, folder / name, seed=seed) for name, seed in (("first", 1), ("second", 2))]
    return load_model(str(llama), adapters=[str(path) for path in adapters])


def alone(loaded, history, adapter, settings=GREEDY):
    answer = reply(loaded, history, ReplyOptions(settings=settings, adapter=adapter))
    return "".join(chunk.text for chunk in answer), answer.finish_reason


def read_together(replies, events=None):
    """Read each reply in its own thread (as the arena does); (text, finish reason) each."""
    results = [None] * len(replies)

    def read(index, answer):
        for chunk in answer:
            if events is not None and chunk.text:
                events.append((index, "text"))
        if events is not None:
            events.append((index, "end"))
        results[index] = (answer.text, answer.finish_reason)

    threads = [threading.Thread(target=read, args=(i, r)) for i, r in enumerate(replies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def asked_together(loaded, sides, settings=GREEDY, batching=None):
    batching = batching or BatchingTokens()
    with batching.together():
        replies = [reply(loaded, history, ReplyOptions(settings=settings, adapter=adapter), backend=batching)
                   for history, adapter in sides]
    return batching, replies


@pytest.mark.parametrize("adapters", [(None, "first"), ("first", "second"), ("second", None)])
def test_each_row_is_what_its_adapter_writes_alone(loaded, adapters):
    sides = [(LONGER, adapters[0]), (QUESTION, adapters[1])]
    expected = [alone(loaded, history, adapter) for history, adapter in sides]
    assert expected[0][0] != expected[1][0]  # the adapters (and prompts) really differ
    calls = []
    generate = loaded.model.generate
    loaded.model.generate = lambda **kwargs: calls.append(kwargs["input_ids"].shape) or generate(**kwargs)
    try:
        batching, replies = asked_together(loaded, sides)
        assert read_together(replies) == expected
    finally:
        del loaded.model.generate
    assert batching.last_batched and len(calls) == 1 and calls[0][0] == 2  # one generate call, two rows


def test_both_rows_stream_before_either_ends(loaded):
    events = []
    _, replies = asked_together(loaded, [(QUESTION, None), (QUESTION, "first")],
                                GenerationSettings(temperature=0, max_new_tokens=60, repetition_penalty=1.0))
    read_together(replies, events)
    first_text = [events.index((row, "text")) for row in (0, 1)]
    first_end = min(events.index((row, "end")) for row in (0, 1))
    assert max(first_text) < first_end


def test_a_stopped_row_leaves_the_batch_and_the_other_goes_on(loaded):
    sides = [(QUESTION, "first"), (QUESTION, "second")]
    expected = alone(loaded, *sides[1])
    _, (stopped, going) = asked_together(loaded, sides)
    results = [None, None]

    def read_and_stop():
        for chunk in stopped:
            if stopped.completion_tokens >= 2:
                stopped.stop()
        results[0] = (stopped.text, stopped.finish_reason, stopped.completion_tokens)

    thread = threading.Thread(target=read_and_stop)
    thread.start()
    results[1] = ("".join(chunk.text for chunk in going), going.finish_reason)
    thread.join(60)
    assert results[0][1] == "stopped" and results[0][2] <= 4
    assert results[1] == expected
    assert not any(t.name == "bimedix-generate" for t in threading.enumerate())


def test_a_row_stopped_before_the_batch_starts_never_starts(loaded):
    _, (first, second) = asked_together(loaded, [(QUESTION, "first"), (QUESTION, None)])
    first.stop()
    results = read_together([first, second])
    assert results[0] == ("", "stopped") and results[1] == alone(loaded, QUESTION, None)


def test_requests_that_cannot_share_a_batch_run_as_before(loaded, tiny_dirs):
    other = GenerationSettings(temperature=0, max_new_tokens=10, repetition_penalty=1.0)
    sides = [(QUESTION, "first"), (QUESTION, "second")]
    batching = BatchingTokens()
    with batching.together():
        replies = [reply(loaded, QUESTION, ReplyOptions(settings=GREEDY, adapter="first"), backend=batching),
                   reply(loaded, QUESTION, ReplyOptions(settings=other, adapter="second"), backend=batching)]
    assert read_together(replies) == [alone(loaded, *sides[0]), alone(loaded, *sides[1], other)]
    assert not batching.last_batched
    gemma = load_model(str(tiny_dirs("gemma")))
    ids = tuple(loaded.tokenizer("hello")["input_ids"])
    from engine.backend import GenerationRequest

    assert not can_batch([GenerationRequest(loaded.key, ids, GREEDY), GenerationRequest(gemma.key, ids, GREEDY)])
    assert can_batch([GenerationRequest(loaded.key, ids, GREEDY, adapter="first"),
                      GenerationRequest(loaded.key, ids + ids, GREEDY)])
    # In another process (a ZeroGPU worker), the requests go to the wrapped backend.
    assert BatchingTokens(local_tokens).in_process and not BatchingTokens(lambda r, s: iter(())).in_process


def test_adapters_peft_cannot_mix_in_one_batch_are_told_apart(tiny_dirs, tmp_path):
    from transformers import AutoModelForCausalLM

    llama = tiny_dirs("llama")
    dora = get_peft_model(AutoModelForCausalLM.from_pretrained(llama),
                          LoraConfig(r=4, target_modules=["q_proj", "v_proj"], use_dora=True))
    dora.save_pretrained(tmp_path / "dora")
    loaded = load_model(str(llama), adapters=[str(tmp_path / "dora")])
    assert not mixes_adapters(loaded, [None, "dora"])
    assert mixes_adapters(load_model(str(llama)), [None, None])


def test_each_rows_images_reach_its_own_prompt(tiny_dirs):
    """Llava: the rows' pixel values, joined in row order, meet their own image tokens."""
    from PIL import Image

    from engine.images import decoded

    llava = load_model(str(tiny_dirs("llava")))
    red, blue = (decoded(Image.new("RGB", (64, 48), color)) for color in ("red", "blue"))
    sides = [([Message("user", "What is this?", (red,))], None),
             ([Message("user", "hello"), Message("assistant", "Hello!"), Message("user", "And this?", (blue,))], None),
             ([Message("user", "No picture here")], None)]
    for pair in (sides[:2], sides[1:]):
        expected = [alone(llava, history, adapter) for history, adapter in pair]
        batching, replies = asked_together(llava, pair)
        assert read_together(replies) == expected and batching.last_batched


def test_time_to_first_token_of_each_side(loaded, capsys):
    """Not a benchmark: prints what the arena's two sides wait for their first token, taking
    turns (the slot, as before engine/batch.py) and in one batch."""
    settings = GenerationSettings(temperature=0, max_new_tokens=80, repetition_penalty=1.0)
    sides = [(QUESTION, None), (QUESTION, "first")]

    def first_tokens(backend_of):
        backend, replies = backend_of()
        start, firsts = time.perf_counter(), [None, None]

        def read(index, answer):
            for chunk in answer:
                if chunk.text and firsts[index] is None:
                    firsts[index] = time.perf_counter() - start
        threads = [threading.Thread(target=read, args=(i, r)) for i, r in enumerate(replies)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        return firsts

    def in_turns():
        return None, [reply(loaded, h, ReplyOptions(settings=settings, adapter=a)) for h, a in sides]

    turns, batched = first_tokens(in_turns), first_tokens(lambda: asked_together(loaded, sides, settings))
    with capsys.disabled():
        print(f"\ntime to first token, A / B: taking turns {turns[0]:.3f} s / {turns[1]:.3f} s; "
              f"one batch {batched[0]:.3f} s / {batched[1]:.3f} s")
    assert max(batched) < max(turns)
