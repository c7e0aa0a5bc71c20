"""The vLLM the app starts itself (engine/vllm_managed.py, engine/vllm_engine.py): the command
built from the card, the start, a crash noticed and recovered (and said to the person in
their language meanwhile), the stop that leaves no process, the fallback when it cannot
start, and the engine choice. The process here is a stand-in (tests/engine/standin_vllm.py:
this project's own OpenAI server); scripts/test_vllm.sh runs the same on a real vLLM."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.cards import CARDS, local_card
from engine.engines import EngineChoice, choose_engine, requested_engine
from engine.errors import UserFacingError
from engine.generation import GenerationSettings
from engine.messages import Message
from engine.reply import ReplyOptions, reply
from engine.vllm_engine import open_on_vllm
from tests.engine.standin_vllm import write_command
from engine.vllm_managed import (ManagedVllm, VllmFailed, VllmSettings, find_vllm, group_alive, lora_rank,
                                 serve_command)

ROOT = Path(__file__).resolve().parents[2]
GREEDY = ReplyOptions(settings=GenerationSettings(temperature=0, max_new_tokens=8, repetition_penalty=1.0))


@pytest.fixture
def standin(tmp_path) -> Path:
    """An executable `vllm` that is the stand-in server."""
    return write_command(tmp_path)


def failure_of(model) -> UserFacingError:
    """Why a reply fails: raised before it starts (the prompt is counted on the server) or
    as the reply's error."""
    try:
        list(reply(model, [Message("user", "Hello?")], GREEDY))
    except UserFacingError as error:
        return error
    raise AssertionError("it replied")


# The command line, from what the card knows.

def test_the_preview_on_a_cpu_gets_its_template_length_and_float32():
    command = serve_command("/x/vllm", CARDS["preview"], "/w/preview-weights", {}, 5555, gpu=False)
    assert command == ["/x/vllm", "serve", "/w/preview-weights", "--host", "127.0.0.1", "--port", "5555",
                       "--served-model-name", "preview", "--dtype", "float32",
                       "--chat-template", str(ROOT / "engine/chat_templates/transcript.jinja"),
                       "--max-model-len", "2048"]


def test_a_mixtral_card_on_a_gpu_is_4bit_with_its_adapters_as_lora_modules(tiny_dirs, tmp_path):
    from tests.engine.test_loading import make_adapter

    llama = tiny_dirs("llama")
    first, second = make_adapter(llama, tmp_path / "first", seed=1), make_adapter(llama, tmp_path / "second", seed=2)
    card = CARDS["bimedix-bi"]
    adapters = {"first": str(first), "second": str(second)}
    command = serve_command("vllm", card, card.weights, adapters, 5555, gpu=True)
    assert command[command.index("--dtype") + 1] == "auto"
    assert command[command.index("--quantization") + 1] == "bitsandbytes"
    assert command[command.index("--lora-modules") + 1:] == [f"first={first}", f"second={second}"]
    assert "--enable-lora" in command and command[command.index("--max-loras") + 1] == "2"
    rank = json.loads((first / "adapter_config.json").read_text())["r"]
    assert int(command[command.index("--max-lora-rank") + 1]) == lora_rank([first, second]) >= rank
    assert "--chat-template" in command and "--limit-mm-per-prompt" not in command


def test_bimediX2_gets_an_image_limit_and_its_llava_template():
    command = serve_command("vllm", CARDS["bimedix2-8b"], "w", {}, 1, gpu=True)
    assert json.loads(command[command.index("--limit-mm-per-prompt") + 1]) == {"image": 8}
    assert command[command.index("--chat-template") + 1].endswith("llama3_llava.jinja")


def test_lora_ranks_round_up_to_what_vllm_takes(tmp_path):
    for r, expected in ((4, 8), (8, 8), (12, 16), (64, 64), (100, 128)):
        folder = tmp_path / f"r{r}"
        folder.mkdir()
        (folder / "adapter_config.json").write_text(json.dumps({"r": r}))
        assert lora_rank([folder]) == expected


# Which vLLM, which engine.

