# ruff: noqa: F811 - the service fixtures are imported from tests/sensing/transport_services.py
"""NATS JetStream between receivers and ingest workers: publish idempotence (Nats-Msg-Id), and two worker
processes on one shared durable consumer storing every reading exactly once although one of them is
killed (SIGKILL) in the middle of a batch."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import nats

from cityhub.sensing.message import RawMessage
from cityhub.sensing.transport.stream import (
    StreamAppender,
    StreamConfig,
    consumer_state,
    decode,
    encode,
    message_id,
)
from tests.sensing.transport_services import nats_url  # noqa: F401 - fixture

ROOT = Path(__file__).resolve().parents[2]


def test_headers_round_trip_and_message_id() -> None:
    m = RawMessage("gateway", "tök-1", b'{"A":[{"ts":1}]}', 12.5, "mqtt", "")
    assert decode(encode(m), m.payload) == m
    assert message_id(m) == message_id(RawMessage("gateway", "tök-1", b'{"A":[{"ts":1}]}', 99.0, "http"))
    assert message_id(m) != message_id(RawMessage("device", "tök-1", b'{"A":[{"ts":1}]}', 12.5))
    no_ts = RawMessage("device", "t", b'{"v":1}', 1.0, device="D")
    assert message_id(no_ts) != message_id(RawMessage("device", "t", b'{"v":1}', 2.0, device="D"))


def _delete_stream(url: str, name: str) -> None:
    async def go() -> None:
        nc = await nats.connect(url)
        try:
            await nc.jetstream().delete_stream(name)
        finally:
            await nc.close()

    asyncio.run(go())


def test_two_workers_store_every_reading_once_when_one_is_killed_mid_batch(nats_url: str, tmp_path: Path) -> None:
    uid = uuid.uuid4().hex[:10]
    cfg = StreamConfig(url=nats_url, stream=f"TEST_{uid}", subject=f"test.{uid}.telemetry",
                       consumer=f"workers-{uid}", ack_wait=2.0)
    db = tmp_path / "readings.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE readings(device TEXT, ts INTEGER, id TEXT, worker TEXT, UNIQUE(device, ts))")
    conn.execute("CREATE TABLE deliveries(id TEXT, worker TEXT)")
    total = 1000
    appender = StreamAppender(cfg)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        msgs = [RawMessage("device", "tok", json.dumps({"id": f"r{i}", "ts": i}).encode(), time.time(),
                           device=f"D{i % 30}") for i in range(total)]
        appender(msgs)
        appender(msgs[:200])  # a receiver re-publishing after a crash: deduplicated by Nats-Msg-Id
        assert appender.duplicates == 200
        marker = tmp_path / "half-way"
        env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        for name, delay, mark in (("victim", "0.01", str(marker)), ("survivor", "0.0005", "-")):
            procs[name] = subprocess.Popen(
                [sys.executable, "-m", "tests.sensing.stream_worker", name, str(db), cfg.url, cfg.stream,
                 cfg.subject, cfg.consumer, str(cfg.ack_wait), delay, mark], cwd=ROOT, env=env)
        end = time.time() + 30
        while not marker.exists() and time.time() < end:
            time.sleep(0.02)
        assert marker.exists(), "the victim worker never got a batch"
        procs["victim"].send_signal(signal.SIGKILL)  # mid-batch: part of it stored, none of it acknowledged
        procs["victim"].wait(5)
        victim_rows = conn.execute("SELECT count(*) FROM readings WHERE worker='victim'").fetchone()[0]
        assert victim_rows > 0
        end = time.time() + 40
        while time.time() < end:
            state = consumer_state(cfg)
            if state["pending"] == 0 and state["ack_pending"] == 0:
                break
            time.sleep(0.3)
        assert state["messages"] == total  # the re-published 200 were not appended again
        assert (state["pending"], state["ack_pending"]) == (0, 0), state
        stored = conn.execute("SELECT count(*), count(DISTINCT id) FROM readings").fetchone()
        assert tuple(stored) == (total, total)  # every reading, once
        assert {r[0] for r in conn.execute("SELECT id FROM readings")} == {f"r{i}" for i in range(total)}
        # the victim's unacknowledged batch went to the survivor: delivered twice, stored once
        twice = conn.execute("SELECT count(*) FROM (SELECT id FROM deliveries GROUP BY id HAVING count(*) > 1)"
                             ).fetchone()[0]
        assert twice > 0 and state["redelivered"] >= 0
        assert procs["survivor"].poll() is None  # still consuming
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
        appender.close()
        _delete_stream(nats_url, cfg.stream)
