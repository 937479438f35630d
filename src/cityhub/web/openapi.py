"""What the native API returns, for the OpenAPI document at ``/api/openapi.json``.

The routes return the actions' dictionaries as they are; the models here only *describe* those shapes
(``responses=`` on each route), so the document is accurate without a second serialisation pass on the
request path. ``tests/test_openapi_schemathesis.py`` holds the document to the truth: schemathesis sends
generated requests and fails on any response whose status, content type, headers or body the document does
not declare.

Records allow additional properties: the catalog grows (extras, harvest origin, …) and a new field must not
make an older client's schema reject the record. Every field listed here is always present with the type
given.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import re
from typing import Any, Literal

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, create_model

# -- the one error shape ----------------------------------------------------------------------------------


class ErrorDetail(BaseModel):
    """``error`` of every native API error response (see ``cityhub.errors``)."""

    model_config = ConfigDict(extra="forbid")
    type: str = Field(description="machine type: validation_error, not_found, not_authorized, …")
    message: str = Field(description="message in Chinese")
    message_en: str = Field(description="message in English")
    fields: dict[str, list[str]] | None = Field(
        None, description="per-field messages (validation errors and some conflicts); absent otherwise")


class ErrorResponse(BaseModel):
    """``{"error": {"type", "message", "message_en", "fields"?}}``."""

    model_config = ConfigDict(extra="forbid")
    error: ErrorDetail


ERROR_DESCRIPTIONS = {
    401: "Not signed in, or the API token is invalid, expired or revoked (`not_authenticated`)",
    403: "Signed in but not allowed (`not_authorized`)",
    404: "Not found, or not visible to the caller (`not_found`)",
    409: "Conflicts with the current state: duplicate name, still in use, … (`conflict`)",
    413: "Request body larger than the upload limit (`payload_too_large`)",
    422: "Invalid input, with per-field messages (`validation_error`)",
    429: "Too many attempts; retry after the `Retry-After` seconds (`too_many_requests`)",
}
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before the next attempt",
                               "schema": {"type": "integer"}}}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries for the given error statuses, each with the standard error body.

    401 (a bad token is refused before any route runs) and 422 (malformed parameters) are always included.
    """
    out: dict[int | str, dict[str, Any]] = {}
    for code in sorted({401, 422, *codes}):
        entry: dict[str, Any] = {"model": ErrorResponse, "description": ERROR_DESCRIPTIONS[code]}
        if code == 429:
            entry["headers"] = RETRY_AFTER
        out[code] = entry
    return out


