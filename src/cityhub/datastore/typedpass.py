"""One-pass typed CSV ingest (issue 10, "the restated target"): same types, bad cells and values as the
staged path in ``ingest.py``, with one streaming pass over the file instead of a staged copy and several
scans.

1. sample   -- types are proposed from a sample spread across the file (files up to ``WHOLE_SAMPLE_BYTES``:
               the whole file, so the proposal is already exact).
2. pass     -- ONE streaming read of the file (DuckDB's ``read_csv``) written to Parquet: each cell of a typed
               column is cast cheaply when it clearly fits the proposed type (compiled kernels over the Arrow
               text DuckDB hands over, ``fastcast`` and ``_Caster``; where they cannot run, a guarded
               ``TRY_CAST`` in the SQL; either way the exact rule's result, e.g. an integer whose text is its
               canonical form); every other cell gets the exact rules of ``infer`` (null markers, trimming,
               Chinese dates, codes...) and its raw text is copied into a hidden side column (``SIDE_PREFIX``,
               nearly all null).
               ``_id`` is the row position: DuckDB computes the rows on all its threads in file order and
               a writer thread adds ``_id`` and writes them with pyarrow (``write_parquet_with_id``).
3. count    -- each column's whole-file counts = the cells that clearly fit (their flags are known by
               construction; the few value-dependent counts -- 8-digit integers, 0/1, midnight -- come from a
               scan of the typed column) + the exact flags of the side cells. ``infer.choose_type`` decides;
               a column whose type differs from the proposal (a late surprise such as ``0042`` in the last
               row) sends the whole file to the staged path (the second pass).
4. report   -- bad cells are the side cells that are not null and have no typed value (file order), the
               null counts come from the Parquet statistics, PII is scanned as in the staged path.

``ingest_pass`` returns None whenever it would not give the staged path's answer by construction (another
format, a declared Table Schema, an encoding confirmed late, an empty file, a parse error, a surprise):
the caller then runs the staged path, which also produces every error message.

GB18030 (and other non-UTF-8 text) is transcoded to UTF-8 first: the file is cut after newlines into pieces
that a compiled decoder (numba, tables from Python's codec) converts on two threads, written in order into one
file (``formats.transcode_parallel``),
in memory when it fits (``_TextScratch``)."""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cityhub.datastore import fastcast, formats, infer, pii, polarspass
from cityhub.datastore import ingest as staged
from cityhub.datastore.formats import IngestError

__all__ = ["SIDE_PREFIX", "RawCopy", "ingest_pass", "visible_columns_sql", "write_parquet_with_id", "write_raw_copy"]

#: hidden side columns in data.parquet (the query engine's views do not show them)
SIDE_PREFIX = "__side_"
#: files up to this many bytes are their own sample (every proposal is then exact)
WHOLE_SAMPLE_BYTES = 16 << 20
#: larger files: this many chunks spread evenly over the file, SAMPLE_BYTES in all
SAMPLE_CHUNKS = 64
SAMPLE_BYTES = 4 << 20
#: up to this many typed columns, the side cells of each are tested in a scan of their own
SIDE_SCANS_ALONE = 16
#: rows per Parquet row group (DuckDB's own default), also the Arrow batch size of the pass
ROW_GROUP_ROWS = 122_880


def visible_columns_sql() -> str:
    """Select-list that hides the side columns of a data.parquet written by this module."""
    return f"COLUMNS(lambda c: NOT starts_with(c, {infer.sql_str(SIDE_PREFIX)}))"


def _q(name: str) -> str:
    return infer.quote_ident(name)


def _lit(value: str) -> str:
    return infer.sql_str(value)


# ---------------------------------------------------------------------------------------------------------
# the cheap casts: a value only when the cell clearly fits, and then it equals the exact rule's value


def _digit_first(v: str) -> str:
    return f"({v} >= '0' AND {v} < ':')"


def _fast_inner(v: str, type_: str) -> str:
    """First stage of the cheap cast (computed once per cell)."""
    if type_ == "integer":
        return f"TRY_CAST({v} AS BIGINT)"
    if type_ == "number":
        # ASCII digits, one decimal point, digits: DuckDB's DOUBLE cast and the exact rule (regex + the same
        # cast) agree on every such text. One RE2 match costs half the byte tests it replaced (first and last
        # character, '.', no '_' / 'e' / 'E': 0.14 CPU s per million cells against 0.08)
        return f"CASE WHEN regexp_full_match({v}, '[0-9]+[.][0-9]+') THEN TRY_CAST({v} AS DOUBLE) END"
    if type_ == "date":
        # the first separator must be the fifth character: the exact rule wants a four-digit year, and DuckDB's
        # cast also reads '18-9-1' (year 18) and strptime's %Y two digits; ``instr`` (a memchr-like search)
        # also costs less than ``substr``. strptime matches the whole text, so no test for the final 日
        return (
            f"CASE WHEN {_digit_first(v)} THEN CASE "
            f"WHEN strlen({v}) <= 10 AND (instr({v}, '-') = 5 OR instr({v}, '/') = 5) "
            f"THEN TRY_CAST({v} AS DATE) "
            f"WHEN instr({v}, '年') = 5 "
            f"THEN CAST(try_strptime({v}, '%Y年%-m月%-d日') AS DATE) END END"
        )
    if type_ == "datetime":
        return (
            f"CASE WHEN {_digit_first(v)} AND strlen({v}) = 19 AND instr({v}, '-') = 5 "
            f"AND (substr({v}, 11, 1) = ' ' OR substr({v}, 11, 1) = 'T') AND substr({v}, 14, 1) = ':' "
            f"AND substr({v}, 17, 1) = ':' THEN TRY_CAST({v} AS TIMESTAMP) END"
        )
    if type_ == "boolean":
        words = infer.TRUE_WORDS + infer.FALSE_WORDS
        return (
            f"CASE WHEN strlen({v}) <= 5 AND {v} IN ({', '.join(_lit(w) for w in words)}) "
            f"THEN {v} IN ({', '.join(_lit(w) for w in infer.TRUE_WORDS)}) END"
        )
    raise ValueError(type_)


