"""Portal pages of the datastore: a resource's live table (preview, column statistics, chart builder, API
examples, downloads), its load status and version history, and the stewards' rollback and reload forms.

The page works without JavaScript at a basic level (the first page of rows, sort links and a filter form are
rendered on the server); ``/static/js/datastore.js`` then drives everything through the native JSON API.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from starlette.datastructures import UploadFile

from cityhub.catalog.schemas import UploadedFile
from cityhub.datastore.coords import detect_points
from cityhub.errors import CityHubError, Conflict, NotAuthorized, NotFound, ValidationError
from cityhub.geo import DATUMS, DISTRICT_NAMES, DISTRICTS, districts_geojson
from cityhub.web import i18n
from cityhub.web.deps import call, lang
from cityhub.web.page_helpers import (
    acall,
    checked_form,
    field_errors,
    int_param,
    login_redirect,
    may_manage,
    parse_table_schema,
    redirect,
    render,
)

router = APIRouter(include_in_schema=False)

PAGE_ROWS = 50
TYPE_LABELS = {"integer": "整数", "number": "数值", "boolean": "布尔", "date": "日期", "datetime": "日期时间",
               "string": "文本"}
TYPE_CHOICES = ("string", "integer", "number", "date", "datetime", "boolean")
PII_LABELS = {"resident_id": "居民身份证号", "mobile": "手机号码", "bank_card": "银行卡号", "email": "电子邮箱"}
STATUS_LABELS = {"queued": "排队中", "running": "导入中", "complete": "已完成", "failed": "失败", "blocked": "已拦截",
                 "typing": "类型核对中", "provisional": "类型暂定"}
STAGE_LABELS = {"start": "准备", "sniff": "识别格式", "decode": "转换编码", "read": "读取", "infer": "推断类型",
                "write": "写入", "pii": "检查个人信息", "done": "完成"}
# wording the script needs (Chinese → shown in the page's language)
JS_TEXT = ("列类型核对失败,类型为暂定,不符合的单元格显示为空。", "加载中…", "共", "行", "无数据", "请求失败", "计数", "合计", "平均", "最小", "最大", "已导入",
           "空值", "不同值", "均值", "最小值", "最大值", "常见值", "次数", "类型", "非空值", "总行数", "是", "否",
           "(空)", "正在刷新…", "地图需要一个行政区列", "没有可画的数据", "图表组件未加载", "其他")
DOWNLOADS = (("csv", False, "CSV"), ("csv", True, "CSV(Excel,UTF-8 BOM)"), ("xlsx", False, "Excel (XLSX)"),
             ("json", False, "JSON"), ("parquet", False, "Parquet"))
_geojson_cache: dict[str, bytes] = {}
# the map previews (templates/_map_preview.html, static/js/map.js): wording the script needs
MAP_TEXT = ("请求失败", "要素", "{n} 个要素", "显示 {n} 个点", "取自前 {n} 行(共 {total} 行)", "{n} 行没有坐标",
            "属性", "无属性", "(空)", "没有可画的点", "地图组件未加载", "经度", "纬度", "点位", "线", "面", "其他")
POINT_SAMPLE = 5000  # most rows a point map fetches
GEO_TABLE_COLUMNS = {"type", "features"}, {"type", "geometry"}  # a GeoJSON .json loaded as a table has these


# -- helpers ----------------------------------------------------------------------------------------------------


def _find_resource(ds: dict[str, Any], rid: str) -> dict[str, Any]:
    for r in ds["resources"]:
        if r["id"] == rid:
            return dict(r)
    raise NotFound("未找到资源", "Resource not found")


def _state_from_query(request: Request, columns: list[dict[str, Any]]) -> dict[str, Any]:
    """The preview's state from the query string (the no-JS form): q, sort, offset, ``filter.<column>``."""
    qp = request.query_params
    names = {c["name"] for c in columns}
    filters = {}
    for key, value in qp.multi_items():
        if key.startswith("filter.") and key[7:] in names and value.strip():
            filters[key[7:]] = value.strip()
    sort = (qp.get("sort") or "").strip()[:1000]
    return {"q": (qp.get("q") or "").strip()[:1000], "sort": sort, "offset": int_param(qp.get("offset"), 0),
            "filters": filters, "limit": PAGE_ROWS}


