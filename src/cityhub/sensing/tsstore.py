"""The time-series store behind one interface: readings in long form (device, type, ts, attribute, value).

* ``ParquetStore`` (default, embedded): ``append`` writes the batch to a write-ahead Arrow IPC file (flushed and
  fsynced: once ``append`` returns the readings survive a crash) and keeps it in memory; the buffer becomes Parquet
  files partitioned by type and day (``raw/type=…/day=YYYY-MM-DD/…``) when it reaches ``flush_rows`` or is
  ``flush_seconds`` old. Queries read the Parquet files and the buffer with DuckDB. On opening, a write-ahead
  file left by a stopped process is replayed into Parquet. ``compact`` (job ``sensing_compact``, every few
  minutes) merges the small files the flushes leave in a partition into one file sorted by device and time, in
  row groups of ``ROW_GROUP_ROWS`` (their min/max statistics let a one-device query skip the others' rows): a
  query opens a handful of files, not one per flush.
* ``PostgresStore``: the table ``sensing_reading`` (primary key device, attribute, ts) written with COPY and
  ``ON CONFLICT DO NOTHING``; aggregates in ``sensing_reading_hourly``.

Duplicates (same device, attribute and time) are idempotent: queries and aggregates keep one value of each,
compaction keeps one row. Retention (``retain``): raw days older than ``raw_days`` are first aggregated to
hourly and daily values (device, hour/day, attribute: count, mean, min, max), kept without limit, then dropped.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import fcntl
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

UTC = dt.UTC
_EPOCH = dt.date(1970, 1, 1)
SCHEMA = pa.schema([
    ("device", pa.string()), ("type", pa.string()), ("ts", pa.timestamp("us", tz="UTC")),
    ("attribute", pa.string()), ("value", pa.float64()),
])


def table_from_columns(device: Sequence[str], type_: Sequence[str], ts_us: Sequence[int],
                       attribute: Sequence[str], value: Sequence[float]) -> pa.Table:
    return pa.table([pa.array(device, pa.string()), pa.array(type_, pa.string()),
                     pa.array(ts_us, pa.int64()).cast(pa.timestamp("us", tz="UTC")),
                     pa.array(attribute, pa.string()), pa.array(value, pa.float64())], schema=SCHEMA)


def table_from_readings(device: Sequence[str], type_: Sequence[str], ts_us: Sequence[int], counts: Sequence[int],
                        attribute: Sequence[str], value: Sequence[float]) -> pa.Table:
    """The same table as ``table_from_columns``, from per-reading columns (device, type, time, number of values)
    and per-value columns (attribute, value): the reading columns are repeated ``counts`` times by Arrow."""
    if sum(counts) != len(attribute) or len(attribute) != len(value):
        raise ValueError("the counts of values per reading do not add up to the values given")
    reps = np.asarray(counts, dtype=np.int64)
    idx = pa.array(np.repeat(np.arange(len(reps), dtype=np.int64), reps))
    return pa.table([pa.array(device, pa.string()).take(idx), pa.array(type_, pa.string()).take(idx),
                     pa.array(np.repeat(np.asarray(ts_us, dtype=np.int64), reps)).cast(pa.timestamp("us", tz="UTC")),
                     pa.array(attribute, pa.string()), pa.array(value, pa.float64())], schema=SCHEMA)


class TimeSeriesStore(Protocol):
    def append(self, table: pa.Table) -> None: ...
    def flush(self) -> None: ...
    def series(self, device: str, start: dt.datetime, end: dt.datetime,
               attributes: Sequence[str] | None = None) -> list[dict[str, Any]]: ...
    def hourly(self, type_: str, start: dt.datetime, end: dt.datetime, *, per_device: bool = False,
               attributes: Sequence[str] | None = None) -> list[dict[str, Any]]: ...
    def device_aggregates(self, device: str, type_: str, start: dt.datetime, end: dt.datetime, unit: str,
                          attributes: Sequence[str] | None = None) -> list[dict[str, Any]]: ...
    def retain(self, now: dt.datetime, raw_days: int) -> dict[str, Any]: ...
    def count(self) -> int: ...
    def close(self) -> None: ...


AGG_UNITS = ("hour", "day")
#: rows per Parquet row group of the merged files (compaction, retention, aggregates): sorted by device and time,
#: so a one-device query reads the one or two row groups whose device range holds it (DuckDB skips the rest by
#: their min/max statistics); pyarrow's default (1 Mi rows) makes a whole partition one row group
ROW_GROUP_ROWS = 65_536
#: files whose names end so are merged files (compaction, retention); the others are flushes of the buffer
MERGED_SUFFIX = "-compact.parquet"
#: merged files a partition may hold before ``compact`` merges them all into one
MAX_MERGED = 4
#: attempts of a read whose listed file was merged away (compaction) between listing and reading
READ_ATTEMPTS = 3
_T = TypeVar("_T")


def merge_aggregates(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows ``{bucket, attribute, n, mean, min, max}`` of the same bucket and attribute (one from raw readings, one
    from kept aggregates) combined into one (count-weighted mean), in time order."""
    out: dict[tuple[dt.datetime, str], dict[str, Any]] = {}
    for r in rows:
        key = (r["bucket"], r["attribute"])
        cur = out.get(key)
        n = int(r["n"] or 0)
        if cur is None:
            out[key] = {"bucket": r["bucket"], "attribute": r["attribute"], "n": n, "mean": r["mean"],
                        "min": r["min"], "max": r["max"]}
            continue
        total = cur["n"] + n
        cur["mean"] = (cur["mean"] * cur["n"] + r["mean"] * n) / total if total else cur["mean"]
        cur["n"] = total
        cur["min"] = min(cur["min"], r["min"])
        cur["max"] = max(cur["max"], r["max"])
    return [out[k] for k in sorted(out)]


