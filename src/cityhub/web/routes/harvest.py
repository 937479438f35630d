"""Harvesting over HTTP: the native REST API (``/api/harvest/...``) and the admin pages listing sources and
runs with their logs and a "run now" button. Every route parses its input and calls one action."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from cityhub.errors import CityHubError, Conflict, NotFound, ValidationError
from cityhub.harvest.schemas import SourceCreate, SourceUpdate
from cityhub.web.deps import access, call, check_csrf, lang
from cityhub.web.openapi import MAX_ID, MAX_OFFSET, Record, body_errors, ok, operation_id, patch_body
from cityhub.web.page_helpers import acall, checked_form, field_errors, redirect, render, require_admin

router = APIRouter(tags=["harvest"], generate_unique_id_function=operation_id)
pages_router = APIRouter(include_in_schema=False)

if TYPE_CHECKING:  # built at import time; to the type checker a plain model
    SourcePatch = BaseModel
else:
    SourcePatch = patch_body(SourceUpdate, "HarvestSourcePatch", without=("name",))


class RunBody(BaseModel):
    model_config = {"extra": "forbid"}
    wait: bool = Field(False, description="run in the request and answer with the finished run")


# -- what the routes return (descriptions for the OpenAPI document) --------------------------------------------


class HarvestRunOut(Record):
    id: int
    source: str
    status: Literal["queued", "running", "succeeded", "partial", "failed"]
    created_at: str
    started_at: str | None
    finished_at: str | None
    gathered: int
    new: int
    updated: int
    unchanged: int
    withdrawn: int
    errors: int
    error: str
    log: list[dict[str, str]] | None = Field(None, description="{level, guid, message} entries (run show only)")


class HarvestSourceOut(Record):
    id: int
    name: str
    title: str
    kind: Literal["ckan", "dcat"]
    url: str
    department: str
    schedule: Literal["manual", "hourly", "daily", "weekly"]
    enabled: bool
    config: dict[str, Any]
    last_run_at: str | None
    next_run_at: str | None
    datasets: int
    withdrawn: int


class HarvestSourceDeleted(Record):
    name: str
    deleted: bool
    withdrawn: int
    released: int


class HarvestedDataset(Record):
    name: str
    title: str
    state: str
    origin_url: str
    guid: str
    remote_modified: str
    withdrawn: bool


class HarvestDue(Record):
    started: list[dict[str, Any]]


# -- REST API -----------------------------------------------------------------------------------------------


@router.get("/api/harvest/sources", dependencies=[access("harvest_source_list")], summary="Harvest sources (platform admins)",
            responses=ok(list[HarvestSourceOut], 403))
def sources_list(request: Request, limit: int = Query(100, ge=1, le=1000),
                 offset: int = Query(0, ge=0, le=MAX_OFFSET)) -> Any:
    return call(request, "harvest_source_list", {"limit": limit, "offset": offset}, via="api")


@router.post("/api/harvest/sources", dependencies=[access("harvest_source_create")], status_code=201, summary="Register a harvest source (CKAN or DCAT)",
             responses=ok(HarvestSourceOut, *body_errors(403, 404, 409), status=201))
def sources_create(request: Request, body: SourceCreate) -> Any:
    check_csrf(request, None)
    return call(request, "harvest_source_create", body, via="api")


@router.get("/api/harvest/sources/{name}", dependencies=[access("harvest_source_show")], summary="A harvest source with its recent runs",
            responses=ok(HarvestSourceOut, 403, 404))
def sources_show(request: Request, name: str) -> Any:
    return call(request, "harvest_source_show", {"name": name}, via="api")


@router.patch("/api/harvest/sources/{name}", dependencies=[access("harvest_source_update")], summary="Change a harvest source",
              responses=ok(HarvestSourceOut, *body_errors(403, 404)))
def sources_update(request: Request, name: str, body: SourcePatch) -> Any:
    check_csrf(request, None)
    return call(request, "harvest_source_update", {**body.model_dump(exclude_none=True), "name": name}, via="api")


@router.delete("/api/harvest/sources/{name}", dependencies=[access("harvest_source_delete")], summary="Delete a harvest source (its datasets are withdrawn, "
               "or released with withdraw=false)", responses=ok(HarvestSourceDeleted, 403, 404, 409))
def sources_delete(request: Request, name: str, withdraw: bool = Query(True)) -> Any:
    check_csrf(request, None)
    return call(request, "harvest_source_delete", {"name": name, "withdraw": withdraw}, via="api")


@router.get("/api/harvest/sources/{name}/datasets", dependencies=[access("harvest_dataset_list")], summary="Datasets harvested from a source",
            responses=ok(list[HarvestedDataset], 403, 404))
def sources_datasets(request: Request, name: str, limit: int = Query(1000, ge=1, le=100000)) -> Any:
    return call(request, "harvest_dataset_list", {"source": name, "limit": limit}, via="api")


@router.post("/api/harvest/sources/{name}/runs", dependencies=[access("harvest_run")], status_code=202, summary="Start a run of a source",
             responses=ok(HarvestRunOut, *body_errors(403, 404, 409), status=202))
def runs_create(request: Request, name: str, body: RunBody | None = None) -> Any:
    check_csrf(request, None)
    wait = bool(body and body.wait)
    run = call(request, "harvest_run", {"source": name, "wait": wait}, via="api")
    return call(request, "harvest_run_show", {"id": run["id"]}, via="api") if wait else run


@router.get("/api/harvest/sources/{name}/runs", dependencies=[access("harvest_run_list")], summary="Recent runs of a source",
            responses=ok(list[HarvestRunOut], 403, 404))
def runs_list(request: Request, name: str, limit: int = Query(20, ge=1, le=500)) -> Any:
    return call(request, "harvest_run_list", {"source": name, "limit": limit}, via="api")


@router.get("/api/harvest/runs/{run_id}", dependencies=[access("harvest_run_show")], summary="One run with its counts and log",
            responses=ok(HarvestRunOut, 403, 404))
def runs_show(request: Request, run_id: int = Path(ge=1, le=MAX_ID)) -> Any:
    return call(request, "harvest_run_show", {"id": run_id}, via="api")


@router.post("/api/harvest/due", dependencies=[access("harvest_due")], summary="Start every source whose schedule is due",
             responses=ok(HarvestDue, 403))
def runs_due(request: Request) -> Any:
    check_csrf(request, None)
    return call(request, "harvest_due", {}, via="api")


# -- admin pages --------------------------------------------------------------------------------------------


@pages_router.get("/admin/harvest", response_class=HTMLResponse)
def admin_sources(request: Request) -> Response:
    gate = require_admin(request)
    if gate is not None:
        return gate
    sources = call(request, "harvest_source_list", {})
    runs = call(request, "harvest_run_list", {"limit": 20})
    flash = {"deleted": request.query_params["deleted"]} if request.query_params.get("deleted") else None
    return render(request, "harvest/sources.html", {"sources": sources, "runs": runs, "flash": flash,
                                                    "nav": "admin"})


@pages_router.get("/admin/harvest/runs/{run_id}", response_class=HTMLResponse)
def admin_run(request: Request, run_id: int) -> Response:
    gate = require_admin(request)
    if gate is not None:
        return gate
    run = call(request, "harvest_run_show", {"id": run_id})
    return render(request, "harvest/run.html", {"run": run, "nav": "admin"})


SOURCE_FIELDS = ("name", "title", "kind", "url", "department", "schedule")
CONFIG_FIELDS = ("fq", "timeout", "max_mb", "max_pages")


def _source_values(form: Any) -> dict[str, Any]:
    values: dict[str, Any] = {k: str(form.get(k) or "").strip() for k in (*SOURCE_FIELDS, *CONFIG_FIELDS)}
    values["enabled"] = bool(form.get("enabled"))
    values["map_organizations"] = bool(form.get("map_organizations"))
    return values


def _source_data(values: dict[str, Any], *, create: bool) -> dict[str, Any]:
    """The form as the action's input; the options go to ``config`` (empty numbers: the defaults)."""
    keys = SOURCE_FIELDS if create else tuple(k for k in SOURCE_FIELDS if k not in ("kind",))
    data: dict[str, Any] = {k: values[k] for k in keys}
    data["enabled"] = values["enabled"]
    config: dict[str, Any] = {"fq": values["fq"], "map_organizations": values["map_organizations"]}
    for key in ("timeout", "max_mb", "max_pages"):
        if values[key]:
            config[key] = values[key]
    data["config"] = config
    return data


