"""Revision 1: the vote store as it was before migrations (studies, raters, battles, votes,
rater codes, judge verdicts), generated from arena/tables.py at that time.

Revision ID: 0001
Revises:
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import arena.tables

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('arena_studies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('access_code_hash', sa.String(length=300), nullable=True),
    sa.Column('created_at', arena.tables.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('arena_raters',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('study_id', sa.Integer(), nullable=False),
    sa.Column('display_name', sa.String(length=64), nullable=False),
    sa.Column('name_key', sa.String(length=64), nullable=False),
    sa.Column('created_at', arena.tables.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['study_id'], ['arena_studies.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('study_id', 'name_key')
    )
    with op.batch_alter_table('arena_raters', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_arena_raters_study_id'), ['study_id'], unique=False)

    op.create_table('arena_battles',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('study_id', sa.Integer(), nullable=False),
    sa.Column('rater_id', sa.Integer(), nullable=False),
    sa.Column('model_a', sa.String(length=200), nullable=False),
    sa.Column('model_b', sa.String(length=200), nullable=False),
    sa.Column('started_at', arena.tables.UTCDateTime(), nullable=False),
    sa.Column('voted_at', arena.tables.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['rater_id'], ['arena_raters.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['study_id'], ['arena_studies.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('arena_battles', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_arena_battles_rater_id'), ['rater_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_arena_battles_study_id'), ['study_id'], unique=False)

    op.create_table('arena_rater_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rater_id', sa.Integer(), nullable=False),
    sa.Column('code_digest', sa.String(length=64), nullable=False),
    sa.Column('created_at', arena.tables.UTCDateTime(), nullable=False),
    sa.Column('revoked_at', arena.tables.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['rater_id'], ['arena_raters.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('rater_id')
    )
    with op.batch_alter_table('arena_rater_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_arena_rater_codes_code_digest'), ['code_digest'], unique=True)

    op.create_table('arena_judge_verdicts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('battle_id', sa.String(length=32), nullable=False),
    sa.Column('source_battle_id', sa.String(length=32), nullable=True),
    sa.Column('item_key', sa.String(length=200), nullable=True),
    sa.Column('judge_model', sa.String(length=200), nullable=False),
    sa.Column('prompt_version', sa.String(length=100), nullable=False),
    sa.Column('verdict_ab', sa.String(length=16), nullable=False),
    sa.Column('verdict_ba', sa.String(length=16), nullable=False),
    sa.Column('flipped', sa.Boolean(), nullable=False),
    sa.Column('created_at', arena.tables.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['battle_id'], ['arena_battles.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('battle_id')
    )
    with op.batch_alter_table('arena_judge_verdicts', schema=None) as batch_op:
        batch_op.create_index('ix_arena_judge_verdicts_key', ['judge_model', 'prompt_version', 'item_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_arena_judge_verdicts_source_battle_id'), ['source_battle_id'], unique=False)

    op.create_table('arena_votes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('battle_id', sa.String(length=32), nullable=False),
    sa.Column('winner', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('rater_language', sa.String(length=16), nullable=True),
    sa.Column('conversation_language', sa.String(length=8), nullable=False),
    sa.Column('transcript_a', sa.JSON(), nullable=False),
    sa.Column('transcript_b', sa.JSON(), nullable=False),
    sa.Column('generation_settings', sa.JSON(), nullable=False),
    sa.Column('flagged_leak', sa.Boolean(), nullable=False),
    sa.Column('leak_reason', sa.Text(), nullable=True),
    sa.Column('voted_at', arena.tables.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['battle_id'], ['arena_battles.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('battle_id')
    )
    with op.batch_alter_table('arena_votes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_arena_votes_conversation_language'), ['conversation_language'], unique=False)
        batch_op.create_index(batch_op.f('ix_arena_votes_flagged_leak'), ['flagged_leak'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('arena_votes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_arena_votes_flagged_leak'))
        batch_op.drop_index(batch_op.f('ix_arena_votes_conversation_language'))

    op.drop_table('arena_votes')
    with op.batch_alter_table('arena_judge_verdicts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_arena_judge_verdicts_source_battle_id'))
        batch_op.drop_index('ix_arena_judge_verdicts_key')

    op.drop_table('arena_judge_verdicts')
    with op.batch_alter_table('arena_rater_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_arena_rater_codes_code_digest'))

    op.drop_table('arena_rater_codes')
    with op.batch_alter_table('arena_battles', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_arena_battles_study_id'))
        batch_op.drop_index(batch_op.f('ix_arena_battles_rater_id'))

    op.drop_table('arena_battles')
    with op.batch_alter_table('arena_raters', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_arena_raters_study_id'))

    op.drop_table('arena_raters')
    op.drop_table('arena_studies')
