"""The translation review screen's actions (train/review.py), called as the buttons call
them, on a real SQLite store filled the way the pipeline fills it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import gradio as gr
import pytest
from typer.testing import CliRunner

from train.review import KEEP, Outcome, ReviewHandlers, app, build_review_app
from train.review_view import english_html, sample_html
from train.translate.errors import TranslationError
from train.translate.reviewers import add_reviewer
from train.translate.store import NewSample, TranslationStore, store_url

# Two MCQA samples under the threshold, one SFT sample whose last answer was not JSON, and
# a high scorer drawn for review: the queue, in its order.
DOSE_QUESTION = "A 45-year-old man takes metformin 500 mg twice daily. What is the next step?"
DOSE_ARABIC = "رجل عمره 45 عامًا يتناول metformin 500 mg مرتين يوميًا. ما الخطوة التالية؟"
SAMPLES = {
    "medqa:1": ({"question": DOSE_QUESTION, "option:A": "Increase the dose to 1000 mg", "option:B": "Add insulin"},
                {"question": DOSE_ARABIC, "option:A": "زيادة الجرعة إلى 1000 mg", "option:B": "إضافة insulin"}),
    "medqa:2": ({"question": "Her heart rate is 120 bpm. <b>Which</b> drug?", "option:A": "Atenolol",
                 "option:B": "Observe"},
                {"question": "معدل نبضها 120 bpm. أي دواء؟", "option:A": "Atenolol", "option:B": "المراقبة"}),
    "sft_chats:7": ({"turn:0": "What is anemia?", "turn:1": "A low level of hemoglobin."}, None),
    "pubmedqa:3": ({"question": "Does aspirin lower risk?", "option:A": "yes", "option:B": "no"},
                   {"question": "هل يخفض aspirin الخطر؟", "option:A": "نعم", "option:B": "لا"}),
}


def fill_store(target: Path | TranslationStore) -> TranslationStore:
    """A translation database (a SQLite file, or any store) as the pipeline leaves it, ready
    for review."""
    store = target if isinstance(target, TranslationStore) else TranslationStore(store_url(str(target), None))
    store.add_samples(NewSample(sample_id, "sft" if sample_id.startswith("sft_chats") else "mcqa",
                                sample_id.split(":")[0], f"{sample_id.split(':')[0]}.jsonl", position, english,
                                {key: key.replace(":", " ").title() for key in english}, {})
                      for position, (sample_id, (english, _)) in enumerate(SAMPLES.items()))
    for sample_id, (english, arabic) in SAMPLES.items():
        scores = [90] if sample_id.startswith("pubmedqa") else [55, 62]
        for number, score in enumerate(scores, start=1):
            unreadable = arabic is None and number == len(scores)
            store.add_round(sample_id=sample_id, number=number,
                            raw_text="Sorry, I cannot answer in JSON." if unreadable else "{...}",
                            arabic=None if unreadable else (arabic or {k: "نص" for k in english}),
                            problems=["structure: the answer is not the sample's JSON object"] if unreadable else [],
                            glossary_violations=[], score=None if unreadable else score,
                            reasons=f"round {number}: terminology", translator_model="translator-x",
                            translator_prompt="translate-v1", scorer_model="scorer-y", scorer_prompt="score-v1")
        if sample_id.startswith("pubmedqa"):
            store.finish(sample_id, "passed", 1, 90)
        else:
            store.finish(sample_id, "review", 2, 62, "under 70 after 2 rounds")
    store.draw_review_sample(1.0, seed=0)
    return store


@pytest.fixture
def store(tmp_path):
    store = fill_store(tmp_path / "translation.db")
    yield store
    store.close()


@pytest.fixture
def handlers(store):
    return ReviewHandlers(store)


@pytest.fixture
def codes(store) -> dict[str, str]:
    """Three reviewers the organiser added, by name: their personal codes."""
    return {name: add_reviewer(store, name)[1] for name in ("Dr Amal", "Dr Omar", "Dr Lina")}


class Tab:
    """One browser tab as the screen wires it: who it signed in as and the sample on the
    screen are its (server-side) State, updated from each Outcome."""

    def __init__(self, handlers: ReviewHandlers, client: str = "127.0.0.1"):
        self.handlers, self.client = handlers, client
        self.signed, self.shown = None, None

    def take(self, outcome: Outcome) -> Outcome:
        if outcome.reviewer is not KEEP:
            self.signed = outcome.reviewer
        if outcome.view is not KEEP:
            self.shown = outcome.view
        return outcome

    def start(self, code: str | None = "") -> Outcome:
        return self.take(self.handlers.start(code, self.signed, self.shown, self.client))

    def approve(self, comment: str = "", texts: list[str] | None = None, **changes: str) -> Outcome:
        texts = texts_of(self.shown, **changes) if texts is None else texts
        return self.take(self.handlers.approve(self.signed, self.shown, comment, texts))

    def reject(self, comment: str = "") -> Outcome:
        return self.take(self.handlers.reject(self.signed, self.shown, comment))


@pytest.fixture
def tab(handlers):
    """A tab for each reviewer, signed in with their code (a new one per name)."""
    def open_tab(code: str) -> Tab:
        opened = Tab(handlers)
        opened.start(code)
        return opened

    return open_tab


def texts_of(view: dict, **changes: str) -> list[str]:
    """The edit boxes' texts, in order, with some segments changed."""
    return [changes.get(key.replace(":", "_"), view["start"][key]) for key in view["keys"]]


