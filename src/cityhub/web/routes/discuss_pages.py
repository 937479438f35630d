"""Discussion pages (issue 15): the forms of the dataset page's discussion section (post, reply, the author's edit
and delete, report, and the moderators' hide / show / lock / unlock and turn-into-a-correction) and the moderators' queue at
``/moderation``. The section itself is drawn by ``dataset.html`` (``_discussions.html``) from ``discussion_list``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from cityhub.web.deps import call
from cityhub.web.page_helpers import acall, checked_form, int_param, login_redirect, redirect, render

router = APIRouter(include_in_schema=False)
PAGE = 20


def _back(name: str, anchor: str, note: str = "") -> Response:
    return redirect(f"/dataset/{name}{'?' + note if note else ''}#{anchor}")


@router.post("/dataset/{name}/discussion", response_class=HTMLResponse)
async def discussion_post(request: Request, name: str) -> Response:
    form = await checked_form(request)
    if request.state.actor is None:
        return login_redirect(request)
    parent = str(form.get("parent_id") or "").strip()
    data: dict[str, Any] = {"dataset": name, "body": str(form.get("body") or ""),
                            "kind": str(form.get("kind") or ("reply" if parent else "question")),
                            "title": str(form.get("title") or "")}
    if parent:
        data["parent_id"] = int_param(parent, 0)
    post = await acall(request, "discussion_post_create", data)
    return _back(post["dataset"], f"post-{post['id']}", "held=1" if post["status"] == "held" else "")


@router.get("/dataset/{name}/discussion", response_class=HTMLResponse)
def discussion_page(request: Request, name: str) -> Response:
    """A dataset's whole discussion, page by page, or one thread with all its replies (``?thread=``)."""
    ds = call(request, "dataset_show", {"id": name})
    thread = int_param(request.query_params.get("thread"), 0, 0, 2**31 - 1) or None
    page = int_param(request.query_params.get("page"), 1, 1, 100_000)
    discussion = call(request, "discussion_list", {"dataset": ds["name"], "limit": PAGE, "offset": (page - 1) * PAGE,
                                                   "replies": 500, "thread": thread})
    return render(request, "discussion.html", {"ds": ds, "discussion": discussion, "page": page, "thread": thread,
                                               "pages": max(1, (discussion["count"] + PAGE - 1) // PAGE),
                                               "nav": "dataset"})


@router.post("/discussion/{pid}/edit", response_class=HTMLResponse)
async def discussion_edit(request: Request, pid: int) -> Response:
    form = await checked_form(request)
    if request.state.actor is None:
        return login_redirect(request)
    data: dict[str, Any] = {"id": pid, "body": str(form.get("body") or "")}
    if form.get("title") is not None:
        data["title"] = str(form.get("title") or "")
    post = await acall(request, "discussion_post_update", data)
    return _back(post["dataset"], f"post-{pid}", "held=1" if post["status"] == "held" else "")


@router.post("/discussion/{pid}/delete", response_class=HTMLResponse)
async def discussion_delete(request: Request, pid: int) -> Response:
    await checked_form(request)
    if request.state.actor is None:
        return login_redirect(request)
    post = await acall(request, "discussion_post_delete", {"id": pid})
    return _back(post["dataset"], f"post-{pid}" if post["status"] != "deleted" else "discussion", "deleted=1")


@router.post("/discussion/{pid}/report", response_class=HTMLResponse)
async def discussion_report(request: Request, pid: int) -> Response:
    form = await checked_form(request)
    if request.state.actor is None:
        return login_redirect(request)
    await acall(request, "discussion_post_report", {"id": pid, "reason": str(form.get("reason") or "")[:500]})
    post = await acall(request, "discussion_post_show", {"id": pid})
    return _back(post["dataset"], f"post-{pid}", "reported=1")


def _next(request: Request, form: Any, post: dict[str, Any]) -> Response:
    if str(form.get("next") or "") == "moderation":
        return redirect("/moderation")
    return _back(post["dataset"], f"post-{post['id']}")


@router.post("/discussion/{pid}/hide", response_class=HTMLResponse)
async def discussion_hide(request: Request, pid: int) -> Response:
    form = await checked_form(request)
    if request.state.actor is None:
        return login_redirect(request)
    await acall(request, "discussion_post_hide", {"id": pid, "hidden": str(form.get("hidden")) == "1",
                                                  "note": str(form.get("note") or "")[:1000]})
    return _next(request, form, await acall(request, "discussion_post_show", {"id": pid}))


@router.post("/discussion/{pid}/lock", response_class=HTMLResponse)
async def discussion_lock(request: Request, pid: int) -> Response:
    form = await checked_form(request)
    if request.state.actor is None:
        return login_redirect(request)
    await acall(request, "discussion_thread_lock", {"id": pid, "locked": str(form.get("locked")) == "1",
                                                    "note": str(form.get("note") or "")[:1000]})
    return _next(request, form, await acall(request, "discussion_post_show", {"id": pid}))


@router.post("/discussion/{pid}/correction", response_class=HTMLResponse)
async def discussion_correction(request: Request, pid: int) -> Response:
    form = await checked_form(request)
    if request.state.actor is None:
        return login_redirect(request)
    keys = ("resource_id", "key_column", "key_value", "field", "claimed_value")
    found = await acall(request, "discussion_post_correction",
                        {"id": pid, **{k: str(form.get(k) or "").strip() for k in keys}})
    return redirect(f"/corrections/{found['correction']['id']}")


@router.get("/moderation", response_class=HTMLResponse)
def moderation(request: Request) -> Response:
    if request.state.actor is None:
        return login_redirect(request)
    status = request.query_params.get("status", "pending")
    if status not in ("pending", "reported", "hidden"):
        status = "pending"
    posts = call(request, "discussion_queue", {"status": status, "limit": 200})
    return render(request, "moderation.html", {"posts": posts, "status": status, "nav": "moderation"})
