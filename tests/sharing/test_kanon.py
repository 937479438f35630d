"""k-anonymity (``cityhub.sharing.kanon``), in Python and as DuckDB SQL giving the same report."""

from __future__ import annotations

import random

import duckdb
import pytest

from cityhub.sharing import deid, kanon
from cityhub.sharing.problems import SharingInputError

Q = ["district", "age", "sex"]


def _rows() -> list[dict[str, object]]:
    rows: list[dict[str, object]] = [
        {"district": "天河区", "age": 34, "sex": "F"},
        {"district": "天河区", "age": 34, "sex": "F"},
        {"district": "天河区", "age": 34, "sex": "F"},
        {"district": "天河区", "age": 35, "sex": "F"},
        {"district": "越秀区", "age": 71, "sex": "M"},
        {"district": "越秀区", "age": None, "sex": "M"},
        {"district": "越秀区", "age": None, "sex": "M"},
        {"district": None, "age": 20, "sex": "M"},
    ]
    return rows


def test_k_smallest_classes_and_records_below_target() -> None:
    rep = kanon.check(_rows(), Q, target_k=3, top=3)
    assert (rep.records, rep.classes, rep.k) == (8, 5, 1)
    assert rep.below_target == 5  # every class but the three (天河区, 34, F)
    assert not rep.meets_target
    # size 1 first, ties by values with None last; then the pair
    assert rep.smallest_as_dicts() == [
        {"district": "天河区", "age": 35, "sex": "F", "size": 1},
        {"district": "越秀区", "age": 71, "sex": "M", "size": 1},
        {"district": None, "age": 20, "sex": "M", "size": 1},
    ]
    assert kanon.check(_rows(), ["sex"], target_k=3).k == 4
    assert kanon.check(_rows(), ["sex"], target_k=3).meets_target
    assert kanon.check(_rows(), ["sex"]).below_target == 0  # no target, nothing below it


def test_edge_cases() -> None:
    empty = kanon.check([], Q, target_k=2)
    assert (empty.records, empty.classes, empty.k, empty.smallest, empty.below_target) == (0, 0, 0, (), 0)
    assert not empty.meets_target  # nothing to release is not "k-anonymous"
    # a missing column counts as None; unhashable and mixed-type values still group
    odd = [{"a": [1, 2]}, {"a": [1, 2]}, {"a": 1}, {"a": "1"}, {}, {"a": None}]
    rep = kanon.check(odd, ["a"], top=10)
    assert rep.classes == 4 and rep.k == 1
    assert sorted(g.size for g in rep.smallest) == [1, 1, 2, 2]
    assert kanon.check(_rows(), Q, top=0).smallest == ()
    for bad in ([], "district", ["age", "age"], [""], [3]):
        with pytest.raises(SharingInputError) as e:
            kanon.check(_rows(), bad)  # type: ignore[arg-type]
        assert e.value.field == "quasi" and e.value.zh
    for target in (0, -2, True, 2.5):
        with pytest.raises(SharingInputError):
            kanon.check(_rows(), Q, target_k=target)  # type: ignore[arg-type]
    with pytest.raises(SharingInputError):
        kanon.check(_rows(), Q, top=kanon.MAX_TOP + 1)


def test_suggest_ranks_the_generalisation_that_helps_most() -> None:
    rows = [
        {"address": f"广州市{d}某路{i}号", "age": a, "sex": s}
        for i, (d, a, s) in enumerate(
            [
                ("天河区", 31, "F"),
                ("天河区", 33, "F"),
                ("天河区", 38, "F"),
                ("海珠区", 52, "M"),
                ("海珠区", 57, "M"),
                ("海珠区", 55, "M"),
            ]
        )
    ]
    q = ["address", "age", "sex"]
    assert kanon.check(rows, q).k == 1
    # generalising age alone leaves addresses unique; generalising address alone leaves ages unique
    best = kanon.suggest(rows, q, {"age": "age_band", "address": deid.district}, target_k=3)
    assert [(s.column, s.k, s.gain) for s in best] == [("address", 1, 0), ("age", 1, 0)]  # neither alone
    rows2 = [{**r, "address": r["address"][:6]} for r in rows]  # addresses now only name the district
    best2 = kanon.suggest(rows2, q, {"age": "age_band", "sex": lambda v: None}, target_k=3)
    assert best2[0] == kanon.Suggestion("age", k=3, classes=2, below_target=0, gain=2)
    assert best2[1].column == "sex" and best2[1].k == 1
    with pytest.raises(SharingInputError):
        kanon.suggest(rows, q, {"name": "age_band"})
    with pytest.raises(SharingInputError):
        kanon.suggest(rows, q, {"age": "shoe_size"})


def _duckdb_report(
    con: duckdb.DuckDBPyConnection, table: str | tuple[str, str], q: list[str], target: int | None, top: int
) -> kanon.Report:
    sql, params = kanon.summary_sql(table, q, target_k=target)
    summary = con.execute(sql, params).fetchone()
    assert summary is not None, "the summary aggregate returned no row"
    sql2, params2 = kanon.smallest_sql(table, q, top=top)
    return kanon.report_from_sql(q, summary, con.execute(sql2, params2).fetchall(), target_k=target)


def test_sql_on_duckdb_matches_python() -> None:
    rnd = random.Random(12)
    districts = [*deid.GUANGZHOU_DISTRICTS, None]
    rows = [
        {
            "district": rnd.choice(districts),
            "age": rnd.choice([*range(18, 90), None]),
            "sex": rnd.choice("FM"),
        }
        for _ in range(3000)
    ]
    con = duckdb.connect()
    con.execute(
        'CREATE SCHEMA s; CREATE TABLE s."people ""2026""" (district VARCHAR, age INTEGER, sex VARCHAR)'
    )
    con.executemany('INSERT INTO s."people ""2026""" VALUES (?, ?, ?)', [tuple(r.values()) for r in rows])
    table = ("s", 'people "2026"')
    for q, target, top in ((Q, 5, 10), (["district", "sex"], 150, 5), (["sex"], None, 3), (["age"], 40, 0)):
        py = kanon.check(rows, q, target_k=target, top=top)
        assert _duckdb_report(con, table, q, target, top) == py, q
    assert (
        kanon.check(rows, Q).k == 1 and kanon.check(rows, ["district", "sex"], target_k=150).below_target > 0
    )
    # an empty table
    con.execute("CREATE TABLE e (district VARCHAR, age INTEGER, sex VARCHAR)")
    assert _duckdb_report(con, "e", Q, 2, 5) == kanon.check([], Q, target_k=2)


def test_sql_quotes_names() -> None:
    sql, params = kanon.summary_sql("t", ['a"; DROP TABLE t; --'], target_k=3)
    assert '"a""; DROP TABLE t; --"' in sql and params == [3]
    con = duckdb.connect()
    con.execute('CREATE TABLE t ("a""; DROP TABLE t; --" INTEGER)')
    con.execute("INSERT INTO t VALUES (1), (1), (2)")
    assert con.execute(sql, params).fetchone() == (3, 2, 1, 3)  # both classes are below k = 3
    assert con.execute("SELECT count(*) FROM t").fetchone() == (3,)
    with pytest.raises(SharingInputError):
        kanon.summary_sql((), ["a"])
    with pytest.raises(SharingInputError):
        kanon.smallest_sql("t", ["a\x00"])
