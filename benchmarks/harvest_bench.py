"""Harvest benchmark: a source CityHub with N generated datasets served over loopback, harvested into an
empty CityHub through the CKAN Action API; the same source paged raw (transfer only) as the baseline, and a
second, incremental run (everything unchanged).

    python -m benchmarks.harvest_bench --n 10000
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.catalog_bench import activate, generate, reindex
from benchmarks.common import OUT, Server, machine


def raw_paging(url: str, rows: int = 1000) -> tuple[float, int, int]:
    """Page through package_search with full packages, as the harvester's gather does: (seconds, packages,
    bytes)."""
    import httpx

    t0 = time.perf_counter()
    start = total = size = 0
    with httpx.Client(timeout=300) as client:
        while True:
            resp = client.get(f"{url}/api/3/action/package_search",
                              params={"q": "*:*", "rows": rows, "start": start, "sort": "metadata_modified asc"})
            resp.raise_for_status()
            size += len(resp.content)
            result = resp.json()["result"]
            total += len(result["results"])
            start += rows
            if start >= result["count"]:
                break
    return time.perf_counter() - t0, total, size


def harvest_into(home: Path, source_url: str) -> dict[str, Any]:
    """Migrate an empty store at ``home``, register the source and harvest it twice (full, incremental)."""
    from cityhub import actions
    from cityhub.context import system_context
    from cityhub.demo import content
    from cityhub.migrate import upgrade

    url = f"sqlite:///{home / 'cityhub.db'}"
    activate(home, url)
    upgrade(url)
    ctx = system_context("bench")
    d = content.current().departments[0]
    actions.call("department_create", ctx, {"slug": "harvested", "name": "采集数据", "short_name": "采集",
                                            "uscc": d.uscc, "level": "市"})
    actions.call("harvest_source_create", system_context("bench"), {
        "name": "bench-source", "title": "benchmark source", "kind": "ckan", "url": source_url,
        "department": "harvested", "config": {"map_organizations": False}})
    runs = []
    for label in ("full", "incremental"):
        t0, cpu0 = time.perf_counter(), time.process_time()
        started = actions.call("harvest_run", system_context("bench"), {"source": "bench-source", "wait": True})
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        run = actions.call("harvest_run_show", system_context("bench"), {"id": started["id"]})
        gathered = next((e["message"] for e in run["log"] if e["message"].startswith("gathered")), "")
        runs.append({"run": label, "status": run["status"], "seconds": round(elapsed, 1),
                     "harvester_cpu_s": round(cpu, 1), "load_avg_1m": round(os.getloadavg()[0], 1), "new": run["new"],
                     "updated": run["updated"], "unchanged": run["unchanged"], "errors": run["errors"],
                     "datasets_per_s": round((run["new"] + run["updated"] + run["unchanged"]) / elapsed, 1),
                     "gather": gathered})
        print(f"  harvest ({label}): {run['status']} in {elapsed:.1f} s (harvester CPU {cpu:.1f} s, load "
              f"{os.getloadavg()[0]:.1f}) — new {run['new']}, updated "
              f"{run['updated']}, unchanged {run['unchanged']}, errors {run['errors']} ({gathered})")
    return {"runs": runs}


def _all_public() -> None:
    """Every generated dataset public and valid, so that all N are harvested (the generator also makes
    closed and conditionally open ones without their condition, for the catalog benchmark)."""
    from sqlalchemy import update

    from cityhub import db
    from cityhub.catalog.models import Dataset

    with db.session_scope() as s:
        s.execute(update(Dataset).values(opening_class="无条件开放", opening_condition=""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=10000, help="datasets at the source")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    print(f"harvest benchmark: {args.n} datasets; {machine()}")
    with tempfile.TemporaryDirectory(prefix="cityhub-harvest-bench-") as tmp:
        src_home, dst_home = Path(tmp) / "source", Path(tmp) / "dest"
        src_home.mkdir()
        dst_home.mkdir()
        src_url = f"sqlite:///{src_home / 'cityhub.db'}"
        activate(src_home, src_url)
        from cityhub.migrate import upgrade

        upgrade(src_url)
        t0 = time.perf_counter()
        generate(args.n)
        _all_public()
        reindex()
        print(f"  source generated in {time.perf_counter() - t0:.1f} s")
        env = {"CITYHUB_HOME": str(src_home), "CITYHUB_DATABASE_URL": src_url, "CITYHUB_HARVEST_CHECK_MINUTES": "0"}
        with Server(env, workers=2) as server:
            seconds, packages, size = raw_paging(server.url)
            print(f"  baseline raw package_search paging: {packages} packages, {size / 2**20:.1f} MiB in "
                  f"{seconds:.1f} s ({packages / seconds:.0f}/s)")
            result = harvest_into(dst_home, server.url)
    figures = {"n": args.n, "machine": machine(),
               "baseline_paging": {"seconds": round(seconds, 1), "packages": packages, "mib": round(size / 2**20, 1)},
               **result}
    (OUT / "harvest.json").write_text(json.dumps(figures, ensure_ascii=False, indent=2), encoding="utf-8")
    print(json.dumps(figures, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
