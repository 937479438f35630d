"""Sharing building blocks benchmark (issue 12, pure modules): no database, no server.

- ``workdays.add_working_days(start, 10)`` per call (starts spread over 2025–2026);
- a six-column de-identification ``Policy`` (mask resident ID and mobile, keyed pseudonym, birth date → year,
  address → district, age → band) over N rows, rows per second;
- k-anonymity over three quasi-identifiers of 1,000,000 records: ``kanon.check`` on rows in memory beside
  ``kanon.summary_sql`` + ``kanon.smallest_sql`` on the same table in DuckDB (the two reports must agree).

Run: `python -m benchmarks.sharing_bench [--n 100000]` (the figures go to BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import time
from typing import Any

import duckdb
import pyarrow as pa

from benchmarks.common import OUT, machine
from cityhub.sharing import deid, kanon
from cityhub.sharing import workdays as wd

ID = "44010619880801060X"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--records", type=int, default=1_000_000)
    args, _others = parser.parse_known_args()
    rnd = random.Random(1)
    results: dict[str, Any] = {"machine": machine()}

    start = dt.date(2025, 1, 1)
    calls = 20_000
    t0 = time.perf_counter()
    for i in range(calls):
        wd.add_working_days(start + dt.timedelta(days=i % 700), 10)
    results["add_working_days_10_us"] = round((time.perf_counter() - t0) / calls * 1e6, 1)

    rows = [
        {
            "id_no": ID,
            "mobile": f"138{rnd.randrange(10**8):08d}",
            "person": ID,
            "birth": "1988-08-01",
            "address": f"广州市{rnd.choice(deid.GUANGZHOU_DISTRICTS)}某路{i}号",
            "age": rnd.randrange(90),
        }
        for i in range(args.n)
    ]
    policy = deid.Policy.from_dict(
        {
            "id_no": {"op": "mask", "kind": "resident_id"},
            "mobile": {"op": "mask", "kind": "mobile"},
            "person": {"op": "pseudonym", "key": b"k" * 32, "kind": "resident_id"},
            "birth": {"op": "generalise", "to": "year"},
            "address": {"op": "generalise", "to": "district"},
            "age": {"op": "generalise", "to": "age_band"},
        }
    )
    t0 = time.perf_counter()
    policy.apply(rows)
    elapsed = time.perf_counter() - t0
    results["policy_rows"] = args.n
    results["policy_rows_per_s"] = round(args.n / elapsed)

    n = args.records
    big = [
        {
            "district": rnd.choice(deid.GUANGZHOU_DISTRICTS),
            "age": rnd.randrange(18, 90),
            "sex": rnd.choice("FM"),
        }
        for _ in range(n)
    ]
    q = ["district", "age", "sex"]
    t0 = time.perf_counter()
    py = kanon.check(big, q, target_k=5, top=10)
    results["kanon_python_s"] = round(time.perf_counter() - t0, 3)
    con = duckdb.connect()
    con.execute("CREATE TABLE people (district VARCHAR, age INTEGER, sex VARCHAR)")
    con.register("big_arrow", pa.Table.from_pylist(big))
    con.execute("INSERT INTO people SELECT district, age, sex FROM big_arrow")
    con.unregister("big_arrow")
    t0 = time.perf_counter()
    sql, params = kanon.summary_sql("people", q, target_k=5)
    summary = con.execute(sql, params).fetchone()
    sql2, params2 = kanon.smallest_sql("people", q, top=10)
    smallest = con.execute(sql2, params2).fetchall()
    results["kanon_duckdb_s"] = round(time.perf_counter() - t0, 3)
    assert summary is not None
    assert kanon.report_from_sql(q, summary, smallest, target_k=5) == py
    results.update(records=n, classes=py.classes, k=py.k)

    print(json.dumps(results, indent=2, ensure_ascii=False))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "sharing_bench.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
