"""One device's hourly and daily aggregates (``device_aggregates``, what the 7 d and 30 d charts read): from raw
readings for days not aggregated yet, from the kept aggregates once retention has run (raw dropped), the same
figures either way; Parquet and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from cityhub.sensing.tsstore import ParquetStore, PostgresStore, merge_aggregates, table_from_columns
from tests.sensing.test_tsstore import pg_url  # noqa: F401 - fixture

UTC = dt.UTC
DAY = dt.datetime(2026, 11, 1, tzinfo=UTC)


def _rows(device: str, start: dt.datetime, n: int, step_min: int, value: float) -> object:
    ts = [int((start + dt.timedelta(minutes=i * step_min)).timestamp() * 1_000_000) for i in range(n)]
    return table_from_columns([device] * n, ["air_quality"] * n, ts, ["pm25"] * n, [value + i for i in range(n)])


def _fill(store: object) -> None:
    # aq-1: 48 readings every 30 minutes from DAY 00:00 (two days, values 0..47); aq-2 elsewhere (never mixed in)
    store.append(_rows("aq-1", DAY, 48 * 2, 30, 0.0))  # type: ignore[attr-defined]
    store.append(_rows("aq-2", DAY, 10, 30, 1000.0))  # type: ignore[attr-defined]


def _check(store: object) -> None:
    end = DAY + dt.timedelta(days=2)
    hours = store.device_aggregates("aq-1", "air_quality", DAY, end, "hour")  # type: ignore[attr-defined]
    assert len(hours) == 48 and all(h["n"] == 2 for h in hours)
    assert hours[0]["bucket"] == DAY and hours[0]["mean"] == 0.5 and hours[0]["min"] == 0 and hours[0]["max"] == 1
    days = store.device_aggregates("aq-1", "air_quality", DAY, end, "day")  # type: ignore[attr-defined]
    assert [(d["bucket"], d["n"], d["min"], d["max"]) for d in days] == [(DAY, 48, 0, 47),
                                                                         (DAY + dt.timedelta(days=1), 48, 48, 95)]
    assert days[0]["mean"] == pytest.approx(23.5)
    # a window inside the range, an attribute filter
    part = store.device_aggregates("aq-1", "air_quality", DAY + dt.timedelta(hours=5),  # type: ignore[attr-defined]
                                   DAY + dt.timedelta(hours=7), "hour", ["pm25"])
    assert [p["bucket"].hour for p in part] == [5, 6]
    assert store.device_aggregates("aq-1", "air_quality", DAY, end, "hour", ["no2"]) == []  # type: ignore[attr-defined]
    with pytest.raises(ValueError):
        store.device_aggregates("aq-1", "air_quality", DAY, end, "week")  # type: ignore[attr-defined]


def test_parquet_device_aggregates_from_raw_then_from_kept_aggregates(tmp_path: Path) -> None:
    store = ParquetStore(tmp_path, flush_rows=10**9, flush_seconds=10**9)
    _fill(store)
    _check(store)  # raw (partly still in the write buffer)
    store.retain(DAY + dt.timedelta(days=40), raw_days=30)  # aggregated, raw dropped
    assert not list((tmp_path / "raw").rglob("*.parquet"))
    _check(store)
    store.close()


def test_postgres_device_aggregates(pg_url: str) -> None:  # noqa: F811
    store = PostgresStore(pg_url)
    _fill(store)
    _check(store)
    store.retain(DAY + dt.timedelta(days=40), raw_days=30)
    assert store.count() == 0
    _check(store)
    store.close()


def test_merge_weights_by_count() -> None:
    rows = [{"bucket": DAY, "attribute": "a", "n": 1, "mean": 10.0, "min": 10.0, "max": 10.0},
            {"bucket": DAY, "attribute": "a", "n": 3, "mean": 2.0, "min": 1.0, "max": 3.0}]
    assert merge_aggregates(rows) == [{"bucket": DAY, "attribute": "a", "n": 4, "mean": 4.0, "min": 1.0, "max": 10.0}]