def _sort_value(column: str, direction: str) -> str:
    """``column asc``; quoted when the name holds spaces, commas or quotes (the script does the same)."""
    if re.fullmatch(r'[^\s",]+', column):
        return f"{column} {direction}"
    return '"' + column.replace('"', '""') + f'" {direction}'


def _parse_sort(sort: str) -> tuple[str, str]:
    """The first ``column asc|desc`` of a sort string (for marking the sorted header)."""
    s = sort.strip()
    if not s:
        return "", ""
    if s.startswith('"'):
        end = s.find('"', 1)
        name, rest = s[1:end], s[end + 1:]
    else:
        name, _, rest = s.rpartition(" ") if " " in s else (s, "", "asc")
    direction = rest.strip().lower() or "asc"
    return name, ("desc" if direction == "desc" else "asc")


def api_examples(base: str, rid: str, state: dict[str, Any], columns: list[dict[str, Any]]) -> dict[str, str]:
    """The same calls the page makes, for copying (the script keeps them in step with the preview)."""
    ckan: list[tuple[str, str]] = [("resource_id", rid)]
    native: list[tuple[str, str]] = []
    if state["filters"]:
        text = json.dumps(state["filters"], ensure_ascii=False, separators=(",", ":"))
        ckan.append(("filters", text))
        native.append(("filters", text))
    if state["q"]:
        ckan.append(("q", state["q"]))
        native.append(("q", state["q"]))
    for pairs in (ckan, native):
        pairs.append(("limit", str(state["limit"])))
        if state["offset"]:
            pairs.append(("offset", str(state["offset"])))
        if state["sort"]:
            pairs.append(("sort", state["sort"]))
    group = next((c["name"] for c in columns if c["type"] == "string"), columns[0]["name"] if columns else "_id")
    sql = f'SELECT "{group}", count(*) FROM "{rid}" GROUP BY 1 ORDER BY 2 DESC'
    return {
        "sql_text": sql,
        "ckan": f"curl '{base}/api/3/action/datastore_search?{urlencode(ckan, quote_via=quote)}'",
        "native": f"curl '{base}/api/v1/resources/{rid}/datastore/search?{urlencode(native, quote_via=quote)}'",
        "sql": (f"curl -X POST '{base}/api/v1/datastore/sql' -H 'Content-Type: application/json' "
                f"-d '{json.dumps({'sql': sql}, ensure_ascii=False)}'"),
        "sql_ckan": f"curl '{base}/api/3/action/datastore_search_sql?{urlencode([('sql', sql)], quote_via=quote)}'",
    }


def download_links(rid: str, state: dict[str, Any] | None = None) -> list[dict[str, str]]:
    extra: list[tuple[str, str]] = []
    if state:
        if state["filters"]:
            extra.append(("filters", json.dumps(state["filters"], ensure_ascii=False, separators=(",", ":"))))
        if state["q"]:
            extra.append(("q", state["q"]))
        if state["sort"]:
            extra.append(("sort", state["sort"]))
    links = []
    for fmt, bom, label in DOWNLOADS:
        params = [("format", fmt)] + ([("bom", "true")] if bom else []) + extra
        links.append({"format": fmt, "bom": "1" if bom else "", "label": label,
                      "href": f"/api/v1/resources/{rid}/datastore/download?{urlencode(params, quote_via=quote)}"})
    return links


def _job(request: Request, version_id: int | None) -> dict[str, Any] | None:
    if version_id is None:
        return None
    try:
        job: dict[str, Any] = call(request, "datastore_job_show", {"version_id": version_id})
    except (NotFound, NotAuthorized):
        return None
    return job


