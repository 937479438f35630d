"""search: the facet values of each dataset as tokens of an FTS5 table (SQLite), for facet filters

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 10:00:00
"""

from __future__ import annotations

from alembic import op

from cityhub.catalog.search import FACET_KEYS_SQL, SQLITE_FACET_DDL

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        return  # PostgreSQL filters on search_facet directly
    op.execute(SQLITE_FACET_DDL)
    op.execute("INSERT INTO search_fts_facet(rowid, keys) " + FACET_KEYS_SQL.format(where="1=1"))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.execute("DROP TABLE IF EXISTS search_fts_facet")
