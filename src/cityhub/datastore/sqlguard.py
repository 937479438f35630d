"""Validation of user-written SQL (``datastore_search_sql``) before it goes anywhere near data.

Pure-ish: uses only DuckDB's parser, tokenizer and ``json_serialize_sql`` (the parse tree), the
latter on a throw-away in-memory connection with external access off and its configuration locked.
``duckdb.get_table_names`` is deliberately NOT used: in DuckDB 2.0 it binds the statement (it opens
files named in table functions, fails on joins of unknown tables) and silently leaves out names
that exist in the catalog, such as the system views ``duckdb_tables``, ``duckdb_views`` (which
would show the Parquet paths) or ``information_schema.tables``.

The rules, in order (the first that fails is reported):

1. non-empty text, at most ``max_length`` characters;
2. exactly one statement (``duckdb.extract_statements``);
3. its type is SELECT and it starts with ``SELECT``, ``WITH``, ``FROM``, ``VALUES`` or ``(``
   (so no DESCRIBE/SHOW/SUMMARIZE/PIVOT, and none of COPY, ATTACH, DETACH, INSTALL, LOAD,
   PRAGMA, SET, RESET, CALL, EXPORT, IMPORT, CREATE, INSERT, UPDATE, DELETE, DROP, ALTER,
   VACUUM, CHECKPOINT, EXPLAIN, transactions);
4. no call of a denied function: any identifier or keyword token followed by ``(`` is compared
   (unquoted, case-insensitive) to a deny list of file, system, network, settings and metadata
   functions (``read_*``, ``parquet_*``, ``glob``, ``query``, ``getenv``, ``current_setting``,
   ``duckdb_*``, ``pragma_*``, ``pg_*``, ``sqlite_*``, ``iceberg_*``, ``delta_*`` ...);
5. no URL (``scheme://``) in a string literal;
6. the parse tree is walked: every function name anywhere is checked against the deny list again,
   every base-table reference must be a single plain name (no schema/catalog qualification) and,
   unless it names a CTE in scope, is reported; string literals used as tables
   (``FROM '/etc/passwd'``) and system views are table names too and so must resolve like any
   other — the caller (``query.sql.run_sql``) resolves each name and refuses unknown ones.

This module is the first line of defence; the sandboxed connection in ``query`` is the second.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import duckdb

__all__ = [
    "DENIED_FUNCTIONS",
    "DENIED_FUNCTION_PREFIXES",
    "CheckedSql",
    "QueryError",
    "check_sql",
    "denied_function",
]


class QueryError(Exception):
    """A refused or failed query. ``code`` is stable; messages are for people."""

    def __init__(self, code: str, message: str, message_en: str, field: str | None = None) -> None:
        super().__init__(message_en)
        self.code = code
        self.message = message
        self.message_en = message_en
        self.field = field

    def __repr__(self) -> str:
        return f"QueryError({self.code!r}, {self.message_en!r}, field={self.field!r})"

    def as_dict(self) -> dict[str, str | None]:
        return {
            "code": self.code,
            "message": self.message,
            "message_en": self.message_en,
            "field": self.field,
        }


DENIED_FUNCTIONS: frozenset[str] = frozenset(
    {
        # file readers / scanners
        "read_csv", "read_csv_auto", "read_parquet", "parquet_scan", "read_json", "read_json_auto",
        "read_json_objects", "read_json_objects_auto", "read_ndjson", "read_ndjson_auto",
        "read_ndjson_objects", "read_text", "read_blob", "read_xlsx", "glob", "sniff_csv",
        "arrow_scan", "arrow_scan_dumb", "scan_arrow_ipc", "st_read", "st_read_meta", "st_readosm",
        "st_drivers", "postgres_scan", "postgres_scan_pushdown", "postgres_query", "postgres_execute",
        "mysql_query", "mysql_execute", "sqlite_scan", "sqlite_attach", "iceberg_scan", "delta_scan",
        "ducklake_snapshots", "python_map_function", "from_csv_auto",
        # dynamic SQL
        "query", "query_table", "json_execute_serialized_sql", "sql_auto_complete",
        # environment, settings, secrets, side effects
        "getenv", "current_setting", "which_secret", "load_aws_credentials", "checkpoint",
        "force_checkpoint", "enable_logging", "disable_logging", "truncate_duckdb_logs",
        # data generators that create tables
        "dbgen", "dsdgen", "tpch", "tpcds", "tpch_queries", "tpch_answers", "tpcds_queries",
        "tpcds_answers",
    }
)  # fmt: skip

DENIED_FUNCTION_PREFIXES: tuple[str, ...] = (
    "read_", "parquet_", "duckdb_", "pragma_", "pg_", "sqlite_", "iceberg_", "delta_", "postgres_",
    "mysql_", "ducklake_", "st_read", "http_", "s3_", "azure_", "gcs_", "hf_", "load_", "install_",
    "json_execute", "sniff_", "glob", "arrow_scan", "tpch", "tpcds",
)  # fmt: skip

_ALLOWED_FIRST = frozenset({"select", "with", "from", "values", "("})
_URL_RE = re.compile(r"[a-z][a-z0-9+.\-]*://", re.IGNORECASE)
_STATEMENT_NAMES = {
    "LOAD": "INSTALL/LOAD",
    "SET": "SET/RESET/USE",
    "CALL": "CALL/CHECKPOINT",
    "MULTI": "PIVOT",
}


@dataclass(frozen=True)
class CheckedSql:
    """A statement that passed the guard: its text (no trailing semicolon) and the tables it reads."""

    sql: str
    tables: tuple[str, ...]


def denied_function(name: str) -> bool:
    n = name.lower()
    return n in DENIED_FUNCTIONS or n.startswith(DENIED_FUNCTION_PREFIXES)


def _refuse(code: str, zh: str, en: str) -> QueryError:
    return QueryError(code, zh, en, field="sql")


def _unquote(text: str) -> str:
    t = text.strip()
    if len(t) >= 2 and t[0] == '"' and t[-1] == '"':
        return t[1:-1].replace('""', '"')
    return t


def _tokens(sql: str) -> list[tuple[str, str]]:
    """(text, kind) for each non-comment token; kind is the token_type name."""
    raw = duckdb.tokenize(sql)
    out: list[tuple[str, str]] = []
    for i, (pos, kind) in enumerate(raw):
        end = raw[i + 1][0] if i + 1 < len(raw) else len(sql)
        name = str(kind).rsplit(".", 1)[-1]
        if name == "comment":
            continue
        out.append((sql[pos:end].strip(), name))
    return out


def _guard_connection() -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect(":memory:")
    for stmt in (
        "SET python_enable_replacements=false",
        "SET autoinstall_known_extensions=false",
        "SET autoload_known_extensions=false",
        "SET enable_external_access=false",
        "SET lock_configuration=true",
    ):
        conn.execute(stmt)
    return conn


def _ast(sql: str) -> dict[str, Any]:
    """DuckDB's parse tree of ``sql`` (parser only, nothing is bound or executed)."""
    conn = _guard_connection()
    try:
        row = conn.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()
    except duckdb.Error as e:
        raise _refuse(
            "invalid_sql", f"SQL 无法解析：{_first(e)}", f"The SQL could not be parsed: {_first(e)}"
        ) from e
    finally:
        conn.close()
    tree = json.loads(row[0]) if row and row[0] else {"error": True, "error_message": "no parse tree"}
    if not isinstance(tree, dict) or tree.get("error"):
        msg = str(tree.get("error_message", "")) if isinstance(tree, dict) else ""
        raise _refuse("invalid_sql", f"SQL 无法解析：{msg}", f"The SQL could not be parsed: {msg}")
    return tree


