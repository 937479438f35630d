"""Bus boarding from AVL alone (issue 14): ``boarding.snap`` + ``boarding.infer`` on a simulated day, timed, with a
digest of the outputs so that two versions of the code can be checked for identical results.

Run: ``python -m benchmarks.transit_boarding_bench [--taps 1500000] [--dir /tmp/transit-1.5m] [--repeat 3]``
(the simulated day is written to ``--dir`` once and read back on later runs). Figures go to BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np

from benchmarks.common import machine


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--taps", type=int, default=1_500_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/transit-boarding-bench"))
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from cityhub.transit import boarding, pipeline
    from cityhub.transit.network import build, codes
    from cityhub.transit.params import TransitParams

    if not (args.dir / "taps.parquet").exists():
        from cityhub.transit.simulate import simulate

        simulate(args.taps, args.seed).write(args.dir)
    tabs = {n: pq.read_table(args.dir / f"{n}.parquet") for n in ("taps", "stops", "route_stops", "avl")}
    net = build(pipeline.conform("stops", tabs["stops"]), pipeline.conform("route_stops", tabs["route_stops"]))
    params = TransitParams()
    bus = tabs["taps"].filter(pc.equal(tabs["taps"]["mode"], "bus"))
    ts = np.asarray(bus["ts"].cast("int64").to_numpy(), dtype=np.int64)
    stop, route = codes(bus["stop_id"], net.stop_ids), codes(bus["route_id"], net.route_ids)
    seconds = []
    digest = ""
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        fx = boarding.snap(tabs["avl"], net, params)
        t1 = time.perf_counter()
        b = boarding.infer(fx, net, bus["vehicle_id"], ts, stop, route, params)
        t2 = time.perf_counter()
        seconds.append({"snap": round(t1 - t0, 2), "infer": round(t2 - t1, 2), "total": round(t2 - t0, 2)})
        h = hashlib.sha256()
        for arr in (b.stop, b.pattern, b.seq, b.ts):
            h.update(np.ascontiguousarray(arr, dtype=np.int64).tobytes())
        h.update("\n".join(b.reason.tolist()).encode())
        h.update(json.dumps(b.offsets, sort_keys=True).encode())
        digest = h.hexdigest()[:16]
    print(json.dumps({"machine": machine(), "taps": tabs["taps"].num_rows, "bus_taps": bus.num_rows,
                      "avl_fixes": tabs["avl"].num_rows, "seconds": seconds,
                      "median_total_s": sorted(s["total"] for s in seconds)[len(seconds) // 2],
                      "digest": digest, "loadavg_end": os.getloadavg()}))


if __name__ == "__main__":
    main()
