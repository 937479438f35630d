"""Open-data plan pages: the yearly plans with their progress, and a department's plan form."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from cityhub.errors import Conflict, NotAuthorized, ValidationError
from cityhub.web.deps import call, lang
from cityhub.web.page_helpers import (
    acall,
    checked_form,
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


PLAN_ITEM_KEYS = ("title", "dataset", "target_date", "format", "update_cycle")


def _plan_rows(form: Any) -> list[dict[str, Any]]:
    """Every plan-item row as posted (``item_title``, ``item_dataset``… once per row), empty rows included."""
    columns = [form.getlist(f"item_{k}") for k in PLAN_ITEM_KEYS]
    return [{k: str(v).strip() for k, v in zip(PLAN_ITEM_KEYS, row, strict=True)}
            for row in zip(*columns, strict=False)]


def _plan_items(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows as ``plan_upsert`` items; a row without a title or a date is left out only when it is empty."""
    items = []
    for r in rows:
        if not (r["title"] or r["dataset"] or r["target_date"]):
            continue
        item: dict[str, Any] = {"title": r["title"], "dataset": r["dataset"] or None,
                                "target_date": r["target_date"] or None}
        if r["format"]:
            item["format"] = r["format"]
        if r["update_cycle"]:
            item["update_cycle"] = r["update_cycle"]
        items.append(item)
    return items


def _plan_form(request: Request, department: str, year: int, values: dict[str, Any], items: list[dict[str, Any]],
               errors: dict[str, list[str]] | None = None, general: list[str] | None = None,
               status: int = 200) -> Response:
    dept = call(request, "department_show", {"slug": department})
    found = call(request, "dataset_search", {"filters": {"organization": [department]}, "rows": 1000,
                                             "sort": "title_string asc", "include_private": True})["results"]
    datasets = [{"name": d["name"], "title": d["title"], "title_en": d.get("title_en")} for d in found]
    return render(request, "plan_form.html", {
        "dept": dept, "year": year, "values": values, "items": items or [{}], "datasets": datasets,
        "dataset_names": {d["name"] for d in datasets}, "errors": errors or {}, "general": general or [],
        "nav": "plans"}, status=status)


@router.get("/plans/{department}/{year}/edit", response_class=HTMLResponse)
def plan_edit(request: Request, department: str, year: int) -> Response:
    if request.state.actor is None:
        return login_redirect(request)
    if not may_manage(request, department):
        raise NotAuthorized("只能管理本部门的开放计划", "You may only manage your own department's plans")
    found = call(request, "plan_list", {"department": department, "year": year})["plans"]
    plan: dict[str, Any] = found[0] if found else {"published_on": "", "note": "", "items": []}
    values = {"published_on": plan.get("published_on") or "", "note": plan.get("note") or ""}
    return _plan_form(request, department, year, values, plan["items"])


@router.post("/plans/{department}/{year}/edit", response_class=HTMLResponse)
async def plan_edit_post(request: Request, department: str, year: int) -> Response:
    form = await checked_form(request)
    if request.state.actor is None:
        return login_redirect(request)
    values = {k: str(form.get(k) or "") for k in ("published_on", "note")}
    rows = _plan_rows(form)
    step = str(form.get("form_action") or "")
    if step:  # add or remove a row (the buttons work without JavaScript too)
        if step == "add_item":
            rows.append({})
        elif step.startswith("remove_item:"):
            index = int_param(step.split(":", 1)[1], -1, -1, 10_000)
            if 0 <= index < len(rows):
                del rows[index]
        return await run_in_threadpool(_plan_form, request, department, year, values, rows)
    data = {"department": department, "year": year, "published_on": values["published_on"].strip() or None,
            "note": values["note"], "items": _plan_items(rows)}
    try:
        await acall(request, "plan_upsert", data)
    except (ValidationError, Conflict) as exc:
        errors, general = field_errors(exc, lang(request))
        kept = [r for r in rows if r["title"] or r["dataset"] or r["target_date"]]
        return await run_in_threadpool(_plan_form, request, department, year, values, kept, errors, general,
                                       exc.status)
    return redirect(f"/plans?{urlencode({'department': department, 'year': year})}")
