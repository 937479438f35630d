"""The shared engine of every datastore query: the table reference, the sandboxed DuckDB connections
and the limits they run under.

Every query runs on an in-memory DuckDB database (``sandbox``) configured from ``Limits``: its thread
count, ``memory_limit``, a private spill directory capped by ``max_temp_directory_size`` (or no spilling),
a view per readable table, then ``allowed_paths`` = those files, external access off, Python replacement
scans off, extension autoload off and the configuration locked. Around the connection: a slot among the
machine's concurrent queries (``query_slot``), an interrupt at the deadline (``TimeLimit``) and a cap on
the bytes of the answer, counted while the rows stream out of DuckDB (``fetch_capped``).
"""

from __future__ import annotations

import base64
import collections
import contextlib
import datetime as dt
import decimal
import fcntl
import hashlib
import heapq
import itertools
import math
import os
import random
import re
import shutil
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from ..sqlguard import QueryError

TYPE_NAMES = ("integer", "number", "boolean", "date", "datetime", "string")


@dataclass(frozen=True)
class Limits:
    """What one query may use. The actions build it from the settings; these defaults suit tests and
    scripts (no spilling to disk, no cap on concurrent queries)."""

    #: deadline of a search, aggregate, statistics or SQL query (the connection is interrupted)
    timeout_s: float = 5.0
    #: DuckDB ``memory_limit`` of one query's database
    memory_limit: str = "1GB"
    #: DuckDB ``threads`` of one query's database
    threads: int = 2
    #: most bytes of values one answer may hold, counted while the rows stream in
    max_result_bytes: int = 32 << 20
    #: where DuckDB may spill (each database gets its own subdirectory); None: no spilling
    temp_dir: Path | None = None
    #: DuckDB ``max_temp_directory_size`` of one database
    max_temp_bytes: int = 1 << 30
    #: DuckDB working time of one streamed export (waiting for the client does not count)
    export_timeout_s: float = 300.0
    #: queries that may run at once (0: no cap); shared by every process using ``slots_dir``
    slots: int = 0
    slots_dir: Path | None = None
    #: how long a query waits for a free slot before it is refused as busy
    queue_wait_s: float = 2.0
    #: a user-SQL worker process may use ``memory_limit`` plus this much memory in all (the OS enforces it)
    process_overhead_bytes: int = 256 << 20

    def with_timeout(self, timeout_s: float | None) -> Limits:
        return self if timeout_s is None else replace(self, timeout_s=timeout_s)

    def connection_key(self) -> tuple[Any, ...]:
        """What a cached database was configured with (a different configuration gets another database)."""
        return (self.memory_limit, self.threads, str(self.temp_dir), self.max_temp_bytes)

    def process_memory_bytes(self) -> int:
        return parse_bytes(self.memory_limit) + self.process_overhead_bytes


DEFAULT_LIMITS = Limits()

_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12, "kib": 1 << 10, "mib": 1 << 20,
          "gib": 1 << 30, "tib": 1 << 40}  # fmt: skip


def parse_bytes(text: str) -> int:
    """``"1GB"`` → 1,000,000,000 (DuckDB's units: KB/MB/GB are powers of 1000, KiB/MiB/GiB of 1024)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)?\s*", str(text), re.IGNORECASE)
    if not m:
        raise ValueError(f"not a memory size: {text!r}")
    return int(float(m.group(1)) * _UNITS[(m.group(2) or "").lower()])


#: the prefix of the views grant-scoped queries read instead of the table (see ``GrantScope``)
SCOPED_VIEW = "__granted"


@dataclass(frozen=True)
class GrantScope:
    """What a grant lets its holder read of one table: the granted ``columns`` (``_id`` always) and the rows
    that pass ``where_sql`` (conditions with literal values, built by ``query.grants.scoped``). ``hidden``: the
    table's other columns, named in the error when a query asks for one. ``masks``: column → condition (literal
    values) under which a row's value of that column is shown; elsewhere the view holds NULL for it (several grants
    combined, ``query.grants.scoped_union``: a cell is shown only in the rows of a grant that covers its column)."""

    columns: tuple[str, ...]
    where_sql: str = ""
    hidden: frozenset[str] = frozenset()
    masks: tuple[tuple[str, str], ...] = ()

    def select_sql(self, source: str) -> str:
        masks = dict(self.masks)
        cols = ", ".join(
            f"CASE WHEN ({masks[c]}) THEN {quote_ident(c)} END AS {quote_ident(c)}" if c in masks else quote_ident(c)
            for c in ("_id", *self.columns)
        )
        return f"SELECT {cols} FROM {source}" + (f" WHERE {self.where_sql}" if self.where_sql else "")

    def key(self) -> str:
        """Identifies the scope for caches of derived values (value counts of the scoped rows)."""
        if self.masks:
            return repr((self.columns, self.where_sql, self.masks))
        return repr((self.columns, self.where_sql))

    @property
    def view_name(self) -> str:
        """The name of this scope's view in a table's cached database (one per distinct scope)."""
        return f"{SCOPED_VIEW}_{hashlib.sha256(self.key().encode()).hexdigest()[:24]}"


class ColumnTypes(dict[str, str]):
    """Column name → type of what a query may read; ``hidden`` are columns outside the caller's grant."""

    hidden: frozenset[str] = frozenset()