def _fast_value(v: str, x: str, type_: str) -> str:
    """Second stage: the clearly-fitting value (or NULL) from the raw text ``v`` and the first stage ``x``."""
    if type_ == "integer":
        # canonical text only: no sign '+', no leading zero (codes), no spaces, at most 15 characters
        return f"CASE WHEN strlen({v}) <= {infer.MAX_INT_DIGITS} AND CAST({x} AS VARCHAR) = {v} THEN {x} END"
    return x


def _fast_stats(type_: str, n: int, derived: dict[str, int]) -> infer.ColumnStats:
    """Counts of ``n`` cells that clearly fit ``type_`` (every flag is known by construction, except the
    value-dependent ones in ``derived``)."""
    s = infer.ColumnStats(nonnull=n)
    if type_ == "integer":
        s.integer = s.number = n
        s.int8 = derived["int8"]
        s.date8 = derived["date8"]
        s.boolean = derived["b01"]
    elif type_ == "number":
        s.number = n
    elif type_ == "date":
        s.date = s.datetime = n
    elif type_ == "datetime":
        s.datetime = n
        s.date = derived["midnight"]
    elif type_ == "boolean":
        s.boolean = s.bool_word = n
    return s


class _Tally:
    """The value-dependent counts of the cells that clearly fit (``_fast_stats``), taken on the writer thread
    from each batch the pass writes (pyarrow/numpy over the batch, no scan of the file afterwards): per typed
    column ``n`` (cells with a typed value and no side cell), and for integer columns ``int8`` (8-digit values),
    ``date8`` (values that are a valid yyyymmdd from 1900 to 2199) and ``b01`` (0 and 1), for datetime columns
    ``midnight``. ``tests/datastore/test_typedpass.py`` holds the same counts in SQL and compares them."""

    def __init__(self, columns: list[tuple[int, str, str]]) -> None:
        self.columns = columns  # (index, column name, proposed type)
        self.counts: dict[int, dict[str, int]] = {}
        self.reset()

    def reset(self) -> None:
        self.counts = {i: dict.fromkeys(("n", "int8", "date8", "b01", "midnight"), 0) for i, _, _ in self.columns}

    def __call__(self, table: pa.Table) -> None:
        for i, name, type_ in self.columns:
            col, side = table.column(name), table.column(SIDE_PREFIX + str(i))
            fast = pc.and_(pc.is_valid(col), pc.is_null(side))
            got = self.counts[i]
            got["n"] += int(pc.sum(fast).as_py() or 0)
            if type_ == "integer":
                v = pc.filter(col, fast).to_numpy()
                got["int8"] += int(np.count_nonzero(((v >= 10_000_000) & (v <= 99_999_999)) | ((v >= -9_999_999) & (v <= -1_000_000))))
                got["b01"] += int(np.count_nonzero((v == 0) | (v == 1)))
                got["date8"] += _valid_yyyymmdd(v[(v >= 19_000_000) & (v <= 21_999_999)])
            elif type_ == "datetime":
                us = pc.filter(col, fast).cast(pa.timestamp("us")).cast(pa.int64()).to_numpy()
                got["midnight"] += int(np.count_nonzero(us % 86_400_000_000 == 0))


#: Arrow type of a typed column in data.parquet (what DuckDB hands over for ``infer.SQL_TYPES``)
ARROW_TYPES = {
    "integer": pa.int64(),
    "number": pa.float64(),
    "date": pa.date32(),
    "datetime": pa.timestamp("us"),
    "boolean": pa.bool_(),
}
#: distinct side texts whose exact value a ``_Caster`` remembers per column (then it starts afresh)
EXACT_CACHE = 65_536


class _Caster:
    """The cheap casts of the pass done on Arrow batches by compiled kernels (``fastcast``) instead of SQL.

    DuckDB hands over the typed columns as raw text (text columns already cleaned); per batch and typed column, a
    kernel gives each cell its status (null, fast, side) and the value of every fast cell. Side cells keep their
    raw text in the side column and get the exact rule's value (``infer.sql_cast`` over ``infer.sql_clean``,
    as in the SQL pass), computed by DuckDB on a connection of its own for each distinct text not seen before
    (a bad date repeated over the file is computed once). Output: the batch the SQL pass would have produced --
    the same columns, types, values and side cells (``tests/datastore/test_typedpass.py``). The 10M-row benchmark
    file's six typed columns: ~5.4 CPU s of DuckDB's string functions replaced by ~1 CPU s of kernels and ~0.7 of
    the Arrow work around them (BENCHMARKS.md)."""

    def __init__(self, names: list[str], proposed: list[str]) -> None:
        self.names = names
        self.proposed = proposed
        self.con = duckdb.connect(":memory:")
        self.con.execute("SET threads = 1")
        # a projection of a few rows: planning is the cost (the exact date rule, ~10 kB of SQL, took 125 ms a
        # query with the optimizer, 14 ms without)
        self.con.execute("PRAGMA disable_optimizer")
        self.cache: dict[int, dict[str, Any]] = {}

    def schema(self, raw: pa.Schema) -> pa.Schema:
        fields: list[pa.Field] = []
        for i, t in enumerate(self.proposed):
            if t == "string":
                fields.append(raw.field(i).with_name(self.names[i]))
            else:
                fields.append(pa.field(self.names[i], ARROW_TYPES[t]))
                fields.append(pa.field(SIDE_PREFIX + str(i), pa.string()))
        return pa.schema(fields)

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        arrays: list[pa.Array] = []
        for i, t in enumerate(self.proposed):
            raw = batch.column(i)
            if t == "string":
                arrays.append(raw)
            else:
                arrays.extend(self._column(i, t, raw))
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema(batch.schema))

    def _column(self, i: int, t: str, raw: pa.Array) -> tuple[pa.Array, pa.Array]:
        n = len(raw)
        if t == "boolean":
            words = pc.is_in(raw, value_set=pa.array(infer.TRUE_WORDS + infer.FALSE_WORDS)).to_numpy(zero_copy_only=False)
            status = np.where(raw.is_null().to_numpy(zero_copy_only=False), fastcast.NULL,
                              np.where(words, fastcast.FAST, fastcast.SIDE)).astype(np.uint8)  # fmt: skip
            values: np.ndarray = pc.is_in(raw, value_set=pa.array(infer.TRUE_WORDS)).to_numpy(zero_copy_only=False)
        else:
            values, status, _ = fastcast.cast(raw, t)
        valid = status == fastcast.FAST
        side_at = np.flatnonzero(status == fastcast.SIDE)
        if side_at.size:
            side_text = raw.take(pa.array(side_at))
            distinct = pc.unique(side_text)
            exact = pa.array(self._exact(i, t, distinct.to_pylist()), type=ARROW_TYPES[t])
            got = exact.take(pc.index_in(side_text, value_set=distinct))
            ok = got.is_valid().to_numpy(zero_copy_only=False)
            storage = got.filter(pa.array(ok))
            if t in ("date", "datetime"):
                storage = storage.cast(pa.int32() if t == "date" else pa.int64())
            values[side_at[ok]] = storage.to_numpy(zero_copy_only=False)
            valid[side_at[ok]] = True
            side = raw.take(pa.array(np.arange(n), mask=status != fastcast.SIDE))
        else:
            side = pa.nulls(n, pa.string())
        typed = pa.array(values, mask=None if valid.all() else ~valid)
        if t in ("date", "datetime"):
            typed = typed.view(ARROW_TYPES[t])
        return typed, side

    def _exact(self, i: int, t: str, texts: list[str]) -> list[Any]:
        """The exact rule's value of each text (DuckDB, for the texts not seen before in this column)."""
        cache = self.cache.setdefault(i, {})
        unknown = [x for x in texts if x not in cache]
        if unknown:
            if len(cache) + len(unknown) > EXACT_CACHE:
                cache.clear()
                unknown = texts  # distinct already
            self.con.register("side_cells", pa.table({"v": pa.array(unknown, pa.string())}))
            try:
                exact = infer.sql_cast(f"({infer.sql_clean('v')})", t)
                cache.update(self.con.execute(f"SELECT v, {exact} FROM side_cells").fetchall())
            finally:
                self.con.unregister("side_cells")
        return [cache[x] for x in texts]

    def close(self) -> None:
        self.con.close()


