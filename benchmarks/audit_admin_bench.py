"""Audit log admin benchmark (issue 11, the admin pages): an audit log of N records (default 100,000, appended
through ``audit.record``, so every record is chained), then, side by side in one run:

- a page of 50 (+1) by sequence number (keyset, ``before_seq``) against the old ``offset`` paging, at the top
  and deep in the log;
- the page's filters: action + outcome, part of the target, a narrow and a wide date range;
- the export: ``audit_export`` (the snapshot) and reading it back 1,000 records at a time, records per second.

Run: `python -m benchmarks.audit_admin_bench [--n 100000]` (SQLite; the figures go to BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.catalog_bench import activate
from benchmarks.common import OUT, machine


def fill(n: int) -> float:
    from cityhub import audit
    from cityhub.db import session_factory

    t0 = time.perf_counter()
    session = session_factory()()
    for i in range(n):
        audit.record(session, None, ("user_update", "session_create", "dataset_update", "department_update")[i % 4],
                     f"target-{i % 5000}", "success" if i % 7 else "failure", {"i": i})
        if i % 20000 == 19999:
            session.commit()
    session.commit()
    session.close()
    return time.perf_counter() - t0


def best_ms(data: dict[str, Any], reps: int = 7) -> tuple[float, int]:
    from cityhub import actions
    from cityhub.context import system_context

    best, rows = float("inf"), 0
    for _ in range(reps):
        t0 = time.perf_counter()
        rows = len(actions.call("audit_list", system_context("bench"), data))
        best = min(best, time.perf_counter() - t0)
    return round(best * 1000, 2), rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    args, _others = parser.parse_known_args()  # run_all passes every benchmark the same arguments
    home = Path(tempfile.mkdtemp(prefix="cityhub-audit-admin-bench-"))
    url = f"sqlite:///{home / 'cityhub.db'}"
    activate(home, url)
    from cityhub import actions
    from cityhub.context import system_context
    from cityhub.migrate import upgrade

    upgrade(url)
    fill_s = fill(args.n)
    now = dt.datetime.now(dt.UTC)
    deep = args.n // 4
    cases = {
        "keyset, newest page": {"limit": 51},
        "offset, newest page": {"limit": 51, "offset": 0},
        f"keyset, page at {args.n - deep:,} records deep": {"limit": 51, "before_seq": deep},
        f"offset, page at {args.n - deep:,} records deep": {"limit": 51, "offset": args.n - deep},
        "filter action + outcome": {"limit": 51, "action": "session_create", "outcome": "failure"},
        "filter part of the target": {"limit": 51, "target": "target-4999"},
        "filter last minute": {"limit": 51, "since": (now - dt.timedelta(minutes=1)).isoformat()},
        "filter since a date (all records)": {"limit": 51, "since": "2000-01-01T00:00:00Z"},
        "filter from/to dates (all records)": {"limit": 51, "since": "2000-01-01T00:00:00Z",
                                               "until": "2100-01-01T00:00:00Z"},
    }
    results: dict[str, Any] = {"machine": machine(), "n": args.n, "fill_s": round(fill_s, 1), "pages": {}}
    for label, data in cases.items():
        ms, rows = best_ms(data)
        results["pages"][label] = {"ms": ms, "rows": rows}
        print(f"{label:45s} {ms:8.2f} ms  ({rows} rows)")
    t0 = time.perf_counter()
    snap = actions.call("audit_export", system_context("bench"), {})
    before, read = snap["upto_seq"] + 1, 0
    while read < snap["count"]:
        batch = actions.call("audit_list", system_context("bench"), {"before_seq": before, "limit": 1000})
        read += len(batch)
        before = batch[-1]["seq"]
    seconds = time.perf_counter() - t0
    results["export"] = {"records": read, "capped": snap["capped"], "s": round(seconds, 2),
                         "records_per_s": round(read / seconds)}
    print(f"export: {read:,} records in {seconds:.2f} s ({read / seconds:,.0f}/s; capped={snap['capped']})")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "audit_admin_bench.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
