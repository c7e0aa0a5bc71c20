"""Last in tests/vllm (it restarts the server): vLLM's API server killed with SIGKILL is
noticed, the people whose replies fail meanwhile are told it is restarting, in their
language, and the app's model answers again once it is back, on the same address."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from engine.errors import UserFacingError
from engine.generation import GenerationSettings
from engine.messages import Message
from engine.reply import ReplyOptions, reply

GREEDY = ReplyOptions(settings=GenerationSettings(temperature=0, max_new_tokens=8, repetition_penalty=1.0))
RESTART_S = 900


def children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def failure_of(model) -> UserFacingError:
    try:
        list(reply(model, [Message("user", "Hello?")], GREEDY))
    except UserFacingError as error:
        return error
    raise AssertionError("it replied while vLLM was down")


def test_vllm_killed_is_restarted_and_people_are_told_meanwhile(managed):
    server = managed.supervisor
    guard = server.pid
    (api_server,) = children(guard)  # the guard runs `vllm serve`, which runs its engine process
    os.kill(api_server, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while server.state == "ready" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.state == "restarting"
    error = failure_of(managed)
    assert error.code == "engine_restarting"
    assert "being restarted" in error.message("en") and "إعادة تشغيله" in error.message("ar")
    deadline = time.monotonic() + RESTART_S
    while server.state != "ready" and time.monotonic() < deadline:
        time.sleep(1)
    assert server.state == "ready" and server.pid != guard
    answer = reply(managed, [Message("user", "What can cause a fever?")], GREEDY)
    list(answer)
    assert answer.finish_reason in ("done", "length") and answer.text.strip()