def ok(model: Any, *codes: int, status: int = 200, description: str = "Success") -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a JSON route: its success body ``model`` plus the standard errors ``codes``."""
    return {status: {"model": model, "description": description}, **errors(*codes)}


def body_errors(*codes: int) -> tuple[int, ...]:
    """Error statuses of a route with a request body (it can also be too large)."""
    return (413, *codes)


MAX_ID = 2**31 - 1  # integer primary keys (PostgreSQL ``integer``): a larger number is not an id, not a 500
MAX_OFFSET = 10**9


def patch_body(model: type[BaseModel], name: str, without: tuple[str, ...] = ()) -> type[BaseModel]:
    """The body of a PATCH: ``model``'s fields (constraints and config kept), each optional, minus the ones
    the path names. Parsing it rejects unknown fields and wrong types up front; the action still validates
    the merged record whole with ``model`` itself (cross-field rules included)."""
    fields: dict[str, Any] = {}
    for key, info in model.model_fields.items():
        if key in without:
            continue
        optional = copy.copy(info)
        optional.default, optional.default_factory = None, None
        fields[key] = (info.annotation, optional)
    made: type[BaseModel] = create_model(name, __config__=model.model_config, **fields)
    return made


# Request examples: shown in /api/docs, and schemathesis's examples phase sends them (a valid request on
# operations whose input random data rarely satisfies).
DATASET_EXAMPLE = {"bus": {"summary": "A thematic dataset of the transport bureau", "value": {
    "name": "bus-stops-example", "title": "公交站点(示例)", "title_en": "Bus stops (example)",
    "department": "gz-transport", "catalog_type": "主题", "class_item": "02", "class_category": "001",
    "abstract": "广州市公交站点的名称、位置与途经线路,按月更新,供出行服务与城市规划使用。",
    "format": "电子表格", "data_items": [{"name": "站点名称", "type": "string", "description": "公交站点名称"}],
    "sharing_class": "无条件共享", "opening_class": "无条件开放", "update_cycle": "每月", "theme": "transport",
    "tags": ["公交", "站点"], "license_id": "cc-by-4.0", "districts": ["天河区"]}}}
DEPARTMENT_EXAMPLE = {"district": {"summary": "A district-level department", "value": {
    "slug": "th-example", "name": "广州市天河区示例局", "short_name": "天河示例局", "name_en": "Tianhe Example Bureau",
    "uscc": "114401000069409904", "level": "区", "district": "天河区"}}}
USER_EXAMPLE = {"analyst": {"summary": "An analyst account", "value": {
    "name": "analyst-example", "password": "Correct-Horse-Battery-2026", "role": "analyst",
    "display_name": "示例分析员", "email": "analyst@example.gz.gov.cn"}}}
PASSWORD_CHANGE_EXAMPLE = {"change": {"summary": "A new passphrase", "value": {
    "current_password": "Correct-Horse-Battery-2026", "new_password": "shamian island banyan dawn"}}}
PLAN_EXAMPLE = {"plan": {"summary": "A plan with one item", "value": {
    "published_on": "2026-03-31", "note": "年度公共数据开放计划",
    "items": [{"title": "公交站点数据", "target_date": "2026-06-30", "format": "CSV", "update_cycle": "每月"}]}}}


# -- records ---------------------------------------------------------------------------------------------


class Record(BaseModel):
    """A record the API returns; later versions may add properties."""

    model_config = ConfigDict(extra="allow")


class Criterion(Record):
    key: str
    label: str
    label_en: str
    ok: bool


class Quality(Record):
    score: int = Field(description="0–100")
    criteria: list[Criterion]
    overdue: bool
    due: dt.datetime | None
    days_overdue: int


class DatastoreVersion(Record):
    """One load of a resource's table (a datastore version) and its job status."""

    id: int
    resource_id: str
    version: int
    status: Literal["queued", "running", "complete", "failed", "blocked", "typing", "provisional"]
    progress: float
    stage: str | None
    live: bool
    source_name: str | None
    source_bytes: int | None
    rows: int | None
    columns: list[dict[str, Any]]
    format: str | None
    encoding: str | None
    delimiter: str | None
    bad_cell_count: int | None
    report: list[dict[str, Any]] | None = Field(None, description="bad cells; shown to the dataset's managers only")
    warnings: list[str] | None
    error_code: str | None
    error: str | None
    error_en: str | None
    created_by: str
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    seconds: float | None


class Resource(Record):
    """A file or link of a data resource."""

    id: str
    dataset_id: int
    position: int
    name: str
    description: str
    url: str = Field(description="download URL (the portal's for uploaded files, else the link)")
    source_url: str
    uploaded: bool
    format: str
    media_type: str
    size: int | None
    sha256: str | None
    created_at: dt.datetime
    modified_at: dt.datetime
    reachable: bool | None
    datastore_active: bool
    withheld: bool = Field(description="its load failed, was blocked by the personal-data scan, or is still "
                                       "checking a new file: shown to its department only (docs/visibility.md)")
    load_state: Literal["checking", "failed", "blocked"] | None = Field(
        None, description="why it is withheld (null: served)")


class ResourceWritten(Resource):
    datastore_job: DatastoreVersion | None = Field(description="the load queued for an uploaded table")


class DataItemOut(Record):
    name: str
    type: str
    description: str | None = None
    length: int | None = None


class DatasetSummary(Record):
    """A data resource's metadata (search results, lists)."""

    id: int
    name: str
    title: str
    title_en: str
    code: str = Field(description="catalog code (信息资源代码)")
    catalog_type: str
    base_category: str | None
    class_item: str
    class_category: str
    class_sub: str
    department: str
    department_name: str
    department_uscc: str
    abstract: str
    format: str
    sharing_class: str
    sharing_condition: str
    sharing_method: list[str]
    sharing_basis: str
    opening_class: str
    opening_condition: str
    update_cycle: str
    published_on: dt.date | None
    theme: str
    theme_name: str
    theme_name_en: str
    tags: list[str]
    license_id: str
    license_title: str
    license_url: str
    temporal_start: dt.date | None
    temporal_end: dt.date | None
    districts: list[str]
    private: bool
    public: bool = Field(description="the public sees it (not private, not 不予开放): CKAN's private is its negation")
    state: str
    created_at: dt.datetime
    modified_at: dt.datetime
    data_updated_at: dt.datetime | None
    quality_score: int
    views: int
    downloads: int
    api_calls: int
    resource_formats: list[str]


