"""The exchange API: a registered system reads a shared resource within its grant, through every datastore path
(search with filters, q, fields, sort, distinct, totals, cursor; SQL), and never a column or row outside it;
credentials and grants are checked on every call; every call is metered and reported."""

from __future__ import annotations

import datetime as dt
import io
import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from cityhub import actions, jobs
from cityhub.catalog.schemas import UploadedFile
from cityhub.context import Context
from cityhub.errors import NotAuthenticated, NotAuthorized, NotFound, ValidationError
from cityhub.sharing.exchange_schemas import CLIENT, TOKEN
from tests.conftest import Store, call_as, open_dataset, unique

DISTRICTS = ["天河区", "越秀区", "海珠区"]
CSV = "编号,所属区,姓名,人数,日期\n" + "".join(
    f"{1000 + i},{DISTRICTS[i % 3]},居民{i},{i % 17},2024-01-{1 + i % 28:02d}\n" for i in range(120))
GRANTED = ["编号", "所属区", "人数"]
ROW_FILTER = {"所属区": ["天河区", "海珠区"]}


@pytest.fixture(scope="module")
def world(sqlite_demo_store: Store) -> Iterator[dict[str, Any]]:
    """A conditionally shared table of the transport bureau, an unconditionally shared one, a 不予共享 one; two
    systems of the ecology bureau (one deactivated), a grant of three columns and two districts."""
    sqlite_demo_store.activate()
    from cityhub.accounts.models import Department
    from cityhub.accounts.security import token_hash
    from cityhub.db import session_scope, utcnow
    from cityhub.sharing.models import ShareGrant, ShareRequest, SharingSystem

    def table(sharing: str) -> tuple[str, int]:
        extra: dict[str, Any] = {} if sharing == "无条件共享" else {"sharing_basis": "《政务信息资源共享管理暂行办法》"}
        if sharing != "无条件共享":
            extra["opening_class"] = "不予开放"
        if sharing == "有条件共享":
            extra["sharing_condition"] = "仅限执法核查使用"
        try:
            ds = open_dataset(sharing_class=sharing, **extra)
        except ValidationError as e:
            raise AssertionError(e.fields) from e
        res = call_as("steward", "resource_create", {"dataset": ds["name"],
                                                     "upload": UploadedFile("居民.csv", io.BytesIO(CSV.encode()))})
        jobs.wait_idle()
        return res["id"], ds["id"]

    cond, cond_ds = table("有条件共享")
    free, _ = table("无条件共享")
    closed, _ = table("不予共享")
    other, _ = table("有条件共享")
    tokens = {"sys": secrets.token_urlsafe(24), "off": secrets.token_urlsafe(24), "bare": secrets.token_urlsafe(24)}
    now = utcnow()
    with session_scope() as db:
        eco = db.query(Department).filter_by(slug="gz-ecology-environment").one()
        transport = db.query(Department).filter_by(slug="gz-transport").one()
        code = unique("sys")
        systems = {}
        for key, active in (("sys", True), ("off", False), ("bare", True)):
            s = SharingSystem(department_id=eco.id, code=f"{code}-{key}", name="环境监测系统",
                              token_hash=token_hash(tokens[key]), active=active)
            db.add(s)
            systems[key] = s
        db.flush()
        req = ShareRequest(kind="share", dataset_id=cond_ds, resource_id=cond, provider_department_id=transport.id,
                           department_id=eco.id, system_id=systems["sys"].id, purpose="环境执法核查",
                           columns=GRANTED, row_scope=ROW_FILTER, duration_days=30, status="approved",
                           deadline=dt.date(2026, 12, 31))
        db.add(req)
        db.flush()
        grant = ShareGrant(request_id=req.id, dataset_id=cond_ds, resource_id=cond, system_id=systems["sys"].id,
                           columns=GRANTED, row_filter=ROW_FILTER, expires_at=now + dt.timedelta(days=30))
        db.add(grant)
        db.flush()
        out = {"cond": cond, "free": free, "closed": closed, "other": other, "grant_id": grant.id,
               "request_id": req.id, "cond_ds": cond_ds, "eco": eco.id, "transport": transport.id,
               "clients": {k: f"gz-ecology-environment/{code}-{k}" for k in systems},
               "system_ids": {k: s.id for k, s in systems.items()}, "tokens": tokens}
    yield out


def sys_ctx(world: dict[str, Any], key: str = "sys", client: str | None = None, token: str | None = None) -> Context:
    ctx = Context(source="127.0.0.1", via="test")
    ctx.extra[CLIENT] = client if client is not None else world["clients"][key]
    ctx.extra[TOKEN] = token if token is not None else world["tokens"][key]
    return ctx


