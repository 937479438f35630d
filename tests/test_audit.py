"""The audit log: every write, denial and sign-in is recorded in an RFC 6962 Merkle tree; edits, deletions,
reorderings and a cut end are detected and located; signed tree heads verify and forged ones are refused;
inclusion and consistency proofs check out with the public key alone; the migration builds the tree over the
records of the old hash chain."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text
from typer.testing import CliRunner

from cityhub import actions, audit, db, merkle
from cityhub.cli.main import app
from cityhub.context import system_context
from cityhub.errors import NotAuthenticated, NotAuthorized, NotFound, ValidationError
from tests.conftest import Store, call_as, dataset_payload

runner = CliRunner()


def _verify(saved: audit.TreeHead | None = None) -> audit.VerifyResult:
    with db.session_scope() as s:
        return audit.verify(s, saved=saved)


def _seed(store: Store, datasets: int = 5) -> None:
    ctx = system_context("test")
    actions.call("department_create", ctx, {"slug": "gz-transport", "name": "广州市交通运输局", "short_name": "市交通运输局",
                                            "uscc": "11440100006940001T", "level": "市"})
    for i in range(datasets):
        actions.call("dataset_create", ctx, dataset_payload(name=f"audit-ds-{i}"))


def _bulk(n: int) -> None:
    """``n`` more records, appended as the actions append them (one transaction)."""
    with db.session_scope() as s:
        for i in range(n):
            audit.record(s, None, "bulk_test", f"t-{i}", "success", {"i": i})


def call_as_ctx() -> object:
    from cityhub.context import Context

    return Context(source="10.0.0.9", via="test")


def test_writes_denials_and_signins_are_recorded(empty_store: Store) -> None:
    _seed(empty_store)
    actions.call("user_create", system_context("test"), {"name": "alice", "password": "Correct-horse-battery-9"})
    with pytest.raises(NotAuthenticated):
        actions.call("session_create", call_as_ctx(), {"username": "alice", "password": "wrong-password-123"})
    actions.call("session_create", call_as_ctx(), {"username": "alice", "password": "Correct-horse-battery-9"})
    with pytest.raises(NotAuthorized):
        call_as("alice", "dataset_delete", {"id": "audit-ds-0"})
    rows = call_as("system", "audit_list", {"limit": 100})
    seen = {(r["action"], r["outcome"]) for r in rows}
    assert {("session_create", "failure"), ("session_create", "success"), ("dataset_delete", "denied"),
            ("dataset_create", "success")} <= seen
    denied = next(r for r in rows if r["action"] == "dataset_delete")
    assert denied["actor"] == "alice" and denied["target"] == "audit-ds-0" and denied["source"] == "127.0.0.1"
    assert _verify().ok


def test_the_tree_is_rfc6962_over_the_records(empty_store: Store) -> None:
    """The stored root is MTH over SHA-256(0x00 || canonical(record)) of every record, in order."""
    _seed(empty_store)
    with db.session_scope() as s:
        rows = s.execute(text("SELECT seq, hash FROM audit_log ORDER BY seq")).all()
        recs = [s.get(audit.AuditRecord, r[0]) for r in rows]
        leaves = [merkle.leaf_hash(audit.canonical(r.seq, r.ts, r.actor, r.source, r.via, r.action, r.target,
                                                   r.outcome, r.detail)) for r in recs if r]
        size, root = audit.current_head(s)
    assert [r[1] for r in rows] == [h.hex() for h in leaves]
    assert size == len(leaves) and root == merkle.root(leaves).hex()


# -- tampering directly in the database: detected and located ------------------------------------------------


def _tamper(sql: str, **params: object) -> None:
    with db.get_engine().begin() as conn:
        conn.execute(text(sql), params)


def _swap(a: int, b: int, columns: str) -> None:
    cols = columns.split(",")
    with db.get_engine().begin() as conn:
        ra = conn.execute(text(f"SELECT {columns} FROM audit_log WHERE seq = :s"), {"s": a}).one()
        rb = conn.execute(text(f"SELECT {columns} FROM audit_log WHERE seq = :s"), {"s": b}).one()
        sets = ", ".join(f"{c} = :{c}" for c in cols)
        conn.execute(text(f"UPDATE audit_log SET {sets} WHERE seq = :s"), {**dict(zip(cols, rb, strict=True)), "s": a})
        conn.execute(text(f"UPDATE audit_log SET {sets} WHERE seq = :s"), {**dict(zip(cols, ra, strict=True)), "s": b})


def _rewrite_with_hash(seq: int, target: str) -> None:
    """Change a record and recompute its (public) leaf hash: only the keyed MAC can tell."""
    _tamper("UPDATE audit_log SET target = :t WHERE seq = :s", t=target, s=seq)
    with db.session_scope() as s:
        r = s.get(audit.AuditRecord, seq)
        assert r is not None and r.target == target  # the edit took: only the MAC can now tell
        leaf = merkle.leaf_hash(audit.canonical(r.seq, r.ts, r.actor, r.source, r.via, r.action, r.target,
                                                r.outcome, r.detail))
    _tamper("UPDATE audit_log SET hash = :h WHERE seq = :s", h=leaf.hex(), s=seq)


def _delete_and_renumber(seq: int) -> None:
    with db.get_engine().begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq = :s"), {"s": seq})
        last = conn.execute(text("SELECT max(seq) FROM audit_log")).scalar_one()
        for s in range(seq + 1, last + 1):
            conn.execute(text("UPDATE audit_log SET seq = :n WHERE seq = :o"), {"n": s - 1, "o": s})


def _insert_forged(at: int) -> None:
    """Make room at ``at`` and insert a record with a correct public leaf hash (but no valid MAC)."""
    _tamper("UPDATE audit_log SET seq = seq + 100000 WHERE seq >= :a", a=at)
    _tamper("UPDATE audit_log SET seq = seq - 99999 WHERE seq >= :a", a=at)
    with db.session_scope() as s:
        r = s.get(audit.AuditRecord, at + 1)
        assert r is not None and r.seq == at + 1  # the renumbering left a record in the forged slot's place
        leaf = merkle.leaf_hash(audit.canonical(at, r.ts, "admin", r.source, r.via, "dataset_delete", "forged",
                                                "success", "{}"))
    _tamper("INSERT INTO audit_log (seq, ts, actor, source, via, action, target, outcome, detail, hash, mac) "
            "SELECT :a, ts, 'admin', source, via, 'dataset_delete', 'forged', 'success', '{}', :h, :m "
            "FROM audit_log WHERE seq = :b", a=at, b=at + 1, h=leaf.hex(), m="0" * 64)


ATTACKS: list[tuple[str, Any, int]] = [
    ("edit outcome", lambda: _tamper("UPDATE audit_log SET outcome = 'denied' WHERE seq = 3"), 3),
    ("edit actor", lambda: _tamper("UPDATE audit_log SET actor = 'mallory' WHERE seq = 4"), 4),
    ("edit detail", lambda: _tamper("UPDATE audit_log SET detail = '{\"x\": 1}' WHERE seq = 5"), 5),
    ("edit and recompute the leaf hash", lambda: _rewrite_with_hash(4, "innocent"), 4),
    ("delete one", lambda: _tamper("DELETE FROM audit_log WHERE seq = 2"), 2),
    ("delete one and renumber the rest", lambda: _delete_and_renumber(3), 3),
    ("reorder: swap contents", lambda: _swap(2, 3, "action,target,detail"), 2),
    ("reorder: swap whole rows with their hashes", lambda: _swap(4, 6, "ts,actor,action,target,detail,hash,mac"), 4),
    ("insert a forged record", lambda: _insert_forged(5), 5),
]


@pytest.mark.parametrize("name, attack, bad_seq", ATTACKS, ids=[a[0] for a in ATTACKS])
def test_tampering_is_detected_and_located(empty_store: Store, name: str, attack: Any, bad_seq: int) -> None:
    _seed(empty_store)
    before = _verify()
    assert before.ok and before.count == 6
    attack()
    result = _verify()
    assert not result.ok, name
    assert result.bad_seq == bad_seq, result
    cli = runner.invoke(app, ["audit", "verify"])
    assert cli.exit_code == 1
    assert f"#{bad_seq}" in cli.output


def test_cli_verify_ok(empty_store: Store) -> None:
    _seed(empty_store)
    cli = runner.invoke(app, ["audit", "verify"])
    assert cli.exit_code == 0, cli.output
    assert "OK" in cli.output and "tree heads checked" in cli.output


# -- the end of the log: the signed head outside the database and saved tree heads ---------------------------


def _cut_end(keep: int) -> None:
    """Delete every record after ``keep`` and rebuild the database's head and stored subtrees to match: the tree
    left in the database is consistent, so only a tree head kept outside it can tell."""
    with db.get_engine().begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq > :k"), {"k": keep})
        hashes = [bytes.fromhex(h) for (h,) in conn.execute(text("SELECT hash FROM audit_log ORDER BY seq"))]
        frontier = merkle.Frontier()
        for h in hashes:
            frontier.append(h)
        conn.execute(text("UPDATE audit_head SET seq = :k, hash = :h, frontier = :f WHERE id = 1"),
                     {"k": keep, "h": frontier.root().hex(), "f": frontier.to_bytes().hex()})
        conn.execute(text("DELETE FROM audit_sth WHERE tree_size > :k"), {"k": keep})


@pytest.mark.parametrize("cut", [1, 3])
def test_cutting_the_end_is_detected_by_the_head_file(empty_store: Store, cut: int) -> None:
    _seed(empty_store)
    before = _verify()
    assert before.ok
    _cut_end(before.count - cut)
    result = _verify()
    assert not result.ok, result
    assert result.bad_seq == before.count - cut + 1
    assert "cut" in result.reason and f"#{before.count}" in result.reason
    cli = runner.invoke(app, ["audit", "verify"])
    assert cli.exit_code == 1 and f"#{before.count - cut + 1}" in cli.output


def test_cutting_the_end_is_detected_against_a_saved_sth(empty_store: Store, tmp_path: Path) -> None:
    """Even when the head file is rolled back too (the attacker can write it), a tree head exported earlier
    and kept elsewhere shows the cut."""
    _seed(empty_store)
    saved = tmp_path / "sth.json"
    cli = runner.invoke(app, ["audit", "sth", "export", "--out", str(saved)])
    assert cli.exit_code == 0, cli.output
    exported = json.loads(saved.read_text())
    assert exported["tree_size"] == _verify().count and "BEGIN PUBLIC KEY" in exported["public_key"]
    _bulk(3)
    assert runner.invoke(app, ["audit", "verify", str(saved)]).exit_code == 0
    keep = exported["tree_size"] - 2
    _cut_end(keep)
    with db.session_scope() as s:  # the attacker also replaces the head file with a valid head of the cut tree
        size, root = audit.current_head(s)
    audit.signed_head_path().unlink()
    audit.write_signed_head(size, root)
    assert _verify().ok  # nothing inside the platform can tell any more
    result = _verify(audit.TreeHead.from_dict(exported))
    assert not result.ok and result.bad_seq == keep + 1 and "cut" in result.reason
    cli = runner.invoke(app, ["audit", "verify", str(saved)])
    assert cli.exit_code == 1 and f"#{keep + 1}" in cli.output


def test_a_saved_sth_of_another_history_is_refused(empty_store: Store) -> None:
    """A saved head whose size is in the log but whose root is not the log's prefix (the log was rewritten)."""
    _seed(empty_store)
    with db.session_scope() as s:
        size, _ = audit.current_head(s)
    other = audit.sign_tree_head(size - 1, "ab" * 32)
    result = _verify(other)
    assert not result.ok and "do not give the root" in result.reason


