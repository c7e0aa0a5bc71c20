"""Revision 3: the attempt limits count in the database (arena_attempts, arena_lockouts).

The limits on joins, votes and organiser-code checks were counted in each app process, so
every replica sharing a database allowed its own share and a lockout held on one replica
only. Their counts now live beside the votes (arena/ledgers.py). Both tables start empty:
nothing to carry over from the processes.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A database made by create_all at a newer version, then adopted without its revision
    # stamp (arena/db.py), already has them.
    present = set(sa.inspect(op.get_bind()).get_table_names())
    if "arena_attempts" not in present:
        _create_attempts()
    if "arena_lockouts" not in present:
        _create_lockouts()


def _create_attempts() -> None:
    op.create_table(
        "arena_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=60), nullable=False),
        sa.Column("scope", sa.String(length=200), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("failure", sa.Boolean(), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("arena_attempts") as batch:
        batch.create_index("ix_arena_attempts_everyone", ["purpose", "scope", "failure", "at"])
        batch.create_index("ix_arena_attempts_client", ["purpose", "scope", "client", "failure", "at"])


def _create_lockouts() -> None:
    op.create_table(
        "arena_lockouts",
        sa.Column("purpose", sa.String(length=60), nullable=False),
        sa.Column("scope", sa.String(length=200), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("locked_until", sa.Double(), nullable=False),
        sa.Column("counted_from", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("purpose", "scope", "client"),
    )


def downgrade() -> None:
    op.drop_table("arena_lockouts")
    with op.batch_alter_table("arena_attempts") as batch:
        batch.drop_index("ix_arena_attempts_client")
        batch.drop_index("ix_arena_attempts_everyone")
    op.drop_table("arena_attempts")
