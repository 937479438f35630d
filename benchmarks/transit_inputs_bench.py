"""Transit inputs at scale: ``python -m benchmarks.transit_inputs_bench [--taps N] [--people N]``.

Side by side in one run, on the same generated data:

* smart cards: ``cards.read_taps`` (one DuckDB query) against a straightforward per-row reader (Python's ``csv``
  and ``datetime.strptime``, the same rules) on N Shenzhen-format rows (the per-row reader on a tenth, scaled);
* hub visits: ``hubs.visits`` against a per-device Python loop (the same rule) on a simulated 广州南站 holiday;
* GTFS: ``gtfs.load_gtfs`` on a generated feed (400 routes, 20,000 trips, 1,000,000 stop times): ours only, as
  no other GTFS validator is installed here (MobilityData's is Java and downloads itself).

Both answers are compared (same counts) before timing is reported.
"""

from __future__ import annotations

import argparse
import csv
import random
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

from benchmarks.common import machine
from cityhub.transit.cards import SHENZHEN, read_taps
from cityhub.transit.gtfs import load_gtfs
from cityhub.transit.hubs import HubParams, visits
from cityhub.transit.hubsim import HUB_ZONE_IDS, simulate_hub

HEADER = ["deal_date", "close_date", "card_no", "deal_value", "deal_type", "company_name", "car_no", "station",
          "conn_mark", "deal_money", "equ_no"]


