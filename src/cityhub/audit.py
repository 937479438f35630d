"""Append-only, provable audit log: an RFC 6962 Merkle tree over the audit records (``docs/audit.md``).

* **Leaves.** Record ``seq`` (1, 2, …) is leaf ``seq - 1``; its leaf data ``d`` is the canonical JSON of the
  record (``canonical``), its leaf hash ``SHA-256(0x00 || d)`` is stored in the row (``hash``), beside a keyed
  MAC of (seq, leaf hash) under a key derived from the secret key (``mac``): someone who can write the database
  but does not hold the secret can rewrite a record and its leaf hash, not its MAC, so ``verify`` names the
  record even then.
* **Tree.** ``audit_head`` (one row, updated under its row lock by every append, so appends from many processes
  stay in order) holds the tree size, the root and the frontier (the roots of the perfect subtrees that make
  up the tree, at most one per bit of the size), so an append costs O(1) amortised hashes and never reads old
  leaves. The roots of the perfect subtrees of ``2^NODE_MIN_LEVEL`` leaves and more are kept in ``audit_node``
  as the appends complete them, so an inclusion or consistency proof reads O(log n) rows and at most a few
  blocks of ``2^NODE_MIN_LEVEL`` leaf hashes.
* **Signed tree heads** (STH: size, root, time; Ed25519, key ``CITYHUB_AUDIT_SIGNING_KEY``) are issued
  periodically by the web process (``CITYHUB_AUDIT_STH_MINUTES``) and on demand, stored in ``audit_sth`` and
  exported as JSON; an outside party checks them with the public key alone (``cityhub.merkle`` has the proof
  verification).
* **The end of the log** is anchored outside the database: after every commit that appended records, a tree
  head of the new size, signed, replaces the file ``CITYHUB_AUDIT_HEAD_PATH`` (atomically, under a file lock,
  never moving backwards). Cutting records from the end and rolling ``audit_head`` back leaves a consistent
  tree in the database, but not one that reaches the signed head: ``verify`` names the first record cut, and so
  it does against any tree head saved elsewhere (``cityhub audit verify FILE``).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import fcntl
import functools
import hashlib
import hmac
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import BigInteger, Integer, String, Text, event, insert, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from cityhub import merkle
from cityhub.context import Context
from cityhub.db import Base, UTCDateTime, session_factory, utcnow
from cityhub.settings import get_settings

log = logging.getLogger("cityhub.audit")

#: perfect subtrees of at least 2^NODE_MIN_LEVEL leaves have their root stored (``audit_node``)
NODE_MIN_LEVEL = 8
STH_VERSION = "cityhub-audit-sth-v1"
EMPTY_ROOT_HEX = merkle.EMPTY_ROOT.hex()


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
    hash: Mapped[str] = mapped_column(String(64))  # the RFC 6962 leaf hash of canonical(record), hex
    mac: Mapped[str] = mapped_column(String(64))  # HMAC(key, seq ":" leaf hash), hex


class AuditHead(Base):
    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)  # tree size: the last record's sequence number
    hash: Mapped[str] = mapped_column(String(64))  # the tree's root, hex
    frontier: Mapped[str] = mapped_column(Text, default="")  # merkle.Frontier.to_bytes(), hex


class AuditNode(Base):
    """The root of the perfect subtree of leaves ``[idx·2^level, (idx+1)·2^level)`` (level ≥ NODE_MIN_LEVEL)."""

    __tablename__ = "audit_node"

    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(String(64))


class AuditSth(Base):
    """A signed tree head as issued (periodically, on demand, by the migration)."""

    __tablename__ = "audit_sth"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tree_size: Mapped[int] = mapped_column(Integer, index=True)
    root_hash: Mapped[str] = mapped_column(String(64))
    timestamp: Mapped[int] = mapped_column(BigInteger)  # milliseconds since the epoch (as CT)
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(Text)
    issued_by: Mapped[str] = mapped_column(String(40), default="")


def _key() -> bytes:
    return hashlib.sha256(b"cityhub-audit:" + get_settings().secret_key.encode()).digest()


_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_UTC = dt.UTC


def canonical(seq: int, ts: dt.datetime, actor: str, source: str, via: str, action: str, target: str,
              outcome: str, detail: str) -> bytes:
    """The leaf data of a record: a JSON array, compact, UTF-8, the time in UTC with microseconds
    (``%Y-%m-%dT%H:%M:%S.%fZ``)."""
    if ts.tzinfo is not _UTC:
        ts = ts.astimezone(_UTC)
    stamp = ts.isoformat(timespec="microseconds")[:26] + "Z"
    return _ENCODE([seq, stamp, actor, source, via, action, target, outcome, detail]).encode()


def record_mac(key: bytes, seq: int, leaf_hex: str) -> str:
    return hmac.digest(key, f"{seq}:{leaf_hex}".encode(), "sha256").hex()


def _clip(value: str, size: int) -> str:
    return value if len(value) <= size else value[: size - 1] + "…"


_LOCK_HEAD = text("UPDATE audit_head SET seq = seq WHERE id = 1 RETURNING seq, frontier")
_SAVE_HEAD = text("UPDATE audit_head SET seq = :n, hash = :h, frontier = :f WHERE id = 1")
_INSERT_RECORD = insert(AuditRecord.__table__)  # type: ignore[arg-type]
_INSERT_NODE = insert(AuditNode.__table__)  # type: ignore[arg-type]
_TX = "cityhub_audit_tx"


@dataclass
class _Appending:
    """The appends of one transaction: it holds ``audit_head``'s row lock from its first record on, so the
    records are numbered and hashed in memory and written together before the commit (``flush``)."""

    seq: int
    frontier: merkle.Frontier
    key: bytes
    rows: list[dict[str, Any]] = field(default_factory=list)
    nodes: list[dict[str, Any]] = field(default_factory=list)


def record(session: Session, ctx: Context | None, action: str, target: str, outcome: str,
           detail: dict[str, Any] | None = None, *, actor: str | None = None) -> int:
    """Append one record inside ``session``'s transaction; returns its sequence number. The first record of a
    transaction locks the head row (appends of other transactions wait for its commit); the rows are written
    when the transaction commits, or when this module reads the log in the same transaction."""
    tx: _Appending | None = session.info.get(_TX)
    if tx is None:
        row = session.execute(_LOCK_HEAD).first()
        if row is None:
            session.add(AuditHead(id=1, seq=0, hash=EMPTY_ROOT_HEX, frontier=""))
            session.flush()
            row = session.execute(_LOCK_HEAD).one()
        size = int(row[0])
        tx = _Appending(size, merkle.Frontier.from_bytes(size, bytes.fromhex(str(row[1] or ""))), _key())
        session.info[_TX] = tx
    seq = tx.seq + 1
    now = utcnow()
    who = _clip(actor or (ctx.actor_name if ctx else "system"), 200)
    source = _clip(ctx.source if ctx else "local", 100)
    via = ctx.via if ctx else "job"
    detail_text = json.dumps(detail or {}, ensure_ascii=False, sort_keys=True, default=str)
    target = _clip(target, 500)
    leaf = merkle.leaf_hash(canonical(seq, now, who, source, via, action, target, outcome, detail_text))
    leaf_hex = leaf.hex()
    tx.rows.append({"seq": seq, "ts": now, "actor": who, "source": source, "via": via, "action": action,
                    "target": target, "outcome": outcome, "detail": detail_text, "hash": leaf_hex,
                    "mac": record_mac(tx.key, seq, leaf_hex)})
    tx.nodes += [{"level": n.level, "idx": n.index, "hash": n.hash.hex()}
                 for n in tx.frontier.append(leaf) if n.level >= NODE_MIN_LEVEL]
    tx.seq = seq
    return seq


def flush(session: Session) -> None:
    """Write this transaction's pending records, subtree roots and the new head (done before every commit)."""
    tx: _Appending | None = session.info.get(_TX)
    if tx is None or not tx.rows:
        return
    rows, nodes = tx.rows, tx.nodes
    tx.rows, tx.nodes = [], []
    session.execute(_INSERT_RECORD, rows)
    if nodes:
        session.execute(_INSERT_NODE, nodes)
    root_hex = tx.frontier.root().hex()
    session.execute(_SAVE_HEAD, {"n": tx.seq, "h": root_hex, "f": tx.frontier.to_bytes().hex()})
    session.info[_PENDING_HEAD] = (tx.seq, root_hex)  # signed and written outside the database once committed


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