def test_the_head_file_follows_commits_only_and_is_signed(empty_store: Store) -> None:
    _seed(empty_store)
    head = audit.read_signed_head()
    assert head is not None and head.valid() and head.tree_size == _verify().count
    session = db.session_factory()()
    audit.record(session, None, "rolled_back", "-", "success")
    session.rollback()
    session.close()
    assert audit.read_signed_head() == head and _verify().ok
    call_as("system", "dataset_create", dataset_payload(name="audit-ds-after"))
    after = audit.read_signed_head()
    assert after is not None and after.tree_size == head.tree_size + 1 and _verify().ok


@pytest.mark.parametrize("forgery", ["size", "root", "signature", "other key", "garbage"])
def test_a_forged_head_file_is_refused(empty_store: Store, forgery: str) -> None:
    _seed(empty_store)
    path = audit.signed_head_path()
    data = json.loads(path.read_text())
    if forgery == "size":
        data["tree_size"] += 5
    elif forgery == "root":
        data["root_hash"] = "00" * 32
    elif forgery == "signature":
        sig = bytearray(base64.b64decode(data["signature"]))
        sig[0] ^= 1
        data["signature"] = base64.b64encode(bytes(sig)).decode()
    elif forgery == "other key":
        key = Ed25519PrivateKey.generate()
        msg = audit.sth_message(data["tree_size"] + 5, data["root_hash"], data["timestamp"])
        data.update(tree_size=data["tree_size"] + 5, signature=base64.b64encode(key.sign(msg)).decode())
    path.write_text("not json{" if forgery == "garbage" else json.dumps(data))
    result = _verify()
    assert not result.ok
    assert ("signature" in result.reason) if forgery != "garbage" else ("unreadable" in result.reason)


