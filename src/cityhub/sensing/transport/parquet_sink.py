"""A stand-in sink that appends readings to Parquet files, for the benchmark and for trying the transports
before the pipeline (``sensing.ingest``) is there. It parses the payload forms but checks NO token and NO
device type: it is not the pipeline and must not be used to receive real devices.

Payload forms (as the pipeline reads them): a device message is one reading ``{"ts": ms, "values": {…}}``,
a list of them, or a bare ``{"<attribute>": value, …}`` (stamped with the receipt time); a gateway message
is ``{"<device code>": reading | [readings…], …}``. Unparseable messages go to ``dead-*.parquet`` with the
reason, never dropped. One file per batch, written to a temporary name and renamed (a crash leaves no
half file)."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from cityhub.sensing.message import RawMessage

SCHEMA = pa.schema([("device", pa.string()), ("ts", pa.int64()), ("attribute", pa.string()),
                    ("value", pa.float64()), ("text", pa.string()), ("received_at", pa.float64())])
DEAD = pa.schema([("kind", pa.string()), ("device", pa.string()), ("payload", pa.binary()),
                  ("reason", pa.string()), ("received_at", pa.float64())])


def _readings(doc: Any) -> list[dict[str, Any]]:
    if isinstance(doc, list):
        return [r for r in doc if isinstance(r, dict)]
    return [doc] if isinstance(doc, dict) else []


class ParquetSink:
    def __init__(self, directory: str | Path) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.readings = 0
        self.dead = 0
        self._n = 0
        self._lock = threading.Lock()

    def __call__(self, batch: Sequence[RawMessage]) -> int:
        cols: dict[str, list[Any]] = {n: [] for n in SCHEMA.names}
        dead: dict[str, list[Any]] = {n: [] for n in DEAD.names}
        count = 0

        def add(device: str, rec: dict[str, Any], m: RawMessage) -> None:
            nonlocal count
            values = rec.get("values") if "values" in rec else {k: v for k, v in rec.items() if k != "ts"}
            ts = rec.get("ts")
            ts_ms = int(ts) if isinstance(ts, int | float) else int(m.received_at * 1000)
            if not isinstance(values, dict):
                return
            count += 1
            for key, value in values.items():
                num = float(value) if isinstance(value, int | float) else None
                cols["device"].append(device)
                cols["ts"].append(ts_ms)
                cols["attribute"].append(str(key))
                cols["value"].append(num)
                cols["text"].append(None if num is not None else str(value))
                cols["received_at"].append(m.received_at)

        for m in batch:
            try:
                doc = json.loads(m.payload)
            except (ValueError, UnicodeDecodeError) as exc:
                for k, v in (("kind", m.kind), ("device", m.device), ("payload", m.payload),
                             ("reason", f"not JSON: {exc}"), ("received_at", m.received_at)):
                    dead[k].append(v)
                continue
            if m.kind == "gateway" and isinstance(doc, dict):
                for code, recs in doc.items():
                    for rec in _readings(recs):
                        add(str(code), rec, m)
            else:
                for rec in _readings(doc):
                    add(m.device, rec, m)
        with self._lock:
            self._n += 1
            n = self._n
            if cols["device"]:
                self._write(pa.table(cols, schema=SCHEMA), f"part-{os.getpid()}-{n:08d}.parquet")
            if dead["kind"]:
                self._write(pa.table(dead, schema=DEAD), f"dead-{os.getpid()}-{n:08d}.parquet")
            self.readings += count
            self.dead += len(dead["kind"])
        return count

    def _write(self, table: pa.Table, name: str) -> None:
        tmp = self.dir / (name + ".tmp")
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, self.dir / name)
