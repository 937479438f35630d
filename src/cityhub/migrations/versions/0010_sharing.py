"""sharing: consuming departments' systems, share requests and their history, scoped grants

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 19:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cityhub.db

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sharing_system',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=100), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('token_prefix', sa.String(length=16), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', cityhub.db.UTCDateTime(), nullable=False),
    sa.Column('token_rotated_at', cityhub.db.UTCDateTime(), nullable=True),
    sa.Column('deactivated_at', cityhub.db.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['department_id'], ['department.id'],
                            name=op.f('fk_sharing_system_department_id_department')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sharing_system')),
    sa.UniqueConstraint('department_id', 'code', name=op.f('uq_sharing_system_department_id')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_sharing_system_token_hash'))
    )
    with op.batch_alter_table('sharing_system', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sharing_system_department_id'), ['department_id'], unique=False)

    op.create_table('share_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('dataset_id', sa.Integer(), nullable=False),
    sa.Column('resource_id', sa.String(length=36), nullable=True),
    sa.Column('provider_department_id', sa.Integer(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('system_id', sa.Integer(), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('purpose', sa.Text(), nullable=False),
    sa.Column('legal_basis', sa.Text(), nullable=False),
    sa.Column('columns', sa.JSON(), nullable=True),
    sa.Column('row_scope', sa.JSON(), nullable=True),
    sa.Column('duration_days', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('deadline', sa.Date(), nullable=False),
    sa.Column('deadline_provisional', sa.Boolean(), nullable=False),
    sa.Column('escalated_at', cityhub.db.UTCDateTime(), nullable=True),
    sa.Column('decided_by', sa.String(length=64), nullable=False),
    sa.Column('decided_at', cityhub.db.UTCDateTime(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', cityhub.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['dataset_id'], ['dataset.id'], name=op.f('fk_share_request_dataset_id_dataset'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['resource_id'], ['resource.id'], name=op.f('fk_share_request_resource_id_resource'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['provider_department_id'], ['department.id'],
                            name=op.f('fk_share_request_provider_department_id_department')),
    sa.ForeignKeyConstraint(['department_id'], ['department.id'],
                            name=op.f('fk_share_request_department_id_department')),
    sa.ForeignKeyConstraint(['system_id'], ['sharing_system.id'],
                            name=op.f('fk_share_request_system_id_sharing_system')),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_share_request_user_id_user_account'),
                            ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_share_request'))
    )
    with op.batch_alter_table('share_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_share_request_dataset_id'), ['dataset_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_share_request_provider_department_id'), ['provider_department_id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_share_request_department_id'), ['department_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_share_request_user_id'), ['user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_share_request_status'), ['status'], unique=False)
        batch_op.create_index('ix_share_request_status_deadline', ['status', 'deadline'], unique=False)

    op.create_table('share_request_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('at', cityhub.db.UTCDateTime(), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('event', sa.String(length=12), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['share_request.id'],
                            name=op.f('fk_share_request_event_request_id_share_request'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_share_request_event'))
    )
    with op.batch_alter_table('share_request_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_share_request_event_request_id'), ['request_id'], unique=False)

    op.create_table('share_grant',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('dataset_id', sa.Integer(), nullable=False),
    sa.Column('resource_id', sa.String(length=36), nullable=False),
    sa.Column('system_id', sa.Integer(), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('columns', sa.JSON(), nullable=True),
    sa.Column('row_filter', sa.JSON(), nullable=True),
    sa.Column('allow_personal', sa.Boolean(), nullable=False),
    sa.Column('purpose', sa.Text(), nullable=False),
    sa.Column('expires_at', cityhub.db.UTCDateTime(), nullable=False),
    sa.Column('revoked_at', cityhub.db.UTCDateTime(), nullable=True),
    sa.Column('revoked_by', sa.String(length=64), nullable=False),
    sa.Column('data_grant_id', sa.Integer(), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', cityhub.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['share_request.id'],
                            name=op.f('fk_share_grant_request_id_share_request'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['dataset_id'], ['dataset.id'], name=op.f('fk_share_grant_dataset_id_dataset'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['resource_id'], ['resource.id'], name=op.f('fk_share_grant_resource_id_resource'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['system_id'], ['sharing_system.id'],
                            name=op.f('fk_share_grant_system_id_sharing_system')),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_share_grant_user_id_user_account'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['data_grant_id'], ['data_grant.id'],
                            name=op.f('fk_share_grant_data_grant_id_data_grant'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_share_grant'))
    )
    with op.batch_alter_table('share_grant', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_share_grant_request_id'), ['request_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_share_grant_dataset_id'), ['dataset_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_share_grant_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index('ix_share_grant_system_resource', ['system_id', 'resource_id'], unique=False)
        batch_op.create_index('ix_share_grant_user_resource', ['user_id', 'resource_id'], unique=False)


def downgrade() -> None:
    op.drop_table('share_grant')
    op.drop_table('share_request_event')
    op.drop_table('share_request')
    op.drop_table('sharing_system')
