"""Catalog pages: dataset search with facets, the dataset page, the stewards' dataset and new-resource forms, the
file download, and the departments (organizations) with their datasets.

Chinese first, English through ``?lang=en`` (remembered in a cookie). Forms carry the session's CSRF token and
are re-rendered with the messages next to the fields when an action refuses the input.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from starlette.datastructures import FormData, UploadFile

from cityhub.catalog.schemas import UploadedFile
from cityhub.catalog.vocab import THEME_BY_SLUG
from cityhub.errors import Conflict, NotAuthorized, NotFound, ValidationError
from cityhub.web import i18n
from cityhub.web.base_url import base_url_of
from cityhub.web.deps import call, lang
from cityhub.web.page_helpers import (
    SH,
    acall,
    checked_form,
    field_errors,
    int_param,
    login_redirect,
    may_manage,
    parse_table_schema,
    publication_steps,
    redirect,
    render,
)

router = APIRouter(include_in_schema=False)

FACETS = ("organization", "theme", "res_format", "sharing_class", "opening_class", "update_cycle", "district")
FILTER_FIELDS = (*FACETS, "tags")
SORTS = (("relevance", "相关度"), ("metadata_modified desc", "最新"), ("views_recent desc", "最常用"),
         ("title_string asc", "标题"))
ROWS = 20
LIST_SPLIT = re.compile(r"[,,、;;\n]+")


def _own_departments(request: Request) -> list[dict[str, Any]]:
    """Departments the signed-in user may file datasets and plans for."""
    actor = request.state.actor
    depts: list[dict[str, Any]] = call(request, "department_list", {})
    if actor.is_admin:
        return depts
    return [d for d in depts if d["id"] == actor.department_id and actor.role in ("steward", "dept_admin")]


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
    start = int_param(qp.get("start"), 0)
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
    # published reuses per dataset of this page: one grouped call for the page, not one per dataset (issue 15)
    names = [d["name"] for d in result["results"]]
    reuse_counts = call(request, "reuse_count", {"datasets": names}) if names else {}
    return render(request, "dataset_list.html", {
        "reuse_counts": reuse_counts,
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


def _form_rows(form: FormData) -> list[dict[str, Any]]:
    """Every data-item row of the form as posted (``item_name``, ``item_type``, ``item_length``,
    ``item_description``, repeated once per row), empty rows included."""
    columns = [form.getlist(f"item_{k}") for k in ("name", "type", "length", "description")]
    rows: list[dict[str, Any]] = []
    for name, kind, length, description in zip(*columns, strict=False):
        item: dict[str, Any] = {"name": str(name).strip(), "type": str(kind) or "string",
                                "description": str(description).strip()}
        length = str(length).strip()
        if length:
            item["length"] = int(length) if length.isdigit() else length
        rows.append(item)
    return rows


def _filled(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r["name"] or r["description"] or r.get("length")]


def _form_items(form: FormData) -> list[dict[str, Any]]:
    """The data items of the form: its rows, less those left empty."""
    return _filled(_form_rows(form))


#: datastore column types → data item types
COLUMN_ITEM_TYPES = {"integer": "integer", "number": "number", "boolean": "boolean", "date": "date",
                     "datetime": "datetime", "time": "time"}


def _items_from_table(columns: list[dict[str, Any]], items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Data items for a table's columns, in the table's order: an item already described keeps its description
    and length (its type follows the table); items for columns the table lacks stay at the end."""
    by_name = {i["name"]: i for i in items}
    out = [{**by_name.get(c["name"], {"description": ""}), "name": c["name"],
            "type": COLUMN_ITEM_TYPES.get(c["type"], "string")} for c in columns]
    names = {c["name"] for c in columns}
    return out + [i for i in items if i["name"] not in names]


