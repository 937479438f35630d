"""User SQL (CKAN ``datastore_search_sql``): the guard first (``sqlguard``), then only the resolved
tables in a fresh sandbox, with a time limit and a row cap."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..sqlguard import CheckedSql, check_sql
from .engine import TableRef, TimeLimit, abspath, check_limit, duck_type_name, err, jsonable, sandbox
from .rows import CSV_LIMIT

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
    row_cap = check_limit(row_cap, "row_cap", 1, CSV_LIMIT)
    checked: CheckedSql = check_sql(sql)
    views: dict[str, Path] = {}
    hide: dict[str, str] = {}
    for name in checked.tables:
        ref = resolve(name)
        if ref is None:
            raise err(
                "not_found",
                f"数据表 {name} 不存在或无权访问。",
                f"The table {name} does not exist (or is not readable).",
                "sql",
            )
        views[name] = ref.path
        hide[abspath(ref.path)] = name
    with sandbox(views) as conn, TimeLimit(conn, timeout_s, hide):
        cur = conn.execute(checked.sql)
        desc = cur.description or []
        rows = cur.fetchmany(row_cap + 1)
    names = [d[0] for d in desc]
    truncated = len(rows) > row_cap
    return {
        "fields": [{"id": d[0], "type": duck_type_name(d[1])} for d in desc],
        "records": [{n: jsonable(v) for n, v in zip(names, r, strict=False)} for r in rows[:row_cap]],
        "truncated": truncated,
    }