def test_approve_with_an_edit_stores_the_edit_and_the_reviewer(store, codes, tab):
    amal = tab(codes["Dr Amal"])
    assert amal.shown["sample_id"] == "medqa:1" and amal.shown["reviewer"] == "Dr Amal"
    edited = "زيادة الجرعة إلى 1000 mg يوميًا"
    outcome = amal.approve("better wording", option_A=edited)

    review = store.reviews()["medqa:1"]
    assert (review.reviewer, review.decision, review.edited_keys) == ("Dr Amal", "approved", ["option:A"])
    assert review.arabic_after["option:A"] == edited and review.arabic_before == SAMPLES["medqa:1"][1]
    assert review.comment == "better wording"
    assert outcome.view["sample_id"] == "medqa:2"  # the next one loads
    assert "Approved medqa:1" in outcome.message and "اعتُمدت" in outcome.message
    assert "Left in the review queue: 3" in outcome.progress


def test_an_edit_that_drops_a_number_is_refused_and_nothing_is_stored(store, codes, tab):
    amal = tab(codes["Dr Amal"])
    outcome = amal.approve(question=DOSE_ARABIC.replace("500 ", ""))
    assert outcome.view is KEEP  # the sample and the edits stay on the screen
    assert "numbers lost: 500" in outcome.message and "لا يمكن اعتماد" in outcome.message
    assert outcome.problem and "500" in outcome.problem
    assert store.reviews() == {}

    # An emptied segment, or a lost drug name, is refused the same way.
    for change in ({"option_B": "  "}, {"option_B": "إضافة الإنسولين"}):
        assert amal.approve(**change).view is KEEP
    assert store.reviews() == {}


def test_reject_needs_no_checks(store, codes, tab):
    outcome = tab(codes["Dr Omar"]).reject("meaning changed")
    review = store.reviews()["medqa:1"]
    assert (review.decision, review.reviewer, review.comment, review.arabic_after) == (
        "rejected", "Dr Omar", "meaning changed", None)
    assert "Rejected medqa:1" in outcome.message


def test_two_reviewers_get_different_samples(codes, tab):
    amal, omar = tab(codes["Dr Amal"]), tab(codes["Dr Omar"])
    first, second = amal.shown, omar.shown
    assert first["sample_id"] != second["sample_id"]
    # Signing in again without deciding keeps each on their own (Next skips to another one).
    assert tab(codes["Dr Amal"]).shown["sample_id"] == first["sample_id"]
    skipped = amal.start().view
    assert skipped["sample_id"] not in (first["sample_id"], second["sample_id"])
    # The skipped sample went back to the queue: another reviewer gets it at once.
    assert tab(codes["Dr Lina"]).shown["sample_id"] == first["sample_id"]


def test_a_second_click_does_not_store_twice(store, codes, tab, handlers):
    amal = tab(codes["Dr Amal"])
    decided = amal.shown
    amal.approve()
    again = handlers.reject(amal.signed, decided, "")  # a click that arrives after the screen moved on
    assert "already reviewed by “Dr Amal”" in again.message
    assert [r.decision for r in store.reviews().values()] == ["approved"]
    assert again.view["sample_id"] == "medqa:2"  # on to the one that can still be decided


def test_progress_counts(store, codes, tab):
    amal, omar = tab(codes["Dr Amal"]), tab(codes["Dr Omar"])
    amal.approve(option_B="إضافة insulin قبل النوم")
    outcome = omar.reject()
    progress = {e["reviewer"]: (e["approved"], e["rejected"], e["edited"]) for e in store.reviewer_progress()}
    assert progress == {"Dr Amal": (1, 0, 1), "Dr Omar": (0, 1, 0)}
    assert "Left in the review queue: 2" in outcome.progress
    assert "<td dir=\"auto\">Dr Omar</td><td dir=\"auto\">0</td><td dir=\"auto\">1</td>" in outcome.progress


