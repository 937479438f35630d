"""The publication workflow's API (``/api/v1``): submit, approve, reject and withdraw a data resource, the
reviewers' queue and the steward's dashboard; each route calls one action (``catalog/publication_actions.py``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from cityhub.web import openapi as o
from cityhub.web.deps import access, call, check_csrf
from cityhub.web.openapi import body_errors, ok

router = APIRouter(prefix="/api/v1", tags=["native"], generate_unique_id_function=o.operation_id)


class ReviewBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    comment: str = Field("", max_length=2000, description="the reviewer's comment (required to reject or withdraw)")


def _step(request: Request, step: str, name: str, body: ReviewBody | None) -> Any:
    check_csrf(request, None)
    return call(request, f"dataset_{step}", {"id": name, "comment": body.comment if body else ""}, via="api")


@router.post("/datasets/{name}/submit", dependencies=[access("dataset_submit")],
             summary="Submit a draft for review (draft → submitted)",
             responses=ok(o.Dataset, *body_errors(403, 404, 409)))
def datasets_submit(request: Request, name: str, body: ReviewBody | None = None) -> Any:
    return _step(request, "submit", name, body)


@router.post("/datasets/{name}/approve", dependencies=[access("dataset_approve")],
             summary="Approve a submission: the dataset is published (submitted → published)",
             responses=ok(o.Dataset, *body_errors(403, 404, 409)))
def datasets_approve(request: Request, name: str, body: ReviewBody | None = None) -> Any:
    return _step(request, "approve", name, body)


@router.post("/datasets/{name}/reject", dependencies=[access("dataset_reject")],
             summary="Send a submission back to draft with a comment (submitted → draft)",
             responses=ok(o.Dataset, *body_errors(403, 404, 409, 422)))
def datasets_reject(request: Request, name: str, body: ReviewBody) -> Any:
    return _step(request, "reject", name, body)


@router.post("/datasets/{name}/withdraw", dependencies=[access("dataset_withdraw")],
             summary="Withdraw a published dataset to draft with a comment (published → draft)",
             responses=ok(o.Dataset, *body_errors(403, 404, 409, 422)))
def datasets_withdraw(request: Request, name: str, body: ReviewBody) -> Any:
    return _step(request, "withdraw", name, body)


@router.get("/review-queue", dependencies=[access("review_list")],
            summary="Submitted datasets awaiting the caller's review",
            responses=ok(list[dict[str, Any]], 401, 403, 404))
def review_queue(request: Request, department: str | None = Query(None, max_length=60),
                 limit: int = Query(200, ge=1, le=1000)) -> Any:
    return call(request, "review_list", {"department": department, "limit": limit}, via="api")


@router.get("/dashboard", dependencies=[access("dashboard_show")],
            summary="A department's drafts, open submissions, overdue updates and failed loads",
            responses=ok(dict[str, Any], 401, 403, 404))
def dashboard(request: Request, department: str | None = Query(None, max_length=60),
              limit: int = Query(100, ge=1, le=1000)) -> Any:
    return call(request, "dashboard_show", {"department": department, "limit": limit}, via="api")
