"""An ingest worker process for tests/sensing/test_transport_stream.py: consumes the JetStream stream into a
SQLite file whose readings table has a uniqueness key, one row per commit (so a kill lands mid-batch).

python -m tests.sensing.stream_worker NAME DB_PATH NATS_URL STREAM SUBJECT CONSUMER ACK_WAIT ROW_DELAY MARKER
MARKER (or "-"): a file this worker writes when it is half-way through a batch, so the test can kill it there.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from cityhub.sensing.message import RawMessage
from cityhub.sensing.transport.stream import StreamConfig, run_worker


def main() -> None:
    name, db, url, stream, subject, consumer, ack_wait, delay, marker = sys.argv[1:10]
    conn = sqlite3.connect(db, timeout=30, isolation_level=None, check_same_thread=False)  # one sink call at a time
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")  # WAL without an fsync per commit: a process kill loses nothing
    row_delay = float(delay)

    def sink(batch: Sequence[RawMessage]) -> None:
        for i, m in enumerate(batch):
            reading = json.loads(m.payload)
            conn.execute("INSERT INTO deliveries(id, worker) VALUES (?, ?)", (reading["id"], name))
            conn.execute("INSERT OR IGNORE INTO readings(device, ts, id, worker) VALUES (?, ?, ?, ?)",
                         (m.device, reading["ts"], reading["id"], name))
            if marker != "-" and i == len(batch) // 2:
                Path(marker).write_text(name)
            time.sleep(row_delay)

    run_worker(sink, StreamConfig(url=url, stream=stream, subject=subject, consumer=consumer,
                                  ack_wait=float(ack_wait)), batch=50)


if __name__ == "__main__":
    main()
