"""Sharing pages (``/sharing/...``): the request form (linked from a dataset page), "my requests", the
provider's review queue with working days left and overdue badges, a request's page (history, grants, the
answer forms), grant management (revoke), the department's systems, and the data office's overview of every
request. Each route calls actions only (``sharing/actions.py``)."""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from cityhub.errors import CityHubError, NotFound, ValidationError
from cityhub.web import i18n
from cityhub.web.deps import call, lang
from cityhub.web.page_helpers import acall, checked_form, field_errors, int_param, login_redirect, redirect
from cityhub.web.page_helpers import render as _render

router = APIRouter(include_in_schema=False)

STATUS_LABELS = {
    "submitted": ("待答复", "Waiting for an answer"),
    "approved": ("已批准", "Approved"),
    "narrowed": ("缩小范围批准", "Approved, narrower"),
    "refused": ("已拒绝", "Refused"),
    "withdrawn": ("已撤回", "Withdrawn"),
    "expired": ("已到期", "Expired"),
}
EVENT_LABELS = {
    "submitted": ("提交申请", "Filed"),
    "approved": ("批准", "Approved"),
    "narrowed": ("缩小范围批准", "Approved, narrower"),
    "refused": ("拒绝", "Refused"),
    "withdrawn": ("撤回", "Withdrawn"),
    "expired": ("授权到期", "Grants expired"),
    "escalated": ("逾期升级至市数据管理机构", "Escalated to the city data office as overdue"),
    "revoked": ("撤销授权", "Grants revoked"),
}
BOXES = ("mine", "review", "all")


