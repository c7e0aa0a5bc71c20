"""Issue 26, item 6: reviewers are people the organiser added, each with a personal code
(hashed, revocable, shown once), never typed names. The codes from the command line, the
store's checks, and the screen's actions as a tab calls them (tests/train/test_review.py)."""

from __future__ import annotations

import hashlib
import re
import sqlite3
import threading

import pytest
from typer.testing import CliRunner

# The screen tests' fixtures (store, handlers, codes, tab) are used here too.
from tests.train.test_review import Tab, codes, fill_store, handlers, store, tab  # noqa: F401
from train.review import ReviewHandlers, app
from train.review_codes import launch_notes
from train.translate.errors import TranslationError
from train.translate.reviewers import Reviewer, add_reviewer, revoke_reviewer, sign_in
from train.translate.store import TranslationStore

CODE = re.compile(r"^(?P<name>.+): (?P<code>[2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{2})$", re.M)


def codes_cli(*args: str):
    return CliRunner().invoke(app, list(args))


def test_codes_are_added_listed_and_revoked_from_the_command_line(tmp_path):
    database = tmp_path / "translation.db"
    fill_store(database).close()
    added = codes_cli("codes", "add", "  Dr   Amal ", "--db", str(database))
    assert added.exit_code == 0, added.output
    printed = CODE.search(added.stdout)
    assert printed and printed["name"] == "Dr Amal"
    code = printed["code"]
    assert "Shown only now" in added.stderr and "يُعرض الآن فقط" in added.stderr

    # Only the digest is kept: the code is nowhere in the database file, nor in the list.
    stored = b"".join(path.read_bytes() for path in tmp_path.glob("translation.db*"))
    assert code.encode() not in stored and code.replace("-", "").encode() not in stored
    digest = hashlib.sha256(code.replace("-", "").encode()).hexdigest()
    rows = sqlite3.connect(database).execute("select name, code_digest from translation_reviewers").fetchall()
    assert rows == [("Dr Amal", digest)]
    listed = codes_cli("--db", str(database), "codes", "list")  # --db may come first
    assert listed.exit_code == 0 and re.search(r"Dr Amal\s+active", listed.stdout) and code not in listed.stdout

    again = codes_cli("codes", "add", "dr amal", "--db", str(database))
    assert again.exit_code == 2 and "already has a reviewer code" in again.stderr and "لدى" in again.stderr

    revoked = codes_cli("codes", "revoke", "DR  AMAL", "--db", str(database))
    assert revoked.exit_code == 0 and "Revoked" in revoked.stdout
    assert re.search(r"Dr Amal\s+revoked", codes_cli("codes", "list", "--db", str(database)).stdout)
    store = TranslationStore(f"sqlite:///{database}")
    try:
        with pytest.raises(TranslationError, match="not valid"):
            sign_in(store, code)
        new_code = CODE.search(codes_cli("codes", "add", "Dr Amal", "--db", str(database)).stdout)["code"]
        assert new_code != code and sign_in(store, new_code.lower().replace("-", " ")).name == "Dr Amal"
    finally:
        store.close()

    unknown = codes_cli("codes", "revoke", "Dr Nobody", "--db", str(database))
    assert unknown.exit_code == 2 and "no reviewer named" in unknown.stderr
    missing = codes_cli("codes", "list", "--db", str(tmp_path / "nope.db"))
    assert missing.exit_code == 2 and "no such database file" in missing.stderr


def test_an_existing_database_gains_the_reviewers_table(tmp_path):
    """A translation database made before reviewer codes (no translation_reviewers table)."""
    database = tmp_path / "translation.db"
    fill_store(database).close()
    with sqlite3.connect(database) as connection:
        connection.execute("drop table translation_reviewers")
    added = codes_cli("codes", "add", "Dr Amal", "--db", str(database))
    assert added.exit_code == 0, added.output
    tables = {row[0] for row in sqlite3.connect(database).execute("select name from sqlite_master")}
    assert "translation_reviewers" in tables and "translation_samples" in tables


def test_a_revoked_code_is_refused_at_once_also_on_an_open_page(store, codes, tab, handlers):
    # Three tabs of Dr Amal, open on her sample, one with an edit waiting.
    first, second, third = (tab(codes["Dr Amal"]) for _ in range(3))
    assert first.shown["sample_id"] == "medqa:1" and first.signed.name == "Dr Amal"
    assert revoke_reviewer(store, "dr amal") is True

    for outcome in (first.approve(option_A="زيادة الجرعة إلى 1000 mg"), second.reject("no"), third.start()):
        assert "revoked" in outcome.message and "أُلغي" in outcome.message
    assert store.reviews() == {}
    assert all(t.signed is None and t.shown is None for t in (first, second, third))  # signed out, sample gone
    assert "reviewer code" in third.start().message  # an empty box signs nobody in
    assert "not valid" in third.start(codes["Dr Amal"]).message
    # Her sample went back to the queue at once: the next reviewer gets it.
    assert tab(codes["Dr Omar"]).shown["sample_id"] == "medqa:1"
    assert revoke_reviewer(store, "Dr Amal") is False
    with pytest.raises(TranslationError, match="no reviewer named"):
        revoke_reviewer(store, "Dr Nobody")


