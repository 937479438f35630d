"""sensing: the gateway a device is assigned to (a gateway may publish only its own devices' readings)

Revision ID: 0019
Revises: 0017
Create Date: 2026-12-04 23:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sensing_device") as batch_op:
        batch_op.add_column(sa.Column("gateway_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_sensing_device_gateway_id"), ["gateway_id"], unique=False)
        batch_op.create_foreign_key(batch_op.f("fk_sensing_device_gateway_id_sensing_device"), "sensing_device",
                                    ["gateway_id"], ["id"], ondelete="SET NULL")


def downgrade() -> None:
    with op.batch_alter_table("sensing_device") as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_sensing_device_gateway_id_sensing_device"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_sensing_device_gateway_id"))
        batch_op.drop_column("gateway_id")