def test_the_vllm_command_is_found_from_the_variable_and_missing_is_said(standin, monkeypatch):
    monkeypatch.setenv("BIMEDIX_VLLM", str(standin))
    assert find_vllm() == str(standin)
    monkeypatch.setenv("BIMEDIX_VLLM", "/nowhere/vllm")
    monkeypatch.setenv("PATH", "/nowhere")
    monkeypatch.setattr("engine.vllm_managed.ROOT", Path("/nowhere"))
    with pytest.raises(VllmFailed, match="not installed"):
        ManagedVllm.for_card(CARDS["preview"])


def test_the_engine_is_the_flag_else_the_variable_else_the_best_this_machine_runs(monkeypatch):
    monkeypatch.delenv("BIMEDIX_ENGINE", raising=False)
    yes, no = (lambda: True), (lambda: False)
    assert choose_engine(None, has_gpu=no, vllm_found=yes) == EngineChoice("transformers", "auto: no GPU on this machine")
    assert choose_engine(None, has_gpu=yes, vllm_found=no).name == "transformers"
    assert choose_engine(None, has_gpu=yes, vllm_found=yes).name == "vllm"
    assert choose_engine("vllm", has_gpu=no, vllm_found=no) == EngineChoice("vllm", "asked for")
    monkeypatch.setenv("BIMEDIX_ENGINE", "vllm")
    assert choose_engine(None, has_gpu=no, vllm_found=no).name == "vllm"
    assert choose_engine("transformers", has_gpu=yes, vllm_found=yes).name == "transformers"  # the flag wins
    monkeypatch.setenv("BIMEDIX_ENGINE", "fastest")
    with pytest.raises(ValueError, match="auto, transformers, vllm"):
        requested_engine(None)


# The process: start, crash, restart, stop.

def test_it_starts_replies_recovers_from_kill_9_and_stops_with_nothing_left(tiny_dirs, standin, tmp_path, monkeypatch):
    record = tmp_path / "starts.jsonl"
    monkeypatch.setenv("STANDIN_RECORD", str(record))
    card = local_card(tiny_dirs("llama"))
    model = open_on_vllm(card, (), VllmSettings(executable=str(standin), work_dir=tmp_path / "work"))
    server = model.supervisor
    try:
        assert server.state == "ready" and model.engine == "vllm" and model.card.title == card.title
        answer = reply(model, [Message("user", "What can cause a fever?")], GREEDY)
        list(answer)
        assert answer.finish_reason in ("done", "length") and answer.completion_tokens > 0
        started = [json.loads(line) for line in record.read_text().splitlines()]
        assert started[0]["has_key"] and all(server._key not in part for part in started[0]["argv"])

        first, vllm = server.pid, started[0]["pid"]
        os.kill(vllm, signal.SIGKILL)  # what a crash looks like from outside
        deadline = time.monotonic() + 30
        while server.state == "ready" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.state == "restarting"
        assert not group_alive(first)  # its engine process went with it
        for lang, said in (("en", "being restarted"), ("ar", "إعادة تشغيله")):
            assert said in failure_of(model).message(lang)
        deadline = time.monotonic() + 120
        while server.state != "ready" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert server.state == "ready" and server.pid != first
        answer = reply(model, [Message("user", "What can cause a fever?")], GREEDY)
        list(answer)
        assert answer.finish_reason in ("done", "length")
    finally:
        second = server.pid
        server.stop()
    assert server.state == "stopped" and not group_alive(second)


def test_a_vllm_that_stops_answering_is_restarted(tiny_dirs, standin, tmp_path, monkeypatch, caplog):
    caplog.set_level("WARNING", logger="engine.vllm_managed")
    record = tmp_path / "starts.jsonl"
    monkeypatch.setenv("STANDIN_RECORD", str(record))
    monkeypatch.setattr("engine.vllm_managed.HEALTH_EVERY_S", 0.5)
    monkeypatch.setattr("engine.vllm_managed.HEALTH_TIMEOUT_S", 0.5)
    server = ManagedVllm.for_card(local_card(tiny_dirs("llama")), (),
                                  VllmSettings(executable=str(standin), work_dir=tmp_path / "work"))
    server.start()
    try:
        first = json.loads(record.read_text().splitlines()[0])["pid"]
        os.kill(first, signal.SIGSTOP)  # alive, answering nothing
        deadline = time.monotonic() + 120
        while len(record.read_text().splitlines()) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        while server.state != "ready" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert server.state == "ready" and len(record.read_text().splitlines()) == 2
        assert "stopped answering /health" in caplog.text
    finally:
        server.stop()
    assert not group_alive(server.pid)


