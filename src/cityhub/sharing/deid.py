"""Per-column de-identification operators and policies (GB/T 37964-2019), over plain values.

Pure: imports nothing else from CityHub. A ``Policy`` maps each column to one ``Rule`` (an operator and its
parameters) and applies it to rows (a list of dicts) or to one column's values:

* ``drop`` -- the column leaves the output;
* ``keep`` -- unchanged (the action layer decides who may see kept personal data);
* ``mask`` -- ``kind="resident_id"``: ``440106********123X`` (first 6 and last 4 kept) after checking the number
  with ``stdnum.cn.ric``, an invalid number is masked whole; ``kind="mobile"``: ``138****5678``, a value that is
  not a mainland mobile number is masked whole; ``kind="generic"``: ``keep_first`` / ``keep_last`` characters
  kept, everything masked when nothing would be hidden;
* ``pseudonym`` -- keyed hash (HMAC-SHA256 with a ``key`` passed in): ``prefix`` + the first ``length`` hex
  characters; the same value and key give the same token (joinable across tables), another key another token.
  ``kind="resident_id"`` / ``"mobile"`` normalise first (upper-case X; digits without +86) so spellings agree;
* ``generalise`` -- ``to="year"`` (a birth date → its year), ``to="birth_year"`` (resident ID → year of birth),
  ``to="region"`` (resident ID → its region code at ``level`` county / city / province, e.g. ``440100``),
  ``to="district"`` (a Guangzhou address → one of its 11 districts; former district names map to today's),
  ``to="age_band"`` (an age → ``"30-39"``, bands of ``width`` years).

``None`` stays ``None`` under every operator but ``drop``. A value an operator cannot read never passes
through: masking masks it whole, generalising gives ``None`` (suppression). Bad *policies* (unknown operator or
parameter, missing key) raise ``SharingInputError`` with a Chinese and an English message and the column.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from stdnum.cn import ric
from stdnum.exceptions import ValidationError

from cityhub.sharing.problems import SharingInputError

OPERATORS = ("drop", "keep", "mask", "pseudonym", "generalise")
MASK_KINDS = ("generic", "resident_id", "mobile")
GENERALISE_TO = ("year", "birth_year", "region", "district", "age_band")
MASK_CHAR = "*"

#: Guangzhou's 11 districts (since 2014), and former names of areas now inside them.
GUANGZHOU_DISTRICTS = (
    "越秀区",
    "海珠区",
    "荔湾区",
    "天河区",
    "白云区",
    "黄埔区",
    "番禺区",
    "花都区",
    "南沙区",
    "从化区",
    "增城区",
)
FORMER_DISTRICTS = {
    "东山区": "越秀区",
    "芳村区": "荔湾区",
    "萝岗区": "黄埔区",
    "从化市": "从化区",
    "增城市": "增城区",
}
_DISTRICT_RE = re.compile("|".join(map(re.escape, GUANGZHOU_DISTRICTS + tuple(FORMER_DISTRICTS))))
_RIC_RE = re.compile(r"[0-9]{17}[0-9X]")
_MOBILE_RE = re.compile(r"(?:\+?86|0086)?(1[3-9][0-9]{9})")
_DATE_RES = (
    re.compile(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[ T].*)?"),
    re.compile(r"(\d{4})(\d{2})(\d{2})"),
)
_REGION_DIGITS = {"county": 6, "city": 4, "province": 2}

# operator → its allowed parameters (a parameter not listed is refused: a typo must not weaken a policy)
_PARAMS: dict[str, frozenset[str]] = {
    "drop": frozenset(),
    "keep": frozenset(),
    "mask": frozenset({"kind", "keep_first", "keep_last"}),
    "pseudonym": frozenset({"key", "prefix", "length", "kind"}),
    "generalise": frozenset({"to", "level", "width"}),
}


def _err(zh: str, en: str, column: str | None) -> SharingInputError:
    return SharingInputError(zh, en, column)


# --- reading values --------------------------------------------------------------------------------------


def normalise_resident_id(value: Any) -> str | None:
    """The 18-character number (X upper-case) when ``stdnum.cn.ric`` accepts it, else None."""
    if value is None:
        return None
    v = str(value).strip().upper().replace(" ", "")
    if not _RIC_RE.fullmatch(v) or v[-1] != ric.calc_check_digit(v):
        return None
    try:  # ric.get_birth_date without its clean-up (the number is already compact): a tenth of the time
        born = dt.date(int(v[6:10]), int(v[10:12]), int(v[12:14]))
    except ValueError:
        return None
    return v if _birthplace_known(v[:6], born.year) else None


@lru_cache(maxsize=65536)
def _birthplace_known(code: str, year: int) -> bool:
    """``stdnum.cn.ric``'s birthplace check (a region code in use in that year), remembered per code and year:
    it is half the cost of ``ric.is_valid`` and the same few thousand codes recur. Together with the check
    character and the birth date this is exactly ``ric.is_valid`` (a test compares them)."""
    try:
        ric.get_birth_place(f"{code}{year:04d}01010000")
    except ValidationError:
        return False
    return True


def normalise_mobile(value: Any) -> str | None:
    """The 11 digits of a mainland mobile number (``+86``, spaces and dashes removed), else None."""
    if value is None:
        return None
    m = _MOBILE_RE.fullmatch(re.sub(r"[\s\-()]", "", str(value)))
    return m.group(1) if m else None


def read_date(value: Any) -> dt.date | None:
    """A date from a ``date``/``datetime`` or text such as ``1990-05-17``, ``1990/5/17``, ``19900517``,
    ``1990年5月17日``; None when it is not a real date."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        return None
    text = value.strip()
    for pattern in _DATE_RES:
        m = pattern.fullmatch(text)
        if m:
            try:
                return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            except ValueError:
                return None
    return None