def test_a_forged_sth_in_the_database_is_refused(empty_store: Store) -> None:
    _seed(empty_store)
    call_as("system", "audit_sth_issue", {})
    assert _verify().ok and _verify().heads_checked >= 2
    _tamper("UPDATE audit_sth SET tree_size = tree_size + 1")
    result = _verify()
    assert not result.ok and "invalid signature" in result.reason


def test_a_saved_sth_that_is_not_one_is_a_clear_error(empty_store: Store, tmp_path: Path) -> None:
    _seed(empty_store)
    with pytest.raises(ValidationError):
        call_as("system", "audit_verify", {"sth": {"tree_size": "x"}})
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2")
    cli = runner.invoke(app, ["audit", "verify", str(bad)])
    assert cli.exit_code == 2 and "not JSON" in cli.output
    assert _verify().ok  # nothing lost


def test_the_signing_key_is_generated_once_and_kept(empty_store: Store) -> None:
    path = audit.signing_key_path()
    _seed(empty_store)
    assert path.exists() and path.stat().st_mode & 0o777 == 0o600
    first = audit.key_id()
    assert audit.key_id() == first
    pem = runner.invoke(app, ["audit", "sth", "key"])
    assert pem.exit_code == 0 and "BEGIN PUBLIC KEY" in pem.output


