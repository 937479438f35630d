"""Account pages: sign-in (with the second factor) and sign-out, and the signed-in user's own page (API tokens,
TOTP enrolment)."""

from __future__ import annotations

import re
import secrets
from typing import Any

import segno
from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from cityhub.errors import (
    Conflict,
    NotAuthenticated,
    NotAuthorized,
    NotFound,
    TooManyRequests,
    ValidationError,
)
from cityhub.settings import get_settings
from cityhub.web import i18n
from cityhub.web.deps import SESSION_COOKIE, call, lang, record_csrf_refusal, set_session_cookie
from cityhub.web.page_helpers import (
    acall,
    checked_form,
    field_errors,
    int_param,
    login_redirect,
    redirect,
    render,
    safe_next,
)

router = APIRouter(include_in_schema=False)

LOGIN_CSRF_COOKIE = "cityhub_login_csrf"


# -- sign-in --------------------------------------------------------------------------------------------------------


def _login_form(request: Request, *, next_url: str, username: str = "", error: str = "",
                status: int = 200, need_code: bool = False, need_new_password: bool = False) -> Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or ""
    fresh = not re.fullmatch(r"[A-Za-z0-9_-]{20,64}", token)
    if fresh:
        token = secrets.token_urlsafe(24)
    response = render(request, "login.html", {"next": next_url, "username": username, "error": error,
                                              "login_csrf": token, "nav": "login", "need_code": need_code,
                                              "need_new_password": need_new_password}, status=status)
    if fresh:
        response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", path="/login",
                            secure=get_settings().cookie_secure, max_age=3600)
    return response


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> Response:
    return _login_form(request, next_url=safe_next(request.query_params.get("next")))


@router.post("/login", response_class=HTMLResponse)
async def login_post(request: Request) -> Response:
    form = await request.form()
    username = str(form.get("username") or "").strip()
    password = str(form.get("password") or "")
    code = str(form.get("totp_code") or "").strip()[:12]
    new_password = str(form.get("new_password") or "")
    next_url = safe_next(str(form.get("next") or ""))
    language = lang(request)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE) or ""
    given = str(form.get("csrf_token") or "")
    if not expected or not secrets.compare_digest(expected, given):
        reason = "login form token " + ("mismatch" if expected and given else "missing")
        await run_in_threadpool(record_csrf_refusal, request, reason)
        exc = NotAuthenticated("表单已过期,请重新登录", "The form expired; please sign in again")
        return await run_in_threadpool(lambda: _login_form(
            request, next_url=next_url, username=username, status=400,
            error=exc.message_en if language == "en" else exc.message))
    try:
        result = await acall(request, "session_create", {"username": username, "password": password,
                                                         "totp_code": code, "new_password": new_password})
    except (NotAuthenticated, NotAuthorized, TooManyRequests, ValidationError) as exc:
        need_new = "new_password" in exc.fields
        if isinstance(exc, ValidationError) and not need_new:
            message = i18n.t("请输入用户名和密码。", language)
        else:
            message = exc.message_en if language == "en" else exc.message
            if isinstance(exc, ValidationError):  # the new password's problems, each "中文 / English"
                message += ": " + "; ".join(_one_language(m, language) for m in exc.fields["new_password"])
        need_code = "totp_code" in exc.fields
        response = await run_in_threadpool(lambda: _login_form(request, next_url=next_url, username=username,
                                                               error=message, status=exc.status,
                                                               need_code=need_code, need_new_password=need_new))
        if isinstance(exc, TooManyRequests):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
    response = redirect(next_url)
    set_session_cookie(response, result["token"])
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    await checked_form(request)
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await acall(request, "session_delete", {"token": token})
    response = redirect("/")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def totp_qr_svg(uri: str, title: str) -> Markup:
    """The ``otpauth://`` URI as an inline SVG QR code (segno, drawn here: the secret goes to no other host)."""
    svg = segno.make(uri, error="m").svg_inline(scale=5, border=4, dark="#111", light="#fff", title=title,
                                                 svgclass="totp-qr-code")
    # segno draws only paths from the URI's bits; the one text in it is our own title (escaped by segno)
    return Markup(svg.replace("<svg ", '<svg role="img" ', 1))  # noqa: S704


