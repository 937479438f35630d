"""Append-only, tamper-evident audit log.

Each record is chained to the previous one with an HMAC-SHA256 keyed by a key derived from the secret
key: ``h_i = HMAC(k, h_{i-1} || canonical(entry_i))``. The head (last sequence number and hash) lives in a
one-row table that every append updates under a row lock, so appends from many processes stay in order.
Someone with write access to the database but not the secret cannot recompute the chain, and ``verify``
names the first record that was changed, deleted, inserted or reordered.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, String, Text, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from cityhub.context import Context
from cityhub.db import Base, UTCDateTime, session_factory, utcnow
from cityhub.settings import get_settings

GENESIS = "0" * 64


class AuditRecord(Base):
    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    ts: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    actor: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(100))
    via: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(100), index=True)
    target: Mapped[str] = mapped_column(String(500))
    outcome: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str] = mapped_column(Text, default="{}")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


def _key() -> bytes:
    return hashlib.sha256(b"cityhub-audit:" + get_settings().secret_key.encode()).digest()


def canonical(seq: int, ts: dt.datetime, actor: str, source: str, via: str, action: str, target: str,
              outcome: str, detail: str) -> bytes:
    stamp = ts.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return json.dumps(
        [seq, stamp, actor, source, via, action, target, outcome, detail], ensure_ascii=False, separators=(",", ":")
    ).encode()


def chain_hash(key: bytes, prev_hash: str, payload: bytes) -> str:
    return hmac.new(key, prev_hash.encode() + payload, hashlib.sha256).hexdigest()


def _clip(value: str, size: int) -> str:
    return value if len(value) <= size else value[: size - 1] + "…"


def record(session: Session, ctx: Context | None, action: str, target: str, outcome: str,
           detail: dict[str, Any] | None = None, *, actor: str | None = None) -> int:
    """Append one record inside ``session``'s transaction; returns its sequence number."""
    row = session.execute(
        text("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
    ).first()
    if row is None:
        session.add(AuditHead(id=1, seq=0, hash=GENESIS))
        session.flush()
        row = session.execute(text("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")).one()
    seq, prev = int(row[0]), str(row[1])
    now = utcnow()
    who = _clip(actor or (ctx.actor_name if ctx else "system"), 200)
    source = _clip(ctx.source if ctx else "local", 100)
    via = ctx.via if ctx else "job"
    detail_text = json.dumps(detail or {}, ensure_ascii=False, sort_keys=True, default=str)
    target = _clip(target, 500)
    payload = canonical(seq, now, who, source, via, action, target, outcome, detail_text)
    digest = chain_hash(_key(), prev, payload)
    session.add(AuditRecord(seq=seq, ts=now, actor=who, source=source, via=via, action=action, target=target,
                            outcome=outcome, detail=detail_text, prev_hash=prev, hash=digest))
    session.execute(text("UPDATE audit_head SET hash = :h WHERE id = 1"), {"h": digest})
    return seq


def record_separately(ctx: Context | None, action: str, target: str, outcome: str,
                      detail: dict[str, Any] | None = None, *, actor: str | None = None) -> int:
    """Append a record in its own transaction (denials and failures survive the caller's rollback)."""
    session = session_factory()()
    try:
        seq = record(session, ctx, action, target, outcome, detail, actor=actor)
        session.commit()
        return seq
    finally:
        session.close()


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    count: int
    head_hash: str
    bad_seq: int | None = None
    reason: str = ""


def verify(session: Session, progress: Any = None) -> VerifyResult:
    """Walk the whole chain; the first broken link is reported."""
    key = _key()
    prev = GENESIS
    expected_seq = 1
    count = 0
    for rec in _iter_records(session):
        if rec.seq != expected_seq:
            kind = "missing (deleted)" if rec.seq > expected_seq else "out of order"
            return VerifyResult(False, count, prev, expected_seq, f"record {expected_seq} {kind}; found {rec.seq}")
        if rec.prev_hash != prev:
            return VerifyResult(False, count, prev, rec.seq, "previous-hash link broken (record removed or reordered)")
        payload = canonical(rec.seq, rec.ts, rec.actor, rec.source, rec.via, rec.action, rec.target, rec.outcome,
                            rec.detail)
        if not hmac.compare_digest(chain_hash(key, prev, payload), rec.hash):
            return VerifyResult(False, count, prev, rec.seq, "content does not match its hash (record changed)")
        prev = rec.hash
        expected_seq += 1
        count += 1
        if progress is not None:
            progress(1)
    head = session.get(AuditHead, 1)
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS)
    if head_seq != count or head_hash != prev:
        return VerifyResult(False, count, prev, count + 1 if head_seq > count else head_seq,
                            f"head says {head_seq} records, chain has {count} (records deleted at the end)")
    return VerifyResult(True, count, prev)


def _iter_records(session: Session) -> Iterator[AuditRecord]:
    last = 0
    while True:
        batch = session.scalars(
            select(AuditRecord).where(AuditRecord.seq > last).order_by(AuditRecord.seq).limit(5000)
        ).all()
        if not batch:
            return
        yield from batch
        last = batch[-1].seq


def count(session: Session) -> int:
    head = session.get(AuditHead, 1)
    return head.seq if head else 0
