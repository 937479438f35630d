"""Query engine over versioned Parquet tables: search, keyset cursor, aggregate, column stats,
user SQL and streamed exports.

Works on Parquet paths only (``TableRef``); nothing here touches the catalog DB or the web layer.
Every query runs on its own in-memory DuckDB connection (``sandbox``): 2 threads, 1 GB memory, a
view per readable table, then ``allowed_paths`` = those files, external access off, Python
replacement scans off, extension autoload off and the configuration locked. Identifiers are checked
against the table's columns and double-quoted; values are always bound parameters.
"""

from __future__ import annotations

import base64
import binascii
import collections
import contextlib
import datetime as dt
import decimal
import hashlib
import io
import json
import math
import os
import re
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .sqlguard import CheckedSql, QueryError, check_sql

__all__ = [
    "CKAN_LIMIT",
    "CSV_LIMIT",
    "TYPE_NAMES",
    "XLSX_MAX_ROWS",
    "QueryError",
    "TableRef",
    "aggregate",
    "column_stats",
    "decode_cursor",
    "encode_cursor",
    "export",
    "full_csv_path",
    "quote_ident",
    "run_sql",
    "sandbox",
    "search",
]

TYPE_NAMES = ("integer", "number", "boolean", "date", "datetime", "string")
CKAN_LIMIT = 32_000
CSV_LIMIT = 1_000_000
XLSX_MAX_ROWS = 1_048_575  # 1,048,576 sheet rows minus the header
AGGREGATE_LIMIT = 10_000
MAX_IN_VALUES = 1_000
#: filtered search pages up to this many rows use the two-phase plan (ids first, then their rows)
TWO_PHASE_MAX_ROWS = 1_000
#: ... and fetch their rows by `_id` range when the ids lie within this many rows (~2 row groups)
TWO_PHASE_MAX_SPAN = 250_000
MAX_Q_TERMS = 20
#: Exact totals for equality filters on one column come from a value-count index (one GROUP BY per
#: table version and column, built on first use and kept in memory); columns with more distinct values
#: than this, judged on a sample first, are counted by a scan as before.
COUNT_INDEX_MAX_GROUPS = 20_000
COUNT_INDEX_TYPES = ("string", "integer", "date", "boolean")
COUNT_INDEX_CACHE = 64
EXPORT_FORMATS = ("csv", "xlsx", "json", "parquet")
_BOM = b"\xef\xbb\xbf"
_CHUNK = 1 << 20


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


def _sql_literal(text: str) -> str:
    """A single-quoted SQL string literal; only for our own file paths, never for user values."""
    return "'" + text.replace("'", "''") + "'"


def _abspath(path: Path | str) -> str:
    return os.path.abspath(os.fspath(path))


def _err(code: str, zh: str, en: str, fld: str | None = None) -> QueryError:
    return QueryError(code, zh, en, field=fld)


def _first_line(e: BaseException) -> str:
    text = str(e)
    return text.splitlines()[0] if text else type(e).__name__


def _duck_type_name(t: Any) -> str:
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


def _jsonable(v: Any) -> Any:
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
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return str(v)


# --------------------------------------------------------------------------- connections


def _open_sandbox(
    views: Mapping[str, Path | str], *, threads: int = 2, memory_limit: str = "1GB", metadata_cache: bool = False
) -> duckdb.DuckDBPyConnection:
    """A new locked in-memory DuckDB database that can read exactly ``views`` (see ``sandbox``)."""
    conn = duckdb.connect(":memory:")
    try:
        conn.execute(f"SET threads={int(threads)}")
        conn.execute(f"SET memory_limit={_sql_literal(memory_limit)}")
        conn.execute("SET python_enable_replacements=false")
        conn.execute("SET autoinstall_known_extensions=false")
        conn.execute("SET autoload_known_extensions=false")
        if metadata_cache:
            conn.execute("SET parquet_metadata_cache=true")
        paths: list[str] = []
        for name, path in views.items():
            p = _abspath(path)
            try:
                conn.execute(
                    f"CREATE VIEW {quote_ident(name)} AS SELECT * FROM read_parquet({_sql_literal(p)})"
                )
            except duckdb.Error as e:
                raise _err(
                    "unavailable",
                    f"数据表 {name} 当前不可用。",
                    f"The table {name} is not available right now.",
                ) from e
            paths.append(p)
        conn.execute("SET allowed_paths=[" + ", ".join(_sql_literal(p) for p in paths) + "]")
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
    conn = _open_sandbox(views, threads=threads, memory_limit=memory_limit)
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


class _TimeLimit:
    """Interrupt ``conn`` after ``timeout_s``; map the interrupt (and other DuckDB errors) to QueryError."""

    def __init__(
        self, conn: duckdb.DuckDBPyConnection, timeout_s: float, hide: Mapping[str, str] | None = None
    ):
        if not isinstance(timeout_s, (int, float)) or isinstance(timeout_s, bool) or not timeout_s > 0:
            raise _err("invalid", "超时时间必须为正数。", "timeout_s must be a positive number.", "timeout_s")
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

    def __enter__(self) -> _TimeLimit:
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
            raise _err(
                "timeout",
                f"查询超时（超过 {self.timeout_s:g} 秒），请缩小查询范围。",
                f"The query took longer than {self.timeout_s:g} s and was stopped; narrow it down.",
            ) from exc
        if isinstance(exc, duckdb.PermissionException):
            raise _err(
                "forbidden",
                "查询不得访问其他文件或外部资源。",
                "The query may not access other files or external resources: "
                + self._clean(_first_line(exc)),
                "sql",
            ) from exc
        if isinstance(exc, duckdb.OutOfMemoryException):
            raise _err(
                "too_large",
                "查询所需内存超出限制，请缩小查询范围。",
                "The query needs more memory than allowed; narrow it down.",
            ) from exc
        if isinstance(exc, duckdb.Error):
            msg = self._clean(_first_line(exc))
            raise _err("query_failed", f"查询失败：{msg}", f"The query failed: {msg}", "sql") from exc


