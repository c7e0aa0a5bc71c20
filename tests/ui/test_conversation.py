"""A browser session's conversation and what the chat panel shows of it (tiny models: fast)."""

import threading

import pytest
from PIL import Image

from engine.errors import UserFacingError
from engine.generation import GenerationSettings
from engine.loading import load_model
from tests.engine.test_loading import make_adapter
from engine.pool import ModelPool, ModelSpec
from engine.reply import ReplyOptions
from ui.chat import build_chat_app
from ui.common import chosen_adapter
from ui.conversation import Conversation
from ui.handlers import chat_options
from ui.transcript import chat_messages

SHORT = ReplyOptions(settings=GenerationSettings(temperature=0, max_new_tokens=4, repetition_penalty=1.0))


@pytest.fixture(scope="module")
def text_model(tiny_dirs):
    return load_model(str(tiny_dirs("llama")))


@pytest.fixture(scope="module")
def vision_model(tiny_dirs):
    return load_model(str(tiny_dirs("llava")))


@pytest.fixture
def scan(tmp_path):
    path = tmp_path / "scan.png"
    Image.new("RGB", (64, 48), "white").save(path)
    return str(path)


def finish(conversation, reply):
    """What the chat handler does: read the reply to its end, then file the turn."""
    for _ in reply:
        pass
    conversation.finish()


def test_each_message_is_shown_with_its_own_direction_while_it_streams(text_model):
    conversation = Conversation(text_model)
    reply = conversation.send("ما هو فقر الدم؟", [], SHORT)
    chunks = iter(reply)
    next(chunks)
    streaming = chat_messages(conversation)
    assert streaming[0]["role"] == "user" and 'dir="rtl"' in streaming[0]["content"]
    for _ in chunks:
        pass
    conversation.finish()
    finish(conversation, conversation.send("And what is the treatment?", [], SHORT))
    view = chat_messages(conversation)
    assert [m["role"] for m in view] == ["user", "assistant"] * 2
    assert 'dir="rtl" lang="ar"' in view[0]["content"] and 'dir="ltr" lang="en"' in view[2]["content"]
    assert conversation.pending is None


def test_an_image_for_a_text_only_model_is_refused_and_nothing_is_filed(text_model, scan):
    conversation = Conversation(text_model)
    with pytest.raises(UserFacingError) as caught:
        conversation.send("What is this?", [scan], SHORT)
    assert caught.value.code == "model_cannot_read_images"
    assert conversation.pending is None and conversation.messages == [] and chat_messages(conversation) == []


def test_regenerate_keeps_the_image_of_the_last_turn(vision_model, scan):
    conversation = Conversation(vision_model)
    finish(conversation, conversation.send("describe", [scan], SHORT))
    before = chat_messages(conversation)
    reply = conversation.regenerate(SHORT)
    assert chat_messages(conversation)[0] == before[0]  # the turn is shown while it regenerates
    finish(conversation, reply)
    assert conversation.attachments == [(scan,)] and len(conversation.messages) == 2
    assert chat_messages(conversation)[0] == before[0]


def test_an_image_alone_is_shown_without_a_text_block(vision_model, scan):
    conversation = Conversation(vision_model)
    finish(conversation, conversation.send("", [scan], SHORT))
    assert chat_messages(conversation)[0]["content"] == [{"path": scan, "orig_name": "scan.png"}]


def test_a_file_that_is_not_an_image_changes_nothing(vision_model, tmp_path):
    fake = tmp_path / "notes.png"
    fake.write_text("not an image")
    conversation = Conversation(vision_model)
    with pytest.raises(UserFacingError) as caught:
        conversation.send("what is this?", [str(fake)], SHORT)
    assert caught.value.code == "image_not_an_image"
    assert conversation.pending is None and chat_messages(conversation) == []


def test_clear_while_a_reply_streams_leaves_nothing_behind(text_model):
    conversation = Conversation(text_model)
    reply = conversation.send("hello", [], ReplyOptions(settings=GenerationSettings(max_new_tokens=50)))
    next(iter(reply))
    conversation.clear()  # Clear arrives while the reply is still being written
    reply.close()  # then Gradio closes the cancelled stream
    conversation.finish()
    assert conversation.messages == [] and chat_messages(conversation) == []
    finish(conversation, conversation.send("again", [], SHORT))
    assert len(chat_messages(conversation)) == 2


