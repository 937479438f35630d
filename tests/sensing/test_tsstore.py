"""The time-series store: write-ahead recovery, de-duplication, compaction, retention; PostgreSQL backend."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cityhub.sensing import tsstore
from cityhub.sensing.tsstore import ParquetStore, PostgresStore, table_from_columns
from tests.conftest import PG_ADMIN_URL, _drop_pg_database, require_postgres

UTC = dt.UTC
DAY = dt.datetime(2026, 11, 1, tzinfo=UTC)


def _rows(n: int, start: dt.datetime = DAY, device: str = "aq-1", value: float = 1.0) -> object:
    ts = [int((start + dt.timedelta(minutes=i)).timestamp() * 1_000_000) for i in range(n)]
    return table_from_columns([device] * n, ["air_quality"] * n, ts, ["pm25"] * n, [value + i for i in range(n)])


def test_write_ahead_file_survives_a_stop(tmp_path: Path) -> None:
    store = ParquetStore(tmp_path, flush_rows=10**9, flush_seconds=10**9)
    store.append(_rows(30))  # type: ignore[arg-type]
    wal = list((tmp_path / "wal").glob("*.arrow"))
    assert len(wal) == 1 and not list((tmp_path / "raw").rglob("*.parquet"))
    # the process stops without flushing (as far as the files know: its write-ahead file is no longer open),
    # and a new store replays the file into Parquet
    tsstore._OPEN_WALS.clear()
    reopened = ParquetStore(tmp_path)
    assert reopened.count() == 30 and not list((tmp_path / "wal").glob("*.arrow"))
    assert list((tmp_path / "raw" / "type=air_quality").glob("day=2026-11-01/*.parquet"))
    reopened.close()


def test_repeats_are_kept_once_and_compaction_and_retention(tmp_path: Path) -> None:
    store = ParquetStore(tmp_path, flush_rows=1, flush_seconds=0)
    for _ in range(3):
        store.append(_rows(60))  # type: ignore[arg-type]
    assert len(list((tmp_path / "raw").rglob("*.parquet"))) == 3
    assert store.count() == 60
    series = store.series("aq-1", DAY, DAY + dt.timedelta(hours=1))
    assert len(series) == 60 and series[0]["value"] == 1.0 and series[0]["ts"] == DAY
    done = store.retain(DAY + dt.timedelta(days=2), raw_days=30)
    assert done == {"aggregated": 1, "compacted": 1, "dropped": 0}
    assert len(list((tmp_path / "raw").rglob("*.parquet"))) == 1 and store.count() == 60
    hourly = store.hourly("air_quality", DAY, DAY + dt.timedelta(days=1), per_device=True)
    assert [(h["device"], h["n"], h["min"], h["max"]) for h in hourly] == [("aq-1", 60, 1.0, 60.0)]
    done = store.retain(DAY + dt.timedelta(days=40), raw_days=30)
    assert done["dropped"] == 1 and store.count() == 0
    # the day's hourly and daily aggregates stay
    assert store.hourly("air_quality", DAY, DAY + dt.timedelta(days=1))[0]["n"] == 60
    assert list((tmp_path / "daily").rglob("agg.parquet"))
    store.close()


@pytest.fixture
def pg_url() -> Iterator[str]:
    require_postgres()
    import psycopg

    name = f"cityhub_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    _drop_pg_database(name)


def test_postgres_store(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    store.append(_rows(90))  # type: ignore[arg-type]
    store.append(_rows(90))  # type: ignore[arg-type]   # the same rows again: kept once
    store.append(_rows(10, device="aq-2", value=100.0))  # type: ignore[arg-type]
    assert store.count() == 100
    s = store.series("aq-1", DAY, DAY + dt.timedelta(minutes=9))
    assert [r["value"] for r in s] == [float(i) for i in range(1, 11)] and s[0]["ts"] == DAY
    hourly = store.hourly("air_quality", DAY, DAY + dt.timedelta(days=1))
    assert [(h["hour"].hour, h["n"]) for h in hourly] == [(0, 70), (1, 30)]
    assert store.retain(DAY + dt.timedelta(days=40), raw_days=30)["dropped_rows"] == 100
    assert store.count() == 0
    again = store.hourly("air_quality", DAY, DAY + dt.timedelta(days=1))
    assert [(h["hour"].hour, h["n"]) for h in again] == [(0, 70), (1, 30)]
    store.close()


def test_a_live_process_keeps_its_write_ahead_file(tmp_path: Path) -> None:
    import subprocess
    import sys

    writer = ParquetStore(tmp_path, flush_rows=10**9, flush_seconds=10**9)
    writer.append(_rows(5))  # type: ignore[arg-type]
    # another process's live file (a sleeping child's pid) is left alone; a dead one's is replayed
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        live = tmp_path / "wal" / f"{child.pid}-1-aaaa.arrow"
        live.write_bytes(next((tmp_path / "wal").glob(f"{os.getpid()}-*.arrow")).read_bytes())
        other = ParquetStore(tmp_path)
        assert live.exists() and len(list((tmp_path / "wal").glob("*.arrow"))) == 2
        assert other.count() == 0   # nothing replayed: both files belong to live writers
    finally:
        child.kill()
        child.wait()
    third = ParquetStore(tmp_path)
    assert not live.exists() and third.count() == 5   # the dead child's file replayed (its rows equal ours)
    writer.close()
    assert third.count() == 5