def _message(exc: CityHubError, language: str) -> str:
    return exc.message_en if language == "en" else exc.message


def _geo_preview(res: dict[str, Any], columns: list[dict[str, Any]]) -> str:
    """Whether the resource is previewed as GeoJSON: ``yes`` (a .geojson file), ``maybe`` (a .json file that may
    be GeoJSON: the page asks and keeps quiet if it is not) or ``""``. Only stored files the caller may download
    (the same rule as the preview's API); a link is never fetched."""
    if not res.get("uploaded") or res.get("downloadable") is False:
        return ""
    fmt = (res.get("format") or "").upper()
    if fmt in ("GEOJSON", "GEO+JSON"):
        return "yes"
    names = {c["name"] for c in columns}
    if fmt == "JSON" and (not names or any(cols <= names for cols in GEO_TABLE_COLUMNS)):
        return "maybe"
    return ""


def _point_map(request: Request, rid: str, columns: list[dict[str, Any]], state: dict[str, Any],
               result: dict[str, Any] | None) -> dict[str, Any] | None:
    """The point map of a table whose columns hold coordinates (``datastore.coords``), judged on the preview's
    first page (or on the table's first rows when the filtered page is nearly empty)."""
    if not columns:
        return None
    sample = result["records"] if result else []
    if len(sample) < 5 and (state["filters"] or state["q"]):
        try:
            sample = call(request, "datastore_search", {"resource_id": rid, "limit": PAGE_ROWS})["records"]
        except (ValidationError, NotFound, NotAuthorized):
            return None
    found = detect_points(columns, sample)
    if found is None:
        return None
    used = {found.lng, found.lat, found.column}
    strings = [c["name"] for c in columns if c["type"] == "string" and c["name"] not in used and not c.get("pii")]
    label = next((n for n in strings if re.search(r"名称|名字|name|title|站|点|单位", n, re.IGNORECASE)),
                 strings[0] if strings else None)
    return {**found.as_dict(), "label": label, "limit": POINT_SAMPLE,
            "numeric": [c["name"] for c in columns if c["type"] in ("integer", "number") and c["name"] not in used]}


def _map_config(request: Request, language: str, rid: str, geo: str, points: dict[str, Any] | None) -> str:
    config = {"rid": rid, "lang": language, "geo": geo, "points": points, "datums": list(DATUMS),
              "preview": f"/api/v1/resources/{rid}/preview", "base": "/static-geo/guangzhou.json",
              "district_names": {zh: en for _code, zh, en in DISTRICTS},
              "text": {zh: i18n.t(zh, language) for zh in MAP_TEXT}}
    return json.dumps(config, ensure_ascii=False).replace("<", "\\u003c")