def _tables(request: Request, ds: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The dataset's resources with a live table (their columns fill the data items)."""
    out = []
    for r in (ds or {}).get("resources", []):
        if r.get("datastore_active"):
            try:
                info = call(request, "datastore_info", {"id": r["id"]})
            except (NotFound, NotAuthorized):
                continue
            if info["columns"]:
                out.append({"id": r["id"], "name": r["name"], "columns": info["columns"]})
    return out


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
    data["data_items"] = _form_items(form)
    data["private"] = form.get("private") in ("1", "on", "true")
    return data


def _form_values(data: dict[str, Any]) -> dict[str, Any]:
    """Action-shaped data back into form values (lists as text)."""
    values = {k: ("" if v is None else v) for k, v in data.items()}
    values["tags"] = ", ".join(data.get("tags") or [])
    values["related_codes"] = "\n".join(data.get("related_codes") or [])
    return values


DEFAULTS: dict[str, Any] = {"catalog_type": "部门", "class_item": "01", "class_category": "001", "class_sub": "",
                            "format": "电子表格", "sharing_class": "无条件共享", "sharing_method": ["接口"],
                            "opening_class": "无条件开放", "update_cycle": "不定期", "license_id": "cc-by-4.0",
                            "districts": [], "theme": "", "private": False}


def _dataset_form(request: Request, values: dict[str, Any], *, editing: dict[str, Any] | None = None,
                  errors: dict[str, list[str]] | None = None, general: list[str] | None = None,
                  status: int = 200, items: list[dict[str, Any]] | None = None,
                  tables: list[dict[str, Any]] | None = None, filled_from: str = "") -> Response:
    if items is None:
        items = list(values.get("data_items") or [])
    return render(request, "dataset_form.html", {
        "values": values, "editing": editing, "errors": errors or {}, "general": general or [],
        "items": items or [{}], "tables": tables if tables is not None else _tables(request, editing),
        "filled_from": filled_from, "departments": _own_departments(request), "nav": "dataset"}, status=status)


def _form_step(request: Request, form: FormData, data: dict[str, Any],
               editing: dict[str, Any] | None) -> Response | None:
    """The buttons that change the form instead of saving it (they work without JavaScript): add or remove a
    data-item row, fill the data items from a table's columns. ``None`` for the save button."""
    step = str(form.get("form_action") or "")
    if not step:
        return None
    items = list(data["data_items"])
    tables = _tables(request, editing)
    filled = ""
    if step == "add_item":
        items.append({})
    elif step.startswith("remove_item:"):
        rows = _form_rows(form)
        index = int_param(step.split(":", 1)[1], -1, -1, 10_000)
        if 0 <= index < len(rows):
            del rows[index]
        items = _filled(rows)
    elif step.startswith("fill_items:"):
        table = next((t for t in tables if t["id"] == step.split(":", 1)[1]), None)
        if table is not None:
            items, filled = _items_from_table(table["columns"], items), table["name"]
    return _dataset_form(request, _form_values(data), editing=editing, items=items, tables=tables,
                         filled_from=filled)


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
    form = await checked_form(request)
    data = _dataset_form_data(form)
    data["name"] = str(form.get("name") or "").strip()
    stepped = await run_in_threadpool(_form_step, request, form, data, None)
    if stepped is not None:
        return stepped
    try:
        created = await acall(request, "dataset_create", data)
    except (ValidationError, Conflict) as exc:
        errors, general = field_errors(exc, lang(request))
        return await run_in_threadpool(_dataset_form, request, _form_values(data), errors=errors,
                                       general=general, status=exc.status)
    return redirect(f"/dataset/{created['name']}")


# -- dataset page ------------------------------------------------------------------------------------------------


@router.get("/dataset/{name}", response_class=HTMLResponse)
def dataset_page(request: Request, name: str) -> Response:
    ds = call(request, "dataset_show", {"id": name})
    call(request, "usage_record", {"dataset_id": ds["id"], "kind": "views"})
    history = call(request, "dataset_history", {"id": name, "limit": 20})
    base = base_url_of(request)  # the address this page was asked at (or CITYHUB_BASE_URL when set)
    examples = {
        "ckan": f"curl '{base}/api/3/action/package_show?id={ds['name']}'",
        "native": f"curl '{base}/api/v1/datasets/{ds['name']}'",
        "search": f"curl '{base}/api/v1/datasets?q={ds['theme_name']}&rows=5'",
    }
    may_edit = may_manage(request, ds["department"])
    # 一数一源 (issue 12): the department's stewards see when the dataset duplicates another's base data item
    base_warnings = call(request, "base_item_check", {"dataset": ds["name"]})["warnings"] if may_edit else []
    # the public's voice (issue 15): the dataset's discussion and its published reuses
    discussion = call(request, "discussion_list", {"dataset": ds["name"], "limit": 10, "replies": 5})
    reuses = call(request, "reuse_list", {"dataset": ds["name"], "limit": 5})
    response = render(request, "dataset.html", {"ds": ds, "history": history, "examples": examples,
                                                "may_edit": may_edit, "base_warnings": base_warnings,
                                                "discussion": discussion, "reuses": reuses,
                                                "steps": publication_steps(request, ds), "nav": "dataset"})
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
    ds = _editable_dataset(request, name)
    tables = _tables(request, ds)
    if not ds["data_items"] and tables:  # nothing described yet: start from the uploaded table's columns
        items = _items_from_table(tables[0]["columns"], [])
        return _dataset_form(request, _form_values(ds), editing=ds, items=items, tables=tables,
                             filled_from=tables[0]["name"])
    return _dataset_form(request, _form_values(ds), editing=ds, tables=tables)


def _normal(value: Any) -> Any:
    if isinstance(value, list):
        return [_normal(v) for v in value]
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items() if v not in (None, "")}
    return "" if value is None else str(value)


