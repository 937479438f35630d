"""At most one pending share request per (dataset, resource, consumer system) and per (dataset, resource,
applicant), held by the database (partial unique indexes, migration 0020) and not only by the action's check:
two submissions at once land once, the other gets a bilingual 409. On SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from cityhub.errors import Conflict
from cityhub.sharing import actions as sharing_actions
from tests.conftest import call_as, token_for


def payload(w: dict[str, Any], **over: Any) -> dict[str, Any]:
    return {"kind": "share", "dataset": w["conditional"]["name"], "system_id": w["system"]["id"],
            "purpose": "大气污染联防联控研判", "legal_basis": "《广州市政务信息共享管理规定》第十五条",
            "columns": ["站点名称", "PM2_5"], "duration_days": 90, **over}


def pending(w: dict[str, Any], resource_id: str | None = None) -> list[int]:
    from cityhub.db import session_scope
    from cityhub.sharing.models import ShareRequest

    with session_scope() as db:
        q = select(ShareRequest.id).where(ShareRequest.dataset_id == w["conditional"]["id"],
                                          ShareRequest.status == "submitted", ShareRequest.system_id == w["system"]["id"])
        q = q.where(ShareRequest.resource_id.is_(None) if resource_id is None else ShareRequest.resource_id == resource_id)
        return list(db.scalars(q))


def test_the_database_refuses_a_second_pending_request(w: dict[str, Any]) -> None:
    """Written past the action (as a second process racing it would): the index refuses the duplicate, also for a
    request of the whole dataset (no resource, which a plain unique index would let through as NULL)."""
    from cityhub.db import session_scope, utcnow
    from cityhub.sharing.models import ShareRequest

    first = call_as("eco_steward", "share_request_create", payload(w))
    with session_scope() as db:
        provider = db.get(ShareRequest, first["id"]).provider_department_id  # type: ignore[union-attr]

    def row(**over: Any) -> ShareRequest:
        base: dict[str, Any] = {
            "kind": "share", "dataset_id": w["conditional"]["id"], "resource_id": None,
            "provider_department_id": provider, "department_id": None, "system_id": w["system"]["id"], "purpose": "重复申请", "duration_days": 30,
            "status": "submitted", "deadline": dt.date(2026, 12, 31), "created_at": utcnow()}
        return ShareRequest(**{**base, **over})

    with pytest.raises(IntegrityError) as e, session_scope() as db:
        db.add(row())
        db.flush()
    assert "uq_share_request_pending_system" in str(e.value.orig)
    # answered requests do not count, nor do requests of another resource
    with session_scope() as db:
        db.add(row(status="refused"))
        db.add(row(resource_id=w["conditional"]["rid"]))
    call_as("eco_steward", "share_request_withdraw", {"id": first["id"]})
    assert pending(w) == []
    again = call_as("eco_steward", "share_request_create", payload(w))  # withdrawn: a new one may be filed
    call_as("eco_steward", "share_request_withdraw", {"id": again["id"]})
    with session_scope() as db:  # tidy: the row written past the action
        for r in db.scalars(select(ShareRequest).where(ShareRequest.resource_id == w["conditional"]["rid"],
                                                       ShareRequest.status == "submitted")):
            r.status = "withdrawn"


def test_two_submissions_at_once_land_once(w: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """Both requests pass the action's own check before either is written (held at a barrier right after it); on
    PostgreSQL the index then refuses the second (a 409 saying so); on SQLite the write lock already serialises
    the two and the second meets the first in the check. Either way one lands and the other gets a 409."""
    from cityhub.settings import get_settings

    barrier = threading.Barrier(2, timeout=3)
    real = sharing_actions.deadline_for

    def held(filed: Any) -> Any:
        with contextlib.suppress(threading.BrokenBarrierError):  # SQLite: the other waits for the write lock
            barrier.wait()
        return real(filed)

    monkeypatch.setattr(sharing_actions, "deadline_for", held)
    results: list[Any] = []

    def submit() -> None:
        try:
            results.append(call_as("eco_steward", "share_request_create", payload(w, purpose="两个窗口同时提交")))
        except Exception as exc:
            results.append(exc)

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    monkeypatch.undo()
    landed = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if isinstance(r, Conflict)]
    assert len(landed) == 1 and len(refused) == 1, results
    err = refused[0]
    assert err.status == 409
    assert "已有一份待答复的相同申请" in err.message and "already waiting for an answer" in err.message_en
    if get_settings().resolved_database_url.startswith("postgresql"):
        assert "just now" in err.message_en  # the index, not the check, refused it
    assert pending(w) == [landed[0]["id"]]
    call_as("eco_steward", "share_request_withdraw", {"id": landed[0]["id"]})


def test_http_409_has_the_one_error_shape_in_both_languages(w: dict[str, Any]) -> None:
    from fastapi.testclient import TestClient

    from cityhub.web.app import create_app

    first = call_as("eco_steward", "share_request_create", payload(w))
    try:
        with TestClient(create_app(), base_url="http://127.0.0.1:8000") as client:
            again = client.post("/api/sharing/requests", json=payload(w),
                                headers={"Authorization": f"Bearer {token_for('eco_steward')}"})
            assert again.status_code == 409, again.text
            text = str(again.json())
            assert "已有一份待答复的相同申请" in text and "already waiting for an answer" in text
    finally:
        call_as("eco_steward", "share_request_withdraw", {"id": first["id"]})


def test_open_applications_are_unique_per_applicant(w: dict[str, Any]) -> None:
    from cityhub.db import session_scope
    from cityhub.sharing.models import ShareRequest

    ds = w["open_conditional"]["name"]
    first = call_as("citizen2", "share_request_create", {"kind": "open", "dataset": ds, "purpose": "城市空气质量研究",
                                                         "duration_days": 30})
    with pytest.raises(Conflict):
        call_as("citizen2", "share_request_create", {"kind": "open", "dataset": ds, "purpose": "再次申请",
                                                     "duration_days": 30})
    with pytest.raises(IntegrityError) as e, session_scope() as db:
        src = db.get_one(ShareRequest, first["id"])
        db.add(ShareRequest(kind="open", dataset_id=src.dataset_id, resource_id=None,
                            provider_department_id=src.provider_department_id, user_id=src.user_id, purpose="x",
                            duration_days=30, status="submitted", deadline=src.deadline))
        db.flush()
    assert "uq_share_request_pending_user" in str(e.value.orig)
    with session_scope() as db:
        n = db.scalar(select(func.count()).select_from(ShareRequest).where(
            ShareRequest.user_id == db.get(ShareRequest, first["id"]).user_id,  # type: ignore[union-attr]
            ShareRequest.status == "submitted", ShareRequest.kind == "open"))
    assert n == 1
    call_as("citizen2", "share_request_withdraw", {"id": first["id"]})


def test_migration_0020_withdraws_existing_duplicates_then_indexes(w: dict[str, Any]) -> None:
    """Duplicates written before the index existed (two submissions that raced the check): the upgrade keeps the
    first filed one pending, withdraws the later one with a history event, and creates the index."""
    from alembic import command

    from cityhub import db as cdb
    from cityhub.db import session_scope
    from cityhub.migrate import alembic_config
    from cityhub.sharing.models import ShareRequest, ShareRequestEvent

    first = call_as("eco_steward", "share_request_create", payload(w, resource_id=w["conditional"]["rid"]))
    cfg = alembic_config(w["store"].url)
    cdb.reset_caches()
    command.downgrade(cfg, "0014")
    try:
        with session_scope() as s:
            src = s.get_one(ShareRequest, first["id"])
            dup = ShareRequest(**{c.key: getattr(src, c.key) for c in ShareRequest.__table__.columns if c.key != "id"})
            s.add(dup)
            s.flush()
            dup_id = dup.id
    finally:
        cdb.reset_caches()
        command.upgrade(cfg, "head")
        cdb.reset_caches()
    with session_scope() as s:
        assert s.get(ShareRequest, first["id"]).status == "submitted"  # type: ignore[union-attr]
        assert s.get(ShareRequest, dup_id).status == "withdrawn"  # type: ignore[union-attr]
        notes = list(s.scalars(select(ShareRequestEvent.note).where(ShareRequestEvent.request_id == dup_id)))
    assert any("0020" in n for n in notes)
    with pytest.raises(IntegrityError) as e, session_scope() as s:  # and the index is back
        again = s.get_one(ShareRequest, dup_id)
        again.status = "submitted"
        s.flush()
    assert "uq_share_request_pending_system" in str(e.value.orig)
    call_as("eco_steward", "share_request_withdraw", {"id": first["id"]})
