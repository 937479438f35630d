"""Discussions on datasets over HTTP (``/api/discussions``): list a dataset's threads, post, edit or delete one's
own post, report, and the moderators' hide / lock / moderation queue / turn-into-a-correction. Every route parses
its input and calls one action (``engage/discuss_actions.py``); the post bodies come back as written (Markdown)
with ``body_html``, the sanitised rendering stored when the post was written (the one the portal shows)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from cityhub.engage.discuss_schemas import PostCreate
from cityhub.web.deps import access, call, check_csrf
from cityhub.web.openapi import MAX_ID, MAX_OFFSET, Record, body_errors, ok, operation_id

router = APIRouter(prefix="/api/discussions", tags=["discussions"], generate_unique_id_function=operation_id)
PID = Path(ge=1, le=MAX_ID, description="post id")


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class UpdateBody(Body):
    body: str = Field(min_length=1, max_length=10000, description="the new Markdown")
    title: str | None = Field(None, max_length=200, description="a thread opener's new title (none: unchanged)")


class ReportBody(Body):
    reason: str = Field("", max_length=500)


class HideBody(Body):
    hidden: bool = True
    note: str = Field("", max_length=1000)


class LockBody(Body):
    locked: bool = True
    note: str = Field("", max_length=1000)


class CorrectionBody(Body):
    resource_id: str = Field(min_length=1, max_length=36)
    key_column: str = Field("_id", min_length=1, max_length=200)
    key_value: str = Field(min_length=1, max_length=500)
    field: str = Field(min_length=1, max_length=200)
    claimed_value: str = Field(max_length=5000)


class PostOut(Record):
    id: int
    thread_id: int | None
    parent_id: int | None
    kind: Literal["question", "error_report", "reply"]
    title: str
    body: str = Field(description="the author's Markdown")
    body_html: str = Field(description="the sanitised HTML rendering, stored when the post was written")
    author: str
    status: Literal["visible", "held", "hidden", "deleted"]
    deleted: bool = Field(description="deleted by its author or a moderator: a placeholder keeping its thread")
    locked: bool
    created_at: str
    edited_at: str | None = Field(None, description="when its text was last edited")


class ThreadOut(PostOut):
    replies: list[PostOut] = Field(description="the newest replies (``replies`` of them), oldest first")
    reply_count: int


class DiscussionOut(Record):
    dataset: str
    count: int
    moderator: bool
    threads: list[ThreadOut]


@router.get("", summary="A dataset's discussion: threads (newest first) with their replies",
            responses=ok(DiscussionOut, 404))
def discussions_list(request: Request, dataset: str = Query(min_length=1, max_length=100),
                     limit: int = Query(20, ge=1, le=100), offset: int = Query(0, ge=0, le=MAX_OFFSET),
                     replies: int = Query(50, ge=0, le=500), thread: int | None = Query(None, ge=1, le=MAX_ID)) -> Any:
    found = call(request, "discussion_list", {"dataset": dataset, "limit": limit, "offset": offset,
                                              "replies": replies, "thread": thread}, via="api")
    return found


@router.post("", dependencies=[access("discussion_post_create")], status_code=201,
             summary="Post a question, an error report or a reply (rate-limited; a new account's posts are held)",
             responses=ok(PostOut, *body_errors(401, 404, 409, 429), status=201))
def discussions_post(request: Request, body: PostCreate) -> Any:
    check_csrf(request, None)
    return call(request, "discussion_post_create", body, via="api")


@router.get("/queue", dependencies=[access("discussion_queue")],
            summary="The moderation queue of the caller's department (platform admins: all)",
            responses=ok(list[PostOut], 401, 403))
def discussions_queue(request: Request, status: Literal["pending", "reported", "hidden"] = "pending",
                      limit: int = Query(100, ge=1, le=500)) -> Any:
    return call(request, "discussion_queue", {"status": status, "limit": limit}, via="api")


@router.get("/{pid}", summary="One post", responses=ok(PostOut, 404))
def discussions_show(request: Request, pid: int = PID) -> Any:
    return call(request, "discussion_post_show", {"id": pid}, via="api")


@router.patch("/{pid}", dependencies=[access("discussion_post_update")],
              summary="Edit a post (its author or the dataset's moderators; not in a locked thread; rate-limited)",
              responses=ok(PostOut, *body_errors(401, 403, 404, 409, 422, 429)))
def discussions_update(request: Request, body: UpdateBody, pid: int = PID) -> Any:
    check_csrf(request, None)
    return call(request, "discussion_post_update", {"id": pid, **body.model_dump(exclude_none=True)}, via="api")


@router.delete("/{pid}", dependencies=[access("discussion_post_delete")],
               summary="Delete a post (its author or the dataset's moderators; one with replies stays as a placeholder)",
               responses=ok(PostOut, 401, 403, 404, 409))
def discussions_delete(request: Request, pid: int = PID) -> Any:
    check_csrf(request, None)
    return call(request, "discussion_post_delete", {"id": pid}, via="api")


@router.post("/{pid}/report", dependencies=[access("discussion_post_report")],
             summary="Report a post to the moderators", responses=ok(Record, *body_errors(401, 404)))
def discussions_report(request: Request, body: ReportBody, pid: int = PID) -> Any:
    check_csrf(request, None)
    return call(request, "discussion_post_report", {"id": pid, **body.model_dump()}, via="api")


@router.post("/{pid}/hide", dependencies=[access("discussion_post_hide")],
             summary="Hide or show a post (moderators; publishes a held post)",
             responses=ok(PostOut, *body_errors(401, 403, 404)))
def discussions_hide(request: Request, body: HideBody, pid: int = PID) -> Any:
    check_csrf(request, None)
    return call(request, "discussion_post_hide", {"id": pid, **body.model_dump()}, via="api")


@router.post("/{pid}/lock", dependencies=[access("discussion_thread_lock")],
             summary="Lock or unlock a thread (moderators; the thread's first post)",
             responses=ok(PostOut, *body_errors(401, 403, 404, 422)))
def discussions_lock(request: Request, body: LockBody, pid: int = PID) -> Any:
    check_csrf(request, None)
    return call(request, "discussion_thread_lock", {"id": pid, **body.model_dump()}, via="api")


@router.post("/{pid}/correction", dependencies=[access("discussion_post_correction")], status_code=201,
             summary="Turn an error report into a correction ticket (the dataset's stewards)",
             responses=ok(Record, *body_errors(401, 403, 404, 409, 422), status=201))
def discussions_correction(request: Request, body: CorrectionBody, pid: int = PID) -> Any:
    check_csrf(request, None)
    return call(request, "discussion_post_correction", {"id": pid, **body.model_dump()}, via="api")