# -- proofs, as an outside party checks them ------------------------------------------------------------------


def _outside_check_sth(sth: dict[str, Any]) -> None:
    """What an outside party does with an exported STH: check the Ed25519 signature with the public key."""
    pub = serialization.load_pem_public_key(sth["public_key"].encode())
    msg = f"cityhub-audit-sth-v1\n{sth['tree_size']}\n{sth['root_hash']}\n{sth['timestamp']}\n".encode()
    pub.verify(base64.b64decode(sth["signature"]), msg)  # type: ignore[union-attr,call-arg]


def test_inclusion_and_consistency_proofs_verify_outside(empty_store: Store) -> None:
    _seed(empty_store, datasets=2)
    old = call_as("system", "audit_sth_show", {})
    _bulk(700)  # > 2 stored subtrees of 256 leaves, so the proofs read audit_node
    with db.session_scope() as s:
        nodes = s.execute(text("SELECT count(*) FROM audit_node")).scalar_one()
    assert nodes >= 2
    for seq in (1, 2, old["tree_size"], 257, 513, 700):
        got = call_as("system", "audit_proof", {"seq": seq, "since_size": old["tree_size"]})
        sth, inc = got["sth"], got["inclusion"]
        _outside_check_sth(sth)
        assert inc["seq"] == seq and sth["tree_size"] >= seq
        leaf = merkle.leaf_hash(inc["leaf_data"].encode())
        assert leaf.hex() == inc["leaf_hash"]
        path = [bytes.fromhex(h) for h in inc["audit_path"]]
        assert len(path) <= sth["tree_size"].bit_length()
        assert merkle.verify_inclusion(seq - 1, sth["tree_size"], leaf, path, bytes.fromhex(sth["root_hash"]))
        assert not merkle.verify_inclusion(seq % sth["tree_size"], sth["tree_size"], leaf, path,
                                           bytes.fromhex(sth["root_hash"]))
        cons = got["consistency"]
        assert merkle.verify_consistency(old["tree_size"], sth["tree_size"], bytes.fromhex(old["root_hash"]),
                                         bytes.fromhex(sth["root_hash"]), [bytes.fromhex(h) for h in cons["proof"]])
    with pytest.raises(NotFound):
        call_as("system", "audit_proof", {"seq": 10_000})


