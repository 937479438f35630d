"""engage: discussions on datasets and reuses (issue 15)

Revision ID: 0017
Revises: 0018
Create Date: 2026-12-04 23:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cityhub.db

revision = '0017'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('discussion_post',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dataset_id', sa.Integer(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=False),
    sa.Column('thread_id', sa.Integer(), nullable=True),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('author', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('approved', sa.Boolean(), nullable=False),
    sa.Column('locked', sa.Boolean(), nullable=False),
    sa.Column('report_count', sa.Integer(), nullable=False),
    sa.Column('moderated_by', sa.String(length=64), nullable=False),
    sa.Column('moderation_note', sa.Text(), nullable=False),
    sa.Column('correction_id', sa.Integer(), nullable=True),
    sa.Column('created_at', cityhub.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', cityhub.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['dataset_id'], ['dataset.id'], name=op.f('fk_discussion_post_dataset_id_dataset'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_discussion_post'))
    )
    with op.batch_alter_table('discussion_post', schema=None) as batch_op:
        batch_op.create_index('ix_discussion_post_dataset_thread', ['dataset_id', 'status', 'thread_id', 'id'],
                              unique=False)
        batch_op.create_index('ix_discussion_post_author_ts', ['author_id', 'created_at'], unique=False)
        batch_op.create_index('ix_discussion_post_source_ts', ['source', 'created_at'], unique=False)
        batch_op.create_index('ix_discussion_post_status_ts', ['status', 'created_at'], unique=False)

    op.create_table('discussion_report',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('post_id', sa.Integer(), nullable=False),
    sa.Column('reporter_id', sa.Integer(), nullable=False),
    sa.Column('reporter', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('created_at', cityhub.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['post_id'], ['discussion_post.id'],
                            name=op.f('fk_discussion_report_post_id_discussion_post'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_discussion_report')),
    sa.UniqueConstraint('post_id', 'reporter_id', name=op.f('uq_discussion_report_post_id'))
    )
    with op.batch_alter_table('discussion_report', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_discussion_report_post_id'), ['post_id'], unique=False)

    op.create_table('reuse',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('url', sa.String(length=2000), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('image_key', sa.String(length=300), nullable=False),
    sa.Column('image_type', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('review_comment', sa.Text(), nullable=False),
    sa.Column('reviewed_by', sa.String(length=64), nullable=False),
    sa.Column('reviewed_at', cityhub.db.UTCDateTime(), nullable=True),
    sa.Column('submitter_id', sa.Integer(), nullable=True),
    sa.Column('submitter', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('created_at', cityhub.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reuse'))
    )
    with op.batch_alter_table('reuse', schema=None) as batch_op:
        batch_op.create_index('ix_reuse_status_ts', ['status', 'created_at'], unique=False)
        batch_op.create_index('ix_reuse_submitter_ts', ['submitter_id', 'created_at'], unique=False)
        batch_op.create_index('ix_reuse_source_ts', ['source', 'created_at'], unique=False)

    op.create_table('reuse_dataset',
    sa.Column('reuse_id', sa.Integer(), nullable=False),
    sa.Column('dataset_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.ForeignKeyConstraint(['reuse_id'], ['reuse.id'], name=op.f('fk_reuse_dataset_reuse_id_reuse'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['dataset_id'], ['dataset.id'], name=op.f('fk_reuse_dataset_dataset_id_dataset'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('reuse_id', 'dataset_id', name=op.f('pk_reuse_dataset'))
    )
    with op.batch_alter_table('reuse_dataset', schema=None) as batch_op:
        batch_op.create_index('ix_reuse_dataset_dataset_status', ['dataset_id', 'status'], unique=False)


def downgrade() -> None:
    op.drop_table('reuse_dataset')
    op.drop_table('reuse')
    op.drop_table('discussion_report')
    op.drop_table('discussion_post')
