"""exchange: the metered log of every call a registered system makes through the exchange API

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 20:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cityhub.db

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('exchange_call',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', cityhub.db.UTCDateTime(), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('system_id', sa.Integer(), nullable=False),
    sa.Column('consumer_department_id', sa.Integer(), nullable=False),
    sa.Column('provider_department_id', sa.Integer(), nullable=False),
    sa.Column('grant_id', sa.Integer(), nullable=True),
    sa.Column('resource_id', sa.String(length=36), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('bytes', sa.Integer(), nullable=False),
    sa.Column('ms', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['system_id'], ['sharing_system.id'], name=op.f('fk_exchange_call_system_id_sharing_system')),
    sa.ForeignKeyConstraint(['consumer_department_id'], ['department.id'],
                            name=op.f('fk_exchange_call_consumer_department_id_department')),
    sa.ForeignKeyConstraint(['provider_department_id'], ['department.id'],
                            name=op.f('fk_exchange_call_provider_department_id_department')),
    sa.ForeignKeyConstraint(['grant_id'], ['share_grant.id'], name=op.f('fk_exchange_call_grant_id_share_grant'),
                            ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exchange_call'))
    )
    with op.batch_alter_table('exchange_call', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_exchange_call_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_exchange_call_system_id'), ['system_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_exchange_call_resource_id'), ['resource_id'], unique=False)
        batch_op.create_index('ix_exchange_call_month_consumer', ['month', 'consumer_department_id'], unique=False)
        batch_op.create_index('ix_exchange_call_month_provider', ['month', 'provider_department_id'], unique=False)
        batch_op.create_index('ix_exchange_call_grant_month', ['grant_id', 'month'], unique=False)


def downgrade() -> None:
    op.drop_table('exchange_call')
