"""Each conversation's KV cache kept between turns (engine/prefix_cache.py): greedy replies
identical with and without reuse (text models, a Llava with an image, Regenerate, an adapter
switch, trimming, English then Arabic), only the suffix prefilled, images not encoded again,
and the byte budget."""

from __future__ import annotations

import copy

import pytest
import torch
from PIL import Image

from engine.generation import GenerationSettings
from engine.images import decoded
from engine.loading import load_model
from engine.messages import Message
from engine.prefix_cache import PREFIX_CACHES, CachedPrefix, PrefixCaches, plan_reuse
from engine.reply import ReplyOptions, _model_inputs, prepare_prompt, reply
from engine.session import ChatSession

GREEDY = GenerationSettings(temperature=0, max_new_tokens=10, repetition_penalty=1.0)
TURNS = ["I have had a headache for two days.", "What dose of paracetamol is safe?", "عندي حمى أيضًا منذ أمس.",
         "وماذا عن الأطفال؟", "Anything else I should watch for?"]


@pytest.fixture(autouse=True)
def caches():
    """A budget of its own for each test, and the process default back afterwards."""
    PREFIX_CACHES.configure(256)
    yield PREFIX_CACHES
    PREFIX_CACHES.configure(None)


@pytest.fixture(scope="module")
def llama(tiny_dirs, tmp_path_factory):
    from tests.engine.test_loading import make_adapter

    folder = tmp_path_factory.mktemp("kv-adapters")
    base = tiny_dirs("llama")
    adapters = [str(make_adapter(base, folder / name, seed)) for name, seed in (("first", 1), ("second", 2))]
    return load_model(str(base), adapters=adapters)


@pytest.fixture(scope="module")
def gemma(tiny_dirs):
    return load_model(str(tiny_dirs("gemma")))


@pytest.fixture(scope="module")
def llava(tiny_dirs):
    return load_model(str(tiny_dirs("llava")))


class PrefillCounter:
    """The positions each forward pass of the language model computes (its input length)."""

    def __init__(self, model):
        self.calls: list[int] = []
        embeddings = model.model.get_input_embeddings()
        self.handle = embeddings.register_forward_pre_hook(lambda module, args: self.calls.append(args[0].shape[-1]))

    def take(self) -> list[int]:
        calls, self.calls = self.calls, []
        return calls

    def close(self):
        self.handle.remove()


def converse(model, turns, conversation: str | None, *, adapters=None, regenerate_at=None, images=None):
    """Each turn answered with the replies so far; returns the replies (and regenerated ones)."""
    history, replies = [], []
    for index, text in enumerate(turns):
        options = ReplyOptions(settings=GREEDY, conversation=conversation,
                               adapter=(adapters or {}).get(index, model.default_adapter))
        user = Message("user", text, tuple((images or {}).get(index, ())))
        answer = "".join(chunk.text for chunk in reply(model, [*history, user], options))
        if index == regenerate_at:  # Regenerate: the same history once more
            replies.append(answer)
            answer = "".join(chunk.text for chunk in reply(model, [*history, user], options))
        history += [user, Message("assistant", answer.strip())]
        replies.append(answer)
    return replies


def both_ways(model, turns, caches, **kwargs):
    with_reuse = converse(model, turns, "with", **kwargs)
    caches.configure(0)  # the same conversation id (the same history fitting), nothing kept
    without = converse(model, turns, "without", **kwargs)
    caches.configure(256)
    return with_reuse, without


@pytest.mark.parametrize("family", ["llama", "gemma"])
def test_greedy_replies_are_the_same_with_and_without_reuse(family, llama, gemma, caches):
    model = {"llama": llama, "gemma": gemma}[family]
    counter = PrefillCounter(model)
    try:
        with_reuse = converse(model, TURNS, "c1")
        prefills = counter.take()
        caches.configure(0)
        without = converse(model, TURNS, "c2")
        full = counter.take()
    finally:
        counter.close()
    assert with_reuse == without and all(with_reuse)
    assert sum(prefills) < sum(full)  # the later turns' prefills were shorter


def test_only_the_suffix_is_prefilled(llama, caches):
    counter = PrefillCounter(llama)
    history = []
    try:
        for index, text in enumerate(TURNS[:4]):
            options = ReplyOptions(settings=GREEDY, conversation="suffix", adapter=llama.default_adapter)
            messages = [*history, Message("user", text)]
            before = caches.peek("suffix")
            ids, _ = _model_inputs(llama, prepare_prompt(llama, messages, options).fitted)
            counter.take()
            answer = "".join(chunk.text for chunk in reply(llama, messages, options))
            prefill = counter.take()[0]
            expected = 0 if before is None else min(
                next((i for i, (a, b) in enumerate(zip(before.token_ids, ids)) if a != b),
                     min(len(before.token_ids), len(ids))), len(ids) - 1)
            assert prefill == len(ids) - expected  # the model computed the new positions only
            assert caches.peek("suffix").reused == expected
            if index:  # at least the system prompt and the first turn came from the cache
                assert expected > 20
            history += [Message("user", text), Message("assistant", answer.strip())]
    finally:
        counter.close()


def test_regenerate_an_adapter_switch_and_english_then_arabic(llama, caches):
    kwargs = dict(regenerate_at=2, adapters={3: "first", 4: "second"})
    with_reuse, without = both_ways(llama, TURNS, caches, **kwargs)
    assert with_reuse == without
    assert with_reuse[2] == with_reuse[3]  # greedy: Regenerate gives the same reply again


