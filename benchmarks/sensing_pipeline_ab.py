"""The ingest pipeline alone on the MQTT benchmark's batches, this checkout against an earlier one, alternated.

    python -m benchmarks.sensing_pipeline_ab --before REV [--rounds 3]

``REV`` (a commit, default ``fad7cd8``: before the issue-13 speed work) is exported with ``git archive`` to a
temporary directory; each round runs, in fresh processes and in turn, the earlier pipeline and this one on the
same messages: gateway messages of 100 readings in batches of 200 messages (what the receiver hands over under
the closed-loop benchmark) and single-reading messages in batches of 900, 1000 air-quality devices, a gateway and
a PM2.5 rule (``benchmarks.sensing_bench.setup_pipeline``). Per CPU-second figures (this process's CPU time
over the measured batches, after three warm-up batches) are the fair ones on a shared machine; alternating
makes both sides see the same load.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def measure(mode: str, batches: int) -> dict[str, float]:
    """In this process (whichever ``cityhub`` is first on the path): readings and messages per CPU-second."""
    from benchmarks.sensing_bench import setup_pipeline

    home = tempfile.mkdtemp(prefix="sensing-ab-")
    tokens = setup_pipeline(home)
    from cityhub.sensing.ingest import get_ingestor
    from cityhub.sensing.transport.topics import device_topic, gateway_topic, to_raw

    ingest = get_ingestor()
    prefix = "bench/v1"
    last = [0] * 1000
    t0 = int(time.time() * 1000) - 3_600_000
    out, msgs = [], 0
    for _ in range(batches):
        batch = []
        if mode == "gateway":
            for _ in range(200):
                group = msgs % 10
                ts = last[group] = max(t0, last[group] + 1000)
                body = {f"D{group * 100 + i:03d}": [{"ts": ts, "values": {"pm25": 35.5 + i, "no2": 40.0}}]
                        for i in range(100)}
                batch.append(to_raw(prefix, gateway_topic(prefix, tokens["GW-BENCH"]),
                                    json.dumps(body, separators=(",", ":")).encode(), time.time()))
                msgs += 1
        else:
            for _ in range(900):
                group = msgs % 1000
                ts = last[group] = max(t0, last[group] + 1000)
                batch.append(to_raw(prefix, device_topic(prefix, f"D{group:03d}", tokens[f"D{group:03d}"]),
                                    f'{{"ts":{ts},"values":{{"pm25":{35.5 + group % 100},"no2":40.0}}}}'.encode(),
                                    time.time()))
                msgs += 1
        out.append(batch)
    for b in out[:3]:  # warm: every device seen, rule states loaded, alarms raised
        ingest(b)
    readings = messages = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for b in out[3:]:
        r = ingest(b)
        if r.rejected or r.duplicates:
            raise SystemExit(f"unexpected refusals: {r.as_dict()}")
        readings += r.readings
        messages += r.messages
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {"readings": readings, "messages": messages, "cpu_s": round(cpu, 3), "wall_s": round(wall, 3),
            "readings_per_cpu_s": round(readings / cpu), "messages_per_cpu_s": round(messages / cpu),
            "load": os.getloadavg()[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--before", default="fad7cd8", help="the earlier commit")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--measure", choices=["gateway", "single"], help=argparse.SUPPRESS)  # a child's job
    ap.add_argument("--batches", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.batches)))
        return
    results: dict[str, dict[str, list[dict[str, float]]]] = {"before": {}, "after": {}}
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.before, "src"], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        srcs = {"before": f"{tmp}/src", "after": str(ROOT / "src")}
        print(f"load average before: {os.getloadavg()}")
        for _ in range(args.rounds):
            for side in ("before", "after"):
                for mode, n in (("gateway", 30), ("single", 80)):
                    env = {**os.environ, "PYTHONPATH": f"{srcs[side]}{os.pathsep}{ROOT}"}
                    run = subprocess.run([sys.executable, "-m", "benchmarks.sensing_pipeline_ab", "--measure", mode,
                                          "--batches", str(n)], cwd=ROOT, env=env, capture_output=True, text=True)
                    if run.returncode:
                        raise SystemExit(run.stderr[-2000:])
                    r = json.loads(run.stdout.strip().splitlines()[-1])
                    results[side].setdefault(mode, []).append(r)
                    print(side, mode, json.dumps(r))
    print(f"load average after: {os.getloadavg()}")
    print("\n| pipeline alone | before (median per CPU-s) | after | ratio |\n|---|---:|---:|---:|")
    for mode, key in (("gateway", "readings_per_cpu_s"), ("single", "messages_per_cpu_s")):
        b = sorted(r[key] for r in results["before"][mode])[len(results["before"][mode]) // 2]
        a = sorted(r[key] for r in results["after"][mode])[len(results["after"][mode]) // 2]
        print(f"| {mode} ({key.split('_')[0]}) | {b:,} | {a:,} | {a / b:.2f}× |")


if __name__ == "__main__":
    main()
