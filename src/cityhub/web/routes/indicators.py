"""Plan indicators over HTTP (issue 15): the indicators with their progress, one indicator, define and change them
(the data office), report a value with evidence (multipart: the responsible department), the review queue and
decisions, evidence documents, and the assessment reports as JSON or CSV for third-party assessors. Every route
parses its input and calls one action."""

from __future__ import annotations

from pathlib import Path as FsPath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from cityhub.catalog.schemas import UploadedFile
from cityhub.indicators.export import export_csv
from cityhub.indicators.schemas import CODE, IndicatorCreate, IndicatorUpdate
from cityhub.web.deps import access, call, check_csrf
from cityhub.web.openapi import Record, body_errors, errors, ok, operation_id

router = APIRouter(tags=["indicators"], generate_unique_id_function=operation_id)
AREA = r"^[a-z_]{2,40}$"
SLUG = r"^[a-z0-9][a-z0-9_-]{0,99}$"
MAX_ID = 2**31 - 1


class ReviewBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: Literal["approve", "reject"]
    comment: str = Field("", max_length=2000)


@router.get("/api/indicators", summary="The plan's indicators with their series, targets and progress",
            responses=ok(Record, 422))
def indicators_list(request: Request, area: str | None = Query(None, pattern=AREA),
                    department: str | None = Query(None, pattern=SLUG)) -> Any:
    return call(request, "indicator_list", {"area": area, "department": department}, via="api")


@router.post("/api/indicators", dependencies=[access("indicator_create")], status_code=201,
             summary="Define an indicator (the data office)", responses=ok(Record, *body_errors(403, 409), status=201))
def indicators_create(request: Request, body: IndicatorCreate) -> Any:
    check_csrf(request, None)
    return call(request, "indicator_create", body, via="api")


@router.get("/api/indicators/{code}", summary="One indicator: progress, series, reported values, history",
            responses=ok(Record, 404))
def indicators_show(request: Request, code: str = Path(pattern=CODE)) -> Any:
    return call(request, "indicator_show", {"code": code}, via="api")


@router.patch("/api/indicators/{code}", dependencies=[access("indicator_update")],
              summary="Change an indicator's definition (the data office)", responses=ok(Record, *body_errors(403, 404)))
def indicators_update(request: Request, body: IndicatorUpdate, code: str = Path(pattern=CODE)) -> Any:
    check_csrf(request, None)
    return call(request, "indicator_update", {**body.model_dump(exclude_unset=True), "code": code}, via="api")


@router.post("/api/indicators/{code}/observations", dependencies=[access("indicator_report")], status_code=201,
             summary="Report a value with evidence (multipart; the responsible department)",
             responses=ok(Record, *body_errors(403, 404), status=201))
def indicators_report(
    request: Request,
    period: Annotated[str, Form(max_length=7)],
    value: Annotated[float, Form()],
    unit: Annotated[str, Form(max_length=40)],
    code: str = Path(pattern=CODE),
    note: Annotated[str, Form(max_length=5000)] = "",
    evidence_url: Annotated[str, Form(max_length=2000)] = "",
    evidence_dataset: Annotated[str, Form(max_length=100)] = "",
    file: Annotated[UploadFile | None, File()] = None,
) -> Any:
    check_csrf(request, None)
    upload = UploadedFile(filename=file.filename or "evidence", stream=file.file) if file is not None else None
    return call(request, "indicator_report", {"code": code, "period": period, "value": value, "unit": unit,
                                              "note": note, "evidence_url": evidence_url,
                                              "evidence_dataset": evidence_dataset, "upload": upload}, via="api")


@router.get("/api/indicator-observations", dependencies=[access("indicator_queue")],
            summary="Reported values by review status (the data office: all; a department: its own)",
            responses=ok(Record, 401, 403, 422))
def observations_queue(request: Request,
                       status: Literal["reported", "approved", "rejected", "superseded"] = "reported",
                       department: str | None = Query(None, pattern=SLUG),
                       limit: int = Query(100, ge=1, le=1000)) -> Any:
    return call(request, "indicator_queue", {"status": status, "department": department, "limit": limit},
                via="api")


@router.post("/api/indicator-observations/{oid}/review", dependencies=[access("indicator_review")],
             summary="Approve or reject a reported value (the data office)",
             responses=ok(Record, *body_errors(403, 404, 409)))
def observations_review(request: Request, body: ReviewBody, oid: int = Path(ge=1, le=MAX_ID)) -> Any:
    check_csrf(request, None)
    return call(request, "indicator_review", {"id": oid, **body.model_dump()}, via="api")


@router.get("/api/indicator-observations/{oid}/evidence", dependencies=[access("indicator_evidence")],
            summary="The evidence document of a reported value (government users)",
            response_class=Response,
            responses={**errors(403, 404), 200: {"description": "the document", "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}})
def observations_evidence(request: Request, oid: int = Path(ge=1, le=MAX_ID)) -> Any:
    found = call(request, "indicator_evidence", {"id": oid}, via="api")
    return FileResponse(found["path"], media_type="application/octet-stream",
                        filename=found["filename"] or FsPath(found["path"]).name)


@router.get("/api/indicator-assessments/{kind}",
            summary="An assessment (annual, midterm, final) as JSON, or CSV for third-party assessors",
            responses={**errors(404), 200: {"description": "the assessment (JSON), or one row per indicator (CSV)",
                                            "content": {"application/json": {"schema": {"type": "object"}},
                                                        "text/csv": {"schema": {"type": "string"}}}}})
def assessments_show(request: Request, kind: Literal["annual", "midterm", "final"],
                     year: int | None = Query(None, ge=1990, le=2100), area: str | None = Query(None, pattern=AREA),
                     format: Literal["json", "csv"] = "json") -> Any:
    report = call(request, "indicator_assessment", {"kind": kind, "year": year, "area": area}, via="api")
    if format == "csv":
        return Response("\ufeff" + export_csv(report), media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="indicators-{kind}-{report["year"]}.csv"'})
    return report
