"""The structured query parameters shared by row search, aggregates and exports: columns, filter values,
full-text ``q``, ``sort`` and ``fields``, checked against the table's columns and turned into SQL
(identifiers double-quoted, values always bound parameters)."""

from __future__ import annotations

import array
import datetime as dt
import decimal
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from . import fulltext
from .engine import QueryError, err, quote_ident

MAX_IN_VALUES = 1_000


def outside_grant(name: str, fld: str) -> QueryError:
    """A grant-scoped query named a column of the table that its grant does not cover."""
    return err("outside_grant", f"列 {name} 不在授权范围内。", f"The column {name} is outside your grant.", fld)


def check_column(types: Mapping[str, str], name: Any, fld: str) -> str:
    if isinstance(name, str) and name in getattr(types, "hidden", ()):
        raise outside_grant(name, fld)
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


def where(types: Mapping[str, str], filters: Mapping[str, Any] | None) -> tuple[list[str], list[Any]]:
    """The filter conditions (``filters``: column → value or list of values, None for null) and their values."""
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
    return conds, params


#: the view a text search registers on its connection: ``__id`` and one ``__rank<i>`` per target
HITS_VIEW = "__fts_hits"
#: candidate rows read from DuckDB per batch while scoring
TEXT_BATCH = 2048


@dataclass
class TextTarget:
    label: str  # "rank" (whole row) or "rank <column>" (CKAN's names)
    column: str | None  # None: every column but _id
    node: Any  # fulltext query tree (None: no words: matches nothing)


