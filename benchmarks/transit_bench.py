"""Transit OD benchmark (issue 14): one simulated city-day end to end, beside a per-card pandas baseline.

1. Simulate a Guangzhou-like day of ``--taps`` taps (default 15 million) and write it to Parquet.
2. In a fresh child process (so its peak RSS is its own): read the Parquet inputs and run the pipeline —
   boarding stops from AVL with clock-offset estimation, trip chaining, journey linking — and the
   aggregations (OD by stop/district, peaks, line loads, commuting, transfers). Wall time, peak RSS and the
   load average are recorded.
3. In the same run, a straightforward per-card pandas implementation of the same rules (``groupby`` on the
   card, a Python loop over each card's taps: AVL interpolation, nearest stop after the boarding towards the
   next boarding, transfer rules) on a subset of ``--baseline-taps`` taps (default 1 million) of whole
   cards, capped at ``--baseline-seconds``; stages/s of both are compared. Context: MBTA's ODX did ~10k
   stages/s on 6 cores (Java + PostgreSQL).

Run: ``python -m benchmarks.transit_bench [--taps 15000000]`` (figures go to BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import OUT, ROOT, machine


def _vm_hwm_gb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 2**20, 2)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)


def child(in_dir: str) -> None:
    """Read the inputs, run the pipeline and the aggregations; print a JSON line."""
    import pyarrow.parquet as pq

    from cityhub.transit import analysis, pipeline

    t0 = time.perf_counter()
    tables = {n: pq.read_table(Path(in_dir) / f"{n}.parquet") for n in ("taps", "stops", "route_stops", "avl")}
    t_read = time.perf_counter() - t0
    t1 = time.perf_counter()
    c1 = time.process_time()
    # handed over, not kept: the pipeline frees the taps and AVL once it has what it needs
    result = pipeline.run(tables.pop("taps"), tables["stops"], tables["route_stops"], tables.pop("avl"))
    t_run = time.perf_counter() - t1
    t2 = time.perf_counter()
    agg = analysis.analyse(result.stages, result.journeys, tables["stops"], tables["route_stops"])
    t_agg = time.perf_counter() - t2
    cpu = time.process_time() - c1
    print(json.dumps({
        "read_s": round(t_read, 2), "pipeline_s": round(t_run, 2), "analysis_s": round(t_agg, 2),
        "cpu_s_pipeline_and_analysis": round(cpu, 1),
        "steps_s": result.report["seconds"], "stages": result.stages.num_rows,
        "journeys": result.journeys.num_rows, "taps": result.report["taps"]["input"],
        "avl_fixes": result.report["boarding"]["avl_fixes"],
        "rate_multi_tap": result.report["stages"]["rate_multi_tap"],
        "od_district_rows": agg["od_district"].num_rows,
        # VmHWM: this process's own peak (ru_maxrss carries the parent's peak over fork + exec)
        "peak_rss_gb": _vm_hwm_gb(),
        "loadavg_end": os.getloadavg(),
    }))


# --------------------------------------------------------------------------------------- pandas baseline
def _s(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def baseline(in_dir: Path, max_taps: int, max_seconds: float) -> dict[str, Any]:
    """The same rules, card by card, in pandas + Python (how a first implementation usually looks)."""
    import pandas as pd

    from cityhub.transit.params import TransitParams

    p = TransitParams()
    taps = pd.read_parquet(in_dir / "taps.parquet")
    stops = pd.read_parquet(in_dir / "stops.parquet").set_index("stop_id")
    rs = pd.read_parquet(in_dir / "route_stops.parquet")
    avl = pd.read_parquet(in_dir / "avl.parquet")
    # whole cards until max_taps
    counts = taps.groupby("card_id").size().sort_index()
    cards = counts.index[np.cumsum(counts.to_numpy()) <= max_taps]
    taps = taps[taps["card_id"].isin(set(cards))]
    t0 = time.perf_counter()
    patterns = {k: g.sort_values("seq").reset_index(drop=True) for k, g in rs.groupby(["route_id", "direction"])}
    for g in patterns.values():
        g["lat"] = stops.loc[g["stop_id"], "lat"].to_numpy()
        g["lon"] = stops.loc[g["stop_id"], "lon"].to_numpy()
    vehicles = {v: g.sort_values("ts").reset_index(drop=True) for v, g in avl.groupby("vehicle_id")}
    setup = time.perf_counter() - t0

    def dist(la1: Any, lo1: Any, la2: Any, lo2: Any) -> Any:
        k = np.cos(np.radians((la1 + la2) / 2))
        return 6371008.8 * np.hypot(np.radians(lo2 - lo1) * k, np.radians(la2 - la1))

    n_stages = 0
    n_taps = 0
    inferred = 0
    t1 = time.perf_counter()
    for _card, g in taps.groupby("card_id", sort=False):
        g = g.sort_values("ts")
        stages: list[dict[str, Any]] = []
        last: Any = None
        for row in g.itertuples(index=False):
            ts = row.ts.timestamp()
            if last is not None and row.kind == last.kind and ts - last.ts.timestamp() <= p.duplicate_window_s \
                    and (row.vehicle_id == last.vehicle_id and row.stop_id == last.stop_id):
                continue
            last = row
            if row.kind == "tap_out":
                if stages and stages[-1]["mode"] == "metro" and stages[-1]["alight"] is None:
                    stages[-1]["alight"] = _s(row.stop_id)
                    stages[-1]["alight_ts"] = ts
                continue
            st = {"mode": row.mode, "ts": ts, "board": _s(row.stop_id), "pattern": None, "alight": None,
                  "alight_ts": None, "route": _s(row.route_id)}
            if row.mode == "bus" and row.vehicle_id in vehicles:
                v = vehicles[row.vehicle_id]
                i = int(v["ts"].searchsorted(row.ts))
                if 0 < i < len(v):
                    a, b = v.iloc[i - 1], v.iloc[i]
                    f = (ts - a.ts.timestamp()) / max((b.ts - a.ts).total_seconds(), 1)
                    lat, lon = a.lat + f * (b.lat - a.lat), a.lon + f * (b.lon - a.lon)
                    pat = patterns.get((a.route_id, a.direction))
                    if pat is not None:
                        d = dist(pat["lat"].to_numpy(), pat["lon"].to_numpy(), lat, lon)
                        k = int(d.argmin())
                        st["pattern"] = (a.route_id, a.direction)
                        st["seq"] = k
                        if st["board"] is None:
                            st["board"] = pat["stop_id"].iloc[k]
            stages.append(st)
        # chaining
        for i, st in enumerate(stages):
            if st["alight"] is not None or len(stages) < 2 or st["board"] is None:
                continue
            nxt = stages[i + 1] if i + 1 < len(stages) else stages[0]
            if nxt["board"] is None or nxt["board"] not in stops.index:
                continue
            tl, tn = stops.at[nxt["board"], "lat"], stops.at[nxt["board"], "lon"]
            if st["mode"] == "bus" and st["pattern"] is not None:
                pat = patterns[st["pattern"]]
                after = pat.iloc[st["seq"] + 1:]
                if len(after):
                    d = dist(after["lat"].to_numpy(), after["lon"].to_numpy(), tl, tn)
                    k = int(d.argmin())
                    if d[k] <= p.max_walk_m:
                        st["alight"] = after["stop_id"].iloc[k]
                        st["alight_ts"] = st["ts"] + (after["dist_m"].iloc[k] - pat["dist_m"].iloc[st["seq"]]) / (
                            p.bus_speed_kmh / 3.6)
        # linking
        for i in range(1, len(stages)):
            a, b = stages[i - 1], stages[i]
            if a["alight"] is None or b["board"] is None or b["board"] not in stops.index:
                continue
            wait = b["ts"] - a["alight_ts"]
            walk = dist(stops.at[a["alight"], "lat"], stops.at[a["alight"], "lon"], stops.at[b["board"], "lat"],
                        stops.at[b["board"], "lon"])
            b["linked"] = wait <= p.wait_limit(a["mode"], b["mode"]) and walk <= p.transfer_max_m \
                and b["route"] != a["route"]
        n_stages += len(stages)
        n_taps += len(g)
        inferred += sum(1 for s in stages if s["alight"] is not None)
        if time.perf_counter() - t1 > max_seconds:
            break
    elapsed = time.perf_counter() - t1
    return {"taps_done": n_taps, "stages": n_stages, "inferred": inferred, "setup_s": round(setup, 2),
            "seconds": round(elapsed, 2), "stages_per_s": round(n_stages / elapsed, 1) if elapsed else None,
            "subset_taps": len(taps)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--taps", type=int, default=15_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--baseline-taps", type=int, default=1_000_000)
    parser.add_argument("--baseline-seconds", type=float, default=300.0)
    parser.add_argument("--dir", type=str, default="", help="keep the simulated inputs here")
    parser.add_argument("--child", type=str, default="")
    args, _others = parser.parse_known_args()
    if args.child:
        child(args.child)
        return
    from cityhub.transit.simulate import simulate

    results: dict[str, Any] = {"machine": machine(), "taps_asked": args.taps, "loadavg_start": os.getloadavg()}
    work = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="transit-bench-"))
    t0 = time.perf_counter()
    city = simulate(args.taps, args.seed)
    results["simulate_s"] = round(time.perf_counter() - t0, 1)
    city.write(work)
    results["simulate_peak_rss_gb"] = _vm_hwm_gb()
    del city
    print(f"simulated in {results['simulate_s']} s → {work}", file=sys.stderr)
    t1 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "benchmarks.transit_bench", "--child", str(work)], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t1
    if proc.returncode != 0:
        print(proc.stderr, file=sys.stderr)
        raise SystemExit(1)
    ours = json.loads(proc.stdout.strip().splitlines()[-1])
    ours["wall_s_with_start_and_read"] = round(wall, 1)
    ours["end_to_end_s"] = round(ours["pipeline_s"] + ours["analysis_s"], 1)
    ours["stages_per_s"] = round(ours["stages"] / ours["end_to_end_s"], 1)
    results["ours"] = ours
    print(json.dumps(ours), file=sys.stderr)
    base = baseline(work, args.baseline_taps, args.baseline_seconds)
    results["pandas_per_card"] = base
    if base["stages_per_s"]:
        results["speedup_stages_per_s"] = round(ours["stages_per_s"] / base["stages_per_s"], 1)
    results["mbta_odx_context"] = "~10,000 stages/s on 6 cores (Java + PostgreSQL), 874k stages per weekday"
    results["loadavg_end"] = os.getloadavg()
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "transit_bench.json").write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
    print(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
