"""The sharing workflow through the actions: apply → approve (narrower) → grant in force → revoke; refusals
with reasons; who may answer; widening refused; the sharing classes; escalation of overdue requests; and open
data applications that make the portal serve the data to the approved applicant only."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from cityhub.catalog import visibility
from cityhub.errors import Conflict, NotAuthenticated, NotAuthorized, NotFound, ValidationError
from tests.conftest import call_as


def apply(w: dict[str, Any], ds: str = "conditional", **over: Any) -> dict[str, Any]:
    data = {"kind": "share", "dataset": w[ds]["name"], "system_id": w["system"]["id"],
            "purpose": "大气污染联防联控研判", "legal_basis": "《广州市政务信息共享管理规定》第十五条",
            "columns": ["站点名称", "所属区", "PM2_5"], "row_scope": {"所属区": ["天河区", "越秀区"]},
            "duration_days": 180, **over}
    result: dict[str, Any] = call_as("eco_steward", "share_request_create", data)
    return result


def audit_actions(target: str, outcome: str = "success") -> list[str]:
    rows = call_as("admin", "audit_list", {"target": target, "outcome": outcome, "limit": 200})
    return [r["action"] for r in rows if r["target"] == target]


def test_apply_approve_narrower_grant_then_revoke(w: dict[str, Any]) -> None:
    req = apply(w)
    assert req["status"] == "submitted"
    assert req["provider"]["slug"] == "gz-transport" and req["department"]["slug"] == "gz-ecology-environment"
    assert req["system"]["code"] == w["system"]["code"]
    assert 0 <= req["working_days_left"] <= 10 and not req["overdue"]
    # the provider sees it in its review queue, the requester in its own box
    assert req["id"] in [r["id"] for r in call_as("steward", "share_request_list", {"box": "review"})["results"]]
    assert req["id"] in [r["id"] for r in call_as("eco_steward", "share_request_list", {"box": "mine"})["results"]]
    assert req["id"] not in [r["id"] for r in call_as("steward", "share_request_list", {"box": "mine"})["results"]]

    # narrower without saying why: refused; with a note: narrowed
    narrower = {"id": req["id"], "columns": ["所属区", "PM2_5"], "row_filter": {"所属区": ["天河区"]},
                "duration_days": 90}
    with pytest.raises(ValidationError) as err:
        call_as("steward", "share_request_approve", narrower)
    assert "note" in err.value.fields
    done = call_as("steward", "share_request_approve", {**narrower, "note": "站点名称不在共享范围内"})
    assert done["status"] == "narrowed" and done["decided_by"] == "steward"
    [grant] = done["grants"]
    assert grant["resource_id"] == w["conditional"]["rid"]
    assert grant["system"]["id"] == w["system"]["id"] and grant["user"] is None
    assert grant["columns"] == ["所属区", "PM2_5"] and grant["row_filter"] == {"所属区": ["天河区"]}
    assert grant["in_force"] and not grant["allow_personal"]
    expires = dt.datetime.fromisoformat(grant["expires_at"])
    assert dt.timedelta(days=89) < expires - dt.datetime.now(dt.UTC) <= dt.timedelta(days=90)

    # the exchange layer's seam: the grant in force, as a Scope
    from cityhub.db import session_scope
    from cityhub.sharing.grants import grant_scope, grants_in_force

    with session_scope() as db:
        [g] = grants_in_force(db, resource_id=grant["resource_id"], system_id=w["system"]["id"])
        assert grant_scope(g).columns == ("所属区", "PM2_5")
        assert grants_in_force(db, resource_id=grant["resource_id"], system_id=w["system"]["id"] + 10_000) == []

    # the consumer and the provider list the grant; nobody else does
    assert grant["id"] in [g["id"] for g in call_as("eco_steward", "grant_list", {"side": "consumer"})["results"]]
    assert grant["id"] in [g["id"] for g in call_as("steward", "grant_list", {"side": "provider"})["results"]]
    assert grant["id"] not in [g["id"] for g in call_as(w["third"], "grant_list", {"side": "consumer"})["results"]]

    # the requester may not revoke; the provider may
    with pytest.raises(NotAuthorized):
        call_as("eco_steward", "grant_revoke", {"id": grant["id"], "reason": "不再需要"})
    out = call_as("steward", "grant_revoke", {"id": grant["id"], "reason": "用途已完成"})
    assert out["revoked"][0]["revoked_by"] == "steward" and not out["revoked"][0]["in_force"]
    with session_scope() as db:
        assert grants_in_force(db, resource_id=grant["resource_id"], system_id=w["system"]["id"]) == []
    with pytest.raises(Conflict):
        call_as("steward", "grant_revoke", {"id": grant["id"], "reason": "again"})

    # both sides and the data office read the same history
    history = [e["event"] for e in call_as("eco_steward", "share_request_show", {"id": req["id"]})["events"]]
    assert history == ["submitted", "narrowed", "revoked"]
    assert [e["event"] for e in call_as("admin", "share_request_show", {"id": req["id"]})["events"]] == history
    # and every step is in the audit tree
    steps = audit_actions(f"share_request:{req['id']}")
    assert {"share_request_create", "share_request_approve"} <= set(steps)
    assert "grant_revoke" in audit_actions(f"share_grant:{grant['id']}")


def test_approve_as_asked_is_approved(w: dict[str, Any]) -> None:
    req = apply(w, columns=None, row_scope=None)
    done = call_as("deptadmin", "share_request_approve", {"id": req["id"]})
    assert done["status"] == "approved"
    assert done["grants"][0]["columns"] is None and done["grants"][0]["row_filter"] is None
    with pytest.raises(Conflict):  # answered once
        call_as("deptadmin", "share_request_refuse", {"id": req["id"], "reason": "改变主意"})
    call_as("deptadmin", "grant_revoke", {"request_id": req["id"], "reason": "清理"})


def test_refuse_needs_a_reason_and_shows_it(w: dict[str, Any]) -> None:
    req = apply(w)
    with pytest.raises(ValidationError) as err:
        call_as("steward", "share_request_refuse", {"id": req["id"], "reason": ""})
    assert "reason" in err.value.fields
    done = call_as("steward", "share_request_refuse", {"id": req["id"], "reason": "申请用途与数据共享条件不符"})
    assert done["status"] == "refused" and done["grants"] == []
    seen = call_as("eco_steward", "share_request_show", {"id": req["id"]})
    assert seen["reason"] == "申请用途与数据共享条件不符"
    assert seen["events"][-1] == {**seen["events"][-1], "event": "refused", "note": "申请用途与数据共享条件不符"}


def test_only_the_providing_department_answers(w: dict[str, Any]) -> None:
    req = apply(w)
    # the requesting department sees its request but may not answer it
    with pytest.raises(NotAuthorized):
        call_as("eco_steward", "share_request_approve", {"id": req["id"]})
    # a steward of a third department is told it does not exist
    with pytest.raises(NotFound):
        call_as(w["third"], "share_request_approve", {"id": req["id"]})
    with pytest.raises(NotFound):
        call_as(w["third"], "share_request_show", {"id": req["id"]})
    # the data office sees it, but answers only once it is escalated
    assert call_as("admin", "share_request_show", {"id": req["id"]})["id"] == req["id"]
    with pytest.raises(NotAuthorized):
        call_as("admin", "share_request_approve", {"id": req["id"]})
    with pytest.raises(NotAuthenticated):
        call_as(None, "share_request_show", {"id": req["id"]})
    # the refused approval attempts are audited as denials
    assert audit_actions(f"share_request:{req['id']}", "denied").count("share_request_approve") == 2
    call_as("eco_steward", "share_request_withdraw", {"id": req["id"], "note": "重复提交"})
    assert call_as("steward", "share_request_show", {"id": req["id"]})["status"] == "withdrawn"


def test_widening_is_refused_and_loses_nothing(w: dict[str, Any]) -> None:
    req = apply(w)
    for wider, field in (({"columns": ["站点名称", "身份证号"]}, "columns"),
                         ({"row_filter": {"所属区": ["天河区", "海珠区"]}}, "row_filter"),
                         ({"row_filter": {"PM2_5": [12]}}, "row_filter"),
                         ({"duration_days": 181}, "expires_at")):
        with pytest.raises(ValidationError) as err:
            call_as("steward", "share_request_approve", {"id": req["id"], **wider, "note": "试图扩大"})
        assert field in err.value.fields, (wider, err.value.fields)
    after = call_as("steward", "share_request_show", {"id": req["id"]})
    assert after["status"] == "submitted" and after["grants"] == []
    assert [e["event"] for e in after["events"]] == ["submitted"]
    call_as("eco_steward", "share_request_withdraw", {"id": req["id"]})


def test_sharing_classes(w: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as err:
        apply(w, "not_shared")
    assert "反恐怖主义法" in err.value.message and "反恐怖主义法" in err.value.message_en
    assert err.value.fields["legal_basis"] == ["《中华人民共和国反恐怖主义法》第四十八条"]
    with pytest.raises(ValidationError) as err:
        apply(w, "unconditional")
    assert "无需申请" in err.value.message and "no request is needed" in err.value.message_en
    # the provider's own department does not apply for its own data
    with pytest.raises(ValidationError):
        call_as("steward", "share_request_create", {"dataset": w["conditional"]["name"], "purpose": "自用数据",
                                                    "system_id": w["system"]["id"], "legal_basis": "x"})
    # a system of another department, or none, is refused
    with pytest.raises(ValidationError) as err:
        apply(w, system_id=None)
    assert "system_id" in err.value.fields
    # the public does not file sharing requests
    with pytest.raises(NotAuthorized):
        call_as("citizen", "share_request_create", {"kind": "share", "dataset": w["conditional"]["name"],
                                                    "purpose": "研究用途说明", "system_id": 1})
    # one pending request per system and resource
    first = apply(w)
    with pytest.raises(Conflict):
        apply(w)
    call_as("eco_steward", "share_request_withdraw", {"id": first["id"]})


def test_escalation_of_overdue_requests(w: dict[str, Any]) -> None:
    req = apply(w)
    deadline = dt.date.fromisoformat(req["deadline"])
    # on the deadline itself nothing happens
    out = call_as("admin", "share_request_escalate", {"today": deadline.isoformat()})
    assert req["id"] not in out["escalated"]
    # a week after it, the request is escalated, once
    later = deadline + dt.timedelta(days=7)
    out = call_as("system", "share_request_escalate", {"today": later.isoformat()})
    assert req["id"] in out["escalated"]
    assert req["id"] not in call_as("system", "share_request_escalate", {"today": later.isoformat()})["escalated"]
    seen = call_as("admin", "share_request_show", {"id": req["id"]})
    assert seen["escalated_at"] and seen["events"][-1]["event"] == "escalated"
    assert seen["events"][-1]["detail"]["working_days_overdue"] >= 3
    # it is in the data office's review box, and the data office may now answer it
    assert req["id"] in [r["id"] for r in call_as("admin", "share_request_list", {"box": "review"})["results"]]
    with pytest.raises(NotAuthorized):
        call_as("steward", "share_request_escalate", {})
    done = call_as("admin", "share_request_refuse", {"id": req["id"], "reason": "经协调,不予提供"})
    assert done["status"] == "refused" and done["decided_by"] == "admin"


def test_overdue_flag_counts_working_days() -> None:
    from cityhub.sharing.actions import deadline_for, is_overdue
    from cityhub.sharing.models import ShareRequest

    # filed Friday 26 Sep 2025, before National Day: due Thursday 16 Oct
    req = ShareRequest(status="submitted", deadline=deadline_for(dt.date(2025, 9, 26)).date)
    assert req.deadline == dt.date(2025, 10, 16)
    assert not is_overdue(req, dt.date(2025, 10, 16))  # due today
    assert is_overdue(req, dt.date(2025, 10, 17))
    # due on a Friday: the weekend after it is not yet overdue, the Monday is
    req.deadline = dt.date(2025, 10, 17)
    assert not is_overdue(req, dt.date(2025, 10, 18))
    assert is_overdue(req, dt.date(2025, 10, 20))
    # Spring Festival 2026 (15-23 Feb off, Saturday 14 Feb and 28 Feb make-up working days): filed on Friday
    # 13 Feb, due Thursday 5 Mar; filed during the holiday, counted from Tuesday 24 Feb
    assert deadline_for(dt.date(2026, 2, 13)).date == dt.date(2026, 3, 5)
    assert deadline_for(dt.date(2026, 2, 17)).date == dt.date(2026, 3, 6)
    # a deadline that runs into a year whose schedule nobody has loaded is provisional
    assert deadline_for(dt.date(2026, 12, 24)).provisional
    assert not deadline_for(dt.date(2026, 2, 13)).provisional


def test_a_new_request_is_due_ten_working_days_after_today(w: dict[str, Any]) -> None:
    from cityhub.db import today_local
    from cityhub.sharing.actions import deadline_for

    req = apply(w)
    due = deadline_for(today_local())
    assert req["deadline"] == due.date.isoformat() and req["deadline_provisional"] == due.provisional
    assert req["working_days_left"] == 10
    call_as("eco_steward", "share_request_withdraw", {"id": req["id"]})


def test_system_register_rotate_deactivate(w: dict[str, Any]) -> None:
    from cityhub.db import session_scope
    from cityhub.sharing.grants import system_by_token

    made = call_as("eco_steward", "system_register", {"code": "GZ-EE/tmp-check", "name": "临时系统"})
    assert made["token"].startswith("sys_") and made["department"] == "gz-ecology-environment"
    with pytest.raises(Conflict):
        call_as("eco_steward", "system_register", {"code": "GZ-EE/tmp-check", "name": "重复"})
    with pytest.raises(ValidationError):
        call_as("eco_steward", "system_register", {"code": "bad code!", "name": "x"})
    with pytest.raises(NotAuthorized):  # another department's system
        call_as("eco_steward", "system_register", {"code": "GZ-JT/x", "name": "x", "department": "gz-transport"})
    with pytest.raises(NotAuthorized):
        call_as("steward", "system_token_rotate", {"id": made["id"]})
    listed = call_as("eco_steward", "system_list", {})
    assert made["code"] in [x["code"] for x in listed] and all("token" not in x for x in listed)
    rotated = call_as("eco_steward", "system_token_rotate", {"id": made["id"]})
    with session_scope() as db:
        assert system_by_token(db, made["token"]) is None
        found = system_by_token(db, rotated["token"])
        assert found is not None and found.id == made["id"]
    call_as("eco_steward", "system_deactivate", {"id": made["id"]})
    with session_scope() as db:
        assert system_by_token(db, rotated["token"]) is None
    assert made["code"] not in [x["code"] for x in call_as("eco_steward", "system_list", {})]
    with pytest.raises(ValidationError):  # a deactivated system cannot be named in a request
        apply(w, system_id=made["id"])


def test_open_application_makes_the_portal_serve_the_data(w: dict[str, Any]) -> None:
    ds = w["open_conditional"]

    def access(who: str | None) -> Any:
        return call_as(who, "dataset_show", {"id": ds["name"]})["data_access"]

    def download(who: str | None) -> str:
        try:
            call_as(who, "resource_download", {"id": ds["rid"]})
        except NotAuthorized as exc:
            assert (exc.message, exc.message_en) == visibility.CONDITIONAL
            return "403"
        return "served"

    assert access("citizen") is not None and download("citizen") == "403"
    with pytest.raises(ValidationError):  # an open application covers the whole dataset
        call_as("citizen", "share_request_create", {"kind": "open", "dataset": ds["name"], "purpose": "城市空气研究",
                                                    "columns": ["PM2_5"]})
    req = call_as("citizen", "share_request_create", {"kind": "open", "dataset": ds["name"],
                                                      "purpose": "高校城市空气质量研究", "duration_days": 30})
    assert req["user"] == "citizen" and req["department"] is None
    assert req["id"] in [r["id"] for r in call_as("citizen", "share_request_list", {})["results"]]
    with pytest.raises(NotFound):  # another member of the public does not see it
        call_as(w["third"], "share_request_show", {"id": req["id"]})
    assert download("citizen") == "403"  # applying is not enough

    done = call_as("steward", "share_request_approve", {"id": req["id"], "duration_days": 10,
                                                        "note": "期限缩短为10天"})
    assert done["status"] == "narrowed" and done["grants"][0]["user"] == "citizen"
    assert access("citizen") is None and download("citizen") == "served"
    assert call_as("citizen", "datastore_search", {"resource_id": ds["rid"], "limit": 3})["total"] == 20
    # only the applicant: other citizens and anonymous callers are still refused
    assert download(None) == "403" and access(w["third"]) is not None

    call_as("steward", "grant_revoke", {"request_id": req["id"], "reason": "研究项目已结束"})
    assert access("citizen") is not None and download("citizen") == "403"


def test_expired_grants_end_the_request_and_the_portal_access(w: dict[str, Any]) -> None:
    from sqlalchemy import select, update

    from cityhub.catalog.models import DataGrant
    from cityhub.db import session_scope, utcnow
    from cityhub.sharing.models import ShareGrant

    ds = w["open_conditional"]
    req = call_as("citizen2", "share_request_create", {"kind": "open", "dataset": ds["name"],
                                                       "purpose": "城市空气质量课程作业", "duration_days": 5})
    call_as("steward", "share_request_approve", {"id": req["id"]})
    assert call_as("citizen2", "dataset_show", {"id": ds["name"]})["data_access"] is None
    past = utcnow() - dt.timedelta(minutes=1)
    with session_scope() as db:  # time passes: the grant's end is reached
        db.execute(update(ShareGrant).where(ShareGrant.request_id == req["id"]).values(expires_at=past))
        db.execute(update(DataGrant).where(DataGrant.note == f"share_request:{req['id']}").values(expires_at=past))
    assert call_as("citizen2", "dataset_show", {"id": ds["name"]})["data_access"] is not None
    out = call_as("system", "share_request_escalate", {})
    assert req["id"] in out["expired"]
    seen = call_as("citizen2", "share_request_show", {"id": req["id"]})
    assert seen["status"] == "expired" and seen["events"][-1]["event"] == "expired"
    assert not seen["grants"][0]["in_force"]
    with session_scope() as db:
        assert db.scalar(select(DataGrant.id).where(DataGrant.note == f"share_request:{req['id']}")) is None
    assert req["id"] not in call_as("system", "share_request_escalate", {})["expired"]