def ex(world: dict[str, Any], action: str, data: dict[str, Any], key: str = "sys", **creds: Any) -> Any:
    return actions.call(action, sys_ctx(world, key, **creds), data)


def search(world: dict[str, Any], **params: Any) -> dict[str, Any]:
    result: dict[str, Any] = ex(world, "exchange_search", {"resource_id": world["cond"], **params})
    return result


def owner_search(world: dict[str, Any], **params: Any) -> dict[str, Any]:
    result: dict[str, Any] = call_as("steward", "datastore_search", {"resource_id": world["cond"], **params})
    return result


# -- equality: the scoped answer is exactly the unscoped answer with the grant's filter and projection ------------


@pytest.mark.parametrize("params", [
    {},
    {"filters": {"所属区": "天河区"}},
    {"filters": {"人数": [1, 2, 3]}, "sort": "人数 desc, 编号"},
    {"fields": ["所属区", "人数"], "distinct": True, "sort": "所属区, 人数"},
    {"sort": "编号 desc", "limit": 7, "offset": 3},
    {"q": "天河区"},
    {"q": {"所属区": "海珠区"}, "limit": 200},
    {"records_format": "csv", "limit": 50},
    {"filters": {"所属区": "越秀区"}},  # outside the grant's rows: nothing
])
def test_scoped_search_equals_unscoped_search_with_the_grant_applied(world: dict[str, Any],
                                                                     params: dict[str, Any]) -> None:
    got = search(world, **params)
    own_filters = dict(params.get("filters") or {})
    mine = own_filters.pop("所属区", None)
    allowed = ROW_FILTER["所属区"] if mine is None else [d for d in ROW_FILTER["所属区"] if d == mine] or ["-none-"]
    q = params.get("q")
    ranks = [] if q is None else ["rank"] if isinstance(q, str) else [f"rank {c}" for c in q]
    fields = params.get("fields") or ["_id", *GRANTED, *ranks]
    want = owner_search(world, **{**params, "filters": {**own_filters, "所属区": allowed}, "fields": fields})
    assert got["records"] == want["records"]
    assert got["total"] == want["total"]
    assert [f["id"] for f in got["fields"]] == [f["id"] for f in want["fields"]]
    assert got["grant_id"] == world["grant_id"]


def test_whole_scope_total_and_cursor_paging_stay_inside_the_grant(world: dict[str, Any]) -> None:
    first = search(world, limit=30)
    assert first["total"] == 80 and [f["id"] for f in first["fields"]] == ["_id", *GRANTED]
    seen = list(first["records"])
    cursor = first["next_cursor"]
    while cursor:
        page = search(world, limit=30, cursor=cursor)
        seen += page["records"]
        cursor = page["next_cursor"]
    assert len(seen) == 80 and {r["所属区"] for r in seen} == {"天河区", "海珠区"}
    assert all(set(r) == {"_id", *GRANTED} for r in seen)


# -- attacks: columns outside the grant, other rows, other resources ----------------------------------------------


