"""The data office's console at ``/office`` (issue 15, 数据办工作台): one page drawn from ``office_overview``, with
links to the existing queues (data requests, indicator review, moderation, showcase, sharing, corrections).
Platform admins only: a visitor is sent to sign in, anyone else is refused (403)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from cityhub.web.deps import call
from cityhub.web.page_helpers import render, require_admin

router = APIRouter(include_in_schema=False)


@router.get("/office", response_class=HTMLResponse)
def office(request: Request) -> Response:
    refused = require_admin(request)
    if refused is not None:
        return refused
    overview = call(request, "office_overview", {})
    return render(request, "office.html", {"o": overview, "nav": "office"})
