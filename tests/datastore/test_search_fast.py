"""The cheaper search path (issue 12, exchange API speed): a first page in file order is read in one pass
instead of ids-then-rows, and one watchdog thread enforces every query's deadline instead of a timer thread per
query. The answers must be exactly those of the two-phase plan and of a plain DuckDB query."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest

from cityhub.datastore.query import QueryError, TableRef, engine, rows, search
from tests.datastore.test_query import write_range_table


@pytest.fixture(scope="module")
def t250k(tmp_path_factory: pytest.TempPathFactory) -> TableRef:
    # 250k rows in three row groups: matches of a sparse filter lie far apart (the two-phase plan's "scattered" case)
    return write_range_table(tmp_path_factory.mktemp("fast") / "t250k.parquet", 250_000, "res-250k")


def expected(table: TableRef, where: str, params: list[Any], limit: int, after: int | None = None) -> list[int]:
    """The page's ids by a plain DuckDB query over the file (no CityHub code)."""
    conn = duckdb.connect()
    try:
        cond = where + (f' AND "_id" > {int(after)}' if after is not None else "")
        got = conn.execute(f"SELECT _id FROM read_parquet('{table.path}') WHERE {cond} ORDER BY _id LIMIT {limit}",
                           params).fetchall()
    finally:
        conn.close()
    return [int(r[0]) for r in got]


CASES = [
    ({"所属区": "天河区"}, '"所属区" = ?', ["天河区"]),  # dense: every 5th row
    ({"值": [3, 600_000, 749_997]}, '"值" IN (?, ?, ?)', [3, 600_000, 749_997]),  # sparse, far apart
    ({"所属区": "天河区", "值": 30}, '"所属区" = ? AND "值" = ?', ["天河区", 30]),  # no row at all
    ({"所属区": ["越秀区", "海珠区"]}, '"所属区" IN (?, ?)', ["越秀区", "海珠区"]),
]


@pytest.mark.parametrize(("filters", "where", "params"), CASES)
def test_one_pass_first_page_equals_two_phase_and_duckdb(t250k: TableRef, monkeypatch: pytest.MonkeyPatch,
                                                         filters: dict[str, Any], where: str,
                                                         params: list[Any]) -> None:
    one = search(t250k, filters=filters, limit=100)
    monkeypatch.setattr(rows, "ONE_PHASE_MAX_COLUMNS", 0)  # forces the two-phase plan for the same request
    two = search(t250k, filters=filters, limit=100)
    assert one == two
    assert [r["_id"] for r in one["records"]] == expected(t250k, where, params, 100)
    for r in one["records"]:  # whole rows, in the shape of the answer
        assert set(r) == {"_id", "所属区", "值", "备注"}
        assert r["值"] == (r["_id"] - 1) * 3 and r["备注"] == f"备注 {r['_id'] - 1} 中文，含逗号"


