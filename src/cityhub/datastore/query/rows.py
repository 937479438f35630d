"""Row search (CKAN ``datastore_search``): filters, full-text q, fields, sort, offset or keyset-cursor
paging and exact totals (from the value-count index where it applies)."""

from __future__ import annotations

import base64
import binascii
import collections
import contextlib
import csv
import io
import os
import re
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import duckdb
import pyarrow as pa

from .engine import (
    DEFAULT_LIMITS,
    Limits,
    QueryError,
    TableRef,
    TimeLimit,
    abspath,
    check_limit,
    err,
    fetch_capped,
    fetch_rows_capped,
    first,
    jsonable,
    query_slot,
    quote_ident,
    table_sandbox,
    timeout_error,
)
from .params import (
    HITS_VIEW,
    SortKey,
    check_column,
    coerce_value,
    parse_fields,
    parse_sort,
    result_fields,
    select_list,
    text_plan,
    where,
)

RECORDS_FORMATS = ("objects", "lists", "csv", "tsv")
CKAN_LIMIT = 32_000
CSV_LIMIT = 1_000_000
#: filtered search pages up to this many rows use the two-phase plan (ids first, then their rows)
TWO_PHASE_MAX_ROWS = 1_000
#: ... and fetch their rows by `_id` range when the ids lie within this many rows (~2 row groups)
TWO_PHASE_MAX_SPAN = 250_000
#: ... but a first page in file order (no sort, no offset) of at most this many columns is read in one pass
ONE_PHASE_MAX_COLUMNS = 16
#: Exact totals for equality filters on one column come from a value-count index (one GROUP BY per
#: table version and column, built on first use and kept in memory); columns with more distinct values
#: than this, judged on a sample first, are counted by a scan as before.
COUNT_INDEX_MAX_GROUPS = 20_000
COUNT_INDEX_TYPES = ("string", "integer", "date", "boolean")
COUNT_INDEX_CACHE = 64
#: column types whose values DuckDB returns as JSON values already (int, str, bool, None): no per-cell conversion
AS_IS_TYPES = frozenset({"integer", "string", "boolean"})


def encode_cursor(last_id: int, direction: str = "asc") -> str:
    raw = f"v1:{'a' if direction == 'asc' else 'd'}:{int(last_id)}".encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    def bad() -> QueryError:
        return err("invalid_cursor", "分页游标无效。", "The paging cursor is not valid.", "cursor")

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


def _csv_text(tbl: pa.Table, header: bool, delimiter: str = ",") -> str:
    """CSV (or TSV) text of ``tbl``, values quoted only where needed, as PostgreSQL's ``COPY … csv`` writes them
    (CKAN postgres.py search_data); NULL is empty, booleans are t/f as PostgreSQL writes them."""
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delimiter, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    if header:
        w.writerow(tbl.column_names)
    cols = [tbl.column(i).to_pylist() for i in range(tbl.num_columns)]
    for row in zip(*cols, strict=True):
        w.writerow(["" if v is None else ("t" if v else "f") if isinstance(v, bool) else v for v in row])
    return buf.getvalue()


_count_index: collections.OrderedDict[tuple[Any, ...], dict[Any, int] | None] = collections.OrderedDict()
_count_index_lock = threading.Lock()


def _index_key(table: TableRef, column: str) -> tuple[Any, ...] | None:
    try:
        st = os.stat(abspath(table.path))
    except OSError:
        return None
    # a grant-scoped table counts only its granted rows: a value count per scope
    return (abspath(table.path), st.st_size, st.st_mtime_ns, column, table.scope.key() if table.scope else None)


