"""The shared engine of every datastore query: the table reference, the sandboxed DuckDB connections
and the limits they run under.

Every query runs on its own in-memory DuckDB connection (``sandbox``): 2 threads, 1 GB memory, a view per
readable table, then ``allowed_paths`` = those files, external access off, Python replacement scans off,
extension autoload off and the configuration locked.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import datetime as dt
import decimal
import math
import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from ..sqlguard import QueryError

TYPE_NAMES = ("integer", "number", "boolean", "date", "datetime", "string")


@dataclass
class TableRef:
    """One readable table version. ``columns`` are (name, type) in file order; ``_id`` may be omitted."""

    resource_id: str
    path: Path
    rows: int
    columns: list[tuple[str, str]] = field(default_factory=list)

    def column_types(self) -> dict[str, str]:
        out = {"_id": "integer"}
        for name, typ in self.columns:
            out[name] = typ
        return out


# --------------------------------------------------------------------------- helpers


def quote_ident(name: str) -> str:
    """Double-quote an identifier, doubling embedded double quotes."""
    return '"' + name.replace('"', '""') + '"'


def sql_literal(text: str) -> str:
    """A single-quoted SQL string literal; only for our own file paths, never for user values."""
    return "'" + text.replace("'", "''") + "'"


def abspath(path: Path | str) -> str:
    return os.path.abspath(os.fspath(path))


def err(code: str, zh: str, en: str, fld: str | None = None) -> QueryError:
    return QueryError(code, zh, en, field=fld)


def first_line(e: BaseException) -> str:
    text = str(e)
    return text.splitlines()[0] if text else type(e).__name__


def duck_type_name(t: Any) -> str:
    """Our type name for a DuckDB type (or its lower-case DuckDB name if it has none)."""
    s = str(t).upper()
    if s in ("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT", "UINTEGER", "USMALLINT",
             "UTINYINT", "UHUGEINT"):  # fmt: skip
        return "integer"
    if s in ("DOUBLE", "FLOAT", "REAL") or s.startswith("DECIMAL"):
        return "number"
    if s == "BOOLEAN":
        return "boolean"
    if s == "DATE":
        return "date"
    if s.startswith("TIMESTAMP"):
        return "datetime"
    if s == "VARCHAR":
        return "string"
    return s.lower()


def jsonable(v: Any) -> Any:
    """A JSON-friendly value: ISO dates, exact decimals as numbers when safe, no NaN."""
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, decimal.Decimal):
        if not v.is_finite():
            return None
        f = float(v)
        return f if decimal.Decimal(repr(f)) == v else str(v)
    if isinstance(v, (dt.datetime, dt.date, dt.time)):
        return v.isoformat()
    if isinstance(v, dt.timedelta):
        return str(v)
    if isinstance(v, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(v)).decode("ascii")
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    return str(v)


# --------------------------------------------------------------------------- connections


def open_sandbox(
    views: Mapping[str, Path | str],
    *,
    threads: int = 2,
    memory_limit: str = "1GB",
    metadata_cache: bool = False,
) -> duckdb.DuckDBPyConnection:
    """A new locked in-memory DuckDB database that can read exactly ``views`` (see ``sandbox``)."""
    conn = duckdb.connect(":memory:")
    try:
        conn.execute(f"SET threads={int(threads)}")
        conn.execute(f"SET memory_limit={sql_literal(memory_limit)}")
        conn.execute("SET python_enable_replacements=false")
        conn.execute("SET autoinstall_known_extensions=false")
        conn.execute("SET autoload_known_extensions=false")
        if metadata_cache:
            conn.execute("SET parquet_metadata_cache=true")
        paths: list[str] = []
        for name, path in views.items():
            p = abspath(path)
            try:
                conn.execute(
                    f"CREATE VIEW {quote_ident(name)} AS SELECT * FROM read_parquet({sql_literal(p)})"
                )
            except duckdb.Error as e:
                raise err(
                    "unavailable",
                    f"数据表 {name} 当前不可用。",
                    f"The table {name} is not available right now.",
                ) from e
            paths.append(p)
        conn.execute("SET allowed_paths=[" + ", ".join(sql_literal(p) for p in paths) + "]")
        conn.execute("SET enable_external_access=false")
        conn.execute("SET lock_configuration=true")
    except BaseException:
        conn.close()
        raise
    return conn


@contextlib.contextmanager
def sandbox(
    views: Mapping[str, Path | str], *, threads: int = 2, memory_limit: str = "1GB"
) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB connection that can read exactly ``views`` (name → Parquet path).

    Order matters and was checked against DuckDB 2.0: the views are created while file access is
    still on, then ``allowed_paths`` lists their files, ``enable_external_access=false`` shuts off
    every other file, extension and URL, and ``lock_configuration`` stops any later SET.
    """
    conn = open_sandbox(views, threads=threads, memory_limit=memory_limit)
    try:
        yield conn
    finally:
        conn.close()


