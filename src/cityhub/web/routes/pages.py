"""Portal pages (placeholder until the portal lands)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from cityhub.errors import CityHubError
from cityhub.settings import get_settings
from cityhub.web.deps import SESSION_COOKIE, error_response

router = APIRouter()


def wants_html(request: Request) -> bool:
    path = request.url.path
    return not path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


def error_page(request: Request, exc: CityHubError) -> Response:
    return error_response(exc)


def set_session_cookie(response: Response, token: str) -> None:
    s = get_settings()
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=s.cookie_secure,
                        max_age=s.session_absolute_hours * 3600, path="/")
