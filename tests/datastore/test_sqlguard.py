"""User SQL: the guard (sqlguard.check_sql) and the sandboxed run (query.run_sql)."""

from __future__ import annotations

import time
from pathlib import Path

import pyarrow as pa
import pytest

from cityhub.datastore.query import QueryError, TableRef, run_sql
from cityhub.datastore.sqlguard import check_sql, denied_function
from tests.datastore.test_query import N, write_main_table, write_range_table


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, TableRef]:
    d = tmp_path_factory.mktemp("sql")
    a = write_main_table(d / "a.parquet")
    a.resource_id = "res-a"
    b = write_range_table(d / "b.parquet", 100, "res-b")
    return {"res-a": a, "res-b": b}


@pytest.fixture(scope="module")
def only_a(tables: dict[str, TableRef]):
    """The user may read res-a only; res-b exists but is private (so it looks nonexistent)."""
    return lambda name: tables["res-a"] if name == "res-a" else None


@pytest.fixture(scope="module")
def both(tables: dict[str, TableRef]):
    return tables.get


def refused(sql: str, resolve) -> QueryError:
    with pytest.raises(QueryError) as ei:
        run_sql(sql, resolve, timeout_s=5)
    err = ei.value
    assert err.message and err.message_en
    return err


# --------------------------------------------------------------------------- what works


def test_group_by_chinese_column(only_a) -> None:
    r = run_sql('SELECT "所属区", count(*) AS n FROM "res-a" GROUP BY 1 ORDER BY 1', only_a)
    assert r["fields"] == [{"id": "所属区", "type": "string"}, {"id": "n", "type": "integer"}]
    assert len(r["records"]) == 5 and all(x["n"] == 200 for x in r["records"])
    assert r["truncated"] is False


def test_with_join_types_and_trailing_semicolon(both) -> None:
    r = run_sql(
        """WITH x AS (SELECT "_id", "值" FROM "res-b" WHERE "值" > 10) -- comment; DROP TABLE y
           SELECT a."_id", a."日期", a."金额", a."时间", a."开放", x."值" FROM "res-a" a JOIN x USING ("_id")
           ORDER BY 1 LIMIT 2;""",
        both,
    )
    assert [f["type"] for f in r["fields"]] == ["integer", "date", "number", "datetime", "boolean", "integer"]
    assert r["records"][0] == {"_id": 5, "日期": "2020-01-05", "金额": 0.05, "时间": "2020-01-01T13:00:00",
                               "开放": False, "值": 12}  # fmt: skip


def test_row_cap_truncates(only_a) -> None:
    r = run_sql('SELECT "_id" FROM "res-a" ORDER BY 1', only_a, row_cap=10)
    assert r["truncated"] is True
    assert [x["_id"] for x in r["records"]] == list(range(1, 11))
    r = run_sql('SELECT "_id" FROM "res-a"', only_a, row_cap=N)
    assert r["truncated"] is False and len(r["records"]) == N


def test_harmless_functions_allowed(only_a) -> None:
    r = run_sql(
        "SELECT upper('abc') AS u, 'x' || \"select\" AS k, range AS r FROM \"res-a\", range(2) LIMIT 1",
        only_a,
    )
    assert r["records"][0]["u"] == "ABC"
    # a column called like a denied function is fine when it is not called
    assert check_sql('SELECT "glob", query FROM t').tables == ("t",)


# --------------------------------------------------------------------------- what is refused