def _form_errors(exc: CityHubError, language: str) -> tuple[dict[str, list[str]], list[str]]:
    """The action's errors by form field: ``config.timeout`` is the "timeout" field."""
    exc.fields = {k.removeprefix("config."): v for k, v in exc.fields.items()}
    exc.fields_zh = {k.removeprefix("config."): v for k, v in exc.fields_zh.items()}
    return field_errors(exc, language)


def _source_form(request: Request, values: dict[str, Any], errors: dict[str, list[str]] | None = None,
                 general: list[str] | None = None, source: dict[str, Any] | None = None,
                 status: int = 200) -> Response:
    departments = call(request, "department_list", {})
    return render(request, "harvest/source_form.html", {
        "values": values, "errors": errors or {}, "general": general or [], "source": source,
        "departments": departments, "nav": "admin"}, status=status)


@pages_router.get("/admin/harvest/new", response_class=HTMLResponse)
def admin_source_new(request: Request) -> Response:
    gate = require_admin(request)
    if gate is not None:
        return gate
    values = {"kind": "ckan", "schedule": "manual", "enabled": True, "map_organizations": True, "fq": "",
              "timeout": "30", "max_mb": "200", "max_pages": "1000"}
    return _source_form(request, values)


@pages_router.post("/admin/harvest/new", response_class=HTMLResponse)
async def admin_source_create(request: Request) -> Response:
    form = await checked_form(request)
    gate = require_admin(request)
    if gate is not None:
        return gate
    values = _source_values(form)
    try:
        created = await acall(request, "harvest_source_create", _source_data(values, create=True))
    except (ValidationError, Conflict, NotFound) as exc:
        errors, general = _form_errors(exc, lang(request))
        if isinstance(exc, NotFound):
            errors.setdefault("department", general[:1])
        status = exc.status if not isinstance(exc, NotFound) else 422
        return await run_in_threadpool(lambda: _source_form(request, values, errors, general, status=status))
    return redirect(f"/admin/harvest/{created['name']}?created=1")


