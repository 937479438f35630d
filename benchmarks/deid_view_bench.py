"""De-identified view benchmark (issue 12): the view a steward's policy makes of an N-row table.

- ours: ``sharing.views.build`` — one DuckDB query over the Parquet file (masks, HMAC pseudonyms, district and
  age band in SQL; the resident-ID operators once per distinct value through a joined lookup table);
- baseline: the same ``deid.Policy`` applied row by row in Python (read the rows, ``policy.apply``, write Parquet
  with PyArrow), as a per-row de-identifier would.

The two outputs are compared value for value on every row. Run: ``python -m benchmarks.deid_view_bench
[--n 1000000]`` (figures go to BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from stdnum.cn import ric

from benchmarks.common import OUT, machine

POLICY: dict[str, dict[str, Any]] = {
    "身份证号": {"op": "pseudonym", "kind": "resident_id"},
    "证件": {"op": "mask", "kind": "resident_id"},
    "手机号": {"op": "mask", "kind": "mobile"},
    "住址": {"op": "generalise", "to": "district"},
    "年龄": {"op": "generalise", "to": "age_band"},
    "姓名": {"op": "mask", "keep_first": 1},
}
DISTRICTS = ("天河区", "越秀区", "海珠区", "白云区", "番禺区", "东山区")


def _table(n: int, path: Path) -> None:
    rnd = random.Random(7)
    ids = []
    for i in range(n):
        body = f"440106{1986 + i % 30}{1 + i % 12:02d}{1 + i % 28:02d}{i % 1000:03d}"
        ids.append(body + ric.calc_check_digit(body + "0"))
    table = pa.table({
        "_id": pa.array(range(1, n + 1), type=pa.int64()),
        "身份证号": ids,
        "证件": ids,
        "手机号": [f"138{rnd.randrange(10**8):08d}" for _ in range(n)],
        "住址": [f"广州市{DISTRICTS[i % 6]}某路{i % 500}号" for i in range(n)],
        "年龄": pa.array([rnd.randrange(90) for _ in range(n)], type=pa.int64()),
        "姓名": [f"张{i % 97}" for i in range(n)],
    })
    pq.write_table(table, path)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1_000_000)
    args, _others = parser.parse_known_args()
    os.environ.setdefault("CITYHUB_SECRET_KEY", "benchmark-secret-key-0001")
    from cityhub.settings import get_settings
    from cityhub.sharing import deid, views

    key = get_settings().resolved_deid_key
    columns = [("身份证号", "string"), ("证件", "string"), ("手机号", "string"), ("住址", "string"),
               ("年龄", "integer"), ("姓名", "string")]
    results: dict[str, Any] = {"machine": machine(), "rows": args.n}
    with tempfile.TemporaryDirectory() as tmp:
        src, ours, base = Path(tmp) / "src.parquet", Path(tmp) / "ours.parquet", Path(tmp) / "base.parquet"
        _table(args.n, src)
        t0 = time.perf_counter()
        views.build(src, [("_id", "integer"), *columns], POLICY, "drop", key, ours)
        results["ours_s"] = round(time.perf_counter() - t0, 2)

        t0 = time.perf_counter()
        policy = deid.Policy.from_dict(POLICY, key=key)
        rows = pq.read_table(src).to_pylist()
        out = policy.apply(rows)
        for r, o in zip(rows, out, strict=True):
            o["_id"] = r["_id"]
        pq.write_table(pa.Table.from_pylist(out), base)
        results["baseline_s"] = round(time.perf_counter() - t0, 2)

        con = duckdb.connect()
        cols = ", ".join(f'"{c}"' for c, _ in columns)
        differ = con.execute(f"SELECT count(*) FROM (SELECT _id, {cols} FROM read_parquet('{ours}') EXCEPT "
                             f"SELECT _id, {cols} FROM read_parquet('{base}'))").fetchone()
        assert differ is not None and differ[0] == 0, f"{differ} rows differ"
    results["ours_rows_per_s"] = round(args.n / results["ours_s"])
    results["baseline_rows_per_s"] = round(args.n / results["baseline_s"])
    results["ratio"] = round(results["baseline_s"] / results["ours_s"], 1)
    print(json.dumps(results, ensure_ascii=False, indent=2))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "deid_view.json").write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