@pytest.mark.parametrize(
    ("sql", "code", "needle"),
    [
        ("SELECT * FROM read_csv('/etc/passwd')", "forbidden_function", "read_csv"),
        ("SELECT * FROM read_csv_auto('/etc/passwd')", "forbidden_function", "read_csv_auto"),
        ("SELECT * FROM \"READ_CSV\"('/etc/passwd')", "forbidden_function", "READ_CSV"),
        ("SELECT * FROM main.read_text /* x */ ('/etc/passwd')", "forbidden_function", "read_text"),
        ("SELECT * FROM read_text('/etc/passwd')", "forbidden_function", "read_text"),
        ("SELECT * FROM read_blob('/etc/passwd')", "forbidden_function", "read_blob"),
        ("SELECT * FROM read_json('/etc/x.json')", "forbidden_function", "read_json"),
        ("SELECT * FROM parquet_metadata('/x.parquet')", "forbidden_function", "parquet_metadata"),
        ("SELECT * FROM sniff_csv('/etc/passwd')", "forbidden_function", "sniff_csv"),
        ("SELECT * FROM query('SELECT 1')", "forbidden_function", "query"),
        ("SELECT * FROM query_table('res-a')", "forbidden_function", "query_table"),
        ("SELECT getenv('HOME')", "forbidden_function", "getenv"),
        ("SELECT 'HOME'.getenv()", "forbidden_function", "getenv"),
        ("SELECT current_setting('threads')", "forbidden_function", "current_setting"),
        ("SELECT * FROM duckdb_settings()", "forbidden_function", "duckdb_settings"),
        ("SELECT * FROM duckdb_views()", "forbidden_function", "duckdb_views"),
        ("SELECT * FROM pragma_version()", "forbidden_function", "pragma_version"),
        ("SELECT * FROM pg_catalog.pg_settings_fn()", "forbidden_function", "pg_settings_fn"),
        ("SELECT * FROM sqlite_scan('/x.db', 't')", "forbidden_function", "sqlite_scan"),
        ("SELECT * FROM iceberg_scan('s')", "forbidden_function", "iceberg_scan"),
        ("SELECT * FROM delta_scan('s')", "forbidden_function", "delta_scan"),
        ("SELECT * FROM glob('/*')", "forbidden_function", "glob"),
        ("SELECT json_execute_serialized_sql('{}')", "forbidden_function", "json_execute_serialized_sql"),
        (
            "WITH x AS (SELECT * FROM read_parquet('/other/file.parquet')) SELECT * FROM x",
            "forbidden_function",
            "read_parquet",
        ),
        ("SELECT 'https://example.com/x.csv' AS u", "forbidden_url", "https://"),
        ("SELECT * FROM 's3://bucket/x.parquet'", "forbidden_url", "s3://"),
        ("COPY t TO '/tmp/x.csv'", "not_select", "COPY"),
        ("COPY (SELECT 1) TO '/tmp/x.csv'", "not_select", "COPY"),
        ("ATTACH '/tmp/x.db'", "not_select", "ATTACH"),
        ("DETACH x", "not_select", "DETACH"),
        ("INSTALL httpfs", "not_select", "INSTALL"),
        ("LOAD httpfs", "not_select", "LOAD"),
        ("PRAGMA version", "not_select", "PRAGMA"),
        ("SET threads=1", "not_select", "SET"),
        ("RESET threads", "not_select", "RESET"),
        ("CALL dbgen(sf=1)", "not_select", "CALL"),
        ("CHECKPOINT", "not_select", "CHECKPOINT"),
        ("EXPORT DATABASE '/tmp/x'", "not_select", "EXPORT"),
        ("IMPORT DATABASE '/tmp/x'", "not_select", ""),
        ("DROP TABLE x", "not_select", "DROP"),
        ("CREATE TABLE x AS SELECT 1", "not_select", "CREATE"),
        ("INSERT INTO x VALUES (1)", "not_select", "INSERT"),
        ("UPDATE x SET a = 1", "not_select", "UPDATE"),
        ("DELETE FROM x", "not_select", "DELETE"),
        ("ALTER TABLE x ADD COLUMN y INT", "not_select", "ALTER"),
        ("VACUUM", "not_select", "VACUUM"),
        ("EXPLAIN ANALYZE SELECT 1", "not_select", "EXPLAIN"),
        ("BEGIN", "not_select", "TRANSACTION"),
        ('DESCRIBE "res-a"', "not_select", "DESCRIBE"),
        ("SHOW TABLES", "not_select", "SHOW"),
        ('SUMMARIZE "res-a"', "not_select", "SUMMARIZE"),
        ('PIVOT "res-a" ON "所属区"', "not_select", "PIVOT"),
        ("SELECT 1; SELECT 2", "multiple_statements", "2"),
        ("SELECT 1; DROP TABLE x", "multiple_statements", "one statement"),
        ("", "invalid_sql", "empty"),
        ("  ; -- nothing", "invalid_sql", "empty"),
        ("SELEC 1", "invalid_sql", "syntax"),
        ('SELECT * FROM main."res-a"', "forbidden_table", "main"),
        ('SELECT * FROM memory.main."res-a"', "forbidden_table", "qualified"),
        ("SELECT * FROM information_schema.tables", "forbidden_table", "information_schema"),
    ],
)
def test_guard_refuses(sql: str, code: str, needle: str, only_a) -> None:
    err = refused(sql, only_a)
    assert err.code == code, err
    assert err.field == "sql"
    assert needle.lower() in err.message_en.lower(), err.message_en