_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def _valid_yyyymmdd(v: np.ndarray) -> int:
    """How many of the 8-digit integers ``v`` read as a date yyyymmdd (``strptime('%Y%m%d')``)."""
    if v.size == 0:
        return 0
    y, m, d = v // 10_000, v // 100 % 100, v % 100
    ok_m = (m >= 1) & (m <= 12)
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    days = _DAYS[np.where(ok_m, m, 0)] + ((m == 2) & leap)
    return int(np.count_nonzero(ok_m & (d >= 1) & (d <= days)))


def _near(st: infer.ColumnStats, ratio: float) -> bool:
    """The sample says text, but some type fits at least (1 - 10 x ratio) of its cells: the sample may have
    caught a cluster of odd cells, so the whole column is counted."""
    n = st.nonnull
    if n == 0:
        return False
    fits = [st.boolean if st.bool_word else 0, st.date + st.date8, st.datetime]
    if st.code == 0:  # one code keeps a column from integer and number anyway
        fits += [st.integer, st.number]
    return max(fits) >= n * (1 - 10 * ratio)


def _add(a: infer.ColumnStats, b: infer.ColumnStats) -> infer.ColumnStats:
    out = infer.ColumnStats()
    for name in infer.STAT_FIELDS:
        setattr(out, name, getattr(a, name) + getattr(b, name))
    return out


# ---------------------------------------------------------------------------------------------------------
# writing: DuckDB computes the rows (in parallel, in file order), pyarrow writes them with ``_id``


def _parquet_layout(schema: pa.Schema) -> tuple[list[str], dict[str, str]]:
    """Dictionary columns and explicit encodings, like DuckDB's Parquet version 2 files: delta-packed
    integers, dates and times; byte-stream-split floats; dictionaries for text (plain when they grow)."""
    dictionary: list[str] = []
    encoding: dict[str, str] = {}
    for f in schema:
        t = f.type
        if pa.types.is_integer(t) or pa.types.is_date(t) or pa.types.is_timestamp(t) or pa.types.is_time(t):
            encoding[f.name] = "DELTA_BINARY_PACKED"
        elif pa.types.is_floating(t):
            encoding[f.name] = "BYTE_STREAM_SPLIT"
        elif not pa.types.is_boolean(t):
            dictionary.append(f.name)
    return dictionary, encoding


def write_parquet_with_id(
    con: duckdb.DuckDBPyConnection,
    select_sql: str,
    out: Path,
    tally: Callable[[pa.Table], None] | None = None,
    transform: _Caster | None = None,
) -> int:
    """Write the rows of ``select_sql`` to ``out`` (snappy Parquet) with ``_id`` = 1, 2, ... in row order;
    returns the row count. ``tally`` sees every row group (without ``_id``) on the writer thread; ``transform``
    turns each Arrow batch into the batch written (on the writer thread, before ``tally``; DuckDB meanwhile
    reads ahead on its own threads).

    ``row_number() OVER ()`` in DuckDB numbers rows in a streaming window that runs the whole pass on one
    thread (the 10M-row runs averaged 0.65 of a core). Here DuckDB runs the query on all its threads, keeping
    insertion order (``preserve_insertion_order``), and hands over Arrow batches; a writer thread adds
    ``_id`` from the row position and writes them with pyarrow, so reading, casting and writing overlap.
    """
    reader = con.sql(select_sql).to_arrow_reader(ROW_GROUP_ROWS)
    batch_schema = reader.schema if transform is None else transform.schema(reader.schema)
    schema = pa.schema([pa.field("_id", pa.int64()), *batch_schema])
    dictionary, encoding = _parquet_layout(schema)
    writer = pq.ParquetWriter(
        str(out), schema, compression="snappy", version="2.6", data_page_version="2.0",
        use_dictionary=dictionary, column_encoding=encoding,
    )  # fmt: skip
    batches: queue.Queue[pa.RecordBatch | None] = queue.Queue(maxsize=4)
    failed: list[BaseException] = []
    written = [0]
    base = pa.array(range(1, ROW_GROUP_ROWS + 1), type=pa.int64())

    def flush(table: pa.Table) -> None:
        if tally is not None:
            tally(table)
        n, start = table.num_rows, written[0]
        ids = (
            pc.add(base.slice(0, n), start)
            if n <= len(base)
            else pa.array(range(start + 1, start + n + 1), pa.int64())
        )
        writer.write_table(table.add_column(0, schema.field(0), ids), row_group_size=ROW_GROUP_ROWS)
        written[0] += n

    def drain() -> None:
        # whole row groups of ROW_GROUP_ROWS rows (Arrow batches come in smaller, uneven sizes)
        buf: list[pa.RecordBatch] = []
        rows = 0
        try:
            while (b := batches.get()) is not None:
                buf.append(b if transform is None else transform(b))
                rows += b.num_rows
                if rows >= ROW_GROUP_ROWS:
                    table = pa.Table.from_batches(buf, schema=batch_schema)
                    full = rows - rows % ROW_GROUP_ROWS
                    flush(table.slice(0, full))
                    rest = table.slice(full)
                    buf, rows = rest.to_batches(), rest.num_rows
            if rows:
                flush(pa.Table.from_batches(buf, schema=batch_schema))
        except BaseException as exc:  # reported to the reading thread
            failed.append(exc)
            while batches.get() is not None:  # let the reader finish
                pass

    thread = threading.Thread(target=drain, name="parquet-writer", daemon=True)
    thread.start()
    try:
        for batch in reader:
            if failed:
                break
            batches.put(batch)
    except OSError as exc:  # a DuckDB error raised while streaming reaches the Arrow reader as an OSError
        raise duckdb.Error(str(exc)) from exc
    finally:
        batches.put(None)
        thread.join()
        writer.close()
    if failed:
        raise failed[0]
    return written[0]


