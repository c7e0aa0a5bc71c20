"""Where votes live: a SQLAlchemy engine set up for safe concurrent writes.

Any SQLAlchemy URL works (PostgreSQL for a shared deployment); the default is a SQLite
file. On SQLite every connection gets:

- WAL journal: readers (leaderboard, admin view) never block the writer and a process
  killed mid-write leaves the last committed state (uncommitted WAL frames are ignored).
- synchronous=FULL: a committed vote survives a power cut too; votes are rare, so the
  extra fsync per vote costs nothing noticeable.
- busy_timeout: a writer waits this long for another process's write to finish before
  giving up with `ArenaError("database_busy")` (nothing half-written: the transaction
  rolls back).
- foreign_keys=ON: SQLite ignores REFERENCES otherwise.
- Write transactions open with BEGIN IMMEDIATE, taking the write lock first. With
  SQLite's default deferred BEGIN, two writers that both read first and then write
  deadlock, and SQLite fails one at once *without* waiting for the busy timeout.

Use `store.write()` for a unit of work that must be all-or-nothing and `store.read()`
for queries; both hand out an ORM `Session` and map lock/busy failures to ArenaError.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from arena.errors import ArenaError
from engine.errors import UserFacingError

DATA_ENV = "BIMEDIX_DATA_DIR"
DATABASE_FILE = "arena.db"
DEFAULT_BUSY_TIMEOUT_S = 10.0
_WRITE_OPTION = "arena_write"


def default_data_dir() -> Path:
    """$BIMEDIX_DATA_DIR, else $XDG_DATA_HOME/bimedix-chat (~/.local/share/bimedix-chat)."""
    configured = os.environ.get(DATA_ENV)
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "bimedix-chat"


def database_url(target: str | Path | None = None, data_dir: str | Path | None = None) -> str:
    """An SQLAlchemy URL from a URL, a SQLite file path, or nothing (the default file).

    None: `<data_dir or default_data_dir()>/arena.db`. A string with "://" is taken as a
    URL as it is; anything else is a path to a SQLite file.
    """
    if target is None:
        target = Path(data_dir) if data_dir is not None else default_data_dir()
        target = target / DATABASE_FILE
    if isinstance(target, str) and "://" in target:
        return target
    return f"sqlite:///{Path(target).expanduser().resolve()}"


class DatabaseStore:
    """An engine plus read/write sessions; share one per process (it is thread-safe).

    Lock and connection failures become `error_type("database_busy" | "database_unavailable")`,
    a UserFacingError worded for the people who use that database (the translation
    pipeline's store is one too)."""

    error_type: type[UserFacingError] = ArenaError

    def __init__(self, engine: Engine, busy_timeout_s: float):
        self.engine = engine
        self.busy_timeout_s = busy_timeout_s
        self._write_engine = write_engine(engine)

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One all-or-nothing transaction: committed when the block ends, else rolled back."""
        with self._mapped_errors(), Session(self._write_engine, expire_on_commit=False) as session:
            with session.begin():
                yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._mapped_errors(), Session(self.engine, expire_on_commit=False) as session:
            with session.begin():
                yield session

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _mapped_errors(self) -> Iterator[None]:
        try:
            yield
        except OperationalError as error:
            raise self._user_error(error) from error

    def _user_error(self, error: OperationalError) -> UserFacingError:
        text = str(error.orig).lower()
        if "locked" in text or "busy" in text or "lock timeout" in text:
            return self.error_type("database_busy", seconds=f"{self.busy_timeout_s:g}")
        return self.error_type("database_unavailable", detail=str(error.orig)[:200])


class ArenaStore(DatabaseStore):
    """The vote store (arena/tables.py)."""

    error_type = ArenaError


def open_store(
    url: str | Path | None = None,
    *,
    data_dir: str | Path | None = None,
    busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
    echo: bool = False,
    migrate: bool = True,
) -> ArenaStore:
    """Connect to the vote store, creating the file and upgrading the schema to the newest
    revision (arena/schema.py; `migrate=False` leaves it as it is).

    `url`: any SQLAlchemy URL, or a SQLite file path; None: `arena.db` in `data_dir`
    (default: see `default_data_dir`). `busy_timeout_s`: how long a write waits for
    another writer before failing with ArenaError("database_busy"). A database newer than
    this code raises ArenaError("database_newer").
    """
    store = ArenaStore(database_engine(database_url(url, data_dir), busy_timeout_s, echo), busy_timeout_s)
    if migrate:
        from arena.schema import upgrade

        try:
            with store._mapped_errors(), store._write_engine.begin() as connection:
                # Inside the write lock, so processes starting together cannot both decide
                # the schema is old and then collide upgrading it (arena/schema.py).
                upgrade(connection)
        except BaseException:
            store.close()
            raise
    return store


def database_engine(url: str, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S, echo: bool = False) -> Engine:
    """An SQLAlchemy engine for `url`, with SQLite set up as described above (WAL,
    busy timeout, BEGIN IMMEDIATE on `write_engine(engine)`); other databases as they are.
    The translation pipeline's store (train/translate) uses it too."""
    full_url = make_url(url)
    if full_url.drivername == "postgresql":  # no driver named: psycopg 3 (SQLAlchemy's default is psycopg2)
        full_url = full_url.set(drivername="postgresql+psycopg")
    if full_url.get_backend_name() == "postgresql":
        # PostgreSQL's counterpart of SQLite's busy timeout: a statement that waits longer
        # than this for a lock fails ("lock timeout" -> database_busy) instead of hanging.
        timeout_ms = max(1, int(busy_timeout_s * 1000))
        return create_engine(full_url, echo=echo, pool_pre_ping=True,
                             connect_args={"options": f"-c lock_timeout={timeout_ms}"})
    engine = create_engine(full_url, echo=echo)
    if full_url.get_backend_name() == "sqlite":
        _prepare_sqlite(engine, full_url.database, busy_timeout_s)
    return engine


def write_engine(engine: Engine) -> Engine:
    """The same engine, whose transactions take SQLite's write lock at BEGIN."""
    return engine.execution_options(**{_WRITE_OPTION: True})


def _prepare_sqlite(engine: Engine, database: str | None, busy_timeout_s: float) -> None:
    in_memory = not database or database == ":memory:" or database.startswith("file::memory:")
    if not in_memory:
        Path(database).parent.mkdir(parents=True, exist_ok=True)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection, _record) -> None:
        # Leave BEGIN to the "begin" hook below (SQLAlchemy's documented pysqlite recipe):
        # the driver's own implicit BEGIN is always DEFERRED.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        cursor.execute("PRAGMA foreign_keys = ON")
        if not in_memory:
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection) -> None:
        immediate = connection.get_execution_options().get(_WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
