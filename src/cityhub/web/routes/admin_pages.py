"""Administration pages: departments (list, create, edit), users (list with filters, create, edit, disable and
enable, password reset), the audit log (filters, keyset paging, CSV/JSON export, chain check). Harvest sources:
``routes/harvest.py``.

Platform admins see everything; a department admin sees their own department and manages its stewards and
analysts (the accounts' authorization rules, ``cityhub.accounts.auth``): the pages offer only what the action
would allow, and every change goes through the action, which decides again.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, StreamingResponse

from cityhub.accounts.auth import DEPT_ADMIN_DEPARTMENT_FIELDS
from cityhub.context import ROLES
from cityhub.datastore.query.params import formula_safe
from cityhub.errors import Conflict, NotAuthorized, NotFound, ValidationError
from cityhub.web import i18n
from cityhub.web.deps import call, lang
from cityhub.web.page_helpers import (
    SH,
    acall,
    checked_form,
    field_errors,
    login_redirect,
    redirect,
    render,
    require_admin,
)

router = APIRouter(include_in_schema=False)

DEPARTMENT_FIELDS = ("name", "short_name", "name_en", "uscc", "level", "district", "description",
                     "contact_name", "contact_phone", "contact_email")
MEMBER_ROLES = ("steward", "analyst")  # what a department admin may make someone (accounts.auth)
AUDIT_PAGE = 50
EXPORT_BATCH = 1000
#: the audit log's outcomes people filter by (the table's other values are shown as they are)
AUDIT_OUTCOMES = tuple(i18n.OUTCOME_LABELS)


# -- who may see what ---------------------------------------------------------------------------------------


def require_manager(request: Request) -> Response | None:
    """``None`` for a platform admin or a department admin; a sign-in redirect for a visitor; refused otherwise."""
    actor = request.state.actor
    if actor is None:
        return login_redirect(request)
    if actor.role not in ("platform_admin", "dept_admin"):
        raise NotAuthorized("需要平台管理员或部门管理员权限", "Platform or department admins only")
    return None


def _own_department(request: Request, departments: list[dict[str, Any]]) -> dict[str, Any] | None:
    actor = request.state.actor
    return next((d for d in departments if d["id"] == actor.department_id), None)


def _manages_user(request: Request, user: dict[str, Any], own_slug: str | None) -> bool:
    """Mirrors ``accounts.auth.manages_user`` on the user as listed: admins manage everyone; a department admin
    their own department's stewards and analysts."""
    actor = request.state.actor
    if actor.is_admin:
        return True
    return bool(own_slug) and user["role"] in MEMBER_ROLES and user["department"] == own_slug


def _flash(request: Request) -> dict[str, str]:
    qp = request.query_params
    return {k: qp[k] for k in ("updated", "created", "disabled", "enabled", "deleted") if qp.get(k)}


# -- departments ----------------------------------------------------------------------------------------------


def _admin_departments(request: Request, values: dict[str, Any] | None = None,
                       errors: dict[str, list[str]] | None = None, general: list[str] | None = None,
                       created: dict[str, Any] | None = None, status: int = 200) -> Response:
    depts = call(request, "department_list", {})
    if not request.state.actor.is_admin:
        own = _own_department(request, depts)
        depts = [own] if own else []
    return render(request, "admin_departments.html", {
        "departments": depts, "values": values or {"level": "市"}, "errors": errors or {},
        "general": general or [], "created": created, "flash": _flash(request), "nav": "admin"}, status=status)


@router.get("/admin/departments", response_class=HTMLResponse)
def admin_departments(request: Request) -> Response:
    return require_manager(request) or _admin_departments(request)


@router.post("/admin/departments", response_class=HTMLResponse)
async def admin_departments_post(request: Request) -> Response:
    form = await checked_form(request)
    gate = require_admin(request)
    if gate is not None:
        return gate
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


def _editable_department_fields(request: Request) -> tuple[str, ...]:
    if request.state.actor.is_admin:
        return DEPARTMENT_FIELDS
    return tuple(k for k in DEPARTMENT_FIELDS if k in DEPT_ADMIN_DEPARTMENT_FIELDS)


