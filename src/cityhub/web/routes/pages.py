"""Portal pages ("开放广州"): each route parses the request, calls actions through ``deps.call`` and renders.

Chinese first, English through ``?lang=en`` (remembered in a cookie). Forms carry the session's CSRF token and
are re-rendered with the messages next to the fields when an action refuses the input.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData, UploadFile

from cityhub.catalog.schemas import UploadedFile
from cityhub.catalog.vocab import (
    BASE_CATEGORIES,
    CATALOG_TYPES,
    LICENSES,
    OPENING_CLASSES,
    RESOURCE_FORMATS,
    SHARING_CLASSES,
    SHARING_METHODS,
    THEME_BY_SLUG,
    THEMES,
    UPDATE_CYCLES,
)
from cityhub.context import ROLE_LABELS, ROLES
from cityhub.errors import (
    CityHubError,
    Conflict,
    NotAuthenticated,
    NotAuthorized,
    NotFound,
    TooManyRequests,
    ValidationError,
)
from cityhub.geo import DISTRICT_NAMES
from cityhub.settings import get_settings
from cityhub.web import i18n
from cityhub.web.deps import SESSION_COOKIE, call, check_csrf, error_response, lang
from cityhub.web.markdown import plain
from cityhub.web.markdown import render as markdown

router = APIRouter(include_in_schema=False)

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"
SH = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")
FACETS = ("organization", "theme", "res_format", "sharing_class", "opening_class", "update_cycle", "district")
FILTER_FIELDS = (*FACETS, "tags")
FACET_LABELS = {"organization": "提供部门", "theme": "主题", "res_format": "资源格式", "sharing_class": "共享类型",
                "opening_class": "开放类型", "update_cycle": "更新周期", "district": "行政区", "tags": "标签"}
SORTS = (("relevance", "相关度"), ("metadata_modified desc", "最新"), ("views_recent desc", "最常用"),
         ("title_string asc", "标题"))
ROWS = 20
LOGIN_CSRF_COOKIE = "cityhub_login_csrf"
DATA_ITEM_TYPES = ("string", "integer", "number", "date", "datetime", "boolean", "time")
LIST_SPLIT = re.compile(r"[,,、;;\n]+")
# model-level validation messages → the form field they are about
RULE_FIELDS = (("依据", "sharing_basis"), ("共享条件", "sharing_condition"), ("开放条件", "opening_condition"),
               ("基础类别", "base_category"), ("无条件共享", "sharing_class"), ("时间范围", "temporal_end"))


# -- rendering ----------------------------------------------------------------------------------------------


def _local(value: str | dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """An ISO timestamp (UTC) shown in Asia/Shanghai."""
    if not value:
        return ""
    when = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(SH).strftime(fmt)


def _filesize(n: int | None) -> str:
    if n is None:
        return ""
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _number(n: int | float | None) -> str:
    return "" if n is None else f"{n:,}"


def _env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATE_DIR), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True, undefined=jinja2.ChainableUndefined)
    env.filters.update(markdown=markdown, plain=plain, local=_local, filesize=_filesize, number=_number)
    env.globals.update(THEMES=THEMES, THEME_BY_SLUG=THEME_BY_SLUG, SHARING_CLASSES=SHARING_CLASSES,
                       OPENING_CLASSES=OPENING_CLASSES, UPDATE_CYCLES=tuple(UPDATE_CYCLES),
                       RESOURCE_FORMATS=RESOURCE_FORMATS, SHARING_METHODS=SHARING_METHODS, LICENSES=LICENSES,
                       CATALOG_TYPES=tuple(CATALOG_TYPES), BASE_CATEGORIES=tuple(BASE_CATEGORIES),
                       DISTRICT_NAMES=DISTRICT_NAMES, ROLES=ROLES, FACET_LABELS=FACET_LABELS,
                       DATA_ITEM_TYPES=DATA_ITEM_TYPES, HISTORY_ACTIONS=i18n.HISTORY_ACTIONS)
    return env


templates = Jinja2Templates(env=_env())


def _switch_url(request: Request, target: str) -> str:
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    params.append(("lang", target))
    return f"{request.url.path}?{urlencode(params)}"


def _base_context(request: Request) -> dict[str, Any]:
    language = lang(request)
    actor = getattr(request.state, "actor", None)
    settings = get_settings()

    def role_label(role: str) -> str:
        zh, en = ROLE_LABELS.get(role, (role, role))
        return i18n.pair(zh, en, language)

    return {
        "request": request,
        "lang": language,
        "_": lambda text: i18n.t(text, language),
        "term": lambda value: i18n.term(value, language),
        "pair": lambda zh, en: i18n.pair(zh or "", en or "", language),
        "role_label": role_label,
        "actor": actor,
        "user": getattr(request.state, "user", None),
        "csrf": getattr(request.state, "csrf", ""),
        "site_title": settings.site_title,
        "base_url": settings.base_url.rstrip("/"),
        "switch_url": _switch_url(request, "zh" if language == "en" else "en"),
        "path": request.url.path,
    }


def render(request: Request, template: str, context: dict[str, Any] | None = None,
           status: int = 200) -> HTMLResponse:
    ctx = _base_context(request)
    ctx.update(context or {})
    response: HTMLResponse = templates.TemplateResponse(request, template, ctx, status_code=status)
    i18n.remember_lang(request, response)
    if ctx["actor"] is not None:
        response.headers["Cache-Control"] = "private, no-store"
    return response


def wants_html(request: Request) -> bool:
    path = request.url.path
    if path.startswith("/api/"):
        return False
    accept = request.headers.get("accept", "")
    return "text/html" in accept or "application/json" not in accept


def error_page(request: Request, exc: CityHubError) -> Response:
    try:
        language = lang(request)
        message = exc.message_en if language == "en" else exc.message
        response = render(request, "error.html", {"error": exc, "message": message,
                                                  "next": request.url.path}, status=exc.status)
    except Exception:  # the error page must never fail: fall back to the JSON shape
        return error_response(exc)
    if exc.status == 429:
        response.headers["Retry-After"] = "900"
    return response


def set_session_cookie(response: Response, token: str) -> None:
    s = get_settings()
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=s.cookie_secure,
                        max_age=s.session_absolute_hours * 3600, path="/")


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def safe_next(value: str | None) -> str:
    """Only local paths: start with one "/" (not "//" nor "/\\"), no scheme tricks."""
    if not value or not value.startswith("/") or value.startswith("//") or value.startswith("/\\"):
        return "/"
    if any(c in value for c in "\r\n\t") or "\\" in value:
        return "/"
    return value


def login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return redirect("/login?" + urlencode({"next": target}))


async def acall(request: Request, name: str, data: Any = None) -> Any:
    return await run_in_threadpool(call, request, name, data)


def field_errors(exc: CityHubError) -> tuple[dict[str, list[str]], list[str]]:
    """Split an action error into messages per form field and general messages."""
    fields: dict[str, list[str]] = {}
    general: list[str] = []
    for key, messages in exc.fields.items():
        top = key.split(".")[0] if key else "__all__"
        if top in ("__all__", ""):
            for msg in messages:
                general.append(msg)
                for needle, fld in RULE_FIELDS:
                    if needle in msg:
                        fields.setdefault(fld, []).append(msg)
                        break
        else:
            detail = [f"{key}: {m}" if key != top else m for m in messages]
            fields.setdefault(top, []).extend(detail)
    if not exc.fields:
        general.append(exc.message)
    return fields, general


def _may_manage(request: Request, department_slug: str) -> bool:
    actor = getattr(request.state, "actor", None)
    if actor is None:
        return False
    if actor.is_admin:
        return True
    if actor.role not in ("steward", "dept_admin") or actor.department_id is None:
        return False
    dept = call(request, "department_show", {"slug": department_slug})
    return bool(dept["id"] == actor.department_id)


def _own_departments(request: Request) -> list[dict[str, Any]]:
    """Departments the signed-in user may file datasets and plans for."""
    actor = request.state.actor
    depts: list[dict[str, Any]] = call(request, "department_list", {})
    if actor.is_admin:
        return depts
    return [d for d in depts if d["id"] == actor.department_id and actor.role in ("steward", "dept_admin")]


def _int(value: str | None, default: int, low: int = 0, high: int = 1_000_000) -> int:
    try:
        n = int(value) if value not in (None, "") else default
    except ValueError:
        return default
    return max(low, min(high, n))


# -- home -----------------------------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> Response:
    stats = call(request, "portal_stats", {})
    return render(request, "home.html", {"stats": stats, "nav": "home"})


# -- dataset search -------------------------------------------------------------------------------------------


def _query_string(params: Iterable[tuple[str, str]]) -> str:
    items = [(k, v) for k, v in params if v != ""]
    return "?" + urlencode(items) if items else ""


@router.get("/dataset", response_class=HTMLResponse)
def dataset_list(request: Request) -> Response:
    qp = request.query_params
    q = qp.get("q", "").strip()[:500]
    sort = qp.get("sort", "relevance")
    if sort not in dict(SORTS):
        sort = "relevance"
    start = _int(qp.get("start"), 0)
    filters: dict[str, list[str]] = {}
    for fld in FILTER_FIELDS:
        values = [v for v in qp.getlist(fld) if v]
        if values:
            filters[fld] = list(dict.fromkeys(values))
    result = call(request, "dataset_search", {"q": q, "filters": filters, "rows": ROWS, "start": start,
                                              "sort": sort, "facet_fields": list(FACETS), "facet_limit": 50,
                                              "include_private": request.state.actor is not None})
    language = lang(request)
    org_en: dict[str, str] = {}
    if language == "en":
        org_en = {d["slug"]: d["name_en"] for d in call(request, "department_list", {}) if d.get("name_en")}

    base = [("q", q)] + [(f, v) for f, vs in filters.items() for v in vs]
    if sort != "relevance":
        base.append(("sort", sort))

    def display(fld: str, value: str, shown: str) -> str:
        if fld == "organization":
            return org_en.get(value, shown) if language == "en" else shown
        if fld == "theme":
            theme = THEME_BY_SLUG.get(value)
            return i18n.pair(theme[1], theme[2], language) if theme else shown
        return i18n.term(shown, language)

    def toggle(fld: str, value: str) -> str:
        if value in filters.get(fld, []):
            return "/dataset" + _query_string([(k, v) for k, v in base if not (k == fld and v == value)])
        return "/dataset" + _query_string([*base, (fld, value)])

    facets = []
    for fld in FACETS:
        items = []
        for item in result["facets"].get(fld, []):
            items.append({"name": item["name"], "label": display(fld, item["name"], item["display_name"]),
                          "count": item["count"], "active": item["name"] in filters.get(fld, []),
                          "href": toggle(fld, item["name"])})
        if items:
            facets.append({"field": fld, "items": items})
    active = [{"field": f, "value": v, "label": display(f, v, v), "href": toggle(f, v)}
              for f, vs in filters.items() for v in vs]
    count = result["count"]
    pages = {"start": start, "rows": ROWS, "count": count, "page": start // ROWS + 1,
             "last": max(1, (count + ROWS - 1) // ROWS)}
    if start > 0:
        pages["prev"] = "/dataset" + _query_string([*base, ("start", str(max(0, start - ROWS)))])
    if start + ROWS < count:
        pages["next"] = "/dataset" + _query_string([*base, ("start", str(start + ROWS))])
    hidden = [(k, v) for k, v in base if k not in ("q", "sort") and v]
    return render(request, "dataset_list.html", {
        "q": q, "sort": sort, "sorts": SORTS, "result": result, "facets": facets, "active": active,
        "pages": pages, "hidden": hidden, "nav": "dataset",
        "clear_href": "/dataset" + _query_string([("q", q)]),
    })


# -- dataset forms (declared before /dataset/{name}) --------------------------------------------------------------


DATASET_TEXT_FIELDS = ("title", "title_en", "department", "catalog_type", "class_item", "class_category",
                       "class_sub", "abstract", "format", "sharing_class", "sharing_condition", "sharing_basis",
                       "opening_class", "opening_condition", "update_cycle", "theme", "license_id",
                       "contact_name", "contact_email", "contact_phone")
DATASET_OPTIONAL = ("base_category", "published_on", "temporal_start", "temporal_end")


def _split_list(text: str) -> list[str]:
    return [x.strip() for x in LIST_SPLIT.split(text or "") if x.strip()]


def _parse_items(text: str) -> list[dict[str, Any]]:
    """Data items, one per line: ``name|type|description`` (an optional 4th part is the length)."""
    items: list[dict[str, Any]] = []
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split("|")]
        item: dict[str, Any] = {"name": parts[0], "type": (parts[1] if len(parts) > 1 else "") or "string",
                                "description": parts[2] if len(parts) > 2 else ""}
        if len(parts) > 3 and parts[3]:
            item["length"] = parts[3]
        items.append(item)
    return items


def _items_text(items: list[dict[str, Any]]) -> str:
    lines = []
    for i in items:
        line = f"{i.get('name', '')}|{i.get('type', 'string')}|{i.get('description', '')}"
        if i.get("length"):
            line += f"|{i['length']}"
        lines.append(line)
    return "\n".join(lines)


def _dataset_form_data(form: FormData) -> dict[str, Any]:
    """The form as ``dataset_create`` input."""
    data: dict[str, Any] = {k: str(form.get(k) or "") for k in DATASET_TEXT_FIELDS}
    for key in DATASET_OPTIONAL:
        value = str(form.get(key) or "").strip()
        data[key] = value or None
    data["sharing_method"] = [str(v) for v in form.getlist("sharing_method")]
    data["districts"] = [str(v) for v in form.getlist("districts")]
    data["tags"] = _split_list(str(form.get("tags") or ""))
    data["related_codes"] = _split_list(str(form.get("related_codes") or ""))
    data["data_items"] = _parse_items(str(form.get("data_items") or ""))
    data["private"] = form.get("private") in ("1", "on", "true")
    return data


def _form_values(data: dict[str, Any]) -> dict[str, Any]:
    """Action-shaped data back into form values (lists as text)."""
    values = {k: ("" if v is None else v) for k, v in data.items()}
    values["tags"] = ", ".join(data.get("tags") or [])
    values["related_codes"] = "\n".join(data.get("related_codes") or [])
    values["data_items"] = _items_text(data.get("data_items") or [])
    return values


DEFAULTS: dict[str, Any] = {"catalog_type": "部门", "class_item": "01", "class_category": "001", "class_sub": "",
                            "format": "电子表格", "sharing_class": "无条件共享", "sharing_method": ["接口"],
                            "opening_class": "无条件开放", "update_cycle": "不定期", "license_id": "cc-by-4.0",
                            "districts": [], "theme": "", "private": False}


def _dataset_form(request: Request, values: dict[str, Any], *, editing: dict[str, Any] | None = None,
                  errors: dict[str, list[str]] | None = None, general: list[str] | None = None,
                  status: int = 200) -> Response:
    return render(request, "dataset_form.html", {
        "values": values, "editing": editing, "errors": errors or {}, "general": general or [],
        "departments": _own_departments(request), "nav": "dataset"}, status=status)


@router.get("/dataset/new", response_class=HTMLResponse)
def dataset_new(request: Request) -> Response:
    if request.state.actor is None:
        return login_redirect(request)
    departments = _own_departments(request)
    if not departments:
        raise NotAuthorized("只有部门数据专员、部门管理员和平台管理员可以登记数据资源",
                            "Only department stewards, department admins and platform admins may register datasets")
    values = {**DEFAULTS, "department": departments[0]["slug"]}
    return _dataset_form(request, _form_values(values))


@router.post("/dataset/new", response_class=HTMLResponse)
async def dataset_new_post(request: Request) -> Response:
    form = await request.form()
    check_csrf(request, str(form.get("csrf_token") or ""))
    data = _dataset_form_data(form)
    data["name"] = str(form.get("name") or "").strip()
    try:
        created = await acall(request, "dataset_create", data)
    except (ValidationError, Conflict) as exc:
        errors, general = field_errors(exc)
        return await run_in_threadpool(_dataset_form, request, _form_values(data), errors=errors,
                                       general=general, status=exc.status)
    return redirect(f"/dataset/{created['name']}")


# -- dataset page ------------------------------------------------------------------------------------------------


@router.get("/dataset/{name}", response_class=HTMLResponse)
def dataset_page(request: Request, name: str) -> Response:
    ds = call(request, "dataset_show", {"id": name})
    call(request, "usage_record", {"dataset_id": ds["id"], "kind": "views"})
    history = call(request, "dataset_history", {"id": name, "limit": 20})
    settings = get_settings()
    base = settings.base_url.rstrip("/")
    examples = {
        "ckan": f"curl '{base}/api/3/action/package_show?id={ds['name']}'",
        "native": f"curl '{base}/api/v1/datasets/{ds['name']}'",
        "search": f"curl '{base}/api/v1/datasets?q={ds['theme_name']}&rows=5'",
    }
    response = render(request, "dataset.html", {"ds": ds, "history": history, "examples": examples,
                                                "may_edit": _may_manage(request, ds["department"]), "nav": "dataset"})
    response.headers.add_vary_header("Accept")  # RDF clients get RDF at this URL (routes/dcat.py)
    return response


@router.get("/dataset/{name}/resource/{rid}/download")
def resource_download(request: Request, name: str, rid: str) -> Response:
    found = call(request, "resource_download", {"id": rid})
    if found.get("redirect"):
        return RedirectResponse(found["redirect"], status_code=302)
    return FileResponse(found["path"], media_type=found.get("media_type") or "application/octet-stream",
                        filename=found.get("filename") or Path(found["path"]).name)


@router.get("/dataset/{name}/edit", response_class=HTMLResponse)
def dataset_edit(request: Request, name: str) -> Response:
    if request.state.actor is None:
        return login_redirect(request)
    ds = call(request, "dataset_show", {"id": name})
    if not _may_manage(request, ds["department"]):
        raise NotAuthorized("只能管理本部门的数据资源", "You may only manage your own department's resources")
    return _dataset_form(request, _form_values(ds), editing=ds)


def _normal(value: Any) -> Any:
    if isinstance(value, list):
        return [_normal(v) for v in value]
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items() if v not in (None, "")}
    return "" if value is None else str(value)


@router.post("/dataset/{name}/edit", response_class=HTMLResponse)
async def dataset_edit_post(request: Request, name: str) -> Response:
    form = await request.form()
    check_csrf(request, str(form.get("csrf_token") or ""))
    current = await acall(request, "dataset_show", {"id": name})
    data = _dataset_form_data(form)
    changes = {k: v for k, v in data.items() if _normal(v) != _normal(current.get(k))}
    try:
        if changes:
            await acall(request, "dataset_update", {"id": name, **changes})
    except (ValidationError, Conflict) as exc:
        errors, general = field_errors(exc)
        status = exc.status
        return await run_in_threadpool(lambda: _dataset_form(request, _form_values(data), editing=current,
                                                             errors=errors, general=general, status=status))
    return redirect(f"/dataset/{name}")


@router.get("/dataset/{name}/delete", response_class=HTMLResponse)
def dataset_delete_confirm(request: Request, name: str) -> Response:
    if request.state.actor is None:
        return login_redirect(request)
    ds = call(request, "dataset_show", {"id": name})
    return render(request, "dataset_delete.html", {"ds": ds, "nav": "dataset"})


@router.post("/dataset/{name}/delete")
async def dataset_delete(request: Request, name: str) -> Response:
    form = await request.form()
    check_csrf(request, str(form.get("csrf_token") or ""))
    ds = await acall(request, "dataset_show", {"id": name})
    await acall(request, "dataset_delete", {"id": name})
    return redirect(f"/organization/{ds['department']}")


@router.get("/dataset/{name}/resource/new", response_class=HTMLResponse)
def resource_new(request: Request, name: str) -> Response:
    if request.state.actor is None:
        return login_redirect(request)
    ds = call(request, "dataset_show", {"id": name})
    return render(request, "resource_form.html", {"ds": ds, "values": {}, "errors": {}, "general": [],
                                                  "nav": "dataset"})


@router.post("/dataset/{name}/resource/new", response_class=HTMLResponse)
async def resource_new_post(request: Request, name: str) -> Response:
    form = await request.form()
    check_csrf(request, str(form.get("csrf_token") or ""))
    file = form.get("file")
    upload = None
    if isinstance(file, UploadFile) and file.filename:
        upload = UploadedFile(filename=file.filename, stream=file.file)
    values = {k: str(form.get(k) or "").strip() for k in ("name", "description", "url", "format")}
    schema_text = str(form.get("schema") or "")
    try:
        from cityhub.web.routes.datastore_pages import parse_table_schema

        schema = parse_table_schema(schema_text)
        created = await acall(request, "resource_create", {"dataset": name, **values, "upload": upload})
        job = created.get("datastore_job")
        if schema is not None and upload is not None:
            # load again with the steward's Table Schema; this version goes live after the automatic one
            job = await acall(request, "datastore_create", {"resource_id": created["id"], "schema": schema})
    except (ValidationError, Conflict) as exc:
        values["schema"] = schema_text
        errors, general = field_errors(exc)
        status = exc.status
        ds = await acall(request, "dataset_show", {"id": name})
        return await run_in_threadpool(lambda: render(request, "resource_form.html", {
            "ds": ds, "values": values, "errors": errors, "general": general, "nav": "dataset"},
            status=status))
    finally:
        if isinstance(file, UploadFile):
            await file.close()
    if upload is None:
        return redirect(f"/dataset/{name}")
    target = f"/dataset/{name}/resource/{created['id']}"
    return redirect(f"{target}?job={job['id']}#load-status" if job else target)


# -- departments ---------------------------------------------------------------------------------------------------


@router.get("/organization", response_class=HTMLResponse)
def organization_list(request: Request) -> Response:
    depts = call(request, "department_list", {})
    groups = [("市级部门", [d for d in depts if d["level"] == "市"]),
              ("区级部门", [d for d in depts if d["level"] != "市"])]
    return render(request, "organization_list.html", {"groups": groups, "total": len(depts),
                                                      "nav": "organization"})


@router.get("/organization/{slug}", response_class=HTMLResponse)
def organization_page(request: Request, slug: str) -> Response:
    dept = call(request, "department_show", {"slug": slug})
    start = _int(request.query_params.get("start"), 0)
    result = call(request, "dataset_search", {"filters": {"organization": [slug]}, "rows": ROWS, "start": start,
                                              "sort": "title_string asc",
                                              "include_private": request.state.actor is not None})
    plans = call(request, "plan_list", {"department": slug})
    pages = {"start": start, "count": result["count"], "page": start // ROWS + 1,
             "last": max(1, (result["count"] + ROWS - 1) // ROWS)}
    if start > 0:
        pages["prev"] = f"/organization/{slug}?start={max(0, start - ROWS)}"
    if start + ROWS < result["count"]:
        pages["next"] = f"/organization/{slug}?start={start + ROWS}"
    return render(request, "organization.html", {
        "dept": dept, "result": result, "plans": plans, "pages": pages, "nav": "organization",
        "may_edit": _may_manage(request, slug), "this_year": dt.datetime.now(SH).year})


# -- plans ----------------------------------------------------------------------------------------------------------


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
        year = _int(raw_year, 0, 0, 2100) or None
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
    if not _may_manage(request, department):
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
        errors, general = field_errors(exc)
        return await run_in_threadpool(_plan_form, request, department, year, values, errors, general,
                                       exc.status)
    return redirect(f"/plans?{urlencode({'department': department, 'year': year})}")


# -- sign-in --------------------------------------------------------------------------------------------------------


def _login_form(request: Request, *, next_url: str, username: str = "", error: str = "",
                status: int = 200, need_code: bool = False) -> Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or ""
    fresh = not re.fullmatch(r"[A-Za-z0-9_-]{20,64}", token)
    if fresh:
        token = secrets.token_urlsafe(24)
    response = render(request, "login.html", {"next": next_url, "username": username, "error": error,
                                              "login_csrf": token, "nav": "login", "need_code": need_code},
                      status=status)
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
    next_url = safe_next(str(form.get("next") or ""))
    language = lang(request)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE) or ""
    given = str(form.get("csrf_token") or "")
    if not expected or not secrets.compare_digest(expected, given):
        exc = NotAuthenticated("表单已过期,请重新登录", "The form expired; please sign in again")
        return await run_in_threadpool(lambda: _login_form(
            request, next_url=next_url, username=username, status=400,
            error=exc.message_en if language == "en" else exc.message))
    try:
        result = await acall(request, "session_create",
                             {"username": username, "password": password, "totp_code": code})
    except (NotAuthenticated, NotAuthorized, TooManyRequests, ValidationError) as exc:
        if isinstance(exc, ValidationError):
            message = i18n.t("请输入用户名和密码。", language)
        else:
            message = exc.message_en if language == "en" else exc.message
        need_code = "totp_code" in exc.fields
        response = await run_in_threadpool(lambda: _login_form(request, next_url=next_url, username=username,
                                                               error=message, status=exc.status,
                                                               need_code=need_code))
        if isinstance(exc, TooManyRequests):
            response.headers["Retry-After"] = "900"
        return response
    response = redirect(next_url)
    set_session_cookie(response, result["token"])
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    form = await request.form()
    check_csrf(request, str(form.get("csrf_token") or ""))
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await acall(request, "session_delete", {"token": token})
    response = redirect("/")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# -- account and API tokens ------------------------------------------------------------------------------------------


def _account(request: Request, new_token: dict[str, Any] | None = None, errors: dict[str, list[str]] | None = None,
             status: int = 200, totp_pending: dict[str, Any] | None = None) -> Response:
    tokens = call(request, "token_list", {})
    return render(request, "account.html", {"tokens": tokens, "new_token": new_token, "errors": errors or {},
                                            "default_days": get_settings().token_default_days, "nav": "account",
                                            "totp_pending": totp_pending}, status=status)


@router.get("/account", response_class=HTMLResponse)
def account(request: Request) -> Response:
    if request.state.actor is None:
        return login_redirect(request)
    return _account(request)


@router.post("/account/tokens", response_class=HTMLResponse)
async def token_create(request: Request) -> Response:
    form = await request.form()
    check_csrf(request, str(form.get("csrf_token") or ""))
    actor = request.state.actor
    data = {"user": actor.name, "name": str(form.get("name") or "").strip(),
            "days": _int(str(form.get("days") or ""), get_settings().token_default_days, 1, 3650)}
    try:
        created = await acall(request, "token_create", data)
    except ValidationError as exc:
        errors, _general = field_errors(exc)
        status = exc.status
        return await run_in_threadpool(lambda: _account(request, errors=errors, status=status))
    response = await run_in_threadpool(_account, request, created)
    return response


@router.post("/account/tokens/{token_id}/revoke")
async def token_revoke(request: Request, token_id: int) -> Response:
    form = await request.form()
    check_csrf(request, str(form.get("csrf_token") or ""))
    await acall(request, "token_revoke", {"id": token_id})
    return redirect("/account")


@router.post("/account/totp/{step}", response_class=HTMLResponse)
async def account_totp(request: Request, step: str) -> Response:
    """Second factor: begin (show a new secret), enable (confirm a code), disable (with a code)."""
    if request.state.actor is None:
        return login_redirect(request)
    if step not in ("begin", "enable", "disable"):
        raise NotFound("页面不存在", "Page not found")
    form = await request.form()
    check_csrf(request, str(form.get("csrf_token") or ""))
    name = request.state.actor.name
    code = str(form.get("code") or "").strip()[:12]
    try:
        if step == "begin":
            pending = await acall(request, "user_totp_begin", {"user": name})
            return await run_in_threadpool(lambda: _account(request, totp_pending=pending))
        await acall(request, f"user_totp_{step}", {"user": name, "code": code})
    except (ValidationError, Conflict) as exc:
        errors, general = field_errors(exc)
        errors.setdefault("code", []).extend(general or ([exc.message] if not errors else []))
        status = exc.status
        retry = {"secret": None} if step == "enable" else None
        return await run_in_threadpool(lambda: _account(request, errors=errors, status=status, totp_pending=retry))
    return redirect("/account#totp")


# -- platform administration ------------------------------------------------------------------------------------------


def _require_admin(request: Request) -> Response | None:
    actor = request.state.actor
    if actor is None:
        return login_redirect(request)
    if not actor.is_admin:
        raise NotAuthorized("需要平台管理员权限", "Platform admins only")
    return None


def _admin_departments(request: Request, values: dict[str, Any] | None = None,
                       errors: dict[str, list[str]] | None = None, general: list[str] | None = None,
                       created: dict[str, Any] | None = None, status: int = 200) -> Response:
    depts = call(request, "department_list", {})
    return render(request, "admin_departments.html", {
        "departments": depts, "values": values or {"level": "市"}, "errors": errors or {},
        "general": general or [], "created": created, "nav": "admin"}, status=status)


@router.get("/admin/departments", response_class=HTMLResponse)
def admin_departments(request: Request) -> Response:
    return _require_admin(request) or _admin_departments(request)


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
        errors, general = field_errors(exc)
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
    return _require_admin(request) or _admin_users(request)


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
        errors, general = field_errors(exc)
        status = exc.status
        return await run_in_threadpool(lambda: _admin_users(request, values, errors, general, status=status))
    return await run_in_threadpool(lambda: _admin_users(request, created=created))


@router.get("/admin/audit", response_class=HTMLResponse)
def admin_audit(request: Request) -> Response:
    gate = _require_admin(request)
    if gate is not None:
        return gate
    qp = request.query_params
    query = {"limit": 100, "action": qp.get("action") or None, "actor": qp.get("actor") or None}
    records = call(request, "audit_list", query)
    verified = call(request, "audit_verify", {}) if qp.get("verify") else None
    return render(request, "admin_audit.html", {"records": records, "verified": verified, "query": query,
                                                "nav": "admin"})

