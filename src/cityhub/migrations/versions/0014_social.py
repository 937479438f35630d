"""social: activity streams and following (issue 15)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 22:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cityhub.db

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('activity',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ts', cityhub.db.UTCDateTime(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('object_type', sa.String(length=32), nullable=False),
    sa.Column('object_id', sa.String(length=64), nullable=False),
    sa.Column('activity_type', sa.String(length=64), nullable=False),
    sa.Column('dataset_id', sa.Integer(), nullable=True),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('public', sa.Boolean(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_activity'))
    )
    with op.batch_alter_table('activity', schema=None) as batch_op:
        batch_op.create_index('ix_activity_object', ['object_type', 'object_id', 'ts'], unique=False)
        batch_op.create_index('ix_activity_dataset_ts', ['dataset_id', 'ts'], unique=False)
        batch_op.create_index('ix_activity_department_ts', ['department_id', 'ts'], unique=False)
        batch_op.create_index('ix_activity_user_ts', ['user_id', 'ts'], unique=False)
        batch_op.create_index(batch_op.f('ix_activity_ts'), ['ts'], unique=False)

    op.create_table('follow',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('object_type', sa.String(length=32), nullable=False),
    sa.Column('object_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', cityhub.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_follow_user_id_user_account'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_follow')),
    sa.UniqueConstraint('user_id', 'object_type', 'object_id', name=op.f('uq_follow_user_id'))
    )
    with op.batch_alter_table('follow', schema=None) as batch_op:
        batch_op.create_index('ix_follow_object', ['object_type', 'object_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_follow_user_id'), ['user_id'], unique=False)


def downgrade() -> None:
    op.drop_table('follow')
    op.drop_table('activity')
