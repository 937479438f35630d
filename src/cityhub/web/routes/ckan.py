"""CKAN Action API v3 compatibility (``/api/3/action/<name>``) with CKAN's envelope and error types.

Departments are CKAN organizations, themes are CKAN groups; our catalog metadata travels as ``extras``.
"""

from __future__ import annotations

import asyncio
import json
import re
import shlex
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from cityhub import __version__
from cityhub.catalog.schemas import UploadedFile
from cityhub.catalog.vocab import THEME_BY_SLUG
from cityhub.errors import CityHubError, NotFound, ValidationError
from cityhub.settings import get_settings
from cityhub.web.cache import public_responses
from cityhub.web.deps import call, check_csrf

router = APIRouter(prefix="/api/3/action", tags=["ckan"])

FQ_FIELDS = {"organization": "organization", "owner_org": "organization", "groups": "theme", "tags": "tags",
             "res_format": "res_format", "license_id": "license_id", "sharing_class": "sharing_class",
             "opening_class": "opening_class", "update_cycle": "update_cycle", "district": "district",
             "catalog_type": "catalog_type", "theme": "theme"}
FACET_OUT = {v: k for k, v in FQ_FIELDS.items() if k not in ("owner_org", "theme")}
EXTRA_KEYS = ("code", "catalog_type", "base_category", "sharing_class", "sharing_condition", "sharing_basis",
              "opening_class", "opening_condition", "update_cycle", "published_on", "format", "temporal_start",
              "temporal_end", "quality_score", "title_en", "department_uscc")


def _help(request: Request, name: str) -> str:
    return f"{get_settings().base_url.rstrip('/')}/api/3/action/help_show?name={name}"


def ok(request: Request, name: str, result: Any) -> JSONResponse:
    return JSONResponse({"help": _help(request, name), "success": True, "result": result})


def fail(request: Request, name: str, exc: CityHubError) -> JSONResponse:
    error: dict[str, Any] = {"__type": exc.ckan_type, "message": exc.message_en}
    if isinstance(exc, ValidationError):
        error.update(exc.fields)
        status = 409
    else:
        status = {404: 404, 403: 403, 401: 403, 429: 429, 413: 413}.get(exc.status, 400)
    return JSONResponse({"help": _help(request, name), "success": False, "error": error}, status_code=status)


def organization(d: dict[str, Any]) -> dict[str, Any]:
    return {"id": d["slug"], "name": d["slug"], "title": d["name"], "display_name": d["name"],
            "description": d.get("description", ""), "type": "organization", "is_organization": True,
            "state": "active", "image_url": "", "created": d.get("created_at"), "approval_status": "approved",
            "package_count": d.get("dataset_count", 0),
            "extras": [{"key": "uscc", "value": d["uscc"]}, {"key": "level", "value": d["level"]},
                       {"key": "short_name", "value": d["short_name"]}, {"key": "name_en", "value": d["name_en"]}]}


def group(slug: str, count: int | None = None) -> dict[str, Any]:
    t = THEME_BY_SLUG.get(slug, (slug, slug, slug))
    out: dict[str, Any] = {"id": slug, "name": slug, "title": t[1], "display_name": t[1], "description": t[2],
                           "type": "group", "is_organization": False, "state": "active", "image_url": ""}
    if count is not None:
        out["package_count"] = count
    return out