def test_one_pass_cursor_pages_walk_every_match(t250k: TableRef) -> None:
    want = expected(t250k, '"所属区" = ?', ["海珠区"], 1_000_000)
    got: list[int] = []
    cursor = None
    pages = 0
    while True:
        page = search(t250k, filters={"所属区": "海珠区"}, fields=["_id", "值"], limit=4000, cursor=cursor,
                      include_total=False)
        got += [r["_id"] for r in page["records"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert got == want and len(got) == 50_000 and pages == 13


def test_offset_and_sorted_pages_still_match(t250k: TableRef) -> None:
    # offsets and sorts keep the two-phase plan; their answers are unchanged
    page = search(t250k, filters={"所属区": "天河区"}, limit=10, offset=20_000)
    assert [r["_id"] for r in page["records"]] == expected(t250k, '"所属区" = ?', ["天河区"], 20_010)[20_000:]
    desc = search(t250k, filters={"所属区": "天河区"}, limit=3, sort="_id desc")
    assert [r["_id"] for r in desc["records"]] == [249_996, 249_991, 249_986]


def test_one_watchdog_thread_for_all_deadlines(t250k: TableRef) -> None:
    search(t250k, filters={"所属区": "天河区"}, limit=5)  # the watchdog exists from the first query on
    before = {t.ident for t in threading.enumerate()}
    for i in range(40):
        search(t250k, filters={"值": i * 3}, limit=5)
    after = {t.ident for t in threading.enumerate()}
    assert after <= before  # no thread per query (a timer thread each, before)
    assert sum(t.name == "datastore-timeouts" for t in threading.enumerate()) == 1


def test_the_watchdog_still_stops_a_long_query() -> None:
    conn = duckdb.connect()
    try:
        t0 = time.monotonic()
        with pytest.raises(QueryError) as e, engine.TimeLimit(conn, 0.3):
            conn.execute("SELECT count(*) FROM range(200000000) a, range(100000) b WHERE a.range + b.range = -1")
        took = time.monotonic() - t0
        assert e.value.code == "timeout"
        assert 0.25 <= took < 5
        # a limit that ended in time never interrupts the connection afterwards
        with engine.TimeLimit(conn, 0.05) as lim:
            assert conn.execute("SELECT 42").fetchall() == [(42,)]
        time.sleep(0.2)
        assert not lim.fired.is_set() and lim.conn is None
        assert conn.execute("SELECT 43").fetchall() == [(43,)]
    finally:
        conn.close()


def test_deadlines_fire_in_order_of_their_own_time() -> None:
    """A long deadline entered first does not hold back a short one entered after it."""
    long_conn, short_conn = duckdb.connect(), duckdb.connect()
    slow = "SELECT count(*) FROM range(200000000) a, range(100000) b WHERE a.range + b.range = -1"
    errors: dict[str, float] = {}

    def run(name: str, conn: duckdb.DuckDBPyConnection, limit_s: float) -> None:
        t0 = time.monotonic()
        try:
            with engine.TimeLimit(conn, limit_s):
                conn.execute(slow)
        except QueryError:
            errors[name] = time.monotonic() - t0

    try:
        a = threading.Thread(target=run, args=("long", long_conn, 1.5))
        a.start()
        time.sleep(0.05)
        run("short", short_conn, 0.2)
        a.join(timeout=30)
        assert errors["short"] < 1.2  # not after the long one's deadline
        assert errors["long"] >= 1.4
    finally:
        long_conn.close()
        short_conn.close()


def test_search_uses_its_own_thread_count(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from cityhub.datastore.actions import query_limits, search_limits
    from cityhub.settings import get_settings

    monkeypatch.setenv("CITYHUB_DATASTORE_SEARCH_THREADS", "1")
    monkeypatch.setenv("CITYHUB_DATASTORE_THREADS", "2")
    get_settings.cache_clear()
    try:
        assert search_limits().threads == 1 and query_limits().threads == 2
        assert search_limits().slots == query_limits().slots  # the same query slots
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


@pytest.mark.parametrize("max_cells", [0, engine.SCOPE_TABLE_MAX_CELLS])
def test_a_scope_copied_in_memory_answers_as_its_view(t250k: TableRef, monkeypatch: pytest.MonkeyPatch,
                                                      max_cells: int) -> None:
    """A small grant scope is an in-memory copy of its rows (a view over the file when over the cap): same pages
    in ``_id`` order, same totals, same aggregates, nothing outside the grant."""
    from cityhub.datastore.query import aggregate, grants

    monkeypatch.setattr(engine, "SCOPE_TABLE_MAX_CELLS", max_cells)
    monkeypatch.setattr(engine, "_sandbox_cache", type(engine._sandbox_cache)())
    monkeypatch.setattr(engine, "_scoped_views", {})
    ref = grants.scoped(t250k, ["值"], {"所属区": ["天河区", "越秀区"]})
    limits = engine.Limits(threads=2)  # the copy keeps file order also when DuckDB reads with several threads
    # (5 values and 2 threads: DuckDB answers the IN list by a hash join, which does not keep the file's order; the
    # search then asks for ORDER BY _id)
    page = search(ref, filters={"值": [3, 6, 15, 600_000, 749_997]}, limit=100, limits=limits)
    want = expected(t250k, '"所属区" IN (?, ?) AND "值" IN (?, ?, ?, ?, ?)',
                    ["天河区", "越秀区", 3, 6, 15, 600_000, 749_997], 100)
    assert [r["_id"] for r in page["records"]] == want == [2, 6, 200_001]
    assert page["total"] == 3 and {f["id"] for f in page["fields"]} == {"_id", "值"}
    first = search(ref, limit=3, limits=limits)
    assert [r["_id"] for r in first["records"]] == [1, 2, 6] and first["total"] == 100_000
    walked, cursor = 0, None
    last = 0
    while True:
        p = search(ref, limit=30_000, cursor=cursor, include_total=False, limits=limits)
        got = [r["_id"] for r in p["records"]]
        assert got == sorted(got) and (not got or got[0] > last)
        walked += len(got)
        last = got[-1] if got else last
        cursor = p["next_cursor"]
        if cursor is None:
            break
    assert walked == 100_000
    agg = aggregate(ref, group_by=["值"], metrics=[("count", None)], filters={"值": [3, 6, 9]}, limits=limits)
    assert [r["值"] for r in agg["records"]] == [3]  # 6 and 9 are in rows of 海珠区 and 荔湾区: outside the grant
    with pytest.raises(QueryError):
        search(ref, filters={"所属区": "海珠区"}, limits=limits)  # not a granted column
    assert ref.scope is not None
    assert {n for (_, names) in engine._scoped_views.values() for n in names} == {ref.scope.view_name}
    base = next(iter(engine._sandbox_cache.values()))
    kind = base.execute("SELECT table_type FROM information_schema.tables WHERE table_name = ?",
                        [ref.view]).fetchall()
    assert kind == [("BASE TABLE" if max_cells else "VIEW",)]


def test_plain_columns_are_passed_as_they_come(t250k: TableRef) -> None:
    """Integer, text and boolean columns go into the answer without per-value conversion: same values, same shape
    (objects and lists) as a plain DuckDB read; a number or date column still goes through the conversion."""
    objs = search(t250k, filters={"所属区": "海珠区"}, fields=["_id", "值", "备注"], limit=3)
    lists = search(t250k, filters={"所属区": "海珠区"}, fields=["_id", "值", "备注"], limit=3, records_format="lists")
    conn = duckdb.connect()
    try:
        want = conn.execute(f"SELECT _id, 值, 备注 FROM read_parquet('{t250k.path}') WHERE 所属区 = '海珠区' "
                            "ORDER BY _id LIMIT 3").fetchall()
    finally:
        conn.close()
    assert lists["records"] == [list(r) for r in want]
    assert objs["records"] == [dict(zip(["_id", "值", "备注"], r, strict=True)) for r in want]
    assert all(type(r["值"]) is int and type(r["备注"]) is str for r in objs["records"])


def test_numbers_and_dates_are_still_converted(tmp_path: Path) -> None:
    path = tmp_path / "nd.parquet"
    conn = duckdb.connect()
    try:
        conn.execute(f"COPY (SELECT i + 1 AS _id, CASE WHEN i = 1 THEN 'nan'::DOUBLE ELSE i / 2 END AS x, "
                     f"DATE '2024-01-01' + i::INTEGER AS d FROM range(3) t(i)) TO '{path}' (FORMAT parquet)")
    finally:
        conn.close()
    ref = TableRef(resource_id="nd", path=path, rows=3, columns=[("x", "number"), ("d", "date")])
    got = search(ref, limit=3)["records"]
    assert got == [{"_id": 1, "x": 0.0, "d": "2024-01-01"}, {"_id": 2, "x": None, "d": "2024-01-02"},
                   {"_id": 3, "x": 1.0, "d": "2024-01-03"}]


def test_scope_copies_of_one_process_stay_within_their_budget(t250k: TableRef,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the process's budget of copied cells a scope is a view over the file (same answers); a copy dropped
    with its database gives its cells back."""
    from cityhub.datastore.query import grants

    monkeypatch.setattr(engine, "_sandbox_cache", type(engine._sandbox_cache)())
    monkeypatch.setattr(engine, "_scoped_views", {})
    monkeypatch.setattr(engine, "_copied_cells", {})
    monkeypatch.setattr(engine, "SCOPE_TABLES_MAX_CELLS", 150_000)  # room for one scope of 50,000 rows × 2
    a = grants.scoped(t250k, ["值"], {"所属区": ["天河区"]})  # 50,000 rows: counted (250k × 2 is over the cap)
    b = grants.scoped(t250k, ["值"], {"所属区": ["越秀区"]})
    monkeypatch.setattr(engine, "SCOPE_TABLE_MAX_CELLS", 120_000)
    ra, rb = search(a, limit=2), search(b, limit=2)
    assert [r["_id"] for r in ra["records"]] == [1, 6] and ra["total"] == 50_000
    assert [r["_id"] for r in rb["records"]] == [2, 7] and rb["total"] == 50_000
    base = next(iter(engine._sandbox_cache.values()))
    kinds = dict(base.execute("SELECT table_name, table_type FROM information_schema.tables").fetchall())
    assert a.scope is not None and b.scope is not None
    assert kinds[a.scope.view_name] == "BASE TABLE" and kinds[b.scope.view_name] == "VIEW"
    assert sum(engine._copied_cells.values()) == 100_000
    first_key = next(iter(engine._sandbox_cache))
    monkeypatch.setattr(engine, "TABLE_SANDBOX_CACHE", 1)
    # another database for the same file (other settings) pushes the first out of the cache, with its copies
    search(grants.scoped(t250k, ["备注"], {"所属区": ["海珠区"]}), limit=1, limits=engine.Limits(threads=1))
    assert first_key not in engine._sandbox_cache and first_key not in engine._copied_cells
    assert sum(engine._copied_cells.values()) == 100_000  # the new database's copy of the 海珠区 scope


def test_a_long_in_list_with_several_threads_keeps_the_first_rows_in_order(t250k: TableRef) -> None:
    """Before: with 2 DuckDB threads a first page filtered by an IN list of 5+ values came back in the order the
    hash join's threads finished (about 1 run in 5: 200001 before 2)."""
    limits = engine.Limits(threads=2)
    values = [3, 6, 15, 30, 600_000, 749_997]
    want = expected(t250k, '"值" IN (?, ?, ?, ?, ?, ?)', values, 5)
    for _ in range(30):
        page = search(t250k, filters={"值": values}, limit=5, limits=limits, include_total=False)
        assert [r["_id"] for r in page["records"]] == want
    assert rows._unordered_join({"值": values}, limits) and not rows._unordered_join({"值": values},
                                                                                     engine.Limits(threads=1))
