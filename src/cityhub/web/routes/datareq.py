"""Data requests over HTTP, the native REST API (``/api/data-requests``): the public board and each request
(anyone), asking (signed in), routing and closing (the data office), answering (the routed department),
withdrawing (the asker). Every route parses its input and calls one action (``engage/datareq_actions.py``)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from cityhub.engage.datareq_schemas import EscalateIn, RequestCreate
from cityhub.web.deps import access, call, check_csrf
from cityhub.web.openapi import MAX_ID, Record, body_errors, ok, operation_id

router = APIRouter(prefix="/api/data-requests", tags=["data requests"], generate_unique_id_function=operation_id)
Status = Literal["submitted", "routed", "answered", "withdrawn", "closed"]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class RouteBody(Body):
    department: str = Field(min_length=1, max_length=100, description="the department that answers (slug)")
    note: str = Field("", max_length=2000)


class AnswerBody(Body):
    kind: Literal["will_open", "already_open", "cannot_open"]
    text: str = Field("", max_length=5000)
    open_by: dt.date | None = Field(None, ge=dt.date(2000, 1, 1), le=dt.date(2100, 12, 31))
    dataset: str | None = Field(None, min_length=1, max_length=100)
    url: str | None = Field(None, min_length=1, max_length=2000)
    legal_basis: str = Field("", max_length=2000)


class NoteBody(Body):
    note: str = Field("", max_length=2000)


class CloseBody(Body):
    duplicate_of: int | None = Field(None, ge=1, le=MAX_ID)
    reason: str = Field("", max_length=2000)


class DataRequestOut(Record):
    id: int
    title: str
    status: Status
    deadline: str | None
    working_days_left: int | None
    overdue: bool
    late: bool
    answer: dict[str, Any] | None
    events: list[dict[str, Any]] | None = Field(None, description="the history (show only)")


class DataRequestPage(Record):
    count: int | None
    results: list[DataRequestOut]
    next: int | None = Field(None, description="cursor of the next page (none: last page)")


class Escalated(Record):
    escalated: list[int]
    today: str


@router.get("", summary="The public board of data requests",
            responses=ok(DataRequestPage, 404))
def requests_list(request: Request, status: Status | None = None,
                  department: str | None = Query(None, min_length=1, max_length=100), overdue: bool = False,
                  q: str | None = Query(None, min_length=1, max_length=100), mine: bool = False,
                  min_age_days: int | None = Query(None, ge=0, le=36500),
                  sort: Literal["newest", "oldest"] = "newest", cursor: int | None = Query(None, ge=1, le=MAX_ID),
                  limit: int = Query(50, ge=1, le=100)) -> Any:
    return call(request, "data_request_list", {"status": status, "department": department, "overdue": overdue,
                                               "q": q, "mine": mine, "min_age_days": min_age_days,
                                               "sort": sort, "cursor": cursor,
                                               "limit": limit}, via="api")


@router.post("", dependencies=[access("data_request_create")], status_code=201,
             summary="Ask for data that is not open yet", responses=ok(DataRequestOut, *body_errors(403), status=201))
def requests_create(request: Request, body: RequestCreate) -> Any:
    check_csrf(request, None)
    return call(request, "data_request_create", body, via="api")


@router.post("/escalate", dependencies=[access("data_request_escalate")],
             summary="Escalate overdue requests (the data office; the hourly job does it too)",
             responses=ok(Escalated, *body_errors(403)))
def requests_escalate(request: Request, body: EscalateIn | None = None) -> Any:
    check_csrf(request, None)
    return call(request, "data_request_escalate", {"today": body.today if body else None}, via="api")


@router.get("/{rid}", summary="A data request with its history",
            responses=ok(DataRequestOut, 404))
def requests_show(request: Request, rid: int = Path(ge=1, le=MAX_ID)) -> Any:
    return call(request, "data_request_show", {"id": rid}, via="api")


@router.post("/{rid}/route", dependencies=[access("data_request_route")],
             summary="Route (or re-route) a request to a department (the data office)",
             responses=ok(DataRequestOut, *body_errors(403, 404, 409)))
def requests_route(request: Request, body: RouteBody, rid: int = Path(ge=1, le=MAX_ID)) -> Any:
    check_csrf(request, None)
    return call(request, "data_request_route", {**body.model_dump(), "id": rid}, via="api")


@router.post("/{rid}/answer", dependencies=[access("data_request_answer")],
             summary="Answer a request routed to your department", responses=ok(DataRequestOut,
                                                                                *body_errors(403, 404, 409)))
def requests_answer(request: Request, body: AnswerBody, rid: int = Path(ge=1, le=MAX_ID)) -> Any:
    check_csrf(request, None)
    return call(request, "data_request_answer", {**body.model_dump(), "id": rid}, via="api")


@router.post("/{rid}/withdraw", dependencies=[access("data_request_withdraw")],
             summary="Withdraw your own request", responses=ok(DataRequestOut, *body_errors(403, 404, 409)))
def requests_withdraw(request: Request, body: NoteBody | None = None, rid: int = Path(ge=1, le=MAX_ID)) -> Any:
    check_csrf(request, None)
    return call(request, "data_request_withdraw", {"id": rid, "note": body.note if body else ""}, via="api")


@router.post("/{rid}/close", dependencies=[access("data_request_close")],
             summary="Close a request, e.g. as a duplicate of another (the data office)",
             responses=ok(DataRequestOut, *body_errors(403, 404, 409)))
def requests_close(request: Request, body: CloseBody, rid: int = Path(ge=1, le=MAX_ID)) -> Any:
    check_csrf(request, None)
    return call(request, "data_request_close", {**body.model_dump(), "id": rid}, via="api")
