"""catalog: the publication workflow (draft -> submitted -> published) of a data resource

Existing datasets are published (they were open before the workflow existed); the search index keeps whether
each dataset is published, so the visibility filter stays one indexed column of ``search_doc``.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 16:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cityhub.db

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dataset") as batch_op:
        batch_op.add_column(sa.Column("publication", sa.String(length=10), server_default="published",
                                      nullable=False))
        batch_op.add_column(sa.Column("review_comment", sa.Text(), server_default="", nullable=False))
        batch_op.add_column(sa.Column("submitted_by", sa.String(length=64), server_default="", nullable=False))
        batch_op.add_column(sa.Column("submitted_at", cityhub.db.UTCDateTime(), nullable=True))
        batch_op.create_index("ix_dataset_publication", ["publication"])
    with op.batch_alter_table("search_doc") as batch_op:
        batch_op.add_column(sa.Column("published", sa.Boolean(), server_default=sa.true(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("search_doc") as batch_op:
        batch_op.drop_column("published")
    with op.batch_alter_table("dataset") as batch_op:
        batch_op.drop_index("ix_dataset_publication")
        batch_op.drop_column("submitted_at")
        batch_op.drop_column("submitted_by")
        batch_op.drop_column("review_comment")
        batch_op.drop_column("publication")
