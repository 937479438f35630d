"""Query engine: search, cursor paging, aggregate, column stats, exports and injection through the
structured search parameters. Tables are Parquet files made here with PyArrow/DuckDB."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import time
import tracemalloc
from decimal import Decimal
from pathlib import Path

import duckdb
import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cityhub.datastore.query import (
    QueryError,
    TableRef,
    aggregate,
    column_stats,
    decode_cursor,
    encode_cursor,
    export,
    full_csv_path,
    quote_ident,
    sandbox,
    search,
)

DISTRICTS = ["天河区", "越秀区", "海珠区", "荔湾区", "白云区"]
N = 1000
QUOTE_COL = '引号"列'
COLUMNS: list[tuple[str, str]] = [
    ("所属区", "string"),
    ("人口", "integer"),
    ("面积", "number"),
    ("金额", "number"),
    ("开放", "boolean"),
    ("日期", "date"),
    ("时间", "datetime"),
    ("select", "string"),
    (QUOTE_COL, "string"),
]


def _name(i: int) -> str:
    if i == 7:
        return "50%_off 特价"
    if i == 8:
        return "O'Brien"
    return f"名称{i}号"


def write_main_table(path: Path) -> TableRef:
    ids = list(range(1, N + 1))
    data = {
        "_id": pa.array(ids, pa.int64()),
        "所属区": pa.array([DISTRICTS[i % 5] for i in ids], pa.string()),
        "人口": pa.array([None if i % 97 == 0 else i * 10 for i in ids], pa.int64()),
        "面积": pa.array([i / 4 for i in ids], pa.float64()),
        "金额": pa.array([Decimal(i) / 100 for i in ids], pa.decimal128(12, 2)),
        "开放": pa.array([i % 2 == 0 for i in ids], pa.bool_()),
        "日期": pa.array([dt.date(2020, 1, 1) + dt.timedelta(days=i - 1) for i in ids], pa.date32()),
        "时间": pa.array(
            [dt.datetime(2020, 1, 1, 8) + dt.timedelta(hours=i) for i in ids], pa.timestamp("us")
        ),
        "select": pa.array([f"kw{i % 3}" for i in ids], pa.string()),
        QUOTE_COL: pa.array([_name(i) for i in ids], pa.string()),
    }
    pq.write_table(pa.table(data), path, row_group_size=300)
    return TableRef(resource_id="res-main", path=path, rows=N, columns=list(COLUMNS))


def write_range_table(path: Path, n: int, resource_id: str) -> TableRef:
    """``n`` rows via DuckDB: _id, 所属区, 值 (integer), 备注 (string)."""
    conn = duckdb.connect()
    try:
        conn.execute(
            f"""COPY (SELECT i + 1 AS _id, ['天河区','越秀区','海珠区','荔湾区','白云区'][i % 5 + 1] AS 所属区,
                   i * 3 AS 值, '备注 ' || i::VARCHAR || ' 中文，含逗号' AS 备注
                   FROM range({int(n)}) t(i) ORDER BY i)
               TO '{path}' (FORMAT parquet, ROW_GROUP_SIZE 100000)"""
        )
    finally:
        conn.close()
    return TableRef(
        resource_id=resource_id,
        path=path,
        rows=n,
        columns=[("所属区", "string"), ("值", "integer"), ("备注", "string")],
    )


@pytest.fixture(scope="module")
def tdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("query")


@pytest.fixture(scope="module")
def main(tdir: Path) -> TableRef:
    return write_main_table(tdir / "main.parquet")


@pytest.fixture(scope="module")
def t10k(tdir: Path) -> TableRef:
    return write_range_table(tdir / "t10k.parquet", 10_000, "res-10k")


@pytest.fixture(scope="module")
def t200k(tdir: Path) -> TableRef:
    return write_range_table(tdir / "t200k.parquet", 200_000, "res-200k")


def ids(result: dict) -> list[int]:
    return [r["_id"] for r in result["records"]]


# --------------------------------------------------------------------------- search basics


def test_default_search_fields_records_total(main: TableRef) -> None:
    r = search(main, limit=5)
    assert r["fields"][0] == {"id": "_id", "type": "integer"}
    assert [f["id"] for f in r["fields"]] == ["_id"] + [c for c, _ in COLUMNS]
    assert {f["id"]: f["type"] for f in r["fields"]}["日期"] == "date"
    assert ids(r) == [1, 2, 3, 4, 5]
    first = r["records"][0]
    assert first["所属区"] == "越秀区"
    assert first["金额"] == 0.01
    assert first["日期"] == "2020-01-01"
    assert first["时间"] == "2020-01-01T09:00:00"
    assert first["开放"] is False
    assert r["total"] == N
    assert r["total_was_estimated"] is False
    assert r["limit"] == 5 and r["offset"] == 0
    assert r["next_cursor"] is not None
    json.dumps(r, ensure_ascii=False)  # JSON-safe


def test_total_without_filter_comes_from_metadata(main: TableRef) -> None:
    fake = TableRef(main.resource_id, main.path, 123_456, main.columns)
    assert search(fake, limit=1)["total"] == 123_456  # no count(*) scan
    assert search(fake, limit=1, filters={"所属区": "天河区"})["total"] == 200  # counted
    assert search(main, limit=1, include_total=False)["total"] is None


def test_columns_may_include_id(main: TableRef) -> None:
    ref = TableRef(main.resource_id, main.path, main.rows, [("_id", "integer"), *COLUMNS])
    r = search(ref, limit=1)
    assert [f["id"] for f in r["fields"]][:2] == ["_id", "所属区"]
    assert len(r["fields"]) == len(COLUMNS) + 1


def test_filters_equality_in_null_and_coercion(main: TableRef) -> None:
    r = search(main, filters={"所属区": "天河区"}, limit=3)
    assert r["total"] == 200 and all(x["所属区"] == "天河区" for x in r["records"])
    r = search(main, filters={"所属区": ["天河区", "海珠区"], "开放": "true"}, limit=1000)
    assert r["total"] == 200 and all(x["开放"] for x in r["records"])
    assert search(main, filters={"人口": "250"})["records"][0]["_id"] == 25
    assert search(main, filters={"人口": 250.0})["total"] == 1
    assert ids(search(main, filters={"人口": None})) == [97, 194, 291, 388, 485, 582, 679, 776, 873, 970]
    assert ids(search(main, filters={"日期": "2020-01-10"})) == [10]
    assert ids(search(main, filters={"日期": dt.date(2020, 1, 11)})) == [11]
    assert ids(search(main, filters={"时间": "2020-01-01T10:00:00"})) == [2]
    assert ids(search(main, filters={"金额": "0.25"})) == [25]
    assert ids(search(main, filters={"面积": 2.5})) == [10]
    assert ids(search(main, filters={"select": "kw1", "_id": [1, 2, 3, 4]})) == [1, 4]
    assert search(main, filters={"所属区": []})["total"] == 0


@pytest.mark.parametrize(
    ("flt", "column"),
    [
        ({"人口": "abc"}, "人口"),
        ({"人口": True}, "人口"),
        ({"日期": "2020-13-45"}, "日期"),
        ({"金额": "NaN"}, "金额"),
        ({"开放": "maybe"}, "开放"),
        ({"时间": "yesterday"}, "时间"),
    ],
)
def test_bad_filter_values_refused(main: TableRef, flt: dict, column: str) -> None:
    with pytest.raises(QueryError) as ei:
        search(main, filters=flt)
    assert ei.value.code == "invalid_value"
    assert ei.value.field == "filters"
    assert column in ei.value.message_en and column in ei.value.message


def test_q_full_text(main: TableRef) -> None:
    r = search(main, q="名称12号", limit=100)
    assert ids(r) == [12]
    # AND across terms, case-insensitive, over string columns
    r = search(main, q="天河区 KW0", limit=1000)
    assert r["total"] == len([i for i in range(1, N + 1) if i % 5 == 0 and i % 3 == 0])
    # words, not substrings: 名称12号 is not in 名称712号; punctuation separates words
    assert ids(search(main, q="50%_off")) == [7]
    assert ids(search(main, q="O'Brien")) == [8]
    # a q without words matches nothing (PostgreSQL: an empty tsquery; CKAN postgres.py _where_clauses)
    assert search(main, q="%")["total"] == 0
    assert search(main, q="_")["total"] == 0
    # dict q: per column, also on non-string columns (as text)
    assert ids(search(main, q={QUOTE_COL: "特价"})) == [7]
    assert search(main, q={"人口": "12345"}, limit=1)["total"] == 0
    assert ids(search(main, q={"人口": "9990"})) == [999]
    assert search(main, q="   ")["total"] == 0


def test_fields_sort_offset(main: TableRef) -> None:
    r = search(main, fields=["人口", QUOTE_COL], sort="人口 desc nulls last", limit=3)
    assert [f["id"] for f in r["fields"]] == ["人口", QUOTE_COL]
    assert [x["人口"] for x in r["records"]] == [10000, 9990, 9980]
    assert r["next_cursor"] is None  # not _id order
    r = search(main, fields=["_id", "所属区"], sort='所属区 asc, "_id" desc', limit=2)
    assert r["records"] == [{"_id": 1000, "所属区": "天河区"}, {"_id": 995, "所属区": "天河区"}]
    page2 = search(main, sort="面积 desc", limit=10, offset=10, fields=["_id"])
    assert ids(page2) == list(range(990, 980, -1))
    # quoted column name containing a double quote, and a keyword column name
    r = search(main, sort='"引号""列" asc, select desc', fields=[QUOTE_COL, "select"], limit=1)
    assert r["records"][0][QUOTE_COL] == "50%_off 特价"
    assert ids(search(main, sort="_id desc", limit=3)) == [1000, 999, 998]
    # nulls as PostgreSQL orders them (CKAN backend/__init__.py _parse_sort_clause passes "nulls first|last"
    # through): last ascending, first descending, unless the sort says otherwise
    assert search(main, sort="人口 asc", fields=["人口"], limit=N)["records"][-1]["人口"] is None
    nulls = [x["人口"] for x in search(main, sort="人口 desc", fields=["人口"], limit=11)["records"]]
    assert nulls == [None] * 10 + [10000]
    assert search(main, sort="人口 asc nulls first", fields=["人口"], limit=1)["records"][0]["人口"] is None
    assert search(main, sort=["人口 DESC NULLS LAST", "_id"], fields=["人口"], limit=1)["records"][0]["人口"] == 10000


@pytest.mark.parametrize(
    "sort",
    [
        "nope asc",
        "人口 sideways",
        "人口 asc,",
        "人口 asc, 人口 desc",
        '"unterminated asc',
        "a; DROP TABLE",
        5,
    ],
)
def test_bad_sort_refused(main: TableRef, sort: object) -> None:
    with pytest.raises(QueryError) as ei:
        search(main, sort=sort)  # type: ignore[arg-type]
    assert ei.value.code == "invalid_sort"
    assert ei.value.field == "sort"


def test_distinct_and_formats(main: TableRef) -> None:
    r = search(main, fields=["所属区"], distinct=True, sort="所属区 asc")
    assert [x["所属区"] for x in r["records"]] == sorted(DISTRICTS)
    assert r["total"] == 5
    r = search(main, fields=["所属区", "select"], distinct=True, filters={"所属区": "天河区"})
    assert r["total"] == 3 and len(r["records"]) == 3
    with pytest.raises(QueryError) as ei:
        search(main, fields=["所属区"], distinct=True, sort="人口 asc")
    assert ei.value.field == "sort"
    r = search(main, fields=["_id", "所属区", "时间"], records_format="lists", limit=2)
    assert r["records"] == [[1, "越秀区", "2020-01-01T09:00:00"], [2, "海珠区", "2020-01-01T10:00:00"]]
    r = search(main, fields=["_id", QUOTE_COL, "时间", "开放"], records_format="csv", limit=9)
    rows = list(csv.reader(io.StringIO(r["records"])))
    assert len(rows) == 9  # CKAN: no header row, the fields say what the columns are
    # as CKAN's COPY … csv writes them (postgres.py search_data): to_char timestamps, PostgreSQL booleans
    assert rows[0] == ["1", "名称1号", "2020-01-01T09:00:00", "f"]
    assert rows[6][1] == "50%_off 特价" and rows[7][1] == "O'Brien"
    assert r["next_cursor"] is not None and decode_cursor(r["next_cursor"]) == (9, "asc")


def test_limits_validated(main: TableRef) -> None:
    assert search(main, limit=0)["records"] == []
    for bad in (-1, 32_001, "10", True):
        with pytest.raises(QueryError) as ei:
            search(main, limit=bad)  # type: ignore[arg-type]
        assert ei.value.field == "limit"
    assert len(search(main, limit=32_000)["records"]) == N
    assert search(main, limit=100_000, records_format="csv")["records"].count("\n") == N
    with pytest.raises(QueryError):
        search(main, limit=1_000_001, records_format="csv")
    with pytest.raises(QueryError) as ei:
        search(main, offset=-1)
    assert ei.value.field == "offset"
    with pytest.raises(QueryError) as ei:
        search(main, records_format="xml")  # type: ignore[arg-type]
    assert ei.value.field == "records_format"


# --------------------------------------------------------------------------- cursor paging


def test_cursor_pages_every_row_once_in_order(t10k: TableRef) -> None:
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        r = search(t10k, cursor=cursor, limit=999, fields=["值"], include_total=pages == 0)
        if pages == 0:
            assert r["total"] == 10_000
        seen.extend(x["值"] // 3 + 1 for x in r["records"])
        pages += 1
        cursor = r["next_cursor"]
        if cursor is None:
            break
        assert pages < 50
    assert seen == list(range(1, 10_001))
    assert pages == 11


def test_cursor_with_filter_and_descending(t10k: TableRef) -> None:
    got: list[int] = []
    r = search(t10k, filters={"所属区": "海珠区"}, sort="_id desc", limit=500, fields=["_id"])
    while True:
        got.extend(ids(r))
        if r["next_cursor"] is None:
            break
        r = search(t10k, filters={"所属区": "海珠区"}, cursor=r["next_cursor"], limit=500, fields=["_id"])
    assert got == [i for i in range(10_000, 0, -1) if (i - 1) % 5 == 2]


def test_cursor_validation(t10k: TableRef) -> None:
    good = encode_cursor(10)
    assert ids(search(t10k, cursor=good, limit=2)) == [11, 12]
    for bad in ["", "!!!", "djE6YTp4", encode_cursor(5) + "==", "A" * 100, "djI6YToxMA"]:
        with pytest.raises(QueryError) as ei:
            search(t10k, cursor=bad)
        assert ei.value.code == "invalid_cursor" and ei.value.field == "cursor"
    with pytest.raises(QueryError) as ei:
        search(t10k, cursor=good, sort="值 asc")
    assert ei.value.field == "cursor"
    with pytest.raises(QueryError) as ei:
        search(t10k, cursor=good, sort="_id desc")
    assert ei.value.field == "cursor"
    with pytest.raises(QueryError) as ei:
        search(t10k, cursor=good, offset=5)
    assert ei.value.field == "offset"


# --------------------------------------------------------------------------- injection via search


def test_injection_through_search_parameters_is_inert(main: TableRef) -> None:
    with pytest.raises(QueryError) as ei:
        search(main, sort="a; DROP TABLE")
    assert ei.value.field == "sort"
    with pytest.raises(QueryError) as ei:
        search(main, sort='_id; DROP TABLE "res-main" --')
    assert ei.value.field == "sort"
    with pytest.raises(QueryError) as ei:
        search(main, fields=['x" --'])
    assert ei.value.code == "unknown_column" and ei.value.field == "fields"
    assert 'x" --' in ei.value.message_en
    with pytest.raises(QueryError) as ei:
        search(main, fields=["所属区\", * FROM read_csv('/etc/passwd') --"])
    assert ei.value.field == "fields"
    with pytest.raises(QueryError) as ei:
        search(main, filters={'所属区" = 所属区 OR 1=1 --': "x"})
    assert ei.value.code == "unknown_column" and ei.value.field == "filters"
    # values are bound parameters: they match literally, so nothing matches
    r = search(main, filters={"所属区": "' OR 1=1 --"})
    assert r["total"] == 0 and r["records"] == []
    r = search(main, filters={"所属区": ["天河区", "x' OR '1'='1"]})
    assert r["total"] == 200
    with pytest.raises(QueryError) as ei:
        search(main, filters={"人口": "1 OR 1=1"})
    assert ei.value.code == "invalid_value"
    r = search(main, q="%' OR '1'='1")
    assert r["total"] == 0
    r = search(main, q={"所属区": "' OR 1=1 --"})
    assert r["total"] == 0
    with pytest.raises(QueryError) as ei:
        search(main, q={"nope": "x"})
    assert ei.value.field == "q"
    # the table is still intact
    assert search(main, limit=1)["total"] == N


def test_column_names_with_quotes_are_quoted() -> None:
    assert quote_ident('a"b') == '"a""b"'
    assert quote_ident("select") == '"select"'


# --------------------------------------------------------------------------- aggregate


def test_aggregate_one_column(main: TableRef) -> None:
    r = aggregate(main, group_by=["所属区"], metrics=[("count", None), ("sum", "人口"), ("max", "日期")])
    assert [f["id"] for f in r["fields"]] == ["所属区", "count", "sum_人口", "max_日期"]
    assert {f["id"]: f["type"] for f in r["fields"]}["max_日期"] == "date"
    assert len(r["records"]) == 5 and r["truncated"] is False
    by = {x["所属区"]: x for x in r["records"]}
    assert all(x["count"] == 200 for x in r["records"])
    expected = sum(i * 10 for i in range(1, N + 1) if i % 5 == 0 and i % 97 != 0)
    assert by["天河区"]["sum_人口"] == expected
    assert by["天河区"]["max_日期"] == "2022-09-26"


def test_aggregate_two_columns_sorting_and_limit(main: TableRef) -> None:
    r = aggregate(
        main,
        group_by=["所属区", "开放"],
        metrics=[("avg", "面积"), ("count", "人口")],
        filters={"select": "kw0"},
        sort_by_value=False,
    )
    assert [(x["所属区"], x["开放"]) for x in r["records"]][:2] == [("天河区", False), ("天河区", True)]
    assert len(r["records"]) == 10
    r = aggregate(main, group_by=["_id"], metrics=[("sum", "人口")], limit=3)
    assert [x["_id"] for x in r["records"]] == [1000, 999, 998]
    assert r["truncated"] is True
    r = aggregate(main, group_by=["所属区"], metrics=[("count", None)], q="特价")
    assert r["records"] == [{"所属区": "海珠区", "count": 1}]


@pytest.mark.parametrize(
    ("kwargs", "fld"),
    [
        ({"group_by": ["所属区"], "metrics": [("sum", "所属区")]}, "metrics"),
        ({"group_by": ["所属区"], "metrics": [("avg", "日期")]}, "metrics"),
        ({"group_by": ["所属区"], "metrics": [("median", "人口")]}, "metrics"),
        ({"group_by": ["所属区"], "metrics": [("sum", None)]}, "metrics"),
        ({"group_by": ["所属区"], "metrics": [("count", 'x" --')]}, "metrics"),
        ({"group_by": [], "metrics": [("count", None)]}, "group_by"),
        ({"group_by": ["所属区", "开放", "select"], "metrics": [("count", None)]}, "group_by"),
        ({"group_by": ["nope"], "metrics": [("count", None)]}, "group_by"),
        ({"group_by": ["所属区"], "metrics": [("count", None)], "limit": 0}, "limit"),
    ],
)
def test_aggregate_refusals(main: TableRef, kwargs: dict, fld: str) -> None:
    with pytest.raises(QueryError) as ei:
        aggregate(main, **kwargs)
    assert ei.value.field == fld


# --------------------------------------------------------------------------- column stats


def test_column_stats_numbers(main: TableRef) -> None:
    s = column_stats(main, "人口", bins=10)
    assert s["type"] == "integer"
    assert s["rows"] == N and s["nulls"] == 10 and s["count"] == 990
    assert s["min"] == 10 and s["max"] == 10000
    assert abs(s["distinct"] - 990) < 50
    assert s["mean"] == pytest.approx(sum(i * 10 for i in range(1, N + 1) if i % 97) / 990)
    h = s["histogram"]
    assert len(h) == 10 and sum(b[2] for b in h) == 990
    assert h[0][0] == 10 and h[-1][1] == 10000
    s = column_stats(main, "金额", bins=4)
    assert s["min"] == 0.01 and s["max"] == 10.0 and sum(b[2] for b in s["histogram"]) == N


def test_column_stats_strings_booleans_dates(main: TableRef) -> None:
    s = column_stats(main, "所属区")
    assert s["type"] == "string" and "histogram" not in s and "mean" not in s
    assert [t["count"] for t in s["top"]] == [200] * 5
    assert {t["value"] for t in s["top"]} == set(DISTRICTS)
    s = column_stats(main, QUOTE_COL)
    assert len(s["top"]) == 10
    s = column_stats(main, "开放")
    assert {t["value"]: t["count"] for t in s["top"]} == {True: 500, False: 500}
    s = column_stats(main, "日期", bins=7)
    assert s["min"] == "2020-01-01" and s["max"] == "2022-09-26"
    assert sum(b[2] for b in s["histogram"]) == N
    assert s["histogram"][0][0] == "2020-01-01"
    s = column_stats(main, "时间", bins=5)
    assert len(s["histogram"]) == 5 and sum(b[2] for b in s["histogram"]) == N
    assert s["histogram"][0][0] == "2020-01-01T09:00:00"
    with pytest.raises(QueryError) as ei:
        column_stats(main, 'x"; --')
    assert ei.value.field == "column"


def test_column_stats_constant_and_empty(tdir: Path) -> None:
    p = tdir / "const.parquet"
    pq.write_table(pa.table({"_id": pa.array([1, 2], pa.int64()), "v": pa.array([5, 5], pa.int64()),
                             "e": pa.array([None, None], pa.float64())}), p)  # fmt: skip
    ref = TableRef("res-const", p, 2, [("v", "integer"), ("e", "number")])
    assert column_stats(ref, "v")["histogram"] == [[5.0, 5.0, 2]]
    s = column_stats(ref, "e")
    assert s["nulls"] == 2 and s["histogram"] == [] and s["min"] is None


# --------------------------------------------------------------------------- exports


def _join(chunks: object) -> bytes:
    return b"".join(chunks)  # type: ignore[arg-type]


def test_export_csv_with_and_without_bom(main: TableRef) -> None:
    plain = _join(export(main, "csv", fields=["_id", "所属区", QUOTE_COL, "时间"]))
    assert not plain.startswith(b"\xef\xbb\xbf")
    text = plain.decode("utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["_id", "所属区", QUOTE_COL, "时间"]
    assert len(rows) == N + 1
    assert rows[1] == ["1", "越秀区", "名称1号", "2020-01-01 09:00:00"]
    with_bom = _join(export(main, "csv", fields=["_id", "所属区"], bom=True, filters={"所属区": "天河区"}))
    assert with_bom.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(with_bom.decode("utf-8-sig"))))
    assert rows[0] == ["_id", "所属区"] and len(rows) == 201
    assert all(r[1] == "天河区" for r in rows[1:])
    empty = _join(export(main, "csv", filters={"所属区": "none"}, fields=["_id", "所属区"], bom=True))
    assert empty.decode("utf-8-sig").strip() == '"_id","所属区"'


def test_export_json_complete(main: TableRef) -> None:
    data = json.loads(_join(export(main, "json", sort="_id desc")).decode("utf-8"))
    assert len(data) == N
    assert data[0]["_id"] == N and data[-1]["_id"] == 1
    assert data[-1]["日期"] == "2020-01-01" and data[-1]["金额"] == 0.01 and data[-1][QUOTE_COL] == "名称1号"
    assert json.loads(_join(export(main, "json", filters={"所属区": "none"}))) == []
    data = json.loads(_join(export(main, "json", limit=3, fields=["_id"])))
    assert data == [{"_id": 1}, {"_id": 2}, {"_id": 3}]
    # same value shapes as search records
    assert json.loads(_join(export(main, "json", limit=2))) == search(main, limit=2)["records"]


def _strict(c: str) -> None:
    raise ValueError(f"not JSON: {c}")


def test_export_json_is_strict_json(tdir: Path) -> None:
    p = tdir / "nan.parquet"
    tbl = pa.table({"_id": pa.array([1, 2, 3], pa.int64()), "v": pa.array([1.5, float("nan"), float("inf")]),
                    "s": ['a"b\\c\n', "中文", None]})  # fmt: skip
    pq.write_table(tbl, p)
    ref = TableRef("res-nan", p, 3, [("v", "number"), ("s", "string")])
    data = json.loads(_join(export(ref, "json")).decode("utf-8"), parse_constant=_strict)
    assert data == [{"_id": 1, "v": 1.5, "s": 'a"b\\c\n'}, {"_id": 2, "v": None, "s": "中文"},
                    {"_id": 3, "v": None, "s": None}]  # fmt: skip


def test_export_parquet_roundtrip(main: TableRef) -> None:
    blob = _join(export(main, "parquet", batch_rows=256))
    tbl = pq.read_table(io.BytesIO(blob))
    orig = pq.read_table(main.path)
    assert tbl.num_rows == N
    assert tbl.column_names == orig.column_names
    assert tbl.column("_id").to_pylist() == list(range(1, N + 1))
    for name in ("所属区", "金额", "日期", "时间", QUOTE_COL):
        assert tbl.column(name).to_pylist() == orig.column(name).to_pylist()
    assert pq.ParquetFile(io.BytesIO(blob)).metadata.num_row_groups >= 4


def test_export_xlsx_readable(main: TableRef, tdir: Path) -> None:
    blob = _join(
        export(main, "xlsx", fields=["_id", "所属区", "金额", "日期", "开放", QUOTE_COL], temp_dir=tdir)
    )
    wb = openpyxl.load_workbook(io.BytesIO(blob), read_only=True)
    rows = list(wb.active.iter_rows(values_only=True))
    assert rows[0] == ("_id", "所属区", "金额", "日期", "开放", QUOTE_COL)
    assert len(rows) == N + 1
    assert rows[1][0] == 1 and rows[1][1] == "越秀区" and rows[1][4] is False
    assert float(rows[1][2]) == 0.01
    assert rows[1][3].date() == dt.date(2020, 1, 1)
    assert not list(tdir.glob("tmp*.xlsx"))  # temp file removed


def test_export_xlsx_keeps_formula_like_text_as_text(tdir: Path) -> None:
    p = tdir / "formula.parquet"
    pq.write_table(pa.table({"_id": pa.array([1, 2], pa.int64()),
                             "s": ["=HYPERLINK(\"http://x\")", "ok\x01bad"]}), p)  # fmt: skip
    ref = TableRef("res-f", p, 2, [("s", "string")])
    wb = openpyxl.load_workbook(io.BytesIO(_join(export(ref, "xlsx"))))
    cells = [c.value for c in wb.active["B"]]
    assert cells == ["s", '=HYPERLINK("http://x")', "okbad"]
    assert wb.active["B2"].data_type == "s"


FORMULAS = ["=1+1", "+SUM(A1:A9)", "-2+3+cmd|' /C calc'!A0", "@SUM(1)", "\tx", "\rx", "plain", "a=b", None]


def test_csv_files_neutralise_formula_cells(tdir: Path) -> None:
    """OWASP "CSV Injection": a text cell (or column name) starting with = + - @ tab or CR is prefixed with
    a single quote in every CSV file we serve (streamed and cached whole-table), as the XLSX export marks
    them as text; numbers (negative ones too) stay numbers. JSON and the API's records stay exact."""
    p = tdir / "formulas.parquet"
    n = len(FORMULAS)
    pq.write_table(pa.table({"_id": pa.array(range(1, n + 1), pa.int64()), "s": FORMULAS,
                             "=cmd": pa.array([-i for i in range(n)], pa.int64())}), p)  # fmt: skip
    ref = TableRef("res-formulas", p, n, [("s", "string"), ("=cmd", "integer")])
    safe = ["'=1+1", "'+SUM(A1:A9)", "'-2+3+cmd|' /C calc'!A0", "'@SUM(1)", "'\tx", "'\rx", "plain", "a=b", ""]
    cached = full_csv_path(ref, tdir / "formula-cache").read_bytes().decode("utf-8")
    for text in (_join(export(ref, "csv")).decode("utf-8"), cached):
        rows = list(csv.reader(io.StringIO(text, newline="")))
        assert rows[0] == ["_id", "s", "'=cmd"]
        assert [r[1] for r in rows[1:]] == safe
        assert [r[2] for r in rows[1:]] == [str(-i) for i in range(n)]
    assert json.loads(_join(export(ref, "json")))[0]["s"] == "=1+1"
    assert search(ref, limit=1)["records"][0]["s"] == "=1+1"