def _value_counts(conn: duckdb.DuckDBPyConnection, table: TableRef, column: str) -> dict[Any, int] | None:
    """{value: rows} of ``column`` (None: too many distinct values for an index)."""
    key = _index_key(table, column)
    if key is None:
        return None
    with _count_index_lock:
        if key in _count_index:
            _count_index.move_to_end(key)
            return _count_index[key]
    view, ident = quote_ident(table.view), quote_ident(column)
    counts: dict[Any, int] | None = None
    sample = first(
        conn.execute(
            f"SELECT count(DISTINCT {ident}) FROM (SELECT {ident} FROM {view} LIMIT {COUNT_INDEX_MAX_GROUPS * 2})"
        ).fetchall()
    )
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
) -> int | None:
    """The exact total of a search whose only condition is equality on one column, from the index."""
    if not isinstance(filters, Mapping) or len(filters) != 1:
        return None
    ((name, raw),) = filters.items()
    col = check_column(types, name, "filters")
    typ = types[col]
    if typ not in COUNT_INDEX_TYPES or col == "_id":
        return None
    values = list(raw) if isinstance(raw, (list, tuple)) else [raw]
    wanted = {None if v is None else coerce_value(v, typ, col, "filters") for v in values}
    counts = _value_counts(conn, table, col)
    if counts is None:
        return None
    return sum(counts.get(v, 0) for v in wanted)


#: DuckDB answers an IN list of this many values or more by a hash join, whose output order several threads
#: do not keep (checked against DuckDB 2.0: 22 of 100 runs out of order with 5 values and 2 threads)
IN_JOIN_VALUES = 4


def _unordered_join(filters: Mapping[str, Any] | None, limits: Limits) -> bool:
    """Whether the scan's file order may be lost: a long IN list read with several DuckDB threads (the row search
    runs with one, ``datastore_search_threads``; a page then asks for ``ORDER BY _id``)."""
    if limits.threads <= 1 or not isinstance(filters, Mapping):
        return False
    return any(isinstance(v, (list, tuple)) and len(v) >= IN_JOIN_VALUES for v in filters.values())


