"""The vote store: SQLite set-up, one vote per battle, typed errors, nothing half-written."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from arena import ArenaError, load_votes, open_store, record_vote, start_battle, study_progress
from arena.errors import MESSAGES
from arena.store import database_url
from engine.errors import UserFacingError
from engine.generation import GenerationSettings
from tests.arena.conftest import is_sqlite, write_lock_held
from engine.messages import Message
from tests.arena.conftest import MODELS, STUDY, transcript


def _pragma(store, name: str):
    with store.engine.connect() as connection:
        return connection.exec_driver_sql(f"PRAGMA {name}").scalar()


def test_sqlite_connections_use_wal_foreign_keys_and_busy_timeout(store, database):
    if not is_sqlite(database):
        with store.read() as session:  # PostgreSQL's counterpart of the busy timeout
            assert session.execute(text("SHOW lock_timeout")).scalar() == "2s"
        return
    assert _pragma(store, "journal_mode") == "wal"
    assert _pragma(store, "foreign_keys") == 1
    assert _pragma(store, "busy_timeout") == 2000
    assert _pragma(store, "synchronous") == 2  # FULL


def test_database_url_accepts_paths_urls_and_a_data_dir(tmp_path):
    assert database_url("postgresql://u@h/db") == "postgresql://u@h/db"
    assert database_url(tmp_path / "x.db") == f"sqlite:///{tmp_path / 'x.db'}"
    assert database_url(None, data_dir=tmp_path) == f"sqlite:///{tmp_path / 'arena.db'}"
    store = open_store(data_dir=tmp_path / "new" / "dir")  # folders are created
    assert (tmp_path / "new" / "dir" / "arena.db").exists()
    store.close()


def test_a_vote_stores_transcripts_identities_settings_and_language(store, rater, battle):
    side_a = [Message("user", "عندي صداع منذ يومين، ما السبب؟", ("/home/dr/patient-7/scan.png",)),
              Message("assistant", "قد يكون الصداع بسبب التوتر أو قلة النوم.")]
    side_b = [{"role": "user", "content": "عندي صداع منذ يومين، ما السبب؟", "files": ["/tmp/x/scan.png"]},
              {"role": "assistant", "content": "من الأسباب الجفاف وإجهاد العين."}]
    receipt = record_vote(store, battle.id, rater, "model_b", side_a, side_b,
                          GenerationSettings(temperature=0.2, seed=5), reason="أوضح", rater_language="ar")
    assert (receipt.model_a, receipt.model_b) == (battle.model_a, battle.model_b)
    assert receipt.conversation_language == "ar" and not receipt.flagged_leak
    (record,) = load_votes(store)
    assert record.transcript_a[0] == {"role": "user", "content": side_a[0].content, "images": ["scan.png"]}
    assert record.transcript_b[1]["content"] == "من الأسباب الجفاف وإجهاد العين."
    assert record.generation_settings["temperature"] == 0.2 and record.generation_settings["seed"] == 5
    assert (record.winner, record.reason, record.rater_language) == ("model_b", "أوضح", "ar")
    assert record.voted_at >= record.started_at and record.voted_at.tzinfo is not None


def test_second_vote_on_a_battle_is_refused_and_the_first_kept(store, rater, battle):
    record_vote(store, battle.id, rater, "model_a", transcript(), transcript())
    with pytest.raises(ArenaError) as refused:
        record_vote(store, battle.id, rater, "model_b", transcript(), transcript())
    assert refused.value.code == "already_voted"
    assert isinstance(refused.value, UserFacingError)
    assert "صوّت" in refused.value.message("ar")
    assert [v.winner for v in load_votes(store)] == ["model_a"]


def test_unique_constraint_refuses_a_second_vote_row_even_past_the_check(store, rater, battle):
    """On servers without SQLite's write lock, the unique index is what stops a racing vote."""
    record_vote(store, battle.id, rater, "tie", transcript(), transcript())
    with store.write() as session:  # pretend a racing writer had not seen the vote yet
        session.execute(text("UPDATE arena_battles SET voted_at = NULL"))
    with pytest.raises(ArenaError) as refused:
        record_vote(store, battle.id, rater, "model_a", transcript(), transcript())
    assert refused.value.code == "already_voted"
    assert [v.winner for v in load_votes(store)] == ["tie"]