def test_why_here_and_the_rounds(codes, tab):
    amal = tab(codes["Dr Amal"])
    view = amal.shown
    assert view["why"] == ("Under the threshold after 2 round(s), final score 62",
                           "دون العتبة بعد 2 جولة، والدرجة النهائية 62", "under 70 after 2 rounds")
    assert view["rounds"][1][:3] == ["2", "62", "round 2: terminology"]
    html = sample_html(view)
    assert "rv-rounds" in html and "62: <bdi>under 70 after 2 rounds</bdi>" in html
    for other in ("Dr Omar", "Dr Lina"):  # the others hold the rest: the high scorer comes last
        tab(codes[other])
    drawn = amal.start().view
    assert drawn["sample_id"] == "pubmedqa:3" and drawn["why"][0] == "Random sample of high scorers (score 90)"
    assert drawn["why"][2] == "" and "high scorers (score 90)</p>" in sample_html(drawn)


def test_an_unreadable_answer_starts_from_the_english(store, codes, tab):
    for other in ("Dr Omar", "Dr Lina"):  # they hold the two MCQA samples
        tab(codes[other])
    amal = tab(codes["Dr Amal"])
    view = amal.shown
    assert view["sample_id"] == "sft_chats:7"
    assert view["before"] is None and view["start"] == SAMPLES["sft_chats:7"][0]
    assert "Sorry, I cannot answer in JSON." in sample_html(view)
    refused = amal.approve()
    assert "turn:0: still the English source" in refused.message and store.reviews() == {}
    amal.approve(texts=["ما هو فقر الدم؟", "انخفاض مستوى hemoglobin."])
    review = store.reviews()["sft_chats:7"]
    assert review.arabic_before is None and review.edited_keys == ["turn:0", "turn:1"]


def test_no_code_nothing_shown_and_no_sample_nothing_stored(store, codes, handlers):
    """A name, an empty box, a wrong code: nobody signs in, nothing from the database shows."""
    for typed in ("", "   ", None, "Dr Amal", "x" * 500, "K7QX-M2PD-9R"):
        outcome = handlers.start(typed, None, None, "127.0.0.1")
        assert outcome.view is KEEP and outcome.progress is None and outcome.reviewer is KEEP
        assert "reviewer code" in outcome.message and "رمز" in outcome.message
    assert handlers.approve(None, None, "", []).view is KEEP
    assert "press Start / Next first" in handlers.reject(None, None, "").message
    assert store.reviews() == {} and all(s.claimed_by is None for s in store.review_queue())


def test_an_empty_queue_says_so(codes, tab):
    amal = tab(codes["Dr Amal"])
    while amal.shown:
        outcome = amal.reject()
    assert "The review queue is empty" in outcome.message and "Left in the review queue: 0" in outcome.progress
    assert "The review queue is empty" in tab(codes["Dr Omar"]).start().message


def test_a_busy_database_keeps_the_edits_and_stores_nothing(store, codes, tab, monkeypatch):
    amal = tab(codes["Dr Amal"])

    def busy(*args, **kwargs):
        raise TranslationError("database_busy", seconds="5")

    monkeypatch.setattr(store, "record_review", busy)
    outcome = amal.approve()
    assert outcome.view is KEEP and "database is busy" in outcome.message and "مشغولة" in outcome.message
    assert amal.signed.name == "Dr Amal"  # still signed in


def test_the_data_is_shown_as_text():
    html = english_html("Question", "Is <script>alert(1)</script> & <b>bold</b> shown?")
    assert "<script>" not in html and "&lt;script&gt;" in html and 'dir="ltr"' in html


def test_the_app_builds_with_its_ids(store):
    with build_review_app(store) as demo:
        pass
    assert isinstance(demo, gr.Blocks)
    ids = {block.elem_id for block in demo.blocks.values()}
    assert {"rv-code", "rv-start", "rv-progress", "rv-message"} <= ids
    code_box = next(block for block in demo.blocks.values() if block.elem_id == "rv-code")
    assert code_box.type == "password"


def test_the_command_refuses_a_missing_file_and_an_open_network(tmp_path):
    missing = CliRunner().invoke(app, ["--db", str(tmp_path / "nope.db")])
    assert missing.exit_code == 2 and "no such database file" in missing.output
    exposed = CliRunner().invoke(app, ["--db", str(tmp_path / "nope.db"), "--host", "0.0.0.0"])
    assert exposed.exit_code == 2 and "--auth" in exposed.output
    other = tmp_path / "arena.db"
    sqlite3.connect(other).execute("create table votes (id integer)").connection.commit()
    wrong = CliRunner().invoke(app, ["--db", str(other)])
    assert wrong.exit_code == 2 and "not a translation database" in wrong.output
    assert [row[0] for row in sqlite3.connect(other).execute("select name from sqlite_master")] == ["votes"]
    unknown = CliRunner().invoke(app, ["--db", "nosuchdriver://db"])
    assert unknown.exit_code == 2 and "cannot be opened" in unknown.output
