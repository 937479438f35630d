"""Audit log benchmark (issue 12, "Provable audit"): ``python -m benchmarks.audit_bench [--backends sqlite,postgres]``.

1. **Append rate** of the Merkle-tree log (``cityhub.audit.record``, the function every action calls) beside the
   previous HMAC hash chain (its ``record`` and signed-head file, reproduced here as it was on main before the
   tree), in the same run on the same kind of store: one event per transaction (each action commits its own
   record; the signed head file is written after each commit) and 100 events per transaction.
2. **Verifying 1,000,000 events**: a log of that size is generated in bulk (the same leaf hashes, MACs, frontier and
   subtree roots the appends would store, plus a signed tree head), then ``cityhub audit verify``'s action checks
   it all (every leaf hash and MAC recomputed, the tree rebuilt and compared with the tree heads).
3. Inclusion-proof latency at that size (the ``audit_proof`` action, random records).

Figures go to ``benchmarks/out/audit.json``; BENCHMARKS.md records them with the machine and the load average.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import fcntl
import hashlib
import hmac
import json
import os
import random
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from benchmarks.common import OUT, machine, pg_create, pg_drop, summary
from cityhub.db import UTCDateTime

APPEND_TARGET = 5000  # events/s
VERIFY_TARGET_S = 60.0


def _activate(home: Path, url: str) -> None:
    os.environ["CITYHUB_HOME"] = str(home)
    os.environ["CITYHUB_DATABASE_URL"] = url
    os.environ.setdefault("CITYHUB_SECRET_KEY", "bench-secret-" + secrets.token_hex(8))
    os.environ["CITYHUB_ENV"] = "test"
    from cityhub import db
    from cityhub.settings import get_settings

    get_settings.cache_clear()
    db.reset_caches()
    from cityhub.migrate import upgrade

    upgrade(url)


# -- the previous hash chain, as it was (src/cityhub/audit.py on main before the Merkle tree) -------------------


class OldBase(DeclarativeBase):
    pass

class OldRecord(OldBase):
    __tablename__ = "old_audit_log"
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

class OldHead(OldBase):
    __tablename__ = "old_audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))




def _old_chain(url: str, head_path: Path) -> Any:
    from sqlalchemy import text
    from sqlalchemy.orm import Session, sessionmaker

    from cityhub.audit import canonical
    from cityhub.db import make_engine, utcnow

    engine = make_engine(url)
    OldBase.metadata.create_all(engine)
    factory = sessionmaker(engine, expire_on_commit=False)
    secret = os.environ["CITYHUB_SECRET_KEY"]

    def key() -> bytes:
        return hashlib.sha256(b"cityhub-audit:" + secret.encode()).digest()

    def head_key() -> bytes:
        return hashlib.sha256(b"cityhub-audit-head:" + secret.encode()).digest()

    def write_head(seq: int, digest: str) -> None:
        with open(head_path.with_name(head_path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            with contextlib.suppress(FileNotFoundError, ValueError, KeyError):
                cur = json.loads(head_path.read_text())
                want = hmac.new(head_key(), f"cityhub-audit-head|{cur['seq']}|{cur['hash']}|{cur['ts']}".encode(),
                                hashlib.sha256).hexdigest()
                if hmac.compare_digest(want, cur["sig"]) and cur["seq"] >= seq:
                    return
            ts = utcnow().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            sig = hmac.new(head_key(), f"cityhub-audit-head|{seq}|{digest}|{ts}".encode(), hashlib.sha256).hexdigest()
            fd, tmp = tempfile.mkstemp(prefix=".audit-head-", dir=head_path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(json.dumps({"seq": seq, "hash": digest, "ts": ts, "sig": sig}) + "\n")
            os.replace(tmp, head_path)

    def record(session: Session, action: str, target: str, outcome: str, detail: dict[str, Any]) -> int:
        row = session.execute(text("UPDATE old_audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")).first()
        if row is None:
            session.add(OldHead(id=1, seq=0, hash="0" * 64))
            session.flush()
            row = session.execute(text("UPDATE old_audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")).one()
        seq, prev = int(row[0]), str(row[1])
        now = utcnow()
        detail_text = json.dumps(detail or {}, ensure_ascii=False, sort_keys=True, default=str)
        payload = canonical(seq, now, "system", "local", "job", action, target, outcome, detail_text)
        digest = hmac.new(key(), prev.encode() + payload, hashlib.sha256).hexdigest()
        session.add(OldRecord(seq=seq, ts=now, actor="system", source="local", via="job", action=action, target=target,
                              outcome=outcome, detail=detail_text, prev_hash=prev, hash=digest))
        session.execute(text("UPDATE old_audit_head SET hash = :h WHERE id = 1"), {"h": digest})
        session.info["old_pending"] = (seq, digest)
        return seq

    def commit(session: Session) -> None:
        session.commit()
        pending = session.info.pop("old_pending", None)
        if pending:
            write_head(*pending)

    return factory, record, commit, engine


# -- append ------------------------------------------------------------------------------------------------


def _append_new(n: int, per_tx: int) -> float:
    from cityhub import audit
    from cityhub.db import session_factory

    factory = session_factory()
    t0 = time.perf_counter()
    done = 0
    while done < n:
        s = factory()
        try:
            for _ in range(min(per_tx, n - done)):
                audit.record(s, None, "bench_append", f"target-{done}", "success", {"i": done, "rows": 1234})
                done += 1
            s.commit()
        finally:
            s.close()
    return n / (time.perf_counter() - t0)


def _append_old(old: Any, n: int, per_tx: int) -> float:
    factory, record, commit, _ = old
    t0 = time.perf_counter()
    done = 0
    while done < n:
        s = factory()
        try:
            for _ in range(min(per_tx, n - done)):
                record(s, "bench_append", f"target-{done}", "success", {"i": done, "rows": 1234})
                done += 1
            commit(s)
        finally:
            s.close()
    return n / (time.perf_counter() - t0)


def bench_append(backend: str, url: str, home: Path, n_single: int, n_batch: int, rounds: int) -> dict[str, Any]:
    _activate(home, url)
    old = _old_chain(url, home / "old-audit-head.json")
    res: dict[str, Any] = {"backend": backend}
    for label, n, per_tx in (("one event per transaction", n_single, 1), ("100 events per transaction", n_batch, 100)):
        new_rates, old_rates = [], []
        for _ in range(rounds):  # interleaved, so both see the same load
            new_rates.append(_append_new(n, per_tx))
            old_rates.append(_append_old(old, n, per_tx))
        res[label] = {"events": n, "rounds": rounds,
                      "merkle_events_per_s": [round(r) for r in new_rates],
                      "hash_chain_events_per_s": [round(r) for r in old_rates],
                      "merkle_best": round(max(new_rates)), "hash_chain_best": round(max(old_rates))}
        print(f"[{backend}] append, {label}: merkle {res[label]['merkle_events_per_s']} events/s, "
              f"old hash chain {res[label]['hash_chain_events_per_s']} events/s", flush=True)
    old[3].dispose()
    from cityhub import db

    with db.session_scope() as s:
        from cityhub import audit

        result = audit.verify(s)
    res["verified_after_appends"] = {"ok": result.ok, "count": result.count}
    return res


# -- a big log, generated in bulk --------------------------------------------------------------------------


def generate(n: int) -> float:
    """``n`` records with everything an append stores, inserted in bulk; returns the seconds it took."""
    from sqlalchemy import insert, text

    from cityhub import audit, merkle
    from cityhub.db import get_engine

    t0 = time.perf_counter()
    key = audit._key()
    frontier = merkle.Frontier()
    base = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    actions = ["dataset_create", "dataset_update", "resource_create", "session_create", "datastore_load",
               "user_update", "share_request_create", "grant_revoke"]
    rows: list[dict[str, Any]] = []
    nodes: list[dict[str, Any]] = []
    engine = get_engine()
    ins = insert(audit.AuditRecord.__table__)  # type: ignore[arg-type]
    ins_node = insert(audit.AuditNode.__table__)  # type: ignore[arg-type]
    with engine.begin() as conn:
        for seq in range(1, n + 1):
            ts = base + dt.timedelta(milliseconds=seq * 15)
            action = actions[seq % len(actions)]
            actor = f"user{seq % 97}"
            target = f"gz-dataset-{seq % 5000}"
            detail = json.dumps({"version": seq % 7, "rows": seq % 10000}, sort_keys=True)
            leaf = merkle.leaf_hash(audit.canonical(seq, ts, actor, "10.1.2.3", "web", action, target, "success",
                                                    detail))
            lh = leaf.hex()
            rows.append({"seq": seq, "ts": ts, "actor": actor, "source": "10.1.2.3", "via": "web", "action": action,
                         "target": target, "outcome": "success", "detail": detail, "hash": lh,
                         "mac": audit.record_mac(key, seq, lh)})
            nodes += [{"level": x.level, "idx": x.index, "hash": x.hash.hex()} for x in frontier.append(leaf)
                      if x.level >= audit.NODE_MIN_LEVEL]
            if len(rows) >= 20000:
                conn.execute(ins, rows)
                rows = []
        if rows:
            conn.execute(ins, rows)
        if nodes:
            conn.execute(ins_node, nodes)
        conn.execute(text("UPDATE audit_head SET seq = :n, hash = :h, frontier = :f WHERE id = 1"),
                     {"n": n, "h": frontier.root().hex(), "f": frontier.to_bytes().hex()})
    audit.write_signed_head(n, frontier.root().hex())
    return time.perf_counter() - t0


def bench_verify(backend: str, url: str, home: Path, n: int) -> dict[str, Any]:
    _activate(home, url)
    from cityhub import actions, audit
    from cityhub.context import system_context
    from cityhub.db import session_scope

    gen_s = generate(n)
    print(f"[{backend}] generated {n:,} records in {gen_s:.1f} s", flush=True)
    with session_scope() as s:
        audit.issue_sth(s, "bench")
    t0 = time.perf_counter()
    result = actions.call("audit_verify", system_context("bench"), {})
    verify_s = time.perf_counter() - t0
    print(f"[{backend}] verify {n:,}: {verify_s:.1f} s ok={result['ok']} count={result['count']} "
          f"heads={result['heads_checked']}", flush=True)
    ms: list[float] = []
    rng = random.Random(12)
    path_len = 0
    for _ in range(100):
        seq = rng.randint(1, n)
        t1 = time.perf_counter()
        proof = actions.call("audit_proof", system_context("bench"), {"seq": seq, "since_size": seq})
        ms.append((time.perf_counter() - t1) * 1000)
        path_len = max(path_len, len(proof["inclusion"]["audit_path"]))
    print(f"[{backend}] audit_proof at {n:,}: {summary(ms)}", flush=True)
    return {"backend": backend, "events": n, "generate_s": round(gen_s, 1), "verify_s": round(verify_s, 1),
            "verify_events_per_s": round(n / verify_s), "verify_ok": result["ok"], "heads_checked":
            result["heads_checked"], "proof_ms": summary(ms), "longest_audit_path": path_len}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--append-n", type=int, default=5000, help="events per round, one per transaction")
    ap.add_argument("--append-batch-n", type=int, default=20000, help="events per round, 100 per transaction")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--verify-n", type=int, default=1_000_000)
    ap.add_argument("--backends", default="sqlite", help="comma-separated: sqlite, postgres")
    args, _ = ap.parse_known_args()  # `make bench` passes every benchmark the same arguments
    OUT.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"machine": machine(), "loadavg_before": os.getloadavg(),
                              "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                              "targets": {"append_events_per_s": APPEND_TARGET, "verify_1m_s": VERIFY_TARGET_S}}
    print(report["machine"], "load average", report["loadavg_before"], flush=True)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    with tempfile.TemporaryDirectory(prefix="audit-bench-") as tmp:
        for backend in backends:
            for kind in ("append", "verify"):
                home = Path(tmp) / f"{backend}-{kind}"
                home.mkdir()
                name = None
                if backend == "postgres":
                    name, url = pg_create(f"audit_bench_{kind}")
                else:
                    url = f"sqlite:///{home / 'cityhub.db'}"
                try:
                    if kind == "append":
                        report[f"append_{backend}"] = bench_append(backend, url, home, args.append_n,
                                                                   args.append_batch_n, args.rounds)
                    else:
                        report[f"verify_{backend}"] = bench_verify(backend, url, home, args.verify_n)
                finally:
                    if name:
                        from cityhub import db

                        db.reset_caches()
                        pg_drop(name)
    report["loadavg_after"] = os.getloadavg()
    report["finished"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    (OUT / f"audit-{'-'.join(backends)}.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