@pytest.mark.parametrize("winner, side_a, side_b, options, code", [
    ("a", transcript(), transcript(), {}, "invalid_winner"),
    ("tie", transcript(), transcript()[:1], {}, "vote_before_replies"),
    ("tie", transcript(reply="  "), transcript(), {}, "vote_before_replies"),
    ("tie", transcript(), transcript(), {"reason": "x" * 5000}, "reason_too_long"),
    ("tie", transcript(), transcript(), {"rater_language": "fr"}, "invalid_rater_language"),
])
def test_bad_votes_raise_typed_errors_and_store_nothing(store, rater, battle, winner, side_a, side_b, options, code):
    with pytest.raises(ArenaError) as error:
        record_vote(store, battle.id, rater, winner, side_a, side_b, **options)
    assert error.value.code == code
    assert load_votes(store) == []
    assert study_progress(store, STUDY)[0].votes == 0


def test_votes_on_missing_or_foreign_battles_are_refused(store, rater, battle):
    from arena import join_study

    other = join_study(store, STUDY, "Dr Omar")
    with pytest.raises(ArenaError, match="another rater") as foreign:
        record_vote(store, battle.id, other, "tie", transcript(), transcript())
    assert foreign.value.code == "battle_not_yours"
    with pytest.raises(ArenaError) as missing:
        record_vote(store, "0" * 32, rater, "tie", transcript(), transcript())
    assert missing.value.code == "battle_not_found"


def test_locked_database_gives_database_busy_then_the_retry_succeeds(database, rater, battle):
    impatient = open_store(database, busy_timeout_s=0.2)
    with write_lock_held(database):  # another process holding the write lock
        with pytest.raises(ArenaError) as busy:
            record_vote(impatient, battle.id, rater, "tie", transcript(), transcript())
        assert busy.value.code == "database_busy"
        assert "0.2" in busy.value.message("en") and "0.2" in busy.value.message("ar")
    assert load_votes(impatient) == []
    receipt = record_vote(impatient, battle.id, rater, "tie", transcript(), transcript())
    assert receipt.winner == "tie" and len(load_votes(impatient)) == 1


def test_a_writer_waits_for_a_short_lock_instead_of_failing(database, rater, battle):
    with write_lock_held(database) as release:
        timer = threading.Timer(0.5, release)
        timer.start()
        patient = open_store(database, busy_timeout_s=10)
        record_vote(patient, battle.id, rater, "model_a", transcript(), transcript())
        timer.join()
    assert len(load_votes(patient)) == 1


def test_foreign_keys_are_enforced(store):
    with pytest.raises(Exception, match="(?i)foreign key"):  # SQLite's and PostgreSQL's words
        with store.write() as session:
            session.execute(text("INSERT INTO arena_raters (study_id, display_name, name_key, created_at) "
                                 "VALUES (999, 'x', 'x', '2025-01-01 00:00:00')"))


def test_every_error_code_has_english_and_arabic_text():
    for code, texts in MESSAGES.items():
        assert set(texts) == {"en", "ar"}, code
        assert any("\u0600" <= ch <= "\u06ff" for ch in texts["ar"]), code
    with pytest.raises(KeyError):
        ArenaError("no_such_code")


def test_start_battle_records_the_drawn_sides(store, rater):
    battle = start_battle(store, rater, MODELS, rng=3)
    with store.read() as session:
        row = session.execute(text("SELECT model_a, model_b, rater_id FROM arena_battles")).one()
    assert tuple(row) == (battle.model_a, battle.model_b, rater.id)
