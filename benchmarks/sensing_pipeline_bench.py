"""The sensing ingest pipeline (issue 13) beside a ThingsBoard-style PostgreSQL time-series write, same messages.

Each message is one air-quality reading of 6 values (pm25, pm10, so2, no2, co, o3) from one of ``--devices``
devices, JSON as a device sends it; a batch is ``--batch`` messages (what a transport hands over at once).

* ours: ``Ingestor`` (parse, authenticate the token, validate against the device type, de-duplicate, append to
  the Parquet store with its write-ahead file fsynced, upsert the latest values, evaluate one threshold rule per
  device) with the catalog in SQLite, and again with the catalog in PostgreSQL;
* baseline ``pg-ts_kv``: parse the JSON and insert every data point into a ``ts_kv``-shaped PostgreSQL table
  (entity, key, ts, double value, primary key (entity, key, ts)) with one ``executemany`` per batch, plus the
  latest values upserted into a ``ts_kv_latest`` table: how ThingsBoard's SQL time-series DAO writes (its docs put
  PostgreSQL time series at 5–10k data points/s). No authentication, validation or rules: a floor for the
  baseline, not a handicap.

Ratios are our data points/s over the baseline's. Run: ``python -m benchmarks.sensing_pipeline_bench
[--devices 1000] [--batches 20] [--batch 1000]``; results in ``benchmarks/out/sensing_pipeline.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from benchmarks.common import OUT, PG_ADMIN, machine

VALUES = ("pm25", "pm10", "so2", "no2", "co", "o3")


def make_batches(devices: int, batches: int, batch: int, t0: float) -> list[list[tuple[str, bytes]]]:
    out = []
    n = 0
    for _b in range(batches):
        msgs = []
        for _i in range(batch):
            d = n % devices
            ts = int((t0 + n // devices) * 1000)
            n += 1
            body = {"ts": ts, "values": {"pm25": 20 + d % 60, "pm10": 50 + d % 30, "so2": 5 + d % 7,
                                         "no2": 30 + d % 20, "co": 0.5 + (d % 5) / 10, "o3": 60 + d % 40}}
            msgs.append((f"tok-{d}", json.dumps(body).encode()))
        out.append(msgs)
    return out


def run_ours(url: str, home: Path, devices: int, batches: list[list[tuple[str, bytes]]]) -> dict[str, Any]:
    os.environ["CITYHUB_HOME"] = str(home)
    os.environ["CITYHUB_DATABASE_URL"] = url
    os.environ.setdefault("CITYHUB_SECRET_KEY", "bench-" + "x" * 40)
    os.environ["CITYHUB_ENV"] = "test"
    from cityhub import db
    from cityhub.settings import get_settings

    get_settings.cache_clear()
    db.reset_caches()
    from cityhub.migrate import upgrade

    upgrade(url)
    from cityhub.db import session_scope
    from cityhub.sensing.ingest import Ingestor, token_hash
    from cityhub.sensing.message import RawMessage
    from cityhub.sensing.models import Device, SensingRule
    from cityhub.sensing.tsstore import ParquetStore

    with session_scope() as s:
        s.add_all([Device(code=f"aq-{i}", type="air_quality", name=f"aq-{i}", token_hash=token_hash(f"tok-{i}"))
                   for i in range(devices)])
        s.add(SensingRule(name="pm25", device_type="air_quality", alarm_type="PM2.5", severity="major",
                          condition={"attr": "pm25", "op": ">", "value": 75, "for_minutes": 60}))
    store = ParquetStore(home / "ts")
    ingest = Ingestor(store)
    now = time.time()
    raw = [[RawMessage("device", tok, body, now) for tok, body in b] for b in batches]
    ingest(raw[0][:10])  # caches warm
    start = time.perf_counter()
    cpu0 = time.process_time()
    readings = 0
    for b in raw:
        readings += ingest(b).readings
    store.flush()
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu0
    stored = store.count()
    store.close()
    db.reset_caches()
    return {"readings": readings, "points": readings * len(VALUES), "stored_points": stored, "seconds": round(wall, 3),
            "cpu_seconds": round(cpu, 3), "points_per_s": round(readings * len(VALUES) / wall)}


def run_baseline(pg_url: str, batches: list[list[tuple[str, bytes]]]) -> dict[str, Any]:
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE ts_kv (entity_id text, key text, ts bigint, dbl_v double precision, "
                     "PRIMARY KEY (entity_id, key, ts))")
        conn.execute("CREATE TABLE ts_kv_latest (entity_id text, key text, ts bigint, dbl_v double precision, "
                     "PRIMARY KEY (entity_id, key))")
    start = time.perf_counter()
    points = 0
    with psycopg.connect(pg_url) as conn:
        for b in batches:
            rows = []
            for tok, body in b:
                doc = json.loads(body)
                for k, v in doc["values"].items():
                    rows.append((tok, k, doc["ts"], float(v)))
            with conn.cursor() as cur:
                cur.executemany("INSERT INTO ts_kv VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING", rows)
                cur.executemany("INSERT INTO ts_kv_latest VALUES (%s, %s, %s, %s) ON CONFLICT (entity_id, key) "
                                "DO UPDATE SET ts = excluded.ts, dbl_v = excluded.dbl_v", rows)
            conn.commit()
            points += len(rows)
    wall = time.perf_counter() - start
    return {"points": points, "seconds": round(wall, 3), "points_per_s": round(points / wall)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--batch", type=int, default=1000)
    args = ap.parse_args()
    import psycopg

    t0 = time.time() - 86400
    batches = make_batches(args.devices, args.batches, args.batch, t0)
    tmp = Path(tempfile.mkdtemp(prefix="sensing-bench-"))
    results: dict[str, Any] = {"machine": machine(), "load_before": os.getloadavg()[0], "args": vars(args)}
    results["ours_sqlite"] = run_ours(f"sqlite:///{tmp / 'a' / 'cityhub.db'}", tmp / "a", args.devices, batches)
    names = []
    try:
        for label in ("ours_pg", "baseline"):
            name = f"sensing_bench_{uuid.uuid4().hex[:8]}"
            names.append(name)
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            base = PG_ADMIN.rsplit("/", 1)[0]
            if label == "ours_pg":
                results[label] = run_ours(f"{base.replace('postgresql://', 'postgresql+psycopg://')}/{name}",
                                          tmp / "b", args.devices, batches)
            else:
                results["baseline_pg_ts_kv"] = run_baseline(f"{base}/{name}", batches)
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            for name in names:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(tmp, ignore_errors=True)
    base_rate = results["baseline_pg_ts_kv"]["points_per_s"]
    results["ratio_ours_sqlite_vs_baseline"] = round(results["ours_sqlite"]["points_per_s"] / base_rate, 2)
    results["ratio_ours_pg_vs_baseline"] = round(results["ours_pg"]["points_per_s"] / base_rate, 2)
    results["load_after"] = os.getloadavg()[0]
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "sensing_pipeline.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))
    print(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