def _resource_page(request: Request, name: str, rid: str, *, errors: dict[str, list[str]] | None = None,
                   general: list[str] | None = None, values: dict[str, str] | None = None,
                   status: int = 200) -> Response:
    language = lang(request)
    ds = call(request, "dataset_show", {"id": name})
    res = _find_resource(ds, rid)
    may_edit = may_manage(request, ds["department"])
    info: dict[str, Any] | None = None
    refused = ""
    try:
        info = call(request, "datastore_info", {"id": rid})
    except NotAuthorized as exc:  # e.g. conditionally open: say what it takes (the visibility rule's message)
        refused = _message(exc, language)
    except NotFound:
        info = None
    columns: list[dict[str, Any]] = info["columns"] if info else []
    live = bool(info and info["current_version"] is not None)
    state = _state_from_query(request, columns)
    result: dict[str, Any] | None = None
    preview_error = ""
    if live:
        try:
            result = call(request, "datastore_search", {"resource_id": rid, "filters": state["filters"],
                                                        "q": state["q"] or None, "sort": state["sort"] or None,
                                                        "limit": PAGE_ROWS, "offset": state["offset"]})
        except ValidationError as exc:
            preview_error = _message(exc, language)
            state.update(filters={}, q="", sort="", offset=0)
            result = call(request, "datastore_search", {"resource_id": rid, "limit": PAGE_ROWS})
    # the load to show: the one asked for (after an upload), else a steward's newest unfinished or failed load
    job_id = int_param(request.query_params.get("job"), 0) or None
    versions = info["versions"] if info else []
    if job_id is None and may_edit and versions:
        newest = versions[0]
        if newest["status"] != "complete" and (info is None or info["current_version"] is None
                                               or newest["version"] > info["current_version"]):
            job_id = newest["id"]
    job = _job(request, job_id)

    geo = _geo_preview(res, columns)
    described = {str(i.get("name")): i.get("description") for i in ds.get("data_items") or []}
    points = (_point_map(request, rid, [{**c, "description": described.get(c["name"])} for c in columns], state,
                         result) if live else None)

    sort_col, sort_dir = _parse_sort(state["sort"])
    base_params = [("q", state["q"])] + [(f"filter.{k}", str(v)) for k, v in state["filters"].items()]

    def href(**over: Any) -> str:
        params = [(k, v) for k, v in base_params if v]
        sort = over.get("sort", state["sort"])
        if sort:
            params.append(("sort", sort))
        offset = over.get("offset", 0)
        if offset:
            params.append(("offset", str(offset)))
        return f"/dataset/{name}/resource/{rid}?{urlencode(params)}#tab-preview" if params else \
            f"/dataset/{name}/resource/{rid}#tab-preview"

    headers = []
    for c in columns:
        direction = "desc" if sort_col == c["name"] and sort_dir == "asc" else "asc"
        headers.append({**c, "sorted": sort_dir if sort_col == c["name"] else "",
                        "href": href(sort=_sort_value(c["name"], direction))})
    pages: dict[str, Any] = {}
    if result is not None:
        total = result["total"] or 0
        pages = {"from": state["offset"] + 1 if result["records"] else 0,
                 "to": state["offset"] + len(result["records"]), "total": total}
        if state["offset"] > 0:
            pages["prev"] = href(offset=max(0, state["offset"] - PAGE_ROWS))
        if state["offset"] + PAGE_ROWS < total:
            pages["next"] = href(offset=state["offset"] + PAGE_ROWS)
    base = str(request.base_url).rstrip("/")
    config = {
        "rid": rid, "dataset": name, "lang": language, "limit": PAGE_ROWS, "live": live,
        "state": {k: state[k] for k in ("q", "sort", "offset", "filters")},
        "columns": [{"name": c["name"], "type": c["type"], "pii": c.get("pii")} for c in columns],
        "districts": list(DISTRICT_NAMES), "base": base,
        "job": {"id": job["id"], "status": job["status"]} if job else None,
        "typing": (info or {}).get("typing"),
        "text": {zh: i18n.t(zh, language) for zh in JS_TEXT},
        "types": {k: i18n.t(v, language) for k, v in TYPE_LABELS.items()},
        "statuses": {k: i18n.t(v, language) for k, v in STATUS_LABELS.items()},
        "stages": {k: i18n.t(v, language) for k, v in STAGE_LABELS.items()},
    }
    kept = {str(f.get("name")): str(f.get("type") or "") for f in ((info or {}).get("kept_schema") or {}).get("fields", [])
            if isinstance(f, dict)}
    type_rows = [{"name": c["name"], "type": c["type"], "chosen": kept.get(c["name"], "")} for c in columns]
    return render(request, "resource.html", {
        "ds": ds, "res": res, "info": info, "live": live, "columns": columns, "headers": headers,
        "result": result, "state": state, "pages": pages, "preview_error": preview_error, "refused": refused, "job": job,
        "may_edit": may_edit, "examples": api_examples(base, rid, state, columns),
        "downloads": download_links(rid), "filtered_downloads": download_links(rid, state),
        "filtered": bool(state["filters"] or state["q"] or state["sort"]),
        "config": json.dumps(config, ensure_ascii=False).replace("<", "\\u003c"),
        "geo": geo, "points": points, "map_config": _map_config(request, language, rid, geo, points),
        "TYPE_LABELS": TYPE_LABELS, "TYPE_CHOICES": TYPE_CHOICES, "type_rows": type_rows, "PII_LABELS": PII_LABELS, "STATUS_LABELS": STATUS_LABELS,
        "STAGE_LABELS": STAGE_LABELS, "errors": errors or {}, "general": general or [], "values": values or {},
        "nav": "dataset"}, status=status)


