"""Grant scopes: what a grant's holder may read of one table, as a ``TableRef`` every query path honours.

``scoped(table, columns, row_filter)`` returns the table restricted to the granted columns and rows. Search,
aggregates, statistics and exports then read, on their own DuckDB connection, a temporary view of exactly those
columns and rows (``engine.table_sandbox``); user SQL runs in a sandbox whose only view of the table is that
scoped one (``sql.run_sql`` with ``scopes``). A column outside the grant named in a query is refused with its
name (``outside_grant``); rows outside it are never in any relation the query can reach.

The row filter has the shape of ``datastore_search``'s ``filters`` (column → value, list of values, or None for
null) and means the same rows; its values are checked against the column types and written into the view as SQL
literals (a view has no bound parameters). Fails closed: a grant naming a column the table no longer has is
refused (``scope_invalid``), never widened.

Several grants of one holder on one table combine (``scoped_union``) cell by cell: a row is readable when it is in
the rows of at least one grant, and a cell (row, column) shows its value only when one grant covers both the row
and the column; every other cell of a readable row reads NULL. A column no grant covers is refused by name. So no
value outside every grant is ever in the view a query reads, whatever the query (filters, sorts, aggregates and SQL
see the masked cells, never the values under them).
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .engine import GrantScope, QueryError, TableRef, err, quote_ident
from .params import MAX_IN_VALUES, coerce_value, outside_grant

__all__ = ["GRANTED_READ", "GrantPart", "GrantedRead", "outside_grant", "scoped", "scoped_union", "sql_value",
           "where_sql"]


def _invalid(zh: str, en: str) -> QueryError:
    return err("scope_invalid", f"授权范围无效：{zh}", f"The grant's scope is not valid: {en}", "grant")


def sql_value(value: Any, typ: str) -> str:
    """A checked value (``params.coerce_value``) as a DuckDB literal of the column's type."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, decimal.Decimal):
        return str(value)  # a numeric literal (DuckDB reads 1.5 as a DECIMAL, 1E+2 as a DOUBLE)
    if isinstance(value, dt.datetime):
        return "TIMESTAMP '" + value.replace(tzinfo=None).isoformat(sep=" ") + "'"
    if isinstance(value, dt.date):
        return "DATE '" + value.isoformat() + "'"
    text = str(value)
    if "\x00" in text:
        raise _invalid("值含有 NUL 字符。", "a value contains a NUL character.")
    return "'" + text.replace("'", "''") + "'"


def where_sql(types: Mapping[str, str], row_filter: Mapping[str, Any] | None) -> str:
    """The row filter as one SQL condition with literal values ("" for no filter): the same rows as
    ``params.where`` selects for the same ``filters``."""
    if not row_filter:
        return ""
    if not isinstance(row_filter, Mapping):
        raise _invalid("行筛选条件必须是对象。", "the row filter must be an object.")
    conds: list[str] = []
    for name, raw in row_filter.items():
        if not isinstance(name, str) or name not in types:
            raise _invalid(f"数据表没有列 {name}。", f"the table has no column {name}.")
        typ = types[name]
        ident = quote_ident(name)
        values = list(raw) if isinstance(raw, (list, tuple)) else [raw]
        if len(values) > MAX_IN_VALUES:
            raise _invalid(f"列 {name} 的值过多。", f"too many values for column {name}.")
        try:
            coerced = [coerce_value(v, typ, name, "grant") for v in values if v is not None]
        except QueryError as e:
            raise _invalid(e.message, e.message_en) from None
        parts: list[str] = []
        if coerced:
            literals = [sql_value(v, typ) for v in coerced]
            parts.append(f"{ident} = {literals[0]}" if len(literals) == 1 else f"{ident} IN ({', '.join(literals)})")
        if any(v is None for v in values):
            parts.append(f"{ident} IS NULL")
        conds.append("(" + " OR ".join(parts) + ")" if parts else "FALSE")
    return " AND ".join(conds)


def scoped(table: TableRef, columns: Sequence[str] | None, row_filter: Mapping[str, Any] | None,
           exclude: Sequence[str] = ()) -> TableRef:
    """``table`` as a grant with ``columns`` (None: every column) and ``row_filter`` lets its holder read it;
    ``exclude``: columns left out whatever the grant says (personal data the grant does not allow).

    Granted columns the table no longer has are left out (a grant never widens); ``_id`` is always readable
    (it is the row's key for paging). A scoped table scoped again keeps only what both scopes allow."""
    types = table.column_types()
    present = [name for name, _ in table.columns if name != "_id"]
    if columns is None:
        keep = present
    else:
        if isinstance(columns, str) or not all(isinstance(c, str) for c in columns):
            raise _invalid("列清单必须是文本列表。", "the columns must be a list of names.")
        wanted = set(columns)
        keep = [c for c in present if c in wanted]
    keep = [c for c in keep if c not in set(exclude)]
    cond = where_sql(types, row_filter)
    hidden = frozenset(n for n in types if n != "_id" and n not in keep)
    if table.scope is not None:
        hidden |= table.scope.hidden
        if table.scope.where_sql:
            cond = f"({table.scope.where_sql})" + (f" AND ({cond})" if cond else "")
    scope = GrantScope(columns=tuple(keep), where_sql=cond, hidden=hidden)
    return replace(table, columns=[(n, t) for n, t in table.columns if n in keep], scope=scope)