def package(d: dict[str, Any]) -> dict[str, Any]:
    """A dataset in CKAN's package shape."""
    resources = [
        {"id": r["id"], "package_id": str(d["id"]), "name": r["name"], "description": r["description"],
         "url": r["url"], "format": r["format"], "mimetype": r["media_type"], "size": r["size"],
         "hash": f"sha256:{r['sha256']}" if r["sha256"] else "", "created": r["created_at"],
         "last_modified": r["modified_at"], "position": r["position"], "state": "active",
         "url_type": "upload" if r["uploaded"] else None, "datastore_active": r.get("datastore_active", False)}
        for r in d.get("resources", [])
    ]
    org = {"id": d["department"], "name": d["department"], "title": d["department_name"],
           "type": "organization", "is_organization": True, "state": "active"}
    return {
        "id": str(d["id"]),
        "name": d["name"],
        "title": d["title"],
        "notes": d["abstract"],
        "type": "dataset",
        "state": d["state"],
        "private": d["private"],
        "owner_org": d["department"],
        "organization": org,
        "groups": [group(d["theme"])],
        "tags": [{"name": t, "display_name": t, "state": "active"} for t in d["tags"]],
        "num_tags": len(d["tags"]),
        "resources": resources,
        "num_resources": len(resources),
        "license_id": d["license_id"],
        "license_title": d["license_title"],
        "license_url": d["license_url"],
        "metadata_created": d["created_at"],
        "metadata_modified": d["modified_at"],
        "maintainer": d.get("contact_name", ""),
        "maintainer_email": d.get("contact_email", ""),
        "author": d["department_name"],
        "author_email": "",
        "url": f"{get_settings().base_url.rstrip('/')}/dataset/{d['name']}",
        "version": "",
        "extras": [{"key": k, "value": "" if d.get(k) is None else str(d.get(k))} for k in EXTRA_KEYS]
        + [{"key": "districts", "value": json.dumps(d["districts"], ensure_ascii=False)},
           {"key": "sharing_method", "value": json.dumps(d["sharing_method"], ensure_ascii=False)}],
    }


def parse_fq(fq: str) -> tuple[dict[str, list[str]], list[str]]:
    """``organization:a tags:"x y" res_format:CSV`` → facet filters; unknown clauses become text."""
    filters: dict[str, list[str]] = {}
    rest: list[str] = []
    try:
        parts = shlex.split(fq)
    except ValueError:
        raise ValidationError("fq 语法错误", "Malformed fq", fields={"fq": ["unbalanced quotes"]}) from None
    for part in parts:
        m = re.match(r"^\+?([A-Za-z_]+):(.+)$", part)
        if m and m.group(1) in FQ_FIELDS:
            filters.setdefault(FQ_FIELDS[m.group(1)], []).append(m.group(2).strip('"'))
        elif part not in ("AND", "+"):
            rest.append(part)
    return filters, rest