@dataclass
class TextPlan:
    """A full-text ``q`` (string, or column → text) and ``full_text``, parsed (see ``fulltext``)."""

    targets: list[TextTarget]

    @property
    def labels(self) -> list[str]:
        return [t.label for t in self.targets]

    def _text_sql(self, types: Mapping[str, str], column: str | None) -> str:
        cols = [column] if column is not None else [c for c in types if c != "_id"]
        if not cols:
            return "''"
        parts = [f"CAST({quote_ident(c)} AS VARCHAR)" for c in cols]
        return "lower(" + (parts[0] if len(parts) == 1 else f"concat_ws(' ', {', '.join(parts)})") + ")"

    def collect(
        self,
        conn: Any,
        view: str,
        types: Mapping[str, str],
        conds: Sequence[str],
        params: Sequence[Any],
        deadline: float,
        on_timeout: Callable[[], Exception],
    ) -> pa.Table:
        """The rows that pass ``conds`` and match every target, as an Arrow table (``__id``, ``__rank0``…),
        registered on ``conn`` as ``HITS_VIEW``. Scored inside DuckDB: a word's occurrences are counted in
        the row's runs (Chinese runs through a map from each distinct run holding the word to its count
        among jieba's search-mode words, worked out here once per run); only phrases are scored in Python."""
        hits: pa.Table | None = None
        if any(t.node is None for t in self.targets):  # a target without words matches nothing
            hits = None
        elif any(_has_phrase(t.node) for t in self.targets):
            hits = self._collect_python(conn, view, types, conds, params, deadline, on_timeout)
        else:
            hits = self._collect_sql(conn, view, types, conds, params)
        if hits is None:
            cols = {"__id": pa.array([], pa.int64())}
            cols.update({f"__rank{i}": pa.array([], pa.float64()) for i in range(len(self.targets))})
            hits = pa.table(cols)
        conn.register(HITS_VIEW, hits)
        return hits

    def _collect_sql(
        self, conn: Any, view: str, types: Mapping[str, str], conds: Sequence[str], params: Sequence[Any]
    ) -> pa.Table | None:
        texts = [self._text_sql(types, t.column) for t in self.targets]
        where_sql, where_params = list(conds), list(params)
        for t, text in zip(self.targets, texts, strict=True):
            pre = _prefilter_sql(fulltext.needles(t.node), text, where_params)
            if pre:
                where_sql.append(pre)
        inner = f'SELECT "_id", {", ".join(f"{x} AS t{i}" for i, x in enumerate(texts))} FROM {view}'
        if where_sql:
            inner += " WHERE " + " AND ".join(where_sql)
        # each distinct word of each target is counted once per row (column c<i>_<j>); Chinese words through
        # the distinct runs that hold them, each run's count worked out here once
        count_cols: list[str] = []
        count_params: list[Any] = []
        scores: list[str] = []
        for i, t in enumerate(self.targets):
            slots: dict[tuple[str, bool, str], str] = {}
            for w in _words_of(t.node):
                key = (w.text, w.prefix, w.weights)
                if key in slots:
                    continue
                col = slots[key] = f"c{i}_{len(slots)}"
                if w.weights and "D" not in w.weights:
                    count_cols.append(f"0 AS {col}")
                elif fulltext.is_han(w.text):
                    # only the Chinese runs holding the word are extracted (a targeted pattern is much cheaper
                    # than every run); the word is letters only, safe inside a pattern
                    runs_sql = f"regexp_extract_all(t{i}, '{HAN_CLASS}*{_pattern_safe(w.text)}{HAN_CLASS}*')"
                    runs = [r[0] for r in conn.execute(
                        f"SELECT DISTINCT unnest({runs_sql}) FROM ({inner}) LIMIT {MAX_DISTINCT_RUNS + 1}",
                        where_params).fetchall()]  # fmt: skip
                    if len(runs) > MAX_DISTINCT_RUNS:
                        return None  # too varied for a map: scored in Python instead
                    ns = [fulltext.run_hits(r, w) for r in runs]
                    count_cols.append(
                        f"coalesce(list_sum(list_transform({runs_sql}, "
                        f"lambda x: coalesce(map_extract_value(map(?::VARCHAR[], ?::INTEGER[]), x), 0))), 0) AS {col}"
                    )
                    count_params.extend([runs, ns])
                else:
                    runs_sql = (
                        f"regexp_extract_all(t{i}, '{WORD_CLASS}*{_pattern_safe(w.text)}{WORD_CLASS}*')"
                    )
                    test = "starts_with(x, ?)" if w.prefix else "x = ?"
                    count_cols.append(f"len(list_filter({runs_sql}, lambda x: {test})) AS {col}")
                    count_params.append(w.text)
            scores.append(_score_sql(t.node, slots))
        sql = (
            f'SELECT "__id", {", ".join(f"s{i} / (s{i} + 1) AS __rank{i}" for i in range(len(scores)))} FROM ('
            f'SELECT "__id", {", ".join(f"{s} AS s{i}" for i, s in enumerate(scores))} FROM ('
            f'SELECT "_id" AS "__id", {", ".join(count_cols)} FROM ({inner}))) '
            f"WHERE {' AND '.join(f's{i} > 0' for i in range(len(scores)))}"
        )
        return conn.sql(sql, params=[*count_params, *where_params]).to_arrow_table()

    def _collect_python(
        self,
        conn: Any,
        view: str,
        types: Mapping[str, str],
        conds: Sequence[str],
        params: Sequence[Any],
        deadline: float,
        on_timeout: Callable[[], Exception],
    ) -> pa.Table:
        ids: array.array[int] = array.array("q")
        ranks: list[array.array[float]] = [array.array("d") for _ in self.targets]
        texts = [self._text_sql(types, t.column) for t in self.targets]
        where_sql = list(conds)
        where_params = list(params)
        for t, text in zip(self.targets, texts, strict=True):
            pre = _prefilter_sql(fulltext.needles(t.node), text, where_params)
            if pre:
                where_sql.append(pre)
        sql = f'SELECT "_id", {", ".join(texts)} FROM {view}'
        if where_sql:
            sql += " WHERE " + " AND ".join(where_sql)
        cur = conn.execute(sql, where_params)
        nodes = [t.node for t in self.targets]
        while batch := cur.fetchmany(TEXT_BATCH):
            if time.monotonic() > deadline:
                raise on_timeout()
            for row in batch:
                scores = []
                for i, node in enumerate(nodes):
                    s = fulltext.score(node, fulltext.Doc(row[i + 1] or ""))
                    if s <= 0:
                        break
                    scores.append(s)
                else:
                    ids.append(row[0])
                    for i, s in enumerate(scores):
                        ranks[i].append(fulltext.rank(s))
        cols = {"__id": pa.array(ids, pa.int64())}
        for i, r in enumerate(ranks):
            cols[f"__rank{i}"] = pa.array(r, pa.float64())
        return pa.table(cols)


#: DuckDB (RE2) patterns of the runs ``fulltext`` splits a text into: Chinese runs, and runs of other
#: letters and digits (no punctuation, symbols, separators, control characters; ``_`` is punctuation)
HAN_CLASS = fulltext.HAN_RUN_RE2[:-1]  # one character of a Chinese run
WORD_CLASS = fulltext.WORD_RUN_RE2[:-1]  # one character of another run
#: a Chinese word found in more distinct runs than this is scored in Python instead
MAX_DISTINCT_RUNS = 20_000


