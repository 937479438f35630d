"""dataset extras and harvest origin; TOTP second factor on user accounts

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 13:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dataset") as batch_op:
        batch_op.add_column(sa.Column("extras", sa.JSON(), server_default="{}", nullable=False))
        batch_op.add_column(sa.Column("harvest_source_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("harvest_guid", sa.String(length=500), server_default="", nullable=False))
        batch_op.add_column(sa.Column("origin_url", sa.String(length=2000), server_default="", nullable=False))
        batch_op.create_index(batch_op.f("ix_dataset_harvest_source_id"), ["harvest_source_id"], unique=False)
    with op.batch_alter_table("user_account") as batch_op:
        batch_op.add_column(sa.Column("totp_secret", sa.String(length=300), server_default="", nullable=False))
        batch_op.add_column(sa.Column("totp_enabled", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("totp_last_step", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("user_account") as batch_op:
        batch_op.drop_column("totp_last_step")
        batch_op.drop_column("totp_enabled")
        batch_op.drop_column("totp_secret")
    with op.batch_alter_table("dataset") as batch_op:
        batch_op.drop_index(batch_op.f("ix_dataset_harvest_source_id"))
        batch_op.drop_column("origin_url")
        batch_op.drop_column("harvest_guid")
        batch_op.drop_column("harvest_source_id")
        batch_op.drop_column("extras")