def _first(e: BaseException) -> str:
    text = str(e)
    return text.splitlines()[0] if text else type(e).__name__


def referenced_tables(sql: str) -> tuple[str, ...]:
    """Table names the statement reads, from DuckDB's parse tree.

    CTE names are honoured with their scope (a CTE is visible in its own query and in later CTEs
    of the same WITH, never outside), so a CTE cannot hide a reference to a system view. Every
    function named anywhere in the tree is checked against the deny list too, and any schema- or
    catalog-qualified table reference is refused.
    """
    tree = _ast(sql)
    found: dict[str, str] = {}

    def walk(obj: Any, ctes: frozenset[str]) -> None:
        if isinstance(obj, list):
            for x in obj:
                walk(x, ctes)
            return
        if not isinstance(obj, dict):
            return
        fn = obj.get("function_name")
        if isinstance(fn, str) and denied_function(fn):
            raise _refuse(
                "forbidden_function",
                f"不允许使用函数 {fn}（文件、系统、网络或元数据函数）。",
                f"The function {fn} is not allowed (file, system, network or metadata function).",
            )
        if obj.get("type") == "BASE_TABLE":
            name = str(obj.get("table_name", ""))
            schema = str(obj.get("schema_name") or "")
            catalog = str(obj.get("catalog_name") or "")
            if schema or catalog:
                shown = ".".join(x for x in (catalog, schema, name) if x)
                raise _refuse(
                    "forbidden_table",
                    f"不允许带模式或库名的表名：{shown}（请直接使用资源 ID）。",
                    f"Schema- or catalog-qualified table names are not allowed: {shown} (use the resource id).",
                )
            if name.lower() not in ctes:
                found.setdefault(name.lower(), name)
        cte_map = obj.get("cte_map")
        if isinstance(cte_map, dict):
            scope = set(ctes)
            for entry in cte_map.get("map") or []:
                key = str(entry.get("key", "")).lower() if isinstance(entry, dict) else ""
                walk(entry, frozenset(scope | {key}))  # recursive CTEs see themselves
                scope.add(key)
            inner = frozenset(scope)
            for k, v in obj.items():
                if k != "cte_map":
                    walk(v, inner)
            return
        for v in obj.values():
            walk(v, ctes)

    walk(tree.get("statements", []), frozenset())
    return tuple(found[k] for k in sorted(found))