def _pattern_safe(word: str) -> str:
    """A query word inside a DuckDB pattern: words are letters and digits (``fulltext.words``); anything else
    is refused rather than escaped."""
    if not re.fullmatch(r"[^\W_]+", word):
        raise ValueError(f"not a word: {word!r}")
    return word


def _has_phrase(node: Any) -> bool:
    if isinstance(node, fulltext.Op):
        return node.kind == "phrase" or any(_has_phrase(x) for x in node.items)
    return False


def _words_of(node: Any) -> list[fulltext.Word]:
    if isinstance(node, fulltext.Word):
        return [node]
    return [w for x in node.items for w in _words_of(x)]


def _score_sql(node: Any, slots: Mapping[tuple[str, bool, str], str]) -> str:
    """``fulltext.score`` as a DuckDB expression over the per-row word counts in ``slots``' columns."""
    if isinstance(node, fulltext.Word):
        return f"0.1 * {slots[(node.text, node.prefix, node.weights)]}"
    parts = [_score_sql(x, slots) for x in node.items]
    if node.kind == "and":
        return (
            "(CASE WHEN "
            + " AND ".join(f"({p}) > 0" for p in parts)
            + " THEN "
            + " + ".join(parts)
            + " ELSE 0.0 END)"
        )
    if node.kind == "or":
        return "(" + " + ".join(parts) + ")"
    if node.kind == "not":
        return f"(CASE WHEN ({parts[0]}) > 0 THEN 0.0 ELSE 1e-9 END)"
    raise ValueError(node.kind)


def _prefilter_sql(need: Any, text: str, params: list[Any]) -> str:
    if need is None:
        return ""
    if isinstance(need, str):
        params.append(need)
        return f"contains({text}, ?)"
    kind, items = need
    parts = [p for p in (_prefilter_sql(i, text, params) for i in items) if p]
    if not parts:
        return ""
    return "(" + f" {kind.upper()} ".join(parts) + ")"


def text_plan(
    types: Mapping[str, str],
    q: str | Mapping[str, Any] | None,
    *,
    plain: bool = True,
    language: str | None = None,
    full_text: str | None = None,
) -> TextPlan | None:
    """Parse ``q`` (CKAN: a string searches the whole row, an object searches each named column) and
    ``full_text`` (the whole row, alongside an object ``q``). None: no text search."""
    if language is not None and language not in fulltext.LANGUAGES:
        raise err(
            "unsupported",
            f"不支持全文检索语言 {language!r}（支持：{'、'.join(fulltext.LANGUAGES)}）。",
            f"The full-text language {language!r} is not supported here (supported: "
            f"{', '.join(fulltext.LANGUAGES)}).",
            "language",
        )
    targets: list[TextTarget] = []

    def parsed(text: str, fld: str) -> Any:
        try:
            return fulltext.parse(text, plain)
        except fulltext.FullTextError as e:
            raise err("invalid_query", e.message, e.message_en, "query" if fld == "q" else fld) from None

    if full_text is not None and full_text != "":
        if not isinstance(full_text, str):
            raise err("invalid", "full_text 必须是文本。", "full_text must be a string.", "full_text")
        targets.append(TextTarget("rank", None, parsed(full_text, "full_text")))
    if q is not None and q != "" and q != {}:
        if isinstance(q, str):
            if not targets:  # CKAN: with full_text, a string q is not searched
                targets.append(TextTarget("rank", None, parsed(q, "q")))
        elif isinstance(q, Mapping):
            for name, raw in q.items():
                col = check_column(types, name, "q")
                if not isinstance(raw, (str, int, float, decimal.Decimal)) or isinstance(raw, bool):
                    raise err(
                        "invalid", f"q 中列 {col} 的值必须是文本。", f"q value for {col} must be text.", "q"
                    )
                targets.append(TextTarget(f"rank {col}", col, parsed(str(raw), "q")))
        else:
            raise err("invalid", "q 必须是文本或对象。", "q must be a string or an object.", "q")
    return TextPlan(targets) if targets else None


@dataclass(frozen=True)
class SortKey:
    """One sort item. ``nulls`` as PostgreSQL orders them unless told: last ascending, first descending."""

    name: str
    direction: str = "asc"
    nulls: str = ""

    @property
    def null_order(self) -> str:
        return self.nulls or ("last" if self.direction == "asc" else "first")

    def sql(self, expr: str | None = None) -> str:
        return f"{expr or quote_ident(self.name)} {self.direction.upper()} NULLS {self.null_order.upper()}"