def render(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    """The shared ``render`` with the sharing labels (request states and history events) in the page's language."""
    language = lang(request)
    return _render(request, template, {
        "share_status": lambda key: i18n.label(STATUS_LABELS, key, language),
        "share_event": lambda key: i18n.label(EVENT_LABELS, key, language), **context}, status=status)
STATUSES = ("submitted", "approved", "narrowed", "refused", "withdrawn", "expired")
GOVERNMENT = ("platform_admin", "dept_admin", "steward", "analyst")


def _lines(text: str) -> list[str] | None:
    """Column names typed one per line or comma-separated (none: all columns)."""
    names = [n.strip() for n in re.split(r"[,\uff0c\n]", text)]
    return [n for n in names if n] or None


def _rows(text: str) -> dict[str, Any] | None:
    """A row scope typed as JSON (``{"所属区": ["天河区"]}``) or as ``column=value1,value2`` lines."""
    text = text.strip()
    if not text:
        return None
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            raise ValidationError("行范围不是有效的 JSON", "The row scope is not valid JSON",
                                  fields={"row_scope": ["invalid JSON"]}) from None
        if not isinstance(value, dict):
            raise ValidationError("行范围应为 {列名: [取值]}", "The row scope must be {column: [values]}",
                                  fields={"row_scope": ["not an object"]})
        return value
    out: dict[str, Any] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        key, sep, values = line.partition("=")
        if not sep or not key.strip():
            raise ValidationError("行范围每行应为 列名=取值1,取值2", "Each row-scope line must be column=value1,value2",
                                  fields={"row_scope": [line[:80]]})
        out[key.strip()] = [v.strip() for v in re.split(r"[,\uff0c]", values) if v.strip()]
    return out


@router.get("/sharing", response_class=HTMLResponse)
def sharing_home(request: Request) -> Response:
    if request.state.actor is None:
        return login_redirect(request)
    actor = request.state.actor
    box = "all" if actor.is_admin else "review" if actor.role in ("steward", "dept_admin") else "mine"
    return redirect(f"/sharing/requests?box={box}")


@router.get("/sharing/requests", response_class=HTMLResponse)
def requests_page(request: Request) -> Response:
    actor = request.state.actor
    if actor is None:
        return login_redirect(request)
    q = request.query_params
    box = q.get("box") if q.get("box") in BOXES else "mine"
    status = q.get("status") if q.get("status") in STATUSES else None
    overdue = q.get("overdue") == "1"
    offset = int_param(q.get("offset"), 0, 0, 10**9)
    page = call(request, "share_request_list", {"box": box, "status": status, "overdue": overdue,
                                                "limit": 50, "offset": offset})
    return render(request, "sharing_requests.html", {
        "page": page, "box": box, "status": status, "overdue": overdue, "offset": offset, "nav": "sharing",
        "boxes": [b for b in BOXES if b != "all" or actor.is_admin],
        "may_review": actor.is_admin or actor.role in ("steward", "dept_admin")})


def _form_context(request: Request, dataset: str) -> dict[str, Any]:
    ds = call(request, "dataset_show", {"id": dataset})
    actor = request.state.actor
    government = actor.role in GOVERNMENT and actor.department_id is not None
    systems = call(request, "system_list", {}) if government else []
    return {"ds": ds, "kind": "share" if government else "open", "systems": systems, "nav": "sharing"}


@router.get("/sharing/request/new", response_class=HTMLResponse)
def request_form(request: Request) -> Response:
    if request.state.actor is None:
        return login_redirect(request)
    dataset = request.query_params.get("dataset") or ""
    if not dataset:
        raise NotFound("请从数据资源页面提交申请", "Apply from a dataset's page")
    return render(request, "sharing_request_form.html", {**_form_context(request, dataset), "values": {},
                                                          "errors": {}, "general": []})


@router.post("/sharing/request/new", response_class=HTMLResponse)
async def request_create(request: Request) -> Response:
    form = await checked_form(request)
    if request.state.actor is None:
        return login_redirect(request)
    values = {k: str(form.get(k) or "").strip() for k in
              ("dataset", "kind", "resource_id", "system_id", "purpose", "legal_basis", "columns", "row_scope",
               "duration_days")}
    try:
        data: dict[str, Any] = {"kind": values["kind"] or "share", "dataset": values["dataset"],
                                "purpose": values["purpose"], "legal_basis": values["legal_basis"],
                                "duration_days": int_param(values["duration_days"], 365, 1, 10**6)}
        if data["kind"] == "share":
            data.update(resource_id=values["resource_id"] or None, columns=_lines(values["columns"]),
                        row_scope=_rows(values["row_scope"]),
                        system_id=int_param(values["system_id"], 0, 0, 2**31 - 1) or None)
        created = await acall(request, "share_request_create", data)
    except ValidationError as exc:
        errors, general = field_errors(exc, lang(request))
        context = _form_context(request, values["dataset"])
        return render(request, "sharing_request_form.html", {**context, "values": values, "errors": errors,
                                                              "general": general}, status=422)
    return redirect(f"/sharing/request/{created['id']}")


@router.get("/sharing/request/{rid}", response_class=HTMLResponse)
def request_page(request: Request, rid: str) -> Response:
    if request.state.actor is None:
        return login_redirect(request)
    if not rid.isdigit() or int(rid) > 2**31 - 1:
        raise NotFound("未找到共享申请", "Share request not found")
    req = call(request, "share_request_show", {"id": int(rid)})
    return render(request, "sharing_request.html", {"r": req, "nav": "sharing", "errors": {}, "general": []})


STEPS = ("approve", "refuse", "withdraw", "revoke")


@router.post("/sharing/request/{rid}/{step}", response_class=HTMLResponse)
async def request_step(request: Request, rid: str, step: str) -> Response:
    form = await checked_form(request)
    if request.state.actor is None:
        return login_redirect(request)
    if step not in STEPS or not rid.isdigit() or int(rid) > 2**31 - 1:
        raise NotFound("未知的操作", "Unknown step")
    text = {k: str(form.get(k) or "").strip() for k in ("columns", "row_filter", "duration_days", "note", "reason",
                                                        "allow_personal")}
    try:
        if step == "approve":
            data: dict[str, Any] = {"id": int(rid), "note": text["note"], "allow_personal": text["allow_personal"] == "1",
                                    "columns": _lines(text["columns"]), "row_filter": _rows(text["row_filter"])}
            if text["duration_days"]:
                data["duration_days"] = int_param(text["duration_days"], 1, 1, 10**6)
            await acall(request, "share_request_approve", data)
        elif step == "refuse":
            await acall(request, "share_request_refuse", {"id": int(rid), "reason": text["reason"]})
        elif step == "withdraw":
            await acall(request, "share_request_withdraw", {"id": int(rid), "note": text["note"]})
        else:
            await acall(request, "grant_revoke", {"request_id": int(rid), "reason": text["reason"]})
    except ValidationError as exc:
        errors, general = field_errors(exc, lang(request))
        req = call(request, "share_request_show", {"id": int(rid)})
        return render(request, "sharing_request.html", {"r": req, "nav": "sharing", "errors": errors,
                                                         "general": general, "step": step}, status=422)
    return redirect(f"/sharing/request/{rid}")


@router.get("/sharing/grants", response_class=HTMLResponse)
def grants_page(request: Request) -> Response:
    actor = request.state.actor
    if actor is None:
        return login_redirect(request)
    side = request.query_params.get("side")
    sides = ["consumer", "provider", *(["all"] if actor.is_admin else [])]
    side = side if side in sides else ("all" if actor.is_admin else "provider"
                                       if actor.role in ("steward", "dept_admin") else "consumer")
    active = request.query_params.get("inactive") != "1"
    page = call(request, "grant_list", {"side": side, "active": active, "limit": 200})
    return render(request, "sharing_grants.html", {"page": page, "side": side, "sides": sides, "active": active,
                                                   "nav": "sharing"})


@router.post("/sharing/grant/{gid}/revoke", response_class=HTMLResponse)
async def grant_revoke(request: Request, gid: str) -> Response:
    form = await checked_form(request)
    if request.state.actor is None:
        return login_redirect(request)
    if not gid.isdigit() or int(gid) > 2**31 - 1:
        raise NotFound("未找到授权", "Grant not found")
    await acall(request, "grant_revoke", {"id": int(gid), "reason": str(form.get("reason") or "").strip()})
    return redirect("/sharing/grants?side=provider" if not request.state.actor.is_admin else "/sharing/grants")


@router.get("/sharing/systems", response_class=HTMLResponse)
def systems_page(request: Request) -> Response:
    actor = request.state.actor
    if actor is None:
        return login_redirect(request)
    systems = call(request, "system_list", {"include_inactive": True})
    return render(request, "sharing_systems.html", {"systems": systems, "created": None, "nav": "sharing",
                                                    "errors": {}, "general": []})


@router.post("/sharing/systems", response_class=HTMLResponse)
async def systems_post(request: Request) -> Response:
    form = await checked_form(request)
    if request.state.actor is None:
        return login_redirect(request)
    op = str(form.get("op") or "register")
    created = None
    errors: dict[str, list[str]] = {}
    general: list[str] = []
    status = 200
    try:
        if op == "register":
            created = await acall(request, "system_register", {
                "code": str(form.get("code") or "").strip(), "name": str(form.get("name") or "").strip(),
                "department": str(form.get("department") or "").strip() or None})
        elif op in ("rotate", "deactivate"):
            sid = int_param(str(form.get("id") or ""), 0, 0, 2**31 - 1)
            result = await acall(request, "system_token_rotate" if op == "rotate" else "system_deactivate",
                                 {"id": sid})
            created = result if op == "rotate" else None
        else:
            raise NotFound("未知的操作", "Unknown operation")
    except (ValidationError, CityHubError) as exc:
        if not isinstance(exc, ValidationError) and exc.status != 409:
            raise
        errors, general = field_errors(exc, lang(request))
        status = exc.status
    systems = call(request, "system_list", {"include_inactive": True})
    return render(request, "sharing_systems.html", {"systems": systems, "created": created, "nav": "sharing",
                                                    "errors": errors, "general": general}, status=status)


MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


@router.get("/sharing/usage", response_class=HTMLResponse)
def usage_page(request: Request) -> Response:
    """Exchange usage (``exchange_usage_show``): records exchanged per month (an ECharts bar chart), the top
    consuming departments, and the calls per grant; department users see their own department's calls."""
    if request.state.actor is None:
        return login_redirect(request)
    q = request.query_params
    month_from = q.get("from") if MONTH.match(q.get("from") or "") else None
    month_to = q.get("to") if MONTH.match(q.get("to") or "") else None
    usage = call(request, "exchange_usage_show", {"month_from": month_from, "month_to": month_to})
    language = lang(request)
    config = {"months": [m["month"] for m in usage["by_month"]],
              "records": [m["records"] for m in usage["by_month"]],
              "calls": [m["calls"] for m in usage["by_month"]],
              "labels": {"records": i18n.t("交换记录数", language), "calls": i18n.t("调用次数", language)}}
    return render(request, "sharing_usage.html", {
        "usage": usage, "month_from": month_from or "", "month_to": month_to or "", "nav": "sharing",
        "tab": "usage", "top": usage["by_consumer"][:10],
        "chart_config": json.dumps(config, ensure_ascii=False).replace("</", "<\\/")})