@pytest.mark.parametrize("params", [
    {"filters": {"姓名": "居民1"}},
    {"fields": ["编号", "姓名"]},
    {"sort": "姓名"},
    {"sort": ["人数 desc", "\"日期\" asc"]},
    {"q": {"姓名": "居民"}},
    {"fields": ["日期"], "distinct": True},
])
def test_a_column_outside_the_grant_is_refused_by_name(world: dict[str, Any], params: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as e:
        search(world, **params)
    assert "outside your grant" in str(e.value.fields)
    assert "姓名" in str(e.value.fields) or "日期" in str(e.value.fields)


def test_full_text_over_the_whole_row_does_not_search_hidden_columns(world: dict[str, Any]) -> None:
    assert owner_search(world, q="居民5")["total"] == 1  # the name column holds it
    assert search(world, q="居民5")["total"] == 0


def sql(world: dict[str, Any], text: str, key: str = "sys") -> dict[str, Any]:
    result: dict[str, Any] = ex(world, "exchange_sql", {"resource_id": world["cond"], "sql": text}, key)
    return result


def test_sql_reads_only_the_granted_columns_and_rows(world: dict[str, Any]) -> None:
    rid = world["cond"]
    got = sql(world, f'SELECT "所属区", count(*) AS n FROM "{rid}" GROUP BY 1 ORDER BY 1')
    assert got["records"] == [{"所属区": "天河区", "n": 40}, {"所属区": "海珠区", "n": 40}]
    star = sql(world, f'SELECT * FROM "{rid}" LIMIT 1')
    assert [f["id"] for f in star["fields"]] == ["_id", *GRANTED]


@pytest.mark.parametrize("text", [
    'SELECT "姓名" FROM "{rid}"',
    'SELECT count(DISTINCT 姓名) FROM "{rid}"',
    'SELECT "编号" FROM "{rid}" WHERE "日期" > DATE \'2024-01-05\'',
    'SELECT * FROM "{rid}" ORDER BY "姓名"',
])
def test_sql_naming_a_column_outside_the_grant_is_refused_by_name(world: dict[str, Any], text: str) -> None:
    with pytest.raises(ValidationError) as e:
        sql(world, text.format(rid=world["cond"]))
    assert "outside your grant" in str(e.value.fields)


@pytest.mark.parametrize("text", [
    # subqueries, self-joins, CTEs and UNIONs only ever meet the scoped relation: the other district is not there
    'SELECT count(*) AS n FROM (SELECT * FROM "{rid}" WHERE "所属区" = \'越秀区\') t',
    'SELECT count(*) AS n FROM "{rid}" a JOIN "{rid}" b ON a."_id" = b."_id" + 1 WHERE b."所属区" = \'越秀区\'',
    'WITH x AS (SELECT * FROM "{rid}") SELECT count(*) AS n FROM x WHERE "所属区" = \'越秀区\'',
    'SELECT count(*) AS n FROM (SELECT "所属区" FROM "{rid}" UNION ALL SELECT "所属区" FROM "{rid}") u '
    'WHERE "所属区" = \'越秀区\'',
    'SELECT count(*) AS n FROM "{rid}" WHERE "_id" IN (SELECT "_id" + 1 FROM "{rid}") AND "所属区" = \'越秀区\'',
])
def test_sql_subqueries_joins_ctes_and_unions_stay_inside_the_rows(world: dict[str, Any], text: str) -> None:
    assert sql(world, text.format(rid=world["cond"]))["records"] == [{"n": 0}]


@pytest.mark.parametrize("text", [
    'SELECT * FROM "{other}"',  # another resource (the system holds no grant on it)
    'SELECT * FROM "{free}"',  # another resource, even an unconditionally shared one: one resource per call
    'SELECT * FROM "{rid}" UNION ALL SELECT * FROM "{other}"',
    "SELECT * FROM duckdb_views()",
    "SELECT * FROM information_schema.columns",
    "SELECT * FROM main.\"{rid}\"",
    "SELECT * FROM read_parquet('/etc/passwd')",
    "SELECT * FROM '{rid}.parquet'",
])
def test_sql_reaching_another_table_or_a_file_is_refused(world: dict[str, Any], text: str) -> None:
    with pytest.raises((NotFound, ValidationError)):
        sql(world, text.format(rid=world["cond"], other=world["other"], free=world["free"]))


def test_another_resource_without_a_grant_is_refused(world: dict[str, Any]) -> None:
    with pytest.raises(NotAuthorized):
        ex(world, "exchange_search", {"resource_id": world["other"]})
    with pytest.raises(NotAuthorized):
        ex(world, "exchange_search", {"resource_id": world["cond"]}, "bare")  # a system with no grant
    with pytest.raises(NotAuthorized):
        ex(world, "exchange_search", {"resource_id": world["cond"], "grant_id": world["grant_id"]}, "bare")


def test_unconditional_sharing_reads_the_whole_table_and_not_shared_is_refused(world: dict[str, Any]) -> None:
    whole = ex(world, "exchange_search", {"resource_id": world["free"], "limit": 1}, "bare")
    assert whole["total"] == 120 and whole["grant_id"] is None
    assert [f["id"] for f in whole["fields"]] == ["_id", "编号", "所属区", "姓名", "人数", "日期"]
    with pytest.raises(NotAuthorized):
        ex(world, "exchange_search", {"resource_id": world["closed"]}, "bare")
    with pytest.raises(NotFound):
        ex(world, "exchange_search", {"resource_id": "no-such-resource"}, "bare")


# -- credentials and the grant's life ---------------------------------------------------------------------------


def test_credentials_are_checked_on_every_call(world: dict[str, Any]) -> None:
    data = {"resource_id": world["cond"]}
    other_code = world["clients"]["bare"]
    with pytest.raises(NotAuthenticated):  # a forged system code: the token belongs to another system
        ex(world, "exchange_search", data, client=other_code)
    with pytest.raises(NotAuthenticated):  # the right name, a wrong token
        ex(world, "exchange_search", data, token="x" * 32)
    with pytest.raises(NotAuthenticated):  # another department's name
        ex(world, "exchange_search", data, client=world["clients"]["sys"].replace("gz-ecology-environment",
                                                                                     "gz-transport"))
    with pytest.raises(NotAuthenticated):
        ex(world, "exchange_search", data, client="", token="")
    with pytest.raises(NotAuthenticated):
        ex(world, "exchange_search", data, client="no-slash")
    with pytest.raises(NotAuthorized):  # a deactivated system
        ex(world, "exchange_search", data, "off")


def test_revocation_and_expiry_hold_from_the_next_call(world: dict[str, Any]) -> None:
    from cityhub.db import session_scope, utcnow
    from cityhub.sharing.models import ShareGrant

    assert search(world, limit=1)["total"] == 80

    def set_grant(**values: Any) -> None:
        with session_scope() as db:
            grant = db.get(ShareGrant, world["grant_id"])
            assert grant is not None
            for k, v in values.items():
                setattr(grant, k, v)

    try:
        set_grant(revoked_at=utcnow(), revoked_by="steward")
        with pytest.raises(NotAuthorized):
            search(world, limit=1)
        with pytest.raises(NotAuthorized) as e:
            ex(world, "exchange_search", {"resource_id": world["cond"], "grant_id": world["grant_id"]})
        assert "revoked" in e.value.message_en
        with pytest.raises(NotAuthorized):
            sql(world, f'SELECT 1 FROM "{world["cond"]}"')
        set_grant(revoked_at=None, revoked_by="", expires_at=utcnow() - dt.timedelta(seconds=1))
        with pytest.raises(NotAuthorized):
            search(world, limit=1)
        with pytest.raises(NotAuthorized) as e:
            ex(world, "exchange_search", {"resource_id": world["cond"], "grant_id": world["grant_id"]})
        assert "expired" in e.value.message_en
    finally:
        set_grant(revoked_at=None, revoked_by="", expires_at=utcnow() + dt.timedelta(days=30))
    assert search(world, limit=1)["total"] == 80


def test_personal_columns_need_a_grant_that_allows_personal_data(world: dict[str, Any]) -> None:
    from pathlib import Path

    from cityhub.datastore.query import TableRef
    from cityhub.datastore.query.grants import GrantedRead

    table = TableRef("r", Path("/nonexistent"), 0, [("编号", "integer"), ("姓名", "string")])
    ref = GrantedRead("r", None, None).apply(table, ["姓名"])
    assert ref.columns == [("编号", "integer")] and ref.scope is not None and "姓名" in ref.scope.hidden
    assert GrantedRead("r", None, None, allow_personal=True).apply(table, ["姓名"]).columns == table.columns


# -- metering and usage reports ---------------------------------------------------------------------------------


def test_every_call_is_metered_and_reported(world: dict[str, Any]) -> None:
    from cityhub.sharing.exchange_actions import flush_pending

    flush_pending()
    before = call_as("admin", "exchange_usage_show", {"grant_id": world["grant_id"]})["total"]
    search(world, limit=5)
    search(world, limit=3, filters={"所属区": "天河区"})
    sql(world, f'SELECT "编号" FROM "{world["cond"]}" LIMIT 4')
    with pytest.raises(ValidationError):
        search(world, fields=["姓名"])  # let in, then refused: metered as an error with no rows
    report = call_as("admin", "exchange_usage_show", {"grant_id": world["grant_id"]})
    after = report["total"]
    assert after["calls"] - before["calls"] == 4
    assert after["records"] - before["records"] == 12
    assert after["errors"] - before["errors"] == 1
    assert after["bytes"] > before["bytes"]
    month = report["by_month"][-1]["month"]
    assert len(month) == 7 and month[4] == "-"
    consumers = {c["slug"]: c for c in report["by_consumer"]}
    providers = {c["slug"]: c for c in report["by_provider"]}
    assert consumers["gz-ecology-environment"]["records"] >= 12
    assert providers["gz-transport"]["records"] >= 12
    assert report["by_grant"][0]["grant_id"] == world["grant_id"]
    city = call_as("admin", "exchange_usage_show", {"month_from": month, "month_to": month})
    assert city["total"]["records"] >= after["records"]


def test_usage_is_shown_to_the_departments_involved_only(world: dict[str, Any]) -> None:
    mine = call_as("eco_steward", "exchange_usage_show", {})
    assert mine["department_id"] == world["eco"] and mine["total"]["calls"] > 0
    provider = call_as("steward", "exchange_usage_show", {})
    assert provider["department_id"] == world["transport"]
    with pytest.raises(NotAuthorized):
        call_as("eco_steward", "exchange_usage_show", {"department_id": world["transport"]})
    with pytest.raises(NotAuthorized):
        call_as("citizen", "exchange_usage_show", {})
    with pytest.raises(NotAuthenticated):
        call_as(None, "exchange_usage_show", {})
    with pytest.raises(ValidationError):
        call_as("admin", "exchange_usage_show", {"month_from": "2026-13"})


# -- over HTTP: headers, the one error shape, no caching --------------------------------------------------------


@pytest.fixture(scope="module")
def client(world: dict[str, Any]) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from cityhub.web.app import create_app

    with TestClient(create_app(), base_url="http://127.0.0.1:8000") as c:
        yield c


def headers(world: dict[str, Any], key: str = "sys", **over: str) -> dict[str, str]:
    return {"X-Road-Client": over.get("client", world["clients"][key]),
            "Authorization": "Bearer " + over.get("token", world["tokens"][key])}


def test_http_search_and_sql_with_system_credentials(world: dict[str, Any], client: Any) -> None:
    rid = world["cond"]
    r = client.get(f"/api/exchange/{rid}/search", params={"filters": '{"所属区": "天河区"}', "fields": "编号,人数",
                                                          "limit": 2}, headers=headers(world))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == 40 and [f["id"] for f in body["fields"]] == ["编号", "人数"]
    assert r.headers["cache-control"] == "no-store"
    r = client.post(f"/api/exchange/{rid}/search", json={"sort": "编号 desc", "limit": 1}, headers=headers(world))
    assert r.status_code == 200 and r.json()["records"][0]["所属区"] in ("天河区", "海珠区")
    r = client.post(f"/api/exchange/{rid}/sql", json={"sql": f'SELECT count(*) AS n FROM "{rid}"'},
                    headers=headers(world))
    assert r.status_code == 200 and r.json()["records"] == [{"n": 80}]


@pytest.mark.parametrize(("case", "status"), [("none", 401), ("forged", 401), ("token", 401), ("off", 403),
                                              ("bare", 403), ("column", 422)])
def test_http_refusals_have_the_one_error_shape(world: dict[str, Any], client: Any, case: str, status: int) -> None:
    rid = world["cond"]
    h: dict[str, str] = {
        "none": {},
        "forged": headers(world, client=world["clients"]["bare"]),
        "token": headers(world, token="y" * 32),
        "off": headers(world, "off"),
        "bare": headers(world, "bare"),
        "column": headers(world),
    }[case]
    params = {"fields": "姓名"} if case == "column" else {}
    r = client.get(f"/api/exchange/{rid}/search", params=params, headers=h)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) >= {"type", "message", "message_en"} and err["message"] and err["message_en"]
    assert "records" not in r.json()


