"""visibility: a resource's withholding load state; approved applications for conditionally open data

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 16:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cityhub.db

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("resource") as batch_op:
        batch_op.add_column(sa.Column("load_state", sa.String(length=12), server_default="", nullable=False))
    # resources whose newest load was blocked by the personal-data scan, or failed on the stored file itself,
    # are withheld from now on (the rule of ``Resource.load_state``)
    newest = ("(SELECT {col} FROM datastore_version v WHERE v.resource_id = resource.id"
              " ORDER BY v.version DESC LIMIT 1)")
    status, source = newest.format(col="v.status"), newest.format(col="v.source_key")
    op.execute(f"UPDATE resource SET load_state = {status} WHERE {status} = 'blocked'"
               f" OR ({status} = 'failed' AND {source} = resource.file_path)")
    op.create_table(
        "data_grant",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("granted_by", sa.String(length=64), nullable=False),
        sa.Column("granted_at", cityhub.db.UTCDateTime(), nullable=False),
        sa.Column("expires_at", cityhub.db.UTCDateTime(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["dataset_id"], ["dataset.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("data_grant") as batch_op:
        batch_op.create_index("ix_data_grant_dataset_user", ["dataset_id", "user_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_data_grant_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("data_grant") as batch_op:
        batch_op.drop_index(batch_op.f("ix_data_grant_user_id"))
        batch_op.drop_index("ix_data_grant_dataset_user")
    op.drop_table("data_grant")
    with op.batch_alter_table("resource") as batch_op:
        batch_op.drop_column("load_state")