def test_export_xlsx_row_cap_checked_before_streaming(main: TableRef) -> None:
    huge = TableRef(main.resource_id, main.path, 2_000_000, main.columns)
    with pytest.raises(QueryError) as ei:
        export(huge, "xlsx")  # raised by the call itself, before any byte is sent
    assert ei.value.code == "too_large"
    assert "1048575" in ei.value.message_en
    assert _join(export(huge, "xlsx", limit=5))  # a limit under the cap is fine


def test_export_validates_eagerly(main: TableRef) -> None:
    with pytest.raises(QueryError) as ei:
        export(main, "xml")  # type: ignore[arg-type]
    assert ei.value.field == "format"
    with pytest.raises(QueryError):
        export(main, "csv", sort="x; DROP")
    with pytest.raises(QueryError):
        export(main, "csv", filters={"人口": "x"})


def test_export_200k_streams_in_chunks(t200k: TableRef) -> None:
    tracemalloc.start()
    try:
        it = export(t200k, "csv", batch_rows=20_000, bom=True)
        t0 = time.perf_counter()
        first = next(iter(it))
        t_first = time.perf_counter() - t0
        sizes = [len(first)]
        lines = first.count(b"\n")
        for chunk in it:
            sizes.append(len(chunk))
            lines += chunk.count(b"\n")
        t_all = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    total = sum(sizes)
    assert lines == 200_001
    assert len(sizes) > 1
    assert first.count(b"\n") < 100_000  # the first chunk is a batch, not the whole table
    assert max(sizes) < total / 4
    assert peak < total / 2  # never the whole output in Python memory
    assert t_first < t_all
    assert first.startswith(b"\xef\xbb\xbf")

    n = 0
    chunks = 0
    for chunk in export(t200k, "json", batch_rows=50_000):
        chunks += 1
        n += len(chunk)
    assert chunks > 2
    parts = list(export(t200k, "parquet", batch_rows=50_000))
    assert len(parts) > 2
    assert pq.read_table(io.BytesIO(b"".join(parts))).num_rows == 200_000