# ---------------------------------------------------------------------------------------------------------
# reading


def _csv_source(path: Path, dialect: formats.Dialect, parallel: bool, rejects: str | None) -> str:
    """DuckDB's strict reader over ``path`` (every column text); with ``rejects``, the rows it refuses are
    stored in that table instead of failing the read."""
    columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(dialect.columns)) + "}"
    store = (
        f"store_rejects = true, rejects_table = {_lit(rejects)}, rejects_scan = {_lit(rejects + '_scan')}, "
        if rejects
        else ""
    )
    return (
        f"read_csv({_lit(str(path))}, columns = {columns}, header = {str(dialect.has_header).lower()}, "
        f"delim = {_lit(dialect.delimiter)}, quote = '\"', escape = '\"', auto_detect = false, null_padding = true, "
        f"strict_mode = true, {store}max_line_size = 8388608, buffer_size = 33554432, "
        f"encoding = 'utf-8', parallel = {str(parallel).lower()})"
    )


def _run_read(
    con: duckdb.DuckDBPyConnection,
    make_sql: Callable[[bool, str | None], str],
    rejects: str,
    run: Callable[[str], object] | None = None,
) -> None:
    """Run ``make_sql(parallel, rejects_table)`` (with ``run``, default ``con.execute``); afterwards the table
    ``rejects`` lists the rows the reader refused (line, error_type, csv_line).

    The first read stores no rejected rows (DuckDB's reader then costs a little less: 2M-row benchmark file,
    3.55 -> 3.46 CPU s for the whole load, medians of four); a file with a row the strict reader refuses (too
    many fields, broken quoting, bytes that are not UTF-8) then fails, and is read again storing those rows,
    which is what the answer reports. Quoted newlines + null padding need the single-threaded scanner."""
    for store in (None, rejects):
        for parallel in (True, False):
            con.execute(f"DROP TABLE IF EXISTS {rejects}")
            con.execute(f"DROP TABLE IF EXISTS {rejects}_scan")
            try:
                (run or con.execute)(make_sql(parallel, store))
            except duckdb.Error as exc:
                if parallel and "parallel" in str(exc):
                    continue
                if store is None:
                    break  # read again, storing the refused rows
                raise
            if store is None:
                con.execute(f"CREATE TABLE {rejects} (line BIGINT, error_type VARCHAR, csv_line VARCHAR)")
            return