def test_proof_of_a_record_newer_than_the_latest_sth_issues_one(empty_store: Store) -> None:
    _seed(empty_store)
    first = call_as("system", "audit_sth_issue", {})
    _bulk(2)
    got = call_as("system", "audit_proof", {"seq": first["tree_size"] + 2})
    assert got["sth"]["tree_size"] == first["tree_size"] + 2 and got["sth"]["issued_by"] == "on demand"


def test_who_may_read_proofs(empty_store: Store) -> None:
    _seed(empty_store)
    for name, role in (("aud", "auditor"), ("ana", "analyst")):
        actions.call("user_create", system_context("test"),
                     {"name": name, "password": "Correct-horse-battery-9", "role": role,
                      **({"department": "gz-transport"} if role == "analyst" else {})})
    assert call_as("aud", "audit_proof", {"seq": 1})["inclusion"]["seq"] == 1
    assert call_as("aud", "audit_sth_show", {})["tree_size"] >= 1
    assert call_as("aud", "audit_verify", {})["ok"]
    for denied in ("audit_proof", "audit_sth_show", "audit_verify"):
        with pytest.raises(NotAuthorized):
            call_as("ana", denied, {"seq": 1} if denied == "audit_proof" else {})
    with pytest.raises(NotAuthorized):
        call_as("aud", "audit_sth_issue", {})
    with pytest.raises(NotAuthenticated):
        call_as(None, "audit_proof", {"seq": 1})


def test_periodic_job_issues_only_when_the_log_grew(empty_store: Store) -> None:
    from cityhub import jobs

    assert any(j.name == "audit_sth" for j in jobs.periodic())
    _seed(empty_store)
    first = audit.issue_periodic_sth()
    assert first is not None and first["issued_by"] == "periodic"
    assert audit.issue_periodic_sth() is None
    _bulk(1)
    again = audit.issue_periodic_sth()
    assert again is not None and again["tree_size"] == first["tree_size"] + 1


def test_api_routes(app_client: Any, demo_passwords: dict[str, str]) -> None:
    from tests.conftest import login

    login(app_client, "admin", demo_passwords["admin"])
    sth = app_client.get("/api/v1/audit/sth")
    assert sth.status_code == 200, sth.text
    _outside_check_sth(sth.json())
    proof = app_client.get("/api/v1/audit/proof/1")
    assert proof.status_code == 200 and proof.json()["inclusion"]["seq"] == 1
    assert app_client.get("/api/v1/audit/proof/0").status_code == 422
    assert app_client.get("/api/v1/audit/proof/99999999").status_code == 404


# -- the migration from the hash chain ------------------------------------------------------------------------


def _old_chain_store(tmp_path: Path, backend: str, records: int) -> Store:
    """A store at revision 0006 holding ``records`` records chained as the previous version chained them, with
    its HMAC-signed head file."""
    import datetime as dt
    import os

    from cityhub.migrate import upgrade
    from cityhub.settings import get_settings

    os.environ.setdefault("CITYHUB_SECRET_KEY", "test-secret-key-migration")
    os.environ["CITYHUB_ENV"] = "test"
    url = f"sqlite:///{tmp_path / 'cityhub.db'}" if backend == "sqlite" else backend
    store = Store(home=tmp_path, url=url, backend="sqlite" if backend == "sqlite" else "postgres")
    store.activate()
    upgrade(url, "0006")
    secret = get_settings().secret_key
    key = hashlib.sha256(b"cityhub-audit:" + secret.encode()).digest()
    prev = "0" * 64
    with db.get_engine().begin() as conn:
        for seq in range(1, records + 1):
            ts = dt.datetime(2026, 11, 1, 8, 0, seq % 60, 1234, tzinfo=dt.UTC)
            row = [seq, ts, "admin", "127.0.0.1", "web", "dataset_create", f"ds-{seq}", "success", "{}"]
            digest = hmac.new(key, prev.encode() + audit.canonical(*row), hashlib.sha256).hexdigest()  # type: ignore[arg-type]
            conn.execute(text("INSERT INTO audit_log (seq, ts, actor, source, via, action, target, outcome, detail, "
                              "prev_hash, hash) VALUES (:seq, :ts, 'admin', '127.0.0.1', 'web', 'dataset_create', "
                              ":t, 'success', '{}', :p, :h)"),
                         {"seq": seq, "ts": ts.replace(tzinfo=None) if store.backend == "sqlite" else ts,
                          "t": f"ds-{seq}", "p": prev, "h": digest})
            prev = digest
        conn.execute(text("UPDATE audit_head SET seq = :n, hash = :h WHERE id = 1"), {"n": records, "h": prev})
    head_key = hashlib.sha256(b"cityhub-audit-head:" + secret.encode()).digest()
    ts_s = "2026-11-01T08:00:00.000000Z"
    sig = hmac.new(head_key, f"cityhub-audit-head|{records}|{prev}|{ts_s}".encode(), hashlib.sha256).hexdigest()
    get_settings().resolved_audit_head_path.write_text(json.dumps({"seq": records, "hash": prev, "ts": ts_s,
                                                                    "sig": sig}))
    return store


