"""CKAN client benchmark (issue 4): ``ckanapi dump datasets --all`` against a catalog of 100,000 datasets.

``ckanapi dump datasets --all`` (ckanapi 4.x, ``ckanapi/cli/dump.py``) calls ``package_list`` once, then
``package_show`` once per dataset (POST, one HTTP request each) from ``-p`` worker processes, and writes one
JSON line per package. Measured side by side in one run, all over real HTTP against 2 uvicorn workers:

- ``ckanapi dump datasets --all`` (the CLI, ``-p 1`` = its default, and more worker processes);
- ``ckanapi search datasets`` (the CLI paging ``package_search`` with rows=1000);
- baseline: ``package_search`` paged with rows=1000 via httpx (full records, no per-dataset round trip), and
  the native ``/api/v1/datasets`` paged the same way (summary records, but it counts all its facets per page).

Run: ``python -m benchmarks.ckanapi_bench [--n 100000] [--processes 1,4] [--backend sqlite|postgres]``.
The datasets come from the catalog benchmark's generator (bulk-inserted, then indexed by ``search_reindex``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.catalog_bench import generated_store, reindex
from benchmarks.common import OUT, Server, machine

VENV_BIN = Path(sys.executable).parent


def _ckanapi(args: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    t0 = time.perf_counter()
    proc = subprocess.run([str(VENV_BIN / "ckanapi"), *args], capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"ckanapi {' '.join(args)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return elapsed, proc


def _lines(path: Path) -> int:
    """JSON lines written (the file is removed afterwards: at 100,000 datasets it is ~370 MB)."""
    with path.open("rb") as fh:
        n = sum(1 for line in fh if line.strip())
    path.unlink()
    return n


def ckanapi_dump(url: str, processes: int) -> dict[str, Any]:
    out = OUT / f"ckanapi-dump-p{processes}.jsonl"
    elapsed, _ = _ckanapi(["dump", "datasets", "--all", "-q", "-p", str(processes), "-r", url, "-O", str(out)])
    n = _lines(out)
    return {"tool": f"ckanapi dump datasets --all -p {processes}", "requests": "package_list + package_show × n",
            "datasets": n, "seconds": round(elapsed, 1), "datasets_per_s": round(n / elapsed, 1)}


def ckanapi_search(url: str) -> dict[str, Any]:
    out = OUT / "ckanapi-search.jsonl"
    elapsed, _ = _ckanapi(["search", "datasets", "-r", url, "-O", str(out)])
    n = _lines(out)
    return {"tool": "ckanapi search datasets", "requests": "package_search rows=1000 pages",
            "datasets": n, "seconds": round(elapsed, 1), "datasets_per_s": round(n / elapsed, 1)}


def httpx_paging(url: str, path: str, label: str, ckan_envelope: bool) -> dict[str, Any]:
    """Page through every public dataset with rows=1000 (the baseline: one request per thousand)."""
    import httpx

    n = 0
    start = 0
    t0 = time.perf_counter()
    with httpx.Client(base_url=url, timeout=300) as client:
        while True:
            resp = client.get(path, params={"rows": 1000, "start": start})
            resp.raise_for_status()
            body = resp.json()
            page = body["result"]["results"] if ckan_envelope else body["results"]
            n += len(page)
            if len(page) < 1000:
                break
            start += 1000
    elapsed = time.perf_counter() - t0
    return {"tool": label, "requests": f"{path} rows=1000 pages", "datasets": n, "seconds": round(elapsed, 1),
            "datasets_per_s": round(n / elapsed, 1)}


def run(backend: str, n: int, processes: list[int]) -> dict[str, Any]:
    with generated_store("ckanapi", backend, n) as (_home, _url, env):
        result: dict[str, Any] = {"backend": backend, "datasets": n, "reindex_s": round(reindex(), 1), "runs": []}
        with Server(env, workers=2) as server:
            for p in processes:
                result["runs"].append(ckanapi_dump(server.url, p))
                print("   ", result["runs"][-1])
            result["runs"].append(ckanapi_search(server.url))
            print("   ", result["runs"][-1])
            result["runs"].append(httpx_paging(server.url, "/api/3/action/package_search", "httpx package_search",
                                               True))
            print("   ", result["runs"][-1])
            result["runs"].append(httpx_paging(server.url, "/api/v1/datasets", "httpx native /api/v1/datasets",
                                               False))
            print("   ", result["runs"][-1])
        counts = {r["datasets"] for r in result["runs"]}
        result["same_count_everywhere"] = len(counts) == 1
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--processes", default="1,4", help="ckanapi dump worker processes to try")
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgres"])
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    results = {"machine": machine(), "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
               **run(args.backend, args.n, [int(p) for p in args.processes.split(",")])}
    target = OUT / f"ckanapi-{args.backend}-{args.n}.json"
    target.write_text(json.dumps(results, ensure_ascii=False, indent=1))
    print(json.dumps(results, ensure_ascii=False, indent=1))
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
