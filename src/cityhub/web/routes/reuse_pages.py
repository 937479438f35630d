"""Showcase pages (成果展示, issue 15): ``/showcase`` (published reuses, filter by type and dataset; the data
office also sees the pending ones and reviews them there), the submission form ``/showcase/new`` and each
reuse's image."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse
from starlette.datastructures import UploadFile

from cityhub.catalog.schemas import UploadedFile
from cityhub.engage.reuse_schemas import REUSE_TYPES, TYPE_LABELS
from cityhub.errors import NotFound, ValidationError
from cityhub.web.deps import call, lang
from cityhub.web.page_helpers import (
    acall,
    checked_form,
    field_errors,
    int_param,
    login_redirect,
    redirect,
    render,
)

router = APIRouter(include_in_schema=False)
PAGE = 24


@router.get("/showcase", response_class=HTMLResponse)
def showcase(request: Request) -> Response:
    q = request.query_params
    kind = q.get("type") or None
    if kind not in REUSE_TYPES:
        kind = None
    status = q.get("status", "published")
    if status not in ("published", "pending", "rejected"):
        status = "published"
    dataset = (q.get("dataset") or "").strip()[:100] or None
    page = int_param(q.get("page"), 1, 1, 10_000)
    found = call(request, "reuse_list", {"type": kind, "dataset": dataset, "status": status, "limit": PAGE,
                                         "offset": (page - 1) * PAGE})
    ds = call(request, "dataset_show", {"id": dataset}) if dataset else None
    return render(request, "showcase.html", {"found": found, "type": kind, "status": status, "dataset": ds,
                                             "page": page, "pages": max(1, (found["count"] + PAGE - 1) // PAGE),
                                             "types": [(k, TYPE_LABELS[k]) for k in REUSE_TYPES],
                                             "submitted": q.get("submitted") == "1", "nav": "showcase"})


def _form(request: Request, values: dict[str, Any], errors: dict[str, list[str]] | None = None,
          general: list[str] | None = None, status: int = 200) -> Response:
    return render(request, "showcase_form.html", {"values": values, "errors": errors or {}, "general": general or [],
                                                  "types": [(k, TYPE_LABELS[k]) for k in REUSE_TYPES],
                                                  "nav": "showcase"}, status=status)


@router.get("/showcase/new", response_class=HTMLResponse)
def showcase_new(request: Request) -> Response:
    if request.state.actor is None:
        return login_redirect(request)
    return _form(request, {"title": "", "url": "", "type": "app", "description": "",
                           "datasets": request.query_params.get("dataset", "")[:1000]})


@router.post("/showcase/new", response_class=HTMLResponse)
async def showcase_new_post(request: Request) -> Response:
    form = await checked_form(request)
    if request.state.actor is None:
        return login_redirect(request)
    values = {k: str(form.get(k) or "").strip() for k in ("title", "url", "type", "description", "datasets")}
    names = [n.strip() for n in values["datasets"].replace(",", " ").replace(",", " ").split() if n.strip()]
    file = form.get("image")
    upload = UploadedFile(filename=file.filename, stream=file.file) if isinstance(file, UploadFile) and file.filename \
        else None
    try:
        await acall(request, "reuse_create", {"title": values["title"], "url": values["url"], "type": values["type"],
                                              "description": values["description"], "datasets": names,
                                              "image": upload})
    except (ValidationError, NotFound) as exc:
        errors, general = field_errors(exc, lang(request))
        return await run_in_threadpool(_form, request, values, errors, general, exc.status)
    return redirect("/showcase?submitted=1")


@router.get("/showcase/{rid}/image")
def showcase_image(request: Request, rid: int) -> Response:
    found = call(request, "reuse_image", {"id": rid})
    return FileResponse(found["path"], media_type=found["media_type"],
                        headers={"Content-Disposition": "inline"})


@router.post("/showcase/{rid}/review", response_class=HTMLResponse)
async def showcase_review(request: Request, rid: int) -> Response:
    form = await checked_form(request)
    if request.state.actor is None:
        return login_redirect(request)
    decision = str(form.get("decision") or "")
    await acall(request, "reuse_review", {"id": rid, "decision": decision,
                                          "comment": str(form.get("comment") or "")[:2000]})
    return redirect("/showcase?status=pending")