@pytest.fixture(params=["sqlite", "postgres"])
def old_backend(request: pytest.FixtureRequest) -> Any:
    """``sqlite``, or the URL of a fresh PostgreSQL database (dropped afterwards)."""
    if request.param == "sqlite":
        yield "sqlite"
        return
    from tests.conftest import _create_pg_database, _drop_pg_database, require_postgres

    require_postgres()
    name, url = _create_pg_database()
    yield url
    db.reset_caches()
    _drop_pg_database(name)


def test_migration_builds_the_tree_over_the_old_chain(tmp_path: Path, old_backend: str) -> None:
    from cityhub.migrate import upgrade

    store = _old_chain_store(tmp_path, old_backend, 600)
    upgrade(store.url)
    result = _verify()
    assert result.ok and result.count == 600, result
    assert (tmp_path / "audit-head.json.hmac-chain").exists()
    head = audit.read_signed_head()
    assert head is not None and head.tree_size == 600 and head.valid()
    with db.session_scope() as s:
        sth = audit.latest_sth(s)
        assert sth is not None and sth.extra["issued_by"] == "migration" and sth.tree_size == 600
        assert s.execute(text("SELECT count(*) FROM audit_node")).scalar_one() == 3  # two of 256, one of 512
    _bulk(5)  # appends continue the migrated tree
    assert _verify().ok and _verify().count == 605
    got = call_as("system", "audit_proof", {"seq": 300})
    inc = got["inclusion"]
    assert merkle.verify_inclusion(299, got["sth"]["tree_size"], bytes.fromhex(inc["leaf_hash"]),
                                   [bytes.fromhex(h) for h in inc["audit_path"]],
                                   bytes.fromhex(got["sth"]["root_hash"]))


def test_migration_refuses_a_broken_chain(tmp_path: Path, old_backend: str) -> None:
    from cityhub.migrate import current, upgrade

    store = _old_chain_store(tmp_path, old_backend, 20)
    _tamper("UPDATE audit_log SET target = 'x' WHERE seq = 7")
    with pytest.raises(RuntimeError, match="#7"):
        upgrade(store.url)
    assert current(store.url) == "0006"
    with db.get_engine().connect() as conn:  # nothing lost
        assert conn.execute(text("SELECT count(*) FROM audit_log")).scalar_one() == 20


def test_canonical_time_format_is_the_chains() -> None:
    """The leaf data keeps the hash chain's time format exactly (the migration's leaves depend on it)."""
    import datetime as dt

    cases = [dt.datetime(2026, 1, 2, 3, 4, 5, 0, tzinfo=dt.UTC), dt.datetime(2026, 12, 31, 23, 59, 59, 999999,
                                                                                 tzinfo=dt.UTC),
             dt.datetime(2026, 6, 1, 8, 0, 0, 123, tzinfo=dt.timezone(dt.timedelta(hours=8)))]
    for ts in cases:
        old = json.dumps([1, ts.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "a", "b", "c", "d", "广州", "f",
                          "{}"], ensure_ascii=False, separators=(",", ":")).encode()
        assert audit.canonical(1, ts, "a", "b", "c", "d", "广州", "f", "{}") == old


def test_appends_of_a_transaction_closed_without_commit_are_gone(sqlite_empty: Store) -> None:
    _bulk(3)
    session = db.session_factory()()
    audit.record(session, None, "never_committed", "-", "success")
    session.close()  # neither commit nor rollback
    audit.record(session, None, "committed", "-", "success")  # the same session object, a new transaction
    session.commit()
    session.close()
    result = _verify()
    assert result.ok and result.count == 4
    with db.session_scope() as s:
        assert s.get(audit.AuditRecord, 4).action == "committed"  # type: ignore[union-attr]
