"""The Parquet store's compaction of flush files (job ``sensing_compact``), reads that survive a compaction between
listing and reading, and city-wide hourly figures from the kept aggregates of finished days (issue 13, speed at
100 million values: benchmarks/sensing_store_bench.py)."""

from __future__ import annotations

import datetime as dt
import fcntl
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from cityhub.sensing import tsstore
from cityhub.sensing.tsstore import MERGED_SUFFIX, ParquetStore, table_from_columns

UTC = dt.UTC
DAY = dt.datetime(2026, 11, 1, tzinfo=UTC)


def _batch(devices: list[str], start: dt.datetime, minutes: int, base: float = 0.0) -> Any:
    """Readings of ``devices`` (pm25 and no2) every minute for ``minutes`` minutes from ``start``."""
    dev, ts, att, val = [], [], [], []
    for i in range(minutes):
        t = int((start + dt.timedelta(minutes=i)).timestamp() * 1_000_000)
        for k, d in enumerate(devices):
            for a in ("pm25", "no2"):
                dev.append(d)
                ts.append(t)
                att.append(a)
                val.append(base + i + 100 * k + (0.5 if a == "no2" else 0))
    return table_from_columns(dev, ["air_quality"] * len(dev), ts, att, val)


def _files(root: Path, day: str = "2026-11-01") -> list[Path]:
    return sorted((root / "raw" / "type=air_quality" / f"day={day}").glob("*.parquet"))


def test_compact_merges_flush_files_into_one_sorted_file_with_the_same_readings(tmp_path: Path,
                                                                                monkeypatch: Any) -> None:
    monkeypatch.setattr(tsstore, "ROW_GROUP_ROWS", 50)
    store = ParquetStore(tmp_path, flush_rows=1, flush_seconds=0)  # every append a flush: one file each
    devices = [f"aq-{i}" for i in range(5)]
    for m in range(20):
        store.append(_batch(devices, DAY + dt.timedelta(minutes=m), 1))
    store.append(_batch(devices[:2], DAY + dt.timedelta(minutes=3), 1))  # a repeat of stored readings
    assert len(_files(tmp_path)) == 21
    before = {d: store.series(d, DAY, DAY + dt.timedelta(hours=1)) for d in devices}
    hourly_before = store.hourly("air_quality", DAY, DAY + dt.timedelta(days=1), per_device=True)

    done = store.compact()
    assert done == {"partitions": 1, "files_merged": 21, "rows": 200}  # 5 devices x 20 minutes x 2, repeats once
    files = _files(tmp_path)
    assert len(files) == 1 and files[0].name.endswith(MERGED_SUFFIX)
    pf = pq.ParquetFile(files[0])
    assert pf.metadata.num_rows == 200 and pf.metadata.num_row_groups == 4  # row groups of ROW_GROUP_ROWS
    tbl = pf.read()
    keys = list(zip(tbl["device"].to_pylist(), tbl["ts"].to_pylist(), tbl["attribute"].to_pylist(), strict=True))
    assert keys == sorted(keys)  # by device, then time: a device's readings sit in one or two row groups
    # row-group statistics bound the devices (what lets DuckDB skip the other devices' rows)
    first = pf.metadata.row_group(0).column(0).statistics
    assert first.min == "aq-0" and first.max in ("aq-0", "aq-1")
    assert {d: store.series(d, DAY, DAY + dt.timedelta(hours=1)) for d in devices} == before
    assert store.hourly("air_quality", DAY, DAY + dt.timedelta(days=1), per_device=True) == hourly_before
    assert store.count() == 200
    assert store.compact() == {"partitions": 0, "files_merged": 0, "rows": 0}  # nothing left to merge
    store.close()


def test_compact_leaves_one_new_flush_alone_and_merges_merged_files_past_the_limit(tmp_path: Path) -> None:
    store = ParquetStore(tmp_path, flush_rows=1, flush_seconds=0)
    store.append(_batch(["aq-1"], DAY, 5))
    store.append(_batch(["aq-1"], DAY + dt.timedelta(minutes=5), 5))
    assert store.compact(max_merged=2)["files_merged"] == 2
    store.append(_batch(["aq-1"], DAY + dt.timedelta(minutes=10), 5))
    assert store.compact(max_merged=2)["partitions"] == 0  # a merged file and one flush: nothing worth merging
    store.append(_batch(["aq-1"], DAY + dt.timedelta(minutes=15), 5))
    assert store.compact(max_merged=2)["files_merged"] == 2  # the two flushes -> a second merged file
    store.append(_batch(["aq-1"], DAY + dt.timedelta(minutes=20), 5))
    store.append(_batch(["aq-1"], DAY + dt.timedelta(minutes=25), 5))
    # two merged files + the new flushes' merge would make three, past the limit: everything into one
    assert store.compact(max_merged=2)["files_merged"] == 4
    assert len(_files(tmp_path)) == 1
    assert [r["value"] for r in store.series("aq-1", DAY, DAY + dt.timedelta(hours=1), ["pm25"])] == [
        float(i % 5) for i in range(30)]
    store.close()


