"""Streaming generation on the real preview model: same text as generate(), real Stop."""

import threading

import pytest
import torch

from engine.generation import GenerationSettings, generate_reply, generate_tokens, stream_reply

GREEDY = GenerationSettings(temperature=0, max_new_tokens=24, repetition_penalty=1.0)


def prompt_ids(preview, text="User: What is a fever?\nAssistant:"):
    return preview.tokenizer(text)["input_ids"]


def worker_threads():
    return [t for t in threading.enumerate() if t.name == "bimedix-generate"]


def test_stream_matches_bare_generate(preview):
    ids = prompt_ids(preview)
    with torch.inference_mode():
        bare = preview.model.generate(torch.tensor([ids]), max_new_tokens=24, do_sample=False,
                                      eos_token_id=None, temperature=None, top_p=None, top_k=None)
    expected = preview.tokenizer.decode(bare[0, len(ids):], skip_special_tokens=True)
    assert expected.startswith(" ")  # the space after "Assistant:", which a reply does not show
    chunks = list(stream_reply(preview.model, preview.tokenizer, ids, GREEDY))
    assert "".join(c.text for c in chunks) == expected.lstrip()
    assert chunks[-1].finish_reason == "length" and chunks[-1].tokens == 24
    assert not worker_threads()


def test_token_iterator_yields_ids_one_by_one(preview):
    tokens = list(generate_tokens(preview.model, prompt_ids(preview), GREEDY))
    assert len(tokens) == 24 and all(isinstance(t, int) for t in tokens)


def test_stop_event_ends_generation_and_joins_the_thread(preview):
    stop = threading.Event()
    settings = GenerationSettings(temperature=0, max_new_tokens=400, repetition_penalty=1.0)
    chunks = []
    for chunk in stream_reply(preview.model, preview.tokenizer, prompt_ids(preview), settings,
                              stop_event=stop):
        chunks.append(chunk)
        if len(chunks) == 3:
            stop.set()
    assert chunks[-1].finish_reason == "stopped"
    assert chunks[-1].tokens < 10  # stopped within a token or two, not after 400
    assert not worker_threads()


def test_closing_the_stream_never_sets_the_callers_stop_event(preview):
    stop = threading.Event()
    settings = GenerationSettings(temperature=0, max_new_tokens=400, repetition_penalty=1.0)
    stream = stream_reply(preview.model, preview.tokenizer, prompt_ids(preview), settings, stop_event=stop)
    next(stream)
    stream.close()
    assert not worker_threads() and not stop.is_set()  # generation only reads the caller's event


def test_closing_the_stream_early_stops_the_worker(preview):
    settings = GenerationSettings(temperature=0, max_new_tokens=400)
    stream = stream_reply(preview.model, preview.tokenizer, prompt_ids(preview), settings)
    next(stream)
    stream.close()
    assert not worker_threads()


def test_stop_strings_and_stop_tokens_end_the_reply(preview):
    reply = generate_reply(preview.model, preview.tokenizer, prompt_ids(preview), GREEDY,
                           stop_strings=(" ",))
    assert " " not in reply.strip()  # cut at the first space after the first word
    first_token = list(generate_tokens(preview.model, prompt_ids(preview), GREEDY))[0]
    chunks = list(stream_reply(preview.model, preview.tokenizer, prompt_ids(preview), GREEDY,
                               stop_token_ids=(first_token,)))
    assert chunks[-1].finish_reason == "done" and chunks[-1].tokens == 1


def test_seeded_sampling_is_reproducible(preview):
    settings = GenerationSettings(temperature=1.0, top_p=0.95, max_new_tokens=12, seed=1234)
    first = generate_reply(preview.model, preview.tokenizer, prompt_ids(preview), settings)
    second = generate_reply(preview.model, preview.tokenizer, prompt_ids(preview), settings)
    assert first == second


def test_errors_in_the_worker_reach_the_caller(preview):
    chunks = list(stream_reply(preview.model, preview.tokenizer, prompt_ids(preview), GREEDY,
                               model_inputs={"pixel_values": "not a tensor"}))
    assert chunks[-1].finish_reason == "failed" and chunks[-1].error is not None
    with pytest.raises(type(chunks[-1].error)):
        generate_reply(preview.model, preview.tokenizer, prompt_ids(preview), GREEDY,
                       model_inputs={"pixel_values": "not a tensor"})
    assert not worker_threads()


@pytest.mark.parametrize("bad", [dict(temperature=-1), dict(top_p=0), dict(max_new_tokens=0),
                                 dict(repetition_penalty=0)])
def test_settings_are_validated(bad):
    with pytest.raises(ValueError):
        GenerationSettings(**bad)
