"""The portal's front page ("开放广州"): the catalog's headline figures and ways in."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from cityhub.web.deps import call
from cityhub.web.page_helpers import render

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> Response:
    stats = call(request, "portal_stats", {})
    return render(request, "home.html", {"stats": stats, "nav": "home"})
