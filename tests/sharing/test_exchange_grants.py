"""Exchange reads in the audit tree, and several grants of one system on one resource read together.

* Every exchange call a system was let in for leaves one record in the tamper-evident audit log (system, grant(s),
  resource, rows returned), written with the metered calls by the per-second flush, and the log verifies.
* Two grants in force (different columns, different rows) combine cell by cell (``query.grants.scoped_union``):
  the rows of either grant; a value shown only where one grant covers its row and its column, NULL elsewhere; a
  column of no grant refused; on every path (search, filters, full text, SQL, aggregates).

On SQLite and PostgreSQL (the sharing tests' own store, ``tests/sharing/conftest.py``; the table and the first grant
come from ``test_exchange.xw``, made again for this module)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cityhub.datastore.query.engine import TableRef
from cityhub.datastore.query.grants import scoped_union
from cityhub.errors import NotAuthorized, ValidationError
from tests.conftest import call_as
from tests.sharing.test_exchange import GRANTED, ex, xw  # noqa: F401 - xw is the module's fixture

SECOND = ["编号", "所属区", "姓名"]  # the second grant: the names, of the other district only
SECOND_ROWS = {"所属区": ["越秀区"]}
DISTRICTS = ["天河区", "越秀区", "海珠区"]


def row_of(number: int) -> dict[str, Any]:
    """The CSV's row with 编号 ``number`` (tests/sharing/test_exchange.py)."""
    i = number - 1000
    return {"所属区": DISTRICTS[i % 3], "姓名": f"居民{i}", "人数": i % 17}


def search(xw: dict[str, Any], **params: Any) -> dict[str, Any]:  # noqa: F811
    result: dict[str, Any] = ex(xw, "exchange_search", {"resource_id": xw["cond"], **params})
    return result


def sql(xw: dict[str, Any], text: str, **params: Any) -> dict[str, Any]:  # noqa: F811
    result: dict[str, Any] = ex(xw, "exchange_sql", {"resource_id": xw["cond"], "sql": text, **params})
    return result


# -- audit of exchange reads ----------------------------------------------------------------------------------------


def _audit_rows(target: str, after: int) -> list[Any]:
    from cityhub.audit import AuditRecord
    from cityhub.db import session_scope

    with session_scope() as db:
        return list(db.execute(select(AuditRecord.seq, AuditRecord.action, AuditRecord.actor, AuditRecord.outcome,
                                      AuditRecord.detail, AuditRecord.via)
                               .where(AuditRecord.target == target, AuditRecord.seq > after)
                               .order_by(AuditRecord.seq)).all())


def _audit_size() -> int:
    from cityhub import audit
    from cityhub.db import session_scope

    with session_scope() as db:
        return audit.count(db)


def test_every_exchange_read_is_in_the_verified_audit_tree(xw: dict[str, Any]) -> None:  # noqa: F811
    from cityhub import audit
    from cityhub.db import session_scope
    from cityhub.sharing.exchange_actions import flush_pending

    flush_pending()
    size = _audit_size()
    search(xw, limit=5, grant_id=xw["grant_id"])
    sql(xw, f'SELECT "编号" FROM "{xw["cond"]}" LIMIT 4', grant_id=xw["grant_id"])
    with pytest.raises(ValidationError):
        search(xw, fields=["日期"])  # let in, then refused: audited with its outcome, no rows
    # nothing on the request path: the records come with the flush (the web process's job, every second)
    assert [r for r in _audit_rows(xw["cond"], size) if r.action.startswith("exchange_")] == []
    flush_pending()
    rows = [r for r in _audit_rows(xw["cond"], size) if r.action in ("exchange_search", "exchange_sql")]
    assert [(r.action, r.outcome) for r in rows] == [("exchange_search", "success"), ("exchange_sql", "success"),
                                                     ("exchange_search", "error:422")]
    details = [json.loads(r.detail) for r in rows]
    assert [d["rows"] for d in details] == [5, 4, 0]
    assert details[0]["grant_id"] == xw["grant_id"] and details[0]["grant_ids"] == [xw["grant_id"]]
    assert details[0]["system_id"] == xw["system_ids"]["sys"] and details[0]["resource_id"] == xw["cond"]
    assert details[0]["client"] == xw["clients"]["sys"] and rows[0].actor == xw["clients"]["sys"]
    assert details[0]["consumer_department_id"] == xw["eco"]
    assert details[0]["provider_department_id"] == xw["transport"]
    assert rows[0].via == "test"  # the call's own channel, not the flush job's
    with session_scope() as db:
        result = audit.verify(db)
        assert result.ok, result.reason
        assert result.count >= rows[-1].seq
        proof = audit.inclusion_proof(db, rows[0].seq, result.count)
    assert proof


