"""The vote store's schema migrations (arena/db.py, Alembic), on SQLite and PostgreSQL: a
database written by revision 1, with data in it, upgraded to the newest; a newer one refused;
the operators' command."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import IntegrityError
from typer.testing import CliRunner

from arena import ArenaError, load_votes, open_store
from arena.db import app
from arena.schema import alembic_config, command, newest_revision

REVISION_ONE_ROWS = [
    "INSERT INTO arena_studies (id, name, created_at) VALUES (1, 'pilot', '2026-01-02 03:04:05')",
    "INSERT INTO arena_raters (id, study_id, display_name, name_key, created_at) "
    "VALUES (1, 1, 'Dr Sara', 'dr sara', '2026-01-02 03:04:05'), (2, 1, 'judge:gpt', 'judge:gpt', '2026-01-02 03:04:05')",
    "INSERT INTO arena_battles (id, study_id, rater_id, model_a, model_b, started_at, voted_at) VALUES "
    "('b1', 1, 1, 'x', 'y', '2026-01-02 03:04:05', '2026-01-02 03:05:00'), "
    "('b2', 1, 2, 'x', 'y', '2026-01-02 03:04:05', '2026-01-02 03:05:00')",
    "INSERT INTO arena_votes (id, battle_id, winner, conversation_language, transcript_a, transcript_b, "
    "generation_settings, flagged_leak, voted_at) VALUES "
    "(1, 'b1', 'model_a', 'ar', '[{\"role\": \"user\", \"content\": \"سؤال\"}, {\"role\": \"assistant\", \"content\": \"جواب\"}]', "
    "'[{\"role\": \"user\", \"content\": \"سؤال\"}, {\"role\": \"assistant\", \"content\": \"رد\"}]', '{}', false, "
    "'2026-01-02 03:05:00'), "
    "(2, 'b2', 'tie', 'en', '[{\"role\": \"user\", \"content\": \"Q\"}, {\"role\": \"assistant\", \"content\": \"A\"}]', "
    "'[{\"role\": \"user\", \"content\": \"Q\"}, {\"role\": \"assistant\", \"content\": \"B\"}]', '{}', false, "
    "'2026-01-02 03:05:00')",
    "INSERT INTO arena_judge_verdicts (id, battle_id, source_battle_id, item_key, judge_model, prompt_version, "
    "verdict_ab, verdict_ba, flipped, created_at) VALUES (1, 'b2', 'b1', 'item-1', 'gpt', 'pairwise@v1', "
    "'model_a', 'model_b', true, '2026-01-02 03:05:00')",
]


def url_of(database: str) -> str:
    return database if "://" in database else f"sqlite:///{database}"


def at_revision_one_with_data(database: str) -> None:
    engine = create_engine(url_of(database))
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "0001")
        for statement in REVISION_ONE_ROWS:
            connection.execute(text(statement))
    engine.dispose()


def test_a_revision_one_database_with_data_is_upgraded_to_the_newest(database):
    at_revision_one_with_data(database)
    store = open_store(database)  # what the app does at start
    try:
        with store.read() as session:
            assert session.execute(text("SELECT version_num FROM alembic_version")).scalar() == newest_revision()
            assert session.execute(text("SELECT study_id FROM arena_judge_verdicts")).scalar() == 1  # filled in
        votes = load_votes(store, raters="all")
        assert {v.battle_id: v.winner for v in votes} == {"b1": "model_a", "b2": "tie"}
        assert votes[0].transcript_a[0]["content"] == "سؤال"
        # Revision 2's guarantee: the same judge, prompt and item twice in a study is refused.
        with pytest.raises(IntegrityError):
            with store.write() as session:
                session.execute(text(
                    "INSERT INTO arena_judge_verdicts (battle_id, study_id, source_battle_id, item_key, judge_model, "
                    "prompt_version, verdict_ab, verdict_ba, flipped, created_at) VALUES ('b1', 1, NULL, 'item-1', "
                    "'gpt', 'pairwise@v1', 'tie', 'tie', false, '2026-01-02 03:06:00')"))
    finally:
        store.close()


def test_an_upgraded_database_counts_attempts_for_every_replica(database):
    """Revision 3: the attempt limits' counts (arena/limits.py) live in the database."""
    from arena import AttemptLimiter, LimitPolicy

    at_revision_one_with_data(database)
    stores = [open_store(database) for _ in range(2)]
    try:
        first, second = (AttemptLimiter("arena join", LimitPolicy(attempts_per_client=1), store=store)
                         for store in stores)
        first.admit("10.0.0.1", "pilot")
        with pytest.raises(ArenaError) as refused:
            second.admit("10.0.0.1", "pilot")
        assert refused.value.code == "too_many_attempts"
    finally:
        for store in stores:
            store.close()


def test_a_database_newer_than_the_app_is_refused_and_left_alone(database):
    store = open_store(database)
    with store.write() as session:
        session.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    store.close()
    with pytest.raises(ArenaError) as newer:
        open_store(database)
    assert newer.value.code == "database_newer"
    assert "9999" in newer.value.message("en") and newer.value.message("ar").count("9999") == 1
    engine = create_engine(url_of(database))
    with engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == "9999"
    engine.dispose()


def test_the_operators_command_says_and_upgrades(database):
    at_revision_one_with_data(database)
    runner = CliRunner()
    before = runner.invoke(app, ["current", "--db", database])
    assert before.exit_code == 0 and "database: 0001" in before.output and f"newest:   {newest_revision()}" in before.output
    upgraded = runner.invoke(app, ["upgrade", "--db", database])
    assert upgraded.exit_code == 0 and f"0001 -> {newest_revision()}" in upgraded.output
    after = runner.invoke(app, ["current", "--db", database])
    assert f"database: {newest_revision()}" in after.output


def test_a_fresh_database_gets_every_table_at_the_newest_revision(database):
    store = open_store(database)
    try:
        names = set(inspect(store.engine).get_table_names())
        assert {"arena_studies", "arena_raters", "arena_battles", "arena_votes", "arena_rater_codes",
                "arena_judge_verdicts", "arena_attempts", "arena_lockouts", "alembic_version"} <= names
        indexes = {ix["name"]: ix["unique"] for ix in inspect(store.engine).get_indexes("arena_judge_verdicts")}
        assert indexes.get("uq_arena_judge_verdicts_item") in (True, 1)
    finally:
        store.close()


def test_a_postgresql_url_without_a_driver_uses_psycopg_3(database):
    if "://" not in database:
        pytest.skip("SQLite: no driver to choose")
    store = open_store(database.replace("postgresql+psycopg://", "postgresql://"))
    try:
        assert store.engine.url.drivername == "postgresql+psycopg" and load_votes(store) == []
    finally:
        store.close()
