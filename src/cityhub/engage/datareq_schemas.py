"""Input schemas of the data-request actions (``datareq_actions``)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cityhub.urls import url_problem

MAX_ID = 2**31 - 1
SLUG = Field(None, min_length=1, max_length=100, description="department slug")
Status = Literal["submitted", "routed", "answered", "withdrawn", "closed"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class RequestCreate(Strict):
    title: str = Field(min_length=4, max_length=200, description="what data, in one line")
    description: str = Field(min_length=10, max_length=5000, description="what data is wanted (Markdown)")
    purpose: str = Field("", max_length=2000, description="why it is wanted")
    department: str | None = Field(None, min_length=1, max_length=100,
                                   description="the department believed to hold it (slug), if known")
    contact: str = Field("", max_length=200, description="how to reach the asker (shown to the office and the "
                         "department only)")


class RequestRef(Strict):
    id: int = Field(ge=1, le=MAX_ID)


class RequestListIn(Strict):
    status: Status | None = None
    department: str | None = Field(None, min_length=1, max_length=100, description="routed to this department")
    overdue: bool = Field(False, description="only requests past their answer deadline, still unanswered")
    q: str | None = Field(None, min_length=1, max_length=100, description="words in the title or description")
    min_age_days: int | None = Field(None, ge=0, le=36500, description="only requests asked at least this many "
                                     "days ago")
    mine: bool = Field(False, description="only the caller's own requests")
    sort: Literal["newest", "oldest"] = "newest"
    cursor: int | None = Field(None, ge=1, le=MAX_ID, description="keyset paging: the last id of the previous page")
    limit: int = Field(50, ge=1, le=100)
    count: bool = Field(True, description="count every match (the board's total)")
    departments: bool = Field(False, description="also every department's slug and names (the board's filter)")


class RequestRoute(Strict):
    id: int = Field(ge=1, le=MAX_ID)
    department: str = Field(min_length=1, max_length=100, description="the department that answers (slug)")
    note: str = Field("", max_length=2000)


class RequestAnswer(Strict):
    id: int = Field(ge=1, le=MAX_ID)
    kind: Literal["will_open", "already_open", "cannot_open"] = Field(
        description="will_open: by open_by; already_open: at dataset or url; cannot_open: with legal_basis")
    text: str = Field("", max_length=5000, description="the answer in words (Markdown)")
    open_by: dt.date | None = Field(None, ge=dt.date(2000, 1, 1), le=dt.date(2100, 12, 31),
                                    description="will_open: the date the data will be open")
    dataset: str | None = Field(None, min_length=1, max_length=100, description="already_open: the catalog dataset")
    url: str | None = Field(None, min_length=1, max_length=2000, description="already_open: where it is open")
    legal_basis: str = Field("", max_length=2000, description="cannot_open: the law or rule that forbids opening")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is None:
            return v
        problem = url_problem(v)
        if problem:
            raise ValueError(problem)
        return v


class RequestWithdraw(Strict):
    id: int = Field(ge=1, le=MAX_ID)
    note: str = Field("", max_length=2000)


class RequestClose(Strict):
    id: int = Field(ge=1, le=MAX_ID)
    duplicate_of: int | None = Field(None, ge=1, le=MAX_ID, description="the request this one duplicates")
    reason: str = Field("", max_length=2000, description="why (required unless it is a duplicate)")


class EscalateIn(Strict):
    today: dt.date | None = Field(None, ge=dt.date(2004, 1, 1), le=dt.date(2100, 12, 31),
                                  description="the day to judge deadlines on (default: today in China)")