# -- account and API tokens ------------------------------------------------------------------------------------------


def _account(request: Request, new_token: dict[str, Any] | None = None, errors: dict[str, list[str]] | None = None,
             status: int = 200, totp_pending: dict[str, Any] | None = None,
             password_changed: dict[str, Any] | None = None) -> Response:
    tokens = call(request, "token_list", {})
    return render(request, "account.html", {"tokens": tokens, "new_token": new_token, "errors": errors or {},
                                            "default_days": get_settings().token_default_days, "nav": "account",
                                            "totp_pending": totp_pending, "password_changed": password_changed},
                  status=status)


@router.get("/account", response_class=HTMLResponse)
def account(request: Request) -> Response:
    if request.state.actor is None:
        return login_redirect(request)
    return _account(request)


@router.post("/account/tokens", response_class=HTMLResponse)
async def token_create(request: Request) -> Response:
    form = await checked_form(request)
    actor = request.state.actor
    data = {"user": actor.name, "name": str(form.get("name") or "").strip(),
            "days": int_param(str(form.get("days") or ""), get_settings().token_default_days, 1, 3650)}
    try:
        created = await acall(request, "token_create", data)
    except ValidationError as exc:
        errors, _general = field_errors(exc, lang(request))
        status = exc.status
        return await run_in_threadpool(lambda: _account(request, errors=errors, status=status))
    response = await run_in_threadpool(_account, request, created)
    return response


@router.post("/account/tokens/{token_id}/revoke")
async def token_revoke(request: Request, token_id: int) -> Response:
    await checked_form(request)
    await acall(request, "token_revoke", {"id": token_id})
    return redirect("/account")


@router.post("/account/totp/{step}", response_class=HTMLResponse)
async def account_totp(request: Request, step: str) -> Response:
    """Second factor: begin (show a new secret), enable (confirm a code), disable (with a code)."""
    if request.state.actor is None:
        return login_redirect(request)
    if step not in ("begin", "enable", "disable"):
        raise NotFound("页面不存在", "Page not found")
    form = await checked_form(request)
    name = request.state.actor.name
    code = str(form.get("code") or "").strip()[:12]
    try:
        if step == "begin":
            pending = await acall(request, "user_totp_begin", {"user": name})
            pending = {**pending, "qr_svg": totp_qr_svg(pending["uri"], i18n.t("两步验证二维码", lang(request)))}
            return await run_in_threadpool(lambda: _account(request, totp_pending=pending))
        await acall(request, f"user_totp_{step}", {"user": name, "code": code})
    except (ValidationError, Conflict) as exc:
        errors, general = field_errors(exc, lang(request))
        message = exc.message_en if lang(request) == "en" else exc.message
        errors.setdefault("code", []).extend(general or ([message] if not errors else []))
        status = exc.status
        retry = {"secret": None} if step == "enable" else None
        return await run_in_threadpool(lambda: _account(request, errors=errors, status=status, totp_pending=retry))
    return redirect("/account#totp")


def _one_language(message: str, language: str) -> str:
    zh, _, en = message.partition(" / ")
    return i18n.pair(zh, en or zh, language)


@router.post("/account/password", response_class=HTMLResponse)
async def account_password(request: Request) -> Response:
    """Change one's password with the current one; the page then says which sessions and tokens ended."""
    if request.state.actor is None:
        return login_redirect(request)
    form = await checked_form(request)
    data = {"name": request.state.actor.name, "current_password": str(form.get("current_password") or ""),
            "new_password": str(form.get("new_password") or "")}
    try:
        changed = await acall(request, "user_password_change", data)
    except (ValidationError, TooManyRequests) as exc:
        errors, general = field_errors(exc)
        errors = {k: [_one_language(m, lang(request)) for m in v] for k, v in errors.items()}
        message = exc.message_en if lang(request) == "en" else exc.message
        errors.setdefault("current_password", []).extend(general or ([message] if not errors else []))
        status = exc.status
        return await run_in_threadpool(lambda: _account(request, errors=errors, status=status))
    return await run_in_threadpool(lambda: _account(request, password_changed=changed))