# -- routes -----------------------------------------------------------------------------------------------------


@router.get("/static-geo/guangzhou.json")
def guangzhou_geojson() -> Response:
    """The 11 districts' boundaries in WGS-84, the base layer of every map (see cityhub/data/NOTICE.md); data in
    GCJ-02 or BD-09 is converted to WGS-84 on the page, never the base layer."""
    if not _geojson_cache:
        _geojson_cache["wgs84"] = districts_geojson().encode("utf-8")
    return Response(_geojson_cache["wgs84"], media_type="application/geo+json",
                    headers={"Cache-Control": "public, max-age=86400"})


@router.get("/dataset/{name}/resource/{rid}", response_class=HTMLResponse)
def resource_page(request: Request, name: str, rid: str) -> Response:
    return _resource_page(request, name, rid)


@router.post("/dataset/{name}/resource/{rid}/rollback")
async def resource_rollback(request: Request, name: str, rid: str) -> Response:
    form = await checked_form(request)
    if request.state.actor is None:
        return login_redirect(request)
    version = int_param(str(form.get("version") or ""), 0)
    try:
        await acall(request, "datastore_rollback", {"resource_id": rid, "version": version})
    except (ValidationError, Conflict) as exc:
        _errors, general = field_errors(exc, lang(request))
        status = exc.status
        return await run_in_threadpool(lambda: _resource_page(request, name, rid, general=general,
                                                              status=status))
    return redirect(f"/dataset/{name}/resource/{rid}#versions")


@router.post("/dataset/{name}/resource/{rid}/datastore", response_class=HTMLResponse)
async def resource_reload(request: Request, name: str, rid: str) -> Response:
    """Load the table again (an uploaded file, or the resource's own file) with an optional Table Schema."""
    form = await checked_form(request)
    if request.state.actor is None:
        return login_redirect(request)
    file = form.get("file")
    values = {"schema": str(form.get("schema") or ""), "encoding": str(form.get("encoding") or "")}
    try:
        schema = parse_table_schema(values["schema"])
        if schema is None and form.get("types_shown"):
            # the per-column choices: an empty choice infers the column; all empty is recorded too (it clears
            # the types kept for this resource)
            names, types = form.getlist("col_name"), form.getlist("col_type")
            schema = {"fields": [{"name": str(n), "type": str(t)} for n, t in zip(names, types, strict=False)
                                 if str(t) in TYPE_CHOICES]}
        upload = None
        if isinstance(file, UploadFile) and file.filename:
            upload = UploadedFile(filename=file.filename, stream=file.file)
        job = await acall(request, "datastore_create", {
            "resource_id": rid, "upload": upload, "schema": schema,
            "encoding": values["encoding"] if values["encoding"] in ("utf-8", "gb18030", "gbk") else None})
    except (ValidationError, Conflict) as exc:
        errors, general = field_errors(exc, lang(request))
        status = exc.status
        return await run_in_threadpool(lambda: _resource_page(request, name, rid, errors=errors, general=general,
                                                              values=values, status=status))
    finally:
        if isinstance(file, UploadFile):
            await file.close()
    return redirect(f"/dataset/{name}/resource/{rid}?job={job['id']}#load-status")
