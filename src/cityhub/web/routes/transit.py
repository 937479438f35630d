"""Transit runs over HTTP: start a run (government users), list runs and read one (its status and percentage,
the run and validation reports, what it published). Every route parses its input and calls one action."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Query, Request

from cityhub.transit.schemas import RunStart
from cityhub.web.deps import access, call, check_csrf
from cityhub.web.openapi import Record, body_errors, ok, operation_id

router = APIRouter(tags=["transit"], generate_unique_id_function=operation_id)


@router.post("/api/transit/runs", dependencies=[access("transit_run_start")], status_code=202,
             summary="Start a transit run in the background (government users)",
             responses=ok(Record, *body_errors(403, 409), status=202))
def transit_run_start(request: Request, body: RunStart) -> Any:
    check_csrf(request, None)
    return call(request, "transit_run_start", body, via="api")


@router.get("/api/transit/runs", summary="Transit runs, newest first (the public: finished, published runs)",
            responses=ok(Record))
def transit_run_list(request: Request, limit: int = Query(20, ge=1, le=200)) -> Any:
    return call(request, "transit_run_list", {"limit": limit}, via="api")


@router.get("/api/transit/runs/{run_id}", summary="A transit run: status, %, run and validation reports",
            responses=ok(Record, 404))
def transit_run_show(request: Request, run_id: str = Path(pattern=r"^[0-9a-f]{12}$")) -> Any:
    return call(request, "transit_run_show", {"id": run_id}, via="api")
