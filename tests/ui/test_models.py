"""Choosing among the app's models at run time, DICOM/TIFF previews, and ZeroGPU.

ZeroGPU runs `spaces.GPU` functions in a forked worker and pickles their arguments and
results. `fake_spaces` below does the same (fork, pickle both ways, stop on close), so
these tests fail if session state had to cross the process boundary.
"""

import multiprocessing
import pickle
import sys
import threading
import types

import numpy as np
import pytest
from PIL import Image

from engine.backend import RemoteTokens
from engine.errors import UserFacingError
from engine.generation import GenerationSettings
from engine.pool import ModelPool, ModelSpec
from tests.engine.test_images import dicom_dataset, write_dicom
from engine.reply import ReplyOptions
from ui.conversation import PREVIEW_SUFFIX, Conversation
from ui.handlers import ChatHandlers
from ui.transcript import chat_messages

GREEDY = ReplyOptions(settings=GenerationSettings(temperature=0, max_new_tokens=5, repetition_penalty=1.0))
SETTINGS = ("auto", 0.0, 0.9, 5, 1.0, -1, "none")  # reply language ... adapter, as the screen sends them


@pytest.fixture(scope="module")
def pool(tiny_dirs):
    return ModelPool([ModelSpec(str(tiny_dirs("llama"))), ModelSpec(str(tiny_dirs("llava"))),
                      ModelSpec("bimedix-bi")], has_gpu=lambda: False)


def drain(handler_output):
    return list(handler_output)[-1]