@router.post("/dataset/{name}/edit", response_class=HTMLResponse)
async def dataset_edit_post(request: Request, name: str) -> Response:
    form = await checked_form(request)
    current = await acall(request, "dataset_show", {"id": name})
    data = _dataset_form_data(form)
    stepped = await run_in_threadpool(_form_step, request, form, data, current)
    if stepped is not None:
        return stepped
    changes = {k: v for k, v in data.items() if _normal(v) != _normal(current.get(k))}
    try:
        if changes:
            await acall(request, "dataset_update", {"id": name, **changes})
    except (ValidationError, Conflict) as exc:
        errors, general = field_errors(exc, lang(request))
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
    await checked_form(request)
    ds = await acall(request, "dataset_show", {"id": name})
    await acall(request, "dataset_delete", {"id": name})
    return redirect(f"/organization/{ds['department']}")


def _editable_dataset(request: Request, name: str) -> dict[str, Any]:
    """The dataset a steward is about to change, refused before any form is shown: another department's (or a
    harvested) dataset gets the refusal page, not a form whose submission would be refused after an upload."""
    ds: dict[str, Any] = call(request, "dataset_show", {"id": name})
    if not may_manage(request, ds["department"]):
        raise NotAuthorized("只能管理本部门的数据资源", "You may only manage your own department's resources")
    if ds.get("harvested"):
        raise NotAuthorized("该数据资源采集自其他门户,请在来源处修改", "Harvested from another portal; edit it at the source")
    return ds


def _resource_of(ds: dict[str, Any], rid: str) -> dict[str, Any]:
    for r in ds["resources"]:
        if r["id"] == rid:
            return dict(r)
    raise NotFound("未找到资源", "Resource not found")


@router.get("/dataset/{name}/resource/new", response_class=HTMLResponse)
def resource_new(request: Request, name: str) -> Response:
    if request.state.actor is None:
        return login_redirect(request)
    ds = _editable_dataset(request, name)
    return render(request, "resource_form.html", {"ds": ds, "values": {}, "errors": {}, "general": [],
                                                  "nav": "dataset"})


@router.post("/dataset/{name}/resource/new", response_class=HTMLResponse)
async def resource_new_post(request: Request, name: str) -> Response:
    form = await checked_form(request)
    if request.state.actor is None:
        return login_redirect(request)
    file = form.get("file")
    upload = None
    if isinstance(file, UploadFile) and file.filename:
        upload = UploadedFile(filename=file.filename, stream=file.file)
    values = {k: str(form.get(k) or "").strip() for k in ("name", "description", "url", "format")}
    schema_text = str(form.get("schema") or "")
    try:
        schema = parse_table_schema(schema_text)
        created = await acall(request, "resource_create", {"dataset": name, **values, "upload": upload})
        job = created.get("datastore_job")
        if schema is not None and upload is not None:
            # load again with the steward's Table Schema; this version goes live after the automatic one
            job = await acall(request, "datastore_create", {"resource_id": created["id"], "schema": schema})
    except (ValidationError, Conflict) as exc:
        values["schema"] = schema_text
        errors, general = field_errors(exc, lang(request))
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


@router.get("/dataset/{name}/resource/{rid}/edit", response_class=HTMLResponse)
def resource_edit(request: Request, name: str, rid: str) -> Response:
    if request.state.actor is None:
        return login_redirect(request)
    ds = _editable_dataset(request, name)
    res = _resource_of(ds, rid)
    values = {"name": res["name"], "description": res["description"] or "", "format": res["format"] or "",
              "url": res["source_url"] or ""}
    return render(request, "resource_form.html", {"ds": ds, "res": res, "values": values, "errors": {},
                                                  "general": [], "nav": "dataset"})