def test_sessions_are_separate_and_each_reply_uses_its_own_adapter(tiny_dirs, tmp_path):
    directory = tiny_dirs("llama")
    loaded = load_model(str(directory), adapters=[str(make_adapter(directory, tmp_path / "first", seed=1))])
    seen = []
    generate = loaded.adapters.model.generate
    loaded.adapters.model.generate = lambda **kw: seen.append(loaded.adapters.current) or generate(**kw)
    alice, bob = Conversation(loaded), Conversation(loaded)
    finish(alice, alice.send("hello from alice", [], ReplyOptions(settings=SHORT.settings, adapter="first")))
    finish(bob, bob.send("مرحبا من بوب", [], ReplyOptions(settings=SHORT.settings, adapter=None)))
    finish(alice, alice.send("again", [], ReplyOptions(settings=SHORT.settings, adapter="first")))
    assert seen == ["first", None, "first"]
    assert "bob" not in str(chat_messages(alice)) and "alice" not in str(chat_messages(bob))


def test_the_adapter_selector_lists_the_loaded_adapters_and_choosing_one_leaves_others_alone(tiny_dirs, tmp_path):
    directory = tiny_dirs("llama")
    adapter = str(make_adapter(directory, tmp_path / "first", seed=1))
    pool = ModelPool([ModelSpec(str(directory), (adapter,))])
    demo = build_chat_app(pool)
    selector = next(block for block in demo.blocks.values() if getattr(block, "elem_id", None) == "bmx-adapter")
    assert [value for _, value in selector.choices] == ["none", "first"] and selector.value == "none"  # none unless configured (--default-adapter)
    loaded = pool.get(pool.default)
    alice, bob = Conversation(loaded), Conversation(loaded)
    finish(alice, alice.send("hello", [], ReplyOptions(settings=SHORT.settings, adapter=chosen_adapter(loaded, "none"))))
    finish(bob, bob.send("hello", [], ReplyOptions(settings=SHORT.settings, adapter=chosen_adapter(loaded, "first"))))
    # A choice is the session's own: it applies to that session's replies only.
    assert alice.options.adapter is None and bob.options.adapter == "first"
    assert chosen_adapter(loaded, "not-loaded-here") is None  # a selector left over from another model


@pytest.mark.parametrize("seed,expected", [(-1, None), (None, None), (0, 0), (42.0, 42)])
def test_a_negative_seed_means_a_random_one(seed, expected):
    assert chat_options("auto", 0.7, 0.9, 16, 1.1, seed, "none").settings.seed == expected


def _respond(handlers, conversation, text):
    """Run the chat's Send handler to its end; returns (what the chat shows, the input box)."""
    outputs = list(handlers.respond({"text": text, "files": []}, conversation, "auto", 0, 0.9, 4, 1.0, 0, "none", "en"))
    return outputs[-1][0], outputs[-1][1]


def test_stop_while_a_message_waits_in_the_queue_keeps_it_from_starting(tiny_dirs):
    from ui.handlers import ChatHandlers

    handlers = ChatHandlers(ModelPool([ModelSpec(str(tiny_dirs("llama")))]))
    conversation, stop_button = handlers.expect_reply(None)  # Send clicked: the request queues ...
    assert stop_button["interactive"] is True  # Stop is enabled from the click
    handlers.stop(conversation)  # ... and Stop comes before its turn
    shown, box = _respond(handlers, conversation, "What is anemia?")
    assert shown == [] and box["text"] == "What is anemia?"  # never sent; the text stays to send again
    assert conversation.messages == []

    handlers.stop(conversation)  # a late Stop, after everything ended ...
    handlers.expect_reply(conversation)  # ... does not swallow the next message
    shown, box = _respond(handlers, conversation, "What is anemia?")
    assert [m["role"] for m in shown] == ["user", "assistant"] and box.get("text") != "What is anemia?"
    assert handlers.stop_button(conversation)["interactive"] is False  # nothing runs: Stop is off


def test_stop_that_misses_a_reply_by_a_moment_still_stops_it(text_model):
    conversation = Conversation(text_model)
    conversation.stop()  # read `pending` just before the reply was filed there
    finish(conversation, reply := conversation.send("What is anemia?", [], SHORT))
    assert reply.finish_reason == "stopped" and reply.text == ""
    assert not conversation.stop_requested  # used up: the next message runs
    finish(conversation, reply := conversation.send("And the treatment?", [], SHORT))
    assert reply.finish_reason != "stopped" and reply.text


# --- every caller gets the same reasons --------------------------------------------------