def test_trimming_keeps_its_cut_and_replies_stay_the_same(llama, caches):
    small = copy.copy(llama)
    small.context_window = 160
    turns = [f"{text} (turn {n})" for n, text in enumerate(TURNS * 2)]
    with_reuse, without = both_ways(small, turns, caches)
    assert with_reuse == without
    # The cut moved only when the kept history no longer fit: fewer cuts than turns trimmed.
    history, cuts = [], []
    for text, answer in zip(turns, with_reuse):
        options = ReplyOptions(settings=GREEDY, conversation="cuts", adapter=small.default_adapter)
        cuts.append(prepare_prompt(small, [*history, Message("user", text)], options).fitted.dropped_turns)
        history += [Message("user", text), Message("assistant", answer.strip())]
    trimmed = [c for c in cuts if c]
    assert trimmed and len(set(trimmed)) < len(trimmed)


def picture(color) -> object:
    return decoded(Image.new("RGB", (64, 48), color))


def test_a_llava_image_in_turn_two_is_encoded_once(llava, caches):
    tower_calls = []
    tower = llava.model.model.vision_tower
    handle = tower.register_forward_hook(lambda module, args, output: tower_calls.append(args[0].shape[0]))
    images = {1: [picture("red")]}
    try:
        with_reuse = converse(llava, TURNS, "img", images=images)
        reused_calls = list(tower_calls)
        tower_calls.clear()
        caches.configure(0)
        without = converse(llava, TURNS, "img-off", images=images)
    finally:
        handle.remove()
    assert with_reuse == without
    assert reused_calls == [1]  # turn two only: later turns took its features from the cache
    assert len(tower_calls) == 4  # without reuse: turns two to five each encode it again


def test_another_image_at_the_same_place_is_not_taken_for_the_cached_one(llava, caches):
    first = converse(llava, TURNS[:2], "swap", images={1: [picture("red")]})
    history = [Message("user", TURNS[0]), Message("assistant", first[0].strip())]
    options = ReplyOptions(settings=GREEDY, conversation="swap")
    other = Message("user", TURNS[1], (picture("blue"),))
    swapped = "".join(c.text for c in reply(llava, [*history, other], options))
    caches.forget("swap")
    fresh = "".join(c.text for c in reply(llava, [*history, other], ReplyOptions(settings=GREEDY)))
    assert swapped == fresh


def test_plan_reuse_stops_before_an_image_and_keeps_one_position():
    entry = CachedPrefix("m", None, (1, 2, 9, 9, 3, 4, 5), cache=None, image_keys=("a",))
    assert plan_reuse(entry, (1, 2, 9, 9, 3, 4, 5, 6), ("a",), 9, 2).length == 7
    assert plan_reuse(entry, (1, 2, 9, 9, 3, 4, 5), ("a",), 9, 2).length == 6  # one left to compute
    assert plan_reuse(entry, (1, 2, 9, 9, 3, 7), ("b",), 9, 2).length == 2  # another image: before it
    assert plan_reuse(entry, (1, 2, 9, 9, 3, 7), ("a",), 9, 2).cached_images == 1


class FakeCache:
    def __init__(self, nbytes: int):
        layer = type("Layer", (), {})()
        layer.keys, layer.values = torch.zeros(nbytes // 2, dtype=torch.uint8), torch.zeros(nbytes // 2, dtype=torch.uint8)
        self.layers = [layer]


def test_the_byte_budget_evicts_the_least_recently_used_and_forget_frees_at_once():
    caches = PrefixCaches(budget_bytes=3000)
    for name in ("a", "b", "c"):
        caches.put(name, CachedPrefix("m", None, (1,), FakeCache(1000)))
    assert caches.used_bytes() == 3000
    assert caches.take("a", "m", None) is not None  # in use: out of the pool, then back
    caches.put("a", CachedPrefix("m", None, (1,), FakeCache(1000)))
    caches.put("d", CachedPrefix("m", None, (1,), FakeCache(1000)))
    assert "b" not in caches and {"a", "c", "d"} <= {n for n in "abcd" if n in caches}
    assert caches.evictions == 1
    caches.forget("c")
    assert "c" not in caches and caches.used_bytes() == 2000
    caches.put("c", CachedPrefix("m", None, (1,), FakeCache(1000)))  # a reply ending after its session closed
    assert "c" not in caches
    caches.put("huge", CachedPrefix("m", None, (1,), FakeCache(4000)))
    assert "huge" not in caches
    assert caches.take("a", "other-model", None) is None and "a" not in caches  # another model: freed


def test_a_session_that_ends_or_clears_frees_its_cache(llama, caches):
    from ui.conversation import Conversation

    conversation = Conversation(llama)
    reply_ = conversation.send("Hello there", [], ReplyOptions(settings=GREEDY))
    "".join(chunk.text for chunk in reply_)
    conversation.finish(reply_)
    first_id = conversation.session.conversation
    assert first_id in caches
    conversation.clear()
    assert first_id not in caches and conversation.session.conversation != first_id
    conversation.expect_reply()  # as the screen does before each message
    again = conversation.send("Hello again", [], ReplyOptions(settings=GREEDY))
    "".join(chunk.text for chunk in again)
    assert conversation.session.conversation in caches
    conversation.discard()  # the browser session ended
    assert conversation.session.conversation not in caches


def test_a_session_passes_its_conversation(llama, caches):
    session = ChatSession(llama, ReplyOptions(settings=GREEDY))
    "".join(chunk.text for chunk in session.send("Hello"))
    "".join(chunk.text for chunk in session.send("And then?"))
    assert caches.peek(session.conversation).reused > 0


def test_a_gpu_worker_gets_no_conversation(llama):
    from engine.backend import GenerationRequest, RemoteTokens

    seen = []
    backend = RemoteTokens(lambda request: (seen.append(request.conversation), iter([1]))[1])
    request = GenerationRequest(llama.key, (1, 2), GREEDY, conversation="c", image_keys=())
    assert list(backend(request, __import__("threading").Event())) == [1] and seen == [None]
