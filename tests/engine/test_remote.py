"""The remote backend (engine/endpoints.py, engine/remote.py) against `python -m engine serve`
in a subprocess, over real HTTP: the same `reply` call as a local model."""

from __future__ import annotations

import threading
import time

import pytest
from PIL import Image

from engine.endpoints import (BYTES_PER_TOKEN, TOKENS_PER_MESSAGE, Endpoint, connect, estimate_tokens, load_endpoints,
                              parse_remote)
from engine.errors import UserFacingError
from engine.generation import GenerationSettings
from engine.images import MedicalImage
from engine.messages import Message
from engine.pool import ModelPool, ModelSpec
from engine.reply import ReplyOptions, reply
from engine.session import ChatSession
from evaluate.servers import engine_server, free_port, metrics

KEY = "remote-key-5521"
GREEDY = GenerationSettings(temperature=0, max_new_tokens=8, repetition_penalty=1.0)


@pytest.fixture(scope="module")
def server(tiny_dirs):
    with engine_server(f"--model={tiny_dirs('llama')}", f"--model={tiny_dirs('llava')}", "--api-key-env",
                       "BIMEDIX_REMOTE_KEY", env={"BIMEDIX_REMOTE_KEY": KEY}) as url:
        yield url


@pytest.fixture
def keyed(monkeypatch):
    monkeypatch.setenv("BIMEDIX_REMOTE_KEY", KEY)
    return "BIMEDIX_REMOTE_KEY"


def model_name(tiny_dirs, family):
    return tiny_dirs(family).name


def remote(server, tiny_dirs, family="llama", **fields):
    return connect(Endpoint(f"remote-{family}", server, model_name(tiny_dirs, family),
                            api_key_env="BIMEDIX_REMOTE_KEY", **fields))


def image() -> MedicalImage:
    return MedicalImage(Image.new("RGB", (24, 24), (10, 200, 40)), "scan.png", "png", "PNG 24×24")


def test_connect_reads_the_context_and_counts_on_the_server(server, tiny_dirs, keyed):
    model = remote(server, tiny_dirs)
    assert model.context_window > 1000 and model.counter == "server" and not model.reads_images
    assert remote(server, tiny_dirs, "llava").reads_images
    assert remote(server, tiny_dirs, context_length=512).context_window == 512
    assert model.card.family == "remote" and "127.0.0.1" in model.card.description


def test_a_remote_reply_streams_like_a_local_one(server, tiny_dirs, keyed):
    model = remote(server, tiny_dirs)
    answer = reply(model, [Message("user", "I have a headache")], ReplyOptions(settings=GREEDY))
    chunks = list(answer)
    assert answer.text == "".join(c.text for c in chunks) and answer.text
    assert answer.finish_reason == "length" and answer.completion_tokens == 8
    assert answer.language == "en" and answer.prompt_tokens > 0


def test_arabic_turns_get_the_arabic_request_and_the_bilingual_system_prompt(server, tiny_dirs, keyed):
    from engine.endpoints import REMOTE_SYSTEM
    from engine.remote import count_prompt, openai_messages

    model = remote(server, tiny_dirs)
    answer = reply(model, [Message("user", "عندي صداع منذ يومين")], ReplyOptions(settings=GREEDY))
    list(answer)
    assert answer.language == "ar"
    sent = openai_messages([Message("system", REMOTE_SYSTEM), Message("user", "عندي صداع")], "ar")
    assert sent[-1]["content"].endswith("أجب باللغة العربية.") and sent[0]["content"] == REMOTE_SYSTEM
    counted = count_prompt(model, [Message("system", REMOTE_SYSTEM), Message("user", "عندي صداع منذ يومين")], "ar")
    assert counted.token_count == answer.prompt_tokens


def test_images_go_as_data_urls_to_the_llava_model(server, tiny_dirs, keyed):
    model = remote(server, tiny_dirs, "llava")
    history = [Message("user", "what is this?", (image(),)), Message("assistant", "A green square."),
               Message("user", "and now?", (image(),))]
    answer = reply(model, history, ReplyOptions(settings=GREEDY))
    list(answer)
    assert answer.finish_reason in ("done", "length") and answer.intake_notes == () and answer.text
    text_model = remote(server, tiny_dirs)
    with pytest.raises(UserFacingError) as caught:  # refused in the app: nothing goes to the server
        reply(text_model, [Message("user", "what is this?", (image(),))], ReplyOptions(settings=GREEDY))
    assert caught.value.code == "model_cannot_read_images"
    # an older turn's image (sent before a switch of models) is left out: the text is answered
    answer = reply(text_model, [*history[:2], Message("user", "and now?")], ReplyOptions(settings=GREEDY))
    list(answer)
    assert answer.finish_reason in ("done", "length") and answer.intake_notes == ()