def _params(request: Request, body: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = dict(request.query_params)
    params.update(body)
    return params


def _int(params: dict[str, Any], key: str, default: int, lo: int, hi: int) -> int:
    raw = params.get(key, default)
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ValidationError(f"{key} 须为整数", f"{key} must be an integer", fields={key: ["Invalid integer"]}) from None
    if not lo <= value <= hi:
        raise ValidationError(f"{key} 超出范围", f"{key} out of range", fields={key: [f"must be {lo}..{hi}"]})
    return value


def _facet_fields(raw: Any) -> list[str]:
    if raw is None or raw == "":
        return []
    if isinstance(raw, list):
        fields = raw
    else:
        try:
            fields = json.loads(raw)
        except json.JSONDecodeError:
            fields = [raw]
    if not isinstance(fields, list):
        raise ValidationError("facet.field 须为列表", "facet.field must be a JSON list")
    return [FQ_FIELDS.get(str(f), str(f)) for f in fields]


def package_search(request: Request, p: dict[str, Any]) -> dict[str, Any]:
    q = str(p.get("q", "") or "")
    filters, rest = parse_fq(str(p.get("fq", "") or ""))
    qf, qrest = parse_fq(q) if ":" in q and q.strip() != "*:*" else ({}, [q] if q.strip() != "*:*" else [])
    for k, v in qf.items():
        filters.setdefault(k, []).extend(v)
    text = " ".join(qrest + rest).strip()
    rows = _int(p, "rows", 10, 0, 1000)
    start = _int(p, "start", 0, 0, 1_000_000)
    facets = _facet_fields(p.get("facet.field"))
    unknown = [f for f in facets if f not in FACET_OUT]
    if unknown:
        raise ValidationError("未知分面字段", "Unknown facet field", fields={"facet.field": unknown})
    sort = str(p.get("sort", "") or ("score desc" if text else "metadata_modified desc")).split(",")[0].strip()
    include_private = str(p.get("include_private", "false")).lower() == "true"
    result = call(request, "dataset_search", {
        "q": text, "filters": filters, "rows": rows, "start": start, "sort": sort, "facet_fields": facets,
        "facet_limit": _int(p, "facet.limit", 50, 1, 1000), "include_private": include_private, "full": True},
        via="api")
    full = result["results"]
    search_facets = {}
    plain = {}
    for fld, items in result["facets"].items():
        name = FACET_OUT.get(fld, fld)
        search_facets[name] = {"title": name, "items": items}
        plain[name] = {i["name"]: i["count"] for i in items}
    return {"count": result["count"], "sort": sort, "results": [package(d) for d in full], "facets": plain,
            "search_facets": search_facets}


def _id(p: dict[str, Any], key: str = "id") -> str:
    value = p.get(key) or p.get("name")
    if not value:
        raise ValidationError(f"缺少参数 {key}", f"Missing value: {key}", fields={key: ["Missing value"]})
    return str(value)


def organization_list(request: Request, p: dict[str, Any]) -> list[Any]:
    depts = call(request, "department_list", {}, via="api")
    if str(p.get("all_fields", "false")).lower() == "true":
        return [organization(d) for d in depts]
    return [d["slug"] for d in depts]


def organization_show(request: Request, p: dict[str, Any]) -> dict[str, Any]:
    ref = _id(p)
    depts = {d["slug"]: d for d in call(request, "department_list", {}, via="api")}
    if ref not in depts:
        raise NotFound("未找到组织", "Organization not found")
    org = organization(depts[ref])
    if str(p.get("include_datasets", "false")).lower() == "true":
        res = call(request, "dataset_search", {"filters": {"organization": [ref]}, "rows": 1000, "full": True},
                   via="api")
        org["packages"] = [package(d) for d in res["results"]]
    return org


def group_list(request: Request, p: dict[str, Any]) -> list[Any]:
    themes = call(request, "theme_list", {}, via="api")
    if str(p.get("all_fields", "false")).lower() == "true":
        return [group(t["name"], t["package_count"]) for t in themes]
    return [t["name"] for t in themes]


def group_show(request: Request, p: dict[str, Any]) -> dict[str, Any]:
    ref = _id(p)
    if ref not in THEME_BY_SLUG:
        raise NotFound("未找到分组", "Group not found")
    counts = {t["name"]: t["package_count"] for t in call(request, "theme_list", {}, via="api")}
    return group(ref, counts.get(ref, 0))


def package_show(request: Request, p: dict[str, Any]) -> dict[str, Any]:
    d = call(request, "dataset_show", {"id": _id(p)}, via="api")
    call(request, "usage_record", {"dataset_id": d["id"], "kind": "api_calls"}, via="api")
    return package(d)


def status_show(request: Request, p: dict[str, Any]) -> dict[str, Any]:
    s = get_settings()
    return {"ckan_version": "2.10.0", "cityhub_version": __version__, "site_title": s.site_title,
            "site_url": s.base_url, "site_description": f"{s.city_name}公共数据开放平台", "locale_default": "zh_Hans_CN",
            "extensions": ["cityhub", "datastore"]}


CKAN_TYPES = {"integer": "int", "number": "numeric", "string": "text", "date": "date", "datetime": "timestamp",
              "boolean": "bool"}


def _ckan_fields(fields: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"id": f["id"], "type": CKAN_TYPES.get(f["type"], f["type"])} for f in fields]


def _list_param(raw: Any) -> list[str] | None:
    if raw in (None, ""):
        return None
    if isinstance(raw, list):
        return [str(x) for x in raw]
    text = str(raw)
    if text.startswith("["):
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            raise ValidationError("fields 格式错误", "fields must be a list", fields={"fields": ["invalid"]}) from None
        return [str(x) for x in value]
    return [f.strip() for f in text.split(",") if f.strip()]


def _dict_param(raw: Any, name: str) -> dict[str, Any]:
    if raw in (None, ""):
        return {}
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(str(raw))
    except json.JSONDecodeError:
        raise ValidationError(f"{name} 须为 JSON 对象", f"{name} must be a JSON object", fields={name: ["invalid"]}) from None
    if not isinstance(value, dict):
        raise ValidationError(f"{name} 须为 JSON 对象", f"{name} must be a JSON object", fields={name: ["invalid"]})
    return value