def test_each_model_loads_once_however_many_sessions_ask(tiny_dirs):
    from engine.loading import load_model

    calls = []

    def loader(*args):
        calls.append(args)
        threading.Event().wait(0.2)  # slow enough for every thread to ask while it loads
        return load_model(*args)

    pool = ModelPool([ModelSpec(str(tiny_dirs("llama")))], loader=loader)
    results = []
    threads = [threading.Thread(target=lambda: results.append(pool.get(pool.default))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and len({id(model) for model in results}) == 1


def test_models_that_cannot_run_say_why_in_both_languages(pool, tmp_path):
    with pytest.raises(UserFacingError) as needs_gpu:
        pool.get("bimedix-bi")
    assert needs_gpu.value.code == "model_needs_gpu" and "GPU" in needs_gpu.value.message("ar")
    with pytest.raises(UserFacingError) as unknown:
        pool.get("gpt-17")
    assert unknown.value.code == "unknown_model" and "gpt-17" in unknown.value.message("ar")

    def broken(*args):
        raise OSError("weights not found")

    with pytest.raises(UserFacingError) as failed:
        ModelPool([ModelSpec(str(tmp_path))], loader=broken).get(str(tmp_path))
    assert failed.value.code == "model_load_failed" and "weights not found" in failed.value.message("en")
    misspelt = ModelPool([ModelSpec("bimedix-typo")])  # the app still starts ...
    with pytest.raises(UserFacingError) as typo:  # ... and choosing it says what is wrong
        misspelt.get("bimedix-typo")
    assert typo.value.code == "model_load_failed" and "neither a model card" in typo.value.message("en")


def test_switching_models_keeps_the_conversation_and_the_next_reply_uses_the_new_model(pool, tiny_dirs):
    handlers = ChatHandlers(pool)
    llama, llava = str(tiny_dirs("llama")), str(tiny_dirs("llava"))
    _, _, conversation = drain(handlers.respond({"text": "What is anemia?", "files": []}, None, *SETTINGS, "en"))
    assert conversation.loaded is pool.get(llama)
    name, card, adapter, conversation = handlers.switch_model(pool.public_name(llava), conversation, "ar")
    # The selector holds the public name (the directory's own), never the server path.
    assert name == tiny_dirs("llava").name and conversation.loaded is pool.get(llava) and "###" in card
    assert adapter["choices"] == [("بلا محوّل", "none")]  # worded in the interface language
    _, _, conversation = drain(handlers.respond({"text": "ما علاجه؟", "files": []}, conversation, *SETTINGS, "ar"))
    contents = [m.content for m in conversation.messages]
    assert contents[0] == "What is anemia?" and contents[2] == "ما علاجه؟" and len(contents) == 4


def test_a_model_that_cannot_load_leaves_the_selector_and_the_chat_as_they_were(pool, tiny_dirs):
    handlers = ChatHandlers(pool)
    _, _, conversation = drain(handlers.respond({"text": "hello", "files": []}, None, *SETTINGS, "en"))
    before = list(conversation.messages)
    name, card, adapter, after = handlers.switch_model("bimedix-bi", conversation, "en")
    assert name == tiny_dirs("llama").name  # the selector goes back
    assert after is conversation and conversation.messages == before


def test_no_switch_while_a_reply_is_being_written(pool):
    conversation = Conversation(pool.get(pool.default))
    reply = conversation.send("hello", [], GREEDY)
    with pytest.raises(UserFacingError) as busy:
        conversation.switch_model(pool.get(pool.names()[1]))
    assert busy.value.code == "generation_in_progress"
    reply.close()
    conversation.finish()


def test_dicom_and_tiff_uploads_are_shown_through_a_png_preview(pool, tiny_dirs, tmp_path):
    pixels = np.tile(np.arange(64, dtype=np.uint16) * 40, (48, 1))
    dicom = tmp_path / "chest.dcm"
    write_dicom(dicom, dicom_dataset(pixels))
    tiff = tmp_path / "slide.tif"
    Image.new("RGB", (30, 20), "red").save(tiff)
    png = tmp_path / "plain.png"
    Image.new("RGB", (30, 20), "blue").save(png)
    conversation = Conversation(pool.get(str(tiny_dirs("llava"))))  # a model that reads images
    reply = conversation.send("look", [str(dicom), str(tiff), str(png)], GREEDY)
    shown = conversation.pending.files
    assert shown[0] == str(dicom) + PREVIEW_SUFFIX and shown[1] == str(tiff) + PREVIEW_SUFFIX and shown[2] == str(png)
    with Image.open(shown[0]) as preview:
        assert preview.format == "PNG" and preview.size == (64, 48)
    files = chat_messages(conversation)[0]["content"]
    assert [f["orig_name"] for f in files[:3]] == ["chest.dcm", "slide.tif", "plain.png"]
    list(reply)
    conversation.finish()


def fake_spaces_gpu(function):
    """What ZeroGPU does with a generator function: run it in a forked process, arguments
    and results pickled, the worker told to stop when the caller closes the stream."""
    context = multiprocessing.get_context("fork")

    def handler(*args, **kwargs):
        payload = pickle.dumps((args, kwargs))  # a PicklingError here is what ZeroGPU raises
        results, stop = context.Queue(), context.Event()

        def worker():
            import torch

            torch.set_num_threads(1)  # CPU OpenMP pools are not fork-safe; ZeroGPU runs on CUDA
            args, kwargs = pickle.loads(payload)
            stream = function(*args, **kwargs)
            for item in stream:
                if stop.is_set():
                    stream.close()
                    break
                results.put(("item", pickle.dumps(item)))
            results.put(("end", None))

        process = context.Process(target=worker, daemon=True)
        process.start()
        try:
            while (message := results.get(timeout=120))[0] == "item":
                yield pickle.loads(message[1])
        except GeneratorExit:
            stop.set()
            raise
        finally:
            process.join(timeout=60)
            handler.exit_codes.append(process.exitcode)

    handler.exit_codes = []
    handler.wrapped = function
    return handler


@pytest.fixture
def fake_spaces(monkeypatch):
    module = types.ModuleType("spaces")
    module.GPU = fake_spaces_gpu
    monkeypatch.setitem(sys.modules, "spaces", module)
    return module


def test_on_zerogpu_only_token_generation_crosses_to_the_gpu_worker(fake_spaces, pool, tiny_dirs):
    from engine.backend import worker_tokens

    local = ChatHandlers(pool)
    _, _, expected = drain(local.respond({"text": "What is anemia?", "files": []}, None, *SETTINGS, "en"))
    handlers = ChatHandlers(pool)
    assert handlers.backend.run.wrapped is worker_tokens
    _, _, conversation = drain(handlers.respond({"text": "What is anemia?", "files": []}, None, *SETTINGS, "en"))
    # Same greedy reply as in-process, and the history lives in this process.
    assert conversation.messages[1].content == expected.messages[1].content
    _, _, conversation = drain(handlers.respond({"text": "ما علاجه؟", "files": []}, conversation, *SETTINGS, "en"))
    assert [m.role for m in conversation.messages] == ["user", "assistant"] * 2
    assert handlers.backend.run.exit_codes == [0, 0]


def test_on_zerogpu_stop_ends_the_worker(fake_spaces, tiny_dirs):
    from engine.loading import load_model

    pool = ModelPool([ModelSpec(str(tiny_dirs("llama")))], loader=lambda *a: load_model(*a))
    handlers = ChatHandlers(pool)
    long_reply = ("auto", 0.0, 0.9, 2000, 1.0, -1, "none")
    stream = handlers.respond({"text": "Tell me everything", "files": []}, None, *long_reply, "en")
    for _ in range(4):
        _, _, conversation = next(stream)
    stream.close()  # what Gradio does on Stop
    assert handlers.backend.run.exit_codes == [0]
    assert conversation.pending is None and conversation.messages[-1].role == "assistant"


@pytest.fixture(scope="module")
def adapter_pool(tiny_dirs, tmp_path_factory):
    """A tiny Llama with adapters "first" and "second" (the configured default: "second")."""
    from tests.engine.test_loading import make_adapter

    folder = tmp_path_factory.mktemp("two-adapters")
    llama = tiny_dirs("llama")
    adapters = tuple(str(make_adapter(llama, folder / name, seed=seed)) for name, seed in (("first", 1), ("second", 2)))
    return ModelPool([ModelSpec(str(llama), adapters, default_adapter="second"), ModelSpec(str(tiny_dirs("gemma")))])


A_SAYS = ["hello", "what is anemia?", "thanks"]
B_SAYS = ["مرحبا", "ما هو فقر الدم؟", "شكرا"]


def settings_with(adapter):
    return ("auto", 0.0, 0.9, 5, 1.0, -1, adapter)


def chat_alone(pool, lines, adapter):
    """The replies one person gets with `adapter`, nobody else on the app."""
    handlers, conversation = ChatHandlers(pool), None
    for line in lines:
        _, _, conversation = drain(handlers.respond({"text": line, "files": []}, conversation,
                                                    *settings_with(adapter), "en"))
    return [m.content for m in conversation.messages[1::2]]


def chat_interleaved(handlers, pool):
    """A picks "first"; B opens afterwards, takes what the screen offers; their turns interleave."""
    from ui.common import adapter_choices

    loaded = pool.get(pool.default)
    conversations, offered, turns = {}, {}, {"A": threading.Event(), "B": threading.Event()}

    def person(name, adapter, lines, other):
        conversation = None
        for line in lines:
            turns[name].wait(30)
            turns[name].clear()
            _, _, conversation = drain(handlers.respond({"text": line, "files": []}, conversation,
                                                        *settings_with(adapter or offered[name]), "en"))
            turns[other].set()  # one turn each, in turn
        conversations[name] = conversation

    alice = threading.Thread(target=person, args=("A", "first", A_SAYS, "B"))
    alice.start()
    turns["A"].set()
    turns["B"].wait(30)  # A has had a reply with "first": now B opens the app
    offered["B"] = adapter_choices(loaded, pool.default_adapter(pool.default))["value"]
    # ... and switches models back and forth, which used to inherit the last reply's adapter
    _, _, adapter, switched = handlers.switch_model(pool.names()[1], None, "en")
    _, _, adapter, switched = handlers.switch_model(pool.names()[0], switched, "en")
    offered["B switched"] = adapter["value"]
    bob = threading.Thread(target=person, args=("B", None, B_SAYS, "A"))
    bob.start()
    alice.join(120)
    bob.join(120)
    replies = {name: [m.content for m in c.messages[1::2]] for name, c in conversations.items()}
    return offered, replies


@pytest.mark.parametrize("zero_gpu", [False, True], ids=["local", "zerogpu"])
def test_one_persons_adapter_never_reaches_another_person(adapter_pool, zero_gpu, request):
    if zero_gpu:
        request.getfixturevalue("fake_spaces")
    expected_a = chat_alone(adapter_pool, A_SAYS, "first")
    expected_b = chat_alone(adapter_pool, B_SAYS, "second")
    assert expected_b != chat_alone(adapter_pool, B_SAYS, "first")  # the adapter shows in the replies
    handlers = ChatHandlers(adapter_pool)
    assert isinstance(handlers.backend, RemoteTokens) == zero_gpu
    offered, replies = chat_interleaved(handlers, adapter_pool)
    assert offered == {"B": "second", "B switched": "second"}  # the configured default, not A's choice
    assert replies == {"A": expected_a, "B": expected_b}  # each generated with their own adapter only


def test_a_new_session_starts_on_the_bare_model_unless_a_default_adapter_is_configured(adapter_pool):
    """Loading adapters "first" then "second" used to preselect "second" (the last loaded)."""
    from ui.chat import build_chat_app

    llama, gemma = adapter_pool.names()
    unset = ModelPool([ModelSpec(llama, adapter_pool.specs[llama].adapters), ModelSpec(gemma)])
    for pool, expected in ((unset, "none"), (adapter_pool, "second")):
        demo = build_chat_app(pool)
        adapter = next(block for block in demo.blocks.values() if getattr(block, "elem_id", None) == "bmx-adapter")
        assert adapter.value == expected
        handlers = ChatHandlers(pool)
        _, _, _, conversation = handlers.switch_model(pool.public_name(gemma), None, "en")
        _, _, offered, _ = handlers.switch_model(pool.public_name(llama), conversation, "en")
        assert offered["value"] == expected  # and after switching models back


@pytest.mark.parametrize("name", ["preview", "bimedix2-8b", "bimedix-bi"])
def test_the_model_card_reads_in_arabic_in_an_arabic_interface(name):
    from types import SimpleNamespace

    from engine.cards import CARDS
    from ui.common import model_card

    card = CARDS[name]
    from ui.strings import text

    shown = model_card(SimpleNamespace(card=card, engine="transformers"), "ar")
    assert card.description not in shown and card.notice not in shown  # no English left but the name
    assert card.description_ar in shown and card.notice_ar in shown
    assert text("engine_transformers", "ar") in shown  # which engine runs it, in Arabic too
    on_vllm = model_card(SimpleNamespace(card=card, engine="vllm"), "ar")
    assert text("engine_vllm", "ar") in on_vllm and "Engine" not in on_vllm
