"""sharing: de-identification policies and views, base data items (一数一源), correction tickets (校核)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 19:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cityhub.db

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('deid_policy',
    sa.Column('resource_id', sa.String(length=36), nullable=False),
    sa.Column('rules', sa.JSON(), nullable=False),
    sa.Column('default', sa.String(length=8), nullable=False),
    sa.Column('quasi', sa.JSON(), nullable=False),
    sa.Column('updated_by', sa.String(length=64), nullable=False),
    sa.Column('updated_at', cityhub.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['resource_id'], ['resource.id'], name=op.f('fk_deid_policy_resource_id_resource'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('resource_id', name=op.f('pk_deid_policy'))
    )
    op.create_table('deid_view',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('resource_id', sa.String(length=36), nullable=False),
    sa.Column('source_version', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('policy', sa.JSON(), nullable=False),
    sa.Column('columns', sa.JSON(), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('k', sa.Integer(), nullable=True),
    sa.Column('report', sa.JSON(), nullable=False),
    sa.Column('built_by', sa.String(length=64), nullable=False),
    sa.Column('built_at', cityhub.db.UTCDateTime(), nullable=False),
    sa.Column('seconds', sa.Float(), nullable=False),
    sa.Column('released_by', sa.String(length=64), nullable=False),
    sa.Column('released_at', cityhub.db.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['resource_id'], ['resource.id'], name=op.f('fk_deid_view_resource_id_resource'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deid_view'))
    )
    with op.batch_alter_table('deid_view', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deid_view_resource_id'), ['resource_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_deid_view_status'), ['status'], unique=False)

    op.create_table('base_item',
    sa.Column('code', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('name_en', sa.String(length=100), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=False),
    sa.Column('resource_id', sa.String(length=36), nullable=True),
    sa.Column('updated_by', sa.String(length=64), nullable=False),
    sa.Column('updated_at', cityhub.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['department_id'], ['department.id'], name=op.f('fk_base_item_department_id_department')),
    sa.ForeignKeyConstraint(['resource_id'], ['resource.id'], name=op.f('fk_base_item_resource_id_resource'),
                            ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_base_item'))
    )
    with op.batch_alter_table('base_item', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_base_item_department_id'), ['department_id'], unique=False)

    op.create_table('correction',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('resource_id', sa.String(length=36), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=False),
    sa.Column('key_column', sa.String(length=200), nullable=False),
    sa.Column('key_value', sa.String(length=500), nullable=False),
    sa.Column('field', sa.String(length=200), nullable=False),
    sa.Column('current_value', sa.Text(), nullable=True),
    sa.Column('claimed_value', sa.Text(), nullable=False),
    sa.Column('evidence', sa.Text(), nullable=False),
    sa.Column('evidence_url', sa.String(length=2000), nullable=False),
    sa.Column('reporter', sa.String(length=64), nullable=False),
    sa.Column('reporter_department_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('filed_on', sa.Date(), nullable=False),
    sa.Column('accept_due', sa.Date(), nullable=False),
    sa.Column('answer_due', sa.Date(), nullable=False),
    sa.Column('provisional', sa.Boolean(), nullable=False),
    sa.Column('created_at', cityhub.db.UTCDateTime(), nullable=False),
    sa.Column('accepted_by', sa.String(length=64), nullable=False),
    sa.Column('accepted_on', sa.Date(), nullable=True),
    sa.Column('resolved_by', sa.String(length=64), nullable=False),
    sa.Column('resolved_on', sa.Date(), nullable=True),
    sa.Column('corrected_value', sa.Text(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('applied_version', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['department_id'], ['department.id'], name=op.f('fk_correction_department_id_department')),
    sa.ForeignKeyConstraint(['resource_id'], ['resource.id'], name=op.f('fk_correction_resource_id_resource'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_correction'))
    )
    with op.batch_alter_table('correction', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_correction_department_id'), ['department_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_correction_resource_id'), ['resource_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_correction_status'), ['status'], unique=False)


def downgrade() -> None:
    op.drop_table('correction')
    op.drop_table('base_item')
    op.drop_table('deid_view')
    op.drop_table('deid_policy')