def _spread_sample(path: Path, out: Path, has_header: bool, size: int) -> None:
    """Header + whole lines from ``SAMPLE_CHUNKS`` chunks spread evenly over the file (quoted newlines may
    misalign a chunk: the sample only proposes, the pass counts every row)."""
    chunk = max(1 << 16, SAMPLE_BYTES // SAMPLE_CHUNKS)
    with path.open("rb") as fin, out.open("wb") as fout:
        first = fin.readline()
        start = fin.tell()
        if has_header:
            fout.write(first if first.endswith(b"\n") else first + b"\n")
        else:
            start = 0
        span = max(size - start - chunk, 0)
        for k in range(SAMPLE_CHUNKS):
            pos = start + span * k // max(SAMPLE_CHUNKS - 1, 1)
            fin.seek(pos)
            data = fin.read(chunk)
            if pos > start:
                cut = data.find(b"\n")
                data = data[cut + 1 :] if cut >= 0 else b""
            end = data.rfind(b"\n")
            if end < 0:
                continue
            fout.write(data[: end + 1])


# ---------------------------------------------------------------------------------------------------------
# entry point



def _csv_size(source: Path, filename: str) -> int | None:
    """The size of a non-empty file that sniffs as CSV: the only input the one-pass ingest takes (None: not one)."""
    try:
        size = source.stat().st_size
        if size == 0:
            return None
        with source.open("rb") as fh:
            head = fh.read(formats.SNIFF_BYTES)
        if formats.sniff_format(head, filename) != formats.CSV:
            return None
    except (OSError, IngestError):
        return None
    return size


#: a memory-backed directory for the transcoded copy of a non-UTF-8 file (tmpfs on Linux)
MEMORY_SCRATCH_DIR = Path("/dev/shm")  # noqa: S108 - only a mkdtemp() directory (0700, random name) inside
#: UTF-8 is at most this many times as long as the GB18030 it comes from (two bytes -> three)
TRANSCODE_GROWTH = 1.5


def _meminfo_available() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


class _TextScratch:
    """Where the transcoded UTF-8 copy of a non-UTF-8 file goes: a directory of its own under
    ``MEMORY_SCRATCH_DIR`` when the copy can be at most ``limit_mb`` MiB, the directory has room for twice that
    and the machine has four times that of available memory; the work directory otherwise. The copy is written
    once, read by the pass and deleted: 10M rows of GB18030 (1 GB -> 1.2 GB) transcode in 2.0-2.1 s instead of
    2.8-3.4 s on ext4, whose block allocation and background writeback of a file about to be deleted cost CPU on
    the same two cores (BENCHMARKS.md). The copy's memory is the machine's (tmpfs), not the process's: it is not
    in the load's peak RSS, hence the check of available memory."""

    def __init__(self, work: Path, source_bytes: int, limit_mb: int) -> None:
        self.work = work
        self.expected = int(source_bytes * TRANSCODE_GROWTH) + (1 << 20)
        self.limit = max(0, limit_mb) << 20
        self.memory: Path | None = None

    def _memory_dir(self) -> Path | None:
        if self.expected > self.limit:
            return None
        try:
            base = MEMORY_SCRATCH_DIR
            if not base.is_dir() or not os.access(base, os.W_OK):
                return None
            st = os.statvfs(base)
            if st.f_bavail * st.f_frsize < 2 * self.expected or _meminfo_available() < 4 * self.expected:
                return None
            return Path(tempfile.mkdtemp(prefix="cityhub-ingest-", dir=base))
        except OSError:
            return None

    def path(self) -> Path:
        if self.memory is None:
            self.memory = self._memory_dir() or self.work
        return self.memory / "utf8.txt"

    def close(self) -> None:
        if self.memory is not None and self.memory != self.work:
            shutil.rmtree(self.memory, ignore_errors=True)


def ingest_pass(
    source: Path,
    filename: str,
    dest_dir: Path,
    options: staged.IngestOptions,
    progress: staged.ProgressFn | None = None,
) -> staged.IngestResult | None:
    """The one-pass ingest of a CSV file, or None when the staged path must decide (see the module doc)."""
    if options.schema:
        return None
    started = time.perf_counter()
    source, dest_dir = Path(source), Path(dest_dir)
    size = _csv_size(source, filename)
    if size is None:
        return None
    report = staged._Progress(progress)
    report(0.0, "sniff")
    dest_dir.mkdir(parents=True, exist_ok=True)
    work_parent = Path(options.temp_dir) if options.temp_dir else dest_dir
    work_parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".ingest-", dir=work_parent))
    tmp_parquet = dest_dir / f".data-{uuid.uuid4().hex}.parquet.tmp"
    scratch = _TextScratch(work, size, options.memory_scratch_mb)
    try:
        try:
            return _run(source, filename, dest_dir, options, report, work, scratch, tmp_parquet, size, started)
        except (IngestError, UnicodeDecodeError, duckdb.Error, OSError):
            return None  # the staged path gives the answer (and the error message)
    finally:
        with contextlib.suppress(OSError):
            tmp_parquet.unlink(missing_ok=True)
        scratch.close()
        shutil.rmtree(work, ignore_errors=True)