class DataAccess(Record):
    status: int
    message: str
    message_en: str


class Dataset(DatasetSummary):
    """A whole data resource record: metadata, data items, resources, quality."""

    data_items: list[DataItemOut]
    related_codes: list[str]
    contact_name: str
    contact_email: str
    contact_phone: str
    resources: list[Resource]
    quality: Quality
    data_access: DataAccess | None = Field(None, description="null when the caller may have the data; else why not "
                                           "(status 403: conditionally open, apply; 404: not yet opened)")


class Facet(Record):
    name: str
    display_name: str
    count: int


class DatasetSearch(Record):
    count: int = Field(description="all matches (results holds one page)")
    results: list[DatasetSummary]
    facets: dict[str, list[Facet]]


class Revision(Record):
    id: int
    ts: dt.datetime
    actor: str
    action: str
    changes: dict[str, Any] = Field(description="field → [old, new]")


class Deleted(Record):
    deleted: Literal[True]


class DatasetDeleted(Deleted):
    name: str


class ResourceDeleted(Deleted):
    id: str


class DepartmentDeleted(Deleted):
    slug: str


class TableDeleted(Deleted):
    resource_id: str


class Department(Record):
    id: int
    slug: str
    name: str
    short_name: str
    name_en: str
    uscc: str
    level: str
    district: str | None
    description: str
    contact_name: str
    contact_phone: str
    contact_email: str
    created_at: dt.datetime


class DepartmentListed(Department):
    dataset_count: int


class User(Record):
    id: int
    name: str
    display_name: str
    email: str
    role: Literal["platform_admin", "dept_admin", "steward", "analyst", "auditor", "public"]
    department: str | None
    department_name: str | None
    active: bool
    totp_enabled: bool
    must_change_password: bool = Field(description="signs in only to choose a new password (after a reset)")
    password_changed_at: dt.datetime | None
    created_at: dt.datetime
    last_login_at: dt.datetime | None


class CredentialsEnded(Record):
    sessions_ended: int = Field(description="web sessions of the user that were ended")
    tokens_revoked: int = Field(description="API tokens of the user that were revoked")
    message: str
    message_en: str


class PasswordChanged(CredentialsEnded):
    user: User


class PasswordReset(CredentialsEnded):
    user: User
    temporary_password: str = Field(description="the one-time password; shown only this once")
    expires_at: dt.datetime


class UserDisabled(CredentialsEnded):
    user: User


class UserEnabled(Record):
    user: User


class SessionOut(Record):
    user: User
    csrf_token: str = Field(description="send as X-CSRF-Token with cookie-authenticated writes")


class TokenCreated(Record):
    id: int
    token: str = Field(description="the secret; shown only this once")
    user: str
    name: str
    expires_at: dt.datetime


class Token(Record):
    id: int
    user: str
    name: str
    prefix: str
    created_at: dt.datetime
    expires_at: dt.datetime
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None


class TokenRevoked(Record):
    id: int
    revoked_at: dt.datetime


class PlanItem(Record):
    id: int
    title: str
    dataset: str | None
    dataset_title: str | None
    target_date: dt.date
    format: str
    update_cycle: str
    status: Literal["planned", "opened", "late"]
    opened_on: dt.date | None
    opened_late: bool


class PlanSummary(Record):
    total: int
    opened: int
    late: int
    planned: int
    progress: int = Field(description="percentage of items opened")


class Plan(Record):
    id: int
    department: str
    department_name: str
    year: int
    published_on: dt.date | None
    note: str
    items: list[PlanItem]
    summary: PlanSummary


class PlanList(Record):
    plans: list[Plan]
    summary: dict[str, int] = Field(description="item counts over all plans listed: total, opened, late, planned")