@dataclass
class TableRef:
    """One readable table version. ``columns`` are (name, type) in file order; ``_id`` may be omitted.

    With a ``scope`` (a grant), ``columns`` are the granted ones and every query reads the scope's view (the
    granted columns of the granted rows, made by ``table_sandbox``) instead of the table; ``rows`` is then not the
    number of rows the holder may read."""

    resource_id: str
    path: Path
    rows: int
    columns: list[tuple[str, str]] = field(default_factory=list)
    scope: GrantScope | None = None
    #: a provisional table (queryable first, see docs/datastore.md): the select-list that types the untyped copy
    #: at ``path`` (generated by the ingest, never user input); "" for a typed table
    select: str = ""

    @property
    def provisional(self) -> bool:
        return bool(self.select)

    def source_sql(self) -> str:
        """The FROM source of this table's rows: the file, or the typed view over the untyped copy."""
        return source_sql(abspath(self.path), self.select)

    @property
    def view(self) -> str:
        """The name queries read: the table's view, or the connection's scoped view."""
        return self.resource_id if self.scope is None else self.scope.view_name

    def column_types(self) -> dict[str, str]:
        out = ColumnTypes({"_id": "integer"})
        for name, typ in self.columns:
            out[name] = typ
        if self.scope is not None:
            out.hidden = self.scope.hidden
        return out


#: (path, size, mtime) → (rows, columns) of files read by ``file_table``
_file_tables: dict[tuple[str, int, int], tuple[int, list[tuple[str, str]]]] = {}


def file_table(resource_id: str, path: Path) -> TableRef:
    """A ``TableRef`` of a Parquet file that is not a datastore version (a released de-identified view, read in
    place of the live table by a grant's holder): rows and column types from the file itself, cached per
    path, size and mtime. A missing or unreadable file is "unavailable", never the live table."""
    p = abspath(path)
    try:
        st = os.stat(p)
    except OSError:
        raise err("unavailable", f"数据表 {resource_id} 当前不可用。",
                  f"The table {resource_id} is not available right now.") from None
    key = (p, st.st_size, st.st_mtime_ns)
    known = _file_tables.get(key)
    if known is None:
        conn = duckdb.connect(":memory:")
        try:
            described = conn.execute(f"DESCRIBE SELECT * FROM read_parquet({sql_literal(p)})").fetchall()
            counted = conn.execute(f"SELECT count(*) FROM read_parquet({sql_literal(p)})").fetchone()
        except duckdb.Error:
            raise err("unavailable", f"数据表 {resource_id} 当前不可用。",
                      f"The table {resource_id} is not available right now.") from None
        finally:
            conn.close()
        columns = [(str(r[0]), duck_type_name(r[1])) for r in described if r[0] != "_id"]
        known = (int(counted[0]) if counted else 0, columns)
        if len(_file_tables) > 256:
            _file_tables.clear()
        _file_tables[key] = known
    return TableRef(resource_id=resource_id, path=Path(p), rows=known[0], columns=list(known[1]))


# --------------------------------------------------------------------------- helpers


#: what a typed table's view reads of its file (the one-pass ingest leaves hidden ``__side_N`` columns)
VISIBLE_COLUMNS = "COLUMNS(lambda c: NOT starts_with(c, '__side_'))"