def test_a_refused_call_is_audited_once_as_denied_and_not_metered(xw: dict[str, Any]) -> None:  # noqa: F811
    from cityhub.sharing.exchange_actions import flush_pending

    flush_pending()
    size = _audit_size()
    with pytest.raises(NotAuthorized):
        ex(xw, "exchange_search", {"resource_id": xw["other"]})
    flush_pending()
    rows = _audit_rows(xw["other"], size)
    assert [(r.action, r.outcome) for r in rows] == [("exchange_search", "denied")]


def test_a_failed_flush_keeps_the_calls_for_the_next(xw: dict[str, Any], monkeypatch: Any) -> None:  # noqa: F811
    from cityhub.sharing import exchange_actions
    from cityhub.sharing.exchange_actions import flush_pending

    flush_pending()
    size = _audit_size()
    search(xw, limit=2, grant_id=xw["grant_id"])

    def broken(ctx: Any, rows: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(exchange_actions, "_audit_calls", broken)
    with pytest.raises(RuntimeError):
        flush_pending()
    monkeypatch.undo()
    assert [r.action for r in _audit_rows(xw["cond"], size)] == []  # neither the call nor its record landed
    flush_pending()
    assert [(r.action, json.loads(r.detail)["rows"]) for r in _audit_rows(xw["cond"], size)] == [
        ("exchange_search", 2)]


# -- several grants read together -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def second(xw: dict[str, Any]) -> Iterator[int]:  # noqa: F811
    """A second grant in force of the same system on the same table: other columns (the names), other rows."""
    from cityhub.db import session_scope, utcnow
    from cityhub.sharing.models import ShareGrant, ShareRequest

    with session_scope() as db:
        req = ShareRequest(kind="share", dataset_id=xw["cond_ds"], resource_id=xw["cond"],
                           provider_department_id=xw["transport"], department_id=xw["eco"],
                           system_id=xw["system_ids"]["sys"], purpose="越秀区居民核对", columns=SECOND,
                           row_scope=SECOND_ROWS, duration_days=30, status="approved", deadline=dt.date(2026, 12, 31))
        db.add(req)
        db.flush()
        grant = ShareGrant(request_id=req.id, dataset_id=xw["cond_ds"], resource_id=xw["cond"],
                           system_id=xw["system_ids"]["sys"], columns=SECOND, row_filter=SECOND_ROWS,
                           expires_at=utcnow() + dt.timedelta(days=30))
        db.add(grant)
        db.flush()
        gid = grant.id
    yield gid
    with session_scope() as db:
        g = db.get(ShareGrant, gid)
        if g is not None and g.revoked_at is None:
            g.revoked_at = utcnow()


def check_cells(records: list[dict[str, Any]]) -> None:
    """Every value shown is inside a grant that covers its row and its column; everything else is NULL."""
    for r in records:
        want = row_of(int(r["编号"]))
        assert r.get("所属区", want["所属区"]) == want["所属区"]
        assert "日期" not in r
        if want["所属区"] == "越秀区":  # the second grant's rows: names, no counts
            assert r.get("姓名", want["姓名"]) == want["姓名"] and r.get("人数") is None
        else:  # the first grant's rows: counts, no names
            assert r.get("人数", want["人数"]) == want["人数"] and r.get("姓名") is None


def test_two_grants_read_together_cell_by_cell(xw: dict[str, Any], second: int) -> None:  # noqa: F811
    got = search(xw, limit=200, sort="编号")
    assert got["total"] == 120 and len(got["records"]) == 120  # the rows of either grant: all three districts
    assert [f["id"] for f in got["fields"]] == ["_id", "编号", "所属区", "姓名", "人数"]
    check_cells(got["records"])
    assert got["grant_id"] == second and got["grant_ids"] == [second, xw["grant_id"]]  # the newest first


@pytest.mark.parametrize(("params", "total"), [
    ({"filters": {"姓名": "居民4"}}, 1),  # 越秀区: the second grant shows its name
    ({"filters": {"姓名": "居民5"}}, 0),  # 海珠区: no grant shows its name, a filter cannot find it
    ({"q": "居民5"}, 0),
    ({"q": "居民4"}, 1),
    ({"filters": {"人数": 4}}, 4),  # counts only in 天河区 and 海珠区: i % 17 == 4 and i % 3 != 1 (21, 38, 72, 89)
    ({"filters": {"所属区": "越秀区"}, "fields": ["编号", "姓名"]}, 40),
    ({"fields": ["所属区", "人数"], "distinct": True, "filters": {"所属区": "越秀区"}}, 1),  # one row: (越秀区, NULL)
])
def test_every_search_path_sees_the_masked_cells_only(xw: dict[str, Any], second: int, params: dict[str, Any],  # noqa: F811
                                                      total: int) -> None:
    got = search(xw, limit=200, **params)
    assert got["total"] == total
    check_cells([r for r in got["records"] if "编号" in r])


@pytest.mark.parametrize("params", [{"fields": ["日期"]}, {"filters": {"日期": "2024-01-05"}}, {"sort": "日期"}])
def test_a_column_of_no_grant_is_refused_by_name(xw: dict[str, Any], second: int,  # noqa: F811
                                                 params: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as e:
        search(xw, **params)
    assert "outside your grant" in str(e.value.fields) and "日期" in str(e.value.fields)


def test_sql_over_two_grants(xw: dict[str, Any], second: int) -> None:  # noqa: F811
    rid = xw["cond"]
    star = sql(xw, f'SELECT * FROM "{rid}" ORDER BY "编号"')
    assert [f["id"] for f in star["fields"]] == ["_id", "编号", "所属区", "姓名", "人数"]
    assert len(star["records"]) == 120
    check_cells(star["records"])
    counts = sql(xw, f'SELECT "所属区", count("姓名") AS names, count("人数") AS counts, sum("人数") AS total '
                     f'FROM "{rid}" GROUP BY 1 ORDER BY 1')["records"]
    want = {d: sum(i % 17 for i in range(120) if DISTRICTS[i % 3] == d) for d in DISTRICTS}
    assert {r["所属区"]: (r["names"], r["counts"], r["total"]) for r in counts} == {
        "天河区": (0, 40, want["天河区"]), "海珠区": (0, 40, want["海珠区"]), "越秀区": (40, 0, None)}
    # a name of a row the second grant does not cover cannot be reached by any condition, join or subquery
    for text in (f'SELECT count(*) AS n FROM "{rid}" WHERE "姓名" = \'居民5\'',
                 f'SELECT count(*) AS n FROM "{rid}" a JOIN "{rid}" b ON a."_id" = b."_id" '
                 f'WHERE b."姓名" LIKE \'居民%\' AND a."所属区" <> \'越秀区\'',
                 f'SELECT count(*) AS n FROM "{rid}" WHERE "_id" IN (SELECT "_id" FROM "{rid}" '
                 f'WHERE "人数" IS NOT NULL) AND "姓名" IS NOT NULL'):
        assert sql(xw, text)["records"] == [{"n": 0}], text
    with pytest.raises(ValidationError) as e:
        sql(xw, f'SELECT "日期" FROM "{rid}"')
    assert "outside your grant" in str(e.value.fields)


def test_grant_id_reads_one_grant_and_revocation_drops_it(xw: dict[str, Any], second: int) -> None:  # noqa: F811
    only_second = search(xw, limit=200, grant_id=second)
    assert only_second["total"] == 40 and [f["id"] for f in only_second["fields"]] == ["_id", *SECOND]
    only_first = search(xw, limit=200, grant_id=xw["grant_id"])
    assert only_first["total"] == 80 and [f["id"] for f in only_first["fields"]] == ["_id", *GRANTED]
    call_as("deptadmin", "grant_revoke", {"id": second, "reason": "核对完成"})
    after = search(xw, limit=200)  # the next call reads the first grant alone
    assert after["total"] == 80 and [f["id"] for f in after["fields"]] == ["_id", *GRANTED]
    with pytest.raises(ValidationError):
        search(xw, fields=["姓名"])


def test_scoped_union_builds_masks_only_where_a_column_is_covered_by_fewer_rows() -> None:
    table = TableRef("r", Path("/nonexistent.parquet"), 10, [("_id", "integer"), ("a", "text"), ("b", "integer"),
                                                              ("c", "text"), ("d", "text")])
    got = scoped_union(table, [(["a", "b"], {"a": ["x"]}, ()), (["a", "c", "d"], {"a": "y"}, ("d",))])
    assert got.scope is not None
    assert got.scope.columns == ("a", "b", "c")
    assert got.scope.hidden == frozenset({"d"})
    assert got.scope.where_sql == '(("a" = \'x\')) OR (("a" = \'y\'))'
    assert dict(got.scope.masks) == {"b": '("a" = \'x\')', "c": '("a" = \'y\')'}
    view = got.scope.select_sql("t")
    assert 'CASE WHEN (("a" = \'x\')) THEN "b" END AS "b"' in view and '"d"' not in view
    # a grant of every row shows its columns everywhere; one part is exactly the single-grant scope
    wide = scoped_union(table, [(["a"], None, ()), (["a", "b"], {"a": "x"}, ())])
    assert wide.scope is not None and wide.scope.where_sql == "" and dict(wide.scope.masks) == {"b": '("a" = \'x\')'}
    one = scoped_union(table, [(["a"], {"a": "x"}, ())])
    assert one.scope is not None and one.scope.masks == () and one.scope.columns == ("a",)
    with pytest.raises(Exception, match="scope"):
        scoped_union(table, [(["a"], {"zz": 1}, ()), (["a"], None, ())])
