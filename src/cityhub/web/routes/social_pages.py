"""Activity-stream pages (issue 15): Atom feeds per dataset, per department and of the whole site (CKAN's
``/feeds/dataset/{id}.atom`` and ``/feeds/organization/{name}.atom``), the notifications page, each user's news
page, and the follow / unfollow buttons' targets. Each route calls actions (``social/actions.py``); what the caller
sees is the catalog's visibility rule, applied there."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from cityhub.errors import NotFound
from cityhub.social import feeds
from cityhub.web.deps import call
from cityhub.web.page_helpers import (
    acall,
    checked_form,
    login_redirect,
    redirect,
    render,
    safe_next,
    social_board,
)

router = APIRouter(include_in_schema=False)
ATOM = "application/atom+xml; charset=utf-8"
FOLLOW_ACTIONS = {("follow", "dataset"): "follow_dataset", ("unfollow", "dataset"): "unfollow_dataset",
                  ("follow", "organization"): "follow_group", ("unfollow", "organization"): "unfollow_group"}


def _atom(request: Request, kind: str, ref: str | None) -> Response:
    feed: dict[str, Any] = call(request, "activity_feed", {"kind": kind, "id": ref})
    return Response(feeds.atom(feed), media_type=ATOM,
                    headers={"Cache-Control": "private, no-store" if request.state.actor else "public, max-age=60"})


@router.get("/feeds/dataset/{ref}.atom")
def dataset_feed(request: Request, ref: str) -> Response:
    return _atom(request, "dataset", ref)


@router.get("/feeds/organization/{ref}.atom")
def organization_feed(request: Request, ref: str) -> Response:
    return _atom(request, "organization", ref)


@router.get("/feeds/recent.atom")
def recent_feed(request: Request) -> Response:
    return _atom(request, "recent", None)


@router.post("/follow/{kind}/{ref}")
async def follow(request: Request, kind: str, ref: str) -> Response:
    return await follow_step(request, "follow", kind, ref)


@router.post("/unfollow/{kind}/{ref}")
async def unfollow(request: Request, kind: str, ref: str) -> Response:
    return await follow_step(request, "unfollow", kind, ref)


async def follow_step(request: Request, step: str, kind: str, ref: str) -> Response:
    form = await checked_form(request)
    if request.state.actor is None:
        return login_redirect(request)
    name = FOLLOW_ACTIONS.get((step, kind))
    if name is None:
        raise NotFound("未知的关注操作", "Unknown follow step")
    await acall(request, name, {"id": ref})
    fallback = f"/dataset/{ref}" if kind == "dataset" else f"/organization/{ref}"
    nxt = str(form.get("next") or "")
    return redirect(safe_next(nxt) if nxt else fallback)


@router.get("/notifications", response_class=HTMLResponse)
def notifications_page(request: Request) -> Response:
    if request.state.actor is None:
        return login_redirect(request)
    notes = call(request, "notification_list", {"limit": 100})
    email_on = call(request, "notification_preference_show", {})["email_notifications"]
    return render(request, "notifications.html", {"notes": notes, "email_on": email_on, "nav": "notifications"})


@router.post("/notifications/read")
async def notifications_read(request: Request) -> Response:
    await checked_form(request)
    if request.state.actor is None:
        return login_redirect(request)
    await acall(request, "dashboard_mark_activities_old", {})
    return redirect("/notifications")


@router.post("/notifications/preferences")
async def notifications_preferences(request: Request) -> Response:
    form = await checked_form(request)
    if request.state.actor is None:
        return login_redirect(request)
    await acall(request, "notification_preference_update",
                {"email_notifications": bool(form.get("email_notifications"))})
    return redirect("/notifications")


@router.get("/news", response_class=HTMLResponse)
def news_page(request: Request) -> Response:
    if request.state.actor is None:
        return login_redirect(request)
    return render(request, "news.html", {"social_board": social_board(request), "nav": "news"})