def search(
    table: TableRef,
    *,
    filters: Mapping[str, Any] | None = None,
    q: str | Mapping[str, Any] | None = None,
    fields: Sequence[str] | None = None,
    sort: str | Sequence[str] | None = None,
    limit: int = 100,
    offset: int = 0,
    include_total: bool = True,
    distinct: bool = False,
    cursor: str | None = None,
    records_format: Literal["objects", "lists", "csv", "tsv"] = "objects",
    plain: bool = True,
    language: str | None = None,
    full_text: str | None = None,
    timeout_s: float | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> dict[str, Any]:
    """CKAN ``datastore_search``: equality filters, full-text ``q`` / ``full_text`` (words, with ``rank``;
    ``plain``, ``language``: see ``fulltext``), fields, sort (``nulls first|last``), offset or keyset paging;
    records as objects, lists, CSV or TSV. Runs under ``limits`` (``timeout_s`` overrides its deadline): a
    query slot, the deadline and the answer's byte cap."""
    limits = limits.with_timeout(timeout_s)
    if records_format not in RECORDS_FORMATS:
        raise err(
            "invalid",
            "records_format 必须是 objects、lists、csv 或 tsv。",
            "records_format must be objects, lists, csv or tsv.",
            "records_format",
        )
    text = records_format in ("csv", "tsv")
    limit = check_limit(limit, "limit", 0, CSV_LIMIT if text else CKAN_LIMIT)
    offset = check_limit(offset, "offset", 0, 2**62)
    types = table.column_types()
    plan = text_plan(types, q, plain=plain, language=language, full_text=full_text)
    labels = plan.labels if plan else []
    virtual = {label: f'{HITS_VIEW}."__rank{i}"' for i, label in enumerate(labels)}
    names = parse_fields(types, fields, labels)
    order = parse_sort(types, sort, labels)
    conds, wparams = where(types, filters)
    distinct = bool(distinct)
    out_types = {**types, **dict.fromkeys(labels, "float")}

    keyset_dir: str | None = None
    after: int | None = None
    if cursor is not None:
        after, cdir = decode_cursor(cursor)
        if distinct:
            raise err(
                "invalid_cursor",
                "distinct 查询不能使用游标分页。",
                "A cursor cannot be used with distinct.",
                "cursor",
            )
        if order and [(k.name, k.direction) for k in order] != [("_id", cdir)]:
            raise err(
                "invalid_cursor",
                "游标分页只能按 _id 排序。",
                "Cursor paging requires sorting by _id (in the cursor's direction).",
                "cursor",
            )
        if offset:
            raise err(
                "invalid", "游标分页不能同时使用 offset。", "offset cannot be combined with cursor.", "offset"
            )
        keyset_dir = cdir
    elif not distinct and (
        (not order and plan is None) or (len(order) == 1 and order[0].name == "_id" and not order[0].nulls)
    ):
        keyset_dir = order[0].direction if order else "asc"

    def key_sql(k: SortKey) -> str:
        return k.sql(virtual.get(k.name))

    if distinct:
        for k in order:
            if k.name not in names:
                raise err(
                    "invalid_sort",
                    f"distinct 查询只能按所选列排序，{k.name} 不在 fields 中。",
                    f"With distinct, sort columns must be among fields; {k.name} is not.",
                    "sort",
                )
        order_sql = [key_sql(k) for k in order] or [SortKey(c).sql(virtual.get(c)) for c in names]
    elif keyset_dir == "asc" and plan is None and not _unordered_join(filters, limits):
        # The file is stored in ascending _id order and DuckDB preserves insertion order for queries
        # without ORDER BY, so no sort is needed (and LIMIT stops the scan early).
        order_sql = []
    elif keyset_dir == "asc":  # joined with a text search's matches: the order must be asked for
        order_sql = ['"_id" ASC']
    elif keyset_dir == "desc":
        order_sql = ['"_id" DESC']
    else:
        # CKAN: the given sort, else the best text matches first (rank DESC); then _id, so pages are stable
        order_sql = [key_sql(k) for k in order] or [f"{virtual[label]} DESC" for label in labels]
        if all(k.name != "_id" for k in order):
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
    view = quote_ident(table.view)
    source = view if plan is None else f'{view} JOIN {HITS_VIEW} ON {view}."_id" = {HITS_VIEW}."__id"'
    mode = "csv" if text else "plain"
    sel_sql = select_list(sel_names, types, mode=mode, virtual=virtual)
    sql = f"SELECT {'DISTINCT ' if distinct else ''}{sel_sql} FROM {source}"
    if page_conds:
        sql += " WHERE " + " AND ".join(page_conds)
    if order_sql:
        sql += " ORDER BY " + ", ".join(order_sql)
    sql += " LIMIT ? OFFSET ?"
    page_params += [limit, offset]

    # Two-phase plan for filtered pages: (1) the page's _ids, reading only the filter and sort
    # columns; (2) the selected columns of just those rows, where `_id BETWEEN min AND max` lets
    # the Parquet row-group statistics (the file is in _id order) skip nearly every row group.
    # Not for the first page in file order (no ORDER BY, offset 0: a plain filtered search, or a cursor page whose
    # ``_id > after`` condition skips the row groups before it): that scan stops at the page's last row, so the
    # second phase would read the same row groups again (the cost of a selective search twice: 2.5-3.5 ms of
    # 6.5 on a 1M-row table, benchmarks/grant_profile.py) for nothing.
    first_in_order = not order_sql and offset == 0 and len(sel_names) <= ONE_PHASE_MAX_COLUMNS
    two_phase = (bool(page_conds) and plan is None and not distinct and 0 < limit <= TWO_PHASE_MAX_ROWS
                 and not first_in_order)
    id_sql = f'SELECT "_id" FROM {view} WHERE ' + " AND ".join(page_conds)
    if order_sql:
        id_sql += " ORDER BY " + ", ".join(order_sql)
    id_sql += " LIMIT ? OFFSET ?"
    extra_id = two_phase and "_id" not in sel_names
    fetch_names = [*sel_names, "_id"] if extra_id else sel_names
    fetch_list = select_list(fetch_names, types, mode=mode)
    id_pos = fetch_names.index("_id") if "_id" in fetch_names else -1

    total: int | None = None
    records: Any
    next_cursor: str | None = None
    cap = limits.max_result_bytes

    def text_positions(selected: Sequence[str]) -> list[int]:
        return [
            i
            for i, n in enumerate(selected)
            if types.get(n) not in ("integer", "number", "boolean", "date", "datetime")
        ]

    with (
        query_slot(limits),
        table_sandbox(table, limits) as conn,
        TimeLimit(conn, limits.timeout_s, {abspath(table.path): table.resource_id}),
    ):
        arrow: pa.Table | None = None  # records_format csv
        rows: list[tuple[Any, ...]] = []  # objects, lists
        csv = text
        hits = None
        if plan is not None:
            hits = plan.collect(
                conn, view, types, conds, wparams, time.monotonic() + limits.timeout_s,
                lambda: timeout_error(limits.timeout_s),
            )  # fmt: skip
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
                if csv:
                    got = fetch_capped(conn, fetch_sql, fetch_params, cap)
                    got_ids = got.column(id_pos).to_pylist()
                    order_idx = sorted(range(got.num_rows), key=lambda k: pos[got_ids[k]])
                    arrow = got.take(pa.array(order_idx, type=pa.int64()))
                else:
                    rows = fetch_rows_capped(conn, fetch_sql, fetch_params, cap, text_positions(fetch_names))
                    rows.sort(key=lambda r: pos[r[id_pos]])
            elif csv:  # no rows: just the schema
                arrow = conn.sql(f"SELECT {fetch_list} FROM {view} WHERE FALSE").to_arrow_table()
            if extra_id:
                if arrow is not None:
                    arrow = arrow.remove_column(id_pos)
                rows = [r[:id_pos] for r in rows]
        elif csv:
            arrow = fetch_capped(conn, sql, page_params, cap)
        else:
            rows = fetch_rows_capped(conn, sql, page_params, cap, text_positions(sel_names))
        if include_total:
            if hits is not None and not distinct:
                total = hits.num_rows  # the filters were applied while scoring
            elif not conds and not distinct and plan is None and table.scope is None:
                total = int(table.rows)
            elif (
                not distinct
                and plan is None
                and (indexed := _indexed_total(conn, table, types, filters)) is not None
            ):
                total = indexed
            else:
                base = f"SELECT {'DISTINCT ' if distinct else ''}{select_list(names, types, virtual=virtual)} FROM {source}"
                if conds:
                    base += " WHERE " + " AND ".join(conds)
                count_sql = (
                    f"SELECT count(*) FROM ({base})"
                    if distinct
                    else f"SELECT count(*) FROM {source}" + (" WHERE " + " AND ".join(conds) if conds else "")
                )
                got_total = first(conn.execute(count_sql, wparams).fetchall())
                total = int(got_total[0]) if got_total else 0

    n_rows = arrow.num_rows if arrow is not None else len(rows)
    if keyset_dir is not None and limit > 0 and n_rows == limit:
        if arrow is not None:
            last_id = arrow.column(len(sel_names) - 1 if hidden_id else names.index("_id"))[-1].as_py()
        else:
            last_id = rows[-1][-1] if hidden_id else rows[-1][names.index("_id")]
        next_cursor = encode_cursor(int(last_id), keyset_dir)

    if text:
        if arrow is None:
            records = ""
        else:
            if hidden_id:
                arrow = arrow.remove_column(arrow.num_columns - 1)
            records = _csv_text(arrow, header=False, delimiter="\t" if records_format == "tsv" else ",")
    else:
        cut = len(names)
        if all(out_types.get(n) in AS_IS_TYPES for n in names):  # DuckDB's values are JSON values already
            if records_format == "lists":
                records = [list(r[:cut]) for r in rows]
            else:
                records = [dict(zip(names, r, strict=False)) for r in rows]
        elif records_format == "lists":
            records = [[jsonable(v) for v in r[:cut]] for r in rows]
        else:
            records = [{n: jsonable(v) for n, v in zip(names, r[:cut], strict=False)} for r in rows]

    if hits is not None:
        with contextlib.suppress(Exception):
            conn.unregister(HITS_VIEW)
    return {
        "fields": result_fields(names, out_types),
        "records": records,
        "total": total,
        "total_was_estimated": False,
        "limit": limit,
        "offset": offset,
        "next_cursor": next_cursor,
    }