def test_wrong_codes_are_limited_per_client(store, codes, handlers):
    guesser = Tab(handlers, client="10.0.0.9")
    for _ in range(12):  # an empty box guesses nothing: never limited
        assert "enter your personal reviewer code" in guesser.start("").message
    for n in range(5):
        assert "not valid" in guesser.start(f"AAAA-BBBB-{n + 2}{n + 2}").message
    refused = guesser.start("AAAA-BBBB-99")
    assert "Too many attempts" in refused.message and "محاولات كثيرة" in refused.message
    assert guesser.signed is None and store.reviews() == {}
    # Another client with a right code is not held up by the guesser.
    colleague = Tab(handlers, client="10.0.0.10")
    colleague.start(codes["Dr Omar"])
    assert colleague.signed.name == "Dr Omar" and colleague.shown["sample_id"] == "medqa:1"


def test_two_tabs_of_one_code_are_one_reviewer(store, codes, tab):
    """The same code in two tabs is the same person: both show the sample that reviewer
    holds, its decision is stored once, and the other tab moves on when it tries."""
    amal_laptop, amal_tablet, omar = tab(codes["Dr Amal"]), tab(codes["Dr Amal"]), tab(codes["Dr Omar"])
    assert amal_laptop.shown["sample_id"] == amal_tablet.shown["sample_id"] == "medqa:1"
    assert omar.shown["sample_id"] == "medqa:2"
    amal_laptop.reject("meaning changed")
    late = amal_tablet.approve()
    assert "already reviewed by “Dr Amal”" in late.message and late.view["sample_id"] not in ("medqa:1", "medqa:2")
    assert {k: (r.reviewer, r.decision) for k, r in store.reviews().items()} == {"medqa:1": ("Dr Amal", "rejected")}


def test_the_reviewer_comes_from_the_sign_in_never_from_the_page(store, codes, tab, handlers):
    """Omar's session forging Amal: her view, her name with his code's digest, a guessed
    digest, a look-alike of a signed-in reviewer. Nothing is stored as Amal, nor as anyone."""
    amal, omar = tab(codes["Dr Amal"]), tab(codes["Dr Omar"])
    her_view = amal.shown
    refused = handlers.reject(omar.signed, her_view, "")  # her sample, his session: she holds it
    assert "“Dr Amal” is reviewing this sample" in refused.message
    for forged in (Reviewer("Dr Amal", omar.signed.digest), Reviewer("Dr Amal", "0" * 64),
                   {"name": "Dr Amal", "digest": amal.signed.digest}, "Dr Amal"):
        outcome = handlers.reject(forged, her_view, "")
        assert outcome.view is not her_view and outcome.message
    with pytest.raises(TranslationError):
        store.record_review("medqa:1", "Dr Amal", "rejected", None, None, code_digest=omar.signed.digest)
    with pytest.raises(TranslationError):
        store.claim_next("Dr Amal", code_digest=omar.signed.digest)
    assert store.reviews() == {}
    assert {s.id: s.claimed_by for s in store.review_queue() if s.claimed_by} == {
        "medqa:1": "Dr Amal", "medqa:2": "Dr Omar"}


def test_launch_notes(store):
    notes = launch_notes(store, "translation.db", None)
    assert len(notes) == 1 and "codes add NAME --db translation.db" in notes[0] and "لا يملك" in notes[0]
    add_reviewer(store, "Dr Amal")
    assert launch_notes(store, "translation.db", None) == []
    assert "--reviewer is no longer used" in launch_notes(store, "translation.db", "Dr Amal")[0]


def test_two_reviewers_claiming_at_once_on_postgresql_get_different_samples(postgres):
    """Replicas on one PostgreSQL database: claims made at the same moment never share a sample."""
    url = postgres.new_database()
    store = TranslationStore(url)
    try:
        fill_store(store)
        reviewers = [add_reviewer(store, f"Dr {n}") for n in range(4)]
        handlers = ReviewHandlers(store)
        tabs = [Tab(handlers) for _ in reviewers]
        ready = threading.Barrier(len(tabs))

        def claim(tab_: Tab, code: str) -> None:
            ready.wait()
            tab_.start(code)

        threads = [threading.Thread(target=claim, args=(t, code)) for t, (_, code) in zip(tabs, reviewers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        shown = [t.shown["sample_id"] for t in tabs]
        assert len(set(shown)) == len(shown), shown
    finally:
        store.close()
        postgres.drop_database(url)

