"""Streamed exports of a (filtered) table: CSV, XLSX, JSON and Parquet, read one record batch at a
time; and the whole-table CSV written once per table version."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import json
import math
import os
import re
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .engine import (
    DEFAULT_LIMITS,
    Limits,
    TableRef,
    TimeLimit,
    abspath,
    check_limit,
    configure,
    err,
    first,
    jsonable,
    query_slot,
    quote_ident,
    sql_literal,
    table_sandbox,
    timeout_error,
)
from .params import FORMULA_START, HITS_VIEW, parse_fields, parse_sort, select_list, text_plan, where

XLSX_MAX_ROWS = 1_048_575  # 1,048,576 sheet rows minus the header
EXPORT_FORMATS = ("csv", "xlsx", "json", "parquet")
_BOM = b"\xef\xbb\xbf"
_CHUNK = 1 << 20


class Drain:
    """A write-only file object whose bytes are taken out as they arrive."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._pos = 0
        self.closed = False

    def write(self, data: Any) -> int:
        b = bytes(data)
        self._parts.append(b)
        self._pos += len(b)
        return len(b)

    def tell(self) -> int:
        return self._pos

    def flush(self) -> None:
        return None

    def close(self) -> None:
        self.closed = True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readable(self) -> bool:
        return False

    def take(self) -> bytes:
        out = b"".join(self._parts)
        self._parts = []
        return out


