"""The sensing time-series store at 100 million stored values (issue 13, "Speed"): reads of the device page and the
API beside PostgreSQL.

    python -m benchmarks.sensing_store_bench [--readings 100000000] [--devices 5000] [--days 30] [--pg-days 30]

Fill (a fresh ``CITYHUB_HOME``): a fleet of ``--devices`` devices of the 11 device types (streetlights and parking
spots the most numerous), each reporting all its attributes every few minutes (the interval is chosen so that the
``--days`` days ending now hold ``--readings`` stored values: rows of the store, one per device, time and attribute,
what ``count()`` and the overview's "values stored" count). Generated vectorised with NumPy/PyArrow one UTC day at a
time, written through the store's own write path:

* finished days: ``ParquetStore.append`` (write-ahead file, flush into ``raw/type=…/day=…``), ``--history-appends``
  appends per day in time order (a file per type each), then ``retain`` — the daily job: compaction of each finished
  day into one file, its hourly and daily aggregates;
* today (UTC, midnight to now): appended as the running pipeline leaves it — one append per ``--flush-seconds``
  window of readings (the product flushes its buffer every ``CITYHUB_SENSING_FLUSH_SECONDS`` = 2 s), each append a
  flush, i.e. one small Parquet file per type present in it; then the store's ``compact`` (when it has one: the
  job ``sensing_compact``) as the job would have run it.

Reads, through the actions the device page and the API call (``device_series_show`` 24h/7d/30d,
``device_series`` 24 h, ``sensing_hourly`` for one Asia/Shanghai day) on random devices and days, and the same
store calls (``series``, ``hourly``, ``device_aggregates``) on ``PostgresStore`` over the product's PostgreSQL table
``sensing_reading`` (primary key device, attribute, ts; index type, ts) holding the same values of the last
``--pg-days`` days (loaded with COPY, indexes built after the load). Peak memory (VmHWM) of this process per phase,
disk sizes. Results in ``benchmarks/out/sensing_store.json``. The generated data is deleted at the end (``--keep``
keeps the Parquet store for a re-run with ``--reuse DIR``).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import itertools
import json
import os
import random
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from benchmarks.common import OUT, PG_ADMIN, machine, summary

UTC = dt.UTC
SH = dt.timezone(dt.timedelta(hours=8))
#: share of the fleet per device type (a city has many more lamps and parking spots than stations)
FLEET = {"air_quality": 0.04, "water_quality": 0.03, "noise": 0.07, "flood": 0.06, "streetlight": 0.28,
         "parking_spot": 0.22, "manhole_cover": 0.12, "gas_pipeline": 0.05, "water_pipeline": 0.05,
         "drainage_pipeline": 0.04, "energy_meter": 0.04}


# -- memory -------------------------------------------------------------------------------------------------------

def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def reset_peak() -> None:
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS


def peak_gib() -> float:
    return round(_status("VmHWM") / 2**30, 2)


def du_gib(path: Path) -> float:
    out = subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True, check=False).stdout
    return round(int(out.split()[0]) / 2**30, 3) if out else float("nan")


def count_files(path: Path) -> int:
    return sum(1 for _ in path.rglob("*.parquet"))


# -- the fleet and its readings -------------------------------------------------------------------------------------

class Fleet:
    def __init__(self, devices: int, readings: int, days: int, now: dt.datetime, seed: int = 13) -> None:
        from cityhub.sensing import devicetypes

        self.types: dict[str, list[str]] = {}
        self.devices: dict[str, list[str]] = {}
        left = devices
        for i, (t, share) in enumerate(FLEET.items()):
            n = left if i == len(FLEET) - 1 else max(1, round(devices * share))
            left -= n
            self.types[t] = [a.name for a in devicetypes.TYPES[t].attributes]
            self.devices[t] = ["".join(w[0] for w in t.split("_")) + f"-{j:05d}" for j in range(n)]
        self.per_round = sum(len(self.devices[t]) * len(self.types[t]) for t in self.types)
        self.rounds_per_day = max(1, round(readings / days / self.per_round))
        self.spacing_us = 86_400_000_000 // self.rounds_per_day
        self.now = now
        self.start = now - dt.timedelta(days=days)
        rng = np.random.default_rng(seed)
        self.phase = {t: rng.random(len(d)) for t, d in self.devices.items()}  # each device's offset in its round
        self.seed = seed

    @property
    def interval_s(self) -> float:
        return self.spacing_us / 1e6

    def all_devices(self) -> list[tuple[str, str]]:
        return [(code, t) for t, codes in self.devices.items() for code in codes]

    def utc_days(self) -> list[dt.date]:
        d, out = self.start.date(), []
        while d <= self.now.date():
            out.append(d)
            d += dt.timedelta(days=1)
        return out

    def day(self, day: dt.date) -> pa.Table:
        """Every value of the UTC day ``day`` inside [start, now), all types, in time order."""
        from cityhub.sensing.tsstore import SCHEMA

        d0 = int(dt.datetime.combine(day, dt.time(), UTC).timestamp() * 1_000_000)
        lo, hi = int(self.start.timestamp() * 1e6), int(self.now.timestamp() * 1e6)
        parts = []
        for ti, (t, attrs) in enumerate(self.types.items()):
            n, a, r = len(self.devices[t]), len(attrs), self.rounds_per_day
            rng = np.random.default_rng([self.seed, day.toordinal(), ti])
            dev = np.broadcast_to(np.arange(n, dtype=np.int32)[:, None, None], (n, r, a)).ravel()
            k = np.broadcast_to(np.arange(r, dtype=np.int64)[None, :, None], (n, r, a)).ravel()
            att = np.broadcast_to(np.arange(a, dtype=np.int32)[None, None, :], (n, r, a)).ravel()
            ts = d0 + ((k + self.phase[t][dev]) * self.spacing_us).astype(np.int64)
            keep = (ts >= lo) & (ts < hi)
            dev, att, ts = dev[keep], att[keep], ts[keep]
            hour = (ts // 3_600_000_000) % 24
            value = 20.0 + 5.0 * att + 8.0 * np.sin(hour / 24 * 2 * np.pi) + rng.normal(0, 2, len(ts))
            parts.append(pa.table([
                pa.DictionaryArray.from_arrays(pa.array(dev), pa.array(self.devices[t])).cast(pa.string()),
                pa.array(np.full(len(ts), t, dtype=object), pa.string()),
                pa.array(ts, pa.int64()).cast(pa.timestamp("us", tz="UTC")),
                pa.DictionaryArray.from_arrays(pa.array(att), pa.array(attrs)).cast(pa.string()),
                pa.array(value, pa.float64())], schema=SCHEMA))
        table = pa.concat_tables(parts)
        return table.sort_by([("ts", "ascending")])  # arrival order


# -- fill ---------------------------------------------------------------------------------------------------------

def fill(root: Path, fleet: Fleet, flush_seconds: float, history_appends: int) -> dict[str, Any]:
    from cityhub.sensing.tsstore import ParquetStore

    reset_peak()
    t0 = time.perf_counter()
    store = ParquetStore(root, flush_rows=1, flush_seconds=0)  # every append is flushed
    days = fleet.utc_days()
    total = 0
    for day in days[:-1]:
        tbl = fleet.day(day)
        step = -(-tbl.num_rows // history_appends)
        for i in range(0, tbl.num_rows, step):  # in time order: each append a flush, a file per type
            store.append(tbl.slice(i, step))
        total += tbl.num_rows
    t_hist = time.perf_counter() - t0
    retained = store.retain(fleet.now, raw_days=len(days))  # the daily job: aggregates of every finished day
    t_retain = time.perf_counter() - t0 - t_hist
    today = fleet.day(days[-1])
    total += today.num_rows
    ts = today["ts"].cast(pa.int64()).to_numpy()
    step = int(flush_seconds * 1e6)
    bounds = np.searchsorted(ts, np.arange(ts[0] - ts[0] % step, ts[-1] + step, step)) if len(ts) else []
    flushes = 0
    t1 = time.perf_counter()
    for a, b in itertools.pairwise(bounds):
        if b > a:
            store.append(today.slice(int(a), int(b - a)))
            flushes += 1
    t_today = time.perf_counter() - t1
    today_files = count_files(root / "raw") - (len(days) - 1) * len(fleet.types)
    out: dict[str, Any] = {}
    compact = getattr(store, "compact", None)
    if callable(compact):
        t2 = time.perf_counter()
        out["compact"] = compact()
        out["compact_s"] = round(time.perf_counter() - t2, 1)
    store.close()
    return {**out, "rows": total, "seconds": round(time.perf_counter() - t0, 1), "history_append_s": round(t_hist, 1),
            "retain_s": round(t_retain, 1), "retain": retained, "today_rows": today.num_rows,
            "today_flushes": flushes, "today_append_s": round(t_today, 1), "today_files_before_compact": today_files,
            "files_after": count_files(root / "raw"), "peak_rss_gib": peak_gib(), "disk_gib": du_gib(root),
            "disk_raw_gib": du_gib(root / "raw"), "disk_aggregates_gib": round(du_gib(root / "hourly")
                                                                                + du_gib(root / "daily"), 3)}


# -- reads ----------------------------------------------------------------------------------------------------------

def timed(fn: Callable[[], Any], cpu: list[float] | None = None) -> tuple[float, Any]:
    """Wall ms of ``fn()`` and its result; the process's CPU ms (DuckDB's threads included) appended to ``cpu``."""
    c = time.process_time()
    t = time.perf_counter()
    r = fn()
    wall = (time.perf_counter() - t) * 1000
    if cpu is not None:
        cpu.append((time.process_time() - c) * 1000)
    return wall, r


def with_cpu(ms: list[float], cpu: list[float]) -> dict[str, Any]:
    cs = sorted(cpu)
    return {**summary(ms), "cpu_p50_ms": round(cs[len(cs) // 2], 2), "cpu_p95_ms": round(cs[int(len(cs) * .95)], 2)}


def samples(fleet: Fleet, n_dev: int, n_days: int, seed: int = 7, days_back: int = 0) -> dict[str, Any]:
    """Random devices, and random whole Asia/Shanghai days before today (of the last ``days_back`` days if given)."""
    rnd = random.Random(seed)
    devs = rnd.sample(fleet.all_devices(), n_dev)
    begin = fleet.now - dt.timedelta(days=days_back) if days_back else fleet.start
    first = (begin.astimezone(SH) + dt.timedelta(days=1)).date()
    last = (fleet.now.astimezone(SH) - dt.timedelta(days=1)).date()
    span = (last - first).days
    days = [first + dt.timedelta(days=rnd.randint(0, span)) for _ in range(n_days)]
    return {"devices": devs, "days": days}


def city_types(fleet: Fleet) -> list[str]:
    """The type with the most values per day, and air quality (the AQI's)."""
    biggest = max(fleet.types, key=lambda t: len(fleet.devices[t]) * len(fleet.types[t]))
    return list(dict.fromkeys([biggest, "air_quality"]))


def measure_actions(home: Path, fleet: Fleet, smp: dict[str, Any]) -> dict[str, Any]:
    """Through the registry's actions (what the device page's chart API and the REST API call)."""
    os.environ.update({"CITYHUB_HOME": str(home), "CITYHUB_DATABASE_URL": f"sqlite:///{home / 'cityhub.db'}",
                       "CITYHUB_ENV": "test", "CITYHUB_SENSING_TS_BACKEND": "parquet"})
    os.environ.setdefault("CITYHUB_SECRET_KEY", "bench-" + "x" * 40)
    from cityhub import actions, db
    from cityhub.context import system_context
    from cityhub.migrate import upgrade
    from cityhub.settings import get_settings

    get_settings.cache_clear()
    db.reset_caches()
    upgrade(os.environ["CITYHUB_DATABASE_URL"])
    from cityhub.db import session_scope
    from cityhub.sensing.ingest import token_hash
    from cityhub.sensing.models import Device

    with session_scope() as s:
        if not s.query(Device).count():
            s.add_all([Device(code=c, type=t, name=c, token_hash=token_hash(f"tok-{c}"))
                       for c, t in fleet.all_devices()])
    ctx = system_context("bench")
    reset_peak()
    res: dict[str, Any] = {}
    devs = smp["devices"]

    def run(label: str, calls: Iterator[Callable[[], Any]], check: Callable[[Any], int]) -> None:
        ms, sizes, cpu = [], [], []  # type: ignore[var-annotated]
        for i, fn in enumerate(calls):
            t, r = timed(fn, cpu)
            if i == 0:
                res[label + "_first_ms"] = round(t, 1)
            ms.append(t)
            sizes.append(check(r))
        res[label] = {**with_cpu(ms, cpu), "mean_items": round(sum(sizes) / len(sizes), 1), "min_items": min(sizes)}
        print(label, res[label], flush=True)

    def points(r: dict[str, Any]) -> int:
        return sum(len(s["points"]) for s in r["series"])

    run("device_series_24h_api", (lambda c=c: actions.call("device_series", ctx, {"device": c, "hours": 24})
                                  for c, _ in devs), lambda r: len(r["readings"]))
    for rng in ("24h", "7d", "30d"):
        run(f"device_page_{rng}", (lambda c=c, rng=rng: actions.call("device_series_show", ctx,
                                                                      {"device": c, "range": rng})
                                   for c, _ in devs), points)
    for t in city_types(fleet):
        run(f"city_hourly_{t}", (lambda d=d, t=t: actions.call("sensing_hourly", ctx, {"type": t, "date": d})
                                 for d in smp["days"]), lambda r: len(r["hours"]))
    today = fleet.now.astimezone(SH).date()  # the API's default day: raw readings of today (UTC), aggregates before
    run(f"city_hourly_today_{city_types(fleet)[0]}",
        (lambda: actions.call("sensing_hourly", ctx, {"type": city_types(fleet)[0], "date": today})
         for _ in range(10)), lambda r: len(r["hours"]))
    res["peak_rss_gib"] = peak_gib()
    from cityhub.sensing.tsstore import close_all

    close_all()
    return res


def measure_store(store: Any, fleet: Fleet, smp: dict[str, Any], label: str) -> dict[str, Any]:
    """The store calls behind those actions, same arguments (what both backends share)."""
    reset_peak()
    res: dict[str, Any] = {}
    now = dt.datetime.now(UTC)
    devs = smp["devices"]

    def run(key: str, fns: list[Callable[[], Any]]) -> None:
        ms, sizes, cpu = [], [], []  # type: ignore[var-annotated]
        for fn in fns:
            t, r = timed(fn, cpu)
            ms.append(t)
            sizes.append(len(r))
        res[key] = {**with_cpu(ms, cpu), "mean_items": round(sum(sizes) / len(sizes), 1), "min_items": min(sizes)}
        print(label, key, res[key], flush=True)

    run("series_24h", [lambda c=c, t=t: store.series(c, now - dt.timedelta(hours=24), now, None, type_=t)
                       for c, t in devs])
    for unit, days in (("hour", 7), ("day", 30)):
        floor = (now - dt.timedelta(days=days)).replace(minute=0, second=0, microsecond=0)
        if unit == "day":
            floor = floor.replace(hour=0)
        run(f"device_aggregates_{days}d", [lambda c=c, t=t, f=floor, u=unit: store.device_aggregates(c, t, f, now, u)
                                           for c, t in devs])
    for t in city_types(fleet):
        run(f"hourly_{t}", [lambda d=d, t=t: store.hourly(t, dt.datetime.combine(d, dt.time(), SH).astimezone(UTC),
                                                          dt.datetime.combine(d, dt.time(), SH).astimezone(UTC)
                                                          + dt.timedelta(days=1)) for d in smp["days"]])
    res["peak_rss_gib"] = peak_gib()
    return res


def measure_raw_hourly(root: Path, fleet: Fleet, smp: dict[str, Any]) -> dict[str, Any]:
    """The city-wide hourly of a day from raw readings only (a day the retention job has not aggregated yet)."""
    from cityhub.sensing.tsstore import ParquetStore

    class RawOnly(ParquetStore):
        def _agg_files(self, base: Path, type_: str, days: Any) -> dict[str, list[str]]:
            return {d: [] for d in days}

    store = RawOnly(root)
    res: dict[str, Any] = {}
    for t in city_types(fleet):
        ms, cpu = [], []  # type: ignore[var-annotated]
        for d in smp["days"][:10]:
            start = dt.datetime.combine(d, dt.time(), SH).astimezone(UTC)
            ms.append(timed(lambda t=t, s=start: store.hourly(t, s, s + dt.timedelta(days=1)), cpu)[0])
        res[f"hourly_raw_{t}"] = with_cpu(ms, cpu)
        print("parquet raw-only", t, res[f"hourly_raw_{t}"], flush=True)
    store.close()
    return res


def flush_tail(fleet: Fleet, type_: str = "streetlight", counts: tuple[int, ...] = (0, 30, 150)) -> dict[str, Any]:
    """``store.series`` 24 h of one type's devices with yesterday and today merged (one file each) and then N flush
    files of today beside them: the state of today's partition between two compaction runs."""
    from cityhub.sensing.tsstore import ParquetStore

    root = Path(tempfile.mkdtemp(prefix="sensing-tail-"))
    res: dict[str, Any] = {}
    try:
        store = ParquetStore(root, flush_rows=1, flush_seconds=0)
        for day in fleet.utc_days()[-2:]:
            t = fleet.day(day)
            t = t.filter(pa.compute.equal(t["type"], type_))
            step = -(-t.num_rows // 24)
            for i in range(0, t.num_rows, step):
                store.append(t.slice(i, step))
        store.compact(max_merged=0)  # each day one merged file
        tail = fleet.day(fleet.utc_days()[-1])
        tail = tail.filter(pa.compute.equal(tail["type"], type_))
        per = 20
        tail = tail.slice(max(0, tail.num_rows - max(counts) * per))
        done = 0
        now = fleet.now
        for n in counts:
            for i in range(done, n):  # repeats of stored readings: the files count, not the values
                store.append(tail.slice(i * per, per))
            done = n
            ms: list[float] = []
            for code in fleet.devices[type_][::7]:
                ms.append(timed(lambda c=code: store.series(c, now - dt.timedelta(hours=24), now, None,
                                                            type_=type_))[0])
            res[f"series_24h_with_{n}_flush_files"] = summary(ms)
            print("flush tail", n, res[f"series_24h_with_{n}_flush_files"], flush=True)
        store.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return res


# -- the PostgreSQL baseline ------------------------------------------------------------------------------------------

def pg_load(url: str, fleet: Fleet, days: int) -> dict[str, Any]:
    import psycopg
    import pyarrow.csv as pcsv

    t0 = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE sensing_reading (device text NOT NULL, type text NOT NULL, ts timestamptz NOT NULL,"
                     " attribute text NOT NULL, value double precision NOT NULL)")
        rows = 0
        for day in fleet.utc_days()[-days:]:
            tbl = fleet.day(day)
            with conn.cursor() as cur, cur.copy("COPY sensing_reading FROM STDIN (FORMAT csv)") as copy:
                for i in range(0, tbl.num_rows, 1_000_000):
                    buf = io.BytesIO()
                    pcsv.write_csv(tbl.slice(i, 1_000_000), buf, pcsv.WriteOptions(include_header=False))
                    copy.write(buf.getvalue())
            rows += tbl.num_rows
        t_copy = time.perf_counter() - t0
        conn.execute("SET maintenance_work_mem = '2GB'")
        conn.execute("ALTER TABLE sensing_reading ADD PRIMARY KEY (device, attribute, ts)")
        conn.execute("CREATE INDEX ix_sensing_reading_type_ts ON sensing_reading (type, ts)")
        conn.execute("VACUUM ANALYZE sensing_reading")
        size = conn.execute("SELECT pg_total_relation_size('sensing_reading')").fetchone()[0]  # type: ignore[index]
    return {"rows": rows, "days": days, "copy_s": round(t_copy, 1), "seconds": round(time.perf_counter() - t0, 1),
            "disk_gib": round(size / 2**30, 3)}


# -- main ---------------------------------------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--readings", type=int, default=100_000_000, help="values stored (rows of the store)")
    ap.add_argument("--devices", type=int, default=5000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--flush-seconds", type=float, default=2.0)
    ap.add_argument("--history-appends", type=int, default=24, help="appends (flushes) per finished day: "
                    "retention then compacts each day's files into one, as it does after a day of flushes")
    ap.add_argument("--device-samples", type=int, default=200)
    ap.add_argument("--day-samples", type=int, default=30)
    ap.add_argument("--pg-days", type=int, default=30, help="days loaded into PostgreSQL (0: no baseline)")
    ap.add_argument("--keep", action="store_true", help="keep the Parquet store (printed) for --reuse")
    ap.add_argument("--reuse", default="", help="a kept CITYHUB_HOME (its fleet.json) instead of a new fill")
    ap.add_argument("--now", default="", help="ISO time the data ends (default: now; with --reuse: as kept)")
    ap.add_argument("--flush-tail", action="store_true", help="only the reads beside 0/30/150 flush files")
    args = ap.parse_args()
    if args.flush_tail:
        now = dt.datetime.fromisoformat(args.now) if args.now else dt.datetime.now(UTC).replace(microsecond=0)
        out = {"machine": machine(), "loadavg": Path("/proc/loadavg").read_text().split()[:3],
               **flush_tail(Fleet(args.devices, args.readings, args.days, now))}
        print(json.dumps(out, indent=1))
        return

    results: dict[str, Any] = {"machine": machine(), "args": vars(args),
                               "loadavg_before": Path("/proc/loadavg").read_text().split()[:3]}
    if args.reuse:
        home = Path(args.reuse)
        kept = json.loads((home / "fleet.json").read_text())
        now = dt.datetime.fromisoformat(kept["now"])
        args.readings, args.devices, args.days = kept["readings"], kept["devices"], kept["days"]
    else:
        home = Path(tempfile.mkdtemp(prefix="sensing-store-bench-", dir=os.environ.get("TMPDIR", "/tmp")))
        now = dt.datetime.fromisoformat(args.now) if args.now else dt.datetime.now(UTC).replace(microsecond=0)
    fleet = Fleet(args.devices, args.readings, args.days, now)
    results["fleet"] = {"devices": {t: len(d) for t, d in fleet.devices.items()}, "interval_s": fleet.interval_s,
                        "values_per_day": fleet.per_round * fleet.rounds_per_day, "start": fleet.start.isoformat(),
                        "now": now.isoformat(), "home": str(home)}
    print(json.dumps(results, indent=1), flush=True)
    pg_name = ""
    try:
        if not args.reuse:
            results["fill"] = fill(home / "sensing", fleet, args.flush_seconds, args.history_appends)
            (home / "fleet.json").write_text(json.dumps({"now": now.isoformat(), "readings": args.readings,
                                                         "devices": args.devices, "days": args.days}))
            print("fill", results["fill"], flush=True)
        smp = samples(fleet, args.device_samples, args.day_samples)
        results["ours_actions"] = measure_actions(home, fleet, smp)
        from cityhub.sensing.tsstore import ParquetStore

        store = ParquetStore(home / "sensing")
        results["ours_store"] = measure_store(store, fleet, smp, "parquet")
        results["ours_store"]["count_s"], results["stored_values"] = timed(store.count)
        results["ours_store"]["count_s"] = round(results["ours_store"]["count_s"] / 1000, 1)
        store.close()
        results["ours_store"].update(measure_raw_hourly(home / "sensing", fleet, smp))
        results["loadavg_mid"] = Path("/proc/loadavg").read_text().split()[:3]
        if args.pg_days:
            import psycopg

            from cityhub.sensing.tsstore import PostgresStore

            pg_name = f"sensing_store_bench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{pg_name}"')
            url = PG_ADMIN.rsplit("/", 1)[0] + "/" + pg_name
            results["pg_load"] = pg_load(url, fleet, min(args.pg_days, len(fleet.utc_days())))
            print("pg_load", results["pg_load"], flush=True)
            pg = PostgresStore(url)
            # the same devices; days drawn from the days PostgreSQL holds
            pg_smp = {**smp, "days": samples(fleet, args.device_samples, args.day_samples,
                                             days_back=min(args.pg_days, args.days) - 1)["days"]}
            results["pg_store"] = measure_store(pg, fleet, pg_smp, "postgres")
            pg.close()
    finally:
        if pg_name:
            import psycopg

            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
        if not args.keep and not args.reuse:
            shutil.rmtree(home, ignore_errors=True)
    results["loadavg_after"] = Path("/proc/loadavg").read_text().split()[:3]
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "sensing_store.json").write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str))
    print(json.dumps(results, indent=2, ensure_ascii=False, default=str))


if __name__ == "__main__":
    main()
