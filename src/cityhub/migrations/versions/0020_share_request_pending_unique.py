"""sharing: at most one pending share request per (dataset, resource, consumer system) and per (dataset,
resource, applicant), enforced by partial unique indexes

Revision ID: 0020
Revises: 0014
Create Date: 2026-12-04 23:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0020'
down_revision = '0014'
branch_labels = None
depends_on = None

#: (index name, kind, the column naming the consumer)
PENDING = (("uq_share_request_pending_system", "share", "system_id"),
           ("uq_share_request_pending_user", "open", "user_id"))


def upgrade() -> None:
    # duplicates that slipped past the application's check (two submissions at once) would stop the index: the
    # first one filed stays pending, the later ones are withdrawn, each with a history event saying why
    for _, kind, who in PENDING:
        dupes = sa.text(
            f"SELECT id FROM share_request WHERE status = 'submitted' AND kind = '{kind}' AND id NOT IN ("
            f"SELECT min(id) FROM share_request WHERE status = 'submitted' AND kind = '{kind}' "
            f"GROUP BY dataset_id, coalesce(resource_id, ''), {who})")
        conn = op.get_bind()
        ids = [int(r[0]) for r in conn.execute(dupes)]
        for rid in ids:
            conn.execute(sa.text("UPDATE share_request SET status = 'withdrawn' WHERE id = :id"), {"id": rid})
            conn.execute(sa.text(
                "INSERT INTO share_request_event (request_id, at, actor, event, note, detail) "
                "VALUES (:id, CURRENT_TIMESTAMP, 'system', 'withdrawn', :note, :detail)"),
                {"id": rid, "note": "重复的待答复申请(迁移 0020)/ duplicate pending request (migration 0020)",
                 "detail": "{}"})
    for name, kind, who in PENDING:
        where = sa.text(f"status = 'submitted' AND kind = '{kind}'")
        op.create_index(name, 'share_request', ['dataset_id', sa.text("coalesce(resource_id, '')"), who],
                        unique=True, sqlite_where=where, postgresql_where=where)


def downgrade() -> None:
    for name, _, _ in PENDING:
        op.drop_index(name, table_name='share_request')