def export(
    table: TableRef,
    fmt: Literal["csv", "xlsx", "json", "parquet"],
    *,
    filters: Mapping[str, Any] | None = None,
    q: str | Mapping[str, Any] | None = None,
    fields: Sequence[str] | None = None,
    sort: str | Sequence[str] | None = None,
    bom: bool = False,
    limit: int | None = None,
    batch_rows: int = 50_000,
    temp_dir: Path | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> Iterator[bytes]:
    """Stream the (filtered) table as ``fmt``. Arguments are validated now (QueryError raised by
    this call); the returned iterator reads record batches one at a time and yields bytes.

    Limits: DuckDB works on each batch holding a query slot and under the export's time budget
    (``limits.export_timeout_s`` of DuckDB time: the connection is interrupted when it is spent);
    the time the client takes to read does not count and holds no slot."""
    if fmt not in EXPORT_FORMATS:
        raise err(
            "invalid",
            "导出格式必须是 csv、xlsx、json 或 parquet。",
            "fmt must be csv, xlsx, json or parquet.",
            "format",
        )
    types = table.column_types()
    names = parse_fields(types, fields)
    order = parse_sort(types, sort)
    conds, params = where(types, filters)
    plan = text_plan(types, q)
    hits: pa.Table | None = None
    if plan is not None:  # the matching rows, found now (within the export's time budget)
        with (
            query_slot(limits),
            table_sandbox(table, limits) as conn,
            TimeLimit(conn, limits.export_timeout_s, {abspath(table.path): table.resource_id}),
        ):
            hits = plan.collect(
                conn, quote_ident(table.view), types, conds, params,
                time.monotonic() + limits.export_timeout_s, lambda: timeout_error(limits.export_timeout_s),
            )  # fmt: skip
            conn.unregister(HITS_VIEW)
        conds.append(f'"_id" IN (SELECT "__id" FROM {HITS_VIEW})')
    if limit is not None:
        limit = check_limit(limit, "limit", 0, 2**62)
    batch_rows = check_limit(batch_rows, "batch_rows", 1, 1_000_000)
    mode = {"csv": "csv_file", "json": "json"}.get(fmt, "plain")
    sql = f"SELECT {select_list(names, types, mode=mode)} FROM {quote_ident(table.view)}"
    if conds:
        sql += " WHERE " + " AND ".join(conds)
    if order:
        sql += " ORDER BY " + ", ".join(k.sql() for k in order)
        if all(k.name != "_id" for k in order):
            sql += ', "_id" ASC'
    else:  # ascending _id always: a parallel one-pass load need not write the file in _id order
        sql += ' ORDER BY "_id" ASC'
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    if fmt == "json":
        # DuckDB renders each row as a JSON object (far faster than Python json.dumps per row)
        sql = f"SELECT to_json(_r) AS _j FROM ({sql}) AS _r"
    if fmt == "xlsx":
        if hits is not None:
            n = hits.num_rows
        elif conds:
            with (
                query_slot(limits),
                table_sandbox(table, limits) as conn,
                TimeLimit(conn, limits.export_timeout_s, {abspath(table.path): table.resource_id}),
            ):
                got = first(
                    conn.execute(
                        f"SELECT count(*) FROM {quote_ident(table.view)} WHERE " + " AND ".join(conds),
                        params[: len(params) - (1 if limit is not None else 0)],
                    ).fetchall()
                )
                n = int(got[0]) if got else 0
        elif table.scope is not None:  # the granted rows only
            with (
                query_slot(limits),
                table_sandbox(table, limits) as conn,
                TimeLimit(conn, limits.export_timeout_s, {abspath(table.path): table.resource_id}),
            ):
                got = first(conn.execute(f"SELECT count(*) FROM {quote_ident(table.view)}").fetchall())
                n = int(got[0]) if got else 0
        else:
            n = int(table.rows)
        if limit is not None:
            n = min(n, limit)
        if n > XLSX_MAX_ROWS:
            raise err(
                "too_large",
                f"Excel 最多 {XLSX_MAX_ROWS} 行，本次导出有 {n} 行，请改用 CSV 或缩小范围。",
                f"Excel holds at most {XLSX_MAX_ROWS} rows; this export has {n}. Use CSV or filter.",
                "format",
            )
    return _export_iter(table, fmt, sql, params, names, bom, batch_rows, temp_dir, limits, hits)


#: a batch after the first waits this long for a query slot (the download has started)
MIDSTREAM_SLOT_WAIT_S = 60.0


class _Metered:
    """The export's record batches, each read from DuckDB holding a query slot and under what is left
    of the time budget (the connection is interrupted when it runs out)."""

    def __init__(self, conn: duckdb.DuckDBPyConnection, table: TableRef, sql: str, params: list[Any],
                 batch_rows: int, limits: Limits) -> None:  # fmt: skip
        self.conn, self.limits = conn, limits
        self.hide = {abspath(table.path): table.resource_id}
        self.left = float(limits.export_timeout_s)
        self.reader: pa.RecordBatchReader = self._metered(
            lambda: conn.sql(sql, params=params).to_arrow_reader(batch_rows), limits.queue_wait_s
        )
        self.schema = self.reader.schema

    def _metered(self, step: Callable[[], Any], wait_s: float) -> Any:
        if self.left <= 0:
            raise timeout_error(self.limits.export_timeout_s)
        with query_slot(self.limits, wait_s):
            limit = TimeLimit(self.conn, self.left, self.hide, shown_s=self.limits.export_timeout_s)
            t0 = time.monotonic()
            try:
                with limit:
                    return step()
            finally:
                self.left -= time.monotonic() - t0

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        while True:
            try:
                batch = self._metered(
                    self.reader.read_next_batch, max(self.limits.queue_wait_s, MIDSTREAM_SLOT_WAIT_S)
                )
            except StopIteration:
                return
            yield batch


def _export_iter(
    table: TableRef,
    fmt: str,
    sql: str,
    params: list[Any],
    names: list[str],
    bom: bool,
    batch_rows: int,
    temp_dir: Path | None,
    limits: Limits,
    hits: pa.Table | None = None,
) -> Iterator[bytes]:
    with table_sandbox(table, limits) as conn:
        if hits is not None:
            conn.register(HITS_VIEW, hits)
        reader = _Metered(conn, table, sql, params, batch_rows, limits)
        if fmt == "csv":
            yield from _csv_chunks(reader, bom)
        elif fmt == "json":
            yield from _json_chunks(reader)
        elif fmt == "parquet":
            yield from _parquet_chunks(reader)
        else:
            yield from _xlsx_chunks(reader, names, temp_dir)


def _csv_chunks(reader: pa.RecordBatchReader, bom: bool) -> Iterator[bytes]:
    first = True
    for batch in reader:
        if batch.num_rows == 0 and not first:
            continue
        buf = io.BytesIO()
        if first and bom:
            buf.write(_BOM)
        pacsv.write_csv(batch, buf, pacsv.WriteOptions(include_header=first))
        first = False
        yield buf.getvalue()
    if first:
        buf = io.BytesIO()
        if bom:
            buf.write(_BOM)
        pacsv.write_csv(reader.schema.empty_table(), buf, pacsv.WriteOptions(include_header=True))
        yield buf.getvalue()


def _json_chunks(reader: pa.RecordBatchReader) -> Iterator[bytes]:
    """A JSON array, one object per line; each batch is one chunk."""
    first = True
    for batch in reader:
        if batch.num_rows == 0:
            continue
        parts = batch.column(0).to_pylist()
        yield (("[\n" if first else ",\n") + ",\n".join(parts)).encode("utf-8")
        first = False
    yield b"[]" if first else b"\n]\n"


def _parquet_chunks(reader: pa.RecordBatchReader) -> Iterator[bytes]:
    sink = Drain()
    writer = pq.ParquetWriter(sink, reader.schema, compression="zstd")
    try:
        for batch in reader:
            if batch.num_rows == 0:
                continue
            writer.write_batch(batch)
            data = sink.take()
            if data:
                yield data
    finally:
        writer.close()
    data = sink.take()
    if data:
        yield data


_XLSX_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _xlsx_chunks(reader: pa.RecordBatchReader, names: list[str], temp_dir: Path | None) -> Iterator[bytes]:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    fd, tmp_name = tempfile.mkstemp(suffix=".xlsx", dir=temp_dir)
    os.close(fd)
    try:
        wb = Workbook(write_only=True)
        ws = wb.create_sheet(title="data")

        def text_cell(s: str) -> Any:
            c = WriteOnlyCell(ws, value=None)
            c.value = _XLSX_ILLEGAL.sub("", s)[:32767]
            c.data_type = "s"  # never a formula, even if it starts with "="
            return c

        def cell(v: Any) -> Any:
            if isinstance(v, str):
                return (
                    text_cell(v)
                    if (v[:1] in FORMULA_START or _XLSX_ILLEGAL.search(v) or len(v) > 32767)
                    else v
                )
            if isinstance(v, dt.datetime) and v.tzinfo is not None:
                return v.replace(tzinfo=None)
            if isinstance(v, float) and not math.isfinite(v):
                return None
            if isinstance(v, (dict, list)):
                return json.dumps(jsonable(v), ensure_ascii=False)
            return v

        ws.append([text_cell(n) for n in names])
        for batch in reader:
            for row in batch.to_pylist():
                ws.append([cell(v) for v in row.values()])
        wb.save(tmp_name)
        with open(tmp_name, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                yield chunk
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)


def full_csv_path(table: TableRef, cache_dir: Path, *, limits: Limits = DEFAULT_LIMITS) -> Path:
    """The whole table as CSV (header, UTF-8, no BOM; formula cells neutralised as in ``export``), written
    once per table version with DuckDB ``COPY`` and reused; older cached versions of the same resource are removed. The COPY holds a
    query slot and runs within ``limits.export_timeout_s``. Never for a grant-scoped table (``export`` serves it)."""
    if table.scope is not None:
        raise err("invalid", "授权范围内的导出不使用整表缓存。", "A grant-scoped export never uses the whole-table file.")
    src = abspath(table.path)
    try:
        st = os.stat(src)
    except OSError as e:
        raise err("unavailable", "数据表文件不存在。", "The table file is missing.") from e
    # "v2": files cached before formula cells were neutralised are never served again
    key = hashlib.sha256(f"v2|{src}|{st.st_size}|{st.st_mtime_ns}|{table.select}".encode()).hexdigest()[:16]
    safe_rid = re.sub(r"[^A-Za-z0-9_-]", "_", table.resource_id)[:80] or "table"
    cache_dir = Path(cache_dir)
    target = cache_dir / f"{safe_rid}-{key}.csv"
    if target.is_file():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache_dir / f".{safe_rid}-{key}.{uuid.uuid4().hex}.tmp"
    types = table.column_types()
    cols = select_list(list(types), types, mode="csv_file")
    conn = duckdb.connect(":memory:")
    try:
        configure(conn, limits)
        conn.execute("SET python_enable_replacements=false")
        with query_slot(limits), TimeLimit(conn, limits.export_timeout_s, {src: table.resource_id}):
            conn.execute(
                f"COPY (SELECT {cols} FROM {table.source_sql()}) TO {sql_literal(str(tmp))} "
                "(FORMAT csv, HEADER true)"
            )
        os.replace(tmp, target)
    finally:
        conn.close()
        with contextlib.suppress(OSError):
            tmp.unlink()
    for old in cache_dir.glob(f"{safe_rid}-*.csv"):
        if old != target and re.fullmatch(re.escape(safe_rid) + r"-[0-9a-f]{16}\.csv", old.name):
            with contextlib.suppress(OSError):
                old.unlink()
    return target
