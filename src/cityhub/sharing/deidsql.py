"""A de-identification policy (``sharing.deid``) compiled to DuckDB SQL over a whole table (pure: imports
nothing else from CityHub but the sharing algorithms).

``compile_policy(columns, spec, default=…, key=…)`` gives one SELECT list: every operator that SQL can express
runs as SQL (keep; generic, mobile masks; keyed pseudonyms as HMAC-SHA256 written with DuckDB's ``sha256`` —
``H((K⊕opad) ‖ H((K⊕ipad) ‖ m))``; district and age-band generalisation; year of a DATE column). What needs
``python-stdnum``'s region table — anything reading a resident ID (mask, pseudonym ``kind=resident_id``, birth
year, region), a year out of date *text*, and free-text redaction (``sharing.textpii``) — runs the very
function ``sharing.deid`` applies, once per *distinct* value: the caller reads the column's distinct values
(one DuckDB query), maps them in Python, registers the mapping as an Arrow table and the SELECT joins it
(``Compiled.lookups``). The result equals ``Policy.apply`` value for value (a test compares them).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cityhub.sharing import deid, textpii
from cityhub.sharing.problems import SharingInputError

#: operators of a stored policy beyond ``sharing.deid``'s: ``redact`` masks identifiers inside free text
EXTRA_OPERATORS = ("redact",)
DATE_TYPES = frozenset({"date", "datetime", "timestamp"})
NUMBER_TYPES = frozenset({"integer", "number", "float", "double", "bigint"})
_SPACE = r"[\s\x{00A0}\x{3000}]"


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@dataclass
class Compiled:
    """The SELECT list, its ``?`` parameters in order, and the lookup tables to register and LEFT JOIN: name →
    (function, result SQL type, the SQL text of the source value). A lookup table has columns ``_deid_src``
    (a distinct non-null source value as text) and ``_deid_dst`` (the function's result)."""

    select: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)
    lookups: dict[str, tuple[Callable[[Any], Any], str, str]] = field(default_factory=dict)
    columns: list[str] = field(default_factory=list)

    def joins(self) -> str:
        return " ".join(f'LEFT JOIN "{name}" ON "{name}"._deid_src = {src}'
                        for name, (_f, _r, src) in self.lookups.items())


