"""data requests: the word search's index (jieba tokens; GIN tsvector on PostgreSQL, FTS5 on SQLite)

Revision ID: 0022
Revises: 0015
Create Date: 2026-12-05 02:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cityhub.engage.datareq_search import PG_DDL, PG_DROP, SQLITE_DDL, SQLITE_DROP, backfill

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('data_request', sa.Column('search_tokens', sa.Text(), nullable=False, server_default=''))
    bind = op.get_bind()
    # the tokens first: PostgreSQL computes the generated column once, as it adds it; SQLite's FTS5 table is
    # filled from them in one pass (its triggers then keep it in step)
    backfill(bind)
    if bind.dialect.name == "postgresql":
        for ddl in PG_DDL:
            op.execute(ddl)
        op.execute("ANALYZE data_request")
    else:
        for ddl in SQLITE_DDL:
            op.execute(ddl)
        op.execute("INSERT INTO search_fts_data_request(search_fts_data_request) VALUES ('rebuild')")


def downgrade() -> None:
    bind = op.get_bind()
    for ddl in PG_DROP if bind.dialect.name == "postgresql" else SQLITE_DROP:
        op.execute(ddl)
    if bind.dialect.name == "postgresql":
        op.drop_column('data_request', 'search_tokens')
    else:  # in place (SQLite 3.35+): a batch copy would drop the table, and its events with it (ON DELETE CASCADE)
        op.execute("ALTER TABLE data_request DROP COLUMN search_tokens")
