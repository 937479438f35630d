"""The structured query parameters shared by row search, aggregates and exports: columns, filter values,
full-text ``q``, ``sort`` and ``fields``, checked against the table's columns and turned into SQL
(identifiers double-quoted, values always bound parameters)."""

from __future__ import annotations

import datetime as dt
import decimal
import re
from collections.abc import Mapping, Sequence
from typing import Any

from .engine import QueryError, err, quote_ident

MAX_IN_VALUES = 1_000
MAX_Q_TERMS = 20


def check_column(types: Mapping[str, str], name: Any, fld: str) -> str:
    if not isinstance(name, str) or name not in types:
        shown = name if isinstance(name, str) else repr(name)
        raise err("unknown_column", f"没有名为 {shown} 的列。", f"There is no column named {shown}.", fld)
    return name


_TRUE = {"true", "t", "yes", "y", "1", "是", "真", "on"}
_FALSE = {"false", "f", "no", "n", "0", "否", "假", "off"}


def coerce_value(value: Any, typ: str, column: str, fld: str) -> Any:
    def bad() -> QueryError:
        return err(
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


def like_pattern(term: str) -> str:
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def where(
    types: Mapping[str, str], filters: Mapping[str, Any] | None, q: str | Mapping[str, Any] | None
) -> tuple[list[str], list[Any]]:
    conds: list[str] = []
    params: list[Any] = []
    if filters is not None:
        if not isinstance(filters, Mapping):
            raise err("invalid", "filters 必须是对象。", "filters must be an object.", "filters")
        for name, raw in filters.items():
            col = check_column(types, name, "filters")
            typ = types[col]
            ident = quote_ident(col)
            values = list(raw) if isinstance(raw, (list, tuple)) else [raw]
            if len(values) > MAX_IN_VALUES:
                raise err(
                    "invalid",
                    f"列 {col} 的筛选值过多（最多 {MAX_IN_VALUES} 个）。",
                    f"Too many filter values for column {col} (at most {MAX_IN_VALUES}).",
                    "filters",
                )
            want_null = any(v is None for v in values)
            coerced = [coerce_value(v, typ, col, "filters") for v in values if v is not None]
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
                raise err(
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
                pat = like_pattern(term)
                conds.append("(" + " OR ".join(f"{e} ILIKE ? ESCAPE '\\'" for e in exprs) + ")")
                params.extend([pat] * len(exprs))
        elif isinstance(q, Mapping):
            for name, raw in q.items():
                col = check_column(types, name, "q")
                if not isinstance(raw, (str, int, float, decimal.Decimal)) or isinstance(raw, bool):
                    raise err(
                        "invalid", f"q 中列 {col} 的值必须是文本。", f"q value for {col} must be text.", "q"
                    )
                expr = quote_ident(col) if types[col] == "string" else f"CAST({quote_ident(col)} AS VARCHAR)"
                for term in str(raw).split()[:MAX_Q_TERMS]:
                    conds.append(f"{expr} ILIKE ? ESCAPE '\\'")
                    params.append(like_pattern(term))
        else:
            raise err("invalid", "q 必须是文本或对象。", "q must be a string or an object.", "q")
    return conds, params


def parse_sort(types: Mapping[str, str], sort: Any) -> list[tuple[str, str]]:
    """Parse ``"col asc, "quoted col" desc"``; every item must name a column and asc/desc."""
    if sort is None:
        return []
    if not isinstance(sort, str):
        raise err("invalid_sort", "sort 必须是文本。", "sort must be a string.", "sort")
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
        return err(
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


def parse_fields(types: Mapping[str, str], fields: Any) -> list[str]:
    if fields is None:
        return list(types)
    if isinstance(fields, str):
        fields = [f.strip() for f in fields.split(",")]
    if not isinstance(fields, (list, tuple)) or not fields:
        raise err(
            "invalid",
            "fields 必须是非空的列名列表。",
            "fields must be a non-empty list of columns.",
            "fields",
        )
    out: list[str] = []
    for f in fields:
        col = check_column(types, f, "fields")
        if col not in out:
            out.append(col)
    return out


#: a text cell starting with one of these is a formula to a spreadsheet (OWASP "CSV Injection")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: our types whose values are never text (numbers are written as numbers, which no spreadsheet evaluates)
NOT_TEXT = ("integer", "number", "boolean", "date", "datetime")


def formula_safe(text: str) -> str:
    """``=1+1`` -> ``'=1+1``: OWASP's neutralisation of a CSV cell a spreadsheet would evaluate (a leading
    single quote makes it text; the quote is shown, the cell is never run)."""
    return "'" + text if text[:1] in FORMULA_START else text


def formula_safe_sql(expr: str) -> str:
    """``formula_safe`` as a DuckDB expression over the text ``expr``."""
    return (
        f"CASE WHEN left({expr}, 1) IN ('=', '+', '-', '@', chr(9), chr(13)) THEN '''' || {expr} "
        f"ELSE {expr} END"
    )


def select_list(names: Sequence[str], types: Mapping[str, str], *, mode: str = "plain") -> str:
    """Column list; ``mode`` csv: timestamps as DuckDB text; json: ISO timestamps, no NaN/Infinity;
    csv_file: as csv, and every text cell and column name that a spreadsheet would run as a formula
    neutralised (``formula_safe``), for the files people open in Excel or WPS."""
    out = []
    for n in names:
        ident = quote_ident(n)
        typ = types.get(n)
        alias = quote_ident(formula_safe(n)) if mode == "csv_file" else ident
        if mode in ("csv", "csv_file") and typ == "datetime":
            out.append(f"CAST({ident} AS VARCHAR) AS {alias}")
        elif mode == "csv_file" and typ not in NOT_TEXT:
            text = f"CAST({ident} AS VARCHAR)"
            out.append(f"{formula_safe_sql(text)} AS {alias}")
        elif mode == "json" and typ == "datetime":
            out.append(f"replace(CAST({ident} AS VARCHAR), ' ', 'T') AS {ident}")
        elif mode == "json" and typ == "number":
            out.append(f"CASE WHEN isfinite(CAST({ident} AS DOUBLE)) THEN {ident} END AS {ident}")
        else:
            out.append(ident if alias == ident else f"{ident} AS {alias}")
    return ", ".join(out)


def result_fields(names: Sequence[str], types: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"id": n, "type": types[n]} for n in names]