@pytest.mark.parametrize(
    ("sql", "table"),
    [
        ("SELECT * FROM '/etc/passwd'", "/etc/passwd"),  # DuckDB replacement scan of a path
        ("FROM '/etc/passwd'", "/etc/passwd"),
        ('SELECT * FROM "res-b"', "res-b"),  # private table looks nonexistent
        ('SELECT * FROM "res-a" JOIN "res-b" USING ("_id")', "res-b"),
        ('SELECT * FROM "res-a" WHERE "_id" IN (SELECT "_id" FROM "res-b")', "res-b"),
        ("SELECT * FROM duckdb_tables", "duckdb_tables"),
        ("SELECT * FROM pg_settings", "pg_settings"),
        ("SELECT * FROM nope", "nope"),
        ("SELECT * FROM secret_local_table", "secret_local_table"),
    ],
)
def test_unresolved_tables_are_not_found(sql: str, table: str, only_a) -> None:
    err = refused(sql, only_a)
    assert err.code == "not_found"
    assert table in err.message_en and table in err.message


def test_path_of_another_allowed_table_is_refused(tables: dict[str, TableRef], only_a) -> None:
    other = tables["res-b"].path
    err = refused(f'SELECT * FROM "{other}"', only_a)
    assert err.code == "not_found" and str(other) in err.message_en
    err = refused(f"SELECT * FROM '{other}'", only_a)
    assert err.code == "not_found"
    # even the path of the table being read is not a name that resolves
    err = refused(f"SELECT * FROM '{tables['res-a'].path}'", only_a)
    assert err.code == "not_found"


def test_python_variables_are_not_scanned(only_a) -> None:
    secret_local_table = pa.table({"s": ["SECRET"]})  # DuckDB's Python replacement scan would find this
    err = refused("SELECT * FROM secret_local_table", only_a)
    assert err.code == "not_found"
    assert secret_local_table.num_rows == 1


def test_resolver_mapping_a_name_to_a_table_still_sandboxed(tables: dict[str, TableRef]) -> None:
    """Even if the guard were bypassed, the connection itself refuses other files and settings."""
    import duckdb

    from cityhub.datastore.query import sandbox

    with sandbox({"res-a": tables["res-a"].path}) as conn:
        for sql in (
            f"SELECT * FROM '{tables['res-b'].path}'",
            "SELECT * FROM read_text('/etc/passwd')",
            "SELECT * FROM glob('/*')",
            "ATTACH '/tmp/cityhub-x.db'",
            "INSTALL httpfs",
        ):
            with pytest.raises(duckdb.Error):
                conn.execute(sql).fetchall()
        with pytest.raises(duckdb.Error):
            conn.execute("SET lock_configuration=false")


def test_timeout_stops_huge_queries(only_a) -> None:
    t0 = time.perf_counter()
    with pytest.raises(QueryError) as ei:
        run_sql("SELECT count(*) FROM range(10000000000)", only_a, timeout_s=0.5)
    assert ei.value.code == "timeout"
    assert time.perf_counter() - t0 < 5
    t0 = time.perf_counter()
    with pytest.raises(QueryError) as ei:
        run_sql(
            'SELECT count(*), sum(a."_id" * b."_id") FROM "res-a" a, "res-a" b, "res-a" c, "res-a" d',
            only_a,
            timeout_s=0.5,
        )
    assert ei.value.code == "timeout"
    assert "超时" in ei.value.message
    assert time.perf_counter() - t0 < 5