def source_sql(path: str, select: str = "") -> str:
    """``read_parquet(path)``, or with ``select`` (a provisional table) the typed view of the untyped copy."""
    src = f"read_parquet({sql_literal(path)})"
    return f"(SELECT {select} FROM {src})" if select else src


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
        exponent = v.as_tuple().exponent
        if isinstance(exponent, int) and exponent >= 0:  # an integer (e.g. DuckDB's HUGEINT sum via Arrow)
            return int(v)
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

_temp_counter = itertools.count(1)
_swept: set[str] = set()
_swept_lock = threading.Lock()


def _sweep_temp(root: Path) -> None:
    """Remove spill directories left by processes that no longer run (once per root and process)."""
    key = str(root)
    with _swept_lock:
        if key in _swept:
            return
        _swept.add(key)
    with contextlib.suppress(OSError):
        for d in root.iterdir():
            m = re.fullmatch(r"q-(\d+)-\d+", d.name)
            if m and int(m.group(1)) != os.getpid() and not _alive(int(m.group(1))):
                shutil.rmtree(d, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def configure(conn: duckdb.DuckDBPyConnection, limits: Limits) -> None:
    """Threads, memory limit and spill directory of a new database (before its configuration is locked)."""
    conn.execute(f"SET threads={int(limits.threads)}")
    conn.execute(f"SET memory_limit={sql_literal(limits.memory_limit)}")
    if limits.temp_dir is None:
        conn.execute("SET temp_directory=''")  # nothing spills: a query past memory_limit fails cleanly
    else:
        root = Path(limits.temp_dir)
        root.mkdir(parents=True, exist_ok=True)
        _sweep_temp(root)
        # a directory of its own (DuckDB creates it on the first spill and removes it when the database closes)
        own = root / f"q-{os.getpid()}-{next(_temp_counter)}"
        conn.execute(f"SET temp_directory={sql_literal(abspath(own))}")
        conn.execute(f"SET max_temp_directory_size='{int(limits.max_temp_bytes)}B'")


def open_sandbox(
    views: Mapping[str, Path | str],
    limits: Limits = DEFAULT_LIMITS,
    *,
    metadata_cache: bool = False,
    scopes: Mapping[str, GrantScope] | None = None,
    selects: Mapping[str, str] | None = None,
) -> duckdb.DuckDBPyConnection:
    """A new locked in-memory DuckDB database that can read exactly ``views`` (see ``sandbox``). A view named
    in ``scopes`` holds only the granted columns and rows: nothing else of that file is readable. A view named in
    ``selects`` is a provisional table: that select-list types the untyped copy (the scope applies over it)."""
    conn = duckdb.connect(":memory:")
    try:
        configure(conn, limits)
        if any((selects or {}).values()):
            # a provisional table's select-list holds IN lists (the null markers of every text column), which DuckDB's
            # in_clause optimizer rewrites on every query: a value count over 10M rows took 1.3 s with it, 0.04 s
            # without (the benchmark file's provisional view, one thread)
            conn.execute("SET disabled_optimizers = 'in_clause'")
        conn.execute("SET python_enable_replacements=false")
        conn.execute("SET autoinstall_known_extensions=false")
        conn.execute("SET autoload_known_extensions=false")
        if metadata_cache:
            conn.execute("SET parquet_metadata_cache=true")
        paths: list[str] = []
        for name, path in views.items():
            p = abspath(path)
            granted = (scopes or {}).get(name)
            select = (selects or {}).get(name, "")
            try:
                if granted is not None:
                    conn.execute(f"CREATE VIEW {quote_ident(name)} AS " + granted.select_sql(source_sql(p, select)))
                else:
                    conn.execute(
                        # the one-pass ingest leaves hidden side columns (``__side_N``) in the file
                        f"CREATE VIEW {quote_ident(name)} AS SELECT {select or VISIBLE_COLUMNS} "
                        f"FROM read_parquet({sql_literal(p)})"
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
    views: Mapping[str, Path | str],
    limits: Limits = DEFAULT_LIMITS,
    scopes: Mapping[str, GrantScope] | None = None,
    selects: Mapping[str, str] | None = None,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB connection that can read exactly ``views`` (name → Parquet path).

    Order matters and was checked against DuckDB 2.0: the views are created while file access is
    still on, then ``allowed_paths`` lists their files, ``enable_external_access=false`` shuts off
    every other file, extension and URL, and ``lock_configuration`` stops any later SET.
    """
    conn = open_sandbox(views, limits, scopes=scopes, selects=selects)
    try:
        yield conn
    finally:
        conn.close()


#: one-table sandboxes kept open (LRU): opening a DuckDB database costs 20-60 ms, more than a
#: selective search; each query gets its own connection (cursor) to the shared, locked database
TABLE_SANDBOX_CACHE = 16
_sandbox_cache: collections.OrderedDict[tuple[Any, ...], duckdb.DuckDBPyConnection] = (
    collections.OrderedDict()
)
_sandbox_lock = threading.Lock()
#: the scope views made in each cached database (cache key → (database, view names))
_scoped_views: dict[tuple[Any, ...], tuple[duckdb.DuckDBPyConnection, set[str]]] = {}


#: a grant's scope of a table of at most this many cells (the table's rows × the granted columns, a bound on the
#: scope's size) is copied once into the cached database as an in-memory table, not a view over the file: a page
#: of rows then reads DuckDB's own storage a vector at a time (~1 ms of CPU for a filtered 100-row page of a
#: 1M-row table) instead of decoding the Parquet row groups it touches (~2 ms). Up to a few tens of MB per scope.
SCOPE_TABLE_MAX_CELLS = 4_000_000
#: ... and all the copies one process holds (every cached database) at most this many cells (a few hundred MB)
SCOPE_TABLES_MAX_CELLS = 24_000_000
#: cells copied into each cached database (cache key → cells), dropped with the database
_copied_cells: dict[tuple[Any, ...], int] = {}
_scope_locks: dict[tuple[Any, ...], threading.Lock] = {}


def _copied_cells_total() -> int:
    with _sandbox_lock:
        return sum(_copied_cells.values())


def _make_scope(conn: duckdb.DuckDBPyConnection, scope: GrantScope, source: str, rows: int, copied: int) -> int:
    """The scope's relation in a cached database: an in-memory copy of the granted rows and columns when it is
    small enough (``SCOPE_TABLE_MAX_CELLS``, counted when the whole table is not already under it) and the copies
    this process holds (``copied`` cells) stay within ``SCOPE_TABLES_MAX_CELLS``; else a view. The cells copied."""
    name, select = quote_ident(scope.view_name), scope.select_sql(source)
    cells = rows * (len(scope.columns) + 1)
    if cells > SCOPE_TABLE_MAX_CELLS:
        got = first(conn.execute(f"SELECT count(*) FROM ({select})").fetchall())
        cells = (int(got[0]) if got else rows) * (len(scope.columns) + 1)
    if cells <= SCOPE_TABLE_MAX_CELLS and copied + cells <= SCOPE_TABLES_MAX_CELLS:
        try:
            conn.execute(f"CREATE TABLE IF NOT EXISTS {name} AS {select}")
            return cells
        except duckdb.Error:  # e.g. past the database's memory limit: the view reads the file instead
            conn.execute(f"DROP TABLE IF EXISTS {name}")
    conn.execute(f"CREATE VIEW IF NOT EXISTS {name} AS {select}")
    return 0


def _scope_lock(key: tuple[Any, ...], name: str) -> threading.Lock:
    with _sandbox_lock:
        if len(_scope_locks) > 4 * TABLE_SANDBOX_CACHE * 16:
            _scope_locks.clear()
        return _scope_locks.setdefault((*key, name), threading.Lock())


def timeout_error(timeout_s: float) -> QueryError:
    return err(
        "timeout",
        f"查询超时（超过 {timeout_s:g} 秒），请缩小查询范围。",
        f"The query took longer than {timeout_s:g} s and was stopped; narrow it down.",
    )


def memory_error(disk: bool = False) -> QueryError:
    if disk:
        return err(
            "too_large",
            "查询所需内存和临时磁盘空间超出限制，请缩小查询范围。",
            "The query needs more memory and temporary disk space than allowed; narrow it down.",
        )
    return err(
        "too_large",
        "查询所需内存（计算或结果）超出限制，请缩小查询范围。",
        "The query needs more memory than allowed (for its work or its answer); narrow it down.",
    )


def size_text(n: int) -> str:
    """``33554432`` → ``"32 MB"`` (binary units, as the settings give them)."""
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= size:
            return f"{round(n / size, 2):g} {unit}"
    return f"{n} B"


def result_too_large(max_bytes: int) -> QueryError:
    cap = size_text(max_bytes)
    return err(
        "too_large",
        f"查询结果超过 {cap} 的上限，已停止；请减少行数或列数，或改用下载。",
        f"The answer would exceed the {cap} limit and was stopped; ask for fewer rows or columns, "
        "or use the download.",
    )


class _Watchdog:
    """One daemon thread that interrupts the connections of every ``TimeLimit`` past its deadline (a heap of
    deadlines). Starting a ``threading.Timer`` per query cost a thread start per search (~0.1-0.3 ms of CPU and a
    wait for the new thread), a large part of a selective search."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, TimeLimit]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def add(self, limit: TimeLimit, at: float) -> None:
        with self._cond:
            if self._thread is None or not self._thread.is_alive() or self._pid != os.getpid():
                # first use, or a forked child (the parent's thread does not exist in it)
                self._heap = [e for e in self._heap if not e[2].done]
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="datastore-timeouts", daemon=True)
                self._thread.start()
            elif len(self._heap) > 1024:  # finished limits wait in the heap until their deadline: prune
                self._heap = [e for e in self._heap if not e[2].done]
                heapq.heapify(self._heap)
            heapq.heappush(self._heap, (at, next(self._seq), limit))
            if self._heap[0][2] is limit:
                self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._heap and self._heap[0][2].done:  # finished in time: drop
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                at, _, limit = self._heap[0]
                wait = at - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)
            if limit._fire():  # still running: interrupt again in 10 ms (an interrupt between statements is lost)
                with self._cond:
                    heapq.heappush(self._heap, (time.monotonic() + 0.01, next(self._seq), limit))


    def reset(self) -> None:
        """In a forked child: no thread, no deadlines of the parent, fresh locks (the parent's may be held)."""
        self._cond = threading.Condition()
        self._heap = []
        self._thread = None
        self._pid = 0


