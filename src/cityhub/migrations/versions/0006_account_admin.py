"""accounts: department contact point; one-time passwords from an administrator's reset

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cityhub.db

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("department") as batch_op:
        batch_op.add_column(sa.Column("contact_name", sa.String(length=100), server_default="", nullable=False))
        batch_op.add_column(sa.Column("contact_phone", sa.String(length=40), server_default="", nullable=False))
        batch_op.add_column(sa.Column("contact_email", sa.String(length=254), server_default="", nullable=False))
    with op.batch_alter_table("user_account") as batch_op:
        batch_op.add_column(sa.Column("must_change_password", sa.Boolean(), server_default=sa.false(),
                                      nullable=False))
        batch_op.add_column(sa.Column("temporary_password_until", cityhub.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("password_changed_at", cityhub.db.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("user_account") as batch_op:
        batch_op.drop_column("password_changed_at")
        batch_op.drop_column("temporary_password_until")
        batch_op.drop_column("must_change_password")
    with op.batch_alter_table("department") as batch_op:
        batch_op.drop_column("contact_email")
        batch_op.drop_column("contact_phone")
        batch_op.drop_column("contact_name")