SCRIPTS = {  # reason -> (what the model "writes", then: "eos" | "more" | "until stopped" | "fail")
    "done": ("Rest and drink fluids.", "eos"),
    "stop_string": ("Rest.\nUser: and you?", "more"),
    "length": ("one two three four five six seven eight nine ten " * 3, "more"),
    "stopped": ("Rest and", "until stopped"),
    "failed": ("Rest and drink fluids.", "fail"),
}
LIMIT = ReplyOptions(settings=GenerationSettings(temperature=0, max_new_tokens=24, repetition_penalty=1.0))


def scripted_backend(reason):
    """Tokens as a model would send them for `reason`, in the tokenizer of the model asked."""
    from engine.backend import registered

    text, end = SCRIPTS[reason]

    def backend(request, stop):
        model = registered(request.model_key)
        tokens = model.tokenizer(text, add_special_tokens=False)["input_ids"]
        yield from tokens[:3] if end == "fail" else tokens
        if end == "eos":
            yield model.stop_token_ids[0]
        elif end == "fail":
            raise RuntimeError("the GPU fell over")
        while end == "until stopped" and not stop.is_set():
            threading.Event().wait(0.05)  # a model's pace: Stop comes long before the length limit
            yield tokens[-1]
    return backend


def read(replies, stop):
    """Read replies to their end (pressing Stop after the first chunk when `stop` is given)."""
    try:
        for index, _ in enumerate(replies):
            if index == 0 and stop:
                stop()
    except UserFacingError:
        pass


def reasons_from(caller, reason, model, pool, tmp_path):
    from engine.reply import reply
    from engine.session import ChatSession
    from engine.messages import Message

    backend = scripted_backend(reason)
    stopping = reason == "stopped"
    if caller == "reply":
        answer = reply(model, [Message("user", "What helps a cold?")], LIMIT, backend=backend)
        read(answer, stopping and answer.stop)
        return [answer.finish_reason]
    if caller in ("session", "session regenerate"):
        session = ChatSession(model, LIMIT, backend=scripted_backend("done"))
        answer = session.send("What helps a cold?")
        if caller == "session regenerate":
            read(answer, None)
            session.backend = backend
            answer = session.regenerate()
        else:
            session.backend = backend
            answer = session.send("And a fever?")
        read(answer, stopping and answer.stop)
        return [answer.finish_reason]
    if caller in ("chat", "chat regenerate"):
        conversation = Conversation(model, backend if caller == "chat" else scripted_backend("done"))
        answer = conversation.send("What helps a cold?", [], LIMIT)
        if caller == "chat regenerate":
            finish(conversation, answer)
            conversation.session.backend = backend
            answer = conversation.regenerate(LIMIT)
        read(answer, stopping and conversation.stop)
        conversation.finish(answer)
        return [answer.finish_reason]
    from arena import ensure_study, open_store
    from ui.arena_round import ArenaConfig, ArenaRound

    store = open_store(str(tmp_path / "arena.db"))
    ensure_study(store, "default")
    arena = ArenaRound(pool, store, ArenaConfig(), backend)
    arena.join("Dr Sara", None)
    replies = []
    for side in arena.sides:  # keep each side's Reply as the round starts it
        side.send = lambda *args, _send=side.send: replies.append(_send(*args)) or replies[-1]
    read(arena.send("What helps a cold?", [], LIMIT), stopping and (lambda: [s.stop() for s in arena.sides]))
    assert all(side.pending is None for side in arena.sides)
    return [answer.finish_reason for answer in replies]


@pytest.fixture(scope="module")
def transcript_model(tiny_dirs):
    return load_model(str(tiny_dirs("mixtral")))  # the transcript format: it has stop strings


@pytest.fixture(scope="module")
def transcript_pool(tiny_dirs, tmp_path_factory):
    mixtral = tiny_dirs("mixtral")
    adapter = make_adapter(mixtral, tmp_path_factory.mktemp("mixtral-adapter") / "kind", seed=3,
                           targets=("q_proj", "v_proj"))
    return ModelPool([ModelSpec(str(mixtral), (str(adapter),))])  # contestants: bare and with "kind"


@pytest.mark.parametrize("reason", list(SCRIPTS))
@pytest.mark.parametrize("caller", ["reply", "session", "session regenerate", "chat", "chat regenerate", "arena"])
def test_every_caller_gets_the_same_finish_reason(caller, reason, transcript_model, transcript_pool, tmp_path):
    model = transcript_pool.get(transcript_pool.default) if caller == "arena" else transcript_model
    reasons = reasons_from(caller, reason, model, transcript_pool, tmp_path)
    assert reasons == [reason] * len(reasons) and reasons
