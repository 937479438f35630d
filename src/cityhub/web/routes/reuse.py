"""Reuses (成果展示) over HTTP (``/api/reuses``): the showcase list (filter by type and dataset), counts per
dataset, submitting one (multipart: fields and an optional image) and the data office's review. Every route
parses its input and calls one action (``engage/reuse_actions.py``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Path, Query, Request, UploadFile
from pydantic import BaseModel, ConfigDict, Field

from cityhub.catalog.schemas import UploadedFile
from cityhub.engage.reuse_schemas import ReuseType
from cityhub.web.deps import access, call, check_csrf
from cityhub.web.openapi import MAX_ID, MAX_OFFSET, Record, body_errors, ok, operation_id

router = APIRouter(prefix="/api/reuses", tags=["reuses"], generate_unique_id_function=operation_id)
RID = Path(ge=1, le=MAX_ID, description="reuse id")


class ReviewBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    decision: Literal["published", "rejected"]
    comment: str = Field("", max_length=2000)


class ReuseOut(Record):
    id: int
    title: str
    description: str
    url: str
    type: str
    image_url: str | None
    status: Literal["pending", "published", "rejected"]
    datasets: list[dict[str, Any]]


class ReusePage(Record):
    count: int
    results: list[ReuseOut]


@router.get("", summary="Reuses, newest first (published; pending/rejected: the data office)",
            responses=ok(ReusePage, 403, 404))
def reuses_list(request: Request, type: ReuseType | None = None,
                dataset: str | None = Query(None, min_length=1, max_length=100),
                status: Literal["published", "pending", "rejected"] = "published",
                limit: int = Query(24, ge=1, le=100), offset: int = Query(0, ge=0, le=MAX_OFFSET)) -> Any:
    return call(request, "reuse_list", {"type": type, "dataset": dataset, "status": status, "limit": limit,
                                        "offset": offset}, via="api")


@router.get("/counts", summary="Published reuses per dataset ({name: count})", responses=ok(dict[str, int]))
def reuses_counts(request: Request, datasets: Annotated[list[str], Query(max_length=1000)]) -> Any:
    return call(request, "reuse_count", {"datasets": datasets}, via="api")


@router.post("", dependencies=[access("reuse_create")], status_code=201,
             summary="Submit a reuse for review (multipart: fields, datasets repeated, optional image)",
             responses=ok(ReuseOut, *body_errors(401, 404, 422, 429), status=201))
def reuses_create(request: Request, title: Annotated[str, Form(max_length=200)],
                  url: Annotated[str, Form(max_length=2000)],
                  datasets: Annotated[list[str], Form(max_length=20)],
                  type: Annotated[str, Form(max_length=16)] = "app",
                  description: Annotated[str, Form(max_length=5000)] = "",
                  image: Annotated[UploadFile | None, File()] = None) -> Any:
    check_csrf(request, None)
    upload = UploadedFile(filename=image.filename or "image", stream=image.file) if image is not None else None
    return call(request, "reuse_create", {"title": title, "url": url, "datasets": datasets, "type": type,
                                          "description": description, "image": upload}, via="api")


@router.get("/{rid}", summary="One reuse", responses=ok(ReuseOut, 404))
def reuses_show(request: Request, rid: int = RID) -> Any:
    return call(request, "reuse_show", {"id": rid}, via="api")


@router.post("/{rid}/review", dependencies=[access("reuse_review")],
             summary="Publish or reject a reuse (the data office)", responses=ok(ReuseOut, *body_errors(401, 403, 404)))
def reuses_review(request: Request, body: ReviewBody, rid: int = RID) -> Any:
    check_csrf(request, None)
    return call(request, "reuse_review", {"id": rid, **body.model_dump()}, via="api")