def _naive(t: dt.datetime) -> dt.datetime:
    """``t`` as a naive UTC datetime (how DuckDB's ``TIMESTAMP`` columns of the views compare)."""
    return t.astimezone(UTC).replace(tzinfo=None) if t.tzinfo else t


_OPEN_WALS: set[Path] = set()  # write-ahead files this process is writing


def _owner_alive(path: Path) -> bool:
    """Whether the process that named the write-ahead file ``<pid>-…`` is running (another than this one)."""
    try:
        pid = int(path.name.split("-", 1)[0])
    except ValueError:
        return False
    if pid == os.getpid():
        return False  # ours but not open (a store of this process that was dropped): replay it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sql_list(paths: Sequence[str]) -> str:
    """A DuckDB list literal of file paths (views cannot take parameters)."""
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"


def _day(d: dt.date) -> str:
    return d.isoformat()


def _days(start: dt.datetime, end: dt.datetime) -> list[str]:
    s, e = start.astimezone(UTC).date(), end.astimezone(UTC).date()
    return [_day(s + dt.timedelta(days=i)) for i in range((e - s).days + 1)]


class ParquetStore:
    def __init__(self, root: Path, *, flush_rows: int = 200_000, flush_seconds: float = 2.0) -> None:
        self.root = root
        self.raw = root / "raw"
        self.agg = root / "hourly"
        self.daily = root / "daily"
        self.wal_dir = root / "wal"
        for d in (self.raw, self.agg, self.daily, self.wal_dir):
            d.mkdir(parents=True, exist_ok=True)
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        self._lock = threading.RLock()
        self._buffer: list[pa.Table] = []
        self._rows = 0
        self._since = 0.0
        self._wal: Any = None
        self._wal_file: Any = None
        self._wal_path: Path | None = None
        self._db = duckdb.connect()
        self._db.execute("SET threads TO 2")
        self._recover()

    # -- writing ------------------------------------------------------------------------------------------------

    def _recover(self) -> None:
        """Replay the write-ahead files of stopped processes (a live process's file, ours or another's, is left
        to it: several processes — the web server, MQTT and JetStream workers — may share the directory)."""
        for path in sorted(self.wal_dir.glob("*.arrow")):
            if path in _OPEN_WALS or _owner_alive(path):
                continue
            batches: list[pa.RecordBatch] = []
            try:
                with pa.OSFile(str(path), "rb") as f:
                    reader = ipc.open_stream(f)
                    while True:
                        try:
                            batches.append(reader.read_next_batch())
                        except StopIteration:
                            break
            except (pa.ArrowInvalid, OSError):
                pass  # a torn last batch: what was read before it is kept
            if batches:
                self._write_parquet(pa.Table.from_batches(batches, SCHEMA))
            path.unlink()

    def append(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        table = table.cast(SCHEMA) if table.schema != SCHEMA else table
        with self._lock:
            if self._wal is None:
                self._wal_path = self.wal_dir / f"{os.getpid()}-{time.time_ns()}-{uuid.uuid4().hex[:8]}.arrow"
                _OPEN_WALS.add(self._wal_path)
                self._wal_file = open(self._wal_path, "wb")  # noqa: SIM115 - kept open across appends
                self._wal = ipc.new_stream(self._wal_file, SCHEMA)
                self._since = time.monotonic()
            self._wal.write_table(table)
            self._wal_file.flush()
            os.fsync(self._wal_file.fileno())
            self._buffer.append(table)
            self._rows += table.num_rows
            if self._rows >= self.flush_rows or time.monotonic() - self._since >= self.flush_seconds:
                self.flush()

    def flush(self) -> None:
        with self._lock:
            if not self._buffer:
                return
            self._write_parquet(pa.concat_tables(self._buffer))
            self._buffer = []
            self._rows = 0
            if self._wal is not None:
                self._wal.close()
                self._wal_file.close()
                if self._wal_path is not None:
                    self._wal_path.unlink(missing_ok=True)
                    _OPEN_WALS.discard(self._wal_path)
                self._wal = self._wal_file = self._wal_path = None

    def flush_if_due(self) -> None:
        with self._lock:
            if self._buffer and time.monotonic() - self._since >= self.flush_seconds:
                self.flush()

    def _write_parquet(self, table: pa.Table) -> None:
        # the UTC day of each reading as a day number (integer division of the microseconds: Arrow's strftime
        # formatted every row and cost more than the rest of the write)
        us = table["ts"].cast(pa.int64()).to_numpy()
        table = table.append_column("day", pa.array(np.floor_divide(us, 86_400_000_000)))
        name = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}.parquet"
        for type_ in pa.compute.unique(table["type"]).to_pylist():
            part = table.filter(pa.compute.equal(table["type"], type_))
            for d in pa.compute.unique(part["day"]).to_pylist():
                rows = part.filter(pa.compute.equal(part["day"], d)).drop_columns(["day"])
                target = self.raw / f"type={type_}" / f"day={_EPOCH + dt.timedelta(days=d)}"
                target.mkdir(parents=True, exist_ok=True)
                tmp = target / f".{name}.tmp"
                pq.write_table(rows.sort_by([("device", "ascending"), ("ts", "ascending")]), tmp,
                               compression="zstd", row_group_size=ROW_GROUP_ROWS)
                tmp.rename(target / name)

    # -- reading ------------------------------------------------------------------------------------------------

    def _raw_files(self, types: Sequence[str] | None, days: Sequence[str] | None) -> list[str]:
        out: list[str] = []
        type_dirs = [self.raw / f"type={t}" for t in types] if types else sorted(self.raw.glob("type=*"))
        for td in type_dirs:
            day_dirs = [td / f"day={d}" for d in days] if days else sorted(td.glob("day=*"))
            for dd in day_dirs:
                out.extend(str(p) for p in sorted(dd.glob("*.parquet")))
        return out

    def _relation(self, con: Any, types: Sequence[str] | None, days: Sequence[str] | None) -> str:
        """A SQL name for the raw readings (files and buffer) of those types and days, deduplicated."""
        parts = []
        files = self._raw_files(types, days)
        if files:
            con.execute(f"CREATE OR REPLACE TEMP VIEW f AS SELECT device, type, ts, attribute, value FROM "
                        f"read_parquet({_sql_list(files)})")
            parts.append("SELECT * FROM f")
        with self._lock:
            buf = pa.concat_tables(self._buffer) if self._buffer else None
        if buf is not None:
            con.register("buf", buf)
            parts.append("SELECT * FROM buf")
        if not parts:
            con.register("empty", SCHEMA.empty_table())
            parts.append("SELECT * FROM empty")
        # naive UTC timestamps out of DuckDB (timestamptz would need the ICU extension and pytz)
        con.execute("CREATE OR REPLACE TEMP VIEW r AS SELECT device, any_value(type) AS type, "
                    "make_timestamp(epoch_us(ts)) AS ts, attribute, any_value(value) AS value FROM ("
                    + " UNION ALL ".join(parts) + ") GROUP BY device, ts, attribute")
        return "r"

    def _read(self, fn: Callable[[Any], _T]) -> _T:
        """``fn(cursor)``, again (files listed anew) when a file it listed was merged away by a compaction between
        its listing and its reading."""
        for attempt in range(READ_ATTEMPTS):
            con = self._db.cursor()
            try:
                return fn(con)
            except duckdb.IOException:
                if attempt == READ_ATTEMPTS - 1:
                    raise
            finally:
                con.close()
        raise AssertionError("unreachable")

    def series(self, device: str, start: dt.datetime, end: dt.datetime,
               attributes: Sequence[str] | None = None, type_: str | None = None) -> list[dict[str, Any]]:
        """One device's readings between ``start`` and ``end`` (inclusive), in time order."""
        def run(con: Any) -> list[Any]:
            rel = self._relation(con, [type_] if type_ else None, _days(start, end))
            sql = f"SELECT ts, attribute, value FROM {rel} WHERE device = ? AND ts BETWEEN ? AND ?"
            params: list[Any] = [device, _naive(start), _naive(end)]
            if attributes:
                sql += " AND attribute IN (SELECT unnest(?))"
                params.append(list(attributes))
            return con.execute(sql + " ORDER BY ts, attribute", params).fetchall()

        return [{"ts": r[0].replace(tzinfo=UTC), "attribute": r[1], "value": r[2]} for r in self._read(run)]

    def _agg_files(self, base: Path, type_: str, days: Sequence[str]) -> dict[str, list[str]]:
        return {d: [str(p) for p in (base / f"type={type_}" / f"day={d}").glob("*.parquet")] for d in days}

    def hourly(self, type_: str, start: dt.datetime, end: dt.datetime, *, per_device: bool = False,
               attributes: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Hourly aggregates (count, mean, min, max) of a type's readings in [start, end): city-wide per hour and
        attribute, or per device. Finished days are read from the kept hourly aggregates (retention writes them
        per device, hour and attribute from the deduplicated raw readings: the same figures from a fraction of the
        rows), the days not aggregated yet from the raw readings."""
        days = _days(start, end)
        agg_files = self._agg_files(self.agg, type_, days)
        raw_days = [d for d in days if not agg_files[d]]
        files = [f for d in days for f in agg_files[d]]

        def run(con: Any) -> list[dict[str, Any]]:
            out: list[dict[str, Any]] = []
            key = "device, " if per_device else ""
            if raw_days:
                rel = self._relation(con, [type_], raw_days)
                raw_sql = (f"SELECT {key}date_trunc('hour', ts) AS hour, attribute, count(*) AS n, avg(value) AS mean,"
                           f" min(value) AS min, max(value) AS max FROM {rel} WHERE ts >= ? AND ts < ? GROUP BY ALL")
                rows = con.execute(raw_sql, [_naive(start), _naive(end)]).fetchall()
                cols = [d[0] for d in con.description]
                out += [dict(zip(cols, r, strict=True)) for r in rows]
            if files:
                if per_device:
                    q = ("SELECT device, hour, attribute, n, mean, min, max FROM read_parquet(?) "
                         "WHERE hour >= ? AND hour < ?")
                else:
                    q = ("SELECT hour, attribute, sum(n) AS n, sum(mean * n) / sum(n) AS mean, min(min) AS min, "
                         "max(max) AS max FROM read_parquet(?) WHERE hour >= ? AND hour < ? GROUP BY ALL")
                rows = con.execute(q, [files, _naive(start), _naive(end)]).fetchall()
                cols = [d[0] for d in con.description]
                out += [dict(zip(cols, r, strict=True)) for r in rows]
            return out

        out = self._read(run)
        if attributes:
            out = [r for r in out if r["attribute"] in attributes]
        for r in out:
            r["hour"] = r["hour"].replace(tzinfo=UTC)
            r["type"] = type_
            r["n"] = int(r["n"])
        out.sort(key=lambda r: (r.get("device", ""), r["hour"], r["attribute"]))
        return out

    def device_aggregates(self, device: str, type_: str, start: dt.datetime, end: dt.datetime, unit: str,
                          attributes: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """One device's hourly (``unit="hour"``) or daily (``"day"``, UTC days) aggregates in [start, end): from the
        kept aggregates of finished days, from raw readings for the days not aggregated yet."""
        if unit not in AGG_UNITS:
            raise ValueError(f"unit must be one of {AGG_UNITS}")
        days = _days(start, end)
        col = "hour" if unit == "hour" else "day"
        agg_files = self._agg_files(self.agg if unit == "hour" else self.daily, type_, days)
        raw_days = [d for d in days if not agg_files[d]]
        files = [f for d in days for f in agg_files[d]]

        def run(con: Any) -> list[dict[str, Any]]:
            rows: list[dict[str, Any]] = []
            if raw_days:
                rel = self._relation(con, [type_], raw_days)
                sql = (f"SELECT date_trunc('{unit}', ts) AS bucket, attribute, count(*) AS n, avg(value) AS mean, "
                       f"min(value) AS min, max(value) AS max FROM {rel} WHERE device = ? AND ts >= ? AND ts < ?")
                params: list[Any] = [device, _naive(start), _naive(end)]
                if attributes:
                    sql += " AND attribute IN (SELECT unnest(?))"
                    params.append(list(attributes))
                for r in con.execute(sql + " GROUP BY ALL", params).fetchall():
                    rows.append({"bucket": r[0], "attribute": r[1], "n": r[2], "mean": r[3], "min": r[4], "max": r[5]})
            if files:
                sql = (f"SELECT {col}, attribute, n, mean, min, max FROM read_parquet(?) WHERE device = ? "
                       f"AND {col} >= ? AND {col} < ?")
                params = [files, device, _naive(start) if unit == "hour" else _naive(start).replace(
                    hour=0, minute=0, second=0, microsecond=0), _naive(end)]
                if attributes:
                    sql += " AND attribute IN (SELECT unnest(?))"
                    params.append(list(attributes))
                for r in con.execute(sql, params).fetchall():
                    rows.append({"bucket": r[0], "attribute": r[1], "n": r[2], "mean": r[3], "min": r[4], "max": r[5]})
            return rows

        rows = self._read(run)
        for row in rows:
            b = row["bucket"]  # DuckDB's date_trunc('day', …) is a DATE
            row["bucket"] = (b.replace(tzinfo=UTC) if isinstance(b, dt.datetime)
                             else dt.datetime.combine(b, dt.time(), UTC))
        return merge_aggregates(rows)

    def count(self) -> int:
        """Rows stored (one per reading and attribute), without duplicates. A partition (type, day) holding just
        one merged file — deduplicated when it was written, as every finished day is after retention — is counted
        from that file's Parquet footer; only the others (today's flushes, several merged files, a partition the
        buffer also holds) are counted by a deduplicating query, partition by partition. At 100 million values the
        whole-store query took ~50 s; this reads a few hundred footers and today's partitions."""

        def run(con: Any) -> int:
            with self._lock:
                buf = pa.concat_tables(self._buffer) if self._buffer else None
            buffered: set[tuple[str, str]] = set()
            if buf is not None and buf.num_rows:
                days = pa.compute.strftime(buf["ts"], format="%Y-%m-%d")
                pairs = pa.table({"t": buf["type"], "d": days}).group_by(["t", "d"]).aggregate([])
                buffered = set(zip(pairs["t"].to_pylist(), pairs["d"].to_pylist(), strict=True))
            total = 0
            for dd in sorted(self.raw.glob("type=*/day=*")):
                key = (dd.parent.name.split("=", 1)[1], dd.name.split("=", 1)[1])
                files = sorted(dd.glob("*.parquet"))
                if not files and key not in buffered:
                    continue
                if len(files) == 1 and files[0].name.endswith(MERGED_SUFFIX) and key not in buffered:
                    try:
                        total += pq.ParquetFile(files[0]).metadata.num_rows
                    except FileNotFoundError as exc:  # merged again meanwhile: count anew (``_read``)
                        raise duckdb.IOException(str(exc)) from exc
                    continue
                parts = [f"SELECT device, ts, attribute FROM read_parquet({_sql_list([str(p) for p in files])})"
                         ] if files else []
                if key in buffered and buf is not None:
                    mine = buf.filter(pa.compute.and_(pa.compute.equal(buf["type"], key[0]),
                                                      pa.compute.equal(pa.compute.strftime(
                                                          buf["ts"], format="%Y-%m-%d"), key[1])))
                    con.register("buf_part", mine)
                    parts.append("SELECT device, ts, attribute FROM buf_part")
                    buffered.discard(key)
                total += int(con.execute("SELECT count(*) FROM (SELECT DISTINCT device, epoch_us(ts), attribute "
                                         "FROM (" + " UNION ALL ".join(parts) + "))").fetchall()[0][0])
            for t, d in buffered:  # buffered rows of a partition not on disk yet
                assert buf is not None
                mine = buf.filter(pa.compute.and_(pa.compute.equal(buf["type"], t), pa.compute.equal(
                    pa.compute.strftime(buf["ts"], format="%Y-%m-%d"), d)))
                con.register("buf_part", mine)
                total += int(con.execute("SELECT count(*) FROM (SELECT DISTINCT device, epoch_us(ts), attribute "
                                         "FROM buf_part)").fetchall()[0][0])
            return total

        return self._read(run)

    # -- retention, downsampling, compaction ----------------------------------------------------------------------

    def retain(self, now: dt.datetime, raw_days: int) -> dict[str, Any]:
        """Aggregate every finished day (hourly and daily, per device and attribute), compact its raw files into
        one deduplicated file, and drop raw days older than ``raw_days``."""
        self.flush()
        today = now.astimezone(UTC).date()
        cutoff = today - dt.timedelta(days=raw_days)
        done = {"aggregated": 0, "compacted": 0, "dropped": 0}
        for td in sorted(self.raw.glob("type=*")):
            type_ = td.name.split("=", 1)[1]
            for dd in sorted(td.glob("day=*")):
                day = dt.date.fromisoformat(dd.name.split("=", 1)[1])
                if day >= today:
                    continue
                files = sorted(str(p) for p in dd.glob("*.parquet"))
                if not files:
                    shutil.rmtree(dd, ignore_errors=True)
                    continue
                con = self._db.cursor()
                try:
                    con.execute(f"CREATE OR REPLACE TEMP VIEW d AS SELECT device, any_value(type) AS type, "
                                "make_timestamp(epoch_us(ts)) AS ts, attribute, any_value(value) AS value "
                                f"FROM read_parquet({_sql_list(files)}) GROUP BY device, ts, attribute")
                    hour_dir = self.agg / f"type={type_}" / f"day={day.isoformat()}"
                    day_dir = self.daily / f"type={type_}" / f"day={day.isoformat()}"
                    for target, unit in ((hour_dir, "hour"), (day_dir, "day")):
                        target.mkdir(parents=True, exist_ok=True)
                        out = target / "agg.parquet"
                        col = "hour" if unit == "hour" else "day"
                        tbl = con.sql(
                            f"SELECT device, date_trunc('{unit}', ts) AS {col}, attribute, count(*) AS n, "
                            f"avg(value) AS mean, min(value) AS min, max(value) AS max FROM d GROUP BY ALL "
                            f"ORDER BY device, {col}, attribute").to_arrow_table()
                        pq.write_table(tbl, str(out) + ".tmp", row_group_size=ROW_GROUP_ROWS)
                        os.replace(str(out) + ".tmp", out)
                    done["aggregated"] += 1
                    if day < cutoff:
                        shutil.rmtree(dd)
                        done["dropped"] += 1
                    elif len(files) > 1:
                        tbl = con.sql("SELECT device, type, ts, attribute, value FROM d "
                                          "ORDER BY device, ts, attribute").to_arrow_table()
                        tmp = dd / ".compact.tmp"
                        pq.write_table(tbl.cast(SCHEMA), tmp, compression="zstd", row_group_size=ROW_GROUP_ROWS)
                        tmp.rename(dd / f"{time.time_ns()}{MERGED_SUFFIX}")
                        for f in files:
                            Path(f).unlink()
                        done["compacted"] += 1
                finally:
                    con.close()
        return done

    def compact(self, max_merged: int = MAX_MERGED) -> dict[str, int]:
        """Merge the files the flushes left in each raw partition (type, day) into one file, deduplicated and sorted
        by device, time and attribute, in row groups of ``ROW_GROUP_ROWS``; when a partition then holds more than
        ``max_merged`` merged files they are merged into one. The buffer is not flushed (readings still arriving
        keep their flush cadence). Files written while it runs are left for the next run; a reader that listed a
        merged-away file reads again (``_read``). One compaction at a time over the directory (a lock file: the web
        server and the workers may all run the job); returns what it did."""
        done = {"partitions": 0, "files_merged": 0, "rows": 0}
        with open(self.root / ".compact.lock", "a+") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return {**done, "skipped": 1}
            try:
                for dd in sorted(self.raw.glob("type=*/day=*")):
                    files = sorted(dd.glob("*.parquet"))
                    flushed = [f for f in files if not f.name.endswith(MERGED_SUFFIX)]
                    merged = [f for f in files if f.name.endswith(MERGED_SUFFIX)]
                    if len(merged) + min(1, len(flushed)) > max_merged:
                        take = files
                    elif len(flushed) > 1:
                        take = flushed
                    else:
                        continue
                    done["rows"] += self._merge(dd, take)
                    done["partitions"] += 1
                    done["files_merged"] += len(take)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        return done

    def _merge(self, dd: Path, files: Sequence[Path]) -> int:
        """``files`` of the partition ``dd`` as one merged file (written, then the sources removed)."""
        con = self._db.cursor()
        try:
            tbl = con.sql("SELECT device, any_value(type) AS type, make_timestamp(epoch_us(ts)) AS ts, attribute, "
                          f"any_value(value) AS value FROM read_parquet({_sql_list([str(f) for f in files])}) "
                          "GROUP BY device, ts, attribute ORDER BY device, ts, attribute").to_arrow_table()
        finally:
            con.close()
        tmp = dd / f".{uuid.uuid4().hex[:8]}.compact.tmp"
        pq.write_table(tbl.cast(SCHEMA), tmp, compression="zstd", row_group_size=ROW_GROUP_ROWS)
        tmp.rename(dd / f"{time.time_ns()}-{uuid.uuid4().hex[:8]}{MERGED_SUFFIX}")
        for f in files:
            with contextlib.suppress(FileNotFoundError):
                f.unlink()
        return tbl.num_rows

    def close(self) -> None:
        self.flush()
        self._db.close()


