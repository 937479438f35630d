"""Request plumbing shared by every route: who is calling, CSRF, calling actions, the error shape."""

from __future__ import annotations

import asyncio
import hmac
import logging
from typing import Any

from fastapi import Depends, Request, Response
from fastapi.responses import JSONResponse

from cityhub import actions
from cityhub.context import Actor, Context
from cityhub.errors import CityHubError, NotAuthenticated
from cityhub.settings import get_settings

log = logging.getLogger("cityhub.web")

SESSION_COOKIE = "cityhub_session"
LANG_COOKIE = "cityhub_lang"


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "-"


def token_from_header(request: Request) -> str | None:
    raw = request.headers.get("authorization") or request.headers.get("x-ckan-api-key")
    if not raw:
        return None
    raw = raw.strip()
    if raw.lower().startswith("bearer "):
        raw = raw[7:].strip()
    return raw or None


def anonymous(request: Request) -> bool:
    """No credentials at all: nothing to look up."""
    return token_from_header(request) is None and not request.cookies.get(SESSION_COOKIE)


def clear(request: Request) -> None:
    request.state.actor = None
    request.state.csrf = ""
    request.state.user = None
    request.state.via_token = False
    request.state.session_id = None


def resolve(request: Request) -> None:
    """Find the caller (API token or session cookie) once per request and keep it on ``request.state``."""
    clear(request)
    token = token_from_header(request)
    base = Context(source=client_ip(request), via="api")
    if token:
        request.state.actor = actions.call("token_resolve", base, {"token": token})
        request.state.via_token = True
        return
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie and len(cookie) < 200:
        found = actions.call("session_resolve", base, {"token": cookie})
        if found:
            request.state.actor = found["actor"]
            request.state.csrf = found["csrf_token"]
            request.state.user = found["user"]
            request.state.session_id = found["session_id"]


def ctx(request: Request, via: str = "web") -> Context:
    actor: Actor | None = getattr(request.state, "actor", None)
    return Context(actor=actor, source=client_ip(request), via=via,
                   web_session=getattr(request.state, "session_id", None))


def call(request: Request, name: str, data: Any = None, via: str = "web") -> Any:
    return actions.call(name, ctx(request, via), data)


def set_session_cookie(response: Response, token: str) -> None:
    """The session cookie of a successful sign-in (the login page and ``POST /api/v1/session``)."""
    s = get_settings()
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=s.cookie_secure,
                        max_age=s.session_absolute_hours * 3600, path="/")


class Gate:
    """A route dependency that refuses a caller with no right to action ``name`` at all (the registry's coarse
    gate: anonymous on a write, a public user on a government-only action) before FastAPI validates the body,
    so such a caller gets 401/403 and never a list of our schema's fields. ``app.py`` runs it too when FastAPI
    refuses a body it cannot even parse."""

    def __init__(self, name: str) -> None:
        self.action = name

    def __call__(self, request: Request) -> None:
        actions.gate(self.action, ctx(request, via="api"))


def access(name: str) -> Any:
    """``dependencies=[access("dataset_create")]`` on a route that calls ``dataset_create``."""
    return Depends(Gate(name))


def check_csrf(request: Request, submitted: str | None) -> None:
    """Cookie-authenticated writes must carry the session's CSRF token (form field or X-CSRF-Token header)."""
    if getattr(request.state, "via_token", False):
        return
    expected = getattr(request.state, "csrf", "")
    given = submitted or request.headers.get("x-csrf-token") or ""
    if not expected or not hmac.compare_digest(expected, given):
        reason = "no session" if not expected else "token mismatch" if given else "token missing"
        record_csrf_refusal(request, reason)
        raise NotAuthenticated("表单已过期或来源不明(CSRF校验失败),请刷新页面后重试",
                               "Form expired or forged (CSRF check failed); reload the page and try again")


def record_csrf_refusal(request: Request, reason: str) -> None:
    """Put a refused CSRF check in the audit log (who, from where, which request, why): a forged cross-site
    request is an attack on a signed-in user and leaves a trace like any other denial. Called on the event
    loop (an ``async`` page route), the write goes to a worker thread instead of blocking the loop."""
    context = ctx(request)
    data = {"check": "csrf_check", "target": f"{request.method} {request.url.path}", "reason": reason}

    def write() -> None:
        try:
            actions.call("denial_record", context, data)
        except Exception:
            log.exception("could not audit a CSRF refusal")

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # a worker thread: write it now
        write()
    else:
        loop.run_in_executor(None, write)


def error_response(exc: CityHubError) -> JSONResponse:
    headers = {"Retry-After": str(getattr(exc, "retry_after", 900))} if exc.status == 429 else None
    return JSONResponse(exc.to_dict(), status_code=exc.status, headers=headers)


def lang(request: Request) -> str:
    value = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE) or "zh"
    return "en" if value == "en" else "zh"