class ThemeCount(Record):
    slug: str
    name: str
    name_en: str
    count: int


class PortalStats(Record):
    open_datasets: int
    open_target: int
    open_progress: float
    departments: int
    plan_year: int
    departments_with_plan: int
    plan_share: float
    month: str = Field(description="YYYY-MM")
    month_downloads: int
    month_api_calls: int
    month_views: int
    overdue_datasets: int
    average_quality: int
    newest: list[DatasetSummary]
    most_used: list[DatasetSummary]
    themes: list[ThemeCount]


class Theme(Record):
    name: str
    title: str
    title_en: str
    package_count: int


class Tag(Record):
    name: str
    count: int


class AuditEntry(Record):
    seq: int
    ts: dt.datetime
    actor: str
    source: str
    via: str
    action: str
    target: str
    outcome: str
    detail: Any


class AuditVerification(Record):
    ok: bool
    count: int
    head: str | None = Field(description="root of the Merkle tree recomputed from the records (hex)")
    bad_seq: int | None = Field(description="the first record found changed, missing, moved or cut")
    reason: str | None
    signed_head_seq: int | None = Field(description="tree size in the signed head outside the database")
    heads_checked: int = Field(0, description="signed tree heads the log was checked against")


class SignedHead(Record):
    version: str = Field(description="cityhub-audit-sth-v1")
    tree_size: int
    root_hash: str = Field(description="RFC 6962 Merkle tree hash of the first tree_size records (hex)")
    timestamp: int = Field(description="milliseconds since 1970-01-01 UTC")
    time: str
    key_id: str = Field(description="SHA-256 of the raw Ed25519 public key (hex)")
    signature: str = Field(description="Ed25519 signature (base64) of "
                           "'cityhub-audit-sth-v1\\n<tree_size>\\n<root_hash>\\n<timestamp>\\n'")


class AuditSignedHead(Record):
    path: str
    head: SignedHead | None


class AuditTreeHead(SignedHead):
    id: int | None = None
    issued_by: str | None = Field(None, description="periodic, on demand or migration")
    public_key: str = Field(description="the Ed25519 public key that checks the signature (PEM)")


class AuditInclusion(Record):
    seq: int
    leaf_index: int = Field(description="seq - 1")
    tree_size: int
    leaf_data: str = Field(description="the record's canonical JSON: its leaf hash is SHA-256(0x00 || leaf_data)")
    leaf_hash: str
    stored_leaf_hash: str
    audit_path: list[str] = Field(description="RFC 6962 audit path, from the leaf's sibling upwards (hex)")


class AuditConsistency(Record):
    from_size: int
    to_size: int
    proof: list[str] = Field(description="RFC 6962 consistency proof (hex)")


class AuditProof(Record):
    sth: AuditTreeHead
    inclusion: AuditInclusion
    consistency: AuditConsistency | None = None


# -- datastore ------------------------------------------------------------------------------------------


class TableField(Record):
    id: str
    type: str


class TableInfo(Record):
    resource_id: str
    dataset: str
    resource_name: str
    current_version: int | None
    rows: int | None
    columns: list[dict[str, Any]]
    versions: list[DatastoreVersion]


class DatastoreRows(Record):
    """Rows of a table, CKAN ``datastore_search`` style."""

    resource_id: str
    fields: list[TableField]
    records: list[dict[str, Any]] | list[list[Any]] | str = Field(
        description="objects, lists, or CSV text without a header (records_format)")
    total: int | None
    total_was_estimated: bool
    limit: int
    offset: int
    next_cursor: str | None


class QueryResult(Record):
    """Rows of an aggregate or an SQL query."""

    fields: list[TableField]
    records: list[dict[str, Any]]
    truncated: bool


class ColumnStats(Record):
    column: str
    type: str
    rows: int
    count: int
    nulls: int
    distinct: int
    min: Any
    max: Any
    mean: float | None = None
    top: list[dict[str, Any]] | None = None
    histogram: list[list[Any]] | None = None


# -- map previews -----------------------------------------------------------------------------------------


class PreviewNote(Record):
    message: str
    message_en: str


