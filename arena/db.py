"""The vote store's schema, for operators (the app upgrades it itself at start).

    python -m arena.db current [--db URL]     # the database's revision, and this code's newest
    python -m arena.db upgrade [--db URL]     # bring it to the newest
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from arena.errors import ArenaError
from arena.schema import current_revision, newest_revision, upgrade
from arena.store import open_store

app = typer.Typer(add_completion=False, help=__doc__)


def _store(db: Optional[str]):
    return open_store(db, migrate=False)


@app.command()
def current(db: Annotated[Optional[str], typer.Option(help="SQLAlchemy URL or SQLite file (default: the app's)")] = None
            ) -> None:
    """Print the database's revision and this code's newest."""
    store = _store(db)
    try:
        with store.engine.connect() as connection:
            typer.echo(f"database: {current_revision(connection) or 'none (empty, or made before migrations)'}")
        typer.echo(f"newest:   {newest_revision()}  ({store.url})")
    finally:
        store.close()


@app.command("upgrade")
def upgrade_command(db: Annotated[Optional[str], typer.Option(help="SQLAlchemy URL or SQLite file (default: the app's)")] = None
                    ) -> None:
    """Upgrade the database to the newest revision."""
    store = _store(db)
    try:
        with store._mapped_errors(), store._write_engine.begin() as connection:
            was = upgrade(connection)
        typer.echo(f"{store.url}: {was or 'none'} -> {newest_revision()}")
    except ArenaError as error:
        typer.echo(f"error: {error.message('en')}", err=True)
        raise typer.Exit(1) from None
    finally:
        store.close()


if __name__ == "__main__":
    app()
