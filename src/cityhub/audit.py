"""Append-only, tamper-evident audit log.

Each record is chained to the previous one with an HMAC-SHA256 keyed by a key derived from the secret
key: ``h_i = HMAC(k, h_{i-1} || canonical(entry_i))``. The head (last sequence number and hash) lives in a
one-row table that every append updates under a row lock, so appends from many processes stay in order.
Someone with write access to the database but not the secret cannot recompute the chain, and ``verify``
names the first record that was changed, deleted, inserted or reordered.

The end of the log is anchored outside the database: after every commit that appended records, the new head
(sequence number and hash), HMAC-signed with its own key derived from the secret, replaces the file
``CITYHUB_AUDIT_HEAD_PATH`` (atomically, under a file lock, never moving backwards). Deleting the last records
and rolling ``audit_head`` back to match leaves a consistent chain in the database, but not one that reaches the
signed head: ``verify`` names the first record cut. Keep the file where the database's administrators cannot
write, and copy it (``cityhub audit head``) to a separate system now and then.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import hmac
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Integer, String, Text, event, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from cityhub.context import Context
from cityhub.db import Base, UTCDateTime, session_factory, utcnow
from cityhub.settings import get_settings

GENESIS = "0" * 64
log = logging.getLogger("cityhub.audit")


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
    session.info[_PENDING_HEAD] = (seq, digest)  # signed and written outside the database once committed
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


# -- the signed head outside the database ------------------------------------------------------------------

_PENDING_HEAD = "cityhub_audit_pending_head"


@dataclass(frozen=True)
class SignedHead:
    seq: int
    hash: str
    ts: str
    sig: str

    def valid(self) -> bool:
        return hmac.compare_digest(_sign(self.seq, self.hash, self.ts), self.sig)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _head_key() -> bytes:
    return hashlib.sha256(b"cityhub-audit-head:" + get_settings().secret_key.encode()).digest()


def _sign(seq: int, digest: str, ts: str) -> str:
    return hmac.new(_head_key(), f"cityhub-audit-head|{seq}|{digest}|{ts}".encode(), hashlib.sha256).hexdigest()


def signed_head_path() -> Path:
    return get_settings().resolved_audit_head_path


def read_signed_head() -> SignedHead | None:
    """The head in the file (signature not checked: see ``SignedHead.valid``), or None when there is no file.
    Raises ValueError when the file is not a head at all."""
    try:
        raw = signed_head_path().read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        data = json.loads(raw)
        return SignedHead(seq=int(data["seq"]), hash=str(data["hash"]), ts=str(data["ts"]), sig=str(data["sig"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"unreadable signed head: {exc}") from None


def write_signed_head(seq: int, digest: str) -> None:
    """Replace the file with the signed (seq, digest), unless it already holds a valid head at least as far
    along (commits of several processes may finish out of order). Atomic: a temporary file renamed over it."""
    path = signed_head_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            current = read_signed_head()
        except ValueError:
            current = None
        if current is not None and current.valid() and current.seq >= seq:
            return
        ts = utcnow().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        body = json.dumps({"seq": seq, "hash": digest, "ts": ts, "sig": _sign(seq, digest, ts)})
        fd, tmp = tempfile.mkstemp(prefix=".audit-head-", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(body + "\n")
            # No fsync: the catalog database does not sync each commit either (SQLite WAL, synchronous=NORMAL),
            # and syncing here cost ~8 ms per audited write. After a power loss both may lose their last
            # writes; the rename keeps the file whole.
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


@event.listens_for(Session, "after_commit")
def _anchor_after_commit(session: Session) -> None:
    pending = session.info.pop(_PENDING_HEAD, None)
    if pending is not None:
        try:
            write_signed_head(*pending)
        except OSError:  # the records are committed; verify will report the stale head until the next write
            log.exception("could not write the signed audit head to %s", signed_head_path())


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(_PENDING_HEAD, None)


# -- verification ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    count: int
    head_hash: str
    bad_seq: int | None = None
    reason: str = ""
    signed_head_seq: int | None = None


def verify(session: Session, progress: Any = None) -> VerifyResult:
    """Walk the whole chain; the first broken link is reported. Then the end: the database's head and the
    signed head outside the database must both be reached."""
    try:  # read before the walk: records only grow, so every record it names is committed by then
        signed: SignedHead | None = read_signed_head()
        signed_problem = ""
    except ValueError as exc:
        signed, signed_problem = None, str(exc)
    signed_seq = signed.seq if signed is not None else None
    signed_hash_found: str | None = None
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
        if rec.seq == signed_seq:
            signed_hash_found = rec.hash
        expected_seq += 1
        count += 1
        if progress is not None:
            progress(1)
    head = session.get(AuditHead, 1)
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS)
    if head_seq != count or head_hash != prev:
        return VerifyResult(False, count, prev, count + 1 if head_seq > count else head_seq,
                            f"head says {head_seq} records, chain has {count} (records deleted at the end)",
                            signed_seq)
    where = signed_head_path()
    if signed_problem:
        return VerifyResult(False, count, prev, None, f"the signed head at {where} is {signed_problem}", signed_seq)
    if signed is None:
        if count == 0:
            return VerifyResult(True, count, prev)
        return VerifyResult(False, count, prev, None,
                            f"the signed head outside the database is missing ({where}): records cut from the end "
                            "cannot be ruled out (a store from before this check gets one with its next audited "
                            "action)")
    if not signed.valid():
        return VerifyResult(False, count, prev, None, f"the signed head at {where} has an invalid signature "
                            "(forged, or CITYHUB_SECRET_KEY changed)", signed_seq)
    if signed.seq > count:
        return VerifyResult(False, count, prev, count + 1,
                            f"records #{count + 1}–#{signed.seq} were cut from the end: the chain ends at "
                            f"#{count} but the signed head outside the database is #{signed.seq}", signed_seq)
    if signed_hash_found != signed.hash:
        return VerifyResult(False, count, prev, signed.seq,
                            f"record #{signed.seq} differs from the signed head outside the database", signed_seq)
    return VerifyResult(True, count, prev, signed_head_seq=signed_seq)


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
