"""engage: a discussion post's and a reuse's sanitised HTML stored when written; authors edit and delete their
own posts (each edit or deletion kept, with the text it replaced) (issue 15)

Revision ID: 0021
Revises: 0015
Create Date: 2026-12-05 02:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cityhub.db
from cityhub.markup import render

revision = '0021'
down_revision = '0015'
branch_labels = None
depends_on = None

BATCH = 500  # rows rendered and written per round trip


def _backfill(table: str, source: str, target: str) -> None:
    """Render every row's Markdown still without its HTML, ``BATCH`` rows at a time (in id order, so each round
    reads from where the previous one stopped and a large table is never held in memory)."""
    conn = op.get_bind()
    t = sa.table(table, sa.column('id', sa.Integer()), sa.column(source, sa.Text()), sa.column(target, sa.Text()))
    last = 0
    while True:
        rows = conn.execute(sa.select(t.c.id, t.c[source]).where(t.c.id > last, t.c[target].is_(None))
                            .order_by(t.c.id).limit(BATCH)).all()
        if not rows:
            return
        conn.execute(sa.update(t).where(t.c.id == sa.bindparam('row_id')).values({target: sa.bindparam('html')}),
                     [{'row_id': r[0], 'html': render(r[1])} for r in rows])
        last = rows[-1][0]


def upgrade() -> None:
    with op.batch_alter_table('discussion_post', schema=None) as batch_op:
        batch_op.add_column(sa.Column('body_html', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('edited_at', cityhub.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('deleted_at', cityhub.db.UTCDateTime(), nullable=True))
    with op.batch_alter_table('reuse', schema=None) as batch_op:
        batch_op.add_column(sa.Column('description_html', sa.Text(), nullable=True))

    op.create_table('discussion_revision',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('post_id', sa.Integer(), nullable=False),
    sa.Column('change', sa.String(length=10), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('editor_id', sa.Integer(), nullable=True),
    sa.Column('editor', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('created_at', cityhub.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['post_id'], ['discussion_post.id'],
                            name=op.f('fk_discussion_revision_post_id_discussion_post'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_discussion_revision'))
    )
    with op.batch_alter_table('discussion_revision', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_discussion_revision_post_id'), ['post_id'], unique=False)
        batch_op.create_index('ix_discussion_revision_editor_ts', ['editor_id', 'created_at'], unique=False)
        batch_op.create_index('ix_discussion_revision_source_ts', ['source', 'created_at'], unique=False)

    _backfill('discussion_post', 'body', 'body_html')
    _backfill('reuse', 'description', 'description_html')


def downgrade() -> None:
    op.drop_table('discussion_revision')
    with op.batch_alter_table('reuse', schema=None) as batch_op:
        batch_op.drop_column('description_html')
    with op.batch_alter_table('discussion_post', schema=None) as batch_op:
        batch_op.drop_column('deleted_at')
        batch_op.drop_column('edited_at')
        batch_op.drop_column('body_html')
