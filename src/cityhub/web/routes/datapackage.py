"""Frictionless Data Package downloads of a dataset: the descriptor and the self-contained zip.

Machine-readable endpoints: errors are the JSON error shape even for browsers (a tool fetching the descriptor
must not receive an HTML error page). They live beside the dataset page, outside the native API's OpenAPI
document (``/api/v1``), and are described in ``docs/datapackage.md``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from cityhub.errors import CityHubError
from cityhub.web.deps import call, error_response

router = APIRouter(include_in_schema=False)


def _call(request: Request, action: str, name: str) -> tuple[Any, Response | None]:
    """Run ``action`` for dataset ``name``: its result, or the JSON error response."""
    try:
        return call(request, action, {"id": name}, via="api"), None
    except CityHubError as exc:
        return None, error_response(exc)


@router.get("/dataset/{name}/datapackage.json", summary="The dataset as a Frictionless Data Package descriptor")
def datapackage_json(request: Request, name: str) -> Response:
    descriptor, failed = _call(request, "dataset_datapackage", name)
    return failed or JSONResponse(descriptor)


@router.get("/dataset/{name}/datapackage.zip", summary="The dataset as a zipped Data Package (descriptor and data)")
def datapackage_zip(request: Request, name: str) -> Response:
    out, failed = _call(request, "dataset_datapackage_zip", name)
    if failed is not None:
        return failed
    headers = {"Content-Disposition": f"attachment; filename*=UTF-8''{quote(out['filename'])}"}
    return StreamingResponse(out["chunks"], media_type=out["media_type"], headers=headers)
