"""Issue 15 all in one store: 100,000 datasets, 50,000 data requests and 1,000,000 activity records — plus the
discussion posts of ``discussions_bench`` and the plan indicators with their reports of ``indicators_bench`` — in
ONE store, and every speed target of the issue measured in the same run:

* ``/indicators`` (progress page) p50/p95 with the live figures cached, and once cold (cache dropped);
* a hot dataset page with discussions (3,300 posts, a deep activity stream) p50/p95, its first view (the posts'
  renderings not cached) and after;
* ``package_activity_list``: the action in-process and ``/api/3/action/package_activity_list`` p50/p95;
* the annual report (``/indicators/reports/annual``), cold (live figures recounted);
* the data-request board ``/requests``, first page.

Targets (issue 15): progress page and dataset page with discussions p95 ≤ 100 ms, ``package_activity_list`` p95 ≤
50 ms, annual report ≤ 10 s (the board: p95 ≤ 100 ms, from the data-request benchmark). The fill reuses the other
benchmarks' generators (``catalog_bench.generate``, ``indicators_bench.extra_rows``, ``demo.loader.load_indicators``,
``datareq_bench.fill``, ``discussions_bench.generate_posts``, ``activity_bench.activity_rows`` /
``bulk_activities``); requests go through the ASGI app in-process (FastAPI ``TestClient``, no network).

``python -m benchmarks.engage_bench [--backends sqlite,postgres] [--datasets 100000 --requests 50000
--activities 1000000]``; figures go to ``benchmarks/out/engage.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import OUT, fresh_store, machine, pg_drop, summary

#: (result key, figure, target, unit, what) — what each target of issue 15 is judged on
TARGETS: list[tuple[str, str, float, str, str]] = [
    ("progress_page", "p95_ms", 100.0, "ms", "/indicators p95, live figures cached"),
    ("dataset_page_hot", "p95_ms", 100.0, "ms", "dataset page with discussions p95, after its first view"),
    ("dataset_page_hot_first_view", "p95_ms", 100.0, "ms", "dataset page with discussions p95, first view "
                                                           "(renderings not cached)"),
    ("package_activity_list_action", "p95_ms", 50.0, "ms", "package_activity_list action p95"),
    ("package_activity_list_api", "p95_ms", 50.0, "ms", "/api/3/action/package_activity_list p95 (HTTP stack)"),
    ("annual_report_cold", "max_ms", 10_000.0, "ms", "annual report, cold (slowest of the runs)"),
    ("requests_board_first_page", "p95_ms", 100.0, "ms", "/requests first page p95"),
]


def verdicts(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each target of :data:`TARGETS` against the measured figure: value, target, met (None: not measured)."""
    out: dict[str, dict[str, Any]] = {}
    for key, figure, target, unit, what in TARGETS:
        value = (result.get(key) or {}).get(figure)
        met = None if value is None or value != value else bool(value <= target)  # NaN: not measured
        out[key] = {"what": what, "figure": figure, "value": value, "target": target, "unit": unit, "met": met}
    return out


def _clear_renderings() -> None:
    """Empty the cache of rendered discussion posts, if the product has one (a post's first view)."""
    try:
        from cityhub.web import markdown
    except ImportError:  # pragma: no cover - the renderer moved
        return
    cached = getattr(markdown, "render_cached", None)
    if cached is not None and hasattr(cached, "cache_clear"):
        cached.cache_clear()


def timed(fn: Callable[[], Any], k: int, before: Callable[[], Any] | None = None) -> list[float]:
    out = []
    for _ in range(k):
        if before is not None:
            before()
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def stats(ms: list[float]) -> dict[str, float]:
    return {**summary(ms), "max_ms": round(max(ms), 2)}


def store_size(url: str, home: Path) -> int:
    if url.startswith("sqlite"):
        path = Path(url.split("///", 1)[1])
        return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    from sqlalchemy import text

    from cityhub import db

    with db.get_engine().connect() as conn:
        return int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one())