def test_stop_closes_the_stream_and_the_server_aborts(server, tiny_dirs, keyed):
    model = remote(server, tiny_dirs)
    before = metrics(server, Authorization=f"Bearer {KEY}")["bimedix_replies_aborted_total"]
    settings = GenerationSettings(temperature=0, max_new_tokens=20_000, repetition_penalty=1.0)
    answer = reply(model, [Message("user", "tell me everything")], ReplyOptions(settings=settings))
    chunks = iter(answer)
    next(chunks)
    started = time.monotonic()
    answer.stop()
    rest = list(chunks)
    assert time.monotonic() - started < 2 and answer.finish_reason == "stopped" and len(rest) < 50
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        figures = metrics(server, Authorization=f"Bearer {KEY}")
        if figures["bimedix_replies_running"] == 0 and figures["bimedix_generation_threads"] == 0:
            break
        time.sleep(0.1)
    assert figures["bimedix_replies_running"] == 0 and figures["bimedix_replies_aborted_total"] == before + 1


def test_history_is_fitted_to_the_servers_context(server, tiny_dirs, keyed):
    model = remote(server, tiny_dirs, context_length=600)
    history = []
    for turn in range(12):
        history += [Message("user", f"question {turn} about a fever and a cough"), Message("assistant", "an answer " * 8)]
    answer = reply(model, [*history, Message("user", "and now?")], ReplyOptions(settings=GREEDY))
    list(answer)
    assert 0 < answer.dropped_turns < 12 and answer.prompt_tokens <= 600 - 8


def test_a_local_tokenizer_counts_when_the_endpoint_names_one(server, tiny_dirs, keyed):
    model = remote(server, tiny_dirs, tokenizer=str(tiny_dirs("llama")))
    assert model.counter == "tokenizer"
    answer = reply(model, [Message("user", "hello there")], ReplyOptions(settings=GREEDY))
    list(answer)
    assert answer.prompt_tokens > 0


def test_the_estimate_is_never_below_the_true_count(preview):
    text = "عندي ألم في الصدر منذ الصباح and a cough since yesterday"
    messages = [{"role": "user", "content": text}]
    estimate = estimate_tokens(messages)
    assert estimate == -(-len(text.encode()) // BYTES_PER_TOKEN) + TOKENS_PER_MESSAGE
    assert estimate >= len(preview.tokenizer(text)["input_ids"])


def test_a_server_that_is_down_is_said_in_both_languages(tiny_dirs):
    endpoint = Endpoint("gone", f"http://127.0.0.1:{free_port()}/v1", "bimedix2")
    with pytest.raises(UserFacingError) as raised:
        connect(endpoint)
    assert raised.value.code == "remote_unreachable"
    assert "cannot be reached" in raised.value.message("en") and "تعذّر الوصول" in raised.value.message("ar")


def test_a_server_that_goes_down_mid_chat_leaves_the_chat_usable(tiny_dirs, monkeypatch):
    monkeypatch.setenv("BIMEDIX_REMOTE_KEY", KEY)
    with engine_server(f"--model={tiny_dirs('llama')}", "--api-key-env", "BIMEDIX_REMOTE_KEY",
                       env={"BIMEDIX_REMOTE_KEY": KEY}) as url:
        model = remote(url, tiny_dirs)
        session = ChatSession(model, ReplyOptions(settings=GREEDY))
        list(session.send("hello"))
    with pytest.raises(UserFacingError) as raised:  # counting the prompt on the server already fails
        list(session.send("are you there?"))
    assert raised.value.code == "remote_unreachable" and "تعذّر الوصول" in raised.value.message("ar")
    assert [m.role for m in session.messages][:2] == ["user", "assistant"]
    # A server that fails after the prompt was counted: the reply ends "failed", said the same way.
    session.model.counter = "estimate"
    answer = session.send("still there?")
    with pytest.raises(UserFacingError) as raised:
        list(answer)
    assert answer.finish_reason == "failed" and raised.value.code == "remote_unreachable"


def test_a_wrong_key_is_said(server, tiny_dirs, monkeypatch):
    monkeypatch.setenv("WRONG_KEY", "not-the-key")
    with pytest.raises(UserFacingError) as raised:
        connect(Endpoint("keyed", server, model_name(tiny_dirs, "llama"), api_key_env="WRONG_KEY"))
    assert raised.value.code == "remote_auth" and "WRONG_KEY" in raised.value.message("en")


def test_the_pool_offers_remote_models_by_their_servers_name(server, tiny_dirs, keyed):
    spec = f"openai:{model_name(tiny_dirs, 'llama')}@{server}"
    pool = ModelPool([ModelSpec("preview"), ModelSpec(spec)], api_key_env="BIMEDIX_REMOTE_KEY")
    assert pool.public_name(spec) == model_name(tiny_dirs, "llama") and "127.0.0.1" not in pool.public_name(spec)
    assert pool.by_public_name(model_name(tiny_dirs, "llama")) == spec
    loaded = pool.get(spec)
    assert loaded.counter == "server" and loaded.adapters.names() == []


def test_remote_specs_and_endpoint_files(tmp_path):
    endpoint = parse_remote("openai:bimedix2@http://gpu-box:8000/v1")
    assert (endpoint.model, endpoint.base_url, endpoint.host, endpoint.server_root) == (
        "bimedix2", "http://gpu-box:8000/v1", "gpu-box:8000", "http://gpu-box:8000")
    assert parse_remote("openai:org/model@v2@https://h/v1").model == "org/model@v2"
    with pytest.raises(ValueError):
        parse_remote("openai:bimedix2")
    (tmp_path / "endpoints.yaml").write_text(
        "- name: gpu\n  base_url: http://gpu-box:8000/v1/\n  model: bimedix2\n  multimodal: true\n"
        "  context_length: 8192\n  api_key_env: GPU_KEY\n", encoding="utf-8")
    [loaded] = load_endpoints(tmp_path / "endpoints.yaml")
    assert loaded == Endpoint("gpu", "http://gpu-box:8000/v1", "bimedix2", "GPU_KEY", True, 8192)
    (tmp_path / "bad.yaml").write_text("- name: gpu\n  base_url: http://x/v1\n  model: m\n  colour: red\n")
    with pytest.raises(ValueError, match="colour"):
        load_endpoints(tmp_path / "bad.yaml")


def test_stop_works_while_the_server_sends_nothing(tiny_dirs):
    """A server that accepts the request and then stalls: Stop still ends the reply."""
    def stall(conn):  # /v1/models answers, /tokenize is not there, the chat request is never answered
        time.sleep(30)

    model = connect(Endpoint("stalled", raw_server(stall), "m"))
    assert model.counter == "estimate" and model.context_window == 4096  # the server says neither
    answer = reply(model, [Message("user", "hello")], ReplyOptions(settings=GREEDY))
    threading.Timer(1.0, answer.stop).start()
    started = time.monotonic()
    list(answer)
    assert time.monotonic() - started < 5 and answer.finish_reason == "stopped"


def test_a_remote_contestant_battles_a_local_one_and_its_leak_is_caught(server, tiny_dirs, keyed, tmp_path):
    from arena import ensure_study, load_votes, open_store
    from engine.backend import local_tokens
    from ui.arena_round import ArenaConfig, ArenaRound

    spec = f"openai:{model_name(tiny_dirs, 'llama')}@{server}"
    pool = ModelPool([ModelSpec(str(tiny_dirs("gemma"))), ModelSpec(spec)], api_key_env="BIMEDIX_REMOTE_KEY")
    store = open_store(str(tmp_path / "arena.db"))
    ensure_study(store, "default")
    arena = ArenaRound(pool, store, ArenaConfig(), local_tokens)
    arena.join("Dr Sara", None)
    assert {arena.battle.model_a, arena.battle.model_b} == {str(tiny_dirs("gemma")), spec}
    for _ in arena.send("What is anemia?", [], ReplyOptions(settings=GREEDY)):
        pass
    assert arena.can_vote and all(side.messages[-1].content for side in arena.sides)
    remote_side = next(side for side in arena.sides if side.loaded.key.startswith("remote:"))
    # A remote reply that names its model is flagged like a local one.
    remote_side.session.messages[-1] = Message("assistant", f"I am {model_name(tiny_dirs, 'llama')}.")
    arena.vote("tie", None, "en")
    (stored,) = load_votes(store, "default")
    assert stored.flagged_leak


def sse_server(pieces: list[str]) -> str:
    """A fake OpenAI-compatible server that streams `pieces` as one reply's deltas, as a
    server whose decoder keeps the first word's separator space sends them. Returns its URL."""
    import json

    def event(delta: dict, finish=None) -> bytes:
        body = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return b"data: " + json.dumps(body).encode() + b"\n\n"

    def stream(conn):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
                     + b"".join(event({"content": piece}) for piece in pieces)
                     + event({}, "stop") + b"data: [DONE]\n\n")
    return raw_server(stream)