def _department_for_edit(request: Request, slug: str) -> dict[str, Any]:
    """The department, when the caller may edit it (refused before the form, as the action would refuse)."""
    dept: dict[str, Any] = call(request, "department_show", {"slug": slug})
    actor = request.state.actor
    if not actor.is_admin and dept["id"] != actor.department_id:
        raise NotAuthorized("只能修改本部门信息", "You may only edit your own department")
    return dept


def _department_form(request: Request, dept: dict[str, Any], values: dict[str, Any] | None = None,
                     errors: dict[str, list[str]] | None = None, general: list[str] | None = None,
                     status: int = 200) -> Response:
    shown = {k: (dept.get(k) or "") for k in DEPARTMENT_FIELDS}
    shown.update(values or {})
    return render(request, "admin_department_edit.html", {
        "dept": dept, "values": shown, "errors": errors or {}, "general": general or [],
        "editable": _editable_department_fields(request), "nav": "admin"}, status=status)


@router.get("/admin/departments/{slug}/edit", response_class=HTMLResponse)
def admin_department_edit(request: Request, slug: str) -> Response:
    gate = require_manager(request)
    if gate is not None:
        return gate
    return _department_form(request, _department_for_edit(request, slug))


@router.post("/admin/departments/{slug}/edit", response_class=HTMLResponse)
async def admin_department_edit_post(request: Request, slug: str) -> Response:
    form = await checked_form(request)
    gate = require_manager(request)
    if gate is not None:
        return gate
    dept = await run_in_threadpool(_department_for_edit, request, slug)
    editable = _editable_department_fields(request)
    values = {k: str(form.get(k) or "").strip() for k in editable}
    data: dict[str, Any] = {"slug": slug, **values}
    try:
        await acall(request, "department_update", data)
    except (ValidationError, Conflict, NotAuthorized) as exc:
        errors, general = field_errors(exc, lang(request))
        status = exc.status
        return await run_in_threadpool(lambda: _department_form(request, dept, values, errors, general, status))
    return redirect("/admin/departments?" + urlencode({"updated": slug}))


# -- users ------------------------------------------------------------------------------------------------------


def _user_filter(request: Request) -> dict[str, Any]:
    qp = request.query_params
    out: dict[str, Any] = {}
    if qp.get("department") is not None and qp.get("department") != "*":
        out["department"] = qp["department"]
    if qp.get("role") in ROLES:
        out["role"] = qp["role"]
    if qp.get("state") in ("active", "disabled"):
        out["active"] = qp["state"] == "active"
    return out


def _role_choices(request: Request) -> tuple[str, ...]:
    return ROLES if request.state.actor.is_admin else MEMBER_ROLES


def _admin_users(request: Request, values: dict[str, Any] | None = None,
                 errors: dict[str, list[str]] | None = None, general: list[str] | None = None,
                 created: dict[str, Any] | None = None, status: int = 200) -> Response:
    depts = call(request, "department_list", {})
    own = _own_department(request, depts)
    filt = _user_filter(request)
    if not request.state.actor.is_admin:
        depts = [own] if own else []
        filt.pop("department", None)
    users = call(request, "user_list", filt)
    own_slug = own["slug"] if own else None
    for u in users:
        u["manageable"] = _manages_user(request, u, own_slug)
        u["is_self"] = u["name"] == request.state.actor.name
    qp = request.query_params
    default = {"role": "steward", "department": own_slug or ""}
    return render(request, "admin_users.html", {
        "users": users, "departments": depts, "values": values or default, "errors": errors or {},
        "general": general or [], "created": created, "flash": _flash(request), "nav": "admin",
        "roles": _role_choices(request),
        "filter": {"department": qp.get("department", "*"), "role": qp.get("role", ""),
                   "state": qp.get("state", "")}}, status=status)


@router.get("/admin/users", response_class=HTMLResponse)
def admin_users(request: Request) -> Response:
    return require_manager(request) or _admin_users(request)


