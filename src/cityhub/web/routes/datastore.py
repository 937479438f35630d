"""Native datastore API (``/api/v1``): loads with job status, search, aggregate, stats, SQL, downloads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

from cityhub.catalog.schemas import UploadedFile
from cityhub.errors import ValidationError
from cityhub.web import openapi as o
from cityhub.web.deps import access, call, check_csrf
from cityhub.web.openapi import body_errors, ok

router = APIRouter(prefix="/api/v1", tags=["datastore"], generate_unique_id_function=o.operation_id)


def _json_param(raw: str | None, name: str) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        raise ValidationError(f"{name} 须为 JSON", f"{name} must be JSON", fields={name: ["invalid JSON"]}) from None


@router.post("/resources/{resource_id}/datastore", dependencies=[access("datastore_create")], status_code=202,
             summary="Load a table into the datastore (background job; upload a file or reuse the resource's file)",
             responses=ok(o.DatastoreVersion, *body_errors(403, 404), status=202, description="Load queued"))
def load(request: Request, resource_id: str,
         file: Annotated[UploadFile | None, File()] = None,
         table_schema: Annotated[str, Form(alias="schema", max_length=200000)] = "",
         encoding: Annotated[str, Form(max_length=10)] = "") -> Any:
    check_csrf(request, None)
    upload = UploadedFile(filename=file.filename or "upload", stream=file.file) if file is not None else None
    return call(request, "datastore_create", {"resource_id": resource_id, "upload": upload,
                                              "schema": _json_param(table_schema, "schema"),
                                              "encoding": encoding or None}, via="api")


@router.get("/resources/{resource_id}/datastore", summary="Datastore table info and load history",
            responses=ok(o.TableInfo, 403, 404))
def info(request: Request, resource_id: str) -> Any:
    return call(request, "datastore_info", {"id": resource_id}, via="api")


@router.get("/datastore/jobs/{version_id}", summary="Status and percentage of a load",
            responses=ok(o.DatastoreVersion, 403, 404))
def job(request: Request, version_id: Annotated[int, PathParam(ge=1, le=o.MAX_ID)]) -> Any:
    return call(request, "datastore_job_show", {"version_id": version_id}, via="api")


class RollbackBody(BaseModel):
    version: int = Field(ge=1, le=o.MAX_ID)


@router.post("/resources/{resource_id}/datastore/rollback", dependencies=[access("datastore_rollback")], summary="Make an earlier complete version live",
             responses=ok(o.DatastoreVersion, *body_errors(403, 404, 409)))
def rollback(request: Request, resource_id: str, body: RollbackBody) -> Any:
    check_csrf(request, None)
    return call(request, "datastore_rollback", {"resource_id": resource_id, "version": body.version}, via="api")


@router.delete("/resources/{resource_id}/datastore", dependencies=[access("datastore_delete")], summary="Delete the datastore table",
               responses=ok(o.TableDeleted, 403, 404))
def delete(request: Request, resource_id: str) -> Any:
    check_csrf(request, None)
    return call(request, "datastore_delete", {"resource_id": resource_id}, via="api")


@router.get("/resources/{resource_id}/datastore/search", summary="Rows of the table (CKAN datastore_search)",
            responses=ok(o.DatastoreRows, 403, 404))
def search(request: Request, resource_id: str,
           filters: str | None = Query(None, max_length=10000, description="JSON object column → value or list"),
           q: str | None = Query(None, max_length=1000), fields: str | None = Query(None, max_length=10000),
           sort: str | None = Query(None, max_length=1000),
           limit: int = Query(100, ge=0, le=o.MAX_OFFSET, description="capped at 32,000 (csv/tsv: 1,000,000)"),
           offset: int = Query(0, ge=0, le=o.MAX_OFFSET), include_total: bool = True, distinct: bool = False,
           cursor: str | None = Query(None, max_length=100),
           records_format: str = Query("objects", pattern="^(objects|lists|csv|tsv)$"),
           plain: bool = Query(True, description="false: to_tsquery syntax (& | ! <-> ( ) and term:*)"),
           language: str | None = Query(None, max_length=50, description="full-text language: simple")) -> Any:
    return call(request, "datastore_search", {
        "resource_id": resource_id, "filters": _json_param(filters, "filters") or {}, "q": q,
        "fields": [f.strip() for f in fields.split(",") if f.strip()] if fields else None, "sort": sort,
        "limit": limit, "offset": offset, "include_total": include_total, "distinct": distinct, "cursor": cursor,
        "records_format": records_format, "plain": plain, "language": language}, via="api")


@router.get("/resources/{resource_id}/datastore/aggregate", summary="Group-by aggregates for charts",
            responses=ok(o.QueryResult, 403, 404))
def aggregate(request: Request, resource_id: str,
              group_by: list[str] = Query(..., min_length=1, max_length=2, description="one or two columns"),
              metric: list[str] = Query(default_factory=lambda: ["count"], max_length=10,
                                        description="`count`, or `sum|avg|min|max|count:<column>`"),
              filters: str | None = Query(None, max_length=10000, description="JSON object column → value or list"),
              limit: int = Query(1000, ge=1, le=10000)) -> Any:
    metrics = []
    for m in metric:
        fn, _, col = m.partition(":")
        metrics.append((fn, col or None))
    return call(request, "datastore_aggregate", {"resource_id": resource_id, "group_by": group_by,
                                                 "metrics": metrics, "filters": _json_param(filters, "filters") or {},
                                                 "limit": limit}, via="api")


@router.get("/resources/{resource_id}/datastore/stats", summary="Statistics of one column",
            responses=ok(o.ColumnStats, 403, 404))
def stats(request: Request, resource_id: str, column: str = Query(..., max_length=200),
          bins: int = Query(20, ge=2, le=100)) -> Any:
    return call(request, "datastore_stats", {"resource_id": resource_id, "column": column, "bins": bins},
                via="api")


class SqlBody(BaseModel):
    sql: str = Field(min_length=1, max_length=20000)


@router.post("/datastore/sql", summary="One read-only SELECT over tables named by resource id",
             responses=ok(o.QueryResult, *body_errors(403, 404)))
def sql(request: Request, body: SqlBody) -> Any:
    return call(request, "datastore_search_sql", {"sql": body.sql}, via="api")


@router.get("/resources/{resource_id}/datastore/download", summary="Download the table, whole or filtered",
            response_class=Response, responses={**o.DOWNLOAD, **o.errors(403, 404)})
def download(request: Request, resource_id: str,
             format: str = Query("csv", pattern="^(csv|xlsx|json|parquet)$"), bom: bool = False,
             filters: str | None = Query(None, max_length=10000, description="JSON object column → value or list"),
             q: str | None = Query(None, max_length=1000),
             fields: str | None = Query(None, max_length=10000, description="comma-separated columns"),
             sort: str | None = Query(None, max_length=1000, description="e.g. `year desc, name`")) -> Response:
    out = call(request, "datastore_export", {
        "resource_id": resource_id, "format": format, "bom": bom, "filters": _json_param(filters, "filters") or {},
        "q": q, "fields": [f.strip() for f in fields.split(",") if f.strip()] if fields else None, "sort": sort},
        via="api")
    return stream_export(out)


def stream_export(out: dict[str, Any]) -> Response:
    """Whole-table CSV: the cached file by sendfile (a BOM first when asked); otherwise the chunk iterator."""
    disposition = f"attachment; filename*=UTF-8''{quote(out['filename'])}"
    headers = {"Content-Disposition": disposition}
    if out["path"] and not out["prefix"]:
        return FileResponse(out["path"], media_type=out["media_type"], headers=headers)
    if out["path"]:
        path, prefix = Path(out["path"]), out["prefix"]
        headers["Content-Length"] = str(path.stat().st_size + len(prefix))

        def with_prefix() -> Iterator[bytes]:
            yield prefix
            with path.open("rb") as fh:
                while chunk := fh.read(1 << 20):
                    yield chunk

        return StreamingResponse(with_prefix(), media_type=out["media_type"], headers=headers)
    return StreamingResponse(out["chunks"], media_type=out["media_type"], headers=headers)