def _run(
    source: Path,
    filename: str,
    dest_dir: Path,
    options: staged.IngestOptions,
    report: staged._Progress,
    work: Path,
    scratch: _TextScratch,
    tmp_parquet: Path,
    size: int,
    started: float,
) -> staged.IngestResult | None:
    warnings: list[str] = []
    # the pass's kernels: numba imported and their machine code loaded while the file is decoded and sampled
    warming = threading.Thread(target=fastcast.ready, name="fastcast-warm-up", daemon=True)
    warming.start()
    # -- decode ------------------------------------------------------------------------------------------
    report(0.02, "decode")
    enc = formats.detect_encoding(source, options.encoding, staged.ENCODING_CHECK_BYTES)
    text_path = source
    if enc.needs_transcode:
        text_path = scratch.path()

        def tick(done: int, total: int) -> None:
            report(0.05 + 0.15 * done / max(total, 1), "decode")

        formats.transcode_parallel(source, text_path, enc.encoding, enc.bom, tick)
    warnings += enc.warnings

    # -- sample: propose types ---------------------------------------------------------------------------
    report(0.2, "read")
    sample_text = formats.read_sample(text_path)
    if not sample_text.strip():
        return None
    dialect = formats.sniff_dialect(sample_text, filename, options.delimiter, options.has_header, infer.detect_header)
    n = dialect.columns
    if n == 0 or n > options.max_columns:
        return None
    raw_names = list(dialect.header) if dialect.has_header else []
    raw_names += [""] * (n - len(raw_names))
    names = formats.clean_column_names(formats.clean_name(x) for x in raw_names)
    if any(name.startswith(SIDE_PREFIX) for name in names):
        return None
    source_names = [formats.clean_name(x) for x in raw_names]

    con = staged._connect(work, options)
    try:
        text_size = text_path.stat().st_size
        whole = text_size <= WHOLE_SAMPLE_BYTES
        sample_path = text_path
        if not whole:
            sample_path = work / "sample.csv"
            _spread_sample(text_path, sample_path, dialect.has_header, text_size)
        cleaned = ", ".join(f"{infer.sql_clean(f'c{i}')} AS c{i}" for i in range(n))
        _run_read(
            con,
            lambda parallel, rej: f"CREATE OR REPLACE TABLE sample AS SELECT {cleaned} FROM "
            f"{_csv_source(sample_path, dialect, parallel, rej)}",
            "sample_rej",
        )
        cols = [staged._Col(src=f"c{i}", source_name=source_names[i], name=names[i]) for i in range(n)]
        sample_stage = staged._Stage(relation="sample", rowid="rowid", cols=cols)
        sampled = staged._compute_stats(con, sample_stage, cols)
        con.execute("DROP TABLE sample")
        proposed: list[str] = []
        sparse: list[bool] = []
        for st in sampled:
            proposed.append(infer.choose_type(st, options.bad_cell_ratio))
            sparse.append(not whole and st.nonnull < staged.SAMPLE_MIN_NONNULL)

        # -- the pass ----------------------------------------------------------------------------------------
        report(0.3, "write")
        warming.join()
        caster = _Caster(names, proposed) if fastcast.ready() else None
        lvl2: list[str] = []
        lvl3: list[str] = []
        outs: list[str] = []
        for i, t in enumerate(proposed):
            v = f"c{i}"
            if caster is not None:  # the kernels cast the raw text of typed columns
                outs.append(f"{infer.sql_clean(v)} AS {v}" if t == "string" else v)
                continue
            if t == "string":
                lvl2.append(v)
                lvl3.append(v)
                outs.append(f"{infer.sql_clean(v)} AS {_q(names[i])}")
                continue
            lvl2.append(f"{v}, {_fast_inner(v, t)} AS x{i}")
            lvl3.append(f"{v}, {_fast_value(v, f'x{i}', t)} AS f{i}")
            exact = infer.sql_cast(f"({infer.sql_clean(v)})", t)
            outs.append(f"CASE WHEN f{i} IS NOT NULL THEN f{i} ELSE {exact} END AS {_q(names[i])}")
            outs.append(f"CASE WHEN f{i} IS NULL THEN {v} END AS {_q(SIDE_PREFIX + str(i))}")

        def pass_sql(parallel: bool, rej: str | None) -> str:
            src = _csv_source(text_path, dialect, parallel, rej)
            if caster is not None:
                return f"SELECT {', '.join(outs)} FROM {src}"
            return f"SELECT {', '.join(outs)} FROM (SELECT {', '.join(lvl3)} FROM (SELECT {', '.join(lvl2)} FROM {src}))"

        typed = [i for i, t in enumerate(proposed) if t != "string"]
        tally = _Tally([(i, names[i], proposed[i]) for i in typed])

        def write(sql: str) -> int:
            tally.reset()  # a second read (storing refused rows) counts afresh
            return write_parquet_with_id(con, sql, tmp_parquet, tally, caster)

        try:
            _run_read(con, pass_sql, "pass_rej", write)
        finally:
            if caster is not None:
                caster.close()
        total = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE error_type = 'INVALID ENCODING') FROM pass_rej"
        ).fetchone()
        rejected_total = int(total[0]) if total else 0
        if total and total[1] and not enc.verified:
            return None  # the encoding decided on the head does not hold: the staged path detects again
        offset = 1 if dialect.has_header else 0
        rejected = [
            (int(line) - offset, str(err), str(text or ""))
            for line, err, text in con.execute(
                "SELECT line, error_type, csv_line FROM pass_rej ORDER BY line LIMIT ?",
                [options.max_bad_cells_reported],
            ).fetchall()
        ]
        got = con.execute("SELECT sum(num_rows) FROM parquet_file_metadata(?)", [str(tmp_parquet)]).fetchone()
        rows = int(got[0]) if got and got[0] is not None else 0
        if rows == 0:
            return None
        if rejected_total:
            warnings.append(f"{rejected_total} row(s) with too many fields or broken quoting were skipped")

        # -- count: whole-file statistics ---------------------------------------------------------------------
        report(0.75, "infer")
        pq = f"read_parquet({_lit(str(tmp_parquet))})"
        derived = tally.counts
        # the exact tests over every side cell: a few typed columns are scanned one by one over the distinct
        # values of their own side cells, with their counts (10M rows: 511k side cells of a date column are
        # ~4,000 values; 0.09 CPU s against 0.38 for every cell); a column without side cells (the file's
        # null counts) is not scanned; many columns are scanned together, once, over every row with a side cell
        nulls = staged._null_counts(con, tmp_parquet, [*names, *(SIDE_PREFIX + str(i) for i in typed)], rows)
        side_stats: dict[int, infer.ColumnStats] = {}
        with_sides = [i for i in typed if nulls.get(SIDE_PREFIX + str(i), 0) < rows]
        side_stats.update((i, infer.ColumnStats()) for i in typed if i not in with_sides)
        if len(with_sides) <= SIDE_SCANS_ALONE:
            for i in with_sides:
                side = _q(SIDE_PREFIX + str(i))
                stage = staged._Stage(
                    relation=f"(SELECT s, count(*) AS w FROM (SELECT {infer.sql_clean(side)} AS s FROM {pq} "
                    f"WHERE {side} IS NOT NULL) GROUP BY s)",
                    rowid="",
                    cols=[],
                )
                side_stats[i] = staged._compute_stats(
                    con, stage, [staged._Col(src="s", source_name="", name=names[i])], weight="w"
                )[0]
        else:
            sides = [_q(SIDE_PREFIX + str(i)) for i in with_sides]
            stage = staged._Stage(
                relation=f"(SELECT {', '.join(f'{infer.sql_clean(x)} AS s{i}' for x, i in zip(sides, with_sides, strict=True))} "
                f"FROM {pq} WHERE {' OR '.join(f'{x} IS NOT NULL' for x in sides)})",
                rowid="",
                cols=[],
            )
            cols_ = [staged._Col(src=f"s{i}", source_name="", name=names[i]) for i in with_sides]
            side_stats.update(zip(with_sides, staged._compute_stats(con, stage, cols_), strict=True))
        for i, c in enumerate(cols):
            t = proposed[i]
            if t == "string":
                if sparse[i] or (not whole and _near(sampled[i], options.bad_cell_ratio)):
                    # too few values in the sample to trust it, or a type almost fits: count the column
                    stage = staged._Stage(relation=f"(SELECT {_q(names[i])} AS c FROM {pq})", rowid="", cols=[])
                    full = staged._compute_stats(con, stage, [staged._Col(src="c", source_name="", name=c.name)])[0]
                    if infer.choose_type(full, options.bad_cell_ratio) != "string":
                        return None  # a late surprise: second pass
                    c.stats = full
                else:
                    c.stats = sampled[i]
                c.type = "string"
                continue
            merged = _add(_fast_stats(t, derived[i]["n"], derived[i]), side_stats[i])
            if infer.choose_type(merged, options.bad_cell_ratio) != t:
                return None  # a late surprise: second pass
            c.stats = merged
            c.type = t
        for c in cols:
            assert c.stats is not None
            c.sql_type = infer.SQL_TYPES[c.type]
            c.bad = 0 if c.type == "string" else c.stats.nonnull - c.stats.ok(c.type)
            if c.bad and c.stats.nonnull:
                warnings.append(f"column {c.name!r}: {c.bad} value(s) do not fit {c.type} and were set to null")

        bad_cells = _bad_cells(con, pq, cols, rejected, max(0, options.max_bad_cells_reported))
        bad_cell_count = rejected_total + sum(c.bad for c in cols)

        # -- pii -------------------------------------------------------------------------------------------
        report(0.9, "pii")
        infos = [
            staged.ColumnInfo(
                name=c.name,
                source_name=c.source_name,
                type=c.type,
                nulls=nulls.get(c.name, 0),
                bad_cells=c.bad,
                declared=False,
                sql_type=c.sql_type,
            )
            for c in cols
        ]
        staged._scan_pii(con, tmp_parquet, infos)
    finally:
        con.close()
    os.replace(tmp_parquet, dest_dir / "data.parquet")
    report.finish()
    return staged.IngestResult(
        rows=rows,
        columns=infos,
        format=formats.CSV,
        encoding=enc.label,
        delimiter=dialect.delimiter,
        has_header=dialect.has_header,
        bad_cells=bad_cells,
        bad_cell_count=bad_cell_count,
        warnings=warnings,
        parquet_path=dest_dir / "data.parquet",
        source_bytes=size,
        seconds=time.perf_counter() - started,
        rejected_rows=rejected_total,
        timings=report.timings,
        engine="pass",
    )