def test_a_vllm_that_cannot_start_says_why_and_the_model_runs_in_this_process(tiny_dirs, standin, monkeypatch, capsys):
    from engine.loading import LoadedModel
    from engine.pool import ModelPool, ModelSpec, open_model

    monkeypatch.setenv("STANDIN_FAIL", "1")
    monkeypatch.setenv("BIMEDIX_VLLM", str(standin))
    llama = str(tiny_dirs("llama"))
    model = open_model(llama, engine="vllm")
    assert isinstance(model, LoadedModel) and model.engine == "transformers"
    assert "vLLM could not be started" in capsys.readouterr().err

    pool = ModelPool([ModelSpec(llama, engine="vllm")])
    loaded, problem = pool.start()
    assert isinstance(loaded, LoadedModel)
    assert problem.code == "vllm_unavailable" and "code 3" in problem.message("en")
    assert "تعذّر تشغيل vLLM" in problem.message("ar")


def wait_until(condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert condition()


def test_the_app_offers_a_model_while_its_vllm_starts_and_says_how_long(tiny_dirs, standin, monkeypatch, caplog):
    from engine.pool import ModelPool, ModelSpec
    from ui.common import model_card
    from ui.strings import text

    caplog.set_level("INFO", logger="engine.vllm_managed")
    monkeypatch.setattr("engine.vllm_managed.PROGRESS_EVERY_S", 2.0)
    monkeypatch.setenv("BIMEDIX_VLLM", str(standin))
    monkeypatch.setenv("STANDIN_DELAY", "8")
    pool = ModelPool([ModelSpec(str(tiny_dirs("llama")), engine="vllm")], vllm_in_background=True)
    began = time.monotonic()
    loaded, problem = pool.start()
    server = loaded.supervisor
    try:
        assert time.monotonic() - began < 5 and problem is None  # the page need not wait for vLLM
        assert server.state == "starting" and pool.current(loaded) is loaded
        for lang, card_says, reply_says in (("en", "starting, about", "still starting"),
                                            ("ar", "قيد التشغيل، نحو", "لا يزال هذا التطبيق يشغّله")):
            assert card_says in model_card(loaded, lang) and text("engine_vllm", lang) not in model_card(loaded, lang)
            refused = failure_of(loaded)
            assert refused.code == "engine_starting" and reply_says in refused.message(lang)
        seconds = server.seconds_to_ready()
        time.sleep(1.1)
        assert server.seconds_to_ready() < seconds  # it counts down
        wait_until(lambda: server.state == "ready", 120)
        assert re.search(r"vLLM: starting, \d s so far, about \d+ s more", caplog.text)  # the terminal's progress
        wait_until(lambda: loaded.counter == "server", 30)  # what vLLM says, once it answers
        assert text("engine_vllm", "en") in model_card(loaded, "en") and "starting" not in model_card(loaded, "en")
        answer = reply(loaded, [Message("user", "What can cause a fever?")], GREEDY)
        list(answer)
        assert answer.finish_reason in ("done", "length") and answer.completion_tokens > 0
    finally:
        server.stop()
    assert not group_alive(server.pid)


def test_a_vllm_that_fails_after_the_page_is_up_hands_over_to_this_process(tiny_dirs, standin, monkeypatch):
    from engine.loading import LoadedModel
    from engine.pool import ModelPool, ModelSpec
    from ui.common import model_card
    from ui.conversation import Conversation
    from ui.handlers import ChatHandlers

    monkeypatch.setenv("BIMEDIX_VLLM", str(standin))
    monkeypatch.setenv("STANDIN_FAIL", "1")
    llama = str(tiny_dirs("llama"))
    pool = ModelPool([ModelSpec(llama, engine="vllm")], vllm_in_background=True)
    on_vllm, _ = pool.start()
    handlers = ChatHandlers(pool)
    begun = Conversation(on_vllm, handlers.backend)  # a conversation begun while vLLM started
    wait_until(lambda: isinstance(pool.current(on_vllm), LoadedModel), 60)
    in_process = pool.current(on_vllm)
    assert pool.get(llama) is in_process and in_process.engine == "transformers"
    problem = pool.problem_of(in_process)
    assert problem.code == "vllm_unavailable" and "code 3" in problem.message("en")
    assert problem.message("ar") in model_card(in_process, "ar", problem)
    assert handlers.conversation(begun).loaded is in_process  # it goes on in this process
    answer = reply(in_process, [Message("user", "Hello?")], GREEDY)
    list(answer)
    assert answer.finish_reason in ("done", "length")


def vllm_group(record: Path) -> int:
    """The process group of the first stand-in vLLM recorded (the guard's: the stand-in, its
    engine process and the guard itself), checked to be alive now."""
    group = os.getpgid(json.loads(record.read_text().splitlines()[0])["pid"])
    assert group_alive(group)
    return group


def test_the_app_process_killed_takes_its_vllm_with_it(tiny_dirs, standin, tmp_path):
    """SIGTERM (as a service manager stops it) and SIGKILL (nothing of the app runs after it)
    of `engine chat --engine vllm`: no process of the vLLM it started is left."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        record = tmp_path / f"starts-{sig}.jsonl"
        env = dict(os.environ, BIMEDIX_VLLM=str(standin), STANDIN_RECORD=str(record))
        chat = subprocess.Popen([sys.executable, "-m", "engine", "chat", "--engine", "vllm", "--model",
                                 str(tiny_dirs("llama")), "--max-new-tokens", "4"], cwd=ROOT, env=env,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 120
            while not record.exists() and time.monotonic() < deadline:
                time.sleep(0.2)
            group = vllm_group(record)
            chat.stdin.write("Hello\n")
            chat.stdin.flush()
            assert chat.stdout.readline()  # it replied: vLLM is up and in use
            chat.send_signal(sig)
            chat.wait(timeout=60)
            deadline = time.monotonic() + 40
            while group_alive(group) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert not group_alive(group), sig
        finally:
            chat.kill()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_the_app_stopped_with_ctrl_c_or_sigterm_stops_its_vllm(tiny_dirs, standin, tmp_path, sig):
    """The app itself (its page served while vLLM starts): Ctrl-C or SIGTERM, once vLLM is
    up, leaves no process of it."""
    from evaluate.servers import free_port
    from evaluate.servers import as_in_a_terminal

    record = tmp_path / "starts.jsonl"
    env = dict(os.environ, BIMEDIX_VLLM=str(standin), STANDIN_RECORD=str(record), GRADIO_ANALYTICS_ENABLED="False")
    log = (tmp_path / "app.log").open("w")
    app = subprocess.Popen([sys.executable, "app.py", "--port", str(free_port()), "--no-arena", "--engine", "vllm",
                            "--model", str(tiny_dirs("llama"))], cwd=ROOT, env=env, stdout=log,
                           stderr=subprocess.STDOUT, preexec_fn=as_in_a_terminal)
    try:
        wait_until(lambda: "vLLM is up" in (tmp_path / "app.log").read_text(), 180)
        group = vllm_group(record)
        app.send_signal(sig)
        app.wait(timeout=60)
        wait_until(lambda: not group_alive(group), 40)
    finally:
        app.kill()
        log.close()


def test_a_remote_error_of_a_server_the_app_does_not_run_is_worded_as_before(monkeypatch):
    from engine.endpoints import Endpoint, RemoteModel, remote_card
    from engine.remote import server_error

    endpoint = Endpoint("x", "http://127.0.0.1:9/v1", "m")
    model = RemoteModel(endpoint, remote_card(endpoint), None, 2048, False, "estimate")
    error = server_error(model, ConnectionError("refused"))
    assert isinstance(error, UserFacingError) and error.code == "remote_unreachable" and model.engine == "remote"
