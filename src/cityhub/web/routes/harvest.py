"""Harvesting over HTTP: the native REST API (``/api/harvest/...``) and the admin pages listing sources and
runs with their logs and a "run now" button. Every route parses its input and calls one action."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from cityhub.harvest.schemas import SourceCreate, SourceUpdate
from cityhub.web.deps import call, check_csrf
from cityhub.web.routes.pages import _require_admin, acall, render

router = APIRouter(tags=["harvest"])


class RunBody(BaseModel):
    wait: bool = Field(False, description="run in the request and answer with the finished run")


class SourcePatch(BaseModel):
    model_config = {"extra": "forbid"}
    title: str | None = None
    url: str | None = None
    department: str | None = None
    schedule: str | None = None
    enabled: bool | None = None
    config: dict[str, Any] | None = None


# -- REST API -----------------------------------------------------------------------------------------------


@router.get("/api/harvest/sources", summary="Harvest sources (platform admins)")
def sources_list(request: Request, limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0)) -> Any:
    return call(request, "harvest_source_list", {"limit": limit, "offset": offset}, via="api")


@router.post("/api/harvest/sources", status_code=201, summary="Register a harvest source (CKAN or DCAT)")
def sources_create(request: Request, body: SourceCreate) -> Any:
    check_csrf(request, None)
    return call(request, "harvest_source_create", body, via="api")


@router.get("/api/harvest/sources/{name}", summary="A harvest source with its recent runs")
def sources_show(request: Request, name: str) -> Any:
    return call(request, "harvest_source_show", {"name": name}, via="api")


@router.patch("/api/harvest/sources/{name}", summary="Change a harvest source")
def sources_update(request: Request, name: str, body: SourcePatch) -> Any:
    check_csrf(request, None)
    data = SourceUpdate.model_validate({**body.model_dump(exclude_none=True), "name": name})
    return call(request, "harvest_source_update", data, via="api")


@router.delete("/api/harvest/sources/{name}", summary="Delete a harvest source (its datasets are withdrawn, "
               "or released with withdraw=false)")
def sources_delete(request: Request, name: str, withdraw: bool = Query(True)) -> Any:
    check_csrf(request, None)
    return call(request, "harvest_source_delete", {"name": name, "withdraw": withdraw}, via="api")


@router.get("/api/harvest/sources/{name}/datasets", summary="Datasets harvested from a source")
def sources_datasets(request: Request, name: str, limit: int = Query(1000, ge=1, le=100000)) -> Any:
    return call(request, "harvest_dataset_list", {"source": name, "limit": limit}, via="api")


@router.post("/api/harvest/sources/{name}/runs", status_code=202, summary="Start a run of a source")
def runs_create(request: Request, name: str, body: RunBody | None = None) -> Any:
    check_csrf(request, None)
    wait = bool(body and body.wait)
    run = call(request, "harvest_run", {"source": name, "wait": wait}, via="api")
    return call(request, "harvest_run_show", {"id": run["id"]}, via="api") if wait else run


@router.get("/api/harvest/sources/{name}/runs", summary="Recent runs of a source")
def runs_list(request: Request, name: str, limit: int = Query(20, ge=1, le=500)) -> Any:
    return call(request, "harvest_run_list", {"source": name, "limit": limit}, via="api")


@router.get("/api/harvest/runs/{run_id}", summary="One run with its counts and log")
def runs_show(request: Request, run_id: int) -> Any:
    return call(request, "harvest_run_show", {"id": run_id}, via="api")


@router.post("/api/harvest/due", summary="Start every source whose schedule is due")
def runs_due(request: Request) -> Any:
    check_csrf(request, None)
    return call(request, "harvest_due", {}, via="api")


# -- admin pages --------------------------------------------------------------------------------------------


@router.get("/admin/harvest", response_class=HTMLResponse)
def admin_sources(request: Request) -> Response:
    gate = _require_admin(request)
    if gate is not None:
        return gate
    sources = call(request, "harvest_source_list", {})
    runs = call(request, "harvest_run_list", {"limit": 20})
    return render(request, "harvest/sources.html", {"sources": sources, "runs": runs, "nav": "admin"})


@router.get("/admin/harvest/runs/{run_id}", response_class=HTMLResponse)
def admin_run(request: Request, run_id: int) -> Response:
    gate = _require_admin(request)
    if gate is not None:
        return gate
    run = call(request, "harvest_run_show", {"id": run_id})
    return render(request, "harvest/run.html", {"run": run, "nav": "admin"})


@router.get("/admin/harvest/{name}", response_class=HTMLResponse)
def admin_source(request: Request, name: str) -> Response:
    gate = _require_admin(request)
    if gate is not None:
        return gate
    source = call(request, "harvest_source_show", {"name": name})
    return render(request, "harvest/source.html", {"source": source, "nav": "admin"})


@router.post("/admin/harvest/{name}/run", response_class=HTMLResponse)
async def admin_run_now(request: Request, name: str) -> Response:
    gate = _require_admin(request)
    if gate is not None:
        return gate
    form = await request.form()
    check_csrf(request, str(form.get("csrf_token") or ""))
    run = await acall(request, "harvest_run", {"source": name})
    return RedirectResponse(f"/admin/harvest/runs/{run['id']}", status_code=303)