def check_sql(sql: str, *, max_length: int = 100_000) -> CheckedSql:
    """Validate one user statement; raise QueryError naming what was refused."""
    if not isinstance(sql, str) or not sql.strip():
        raise _refuse("invalid_sql", "SQL 不能为空。", "The SQL is empty.")
    if len(sql) > max_length:
        raise _refuse(
            "invalid_sql",
            f"SQL 过长（最多 {max_length} 个字符）。",
            f"The SQL is too long (at most {max_length} characters).",
        )
    if "\x00" in sql:
        raise _refuse("invalid_sql", "SQL 含有非法字符。", "The SQL contains a NUL character.")
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise _refuse("invalid_sql", f"SQL 语法错误：{first}", f"SQL syntax error: {first}") from e
    if not statements:
        raise _refuse("invalid_sql", "SQL 不能为空。", "The SQL is empty.")
    if len(statements) != 1:
        raise _refuse(
            "multiple_statements",
            f"只允许一条语句（收到 {len(statements)} 条）。",
            f"Only one statement is allowed (got {len(statements)}).",
        )
    stmt = statements[0]
    kind = str(stmt.type).rsplit(".", 1)[-1]
    if kind != "SELECT":
        shown = _STATEMENT_NAMES.get(kind, kind)
        raise _refuse(
            "not_select",
            f"只允许只读的 SELECT 查询，不允许 {shown} 语句。",
            f"Only read-only SELECT queries are allowed, not {shown} statements.",
        )
    text = stmt.query.strip().rstrip(";").strip()
    toks = _tokens(text)
    if not toks:
        raise _refuse("invalid_sql", "SQL 不能为空。", "The SQL is empty.")
    first = toks[0][0].lower()
    if first not in _ALLOWED_FIRST:
        raise _refuse(
            "not_select",
            f"只允许以 SELECT、WITH、FROM、VALUES 开头的查询，不允许 {toks[0][0].upper()}。",
            f"Only queries starting with SELECT, WITH, FROM or VALUES are allowed, not {toks[0][0].upper()}.",
        )
    for i, (tok, kind_name) in enumerate(toks):
        if kind_name in ("identifier", "keyword") and i + 1 < len(toks) and toks[i + 1][0].startswith("("):
            fn = _unquote(tok)
            if denied_function(fn):
                raise _refuse(
                    "forbidden_function",
                    f"不允许使用函数 {fn}（文件、系统、网络或元数据函数）。",
                    f"The function {fn} is not allowed (file, system, network or metadata function).",
                )
        elif kind_name == "string_const" and _URL_RE.search(tok):
            raise _refuse(
                "forbidden_url",
                "查询中不允许出现网址（URL）。",
                f"URLs are not allowed in queries: {tok[:80]}",
            )
    tables = referenced_tables(text)
    return CheckedSql(sql=text, tables=tables)