def test_only_one_compaction_at_a_time(tmp_path: Path) -> None:
    store = ParquetStore(tmp_path, flush_rows=1, flush_seconds=0)
    store.append(_batch(["aq-1"], DAY, 5))
    store.append(_batch(["aq-1"], DAY + dt.timedelta(minutes=5), 5))
    with open(tmp_path / ".compact.lock", "a+") as other:  # another process's compaction holds the lock
        fcntl.flock(other, fcntl.LOCK_EX)
        assert store.compact()["skipped"] == 1
        assert len(_files(tmp_path)) == 2
        fcntl.flock(other, fcntl.LOCK_UN)
    assert store.compact()["files_merged"] == 2
    store.close()


def test_a_read_lists_again_when_a_listed_file_was_merged_away(tmp_path: Path, monkeypatch: Any) -> None:
    store = ParquetStore(tmp_path, flush_rows=1, flush_seconds=0)
    store.append(_batch(["aq-1"], DAY, 5))
    store.append(_batch(["aq-1"], DAY + dt.timedelta(minutes=5), 5))
    real = store._raw_files
    calls = []

    def listing(types: Any, days: Any) -> list[str]:
        files = real(types, days)
        calls.append(len(files))
        if len(calls) == 1:  # listed, then a compaction merges the files away before DuckDB opens them
            store.compact()
        return files

    monkeypatch.setattr(store, "_raw_files", listing)
    rows = store.series("aq-1", DAY, DAY + dt.timedelta(hours=1), ["pm25"])
    assert [r["value"] for r in rows] == [float(i % 5) for i in range(10)]
    assert calls == [2, 1]  # the second attempt read the merged file
    store.close()


def _norm(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(r.get("device"), r["hour"], r["attribute"], r["n"], round(r["mean"], 9), r["min"], r["max"]) for r in rows]


def test_city_hourly_of_finished_days_from_the_kept_aggregates(tmp_path: Path) -> None:
    store = ParquetStore(tmp_path, flush_rows=1, flush_seconds=0)
    devices = [f"aq-{i}" for i in range(3)]
    store.append(_batch(devices, DAY + dt.timedelta(hours=22), 180))  # 22:00 day 1 .. 01:00 day 2
    store.append(_batch(devices[:1], DAY + dt.timedelta(hours=22), 30))  # repeats
    span = (DAY + dt.timedelta(hours=20), DAY + dt.timedelta(days=1, hours=4))
    city_raw = store.hourly("air_quality", *span)
    per_device_raw = store.hourly("air_quality", *span, per_device=True)
    assert [(h["hour"].hour, h["attribute"], h["n"]) for h in city_raw][:2] == [(22, "no2", 180), (22, "pm25", 180)]
    store.retain(DAY + dt.timedelta(days=3), raw_days=30)  # both days aggregated, raw kept
    assert _files(tmp_path) and (tmp_path / "hourly" / "type=air_quality" / "day=2026-11-01" / "agg.parquet").exists()
    assert _norm(store.hourly("air_quality", *span)) == _norm(city_raw)
    assert _norm(store.hourly("air_quality", *span, per_device=True)) == _norm(per_device_raw)
    # the figures of an aggregated day come from its aggregates: a late reading counts after the next retention
    late = table_from_columns(["aq-9"], ["air_quality"], [int((DAY + dt.timedelta(hours=23)).timestamp() * 1e6)],
                              ["pm25"], [1000.0])
    store.append(late)
    hour23 = [h for h in store.hourly("air_quality", *span) if h["hour"].hour == 23 and h["attribute"] == "pm25"]
    assert hour23[0]["n"] == 180
    store.retain(DAY + dt.timedelta(days=3), raw_days=30)
    hour23 = [h for h in store.hourly("air_quality", *span) if h["hour"].hour == 23 and h["attribute"] == "pm25"]
    assert hour23[0]["n"] == 181 and hour23[0]["max"] == 1000.0
    store.close()