def test_export_generator_closed_early_releases(t200k: TableRef) -> None:
    it = export(t200k, "csv", batch_rows=10_000)
    next(it)
    it.close()  # type: ignore[attr-defined]


def test_full_csv_path_written_once_per_version(t10k: TableRef, tdir: Path) -> None:
    cache = tdir / "csvcache"
    p1 = full_csv_path(t10k, cache)
    assert p1.is_file() and p1.parent == cache
    with p1.open(encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["_id", "所属区", "值", "备注"]
    assert len(rows) == 10_001 and rows[1][0] == "1" and rows[-1][0] == "10000"
    mtime = p1.stat().st_mtime_ns
    assert full_csv_path(t10k, cache) == p1 and p1.stat().st_mtime_ns == mtime  # reused
    # a new version of the table (same resource) gets a new file and the old one goes away
    v2 = tdir / "t10k_v2.parquet"
    ref2 = write_range_table(v2, 20, t10k.resource_id)
    p2 = full_csv_path(ref2, cache)
    assert p2 != p1 and p2.is_file() and not p1.exists()
    assert [x for x in cache.iterdir() if x.name.startswith(".")] == []


# --------------------------------------------------------------------------- sandbox


def test_sandbox_reads_views_but_no_other_file(main: TableRef, t10k: TableRef) -> None:
    with sandbox({"a": main.path}) as conn:
        assert conn.execute('SELECT count(*) FROM "a"').fetchone() == (N,)
        with pytest.raises(duckdb.PermissionException):
            conn.execute(f"SELECT * FROM '{t10k.path}'").fetchall()
        with pytest.raises(duckdb.PermissionException):
            conn.execute("SELECT * FROM read_csv('/etc/passwd')").fetchall()
        with pytest.raises(duckdb.Error):
            conn.execute("SET enable_external_access=true")
        with pytest.raises(duckdb.Error):
            conn.execute("SET allowed_paths=['/etc/passwd']")
        with pytest.raises(duckdb.PermissionException):
            conn.execute("COPY (SELECT 1) TO '/tmp/cityhub-should-not-exist.csv'")
        with pytest.raises(duckdb.Error):
            conn.execute("LOAD httpfs")


def test_search_timeout_maps_to_query_error(t200k: TableRef) -> None:
    with pytest.raises(QueryError) as ei:
        # about 0.3 s of ILIKE work over 200k rows, stopped after 0.02 s
        search(t200k, q="中文 逗号 备注 1 2 3 4 5 6 7 8 9 0", timeout_s=0.02, limit=5)
    assert ei.value.code == "timeout"
    assert "0.02" in ei.value.message_en
    with pytest.raises(QueryError) as ei:
        search(t200k, timeout_s=0)
    assert ei.value.field == "timeout_s"


def test_indexed_totals_equal_counted_totals(main: TableRef, tmp_path: Path) -> None:
    """Equality totals on one column come from the value-count index; they must equal a real count."""
    from cityhub.datastore.query import rows as query

    cases: list[dict] = [
        {"所属区": "天河区"}, {"所属区": ["天河区", "海珠区"]}, {"所属区": "不存在区"},
        {"人口": 100}, {"人口": None}, {"人口": [None, 20]}, {"开放": True}, {"开放": "false"},
        {"日期": "2020-01-05"}, {"select": "kw1"}, {QUOTE_COL: "O'Brien"},
    ]
    conn = duckdb.connect()
    conn.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet('{main.path}')")
    for filters in cases:
        ((col, raw),) = filters.items()
        values = raw if isinstance(raw, list) else [raw]
        parts = [f"{quote_ident(col)} IS NULL" if v is None else f"{quote_ident(col)} = ?" for v in values]
        params = [v for v in values if v is not None]
        if col == "开放":
            params = [str(v).lower() == "true" for v in params]
        expected = conn.execute(f"SELECT count(*) FROM t WHERE {' OR '.join(parts)}", params).fetchone()[0]
        got = search(main, filters=filters, limit=2)
        assert got["total"] == expected, filters
    assert any(k[0] == str(main.path.resolve()) or k[0] == str(main.path) for k in query._count_index)

    # a column with more distinct values than the index allows is counted by a scan instead
    wide = write_range_table(tmp_path / "wide.parquet", 50_000, "res-wide")
    assert search(wide, filters={"值": 300}, limit=1)["total"] == 1
    key = query._index_key(wide, "值")
    assert key is not None and query._count_index.get(key, "absent") is None

    # a replaced file (new size/mtime) gets a fresh index, never stale counts
    small = write_range_table(tmp_path / "swap.parquet", 10, "res-swap")
    assert search(small, filters={"所属区": "天河区"}, limit=1)["total"] == 2
    write_range_table(tmp_path / "swap.parquet", 100, "res-swap")
    assert search(small, filters={"所属区": "天河区"}, limit=1)["total"] == 20
