"""Plan indicators with 100,000 datasets in the catalog (issue 15): the public progress page ``/indicators`` (p95 ≤
100 ms) and the annual evaluation report (≤ 10 s), on SQLite and PostgreSQL.

The store: the demo's departments and 100,000 datasets bulk-inserted (``catalog_bench.generate``), 60 days of usage
of 2,000 of them, 20,000 exchange calls, and the plan's table 1 with its demo reports through the actions
(``demo.loader.load_indicators``). Measured through the ASGI app in-process (no network):

* ``/indicators`` warm: the live figures cached (:data:`cityhub.indicators.live.TTL`, 60 s) as they are between
  changes; after TTL: every cached figure expired before each request (served stale while a background thread
  recounts); cold: the cache dropped before every request (every live figure recounted in line over the 100,000
  datasets: the first view after a start or a change);
* the annual report (``/indicators/reports/annual``, HTML with an SVG chart per indicator), cold, and its CSV export.

``python -m benchmarks.indicators_bench [--n 100000] [--backends sqlite,postgres]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import time
from typing import Any

from benchmarks.catalog_bench import activate, generate
from benchmarks.common import OUT, fresh_store, machine, pg_drop, summary


def extra_rows(n: int) -> None:
    """Usage of 2,000 datasets over 60 days and 20,000 exchange calls over 12 months (bulk inserts)."""
    from sqlalchemy import insert

    from cityhub import db
    from cityhub.catalog.models import UsageDaily
    from cityhub.sharing.exchange_models import ExchangeCall
    from cityhub.sharing.models import SharingSystem

    rng = random.Random(3)
    today = db.today_local()
    usage = [{"dataset_id": ds, "day": today - dt.timedelta(days=d), "views": rng.randrange(50),
              "downloads": rng.randrange(10), "api_calls": rng.randrange(40)}
             for ds in rng.sample(range(1, n + 1), min(2000, n)) for d in range(60)]
    with db.session_scope() as s:
        for i in range(0, len(usage), 20_000):
            s.execute(insert(UsageDaily), usage[i:i + 20_000])
        system = SharingSystem(department_id=1, code="BENCH-1", name="基准测试系统", token_hash="b" * 64)
        s.add(system)
        s.flush()
        months = [(today.replace(day=1) - dt.timedelta(days=31 * k)).isoformat()[:7] for k in range(12)]
        calls = [{"month": rng.choice(months), "system_id": system.id, "consumer_department_id": 1 + i % 5,
                  "provider_department_id": 6 + i % 5, "resource_id": "r", "action": "datastore_search",
                  "status": "ok", "rows": rng.randrange(1, 5000), "bytes": 0, "ms": 5,
                  "at": dt.datetime.now(dt.UTC)} for i in range(20_000)]
        s.execute(insert(ExchangeCall), calls)


def timed(fn: Any, k: int, before: Any = None) -> list[float]:
    out = []
    for _ in range(k):
        if before is not None:
            before()
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def run_backend(backend: str, n: int) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    home = OUT / f"indicators-{backend}"
    db_name, url = fresh_store(backend, home, "cityhub_indicators_bench")
    try:
        activate(home, url)
        from cityhub.migrate import upgrade

        upgrade(url)
        t0 = time.perf_counter()
        generate(n)
        extra_rows(n)
        from cityhub.context import system_context
        from cityhub.demo.loader import load_indicators

        ctx = system_context("bench")
        ctx.extra["jobs"] = "inline"
        loaded = load_indicators(ctx)
        print(f"    generated in {time.perf_counter() - t0:.1f} s ({loaded})")
        from cityhub.indicators import live
        from cityhub.web.app import create_app

        result: dict[str, Any] = {"backend": backend, "datasets": n, "indicators": loaded["created"]}
        with TestClient(create_app()) as client:
            def get(path: str) -> None:
                r = client.get(path, headers={"Accept": "text/html"})
                assert r.status_code == 200, (path, r.status_code, r.text[:300])

            get("/indicators")
            result["progress_page_warm"] = summary(timed(lambda: get("/indicators"), 300))
            result["progress_page_area_filter_warm"] = summary(timed(lambda: get("/indicators?area=industry"), 100))
            result["progress_page_after_ttl"] = summary(timed(lambda: get("/indicators"), 100, live.expire))
            result["progress_page_cold"] = summary(timed(lambda: get("/indicators"), 30, live.clear))
            result["live_figures_cold"] = {key: summary(timed(lambda key=key: _compute(key), 10, live.clear))
                                           for key in live.HOW}
            result["annual_report_cold"] = summary(timed(lambda: get("/indicators/reports/annual?year=2019"), 10,
                                                         live.clear))
            result["final_report_cold"] = summary(timed(lambda: get("/indicators/reports/final"), 5, live.clear))
            result["assessment_csv_cold"] = summary(timed(
                lambda: get("/api/indicator-assessments/annual?year=2019&format=csv"), 10, live.clear))
        print(json.dumps(result, ensure_ascii=False, indent=1))
        return result
    finally:
        from cityhub import db

        db.reset_caches()
        if db_name:
            pg_drop(db_name)


def _compute(key: str) -> None:
    from cityhub import db
    from cityhub.indicators import live

    with db.session_scope() as s:
        live.compute(s, key, fresh=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    os.environ.setdefault("CITYHUB_ENV", "development")
    results = {"machine": machine(), "load_average": os.getloadavg(),
               "runs": [run_backend(b, args.n) for b in args.backends.split(",") if b]}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "indicators.json").write_text(json.dumps(results, ensure_ascii=False, indent=1))
    print(json.dumps({"machine": results["machine"], "load_average": results["load_average"]}, ensure_ascii=False))


if __name__ == "__main__":
    main()
