"""Revision 2: a judge's verdict on an item is unique per study, in the database itself.

Recording a judge's verdict was idempotent by a lookup inside the write transaction, which
SQLite's write lock makes safe; on PostgreSQL two runs at once could both miss the other's
row. The verdict now carries its study (filled from its battle for the rows already there)
and two unique indexes refuse a second verdict of the same judge, prompt version and item
(or source battle) in a study; arena.judges then returns the first one.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("arena_judge_verdicts") as batch:
        batch.add_column(sa.Column("study_id", sa.Integer(), nullable=True))
    op.execute("UPDATE arena_judge_verdicts SET study_id = (SELECT b.study_id FROM arena_battles b "
               "WHERE b.id = arena_judge_verdicts.battle_id)")
    with op.batch_alter_table("arena_judge_verdicts") as batch:
        batch.alter_column("study_id", existing_type=sa.Integer(), nullable=False)
        batch.create_foreign_key("fk_arena_judge_verdicts_study_id", "arena_studies", ["study_id"], ["id"],
                                 ondelete="CASCADE")
        batch.drop_index("ix_arena_judge_verdicts_key")
        batch.create_index("uq_arena_judge_verdicts_item", ["study_id", "judge_model", "prompt_version", "item_key"],
                           unique=True)
        batch.create_index("uq_arena_judge_verdicts_source",
                           ["study_id", "judge_model", "prompt_version", "source_battle_id"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("arena_judge_verdicts") as batch:
        batch.drop_index("uq_arena_judge_verdicts_source")
        batch.drop_index("uq_arena_judge_verdicts_item")
        batch.create_index("ix_arena_judge_verdicts_key", ["judge_model", "prompt_version", "item_key"])
        batch.drop_constraint("fk_arena_judge_verdicts_study_id", type_="foreignkey")
        batch.drop_column("study_id")
