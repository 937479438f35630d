"""Grant scopes inside the datastore query engine, without the catalog: every query path of a scoped table reads
the granted columns and rows only, the unscoped path is unchanged, and user SQL cannot leave the scoped view."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from cityhub.datastore import query
from cityhub.datastore.query.grants import GrantedRead, scoped, where_sql
from cityhub.datastore.query.sql import shutdown_workers

COLUMNS = [("code", "integer"), ("district", "string"), ("name", "string"), ("amount", "number"),
           ("day", "date"), ("ok", "boolean")]


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> Iterator[query.TableRef]:
    path = tmp_path_factory.mktemp("scoped") / "data.parquet"
    duckdb.sql(f"""COPY (SELECT i AS _id, 1000 + i AS code, ['A', 'B', 'C', NULL][1 + i % 4] AS district,
                    'n' || i::VARCHAR AS name, (i % 7) * 1.5 AS amount, DATE '2024-01-01' + (i % 30)::INTEGER AS day,
                    i % 2 = 0 AS ok FROM range(2000) t(i)) TO '{path}' (FORMAT parquet)""")
    yield query.TableRef("res1", path, 2000, list(COLUMNS))
    shutdown_workers()


def granted(table: query.TableRef) -> query.TableRef:
    return scoped(table, ["code", "district", "amount"], {"district": ["A", None], "ok": True})


def test_row_filter_means_what_datastore_filters_mean(table: query.TableRef) -> None:
    s = granted(table)
    got = query.search(s, limit=5000)
    want = query.search(table, filters={"district": ["A", None], "ok": True}, fields=["_id", "code", "district",
                                                                                        "amount"], limit=5000)
    assert got["records"] == want["records"] and got["total"] == want["total"] == 500
    assert where_sql(table.column_types(), {"name": "it's"}) == "(\"name\" = 'it''s')"
    for flt in ({"day": "2024-01-03"}, {"amount": [1.5, "3"]}, {"code": 1001}, {"ok": "false"}):
        a = query.search(scoped(table, None, flt), limit=5000)
        b = query.search(table, filters=flt, limit=5000)
        assert a["records"] == b["records"] and a["total"] == b["total"] > 0, flt


def test_aggregates_stats_and_exports_see_the_scope_only(table: query.TableRef) -> None:
    s = granted(table)
    agg = query.aggregate(s, group_by=["district"], metrics=[("count", None), ("sum", "amount")])
    want = query.aggregate(table, group_by=["district"], metrics=[("count", None), ("sum", "amount")],
                           filters={"district": ["A", None], "ok": True})
    assert agg["records"] == want["records"]
    stats = query.column_stats(s, "amount")
    assert stats["rows"] == 500
    with pytest.raises(query.QueryError) as e:
        query.column_stats(s, "name")
    assert e.value.code == "outside_grant"
    with pytest.raises(query.QueryError):
        query.aggregate(s, group_by=["district"], metrics=[("max", "day")])
    rows = json.loads(b"".join(query.export(s, "json")))
    assert len(rows) == 500 and set(rows[0]) == {"_id", "code", "district", "amount"}
    csv = b"".join(query.export(s, "csv", filters={"district": "A"})).decode()
    assert csv.splitlines()[0].replace('"', "") == "_id,code,district,amount" and len(csv.splitlines()) == 1 + 500
    with pytest.raises(query.QueryError):
        query.export(s, "csv", fields=["name"])
    with pytest.raises(query.QueryError):
        query.full_csv_path(s, table.path.parent / "cache")


def test_scope_never_leaks_to_other_queries_on_the_cached_database(table: query.TableRef) -> None:
    assert query.search(granted(table), limit=0)["total"] == 500
    whole = query.search(table, limit=1)
    assert whole["total"] == 2000 and "name" in whole["records"][0]
    assert query.search(granted(table), filters={"district": "B"}, limit=1)["total"] == 0


def test_a_grant_fails_closed_on_a_column_the_table_no_longer_has(table: query.TableRef) -> None:
    with pytest.raises(query.QueryError) as e:
        scoped(table, None, {"gone": "x"})
    assert e.value.code == "scope_invalid"
    assert scoped(table, ["code", "gone"], None).columns == [("code", "integer")]  # never widened
    assert GrantedRead("res1", ("code", "name"), None).apply(table, ["name"]).columns == [("code", "integer")]


@pytest.mark.parametrize(("sql", "code"), [
    ('SELECT name FROM res1', "outside_grant"),
    ('SELECT t.name FROM res1 t', "outside_grant"),
    ('SELECT * FROM res2', "not_found"),
    ("SELECT * FROM parquet_scan('x')", "forbidden_function"),
    ("SELECT * FROM duckdb_tables()", "forbidden_function"),
    ("SELECT * FROM main.res1", "forbidden_table"),
])
def test_user_sql_refusals(table: query.TableRef, sql: str, code: str) -> None:
    s = granted(table)
    with pytest.raises(query.QueryError) as e:
        query.run_sql(sql, lambda n: s if n == "res1" else None)
    assert e.value.code == code


def test_user_sql_sees_only_the_scoped_relation(table: query.TableRef) -> None:
    s = granted(table)

    def run(sql: str) -> list[dict[str, object]]:
        records: list[dict[str, object]] = query.run_sql(sql, lambda n: s if n == "res1" else None)["records"]
        return records

    assert run("SELECT count(*) AS n FROM res1") == [{"n": 500}]
    assert run("SELECT count(*) AS n FROM res1 WHERE district = 'B' OR district IS NULL") == [{"n": 0}]
    assert run("SELECT count(*) AS n FROM (SELECT * FROM res1 a, res1 b WHERE a._id = b._id + 1)") == [{"n": 0}]
    assert run("SELECT max(_id) - min(_id) AS span FROM res1") == [{"span": 1996}]
    cols = query.run_sql("SELECT * FROM res1 LIMIT 1", lambda n: s if n == "res1" else None)["fields"]
    assert [c["id"] for c in cols] == ["_id", "code", "district", "amount"]


def test_unscoped_path_unchanged(table: query.TableRef) -> None:
    assert table.view == "res1" and table.scope is None
    assert query.search(table, limit=0)["total"] == 2000
    assert not hasattr(table.column_types(), "hidden") or not table.column_types().hidden  # type: ignore[attr-defined]
    assert Path(table.path).exists()
