"""The scope of a share request or grant, and narrowing it (pure: imports nothing else from CityHub but
``sharing.problems``).

A ``Scope`` says which columns (``None``: all), which rows (``None``: all; else datastore-style filters
``{"district": ["440106", "440104"]}``: every named column must hold one of its listed values) and until when
(``expires_at``, a timezone-aware datetime; ``None``: no end). A provider may approve a request as asked or
narrower, never wider: ``narrow(requested, approved)`` returns the approved scope, normalised, or raises
``SharingInputError`` naming the field that would widen it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cityhub.sharing.problems import SharingInputError

#: a row filter's values are plain scalars (what datastore filters compare with)
Scalar = str | int | float | bool | None
MAX_COLUMNS = 1000
MAX_FILTER_VALUES = 1000


@dataclass(frozen=True)
class Scope:
    """Columns (``None``: all), row filter (``None``: all rows) and expiry (``None``: no end)."""

    columns: tuple[str, ...] | None
    row_filter: dict[str, list[Any]] | None
    expires_at: dt.datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {"columns": list(self.columns) if self.columns is not None else None,
                "row_filter": self.row_filter,
                "expires_at": self.expires_at.isoformat() if self.expires_at is not None else None}


def columns_of(value: Iterable[str] | None) -> tuple[str, ...] | None:
    """Checked column names, in their first order, without repeats (``None`` stays ``None``: all columns)."""
    if value is None:
        return None
    if isinstance(value, str):
        raise SharingInputError("列应为列名列表", "Columns must be a list of column names", "columns")
    out: list[str] = []
    for name in value:
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            raise SharingInputError("列名应为 1 到 200 个字符的文字", "A column name must be 1 to 200 characters",
                                    "columns")
        if name not in out:
            out.append(name)
    if not out:
        raise SharingInputError("至少选择一列(或不指定,表示全部列)",
                                "Choose at least one column (or none at all for every column)", "columns")
    if len(out) > MAX_COLUMNS:
        raise SharingInputError(f"最多 {MAX_COLUMNS} 列", f"At most {MAX_COLUMNS} columns", "columns")
    return tuple(out)


def row_filter_of(value: Mapping[str, Any] | None) -> dict[str, list[Any]] | None:
    """A checked filter dict: each column maps to a non-empty list of distinct scalars (a scalar becomes a
    one-item list). ``None`` or ``{}`` mean every row (``None``)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise SharingInputError("行范围应为 {列名: [取值…]}", "The row scope must be {column: [values…]}",
                                "row_filter")
    out: dict[str, list[Any]] = {}
    for key, raw in value.items():
        if not isinstance(key, str) or not key.strip() or len(key) > 200:
            raise SharingInputError("行范围的列名应为 1 到 200 个字符", "A row-scope column must be 1 to 200 characters",
                                    "row_filter")
        items = list(raw) if isinstance(raw, (list, tuple)) else [raw]
        values: list[Any] = []
        for item in items:
            if isinstance(item, (dict, list, tuple)):
                raise SharingInputError(f"列 {key} 的取值应为单个值", f"Values of column {key} must be plain values",
                                        "row_filter")
            if item not in values:
                values.append(item)
        if not values:
            raise SharingInputError(f"列 {key} 至少需要一个取值", f"Column {key} needs at least one value",
                                    "row_filter")
        if len(values) > MAX_FILTER_VALUES:
            raise SharingInputError(f"列 {key} 最多 {MAX_FILTER_VALUES} 个取值",
                                    f"At most {MAX_FILTER_VALUES} values for column {key}", "row_filter")
        out[key] = values
    return out or None


def _aware(value: dt.datetime | None, field: str) -> dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise SharingInputError("到期时间应带时区", "The expiry must be a datetime with a time zone", field)
    return value


def make(columns: Iterable[str] | None, row_filter: Mapping[str, Any] | None,
         expires_at: dt.datetime | None) -> Scope:
    """A checked, normalised ``Scope``."""
    return Scope(columns_of(columns), row_filter_of(row_filter), _aware(expires_at, "expires_at"))


def _same(a: Any, b: Any) -> bool:
    """Filter values compare as datastore filters do: ``1`` and ``"1"`` are different, ``True`` is not ``1``."""
    return type(a) is type(b) and a == b


def narrow(requested: Scope, approved: Scope) -> Scope:
    """The approved scope if it is within the requested one; ``SharingInputError`` if any part is wider.

    * columns: every approved column was requested (all columns requested: any choice is narrower or equal);
    * rows: every column the request filters on is filtered by the approval too, with a subset of the
      requested values; the approval may add filters on other columns (narrower);
    * expiry: not later than requested (no end requested: any expiry).
    """
    approved = make(approved.columns, approved.row_filter, approved.expires_at)
    requested = make(requested.columns, requested.row_filter, requested.expires_at)
    if requested.columns is not None:
        if approved.columns is None:
            raise SharingInputError("不能批准申请之外的列(申请只要了部分列)",
                                    "Cannot approve columns beyond those requested (all columns asked for part)",
                                    "columns")
        extra = [c for c in approved.columns if c not in requested.columns]
        if extra:
            raise SharingInputError(f"不能批准申请之外的列:{', '.join(extra)}",
                                    f"Cannot approve columns that were not requested: {', '.join(extra)}", "columns")
    if requested.row_filter is not None:
        if approved.row_filter is None:
            raise SharingInputError("不能批准申请范围之外的行", "Cannot approve rows beyond the requested scope",
                                    "row_filter")
        for key, wanted in requested.row_filter.items():
            given = approved.row_filter.get(key)
            if given is None:
                raise SharingInputError(f"不能取消对列 {key} 的行范围限制",
                                        f"Cannot drop the requested row limit on column {key}", "row_filter")
            extra_values = [v for v in given if not any(_same(v, w) for w in wanted)]
            if extra_values:
                raise SharingInputError(f"列 {key} 的取值超出申请范围:{extra_values[0]!r}",
                                        f"Value {extra_values[0]!r} of column {key} is outside the requested rows",
                                        "row_filter")
    if requested.expires_at is not None and (approved.expires_at is None
                                             or approved.expires_at > requested.expires_at):
        raise SharingInputError("批准期限不能长于申请期限", "The approval cannot last longer than requested",
                                "expires_at")
    return approved


def is_narrower(requested: Scope, approved: Scope) -> bool:
    """Whether ``approved`` (already checked by ``narrow``) gives less than ``requested``."""
    return approved != make(requested.columns, requested.row_filter, requested.expires_at)
