"""Publication pages: the workflow buttons' targets on the dataset page (submit, approve, reject with a comment,
withdraw), the reviewers' queue and the steward's dashboard (drafts, open submissions, overdue updates, failed
loads). The rules: ``catalog/publication.py`` and ``catalog/auth.py``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from cityhub.errors import NotFound
from cityhub.web.deps import call
from cityhub.web.page_helpers import acall, checked_form, login_redirect, redirect, render, social_board

router = APIRouter(include_in_schema=False)

STEPS = ("submit", "approve", "reject", "withdraw")


@router.post("/dataset/{name}/publication/{step}")
async def publication_step(request: Request, name: str, step: str) -> Response:
    form = await checked_form(request)
    if request.state.actor is None:
        return login_redirect(request)
    if step not in STEPS:
        raise NotFound("未知的发布操作", "Unknown publication step")
    await acall(request, f"dataset_{step}", {"id": name, "comment": str(form.get("comment") or "").strip()})
    back = str(form.get("next") or "")
    return redirect(back if back in ("/review", "/dashboard") else f"/dataset/{name}")


@router.get("/review", response_class=HTMLResponse)
def review_page(request: Request) -> Response:
    if request.state.actor is None:
        return login_redirect(request)
    items: list[dict[str, Any]] = call(request, "review_list", {})
    return render(request, "review.html", {"items": items, "nav": "review"})


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard_page(request: Request) -> Response:
    actor = request.state.actor
    if actor is None:
        return login_redirect(request)
    department = request.query_params.get("department") or None
    board = call(request, "dashboard_show", {"department": department})
    queue = call(request, "review_list", {}) if actor.role in ("dept_admin", "platform_admin") else None
    return render(request, "dashboard.html", {"board": board, "queue": queue, "nav": "dashboard",
                                              "social_board": social_board(request)})

