"""Open-data plan pages: the yearly plans with their progress, and a department's plan form."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from cityhub.errors import Conflict, NotAuthorized, ValidationError
from cityhub.web.deps import call, check_csrf, lang
from cityhub.web.page_helpers import (
    acall,
    field_errors,
    int_param,
    login_redirect,
    may_manage,
    redirect,
    render,
)

router = APIRouter(include_in_schema=False)


@router.get("/plans", response_class=HTMLResponse)
def plans_page(request: Request) -> Response:
    qp = request.query_params
    department = qp.get("department") or None
    depts = call(request, "department_list", {})
    slugs = {d["slug"] for d in depts}
    if department not in slugs:
        department = None
    years = sorted({p["year"] for p in call(request, "plan_list", {})["plans"]}, reverse=True)
    raw_year = qp.get("year")
    if raw_year is None and department is None:  # first visit: the latest year, not every plan ever made
        year: int | None = years[0] if years else None
    else:
        year = int_param(raw_year, 0, 0, 2100) or None
    plans = call(request, "plan_list", {"year": year, "department": department})
    actor = request.state.actor
    managed: set[str] = set()
    if actor is not None:
        managed = {d["slug"] for d in depts if actor.manages(d["id"])}
    summary = plans["summary"]
    total = summary.get("total", 0)
    progress = round(100 * summary.get("opened", 0) / total) if total else 0
    return render(request, "plans.html", {
        "plans": plans["plans"], "summary": summary, "progress": progress, "years": years, "year": year,
        "department": department, "departments": depts, "managed": managed, "nav": "plans"})


def _plan_items_text(items: list[dict[str, Any]]) -> str:
    return "\n".join(f"{i['title']}|{i.get('dataset') or ''}|{i['target_date']}|{i.get('format') or ''}|"
                     f"{i.get('update_cycle') or ''}" for i in items)


def _parse_plan_items(text: str) -> list[dict[str, Any]]:
    items = []
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split("|")] + [""] * 5
        item: dict[str, Any] = {"title": parts[0], "dataset": parts[1] or None, "target_date": parts[2] or None}
        if parts[3]:
            item["format"] = parts[3]
        if parts[4]:
            item["update_cycle"] = parts[4]
        items.append(item)
    return items


def _plan_form(request: Request, department: str, year: int, values: dict[str, Any],
               errors: dict[str, list[str]] | None = None, general: list[str] | None = None,
               status: int = 200) -> Response:
    dept = call(request, "department_show", {"slug": department})
    return render(request, "plan_form.html", {"dept": dept, "year": year, "values": values,
                                              "errors": errors or {}, "general": general or [], "nav": "plans"},
                  status=status)


@router.get("/plans/{department}/{year}/edit", response_class=HTMLResponse)
def plan_edit(request: Request, department: str, year: int) -> Response:
    if request.state.actor is None:
        return login_redirect(request)
    if not may_manage(request, department):
        raise NotAuthorized("只能管理本部门的开放计划", "You may only manage your own department's plans")
    found = call(request, "plan_list", {"department": department, "year": year})["plans"]
    plan: dict[str, Any] = found[0] if found else {"published_on": "", "note": "", "items": []}
    values = {"published_on": plan.get("published_on") or "", "note": plan.get("note") or "",
              "items": _plan_items_text(plan["items"])}
    return _plan_form(request, department, year, values)


@router.post("/plans/{department}/{year}/edit", response_class=HTMLResponse)
async def plan_edit_post(request: Request, department: str, year: int) -> Response:
    form = await request.form()
    check_csrf(request, str(form.get("csrf_token") or ""))
    values = {k: str(form.get(k) or "") for k in ("published_on", "note", "items")}
    data = {"department": department, "year": year, "published_on": values["published_on"].strip() or None,
            "note": values["note"], "items": _parse_plan_items(values["items"])}
    try:
        await acall(request, "plan_upsert", data)
    except (ValidationError, Conflict) as exc:
        errors, general = field_errors(exc, lang(request))
        return await run_in_threadpool(_plan_form, request, department, year, values, errors, general,
                                       exc.status)
    return redirect(f"/plans?{urlencode({'department': department, 'year': year})}")
