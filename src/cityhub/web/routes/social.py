"""Native API of following and notifications (issue 15; ``social/actions.py``). The CKAN-compatible activity and
follow actions are under ``/api/3/action`` (``routes/ckan.py``); these are CityHub's own: following any kind of
object, and one's notifications."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from cityhub.web import openapi as o
from cityhub.web.deps import access, call, check_csrf
from cityhub.web.openapi import body_errors, ok

router = APIRouter(prefix="/api/v1", tags=["native"], generate_unique_id_function=o.operation_id)
Kind = Literal["dataset", "organization", "data_request", "indicator"]


class FollowBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    object_type: Kind
    object_id: str = Field(min_length=1, max_length=64)


class ReadBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[int] | None = Field(None, max_length=1000)


class PreferenceBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email_notifications: bool


@router.post("/follows", dependencies=[access("follow_create")], summary="Follow a dataset, department, data "
             "request or indicator", responses=ok(dict[str, Any], *body_errors(401, 404, 409, 422)))
def follows_create(request: Request, body: FollowBody) -> Any:
    check_csrf(request, None)
    return call(request, "follow_create", body.model_dump(), via="api")


@router.delete("/follows/{object_type}/{object_id}", dependencies=[access("follow_delete")],
               summary="Stop following an object", responses=ok(dict[str, Any], 401, 404, 409, 422))
def follows_delete(request: Request, object_type: Kind, object_id: str) -> Any:
    check_csrf(request, None)
    return call(request, "follow_delete", {"object_type": object_type, "object_id": object_id[:64]}, via="api")


@router.get("/follows", dependencies=[access("follow_list")], summary="What I follow",
            responses=ok(list[dict[str, Any]], 401, 409, 422))
def follows_list(request: Request, object_type: Kind | None = None,
                 limit: int = Query(100, ge=1, le=1000)) -> Any:
    return call(request, "follow_list", {"object_type": object_type, "limit": limit}, via="api")


@router.get("/notifications", dependencies=[access("notification_list")], summary="My notifications",
            responses=ok(dict[str, Any], 401, 409, 422))
def notifications_list(request: Request, unread_only: bool = False, offset: int = Query(0, ge=0, le=1_000_000),
                       limit: int = Query(30, ge=1, le=100)) -> Any:
    return call(request, "notification_list", {"unread_only": unread_only, "offset": offset, "limit": limit},
                via="api")


@router.post("/notifications/read", dependencies=[access("notification_mark_read")],
             summary="Mark some (ids) or all of my notifications read",
             responses=ok(dict[str, Any], *body_errors(401, 409, 422)))
def notifications_read(request: Request, body: ReadBody | None = None) -> Any:
    check_csrf(request, None)
    return call(request, "notification_mark_read", {"ids": body.ids if body else None}, via="api")


@router.put("/notifications/preferences", dependencies=[access("notification_preference_update")],
            summary="Turn my notification e-mails on or off", responses=ok(dict[str, Any], *body_errors(401, 409, 422)))
def notifications_preferences(request: Request, body: PreferenceBody) -> Any:
    check_csrf(request, None)
    return call(request, "notification_preference_update", body.model_dump(), via="api")


@router.post("/notifications/send", dependencies=[access("notification_email_send")],
             summary="Send the pending notification e-mails now (platform admins; the job does it periodically)",
             responses=ok(dict[str, Any], 401, 403, 409, 422))
def notifications_send(request: Request) -> Any:
    check_csrf(request, None)
    return call(request, "notification_email_send", {}, via="api")