def split_spec(spec: Mapping[str, Mapping[str, Any]]) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The part of a stored policy ``sharing.deid`` knows, and the columns under ``redact``."""
    plain: dict[str, dict[str, Any]] = {}
    redact: list[str] = []
    for column, entry in spec.items():
        if isinstance(entry, Mapping) and entry.get("op") == "redact":
            if set(entry) - {"op"}:
                raise SharingInputError("redact 不接受参数", "redact takes no parameter", str(column))
            redact.append(str(column))
        else:
            plain[str(column)] = dict(entry) if isinstance(entry, Mapping) else entry
    return plain, redact


def _strip(s: str) -> str:
    return f"regexp_replace({s}, '^{_SPACE}+|{_SPACE}+$', '', 'g')"


def _mobile_digits(s: str) -> str:
    """The 11 digits of a mainland mobile number, '' when it is not one (as ``deid.normalise_mobile``)."""
    cleaned = f"regexp_replace({s}, '[\\s\\-()]', '', 'g')"
    return f"regexp_extract({cleaned}, '^(?:\\+?86|0086)?(1[3-9][0-9]{{9}})$', 1)"


def _hmac(text_sql: str, key: bytes, params: list[Any]) -> str:
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    padded = key.ljust(64, b"\0")
    params += [bytes(b ^ 0x5C for b in padded), bytes(b ^ 0x36 for b in padded)]
    return f"sha256(?::BLOB || unhex(sha256(?::BLOB || encode({text_sql}))))"


def compile_policy(
    columns: Sequence[tuple[str, str]],
    spec: Mapping[str, Mapping[str, Any]],
    *,
    default: str = "drop",
    key: bytes | None = None,
) -> Compiled:
    """SQL for the de-identified view of a table with ``columns`` (name, datastore type) under the stored
    policy ``spec``. Raises ``SharingInputError`` for a bad policy or a rule naming no column of the table."""
    plain, redact = split_spec(spec)
    policy = deid.Policy.from_dict(plain, default=default, key=key)
    names = [c for c, _ in columns]
    unknown = sorted(set(spec) - set(names))
    if unknown:
        raise SharingInputError(f"表中没有列:{'、'.join(unknown)}", f"No such column: {', '.join(unknown)}",
                                unknown[0])
    out = Compiled()
    for index, (name, kind) in enumerate(columns):
        col = quote(name)
        if name in redact:
            udf = f"_deid_{index}"
            out.lookups[udf] = (textpii.redact, "VARCHAR", f"CAST(t.{col} AS VARCHAR)")
            out.select.append(f'"{udf}"._deid_dst AS {col}')
            out.columns.append(name)
            continue
        rule = policy.rule(name)
        if rule.op == "drop":
            continue
        out.columns.append(name)
        expr = _rule_sql(rule, col, kind, index, out)
        out.select.append(f"{expr} AS {col}")
    if not out.columns:
        raise SharingInputError("脱敏视图至少要保留一列", "A de-identified view must keep at least one column",
                                "rules")
    return out


def _rule_sql(rule: deid.Rule, col: str, kind: str, index: int, out: Compiled) -> str:
    p = rule.params
    col = f"t.{col}"
    s = f"CAST({col} AS VARCHAR)"
    if rule.op == "keep":
        return col

    def udf(ret: str) -> str:
        name = f"_deid_{index}"
        out.lookups[name] = (rule.apply, ret, s)
        return f'"{name}"._deid_dst'


    if rule.op == "mask":
        m = p.get("kind", "generic")
        if m == "resident_id":
            return udf("VARCHAR")
        if m == "mobile":
            n = _mobile_digits(s)
            return (f"CASE WHEN {col} IS NULL THEN NULL WHEN {n} <> '' THEN left({n}, 3) || '****' || right({n}, 4) "
                    "ELSE '***********' END")
        first, last = int(p.get("keep_first", 0)), int(p.get("keep_last", 0))
        return (f"CASE WHEN {col} IS NULL THEN NULL WHEN length({s}) <= {first + last} THEN repeat('*', length({s})) "
                f"ELSE left({s}, {first}) || repeat('*', length({s}) - {first + last}) || "
                f"CASE WHEN {last} > 0 THEN right({s}, {last}) ELSE '' END END")
    if rule.op == "pseudonym":
        m = p.get("kind", "generic")
        if m == "resident_id":
            return udf("VARCHAR")
        key = p["key"].encode("utf-8") if isinstance(p["key"], str) else p["key"]
        text = _strip(s)
        if m == "mobile":
            n = _mobile_digits(text)
            text = f"CASE WHEN {n} <> '' THEN {n} ELSE {text} END"
        prefix, length = str(p.get("prefix", "P")), int(p.get("length", 16))
        return f"CASE WHEN {col} IS NULL THEN NULL ELSE {_lit(prefix)} || left({_hmac(text, key, out.params)}, {length}) END"
    to = p.get("to")
    if to == "district":
        names = deid.GUANGZHOU_DISTRICTS + tuple(deid.FORMER_DISTRICTS)
        found = f"regexp_extract({s}, {_lit('|'.join(names))}, 0)"
        former = " ".join(f"WHEN {_lit(a)} THEN {_lit(b)}" for a, b in deid.FORMER_DISTRICTS.items())
        return f"CASE {found} WHEN '' THEN NULL {former} ELSE {found} END"
    if to == "age_band":
        width = int(p.get("width", 10))
        if kind == "boolean":
            return "CAST(NULL AS VARCHAR)"
        if kind in NUMBER_TYPES:
            age = f"CAST({col} AS DOUBLE)"
        else:
            age = f"TRY_CAST(regexp_replace({_strip(s)}, '岁$', '') AS DOUBLE)"
        low = f"CAST(floor({age} / {width}) * {width} AS BIGINT)"
        return (f"CASE WHEN {age} >= 0 AND {age} < 150 AND NOT isnan({age}) THEN "
                f"CAST({low} AS VARCHAR) || '-' || CAST({low} + {width - 1} AS VARCHAR) END")
    if to == "year" and kind in DATE_TYPES:
        return f"CAST(year({col}) AS BIGINT)"
    if to in ("year", "birth_year"):
        return udf("BIGINT")
    return udf("VARCHAR")  # region
