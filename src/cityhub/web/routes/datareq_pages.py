"""Data-request pages (``/requests``): the public board (filter by status, department, overdue; search; age and
overdue badges; keyset paging), a request's page (answer, history timeline, and the forms of whoever may act:
the department's answer form, the data office's routing and closing, the asker's withdrawal), the ask form, and
the data office's routing queue. Each route calls actions only (``engage/datareq_actions.py``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from cityhub.errors import ValidationError
from cityhub.web import i18n
from cityhub.web.deps import call, lang
from cityhub.web.page_helpers import (
    acall,
    checked_form,
    field_errors,
    int_param,
    login_redirect,
    redirect,
    require_admin,
)
from cityhub.web.page_helpers import render as _render

router = APIRouter(include_in_schema=False)

STATUS_LABELS = {
    "submitted": ("待分派", "Waiting to be routed"),
    "routed": ("待答复", "Waiting for the answer"),
    "answered": ("已答复", "Answered"),
    "withdrawn": ("已撤回", "Withdrawn"),
    "closed": ("已关闭", "Closed"),
}
EVENT_LABELS = {
    "submitted": ("提出需求", "Asked"),
    "routed": ("分派至部门", "Routed to a department"),
    "rerouted": ("改派至其他部门", "Routed to another department"),
    "answered": ("部门答复", "Answered by the department"),
    "escalated": ("逾期升级至市数据管理机构", "Escalated to the city data office as overdue"),
    "withdrawn": ("提出人撤回", "Withdrawn by the asker"),
    "closed": ("关闭", "Closed"),
    "merged": ("合并重复需求", "Duplicate merged"),
}
ANSWER_LABELS = {
    "will_open": ("将于指定日期开放", "Will be opened by a date"),
    "already_open": ("已开放", "Already open"),
    "cannot_open": ("不予开放", "Cannot be opened"),
}
STATUSES = tuple(STATUS_LABELS)
AGES = (7, 30, 90, 365)  # the board's "asked more than N days ago" choices
PAGE = 50


def render(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    """The shared ``render`` with the data-request labels in the page's language."""
    language = lang(request)
    return _render(request, template, {
        "dr_status": lambda key: i18n.label(STATUS_LABELS, key, language),
        "dr_event": lambda key: i18n.label(EVENT_LABELS, key, language),
        "dr_answer": lambda key: i18n.label(ANSWER_LABELS, key, language),
        "STATUSES": STATUSES, "nav": "requests", **context}, status=status)


def _departments(request: Request) -> list[dict[str, Any]]:
    """Every department's slug and names (for the filters and forms; without ``department_list``'s counts)."""
    return list(call(request, "data_request_list", {"limit": 1, "count": False, "departments": True})
                ["departments"])


@router.get("/requests", response_class=HTMLResponse)
def board(request: Request) -> Response:
    q = request.query_params
    status = q.get("status") if q.get("status") in STATUSES else None
    department = (q.get("department") or "").strip()[:100] or None
    text = (q.get("q") or "").strip()[:100] or None
    overdue = q.get("overdue") == "1"
    sort = "oldest" if q.get("sort") == "oldest" else "newest"
    age = int_param(q.get("age"), 0, 0, 36500) or None
    cursor = int_param(q.get("cursor"), 0, 0, 2**31 - 1) or None
    args = {"status": status, "department": department, "q": text, "overdue": overdue, "sort": sort,
            "cursor": cursor, "limit": PAGE, "departments": True, "count": text is None, "min_age_days": age}
    search_problem = None
    try:  # a word search is not counted (the page and "next" need no total)
        page = call(request, "data_request_list", args)
    except ValidationError as exc:
        if "q" not in exc.fields:
            raise
        # nothing to look for in the words (only punctuation or very common words): say so, list nothing
        search_problem = exc.message if lang(request) == "zh" else exc.message_en
        page = {"results": [], "next": None, "count": None, "count_capped": False,
                "departments": _departments(request)}
    keep = {k: v for k, v in (("status", status), ("department", department), ("q", text),
                              ("overdue", "1" if overdue else None), ("sort", sort), ("age", age)) if v}
    next_url = f"/requests?{urlencode({**keep, 'cursor': page['next']})}" if page["next"] else None
    return render(request, "datareq/board.html", {
        "page": page, "status": status, "department": department, "q": text, "overdue": overdue, "sort": sort,
        "age": age, "AGES": AGES, "search_problem": search_problem,
        "cursor": cursor, "first_url": f"/requests?{urlencode(keep)}", "next_url": next_url,
        "departments": page["departments"]})


@router.get("/requests/new", response_class=HTMLResponse)
def ask_form(request: Request) -> Response:
    if request.state.actor is None:
        return login_redirect(request)
    values = {"department": request.query_params.get("department", "")[:100]}
    return render(request, "datareq/ask.html", {"values": values, "errors": {}, "general": [],
                                                "departments": _departments(request)})


