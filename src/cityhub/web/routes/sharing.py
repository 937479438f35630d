"""Sharing over HTTP, the native REST API (``/api/sharing/...``): consuming systems, share requests (apply,
answer, withdraw, escalate) and grants (list, revoke). Every route parses its input and calls one action
(``sharing/actions.py``); errors have the native JSON shape."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from cityhub.sharing.schemas import MAX_DURATION_DAYS, EscalateIn, RequestCreate, SystemRegister
from cityhub.web.deps import access, call, check_csrf
from cityhub.web.openapi import MAX_ID, MAX_OFFSET, Record, body_errors, ok, operation_id

router = APIRouter(prefix="/api/sharing", tags=["sharing"], generate_unique_id_function=operation_id)



class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ApproveBody(Body):
    columns: list[str] | None = Field(None, max_length=1000, description="columns granted (none: as requested)")
    row_filter: dict[str, Any] | None = Field(None, max_length=50, description="rows granted (none: as requested)")
    duration_days: int | None = Field(None, ge=1, le=MAX_DURATION_DAYS, description="days (none: as requested)")
    allow_personal: bool = False
    note: str = Field("", max_length=2000, description="why the scope was narrowed (required when narrowing)")


class ReasonBody(Body):
    reason: str = Field(min_length=2, max_length=2000)


class NoteBody(Body):
    note: str = Field("", max_length=2000)


# -- what the routes return (descriptions for the OpenAPI document) --------------------------------------------


class SystemOut(Record):
    id: int
    code: str
    name: str
    department: str | None
    active: bool
    token: str | None = Field(None, description="the system's secret: only in the answer that created it")


class RequestOut(Record):
    id: int
    kind: Literal["share", "open"]
    status: Literal["submitted", "approved", "narrowed", "refused", "withdrawn", "expired"]
    deadline: str
    working_days_left: int | None
    overdue: bool
    events: list[dict[str, Any]] | None = Field(None, description="the history (show only)")
    grants: list[dict[str, Any]] | None = Field(None, description="the grants (show only)")


class RequestPage(Record):
    count: int
    results: list[RequestOut]


class GrantOut(Record):
    id: int
    request_id: int
    resource_id: str
    columns: list[str] | None
    row_filter: dict[str, Any] | None
    expires_at: str
    in_force: bool


class GrantPage(Record):
    count: int
    results: list[GrantOut]


class Revoked(Record):
    request: RequestOut
    revoked: list[GrantOut]


class Escalated(Record):
    escalated: list[int]
    expired: list[int]
    today: str


# -- systems --------------------------------------------------------------------------------------------------


@router.get("/systems", dependencies=[access("system_list")], summary="A department's registered systems",
            responses=ok(list[SystemOut], 403, 404))
def systems_list(request: Request, department: str | None = Query(None, min_length=1, max_length=100),
                 include_inactive: bool = False) -> Any:
    return call(request, "system_list", {"department": department, "include_inactive": include_inactive}, via="api")


@router.post("/systems", dependencies=[access("system_register")], status_code=201,
             summary="Register a consuming system (its secret is in this answer only)",
             responses=ok(SystemOut, *body_errors(403, 404, 409), status=201))
def systems_register(request: Request, body: SystemRegister) -> Any:
    check_csrf(request, None)
    return call(request, "system_register", body, via="api")


@router.post("/systems/{sid}/rotate", dependencies=[access("system_token_rotate")],
             summary="Give a system a new secret (the old one stops working)",
             responses=ok(SystemOut, 403, 404, 409))
def systems_rotate(request: Request, sid: int = Path(ge=1, le=MAX_ID)) -> Any:
    check_csrf(request, None)
    return call(request, "system_token_rotate", {"id": sid}, via="api")


@router.post("/systems/{sid}/deactivate", dependencies=[access("system_deactivate")],
             summary="Stop a system (its secret and grants stop working)", responses=ok(SystemOut, 403, 404))
def systems_deactivate(request: Request, sid: int = Path(ge=1, le=MAX_ID)) -> Any:
    check_csrf(request, None)
    return call(request, "system_deactivate", {"id": sid}, via="api")


# -- requests -------------------------------------------------------------------------------------------------


@router.get("/requests", dependencies=[access("share_request_list")],
            summary="Share requests: mine, to review, or all (the data office)",
            responses=ok(RequestPage, 403, 404))
def requests_list(request: Request, box: Literal["mine", "review", "all"] = "mine",
                  status: Literal["submitted", "approved", "narrowed", "refused", "withdrawn", "expired"] | None
                  = None, overdue: bool = False, dataset: str | None = Query(None, min_length=1, max_length=100),
                  limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0, le=MAX_OFFSET)) -> Any:
    return call(request, "share_request_list", {"box": box, "status": status, "overdue": overdue,
                                                "dataset": dataset, "limit": limit, "offset": offset}, via="api")


@router.post("/requests", dependencies=[access("share_request_create")], status_code=201,
             summary="Apply for conditionally shared (share) or conditionally open (open) data",
             responses=ok(RequestOut, *body_errors(403, 404, 409), status=201))
def requests_create(request: Request, body: RequestCreate) -> Any:
    check_csrf(request, None)
    return call(request, "share_request_create", body, via="api")


@router.get("/requests/{rid}", dependencies=[access("share_request_show")],
            summary="A share request with its history and grants", responses=ok(RequestOut, 403, 404))
def requests_show(request: Request, rid: int = Path(ge=1, le=MAX_ID)) -> Any:
    return call(request, "share_request_show", {"id": rid}, via="api")


@router.post("/requests/{rid}/approve", dependencies=[access("share_request_approve")],
             summary="Approve as asked or narrower (never wider); creates the grants",
             responses=ok(RequestOut, *body_errors(403, 404, 409)))
def requests_approve(request: Request, body: ApproveBody | None = None, rid: int = Path(ge=1, le=MAX_ID)) -> Any:
    check_csrf(request, None)
    data = body.model_dump() if body is not None else {}
    return call(request, "share_request_approve", {**data, "id": rid}, via="api")


@router.post("/requests/{rid}/refuse", dependencies=[access("share_request_refuse")],
             summary="Refuse a request with its reason", responses=ok(RequestOut, *body_errors(403, 404, 409)))
def requests_refuse(request: Request, body: ReasonBody, rid: int = Path(ge=1, le=MAX_ID)) -> Any:
    check_csrf(request, None)
    return call(request, "share_request_refuse", {"id": rid, "reason": body.reason}, via="api")


@router.post("/requests/{rid}/withdraw", dependencies=[access("share_request_withdraw")],
             summary="Withdraw a request still waiting for its answer",
             responses=ok(RequestOut, *body_errors(403, 404, 409)))
def requests_withdraw(request: Request, body: NoteBody | None = None, rid: int = Path(ge=1, le=MAX_ID)) -> Any:
    check_csrf(request, None)
    return call(request, "share_request_withdraw", {"id": rid, "note": body.note if body else ""}, via="api")


@router.post("/requests/{rid}/revoke", dependencies=[access("grant_revoke")],
             summary="Revoke every grant of a request", responses=ok(Revoked, *body_errors(403, 404, 409)))
def requests_revoke(request: Request, body: ReasonBody, rid: int = Path(ge=1, le=MAX_ID)) -> Any:
    check_csrf(request, None)
    return call(request, "grant_revoke", {"request_id": rid, "reason": body.reason}, via="api")


@router.post("/escalate", dependencies=[access("share_request_escalate")],
             summary="Escalate overdue requests to the data office; mark expired ones (the data office)",
             responses=ok(Escalated, *body_errors(403)))
def requests_escalate(request: Request, body: EscalateIn | None = None) -> Any:
    check_csrf(request, None)
    today: dt.date | None = body.today if body is not None else None
    return call(request, "share_request_escalate", {"today": today}, via="api")


# -- grants ---------------------------------------------------------------------------------------------------


@router.get("/grants", dependencies=[access("grant_list")],
            summary="Grants: to my department's systems (consumer), on my department's data (provider), or all",
            responses=ok(GrantPage, 403))
def grants_list(request: Request, side: Literal["consumer", "provider", "all"] = "consumer",
                request_id: int | None = Query(None, ge=1, le=MAX_ID),
                system_id: int | None = Query(None, ge=1, le=MAX_ID), active: bool = True,
                limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0, le=MAX_OFFSET)) -> Any:
    return call(request, "grant_list", {"side": side, "request_id": request_id, "system_id": system_id,
                                        "active": active, "limit": limit, "offset": offset}, via="api")


@router.post("/grants/{gid}/revoke", dependencies=[access("grant_revoke")],
             summary="Revoke a grant (takes effect on the system's next call)",
             responses=ok(Revoked, *body_errors(403, 404, 409)))
def grants_revoke(request: Request, body: ReasonBody, gid: int = Path(ge=1, le=MAX_ID)) -> Any:
    check_csrf(request, None)
    return call(request, "grant_revoke", {"id": gid, "reason": body.reason}, via="api")
