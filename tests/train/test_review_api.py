"""Issue 26, item 6: the review screen attacked through Gradio's own API, as a script would
(tests/train/gradio_queue.py): typed names, and forged values for every input of every
event, State inputs included. The reviewer stored with a claim or a decision is always
the one whose personal code the session signed in with."""

from __future__ import annotations

import pytest

from evaluate.servers import free_port
from tests.train.gradio_queue import QueueSession
from tests.train.test_review import fill_store
from train.review import build_review_app
from train.translate.reviewers import add_reviewer
from ui.security import app_kwargs


@pytest.fixture
def served(tmp_path):
    """The review screen served on 127.0.0.1 as `python -m train.review` serves it, with
    its store (the test reads what was stored)."""
    store = fill_store(tmp_path / "translation.db")
    demo = build_review_app(store)
    demo.queue(default_concurrency_limit=8)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                app_kwargs=app_kwargs())
    sessions: list[QueueSession] = []

    def session() -> QueueSession:
        sessions.append(QueueSession(f"http://127.0.0.1:{port}"))
        return sessions[-1]

    try:
        yield store, session
    finally:
        for opened in sessions:
            opened.close()
        demo.close()
        store.close()


def forged(component: dict, name: str, sample_id: str = "medqa:1"):
    """What a script puts in an input to pass as `name`: the name in every text box, and in
    every State a sample view and a signed-in reviewer naming them (Gradio should ignore it)."""
    if component["type"] == "state":
        return {"reviewer": name, "name": name, "sample_id": sample_id, "digest": "0" * 64}
    if component["type"] == "textbox":
        return name
    return None


def act(session: QueueSession, elem_id: str, name: str) -> dict:
    """Press the button #elem_id with forged values in every input, then run the renders
    (as the browser does after a State changes)."""
    event = session.event_of(elem_id)
    output = session.call(event, [forged(c, name) for c in session.inputs_of(event)])
    for render in session.renders():
        session.call(render, [forged(c, name) for c in session.inputs_of(render)])
    return output


def has(session: QueueSession, elem_id: str) -> bool:
    try:
        session.element(elem_id)
    except AssertionError:
        return False
    return True


def test_typing_a_reviewers_name_acts_as_nobody(served):
    """The attack of the issue: a second browser typed "Dr Amal" and its rejection was stored
    as hers. Typed into the screen's box, a name signs nobody in: no sample, no decision."""
    store, session = served
    attacker = session()
    act(attacker, "rv-start", "Dr Amal")
    if has(attacker, "rv-reject"):  # whatever the page then offers, taken
        act(attacker, "rv-reject", "Dr Amal")
    assert store.reviews() == {}, {k: r.reviewer for k, r in store.reviews().items()}
    assert [s.id for s in store.review_queue() if s.claimed_by] == []


def sign_in(session: QueueSession, code: str) -> dict:
    """What the browser sends: the code typed, nothing in the States."""
    event = session.event_of("rv-start")
    output = session.call(event, [code if c["type"] == "textbox" else None for c in session.inputs_of(event)])
    for render in session.renders():
        session.call(render, [None] * len(render["inputs"]))
    return output


def test_a_session_signed_in_with_one_code_never_stores_as_another_reviewer(served):
    """Omar's session, signed in with his code, sends Amal's name in every text box and a
    view and a reviewer naming her in every State, on every event the page has: Start,
    and the decisions its render added. Everything stored is his."""
    store, session = served
    amal_code, omar_code = (add_reviewer(store, name)[1] for name in ("Dr Amal", "Dr Omar"))
    amal, omar = session(), session()
    sign_in(amal, amal_code)
    held = {s.id: s.claimed_by for s in store.review_queue() if s.claimed_by}
    assert held == {"medqa:1": "Dr Amal"}

    sign_in(omar, omar_code)
    assert {s.id: s.claimed_by for s in store.review_queue() if s.claimed_by} == {
        "medqa:1": "Dr Amal", "medqa:2": "Dr Omar"}  # two codes, two samples
    act(omar, "rv-start", "Dr Amal")  # her name typed: not a code, refused; still Omar
    act(omar, "rv-reject", "Dr Amal")  # forged States: Gradio keeps its own
    act(omar, "rv-approve", "Dr Amal")

    reviews = {sample: review.reviewer for sample, review in store.reviews().items()}
    assert reviews and set(reviews.values()) == {"Dr Omar"}, reviews
    assert "medqa:1" not in reviews  # hers, untouched
    assert next(s for s in store.review_queue() if s.id == "medqa:1").claimed_by == "Dr Amal"
