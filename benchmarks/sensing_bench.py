"""Sensing transport benchmark (issue 13): readings through the local Mosquitto (QoS 1) into the sink.

    python -m benchmarks.sensing_bench [--seconds 300] [--baseline-seconds 60]

A publisher in a SEPARATE process sends for ``--seconds`` per scenario — gateway messages of 100 readings,
then one reading per message — to Mosquitto with QoS 1 (by default MQTT 3.1.1 PUBLISH packets written to the
socket in chunks, the broker's PUBACKs counted by a thread: a load generator like wrk; ``--publisher paho``
publishes through paho, which tops out near 9,000 messages/s on one core); this process runs the MQTT receiver (paho,
MQTT 5, persistent session, acknowledge after the sink) with batches into the sink. The publisher is
closed-loop: it keeps at most ``--window`` readings between its publish and the sink (MQTT has no end-to-end
back-pressure, and a broker drops QoS 1 messages past its queue limit; an open-loop publisher faster than
the receiver would measure the broker's queue, not us). At the end the stored count must equal the sent
count. Latency: reading timestamp (set by the publisher just before publishing) → the sink returned, p50/p99.

Sink: the ingest pipeline ``sensing.ingest`` when present (``--sink module:factory``), else the Parquet
stand-in (``parquet``: parses the payloads and appends one zstd Parquet file per batch; no token check).
Baseline in the same run: one INSERT (autocommit) per reading into PostgreSQL (127.0.0.1:5432 db test).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import tempfile
import time
import uuid
from collections.abc import Sequence
from typing import Any

from benchmarks.common import PG_ADMIN, machine, pct
from cityhub.sensing.message import RawMessage

#: messages between publish and sink, at most: below the local Mosquitto's default per-client queue
#: (max_queued_messages 1000, plus max_inflight_messages 20): past it Mosquitto DROPS QoS 1 messages to a slow
#: client ("Outgoing messages are being dropped" in its log; seen with 5500 here)
MAX_MESSAGES_OUT = 900


class Workload:
    """The benchmark's messages and pacing, the same for both publishers: gateway messages of 100 readings for 10
    groups of 100 devices, or one reading per message for 1,000 devices (a (device, ts) is never repeated: the
    pipeline drops repeats); open loop at ``rate`` readings/s, else closed loop (≤ ``window`` readings and
    ≤ ``max_out`` messages between publish and sink)."""

    def __init__(self, mode: str, prefix: str, tokens: dict[str, str], seconds: float, window: int, stored: Any,
                 rate: float, max_out: int) -> None:
        from cityhub.sensing.transport.topics import device_topic, gateway_topic

        self.mode, self.window, self.stored, self.rate, self.max_out = mode, window, stored, rate, max_out
        self.per = 100 if mode == "gateway" else 1
        self.gw_topic = gateway_topic(prefix, tokens["GW-BENCH"])
        self.dev_topics = [device_topic(prefix, f"D{d:03d}", tokens[f"D{d:03d}"]) for d in range(1000)]
        self.last = [0] * 1000
        self.n = self.msgs = 0
        self.t0 = time.time()
        self.end = self.t0 + seconds

    def running(self) -> bool:
        return time.time() < self.end

    def held(self) -> bool:
        """Whether the rate or the closed loop holds the publisher back now (after a short sleep if so)."""
        if self.rate and self.n > (time.time() - self.t0) * self.rate:
            time.sleep(0.0005)
            return True
        out = self.n - sum(v.value for v in self.stored)
        if out > self.window or out / self.per > self.max_out:
            time.sleep(0.001)
            return True
        return False

    def next(self) -> tuple[str, str]:
        """The next message's topic and payload (counted as sent)."""
        group = self.msgs % (10 if self.mode == "gateway" else 1000)
        ts = self.last[group] = max(int(time.time() * 1000), self.last[group] + 1)
        self.msgs += 1
        self.n += self.per
        if self.mode == "gateway":
            body = {f"D{group * 100 + i:03d}": [{"ts": ts, "values": {"pm25": 35.5 + i, "no2": 40.0}}]
                    for i in range(100)}
            return self.gw_topic, json.dumps(body, separators=(",", ":"))
        return self.dev_topics[group], f'{{"ts":{ts},"values":{{"pm25":{35.5 + group % 100},"no2":40.0}}}}'