def raw_server(on_chat_request) -> str:
    """A bare HTTP server on a free port, in a thread: /v1/models names model "m", other
    paths are 404, and a chat request's connection goes to `on_chat_request(conn)`.
    Returns its /v1 URL."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def serve():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            request = conn.recv(65536)
            if b"/chat/completions" in request:
                on_chat_request(conn)
            else:
                status, body = ((b"200 OK", b'{"object":"list","data":[{"id":"m","object":"model"}]}')
                                if b"/models" in request else (b"404 Not Found", b'{"detail":"Not Found"}'))
                conn.sendall(b"HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                             b"Connection: close\r\n\r\n%s" % (status, len(body), body))
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}/v1"


@pytest.mark.parametrize("pieces, text", [
    ([" If", " you", " can"], "If you can"),  # the separator space before the first word goes
    ([" ", "If", " so"], "If so"),  # also when it comes alone
    (["  indented", " code"], "  indented code"),  # indentation is the reply's own
    (["\nHello"], "\nHello"),
    ([" ", " "], "  "),  # spaces alone: kept as they came
    (["No", " space"], "No space"),
])
def test_a_remote_reply_does_not_start_with_the_separator_space(pieces, text):
    """As a local reply (engine/detokenizer.py): the same text whichever side decoded it."""
    model = connect(Endpoint("spaced", sse_server(pieces), "m"))
    answer = reply(model, [Message("user", "hello")], ReplyOptions(settings=GREEDY))
    chunks = list(answer)
    assert answer.text == text == "".join(chunk.text for chunk in chunks)
    assert answer.finish_reason == "done"
