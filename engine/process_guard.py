"""Run a command so that it and every process it starts end with the app, however it ends.

    python -m engine.process_guard COMMAND [ARGS...]

The app starts this guard with Linux's parent-death signal (engine/vllm_managed.py), in a
process group of its own. The guard runs COMMAND in that group and, on SIGTERM, SIGINT or
the parent's death (which arrives as SIGTERM, also after the app's SIGKILL, when nothing of
the app can clean up), ends the whole group: vLLM's API server and the engine processes it
starts, which the parent-death signal alone would leave behind. When COMMAND ends by
itself (a crash, kill -9), the guard ends what it left and exits with its code, so the
app sees the end at once. Imports nothing of the app: it starts in milliseconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

GRACE_S = 25  # vLLM exits in about 5 s, engine processes included


def end_group(first_signal: int = signal.SIGTERM) -> None:
    """Signal every other process of this group, wait for them, then kill what is left."""
    group = os.getpgrp()
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the group signal reaches the guard too
    for sig, wait in ((first_signal, GRACE_S), (signal.SIGKILL, 5)):
        try:
            os.killpg(group, sig)
            os.killpg(group, signal.SIGCONT)  # a stopped (hung on purpose, or paused) process acts on it
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and _others_alive(group):
            _reap()
            time.sleep(0.1)
        if not _others_alive(group):
            return


def _reap() -> None:
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass


def _others_alive(group: int) -> bool:
    """Whether a process other than this guard is left in the group (by /proc, Linux)."""
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            return True
    return False


def main(command: list[str]) -> int:
    child = subprocess.Popen(command)

    def stop(signum, frame):
        end_group()
        sys.exit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, stop)
    code = child.wait()
    end_group()  # what the command left, if it died alone
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
