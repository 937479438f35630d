"""indicators: the plan's indicators, their observations and history (issue 15)

Revision ID: 0015
Revises: 0019
Create Date: 2026-12-04 23:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cityhub.db

revision = '0015'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('indicator',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('area', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('name_en', sa.String(length=300), nullable=False),
    sa.Column('unit', sa.String(length=40), nullable=False),
    sa.Column('baseline_year', sa.Integer(), nullable=True),
    sa.Column('baseline_value', sa.Float(), nullable=True),
    sa.Column('baseline_note', sa.Text(), nullable=False),
    sa.Column('target_year', sa.Integer(), nullable=False),
    sa.Column('target_value', sa.Float(), nullable=True),
    sa.Column('target_note', sa.Text(), nullable=False),
    sa.Column('direction', sa.String(length=10), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('compute_key', sa.String(length=40), nullable=False),
    sa.Column('frequency', sa.String(length=10), nullable=False),
    sa.Column('min_value', sa.Float(), nullable=True),
    sa.Column('max_value', sa.Float(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', cityhub.db.UTCDateTime(), nullable=False),
    sa.Column('modified_at', cityhub.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['department_id'], ['department.id'], name=op.f('fk_indicator_department_id_department')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_indicator')),
    sa.UniqueConstraint('code', name=op.f('uq_indicator_code'))
    )
    with op.batch_alter_table('indicator', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_indicator_area'), ['area'], unique=False)
        batch_op.create_index(batch_op.f('ix_indicator_department_id'), ['department_id'], unique=False)

    op.create_table('indicator_observation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('indicator_id', sa.Integer(), nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.Column('unit', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('evidence_url', sa.String(length=2000), nullable=False),
    sa.Column('evidence_dataset', sa.String(length=100), nullable=False),
    sa.Column('evidence_file', sa.String(length=500), nullable=False),
    sa.Column('evidence_name', sa.String(length=300), nullable=False),
    sa.Column('evidence_sha256', sa.String(length=64), nullable=False),
    sa.Column('reporter', sa.String(length=64), nullable=False),
    sa.Column('reported_at', cityhub.db.UTCDateTime(), nullable=False),
    sa.Column('reviewer', sa.String(length=64), nullable=False),
    sa.Column('reviewed_at', cityhub.db.UTCDateTime(), nullable=True),
    sa.Column('review_comment', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['indicator_id'], ['indicator.id'],
                            name=op.f('fk_indicator_observation_indicator_id_indicator'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_indicator_observation'))
    )
    with op.batch_alter_table('indicator_observation', schema=None) as batch_op:
        batch_op.create_index('ix_indicator_observation_indicator_period', ['indicator_id', 'period'], unique=False)
        batch_op.create_index('ix_indicator_observation_status', ['status', 'reported_at'], unique=False)

    op.create_table('indicator_history',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('indicator_id', sa.Integer(), nullable=False),
    sa.Column('observation_id', sa.Integer(), nullable=True),
    sa.Column('ts', cityhub.db.UTCDateTime(), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('changes', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['indicator_id'], ['indicator.id'],
                            name=op.f('fk_indicator_history_indicator_id_indicator'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_indicator_history'))
    )
    with op.batch_alter_table('indicator_history', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_indicator_history_indicator_id'), ['indicator_id'], unique=False)


def downgrade() -> None:
    op.drop_table('indicator_history')
    op.drop_table('indicator_observation')
    op.drop_table('indicator')
