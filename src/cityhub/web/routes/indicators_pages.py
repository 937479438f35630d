"""Plan indicator pages (issue 15): the public progress page ``/indicators`` ("规划实施进展": progress bars and a
trend chart per indicator, filter by area, the plan's targets), one indicator with its values and history, the
responsible department's reporting form, the data office's definition pages and review queue, and the printable
assessment reports (annual, mid-term, final) with a server-drawn SVG chart per indicator."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from markupsafe import Markup
from starlette.datastructures import UploadFile

from cityhub.catalog.schemas import UploadedFile
from cityhub.errors import CityHubError, NotAuthorized
from cityhub.indicators.progress import DIRECTION_LABELS, STATUS_LABELS
from cityhub.indicators.schemas import AREAS, LIVE_KEYS
from cityhub.indicators.svg import line_chart
from cityhub.web.deps import call, lang
from cityhub.web.page_helpers import (
    acall,
    checked_form,
    field_errors,
    int_param,
    login_redirect,
    redirect,
    render,
    require_admin,
)

router = APIRouter(include_in_schema=False)
KIND_TITLES = {"annual": "年度评估", "midterm": "中期评估", "final": "总结评估"}
DEFINITION_KEYS = ("code", "area", "name", "name_en", "unit", "baseline_year", "baseline_value", "baseline_note",
                   "target_year", "target_value", "target_note", "direction", "department", "source", "kind",
                   "compute_key", "frequency", "min_value", "max_value", "position")


def _labels(language: str) -> dict[str, Any]:
    pick = 0 if language == "zh" else 1
    return {"status_labels": {k: v[pick] for k, v in STATUS_LABELS.items()},
            "direction_labels": {k: v[pick] for k, v in DIRECTION_LABELS.items()}}


def _chart_config(results: list[dict[str, Any]]) -> str:
    data = {r["code"]: {"series": r["series"][-36:], "target": r["target_value"], "target_year": r["target_year"],
                        "baseline": r["baseline_value"], "baseline_year": r["baseline_year"], "unit": r["unit"]}
            for r in results}
    return json.dumps(data, ensure_ascii=False).replace("</", "<\\/")


@router.get("/indicators", response_class=HTMLResponse)
async def indicators_page(request: Request) -> Response:
    area = request.query_params.get("area") or None
    if area is not None and area not in AREAS:
        area = None
    listing = await acall(request, "indicator_list", {"area": area})
    every = listing if area is None else await acall(request, "indicator_list", {})
    actor = request.state.actor
    return render(request, "indicators/progress.html", {
        "listing": listing, "areas": every["areas"], "area": area, "nav": "indicators",
        "chart_config": _chart_config(listing["results"]), "is_admin": actor is not None and actor.is_admin,
        **_labels(lang(request))})


# -- reports (before /indicators/{code}: "reports" would match a code) -------------------------------------------


@router.get("/indicators/reports/{kind}", response_class=HTMLResponse)
async def report_page(request: Request, kind: str) -> Response:
    if kind not in KIND_TITLES:
        kind = "annual"
    year = int_param(request.query_params.get("year"), 0, 0, 2100) or None
    report = await acall(request, "indicator_assessment", {"kind": kind, "year": year})
    charts = {r["code"]: Markup(line_chart(  # noqa: S704 - line_chart escapes every text it writes
        r["series"], baseline_year=r["baseline_year"], baseline=r["baseline_value"], target_year=r["target_year"],
        target=r["target_value"], unit=r["unit"], title=r["name"])) for r in report["indicators"]}
    return render(request, "indicators/report.html", {"report": report, "charts": charts, "kind": kind,
                                                      "nav": "indicators", **_labels(lang(request))})


# -- the data office: definitions and the review queue ------------------------------------------------------------


@router.get("/admin/indicators", response_class=HTMLResponse)
async def admin_indicators(request: Request) -> Response:
    refused = require_admin(request)
    if refused is not None:
        return refused
    listing = await acall(request, "indicator_list", {"include_inactive": True})
    queue = await acall(request, "indicator_queue", {"status": "reported", "limit": 1})
    return render(request, "indicators/admin_list.html", {"listing": listing, "waiting": queue["count"],
                                                          "nav": "admin", **_labels(lang(request))})


def _definition_form(request: Request, values: dict[str, Any], editing: bool, errors: dict[str, list[str]] | None = None,
                     general: list[str] | None = None, status: int = 200) -> Response:
    depts = call(request, "department_list", {})
    return render(request, "indicators/admin_form.html", {
        "values": values, "editing": editing, "departments": depts, "areas": AREAS, "live_keys": LIVE_KEYS,
        "errors": errors or {}, "general": general or [], "nav": "admin", **_labels(lang(request))}, status=status)


def _form_values(form: Any) -> dict[str, str]:
    return {k: str(form.get(k) or "").strip() for k in DEFINITION_KEYS}


def _definition(values: dict[str, str], editing: bool) -> dict[str, Any]:
    """Form text → action input: numbers parsed where given (an unparsable number is left for the schema to
    refuse), empty optional fields left out (or cleared when editing)."""
    data: dict[str, Any] = {}
    clear: list[str] = []
    for key, text in values.items():
        if key in ("kind", "compute_key") and editing:
            continue
        if text == "":
            if editing and key in ("baseline_year", "baseline_value", "target_value", "department", "min_value",
                                   "max_value"):
                clear.append(key)
            continue
        if key in ("baseline_value", "target_value", "min_value", "max_value"):
            try:
                data[key] = float(text.replace(",", ""))
            except ValueError:
                data[key] = text
        elif key in ("baseline_year", "target_year", "position"):
            data[key] = int(text) if text.isdigit() else text
        else:
            data[key] = text
    if editing:
        data["clear"] = clear
    return data


@router.get("/admin/indicators/new", response_class=HTMLResponse)
def admin_indicator_new(request: Request) -> Response:
    refused = require_admin(request)
    if refused is not None:
        return refused
    return _definition_form(request, {"direction": "at_least", "kind": "reported", "frequency": "yearly",
                                      "target_year": "2020"}, editing=False)


@router.post("/admin/indicators/new", response_class=HTMLResponse)
async def admin_indicator_new_post(request: Request) -> Response:
    form = await checked_form(request)
    refused = require_admin(request)
    if refused is not None:
        return refused
    values = _form_values(form)
    try:
        made = await acall(request, "indicator_create", _definition(values, editing=False))
    except CityHubError as exc:
        errors, general = field_errors(exc, lang(request))
        return await run_in_threadpool(_definition_form, request, values, False, errors, general, exc.status)
    return redirect(f"/indicators/{made['code']}")


@router.get("/admin/indicators/{code}/edit", response_class=HTMLResponse)
def admin_indicator_edit(request: Request, code: str) -> Response:
    refused = require_admin(request)
    if refused is not None:
        return refused
    ind = call(request, "indicator_show", {"code": code})
    values = {k: "" if ind.get(k) is None else (f"{ind[k]:g}" if isinstance(ind[k], float) else str(ind[k]))
              for k in DEFINITION_KEYS}
    values["active"] = str(ind["active"])
    return _definition_form(request, values, editing=True)


@router.post("/admin/indicators/{code}/edit", response_class=HTMLResponse)
async def admin_indicator_edit_post(request: Request, code: str) -> Response:
    form = await checked_form(request)
    refused = require_admin(request)
    if refused is not None:
        return refused
    values = _form_values(form)
    values["code"] = code
    data = _definition(values, editing=True)
    data["active"] = form.get("active") == "on"
    try:
        await acall(request, "indicator_update", data)
    except CityHubError as exc:
        errors, general = field_errors(exc, lang(request))
        return await run_in_threadpool(_definition_form, request, values, True, errors, general, exc.status)
    return redirect(f"/indicators/{code}")


@router.get("/admin/indicators/review", response_class=HTMLResponse)
async def review_queue(request: Request) -> Response:
    refused = require_admin(request)
    if refused is not None:
        return refused
    queue = await acall(request, "indicator_queue", {"status": "reported"})
    return render(request, "indicators/review.html", {"queue": queue["results"], "nav": "admin",
                                                      "error": None})


@router.post("/admin/indicators/review/{oid}", response_class=HTMLResponse)
async def review_post(request: Request, oid: int) -> Response:
    form = await checked_form(request)
    refused = require_admin(request)
    if refused is not None:
        return refused
    data = {"id": oid, "decision": str(form.get("decision") or ""), "comment": str(form.get("comment") or "").strip()}
    try:
        await acall(request, "indicator_review", data)
    except CityHubError as exc:
        queue = await acall(request, "indicator_queue", {"status": "reported"})
        language = lang(request)
        _, general = field_errors(exc, language)
        message = exc.message if language == "zh" else exc.message_en
        return render(request, "indicators/review.html", {"queue": queue["results"], "nav": "admin",
                                                          "error": "; ".join([message, *general])}, status=exc.status)
    return redirect("/admin/indicators/review")


# -- one indicator and the department's reporting form -----------------------------------------------------------


@router.get("/indicators/{code}", response_class=HTMLResponse)
async def indicator_page(request: Request, code: str) -> Response:
    ind = await acall(request, "indicator_show", {"code": code})
    actor = request.state.actor
    may_report = (ind["kind"] == "reported" and actor is not None and
                  (actor.is_admin or (actor.role in ("steward", "dept_admin") and ind["department"] is not None and
                                      _manages(request, ind["department"]))))
    return render(request, "indicators/detail.html", {
        "ind": ind, "may_report": may_report, "nav": "indicators", "chart_config": _chart_config([ind]),
        "is_admin": actor is not None and actor.is_admin, **_labels(lang(request))})


def _manages(request: Request, slug: str) -> bool:
    actor = request.state.actor
    dept = call(request, "department_show", {"slug": slug})
    return bool(actor.manages(dept["id"]))


def _report_form(request: Request, ind: dict[str, Any], values: dict[str, Any],
                 errors: dict[str, list[str]] | None = None, general: list[str] | None = None,
                 status: int = 200) -> Response:
    return render(request, "indicators/report_form.html", {
        "ind": ind, "values": values, "errors": errors or {}, "general": general or [], "nav": "indicators"},
        status=status)


@router.get("/indicators/{code}/report", response_class=HTMLResponse)
def report_form(request: Request, code: str) -> Response:
    actor = request.state.actor
    if actor is None:
        return login_redirect(request)
    ind = call(request, "indicator_show", {"code": code})
    if not actor.is_admin and not (ind["department"] and actor.role in ("steward", "dept_admin")
                                   and _manages(request, ind["department"])):
        raise NotAuthorized("只能填报本部门负责的指标", "You may only report indicators your department is "
                            "responsible for")
    return _report_form(request, ind, {"unit": ind["unit"]})


@router.post("/indicators/{code}/report", response_class=HTMLResponse)
async def report_form_post(request: Request, code: str) -> Response:
    form = await checked_form(request)
    if request.state.actor is None:
        return login_redirect(request)
    values = {k: str(form.get(k) or "").strip() for k in ("period", "value", "unit", "note", "evidence_url",
                                                          "evidence_dataset")}
    file = form.get("file")
    upload = UploadedFile(filename=file.filename, stream=file.file) if isinstance(file, UploadFile) and file.filename \
        else None
    data: dict[str, Any] = {**values, "code": code, "upload": upload}
    with contextlib.suppress(ValueError):  # else the schema refuses it with its own message
        data["value"] = float(values["value"].replace(",", ""))
    try:
        await acall(request, "indicator_report", data)
    except CityHubError as exc:
        if exc.status in (401, 403):
            raise
        ind = await acall(request, "indicator_show", {"code": code})
        language = lang(request)
        errors, general = field_errors(exc, language)
        general = [exc.message if language == "zh" else exc.message_en, *general]
        return await run_in_threadpool(_report_form, request, ind, values, errors, general, exc.status)
    return redirect(f"/indicators/{code}?reported=1")
