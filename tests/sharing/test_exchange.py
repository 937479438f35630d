"""The exchange API: a registered system reads a shared resource within its grant, through every datastore path
(search with filters, q, fields, sort, distinct, totals, cursor; SQL), and never a column or row outside it;
credentials and grants are checked on every call; every call is metered and reported. On SQLite and PostgreSQL
(the sharing tests' own small store, `tests/sharing/conftest.py`)."""

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
from tests.conftest import call_as, open_dataset, unique

DISTRICTS = ["天河区", "越秀区", "海珠区"]
CSV = "编号,所属区,姓名,人数,日期\n" + "".join(
    f"{1000 + i},{DISTRICTS[i % 3]},居民{i},{i % 17},2024-01-{1 + i % 28:02d}\n" for i in range(120))
GRANTED = ["编号", "所属区", "人数"]
ROW_FILTER = {"所属区": ["天河区", "海珠区"]}


@pytest.fixture(scope="module")
def xw(world: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A conditionally shared table of the transport bureau, an unconditionally shared one, a 不予共享 one; two
    systems of the ecology bureau (one deactivated), a grant of three columns and two districts."""
    world["store"].activate()  # the sharing tests' own small store (tests/sharing/conftest.py), per backend
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


def sys_ctx(xw: dict[str, Any], key: str = "sys", client: str | None = None, token: str | None = None) -> Context:
    ctx = Context(source="127.0.0.1", via="test")
    ctx.extra[CLIENT] = client if client is not None else xw["clients"][key]
    ctx.extra[TOKEN] = token if token is not None else xw["tokens"][key]
    return ctx


def ex(xw: dict[str, Any], action: str, data: dict[str, Any], key: str = "sys", **creds: Any) -> Any:
    return actions.call(action, sys_ctx(xw, key, **creds), data)


def search(xw: dict[str, Any], **params: Any) -> dict[str, Any]:
    result: dict[str, Any] = ex(xw, "exchange_search", {"resource_id": xw["cond"], **params})
    return result


def owner_search(xw: dict[str, Any], **params: Any) -> dict[str, Any]:
    result: dict[str, Any] = call_as("steward", "datastore_search", {"resource_id": xw["cond"], **params})
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
def test_scoped_search_equals_unscoped_search_with_the_grant_applied(xw: dict[str, Any],
                                                                     params: dict[str, Any]) -> None:
    got = search(xw, **params)
    own_filters = dict(params.get("filters") or {})
    mine = own_filters.pop("所属区", None)
    allowed = ROW_FILTER["所属区"] if mine is None else [d for d in ROW_FILTER["所属区"] if d == mine] or ["-none-"]
    q = params.get("q")
    ranks = [] if q is None else ["rank"] if isinstance(q, str) else [f"rank {c}" for c in q]
    fields = params.get("fields") or ["_id", *GRANTED, *ranks]
    want = owner_search(xw, **{**params, "filters": {**own_filters, "所属区": allowed}, "fields": fields})
    assert got["records"] == want["records"]
    assert got["total"] == want["total"]
    assert [f["id"] for f in got["fields"]] == [f["id"] for f in want["fields"]]
    assert got["grant_id"] == xw["grant_id"]


def test_whole_scope_total_and_cursor_paging_stay_inside_the_grant(xw: dict[str, Any]) -> None:
    first = search(xw, limit=30)
    assert first["total"] == 80 and [f["id"] for f in first["fields"]] == ["_id", *GRANTED]
    seen = list(first["records"])
    cursor = first["next_cursor"]
    while cursor:
        page = search(xw, limit=30, cursor=cursor)
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
def test_a_column_outside_the_grant_is_refused_by_name(xw: dict[str, Any], params: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as e:
        search(xw, **params)
    assert "outside your grant" in str(e.value.fields)
    assert "姓名" in str(e.value.fields) or "日期" in str(e.value.fields)


def test_full_text_over_the_whole_row_does_not_search_hidden_columns(xw: dict[str, Any]) -> None:
    assert owner_search(xw, q="居民5")["total"] == 1  # the name column holds it
    assert search(xw, q="居民5")["total"] == 0


def sql(xw: dict[str, Any], text: str, key: str = "sys") -> dict[str, Any]:
    result: dict[str, Any] = ex(xw, "exchange_sql", {"resource_id": xw["cond"], "sql": text}, key)
    return result


def test_sql_reads_only_the_granted_columns_and_rows(xw: dict[str, Any]) -> None:
    rid = xw["cond"]
    got = sql(xw, f'SELECT "所属区", count(*) AS n FROM "{rid}" GROUP BY 1 ORDER BY 1')
    assert got["records"] == [{"所属区": "天河区", "n": 40}, {"所属区": "海珠区", "n": 40}]
    star = sql(xw, f'SELECT * FROM "{rid}" LIMIT 1')
    assert [f["id"] for f in star["fields"]] == ["_id", *GRANTED]


@pytest.mark.parametrize("text", [
    'SELECT "姓名" FROM "{rid}"',
    'SELECT count(DISTINCT 姓名) FROM "{rid}"',
    'SELECT "编号" FROM "{rid}" WHERE "日期" > DATE \'2024-01-05\'',
    'SELECT * FROM "{rid}" ORDER BY "姓名"',
])
def test_sql_naming_a_column_outside_the_grant_is_refused_by_name(xw: dict[str, Any], text: str) -> None:
    with pytest.raises(ValidationError) as e:
        sql(xw, text.format(rid=xw["cond"]))
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
def test_sql_subqueries_joins_ctes_and_unions_stay_inside_the_rows(xw: dict[str, Any], text: str) -> None:
    assert sql(xw, text.format(rid=xw["cond"]))["records"] == [{"n": 0}]


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
def test_sql_reaching_another_table_or_a_file_is_refused(xw: dict[str, Any], text: str) -> None:
    with pytest.raises((NotFound, ValidationError)):
        sql(xw, text.format(rid=xw["cond"], other=xw["other"], free=xw["free"]))


def test_another_resource_without_a_grant_is_refused(xw: dict[str, Any]) -> None:
    with pytest.raises(NotAuthorized):
        ex(xw, "exchange_search", {"resource_id": xw["other"]})
    with pytest.raises(NotAuthorized):
        ex(xw, "exchange_search", {"resource_id": xw["cond"]}, "bare")  # a system with no grant
    with pytest.raises(NotAuthorized):
        ex(xw, "exchange_search", {"resource_id": xw["cond"], "grant_id": xw["grant_id"]}, "bare")


def test_unconditional_sharing_reads_the_whole_table_and_not_shared_is_refused(xw: dict[str, Any]) -> None:
    whole = ex(xw, "exchange_search", {"resource_id": xw["free"], "limit": 1}, "bare")
    assert whole["total"] == 120 and whole["grant_id"] is None
    assert [f["id"] for f in whole["fields"]] == ["_id", "编号", "所属区", "姓名", "人数", "日期"]
    with pytest.raises(NotAuthorized):
        ex(xw, "exchange_search", {"resource_id": xw["closed"]}, "bare")
    with pytest.raises(NotFound):
        ex(xw, "exchange_search", {"resource_id": "no-such-resource"}, "bare")


# -- credentials and the grant's life ---------------------------------------------------------------------------


def test_credentials_are_checked_on_every_call(xw: dict[str, Any]) -> None:
    data = {"resource_id": xw["cond"]}
    other_code = xw["clients"]["bare"]
    with pytest.raises(NotAuthenticated):  # a forged system code: the token belongs to another system
        ex(xw, "exchange_search", data, client=other_code)
    with pytest.raises(NotAuthenticated):  # the right name, a wrong token
        ex(xw, "exchange_search", data, token="x" * 32)
    with pytest.raises(NotAuthenticated):  # another department's name
        ex(xw, "exchange_search", data, client=xw["clients"]["sys"].replace("gz-ecology-environment",
                                                                                     "gz-transport"))
    with pytest.raises(NotAuthenticated):
        ex(xw, "exchange_search", data, client="", token="")
    with pytest.raises(NotAuthenticated):
        ex(xw, "exchange_search", data, client="no-slash")
    with pytest.raises(NotAuthorized):  # a deactivated system
        ex(xw, "exchange_search", data, "off")


def test_revocation_and_expiry_hold_from_the_next_call(xw: dict[str, Any]) -> None:
    from cityhub.db import session_scope, utcnow
    from cityhub.sharing.models import ShareGrant

    assert search(xw, limit=1)["total"] == 80

    def set_grant(**values: Any) -> None:
        with session_scope() as db:
            grant = db.get_one(ShareGrant, xw["grant_id"])
            for k, v in values.items():
                setattr(grant, k, v)

    try:
        set_grant(revoked_at=utcnow(), revoked_by="steward")
        with pytest.raises(NotAuthorized):
            search(xw, limit=1)
        with pytest.raises(NotAuthorized) as e:
            ex(xw, "exchange_search", {"resource_id": xw["cond"], "grant_id": xw["grant_id"]})
        assert "revoked" in e.value.message_en
        with pytest.raises(NotAuthorized):
            sql(xw, f'SELECT 1 FROM "{xw["cond"]}"')
        set_grant(revoked_at=None, revoked_by="", expires_at=utcnow() - dt.timedelta(seconds=1))
        with pytest.raises(NotAuthorized):
            search(xw, limit=1)
        with pytest.raises(NotAuthorized) as e:
            ex(xw, "exchange_search", {"resource_id": xw["cond"], "grant_id": xw["grant_id"]})
        assert "expired" in e.value.message_en
    finally:
        set_grant(revoked_at=None, revoked_by="", expires_at=utcnow() + dt.timedelta(days=30))
    assert search(xw, limit=1)["total"] == 80


# -- the per-process decision cache (exchange_auth): reused while the change counter (migration 0023) stands ------


def _other_engine() -> Any:
    """A second engine on the same database, as another uvicorn worker (or an operator's SQL session) has."""
    from sqlalchemy import create_engine

    from cityhub.settings import get_settings

    return create_engine(get_settings().resolved_database_url)


def _counter() -> int:
    from sqlalchemy import text

    engine = _other_engine()
    try:
        with engine.connect() as con:
            return int(con.execute(text("SELECT n FROM exchange_change WHERE id = 1")).scalar_one())
    finally:
        engine.dispose()


def _sql(statement: str, **params: Any) -> None:
    """A change made outside the actions, on another connection of another engine, committed."""
    from sqlalchemy import text

    engine = _other_engine()
    try:
        with engine.begin() as con:
            con.execute(text(statement), params)
    finally:
        engine.dispose()


def _statements(run: Any) -> list[str]:
    """The SQL queries ``run()`` sends through the application's engine."""
    from sqlalchemy import event

    from cityhub.db import get_engine

    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not statement.startswith(("BEGIN", "COMMIT", "ROLLBACK")):  # SQLite's transaction is begun by hand
            seen.append(statement)

    event.listen(get_engine(), "before_cursor_execute", count)
    try:
        run()
    finally:
        event.remove(get_engine(), "before_cursor_execute", count)
    return seen


def _cached_queries() -> int:
    """The queries of a call answered from the cache: SQLite's data_version says no commit happened (none), else
    the counter (one)."""
    from cityhub.db import get_engine

    return 0 if get_engine().dialect.name == "sqlite" else 1


def _restore_grant(xw: dict[str, Any]) -> None:
    from cityhub.db import utcnow

    _sql("UPDATE share_grant SET revoked_at = NULL, revoked_by = '', expires_at = :e WHERE id = :id",
         e=utcnow() + dt.timedelta(days=30), id=xw["grant_id"])


def test_a_cached_decision_costs_at_most_one_query_and_holds_while_nothing_changes(xw: dict[str, Any]) -> None:
    first = search(xw, limit=2)
    before = _counter()
    seen = _statements(lambda: search(xw, limit=2))
    assert len(seen) == _cached_queries() and all("exchange_change" in q for q in seen), seen  # at most the counter
    assert search(xw, limit=2)["records"] == first["records"] and _counter() == before
    # other credentials are their own decision: a wrong token is still refused after a good one was cached
    with pytest.raises(NotAuthenticated):
        ex(xw, "exchange_search", {"resource_id": xw["cond"]}, token="x" * 32)


def test_a_call_failing_after_it_was_let_in_leaves_a_usable_decision(xw: dict[str, Any]) -> None:
    _restore_grant(xw)  # a change: the next call decides afresh (and caches), then fails in the datastore
    with pytest.raises(ValidationError):
        search(xw, fields=["姓名"])  # rolled back: the cached live version must not be expired with the session
    assert search(xw, limit=1)["total"] == 80
    assert len(_statements(lambda: search(xw, limit=1))) == _cached_queries()


def test_revocation_through_the_action_is_refused_at_the_next_call(xw: dict[str, Any]) -> None:
    assert search(xw, limit=1)["total"] == 80
    before = _counter()
    try:
        call_as("steward", "grant_revoke", {"id": xw["grant_id"], "reason": "核查结束"})
        assert _counter() > before  # another worker's next call sees the change too
        with pytest.raises(NotAuthorized):
            search(xw, limit=1)
    finally:
        _restore_grant(xw)
    assert search(xw, limit=1)["total"] == 80


@pytest.mark.parametrize(("statement", "refusal"), [
    ("UPDATE share_grant SET revoked_at = :now, revoked_by = 'dba' WHERE id = :id", NotAuthorized),
    ("UPDATE share_grant SET expires_at = :now WHERE id = :id", NotAuthorized),
    ("UPDATE sharing_system SET active = :no WHERE id = :sid", NotAuthorized),
    ("UPDATE sharing_system SET token_hash = upper(token_hash) WHERE id = :sid", NotAuthenticated),  # rotated
    ("UPDATE dataset SET sharing_class = '不予共享' WHERE id = :ds", NotAuthorized),
])
def test_a_change_made_by_sql_in_another_engine_is_refused_at_the_next_call(
        xw: dict[str, Any], statement: str, refusal: type[Exception]) -> None:
    from cityhub.db import utcnow

    assert search(xw, limit=1)["total"] == 80
    assert search(xw, limit=1)["total"] == 80  # cached now
    before = _counter()
    params = {"now": utcnow(), "id": xw["grant_id"], "sid": xw["system_ids"]["sys"], "ds": xw["cond_ds"], "no": False}
    names = [k for k in params if f":{k}" in statement]
    try:
        _sql(statement, **{k: params[k] for k in names})
        assert _counter() > before
        with pytest.raises(refusal):
            search(xw, limit=1)
    finally:
        _restore_grant(xw)
        _sql("UPDATE sharing_system SET active = :yes, token_hash = lower(token_hash) WHERE id = :sid", yes=True,
             sid=xw["system_ids"]["sys"])
        _sql("UPDATE dataset SET sharing_class = '有条件共享' WHERE id = :ds", ds=xw["cond_ds"])
    assert search(xw, limit=1)["total"] == 80


def test_sqlite_a_commit_by_another_process_is_seen_at_the_next_call(xw: dict[str, Any]) -> None:
    """SQLite answers cached calls from ``PRAGMA data_version`` alone: another process's commit must change it."""
    import subprocess
    import sys

    from cityhub.db import get_engine

    engine = get_engine()
    if engine.dialect.name != "sqlite":
        pytest.skip("PRAGMA data_version is SQLite's; PostgreSQL reads the counter on every call (tested above)")
    assert search(xw, limit=1)["total"] == 80
    assert len(_statements(lambda: search(xw, limit=1))) == 0
    script = ("import sqlite3, sys; con = sqlite3.connect(sys.argv[1]); "
              "con.execute('UPDATE sharing_system SET active = 0 WHERE id = ?', (int(sys.argv[2]),)); con.commit()")
    try:
        subprocess.run([sys.executable, "-c", script, str(engine.url.database), str(xw["system_ids"]["sys"])],
                       check=True, timeout=60)
        with pytest.raises(NotAuthorized):
            search(xw, limit=1)
    finally:
        _sql("UPDATE sharing_system SET active = :yes WHERE id = :sid", yes=True, sid=xw["system_ids"]["sys"])
    assert search(xw, limit=1)["total"] == 80


def test_expiry_passing_with_no_change_in_the_database_is_refused(xw: dict[str, Any],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from cityhub.db import utcnow
    from cityhub.sharing import exchange_auth

    expires = utcnow() + dt.timedelta(hours=1)
    try:
        _sql("UPDATE share_grant SET expires_at = :e WHERE id = :id", e=expires, id=xw["grant_id"])
        assert search(xw, limit=1)["total"] == 80
        assert len(_statements(lambda: search(xw, limit=1))) == _cached_queries()  # answered from the cache
        before = _counter()
        monkeypatch.setattr(exchange_auth, "utcnow", lambda: expires + dt.timedelta(seconds=1))
        with pytest.raises(NotAuthorized):
            search(xw, limit=1)
        with pytest.raises(NotAuthorized) as e:
            ex(xw, "exchange_search", {"resource_id": xw["cond"], "grant_id": xw["grant_id"]})
        assert "expired" in e.value.message_en
        assert _counter() == before
    finally:
        monkeypatch.undo()
        _restore_grant(xw)
    assert search(xw, limit=1)["total"] == 80


def test_personal_columns_need_a_grant_that_allows_personal_data(xw: dict[str, Any]) -> None:
    from pathlib import Path

    from cityhub.datastore.query import TableRef
    from cityhub.datastore.query.grants import GrantedRead

    table = TableRef("r", Path("/nonexistent"), 0, [("编号", "integer"), ("姓名", "string")])
    ref = GrantedRead("r", None, None).apply(table, ["姓名"])
    assert ref.columns == [("编号", "integer")] and ref.scope is not None and "姓名" in ref.scope.hidden
    assert GrantedRead("r", None, None, allow_personal=True).apply(table, ["姓名"]).columns == table.columns


# -- metering and usage reports ---------------------------------------------------------------------------------


def test_every_call_is_metered_and_reported(xw: dict[str, Any]) -> None:
    from cityhub.sharing.exchange_actions import flush_pending

    flush_pending()
    before = call_as("admin", "exchange_usage_show", {"grant_id": xw["grant_id"]})["total"]
    search(xw, limit=5)
    search(xw, limit=3, filters={"所属区": "天河区"})
    sql(xw, f'SELECT "编号" FROM "{xw["cond"]}" LIMIT 4')
    with pytest.raises(ValidationError):
        search(xw, fields=["姓名"])  # let in, then refused: metered as an error with no rows
    report = call_as("admin", "exchange_usage_show", {"grant_id": xw["grant_id"]})
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
    assert report["by_grant"][0]["grant_id"] == xw["grant_id"]
    city = call_as("admin", "exchange_usage_show", {"month_from": month, "month_to": month})
    assert city["total"]["records"] >= after["records"]


def test_a_report_waits_for_a_flush_under_way(xw: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """The metering job drains the buffer, then writes and commits: a report asked for in between must not read
    before that commit (it found the buffer empty and missed the call, once, in CI)."""
    import threading
    import time

    from cityhub.sharing import metering
    from cityhub.sharing.exchange_actions import flush_pending

    flush_pending()
    before = call_as("admin", "exchange_usage_show", {"grant_id": xw["grant_id"]})["total"]["calls"]
    search(xw, limit=2)
    drained, real_drain = threading.Event(), metering.drain

    def slow_drain() -> list[dict[str, Any]]:
        rows = real_drain()
        if rows:  # the job's flush: drained, not yet committed
            drained.set()
            time.sleep(0.5)
        return rows

    monkeypatch.setattr(metering, "drain", slow_drain)
    job = threading.Thread(target=flush_pending)
    job.start()
    try:
        assert drained.wait(10)
        report = call_as("admin", "exchange_usage_show", {"grant_id": xw["grant_id"]})
    finally:
        job.join()
    assert report["total"]["calls"] == before + 1


def test_usage_is_shown_to_the_departments_involved_only(xw: dict[str, Any]) -> None:
    mine = call_as("eco_steward", "exchange_usage_show", {})
    assert mine["department_id"] == xw["eco"] and mine["total"]["calls"] > 0
    provider = call_as("steward", "exchange_usage_show", {})
    assert provider["department_id"] == xw["transport"]
    with pytest.raises(NotAuthorized):
        call_as("eco_steward", "exchange_usage_show", {"department_id": xw["transport"]})
    with pytest.raises(NotAuthorized):
        call_as("citizen", "exchange_usage_show", {})
    with pytest.raises(NotAuthenticated):
        call_as(None, "exchange_usage_show", {})
    with pytest.raises(ValidationError):
        call_as("admin", "exchange_usage_show", {"month_from": "2026-13"})


# -- over HTTP: headers, the one error shape, no caching --------------------------------------------------------


@pytest.fixture(scope="module")
def client(xw: dict[str, Any]) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from cityhub.web.app import create_app

    with TestClient(create_app(), base_url="http://127.0.0.1:8000") as c:
        yield c


def headers(xw: dict[str, Any], key: str = "sys", **over: str) -> dict[str, str]:
    return {"X-Road-Client": over.get("client", xw["clients"][key]),
            "Authorization": "Bearer " + over.get("token", xw["tokens"][key])}


def test_http_search_and_sql_with_system_credentials(xw: dict[str, Any], client: Any) -> None:
    rid = xw["cond"]
    r = client.get(f"/api/exchange/{rid}/search", params={"filters": '{"所属区": "天河区"}', "fields": "编号,人数",
                                                          "limit": 2}, headers=headers(xw))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == 40 and [f["id"] for f in body["fields"]] == ["编号", "人数"]
    assert r.headers["cache-control"] == "no-store"
    r = client.post(f"/api/exchange/{rid}/search", json={"sort": "编号 desc", "limit": 1}, headers=headers(xw))
    assert r.status_code == 200 and r.json()["records"][0]["所属区"] in ("天河区", "海珠区")
    r = client.post(f"/api/exchange/{rid}/sql", json={"sql": f'SELECT count(*) AS n FROM "{rid}"'},
                    headers=headers(xw))
    assert r.status_code == 200 and r.json()["records"] == [{"n": 80}]


@pytest.mark.parametrize(("case", "status"), [("none", 401), ("forged", 401), ("token", 401), ("off", 403),
                                              ("bare", 403), ("column", 422)])
def test_http_refusals_have_the_one_error_shape(xw: dict[str, Any], client: Any, case: str, status: int) -> None:
    rid = xw["cond"]
    h: dict[str, str] = {
        "none": {},
        "forged": headers(xw, client=xw["clients"]["bare"]),
        "token": headers(xw, token="y" * 32),
        "off": headers(xw, "off"),
        "bare": headers(xw, "bare"),
        "column": headers(xw),
    }[case]
    params = {"fields": "姓名"} if case == "column" else {}
    r = client.get(f"/api/exchange/{rid}/search", params=params, headers=h)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) >= {"type", "message", "message_en"} and err["message"] and err["message_en"]
    assert "records" not in r.json()


def test_http_no_credentials_is_401_whatever_the_input(xw: dict[str, Any], client: Any) -> None:
    rid = xw["cond"]
    for path, body in (("search", {"no_such_field": 1, "limit": "x"}), ("sql", {"sql": 5})):
        r = client.post(f"/api/exchange/{rid}/{path}", json=body)
        assert r.status_code == 401 and r.json()["error"]["type"] == "not_authenticated", r.text
    r = client.post(f"/api/exchange/{rid}/search", json={"no_such_field": 1}, headers=headers(xw))
    assert r.status_code == 422  # a known system's bad input: said what is wrong


def test_http_usage_report_for_signed_in_users(xw: dict[str, Any], client: Any) -> None:
    from tests.conftest import token_for

    r = client.get("/api/v1/exchange/usage", headers={"Authorization": f"Bearer {token_for('admin')}"})
    assert r.status_code == 200 and r.json()["total"]["calls"] > 0
    assert client.get("/api/v1/exchange/usage").status_code == 401


def test_cli_usage_report(xw: dict[str, Any]) -> None:
    import json

    from typer.testing import CliRunner

    from cityhub.cli.main import app as cli

    search(xw, limit=2)
    result = CliRunner().invoke(cli, ["sharing", "usage", "--json", "--grant", str(xw["grant_id"])])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["grant_id"] == xw["grant_id"] and report["total"]["records"] >= 2
    table = CliRunner().invoke(cli, ["sharing", "usage"])
    assert table.exit_code == 0 and "records" in table.output
    bad = CliRunner().invoke(cli, ["sharing", "usage", "--from", "2026-1"])
    assert bad.exit_code == 2
