"""The audit log: every write, denial and sign-in is recorded; tampering is detected and named."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from cityhub import actions, audit, db
from cityhub.cli.main import app
from cityhub.context import system_context
from cityhub.errors import NotAuthenticated, NotAuthorized
from tests.conftest import Store, call_as, dataset_payload

runner = CliRunner()


def _verify() -> audit.VerifyResult:
    with db.session_scope() as s:
        return audit.verify(s)


def _seed(store: Store) -> None:
    ctx = system_context("test")
    actions.call("department_create", ctx, {"slug": "gz-transport", "name": "广州市交通运输局", "short_name": "市交通运输局",
                                            "uscc": "11440100006940001T", "level": "市"})
    for i in range(5):
        actions.call("dataset_create", ctx, dataset_payload(name=f"audit-ds-{i}"))


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
    assert ("session_create", "failure") in seen
    assert ("session_create", "success") in seen
    assert ("dataset_delete", "denied") in seen
    assert ("dataset_create", "success") in seen
    denied = next(r for r in rows if r["action"] == "dataset_delete")
    assert denied["actor"] == "alice" and denied["target"] == "audit-ds-0" and denied["source"] == "127.0.0.1"
    signin = next(r for r in rows if r["action"] == "session_create")
    assert signin["source"] == "10.0.0.9"
    assert _verify().ok


def call_as_ctx() -> object:
    from cityhub.context import Context

    return Context(source="10.0.0.9", via="test")


def _tamper(sql: str, **params: object) -> None:
    with db.get_engine().begin() as conn:
        conn.execute(text(sql), params)


@pytest.mark.parametrize("attack, bad_seq", [
    ("UPDATE audit_log SET outcome = 'denied' WHERE seq = 3", 3),
    ("UPDATE audit_log SET actor = 'mallory' WHERE seq = 4", 4),
    ("DELETE FROM audit_log WHERE seq = 2", 2),
    ("DELETE FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log)", None),
])
def test_tampering_is_detected_and_named(empty_store: Store, attack: str, bad_seq: int | None) -> None:
    _seed(empty_store)
    before = _verify()
    assert before.ok and before.count >= 6
    _tamper(attack)
    result = _verify()
    assert not result.ok
    expected = bad_seq if bad_seq is not None else before.count
    assert result.bad_seq == expected, result
    cli = runner.invoke(app, ["audit", "verify"])
    assert cli.exit_code == 1
    assert f"#{expected}" in cli.output


def test_reordering_is_detected(empty_store: Store) -> None:
    _seed(empty_store)
    # swap the contents of records 2 and 3 (keeping their sequence numbers)
    with db.get_engine().begin() as conn:
        r2 = conn.execute(text("SELECT action, target, detail FROM audit_log WHERE seq = 2")).one()
        r3 = conn.execute(text("SELECT action, target, detail FROM audit_log WHERE seq = 3")).one()
        conn.execute(text("UPDATE audit_log SET action=:a, target=:t, detail=:d WHERE seq = 2"),
                     {"a": r3[0], "t": r3[1], "d": r3[2]})
        conn.execute(text("UPDATE audit_log SET action=:a, target=:t, detail=:d WHERE seq = 3"),
                     {"a": r2[0], "t": r2[1], "d": r2[2]})
    result = _verify()
    assert not result.ok and result.bad_seq == 2


def test_recomputed_plain_hash_does_not_pass(empty_store: Store) -> None:
    """Someone who rewrites a record and recomputes a plain SHA-256 still fails: the chain is keyed."""
    import hashlib

    _seed(empty_store)
    with db.get_engine().begin() as conn:
        row = conn.execute(text("SELECT prev_hash FROM audit_log WHERE seq = 3")).one()
        forged = hashlib.sha256((row[0] + "forged").encode()).hexdigest()
        conn.execute(text("UPDATE audit_log SET target = 'x', hash = :h WHERE seq = 3"), {"h": forged})
    result = _verify()
    assert not result.ok and result.bad_seq == 3


def test_cli_verify_ok(empty_store: Store) -> None:
    _seed(empty_store)
    cli = runner.invoke(app, ["audit", "verify"])
    assert cli.exit_code == 0, cli.output
    assert "OK" in cli.output


# -- the signed head outside the database ---------------------------------------------------------------------


def _cut_end(keep: int) -> None:
    """Delete every record after ``keep`` and roll the database's own head back to match: the chain left in
    the database is consistent, so only the head kept outside it can tell."""
    with db.get_engine().begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq > :k"), {"k": keep})
        last = conn.execute(text("SELECT hash FROM audit_log WHERE seq = :k"), {"k": keep}).scalar_one()
        conn.execute(text("UPDATE audit_head SET seq = :k, hash = :h WHERE id = 1"), {"k": keep, "h": last})


@pytest.mark.parametrize("cut", [1, 3])
def test_cutting_the_end_and_rolling_the_head_back_is_detected(empty_store: Store, cut: int) -> None:
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


def test_the_signed_head_follows_commits_only(empty_store: Store) -> None:
    """A record appended in a transaction that rolls back never reaches the head file; later commits move it
    forward, and the file's head is signed."""
    import json

    _seed(empty_store)
    head = audit.read_signed_head()
    assert head is not None and head.seq == _verify().count
    session = db.session_factory()()
    audit.record(session, None, "rolled_back", "-", "success")
    session.rollback()
    session.close()
    assert audit.read_signed_head() == head and _verify().ok
    call_as("system", "dataset_create", dataset_payload(name="audit-ds-after"))
    assert audit.read_signed_head().seq == head.seq + 1 and _verify().ok
    path = audit.signed_head_path()
    forged = json.loads(path.read_text())
    forged["seq"] += 5  # claims more records: the signature no longer matches
    path.write_text(json.dumps(forged))
    result = _verify()
    assert not result.ok and "signature" in result.reason


def test_a_deleted_head_file_is_reported(empty_store: Store) -> None:
    _seed(empty_store)
    audit.signed_head_path().unlink()
    result = _verify()
    assert not result.ok and "missing" in result.reason