def test_runtime_errors_are_query_errors_without_paths(tables: dict[str, TableRef], only_a) -> None:
    err = refused('SELECT "no such column" FROM "res-a"', only_a)
    assert err.code == "query_failed"
    assert "no such column" in err.message_en
    assert str(tables["res-a"].path) not in err.message_en
    err = refused("SELECT 1/0::INTEGER + 'x'::INTEGER", only_a)
    assert err.code == "query_failed"


def test_row_cap_validated(only_a) -> None:
    with pytest.raises(QueryError):
        run_sql("SELECT 1", only_a, row_cap=0)


def test_denied_function_names() -> None:
    for name in ("read_csv", "READ_PARQUET", "parquet_schema", "duckdb_secrets", "pg_sleep", "sqlite_attach",
                 "iceberg_metadata", "delta_scan", "getenv", "glob", "query", "current_setting", "pragma_table_info"):  # fmt: skip
        assert denied_function(name), name
    for name in ("upper", "count", "range", "strftime", "regexp_matches", "list_transform", "date_trunc"):
        assert not denied_function(name), name


def test_check_sql_returns_clean_statement() -> None:
    c = check_sql('  SELECT * FROM "res-a" ;  ')
    assert c.sql == 'SELECT * FROM "res-a"'
    assert c.tables == ("res-a",)
    c = check_sql('WITH "res-a" AS (SELECT 1 AS x) SELECT * FROM "res-a"')
    assert c.tables == ()  # a CTE is not a table reference


def test_guard_runs_before_any_table_is_resolved() -> None:
    calls: list[str] = []

    def resolve(name: str) -> TableRef | None:
        calls.append(name)
        return None

    with pytest.raises(QueryError):
        run_sql("SELECT * FROM \"res-a\", read_csv('/etc/passwd')", resolve)
    assert calls == []


def test_other_file_is_untouched(tmp_path: Path, only_a) -> None:
    target = tmp_path / "x.csv"
    refused(f"COPY (SELECT 1) TO '{target}'", only_a)
    assert not target.exists()


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM duckdb_views",
        "SELECT sql FROM duckdb_views WHERE view_name = 'res-a'",
        "SELECT * FROM (WITH duckdb_views AS (SELECT 1) SELECT * FROM duckdb_views), duckdb_views",
        "WITH a AS (SELECT * FROM duckdb_views), duckdb_views AS (SELECT 1) SELECT * FROM a",
        'SELECT * FROM "res-a" WHERE EXISTS (SELECT 1 FROM duckdb_views)',
    ],
)
def test_system_views_cannot_hide_behind_ctes(sql: str, only_a) -> None:
    """duckdb_views would show the view definitions (and so the Parquet paths)."""
    err = refused(sql, only_a)
    assert err.code == "not_found" and "duckdb_views" in err.message_en


def test_cte_shadowing_a_table_name_is_fine(only_a) -> None:
    r = run_sql('WITH t AS (SELECT "_id" FROM "res-a" WHERE "_id" < 3) SELECT * FROM t ORDER BY 1', only_a)
    assert r["records"] == [{"_id": 1}, {"_id": 2}]
    r = run_sql(
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT sum(n) s FROM r",
        only_a,
    )
    assert r["records"] == [{"s": 15}]


def test_parse_tree_check_catches_functions_too() -> None:
    from cityhub.datastore.sqlguard import referenced_tables

    with pytest.raises(QueryError) as ei:
        referenced_tables("SELECT * FROM read_csv('/etc/passwd')")
    assert ei.value.code == "forbidden_function"
    assert referenced_tables('SELECT * FROM "Res-A" a JOIN "res-a" b USING ("_id"), x') == ("Res-A", "x")