def test_http_no_credentials_is_401_whatever_the_input(world: dict[str, Any], client: Any) -> None:
    rid = world["cond"]
    for path, body in (("search", {"no_such_field": 1, "limit": "x"}), ("sql", {"sql": 5})):
        r = client.post(f"/api/exchange/{rid}/{path}", json=body)
        assert r.status_code == 401 and r.json()["error"]["type"] == "not_authenticated", r.text
    r = client.post(f"/api/exchange/{rid}/search", json={"no_such_field": 1}, headers=headers(world))
    assert r.status_code == 422  # a known system's bad input: said what is wrong


def test_http_usage_report_for_signed_in_users(world: dict[str, Any], client: Any) -> None:
    from tests.conftest import token_for

    r = client.get("/api/v1/exchange/usage", headers={"Authorization": f"Bearer {token_for('admin')}"})
    assert r.status_code == 200 and r.json()["total"]["calls"] > 0
    assert client.get("/api/v1/exchange/usage").status_code == 401


def test_cli_usage_report(world: dict[str, Any]) -> None:
    import json

    from typer.testing import CliRunner

    from cityhub.cli.main import app as cli

    search(world, limit=2)
    result = CliRunner().invoke(cli, ["sharing", "usage", "--json", "--grant", str(world["grant_id"])])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["grant_id"] == world["grant_id"] and report["total"]["records"] >= 2
    table = CliRunner().invoke(cli, ["sharing", "usage"])
    assert table.exit_code == 0 and "records" in table.output
    bad = CliRunner().invoke(cli, ["sharing", "usage", "--from", "2026-1"])
    assert bad.exit_code == 2
