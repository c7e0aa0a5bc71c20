"""Token backends: requests that can cross a process boundary, per-model reply slots,
and a remote iterator that is closed when the person presses Stop."""

import pickle
import threading

import pytest

from engine.backend import (GenerationRequest, RemoteTokens, local_tokens, registered, reply_slot,
                            set_concurrency, worker_tokens)
from engine.errors import UserFacingError
from engine.generation import GenerationSettings, generate_tokens
from engine.loading import load_model
from engine.messages import Message
from engine.session import ChatSession

GREEDY = GenerationSettings(temperature=0, max_new_tokens=6, repetition_penalty=1.0)


@pytest.fixture(scope="module")
def loaded(tiny_dirs):
    return load_model(str(tiny_dirs("llama")))


def request_for(loaded, text="hello") -> GenerationRequest:
    ids = loaded.tokenizer(text)["input_ids"]
    return GenerationRequest(loaded.key, tuple(ids), GREEDY, loaded.stop_token_ids)


def test_a_request_pickles_and_names_its_model_by_key(loaded):
    request = request_for(loaded)
    copy = pickle.loads(pickle.dumps(request))
    assert copy == request and registered(copy.model_key) is loaded
    with pytest.raises(LookupError):
        registered("no-such-model#0")


def test_every_backend_generates_what_generate_tokens_does(loaded):
    request = request_for(loaded)
    expected = list(generate_tokens(loaded.model, request.input_ids, GREEDY, request.stop_token_ids))
    assert expected
    assert list(local_tokens(request, threading.Event())) == expected
    assert list(worker_tokens(request)) == expected
    assert list(RemoteTokens(worker_tokens)(request, threading.Event())) == expected


def test_a_model_runs_one_reply_at_a_time_unless_told_otherwise(loaded):
    order = []
    holding = threading.Event()

    def first():
        with reply_slot(loaded.key):
            order.append("first in")
            holding.set()
            threading.Event().wait(0.3)
            order.append("first out")

    thread = threading.Thread(target=first)
    thread.start()
    holding.wait()
    list(local_tokens(request_for(loaded), threading.Event()))  # waits for the slot
    order.append("second done")
    thread.join()
    assert order == ["first in", "first out", "second done"]
    set_concurrency(loaded.key, 2)
    try:
        with reply_slot(loaded.key):
            # A second slot is free now: this does not wait.
            assert list(local_tokens(request_for(loaded), threading.Event()))
    finally:
        set_concurrency(loaded.key, 1)


def test_stopping_a_remote_reply_closes_the_remote_iterator(loaded):
    closed = []

    def remote(request):
        try:
            yield from range(100)
        finally:
            closed.append(True)

    stop = threading.Event()
    received = []
    for token in RemoteTokens(remote)(request_for(loaded), stop):
        received.append(token)
        if len(received) == 3:
            stop.set()
    assert received == [0, 1, 2] and closed == [True]


def test_a_request_stopped_while_waiting_for_its_slot_never_starts(loaded):
    stop = threading.Event()
    stop.set()
    started = []
    assert list(RemoteTokens(lambda r: started.append(r) or iter([1]))(request_for(loaded), stop)) == []
    assert list(local_tokens(request_for(loaded), stop)) == [] and started == []


@pytest.mark.parametrize("backend", [local_tokens, RemoteTokens(worker_tokens)], ids=["local", "remote"])
def test_stop_ends_a_reply_still_waiting_for_its_slot_at_once(loaded, backend):
    holding, release = threading.Event(), threading.Event()

    def ahead():  # another person's reply that takes its time
        with reply_slot(loaded.key):
            holding.set()
            release.wait(30)

    thread = threading.Thread(target=ahead)
    thread.start()
    holding.wait()
    try:
        stop, result = threading.Event(), []
        waiting = threading.Thread(target=lambda: result.append(list(backend(request_for(loaded), stop))))
        waiting.start()
        waiting.join(0.3)
        assert waiting.is_alive()  # it is waiting for the slot
        stop.set()
        waiting.join(5)
        assert not waiting.is_alive() and result == [[]]  # ended while the other still generates
        assert not release.is_set()
    finally:
        release.set()
        thread.join()
    assert list(local_tokens(request_for(loaded), threading.Event()))  # the slot was given back


def test_a_session_sends_its_own_adapter_and_settings_to_the_backend(loaded):
    seen = []

    def backend(request, stop_event):
        seen.append(request)
        return iter(())

    from engine.reply import ReplyOptions, reply

    with pytest.raises(UserFacingError) as unknown:  # an adapter the model lacks never reaches it
        reply(loaded, [Message("user", "hello")], ReplyOptions(settings=GREEDY, adapter="some-adapter"),
              backend=backend)
    assert unknown.value.code == "unknown_adapter" and seen == []
    session = ChatSession(loaded, ReplyOptions(settings=GREEDY, system_prompt="Be brief."), backend=backend)
    list(session.send("hello"))
    request = seen[0]
    assert request.model_key == loaded.key and request.adapter is None
    assert request.settings == GREEDY and request.stop_token_ids == loaded.stop_token_ids
    expected = loaded.prompt_format.render([Message("system", "Be brief."), Message("user", "hello")])
    assert loaded.tokenizer.decode(request.input_ids) .endswith(expected.text[-20:])