def _bool(p: dict[str, Any], key: str, default: bool) -> bool:
    raw = p.get(key, default)
    return raw if isinstance(raw, bool) else str(raw).lower() in ("true", "1", "yes")


def datastore_search(request: Request, p: dict[str, Any]) -> dict[str, Any]:
    rid = str(p.get("resource_id") or p.get("id") or "")
    if not rid:
        raise ValidationError("缺少参数 resource_id", "Missing value: resource_id", fields={"resource_id": ["Missing value"]})
    q = p.get("q")
    if isinstance(q, str) and q.startswith("{"):
        q = _dict_param(q, "q")
    out = call(request, "datastore_search", {
        "resource_id": rid, "filters": _dict_param(p.get("filters"), "filters"), "q": q or None,
        "fields": _list_param(p.get("fields")), "sort": p.get("sort") or None,
        "limit": _int(p, "limit", 100, 0, 1_000_000), "offset": _int(p, "offset", 0, 0, 10**12),
        "include_total": _bool(p, "include_total", True), "distinct": _bool(p, "distinct", False),
        "records_format": p.get("records_format", "objects"), "cursor": p.get("cursor") or None}, via="api")
    base = f"/api/3/action/datastore_search?resource_id={out['resource_id']}"
    result = {"resource_id": out["resource_id"], "fields": _ckan_fields(out["fields"]), "records": out["records"],
              "limit": out["limit"], "offset": out["offset"], "records_format": p.get("records_format", "objects"),
              "include_total": _bool(p, "include_total", True),
              "_links": {"start": base, "next": f"{base}&offset={out['offset'] + out['limit']}"}}
    if out.get("total") is not None:
        result["total"] = out["total"]
        result["total_was_estimated"] = False
    if out.get("next_cursor"):
        result["next_cursor"] = out["next_cursor"]
    return result


def datastore_search_sql(request: Request, p: dict[str, Any]) -> dict[str, Any]:
    sql = p.get("sql")
    if not sql:
        raise ValidationError("缺少参数 sql", "Missing value: sql", fields={"sql": ["Missing value"]})
    out = call(request, "datastore_search_sql", {"sql": str(sql)}, via="api")
    return {"sql": sql, "records": out["records"], "fields": _ckan_fields(out["fields"]),
            "records_truncated": out.get("truncated", False)}


def datastore_info(request: Request, p: dict[str, Any]) -> dict[str, Any]:
    info = call(request, "datastore_info", {"id": str(p.get("id") or p.get("resource_id") or "")}, via="api")
    return {"meta": {"id": info["resource_id"], "count": info["rows"], "table_type": "BASE TABLE",
                     "version": info["current_version"]},
            "fields": [{"id": c["name"], "type": CKAN_TYPES.get(c["type"], c["type"]),
                        "schema": {"native_type": c["type"], "is_index": False},
                        "info": {"label": c.get("source_name", c["name"]), "pii": c.get("pii")}}
                       for c in info["columns"]]}


def resource_show(request: Request, p: dict[str, Any]) -> dict[str, Any]:
    r = call(request, "resource_show", {"id": _id(p)}, via="api")
    d = call(request, "dataset_show", {"id": str(r["dataset_id"])}, via="api")
    return next(x for x in package(d)["resources"] if x["id"] == r["id"])


def _resource_out(request: Request, created: dict[str, Any]) -> dict[str, Any]:
    out = resource_show(request, {"id": created["id"]})
    if created.get("datastore_job"):
        out["datastore_job"] = created["datastore_job"]
    return out


def resource_create(request: Request, p: dict[str, Any]) -> dict[str, Any]:
    check_csrf(request, None)
    upload = p.get("upload")
    created = call(request, "resource_create", {
        "dataset": _id(p, "package_id"), "name": str(p.get("name", "")), "description": str(p.get("description", "")),
        "url": "" if upload is not None else str(p.get("url", "")), "format": str(p.get("format", "")),
        "upload": upload}, via="api")
    return _resource_out(request, created)


