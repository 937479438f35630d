"""Activity streams at scale (issue 15): 1,000,000 activity records, then ``package_activity_list`` p95 (target
≤ 50 ms), through the action and through the CKAN Action API, and the notification fan-out of one activity to
10,000 followers (one INSERT … SELECT).

    python -m benchmarks.activity_bench [--n 1000000] [--calls 500]

The Guangzhou demo is loaded into a fresh SQLite store; the activity rows are bulk-inserted with one prepared
statement (executemany, one transaction): half spread over the demo's datasets (~5,500 each, so every stream is
deep), half over 10,000 other dataset ids. Each bulk row's ``data`` is a trimmed package dict (~1 KB of JSON;
the product stores the whole ``package_show`` dict, 3–6 KB — a page reads 31 of them, so the size changes the
page time little and the file size much)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from benchmarks.common import OUT, machine, summary

ACTIVITY_COLUMNS = ("ts", "user_id", "actor", "object_type", "object_id", "activity_type", "dataset_id",
                    "department_id", "public", "data")


def activity_rows(n: int, deep: list[tuple[int, int]], spread: Callable[[random.Random], tuple[int, int]],
                  user_id: int = 2, seed: int = 15) -> Iterator[tuple[Any, ...]]:
    """``n`` activity rows (:data:`ACTIVITY_COLUMNS`), one every 30 s from 2024-01-01: the even ones cycle over
    ``deep`` (dataset id, department id) pairs (deep streams), the odd ones go to ``spread(rnd)``. The first 20,000
    are ``new package``, the rest ``changed package``; each carries a trimmed package dict (~1 KB of JSON)."""
    rnd = random.Random(seed)
    start = dt.datetime(2024, 1, 1)
    pad = "广州市公共数据开放平台活动流基准测试数据集描述" * 12
    payloads: dict[int, str] = {}
    for i in range(n):
        if i % 2 == 0:
            ds_id, dept_id = deep[i // 2 % len(deep)]
        else:
            ds_id, dept_id = spread(rnd)
        ts = (start + dt.timedelta(seconds=i * 30)).strftime("%Y-%m-%d %H:%M:%S.%f")
        kind = "new package" if i < 20_000 else "changed package"
        data = payloads.get(ds_id)
        if data is None:  # one payload per dataset (the JSON encoding is not what is measured)
            data = payloads[ds_id] = json.dumps({"package": {"id": f"pkg-{ds_id}", "name": f"ds-{ds_id}",
                                                             "title": f"数据集 {ds_id}", "notes": pad},
                                                 "actor": "steward"}, ensure_ascii=False)
        yield (ts, user_id, "steward", "dataset", f"pkg-{ds_id}", kind, ds_id, dept_id, True, data)


def bulk_activities(url: str, rows: Iterable[tuple[Any, ...]], analyze: str = "") -> float:
    """The standard bulk load of activity rows into the store at ``url`` (SQLite or PostgreSQL): the table's
    secondary indexes dropped, the rows inserted in one transaction (SQLite: one prepared ``executemany``;
    PostgreSQL: ``COPY``), the indexes built again. Then ``ANALYZE`` (``analyze``: a table, or the whole store
    when empty). Returns the seconds of the load (drop, insert, rebuild), not counting the ``ANALYZE``."""
    cols = ", ".join(ACTIVITY_COLUMNS)
    if url.startswith("sqlite"):
        con = sqlite3.connect(url.split("///", 1)[1])
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=OFF")
        t0 = time.perf_counter()
        indexes = [r for r in con.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND "
                                          "tbl_name = 'activity' AND sql IS NOT NULL")]
        for name, _sql in indexes:
            con.execute(f'DROP INDEX "{name}"')
        con.executemany(f"INSERT INTO activity ({cols}) VALUES ({', '.join('?' * len(ACTIVITY_COLUMNS))})", rows)
        for _name, sql in indexes:
            con.execute(sql)
        con.commit()
        seconds = time.perf_counter() - t0
        con.execute(f"ANALYZE {analyze}".strip())
        con.close()
        return seconds
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as pg:
        t0 = time.perf_counter()
        indexes = pg.execute("SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = 'activity' AND "
                             "NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)").fetchall()
        for name, _sql in indexes:
            pg.execute(f'DROP INDEX "{name}"')
        with pg.cursor().copy(f"COPY activity ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        for _name, sql in indexes:
            pg.execute(sql)
        pg.commit()
        seconds = time.perf_counter() - t0
        pg.execute(f"ANALYZE {analyze}".strip())
        pg.commit()
    return seconds


def _bulk(db_path: Path, n: int, datasets: list[tuple[int, int]]) -> float:
    """Insert ``n`` activities (and rebuild the table's indexes); returns seconds."""
    return bulk_activities(f"sqlite:///{db_path}", activity_rows(
        n, datasets, lambda rnd: (1_000_000 + rnd.randrange(10_000), rnd.randrange(1, 40))))


def _followers(db_path: Path, dataset_id: int, n: int) -> None:
    con = sqlite3.connect(db_path)
    cols = {r[1]: r for r in con.execute("PRAGMA table_info(user_account)")}
    base = {"display_name": "", "email": "", "password_hash": "x", "role": "public", "active": 1,
            "created_at": "2024-01-01 00:00:00.000000", "totp_secret": "", "totp_enabled": 0,
            "must_change_password": 0}
    names = [c for c in cols if c != "id" and (c in base or c == "name")]
    con.executemany(f"INSERT INTO user_account ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                    ([f"bench-follower-{i}" if c == "name" else base[c] for c in names] for i in range(n)))
    con.execute("INSERT INTO follow (user_id, object_type, object_id, created_at) SELECT id, 'dataset', ?, "
                "'2024-01-01 00:00:00.000000' FROM user_account WHERE name LIKE 'bench-follower-%'", (str(dataset_id),))
    con.commit()
    con.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--followers", type=int, default=10_000)
    args, _others = parser.parse_known_args()
    results: dict[str, Any] = {"machine": machine(), "activities": args.n, "backend": "sqlite"}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.update({"CITYHUB_HOME": tmp, "CITYHUB_DATABASE_URL": f"sqlite:///{tmp}/cityhub.db",
                           "CITYHUB_ENV": "test", "CITYHUB_SECRET_KEY": "benchmark-secret-key-0015",
                           "CITYHUB_ADMIN_PASSWORD": "Bench-Platform-Passphrase-2026",
                           "CITYHUB_DATASTORE_AUTO_LOAD": "false"})
        from cityhub import actions, db
        from cityhub.context import Context, system_context
        from cityhub.demo.loader import load
        from cityhub.migrate import upgrade
        from cityhub.settings import get_settings

        get_settings.cache_clear()
        db.reset_caches()
        upgrade(get_settings().resolved_database_url)
        load()
        names = [d for d in actions.call("dataset_list", Context(), {"limit": 1000})]
        info = [actions.call("dataset_show", system_context(), {"id": n}) for n in names]
        datasets = [(d["id"], actions.call("department_show", system_context(), {"slug": d["department"]})["id"])
                    for d in info]
        results["bulk_insert_s"] = round(_bulk(Path(tmp) / "cityhub.db", args.n, datasets), 1)
        results["bulk_rows_per_s"] = round(args.n / results["bulk_insert_s"])
        results["db_mib"] = round((Path(tmp) / "cityhub.db").stat().st_size / 2**20)
        db.reset_caches()
        rnd = random.Random(7)
        anon = Context()
        for label, extra in (("first page (limit 31)", {}), ("offset 1000", {"offset": 1000}),
                             ("limit 100", {"limit": 100})):
            ms = []
            for _ in range(args.calls):
                ref = rnd.choice(names)
                t0 = time.perf_counter()
                out = actions.call("package_activity_list", anon, {"id": ref, **extra})
                ms.append((time.perf_counter() - t0) * 1000)
                assert out or extra.get("offset"), ref
            results[f"action {label}"] = summary(ms)
        from fastapi.testclient import TestClient

        from cityhub.web.app import create_app

        with TestClient(create_app()) as client:
            ms = []
            for _ in range(args.calls):
                ref = rnd.choice(names)
                t0 = time.perf_counter()
                resp = client.get("/api/3/action/package_activity_list", params={"id": ref})
                ms.append((time.perf_counter() - t0) * 1000)
                assert resp.status_code == 200 and len(resp.json()["result"]) == 31
            results["CKAN API HTTP (in-process) first page"] = summary(ms)
            ms = []
            for _ in range(min(args.calls, 200)):
                t0 = time.perf_counter()
                resp = client.get("/api/3/action/recently_changed_packages_activity_list")
                ms.append((time.perf_counter() - t0) * 1000)
                assert resp.status_code == 200
            results["CKAN API recently_changed_packages_activity_list"] = summary(ms)
        # fan-out: one activity to N followers
        target = info[0]
        _followers(Path(tmp) / "cityhub.db", target["id"], args.followers)
        db.reset_caches()
        from cityhub.context import Actor

        steward = Context(actor=Actor(id=2, name="steward", role="platform_admin", department_id=None))
        t0 = time.perf_counter()
        actions.call("dataset_update", steward, {"id": target["name"], "title": "基准测试:扇出"})
        results[f"dataset_update with fan-out to {args.followers} followers_ms"] = round(
            (time.perf_counter() - t0) * 1000, 1)
        import sqlalchemy as sa

        with db.make_engine(get_settings().resolved_database_url).connect() as conn:
            results["notifications_written"] = conn.execute(sa.text("SELECT count(*) FROM notification")).scalar()
    print(json.dumps(results, ensure_ascii=False, indent=2))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "activity.json").write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
