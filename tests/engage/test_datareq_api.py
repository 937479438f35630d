"""Data requests through the actions and the native API (``/api/data-requests``): ask → route → answer, the
public board, the history and activities, escalation, late answers, duplicates, and the bad input the issue
names (wrong department, anonymous ask, routing by a non-office user, unknown department, over-long fields,
script-laden text)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cityhub.errors import Conflict, NotAuthenticated, NotAuthorized, ValidationError
from tests.conftest import call_as, token_for
from tests.engage.conftest import ask


@pytest.fixture
def client(w: dict[str, Any]) -> Iterator[TestClient]:
    from cityhub.web.app import create_app

    with TestClient(create_app(), base_url="http://127.0.0.1:8000") as c:
        yield c


def bearer(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(name)}"}


def activities(rid: int) -> list[tuple[str, str]]:
    from cityhub.db import session_factory
    from cityhub.social.models import Activity

    with session_factory()() as s:
        rows = s.execute(select(Activity.activity_type, Activity.data).where(
            Activity.object_type == "data_request", Activity.object_id == str(rid)).order_by(Activity.id)).all()
    return [(t, d["event"]) for t, d in rows]


def test_ask_route_answer_through_the_actions(w: dict[str, Any], today: Any) -> None:
    today("2026-09-28")
    r = ask(department="gz-transport", contact="13800000000")
    assert r["status"] == "submitted" and r["suggested_department"]["slug"] == "gz-transport"
    assert r["contact"] == "13800000000" and r["deadline"] is None
    # public: anonymous reads it, without the contact
    seen = call_as(None, "data_request_show", {"id": r["id"]})
    assert seen["title"] == r["title"] and seen["contact"] is None and not seen["may_answer"]
    assert r["id"] in [x["id"] for x in call_as(None, "data_request_list", {})["results"]]

    routed = call_as("admin", "data_request_route", {"id": r["id"], "department": "gz-transport", "note": "交通数据"})
    # 3 working days would be 8 October; with the default 20: the 20th working day after 28 September 2026
    assert routed["status"] == "routed" and routed["deadline"] == "2026-10-30"
    assert call_as("steward", "data_request_show", {"id": r["id"]})["contact"] == "13800000000"
    assert call_as("eco_steward", "data_request_show", {"id": r["id"]})["contact"] is None

    answered = call_as("steward", "data_request_answer", {"id": r["id"], "kind": "will_open",
                                                           "open_by": "2026-12-31", "text": "列入明年开放计划"})
    assert answered["status"] == "answered" and answered["answer"]["open_by"] == "2026-12-31"
    assert answered["answer"]["late"] is False and answered["late"] is False
    assert [e["event"] for e in answered["events"]] == ["submitted", "routed", "answered"]
    assert activities(r["id"]) == [("new data request", "submitted"), ("changed data request", "routed"),
                                   ("changed data request", "answered")]
    with pytest.raises(Conflict):  # answered once
        call_as("steward", "data_request_answer", {"id": r["id"], "kind": "cannot_open", "legal_basis": "保密法第九条"})


def test_answers_already_open_and_cannot_open(w: dict[str, Any]) -> None:
    r = ask()
    call_as("admin", "data_request_route", {"id": r["id"], "department": "gz-transport"})
    with pytest.raises(ValidationError) as exc:  # a dataset the public cannot see is no answer
        call_as("steward", "data_request_answer", {"id": r["id"], "kind": "already_open", "dataset": w["draft"]})
    assert "dataset" in exc.value.fields
    with pytest.raises(ValidationError) as exc:
        call_as("steward", "data_request_answer", {"id": r["id"], "kind": "already_open"})
    with pytest.raises(ValidationError) as exc:
        call_as("steward", "data_request_answer", {"id": r["id"], "kind": "already_open", "url": "javascript:alert(1)"})
    assert "url" in exc.value.fields
    out = call_as("deptadmin", "data_request_answer", {"id": r["id"], "kind": "already_open", "dataset": w["dataset"],
                                                        "url": "https://data.gz.gov.cn/x"})
    assert out["answer"]["dataset"]["name"] == w["dataset"] and out["answer"]["url"] == "https://data.gz.gov.cn/x"

    r2 = ask()
    call_as("admin", "data_request_route", {"id": r2["id"], "department": "gz-transport"})
    with pytest.raises(ValidationError) as exc:  # a refusal without its legal basis
        call_as("steward", "data_request_answer", {"id": r2["id"], "kind": "cannot_open"})
    assert "legal_basis" in exc.value.fields
    with pytest.raises(ValidationError) as exc:  # fields of another kind of answer
        call_as("steward", "data_request_answer", {"id": r2["id"], "kind": "cannot_open", "legal_basis": "保密法第九条",
                                                   "open_by": "2030-01-01"})
    assert "open_by" in exc.value.fields
    with pytest.raises(ValidationError):  # a past opening date
        call_as("steward", "data_request_answer", {"id": r2["id"], "kind": "will_open", "open_by": "2001-01-01"})
    out = call_as("steward", "data_request_answer", {"id": r2["id"], "kind": "cannot_open",
                                                      "legal_basis": "《中华人民共和国保守国家秘密法》第九条"})
    assert out["answer"]["legal_basis"].startswith("《中华人民共和国")


def test_wrong_department_and_non_office_are_refused(w: dict[str, Any]) -> None:
    r = ask()
    with pytest.raises(NotAuthenticated):  # anonymous ask
        call_as(None, "data_request_create", {"title": "某数据", "description": "某某数据的详细说明。"})
    with pytest.raises(NotAuthorized):  # routing by a non-office user, before the input is even looked at
        call_as("steward", "data_request_route", {"id": r["id"], "department": "gz-transport"})
    with pytest.raises(NotAuthorized):  # not routed yet: nobody's to answer
        call_as("steward", "data_request_answer", {"id": r["id"], "kind": "will_open", "open_by": "2030-01-01"})
    call_as("admin", "data_request_route", {"id": r["id"], "department": "gz-transport"})
    for who in ("eco_steward", "analyst", "citizen"):  # another department; no steward; the public
        with pytest.raises(NotAuthorized):
            call_as(who, "data_request_answer", {"id": r["id"], "kind": "will_open", "open_by": "2030-01-01"})
    with pytest.raises(NotAuthorized):  # the office answers only escalated requests
        call_as("admin", "data_request_answer", {"id": r["id"], "kind": "will_open", "open_by": "2030-01-01"})
    with pytest.raises(NotAuthorized):  # only the asker withdraws
        call_as("citizen2", "data_request_withdraw", {"id": r["id"]})
    with pytest.raises(NotAuthorized):
        call_as("steward", "data_request_close", {"id": r["id"], "reason": "重复"})
    with pytest.raises(ValidationError) as exc:  # unknown department, when asking and when routing
        ask(department="gz-no-such-bureau")
    assert exc.value.fields == {"department": ["unknown"]}
    with pytest.raises(ValidationError) as exc:
        call_as("admin", "data_request_route", {"id": r["id"], "department": "gz-no-such-bureau"})
    assert "department" in exc.value.fields
    assert call_as("citizen", "data_request_withdraw", {"id": r["id"]})["status"] == "withdrawn"
    with pytest.raises(Conflict):
        call_as("steward", "data_request_answer", {"id": r["id"], "kind": "will_open", "open_by": "2030-01-01"})
    denied = {(x["action"], x["outcome"]) for x in call_as("admin", "audit_list", {"limit": 100})}
    assert ("data_request_answer", "denied") in denied and ("data_request_route", "denied") in denied


def test_over_long_and_script_laden_input(w: dict[str, Any]) -> None:
    for over in ({"title": "长" * 201}, {"description": "长" * 5001}, {"purpose": "长" * 2001},
                 {"contact": "1" * 201}, {"title": "短"}, {"unexpected": "x"}):
        with pytest.raises(ValidationError):
            ask(**over)
    script = '<script>alert("x")</script><img src=x onerror=alert(1)> 需要数据'
    r = ask(title=script[:200], description=script)
    assert call_as(None, "data_request_show", {"id": r["id"]})["description"] == script  # kept as typed


def test_reroute_late_answer_and_escalation(w: dict[str, Any], today: Any) -> None:
    today("2026-09-28")
    from cityhub.settings import get_settings

    r = ask()
    routed = call_as("admin", "data_request_route", {"id": r["id"], "department": "gz-ecology-environment"})
    assert routed["deadline"] == "2026-10-30"
    with pytest.raises(Conflict):
        call_as("admin", "data_request_route", {"id": r["id"], "department": "gz-ecology-environment"})
    today("2026-09-30")
    rerouted = call_as("admin", "data_request_route", {"id": r["id"], "department": "gz-transport", "note": "改派"})
    assert rerouted["department"]["slug"] == "gz-transport"
    assert rerouted["deadline"] == "2026-11-03"  # counted again from the re-routing, across National Day
    assert [e["event"] for e in rerouted["events"]][-2:] == ["routed", "rerouted"]
    assert get_settings().datareq_answer_working_days == 20

    today("2026-11-03")  # due today: not overdue, nothing to escalate
    assert r["id"] not in call_as("admin", "data_request_escalate", {})["escalated"]
    today("2026-11-04")
    listed = call_as(None, "data_request_list", {"overdue": True, "department": "gz-transport", "limit": 100})
    assert r["id"] in [x["id"] for x in listed["results"]] and listed["summary"]["overdue"] >= 1
    assert call_as(None, "data_request_show", {"id": r["id"]})["overdue"] is True
    assert r["id"] in call_as("admin", "data_request_escalate", {})["escalated"]
    assert r["id"] not in call_as("admin", "data_request_escalate", {})["escalated"]  # once
    with pytest.raises(NotAuthorized):
        call_as("steward", "data_request_escalate", {})

    late = call_as("steward", "data_request_answer", {"id": r["id"], "kind": "will_open", "open_by": "2027-03-01"})
    assert late["status"] == "answered" and late["late"] is True and late["answer"]["late"] is True
    assert late["overdue"] is False
    summary = call_as(None, "data_request_list", {"department": "gz-transport", "limit": 1})["summary"]
    assert summary["late"] >= 1
    assert ("changed data request", "escalated") in activities(r["id"])


def test_office_answers_escalated_requests(w: dict[str, Any], today: Any) -> None:
    today("2026-09-28")
    r = ask()
    call_as("admin", "data_request_route", {"id": r["id"], "department": "gz-transport"})
    today("2026-12-01")
    call_as("admin", "data_request_escalate", {})
    out = call_as("admin", "data_request_answer", {"id": r["id"], "kind": "cannot_open", "legal_basis": "个人信息保护法"})
    assert out["answer"]["answered_by"] == "admin" and out["late"] is True


def test_duplicates_are_closed_with_a_link(w: dict[str, Any]) -> None:
    original, dup = ask(), ask("citizen2")
    with pytest.raises(ValidationError):
        call_as("admin", "data_request_close", {"id": dup["id"], "duplicate_of": dup["id"]})
    with pytest.raises(ValidationError):
        call_as("admin", "data_request_close", {"id": dup["id"], "duplicate_of": 2**31 - 1})
    with pytest.raises(ValidationError):  # neither a duplicate nor a reason
        call_as("admin", "data_request_close", {"id": dup["id"]})
    closed = call_as("admin", "data_request_close", {"id": dup["id"], "duplicate_of": original["id"],
                                                      "reason": "与原需求相同"})
    assert closed["status"] == "closed" and closed["merged_into_id"] == original["id"]
    assert dup["id"] in call_as(None, "data_request_show", {"id": original["id"]})["duplicates"]
    with pytest.raises(Conflict):
        call_as("citizen2", "data_request_withdraw", {"id": dup["id"]})
    other = ask()
    assert call_as("admin", "data_request_close", {"id": other["id"], "reason": "不属于政务数据"})["status"] == "closed"


def test_board_filters_and_keyset_paging(w: dict[str, Any]) -> None:
    word = "潮汐车道" + str(id(w))[-5:]
    ids = [ask(title=f"{word} 数据 {i}")["id"] for i in range(5)]
    page1 = call_as(None, "data_request_list", {"q": word, "limit": 2})
    assert page1["count"] == 5 and page1["count_capped"] is False and [x["id"] for x in page1["results"]] == ids[::-1][:2] and page1["next"]
    page2 = call_as(None, "data_request_list", {"q": word, "limit": 2, "cursor": page1["next"]})
    assert [x["id"] for x in page2["results"]] == ids[::-1][2:4]
    oldest = call_as(None, "data_request_list", {"q": word, "sort": "oldest", "limit": 10})
    assert [x["id"] for x in oldest["results"]] == ids and oldest["next"] is None
    assert call_as(None, "data_request_list", {"q": "100%_不存在", "limit": 5})["count"] == 0  # LIKE wildcards
    assert call_as(None, "data_request_list", {"q": "100%_x", "limit": 5})["count"] == 0
    latin = ask(title=f"GTFS {word} feed")["id"]
    assert [x["id"] for x in call_as(None, "data_request_list", {"q": f"gtfs {word}"})["results"]] == [latin]
    call_as("admin", "data_request_route", {"id": ids[0], "department": "gz-ecology-environment"})
    routed = call_as(None, "data_request_list", {"q": word, "status": "routed"})
    assert [x["id"] for x in routed["results"]] == [ids[0]]
    assert [x["id"] for x in call_as(None, "data_request_list", {"q": word, "department": "gz-ecology-environment"})
            ["results"]] == [ids[0]]
    assert call_as(None, "data_request_list", {"q": word, "min_age_days": 1})["count"] == 0  # all asked today
    assert call_as(None, "data_request_list", {"q": word, "min_age_days": 0})["count"] == 6
    with pytest.raises(NotAuthenticated):
        call_as(None, "data_request_list", {"mine": True})
    assert call_as("citizen", "data_request_list", {"mine": True, "q": word})["count"] == 6
    with pytest.raises(ValidationError):
        call_as(None, "data_request_list", {"limit": 1000})


def test_api_flow_and_error_shape(client: TestClient, w: dict[str, Any]) -> None:
    body = {"title": "停车场实时泊位", "description": "各停车场的实时空余泊位数量。", "department": "gz-transport"}
    anonymous = client.post("/api/data-requests", json=body)
    assert anonymous.status_code == 401 and anonymous.json()["error"]["type"] == "not_authenticated"
    created = client.post("/api/data-requests", json=body, headers=bearer("citizen"))
    assert created.status_code == 201, created.text
    rid = created.json()["id"]
    assert client.get(f"/api/data-requests/{rid}").json()["status"] == "submitted"  # public
    assert rid in [x["id"] for x in client.get("/api/data-requests", params={"status": "submitted"})
                   .json()["results"]]
    too_long = client.post("/api/data-requests", json={**body, "title": "长" * 201}, headers=bearer("citizen"))
    assert too_long.status_code == 422 and "title" in str(too_long.json()["error"])
    not_office = client.post(f"/api/data-requests/{rid}/route", json={"department": "gz-transport"},
                             headers=bearer("steward"))
    assert not_office.status_code == 403 and not_office.json()["error"]["type"] == "not_authorized"
    unknown = client.post(f"/api/data-requests/{rid}/route", json={"department": "nowhere"},
                          headers=bearer("admin"))
    assert unknown.status_code == 422 and unknown.json()["error"]["fields"]["department"] == ["unknown"]
    assert client.post(f"/api/data-requests/{rid}/route", json={"department": "gz-transport"},
                       headers=bearer("admin")).status_code == 200
    answer = {"kind": "will_open", "open_by": "2030-06-30", "text": "计划开放"}
    wrong = client.post(f"/api/data-requests/{rid}/answer", json=answer, headers=bearer("eco_steward"))
    assert wrong.status_code == 403 and wrong.json()["error"]["message_en"]
    ok = client.post(f"/api/data-requests/{rid}/answer", json=answer, headers=bearer("steward"))
    assert ok.status_code == 200 and ok.json()["answer"]["open_by"] == "2030-06-30"
    assert client.post(f"/api/data-requests/{rid}/answer", json=answer, headers=bearer("steward")).status_code == 409
    assert client.post(f"/api/data-requests/{rid}/withdraw", json={}, headers=bearer("citizen")).status_code == 409
    assert client.get("/api/data-requests/999999").status_code == 404
    assert client.get("/api/data-requests", params={"limit": 101}).status_code == 422
    assert client.post("/api/data-requests/escalate", json={}, headers=bearer("steward")).status_code == 403
    assert client.post("/api/data-requests/escalate", json={}, headers=bearer("admin")).status_code == 200
