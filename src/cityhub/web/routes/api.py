"""Native REST API (``/api/v1``): each route parses its input and calls one action."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Body, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from cityhub.accounts.schemas import DepartmentIn, DepartmentUpdate, SessionCreate, UserCreate, UserUpdate
from cityhub.catalog.schemas import DatasetCreate, DatasetFields, PlanItemIn, UploadedFile
from cityhub.web import openapi as o
from cityhub.web.deps import access, call, check_csrf, set_session_cookie
from cityhub.web.openapi import body_errors, ok

router = APIRouter(prefix="/api/v1", tags=["native"], generate_unique_id_function=o.operation_id)

if TYPE_CHECKING:  # built at import time; to the type checker they are plain models
    DatasetPatchBody = BaseModel
    DepartmentPatchBody = BaseModel
    UserPatchBody = BaseModel
else:
    DatasetPatchBody = o.patch_body(DatasetFields, "DatasetPatchBody")
    DepartmentPatchBody = o.patch_body(DepartmentUpdate, "DepartmentPatchBody", without=("slug",))
    UserPatchBody = o.patch_body(UserUpdate, "UserPatchBody", without=("name",))
FACETS = ["organization", "theme", "res_format", "sharing_class", "opening_class", "update_cycle", "district"]


def _record(request: Request, dataset_id: int, kind: str = "api_calls") -> None:
    call(request, "usage_record", {"dataset_id": dataset_id, "kind": kind}, via="api")


@router.get("/datasets", summary="Search datasets (jieba full text + facets)", responses=ok(o.DatasetSearch))
def datasets_search(
    request: Request,
    q: str = Query("", max_length=500),
    organization: list[str] = Query(default_factory=list),
    theme: list[str] = Query(default_factory=list),
    res_format: list[str] = Query(default_factory=list),
    sharing_class: list[str] = Query(default_factory=list),
    opening_class: list[str] = Query(default_factory=list),
    update_cycle: list[str] = Query(default_factory=list),
    district: list[str] = Query(default_factory=list),
    tags: list[str] = Query(default_factory=list),
    rows: int = Query(20, ge=0, le=1000),
    start: int = Query(0, ge=0, le=1_000_000),
    sort: str = Query("relevance", max_length=60),
) -> Any:
    filters = {k: v for k, v in {"organization": organization, "theme": theme, "res_format": res_format,
                                 "sharing_class": sharing_class, "opening_class": opening_class,
                                 "update_cycle": update_cycle, "district": district, "tags": tags}.items() if v}
    return call(request, "dataset_search", {"q": q, "filters": filters, "rows": rows, "start": start, "sort": sort,
                                            "facet_fields": FACETS}, via="api")


def _write(request: Request) -> None:
    check_csrf(request, None)


@router.post("/datasets", dependencies=[access("dataset_create")], status_code=201, summary="Register a data resource",
             responses=ok(o.Dataset, *body_errors(403, 404, 409), status=201))
def datasets_create(request: Request, body: Annotated[DatasetCreate, Body(openapi_examples=o.DATASET_EXAMPLE)]) -> Any:
    _write(request)
    return call(request, "dataset_create", body, via="api")


@router.get("/datasets/{name}", summary="Show a data resource", responses=ok(o.Dataset, 404))
def datasets_show(request: Request, name: str) -> Any:
    result = call(request, "dataset_show", {"id": name}, via="api")
    _record(request, result["id"])
    return result


@router.patch("/datasets/{name}", dependencies=[access("dataset_update")], summary="Change metadata fields of a data resource",
              responses=ok(o.Dataset, *body_errors(403, 404, 409)))
def datasets_update(request: Request, name: str, body: DatasetPatchBody) -> Any:
    _write(request)
    return call(request, "dataset_update", {**body.model_dump(exclude_unset=True), "id": name}, via="api")


@router.delete("/datasets/{name}", dependencies=[access("dataset_delete")], summary="Withdraw a data resource", responses=ok(o.DatasetDeleted, 403, 404))
def datasets_delete(request: Request, name: str) -> Any:
    _write(request)
    return call(request, "dataset_delete", {"id": name}, via="api")


@router.get("/datasets/{name}/history", summary="Change history of a data resource",
            responses=ok(list[o.Revision], 403, 404))
def datasets_history(request: Request, name: str, limit: int = Query(50, ge=1, le=1000)) -> Any:
    return call(request, "dataset_history", {"id": name, "limit": limit}, via="api")


@router.get("/datasets/{name}/quality", summary="Quality criteria and freshness", responses=ok(o.Quality, 404))
def datasets_quality(request: Request, name: str) -> Any:
    return call(request, "dataset_quality", {"id": name}, via="api")


@router.post("/datasets/{name}/resources", dependencies=[access("resource_create")], status_code=201, summary="Add a file (multipart) or a link",
             responses=ok(o.ResourceWritten, *body_errors(403, 404), status=201))
def resources_create(
    request: Request,
    name: str,
    file: Annotated[UploadFile | None, File()] = None,
    url: Annotated[str, Form(max_length=2000)] = "",
    resource_name: Annotated[str, Form(alias="name", max_length=300)] = "",
    description: Annotated[str, Form(max_length=5000)] = "",
    format: Annotated[str, Form(max_length=20)] = "",
) -> Any:
    _write(request)
    upload = UploadedFile(filename=file.filename or "upload", stream=file.file) if file is not None else None
    return call(request, "resource_create", {"dataset": name, "name": resource_name, "description": description,
                                             "url": url, "format": format, "upload": upload}, via="api")


@router.get("/resources/{resource_id}", summary="Show a resource", responses=ok(o.Resource, 404))
def resources_show(request: Request, resource_id: str) -> Any:
    return call(request, "resource_show", {"id": resource_id}, via="api")


@router.get("/resources/{resource_id}/preview", summary="A stored GeoJSON file's features for the map preview "
            "(bounded; as its download is)", responses=ok(o.GeoJSONPreview, 403, 404, 422))
def resources_preview(request: Request, resource_id: str) -> Any:
    return call(request, "resource_preview", {"id": resource_id}, via="api")

class ResourcePatch(BaseModel):
    name: str | None = Field(None, max_length=300)
    description: str | None = Field(None, max_length=5000)
    url: str | None = Field(None, max_length=2000)
    format: str | None = Field(None, max_length=20)


@router.patch("/resources/{resource_id}", dependencies=[access("resource_update")], summary="Change a resource's link or details",
              responses=ok(o.ResourceWritten, *body_errors(403, 404)))
def resources_update(request: Request, resource_id: str, body: ResourcePatch) -> Any:
    _write(request)
    return call(request, "resource_update", {"id": resource_id, **body.model_dump(exclude_none=True)}, via="api")


@router.delete("/resources/{resource_id}", dependencies=[access("resource_delete")], summary="Remove a resource", responses=ok(o.ResourceDeleted, 403, 404))
def resources_delete(request: Request, resource_id: str) -> Any:
    _write(request)
    return call(request, "resource_delete", {"id": resource_id}, via="api")


@router.get("/departments", summary="Departments (data providers)", responses=ok(list[o.DepartmentListed]))
def departments_list(request: Request) -> Any:
    return call(request, "department_list", {}, via="api")


@router.post("/departments", dependencies=[access("department_create")], status_code=201, summary="Register a department",
             responses=ok(o.Department, *body_errors(403, 409), status=201))
def departments_create(request: Request,
                       body: Annotated[DepartmentIn, Body(openapi_examples=o.DEPARTMENT_EXAMPLE)]) -> Any:
    _write(request)
    return call(request, "department_create", body, via="api")


@router.get("/departments/{slug}", summary="Show a department", responses=ok(o.Department, 404))
def departments_show(request: Request, slug: str) -> Any:
    return call(request, "department_show", {"slug": slug}, via="api")


@router.patch("/departments/{slug}", dependencies=[access("department_update")], summary="Change a department",
              responses=ok(o.Department, *body_errors(403, 404, 409)))
def departments_update(request: Request, slug: str, body: DepartmentPatchBody) -> Any:
    _write(request)
    return call(request, "department_update", {**body.model_dump(exclude_unset=True), "slug": slug}, via="api")


@router.delete("/departments/{slug}", dependencies=[access("department_delete")], summary="Remove an unused department",
               responses=ok(o.DepartmentDeleted, 403, 404, 409))
def departments_delete(request: Request, slug: str) -> Any:
    _write(request)
    return call(request, "department_delete", {"slug": slug}, via="api")


@router.get("/users", dependencies=[access("user_list")], summary="Users (admins)", responses=ok(list[o.User], 403))
def users_list(request: Request) -> Any:
    return call(request, "user_list", {}, via="api")


@router.post("/users", dependencies=[access("user_create")], status_code=201, summary="Create a user",
             responses=ok(o.User, *body_errors(403, 404, 409), status=201))
def users_create(request: Request, body: Annotated[UserCreate, Body(openapi_examples=o.USER_EXAMPLE)]) -> Any:
    _write(request)
    return call(request, "user_create", body, via="api")


@router.get("/users/{name}", dependencies=[access("user_show")], summary="Show a user", responses=ok(o.User, 403, 404))
def users_show(request: Request, name: str) -> Any:
    return call(request, "user_show", {"name": name}, via="api")


@router.patch("/users/{name}", dependencies=[access("user_update")], summary="Change a user's role, department, display name or e-mail",
              responses=ok(o.User, *body_errors(403, 404)))
def users_update(request: Request, name: str, body: UserPatchBody) -> Any:
    _write(request)
    return call(request, "user_update", {**body.model_dump(exclude_unset=True), "name": name}, via="api")


class PasswordChangeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)


@router.post("/users/{name}/password", dependencies=[access("user_password_change")], summary="Change your own password (with the current one)",
             description="Ends your other sign-in sessions and revokes all your API tokens (the response says how "
             "many). A wrong current password counts as a failed sign-in.",
             responses=ok(o.PasswordChanged, *body_errors(403, 404, 429)))
def users_password_change(request: Request, name: str,
                          body: Annotated[PasswordChangeBody, Body(openapi_examples=o.PASSWORD_CHANGE_EXAMPLE)]) -> Any:
    _write(request)
    return call(request, "user_password_change", {**body.model_dump(), "name": name}, via="api")


@router.post("/users/{name}/password-reset", dependencies=[access("user_password_reset")], summary="Reset a user's password to a one-time password (admins)",
             description="The one-time password is returned once; it serves only to choose a new password at the "
             "next sign-in. The user's sessions end and their API tokens are revoked.",
             responses=ok(o.PasswordReset, 403, 404))
def users_password_reset(request: Request, name: str) -> Any:
    _write(request)
    return call(request, "user_password_reset", {"name": name}, via="api")


@router.post("/users/{name}/disable", dependencies=[access("user_disable")], summary="Disable an account (admins)",
             description="The account can no longer sign in; its sessions end and its API tokens are revoked.",
             responses=ok(o.UserDisabled, 403, 404, 409))
def users_disable(request: Request, name: str) -> Any:
    _write(request)
    return call(request, "user_disable", {"name": name}, via="api")


@router.post("/users/{name}/enable", dependencies=[access("user_enable")], summary="Enable a disabled account (admins)",
             responses=ok(o.UserEnabled, 403, 404))
def users_enable(request: Request, name: str) -> Any:
    _write(request)
    return call(request, "user_enable", {"name": name}, via="api")


class TokenIn(BaseModel):
    user: str | None = Field(None, max_length=64)
    name: str = Field("", max_length=100)
    days: int = Field(90, ge=1, le=3650)


@router.post("/tokens", dependencies=[access("token_create")], status_code=201, summary="Create an API token (shown once)",
             responses=ok(o.TokenCreated, *body_errors(403, 404), status=201))
def tokens_create(request: Request, body: TokenIn) -> Any:
    _write(request)
    actor = request.state.actor
    user = body.user or (actor.name if actor else "")
    return call(request, "token_create", {"user": user or "-", "name": body.name, "days": body.days}, via="api")


@router.get("/tokens", dependencies=[access("token_list")], summary="Your API tokens", responses=ok(list[o.Token], 403))
def tokens_list(request: Request) -> Any:
    return call(request, "token_list", {}, via="api")


@router.delete("/tokens/{token_id}", dependencies=[access("token_revoke")], summary="Revoke an API token", responses=ok(o.TokenRevoked, 403, 404))
def tokens_revoke(request: Request, token_id: Annotated[int, Path(ge=1, le=o.MAX_ID)]) -> Any:
    _write(request)
    return call(request, "token_revoke", {"id": token_id}, via="api")


@router.get("/plans", summary="Open-data plans with item status", responses=ok(o.PlanList, 404))
def plans_list(request: Request, department: str | None = None, year: int | None = Query(None, ge=2000, le=2100)) -> Any:
    return call(request, "plan_list", {"department": department, "year": year}, via="api")


class PlanBody(BaseModel):
    published_on: str | None = None
    note: str = Field("", max_length=5000)
    items: list[PlanItemIn] = Field(default_factory=list, max_length=1000)


@router.put("/plans/{department}/{year}", dependencies=[access("plan_upsert")], summary="Create or replace a yearly open-data plan",
            responses=ok(o.Plan, *body_errors(403, 404)))
def plans_upsert(request: Request, department: str, year: Annotated[int, Path(ge=2000, le=2100)],
                 body: Annotated[PlanBody, Body(openapi_examples=o.PLAN_EXAMPLE)]) -> Any:
    _write(request)
    return call(request, "plan_upsert", {"department": department, "year": year, **body.model_dump()}, via="api")


@router.get("/stats", summary="Live open-data indicators", responses=ok(o.PortalStats))
def stats(request: Request) -> Any:
    return call(request, "portal_stats", {}, via="api")


@router.get("/themes", summary="Themes with dataset counts", responses=ok(list[o.Theme]))
def themes(request: Request) -> Any:
    return call(request, "theme_list", {}, via="api")


@router.get("/tags", summary="Tags of public datasets", responses=ok(list[o.Tag]))
def tags(request: Request, limit: int = Query(100, ge=1, le=10000)) -> Any:
    return call(request, "tag_list", {"limit": limit, "all_fields": True}, via="api")


@router.get("/audit", dependencies=[access("audit_list")], summary="Audit records (platform admins)", responses=ok(list[o.AuditEntry], 403))
def audit_list(request: Request, limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0, le=o.MAX_OFFSET),
               action: str | None = None, actor: str | None = None,
               outcome: str | None = Query(None, max_length=40), target: str | None = Query(None, max_length=500,
                                                                                          description="part of the target"),
               since: str | None = Query(None, max_length=40, description="ISO 8601, at or after"),
               until: str | None = Query(None, max_length=40, description="ISO 8601, before"),
               before_seq: int | None = Query(None, ge=1, le=o.MAX_ID, description="keyset paging: older than this record"),
               after_seq: int | None = Query(None, ge=0, le=o.MAX_ID, description="keyset paging: newer than this record")
               ) -> Any:
    query = {"limit": limit, "offset": offset, "action": action, "actor": actor, "outcome": outcome,
             "target": target, "since": since, "until": until, "before_seq": before_seq, "after_seq": after_seq}
    return call(request, "audit_list", {k: v for k, v in query.items() if v is not None}, via="api")


@router.get("/audit/verify", dependencies=[access("audit_verify")],
            summary="Verify the whole audit log: leaf hashes, MACs and the Merkle tree against every signed tree head "
            "(platform admins, auditors)", responses=ok(o.AuditVerification, 403))
def audit_verify(request: Request) -> Any:
    return call(request, "audit_verify", {}, via="api")


@router.get("/audit/sth", dependencies=[access("audit_sth_show")],
            summary="The latest signed tree head of the audit log, with its public key (platform admins, auditors)",
            responses=ok(o.AuditTreeHead, 403))
def audit_sth(request: Request) -> Any:
    return call(request, "audit_sth_show", {}, via="api")


@router.get("/audit/proof/{seq}", dependencies=[access("audit_proof")],
            summary="Inclusion proof of one audit record against the latest signed tree head; with since_size, also "
            "the consistency proof from that tree size (platform admins, auditors)",
            responses=ok(o.AuditProof, 403, 404))
def audit_proof(request: Request, seq: int = Path(ge=1), since_size: int | None = Query(None, ge=0)) -> Any:
    data: dict[str, Any] = {"seq": seq}
    if since_size is not None:
        data["since_size"] = since_size
    return call(request, "audit_proof", data, via="api")


@router.get("/audit/head", summary="The audit log's signed head, to keep on a separate system (platform admins)",
            responses=ok(o.AuditSignedHead, 403))
def audit_head(request: Request) -> Any:
    return call(request, "audit_head_show", {}, via="api")


@router.post("/session", summary="Sign in (JSON); sets the session cookie",
             responses=ok(o.SessionOut, *body_errors(403, 429)))
def session_create(request: Request, body: SessionCreate) -> Any:
    result = call(request, "session_create", body, via="api")
    response = JSONResponse({"user": result["user"], "csrf_token": result["csrf_token"]})
    set_session_cookie(response, result["token"])
    return response