def _values_of(source: dict[str, Any]) -> dict[str, Any]:
    config = source["config"]
    return {**{k: source[k] for k in SOURCE_FIELDS}, "enabled": source["enabled"],
            "map_organizations": config.get("map_organizations", True),
            **{k: str(config.get(k, "")) for k in CONFIG_FIELDS}}


@pages_router.get("/admin/harvest/{name}/edit", response_class=HTMLResponse)
def admin_source_edit(request: Request, name: str) -> Response:
    gate = require_admin(request)
    if gate is not None:
        return gate
    source = call(request, "harvest_source_show", {"name": name})
    return _source_form(request, _values_of(source), source=source)


@pages_router.post("/admin/harvest/{name}/edit", response_class=HTMLResponse)
async def admin_source_update(request: Request, name: str) -> Response:
    form = await checked_form(request)
    gate = require_admin(request)
    if gate is not None:
        return gate
    source = await acall(request, "harvest_source_show", {"name": name})
    values = {**_source_values(form), "name": name, "kind": source["kind"]}
    try:
        await acall(request, "harvest_source_update", _source_data(values, create=False))
    except (ValidationError, Conflict, NotFound) as exc:
        errors, general = _form_errors(exc, lang(request))
        status = exc.status if not isinstance(exc, NotFound) else 422
        return await run_in_threadpool(lambda: _source_form(request, values, errors, general, source, status))
    return redirect(f"/admin/harvest/{name}?updated=1")


@pages_router.post("/admin/harvest/{name}/run", response_class=HTMLResponse)
async def admin_run_now(request: Request, name: str) -> Response:
    gate = require_admin(request)
    if gate is not None:
        return gate
    await checked_form(request)
    run = await acall(request, "harvest_run", {"source": name})
    return RedirectResponse(f"/admin/harvest/runs/{run['id']}", status_code=303)


@pages_router.post("/admin/harvest/{name}/{switch}", response_class=HTMLResponse)
async def admin_source_switch(request: Request, name: str, switch: str) -> Response:
    """Enable or disable a source (a disabled one is never started by its schedule), or delete it."""
    if switch not in ("enable", "disable", "delete"):
        raise NotFound("页面不存在", "Page not found")
    form = await checked_form(request)
    gate = require_admin(request)
    if gate is not None:
        return gate
    if switch == "delete":
        withdraw = str(form.get("datasets") or "withdraw") != "release"
        await acall(request, "harvest_source_delete", {"name": name, "withdraw": withdraw})
        return redirect("/admin/harvest?" + urlencode({"deleted": name}))
    await acall(request, "harvest_source_update", {"name": name, "enabled": switch == "enable"})
    return redirect(f"/admin/harvest/{name}?updated=1")


@pages_router.get("/admin/harvest/{name}/delete", response_class=HTMLResponse)
def admin_source_delete_confirm(request: Request, name: str) -> Response:
    gate = require_admin(request)
    if gate is not None:
        return gate
    source = call(request, "harvest_source_show", {"name": name})
    return render(request, "harvest/source_delete.html", {"source": source, "nav": "admin"})


@pages_router.get("/admin/harvest/{name}", response_class=HTMLResponse)
def admin_source(request: Request, name: str) -> Response:
    gate = require_admin(request)
    if gate is not None:
        return gate
    source = call(request, "harvest_source_show", {"name": name})
    qp = request.query_params
    flash = {"created": name} if qp.get("created") else {"updated": name} if qp.get("updated") else None
    return render(request, "harvest/source.html", {"source": source, "flash": flash, "nav": "admin"})


router.include_router(pages_router)
