"""Admission (engine/admission.py): one reply in flight per holder, a bounded number in all;
and the chat screen's Send going through it (one client cannot queue ahead of everyone)."""

from __future__ import annotations

import pytest

from engine.admission import Admission
from engine.errors import UserFacingError
from engine.pool import ModelPool, ModelSpec
from ui.common import EMPTY_INPUT


def test_one_reply_per_holder_and_a_bound_in_all():
    admission = Admission(limit=2)
    alice, bob, carol = object(), object(), object()
    ticket = admission.admit(alice)
    with pytest.raises(UserFacingError) as caught:
        admission.admit(alice)
    assert caught.value.code == "generation_in_progress"
    admission.admit(bob)
    with pytest.raises(UserFacingError) as caught:
        admission.admit(carol)
    assert caught.value.code == "server_busy" and "مشغول" in caught.value.message("ar")
    ticket.release()
    ticket.release()  # idempotent: a second release frees nobody else's place
    assert admission.in_flight == 1
    admission.admit(carol)
    with pytest.raises(UserFacingError):
        admission.admit(alice)  # the app is full again


@pytest.fixture
def handlers(tiny_dirs, monkeypatch):
    from ui.handlers import ChatHandlers

    warnings: list[str] = []
    monkeypatch.setattr("ui.common.gr.Warning", lambda text, **_: warnings.append(text))
    handlers = ChatHandlers(ModelPool([ModelSpec(str(tiny_dirs("llama")))]), admission=Admission(limit=2))
    handlers.warnings = warnings
    return handlers


class Request:
    """What Gradio hands a handler: the browser session's hash."""

    def __init__(self, session_hash):
        self.session_hash = session_hash


def send(handlers, text, conversation, lang="en", session="tab-1"):
    return handlers.respond({"text": text, "files": []}, conversation, "auto", 0, 0.9, 8, 1.0, -1, "none", lang,
                            request=Request(session))


def test_a_second_message_from_the_same_tab_is_refused_while_the_first_is_written(handlers):
    first = send(handlers, "hello", None)
    _, _, conversation = next(first)  # its reply has started
    refused = list(send(handlers, "again", conversation, "ar"))
    assert len(refused) == 1 and refused[0][1]["text"] == "again"  # the box keeps the message
    assert "قيد الكتابة" in handlers.warnings[-1]
    for _ in first:
        pass
    assert [m.content for m in conversation.messages if m.role == "user"] == ["hello"]
    list(send(handlers, "now", conversation))  # the first has ended: the next is admitted
    assert [m.content for m in conversation.messages if m.role == "user"] == ["hello", "now"]
    assert handlers.admission.in_flight == 0


def test_a_full_server_says_so_and_a_closed_tab_frees_its_place(handlers):
    first, second = send(handlers, "one", None, session="a"), send(handlers, "two", None, session="b")
    next(first), next(second)
    refused = list(send(handlers, "three", None, session="c"))
    assert refused[0][1]["text"] == "three" and "busy" in handlers.warnings[-1]
    first.close()  # the tab went away mid-reply
    second.close()
    assert handlers.admission.in_flight == 0


def test_requests_sent_together_through_the_api_count_as_one_session(handlers):
    """Sent at once, before the session had any state: each arrives with no Conversation."""
    first = send(handlers, "one", None, session="flood")
    next(first)
    refused = list(send(handlers, "two", None, session="flood"))
    assert refused[0][1]["text"] == "two" and "still being written" in handlers.warnings[-1]
    first.close()


class BrowserRequest(Request):
    """A request as Gradio hands it over: the session, the browser's cookie, the peer."""

    def __init__(self, session_hash, cookie=None, host="127.0.0.1"):
        super().__init__(session_hash)
        self.cookies = {"bimedix_browser": cookie} if cookie else {}
        self.headers = {}
        self.client = type("Client", (), {"host": host})()


def start(handlers, text, session, cookie, host="127.0.0.1", lang="en"):
    reply = handlers.respond({"text": text, "files": []}, None, "auto", 0, 0.9, 64, 1.0, -1, "none", lang,
                             request=BrowserRequest(session, cookie, host))
    return reply, next(reply)


def admitted(first) -> bool:
    """Admitted: the first view empties the box (the message shows in the chat); refused:
    the message stays in its box."""
    return first[1] == EMPTY_INPUT


@pytest.mark.parametrize("lang,words", [("en", "You already have 2 replies"), ("ar", "لديك بالفعل 2")])
def test_one_browser_with_many_sessions_cannot_hold_the_queue(tiny_dirs, monkeypatch, lang, words):
    """The attack: one script, one cookie, 17 sessions asking for long replies; then another
    browser. The script holds two places and is told at once, in its language, for the rest;
    the other person is admitted at once (before, 16 of the script's replies were admitted
    and every later person waited with no word)."""
    from ui.handlers import ChatHandlers

    warnings: list[str] = []
    monkeypatch.setattr("ui.common.gr.Warning", lambda text, **_: warnings.append(text))
    handlers = ChatHandlers(ModelPool([ModelSpec(str(tiny_dirs("llama")))]), admission=Admission(limit=16))
    started = [start(handlers, "a long answer please", f"script-{n}", "one-cookie", lang=lang) for n in range(17)]
    admitted_replies = [reply for reply, first in started if admitted(first)]
    assert len(admitted_replies) == 2 and handlers.admission.in_flight == 2
    assert len(warnings) == 15 and all(words in warning for warning in warnings)
    other, first = start(handlers, "hello", "someone-else", "another-cookie", host="10.1.2.3")
    assert admitted(first) and handlers.admission.in_flight == 3  # admitted at once
    # Dropping the cookie does not help: one address holds at most half the places.
    cookieless = [start(handlers, "again", f"no-cookie-{n}", None) for n in range(12)]
    assert handlers.admission.in_flight == 3 + 8 - 2  # 8 per address, 2 of them the script's
    assert sum(admitted(first) for _, first in cookieless) == 6
    for reply in [*(r for r, _ in started + cookieless), other]:
        reply.close()


def test_places_per_client_come_back_when_replies_end():
    admission = Admission(limit=4, per_browser=1, per_address=2)
    first = admission.admit("tab-1", (("browser", "b"), ("address", "a")))
    with pytest.raises(UserFacingError) as caught:
        admission.admit("tab-2", (("browser", "b"), ("address", "a")))
    assert caught.value.code == "client_busy"
    second = admission.admit("tab-3", (("browser", "c"), ("address", "a")))
    with pytest.raises(UserFacingError):
        admission.admit("tab-4", (("browser", "d"), ("address", "a")))  # the address is full
    first.release()
    second.release()
    admission.admit("tab-2", (("browser", "b"), ("address", "a")))
    assert admission.in_flight == 1
