"""Sensing fixtures: a migrated store with a few devices, a Parquet time-series store and the pipeline."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cityhub.sensing.message import RawMessage

NOW = 1_796_000_000.0  # 2026-11-30T... UTC, fixed so tests do not depend on the clock
DEVICES = [
    # code, type, token, gateway
    ("air-1", "air_quality", "tok-air-1", False),
    ("air-2", "air_quality", "tok-air-2", False),
    ("mh-1", "manhole_cover", "tok-mh-1", False),
    ("gw-1", "gateway", "tok-gw-1", True),
]


#: the gateway each device is assigned to (a gateway may relay only its own devices' readings)
GATEWAY_OF = {"air-1": "gw-1", "air-2": "gw-1", "mh-1": "gw-1"}


def add_devices(devices: list[tuple[str, str, str, bool]] = DEVICES,
                gateway_of: dict[str, str] = GATEWAY_OF) -> None:
    from cityhub.db import session_scope
    from cityhub.sensing.ingest import token_hash
    from cityhub.sensing.models import Device

    with session_scope() as s:
        added = {}
        for code, type_, token, gw in devices:
            added[code] = Device(code=code, type=type_, name=code, token_hash=token_hash(token), gateway=gw,
                                 district_code="440106")
            s.add(added[code])
        s.flush()
        for code, gw_code in gateway_of.items():
            if code in added and gw_code in added:
                added[code].gateway_id = added[gw_code].id


def msg(payload: Any, token: str, *, kind: str = "device", device: str = "", at: float = NOW,
        source: str = "mqtt") -> RawMessage:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return RawMessage(kind=kind, credential=token, payload=body, received_at=at, source=source,  # type: ignore[arg-type]
                      device=device)


@dataclass
class Pipe:
    ingest: Any
    store: Any
    clock: list[float]


@pytest.fixture
def pipe(empty_store: Any, tmp_path: Path) -> Iterator[Pipe]:
    from cityhub.sensing.ingest import Ingestor
    from cityhub.sensing.tsstore import ParquetStore

    add_devices()
    store = ParquetStore(tmp_path / "ts", flush_rows=1_000_000, flush_seconds=3600)
    clock = [NOW]
    yield Pipe(Ingestor(store, future_minutes=5, now=lambda: clock[0]), store, clock)
    store.close()


@pytest.fixture
def sqlite_pipe(sqlite_empty: Any, tmp_path: Path) -> Iterator[Pipe]:
    from cityhub.sensing.ingest import Ingestor
    from cityhub.sensing.tsstore import ParquetStore

    add_devices()
    store = ParquetStore(tmp_path / "ts", flush_rows=1_000_000, flush_seconds=3600)
    clock = [NOW]
    yield Pipe(Ingestor(store, future_minutes=5, now=lambda: clock[0]), store, clock)
    store.close()


def wait_for(pred: Any, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


@pytest.fixture
def client(sqlite_demo_store: Any) -> Iterator[Any]:
    """The web app over the SQLite demo store (the sensing API and pages tests)."""
    from fastapi.testclient import TestClient

    sqlite_demo_store.activate()
    from cityhub.web.app import create_app

    with TestClient(create_app(), base_url="http://127.0.0.1:8000") as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
