"""De-identified views, base data items (一数一源) and corrections (校核) over HTTP: the native REST API. Every
route parses its input and calls one action (``cityhub.sharing``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from cityhub.sharing.deid_schemas import BaseItemSet, CorrectionCreate
from cityhub.web.deps import access, call, check_csrf
from cityhub.web.openapi import MAX_ID, Record, body_errors, ok, operation_id

router = APIRouter(tags=["sharing_deid"], generate_unique_id_function=operation_id)

RID = Path(min_length=1, max_length=36, description="resource id")


class PolicyBody(BaseModel):
    model_config = {"extra": "forbid"}
    rules: dict[str, dict[str, Any]] = Field(description="column → rule (op and parameters)")
    default: str = Field("drop", pattern="^(drop|keep)$")
    quasi: list[str] = Field(default_factory=list, max_length=20)


class ReleaseBody(BaseModel):
    model_config = {"extra": "forbid"}
    view_id: int | None = Field(None, ge=1, le=MAX_ID)
    quasi: list[str] | None = Field(None, max_length=20)


class ResolveBody(BaseModel):
    model_config = {"extra": "forbid"}
    outcome: str = Field(pattern="^(upheld|rejected)$")
    corrected_value: str | None = Field(None, max_length=5000)
    reason: str = Field("", max_length=5000)


class PolicyOut(Record):
    resource_id: str
    rules: dict[str, Any]
    default: str
    quasi: list[str]
    saved: bool
    columns: list[dict[str, Any]]
    suggestions: dict[str, Any]
    min_k: int


class ViewOut(Record):
    id: int
    resource_id: str
    source_version: int
    status: str
    columns: list[str]
    rows: int
    k: int | None
    report: dict[str, Any]


class ViewsOut(Record):
    resource_id: str
    views: list[ViewOut]
    released: ViewOut | None
    min_k: int


class BaseItemOut(Record):
    code: str
    name: str
    name_en: str
    department: str | None
    resource_id: str | None


class BaseCheckOut(Record):
    dataset: str
    warnings: list[dict[str, Any]]


class TicketOut(Record):
    id: int
    resource_id: str
    status: str
    field: str
    key_column: str
    key_value: str
    accept_due: str
    answer_due: str
    accept_overdue: bool
    answer_overdue: bool


# -- de-identified views ----------------------------------------------------------------------------------------


@router.get("/api/v1/deid/{resource_id}/policy", dependencies=[access("deid_policy_show")],
            summary="A resource's de-identification policy, its columns and suggested rules", responses=ok(PolicyOut, 401, 403, 404))
def policy_show(request: Request, resource_id: str = RID) -> Any:
    return call(request, "deid_policy_show", {"resource_id": resource_id}, via="api")


@router.put("/api/v1/deid/{resource_id}/policy", dependencies=[access("deid_policy_set")],
            summary="Save a resource's de-identification policy", responses=ok(PolicyOut, *body_errors(401, 403, 404)))
def policy_set(request: Request, body: PolicyBody, resource_id: str = RID) -> Any:
    check_csrf(request, None)
    return call(request, "deid_policy_set", {"resource_id": resource_id, **body.model_dump()}, via="api")


@router.get("/api/v1/deid/{resource_id}/views", dependencies=[access("deid_view_show")],
            summary="A resource's de-identified views", responses=ok(ViewsOut, 401, 403, 404))
def views_show(request: Request, resource_id: str = RID) -> Any:
    return call(request, "deid_view_show", {"resource_id": resource_id}, via="api")


@router.post("/api/v1/deid/{resource_id}/views", dependencies=[access("deid_view_build")], status_code=201,
             summary="Build the de-identified view from the saved policy", responses=ok(ViewOut, 401, 403, 404, 409, status=201))
def views_build(request: Request, resource_id: str = RID) -> Any:
    check_csrf(request, None)
    return call(request, "deid_view_build", {"resource_id": resource_id}, via="api")


@router.post("/api/v1/deid/{resource_id}/release", dependencies=[access("deid_view_release")],
             summary="Release a built view after the k-anonymity check (409 with k and the smallest classes below "
             "the minimum k)", responses=ok(ViewOut, *body_errors(401, 403, 404, 409)))
def views_release(request: Request, body: ReleaseBody | None = None, resource_id: str = RID) -> Any:
    check_csrf(request, None)
    data = body.model_dump(exclude_none=True) if body else {}
    return call(request, "deid_view_release", {"resource_id": resource_id, **data}, via="api")


# -- base data items ------------------------------------------------------------------------------------------


@router.get("/api/v1/base-items", dependencies=[access("base_item_list")], summary="Base data items and their "
            "authoritative sources (一数一源)", responses=ok(list[BaseItemOut], 401))
def base_items(request: Request) -> Any:
    return call(request, "base_item_list", {}, via="api")


@router.put("/api/v1/base-items", dependencies=[access("base_item_set")], summary="Designate a base item's "
            "authoritative department and resource (platform admins)", responses=ok(BaseItemOut, *body_errors(401, 403, 404)))
def base_item_set(request: Request, body: BaseItemSet) -> Any:
    check_csrf(request, None)
    return call(request, "base_item_set", body, via="api")


@router.get("/api/v1/base-items/coverage", dependencies=[access("base_item_coverage")],
            summary="Coverage of the base data items and duplicates (platform admins)",
            responses=ok(list[dict[str, Any]], 401, 403))
def base_item_coverage(request: Request) -> Any:
    return call(request, "base_item_coverage", {}, via="api")


@router.get("/api/v1/base-items/check/{dataset}", dependencies=[access("base_item_check")],
            summary="Whether a dataset duplicates a base item of another department", responses=ok(BaseCheckOut, 401, 403, 404))
def base_item_check(request: Request, dataset: str = Path(min_length=1, max_length=100)) -> Any:
    return call(request, "base_item_check", {"dataset": dataset}, via="api")


# -- corrections -------------------------------------------------------------------------------------------------


@router.get("/api/v1/corrections", dependencies=[access("correction_list")], summary="Correction tickets the "
            "caller may see", responses=ok(list[TicketOut], 401))
def corrections_list(request: Request, status: str = Query("", pattern="^(|open|accepted|upheld|rejected|applied)$"),
                     resource_id: str = Query("", max_length=36), limit: int = Query(100, ge=1, le=1000)) -> Any:
    return call(request, "correction_list", {"status": status, "resource_id": resource_id, "limit": limit}, via="api")


@router.post("/api/v1/corrections", dependencies=[access("correction_create")], status_code=201,
             summary="Report a disputed record (校核)", responses=ok(TicketOut, *body_errors(401, 403, 404), status=201))
def corrections_create(request: Request, body: CorrectionCreate) -> Any:
    check_csrf(request, None)
    return call(request, "correction_create", body, via="api")


@router.get("/api/v1/corrections/{cid}", dependencies=[access("correction_show")], summary="One correction ticket",
            responses=ok(TicketOut, 401, 404))
def corrections_show(request: Request, cid: int = Path(ge=1, le=MAX_ID)) -> Any:
    return call(request, "correction_show", {"id": cid}, via="api")


@router.post("/api/v1/corrections/{cid}/accept", dependencies=[access("correction_accept")],
             summary="Accept a ticket (the providing department)", responses=ok(TicketOut, 401, 403, 404, 409))
def corrections_accept(request: Request, cid: int = Path(ge=1, le=MAX_ID)) -> Any:
    check_csrf(request, None)
    return call(request, "correction_accept", {"id": cid}, via="api")


@router.post("/api/v1/corrections/{cid}/resolve", dependencies=[access("correction_resolve")],
             summary="Answer a ticket: upheld with the corrected value, or rejected with the reason",
             responses=ok(TicketOut, *body_errors(401, 403, 404, 409)))
def corrections_resolve(request: Request, body: ResolveBody, cid: int = Path(ge=1, le=MAX_ID)) -> Any:
    check_csrf(request, None)
    return call(request, "correction_resolve", {"id": cid, **body.model_dump()}, via="api")


@router.post("/api/v1/corrections/{cid}/apply", dependencies=[access("correction_apply")],
             summary="Write an upheld correction into the resource's next datastore version",
             responses=ok(TicketOut, 401, 403, 404, 409))
def corrections_apply(request: Request, cid: int = Path(ge=1, le=MAX_ID)) -> Any:
    check_csrf(request, None)
    return call(request, "correction_apply", {"id": cid}, via="api")