#: one-table sandboxes kept open (LRU): opening a DuckDB database costs 20-60 ms, more than a
#: selective search; each query gets its own connection (cursor) to the shared, locked database
TABLE_SANDBOX_CACHE = 16
_sandbox_cache: collections.OrderedDict[tuple[str, str, int, int], duckdb.DuckDBPyConnection] = (
    collections.OrderedDict()
)
_sandbox_lock = threading.Lock()


class TimeLimit:
    """Interrupt ``conn`` after ``timeout_s``; map the interrupt (and other DuckDB errors) to QueryError."""

    def __init__(
        self, conn: duckdb.DuckDBPyConnection, timeout_s: float, hide: Mapping[str, str] | None = None
    ):
        if not isinstance(timeout_s, (int, float)) or isinstance(timeout_s, bool) or not timeout_s > 0:
            raise err("invalid", "超时时间必须为正数。", "timeout_s must be a positive number.", "timeout_s")
        self.conn = conn
        self.timeout_s = float(timeout_s)
        self.fired = threading.Event()
        self.hide = dict(hide or {})
        self.timer = threading.Timer(self.timeout_s, self._fire)
        self.timer.daemon = True

    def _fire(self) -> None:
        self.fired.set()
        with contextlib.suppress(Exception):
            self.conn.interrupt()

    def __enter__(self) -> TimeLimit:
        self.timer.start()
        return self

    def _clean(self, text: str) -> str:
        for secret, shown in self.hide.items():
            text = text.replace(secret, shown)
        return text

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self.timer.cancel()
        if exc is None or isinstance(exc, QueryError):
            return
        if isinstance(exc, duckdb.InterruptException) or (
            isinstance(exc, duckdb.Error) and self.fired.is_set()
        ):
            raise err(
                "timeout",
                f"查询超时（超过 {self.timeout_s:g} 秒），请缩小查询范围。",
                f"The query took longer than {self.timeout_s:g} s and was stopped; narrow it down.",
            ) from exc
        if isinstance(exc, duckdb.PermissionException):
            raise err(
                "forbidden",
                "查询不得访问其他文件或外部资源。",
                "The query may not access other files or external resources: " + self._clean(first_line(exc)),
                "sql",
            ) from exc
        if isinstance(exc, duckdb.OutOfMemoryException):
            raise err(
                "too_large",
                "查询所需内存超出限制，请缩小查询范围。",
                "The query needs more memory than allowed; narrow it down.",
            ) from exc
        if isinstance(exc, duckdb.Error):
            msg = self._clean(first_line(exc))
            raise err("query_failed", f"查询失败：{msg}", f"The query failed: {msg}", "sql") from exc


@contextlib.contextmanager
def table_sandbox(table: TableRef) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the cached sandbox of ``table`` (keyed by id, path, size and mtime, so a
    replaced file gets a fresh database). Same settings and lock as ``sandbox``; the Parquet footer
    is cached across queries."""
    path = abspath(table.path)
    try:
        st = os.stat(path)
    except OSError:
        with sandbox({table.resource_id: table.path}) as conn:  # raises "unavailable"
            yield conn
        return
    key = (table.resource_id, path, st.st_size, st.st_mtime_ns)
    with _sandbox_lock:
        base = _sandbox_cache.get(key)
        if base is not None:
            _sandbox_cache.move_to_end(key)
    if base is None:
        base = open_sandbox({table.resource_id: path}, metadata_cache=True)
        with _sandbox_lock:
            other = _sandbox_cache.get(key)
            if other is not None:  # another thread opened it meanwhile
                base.close()
                base = other
            else:
                _sandbox_cache[key] = base
            while len(_sandbox_cache) > TABLE_SANDBOX_CACHE:
                # not close(): that would also close cursors still streaming an export; dropping
                # the reference frees the database once the last cursor is gone
                _sandbox_cache.popitem(last=False)
    conn = base.cursor()
    try:
        yield conn
    finally:
        conn.close()


def check_limit(value: Any, name: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise err("invalid", f"{name} 必须是整数。", f"{name} must be an integer.", name)
    if value < lo or value > hi:
        raise err(
            "invalid", f"{name} 必须在 {lo} 到 {hi} 之间。", f"{name} must be between {lo} and {hi}.", name
        )
    return value
