"""Issue 26, item 7, as the attack was run: through the real HTTP stack (app.py in a
subprocess, spoken to the way a browser does: the queue's join and its event stream), from
several loopback source addresses (Linux lets a socket bind any 127.x address).

One local client spoofs four `X-Forwarded-For` addresses with wrong personal codes, enough
for the global lockout had each address counted as a client. Then a correct personal code
from a fresh address, and from one sending the same spoofed header, still gets in; the log
names the real peer, never a spoofed address; a configured trusted proxy is believed.
"""

from __future__ import annotations

import json
import re
import secrets
import sys

import httpx
import pytest

from arena import create_rater, ensure_study, open_store
from evaluate.servers import ROOT, free_port, subprocess_server

STUDY = "attack"
SPOOFED = ("198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4")
PROXY = "127.0.0.3"  # the one trusted proxy (BIMEDIX_TRUSTED_PROXIES)
WRONG = "AAAA-AAAA-AA"


class Browser:
    """One browser: its own cookie, connecting from `source` (a loopback address)."""

    def __init__(self, url: str, source: str):
        transport = httpx.HTTPTransport(local_address=source)
        self.http = httpx.Client(base_url=url, transport=transport, timeout=120)
        self.http.get("/").raise_for_status()  # the browser cookie comes with the first page
        dependencies = self.http.get("/config").json()["dependencies"]
        self.join_fn = next(d["id"] for d in dependencies if d.get("api_name") == "arena_join")

    def join(self, personal_code: str, forwarded_for: str | None = None) -> list[str]:
        """Press Join with `personal_code`; the warnings shown (none: joined)."""
        session = secrets.token_hex(8)
        headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
        body = {"data": ["", "", personal_code, None, "en"], "fn_index": self.join_fn, "session_hash": session,
                "event_data": None, "trigger_id": None}
        self.http.post("/gradio_api/queue/join", json=body, headers=headers).raise_for_status()
        warnings = []
        with self.http.stream("GET", "/gradio_api/queue/data", params={"session_hash": session},
                              headers=headers) as events:
            for line in events.iter_lines():
                message = json.loads(line[5:]) if line.startswith("data:") else {}
                if message.get("msg") == "log":
                    warnings.append(message.get("log", ""))
                if message.get("msg") == "process_completed":
                    assert message.get("success"), message
                    return warnings
        raise AssertionError(f"the join never completed: {warnings}")


@pytest.fixture(scope="module")
def attacked_app(tiny_dirs, tmp_path_factory):
    """The app with an arena study whose rater Dr Sara has a personal code: (url, code, log)."""
    database = tmp_path_factory.mktemp("attack") / "arena.db"
    store = open_store(str(database))
    ensure_study(store, STUDY)
    _, code = create_rater(store, STUDY, "Dr Sara")
    store.close()
    port = free_port()
    command = [sys.executable, "app.py", "--port", str(port), "--model", str(tiny_dirs("llama")),
               "--model", str(tiny_dirs("gemma")), "--arena-db", str(database), "--arena-study", STUDY]
    env = {"GRADIO_ANALYTICS_ENABLED": "False", "PYTHONPATH": str(ROOT), "BIMEDIX_TRUSTED_PROXIES": PROXY,
           "FORWARDED_ALLOW_IPS": "127.0.0.1,::1"}  # uvicorn's default, stated: the app must not rely on it
    with subprocess_server(command, port, "/", "app-lockout", env) as log_path:
        yield f"http://127.0.0.1:{port}", code, log_path


def failures_logged(log_path) -> list[str]:
    """The clients named by the arena's failure lines, in order."""
    return re.findall(r"arena join failed for client (\S+)", log_path.read_text(encoding="utf-8"))


def test_spoofed_addresses_cannot_lock_a_correct_personal_code_out(attacked_app):
    url, code, log_path = attacked_app
    attacker = Browser(url, "127.0.0.1")
    refusals = [attacker.join(WRONG, spoofed) for spoofed in SPOOFED for _ in range(5)]
    assert all(shown for shown in refusals)  # 20 refusals: every one a warning
    fresh = Browser(url, "127.0.0.2")
    assert fresh.join(code) == []  # joined: no warning
    same_header = Browser(url, "127.0.0.4")
    assert same_header.join(code, SPOOFED[0]) == []  # the attacker's header is nobody's address
    logged = failures_logged(log_path)
    assert logged and set(logged) == {"127.0.0.1"}, logged  # the real peer, never a spoofed address
    assert len(logged) == 5  # then 127.0.0.1 was locked out: refused before any code was checked
    assert "Too many attempts" in refusals[-1][0]


def test_a_trusted_proxy_is_believed_and_nobody_else(attacked_app):
    url, _, log_path = attacked_app
    proxy = Browser(url, PROXY)
    assert proxy.join(WRONG, "203.0.113.50")  # refused: a wrong code
    # A client's own header before the proxy's entry changes nothing: the proxy's entry counts.
    assert proxy.join(WRONG, "10.9.9.9, 203.0.113.51")
    assert failures_logged(log_path)[-2:] == ["203.0.113.50", "203.0.113.51"]


def test_real_addresses_failing_on_purpose_still_cannot_lock_a_personal_code_out(attacked_app):
    """The same attack from four real addresses: everyone's lockout does trigger (it guards
    shared codes), and a correct personal code is still let in: lock guessing, not people."""
    url, code, log_path = attacked_app
    for index in range(4):
        attacker = Browser(url, f"127.0.0.{11 + index}")
        assert all(attacker.join(WRONG) for _ in range(5))
    assert "arena join: every client locked out" in log_path.read_text(encoding="utf-8")
    assert Browser(url, "127.0.0.5").join(code) == []


def test_the_app_refuses_a_trusted_proxy_that_is_no_address(capsys, monkeypatch):
    from app import main

    monkeypatch.delenv("BIMEDIX_TRUSTED_PROXIES", raising=False)
    for value in ("*", "proxy.example"):
        with pytest.raises(SystemExit):
            main(["--no-arena", "--trusted-proxy", value])
        assert f"{value!r}" in capsys.readouterr().err
