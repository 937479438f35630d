"""Aggregates (group by one or two columns with count/sum/avg/min/max, for charts) and column
statistics (counts, distinct, min/max/mean, top values, histogram)."""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import duckdb

from .engine import (
    DEFAULT_LIMITS,
    Limits,
    TableRef,
    TimeLimit,
    abspath,
    check_limit,
    err,
    fetch_rows_capped,
    first,
    jsonable,
    query_slot,
    quote_ident,
    table_sandbox,
    timeout_error,
)
from .params import HITS_VIEW, check_column, text_plan, where

AGGREGATE_LIMIT = 10_000


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
    timeout_s: float | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> dict[str, Any]:
    """Group by 1 or 2 columns with count/sum/avg/min/max metrics. Metric names: ``count`` for
    ``count(*)``, otherwise ``<fn>_<column>``. Also returns ``truncated`` when more groups exist.
    Runs under ``limits`` (``timeout_s`` overrides its deadline)."""
    limits = limits.with_timeout(timeout_s)
    types = table.column_types()
    if isinstance(group_by, str):
        group_by = [group_by]
    if not isinstance(group_by, (list, tuple)) or not 1 <= len(group_by) <= 2:
        raise err("invalid", "group_by 需要 1 或 2 个列。", "group_by needs 1 or 2 columns.", "group_by")
    groups = [check_column(types, g, "group_by") for g in group_by]
    if len(set(groups)) != len(groups):
        raise err("invalid", "group_by 的列不能重复。", "group_by columns must differ.", "group_by")
    limit = check_limit(limit, "limit", 1, AGGREGATE_LIMIT)
    metric_list = list(metrics) if metrics is not None else [("count", None)]
    if not metric_list or len(metric_list) > 20:
        raise err("invalid", "metrics 需要 1 到 20 项。", "metrics needs 1 to 20 items.", "metrics")
    exprs: list[str] = []
    out_names: list[str] = list(groups)
    out_types: dict[str, str] = {g: types[g] for g in groups}
    for item in metric_list:
        if not isinstance(item, (list, tuple)) or len(item) != 2:
            raise err(
                "invalid", "metrics 的每一项应为 [函数, 列]。", "Each metric is [fn, column].", "metrics"
            )
        fn, col = item
        if not isinstance(fn, str) or fn.lower() not in _METRIC_FNS:
            raise err(
                "invalid",
                f"不支持的统计函数：{fn!r}（可用 count/sum/avg/min/max）。",
                f"Unsupported metric function {fn!r} (use count/sum/avg/min/max).",
                "metrics",
            )
        fn = fn.lower()
        if col is None:
            if fn != "count":
                raise err("invalid", f"{fn} 需要指定列。", f"{fn} needs a column.", "metrics")
            name, expr, typ = "count", "count(*)", "integer"
        else:
            col = check_column(types, col, "metrics")
            ctype = types[col]
            if fn in ("sum", "avg") and ctype not in ("integer", "number"):
                raise err(
                    "invalid",
                    f"{fn} 只能用于数值列，{col} 是 {ctype}。",
                    f"{fn} only works on numeric columns; {col} is {ctype}.",
                    "metrics",
                )
            name = f"{fn}_{col}"
            expr = f"{fn}({quote_ident(col)})"
            typ = {"count": "integer", "avg": "number", "sum": ctype}.get(fn, ctype)
        if name in out_names:
            raise err("invalid", f"重复的统计项：{name}。", f"Duplicate metric {name}.", "metrics")
        out_names.append(name)
        out_types[name] = typ
        exprs.append(expr)
    conds, params = where(types, filters)
    plan = text_plan(types, q)
    view = quote_ident(table.view)
    if plan is not None:
        conds.append(f'"_id" IN (SELECT "__id" FROM {HITS_VIEW})')
    gsel = ", ".join(quote_ident(g) for g in groups)
    sql = f"SELECT {gsel}, {', '.join(exprs)} FROM {quote_ident(table.view)}"
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
        query_slot(limits),
        table_sandbox(table, limits) as conn,
        TimeLimit(conn, limits.timeout_s, {abspath(table.path): table.resource_id}),
    ):
        if plan is not None:
            plan.collect(
                conn, view, types, conds[:-1], params[: len(params) - 1], time.monotonic() + limits.timeout_s,
                lambda: timeout_error(limits.timeout_s),
            )  # fmt: skip
        rows = fetch_rows_capped(conn, sql, params, limits.max_result_bytes)
        if plan is not None:
            conn.unregister(HITS_VIEW)
    truncated = len(rows) > limit
    return {
        "fields": [{"id": n, "type": out_types[n]} for n in out_names],
        "records": [{n: jsonable(v) for n, v in zip(out_names, r, strict=False)} for r in rows[:limit]],
        "truncated": truncated,
    }


# --------------------------------------------------------------------------- column stats


def column_stats(
    table: TableRef,
    column: str,
    *,
    bins: int = 20,
    timeout_s: float | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> dict[str, Any]:
    """Profile one column: rows, count (non-null), nulls, distinct (approximate), min, max, mean
    (numeric), top values (string/boolean: 10 most frequent) and an equal-width histogram
    (numeric/date/datetime: ``[lo, hi, count]``; half-open bins, the last one closed). Runs under
    ``limits`` (``timeout_s`` overrides its deadline)."""
    limits = limits.with_timeout(timeout_s)
    types = table.column_types()
    col = check_column(types, column, "column")
    bins = check_limit(bins, "bins", 1, 200)
    typ = types[col]
    ident = quote_ident(col)
    view = quote_ident(table.view)
    numeric = typ in ("integer", "number")
    out: dict[str, Any] = {"column": col, "type": typ}
    with (
        query_slot(limits),
        table_sandbox(table, limits) as conn,
        TimeLimit(conn, limits.timeout_s, {abspath(table.path): table.resource_id}),
    ):
        mean = f", avg({ident})" if numeric else ", NULL"
        row = first(
            conn.execute(
                f"SELECT count(*), count({ident}), approx_count_distinct({ident}), min({ident}), max({ident}){mean} FROM {view}"
            ).fetchall()
        )
        assert row is not None
        n_rows, n_values, n_distinct, lo, hi, avg = row
        out.update(
            rows=int(n_rows),
            count=int(n_values),
            nulls=int(n_rows) - int(n_values),
            distinct=int(n_distinct),
            min=jsonable(lo),
            max=jsonable(hi),
        )
        if numeric:
            out["mean"] = jsonable(avg)
        if typ in ("string", "boolean"):
            top = fetch_rows_capped(
                conn,
                f"SELECT {ident}, count(*) AS c FROM {view} WHERE {ident} IS NOT NULL "
                f"GROUP BY 1 ORDER BY c DESC, 1 ASC LIMIT 10",
                None,
                limits.max_result_bytes,
            )
            out["top"] = [{"value": jsonable(v), "count": int(c)} for v, c in top]
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
        n_values = first(conn.execute(f"SELECT count({ident}) FROM {view}").fetchall())
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
