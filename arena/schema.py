"""The vote store's schema: Alembic revisions in arena/migrations, applied when a store opens
(arena.store.open_store) or by an operator (`python -m arena.db`).

- A database made before migrations existed (tables, no version) gets the tables it lacks,
  is stamped revision 1 (the schema as it was), then upgraded.
- A database newer than this code (a revision it does not know, written by a newer app) is
  refused with a clear message: nothing is changed, and the older app does not write into
  tables it does not understand.
- Upgrading holds the write lock (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory lock),
  so replicas starting together upgrade once, one after the other.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect

from arena.errors import ArenaError

MIGRATIONS = Path(__file__).parent / "migrations"
FIRST_REVISION = "0001"
ADVISORY_LOCK = 0x42694D65  # "BiMe": the key PostgreSQL's advisory lock is held under


def alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def newest_revision() -> str:
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(connection: Connection) -> str:
    """Bring the database to the newest revision, inside the caller's write transaction;
    returns the revision it was at (None: empty or made before migrations)."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({ADVISORY_LOCK})")
    script = ScriptDirectory(str(MIGRATIONS))
    was = current_revision(connection)
    if was is not None and was not in {r.revision for r in script.walk_revisions()}:
        raise ArenaError("database_newer", revision=was, newest=script.get_current_head())
    config = alembic_config(connection)
    if was is None and "arena_studies" in inspect(connection).get_table_names():
        _adopt(connection, config)
    command.upgrade(config, "head")
    return was


def _adopt(connection: Connection, config: Config) -> None:
    """A database made by create_all before migrations is revision 1, except that the early
    ones lack tables added later (rater codes, judge verdicts): those are created as
    revision 1 has them, and the database is stamped revision 1, so every later revision
    applies as usual."""
    present = set(inspect(connection).get_table_names())
    revision_one = _revision_one_tables()
    missing = [table for name, table in revision_one.tables.items() if name not in present]
    if missing:
        revision_one.create_all(connection, tables=missing)
    command.stamp(config, FIRST_REVISION)


def _revision_one_tables() -> sa.MetaData:
    """Revision 1's tables, as its migration creates them (run on an in-memory SQLite)."""
    engine = sa.create_engine("sqlite://")
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), FIRST_REVISION)
        metadata = sa.MetaData()
        metadata.reflect(connection)
    engine.dispose()
    metadata.remove(metadata.tables["alembic_version"])
    return metadata
