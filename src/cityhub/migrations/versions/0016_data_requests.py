"""data requests (数据需求, issue 15): requests for data not open yet and their history

Revision ID: 0016
Revises: 0020
Create Date: 2026-12-04 23:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cityhub.db

revision = '0016'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('data_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('purpose', sa.Text(), nullable=False),
    sa.Column('suggested_department_id', sa.Integer(), nullable=True),
    sa.Column('contact', sa.String(length=200), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', cityhub.db.UTCDateTime(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('routed_at', cityhub.db.UTCDateTime(), nullable=True),
    sa.Column('routed_by', sa.String(length=64), nullable=False),
    sa.Column('deadline', sa.Date(), nullable=True),
    sa.Column('deadline_provisional', sa.Boolean(), nullable=False),
    sa.Column('escalated_at', cityhub.db.UTCDateTime(), nullable=True),
    sa.Column('answer_kind', sa.String(length=16), nullable=False),
    sa.Column('answer_text', sa.Text(), nullable=False),
    sa.Column('open_by', sa.Date(), nullable=True),
    sa.Column('answer_dataset_id', sa.Integer(), nullable=True),
    sa.Column('answer_url', sa.String(length=2000), nullable=False),
    sa.Column('legal_basis', sa.Text(), nullable=False),
    sa.Column('answered_at', cityhub.db.UTCDateTime(), nullable=True),
    sa.Column('answered_by', sa.String(length=64), nullable=False),
    sa.Column('answered_late', sa.Boolean(), nullable=False),
    sa.Column('merged_into_id', sa.Integer(), nullable=True),
    sa.Column('closed_reason', sa.Text(), nullable=False),
    sa.Column('updated_at', cityhub.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['answer_dataset_id'], ['dataset.id'],
                            name=op.f('fk_data_request_answer_dataset_id_dataset'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['department_id'], ['department.id'],
                            name=op.f('fk_data_request_department_id_department')),
    sa.ForeignKeyConstraint(['merged_into_id'], ['data_request.id'],
                            name=op.f('fk_data_request_merged_into_id_data_request'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['suggested_department_id'], ['department.id'],
                            name=op.f('fk_data_request_suggested_department_id_department')),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'],
                            name=op.f('fk_data_request_user_id_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_request'))
    )
    with op.batch_alter_table('data_request', schema=None) as batch_op:
        batch_op.create_index('ix_data_request_status_id', ['status', 'id'], unique=False)
        batch_op.create_index('ix_data_request_department_status_id', ['department_id', 'status', 'id'],
                              unique=False)
        batch_op.create_index('ix_data_request_status_deadline', ['status', 'deadline'], unique=False)
        batch_op.create_index('ix_data_request_department_id_id', ['department_id', 'id'], unique=False)
        batch_op.create_index('ix_data_request_merged_into_id', ['merged_into_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_data_request_user_id'), ['user_id'], unique=False)

    op.create_table('data_request_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('at', cityhub.db.UTCDateTime(), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('event', sa.String(length=12), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['data_request.id'],
                            name=op.f('fk_data_request_event_request_id_data_request'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_request_event'))
    )
    with op.batch_alter_table('data_request_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_data_request_event_request_id'), ['request_id'], unique=False)


def downgrade() -> None:
    op.drop_table('data_request_event')
    op.drop_table('data_request')
