"""exchange: a one-row change counter bumped by triggers on every table an exchange decision reads

The exchange API caches its credential and grant decisions per process (``sharing.exchange_auth``); a call reuses
one while this counter is unchanged. The triggers bump it in the same transaction as the change, whoever makes it
(the actions, another worker, an operator's SQL): registered systems (their tokens are on the row), departments
(the names a system calls itself by), grants, datasets (sharing class, department, state), resources (their
dataset), de-identified views (releases), datastore tables and versions (the live version and its columns).

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-05 05:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None

#: table -> the columns whose update matters (None: any column)
WATCHED: dict[str, tuple[str, ...] | None] = {
    "sharing_system": None,
    "department": ("slug", "uscc"),
    "share_grant": None,
    "dataset": ("state", "sharing_class", "department_id"),
    "resource": ("dataset_id",),
    "deid_view": None,
    "datastore_table": None,
    "datastore_version": None,
}

BUMP = "UPDATE exchange_change SET n = n + 1 WHERE id = 1"

# PostgreSQL: one bump per transaction, at its commit (a deferred constraint trigger): the counter row is locked
# last and briefly, so two transactions changing watched tables never wait on each other through it first
PG_FUNCTION = """
CREATE FUNCTION exchange_change_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('cityhub.exchange_bumped', true), '') = 'on' THEN
        RETURN NULL;
    END IF;
    PERFORM set_config('cityhub.exchange_bumped', 'on', true);
    UPDATE exchange_change SET n = n + 1 WHERE id = 1;
    RETURN NULL;
END $$
"""


def _of(cols: tuple[str, ...] | None) -> str:
    return f" OF {', '.join(cols)}" if cols else ""


def upgrade() -> None:
    op.create_table(
        'exchange_change',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('n', sa.BigInteger(), nullable=False, server_default='0'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_exchange_change')),
    )
    op.execute("INSERT INTO exchange_change (id, n) VALUES (1, 0)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        for table, cols in WATCHED.items():
            op.execute(f"CREATE CONSTRAINT TRIGGER exchange_change_{table} AFTER INSERT OR UPDATE{_of(cols)} OR DELETE "
                       f"ON {table} DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION exchange_change_bump()")
            op.execute(f"CREATE TRIGGER exchange_change_{table}_truncate AFTER TRUNCATE ON {table} "
                       "FOR EACH STATEMENT EXECUTE FUNCTION exchange_change_bump()")
    else:
        for table, cols in WATCHED.items():
            for name, event in (("ins", "INSERT"), ("upd", f"UPDATE{_of(cols)}"), ("del", "DELETE")):
                op.execute(f"CREATE TRIGGER exchange_change_{table}_{name} AFTER {event} ON {table} "
                           f"BEGIN {BUMP}; END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in WATCHED:
            op.execute(f"DROP TRIGGER IF EXISTS exchange_change_{table} ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS exchange_change_{table}_truncate ON {table}")
        op.execute("DROP FUNCTION IF EXISTS exchange_change_bump()")
    else:
        for table in WATCHED:
            for name in ("ins", "upd", "del"):
                op.execute(f"DROP TRIGGER IF EXISTS exchange_change_{table}_{name}")
    op.drop_table('exchange_change')