@router.post("/admin/users", response_class=HTMLResponse)
async def admin_users_post(request: Request) -> Response:
    form = await checked_form(request)
    gate = require_manager(request)
    if gate is not None:
        return gate
    keys = ("name", "display_name", "email", "role", "department", "password")
    values = {k: str(form.get(k) or "").strip() for k in keys}
    data: dict[str, Any] = {**values, "department": values["department"] or None}
    values["password"] = ""
    try:
        created = await acall(request, "user_create", data)
    except (ValidationError, Conflict, NotAuthorized) as exc:
        errors, general = field_errors(exc, lang(request))
        status = exc.status
        return await run_in_threadpool(lambda: _admin_users(request, values, errors, general, status=status))
    return await run_in_threadpool(lambda: _admin_users(request, created=created))


def _user_for_management(request: Request, name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The user and the departments to offer, when the caller manages the user (refused before any form)."""
    user: dict[str, Any] = call(request, "user_show", {"name": name})
    depts = call(request, "department_list", {})
    own = _own_department(request, depts)
    if not _manages_user(request, user, own["slug"] if own else None):
        raise NotAuthorized("无权管理该用户", "You may not manage this user")
    if not request.state.actor.is_admin:
        depts = [own] if own else []
    return user, depts


def _user_form(request: Request, user: dict[str, Any], depts: list[dict[str, Any]],
               values: dict[str, Any] | None = None, errors: dict[str, list[str]] | None = None,
               general: list[str] | None = None, status: int = 200, **extra: Any) -> Response:
    shown = {"role": user["role"], "department": user["department"] or "", "display_name": user["display_name"],
             "email": user["email"] or ""}
    shown.update(values or {})
    return render(request, "admin_user_edit.html", {
        "u": user, "departments": depts, "values": shown, "errors": errors or {}, "general": general or [],
        "roles": _role_choices(request), "is_self": user["name"] == request.state.actor.name,
        "nav": "admin", **extra}, status=status)


@router.get("/admin/users/{name}/edit", response_class=HTMLResponse)
def admin_user_edit(request: Request, name: str) -> Response:
    gate = require_manager(request)
    if gate is not None:
        return gate
    user, depts = _user_for_management(request, name)
    return _user_form(request, user, depts)


@router.post("/admin/users/{name}/edit", response_class=HTMLResponse)
async def admin_user_edit_post(request: Request, name: str) -> Response:
    form = await checked_form(request)
    gate = require_manager(request)
    if gate is not None:
        return gate
    user, depts = await run_in_threadpool(_user_for_management, request, name)
    values = {k: str(form.get(k) or "").strip() for k in ("role", "department", "display_name", "email")}
    data: dict[str, Any] = {"name": name, **values}
    if data["role"] == user["role"]:  # unchanged: a department admin changing a profile sends no role
        data.pop("role")
    if data["department"] == (user["department"] or ""):
        data.pop("department")
    try:
        await acall(request, "user_update", data)
    except (ValidationError, Conflict, NotAuthorized) as exc:
        errors, general = field_errors(exc, lang(request))
        status = exc.status
        return await run_in_threadpool(lambda: _user_form(request, user, depts, values, errors, general, status))
    return redirect("/admin/users?" + urlencode({"updated": name}))


@router.get("/admin/users/{name}/{step}", response_class=HTMLResponse)
def admin_user_confirm(request: Request, name: str, step: str) -> Response:
    """The confirmation page of a destructive step (disable, password reset)."""
    if step not in ("disable", "reset-password"):
        raise_not_found(request)
    gate = require_manager(request)
    if gate is not None:
        return gate
    user, _depts = _user_for_management(request, name)
    if user["name"] == request.state.actor.name:
        raise NotAuthorized("不能对自己的账户执行此操作", "You may not do this to your own account")
    return render(request, "admin_user_confirm.html", {"u": user, "step": step, "nav": "admin"})


def raise_not_found(request: Request) -> None:
    raise NotFound("页面不存在", "Page not found")


async def _user_step(request: Request, name: str, action_name: str) -> tuple[dict[str, Any] | None, Response | None]:
    await checked_form(request)
    gate = require_manager(request)
    if gate is not None:
        return None, gate
    await run_in_threadpool(_user_for_management, request, name)
    result: dict[str, Any] = await acall(request, action_name, {"name": name})
    return result, None


@router.post("/admin/users/{name}/disable", response_class=HTMLResponse)
async def admin_user_disable(request: Request, name: str) -> Response:
    _result, gate = await _user_step(request, name, "user_disable")
    return gate or redirect("/admin/users?" + urlencode({"disabled": name}))


@router.post("/admin/users/{name}/enable", response_class=HTMLResponse)
async def admin_user_enable(request: Request, name: str) -> Response:
    _result, gate = await _user_step(request, name, "user_enable")
    return gate or redirect("/admin/users?" + urlencode({"enabled": name}))


@router.post("/admin/users/{name}/reset-password", response_class=HTMLResponse)
async def admin_user_reset(request: Request, name: str) -> Response:
    result, gate = await _user_step(request, name, "user_password_reset")
    if gate is not None or result is None:
        return gate or redirect("/admin/users")
    # shown once: this answer is not stored anywhere and the page is never cached (render: no-store when signed in)
    return await run_in_threadpool(lambda: render(request, "admin_user_reset.html", {
        "u": result["user"], "secret": result["temporary_password"], "expires_at": result["expires_at"],
        "result": result, "nav": "admin"}))


# -- audit log --------------------------------------------------------------------------------------------------


def _shanghai_day(value: str, end: bool) -> str | None:
    """``2026-12-04`` (a day in Asia/Shanghai) → the UTC instant it starts (``end``: the next day's start)."""
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        return None
    start = dt.datetime.combine(day + dt.timedelta(days=1 if end else 0), dt.time(), SH)
    return start.astimezone(dt.UTC).isoformat()


def _audit_filter(request: Request) -> tuple[dict[str, Any], dict[str, str], dict[str, list[str]]]:
    """The filter for the actions, the form's values as typed, and errors for dates that are not dates."""
    qp = request.query_params
    values = {k: (qp.get(k) or "").strip() for k in ("actor", "action", "outcome", "target", "since", "until")}
    filt: dict[str, Any] = {k: values[k] for k in ("actor", "action", "outcome", "target") if values[k]}
    errors: dict[str, list[str]] = {}
    language = lang(request)
    for key, end in (("since", False), ("until", True)):
        if values[key]:
            when = _shanghai_day(values[key], end)
            if when is None:
                errors[key] = [i18n.t("日期格式应为 YYYY-MM-DD", language)]
            else:
                filt[key] = when
    return filt, values, errors


def _audit_url(values: dict[str, str], **extra: Any) -> str:
    params = {k: v for k, v in values.items() if v}
    params.update({k: str(v) for k, v in extra.items() if v is not None})
    return "/admin/audit?" + urlencode(params)


@router.get("/admin/audit", response_class=HTMLResponse)
def admin_audit(request: Request) -> Response:
    gate = require_admin(request)
    if gate is not None:
        return gate
    qp = request.query_params
    filt, values, errors = _audit_filter(request)
    before = _positive(qp.get("before"))
    after = _positive(qp.get("after"))
    records: list[dict[str, Any]] = []
    general: list[str] = []
    if not errors:
        query: dict[str, Any] = {**filt, "limit": AUDIT_PAGE + 1}
        if after is not None:
            query["after_seq"] = after
        elif before is not None:
            query["before_seq"] = before
        try:
            records = call(request, "audit_list", query)
        except ValidationError as exc:
            errors, general = field_errors(exc, lang(request))
    more = len(records) > AUDIT_PAGE
    if after is not None:  # paging back: the extra record is the newest one, beyond this page
        records = records[-AUDIT_PAGE:] if more else records
        newer, older = more, True
    else:
        records = records[:AUDIT_PAGE]
        newer, older = before is not None, more
    pages = {
        "newer": _audit_url(values, after=records[0]["seq"]) if records and newer else None,
        "older": _audit_url(values, before=records[-1]["seq"]) if records and older else None,
        "first": _audit_url(values) if before is not None or after is not None else None,
    }
    verified = call(request, "audit_verify", {}) if qp.get("verify") else None
    export = {fmt: "/admin/audit/export." + fmt + "?" + urlencode({k: v for k, v in values.items() if v})
              for fmt in ("csv", "json")}
    actions = sorted(set(i18n.ACTION_LABELS) | {"csrf_check"})
    return render(request, "admin_audit.html", {
        "records": records, "verified": verified, "values": values, "errors": errors, "general": general,
        "pages": pages, "export": export, "outcomes": AUDIT_OUTCOMES, "actions": actions, "nav": "admin",
        "verify_url": _audit_url(values, verify=1, before=before, after=after)},
        status=422 if errors else 200)


def _positive(value: str | None) -> int | None:
    try:
        n = int(value) if value else None
    except ValueError:
        return None
    return n if n is not None and n > 0 else None


CSV_COLUMNS = ("seq", "ts", "actor", "source", "via", "action", "action_label", "target", "outcome",
               "outcome_label", "detail", "hash")


def _export_rows(request: Request, filt: dict[str, Any], snapshot: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The snapshot's records, newest first, a batch at a time through ``audit_list`` (keyset paging)."""
    left = int(snapshot["count"])
    before = int(snapshot["upto_seq"]) + 1
    while left > 0:
        batch = call(request, "audit_list", {**filt, "before_seq": before, "limit": min(EXPORT_BATCH, left)})
        if not batch:
            return
        yield from batch
        left -= len(batch)
        before = batch[-1]["seq"]


def _csv_stream(request: Request, filt: dict[str, Any], snapshot: dict[str, Any], language: str) -> Iterator[str]:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(CSV_COLUMNS)
    for i, r in enumerate(_export_rows(request, filt, snapshot)):
        row = {**r, "action_label": i18n.label(i18n.ACTION_LABELS, r["action"], language),
               "outcome_label": i18n.label(i18n.OUTCOME_LABELS, r["outcome"], language)}
        writer.writerow([row[c] if c == "seq" else formula_safe(str(row[c] or "")) for c in CSV_COLUMNS])
        if i % 200 == 199:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


def _json_stream(request: Request, filt: dict[str, Any], snapshot: dict[str, Any]) -> Iterator[str]:
    head = {k: snapshot[k] for k in ("filter", "upto_seq", "count", "matching", "capped")}
    yield json.dumps(head, ensure_ascii=False)[:-1] + ', "records": ['
    for i, r in enumerate(_export_rows(request, filt, snapshot)):
        try:
            detail = json.loads(r["detail"] or "{}")
        except ValueError:
            detail = r["detail"]
        yield ("," if i else "") + "\n" + json.dumps({**r, "detail": detail}, ensure_ascii=False)
    yield "\n]}\n"


@router.get("/admin/audit/export.{fmt}")
def admin_audit_export(request: Request, fmt: str) -> Response:
    """The filtered audit records as CSV (UTF-8 with BOM for Excel/WPS, formula cells neutralised) or JSON,
    streamed in batches; at most ``AUDIT_EXPORT_MAX`` records, up to the log's end when the export began."""
    if fmt not in ("csv", "json"):
        raise_not_found(request)
    gate = require_admin(request)
    if gate is not None:
        return gate
    filt, _values, errors = _audit_filter(request)
    if errors:
        raise ValidationError("筛选条件不合法", "Invalid filter", fields=errors)
    snapshot = call(request, "audit_export", filt)
    stamp = dt.datetime.now(SH).strftime("%Y%m%d-%H%M%S")
    headers = {"Content-Disposition": f'attachment; filename="cityhub-audit-{stamp}.{fmt}"',
               "X-Audit-Count": str(snapshot["count"]), "X-Audit-Upto-Seq": str(snapshot["upto_seq"]),
               "Cache-Control": "private, no-store"}
    if snapshot["capped"]:
        headers["X-Audit-Capped"] = str(snapshot["matching"])
    if fmt == "csv":
        language = lang(request)
        body: Iterator[str] = _with_bom(_csv_stream(request, filt, snapshot, language))
        return StreamingResponse(body, media_type="text/csv; charset=utf-8", headers=headers)
    return StreamingResponse(_json_stream(request, filt, snapshot), media_type="application/json",
                             headers=headers)


def _with_bom(chunks: Iterator[str]) -> Iterator[str]:
    yield "\ufeff"
    yield from chunks
