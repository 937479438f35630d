"""audit log: from the HMAC hash chain to an RFC 6962 Merkle tree, with the existing records

Before anything changes, the old chain is checked as the previous version's ``cityhub audit verify`` did (every
link and HMAC, and the signed head file if there is one); a broken chain stops the upgrade with the record it
concerns, so tampering done before the upgrade is not sealed into the new tree. Then each record gets its leaf
hash (``hash``) and MAC (``mac``), the frontier and the stored subtree roots are built, the first signed tree head
is issued and written over the head file (the old file is kept beside it as ``audit-head.json.hmac-chain``).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 16:30:00
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from typing import Any

import sqlalchemy as sa
from alembic import op

import cityhub.db

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

GENESIS = "0" * 64
BATCH = 5000


def _log(with_prev: bool, with_mac: bool) -> sa.Table:
    cols: list[sa.Column[Any]] = [sa.Column("seq", sa.Integer, primary_key=True), sa.Column("ts", cityhub.db.UTCDateTime()),
            *(sa.Column(n, sa.Text) for n in ("actor", "source", "via", "action", "target", "outcome", "detail",
                                              "hash"))]
    if with_prev:
        cols.append(sa.Column("prev_hash", sa.Text))
    if with_mac:
        cols.append(sa.Column("mac", sa.Text))
    return sa.Table("audit_log", sa.MetaData(), *cols)


def _rows(conn: sa.Connection, table: sa.Table) -> Any:
    last = 0
    while True:
        rows = conn.execute(sa.select(table).where(table.c.seq > last).order_by(table.c.seq).limit(BATCH)).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq


def _chain_key(secret: str) -> bytes:
    return hashlib.sha256(b"cityhub-audit:" + secret.encode()).digest()


def _check_old_chain(conn: sa.Connection) -> None:
    from cityhub.audit import canonical
    from cityhub.settings import get_settings

    settings = get_settings()
    key = _chain_key(settings.secret_key)
    table = _log(True, False)
    prev, expected = GENESIS, 1
    hashes: dict[int, str] = {}
    problem = ""
    for r in _rows(conn, table):
        payload = canonical(r.seq, r.ts, r.actor, r.source, r.via, r.action, r.target, r.outcome, r.detail)
        if r.seq != expected:
            problem = f"record #{expected} is missing (deleted)"
        elif r.prev_hash != prev:
            problem = f"record #{r.seq}: previous-hash link broken (record removed or reordered)"
        elif not hmac.compare_digest(hmac.new(key, prev.encode() + payload, hashlib.sha256).hexdigest(), r.hash):
            problem = f"record #{r.seq}: content does not match its hash (record changed)"
        if problem:
            break
        prev = r.hash
        hashes[r.seq] = r.hash
        expected += 1
    count = expected - 1
    path = settings.resolved_audit_head_path
    if not problem and path.exists():
        try:
            head = json.loads(path.read_text(encoding="utf-8"))
            seq, digest, ts, sig = int(head["seq"]), str(head["hash"]), str(head["ts"]), str(head["sig"])
        except (ValueError, KeyError, TypeError):
            head = None
        if head is not None:  # a file in the old format: it must match the chain
            head_key = hashlib.sha256(b"cityhub-audit-head:" + settings.secret_key.encode()).digest()
            want = hmac.new(head_key, f"cityhub-audit-head|{seq}|{digest}|{ts}".encode(), hashlib.sha256).hexdigest()
            if not hmac.compare_digest(want, sig):
                problem = f"the signed head at {path} has an invalid signature (forged, or CITYHUB_SECRET_KEY changed)"
            elif seq > count:
                problem = f"records #{count + 1}–#{seq} were cut from the end (signed head at {path})"
            elif hashes.get(seq) != digest:
                problem = f"record #{seq} differs from the signed head at {path}"
    if problem:
        raise RuntimeError(
            f"the audit hash chain does not verify: {problem}. The upgrade to the Merkle tree stops here so that "
            "this is not sealed into the new tree: investigate with the previous version's `cityhub audit verify`, "
            "restore the records from a backup, then upgrade again.")


def upgrade() -> None:
    conn = op.get_bind()
    _check_old_chain(conn)
    with op.batch_alter_table("audit_log") as batch_op:
        batch_op.drop_column("prev_hash")
        batch_op.add_column(sa.Column("mac", sa.String(length=64), server_default="", nullable=False))
    with op.batch_alter_table("audit_head") as batch_op:
        batch_op.add_column(sa.Column("frontier", sa.Text(), server_default="", nullable=False))
    op.create_table(
        "audit_node",
        sa.Column("level", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx", name=op.f("pk_audit_node")),
    )
    op.create_table(
        "audit_sth",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tree_size", sa.Integer(), nullable=False),
        sa.Column("root_hash", sa.String(length=64), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.Column("issued_by", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_sth")),
    )
    op.create_index(op.f("ix_audit_sth_tree_size"), "audit_sth", ["tree_size"], unique=False)
    _build_tree(conn)


def _build_tree(conn: sa.Connection) -> None:
    from cityhub import merkle
    from cityhub.audit import (
        NODE_MIN_LEVEL,
        _key,
        canonical,
        record_mac,
        sign_tree_head,
        signed_head_path,
        write_signed_head,
    )

    table = _log(False, True)
    nodes = sa.Table("audit_node", sa.MetaData(), sa.Column("level", sa.Integer), sa.Column("idx", sa.Integer),
                     sa.Column("hash", sa.Text))
    key = _key()
    frontier = merkle.Frontier()
    updates: list[dict[str, Any]] = []
    new_nodes: list[dict[str, Any]] = []
    update = table.update().where(table.c.seq == sa.bindparam("s")).values(hash=sa.bindparam("h"),
                                                                          mac=sa.bindparam("m"))
    for r in _rows(conn, table):
        leaf = merkle.leaf_hash(canonical(r.seq, r.ts, r.actor, r.source, r.via, r.action, r.target, r.outcome,
                                          r.detail))
        updates.append({"s": r.seq, "h": leaf.hex(), "m": record_mac(key, r.seq, leaf.hex())})
        new_nodes += [{"level": n.level, "idx": n.index, "hash": n.hash.hex()}
                      for n in frontier.append(leaf) if n.level >= NODE_MIN_LEVEL]
        if len(updates) >= BATCH:
            conn.execute(update, updates)
            updates = []
    if updates:
        conn.execute(update, updates)
    if new_nodes:
        conn.execute(nodes.insert(), new_nodes)
    size, root = frontier.size, frontier.root().hex()
    if conn.execute(sa.text("SELECT count(*) FROM audit_head WHERE id = 1")).scalar_one():
        conn.execute(sa.text("UPDATE audit_head SET seq = :n, hash = :h, frontier = :f WHERE id = 1"),
                     {"n": size, "h": root, "f": frontier.to_bytes().hex()})
    else:
        conn.execute(sa.text("INSERT INTO audit_head (id, seq, hash, frontier) VALUES (1, :n, :h, :f)"),
                     {"n": size, "h": root, "f": frontier.to_bytes().hex()})
    if size == 0:
        return
    head = sign_tree_head(size, root)
    conn.execute(sa.text("INSERT INTO audit_sth (tree_size, root_hash, timestamp, key_id, signature, issued_by) "
                         "VALUES (:n, :h, :t, :k, :s, 'migration')"),
                 {"n": size, "h": root, "t": head.timestamp, "k": head.key_id, "s": head.signature})
    path = signed_head_path()
    if path.exists():
        os.replace(path, path.with_name(path.name + ".hmac-chain"))
    write_signed_head(size, root)


def downgrade() -> None:
    """Back to the HMAC chain: recompute every link from the records (the tree heads are dropped)."""
    from cityhub.audit import canonical
    from cityhub.settings import get_settings

    conn = op.get_bind()
    op.drop_index(op.f("ix_audit_sth_tree_size"), table_name="audit_sth")
    op.drop_table("audit_sth")
    op.drop_table("audit_node")
    with op.batch_alter_table("audit_head") as batch_op:
        batch_op.drop_column("frontier")
    with op.batch_alter_table("audit_log") as batch_op:
        batch_op.drop_column("mac")
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), server_default="", nullable=False))
    key = _chain_key(get_settings().secret_key)
    table = _log(True, False)
    prev = GENESIS
    updates: list[dict[str, Any]] = []
    update = table.update().where(table.c.seq == sa.bindparam("s")).values(hash=sa.bindparam("h"),
                                                                          prev_hash=sa.bindparam("p"))
    last = 0
    for r in _rows(conn, table):
        digest = hmac.new(key, prev.encode() + canonical(r.seq, r.ts, r.actor, r.source, r.via, r.action, r.target,
                                                         r.outcome, r.detail), hashlib.sha256).hexdigest()
        updates.append({"s": r.seq, "h": digest, "p": prev})
        prev, last = digest, r.seq
    for i in range(0, len(updates), BATCH):
        conn.execute(update, updates[i:i + BATCH])
    conn.execute(sa.text("UPDATE audit_head SET seq = :n, hash = :h WHERE id = 1"), {"n": last, "h": prev})