_watchdog = _Watchdog()
os.register_at_fork(after_in_child=_watchdog.reset)


class TimeLimit:
    """Interrupt ``conn`` after ``timeout_s``; map the interrupt (and other DuckDB errors) to QueryError."""

    def __init__(
        self,
        conn: duckdb.DuckDBPyConnection,
        timeout_s: float,
        hide: Mapping[str, str] | None = None,
        *,
        shown_s: float | None = None,
    ):
        if not isinstance(timeout_s, (int, float)) or isinstance(timeout_s, bool) or not timeout_s > 0:
            raise err("invalid", "超时时间必须为正数。", "timeout_s must be a positive number.", "timeout_s")
        self.conn: duckdb.DuckDBPyConnection | None = conn
        self.timeout_s = float(timeout_s)
        self.shown_s = (
            float(shown_s) if shown_s is not None else self.timeout_s
        )  # the limit the message names
        self.fired = threading.Event()
        self.hide = dict(hide or {})
        self.done = False
        self._lock = threading.Lock()

    def _fire(self) -> bool:
        """Interrupt (the watchdog keeps calling this every 10 ms until the block ends: an interrupt that lands
        between two statements is lost, and the next statement must not run unbounded). False once done."""
        with self._lock:
            if self.done:
                return False
            self.fired.set()
            if self.conn is not None:
                with contextlib.suppress(Exception):
                    self.conn.interrupt()
            return True

    def __enter__(self) -> TimeLimit:
        _watchdog.add(self, time.monotonic() + self.timeout_s)
        return self

    def _clean(self, text: str) -> str:
        for secret, shown in self.hide.items():
            text = text.replace(secret, shown)
        return text

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        with self._lock:
            self.done = True
            self.conn = None  # the watchdog's heap keeps this object until its deadline, not the connection
        if exc is None or isinstance(exc, QueryError):
            return
        raise self.translate(exc) from exc

    def translate(self, exc: BaseException) -> QueryError:
        """The QueryError for an exception raised while this limit was armed."""
        if isinstance(exc, duckdb.InterruptException) or (
            isinstance(exc, (duckdb.Error, pa.ArrowException)) and self.fired.is_set()
        ):
            return timeout_error(self.shown_s)
        if isinstance(exc, duckdb.PermissionException):
            return err(
                "forbidden",
                "查询不得访问其他文件或外部资源。",
                "The query may not access other files or external resources: " + self._clean(first_line(exc)),
                "sql",
            )
        if isinstance(exc, (duckdb.OutOfMemoryException, MemoryError, pa.ArrowMemoryError)):
            return memory_error(disk="max_temp_directory_size" in str(exc))
        if isinstance(exc, (duckdb.Error, pa.ArrowException)):
            msg = self._clean(first_line(exc))
            return err("query_failed", f"查询失败：{msg}", f"The query failed: {msg}", "sql")
        raise exc


