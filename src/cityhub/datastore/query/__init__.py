"""Query engine over versioned Parquet tables: search, keyset cursor, aggregate, column stats,
user SQL and streamed exports.

Works on Parquet paths only (``TableRef``); nothing here touches the catalog DB or the web layer.
Identifiers are checked against the table's columns and double-quoted; values are always bound parameters.

Modules: ``engine`` (table reference, sandboxed connections, ``Limits``, query slots, byte caps), ``params``
(filters, q, sort, fields), ``rows`` (``search``), ``stats`` (``aggregate``, ``column_stats``), ``sql``
(``run_sql``, in the worker processes of ``worker``), ``exports`` (``export``, ``full_csv_path``).
"""

from __future__ import annotations

from .engine import DEFAULT_LIMITS, TYPE_NAMES, Limits, QueryError, TableRef, file_table, quote_ident, sandbox
from .exports import EXPORT_FORMATS, XLSX_MAX_ROWS, Drain, export, full_csv_path
from .rows import CKAN_LIMIT, CSV_LIMIT, decode_cursor, encode_cursor, search
from .sql import run_sql
from .stats import AGGREGATE_LIMIT, aggregate, column_stats

__all__ = [
    "AGGREGATE_LIMIT",
    "CKAN_LIMIT",
    "CSV_LIMIT",
    "DEFAULT_LIMITS",
    "EXPORT_FORMATS",
    "TYPE_NAMES",
    "XLSX_MAX_ROWS",
    "Drain",
    "Limits",
    "QueryError",
    "TableRef",
    "aggregate",
    "column_stats",
    "decode_cursor",
    "encode_cursor",
    "export",
    "file_table",
    "full_csv_path",
    "quote_ident",
    "run_sql",
    "sandbox",
    "search",
]