def make_csv(path: Path, n: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    t0 = datetime(2018, 9, 1, 5, 0, 0)
    stations = ["布吉", "长龙", "坂田", "太安", "下水径", "罗湖站", "深圳北站", "岗厦"]
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        for i in range(n):
            ts = (t0 + timedelta(seconds=rng.randrange(19 * 3600))).strftime("%Y-%m-%d %H:%M:%S")
            card = f"C{rng.randrange(n // 3 + 1):08d}"
            kind = rng.random()
            if i % 1000 == 0:
                ts = "bad-time"
            if kind < 0.45:
                w.writerow([ts, "2018-09-01 00:00:00", card, 200, "巴士", "巴士集团", f"{rng.randrange(5000):05d}D",
                            f"M{rng.randrange(600)}", 0, 160, 227000000])
            else:
                t = "地铁入站" if kind < 0.75 else "地铁出站"
                w.writerow([ts, "2018-09-01 00:00:00", card, 0 if t == "地铁入站" else 500, t, "地铁五号线",
                            "IGT-105", rng.choice(stations), 0, 0 if t == "地铁入站" else 475, 263032105])


def per_row(path: Path) -> tuple[int, int]:
    """The same rules, one row at a time: (rows kept, distinct rows)."""
    types = SHENZHEN.types
    kept: set[tuple[object, ...]] = set()
    n_kept = 0
    with path.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            card = (row["card_no"] or "").strip() or None
            try:
                ts = datetime.strptime(row["deal_date"].strip(), "%Y-%m-%d %H:%M:%S")
            except ValueError:
                continue
            if card is None or row["deal_type"].strip() not in types:
                continue
            mode, kind = types[row["deal_type"].strip()]
            stop = row["station"].strip() if mode == "metro" else None
            route = row["company_name"].strip() if mode == "metro" else row["station"].strip()
            vehicle = row["car_no"].strip() if mode == "bus" else None
            try:
                fare: int | None = round(float(row["deal_money"]))
            except ValueError:
                fare = None
            n_kept += 1
            kept.add((card, ts, mode, kind, stop, route, vehicle, fare))
    return n_kept, len(kept)


def per_device_visits(pings: list[tuple[str, int, str]], gap: int) -> int:
    """Visits by a Python loop over each device's sorted pings."""
    by_device: dict[str, list[tuple[int, str]]] = {}
    for d, e, z in pings:
        by_device.setdefault(d, []).append((e, z))
    n = 0
    for rows in by_device.values():
        rows = sorted(set(rows))
        prev: tuple[int, str] | None = None
        for e, z in rows:
            if prev is None or prev[1] != z or e - prev[0] > gap:
                n += 1
            prev = (e, z)
    return n


def make_feed(folder: Path, trips: int, stops_per_trip: int = 50, seed: int = 1) -> None:
    rng = random.Random(seed)
    (folder / "agency.txt").write_text("agency_id,agency_name,agency_url,agency_timezone\n"
                                       "A,a,https://example.org,Asia/Shanghai\n")
    (folder / "stops.txt").write_text("stop_id,stop_name,stop_lat,stop_lon\n" + "".join(
        f"S{i},s{i},{23 + rng.random() * 0.5:.6f},{113 + rng.random() * 0.6:.6f}\n" for i in range(5000)))
    (folder / "routes.txt").write_text("route_id,route_short_name,route_type\n" +
                                       "".join(f"R{r},{r}路,3\n" for r in range(400)))
    (folder / "calendar.txt").write_text("service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,"
                                         "start_date,end_date\nWK,1,1,1,1,1,0,0,20260101,20261231\n")
    patterns = {r: rng.sample(range(5000), stops_per_trip) for r in range(400)}
    with (folder / "trips.txt").open("w") as tf, (folder / "stop_times.txt").open("w") as sf:
        tf.write("route_id,service_id,trip_id,direction_id\n")
        sf.write("trip_id,arrival_time,departure_time,stop_id,stop_sequence\n")
        for t in range(trips):
            r = t % 400
            tf.write(f"R{r},WK,T{t},0\n")
            base = 5 * 3600 + (t // 400) * 600
            for k, stop in enumerate(patterns[r]):
                x = base + k * 90
                hms = f"{x // 3600:02d}:{x % 3600 // 60:02d}:{x % 60:02d}"
                sf.write(f"T{t},{hms},{hms},S{stop},{k + 1}\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--taps", type=int, default=2_000_000)
    ap.add_argument("--people", type=int, default=100_000)
    ap.add_argument("--trips", type=int, default=20_000)
    args = ap.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        make_feed(Path(tmp), args.trips)
        t = time.perf_counter()
        feed = load_gtfs(Path(tmp))
        took = time.perf_counter() - t
        assert feed.report.errors == 0 and feed.stop_times.num_rows == args.trips * 50
        print(f"gtfs: {feed.stop_times.num_rows:,} stop times, {args.trips:,} trips, load_gtfs (all checks, "
              f"STOPS, ROUTE_STOPS, service dates) {took:.1f} s ({feed.stop_times.num_rows / took:,.0f} stop times/s)")
    with tempfile.TemporaryDirectory() as tmp:
        big, small = Path(tmp) / "big.csv", Path(tmp) / "small.csv"
        make_csv(big, args.taps)
        make_csv(small, args.taps // 10, seed=2)
        t = time.perf_counter()
        _, report = read_taps(big)
        ours = time.perf_counter() - t
        t = time.perf_counter()
        kept, distinct = per_row(small)
        base = (time.perf_counter() - t) * 10
        _, small_report = read_taps(small)
        assert small_report.rows_loaded == distinct and small_report.rows_loaded + small_report.duplicates == kept
        print(f"cards: {args.taps:,} rows, read_taps {ours:.1f} s ({args.taps / ours:,.0f} rows/s), "
              f"loaded {report.rows_loaded:,}, rejected {report.rejected}; per-row reader ≈ {base:.1f} s "
              f"(timed on {args.taps // 10:,} rows ×10); ratio {base / ours:.1f}×")
    sim = simulate_hub(date(2026, 10, 1), people=args.people, holiday=True)
    params = HubParams(hub_zones=HUB_ZONE_IDS)
    t = time.perf_counter()
    v = visits(sim.pings, params)
    ours = time.perf_counter() - t
    rows = list(zip(sim.pings.column("device_id").to_pylist(),
                    [int(x.timestamp()) for x in sim.pings.column("ts").to_pylist()],
                    sim.pings.column("zone_id").to_pylist(), strict=True))
    t = time.perf_counter()
    n = per_device_visits(rows, params.gap_s)
    base = time.perf_counter() - t
    assert n == v.num_rows
    print(f"hub visits: {sim.pings.num_rows:,} pings of {sim.counts['people']:,} people, hubs.visits {ours:.2f} s, "
          f"per-device loop {base:.2f} s (after building its rows); ratio {base / ours:.1f}×")


if __name__ == "__main__":
    main()
