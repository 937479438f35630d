"""Platform administration pages: departments, users and the audit log (harvest sources: ``routes/harvest.py``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from cityhub.errors import Conflict, ValidationError
from cityhub.web.deps import call, check_csrf, lang
from cityhub.web.page_helpers import acall, field_errors, render, require_admin

router = APIRouter(include_in_schema=False)


def _admin_departments(request: Request, values: dict[str, Any] | None = None,
                       errors: dict[str, list[str]] | None = None, general: list[str] | None = None,
                       created: dict[str, Any] | None = None, status: int = 200) -> Response:
    depts = call(request, "department_list", {})
    return render(request, "admin_departments.html", {
        "departments": depts, "values": values or {"level": "市"}, "errors": errors or {},
        "general": general or [], "created": created, "nav": "admin"}, status=status)


@router.get("/admin/departments", response_class=HTMLResponse)
def admin_departments(request: Request) -> Response:
    return require_admin(request) or _admin_departments(request)


@router.post("/admin/departments", response_class=HTMLResponse)
async def admin_departments_post(request: Request) -> Response:
    form = await request.form()
    check_csrf(request, str(form.get("csrf_token") or ""))
    keys = ("slug", "name", "short_name", "name_en", "uscc", "level", "district", "description")
    values = {k: str(form.get(k) or "").strip() for k in keys}
    data: dict[str, Any] = {**values, "district": values["district"] or None, "level": values["level"] or "市"}
    try:
        created = await acall(request, "department_create", data)
    except (ValidationError, Conflict) as exc:
        errors, general = field_errors(exc, lang(request))
        status = exc.status
        return await run_in_threadpool(lambda: _admin_departments(request, values, errors, general,
                                                                  status=status))
    return await run_in_threadpool(lambda: _admin_departments(request, created=created))


def _admin_users(request: Request, values: dict[str, Any] | None = None,
                 errors: dict[str, list[str]] | None = None, general: list[str] | None = None,
                 created: dict[str, Any] | None = None, status: int = 200) -> Response:
    users = call(request, "user_list", {})
    depts = call(request, "department_list", {})
    return render(request, "admin_users.html", {
        "users": users, "departments": depts, "values": values or {"role": "steward"}, "errors": errors or {},
        "general": general or [], "created": created, "nav": "admin"}, status=status)


@router.get("/admin/users", response_class=HTMLResponse)
def admin_users(request: Request) -> Response:
    return require_admin(request) or _admin_users(request)


@router.post("/admin/users", response_class=HTMLResponse)
async def admin_users_post(request: Request) -> Response:
    form = await request.form()
    check_csrf(request, str(form.get("csrf_token") or ""))
    keys = ("name", "display_name", "email", "role", "department", "password")
    values = {k: str(form.get(k) or "").strip() for k in keys}
    data: dict[str, Any] = {**values, "department": values["department"] or None}
    values["password"] = ""
    try:
        created = await acall(request, "user_create", data)
    except (ValidationError, Conflict) as exc:
        errors, general = field_errors(exc, lang(request))
        status = exc.status
        return await run_in_threadpool(lambda: _admin_users(request, values, errors, general, status=status))
    return await run_in_threadpool(lambda: _admin_users(request, created=created))


@router.get("/admin/audit", response_class=HTMLResponse)
def admin_audit(request: Request) -> Response:
    gate = require_admin(request)
    if gate is not None:
        return gate
    qp = request.query_params
    query = {"limit": 100, "action": qp.get("action") or None, "actor": qp.get("actor") or None}
    records = call(request, "audit_list", query)
    verified = call(request, "audit_verify", {}) if qp.get("verify") else None
    return render(request, "admin_audit.html", {"records": records, "verified": verified, "query": query,
                                                "nav": "admin"})
