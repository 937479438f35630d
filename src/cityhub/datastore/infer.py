"""Type inference rules for uploaded tables (pure: no I/O, imports nothing from cityhub).

Two faces of the same rules:

* Python predicates (``is_null``, ``parse_integer``, ``parse_date`` ...) used on small samples (header
  detection, tests, spreadsheets) and as the executable documentation of the rules;
* SQL expression builders (``sql_clean``, ``sql_flags``, ``sql_cast``) that apply the identical rules
  set-wise in DuckDB over every row of a VARCHAR staging table.

Rules
-----
* Null markers (after trimming whitespace): "", "N/A", "NA", "NULL", "null", "无", "—", "-", "/".
  They become null and never count against a type.
* integer: optional sign + ASCII digits that fit BIGINT. A column that contains any integer-looking value
  with a leading zero ("007") or more than 15 digits (IDs, phone numbers, credit codes) is a code column:
  it is neither integer nor number (it stays string, or date for 8-digit dates).
* number: plain decimal or scientific notation ("1.5", "-3", "2e5"); stored as DOUBLE. No "inf"/"nan",
  no hex, no digit separators.
* boolean: true/false, yes/no, y/n (any case), 是/否, and 1/0 -- but only when at least one cell is a
  boolean *word*: a column of just 0 and 1 stays integer.
* date: 2018-09-01, 2018/9/1, 2018年9月1日, 2018.9.1, datetimes whose time is exactly midnight
  (what spreadsheets export), and 20180901 (8 digits, a valid date between 1900 and 2100). 8-digit values
  only make a date column when at least 99% of the column's 8-digit integers are such valid dates;
  otherwise the column is an integer code column.
* datetime: a date in any of the separator forms above followed by a time hh:mm[:ss[.fff]].
* Choice: the first of boolean, date (for 8-digit date columns), integer, number, date, datetime whose
  failing share of non-null cells is at most ``bad_cell_ratio``; otherwise string. Failing cells of a
  typed column become null and are reported.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

TYPES = ("integer", "number", "boolean", "date", "datetime", "string")

NULL_MARKERS: tuple[str, ...] = ("", "N/A", "NA", "NULL", "null", "无", "—", "-", "/")
TRUE_WORDS: tuple[str, ...] = ("true", "True", "TRUE", "yes", "Yes", "YES", "y", "Y", "是")
FALSE_WORDS: tuple[str, ...] = ("false", "False", "FALSE", "no", "No", "NO", "n", "N", "否")
BOOL_DIGITS: tuple[str, ...] = ("1", "0")

#: Date formats Chinese agencies use (strptime notation, documentation only: the SQL path normalises
#: the separators and lets DuckDB's date parser accept one- or two-digit months and days).
DATE_FORMATS: tuple[str, ...] = ("%Y-%m-%d", "%Y/%m/%d", "%Y年%m月%d日", "%Y%m%d", "%Y.%m.%d")

MAX_INT_DIGITS = 15
DATE8_SHARE = 0.99
_BIGINT_MIN, _BIGINT_MAX = -(2**63), 2**63 - 1

_INT_RE = re.compile(r"[+-]?[0-9]+")
_NUM_RE = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_DATE_RE = re.compile(r"([0-9]{4})(?:-|/|\.|年)([0-9]{1,2})(?:-|/|\.|月)([0-9]{1,2})日?")
_TIME_RE = re.compile(r"(?:[ T]+)([0-9]{1,2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,6}))?)?")


# ---------------------------------------------------------------------------------------------------------
# Python predicates


def clean(value: str | None, extra_nulls: Iterable[str] = ()) -> str | None:
    """Trim a raw cell; null markers (and ``extra_nulls``) become None."""
    if value is None:
        return None
    v = value.strip()
    if v in NULL_MARKERS or v in extra_nulls:
        return None
    return v


def is_null(value: str | None) -> bool:
    return clean(value) is None


def parse_integer(value: str) -> int | None:
    v = value.strip()
    if not _INT_RE.fullmatch(v):
        return None
    n = int(v)
    return n if _BIGINT_MIN <= n <= _BIGINT_MAX else None


def is_code(value: str) -> bool:
    """An integer-looking value that must stay text: leading zero or more than 15 digits."""
    v = value.strip()
    if not _INT_RE.fullmatch(v):
        return False
    digits = v.lstrip("+-")
    return len(v) > MAX_INT_DIGITS or (len(digits) > 1 and digits.startswith("0"))


def parse_number(value: str) -> float | None:
    v = value.strip()
    if not _NUM_RE.fullmatch(v):
        return None
    return float(v)


def parse_boolean(value: str) -> bool | None:
    v = value.strip()
    if v in TRUE_WORDS or v == "1":
        return True
    if v in FALSE_WORDS or v == "0":
        return False
    return None


def parse_date8(value: str) -> _dt.date | None:
    v = value.strip()
    if len(v) != 8 or not v.isascii() or not v.isdigit():
        return None
    try:
        d = _dt.date(int(v[:4]), int(v[4:6]), int(v[6:]))
    except ValueError:
        return None
    return d if 1900 <= d.year <= 2100 else None


def parse_datetime(value: str) -> _dt.datetime | None:
    """Any supported date, with or without a time part (dates give midnight)."""
    v = value.strip()
    m = _DATE_RE.match(v)
    if not m:
        return None
    rest = v[m.end() :]
    hh = mm = ss = us = 0
    if rest:
        t = _TIME_RE.fullmatch(rest)
        if not t:
            return None
        hh, mm = int(t.group(1)), int(t.group(2))
        ss = int(t.group(3) or 0)
        us = int((t.group(4) or "0").ljust(6, "0"))
    try:
        return _dt.datetime(int(m.group(1)), int(m.group(2)), int(m.group(3)), hh, mm, ss, us)
    except ValueError:
        return None


def parse_date(value: str) -> _dt.date | None:
    d8 = parse_date8(value)
    if d8 is not None:
        return d8
    dt = parse_datetime(value)
    if dt is None or dt.time() != _dt.time(0):
        return None
    return dt.date()


def value_type(value: str | None) -> str | None:
    """Narrowest type of one cell (None for nulls); used for header detection on small samples."""
    v = clean(value)
    if v is None:
        return None
    if v in TRUE_WORDS or v in FALSE_WORDS:
        return "boolean"
    if parse_date8(v) is not None:
        return "date"
    if parse_integer(v) is not None:
        return "string" if is_code(v) else "integer"
    if parse_number(v) is not None:
        return "number"
    dt = parse_datetime(v)
    if dt is not None:
        return "date" if dt.time() == _dt.time(0) and ":" not in v else "datetime"
    return "string"


def detect_header(rows: Sequence[Sequence[str]]) -> bool:
    """Vote per column: a typed body (numbers/dates/booleans) under a first cell of the same type means
    the first row is data; under a text cell means a header. Ties (all-text tables) keep the header."""
    if len(rows) < 2:
        return True
    first = rows[0]
    body = rows[1:]
    header_votes = data_votes = 0
    for j, cell in enumerate(first):
        col = [r[j] for r in body if j < len(r)]
        types = {value_type(v) for v in col} - {None}
        if not types or "string" in types:
            continue
        t0 = value_type(cell)
        if t0 is None:
            continue
        numeric = {"integer", "number"}
        same = t0 in types or (t0 in numeric and types <= numeric)
        if same:
            data_votes += 1
        else:
            header_votes += 1
    return not (data_votes > header_votes)


# ---------------------------------------------------------------------------------------------------------
# Whole-column statistics and the type-choice rule


@dataclass
class ColumnStats:
    """Counts over every row of one column (all counts are of non-null cleaned cells)."""

    nonnull: int = 0
    integer: int = 0  # parses as BIGINT
    code: int = 0  # integer-looking with a leading zero or > 15 digits
    int8: int = 0  # 8-digit integers
    number: int = 0
    boolean: int = 0  # boolean words or 0/1
    bool_word: int = 0  # boolean words (not 0/1)
    date8: int = 0  # valid yyyymmdd dates 1900..2100
    date: int = 0  # separator dates, or datetimes at exactly midnight
    datetime: int = 0  # any separator date or datetime

    extra: dict[str, int] = field(default_factory=dict)

    def ok(self, type_: str, *, declared: bool = False) -> int:
        """How many non-null cells a column of ``type_`` would keep."""
        if type_ == "integer":
            return self.integer
        if type_ == "number":
            return self.number
        if type_ == "boolean":
            return self.boolean
        if type_ == "date":
            return self.date + self.date8
        if type_ == "datetime":
            return self.datetime
        return self.nonnull


STAT_FIELDS = ("nonnull", "integer", "code", "int8", "number", "boolean", "bool_word", "date8", "date", "datetime")


def choose_type(stats: ColumnStats, bad_cell_ratio: float) -> str:
    n = stats.nonnull
    if n == 0:
        return "string"

    def fits(ok: int) -> bool:
        return (n - ok) <= bad_cell_ratio * n

    date8_trusted = stats.int8 == 0 or stats.date8 >= DATE8_SHARE * stats.int8
    if stats.bool_word > 0 and fits(stats.boolean):
        return "boolean"
    if stats.date8 > 0 and date8_trusted and fits(stats.date + stats.date8):
        return "date"
    if stats.code == 0 and fits(stats.integer):
        return "integer"
    if stats.code == 0 and fits(stats.number):
        return "number"
    if date8_trusted and fits(stats.date + stats.date8):
        return "date"
    if fits(stats.datetime):
        return "datetime"
    return "string"


def infer_values(values: Iterable[str | None], bad_cell_ratio: float = 0.01) -> str:
    """Pure-Python version of the column rule (small samples, tests)."""
    s = ColumnStats()
    for raw in values:
        v = clean(raw)
        if v is None:
            continue
        s.nonnull += 1
        if parse_integer(v) is not None:
            s.integer += 1
            if is_code(v):
                s.code += 1
            if len(v) == 8:
                s.int8 += 1
        if parse_number(v) is not None:
            s.number += 1
        b = parse_boolean(v)
        if b is not None:
            s.boolean += 1
            if v not in BOOL_DIGITS:
                s.bool_word += 1
        if parse_date8(v) is not None:
            s.date8 += 1
        dt = parse_datetime(v)
        if dt is not None:
            s.datetime += 1
            if dt.time() == _dt.time(0):
                s.date += 1
    return choose_type(s, bad_cell_ratio)


# ---------------------------------------------------------------------------------------------------------
# SQL builders (DuckDB dialect). ``col`` arguments are already-quoted identifiers or expressions.


def sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _sql_list(values: Iterable[str]) -> str:
    return "(" + ", ".join(sql_str(v) for v in values) + ")"


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sql_clean(col: str, extra_nulls: Iterable[str] = ()) -> str:
    """Cleaned value: NULL for null markers, surrounding spaces trimmed. The fast path (no leading control
    /space character, no trailing space) avoids calling trim() on every cell; the trailing-space test looks
    for a space anywhere first (``contains`` scans like memchr: 10M cells, 0.06 CPU s against 0.13 for a
    ``suffix`` test), so most cells never reach the two ``suffix`` calls."""
    values = list(NULL_MARKERS) + [m for m in extra_nulls if m not in NULL_MARKERS]
    markers = _sql_list(values)
    return (
        f"CASE WHEN {_in_short(col, values)} THEN NULL "
        f"WHEN {col} < '!' OR ((contains({col}, ' ') OR contains({col}, '\u3000')) "
        f"AND (suffix({col}, ' ') OR suffix({col}, '\u3000'))) "
        f"THEN CASE WHEN trim({col}) IN {markers} THEN NULL ELSE trim({col}) END "
        f"ELSE {col} END"
    )


#: regular expressions (RE2) for the SQL path; shape checks are much cheaper than TRY_CAST on every cell
SQL_DIGITS_RE = "[+-]?[0-9]+"
SQL_INT_RE = "[+-]?[0-9]{1,18}"  # always fits BIGINT
SQL_NUM_RE = "[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]{1,3})?"
SQL_DATE_RE = (
    "[0-9]{4}[-/.年][0-9]{1,2}[-/.月][0-9]{1,2}日?"
    "([ T]+[0-9]{1,2}:[0-9]{2}(:[0-9]{2}([.][0-9]{1,9})?)?)?"
)


def _in_short(t: str, values: Sequence[str]) -> str:
    """``t IN values``, guarded by the values' longest byte length: the length of a DuckDB string is stored
    with it, so most cells are decided without touching their bytes (an IN list of short words on every
    cell of a 10M-row file costs seconds; the guard makes it nearly free)."""
    longest = max(len(v.encode("utf-8")) for v in values)
    return f"(strlen({t}) <= {longest} AND {t} IN {_sql_list(values)})"


def _re(t: str, pattern: str) -> str:
    return f"regexp_full_match({t}, {sql_str(pattern)})"


def _numish(t: str) -> str:
    """Cheap guard: first character is one of + , - . / 0-9 (plain byte comparisons)."""
    return f"({t} >= '+' AND {t} < ':')"


def _sql_ts(t: str, target: str = "TIMESTAMP") -> str:
    """``target`` (TIMESTAMP or DATE) for any supported separator date/datetime, else NULL (no 8-digit form)."""
    norm = (
        f"CASE WHEN substr({t}, 5, 1) = '-' THEN {t} ELSE regexp_replace({t}, "
        "'^([0-9]{4})[/.年]([0-9]{1,2})[/.月]([0-9]{1,2})日?', '\\1-\\2-\\3') END"
    )
    return (
        f"CASE WHEN {t} >= '0' AND {t} < ':' AND length({t}) >= 8 THEN "
        f"CASE WHEN {_re(t, SQL_DATE_RE)} THEN TRY_CAST({norm} AS {target}) END END"
    )


def _sql_date8(t: str) -> str:
    """DATE for a valid yyyymmdd between 1900 and 2100, else NULL."""
    return (
        f"CASE WHEN length({t}) = 8 AND {t} >= '19' AND {t} < '22' THEN "
        f"CASE WHEN {_re(t, '[0-9]{8}')} THEN CAST(try_strptime({t}, '%Y%m%d') AS DATE) END END"
    )


#: every per-cell flag ``sql_flags`` can project
FLAGS = ("d", "n", "bw", "b01", "d8", "x", "len", "z")
#: the flags each ``ColumnStats`` count needs
AGG_NEEDS: dict[str, frozenset[str]] = {
    "nonnull": frozenset({"len"}),
    "integer": frozenset({"d", "len"}),
    "code": frozenset({"d", "len", "z"}),
    "int8": frozenset({"d", "len"}),
    "number": frozenset({"n"}),
    "boolean": frozenset({"bw", "b01"}),
    "bool_word": frozenset({"bw"}),
    "date8": frozenset({"d8"}),
    "date": frozenset({"x"}),
    "datetime": frozenset({"x"}),
}
#: the flags that check a type chosen on a sample against every row: the counts that decide between
#: types by existence (a code, a boolean word, a yyyymmdd date, an 8-digit integer), plus the type's own
_VERIFY_BASE = frozenset({"d", "bw", "d8", "len", "z"})
VERIFY_FLAGS: dict[str, frozenset[str]] = {
    "integer": _VERIFY_BASE,
    "number": _VERIFY_BASE | {"n"},
    "boolean": _VERIFY_BASE | {"b01"},
    "date": _VERIFY_BASE | {"x"},
    "datetime": _VERIFY_BASE | {"x"},
}


def sql_flags(t: str, prefix: str, only: Iterable[str] | None = None) -> list[str]:
    """Per-cell projections (named ``<prefix>_<flag>``) used by ``sql_aggregates``. ``t`` must be a
    cleaned value (see ``sql_clean``), ideally a plain column reference. ``only``: a subset of ``FLAGS``."""
    exprs = {
        "d": f"CASE WHEN {_numish(t)} THEN {_re(t, SQL_DIGITS_RE)} ELSE false END",
        "n": f"CASE WHEN {_numish(t)} THEN {_re(t, SQL_NUM_RE)} ELSE false END",
        "bw": _in_short(t, TRUE_WORDS + FALSE_WORDS),
        "b01": f"({t} IN ('0', '1'))",
        "d8": f"({_sql_date8(t)})",
        "x": f"({_sql_ts(t)})",
        "len": f"length({t})",
        "z": f"(starts_with({t}, '0') OR starts_with({t}, '-0') OR starts_with({t}, '+0'))",
    }
    wanted = set(FLAGS if only is None else only)
    return [f"{expr} AS {prefix}_{name}" for name, expr in exprs.items() if name in wanted]


def sql_aggregates(prefix: str, only: Iterable[str] | None = None, weight: str | None = None) -> list[tuple[str, str]]:
    """(stat field, aggregate expression) over the projections of ``sql_flags`` (those computable from
    the flags in ``only``). With ``weight`` (a column), each row counts as that many cells: the counts over
    distinct values and their multiplicities equal the counts over the cells."""
    p = prefix

    def count(x: str) -> str:
        return f"count({x})" if weight is None else f"sum(CASE WHEN {x} IS NOT NULL THEN {weight} ELSE 0 END)"

    def count_if(cond: str) -> str:
        return f"count_if({cond})" if weight is None else f"sum(CASE WHEN {cond} THEN {weight} ELSE 0 END)"

    aggs = [
        ("nonnull", count(f"{p}_len")),
        ("integer", count_if(f"{p}_d AND {p}_len <= 18")),
        ("code", count_if(f"{p}_d AND ({p}_len > {MAX_INT_DIGITS} OR ({p}_z AND {p}_len > 1))")),
        ("int8", count_if(f"{p}_d AND {p}_len = 8")),
        ("number", count_if(f"{p}_n")),
        ("boolean", count_if(f"{p}_bw OR {p}_b01")),
        ("bool_word", count_if(f"{p}_bw")),
        ("date8", count(f"{p}_d8")),
        ("date", count_if(f"CAST({p}_x AS TIME) = TIME '00:00:00'")),
        ("datetime", count(f"{p}_x")),
    ]
    have = set(FLAGS if only is None else only)
    return [(name, expr) for name, expr in aggs if AGG_NEEDS[name] <= have]


def verified_stats(sample: ColumnStats, full: ColumnStats, computed: Iterable[str]) -> ColumnStats:
    """Whole-file counts: ``computed`` fields from ``full`` (every row), the rest scaled from ``sample``."""
    done = set(computed)
    out = ColumnStats()
    scale = full.nonnull / sample.nonnull if sample.nonnull else 0.0
    for name in AGG_NEEDS:
        value = getattr(full, name) if name in done else round(getattr(sample, name) * scale)
        setattr(out, name, value)
    return out


def sql_cast(t: str, type_: str) -> str:
    """Typed value of the cleaned text ``t``; NULL when the cell does not fit ``type_``."""
    if type_ == "integer":
        return f"CASE WHEN {_numish(t)} THEN CASE WHEN {_re(t, SQL_INT_RE)} THEN TRY_CAST({t} AS BIGINT) END END"
    if type_ == "number":
        return f"CASE WHEN {_numish(t)} THEN CASE WHEN {_re(t, SQL_NUM_RE)} THEN TRY_CAST({t} AS DOUBLE) END END"
    if type_ == "boolean":
        return (
            f"CASE WHEN {_in_short(t, (*TRUE_WORDS, '1'))} THEN true "
            f"WHEN {_in_short(t, (*FALSE_WORDS, '0'))} THEN false END"
        )
    if type_ == "date":
        ts = _sql_ts(t)
        return (
            f"coalesce({_sql_date8(t)}, CASE WHEN contains({t}, ':') "
            f"THEN CASE WHEN CAST({ts} AS TIME) = TIME '00:00:00' THEN CAST({ts} AS DATE) END "
            f"ELSE {_sql_ts(t, 'DATE')} END)"
        )
    if type_ == "datetime":
        return _sql_ts(t)
    return t


SQL_TYPES = {
    "integer": "BIGINT",
    "number": "DOUBLE",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "datetime": "TIMESTAMP",
    "string": "VARCHAR",
}

REASONS = {
    "integer": "not an integer",
    "number": "not a number",
    "boolean": "not a boolean",
    "date": "not a date",
    "datetime": "not a datetime",
}

#: Frictionless Table Schema types accepted in a declared schema -> our types.
FRICTIONLESS_TYPES = {
    "integer": "integer",
    "number": "number",
    "boolean": "boolean",
    "date": "date",
    "datetime": "datetime",
    "string": "string",
    "year": "integer",
    "any": "string",
    "object": "string",
    "array": "string",
    "time": "string",
    "yearmonth": "string",
    "duration": "string",
    "geopoint": "string",
    "geojson": "string",
}


def duckdb_type_name(sql_type: str) -> str:
    """Map a DuckDB column type (e.g. from a Parquet file) to our type names."""
    t = sql_type.upper()
    if t in {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "HUGEINT", "UHUGEINT"}:
        return "integer"
    if t in {"FLOAT", "DOUBLE", "REAL"} or t.startswith("DECIMAL"):
        return "number"
    if t == "BOOLEAN":
        return "boolean"
    if t == "DATE":
        return "date"
    if t.startswith("TIMESTAMP"):
        return "datetime"
    return "string"