def resource_update(request: Request, p: dict[str, Any]) -> dict[str, Any]:
    check_csrf(request, None)
    data: dict[str, Any] = {"id": _id(p)}
    for key in ("name", "description", "format"):
        if key in p:
            data[key] = str(p[key])
    if p.get("upload") is not None:
        data["upload"] = p["upload"]
    elif p.get("url"):
        data["url"] = str(p["url"])
    return _resource_out(request, call(request, "resource_update", data, via="api"))


WRITES = {"resource_create": resource_create, "resource_update": resource_update}


READS = {
    "status_show": status_show,
    "site_read": lambda r, p: True,
    "package_list": lambda r, p: call(r, "dataset_list", {"limit": _int(p, "limit", 100000, 1, 100000),
                                                           "offset": _int(p, "offset", 0, 0, 10**9)}, via="api"),
    "package_search": package_search,
    "package_show": package_show,
    "organization_list": organization_list,
    "organization_show": organization_show,
    "group_list": group_list,
    "group_show": group_show,
    "tag_list": lambda r, p: call(r, "tag_list", {"limit": 100000}, via="api"),
    "resource_show": resource_show,
    "datastore_search": datastore_search,
    "datastore_search_sql": datastore_search_sql,
    "datastore_info": datastore_info,
}


async def _body(request: Request) -> dict[str, Any]:
    if request.method != "POST":
        return {}
    ctype = request.headers.get("content-type", "")
    if "application/json" in ctype:
        try:
            data = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ValidationError("请求体不是合法的JSON", "Request body is not valid JSON") from None
        if not isinstance(data, dict):
            raise ValidationError("请求体须为JSON对象", "Request body must be a JSON object")
        return data
    if "form" in ctype:
        form = await request.form()
        out: dict[str, Any] = {}
        for key, value in form.items():
            if isinstance(value, str):
                out[key] = value
            elif key == "upload":  # a multipart file, as CKAN clients send it
                out[key] = UploadedFile(filename=value.filename or "upload", stream=value.file)
        return out
    return {}


@router.get("/{name}", summary="CKAN action (GET)", operation_id="ckan_action_get")
async def ckan_action_get(request: Request, name: str) -> Response:
    return await ckan_action(request, name)


@router.post("/{name}", summary="CKAN action (POST, JSON or form body)", operation_id="ckan_action_post")
async def ckan_action_post(request: Request, name: str) -> Response:
    return await ckan_action(request, name)


async def ckan_action(request: Request, name: str) -> Response:
    fn = READS.get(name) or (WRITES.get(name) if request.method == "POST" else None)
    if fn is None:
        return fail(request, name, NotFound(f"未知操作 {name}", f"Action name not known: {name}"))
    try:
        params = _params(request, await _body(request))
        if name == "package_show" and request.state.actor is None:
            return await cached_package_show(request, params)
        result = await asyncio.to_thread(fn, request, params)
    except CityHubError as exc:
        return fail(request, name, exc)
    return ok(request, name, result)


_show_cache = public_responses


async def cached_package_show(request: Request, params: dict[str, Any]) -> Response:
    """package_show for anonymous callers: public datasets are served from the stamped cache."""
    ref = _id(params)
    if _show_cache.needs_check():
        await asyncio.to_thread(_show_cache.check)
    hit = _show_cache.get(ref)
    if hit is not None:
        call(request, "usage_record", {"dataset_id": hit[0], "kind": "api_calls"}, via="api")
        return Response(hit[1], media_type="application/json")
    return await asyncio.to_thread(_build_package_show, request, params, ref)


def _build_package_show(request: Request, params: dict[str, Any], ref: str) -> Response:
    stamp = _show_cache.stamp
    d = call(request, "dataset_show", {"id": ref}, via="api")
    call(request, "usage_record", {"dataset_id": d["id"], "kind": "api_calls"}, via="api")
    body = json.dumps({"help": _help(request, "package_show"), "success": True, "result": package(d)},
                      ensure_ascii=False, separators=(",", ":")).encode()
    if not d["private"] and d["opening_class"] != "不予开放":
        _show_cache.put(ref, d["id"], body, stamp)
    return Response(body, media_type="application/json")