@router.post("/dataset/{name}/resource/{rid}/edit", response_class=HTMLResponse)
async def resource_edit_post(request: Request, name: str, rid: str) -> Response:
    """Change a resource's name, description, format or link, or replace its file (a replaced table is loaded
    again, with the column types chosen for this resource before)."""
    form = await checked_form(request)
    if request.state.actor is None:
        return login_redirect(request)
    ds = await run_in_threadpool(_editable_dataset, request, name)
    res = _resource_of(ds, rid)
    file = form.get("file")
    values = {k: str(form.get(k) or "").strip() for k in ("name", "description", "url", "format")}
    data: dict[str, Any] = {"id": rid}
    current = {"name": res["name"], "description": res["description"] or "", "format": res["format"] or "",
               "url": res["source_url"] or ""}
    for key in ("name", "description", "format"):
        if values[key] != current[key]:
            data[key] = values[key]
    if not res["uploaded"] and values["url"] != current["url"]:
        data["url"] = values["url"]
    if res["uploaded"] and isinstance(file, UploadFile) and file.filename:
        data["upload"] = UploadedFile(filename=file.filename, stream=file.file)
    try:
        if not data.get("name", "x"):
            raise ValidationError("名称不能为空", "The name cannot be empty",
                                  fields={"name": ["名称不能为空 / the name cannot be empty"]})
        if not res["uploaded"] and "url" in data and not data["url"]:
            raise ValidationError("须提供链接", "Give a link", fields={"url": ["须提供链接 / give a link"]})
        updated = await acall(request, "resource_update", data) if len(data) > 1 else None
    except (ValidationError, Conflict) as exc:
        errors, general = field_errors(exc, lang(request))
        status = exc.status
        return await run_in_threadpool(lambda: render(request, "resource_form.html", {
            "ds": ds, "res": res, "values": values, "errors": errors, "general": general, "nav": "dataset"},
            status=status))
    finally:
        if isinstance(file, UploadFile):
            await file.close()
    target = f"/dataset/{name}/resource/{rid}"
    job = updated.get("datastore_job") if updated else None
    return redirect(f"{target}?job={job['id']}#load-status" if job else target)


@router.get("/dataset/{name}/resource/{rid}/delete", response_class=HTMLResponse)
def resource_delete_confirm(request: Request, name: str, rid: str) -> Response:
    if request.state.actor is None:
        return login_redirect(request)
    ds = _editable_dataset(request, name)
    return render(request, "resource_delete.html", {"ds": ds, "res": _resource_of(ds, rid), "nav": "dataset"})


@router.post("/dataset/{name}/resource/{rid}/delete")
async def resource_delete(request: Request, name: str, rid: str) -> Response:
    await checked_form(request)
    if request.state.actor is None:
        return login_redirect(request)
    ds = await run_in_threadpool(_editable_dataset, request, name)
    _resource_of(ds, rid)
    await acall(request, "resource_delete", {"id": rid})
    return redirect(f"/dataset/{name}#resources")


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
    start = int_param(request.query_params.get("start"), 0)
    result = call(request, "dataset_search", {"filters": {"organization": [slug]}, "rows": ROWS, "start": start,
                                              "sort": "title_string asc",
                                              "include_private": request.state.actor is not None})
    plans = call(request, "plan_list", {"department": slug})
    # data requests routed to the department (issue 15): its summary and the overdue ones, newest first
    data_requests = call(request, "data_request_list", {"department": slug, "overdue": True, "limit": 20})
    pages = {"start": start, "count": result["count"], "page": start // ROWS + 1,
             "last": max(1, (result["count"] + ROWS - 1) // ROWS)}
    if start > 0:
        pages["prev"] = f"/organization/{slug}?start={max(0, start - ROWS)}"
    if start + ROWS < result["count"]:
        pages["next"] = f"/organization/{slug}?start={start + ROWS}"
    return render(request, "organization.html", {
        "dept": dept, "result": result, "plans": plans, "pages": pages, "nav": "organization",
        "may_edit": may_manage(request, slug), "this_year": dt.datetime.now(SH).year,
        "data_requests": data_requests})