@contextlib.contextmanager
def _table_sandbox(table: TableRef) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the cached sandbox of ``table`` (keyed by id, path, size and mtime, so a
    replaced file gets a fresh database). Same settings and lock as ``sandbox``; the Parquet footer
    is cached across queries."""
    path = _abspath(table.path)
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
        base = _open_sandbox({table.resource_id: path}, metadata_cache=True)
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


# --------------------------------------------------------------------------- validation


def _check_limit(value: Any, name: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _err("invalid", f"{name} 必须是整数。", f"{name} must be an integer.", name)
    if value < lo or value > hi:
        raise _err(
            "invalid", f"{name} 必须在 {lo} 到 {hi} 之间。", f"{name} must be between {lo} and {hi}.", name
        )
    return value


def _column(types: Mapping[str, str], name: Any, fld: str) -> str:
    if not isinstance(name, str) or name not in types:
        shown = name if isinstance(name, str) else repr(name)
        raise _err("unknown_column", f"没有名为 {shown} 的列。", f"There is no column named {shown}.", fld)
    return name


_TRUE = {"true", "t", "yes", "y", "1", "是", "真", "on"}
_FALSE = {"false", "f", "no", "n", "0", "否", "假", "off"}


def _coerce(value: Any, typ: str, column: str, fld: str) -> Any:
    def bad() -> QueryError:
        return _err(
            "invalid_value",
            f"列 {column} 的值 {value!r} 不是有效的 {typ}。",
            f"The value {value!r} is not a valid {typ} for column {column}.",
            fld,
        )

    if isinstance(value, (dict, list, tuple, set)):
        raise bad()
    try:
        if typ == "integer":
            if isinstance(value, bool):
                raise bad()
            if isinstance(value, int):
                return value
            if isinstance(value, float) and value.is_integer():
                return int(value)
            if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
                return int(value)
            raise bad()
        if typ == "number":
            if isinstance(value, bool):
                raise bad()
            if isinstance(value, (int, decimal.Decimal)):
                d = decimal.Decimal(value)
            elif isinstance(value, float):
                d = decimal.Decimal(repr(value))
            elif isinstance(value, str):
                d = decimal.Decimal(value.strip())
            else:
                raise bad()
            if not d.is_finite():
                raise bad()
            return d
        if typ == "boolean":
            if isinstance(value, bool):
                return value
            if isinstance(value, int) and value in (0, 1):
                return bool(value)
            if isinstance(value, str):
                s = value.strip().lower()
                if s in _TRUE:
                    return True
                if s in _FALSE:
                    return False
            raise bad()
        if typ == "date":
            if isinstance(value, dt.datetime):
                raise bad()
            if isinstance(value, dt.date):
                return value
            if isinstance(value, str):
                return dt.date.fromisoformat(value.strip())
            raise bad()
        if typ == "datetime":
            if isinstance(value, dt.datetime):
                return value.replace(tzinfo=None) if value.tzinfo is None else value
            if isinstance(value, dt.date):
                return dt.datetime(value.year, value.month, value.day)
            if isinstance(value, str):
                return dt.datetime.fromisoformat(value.strip())
            raise bad()
        # string (and anything else): compare as text
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (str, int, float, decimal.Decimal)):
            return str(value)
        raise bad()
    except (ValueError, decimal.InvalidOperation) as e:
        raise bad() from e


def _like_pattern(term: str) -> str:
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


_count_index: collections.OrderedDict[tuple[Any, ...], dict[Any, int] | None] = collections.OrderedDict()
_count_index_lock = threading.Lock()


def _index_key(table: TableRef, column: str) -> tuple[Any, ...] | None:
    try:
        st = os.stat(_abspath(table.path))
    except OSError:
        return None
    return (_abspath(table.path), st.st_size, st.st_mtime_ns, column)


def _value_counts(conn: duckdb.DuckDBPyConnection, table: TableRef, column: str) -> dict[Any, int] | None:
    """{value: rows} of ``column`` (None: too many distinct values for an index)."""
    key = _index_key(table, column)
    if key is None:
        return None
    with _count_index_lock:
        if key in _count_index:
            _count_index.move_to_end(key)
            return _count_index[key]
    view, ident = quote_ident(table.resource_id), quote_ident(column)
    counts: dict[Any, int] | None = None
    sample = conn.execute(
        f"SELECT count(DISTINCT {ident}) FROM (SELECT {ident} FROM {view} LIMIT {COUNT_INDEX_MAX_GROUPS * 2})"
    ).fetchone()
    if sample is not None and int(sample[0]) <= COUNT_INDEX_MAX_GROUPS:
        rows = conn.execute(
            f"SELECT {ident}, count(*) FROM {view} GROUP BY {ident} LIMIT {COUNT_INDEX_MAX_GROUPS + 1}"
        ).fetchall()
        if len(rows) <= COUNT_INDEX_MAX_GROUPS:
            counts = {v: int(n) for v, n in rows}
    with _count_index_lock:
        _count_index[key] = counts
        while len(_count_index) > COUNT_INDEX_CACHE:
            _count_index.popitem(last=False)
    return counts


def _indexed_total(
    conn: duckdb.DuckDBPyConnection,
    table: TableRef,
    types: Mapping[str, str],
    filters: Mapping[str, Any] | None,
    q: Any,
) -> int | None:
    """The exact total of a search whose only condition is equality on one column, from the index."""
    if q is not None or not isinstance(filters, Mapping) or len(filters) != 1:
        return None
    ((name, raw),) = filters.items()
    col = _column(types, name, "filters")
    typ = types[col]
    if typ not in COUNT_INDEX_TYPES or col == "_id":
        return None
    values = list(raw) if isinstance(raw, (list, tuple)) else [raw]
    wanted = {None if v is None else _coerce(v, typ, col, "filters") for v in values}
    counts = _value_counts(conn, table, col)
    if counts is None:
        return None
    return sum(counts.get(v, 0) for v in wanted)


def _where(
    types: Mapping[str, str], filters: Mapping[str, Any] | None, q: str | Mapping[str, Any] | None
) -> tuple[list[str], list[Any]]:
    conds: list[str] = []
    params: list[Any] = []
    if filters is not None:
        if not isinstance(filters, Mapping):
            raise _err("invalid", "filters 必须是对象。", "filters must be an object.", "filters")
        for name, raw in filters.items():
            col = _column(types, name, "filters")
            typ = types[col]
            ident = quote_ident(col)
            values = list(raw) if isinstance(raw, (list, tuple)) else [raw]
            if len(values) > MAX_IN_VALUES:
                raise _err(
                    "invalid",
                    f"列 {col} 的筛选值过多（最多 {MAX_IN_VALUES} 个）。",
                    f"Too many filter values for column {col} (at most {MAX_IN_VALUES}).",
                    "filters",
                )
            want_null = any(v is None for v in values)
            coerced = [_coerce(v, typ, col, "filters") for v in values if v is not None]
            parts: list[str] = []
            if len(coerced) == 1:
                parts.append(f"{ident} = ?")
            elif coerced:
                parts.append(f"{ident} IN ({', '.join('?' for _ in coerced)})")
            params.extend(coerced)
            if want_null:
                parts.append(f"{ident} IS NULL")
            conds.append("(" + " OR ".join(parts) + ")" if parts else "FALSE")
    if q is not None:
        if isinstance(q, str):
            terms = q.split()
            if len(terms) > MAX_Q_TERMS:
                raise _err(
                    "invalid", f"q 最多 {MAX_Q_TERMS} 个词。", f"q has at most {MAX_Q_TERMS} terms.", "q"
                )
            targets = [c for c, t in types.items() if t == "string"]
            exprs = [quote_ident(c) for c in targets] or [
                f"CAST({quote_ident(c)} AS VARCHAR)" for c in types if c != "_id"
            ]
            for term in terms:
                if not exprs:
                    conds.append("FALSE")
                    continue
                pat = _like_pattern(term)
                conds.append("(" + " OR ".join(f"{e} ILIKE ? ESCAPE '\\'" for e in exprs) + ")")
                params.extend([pat] * len(exprs))
        elif isinstance(q, Mapping):
            for name, raw in q.items():
                col = _column(types, name, "q")
                if not isinstance(raw, (str, int, float, decimal.Decimal)) or isinstance(raw, bool):
                    raise _err(
                        "invalid", f"q 中列 {col} 的值必须是文本。", f"q value for {col} must be text.", "q"
                    )
                expr = quote_ident(col) if types[col] == "string" else f"CAST({quote_ident(col)} AS VARCHAR)"
                for term in str(raw).split()[:MAX_Q_TERMS]:
                    conds.append(f"{expr} ILIKE ? ESCAPE '\\'")
                    params.append(_like_pattern(term))
        else:
            raise _err("invalid", "q 必须是文本或对象。", "q must be a string or an object.", "q")
    return conds, params


def _parse_sort(types: Mapping[str, str], sort: Any) -> list[tuple[str, str]]:
    """Parse ``"col asc, "quoted col" desc"``; every item must name a column and asc/desc."""
    if sort is None:
        return []
    if not isinstance(sort, str):
        raise _err("invalid_sort", "sort 必须是文本。", "sort must be a string.", "sort")
    items: list[str] = []
    cur: list[str] = []
    in_q = False
    for ch in sort:
        if ch == '"':
            in_q = not in_q
        if ch == "," and not in_q:
            items.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    items.append("".join(cur))
    out: list[tuple[str, str]] = []

    def bad(item: str) -> QueryError:
        return _err(
            "invalid_sort",
            f"无法识别的排序项：{item.strip()!r}（格式：列名 asc|desc）。",
            f"Cannot sort by {item.strip()!r} (expected: column asc|desc).",
            "sort",
        )

    for item in items:
        s = item.strip()
        if not s:
            if len(items) == 1:
                return []
            raise bad(item)
        name: str | None = None
        direction = "asc"
        if s.startswith('"'):
            m = re.fullmatch(r'"((?:[^"]|"")*)"\s*(\w+)?', s)
            if not m:
                raise bad(item)
            name = m.group(1).replace('""', '"')
            direction = (m.group(2) or "asc").lower()
        elif s in types:
            name = s
        else:
            parts = s.rsplit(None, 1)
            if len(parts) == 2:
                name, direction = parts[0], parts[1].lower()
        if name is None or name not in types or direction not in ("asc", "desc"):
            raise bad(item)
        if any(n == name for n, _ in out):
            raise bad(item)
        out.append((name, direction))
    return out


def _parse_fields(types: Mapping[str, str], fields: Any) -> list[str]:
    if fields is None:
        return list(types)
    if isinstance(fields, str):
        fields = [f.strip() for f in fields.split(",")]
    if not isinstance(fields, (list, tuple)) or not fields:
        raise _err(
            "invalid",
            "fields 必须是非空的列名列表。",
            "fields must be a non-empty list of columns.",
            "fields",
        )
    out: list[str] = []
    for f in fields:
        col = _column(types, f, "fields")
        if col not in out:
            out.append(col)
    return out


def encode_cursor(last_id: int, direction: str = "asc") -> str:
    raw = f"v1:{'a' if direction == 'asc' else 'd'}:{int(last_id)}".encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    def bad() -> QueryError:
        return _err("invalid_cursor", "分页游标无效。", "The paging cursor is not valid.", "cursor")

    if (
        not isinstance(cursor, str)
        or not 0 < len(cursor) <= 64
        or not re.fullmatch(r"[A-Za-z0-9_-]+", cursor)
    ):
        raise bad()
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError) as e:
        raise bad() from e
    m = re.fullmatch(r"v1:([ad]):(-?\d{1,19})", raw)
    if not m:
        raise bad()
    return int(m.group(2)), ("asc" if m.group(1) == "a" else "desc")


def _select_list(names: Sequence[str], types: Mapping[str, str], *, mode: str = "plain") -> str:
    """Column list; ``mode`` csv: timestamps as DuckDB text; json: ISO timestamps, no NaN/Infinity."""
    out = []
    for n in names:
        ident = quote_ident(n)
        typ = types.get(n)
        if mode == "csv" and typ == "datetime":
            out.append(f"CAST({ident} AS VARCHAR) AS {ident}")
        elif mode == "json" and typ == "datetime":
            out.append(f"replace(CAST({ident} AS VARCHAR), ' ', 'T') AS {ident}")
        elif mode == "json" and typ == "number":
            out.append(f"CASE WHEN isfinite(CAST({ident} AS DOUBLE)) THEN {ident} END AS {ident}")
        else:
            out.append(ident)
    return ", ".join(out)


def _fields(names: Sequence[str], types: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"id": n, "type": types[n]} for n in names]


def _csv_text(tbl: pa.Table, header: bool) -> str:
    buf = io.BytesIO()
    pacsv.write_csv(tbl, buf, pacsv.WriteOptions(include_header=header))
    return buf.getvalue().decode("utf-8")


# --------------------------------------------------------------------------- search


@dataclass
class _Plan:
    sql: str
    params: list[Any]
    names: list[str]
    types: dict[str, str]
    conds: list[str]
    where_params: list[Any]


def search(
    table: TableRef,
    *,
    filters: Mapping[str, Any] | None = None,
    q: str | Mapping[str, Any] | None = None,
    fields: Sequence[str] | None = None,
    sort: str | None = None,
    limit: int = 100,
    offset: int = 0,
    include_total: bool = True,
    distinct: bool = False,
    cursor: str | None = None,
    records_format: Literal["objects", "lists", "csv"] = "objects",
    timeout_s: float = 5.0,
) -> dict[str, Any]:
    """CKAN ``datastore_search``: equality filters, full-text q, fields, sort, offset or keyset paging."""
    if records_format not in ("objects", "lists", "csv"):
        raise _err(
            "invalid",
            "records_format 必须是 objects、lists 或 csv。",
            "records_format must be objects, lists or csv.",
            "records_format",
        )
    limit = _check_limit(limit, "limit", 0, CSV_LIMIT if records_format == "csv" else CKAN_LIMIT)
    offset = _check_limit(offset, "offset", 0, 2**62)
    types = table.column_types()
    names = _parse_fields(types, fields)
    order = _parse_sort(types, sort)
    conds, wparams = _where(types, filters, q)
    distinct = bool(distinct)

    keyset_dir: str | None = None
    after: int | None = None
    if cursor is not None:
        after, cdir = decode_cursor(cursor)
        if distinct:
            raise _err(
                "invalid_cursor",
                "distinct 查询不能使用游标分页。",
                "A cursor cannot be used with distinct.",
                "cursor",
            )
        if order and order != [("_id", cdir)]:
            raise _err(
                "invalid_cursor",
                "游标分页只能按 _id 排序。",
                "Cursor paging requires sorting by _id (in the cursor's direction).",
                "cursor",
            )
        if offset:
            raise _err(
                "invalid", "游标分页不能同时使用 offset。", "offset cannot be combined with cursor.", "offset"
            )
        keyset_dir = cdir
    elif not distinct and (not order or (len(order) == 1 and order[0][0] == "_id")):
        keyset_dir = order[0][1] if order else "asc"

    if distinct:
        for col, _ in order:
            if col not in names:
                raise _err(
                    "invalid_sort",
                    f"distinct 查询只能按所选列排序，{col} 不在 fields 中。",
                    f"With distinct, sort columns must be among fields; {col} is not.",
                    "sort",
                )
        order_sql = [f"{quote_ident(c)} {d.upper()} NULLS LAST" for c, d in order] or [
            f"{quote_ident(c)} ASC NULLS LAST" for c in names
        ]
    elif keyset_dir == "asc":
        # The file is stored in ascending _id order and DuckDB preserves insertion order for queries
        # without ORDER BY, so no sort is needed (and LIMIT stops the scan early).
        order_sql = []
    elif keyset_dir == "desc":
        order_sql = ['"_id" DESC']
    else:
        order_sql = [f"{quote_ident(c)} {d.upper()} NULLS LAST" for c, d in order]
        if all(c != "_id" for c, _ in order):
            order_sql.append('"_id" ASC')

    sel_names = list(names)
    hidden_id = keyset_dir is not None and "_id" not in names
    if hidden_id:
        sel_names.append("_id")
    page_conds = list(conds)
    page_params = list(wparams)
    if after is not None:
        page_conds.append('"_id" > ?' if keyset_dir == "asc" else '"_id" < ?')
        page_params.append(after)
    view = quote_ident(table.resource_id)
    select_list = _select_list(sel_names, types, mode="csv" if records_format == "csv" else "plain")
    sql = f"SELECT {'DISTINCT ' if distinct else ''}{select_list} FROM {view}"
    if page_conds:
        sql += " WHERE " + " AND ".join(page_conds)
    if order_sql:
        sql += " ORDER BY " + ", ".join(order_sql)
    sql += " LIMIT ? OFFSET ?"
    page_params += [limit, offset]

    # Two-phase plan for filtered pages: (1) the page's _ids, reading only the filter and sort
    # columns; (2) the selected columns of just those rows, where `_id BETWEEN min AND max` lets
    # the Parquet row-group statistics (the file is in _id order) skip nearly every row group.
    two_phase = bool(page_conds) and not distinct and 0 < limit <= TWO_PHASE_MAX_ROWS
    id_sql = f'SELECT "_id" FROM {view} WHERE ' + " AND ".join(page_conds)
    if order_sql:
        id_sql += " ORDER BY " + ", ".join(order_sql)
    id_sql += " LIMIT ? OFFSET ?"
    extra_id = two_phase and "_id" not in sel_names
    fetch_names = [*sel_names, "_id"] if extra_id else sel_names
    fetch_list = _select_list(fetch_names, types, mode="csv" if records_format == "csv" else "plain")
    id_pos = fetch_names.index("_id") if "_id" in fetch_names else -1

    total: int | None = None
    records: Any
    next_cursor: str | None = None
    with (
        _table_sandbox(table) as conn,
        _TimeLimit(conn, timeout_s, {_abspath(table.path): table.resource_id}),
    ):
        arrow: pa.Table | None = None
        rows: list[tuple[Any, ...]] = []
        if limit == 0:
            pass
        elif two_phase:
            ids = [int(r[0]) for r in conn.execute(id_sql, page_params).fetchall()]
            if ids:
                lo, hi = min(ids), max(ids)
                if hi - lo <= TWO_PHASE_MAX_SPAN:
                    # a few row groups: read just those, pick the rows by _id
                    fetch_sql = (
                        f'SELECT {fetch_list} FROM {view} WHERE "_id" BETWEEN ? AND ? '
                        f'AND "_id" IN ({", ".join("?" for _ in ids)})'
                    )
                    fetch_params: list[Any] = [lo, hi, *ids]
                else:
                    # scattered matches: the filtered scan (its filter skips most decoding) beats
                    # reading every row group the ids touch; the _id range still cuts the tail
                    fetch_sql = f"SELECT {fetch_list} FROM {view} WHERE " + " AND ".join(conds)
                    if keyset_dir is not None:
                        # in _id order the matches within [lo, hi] are exactly the page
                        fetch_sql += ' AND "_id" BETWEEN ? AND ?'
                        fetch_params = [*wparams, lo, hi]
                    else:
                        fetch_sql += f' AND "_id" IN ({", ".join("?" for _ in ids)})'
                        fetch_params = [*wparams, *ids]
                pos = {v: i for i, v in enumerate(ids)}
                if records_format == "csv":
                    got = conn.sql(fetch_sql, params=fetch_params).to_arrow_table()
                    order_idx = sorted(
                        range(got.num_rows), key=lambda k: pos[got.column(id_pos)[k].as_py()]
                    )
                    arrow = got.take(pa.array(order_idx, type=pa.int64()))
                    if extra_id:
                        arrow = arrow.remove_column(id_pos)
                else:
                    rows = conn.execute(fetch_sql, fetch_params).fetchall()
                    rows.sort(key=lambda r: pos[r[id_pos]])
                    if extra_id:
                        rows = [r[:id_pos] for r in rows]
            elif records_format == "csv":  # no rows: just the schema
                arrow = conn.sql(f"SELECT {fetch_list} FROM {view} WHERE FALSE").to_arrow_table()
                if extra_id:
                    arrow = arrow.remove_column(id_pos)
        elif records_format == "csv":
            arrow = conn.sql(sql, params=page_params).to_arrow_table()
        else:
            rows = conn.execute(sql, page_params).fetchall()
        if include_total:
            if not conds and not distinct:
                total = int(table.rows)
            elif not distinct and (indexed := _indexed_total(conn, table, types, filters, q)) is not None:
                total = indexed
            else:
                base = f"SELECT {'DISTINCT ' if distinct else ''}{_select_list(names, types)} FROM {view}"
                if conds:
                    base += " WHERE " + " AND ".join(conds)
                count_sql = (
                    f"SELECT count(*) FROM ({base})"
                    if distinct
                    else f"SELECT count(*) FROM {view}" + (" WHERE " + " AND ".join(conds) if conds else "")
                )
                got = conn.execute(count_sql, wparams).fetchone()
                total = int(got[0]) if got else 0

    n_rows = arrow.num_rows if arrow is not None else len(rows)
    if keyset_dir is not None and limit > 0 and n_rows == limit:
        if arrow is not None:
            last_id = arrow.column(len(sel_names) - 1 if hidden_id else names.index("_id"))[-1].as_py()
        else:
            last_id = rows[-1][-1] if hidden_id else rows[-1][names.index("_id")]
        next_cursor = encode_cursor(int(last_id), keyset_dir)

    if records_format == "csv":
        if arrow is None:
            records = ""
        else:
            if hidden_id:
                arrow = arrow.remove_column(arrow.num_columns - 1)
            records = _csv_text(arrow, header=False)
    else:
        cut = len(names)
        if records_format == "lists":
            records = [[_jsonable(v) for v in r[:cut]] for r in rows]
        else:
            records = [{n: _jsonable(v) for n, v in zip(names, r[:cut], strict=False)} for r in rows]

    return {
        "fields": _fields(names, types),
        "records": records,
        "total": total,
        "total_was_estimated": False,
        "limit": limit,
        "offset": offset,
        "next_cursor": next_cursor,
    }


# --------------------------------------------------------------------------- aggregate

_METRIC_FNS = ("count", "sum", "avg", "min", "max")


def aggregate(
    table: TableRef,
    *,
    group_by: Sequence[str],
    metrics: Sequence[tuple[str, str | None]] | None = None,
    filters: Mapping[str, Any] | None = None,
    q: str | Mapping[str, Any] | None = None,
    sort_by_value: bool = True,
    limit: int = 1000,
    timeout_s: float = 5.0,
) -> dict[str, Any]:
    """Group by 1 or 2 columns with count/sum/avg/min/max metrics. Metric names: ``count`` for
    ``count(*)``, otherwise ``<fn>_<column>``. Also returns ``truncated`` when more groups exist."""
    types = table.column_types()
    if isinstance(group_by, str):
        group_by = [group_by]
    if not isinstance(group_by, (list, tuple)) or not 1 <= len(group_by) <= 2:
        raise _err("invalid", "group_by 需要 1 或 2 个列。", "group_by needs 1 or 2 columns.", "group_by")
    groups = [_column(types, g, "group_by") for g in group_by]
    if len(set(groups)) != len(groups):
        raise _err("invalid", "group_by 的列不能重复。", "group_by columns must differ.", "group_by")
    limit = _check_limit(limit, "limit", 1, AGGREGATE_LIMIT)
    metric_list = list(metrics) if metrics is not None else [("count", None)]
    if not metric_list or len(metric_list) > 20:
        raise _err("invalid", "metrics 需要 1 到 20 项。", "metrics needs 1 to 20 items.", "metrics")
    exprs: list[str] = []
    out_names: list[str] = list(groups)
    out_types: dict[str, str] = {g: types[g] for g in groups}
    for item in metric_list:
        if not isinstance(item, (list, tuple)) or len(item) != 2:
            raise _err(
                "invalid", "metrics 的每一项应为 [函数, 列]。", "Each metric is [fn, column].", "metrics"
            )
        fn, col = item
        if not isinstance(fn, str) or fn.lower() not in _METRIC_FNS:
            raise _err(
                "invalid",
                f"不支持的统计函数：{fn!r}（可用 count/sum/avg/min/max）。",
                f"Unsupported metric function {fn!r} (use count/sum/avg/min/max).",
                "metrics",
            )
        fn = fn.lower()
        if col is None:
            if fn != "count":
                raise _err("invalid", f"{fn} 需要指定列。", f"{fn} needs a column.", "metrics")
            name, expr, typ = "count", "count(*)", "integer"
        else:
            col = _column(types, col, "metrics")
            ctype = types[col]
            if fn in ("sum", "avg") and ctype not in ("integer", "number"):
                raise _err(
                    "invalid",
                    f"{fn} 只能用于数值列，{col} 是 {ctype}。",
                    f"{fn} only works on numeric columns; {col} is {ctype}.",
                    "metrics",
                )
            name = f"{fn}_{col}"
            expr = f"{fn}({quote_ident(col)})"
            typ = {"count": "integer", "avg": "number", "sum": ctype}.get(fn, ctype)
        if name in out_names:
            raise _err("invalid", f"重复的统计项：{name}。", f"Duplicate metric {name}.", "metrics")
        out_names.append(name)
        out_types[name] = typ
        exprs.append(expr)
    conds, params = _where(types, filters, q)
    gsel = ", ".join(quote_ident(g) for g in groups)
    sql = f"SELECT {gsel}, {', '.join(exprs)} FROM {quote_ident(table.resource_id)}"
    if conds:
        sql += " WHERE " + " AND ".join(conds)
    sql += " GROUP BY " + ", ".join(str(i + 1) for i in range(len(groups)))
    gorder = ", ".join(f"{i + 1} ASC NULLS LAST" for i in range(len(groups)))
    sql += (
        f" ORDER BY {len(groups) + 1} DESC NULLS LAST, {gorder}" if sort_by_value else f" ORDER BY {gorder}"
    )
    sql += " LIMIT ?"
    params.append(limit + 1)
    with (
        _table_sandbox(table) as conn,
        _TimeLimit(conn, timeout_s, {_abspath(table.path): table.resource_id}),
    ):
        rows = conn.execute(sql, params).fetchall()
    truncated = len(rows) > limit
    return {
        "fields": [{"id": n, "type": out_types[n]} for n in out_names],
        "records": [{n: _jsonable(v) for n, v in zip(out_names, r, strict=False)} for r in rows[:limit]],
        "truncated": truncated,
    }


# --------------------------------------------------------------------------- column stats


def column_stats(table: TableRef, column: str, *, bins: int = 20, timeout_s: float = 5.0) -> dict[str, Any]:
    """Profile one column: rows, count (non-null), nulls, distinct (approximate), min, max, mean
    (numeric), top values (string/boolean: 10 most frequent) and an equal-width histogram
    (numeric/date/datetime: ``[lo, hi, count]``; half-open bins, the last one closed)."""
    types = table.column_types()
    col = _column(types, column, "column")
    bins = _check_limit(bins, "bins", 1, 200)
    typ = types[col]
    ident = quote_ident(col)
    view = quote_ident(table.resource_id)
    numeric = typ in ("integer", "number")
    out: dict[str, Any] = {"column": col, "type": typ}
    with (
        _table_sandbox(table) as conn,
        _TimeLimit(conn, timeout_s, {_abspath(table.path): table.resource_id}),
    ):
        mean = f", avg({ident})" if numeric else ", NULL"
        row = conn.execute(
            f"SELECT count(*), count({ident}), approx_count_distinct({ident}), min({ident}), max({ident}){mean} FROM {view}"
        ).fetchone()
        assert row is not None
        n_rows, n_values, n_distinct, lo, hi, avg = row
        out.update(
            rows=int(n_rows),
            count=int(n_values),
            nulls=int(n_rows) - int(n_values),
            distinct=int(n_distinct),
            min=_jsonable(lo),
            max=_jsonable(hi),
        )
        if numeric:
            out["mean"] = _jsonable(avg)
        if typ in ("string", "boolean"):
            top = conn.execute(
                f"SELECT {ident}, count(*) AS c FROM {view} WHERE {ident} IS NOT NULL "
                f"GROUP BY 1 ORDER BY c DESC, 1 ASC LIMIT 10"
            ).fetchall()
            out["top"] = [{"value": _jsonable(v), "count": int(c)} for v, c in top]
        if typ in ("integer", "number", "date", "datetime"):
            out["histogram"] = [] if lo is None else _histogram(conn, view, ident, typ, lo, hi, bins)
    return out


def _histogram(
    conn: duckdb.DuckDBPyConnection, view: str, ident: str, typ: str, lo: Any, hi: Any, bins: int
) -> list[list[Any]]:
    if typ == "date":
        span = (hi - lo).days
        width_days = max(1, math.ceil((span + 1) / bins))
        n = math.ceil((span + 1) / width_days)
        counts = dict(
            conn.execute(
                f"SELECT date_diff('day', CAST(? AS DATE), {ident}) // ? AS b, count(*) FROM {view} "
                f"WHERE {ident} IS NOT NULL GROUP BY 1",
                [lo, width_days],
            ).fetchall()
        )
        return [
            [
                (lo + dt.timedelta(days=i * width_days)).isoformat(),
                (lo + dt.timedelta(days=(i + 1) * width_days)).isoformat(),
                int(counts.get(i, 0)),
            ]
            for i in range(n)
        ]
    if typ == "datetime":
        x = f"epoch({ident})"
        flo = (lo - dt.datetime(1970, 1, 1)).total_seconds()
        fhi = (hi - dt.datetime(1970, 1, 1)).total_seconds()
    else:
        x = f"CAST({ident} AS DOUBLE)"
        flo, fhi = float(lo), float(hi)
    if not (math.isfinite(flo) and math.isfinite(fhi)):
        return []
    if fhi == flo:
        n_values = conn.execute(f"SELECT count({ident}) FROM {view}").fetchone()
        edges_same = _edge(flo, typ)
        return [[edges_same, edges_same, int(n_values[0]) if n_values else 0]]
    width = (fhi - flo) / bins
    counts = dict(
        conn.execute(
            f"SELECT least(CAST(floor(({x} - ?) / ?) AS BIGINT), ?) AS b, count(*) FROM {view} "
            f"WHERE {ident} IS NOT NULL GROUP BY 1",
            [flo, width, bins - 1],
        ).fetchall()
    )
    return [
        [
            _edge(flo + i * width, typ),
            _edge(fhi if i == bins - 1 else flo + (i + 1) * width, typ),
            int(counts.get(i, 0)),
        ]
        for i in range(bins)
    ]


def _edge(v: float, typ: str) -> Any:
    if typ == "datetime":
        return (dt.datetime(1970, 1, 1) + dt.timedelta(seconds=v)).isoformat()
    return v


# --------------------------------------------------------------------------- user SQL


def run_sql(
    sql: str,
    resolve: Callable[[str], TableRef | None],
    *,
    timeout_s: float = 5.0,
    row_cap: int = 10_000,
) -> dict[str, Any]:
    """CKAN ``datastore_search_sql``: guard first, then only the resolved tables, sandboxed, with a
    time limit and a row cap (``truncated`` says whether more rows existed)."""
    row_cap = _check_limit(row_cap, "row_cap", 1, CSV_LIMIT)
    checked: CheckedSql = check_sql(sql)
    views: dict[str, Path] = {}
    hide: dict[str, str] = {}
    for name in checked.tables:
        ref = resolve(name)
        if ref is None:
            raise _err(
                "not_found",
                f"数据表 {name} 不存在或无权访问。",
                f"The table {name} does not exist (or is not readable).",
                "sql",
            )
        views[name] = ref.path
        hide[_abspath(ref.path)] = name
    with sandbox(views) as conn, _TimeLimit(conn, timeout_s, hide):
        cur = conn.execute(checked.sql)
        desc = cur.description or []
        rows = cur.fetchmany(row_cap + 1)
    names = [d[0] for d in desc]
    truncated = len(rows) > row_cap
    return {
        "fields": [{"id": d[0], "type": _duck_type_name(d[1])} for d in desc],
        "records": [{n: _jsonable(v) for n, v in zip(names, r, strict=False)} for r in rows[:row_cap]],
        "truncated": truncated,
    }


# --------------------------------------------------------------------------- exports


class _Drain:
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
    sort: str | None = None,
    bom: bool = False,
    limit: int | None = None,
    batch_rows: int = 50_000,
    temp_dir: Path | None = None,
) -> Iterator[bytes]:
    """Stream the (filtered) table as ``fmt``. Arguments are validated now (QueryError raised by
    this call); the returned iterator reads record batches one at a time and yields bytes."""
    if fmt not in EXPORT_FORMATS:
        raise _err(
            "invalid",
            "导出格式必须是 csv、xlsx、json 或 parquet。",
            "fmt must be csv, xlsx, json or parquet.",
            "format",
        )
    types = table.column_types()
    names = _parse_fields(types, fields)
    order = _parse_sort(types, sort)
    conds, params = _where(types, filters, q)
    if limit is not None:
        limit = _check_limit(limit, "limit", 0, 2**62)
    batch_rows = _check_limit(batch_rows, "batch_rows", 1, 1_000_000)
    mode = fmt if fmt in ("csv", "json") else "plain"
    sql = f"SELECT {_select_list(names, types, mode=mode)} FROM {quote_ident(table.resource_id)}"
    if conds:
        sql += " WHERE " + " AND ".join(conds)
    if order and order != [("_id", "asc")]:
        sql += " ORDER BY " + ", ".join(f"{quote_ident(c)} {d.upper()} NULLS LAST" for c, d in order)
        if all(c != "_id" for c, _ in order):
            sql += ', "_id" ASC'
    # otherwise file order = ascending _id, kept by DuckDB's insertion-order preservation
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    if fmt == "json":
        # DuckDB renders each row as a JSON object (far faster than Python json.dumps per row)
        sql = f"SELECT to_json(_r) AS _j FROM ({sql}) AS _r"
    if fmt == "xlsx":
        if conds:
            with (
                _table_sandbox(table) as conn,
                _TimeLimit(conn, 30.0, {_abspath(table.path): table.resource_id}),
            ):
                got = conn.execute(
                    f"SELECT count(*) FROM {quote_ident(table.resource_id)} WHERE " + " AND ".join(conds),
                    params[: len(params) - (1 if limit is not None else 0)],
                ).fetchone()
                n = int(got[0]) if got else 0
        else:
            n = int(table.rows)
        if limit is not None:
            n = min(n, limit)
        if n > XLSX_MAX_ROWS:
            raise _err(
                "too_large",
                f"Excel 最多 {XLSX_MAX_ROWS} 行，本次导出有 {n} 行，请改用 CSV 或缩小范围。",
                f"Excel holds at most {XLSX_MAX_ROWS} rows; this export has {n}. Use CSV or filter.",
                "format",
            )
    return _export_iter(table, fmt, sql, params, names, bom, batch_rows, temp_dir)


def _export_iter(
    table: TableRef,
    fmt: str,
    sql: str,
    params: list[Any],
    names: list[str],
    bom: bool,
    batch_rows: int,
    temp_dir: Path | None,
) -> Iterator[bytes]:
    with _table_sandbox(table) as conn:
        try:
            reader = conn.sql(sql, params=params).to_arrow_reader(batch_rows)
        except duckdb.Error as e:
            raise _err("query_failed", "导出失败。", f"The export failed: {_first_line(e)}") from e
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
    sink = _Drain()
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
                    if (v[:1] in ("=", "+", "-", "@") or _XLSX_ILLEGAL.search(v) or len(v) > 32767)
                    else v
                )
            if isinstance(v, dt.datetime) and v.tzinfo is not None:
                return v.replace(tzinfo=None)
            if isinstance(v, float) and not math.isfinite(v):
                return None
            if isinstance(v, (dict, list)):
                return json.dumps(_jsonable(v), ensure_ascii=False)
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


def full_csv_path(table: TableRef, cache_dir: Path, *, threads: int = 2) -> Path:
    """The whole table as CSV (header, UTF-8, no BOM), written once per table version with DuckDB
    ``COPY`` and reused; older cached versions of the same resource are removed."""
    src = _abspath(table.path)
    try:
        st = os.stat(src)
    except OSError as e:
        raise _err("unavailable", "数据表文件不存在。", "The table file is missing.") from e
    key = hashlib.sha256(f"{src}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:16]
    safe_rid = re.sub(r"[^A-Za-z0-9_-]", "_", table.resource_id)[:80] or "table"
    cache_dir = Path(cache_dir)
    target = cache_dir / f"{safe_rid}-{key}.csv"
    if target.is_file():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache_dir / f".{safe_rid}-{key}.{uuid.uuid4().hex}.tmp"
    types = table.column_types()
    cols = ", ".join(quote_ident(n) for n in types)
    conn = duckdb.connect(":memory:")
    try:
        conn.execute(f"SET threads={int(threads)}")
        conn.execute("SET memory_limit='1GB'")
        conn.execute("SET python_enable_replacements=false")
        conn.execute(
            f"COPY (SELECT {cols} FROM read_parquet({_sql_literal(src)})) TO {_sql_literal(str(tmp))} "
            "(FORMAT csv, HEADER true)"
        )
        os.replace(tmp, target)
    except duckdb.Error as e:
        raise _err("query_failed", "生成 CSV 失败。", f"Writing the CSV failed: {_first_line(e)}") from e
    finally:
        conn.close()
        with contextlib.suppress(OSError):
            tmp.unlink()
    for old in cache_dir.glob(f"{safe_rid}-*.csv"):
        if old != target and re.fullmatch(re.escape(safe_rid) + r"-[0-9a-f]{16}\.csv", old.name):
            with contextlib.suppress(OSError):
                old.unlink()
    return target