@router.post("/requests/new", response_class=HTMLResponse)
async def ask(request: Request) -> Response:
    form = await checked_form(request)
    if request.state.actor is None:
        return login_redirect(request)
    values = {k: str(form.get(k) or "").strip() for k in ("title", "description", "purpose", "department",
                                                          "contact")}
    try:
        created = await acall(request, "data_request_create", {**values, "department": values["department"] or None})
    except ValidationError as exc:
        errors, general = field_errors(exc, lang(request))
        return render(request, "datareq/ask.html", {"values": values, "errors": errors, "general": general,
                                                    "departments": _departments(request)}, status=422)
    return redirect(f"/requests/{created['id']}")


@router.get("/requests/queue", response_class=HTMLResponse)
def queue(request: Request) -> Response:
    refused = require_admin(request)
    if refused is not None:
        return refused
    waiting = call(request, "data_request_list", {"status": "submitted", "sort": "oldest", "limit": 100})
    overdue = call(request, "data_request_list", {"overdue": True, "sort": "oldest", "limit": 100})
    return render(request, "datareq/queue.html", {"waiting": waiting, "overdue": overdue,
                                                  "departments": _departments(request)})


def _show(request: Request, rid: int, errors: dict[str, list[str]] | None = None, general: list[str] | None = None,
          values: dict[str, str] | None = None, status: int = 200) -> Response:
    r = call(request, "data_request_show", {"id": rid})
    departments = _departments(request) if r["may_route"] else []
    return render(request, "datareq/request.html", {"r": r, "errors": errors or {}, "general": general or [],
                                                    "values": values or {}, "departments": departments},
                  status=status)


@router.get("/requests/{rid}", response_class=HTMLResponse)
def request_page(request: Request, rid: int) -> Response:
    return _show(request, rid)


@router.post("/requests/{rid}/route", response_class=HTMLResponse)
async def route(request: Request, rid: int) -> Response:
    form = await checked_form(request)
    department = str(form.get("department") or "").strip()
    note = str(form.get("note") or "").strip()
    try:
        await acall(request, "data_request_route", {"id": rid, "department": department, "note": note})
    except ValidationError as exc:
        errors, general = field_errors(exc, lang(request))
        return _show(request, rid, errors, general, {"department": department, "note": note}, status=422)
    back = str(form.get("back") or "")
    return redirect("/requests/queue" if back == "queue" else f"/requests/{rid}")


@router.post("/requests/{rid}/answer", response_class=HTMLResponse)
async def answer(request: Request, rid: int) -> Response:
    form = await checked_form(request)
    kind = str(form.get("kind") or "")
    values = {k: str(form.get(k) or "").strip() for k in ("kind", "text", "open_by", "dataset", "url",
                                                          "legal_basis")}
    # only the fields of the chosen kind of answer are sent
    wanted = {"will_open": ("open_by",), "already_open": ("dataset", "url"), "cannot_open": ("legal_basis",)}
    data: dict[str, Any] = {"id": rid, "kind": kind, "text": values["text"]}
    for key in wanted.get(kind, ()):
        if values[key]:
            data[key] = values[key]
    try:
        await acall(request, "data_request_answer", data)
    except ValidationError as exc:
        errors, general = field_errors(exc, lang(request))
        return _show(request, rid, errors, general, values, status=422)
    return redirect(f"/requests/{rid}")


@router.post("/requests/{rid}/withdraw", response_class=HTMLResponse)
async def withdraw(request: Request, rid: int) -> Response:
    form = await checked_form(request)
    note = str(form.get("note") or "").strip()
    try:
        await acall(request, "data_request_withdraw", {"id": rid, "note": note})
    except ValidationError as exc:
        errors, general = field_errors(exc, lang(request))
        return _show(request, rid, errors, general, {"note": note}, status=422)
    return redirect(f"/requests/{rid}")


@router.post("/requests/{rid}/close", response_class=HTMLResponse)
async def close(request: Request, rid: int) -> Response:
    form = await checked_form(request)
    values = {k: str(form.get(k) or "").strip() for k in ("duplicate_of", "reason")}
    dup = int_param(values["duplicate_of"], 0, 0, 2**31 - 1) or None
    if values["duplicate_of"] and dup is None:
        return _show(request, rid, {"duplicate_of": [i18n.t("请填写需求编号", lang(request))]}, [], values, status=422)
    try:
        await acall(request, "data_request_close", {"id": rid, "duplicate_of": dup, "reason": values["reason"]})
    except ValidationError as exc:
        errors, general = field_errors(exc, lang(request))
        return _show(request, rid, errors, general, values, status=422)
    return redirect(f"/requests/{rid}")