_SORT_ITEM = re.compile(r'^(?:"(?P<q>(?:[^"]|"")*)"|(?P<name>.+?))(?:\s+(?P<dir>asc|desc))?(?:\s+nulls\s+(?P<nulls>first|last))?\s*$',
                        re.IGNORECASE | re.DOTALL)  # fmt: skip


def parse_sort(types: Mapping[str, str], sort: Any, extra: Sequence[str] = ()) -> list[SortKey]:
    """CKAN's sort (``_parse_sort_clause``): ``"col asc, "quoted col" desc nulls last"`` or a list of such
    items; each names a column (or one of ``extra``, e.g. ``rank``) with optional asc|desc and
    nulls first|last."""
    if sort is None:
        return []
    if isinstance(sort, (list, tuple)):
        if not all(isinstance(s, str) for s in sort):
            raise err(
                "invalid_sort",
                "sort 必须是文本或文本列表。",
                "sort must be a string or a list of strings.",
                "sort",
            )
        items = [i for s in sort for i in _split_sort(s)]
        if not items:
            return []
    elif isinstance(sort, str):
        items = _split_sort(sort)
    else:
        raise err("invalid_sort", "sort 必须是文本。", "sort must be a string.", "sort")
    out: list[SortKey] = []

    def bad(item: str) -> QueryError:
        return err(
            "invalid_sort",
            f"无法识别的排序项：{item.strip()!r}（格式：列名 [asc|desc] [nulls first|last]）。",
            f"Cannot sort by {item.strip()!r} (expected: column [asc|desc] [nulls first|last]).",
            "sort",
        )

    for item in items:
        s = item.strip()
        if not s:
            if len(items) == 1:
                return []
            raise bad(item)
        name: str | None = s if s in types or s in extra else None
        direction, nulls = "asc", ""
        if name is None:
            m = _SORT_ITEM.match(s)
            if m:
                name = (
                    m.group("q").replace('""', '"') if m.group("q") is not None else m.group("name").strip()
                )
                direction = (m.group("dir") or "asc").lower()
                nulls = (m.group("nulls") or "").lower()
        if name is not None and name in getattr(types, "hidden", ()):
            raise outside_grant(name, "sort")
        if name is None or (name not in types and name not in extra):
            raise bad(item)
        if any(k.name == name for k in out):
            raise bad(item)
        out.append(SortKey(name, direction, nulls))
    return out


def _split_sort(sort: str) -> list[str]:
    """Split at commas outside double quotes."""
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
    return items


def parse_fields(types: Mapping[str, str], fields: Any, extra: Sequence[str] = ()) -> list[str]:
    """The columns to return (CKAN: a list or a comma-separated string); none given: every column, then
    ``extra`` (the rank columns of a text search)."""
    if fields is None:
        return [*types, *extra]
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
        col = f if isinstance(f, str) and f in extra and f not in types else check_column(types, f, "fields")
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
    """``formula_safe`` as a DuckDB expression over the text ``expr`` (``ascii`` is the first character's code
    point: nearly free, where ``left(..., 1) IN (...)`` cost a CSV export a third of its speed)."""
    codes = ", ".join(str(ord(c)) for c in FORMULA_START)
    return f"CASE WHEN ascii({expr}) IN ({codes}) THEN '''' || {expr} ELSE {expr} END"


def select_list(
    names: Sequence[str],
    types: Mapping[str, str],
    *,
    mode: str = "plain",
    virtual: Mapping[str, str] | None = None,
) -> str:
    """Column list; ``mode`` csv (search records): timestamps as CKAN writes them; json: ISO timestamps, no NaN/Infinity;
    csv_file: as csv, and every text cell and column name that a spreadsheet would run as a formula
    neutralised (``formula_safe``), for the files people open in Excel or WPS."""
    out = []
    for n in names:
        ident = quote_ident(n)
        if virtual and n in virtual:  # e.g. a text search's rank
            out.append(f"{virtual[n]} AS {ident}")
            continue
        typ = types.get(n)
        alias = quote_ident(formula_safe(n)) if mode == "csv_file" else ident
        if mode == "csv" and typ == "datetime":  # CKAN search_data: to_char(…, 'YYYY-MM-DD"T"HH24:MI:SS')
            out.append(f"strftime({ident}, '%Y-%m-%dT%H:%M:%S') AS {alias}")
        elif mode == "csv_file" and typ == "datetime":
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
