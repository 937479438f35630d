"""The in-process cost of one grant-scoped datastore search (issue 12), the fair figure on a shared machine.

The same three requests as ``grant_bench`` (scoped ``/api/exchange/{rid}/search``; the owner's unscoped search
with the same answer; the unscoped search over the whole table), sent straight into the ASGI application (no
socket, no uvicorn: the middleware, FastAPI's parameter handling, the action, DuckDB and the JSON answer), one
after the other from one client, with a random licence category each. Per variant: wall time per request
(p50, p99) and the process's CPU time per request (``time.process_time``: every thread, DuckDB's included).

Run: ``python -m benchmarks.grant_profile [--rows 1000000] [--n 300] [--profile scoped]``. The store is built
once in ``benchmarks/out/grant-profile-store`` and kept (``--fresh`` rebuilds it); ``--profile VARIANT`` prints
the cProfile of that variant's requests (top functions by cumulative and by own time).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import random
import shutil
import statistics
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from benchmarks.common import OUT, machine, pct
from benchmarks.grant_bench import CATEGORIES, GRANT_COLUMNS, GRANT_ROWS, activate, setup

VARIANTS = ("scoped", "same", "whole")


def requests_for(s: dict[str, Any], variant: str, category: str) -> tuple[str, str, list[tuple[bytes, bytes]]]:
    """(path, query string, headers) of one request of ``variant``."""
    if variant == "scoped":
        path = f"/api/exchange/{s['rid']}/search"
        filters: dict[str, Any] = {"许可类别": category}
        headers = [(b"x-road-client", s["client"].encode()), (b"authorization", f"Bearer {s['system_token']}".encode())]
        params = {"limit": "100", "filters": json.dumps(filters, ensure_ascii=False)}
    else:
        path = f"/api/v1/resources/{s['rid']}/datastore/search"
        filters = {**(GRANT_ROWS if variant == "same" else {}), "许可类别": category}
        headers = [(b"authorization", f"Bearer {s['user_token']}".encode())]
        params = {"limit": "100", "filters": json.dumps(filters, ensure_ascii=False)}
        if variant == "same":
            params["fields"] = ",".join(["_id", *GRANT_COLUMNS])
    return path, urlencode(params, quote_via=quote), headers


async def asgi_get(app: Any, path: str, qs: str, headers: list[tuple[bytes, bytes]]) -> tuple[int, bytes]:
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": qs.encode(), "root_path": "",
             "headers": [(b"host", b"127.0.0.1"), *headers], "client": ("127.0.0.1", 40000),
             "server": ("127.0.0.1", 8000), "state": {}}
    status = 0
    body: list[bytes] = []
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])
        elif message["type"] == "http.response.body":
            body.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(body)


async def measure(app: Any, s: dict[str, Any], variant: str, n: int, seed: int,
                  profiler: cProfile.Profile | None = None) -> dict[str, Any]:
    rnd = random.Random(seed)
    wall: list[float] = []
    sizes: list[int] = []
    cpu0 = time.process_time()
    t_all = time.perf_counter()
    for _ in range(n):
        path, qs, headers = requests_for(s, variant, rnd.choice(CATEGORIES))
        t0 = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        status, body = await asgi_get(app, path, qs, headers)
        if profiler is not None:
            profiler.disable()
        wall.append((time.perf_counter() - t0) * 1000)
        if status != 200:
            raise RuntimeError(f"{variant}: HTTP {status}: {body[:300]!r}")
        sizes.append(len(body))
    cpu = time.process_time() - cpu0
    elapsed = time.perf_counter() - t_all
    return {"n": n, "wall_p50_ms": round(pct(wall, 50), 2), "wall_p99_ms": round(pct(wall, 99), 2),
            "wall_mean_ms": round(statistics.fmean(wall), 2), "cpu_ms_per_request": round(cpu / n * 1000, 2),
            "one_client_req_per_s": round(n / elapsed, 1), "bytes": int(statistics.fmean(sizes))}


def store(rows: int, fresh: bool) -> tuple[Path, str, dict[str, Any]]:
    home = OUT / "grant-profile-store"
    url = f"sqlite:///{home / 'cityhub.db'}"
    info = home / "bench.json"
    if fresh or not info.exists() or json.loads(info.read_text()).get("rows") != rows:
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True)
        activate(home, url)
        from cityhub.migrate import upgrade

        upgrade(url)
        s = setup(rows)
        info.write_text(json.dumps({**s, "rows": rows}))
    activate(home, url)
    return home, url, json.loads(info.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--profile", choices=VARIANTS, default=None)
    parser.add_argument("--fresh", action="store_true")
    parser.add_argument("--answer-cache", choices=("on", "off", "both"), default="on",
                        help="the datastore answer cache on (default size: after the warm-up every request of the "
                        "40-query mix is a hit), off, or both")
    parser.add_argument("--top", type=int, default=45)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    _, _, s = store(args.rows, args.fresh)
    from cityhub.web.app import create_app

    app = create_app()
    result: dict[str, Any] = {"machine": machine(), "rows": args.rows, "load_average_before": list(os.getloadavg())}

    modes = {"on": ["on"], "off": ["off"], "both": ["off", "on"]}[args.answer_cache]

    async def run() -> None:
        from cityhub.settings import get_settings

        for mode in modes:
            # the datastore answer cache: its default size, or 0 (off); read from the settings on every search
            if mode == "off":
                os.environ["CITYHUB_DATASTORE_ANSWER_CACHE_MB"] = "0"
            else:
                os.environ.pop("CITYHUB_DATASTORE_ANSWER_CACHE_MB", None)
            get_settings.cache_clear()
            for variant in args.variants.split(","):
                name = variant if len(modes) == 1 else f"{variant}_cache_{mode}"
                await measure(app, s, variant, 20, seed=1)  # warm: caches, value-count index, scope view
                for category in CATEGORIES:  # every query of the mix once (with the cache on: all answers kept)
                    await asgi_get(app, *requests_for(s, variant, category))
                prof = cProfile.Profile() if args.profile == variant else None
                result[name] = await measure(app, s, variant, args.n, seed=2, profiler=prof)
                print(f"  {name}: {result[name]}", flush=True)
                if prof is not None:
                    for key in ("cumulative", "tottime"):
                        buf = io.StringIO()
                        pstats.Stats(prof, stream=buf).strip_dirs().sort_stats(key).print_stats(args.top)
                        print(buf.getvalue())

    asyncio.run(run())
    result["load_average_after"] = list(os.getloadavg())
    (OUT / "grant-profile.json").write_text(json.dumps(result, ensure_ascii=False, indent=1))
    print(json.dumps(result, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