def test_the_job_compacts_the_pipelines_store_and_can_be_turned_off(tmp_path: Path, monkeypatch: Any) -> None:
    from types import SimpleNamespace

    from cityhub import jobs as job_registry
    from cityhub.sensing import jobs
    from cityhub.settings import get_settings

    store = ParquetStore(tmp_path, flush_rows=1, flush_seconds=0)
    store.append(_batch(["aq-1"], DAY, 5))
    store.append(_batch(["aq-1"], DAY + dt.timedelta(minutes=5), 5))
    monkeypatch.setattr(jobs, "get_ingestor", lambda: SimpleNamespace(store=store))
    monkeypatch.setenv("CITYHUB_SENSING_COMPACT_SECONDS", "0")
    get_settings.cache_clear()
    try:
        assert job_registry._PERIODIC["sensing_compact"].seconds() == 0  # the loop never starts it
        assert jobs.sensing_compact() == {} and len(_files(tmp_path)) == 2
        monkeypatch.setenv("CITYHUB_SENSING_COMPACT_SECONDS", "60")
        get_settings.cache_clear()
        assert job_registry._PERIODIC["sensing_compact"].seconds() == 60.0
        assert jobs.sensing_compact()["files_merged"] == 2 and len(_files(tmp_path)) == 1
        # a store without compaction (PostgreSQL): nothing to do
        monkeypatch.setattr(jobs, "get_ingestor", lambda: SimpleNamespace(store=object()))
        assert jobs.sensing_compact() == {}
    finally:
        monkeypatch.delenv("CITYHUB_SENSING_COMPACT_SECONDS")
        get_settings.cache_clear()
    store.close()


def _dedup_count(store: ParquetStore) -> int:
    """The whole store counted the slow, obviously right way: every file and the buffer, deduplicated."""
    def run(con: Any) -> int:
        return int(con.execute(f"SELECT count(*) FROM {store._relation(con, None, None)}").fetchone()[0])

    return store._read(run)


def test_count_reads_footers_of_merged_days_and_deduplicates_the_rest(tmp_path: Path) -> None:
    """count() equals the deduplicating count over everything, whatever mix of merged days, flushes, repeated
    readings and buffered rows the store holds; a merged day is counted from its footer (no DuckDB scan)."""
    store = ParquetStore(tmp_path, flush_rows=1, flush_seconds=0)
    devices = [f"aq-{i}" for i in range(4)]
    store.append(_batch(devices, DAY, 30))  # day 1: 4 x 30 x 2 = 240
    store.append(_batch(devices[:2], DAY + dt.timedelta(minutes=5), 3))  # repeats of day-1 readings
    store.compact()  # day 1: one merged, deduplicated file
    assert store.count() == _dedup_count(store) == 240
    day2 = DAY + dt.timedelta(days=1)
    store.append(_batch(devices, day2, 10))  # day 2: flush files with a repeat, not merged
    store.append(_batch(devices[:1], day2, 10))
    assert store.count() == _dedup_count(store) == 240 + 80
    # rows kept in the buffer: a repeat of a merged day's readings, new readings of that day, and a day not on disk
    store.flush_rows = 10**9
    store.flush_seconds = 10**9
    store.append(_batch(devices[:1], DAY, 2))  # already stored
    store.append(_batch(["aq-9"], DAY + dt.timedelta(hours=3), 2))  # new on day 1: +4
    store.append(_batch(devices[:1], DAY + dt.timedelta(days=2), 5))  # day 3, buffer only: +10
    assert store.count() == _dedup_count(store) == 240 + 80 + 4 + 10
    # merged days are read from their footers: a scan of day 1 would fail on a file DuckDB cannot read
    store.flush()
    store.compact(max_merged=1)
    assert store.count() == 334
    assert [f.name.endswith(MERGED_SUFFIX) for f in _files(tmp_path)] == [True]  # day 1: one merged file
    day1 = _files(tmp_path)[0]
    good = day1.read_bytes()
    n = pq.ParquetFile(day1).metadata.num_rows
    footer_len = int.from_bytes(good[-8:-4], "little")
    day1.write_bytes(b"PAR1" + b"\0" * (len(good) - footer_len - 12) + good[-footer_len - 8:])  # data zeroed
    assert store.count() == 334 and n == 244  # the footer answers; the zeroed pages were never read
    store.close()