class GeoJSONPreview(Record):
    """A GeoJSON FeatureCollection (RFC 7946, WGS-84) read within the preview's caps, with what was left out."""

    type: str = Field(description="always FeatureCollection")
    features: list[dict[str, Any]] = Field(description="GeoJSON features; positions [lng, lat] rounded to 1e-6°")
    bbox: list[float] | None = Field(description="[west, south, east, north] of the features shown")
    count: int = Field(description="features shown")
    geometry_types: dict[str, int]
    properties: list[str] = Field(description="property names, in order of first appearance")
    vertices: int
    skipped: int = Field(description="invalid features left out")
    skip_reasons: list[PreviewNote]
    truncated: bool = Field(description="reading stopped at a cap: more features may follow in the file")
    limit: str | None = Field(description="the cap that stopped it: bytes, features or vertices")
    bytes_read: int
    size: int = Field(description="the file's size in bytes")
    resource_id: str
    datum: str
    notes: list[PreviewNote] = Field(description="what the page says about a partial preview")

DOWNLOAD_TYPES = {
    "text/csv": {"schema": {"type": "string"}},
    "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
    "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}},
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {"schema": {"type": "string",
                                                                                       "format": "binary"}},
}
DOWNLOAD: dict[int | str, dict[str, Any]] = {200: {"description": "The table as a file (Content-Disposition: attachment)",
                  "content": DOWNLOAD_TYPES,
                  "headers": {"Content-Disposition": {"description": "attachment; filename*=UTF-8''…",
                                                      "schema": {"type": "string"}}}}}


def operation_id(route: APIRoute) -> str:
    """``<tag>_<function>``: ``native_datasets_search``, ``datastore_download``, … (stable, readable)."""
    return f"{route.tags[0]}_{route.name}" if route.tags else route.name


# -- the document ---------------------------------------------------------------------------------------

SECURITY_SCHEMES = {
    "bearerToken": {"type": "http", "scheme": "bearer",
                    "description": "API token (`ch_…`): `Authorization: Bearer <token>` (or the bare token)"},
    "ckanApiKey": {"type": "apiKey", "in": "header", "name": "X-CKAN-API-Key",
                   "description": "the same API token in CKAN's header"},
}


def install(app: FastAPI) -> None:
    """Build the document once with the security schemes (anonymous access is allowed; what a caller may
    do depends on their role, and a route answers 401/403 as documented)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version, description=app.description,
                              routes=app.routes, tags=app.openapi_tags, servers=app.servers)
            doc.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
            doc["security"] = [{}, {"bearerToken": []}, {"ckanApiKey": []}]
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


# -- the documentation page, served from the package (no CDN: intranets have no internet) -----------------------

SWAGGER_UI_VERSION = "5.35.0"
SWAGGER_UI = "/static/vendor/swagger-ui"


def docs_html(openapi_url: str, title: str) -> HTMLResponse:
    """Swagger UI from the vendored ``swagger-ui-dist`` (see ``static/vendor/swagger-ui/README.md``), with a
    Content-Security-Policy that allows exactly its one inline start-up script (by hash) and nothing from
    another host; the online spec validator (a badge loaded from validator.swagger.io) is switched off."""
    page = get_swagger_ui_html(
        openapi_url=openapi_url, title=title,
        swagger_js_url=f"{SWAGGER_UI}/swagger-ui-bundle.js?v={SWAGGER_UI_VERSION}",
        swagger_css_url=f"{SWAGGER_UI}/swagger-ui.css?v={SWAGGER_UI_VERSION}",
        swagger_favicon_url=f"{SWAGGER_UI}/favicon-32x32.png",
        swagger_ui_parameters={"validatorUrl": None, "deepLinking": True})
    body = bytes(page.body).decode()
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in re.findall(r"<script>(.*?)</script>", body, re.S))
    page.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        f"script-src 'self' {hashes}; connect-src 'self'; object-src 'none'; frame-ancestors 'none'; "
        "base-uri 'self'; form-action 'self'")
    return page


def install_docs(app: FastAPI, docs_url: str = "/api/docs") -> None:
    """``GET /api/docs``: the interactive API documentation (Swagger UI) for ``app.openapi_url``."""
    openapi_url = app.openapi_url or "/api/openapi.json"

    async def swagger_ui() -> HTMLResponse:
        return docs_html(openapi_url, app.title)

    app.add_api_route(docs_url, swagger_ui, methods=["GET"], include_in_schema=False)