def _bad_cells(
    con: duckdb.DuckDBPyConnection,
    pq: str,
    cols: list[staged._Col],
    rejected: list[tuple[int, str, str]],
    budget: int,
) -> list[staged.BadCell]:
    """The first ``budget`` bad cells in file order: rejected rows, then side cells without a typed value."""
    if budget <= 0:
        return []
    cells: list[staged.BadCell] = []
    rejected_rows = sorted(r for r, _, _ in rejected)
    for row, err, line in rejected[:budget]:
        reason = "ragged row" if err == "TOO MANY COLUMNS" else err.lower().replace("_", " ")
        cells.append(
            staged.BadCell(row=row, column="*", value=line.strip("\r\n")[: staged.MAX_REPORTED_VALUE], reason=reason)
        )
    bad = [(i, c) for i, c in enumerate(cols) if c.type != "string" and c.bad > 0]
    for start in range(0, len(bad), staged.STATS_BATCH):
        batch = bad[start : start + staged.STATS_BATCH]
        inner: list[str] = []
        for k, (i, c) in enumerate(batch):
            side = _q(SIDE_PREFIX + str(i))
            inner.append(f"{infer.sql_clean(side)} AS v{k}")
            inner.append(f"{_q(c.name)} AS t{k}")
        conds = " OR ".join(f"(v{k} IS NOT NULL AND t{k} IS NULL)" for k in range(len(batch)))
        sides = " OR ".join(f"{_q(SIDE_PREFIX + str(i))} IS NOT NULL" for i, _ in batch)
        sql = f"SELECT * FROM (SELECT _id, {', '.join(inner)} FROM {pq} WHERE {sides}) WHERE {conds} LIMIT {int(budget)}"
        for hit in con.execute(sql).fetchall():
            rid = int(hit[0]) - 1
            for k, (_, c) in enumerate(batch):
                value, typed = hit[1 + 2 * k], hit[2 + 2 * k]
                if value is not None and typed is None:
                    cells.append(
                        staged.BadCell(
                            row=staged._source_row(rid, rejected_rows),
                            column=c.name,
                            value=str(value)[: staged.MAX_REPORTED_VALUE],
                            reason=infer.REASONS.get(c.type, "bad value"),
                            id=rid + 1,
                        )
                    )
    order = {c.name: i for i, c in enumerate(cols)}
    cells.sort(key=lambda b: (b.row, order.get(b.column, -1)))
    return cells[:budget]


# ---------------------------------------------------------------------------------------------------------
# queryable first: an untyped copy with ``_id`` served through a typed view while the whole file is typed


@dataclass
class RawCopy:
    """The untyped copy of a CSV file (every column text, under its cleaned name, plus ``_id``) and the view that
    types it provisionally (``provisional_select``: the type the sample proposes, cells that do not clearly fit
    are NULL)."""

    path: Path
    rows: int
    columns: list[dict[str, Any]]  # name, source_name, type (proposed), pii, provisional=True
    select: str
    seconds: float


def provisional_select(names: list[str], types: list[str]) -> str:
    """The typed view's select-list over an untyped copy (``_id`` first): text columns cleaned as the final table
    cleans them (null markers, trimming); typed columns through the pass's cheap casts (a guarded ``TRY_CAST``),
    which give the exact rule's value when a cell clearly fits and NULL otherwise. So a provisional cell is either
    NULL or the final value (when the proposed type is the final one); cells the exact rules would still read
    (``2018年9月1日`` with spaces, full-width digits, ...) are NULL until the typed table replaces the view. The exact
    rules themselves are not used here: as a view they cost ~1 s of planning per query and 2-8 CPU s per million
    cells of every query (measured on the benchmark file)."""
    outs = ["_id"]
    for name, t in zip(names, types, strict=True):
        v = _q(name)
        if t == "string":
            outs.append(f"{infer.sql_clean(v)} AS {v}")
        elif t == "date":  # also compact dates (20180901), which the pass leaves to the exact rules
            compact = (f"CASE WHEN strlen({v}) = 8 AND regexp_full_match({v}, '[12][0-9]{{7}}') "
                       f"THEN CAST(try_strptime({v}, '%Y%m%d') AS DATE) END")
            outs.append(f"coalesce({_fast_value(v, _fast_inner(v, t), t)}, {compact}) AS {v}")
        else:
            outs.append(f"{_fast_value(v, _fast_inner(v, t), t)} AS {v}")
    return ", ".join(outs)