@contextlib.contextmanager
def table_sandbox(table: TableRef, limits: Limits = DEFAULT_LIMITS) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the cached sandbox of ``table`` (keyed by id, path, size, mtime and the limits'
    connection settings, so a replaced file gets a fresh database). Same settings and lock as
    ``sandbox``; the Parquet footer is cached across queries.

    A grant-scoped ``table`` reads the view of its granted columns and rows (``GrantScope.view_name``), made in
    the cached database the first time that scope is queried and kept with it: a view holds a definition, not a
    decision, so whether the caller may use the grant is still decided on every request before any query (the
    sharing layer), and only our own generated SQL runs on these databases (user SQL runs in a worker's fresh
    sandbox that holds the scoped view alone). Every query of a scoped table names that view (``TableRef.view``).
    """
    path = abspath(table.path)
    try:
        st = os.stat(path)
    except OSError:
        with sandbox({table.resource_id: table.path}, limits) as conn:  # raises "unavailable"
            yield conn
        return
    key = (table.resource_id, path, st.st_size, st.st_mtime_ns, table.select, limits.connection_key())
    with _sandbox_lock:
        base = _sandbox_cache.get(key)
        if base is not None:
            _sandbox_cache.move_to_end(key)
    if base is None:
        base = open_sandbox(
            {table.resource_id: path}, limits, metadata_cache=True, selects={table.resource_id: table.select}
        )
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
                evicted, _ = _sandbox_cache.popitem(last=False)
                _scoped_views.pop(evicted, None)
                _copied_cells.pop(evicted, None)
    conn = base.cursor()
    try:
        if table.scope is not None:
            name = table.scope.view_name
            with _sandbox_lock:
                made = _scoped_views.get(key)
                if made is None or made[0] is not base:
                    made = _scoped_views[key] = (base, set())
                ready = name in made[1]
            if not ready:
                with _scope_lock(key, name):  # one thread makes it; the others wait for it, then use it
                    with _sandbox_lock:
                        ready = name in made[1]
                    if not ready:
                        copied = _make_scope(conn, table.scope, quote_ident(table.resource_id), table.rows,
                                             _copied_cells_total())
                        with _sandbox_lock:
                            made[1].add(name)
                            _copied_cells[key] = _copied_cells.get(key, 0) + copied
        yield conn
    finally:
        conn.close()


# --------------------------------------------------------------------------- concurrent queries


def busy_error() -> QueryError:
    return err(
        "busy",
        "数据查询繁忙（同时运行的查询已达上限），请稍后重试。",
        "The datastore is busy (the most queries that may run at once are running); retry in a moment.",
    )


#: a query waiting for a slot that other processes hold tries again after this long, doubling up to
#: ``SLOT_POLL_MAX_S`` (each pause shortened by a random part, so waiters do not try in step). ``flock`` keeps no
#: queue (it is tried without blocking, to honour the wait limit), so a waiter that had backed off far (up to 50 ms
#: before) lost races to queries that had just arrived, and held its process's local slot while it slept. (Not the
#: main cause of the search's latency tail, BENCHMARKS.md; a few hundred tries a second cost ~1% of a core.)
SLOT_POLL_S = 0.0005
SLOT_POLL_MAX_S = 0.004


class _Slots:
    """``n`` slots shared by the threads of this process (a semaphore) and, with a directory, by every
    process on the machine (``n`` lock files; ``flock`` locks are released by the kernel when a process
    dies, so a crash never leaks a slot)."""

    def __init__(self, n: int, directory: Path | None) -> None:
        self.n = n
        self.directory = directory
        self.local = threading.BoundedSemaphore(n)
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)

    def _try_lock(self) -> int | None:
        assert self.directory is not None
        for i in random.sample(range(self.n), self.n):
            fd = os.open(self.directory / f"slot-{i}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            return fd
        return None

    @contextlib.contextmanager
    def hold(self, wait_s: float) -> Iterator[None]:
        deadline = time.monotonic() + max(0.0, wait_s)
        if not self.local.acquire(timeout=max(0.0, wait_s)):
            raise busy_error()
        fd: int | None = None
        try:
            if self.directory is not None:
                pause = SLOT_POLL_S
                while (fd := self._try_lock()) is None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise busy_error()
                    time.sleep(min(pause * random.uniform(0.5, 1.0), left))  # noqa: S311 (jitter)
                    pause = min(pause * 2, SLOT_POLL_MAX_S)
            yield
        finally:
            if fd is not None:
                os.close(fd)  # releases the lock
            self.local.release()


_slot_pools: dict[tuple[int, str], _Slots] = {}
_slot_pools_lock = threading.Lock()


@contextlib.contextmanager
def query_slot(limits: Limits, wait_s: float | None = None) -> Iterator[None]:
    """Hold one of the ``limits.slots`` query slots while the block runs; wait at most ``wait_s``
    (default ``limits.queue_wait_s``) for one, then refuse with ``busy``."""
    if limits.slots <= 0:
        yield
        return
    key = (int(limits.slots), str(limits.slots_dir))
    with _slot_pools_lock:
        pool = _slot_pools.get(key)
        if pool is None:
            pool = _slot_pools[key] = _Slots(int(limits.slots), limits.slots_dir)
    with pool.hold(limits.queue_wait_s if wait_s is None else wait_s):
        yield


# --------------------------------------------------------------------------- answers


def first(rows: list[tuple[Any, ...]]) -> tuple[Any, ...] | None:
    """The first row of a fully fetched result (DuckDB 2.0 refuses new work on a connection whose last
    result was not read to the end, so single rows are taken with ``fetchall``)."""
    return rows[0] if rows else None


def fetch_rows_capped(
    conn: duckdb.DuckDBPyConnection,
    sql: str,
    params: Sequence[Any] | None,
    max_bytes: int,
    text_columns: Sequence[int] | None = None,
    *,
    batch_rows: int = 2048,
) -> list[tuple[Any, ...]]:
    """Run ``sql`` and fetch its rows a vector at a time (DuckDB streams the result), counting their bytes as
    they arrive: the length of each text value (``text_columns``: the positions that can hold text; None:
    look at every value) and 8 for any other value. Past ``max_bytes`` stop and raise ``too_large``."""
    cur = conn.execute(sql, list(params) if params else [])
    out: list[tuple[Any, ...]] = []
    size = 0
    while batch := cur.fetchmany(batch_rows):
        if text_columns is None:
            size += sum(len(v) if isinstance(v, (str, bytes)) else 8 for row in batch for v in row)
        else:
            size += 8 * len(batch) * len(batch[0])
            for i in text_columns:
                size += sum(len(row[i]) for row in batch if isinstance(row[i], (str, bytes)))
        if size > max_bytes:
            raise result_too_large(max_bytes)
        out.extend(batch)
    return out


def fetch_capped(
    conn: duckdb.DuckDBPyConnection,
    sql: str,
    params: Sequence[Any] | None,
    max_bytes: int,
    *,
    max_rows: int | None = None,
    batch_rows: int = 2048,
) -> pa.Table:
    """Run ``sql`` and read its answer as Arrow record batches, counting the bytes of the values as they
    arrive; past ``max_bytes`` stop and raise ``too_large`` (nothing larger is ever assembled). With
    ``max_rows``, stop reading after that many rows."""
    reader = conn.sql(sql, params=list(params) if params else None).to_arrow_reader(batch_rows)
    batches: list[pa.RecordBatch] = []
    size = rows = 0
    for batch in reader:
        size += batch.nbytes
        if size > max_bytes:
            raise result_too_large(max_bytes)
        batches.append(batch)
        rows += batch.num_rows
        if max_rows is not None and rows >= max_rows:
            break
    tbl = pa.Table.from_batches(batches, schema=reader.schema)
    return tbl if max_rows is None else tbl.slice(0, max_rows)


def check_limit(value: Any, name: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise err("invalid", f"{name} 必须是整数。", f"{name} must be an integer.", name)
    if value < lo or value > hi:
        raise err(
            "invalid", f"{name} 必须在 {lo} 到 {hi} 之间。", f"{name} must be between {lo} and {hi}.", name
        )
    return value