def scoped_union(table: TableRef, parts: Sequence[tuple[Sequence[str] | None, Mapping[str, Any] | None,
                                                    Sequence[str]]]) -> TableRef:
    """``table`` as several grants together let their holder read it: ``parts`` are each grant's (columns,
    row filter, columns left out), as ``scoped`` takes them.

    Rows: those of any grant (the OR of their row filters). Columns: those of any grant; a column's value is shown
    in the rows of the grants that cover it (a ``GrantScope`` mask: the OR of those grants' row filters) and is
    NULL in the other readable rows. ``_id`` is always readable. One part is exactly ``scoped``."""
    if len(parts) == 1:
        (columns, row_filter, exclude), = parts
        return scoped(table, columns, row_filter, exclude)
    if not parts:
        raise _invalid("没有授权。", "no grant.")
    if table.scope is not None:
        raise _invalid("不能合并已限定范围的表。", "a scoped table cannot be combined again.")
    types = table.column_types()
    present = [name for name, _ in table.columns if name != "_id"]
    covered: list[tuple[set[str], str]] = []  # per grant: the columns it lets through, its row condition
    for columns, row_filter, exclude in parts:
        if columns is not None and (isinstance(columns, str) or not all(isinstance(c, str) for c in columns)):
            raise _invalid("列清单必须是文本列表。", "the columns must be a list of names.")
        keep = set(present if columns is None else [c for c in present if c in set(columns)]) - set(exclude)
        covered.append((keep, where_sql(types, row_filter)))

    def any_of(conds: list[str]) -> str:
        """The OR of row conditions ("" when one of them is every row)."""
        if any(not c for c in conds):
            return ""
        unique = list(dict.fromkeys(conds))
        return unique[0] if len(unique) == 1 else " OR ".join(f"({c})" for c in unique)

    rows_cond = any_of([cond for _, cond in covered])
    keep_all = [c for c in present if any(c in cols for cols, _ in covered)]
    masks: list[tuple[str, str]] = []
    for c in keep_all:
        shown = any_of([cond for cols, cond in covered if c in cols])
        if shown != rows_cond:  # shown in fewer rows than the view holds: NULL in the others
            masks.append((c, shown or "TRUE"))
    hidden = frozenset(n for n in types if n != "_id" and n not in keep_all)
    scope = GrantScope(columns=tuple(keep_all), where_sql=rows_cond, hidden=hidden, masks=tuple(masks))
    return replace(table, columns=[(n, t) for n, t in table.columns if n in keep_all], scope=scope)


@dataclass(frozen=True)
class GrantPart:
    """One more grant in force of the same holder on the same resource, read together with ``GrantedRead``'s own
    (``scoped_union``)."""

    columns: tuple[str, ...] | None
    row_filter: Mapping[str, Any] | None
    grant_id: int
    allow_personal: bool = False
    exclude: tuple[str, ...] = ()


#: the key of ``Context.extra`` under which the sharing layer hands a ``GrantedRead`` to the datastore actions
GRANTED_READ = "granted_read"


@dataclass(frozen=True)
class GrantedRead:
    """A read the sharing layer has authorised with a grant (or unconditional sharing): this resource only, these
    columns (None: all) and rows (None: all). The datastore actions then scope every query to it
    (``scoped``) and resolve no other table."""

    resource_id: str
    columns: tuple[str, ...] | None = None
    row_filter: Mapping[str, Any] | None = None
    grant_id: int | None = None
    #: the grant allows personal data: columns the load flagged as personal stay readable
    allow_personal: bool = False
    #: columns left out whatever the grant says
    exclude: tuple[str, ...] = ()
    #: the resource's released de-identified view: when set, every query reads this Parquet file instead of the
    #: live table (the grant's columns and rows still apply; the live table's personal-data flags do not, the
    #: sharing layer puts the view's still-raw personal columns in ``exclude``)
    view: Path | None = None
    #: the holder's other grants in force on the resource, read together with this one (``scoped_union``)
    also: tuple[GrantPart, ...] = ()

    @property
    def grant_ids(self) -> tuple[int, ...]:
        """Every grant this read goes through (empty: unconditional sharing or the provider's own system)."""
        own = (self.grant_id,) if self.grant_id is not None else ()
        return (*own, *(p.grant_id for p in self.also))

    def apply(self, table: TableRef, personal: Sequence[str] = ()) -> TableRef:
        """``table`` in this grant's scope (with ``also``: all the grants' scopes together); ``personal``: the
        table's personal-data columns, left out unless the grant allows personal data."""
        leave_out = (*self.exclude, *(() if self.allow_personal else personal))
        if not self.also:
            return scoped(table, self.columns, self.row_filter, leave_out)
        parts = [(self.columns, self.row_filter, leave_out)]
        for part in self.also:
            parts.append((part.columns, part.row_filter,
                          (*part.exclude, *(() if part.allow_personal else personal))))
        return scoped_union(table, parts)