def publisher(url: str, prefix: str, mode: str, seconds: float, window: int, sent: Any, stored: Any,
              done: Any, tokens: dict[str, str], rate: float = 0.0, max_out: int = MAX_MESSAGES_OUT) -> None:
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    from cityhub.sensing.transport.mqtt import parse_url

    addr = parse_url(url)
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{uuid.uuid4().hex[:6]}",
                    protocol=paho.MQTTv311, clean_session=True)
    c.max_inflight_messages_set(1000)
    c.max_queued_messages_set(0)
    c.connect(addr.host, addr.port)
    c.loop_start()
    w = Workload(mode, prefix, tokens, seconds, window, stored, rate, max_out)
    while w.running():
        if not w.held():
            c.publish(*w.next(), qos=1)
            sent.value = w.n
    while c.want_write():
        time.sleep(0.01)
    time.sleep(0.5)
    c.disconnect()
    c.loop_stop()
    done.set()


def _remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _mqtt_str(b: bytes) -> bytes:
    return len(b).to_bytes(2, "big") + b


def raw_publisher(url: str, prefix: str, mode: str, seconds: float, window: int, sent: Any, stored: Any,
                  done: Any, tokens: dict[str, str], rate: float = 0.0, max_out: int = MAX_MESSAGES_OUT) -> None:
    """The same messages as :func:`publisher` — one MQTT 3.1.1 PUBLISH with QoS 1 each, the same topics and
    payloads, the same closed loop — written straight to the socket in chunks, with a thread counting the broker's
    PUBACKs. A load generator, like wrk for HTTP: paho's Python client tops out near 9,000 QoS 1 publishes/s
    on one core here, which measured the publisher instead of the receiver."""
    import socket
    import threading

    from cityhub.sensing.transport.mqtt import parse_url

    addr = parse_url(url)
    sock = socket.create_connection((addr.host, addr.port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client_id = f"bench-pub-{uuid.uuid4().hex[:6]}".encode()
    var = b"\x00\x04MQTT\x04\x02\x00\x00"  # MQTT 3.1.1, clean session, no keep-alive
    sock.sendall(b"\x10" + _remaining_length(len(var) + 2 + len(client_id)) + var + _mqtt_str(client_id))
    connack = b""
    while len(connack) < 4:
        chunk = sock.recv(4 - len(connack))
        if not chunk:
            raise RuntimeError("the broker closed the connection before CONNACK")
        connack += chunk
    if connack[0] != 0x20 or connack[3] != 0:
        raise RuntimeError(f"the broker refused the connection: {connack!r}")
    acked = [0]

    def read_acks() -> None:  # every packet a pure publisher receives is a 4-byte PUBACK
        got = 0
        while True:
            data = sock.recv(65536)
            if not data:
                return
            got += len(data)
            acked[0] = got // 4

    threading.Thread(target=read_acks, daemon=True).start()
    w = Workload(mode, prefix, tokens, seconds, window, stored, rate, max_out)
    encoded: dict[str, bytes] = {}
    chunk_msgs = 1 if mode == "gateway" else 50
    while w.running():
        if w.held():
            continue
        if w.msgs - acked[0] > 30000:  # never more than 30,000 unacknowledged by the broker (packet ids)
            time.sleep(0.001)
            continue
        buf = bytearray()
        for _ in range(chunk_msgs):
            topic_str, text = w.next()
            topic = encoded.get(topic_str) or encoded.setdefault(topic_str, _mqtt_str(topic_str.encode()))
            payload = text.encode()
            pid = (w.msgs - 1) % 65535 + 1
            buf += b"\x32" + _remaining_length(len(topic) + 2 + len(payload)) + topic + pid.to_bytes(2, "big") + payload
        sock.sendall(buf)
        sent.value = w.n
    while acked[0] < w.msgs:  # every PUBLISH acknowledged by the broker before we go
        time.sleep(0.01)
    sock.sendall(b"\xe0\x00")  # DISCONNECT
    time.sleep(0.2)
    sock.close()
    done.set()


class Measured:
    """Wraps the sink: counts readings and samples reading→sink-returned latency."""

    def __init__(self, sink: Any, stored: Any, per: int) -> None:
        self.sink, self.stored, self.per = sink, stored, per
        self.latencies: list[float] = []
        self.count = 0
        self.rejected = 0
        self.alarms = 0

    def __call__(self, batch: Sequence[RawMessage]) -> None:
        result = self.sink(batch)
        now = time.time()
        if hasattr(result, "rejected"):  # the pipeline's Result: readings stored, refused, duplicates
            self.rejected += result.rejected + result.duplicates
            self.alarms += result.raised
        for m in batch[::10]:  # a sample; every message of the benchmark carries `per` readings of one ts
            self.latencies.append(now - first_ts(m.payload) / 1000)
        self.count += result.readings if hasattr(result, "readings") else len(batch) * self.per
        self.stored.value = self.count


def first_ts(payload: bytes) -> int:
    """The first ``"ts":<ms>`` of a benchmark payload (without parsing the JSON: that cost was counted as ours)."""
    i = payload.index(b'"ts":') + 5
    j = i
    while payload[j:j + 1].isdigit():
        j += 1
    return int(payload[i:j])


def receiver_proc(url: str, prefix: str, group: str, sink_spec: str, per: int, stored: Any, ready: Any, stop: Any,
                  out: Any) -> None:
    """One more receiver process on the shared subscription ``$share/<group>/…`` (``--receivers`` > 1), with its
    own pipeline on the same store; reports its CPU time, latency samples and counts through ``out``."""
    from cityhub.sensing.transport.mqtt import MqttReceiver
    from cityhub.sensing.transport.service import load_sink

    sink = Measured(load_sink(sink_spec), stored, per)
    rx = MqttReceiver(url, sink, client_id=f"bench-rx-{uuid.uuid4().hex[:6]}", prefix=prefix, shared_group=group,
                      batch_size=1000, batch_ms=50, receive_maximum=5000).start()
    cpu0 = os.times()
    ready.set()
    stop.wait()
    cpu1 = os.times()
    rx.stop()
    out.put({"cpu": (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system), "latencies": sink.latencies[-50_000:],
             "rejected": sink.rejected, "alarms": sink.alarms})


def setup_pipeline(home: str) -> dict[str, str]:
    """A fresh SQLite store with 1000 air-quality devices D000…D999, a gateway GW-BENCH and a PM2.5 rule
    (> 75 µg/m³: alarms are raised and updated during the run); returns the devices' tokens."""
    os.environ.update({"CITYHUB_HOME": home, "CITYHUB_DATABASE_URL": "", "CITYHUB_ENV": "development"})
    from cityhub import actions, db
    from cityhub.context import system_context
    from cityhub.migrate import upgrade
    from cityhub.settings import get_settings

    get_settings.cache_clear()
    db.reset_caches()
    upgrade()
    rows = ["code,type,name,gateway", "GW-BENCH,gateway,bench gateway,"] + [
        f"D{d:03d},air_quality,bench {d},GW-BENCH" for d in range(1000)]  # the gateway relays only its devices
    answer = actions.call("device_import", system_context("cli"), {"csv": "\n".join(rows)})
    actions.call("rule_create", system_context("cli"), {
        "name": "bench-pm25", "device_type": "air_quality", "alarm_type": "pm25_high", "severity": "major",
        "condition": {"attr": "pm25", "op": ">", "value": 75}})
    return {t["code"]: t["token"] for t in answer["tokens"]}


def scenario(url: str, mode: str, seconds: float, window: int, sink_spec: str, out: str,
             tokens: dict[str, str], rate: float = 0.0, receivers: int = 1,
             max_out: int = MAX_MESSAGES_OUT, pub: str = "raw") -> dict[str, Any]:
    from cityhub.sensing.transport.mqtt import MqttReceiver
    from cityhub.sensing.transport.service import load_sink

    ctx = mp.get_context("spawn")
    per = 100 if mode == "gateway" else 1
    sent, done = ctx.Value("q", 0, lock=False), ctx.Event()
    stored = [ctx.Value("q", 0, lock=False) for _ in range(receivers)]
    prefix = f"bench-{uuid.uuid4().hex[:8]}/v1"
    group = f"bench{uuid.uuid4().hex[:6]}" if receivers > 1 else ""
    spec = sink_spec if sink_spec != "parquet" else f"parquet:{out}/{mode}"
    stop, results = ctx.Event(), ctx.Queue()
    others = []
    for i in range(1, receivers):  # more receiver processes on the shared subscription
        ready = ctx.Event()
        p = ctx.Process(target=receiver_proc, args=(url, prefix, group, spec, per, stored[i], ready, stop, results))
        p.start()
        others.append(p)
        if not ready.wait(120):
            raise RuntimeError("a receiver process did not start")
    sink = Measured(load_sink(spec), stored[0], per)
    rx = MqttReceiver(url, sink, client_id=f"bench-rx-{uuid.uuid4().hex[:6]}", prefix=prefix, shared_group=group,
                      batch_size=1000, batch_ms=50, receive_maximum=5000).start()
    cpu0 = os.times()
    t0 = time.time()
    proc = ctx.Process(target=raw_publisher if pub == "raw" else publisher, args=(url, prefix, mode, seconds, window, sent, stored, done,
                                                         tokens, rate, max_out))
    proc.start()
    load = []
    while not done.wait(5):
        load.append(os.getloadavg()[0])
    end_wait = time.time() + 120

    def total() -> int:
        return sum(v.value for v in stored)

    while total() < sent.value and time.time() < end_wait:
        time.sleep(0.05)
    elapsed = time.time() - t0
    cpu1 = os.times()
    proc.join(10)
    rx.stop()
    rx.client.loop_stop()
    stop.set()
    cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    lat = list(sink.latencies)
    rejected, alarms = sink.rejected, sink.alarms
    for p in others:
        r = results.get(timeout=60)
        cpu += r["cpu"]
        lat += r["latencies"]
        rejected += r["rejected"]
        alarms += r["alarms"]
        p.join(30)
    n = total()
    return {"mode": mode + (f"@{rate:.0f}/s" if rate else "") + (f"×{receivers} receivers" if receivers > 1 else ""),
            "sent": sent.value, "stored": n, "seconds": round(elapsed, 1),
            "readings_per_s": round(n / elapsed), "messages_per_s": round(n / elapsed / per),
            "p50_ms": round(pct(lat, 50) * 1000, 1), "p99_ms": round(pct(lat, 99) * 1000, 1),
            "receiver_cpu_s": round(cpu, 1),
            "load": f"{min(load or [0]):.1f}–{max(load or [0]):.1f}", "refused_or_duplicate": rejected,
            "alarms_raised": alarms}


def baseline(seconds: float) -> dict[str, Any]:
    import psycopg

    table = f"naive_{uuid.uuid4().hex[:8]}"
    n = 0
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} (device text, ts bigint, attribute text, value double precision)")
        try:
            t0 = time.time()
            while time.time() - t0 < seconds:
                ts = int(time.time() * 1000)
                for i in range(100):
                    conn.execute(f"INSERT INTO {table} VALUES (%s, %s, %s, %s)", (f"D{i:03d}", ts, "pm25", 35.5))
                n += 100
            elapsed = time.time() - t0
            stored = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]
        finally:
            conn.execute(f"DROP TABLE {table}")
    return {"readings": n, "stored": stored, "seconds": round(elapsed, 1), "readings_per_s": round(n / elapsed)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=300.0, help="publishing time per scenario")
    ap.add_argument("--baseline-seconds", type=float, default=60.0)
    ap.add_argument("--window", type=int, default=20000, help="readings between publish and sink, at most")
    ap.add_argument("--rate", type=float, nargs=2, default=None, metavar=("GATEWAY", "SINGLE"),
                    help="also run both scenarios open-loop at these readings/s (latency below capacity)")
    ap.add_argument("--receivers", type=int, default=1,
                    help="receiver processes on a shared subscription ($share/…), each with its own pipeline")
    ap.add_argument("--max-out", type=int, default=MAX_MESSAGES_OUT,
                    help="messages between publish and sink, at most (keep below what the broker queues for the "
                    "receiver: its receive maximum 5000 plus Mosquitto's max_queued_messages 1000)")
    ap.add_argument("--publisher", choices=["raw", "paho"], default="raw",
                    help="raw: PUBLISH packets written to the socket in chunks (default); paho: one paho publish() "
                    "per message (tops out near 9,000 messages/s on one core here)")
    ap.add_argument("--modes", nargs="+", default=["gateway", "single"], choices=["gateway", "single"])
    ap.add_argument("--mqtt-url", default=os.environ.get("CITYHUB_BENCH_MQTT", "mqtt://127.0.0.1:1883"))
    ap.add_argument("--sink", default="", help="pipeline | parquet | module:factory (default: the pipeline "
                    "sensing.ingest when present, else parquet)")
    args = ap.parse_args()
    sink = args.sink
    if not sink:
        try:
            import cityhub.sensing.ingest  # noqa: F401
            sink = "pipeline"
        except ImportError:
            sink = "parquet"
    print(f"machine: {machine()}; load average before: {os.getloadavg()}")
    print(f"sink: {sink}")
    results = []
    with tempfile.TemporaryDirectory() as out:
        tokens = {"GW-BENCH": "gw-token", **{f"D{d:03d}": f"tok{d}" for d in range(1000)}}
        if sink == "pipeline":
            tokens = setup_pipeline(out)
            sink = "cityhub.sensing.ingest:get_ingestor"
            print("sink: the ingest pipeline (token check, validation, de-duplication, time-series store "
                  "Parquet+DuckDB under a fresh CITYHUB_HOME with SQLite, latest values, a PM2.5 rule and alarms)")
        for mode in args.modes:
            r = scenario(args.mqtt_url, mode, args.seconds, args.window, sink, out, tokens,
                         receivers=args.receivers, max_out=args.max_out, pub=args.publisher)
            results.append(r)
            print(json.dumps(r))
        for mode, rate in zip(("gateway", "single"), args.rate or (), strict=False):
            r = scenario(args.mqtt_url, mode, args.seconds, args.window, sink, out, tokens, rate, args.receivers,
                         args.max_out, args.publisher)
            results.append(r)
            print(json.dumps(r))
    base = baseline(args.baseline_seconds)
    print("baseline (one INSERT per reading, PostgreSQL, autocommit):", json.dumps(base))
    print("\n| scenario | sent | stored | readings/s | msg/s | readings per receiver CPU-s | p50 ms | p99 ms | "
          "ratio to naive PG |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        per_cpu = round(r["stored"] / max(r["receiver_cpu_s"], 0.1))
        print(f"| {r['mode']} | {r['sent']} | {r['stored']} | {r['readings_per_s']} | {r['messages_per_s']} | "
              f"{per_cpu} | {r['p50_ms']} | {r['p99_ms']} | {r['readings_per_s'] / base['readings_per_s']:.1f}× |")
    print(f"| naive PG INSERT per reading | {base['readings']} | {base['stored']} | {base['readings_per_s']} | "
          f"- | - | - | - | 1× |")
    print("ThingsBoard (vendor, t3.medium 2 vCPU + PostgreSQL): 1,000 msg/s = 3,000 data points/s")
    print(f"load average after: {os.getloadavg()}")
    ok = all(r["stored"] == r["sent"] and r["refused_or_duplicate"] == 0 for r in results)
    print("stored == sent:", ok)
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