class PostgresStore:
    """Readings in PostgreSQL (``sensing_reading``), for a site that wants one database for everything."""

    def __init__(self, url: str) -> None:
        import psycopg

        self.url = url.replace("postgresql+psycopg://", "postgresql://")
        self._psycopg = psycopg
        self._local = threading.local()
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS sensing_reading (device text NOT NULL, type text NOT NULL, "
                         "ts timestamptz NOT NULL, attribute text NOT NULL, value double precision NOT NULL, "
                         "PRIMARY KEY (device, attribute, ts))")
            conn.execute("CREATE INDEX IF NOT EXISTS ix_sensing_reading_type_ts ON sensing_reading (type, ts)")
            conn.execute("CREATE TABLE IF NOT EXISTS sensing_reading_hourly (device text NOT NULL, type text NOT NULL,"
                         " hour timestamptz NOT NULL, attribute text NOT NULL, n bigint, mean double precision, "
                         "min double precision, max double precision, PRIMARY KEY (device, attribute, hour))")

    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = self._psycopg.connect(self.url)
            self._local.conn = conn
        return conn

    def append(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        conn = self._conn()
        cols = table.to_pydict()
        with conn.transaction(), conn.cursor() as cur:
            cur.execute("CREATE TEMP TABLE IF NOT EXISTS _rd (device text, type text, ts timestamptz, "
                        "attribute text, value double precision) ON COMMIT DELETE ROWS")
            with cur.copy("COPY _rd (device, type, ts, attribute, value) FROM STDIN") as copy:
                for row in zip(cols["device"], cols["type"], cols["ts"], cols["attribute"], cols["value"],
                               strict=True):
                    copy.write_row(row)
            cur.execute("INSERT INTO sensing_reading SELECT * FROM _rd ON CONFLICT DO NOTHING")

    def flush(self) -> None:
        return None

    def flush_if_due(self) -> None:
        return None

    def series(self, device: str, start: dt.datetime, end: dt.datetime,
               attributes: Sequence[str] | None = None, type_: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT ts, attribute, value FROM sensing_reading WHERE device = %s AND ts BETWEEN %s AND %s"
        params: list[Any] = [device, start, end]
        if attributes:
            sql += " AND attribute = ANY(%s)"
            params.append(list(attributes))
        conn = self._conn()
        with conn.transaction():
            rows = conn.execute(sql + " ORDER BY ts, attribute", params).fetchall()
        return [{"ts": r[0].astimezone(UTC), "attribute": r[1], "value": r[2]} for r in rows]

    def hourly(self, type_: str, start: dt.datetime, end: dt.datetime, *, per_device: bool = False,
               attributes: Sequence[str] | None = None) -> list[dict[str, Any]]:
        key = "device, " if per_device else ""
        raw = (f"SELECT {key}date_trunc('hour', ts) AS hour, attribute, count(*) AS n, avg(value) AS mean, "
               f"min(value) AS min, max(value) AS max FROM sensing_reading WHERE type = %s AND ts >= %s AND ts < %s "
               f"GROUP BY {key}hour, attribute")
        agg = (f"SELECT {key}hour, attribute, sum(n)::bigint AS n, sum(mean * n) / sum(n) AS mean, min(min) AS min, "
               f"max(max) AS max FROM sensing_reading_hourly WHERE type = %s AND hour >= %s AND hour < %s "
               f"AND hour < coalesce((SELECT min(ts) FROM sensing_reading WHERE type = %s), 'infinity') "
               f"GROUP BY {key}hour, attribute")
        conn = self._conn()
        with conn.transaction(), conn.cursor() as cur:
            cur.execute(raw, [type_, start, end])
            cols = [d.name for d in cur.description]
            out = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
            cur.execute(agg, [type_, start, end, type_])
            out += [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
        if attributes:
            out = [r for r in out if r["attribute"] in attributes]
        for r in out:
            r["hour"] = r["hour"].astimezone(UTC)
            r["type"] = type_
            r["n"] = int(r["n"])
        out.sort(key=lambda r: (r.get("device", ""), r["hour"], r["attribute"]))
        return out

    def device_aggregates(self, device: str, type_: str, start: dt.datetime, end: dt.datetime, unit: str,
                          attributes: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """One device's hourly or daily (UTC days) aggregates in [start, end): raw readings, and the kept hourly
        aggregates for the time before its oldest raw reading."""
        if unit not in AGG_UNITS:
            raise ValueError(f"unit must be one of {AGG_UNITS}")
        extra, params = "", []
        if attributes:
            extra, params = " AND attribute = ANY(%s)", [list(attributes)]
        raw = (f"SELECT date_trunc('{unit}', ts, 'UTC') AS bucket, attribute, count(*) AS n, avg(value) AS mean, "
               f"min(value) AS min, max(value) AS max FROM sensing_reading WHERE device = %s AND ts >= %s "
               f"AND ts < %s{extra} GROUP BY 1, 2")
        agg = (f"SELECT date_trunc('{unit}', hour, 'UTC') AS bucket, attribute, sum(n)::bigint AS n, "
               f"sum(mean * n) / sum(n) AS mean, min(min) AS min, max(max) AS max FROM sensing_reading_hourly "
               f"WHERE device = %s AND hour >= %s AND hour < %s{extra} "
               f"AND hour < coalesce((SELECT min(ts) FROM sensing_reading WHERE device = %s), 'infinity') "
               f"GROUP BY 1, 2")
        conn = self._conn()
        rows: list[dict[str, Any]] = []
        with conn.transaction(), conn.cursor() as cur:
            for sql, args in ((raw, [device, start, end, *params]), (agg, [device, start, end, *params, device])):
                cur.execute(sql, args)
                rows += [{"bucket": r[0].astimezone(UTC), "attribute": r[1], "n": int(r[2]), "mean": r[3],
                          "min": r[4], "max": r[5]} for r in cur.fetchall()]
        return merge_aggregates(rows)

    def retain(self, now: dt.datetime, raw_days: int) -> dict[str, Any]:
        cutoff = dt.datetime.combine(now.astimezone(UTC).date() - dt.timedelta(days=raw_days), dt.time(), UTC)
        conn = self._conn()
        with conn.transaction():
            conn.execute("INSERT INTO sensing_reading_hourly SELECT device, min(type), date_trunc('hour', ts), "
                         "attribute, count(*), avg(value), min(value), max(value) FROM sensing_reading "
                         "WHERE ts < %s GROUP BY device, date_trunc('hour', ts), attribute "
                         "ON CONFLICT (device, attribute, hour) DO NOTHING", [cutoff])
            dropped = conn.execute("DELETE FROM sensing_reading WHERE ts < %s", [cutoff]).rowcount
        return {"dropped_rows": dropped}

    def count(self) -> int:
        conn = self._conn()
        with conn.transaction():
            return int(conn.execute("SELECT count(*) FROM sensing_reading").fetchone()[0])

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()


_STORES: dict[str, Any] = {}
_STORES_LOCK = threading.Lock()


def open_store(*, backend: str, home: Path, url: str = "", flush_rows: int = 200_000,
               flush_seconds: float = 2.0) -> Any:
    """The process's store for this configuration (one per backend and place: the Parquet buffer is shared)."""
    key = f"{backend}|{home}|{url}"
    with _STORES_LOCK:
        store = _STORES.get(key)
        if store is None:
            if backend == "postgres":
                store = PostgresStore(url)
            else:
                store = ParquetStore(home / "sensing", flush_rows=flush_rows, flush_seconds=flush_seconds)
            _STORES[key] = store
        return store


def close_all() -> None:
    with _STORES_LOCK:
        for store in _STORES.values():
            store.close()
        _STORES.clear()


atexit.register(close_all)  # flush buffers and close DuckDB before the interpreter tears down
