"""Input schemas of the sharing actions (systems, share requests, grants)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: an X-Road style subsystem code: segments of letters, digits, ``.``, ``_`` and ``-`` joined by ``/``
#: (``GZ-GA/population-check``)
SYSTEM_CODE = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,49}(/[A-Za-z0-9][A-Za-z0-9._-]{0,49}){0,3}$"
MAX_DURATION_DAYS = 3 * 366
MAX_ID = 2**31 - 1  # integer primary keys (PostgreSQL ``integer``): a larger number is not an id  # a grant lasts at most three years; the requester applies again after


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _columns(v: list[str] | None) -> list[str] | None:
    if v is None:
        return None
    out: list[str] = []
    for name in v:
        name = name.strip()
        if not name or len(name) > 200:
            raise ValueError("列名应为 1 到 200 个字符 / a column name must be 1 to 200 characters")
        if name not in out:
            out.append(name)
    if not out:
        raise ValueError("至少一列,或不填表示全部列 / at least one column, or leave it out for all columns")
    return out


def _row_filter(v: dict[str, Any] | None) -> dict[str, list[Any]] | None:
    if v is None or not v:
        return None
    out: dict[str, list[Any]] = {}
    for key, raw in v.items():
        if not key.strip() or len(key) > 200:
            raise ValueError("行范围的列名应为 1 到 200 个字符 / a row-scope column must be 1 to 200 characters")
        values = raw if isinstance(raw, list) else [raw]
        if not values:
            raise ValueError(f"列 {key} 至少需要一个取值 / column {key} needs at least one value")
        for item in values:
            if not isinstance(item, (str, int, float, bool)) or item is None:
                raise ValueError(f"列 {key} 的取值应为文字或数字 / values of {key} must be text or numbers")
        out[key] = list(dict.fromkeys(values))
    return out


# -- systems -----------------------------------------------------------------------------------------------


class SystemRegister(Strict):
    code: str = Field(pattern=SYSTEM_CODE, max_length=100,
                      description="the system's code, unique within its department (e.g. GZ-GA/population-check)")
    name: str = Field(min_length=1, max_length=200)
    department: str | None = Field(None, min_length=1, max_length=100,
                                   description="department slug (default: the caller's department)")


class SystemListIn(Strict):
    department: str | None = Field(None, min_length=1, max_length=100,
                                   description="department slug (default: the caller's; all for the data office)")
    include_inactive: bool = False


class SystemRef(Strict):
    id: int = Field(ge=1, le=MAX_ID)


# -- requests ----------------------------------------------------------------------------------------------


class RequestCreate(Strict):
    kind: Literal["share", "open"] = Field(
        "share", description="share: a department's system applies (有条件共享); open: a person applies (有条件开放)")
    dataset: str = Field(min_length=1, max_length=100, description="dataset name or id")
    resource_id: str | None = Field(None, min_length=1, max_length=36,
                                    description="one resource; none: every resource of the dataset")
    system_id: int | None = Field(None, ge=1, le=MAX_ID, description="share: the requesting department's system")
    purpose: str = Field(min_length=4, max_length=2000)
    legal_basis: str = Field("", max_length=2000)
    columns: list[str] | None = Field(None, max_length=1000, description="columns wanted; none: all")
    row_scope: dict[str, Any] | None = Field(
        None, max_length=50, description='rows wanted as datastore filters, e.g. {"district": ["440106"]}')
    duration_days: int = Field(365, ge=1, le=MAX_DURATION_DAYS)

    @field_validator("columns")
    @classmethod
    def _cols(cls, v: list[str] | None) -> list[str] | None:
        return _columns(v)

    @field_validator("row_scope")
    @classmethod
    def _rows(cls, v: dict[str, Any] | None) -> dict[str, list[Any]] | None:
        return _row_filter(v)


class RequestRef(Strict):
    id: int = Field(ge=1, le=MAX_ID)


class RequestListIn(Strict):
    box: Literal["mine", "review", "all"] = Field(
        "mine", description="mine: filed by the caller's department (or by the caller); review: to the caller's "
        "department; all: every request (the data office)")
    status: Literal["submitted", "approved", "narrowed", "refused", "withdrawn", "expired"] | None = None
    overdue: bool = Field(False, description="only requests past their deadline and still unanswered")
    dataset: str | None = Field(None, min_length=1, max_length=100)
    limit: int = Field(100, ge=1, le=1000)
    offset: int = Field(0, ge=0, le=10**9)


class RequestApprove(Strict):
    id: int = Field(ge=1, le=MAX_ID)
    columns: list[str] | None = Field(None, max_length=1000,
                                      description="columns granted (none: as requested); never more than requested")
    row_filter: dict[str, Any] | None = Field(
        None, max_length=50, description="rows granted (none: as requested); never more than requested")
    duration_days: int | None = Field(None, ge=1, le=MAX_DURATION_DAYS,
                                      description="days granted (none: as requested); never longer than requested")
    allow_personal: bool = Field(False, description="personal data may be read undisguised (purpose stated)")
    note: str = Field("", max_length=2000, description="why the scope was narrowed, or anything to say")

    @field_validator("columns")
    @classmethod
    def _cols(cls, v: list[str] | None) -> list[str] | None:
        return _columns(v)

    @field_validator("row_filter")
    @classmethod
    def _rows(cls, v: dict[str, Any] | None) -> dict[str, list[Any]] | None:
        return _row_filter(v)


class RequestRefuse(Strict):
    id: int = Field(ge=1, le=MAX_ID)
    reason: str = Field(min_length=2, max_length=2000, description="why (a refusal must give its reason)")


class RequestWithdraw(Strict):
    id: int = Field(ge=1, le=MAX_ID)
    note: str = Field("", max_length=2000)


class EscalateIn(Strict):
    today: dt.date | None = Field(None, ge=dt.date(2004, 1, 1), le=dt.date(2100, 12, 31),
                                  description="the day to judge deadlines on (default: today in China)")


# -- grants ------------------------------------------------------------------------------------------------


class GrantListIn(Strict):
    side: Literal["consumer", "provider", "all"] = Field(
        "consumer", description="consumer: grants to the caller's department's systems (or to the caller); "
        "provider: grants on the caller's department's data; all: the data office")
    request_id: int | None = Field(None, ge=1, le=MAX_ID)
    system_id: int | None = Field(None, ge=1, le=MAX_ID)
    active: bool = Field(True, description="only grants in force (not revoked, not expired)")
    limit: int = Field(100, ge=1, le=1000)
    offset: int = Field(0, ge=0, le=10**9)


class GrantRevoke(Strict):
    id: int | None = Field(None, ge=1, le=MAX_ID, description="one grant")
    request_id: int | None = Field(None, ge=1, le=MAX_ID, description="every grant of a request")
    reason: str = Field(min_length=2, max_length=2000)

    @model_validator(mode="after")
    def _one(self) -> GrantRevoke:
        if (self.id is None) == (self.request_id is None):
            raise ValueError("请指定授权编号或申请编号之一 / give either id or request_id")
        return self
