"""The whole path through the sharing workflow's own actions, on SQLite and PostgreSQL: a department's system
applies, the provider approves narrower, the system reads through the exchange API exactly the approved columns
and rows, the call is metered, the provider revokes and the next call is refused; a rotated token and a
deactivated system stop working at once."""

from __future__ import annotations

from typing import Any

import pytest

from cityhub import actions
from cityhub.context import Context
from cityhub.errors import NotAuthenticated, NotAuthorized, ValidationError
from cityhub.sharing.exchange_schemas import CLIENT, TOKEN
from tests.conftest import call_as


def as_system(w: dict[str, Any], action: str, data: dict[str, Any], token: str | None = None) -> Any:
    ctx = Context(source="127.0.0.1", via="test")
    ctx.extra[CLIENT] = f"gz-ecology-environment/{w['system']['code']}"
    ctx.extra[TOKEN] = token or w["system"]["token"]
    return actions.call(action, ctx, data)


def test_apply_approve_consume_revoke(w: dict[str, Any]) -> None:
    rid = w["conditional"]["rid"]
    with pytest.raises(NotAuthorized):  # deny by default: no grant yet
        as_system(w, "exchange_search", {"resource_id": rid})
    req = call_as("eco_steward", "share_request_create", {
        "kind": "share", "dataset": w["conditional"]["name"], "system_id": w["system"]["id"],
        "purpose": "大气污染联防联控研判", "legal_basis": "《广州市政务信息共享管理规定》第十五条",
        "columns": ["站点名称", "所属区", "PM2_5"], "row_scope": {"所属区": ["天河区", "越秀区"]},
        "duration_days": 180})
    with pytest.raises(NotAuthorized):  # a request is not a grant
        as_system(w, "exchange_search", {"resource_id": rid})
    done = call_as("steward", "share_request_approve", {
        "id": req["id"], "columns": ["所属区", "PM2_5"], "row_filter": {"所属区": ["天河区"]}, "duration_days": 90,
        "note": "站点名称不在共享范围内"})
    [grant] = done["grants"]

    got = as_system(w, "exchange_search", {"resource_id": rid, "limit": 100})
    assert [f["id"] for f in got["fields"]] == ["_id", "所属区", "PM2_5"] and got["grant_id"] == grant["id"]
    assert got["total"] == 10 and {r["所属区"] for r in got["records"]} == {"天河区"}
    owner = call_as("steward", "datastore_search", {"resource_id": rid, "filters": {"所属区": "天河区"},
                                                     "fields": ["_id", "所属区", "PM2_5"], "limit": 100})
    assert got["records"] == owner["records"]
    with pytest.raises(ValidationError):  # asked for, but not approved
        as_system(w, "exchange_search", {"resource_id": rid, "fields": ["站点名称"]})
    sql = as_system(w, "exchange_sql", {"resource_id": rid,
                                        "sql": f'SELECT count(*) AS n FROM "{rid}" WHERE "所属区" = \'越秀区\''})
    assert sql["records"] == [{"n": 0}]

    usage = call_as("eco_steward", "exchange_usage_show", {"grant_id": grant["id"]})
    assert usage["total"]["calls"] == 3 and usage["total"]["records"] == 11 and usage["total"]["errors"] == 1
    assert call_as("steward", "exchange_usage_show", {"grant_id": grant["id"]})["total"]["calls"] == 3
    assert call_as(w["third"], "exchange_usage_show", {"grant_id": grant["id"]})["total"]["calls"] == 0

    call_as("steward", "grant_revoke", {"id": grant["id"], "reason": "用途已完成"})
    with pytest.raises(NotAuthorized):
        as_system(w, "exchange_search", {"resource_id": rid})


def test_unconditional_and_not_shared_through_registered_systems(w: dict[str, Any]) -> None:
    whole = as_system(w, "exchange_search", {"resource_id": w["unconditional"]["rid"], "limit": 1})
    assert whole["total"] == 20 and whole["grant_id"] is None
    with pytest.raises(NotAuthorized):
        as_system(w, "exchange_search", {"resource_id": w["not_shared"]["rid"]})


def test_rotated_token_and_deactivated_system_stop_at_once(w: dict[str, Any]) -> None:
    system = call_as("eco_steward", "system_register", {"code": "GZ-EE/flow-check", "name": "流程核查"})
    mine = {**w, "system": system}
    rid = w["unconditional"]["rid"]
    assert as_system(mine, "exchange_search", {"resource_id": rid, "limit": 1})["total"] == 20
    rotated = call_as("eco_steward", "system_token_rotate", {"id": system["id"]})
    with pytest.raises(NotAuthenticated):
        as_system(mine, "exchange_search", {"resource_id": rid})
    assert as_system(mine, "exchange_search", {"resource_id": rid, "limit": 1}, rotated["token"])["total"] == 20
    call_as("eco_steward", "system_deactivate", {"id": system["id"]})
    with pytest.raises((NotAuthenticated, NotAuthorized)):
        as_system(mine, "exchange_search", {"resource_id": rid}, rotated["token"])