def _read_age(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        age = float(value)
    else:
        try:
            age = float(str(value).strip().removesuffix("岁"))
        except ValueError:
            return None
    if not 0 <= age < 150:  # also refuses NaN
        return None
    return age


# --- operators over one value ---------------------------------------------------------------------------


def mask_resident_id(value: Any) -> str:
    """``440106********123X``; an invalid number is masked whole (18 characters)."""
    v = normalise_resident_id(value)
    if v is None:
        return MASK_CHAR * 18
    return v[:6] + MASK_CHAR * 8 + v[-4:]


def mask_mobile(value: Any) -> str:
    """``138****5678``; a value that is not a mainland mobile number is masked whole (11 characters)."""
    v = normalise_mobile(value)
    if v is None:
        return MASK_CHAR * 11
    return v[:3] + MASK_CHAR * 4 + v[-4:]


def mask_generic(value: Any, keep_first: int = 0, keep_last: int = 0) -> str:
    """Keep the first and last characters asked for; mask everything when nothing would be hidden."""
    text = str(value)
    if len(text) <= keep_first + keep_last:
        return MASK_CHAR * len(text)
    return (
        text[:keep_first] + MASK_CHAR * (len(text) - keep_first - keep_last) + text[len(text) - keep_last :]
    )


def pseudonym(value: Any, key: bytes, prefix: str = "P", length: int = 16, kind: str = "generic") -> str:
    """``prefix`` + the first ``length`` hex characters of HMAC-SHA256(key, normalised value)."""
    text = str(value).strip()
    if kind == "resident_id":
        text = normalise_resident_id(text) or text.upper()
    elif kind == "mobile":
        text = normalise_mobile(text) or text
    return prefix + hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()[:length]


def birth_year(value: Any) -> int | None:
    date = read_date(value)
    return date.year if date else None


def resident_birth_year(value: Any) -> int | None:
    v = normalise_resident_id(value)
    return int(v[6:10]) if v else None


def resident_region(value: Any, level: str = "city") -> str | None:
    """The region code of a valid number, cut to ``level`` and padded: county ``440106``, city ``440100``,
    province ``440000``."""
    v = normalise_resident_id(value)
    if v is None:
        return None
    digits = _REGION_DIGITS[level]
    return v[:digits].ljust(6, "0")


def district(value: Any) -> str | None:
    """The Guangzhou district an address names (the first one it names), by today's name; else None."""
    if value is None:
        return None
    m = _DISTRICT_RE.search(str(value))
    if m is None:
        return None
    name = m.group(0)
    return FORMER_DISTRICTS.get(name, name)


def age_band(value: Any, width: int = 10) -> str | None:
    """``"30-39"`` for 30 ≤ age < 40 (``width=10``); None for what is not an age from 0 to 149."""
    age = _read_age(value)
    if age is None:
        return None
    low = int(age // width) * width
    return f"{low}-{low + width - 1}"


# --- rules and policies ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One column's operator and parameters, checked when built: ``Rule("mask", {"kind": "mobile"})`` or
    ``Rule.build("mask", kind="mobile")``; ``rule.apply(value)`` de-identifies one value."""

    op: str
    params: Mapping[str, Any] = field(default_factory=dict)
    column: str | None = field(default=None, compare=False)
    apply: Callable[[Any], Any] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.op not in _PARAMS:
            raise _err(
                f"未知的脱敏方式:{self.op}(可用:{'、'.join(OPERATORS)})",
                f"Unknown de-identification operator: {self.op} (one of {', '.join(OPERATORS)})",
                self.column,
            )
        unknown = sorted(set(self.params) - _PARAMS[self.op])
        if unknown:
            raise _err(
                f"{self.op} 不接受参数:{', '.join(unknown)}",
                f"{self.op} takes no parameter {', '.join(unknown)}",
                self.column,
            )
        object.__setattr__(self, "params", dict(self.params))
        object.__setattr__(self, "apply", _make(self.op, self.params, self.column))

    @classmethod
    def build(cls, op: str, column: str | None = None, **params: Any) -> Rule:
        return cls(op=op, params=params, column=column)


def _int_param(
    params: Mapping[str, Any], name: str, default: int, low: int, high: int, column: str | None
) -> int:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _err(
            f"参数 {name} 应为 {low} 到 {high} 之间的整数",
            f"Parameter {name} must be a whole number from {low} to {high}",
            column,
        )
    return value


def _choice(
    params: Mapping[str, Any], name: str, default: str | None, allowed: Iterable[str], column: str | None
) -> str:
    allowed = tuple(allowed)
    value = params.get(name, default)
    if value not in allowed:
        raise _err(
            f"参数 {name} 应为以下之一:{'、'.join(allowed)}",
            f"Parameter {name} must be one of {', '.join(allowed)}",
            column,
        )
    return str(value)


def _none_safe(func: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda v: None if v is None else func(v)


def _make(op: str, params: Mapping[str, Any], column: str | None) -> Callable[[Any], Any]:
    if op in ("keep", "drop"):
        return lambda v: v
    if op == "mask":
        kind = _choice(params, "kind", "generic", MASK_KINDS, column)
        if kind == "resident_id":
            return _none_safe(mask_resident_id)
        if kind == "mobile":
            return _none_safe(mask_mobile)
        first = _int_param(params, "keep_first", 0, 0, 64, column)
        last = _int_param(params, "keep_last", 0, 0, 64, column)
        return _none_safe(lambda v: mask_generic(v, first, last))
    if op == "pseudonym":
        key = params.get("key")
        if isinstance(key, str):
            key = key.encode("utf-8")
        if not isinstance(key, bytes) or len(key) < 16:
            raise _err(
                "假名化需要至少 16 字节的密钥", "A pseudonym needs a secret key of at least 16 bytes", column
            )
        prefix = params.get("prefix", "P")
        if not isinstance(prefix, str) or len(prefix) > 16:
            raise _err(
                "前缀应为不超过 16 个字符的文本", "The prefix must be text of at most 16 characters", column
            )
        length = _int_param(params, "length", 16, 8, 64, column)
        kind = _choice(params, "kind", "generic", MASK_KINDS, column)
        return _none_safe(lambda v: pseudonym(v, key, prefix, length, kind))
    # generalise
    to = _choice(params, "to", None, GENERALISE_TO, column)
    if to == "year":
        return birth_year
    if to == "birth_year":
        return resident_birth_year
    if to == "region":
        level = _choice(params, "level", "city", _REGION_DIGITS, column)
        return lambda v: resident_region(v, level)
    if to == "district":
        return district
    width = _int_param(params, "width", 10, 1, 100, column)
    return lambda v: age_band(v, width)


def generaliser(to: str, **params: Any) -> Callable[[Any], Any]:
    """The generalising function ``Rule.build("generalise", to=…)`` applies (``kanon.suggest`` tries them)."""
    return Rule.build("generalise", to=to, **params).apply


@dataclass(frozen=True)
class Policy:
    """Column → ``Rule``. Columns without a rule follow ``default`` (``drop`` unless said otherwise: a column
    nobody looked at does not leave the store)."""

    rules: Mapping[str, Rule]
    default: str = "drop"

    @classmethod
    def from_dict(
        cls, spec: Mapping[str, Mapping[str, Any]], default: str = "drop", key: bytes | str | None = None
    ) -> Policy:
        """From ``{"id_no": {"op": "mask", "kind": "resident_id"}, …}`` (the stored, JSON form). ``key`` is the
        platform's pseudonym secret, given to every ``pseudonym`` rule that names none, so the stored policy
        never holds it."""
        if default not in ("drop", "keep"):
            raise _err(
                "未列出的列只能删除或保留", "Columns not listed can only be dropped or kept", "default"
            )
        if not isinstance(spec, Mapping):
            raise _err("脱敏策略应为对象", "A de-identification policy must be an object", None)
        rules: dict[str, Rule] = {}
        for column, entry in spec.items():
            if not isinstance(entry, Mapping) or not isinstance(entry.get("op"), str):
                raise _err("每一列需要指定脱敏方式(op)", "Each column needs an operator (op)", str(column))
            params = {k: v for k, v in entry.items() if k != "op"}
            if entry["op"] == "pseudonym" and "key" not in params and key is not None:
                params["key"] = key
            rules[str(column)] = Rule.build(entry["op"], str(column), **params)
        return cls(rules=rules, default=default)

    def rule(self, column: str) -> Rule:
        return self.rules.get(column) or Rule.build(self.default, column)

    def output_columns(self, columns: Iterable[str]) -> list[str]:
        """The columns a de-identified view has, in the input's order."""
        return [c for c in columns if self.rule(c).op != "drop"]

    def apply_column(self, column: str, values: Iterable[Any]) -> list[Any]:
        """One column's values, de-identified (a dropped column gives an empty list)."""
        rule = self.rule(column)
        if rule.op == "drop":
            return []
        return [rule.apply(v) for v in values]

    def apply(self, rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """New rows; the input rows are not changed."""
        out: list[dict[str, Any]] = []
        cache: dict[str, Rule] = {}
        for row in rows:
            new: dict[str, Any] = {}
            for column, value in row.items():
                rule = cache.get(column)
                if rule is None:
                    rule = cache[column] = self.rule(column)
                if rule.op != "drop":
                    new[column] = rule.apply(value)
            out.append(new)
        return out