def fill(url: str, n: int, requests: int, activities: int, hot: int, deep: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every generator into the one store; returns (fill times and counts, what the measurements need)."""
    from sqlalchemy import func, select

    from benchmarks.activity_bench import activity_rows, bulk_activities
    from benchmarks.catalog_bench import generate
    from benchmarks.datareq_bench import fill as fill_requests
    from benchmarks.discussions_bench import backfill, generate_posts
    from benchmarks.indicators_bench import extra_rows
    from cityhub import actions, db
    from cityhub.accounts.models import User
    from cityhub.catalog import visibility
    from cityhub.catalog.models import Dataset
    from cityhub.context import system_context
    from cityhub.demo.loader import load_indicators
    from cityhub.engage.discuss_models import DiscussionPost
    from cityhub.migrate import upgrade
    from cityhub.social.models import Activity

    times: dict[str, float] = {}

    def step(name: str, fn: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        out = fn()
        times[name] = round(time.perf_counter() - t0, 1)
        print(f"    {name:28} {times[name]:7.1f} s", flush=True)
        return out

    step("migrate_s", lambda: upgrade(url))
    step("datasets_s", lambda: generate(n))
    step("usage_and_exchange_s", lambda: extra_rows(n))
    ctx = system_context("bench")
    ctx.extra["jobs"] = "inline"
    loaded = step("indicators_s", lambda: load_indicators(ctx))
    made_requests = step("requests_s", lambda: fill_requests(requests, random.Random(15)))
    escalated = step("escalate_job_s", lambda: actions.call("data_request_escalate", system_context("job"), {}))
    posts = step("posts_s", lambda: generate_posts(n, hot))
    step("posts_html_s", backfill)  # each post's sanitised HTML, as the product stores it when a post is written
    with db.session_scope() as s:
        public = list(s.execute(select(Dataset.id, Dataset.department_id).where(visibility.public_sql())
                                .order_by(Dataset.id).limit(deep)))
        every = list(s.execute(select(Dataset.id, Dataset.department_id).order_by(Dataset.id)))
        names = {r[0]: r[1] for r in s.execute(select(Dataset.id, Dataset.name)
                                                   .where(Dataset.id.in_([r[0] for r in public])))}
        user_id = s.scalar(select(User.id).where(User.name == "asker"))
    deep_pairs = [(r[0], r[1]) for r in public]  # the hot datasets first: their pages have a deep stream too
    spread = [(r[0], r[1]) for r in every]
    rows = activity_rows(activities, deep_pairs, lambda rnd: spread[rnd.randrange(len(spread))], user_id=user_id or 1)
    t0 = time.perf_counter()
    times["activities_load_s"] = round(bulk_activities(url, rows, analyze="activity"), 1)
    times["activities_s"] = round(time.perf_counter() - t0, 1)  # with ANALYZE activity
    print(f"    {'activities_s':28} {times['activities_s']:7.1f} s (load {times['activities_load_s']} s)", flush=True)
    times["total_s"] = round(sum(v for k, v in times.items() if k != "activities_load_s"), 1)
    with db.session_scope() as s:
        counts = {"datasets": s.scalar(select(func.count()).select_from(Dataset)),
                  "requests": made_requests["max_id"] - made_requests["min_id"] + 1,
                  "activities": s.scalar(select(func.count()).select_from(Activity)),
                  "posts": s.scalar(select(func.count()).select_from(DiscussionPost)),
                  "indicators": loaded["created"], "indicator_reports_approved": loaded["approved"],
                  "requests_escalated": len(escalated["escalated"])}
    need = {"hot": posts["hot"], "empty": posts["empty"], "deep": [names[i] for i, _ in deep_pairs]}
    return {"fill": times, "counts": counts}, need


def measure(need: dict[str, Any], samples: int, seed: int = 7) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from cityhub import actions
    from cityhub.context import Context
    from cityhub.indicators import live
    from cityhub.web.app import create_app

    rnd = random.Random(seed)
    result: dict[str, Any] = {}
    anon = Context()
    # the benchmark's own client address is not rate-limited on reads; it posts nothing
    with TestClient(create_app(), base_url="http://127.0.0.1:8000") as client:
        def get(path: str, **kw: Any) -> Any:
            r = client.get(path, headers={"Accept": "text/html"}, **kw)
            assert r.status_code == 200, (path, r.status_code, r.text[:300])
            return r

        hot_pages = [f"/dataset/{name}" for name in need["hot"]]
        t0 = time.perf_counter()
        get(hot_pages[0])  # the very first request of the process (templates compiled, caches empty)
        result["dataset_page_hot_process_first_ms"] = round((time.perf_counter() - t0) * 1000, 1)

        # /indicators: once cold (every live figure recounted in line), then with the figures cached
        live.clear()
        result["progress_page_cold_once"] = stats(timed(lambda: get("/indicators"), 1))
        result["progress_page"] = stats(timed(lambda: get("/indicators"), samples))

        # a hot dataset page with discussions: first view (renderings not cached) and after
        cycle = iter(range(10**9))
        get(f"/dataset/{need['empty']}")
        result["dataset_page_no_discussion"] = stats(timed(lambda: get(f"/dataset/{need['empty']}"), samples))
        result["dataset_page_hot_first_view"] = stats(timed(
            lambda: get(hot_pages[next(cycle) % len(hot_pages)]), max(5, samples // 5), _clear_renderings))
        for page in hot_pages:
            get(page)
        result["dataset_page_hot"] = stats(timed(lambda: get(hot_pages[next(cycle) % len(hot_pages)]), samples))

        # package_activity_list over the deep streams (the hot datasets among them)
        deep = need["deep"]

        def action() -> None:
            out = actions.call("package_activity_list", anon, {"id": rnd.choice(deep)})
            assert out, "an empty stream"

        def api() -> None:
            body = get("/api/3/action/package_activity_list", params={"id": rnd.choice(deep)}).json()
            assert body["success"] and body["result"], body

        action()
        result["package_activity_list_action"] = stats(timed(action, 2 * samples))
        api()
        result["package_activity_list_api"] = stats(timed(api, samples))

        # the annual report, cold (every live figure recounted as it is generated)
        result["annual_report_cold"] = stats(timed(lambda: get("/indicators/reports/annual?year=2019"),
                                                   max(2, min(5, samples // 20)), live.clear))

        # the data-request board's first page
        get("/requests")
        result["requests_board_first_page"] = stats(timed(lambda: get("/requests"), samples))
    return result


def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    from benchmarks.catalog_bench import activate

    print(f"== {backend}: {args.datasets} datasets, {args.requests} requests, {args.activities} activities",
          flush=True)
    home = (Path(args.home) if args.home else OUT) / f"engage-{backend}"
    db_name, url = fresh_store(backend, home, "cityhub_engage_bench")
    try:
        activate(home, url)
        filled, need = fill(url, args.datasets, args.requests, args.activities, args.hot, args.deep)
        size = store_size(url, home)
        from cityhub import db

        db.reset_caches()
        load_before = os.getloadavg()
        figures = measure(need, args.samples)
        result: dict[str, Any] = {"backend": backend, **filled, "store_bytes": size,
                                  "store_mib": round(size / 2**20, 1), "hot_datasets": len(need["hot"]),
                                  "deep_streams": len(need["deep"]), "load_average_measure_start": load_before,
                                  "load_average_measure_end": os.getloadavg(), **figures}
        result["targets"] = verdicts(result)
        print_table(result)
        return result
    finally:
        from cityhub import db

        db.reset_caches()
        if args.keep:
            print(f"kept the store: CITYHUB_HOME={home} CITYHUB_DATABASE_URL={url}")
        else:
            if db_name:
                pg_drop(db_name)
            shutil.rmtree(home, ignore_errors=True)


def print_table(result: dict[str, Any]) -> None:
    print(f"-- {result['backend']}: fill {result['fill']['total_s']} s, store {result['store_mib']} MiB, "
          f"{result['counts']}")
    for key, value in result.items():
        if isinstance(value, dict) and "p95_ms" in value:
            print(f"    {key:36} p50 {value['p50_ms']:9.1f} ms  p95 {value['p95_ms']:9.1f} ms  "
                  f"max {value['max_ms']:9.1f} ms  n={value['n']}")
    for key, v in result["targets"].items():
        verdict = "not measured" if v["met"] is None else ("met" if v["met"] else "NOT MET")
        print(f"    target {key:36} {v['value']} {v['unit']} (≤ {v['target']:g}): {verdict}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="sqlite")
    parser.add_argument("--datasets", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=50_000)
    parser.add_argument("--activities", type=int, default=1_000_000)
    parser.add_argument("--hot", type=int, default=20, help="datasets with 3,300 discussion posts each")
    parser.add_argument("--deep", type=int, default=100, help="datasets sharing half the activities (deep streams)")
    parser.add_argument("--samples", type=int, default=200, help="requests per measured line")
    parser.add_argument("--out", default=str(OUT / "engage.json"))
    parser.add_argument("--home", default="", help="where the stores live (default benchmarks/out)")
    parser.add_argument("--keep", action="store_true", help="keep the store (and its PostgreSQL database) afterwards")
    args = parser.parse_args(argv)
    os.environ.setdefault("CITYHUB_ENV", "development")
    os.environ["CITYHUB_SENSING_DEMO"] = "false"
    os.environ["CITYHUB_DATASTORE_AUTO_LOAD"] = "false"
    results: dict[str, Any] = {
        "machine": machine(), "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "sizes": {"datasets": args.datasets, "requests": args.requests, "activities": args.activities,
                  "hot": args.hot, "deep": args.deep, "samples": args.samples},
        "load_average_before": os.getloadavg(), "runs": []}
    for backend in [b for b in args.backends.split(",") if b]:
        results["runs"].append(run_backend(backend, args))
    results["load_average_after"] = os.getloadavg()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, ensure_ascii=False, indent=1))
    print(f"wrote {out}; load average before {results['load_average_before']}, after "
          f"{results['load_average_after']}")
    return results


if __name__ == "__main__":
    main()