def count(session: Session) -> int:
    return current_head(session)[0]


def current_head(session: Session) -> tuple[int, str]:
    """(tree size, root hex) as this transaction sees them."""
    flush(session)
    row = session.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).first()
    return (int(row[0]), str(row[1])) if row else (0, EMPTY_ROOT_HEX)


# -- signing key and signed tree heads ---------------------------------------------------------------------


def signing_key_path() -> Path:
    return get_settings().resolved_audit_signing_key


@functools.lru_cache(maxsize=8)
def _load_key(path: str, mtime_ns: int) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return key


def signing_key() -> Ed25519PrivateKey:
    """The Ed25519 key that signs tree heads: the PEM file ``CITYHUB_AUDIT_SIGNING_KEY``, created (mode 0600,
    exclusively, so concurrent processes agree on one key) on first use when it does not exist."""
    path = signing_key_path()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        with contextlib.suppress(FileExistsError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
            log.warning("generated the audit signing key %s; keep it safe and publish its public key", path)
    return _load_key(str(path), path.stat().st_mtime_ns)


def public_key() -> Ed25519PublicKey:
    return signing_key().public_key()


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey | None = None) -> str:
    return hashlib.sha256(_raw_public(key or public_key())).hexdigest()


def public_key_pem() -> str:
    return public_key().public_bytes(serialization.Encoding.PEM,
                                     serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@dataclass(frozen=True)
class TreeHead:
    """A signed tree head. The signature is Ed25519 over ``signed_bytes()``::

        cityhub-audit-sth-v1\\n<tree_size>\\n<root_hash hex>\\n<timestamp ms>\\n
    """

    tree_size: int
    root_hash: str
    timestamp: int
    key_id: str
    signature: str  # base64
    version: str = STH_VERSION
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def signed_bytes(self) -> bytes:
        return sth_message(self.tree_size, self.root_hash, self.timestamp)

    def valid(self, key: Ed25519PublicKey | None = None) -> bool:
        """Signed by ``key`` (default: this platform's signing key)?"""
        pub = key or public_key()
        if self.version != STH_VERSION or self.key_id != key_id(pub):
            return False
        try:
            pub.verify(base64.b64decode(self.signature, validate=True), self.signed_bytes())
        except (InvalidSignature, ValueError):
            return False
        return True

    def as_dict(self) -> dict[str, Any]:
        when = dt.datetime.fromtimestamp(self.timestamp / 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return {"version": self.version, "tree_size": self.tree_size, "root_hash": self.root_hash,
                "timestamp": self.timestamp, "time": when, "key_id": self.key_id, "signature": self.signature,
                **self.extra}

    @classmethod
    def from_dict(cls, data: Any) -> TreeHead:
        """Raises ValueError when ``data`` is not a tree head at all (a wrong signature is ``valid()``'s to say)."""
        try:
            head = cls(tree_size=int(data["tree_size"]), root_hash=str(data["root_hash"]).lower(),
                       timestamp=int(data["timestamp"]), key_id=str(data["key_id"]),
                       signature=str(data["signature"]), version=str(data.get("version", STH_VERSION)))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a signed tree head ({type(exc).__name__}: {exc})") from None
        if head.tree_size < 0 or len(head.root_hash) != 64 or any(c not in "0123456789abcdef" for c in head.root_hash):
            raise ValueError("not a signed tree head (tree_size or root_hash malformed)")
        return head


def sth_message(tree_size: int, root_hex: str, timestamp: int) -> bytes:
    return f"{STH_VERSION}\n{tree_size}\n{root_hex}\n{timestamp}\n".encode()


@functools.lru_cache(maxsize=8)
def _key_id_of(key: Ed25519PrivateKey) -> str:
    return key_id(key.public_key())


def sign_tree_head(tree_size: int, root_hex: str, timestamp: int | None = None) -> TreeHead:
    key = signing_key()
    ts = int(time.time() * 1000) if timestamp is None else timestamp
    sig = base64.b64encode(key.sign(sth_message(tree_size, root_hex, ts))).decode()
    return TreeHead(tree_size, root_hex, ts, _key_id_of(key), sig)


def _sth_from_row(row: AuditSth) -> TreeHead:
    return TreeHead(row.tree_size, row.root_hash, row.timestamp, row.key_id, row.signature,
                    extra={"id": row.id, "issued_by": row.issued_by})


def latest_sth(session: Session) -> TreeHead | None:
    row = session.scalars(select(AuditSth).order_by(AuditSth.id.desc()).limit(1)).first()
    return _sth_from_row(row) if row else None


def issue_sth(session: Session, issued_by: str, *, only_if_grown: bool = False) -> TreeHead | None:
    """Sign the tree as this transaction sees it and store the head; with ``only_if_grown``, nothing (None) when
    the latest stored head already has this size."""
    size, root_hex = current_head(session)
    if only_if_grown:
        last = latest_sth(session)
        if last is not None and last.tree_size >= size:
            return None
    head = sign_tree_head(size, root_hex)
    row = AuditSth(tree_size=head.tree_size, root_hash=head.root_hash, timestamp=head.timestamp,
                   key_id=head.key_id, signature=head.signature, issued_by=issued_by)
    session.add(row)
    session.flush()
    return _sth_from_row(row)


def issue_periodic_sth() -> dict[str, Any] | None:
    """The periodic job: a new signed tree head when the log grew since the last one."""
    session = session_factory()()
    try:
        head = issue_sth(session, "periodic", only_if_grown=True)
        session.commit()
        return head.as_dict() if head else None
    finally:
        session.close()


# -- the signed head outside the database ------------------------------------------------------------------

_PENDING_HEAD = "cityhub_audit_pending_head"


def signed_head_path() -> Path:
    return get_settings().resolved_audit_head_path


def read_signed_head() -> TreeHead | None:
    """The tree head in the file (signature not checked: see ``TreeHead.valid``), or None when there is no
    file. Raises ValueError when the file is not a tree head at all."""
    path = signed_head_path()
    if not path.exists():
        return None
    with _head_lock(path) as lock:
        fcntl.flock(lock, fcntl.LOCK_SH)
        return _read_head_file(path)


def _read_head_file(path: Path) -> TreeHead | None:
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"unreadable signed tree head: {exc}") from None
    return TreeHead.from_dict(data)


#: path -> (tree size, mtime, inode, size) of the head file this process wrote last
_written: dict[str, tuple[int, int, int, int]] = {}
#: the head file is one JSON object padded with spaces to this size, rewritten in place (one pwrite): replacing
#: it by a rename cost 0.3–6 ms per commit on ext4 (the rename over a file flushes the new file's data)
HEAD_FILE_SIZE = 1024


def _head_lock(path: Path) -> Any:
    return open(path.with_name(path.name + ".lock"), "a")


def write_signed_head(tree_size: int, root_hex: str) -> None:
    """Write a signed head of (tree_size, root) into the file, unless it already holds a valid head at least as
    large (commits of several processes may finish out of order). Under an exclusive lock of ``<file>.lock``
    (readers take it shared); rewritten in place with one write of ``HEAD_FILE_SIZE`` bytes, or, when the file
    is missing or of another size, created whole and renamed into place."""
    path = signed_head_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with _head_lock(path) as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        mine = _written.get(str(path))
        try:
            st = path.stat()
            same = mine is not None and mine[1:] == (st.st_mtime_ns, st.st_ino, st.st_size)
        except FileNotFoundError:
            same = False
        if same and mine is not None:  # the file is the one this process wrote last: no need to read it back
            if mine[0] >= tree_size:
                return
        else:
            try:
                current = _read_head_file(path)
            except ValueError:
                current = None
            if current is not None and current.tree_size >= tree_size and current.valid():
                return
        body = json.dumps(sign_tree_head(tree_size, root_hex).as_dict()).encode()
        data = body.ljust(HEAD_FILE_SIZE - 1) + b"\n"
        # No fsync: the catalog database does not sync each commit either (SQLite WAL, synchronous=NORMAL).
        if not _rewrite_in_place(path, data):
            _replace(path, data)
        st = path.stat()
        _written[str(path)] = (tree_size, st.st_mtime_ns, st.st_ino, st.st_size)


def _rewrite_in_place(path: Path, data: bytes) -> bool:
    if len(data) != HEAD_FILE_SIZE:
        return False
    try:
        fd = os.open(path, os.O_WRONLY)
    except FileNotFoundError:
        return False
    try:
        if os.fstat(fd).st_size != HEAD_FILE_SIZE:
            return False
        return os.pwrite(fd, data, 0) == HEAD_FILE_SIZE
    finally:
        os.close(fd)


def _replace(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".audit-head-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@event.listens_for(Session, "before_commit")
def _flush_before_commit(session: Session) -> None:
    flush(session)


@event.listens_for(Session, "after_commit")
def _anchor_after_commit(session: Session) -> None:
    session.info.pop(_TX, None)
    pending = session.info.pop(_PENDING_HEAD, None)
    if pending is not None:
        try:
            write_signed_head(*pending)
        except (OSError, ValueError):  # the records are committed; verify reports the stale head until the next
            log.exception("could not write the signed audit head to %s", signed_head_path())


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(_TX, None)
    session.info.pop(_PENDING_HEAD, None)


@event.listens_for(Session, "after_transaction_end")
def _forget_after_end(session: Session, transaction: Any) -> None:
    """A session closed without commit or rollback: its appends are gone with the transaction."""
    if transaction.parent is None:
        session.info.pop(_TX, None)
        session.info.pop(_PENDING_HEAD, None)


# -- proofs ------------------------------------------------------------------------------------------------


class _Nodes:
    """``get_node`` for the proofs: stored subtree roots, or a block of leaf hashes (read once)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.blocks: dict[int, list[bytes]] = {}

    def _leaves(self, first: int, count: int) -> list[bytes]:
        rows = self.session.execute(select(AuditRecord.seq, AuditRecord.hash).where(
            AuditRecord.seq > first, AuditRecord.seq <= first + count).order_by(AuditRecord.seq)).all()
        if len(rows) != count or any(int(s) != first + 1 + i for i, (s, _) in enumerate(rows)):
            raise LookupError(f"audit records #{first + 1}–#{first + count} are not all there")
        return [bytes.fromhex(h) for _, h in rows]

    def __call__(self, level: int, index: int) -> bytes:
        if level >= NODE_MIN_LEVEL:
            stored = self.session.scalar(select(AuditNode.hash).where(AuditNode.level == level,
                                                                      AuditNode.idx == index))
            if stored is not None:
                return bytes.fromhex(stored)
            return merkle.perfect_subtree(self._leaves(index << level, 1 << level))
        block_level = NODE_MIN_LEVEL
        block = (index << level) >> block_level
        if block not in self.blocks:
            start = block << block_level
            size, _ = current_head(self.session)
            self.blocks[block] = self._leaves(start, min(1 << block_level, size - start))
        offset = (index << level) - (block << block_level)
        return merkle.perfect_subtree(self.blocks[block][offset:offset + (1 << level)])


def inclusion_proof(session: Session, seq: int, tree_size: int) -> dict[str, Any]:
    """The audit path of record ``seq`` in the tree of ``tree_size`` records, with the record's leaf data."""
    flush(session)
    rec = session.get(AuditRecord, seq)
    if rec is None or not 1 <= seq <= tree_size:
        raise LookupError(f"no audit record #{seq} in a tree of {tree_size}")
    path = merkle.inclusion_proof(seq - 1, tree_size, _Nodes(session))
    data = canonical(rec.seq, rec.ts, rec.actor, rec.source, rec.via, rec.action, rec.target, rec.outcome, rec.detail)
    return {"seq": seq, "leaf_index": seq - 1, "tree_size": tree_size, "leaf_data": data.decode(),
            "leaf_hash": merkle.leaf_hash(data).hex(), "stored_leaf_hash": rec.hash,
            "audit_path": [h.hex() for h in path]}


def consistency_proof(session: Session, old_size: int, new_size: int) -> list[str]:
    flush(session)
    return [h.hex() for h in merkle.consistency_proof(old_size, new_size, _Nodes(session))]


# -- verification ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    count: int
    head_hash: str
    bad_seq: int | None = None
    reason: str = ""
    signed_head_seq: int | None = None
    heads_checked: int = 0


_COLUMNS = (AuditRecord.seq, AuditRecord.ts, AuditRecord.actor, AuditRecord.source, AuditRecord.via,
            AuditRecord.action, AuditRecord.target, AuditRecord.outcome, AuditRecord.detail, AuditRecord.hash,
            AuditRecord.mac)


def _iter_rows(session: Session, batch: int = 20000) -> Iterator[Any]:
    conn = session.connection()  # Core rows: the ORM's result processing cost a third of the walk
    last = 0
    while True:
        rows = conn.execute(select(*_COLUMNS).where(AuditRecord.seq > last).order_by(AuditRecord.seq)
                            .limit(batch)).all()
        if not rows:
            return
        yield from rows
        last = rows[-1][0]


def verify(session: Session, progress: Callable[[int, int], Any] | None = None,
           saved: TreeHead | None = None) -> VerifyResult:
    """Recompute every leaf hash from its record, check each record's MAC, rebuild the tree and compare its
    root at every checkpoint: the database's head, the signed head outside the database, every tree head
    stored in ``audit_sth`` and ``saved`` (a tree head kept elsewhere). The first problem is reported, with
    the record it concerns when that can be told."""
    flush(session)
    try:  # read before the walk: records only grow, so every head it names is committed by then
        signed: TreeHead | None = read_signed_head()
        signed_problem = ""
    except ValueError as exc:
        signed, signed_problem = None, str(exc)
    where = signed_head_path()
    signed_seq = signed.tree_size if signed is not None else None
    pub = public_key()
    checkpoints: dict[int, list[tuple[str, TreeHead]]] = {}
    heads = [(f"the signed tree head #{r.id} stored in the database", _sth_from_row(r))
             for r in session.scalars(select(AuditSth).order_by(AuditSth.id))]
    if signed is not None:
        heads.append((f"the signed head outside the database ({where})", signed))
    if saved is not None:
        heads.append(("the saved tree head", saved))

    def fail(count: int, root: str, bad: int | None, reason: str) -> VerifyResult:
        return VerifyResult(False, count, root, bad, reason, signed_seq)

    for label, head in heads:
        if not head.valid(pub):
            return fail(0, EMPTY_ROOT_HEX, None, f"{label} has an invalid signature (forged, altered, or signed by "
                        "another key)")
        checkpoints.setdefault(head.tree_size, []).append((label, head))
    if signed_problem:
        return fail(0, EMPTY_ROOT_HEX, None, f"the signed head at {where} is {signed_problem}")

    key = _key()
    total = current_head(session)[0]  # for the progress bar: progress(records done since the last call, total)
    frontier = merkle.Frontier()
    expected = 1
    pending = 0
    encode, sha256, mac_of, utc = _ENCODE, hashlib.sha256, hmac.digest, _UTC
    for seq, ts, actor, source, via, action, target, outcome, detail, stored, mac in _iter_rows(session):
        if seq != expected:
            return fail(expected - 1, frontier.root().hex(), expected,
                        f"record #{expected} is missing (deleted); the next one is #{seq}")
        if ts.tzinfo is not utc:
            ts = ts.astimezone(utc)
        # canonical(), inlined: this loop runs once per record of the whole log
        data = encode([seq, ts.isoformat(timespec="microseconds")[:26] + "Z", actor, source, via, action, target,
                       outcome, detail]).encode()
        leaf = sha256(b"\x00" + data).digest()
        leaf_hex = leaf.hex()
        if leaf_hex != stored:
            return fail(expected - 1, frontier.root().hex(), seq,
                        "content does not match its leaf hash (record changed, or moved from another position)")
        if not hmac.compare_digest(mac_of(key, f"{seq}:{leaf_hex}".encode(), "sha256").hex(), mac):
            return fail(expected - 1, frontier.root().hex(), seq,
                        "the record's MAC does not match (record rewritten with its leaf hash recomputed)")
        frontier.push(leaf)
        if seq in checkpoints:
            root_hex = frontier.root().hex()
            for label, head in checkpoints[seq]:
                if head.root_hash != root_hex:
                    return fail(seq, root_hex, None, f"the first {seq} records do not give the root of {label}")
        expected += 1
        pending += 1
        if progress is not None and pending >= 1000:
            progress(pending, total)
            pending = 0
    if progress is not None and pending:
        progress(pending, total)
    count = expected - 1
    root_hex = frontier.root().hex()
    row = session.execute(select(AuditHead.seq, AuditHead.hash, AuditHead.frontier).where(AuditHead.id == 1)).first()
    head_seq, head_root, head_frontier = (int(row[0]), str(row[1]), str(row[2] or "")) if row else (0, "", "")
    if head_seq != count or (count and (head_root != root_hex or head_frontier != frontier.to_bytes().hex())):
        return fail(count, root_hex, count + 1 if head_seq > count else None,
                    f"the database's head says {head_seq} records with root {head_root[:16]}…, the log has {count} "
                    f"with root {root_hex[:16]}… (records deleted at the end, or the head rewritten)")
    for size in sorted(s for s in checkpoints if s > count or s == 0):
        for label, head in checkpoints[size]:
            if size == 0:
                if head.root_hash != EMPTY_ROOT_HEX:
                    return fail(count, root_hex, None, f"{label} (empty tree) has a wrong root")
                continue
            return fail(count, root_hex, count + 1,
                        f"records #{count + 1}–#{size} were cut from the end: the log ends at #{count} but "
                        f"{label} covers {size} records")
    if signed is None and count > 0:
        return fail(count, root_hex, None,
                    f"the signed head outside the database is missing ({where}): records cut from the end "
                    "cannot be ruled out (it is written again with the next audited action)")
    return VerifyResult(True, count, root_hex, signed_head_seq=signed_seq,
                        heads_checked=sum(len(v) for v in checkpoints.values()))
