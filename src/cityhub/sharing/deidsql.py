"""A de-identification policy (``sharing.deid``) compiled to DuckDB SQL over a whole table (pure: imports
nothing else from CityHub but the sharing algorithms).

``compile_policy(columns, spec, default=…, key=…)`` gives one SELECT list: every operator that SQL can express
runs as SQL (keep; generic, mobile masks; keyed pseudonyms as HMAC-SHA256 written with DuckDB's ``sha256`` —
``H((K⊕opad) ‖ H((K⊕ipad) ‖ m))``; district and age-band generalisation; year of a DATE column). A resident ID is
checked in SQL as ``sharing.deid.normalise_resident_id`` checks it (shape, ISO 7064 check character, a real birth
date) except for the birthplace code, which needs ``python-stdnum``'s region table: that is looked up once per
distinct (region code, birth year) — a few thousand pairs for millions of IDs. What remains — a year out of date
*text*, and free-text redaction (``sharing.textpii``) — runs the very function ``sharing.deid`` applies, once per
*distinct* value: the caller reads the column's distinct values
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
#: the characters Python's ``str.strip()`` removes, for DuckDB's ``trim(text, characters)``
_SPACES = "".join(c for c in map(chr, range(0x3001)) if c.isspace())
#: ISO 7064 MOD 11-2 as ``stdnum.cn.ric`` computes it: check = (1 − Σ dᵢ·Wᵢ) mod 11, 10 → X (Wᵢ = 2^(18−i) mod 11)
_RIC_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


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
    #: columns computed once per row before the SELECT, over the table as ``t``: a normalised resident ID
    #: (``pre``), then whether its shape, check character and birth date hold (``pre2``, over ``pre``'s output)
    pre: list[str] = field(default_factory=list)
    pre2: list[str] = field(default_factory=list)
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
    return f"trim({s}, {_lit(_SPACES)})"


def _mobile_digits(s: str) -> str:
    """The 11 digits of a mainland mobile number, '' when it is not one (as ``deid.normalise_mobile``)."""
    cleaned = f"regexp_replace({s}, '[\\s\\-()]', '', 'g')"
    return f"regexp_extract({cleaned}, '^(?:\\+?86|0086)?(1[3-9][0-9]{{9}})$', 1)"


def _birthplace(code_year: str) -> bool:
    try:
        return deid._birthplace_known(code_year[:6], int(code_year[6:10]))
    except (ValueError, OverflowError):
        return False


def _resident_id(s: str, index: int, out: Compiled) -> tuple[str, str]:
    """SQL for (the normalised number, whether it is a valid resident ID) of the text ``s``; the number is
    computed once per row (``Compiled.pre``)."""
    name, ok = f"__deid_v_{index}", f"__deid_ok_{index}"
    v = f't."{name}"'
    shape = f"regexp_full_match({v}, '[0-9]{{17}}[0-9X]')"
    if not any(p.endswith(f'AS "{name}"') for p in out.pre):
        out.pre.append(f'upper(replace({_strip(s)}, \' \', \'\')) AS "{name}"')
        total = " + ".join(f"(ascii(substr({v}, {i + 1}, 1)) - 48) * {w}" for i, w in enumerate(_RIC_WEIGHTS))
        check_char = f"substr('0123456789X', ((1 - ({total})) % 11 + 11) % 11 + 1, 1)"
        born = f"try_strptime(substr({v}, 7, 8), '%Y%m%d') IS NOT NULL"
        out.pre2.append(f'coalesce({shape} AND right({v}, 1) = {check_char} AND {born}, false) AS "{ok}"')
    lookup = f"_deid_{index}_bp"
    out.lookups[lookup] = (_birthplace, "BOOLEAN", f'CASE WHEN t."{ok}" THEN left({v}, 10) END')
    valid = f'(t."{ok}" AND coalesce("{lookup}"._deid_dst, false))'
    return v, valid


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
            v, valid = _resident_id(s, index, out)
            return (f"CASE WHEN {col} IS NULL THEN NULL WHEN {valid} THEN left({v}, 6) || '********' || right({v}, 4) "
                    "ELSE '******************' END")
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
        key = p["key"].encode("utf-8") if isinstance(p["key"], str) else p["key"]
        text = _strip(s)
        if m == "resident_id":
            v, valid = _resident_id(s, index, out)
            text = f"CASE WHEN {valid} THEN {v} ELSE upper({text}) END"
        elif m == "mobile":
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
    if to == "year":
        return udf("BIGINT")
    v, valid = _resident_id(s, index, out)
    if to == "birth_year":
        return f"CASE WHEN {valid} THEN CAST(substr({v}, 7, 4) AS BIGINT) END"
    digits = {"county": 6, "city": 4, "province": 2}[str(p.get("level", "city"))]
    return f"CASE WHEN {valid} THEN rpad(left({v}, {digits}), 6, '0') END"  # region
