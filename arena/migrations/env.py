"""Alembic's environment for the vote store: always run by arena.schema on the store's own
connection (inside the transaction that holds the write lock), never from an alembic.ini."""

from __future__ import annotations

from alembic import context

from arena.tables import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True,
                  compare_type=True)
with context.begin_transaction():
    context.run_migrations()