def write_raw_copy(
    source: Path,
    filename: str,
    dest: Path,
    options: staged.IngestOptions,
    progress: staged.ProgressFn | None = None,
) -> RawCopy | None:
    """Write the untyped copy of a CSV ``source`` to ``dest`` (moved into place only when complete) and propose
    types from a sample spread across the file; None when the file is not one the one-pass ingest takes (another
    format, a declared schema, an error): the caller then waits for the whole-file typing alone."""
    if options.schema:
        return None
    started = time.perf_counter()
    source, dest = Path(source), Path(dest)
    size = _csv_size(source, filename)
    if size is None:
        return None
    dest.parent.mkdir(parents=True, exist_ok=True)
    work_parent = Path(options.temp_dir) if options.temp_dir else dest.parent
    work_parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".raw-", dir=work_parent))
    tmp = dest.parent / f".raw-{uuid.uuid4().hex}.parquet.tmp"
    scratch = _TextScratch(work, size, options.memory_scratch_mb)
    try:
        try:
            return _raw_copy(source, filename, dest, options, progress, work, scratch, tmp, started)
        except (IngestError, UnicodeDecodeError, duckdb.Error, OSError):
            return None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        scratch.close()
        shutil.rmtree(work, ignore_errors=True)


def _raw_copy(
    source: Path,
    filename: str,
    dest: Path,
    options: staged.IngestOptions,
    progress: staged.ProgressFn | None,
    work: Path,
    scratch: _TextScratch,
    tmp: Path,
    started: float,
) -> RawCopy | None:
    def report(fraction: float, stage: str) -> None:
        if progress is not None:
            progress(fraction, stage)

    report(0.0, "decode")
    enc = formats.detect_encoding(source, options.encoding, staged.ENCODING_CHECK_BYTES)
    text_path = source
    if enc.needs_transcode:
        text_path = scratch.path()
        formats.transcode_parallel(source, text_path, enc.encoding, enc.bom, lambda d, t: report(0.3 * d / max(t, 1), "decode"))
    sample_text = formats.read_sample(text_path)
    if not sample_text.strip():
        return None
    dialect = formats.sniff_dialect(sample_text, filename, options.delimiter, options.has_header, infer.detect_header)
    n = dialect.columns
    if n == 0 or n > options.max_columns:
        return None
    raw_names = list(dialect.header) if dialect.has_header else []
    raw_names += [""] * (n - len(raw_names))
    names = formats.clean_column_names(formats.clean_name(x) for x in raw_names)
    if any(name.startswith(SIDE_PREFIX) for name in names):
        return None
    source_names = [formats.clean_name(x) for x in raw_names]
    report(0.35, "sample")
    # the copy needs only the dialect: Polars is imported and writes it on a thread (the GIL released while it
    # writes) as DuckDB proposes types from the sample
    copied: list[int | None] = []
    copier = threading.Thread(
        target=lambda: copied.append(polarspass.write_raw(text_path, dialect, names, tmp, ROW_GROUP_ROWS)),
        name="raw-copy",
        daemon=True,
    )
    if options.polars:
        copier.start()
    con = staged._connect(work, options)
    try:
        text_size = text_path.stat().st_size
        sample_path = text_path
        if text_size > WHOLE_SAMPLE_BYTES:
            sample_path = work / "sample.csv"
            _spread_sample(text_path, sample_path, dialect.has_header, text_size)
        cleaned = ", ".join(f"{infer.sql_clean(f'c{i}')} AS c{i}" for i in range(n))
        _run_read(
            con,
            lambda parallel, rej: f"CREATE OR REPLACE TABLE sample AS SELECT {cleaned} FROM "
            f"{_csv_source(sample_path, dialect, parallel, rej)}",
            "sample_rej",
        )
        cols = [staged._Col(src=f"c{i}", source_name=source_names[i], name=names[i]) for i in range(n)]
        sampled = staged._compute_stats(con, staged._Stage(relation="sample", rowid="rowid", cols=cols), cols)
        con.execute("DROP TABLE sample")
        types = [infer.choose_type(st, options.bad_cell_ratio) for st in sampled]
        report(0.45, "copy")
        if options.polars:
            copier.join()
        rows = copied[0] if copied else None
        if rows is None:  # Polars refused the file (or is not used): DuckDB's reader skips the rows it refuses
            outs = ", ".join(f"c{i} AS {_q(names[i])}" for i in range(n))
            _run_read(
                con,
                lambda parallel, rej: f"SELECT {outs} FROM {_csv_source(text_path, dialect, parallel, rej)}",
                "raw_rej",
                lambda sql: write_parquet_with_id(con, sql, tmp),
            )
            got = con.execute("SELECT sum(num_rows) FROM parquet_file_metadata(?)", [str(tmp)]).fetchone()
            rows = int(got[0]) if got and got[0] is not None else 0
        if rows == 0:
            return None
        select = provisional_select(names, types)
        report(0.9, "pii")
        found = _provisional_pii(con, tmp, select, names, types)
    finally:
        if copier.is_alive():  # sampling failed while the copy runs: it ends before its file is removed
            copier.join()
        con.close()
    os.replace(tmp, dest)
    report(1.0, "queryable")
    columns = [
        {"name": names[i], "source_name": source_names[i], "type": types[i], "nulls": None, "bad_cells": None,
         "pii": found.get(names[i]), "provisional": True}
        for i in range(n)
    ]  # fmt: skip
    return RawCopy(path=dest, rows=rows, columns=columns, select=select, seconds=time.perf_counter() - started)


def _provisional_pii(
    con: duckdb.DuckDBPyConnection, path: Path, select: str, names: list[str], types: list[str]
) -> dict[str, str]:
    """The personal-data scan of the load (``ingest._scan_pii``: first rows, distinct values) over the typed view,
    so a provisional table flags (and grants hide) the same kind of columns as a typed one."""
    found: dict[str, str] = {}
    targets = [name for name, t in zip(names, types, strict=True) if t in ("string", "integer")]
    view = f"(SELECT {select} FROM read_parquet({_lit(str(path))}) LIMIT {staged.PII_SCAN_ROWS})"
    for start in range(0, len(targets), staged.PII_BATCH):
        batch = targets[start : start + staged.PII_BATCH]
        lists = ", ".join(
            f"list(DISTINCT CAST({_q(c)} AS VARCHAR)) FILTER (WHERE {_q(c)} IS NOT NULL)[1:{pii.MAX_VALUES}]"
            for c in batch
        )
        row = con.execute(f"SELECT {lists} FROM {view}").fetchone()
        for c, values in zip(batch, row or [None] * len(batch), strict=True):
            kind = pii.detect(values or [])
            if kind:
                found[c] = kind
    return found
