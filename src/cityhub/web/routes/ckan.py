"""CKAN Action API v3 compatibility (``/api/3/action/<name>`` and ``/api/action/<name>``) with CKAN's envelope,
error types and HTTP codes, so CKAN clients (``ckanapi``, CKAN harvesters, scripts) work unchanged.

Departments are CKAN organizations, themes are CKAN groups; our catalog metadata travels as ``extras``. The
package ↔ dataset mapping is the pure module :mod:`cityhub.interop.ckan_map`; every read and write here is
one or more registered actions (validate → authorize → do → audit), this module only translates shapes.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from cityhub import __version__
from cityhub.catalog import solr
from cityhub.catalog.schemas import UploadedFile
from cityhub.errors import CityHubError, Conflict, NotAuthorized, NotFound, ValidationError
from cityhub.interop import ckan_map
from cityhub.interop.ckan_map import group, organization
from cityhub.settings import get_settings
from cityhub.web.base_url import base_url_of
from cityhub.web.cache import public_responses
from cityhub.web.deps import Gate, call, check_csrf

router = APIRouter(tags=["ckan"])
PREFIXES = ("/api/3/action", "/api/action")

FQ_FIELDS = {"organization": "organization", "owner_org": "organization", "groups": "theme", "tags": "tags",
             "res_format": "res_format", "license_id": "license_id", "sharing_class": "sharing_class",
             "opening_class": "opening_class", "update_cycle": "update_cycle", "district": "district",
             "catalog_type": "catalog_type", "theme": "theme"}
FACET_OUT = {v: k for k, v in FQ_FIELDS.items() if k not in ("owner_org", "theme")}
EXTRA_KEYS = ckan_map.EXTRA_KEYS
# our input field → the CKAN field a client sent it as (for per-field error messages)
CKAN_FIELD = {"abstract": "notes", "department": "owner_org", "contact_name": "maintainer",
              "contact_email": "maintainer_email", "__all__": "extras", "dataset": "package_id"}
# CKAN organization capacity → our role
MEMBER_ROLES = {"member": "analyst", "editor": "steward", "admin": "dept_admin"}
ROLE_CAPACITY = {v: k for k, v in MEMBER_ROLES.items()} | {"platform_admin": "admin"}


class BadRequest(Exception):
    """A request CKAN answers with ``400 "Bad request - …"`` (a bare JSON string, not the envelope)."""


# the public base URL of the request being answered (set by ``ckan_action``; read by ``package()``)
_BASE: contextvars.ContextVar[str | None] = contextvars.ContextVar("ckan_base_url", default=None)


def _base() -> str:
    return _BASE.get() or get_settings().base_url.rstrip("/")


def _help(request: Request, name: str) -> str:
    """CKAN's ``help`` link: ``url_for('api.action', logic_function='help_show', ver=3, name=…, _external=True)``."""
    return f"{_base()}/api/3/action/help_show?name={name}"


def ok(request: Request, name: str, result: Any) -> JSONResponse:
    return JSONResponse({"help": _help(request, name), "success": True, "result": result})


def bad_request(message: str) -> JSONResponse:
    """CKAN's ``_finish_bad_request``: status 400 and the JSON string ``"Bad request - <message>"``."""
    return JSONResponse(f"Bad request - {message}", status_code=400)


def ckan_fields(fields: dict[str, list[str]]) -> dict[str, list[str]]:
    """Our per-field messages keyed by the CKAN field names the client used."""
    out: dict[str, list[str]] = {}
    for key, messages in fields.items():
        name = CKAN_FIELD.get(key, key)
        out.setdefault(name, []).extend(messages if isinstance(messages, list) else [str(messages)])
    return out


def ckan_error(exc: CityHubError) -> tuple[dict[str, Any], int]:
    """The CKAN ``error`` object and HTTP status for one of our errors (as ``ckan/views/api.py`` builds them)."""
    if exc.status in (401, 403):
        return {"__type": "Authorization Error", "message": f"Access denied: {exc.message_en}"}, 403
    if exc.status == 404:
        return {"__type": "Not Found Error", "message": f"Not found: {exc.message_en}"}, 404
    if exc.status == 429:
        return {"__type": "Authorization Error", "message": f"Access denied: {exc.message_en}"}, 429
    if exc.ckan_type == "Search Query Error":  # ckan/views/api.py: 'Search Query is invalid: %r' % e.args
        return {"__type": exc.ckan_type, "message": f"Search Query is invalid: {(exc.message_en,)!r}"}, 400
    if exc.ckan_type == "Search Error":
        return {"__type": exc.ckan_type, "message": f"Search error: {(exc.message_en,)!r}"}, 409
    error: dict[str, Any] = ckan_fields(exc.fields) if exc.fields else {"message": exc.message_en}
    error["__type"] = "Validation Error"
    return error, 413 if exc.status == 413 else 409


def fail(request: Request, name: str, exc: CityHubError) -> JSONResponse:
    error, status = ckan_error(exc)
    return JSONResponse({"help": _help(request, name), "success": False, "error": error}, status_code=status)


def is_ckan_path(path: str) -> bool:
    """Whether ``path`` is a CKAN Action API URL (errors there take CKAN's shape)."""
    return any(path.startswith(prefix + "/") for prefix in PREFIXES)


def error_response(request: Request, exc: CityHubError) -> JSONResponse:
    """A CKAN-shaped error for a failure before the action runs (e.g. a revoked token in the middleware)."""
    name = request.url.path.rsplit("/", 1)[-1]
    error, status = ckan_error(exc)
    return JSONResponse({"help": f"{base_url_of(request)}/api/3/action/help_show?name={name}", "success": False,
                         "error": error}, status_code=status)


def package(d: dict[str, Any]) -> dict[str, Any]:
    """A dataset in CKAN's package shape."""
    return ckan_map.package(d, _base())


def _params(request: Request, body: dict[str, Any]) -> dict[str, Any]:
    """The URL parameters as CKAN's ``_get_request_data`` reads them (``mixed``: a repeated key is a list), with
    the body's keys over them."""
    params: dict[str, Any] = {}
    for key in request.query_params:
        values = request.query_params.getlist(key)
        params[key] = values[0] if len(values) == 1 else values
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


class SearchQueryError(ValidationError):
    """CKAN's ``SearchQueryError`` (400 ``Search Query Error``): a ``sort`` without ``asc``/``desc``."""

    ckan_type = "Search Query Error"


class SearchError(ValidationError):
    """CKAN's ``SearchError`` (409 ``Search Error``): what Solr refuses, e.g. a sort on an unknown field."""

    ckan_type = "Search Error"


def _fq_list(raw: Any) -> list[str]:
    if raw is None or raw == "":
        return []
    items = raw if isinstance(raw, list) else [raw]
    if not all(isinstance(i, str) for i in items):
        raise ValidationError("fq_list 须为字符串列表", "fq_list must be a list of strings",
                              fields={"fq_list": ["Not a list of strings"]})
    return list(items)


def _text_param(p: dict[str, Any], key: str) -> str | None:
    value = p.get(key)
    if value is None:
        return None
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise ValidationError(f"{key} 须为字符串", f"{key} must be a string", fields={key: ["Must be a string"]})
    return str(value)


def package_search(request: Request, p: dict[str, Any]) -> dict[str, Any]:
    """CKAN ``package_search``: ``q`` and ``fq`` / ``fq_list`` in the Lucene/Solr syntax CKAN clients send (field
    names as CKAN's; see docs/ckan.md), ``sort`` (``field asc|desc, …``; default ``score desc,
    metadata_modified desc``), ``rows`` ≤ 1000, ``start``, ``facet.field``, ``facet.limit`` (-1: all, up to 1000),
    ``include_private``; ``defType`` and ``mm`` as Solr reads them."""
    try:
        sort, index_sort = ckan_map.search_sort(_text_param(p, "sort"))
    except solr.SortError as exc:
        if exc.kind == "order":
            raise SearchQueryError("排序参数不合法(须为 字段 asc|desc)", str(exc), fields={"sort": [str(exc)]}) from None
        raise SearchError(f"不能按 {exc.item} 排序", str(exc), fields={"sort": [str(exc)]}) from None
    include_private = _bool(p, "include_private", False)
    try:
        where = ckan_map.search_queries(
            _text_param(p, "q"), _text_param(p, "fq"), _fq_list(p.get("fq_list")), include_private=include_private,
            include_drafts=_bool(p, "include_drafts", False), include_deleted=_bool(p, "include_deleted", False),
            def_type=_text_param(p, "defType"), mm=_text_param(p, "mm"))
    except solr.QueryError as exc:
        raise ValidationError(f"{exc.param} 中的子句 {exc.clause} 不受支持或有误:{exc.reason_zh}",
                              f"{exc.param}: {exc.reason}: {exc.clause}",
                              fields={exc.param: [f"{exc.reason}: {exc.clause}"]}) from None
    rows = _capped(p, "rows", 10, get_settings().search_rows_max)  # CKAN caps (limit_to_configured_maximum)
    start = _int(p, "start", 0, 0, 1_000_000)
    facets = _facet_fields(p.get("facet.field"))
    unknown = [f for f in facets if f not in FACET_OUT]
    if unknown:
        raise ValidationError("未知分面字段", "Unknown facet field", fields={"facet.field": unknown})
    facet_limit = _int(p, "facet.limit", 50, -1, 1000)
    # visibility is the caller's (CKAN's permission labels); capacity:public is a clause of fq, as in CKAN
    result = call(request, "dataset_search", {
        "where": [{"param": param, "query": solr.to_json(tree)} for param, tree in where], "rows": rows,
        "start": start, "sort": index_sort, "facet_fields": facets,
        "facet_limit": 1000 if facet_limit <= 0 else facet_limit, "include_private": True,
        # CKAN's include_drafts: the caller's unpublished datasets too (its department's; all for admins)
        "include_drafts": _bool(p, "include_drafts", False), "full": True, "quality": False}, via="api")
    search_facets = {}
    plain = {}
    for fld, items in result["facets"].items():
        name = FACET_OUT.get(fld, fld)
        search_facets[name] = {"title": name, "items": items}
        plain[name] = {i["name"]: i["count"] for i in items}
    return {"count": result["count"], "sort": sort, "results": [package(d) for d in result["results"]],
            "facets": plain, "search_facets": search_facets}


def current_package_list_with_resources(request: Request, p: dict[str, Any]) -> list[dict[str, Any]]:
    """Return a list of the site's datasets (packages) and their resources, most recently modified first.

    :param limit: datasets per page (default 10; capped at 1000 as ``package_search`` caps ``rows``)
    :param offset: the first dataset returned
    :param page: deprecated: with ``limit``, the page (from 1) when no ``offset`` is given
    Private datasets are listed for platform admins only (CKAN: ``include_private`` for sysadmins).
    """
    limit = _natural(p, "limit")
    offset = _natural(p, "offset") or 0
    if "offset" not in p and "page" in p:
        page = _natural(p, "page")
        if page is not None and page < 1:
            raise ValidationError("page 须为正整数", "page: Must be a positive integer",
                                  fields={"page": ["Must be a positive integer"]})
        offset = (page - 1) * limit if limit and page else 0
    rows = min(10 if limit is None else limit, get_settings().search_rows_max)
    actor = getattr(request.state, "actor", None)
    result = call(request, "dataset_search", {"rows": rows, "start": offset, "sort": "metadata_modified desc",
                                              "include_private": actor is not None and actor.is_admin,
                                              "full": True, "quality": False}, via="api")
    return [package(d) for d in result["results"]]


def package_list(request: Request, p: dict[str, Any]) -> list[str]:
    """Return a list of the names of the site's public datasets (packages), by name.

    :param limit: if given, at most this many names (a page); 0 or none: all
    :param offset: when ``limit`` is given, the first name returned
    :rtype: list of strings
    """
    limit = _natural(p, "limit") or None
    offset = _natural(p, "offset") or 0
    out: list[str] = []
    while limit is None or len(out) < limit:  # our dataset_list pages at 100,000; CKAN's has no ceiling
        chunk = PACKAGE_LIST_CHUNK if limit is None else min(PACKAGE_LIST_CHUNK, limit - len(out))
        names = call(request, "dataset_list", {"limit": chunk, "offset": offset + len(out)}, via="api")
        out += names
        if len(names) < chunk:
            break
    return out


PACKAGE_LIST_CHUNK = 100_000


def site_read(request: Request, p: dict[str, Any]) -> bool:
    """Return ``True`` (the site may be read)."""
    return True


def _id(p: dict[str, Any], key: str = "id") -> str:
    value = p.get(key) or p.get("name")
    if not value or not isinstance(value, (str, int)):
        raise ValidationError(f"缺少参数 {key}", f"Missing value: {key}", fields={key: ["Missing value"]})
    return str(value)


def show_dataset(request: Request, ref: str, include_deleted: bool = False,
                 action: str = "dataset_show") -> dict[str, Any]:
    """The dataset a CKAN client names by package id (see :func:`ckan_map.package_id`) or by name.

    A bare number is a name here, never our row id: CKAN ids are UUIDs, and a row id from another
    instance's dump must not find one of ours. ``action="dataset_record"`` reads it without the quality
    report and without ORM objects (enough for :func:`package`)."""
    parsed = ckan_map.parse_package_id(ref)
    data: dict[str, Any] = {"id": str(parsed[0]) if parsed else ref}
    if include_deleted:
        data["include_deleted"] = True
    d: dict[str, Any] = call(request, action, data, via="api")
    if (parsed and not ckan_map.same_instant(d["created_at"], parsed[1])) or (not parsed and d["name"] != ref):
        raise NotFound(f"未找到数据资源 {ref}", f"Dataset not found: {ref}")
    return d


def _packages_of(request: Request, field: str, ref: str, include_private: bool = False) -> list[dict[str, Any]]:
    """Up to ``ckan.search.rows_max`` (1,000) packages of an organization or group, newest first."""
    res = call(request, "dataset_search", {"filters": {field: [ref]}, "rows": get_settings().search_rows_max,
                                           "full": True, "quality": False, "include_private": include_private,
                                           "sort": "metadata_modified desc"}, via="api")
    return [package(d) for d in res["results"]]


def _ckan_int(raw: Any, key: str) -> int:
    """CKAN's ``int_validator``: an integer, a whole float, or a string of one."""
    if isinstance(raw, bool):
        return int(raw)
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    try:
        return int(str(raw).strip())
    except ValueError:
        raise ValidationError(f"{key} 须为整数", f"{key}: Invalid integer", fields={key: ["Invalid integer"]}) from None


def _natural(p: dict[str, Any], key: str) -> int | None:
    """CKAN's ``[ignore_missing, natural_number_validator]``: ``None`` when absent or empty."""
    raw = p.get(key)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    value = _ckan_int(raw, key)
    if value < 0:
        raise ValidationError(f"{key} 须为非负整数", f"{key}: Must be a natural number",
                              fields={key: ["Must be a natural number"]})
    return value


def _capped(p: dict[str, Any], key: str, default: int, maximum: int) -> int:
    """A natural number that CKAN caps rather than refuses (``limit_to_configured_maximum``)."""
    value = _natural(p, key)
    return min(default if value is None else value, maximum)


def _names_param(raw: Any) -> list[str] | None:
    """``organizations`` / ``groups``: a list, or a comma-separated string (``aslist(sep=",")``)."""
    if raw in (None, "", []):
        return None
    items = raw if isinstance(raw, list) else str(raw).split(",")
    return [str(i).strip() for i in items if str(i).strip()]


def _group_sort(p: dict[str, Any]) -> tuple[str, str]:
    """``_group_or_org_list``'s sort: ``sort`` (or the deprecated ``order_by``), default ``ckan.default_group_sort``
    (title); ``packages`` / ``package_count`` alone sort descending; one criterion of name, title, package_count
    (``_unpick_search(..., allowed_fields=[...], total=1)``)."""
    sort = str(p.get("sort") or p.get("order_by") or "title")
    if sort.strip() in ("packages", "package_count"):
        sort = "package_count desc"
    parts = sort.split(",")
    picked = []
    for part in parts:
        words = part.strip().split()
        if not words:
            raise ValidationError("排序为空", "Empty sort criterion")
        field, order = words[0], (words[1].lower() if len(words) > 1 else "asc")
        if field not in ("name", "packages", "package_count", "title"):
            raise ValidationError(f"不能按 {field} 排序", f"Cannot sort by field `{field}`")
        if order not in ("asc", "desc"):
            raise ValidationError(f"排序方向无效 {order}", f"Invalid sort direction `{order}`")
        picked.append(("package_count" if field == "packages" else field, order))
    if len(picked) > 1:
        raise ValidationError("只能按一个字段排序", "Too many sort criteria provided only 1 allowed")
    return picked[0]


def _group_list(request: Request, p: dict[str, Any], action: str, names_key: str,
                shape: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]) -> list[Any]:
    """``_group_or_org_list``: ``limit`` / ``offset`` (natural numbers, validated only when given), ``limit`` capped
    at ``ckan.group_and_organization_list_max`` (``…_all_fields_max`` with ``all_fields``), ``sort``, ``q``, the
    names filter, names or whole dicts. As in CKAN, a JSON ``0`` limit means no limit and a query-string ``0`` an
    empty page (CKAN tests ``if limit:`` on the value as sent)."""
    settings = get_settings()
    all_fields = _bool(p, "all_fields", False)
    maximum = settings.ckan_group_list_all_fields_max if all_fields else settings.ckan_group_list_max
    raw_limit = p.get("limit")
    if raw_limit is None or raw_limit == "":
        limit = None
    elif not isinstance(raw_limit, str) and not raw_limit:
        limit = 0  # a JSON 0: CKAN neither validates it (``if limit:``) nor applies it
    else:
        limit = _natural(p, "limit")
    offset = (_natural(p, "offset") or 0) if p.get("offset") else 0
    if limit is None or limit > maximum:
        limit = maximum
    if limit == 0 and not isinstance(raw_limit, str):  # CKAN's ``if limit: query.limit(limit)`` on a JSON 0
        limit = 100_000
    field, order = _group_sort(p)
    found = call(request, action, {"q": str(p.get("q") or ""), "names": _names_param(p.get(names_key)),
                                   "sort": field, "order": order, "limit": limit, "offset": offset},
                 via="api")
    if not all_fields:
        return [g.get("slug", g["name"]) for g in found["results"]]  # a department's CKAN name is its slug
    return [shape(g, p) for g in found["results"]]


def _org_shape(d: dict[str, Any], p: dict[str, Any], *, detail: bool = False) -> dict[str, Any]:
    """An organization as ``organization_show`` gives it: ``include_*`` default false in lists, true in show."""
    return organization(d, d["package_count"] if _bool(p, "include_dataset_count", True) else None,
                        include_extras=_bool(p, "include_extras", detail),
                        include_groups=_bool(p, "include_groups", detail),
                        include_tags=_bool(p, "include_tags", detail),
                        include_users=_bool(p, "include_users", detail))


def _group_shape(t: dict[str, Any], p: dict[str, Any]) -> dict[str, Any]:
    return group(t["name"], t["package_count"] if _bool(p, "include_dataset_count", True) else None)


def organization_list(request: Request, p: dict[str, Any]) -> list[Any]:
    """Return a list of the names of the site's organizations (our departments).

    :param sort: ``name``, ``title`` or ``package_count``, with ``asc`` / ``desc`` (default ``title asc``;
        ``package_count`` alone sorts descending); one criterion
    :param limit: the most organizations returned; capped at 1000, or 25 with ``all_fields``
        (``CITYHUB_CKAN_GROUP_LIST_MAX`` / ``CITYHUB_CKAN_GROUP_LIST_ALL_FIELDS_MAX``); 0: no limit
    :param offset: the first organization returned
    :param q: only organizations whose name, title or description contains this (any case)
    :param organizations: only these names (a list or a comma-separated string)
    :param all_fields: organization dicts instead of names (``include_dataset_count`` default true,
        ``include_extras`` / ``include_users`` / ``include_groups`` / ``include_tags`` default false)
    :rtype: list of strings, or of dicts with ``all_fields``
    """
    return _group_list(request, p, "department_search", "organizations", _org_shape)


def organization_show(request: Request, p: dict[str, Any]) -> dict[str, Any]:
    """Return the details of an organization (a department).

    :param id: the organization's name (its id)
    :param include_datasets: its packages, up to 1000, newest first (default false)
    :param include_dataset_count: ``package_count``, the datasets you can list (default true)
    :param include_extras, include_users, include_groups, include_tags: default true
    """
    ref = _id(p)
    found = call(request, "department_search", {"names": [ref], "limit": 1}, via="api")["results"]
    if not found:
        raise NotFound("未找到组织", "Organization not found")
    org = _org_shape(found[0], p, detail=True)
    if _bool(p, "include_datasets", False):
        org["packages"] = _packages_of(request, "organization", ref, include_private=True)
    return org


def group_list(request: Request, p: dict[str, Any]) -> list[Any]:
    """Return a list of the names of the site's groups (our themes).

    :param sort: ``name``, ``title`` or ``package_count`` with ``asc`` / ``desc`` (default ``title asc``)
    :param limit: capped at 1000, or 25 with ``all_fields``; 0: no limit
    :param offset: the first group returned
    :param q: only groups whose name, title or description contains this (any case)
    :param groups: only these names (a list or a comma-separated string)
    :param all_fields: group dicts instead of names (with ``package_count`` unless ``include_dataset_count``
        is false)
    :rtype: list of strings, or of dicts with ``all_fields``
    """
    return _group_list(request, p, "theme_search", "groups", _group_shape)


def group_show(request: Request, p: dict[str, Any]) -> dict[str, Any]:
    """Return the details of a group (a theme).

    :param id: the group's name (its id)
    :param include_datasets: its public packages, up to 1000, newest first (default false)
    :param include_dataset_count: ``package_count`` (default true)
    """
    ref = _id(p)
    found = call(request, "theme_search", {"names": [ref], "limit": 1}, via="api")["results"]
    if not found:
        raise NotFound("未找到分组", "Group not found")
    out = _group_shape(found[0], p)
    if _bool(p, "include_datasets", False):
        out["packages"] = _packages_of(request, "theme", ref)
    return out


def group_package_show(request: Request, p: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the datasets (packages) of a group: ``package_search`` with ``fq=groups:NAME``.

    :param id: the group's name
    :param limit: the most datasets returned (default 10, capped at 1000; negative: Validation Error
        "Limit must be a positive integer")
    :rtype: list of package dicts, newest first
    """
    ref = _id(p)
    raw = p.get("limit", "")
    limit = 10
    if raw not in ("", None):
        try:
            limit = _ckan_int(raw, "limit")
        except ValidationError:
            limit = -1
        if limit < 0:
            raise ValidationError("limit 须为正整数", "Limit must be a positive integer")
    if not call(request, "theme_search", {"names": [ref], "limit": 1}, via="api")["results"] and not \
            call(request, "department_search", {"names": [ref], "limit": 1}, via="api")["results"]:
        raise NotFound("未找到分组", "Group not found")
    res = call(request, "dataset_search", {"filters": {"theme": [ref]}, "rows": min(limit or 10,
                                           get_settings().search_rows_max), "full": True, "quality": False,
                                           "sort": "metadata_modified desc"}, via="api")
    return [package(d) for d in res["results"]]


def tag_list(request: Request, p: dict[str, Any]) -> list[Any]:
    """Return a list of the site's tags (those of public datasets).

    :param query: (or ``q``) only tags whose names contain this (any case), by name, as in ``tag_search``
    :param limit, offset: a page of the list (CKAN pages only a ``query``'s list; here every list pages, so a
        client paging until an empty page stops). Without them every tag is returned, most used first.
    :param vocabulary_id: a vocabulary's name (see ``vocabulary_list``): its tags instead of free tags
    :param all_fields: tag dicts instead of names
    :rtype: list of strings, or of dicts with ``all_fields``
    """
    vocabulary = p.get("vocabulary_id") or None
    query = str(p.get("query") or p.get("q") or "").strip()
    limit, offset = _natural(p, "limit") or None, _natural(p, "offset") or 0
    if query:
        names = _tag_search(request, {**p, "query": query})["results"]
    elif vocabulary is not None:
        values = list(ckan_map.VOCABULARIES.get(str(vocabulary), ()))
        names = values[offset:None if limit is None else offset + limit]
    else:
        names = call(request, "tag_list", {"limit": min(limit or TAG_LIST_MAX, TAG_LIST_MAX), "offset": offset},
                     via="api")
    if _bool(p, "all_fields", False):
        return [ckan_map.tag(n, str(vocabulary) if vocabulary else None) for n in names]
    return list(names)


TAG_LIST_MAX = 100_000  # the catalog's tag_list ceiling: the most tags one call returns


def _tag_search(request: Request, p: dict[str, Any]) -> dict[str, Any]:
    query = p.get("query") or p.get("q") or []
    terms = [str(t) for t in (query if isinstance(query, list) else [query])]
    fields = p.get("fields")
    if isinstance(fields, dict):  # deprecated ``fields={"tags": "x"}``
        terms += [str(v) for k, v in fields.items() if k in ("tag", "tags")]
    vocabulary = p.get("vocabulary_id")
    return call(request, "tag_search", {"query": terms, "vocabulary": str(vocabulary) if vocabulary else None,
                                        "limit": _natural(p, "limit"), "offset": _natural(p, "offset") or 0},
                via="api")


def tag_search(request: Request, p: dict[str, Any]) -> dict[str, Any]:
    """Return the tags whose names contain a given string: ``{"count": n, "results": [tag dicts]}``.

    :param query: the string(s) to search for (all must match, any case); no query: no tags
    :param vocabulary_id: a vocabulary's name, to search its tags instead of free tags
    :param limit: the most tags returned (default: all)
    :param offset: the first tag returned
    """
    found = _tag_search(request, p)
    vocabulary = p.get("vocabulary_id") or None
    return {"count": found["count"], "results": [ckan_map.tag(n, vocabulary) for n in found["results"]]}


def tag_autocomplete(request: Request, p: dict[str, Any]) -> list[str]:
    """Return the names of the tags that contain a given string (``query`` or ``q``; ``vocabulary_id``,
    ``limit``, ``offset`` as in ``tag_search``)."""
    return list(_tag_search(request, p)["results"])


def tag_show(request: Request, p: dict[str, Any]) -> dict[str, Any]:
    """Return a tag, and with ``include_datasets`` its public datasets (up to 1000).

    :param id: the tag's name (tags' ids are their names here)
    :param vocabulary_id: the vocabulary the tag is in (default: a free tag)
    :param include_datasets: include the datasets carrying the tag (default false)
    """
    vocabulary = p.get("vocabulary_id") or None
    found = call(request, "tag_show", {"id": _id(p), "vocabulary": vocabulary}, via="api")
    out = ckan_map.tag(found["name"], found["vocabulary"])
    if _bool(p, "include_datasets", False):
        out["packages"] = _packages_of(request, found["vocabulary"] or "tags", found["name"])
    return out


def _q(p: dict[str, Any]) -> str:
    q = p.get("q")
    if q is None or (isinstance(q, str) and not q.strip()):
        raise ValidationError("缺少参数 q", "Missing value: q", fields={"q": ["Missing value"]})
    return str(q)


def package_autocomplete(request: Request, p: dict[str, Any]) -> list[dict[str, str]]:
    """Return the datasets you may see whose names or titles contain ``q``: each ``{name, title, match_field,
    match_displayed}``.

    :param q: the string to search for (required)
    :param limit: the most datasets returned (default 10)
    """
    return list(call(request, "dataset_autocomplete", {"q": _q(p), "limit": min(_natural(p, "limit") or 10, 1000)},
                     via="api"))


def format_autocomplete(request: Request, p: dict[str, Any]) -> list[str]:
    """Return the resource formats (lower-cased, most used first) whose names contain ``q``.

    :param q: the string to search for (required)
    :param limit: the most formats returned (default 5)
    """
    limit = _natural(p, "limit")
    return list(call(request, "format_autocomplete", {"q": _q(p), "limit": min(5 if limit is None else limit, 1000)},
                     via="api"))


def organization_autocomplete(request: Request, p: dict[str, Any]) -> list[dict[str, str]]:
    """Return the organizations whose names or titles contain ``q``: each ``{id, name, title}``.

    :param q: the string to search for (required)
    :param limit: the most organizations returned (default 20)
    """
    limit = _natural(p, "limit")
    return list(call(request, "department_autocomplete",
                     {"q": _q(p), "limit": min(20 if limit is None else limit, 1000)}, via="api"))


def resource_search(request: Request, p: dict[str, Any]) -> dict[str, Any]:
    """Search the resources of public datasets: ``{"count": n, "results": [resource dicts]}``.

    :param query: ``field:term`` or a list of them, ANDed. Fields: ``name``, ``description``, ``url``,
        ``format``, ``mimetype``, ``id`` (contain the term, any case), ``hash`` (starts with it),
        ``size``, ``position`` (equal it), ``package_id`` (a package's id or name)
    :param order_by: one of those fields, or ``created`` / ``last_modified`` (ascending)
    :param offset: the first resource returned
    :param limit: the most resources returned (at most 1000 per call)
    """
    query = p.get("query")
    if query is None:
        raise ValidationError("缺少参数 query", "Missing value: query", fields={"query": ["Missing value"]})
    terms = [str(q) for q in query] if isinstance(query, list) else [str(query)]
    found = call(request, "resource_search", {"query": terms, "order_by": p.get("order_by") or None,
                                              "offset": _natural(p, "offset") or 0, "limit": _natural(p, "limit")},
                 via="api")
    base = _base()
    results = [ckan_map.resource(r, ckan_map.package_id(r["dataset_id"], r["dataset_created_at"]), base,
                                 r["dataset_name"]) for r in found["results"]]
    return {"count": found["count"], "results": results}


def organization_list_for_user(request: Request, p: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the organizations a user has a permission in, each with the user's ``capacity``.

    :param id: the user's name or id (default: you; another user's: platform admins only)
    :param permission: ``manage_group`` (default), ``read``, ``create_dataset``, ``update_dataset``,
        ``delete_dataset``, ``admin``, ``membership``: department admins are ``admin``, stewards ``editor``,
        analysts ``member`` of their department; platform admins ``admin`` of every organization
    :param include_dataset_count: include ``package_count`` (default false)
    """
    found = call(request, "department_list_for_user", {"id": str(p["id"]) if p.get("id") else None,
                                                       "permission": str(p.get("permission") or "manage_group")},
                 via="api")
    counts: dict[str, int] = {}
    with_count = _bool(p, "include_dataset_count", False)
    if with_count and found:
        counts = {d["slug"]: d["package_count"] for d in
                  call(request, "department_search", {"names": [d["slug"] for d in found]}, via="api")["results"]}
    out = []
    for d in found:
        org = organization(d, counts.get(d["slug"], 0) if with_count else None, include_extras=False,
                           include_groups=False, include_tags=False, include_users=False)
        org["capacity"] = d["capacity"]
        out.append(org)
    return sorted(out, key=lambda o: o["display_name"])


def member_list(request: Request, p: dict[str, Any]) -> list[list[str]]:
    """Return the members of an organization or group: ``[id, type, capacity]`` triples.

    :param id: the organization's or group's name
    :param object_type: ``user`` or ``package`` (default both)
    :param capacity: ``admin``, ``editor``, ``member`` (users), ``organization`` / ``public`` (packages)
    Users are shown to platform admins and the organization's own staff only (CKAN with
    ``ckan.auth.public_user_details = false``); packages you may not see are left out.
    """
    found = call(request, "member_list", {"id": _id(p), "object_type": p.get("object_type") or None,
                                          "capacity": p.get("capacity") or None}, via="api")
    return [list(m) for m in found]


def vocabulary_list(request: Request, p: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the site's tag vocabularies: our controlled vocabularies (``district``, ``update_cycle``,
    ``sharing_class``, ``opening_class``, ``catalog_type``), each with its tags. Each name is also a
    ``package_search`` fq field."""
    return ckan_map.vocabulary_list()


def license_list(request: Request, p: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the list of licenses available for datasets on the site (CKAN's license dicts)."""
    return ckan_map.license_list()


def help_show(request: Request, p: dict[str, Any]) -> str | None:
    """Return the help string for a particular API action.

    :param name: Action function name (eg `user_create`, `package_search`)
    :type name: string
    :returns: The help string for the action function, or None if the function does not have a docstring.
    :rtype: string
    :raises: Not Found Error if the action function doesn't exist
    """
    name = p.get("name")
    if not name:
        raise ValidationError("缺少参数 name", "Missing value: name", fields={"name": ["Missing value"]})
    fn = ACTIONS.get(str(name))
    if fn is None:
        raise NotFound("未找到该操作", "Action function not found")
    return fn.__doc__ or HELP.get(str(name))


def package_show(request: Request, p: dict[str, Any]) -> dict[str, Any]:
    """Return the metadata of a dataset (package) and its resources.

    :param id: the package's id or name
    A deleted package is shown (state ``deleted``) to platform admins only; private packages to their department.
    """
    d = show_dataset(request, _id(p), include_deleted=_can_see_deleted(request), action="dataset_record")
    call(request, "usage_record", {"dataset_id": d["id"], "kind": "api_calls"}, via="api")
    return package(d)


def _can_see_deleted(request: Request) -> bool:
    actor = getattr(request.state, "actor", None)
    return actor is not None and actor.is_admin


def user_dict(u: dict[str, Any], with_email: bool) -> dict[str, Any]:
    """One of our users in CKAN's user shape."""
    return {"id": str(u["id"]), "name": u["name"], "fullname": u["display_name"],
            "display_name": u["display_name"] or u["name"], "email": u["email"] if with_email else None,
            "created": u["created_at"], "about": "", "sysadmin": u["role"] == "platform_admin",
            "state": "active" if u["active"] else "deleted", "image_url": "", "image_display_url": "",
            "email_hash": "", "number_created_packages": 0, "activity_streams_email_notifications": False,
            "capacity": ROLE_CAPACITY.get(u["role"]), "organization": u["department"]}


def user_show(request: Request, p: dict[str, Any]) -> dict[str, Any]:
    """The caller's own account (no ``id``), or an account by name or id (yourself, or anyone for admins)."""
    actor = getattr(request.state, "actor", None)
    if actor is None:
        raise NotAuthorized("请先登录", "Sign-in required")
    ref = str(p.get("id") or p.get("user_obj") or p.get("name") or actor.name)
    name = actor.name if ref in (actor.name, str(actor.id)) else ref
    u = call(request, "user_show", {"name": name}, via="api")
    return user_dict(u, with_email=True)


def status_show(request: Request, p: dict[str, Any]) -> dict[str, Any]:
    """Return a dictionary with information about the site's configuration (``site_url``: the public base URL
    this request reached)."""
    s = get_settings()
    return {"ckan_version": "2.10.0", "cityhub_version": __version__, "site_title": s.site_title,
            "site_url": _base(), "site_description": f"{s.city_name}公共数据开放平台", "locale_default": "zh_Hans_CN",
            "error_emails_to": None, "locale_default_name": "zh_Hans_CN",
            "extensions": ["cityhub", "datastore"]}


CKAN_TYPES = {"integer": "int", "number": "numeric", "string": "text", "date": "date", "datetime": "timestamp",
              "boolean": "bool", "float": "float"}


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


#: the parameters CKAN's datastore_search accepts (ckanext/datastore/logic/schema.py datastore_search_schema),
#: our keyset ``cursor``, and what CKAN's API view takes off before the action (JSONP ``callback``, ``_``)
DATASTORE_SEARCH_PARAMS = frozenset({
    "resource_id", "id", "q", "plain", "filters", "language", "limit", "offset", "fields", "sort", "distinct",
    "include_total", "total_estimation_threshold", "records_format", "full_text", "cursor"})
_IGNORED_PARAMS = frozenset({"callback", "_"})
RECORDS_FORMATS = ("objects", "lists", "csv", "tsv")


def _datastore_links(request: Request, p: dict[str, Any], limit: int, offset: int) -> dict[str, str]:
    """CKAN's ``_insert_links`` (postgres.py): the request's own parameters with ``offset`` dropped (start) or
    moved on by ``limit`` (next), and ``prev`` when there is one. A POSTed body's parameters are carried too
    (JSON-encoded), so the links repeat the same search (CKAN's carry only the URL's query string)."""
    args: dict[str, str] = {}
    for key, value in p.items():
        if key in _IGNORED_PARAMS or isinstance(value, UploadedFile) or value is None:
            continue
        args[key] = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    args["limit"] = str(limit)  # the limit in force (CKAN caps it at rows_max)
    start = {k: v for k, v in args.items() if k != "offset"}
    path = request.url.path
    links = {"start": f"{path}?{urlencode(start)}", "next": f"{path}?{urlencode({**start, 'offset': offset + limit})}"}
    if offset - limit > 0:
        links["prev"] = f"{path}?{urlencode({**start, 'offset': offset - limit})}"
    return links


def _sort_param(raw: Any) -> str | list[str] | None:
    if raw in (None, "", []):
        return None
    if isinstance(raw, list):
        return [str(x) for x in raw]
    text = str(raw)
    if text.startswith("["):
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            return text
        if isinstance(value, list):
            return [str(x) for x in value]
    return text


def datastore_search(request: Request, p: dict[str, Any]) -> dict[str, Any]:
    """CKAN ``datastore_search`` (ckanext/datastore/logic/action.py, backend/postgres.py ``search_data``)."""
    unknown = sorted(k for k in p if k not in DATASTORE_SEARCH_PARAMS and k not in _IGNORED_PARAMS)
    if unknown:  # CKAN's schema: '__junk': [empty]
        raise ValidationError("不支持的参数：" + "、".join(unknown), "Unexpected parameters: " + ", ".join(unknown),
                              fields={k: [f"The input field {k} was not expected."] for k in unknown})
    rid = str(p.get("resource_id") or p.get("id") or "")
    if not rid:
        raise ValidationError("缺少参数 resource_id", "Missing value: resource_id", fields={"resource_id": ["Missing value"]})
    records_format = str(p.get("records_format") or "objects")
    if records_format not in RECORDS_FORMATS:
        raise ValidationError("records_format 取值无效", "records_format: value must be one of objects, lists, csv, tsv",
                              fields={"records_format": ["Value must be one of ['objects', 'lists', 'csv', 'tsv']"]})
    q = p.get("q")
    if isinstance(q, str) and q.lstrip().startswith("{"):  # unicode_or_json_validator
        q = _dict_param(q, "q")
    limit = _int(p, "limit", 100, 0, 10**12)  # natural_number_validator; the action caps it at rows_max
    offset = _int(p, "offset", 0, 0, 10**12)
    full_text = p.get("full_text")
    out = call(request, "datastore_search", {
        "resource_id": rid, "filters": _dict_param(p.get("filters"), "filters"), "q": q if q not in ("", {}) else None,
        "full_text": str(full_text) if full_text not in (None, "") else None, "plain": _bool(p, "plain", True),
        "language": str(p["language"]) if p.get("language") not in (None, "") else None,
        "fields": _list_param(p.get("fields")), "sort": _sort_param(p.get("sort")),
        "limit": limit, "offset": offset,
        "include_total": _bool(p, "include_total", True), "distinct": _bool(p, "distinct", False),
        "records_format": records_format, "cursor": p.get("cursor") or None}, via="api")
    result = {"resource_id": out["resource_id"], "fields": _ckan_fields(out["fields"]), "records": out["records"],
              "limit": out["limit"], "offset": out["offset"], "records_format": records_format,
              "include_total": _bool(p, "include_total", True),
              "_links": _datastore_links(request, p, out["limit"], out["offset"])}
    if out.get("total") is not None:
        result["total"] = out["total"]
        result["total_was_estimated"] = False
    if out.get("next_cursor"):
        result["next_cursor"] = out["next_cursor"]
    return result


def datastore_search_sql(request: Request, p: dict[str, Any]) -> dict[str, Any]:
    """CKAN ``datastore_search_sql``: errors in the statement are a Validation Error keyed ``query`` (postgres.py
    ``search_sql``); a table that does not exist (or that the caller may not read) is too, as PostgreSQL's
    'relation does not exist'."""
    sql = p.get("sql")
    if not sql:
        raise ValidationError("缺少参数 sql", "Missing value: sql", fields={"sql": ["Missing value"]})
    try:
        out = call(request, "datastore_search_sql", {"sql": str(sql)}, via="api")
    except ValidationError as exc:
        messages = [m for ms in exc.fields.values() for m in ms] or [exc.message_en]
        raise ValidationError(exc.message, exc.message_en, fields={"query": messages}) from None
    except NotFound as exc:
        raise ValidationError(exc.message, exc.message_en, fields={"query": [exc.message_en]}) from None
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
    """Return the metadata of a resource.

    :param id: the resource's id
    """
    r = call(request, "resource_show", {"id": _id(p)}, via="api")
    d = call(request, "dataset_show", {"id": str(r["dataset_id"])}, via="api")
    return next(x for x in package(d)["resources"] if x["id"] == r["id"])


def _resource_out(request: Request, created: dict[str, Any]) -> dict[str, Any]:
    out = resource_show(request, {"id": created["id"]})
    if created.get("datastore_job"):
        out["datastore_job"] = created["datastore_job"]
    return out


def _csrf(request: Request) -> None:
    """Cookie-authenticated writes need the session's CSRF token; anonymous callers go on to the action,
    which refuses them with CKAN's Authorization Error."""
    if getattr(request.state, "actor", None) is not None:
        check_csrf(request, None)


def _package_ref(request: Request, p: dict[str, Any], key: str) -> str:
    """Our dataset name for the package a write names (package id or name)."""
    return str(show_dataset(request, _id(p, key))["name"])


def resource_create(request: Request, p: dict[str, Any]) -> dict[str, Any]:
    """Add a resource to a package: a link (``url``) or a multipart ``upload`` (a table is then loaded into the
    datastore as a job, as xloader does).

    :param package_id: the package's id or name
    :param name, description, format, url, upload: the resource
    """
    _csrf(request)
    upload = p.get("upload")
    created = call(request, "resource_create", {
        "dataset": _package_ref(request, p, "package_id"), "name": str(p.get("name", "")),
        "description": str(p.get("description", "")), "url": "" if upload is not None else str(p.get("url", "")),
        "format": str(p.get("format", "")), "upload": upload}, via="api")
    return _resource_out(request, created)


def resource_update(request: Request, p: dict[str, Any]) -> dict[str, Any]:
    """Change a resource's name, description, format, link or file (``resource_patch`` is the same here:
    fields not sent stay as they are)."""
    _csrf(request)
    data: dict[str, Any] = {"id": _id(p)}
    for key in ("name", "description", "format"):
        if key in p and p[key] is not None:
            data[key] = str(p[key])
    if p.get("upload") is not None:
        data["upload"] = p["upload"]
    elif p.get("url"):
        current = call(request, "resource_show", {"id": data["id"]}, via="api")
        sent = str(p["url"])
        # our own download URL sent back (under whatever base the client reached us by) keeps the file
        if sent != current["url"] and not (current["uploaded"] and ckan_map.is_own_download_url(sent, data["id"])):
            data["url"] = sent
    return _resource_out(request, call(request, "resource_update", data, via="api"))


def resource_delete(request: Request, p: dict[str, Any]) -> None:
    """Delete a resource (its file goes once the change has committed).

    :param id: the resource's id
    """
    _csrf(request)
    call(request, "resource_delete", {"id": _id(p)}, via="api")
    return None


def _mapped(pkg: dict[str, Any]) -> dict[str, Any]:
    try:
        return ckan_map.package_to_dataset(pkg)
    except ckan_map.MappingError as exc:
        raise ValidationError("数据集字段不合法", "Invalid package", fields=exc.fields) from None


def _resource_specs(pkg: dict[str, Any], uploaded: frozenset[str] = frozenset()) -> list[dict[str, Any]] | None:
    """The package's resources for ``dataset_save`` (``None`` when the package has no ``resources`` key).
    ``uploaded``: the ids of the package's stored files; one of them sent back with its own download URL (under
    any base) keeps its file rather than becoming a link."""
    if "resources" not in pkg or pkg["resources"] is None:
        return None
    if not isinstance(pkg["resources"], list):
        raise ValidationError("resources 须为列表", "resources must be a list", fields={"resources": ["Not a list"]})
    specs = ckan_map.resource_specs(pkg)
    for spec in specs:
        if spec.get("id") in uploaded and ckan_map.is_own_download_url(spec["url"], spec["id"]):
            spec["url"] = ""
    return specs


def _check_org(request: Request, slug: str) -> None:
    try:
        call(request, "department_show", {"slug": slug}, via="api")
    except NotFound:
        raise ValidationError("组织不存在", "Organization does not exist",
                              fields={"owner_org": ["Organization does not exist"]}) from None


def _save(request: Request, data: dict[str, Any]) -> dict[str, Any]:
    try:
        saved: dict[str, Any] = call(request, "dataset_save", data, via="api")
    except Conflict as exc:
        if "name" in exc.fields:
            raise ValidationError("该名称已被使用", "That URL is already in use.",
                                  fields={"name": ["That URL is already in use."]}) from None
        raise
    return package(saved)


def package_create(request: Request, p: dict[str, Any]) -> dict[str, Any]:
    """Create a package (dataset) with its resources; our metadata from extras or the documented defaults."""
    _csrf(request)
    mapped = _mapped(p)
    _check_org(request, mapped["department"])
    # CKAN creates an active package unless sent ``state: draft``: a reviewer's (or the data office's) package
    # is published at once, a steward's is submitted for the department's review (docs/ckan.md)
    mapped["publication"] = "draft" if p.get("state") == "draft" else "published"
    return _save(request, {"dataset": mapped, "resources": _resource_specs(p)})


def package_update(request: Request, p: dict[str, Any]) -> dict[str, Any]:
    """Replace a package whole: fields not sent return to their defaults; with ``resources`` sent, resources
    missing from the list are deleted (without it they stay, as in CKAN 2.10)."""
    _csrf(request)
    current = show_dataset(request, _id(p))
    pkg = {**p, "name": p.get("name") or current["name"]}
    if not (pkg.get("owner_org") or isinstance(pkg.get("organization"), dict)):
        pkg["owner_org"] = current["department"]
    mapped = _mapped(pkg)
    _check_org(request, mapped["department"])
    uploaded = frozenset(r["id"] for r in current.get("resources", []) if r.get("uploaded"))
    return _save(request, {"id": current["name"], "dataset": mapped, "resources": _resource_specs(pkg, uploaded)})


def package_patch(request: Request, p: dict[str, Any]) -> dict[str, Any]:
    """Change only the fields sent: the current package with them laid over, then replaced."""
    _csrf(request)
    current = package(show_dataset(request, _id(p)))
    merged = {**current, **{k: v for k, v in p.items() if k != "id"}}
    mapped = _mapped(merged)
    _check_org(request, mapped["department"])
    uploaded = frozenset(r["id"] for r in current["resources"] if r.get("url_type") == "upload")
    return _save(request, {"id": current["name"], "dataset": mapped,
                           "resources": _resource_specs(merged, uploaded)})


def package_delete(request: Request, p: dict[str, Any]) -> None:
    """Withdraw a package (state ``deleted``; platform admins still see it with ``package_show``)."""
    _csrf(request)
    call(request, "dataset_delete", {"id": show_dataset(request, _id(p))["name"]}, via="api")
    return None


def organization_member_create(request: Request, p: dict[str, Any]) -> dict[str, Any]:
    """Make a user a member of an organization: capacity member/editor/admin → analyst/steward/department
    admin of that department (changing roles is a platform admin's right, as for ``user_update``)."""
    _csrf(request)
    org = _id(p)
    username = p.get("username")
    role = str(p.get("role") or "")
    errors: dict[str, list[str]] = {}
    if not username or not isinstance(username, str):
        errors["username"] = ["Missing value"]
    if role not in MEMBER_ROLES:
        errors["role"] = [f"role must be one of {', '.join(MEMBER_ROLES)}"]
    if errors:
        raise ValidationError("参数不合法", "Invalid input", fields=errors)
    call(request, "department_show", {"slug": org}, via="api")
    assert isinstance(username, str)
    user = call(request, "user_update", {"name": username, "role": MEMBER_ROLES[role], "department": org},
                via="api")
    return {"id": f"{org}:{user['name']}", "table_name": "user", "table_id": str(user["id"]), "capacity": role,
            "group_id": org, "state": "active"}


WRITES = {
    "package_create": package_create,
    "package_update": package_update,
    "package_patch": package_patch,
    "package_delete": package_delete,
    "resource_create": resource_create,
    "resource_update": resource_update,
    "resource_patch": resource_update,
    "resource_delete": resource_delete,
    "organization_member_create": organization_member_create,
}


READS = {
    "status_show": status_show,
    "site_read": site_read,
    "package_list": package_list,
    "current_package_list_with_resources": current_package_list_with_resources,
    "package_search": package_search,
    "package_show": package_show,
    "organization_list": organization_list,
    "organization_show": organization_show,
    "group_list": group_list,
    "group_show": group_show,
    "tag_list": tag_list,
    "user_show": user_show,
    "resource_show": resource_show,
    "datastore_search": datastore_search,
    "datastore_search_sql": datastore_search_sql,
    "datastore_info": datastore_info,
    "help_show": help_show,
    "license_list": license_list,
    "tag_show": tag_show,
    "tag_search": tag_search,
    "tag_autocomplete": tag_autocomplete,
    "package_autocomplete": package_autocomplete,
    "format_autocomplete": format_autocomplete,
    "organization_autocomplete": organization_autocomplete,
    "resource_search": resource_search,
    "organization_list_for_user": organization_list_for_user,
    "member_list": member_list,
    "vocabulary_list": vocabulary_list,
    "group_package_show": group_package_show,
}
# help_show's text for actions whose function carries no docstring
HELP = {
    "datastore_search": "Search a DataStore resource (ckanext-datastore's datastore_search): resource_id, filters, q, "
                        "fields, sort, limit, offset, include_total, distinct, records_format. See docs/datastore.md.",
    "datastore_search_sql": "Run one read-only SELECT over DataStore tables named by resource id (ckanext-datastore's "
                            "datastore_search_sql): sql. See docs/datastore.md.",
    "datastore_info": "The fields and row count of a DataStore resource (ckanext-datastore's datastore_info): id. "
                      "See docs/datastore.md.",
    "package_search": "Search datasets (CKAN's package_search): q, fq, rows (capped at 1000), start, sort, "
                      "facet.field, facet.limit, include_private. See docs/ckan.md.",
}
# the registry action whose gate a CKAN write passes first (access before validity, as CKAN's check_access)
WRITE_GATES = {"package_create": "dataset_save", "package_update": "dataset_save", "package_patch": "dataset_save",
               "package_delete": "dataset_delete", "resource_create": "resource_create",
               "resource_update": "resource_update", "resource_patch": "resource_update",
               "resource_delete": "resource_delete", "organization_member_create": "user_update"}
# -- activity streams and following (issue 15: ``cityhub/social/actions.py``) -----------------------------------


def _social(ckan_name: str, action: str, write: bool = False) -> Callable[[Request, dict[str, Any]], Any]:
    """A CKAN activity or follow action: the parameters go to the registry action of ``action``'s name as they
    are (its schema refuses unknown ones: a Validation Error, never a silent success), a single
    ``activity_types`` value taken as a list."""
    def run(request: Request, p: dict[str, Any]) -> Any:
        if write:
            _csrf(request)
        data = dict(p)
        for key in ("activity_types", "exclude_activity_types"):
            if isinstance(data.get(key), str):
                data[key] = [v for v in data[key].split(",") if v]
        return call(request, action, data, via="api")
    run.__doc__ = (f"CKAN's {ckan_name} (ckanext-activity / ckan.logic.action, CKAN 2.10/2.11) over CityHub's "
                   f"activity streams; see docs/activity.md.")
    run.__name__ = ckan_name
    return run


SOCIAL_READS = {name: _social(name, action) for name, action in (
    ("package_activity_list", "package_activity_list"),
    ("organization_activity_list", "organization_activity_list"),
    ("recently_changed_packages_activity_list", "recently_changed_packages_activity_list"),
    ("dashboard_activity_list", "dashboard_activity_list"),
    ("dashboard_new_activities_count", "dashboard_new_activities_count"),
    ("user_activity_list", "user_activity_list"),
    ("activity_show", "activity_show"),
    ("am_following_dataset", "am_following_dataset"),
    ("am_following_group", "am_following_group"),
    ("dataset_follower_count", "dataset_follower_count"),
    ("group_follower_count", "group_follower_count"),
    ("organization_follower_count", "group_follower_count"),
    ("dataset_follower_list", "dataset_follower_list"),
    ("followee_list", "followee_list"),
)}
SOCIAL_WRITES = {name: _social(name, action, write=True) for name, action in (
    ("follow_dataset", "follow_dataset"),
    ("unfollow_dataset", "unfollow_dataset"),
    ("follow_group", "follow_group"),
    ("unfollow_group", "unfollow_group"),
    ("dashboard_mark_activities_old", "dashboard_mark_activities_old"),
)}
READS.update(SOCIAL_READS)
WRITES.update(SOCIAL_WRITES)
WRITE_GATES.update({name: name for name in SOCIAL_WRITES})

ACTIONS: dict[str, Callable[[Request, dict[str, Any]], Any]] = {**READS, **WRITES}


def _json_object(raw: bytes | str) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(f"JSON Error: Error decoding JSON data. Error: {exc!r}") from None
    except RecursionError:  # bodies are depth-checked in web/bodies.py; this is a JSON document in a form field
        raise BadRequest("JSON Error: the JSON document is nested too deeply") from None
    if not isinstance(data, dict):
        raise BadRequest(f"JSON Error: Request data JSON decoded to {data!r} but it needs to be a dictionary.")
    return data


async def _body(request: Request) -> dict[str, Any]:
    """The request data as CKAN reads it: a JSON body, a form (multipart with an ``upload`` file), or a form
    whose one key is the JSON document (``curl -d '{…}'``)."""
    if request.method != "POST":
        return {}
    ctype = request.headers.get("content-type", "")
    if "form" in ctype:
        form = await request.form()
        items = list(form.multi_items())
        if len(items) == 1 and isinstance(items[0][1], str) and items[0][1] in ("", "1"):
            return _json_object(items[0][0])
        out: dict[str, Any] = {}
        for key, value in items:
            if isinstance(value, str):
                out[key] = value
            elif key == "upload":  # a multipart file, as CKAN clients send it
                out[key] = UploadedFile(filename=value.filename or "upload", stream=value.file)
        return out
    raw = await request.body()
    if not raw.strip():
        return {}
    return _json_object(raw)


def _api_version(ver: int) -> Callable[[], Awaitable[Response]]:
    async def get_api() -> Response:
        """``ckan/views/api.py``'s ``get_api``: the API version of the path (``/api``: 1, the REST default)."""
        return JSONResponse({"version": ver})
    return get_api


# CKAN's root endpoints: /api and /api/1..3, with or without a trailing slash (``strict_slashes=False``)
for _ver, _paths in ((1, ("/api", "/api/", "/api/1", "/api/1/")), (2, ("/api/2", "/api/2/")),
                     (3, ("/api/3", "/api/3/"))):
    for _path in _paths:
        router.add_api_route(_path, _api_version(_ver), methods=["GET"], include_in_schema=_path == "/api/3",
                             summary="CKAN API version", operation_id=f"ckan_api_version_{_path.strip('/').replace('/', '_')}")


@router.get("/api/3/action/{name}", summary="CKAN action (GET)", operation_id="ckan_action_get")
async def ckan_action_get(request: Request, name: str) -> Response:
    return await ckan_action(request, name)


@router.post("/api/3/action/{name}", summary="CKAN action (POST, JSON or form body)",
             operation_id="ckan_action_post")
async def ckan_action_post(request: Request, name: str) -> Response:
    return await ckan_action(request, name)


@router.get("/api/action/{name}", include_in_schema=False)
async def ckan_action_get_unversioned(request: Request, name: str) -> Response:
    return await ckan_action(request, name)


@router.post("/api/action/{name}", include_in_schema=False)
async def ckan_action_post_unversioned(request: Request, name: str) -> Response:
    return await ckan_action(request, name)


async def ckan_action(request: Request, name: str) -> Response:
    """``ckan/views/api.py``'s ``action``: an unknown name or a write sent with GET is a 400, then the request
    data is read (a body that is no JSON object: 400), then the action runs. A write first passes the registry
    gate of the action it becomes (anonymous or unentitled: Authorization Error before any validation)."""
    fn = ACTIONS.get(name)
    if fn is None:
        return bad_request(f"Action name not known: {name}")
    if request.method == "GET" and name not in READS:
        return bad_request("JSON Error: Invalid request. Please use POST method for your request")
    _BASE.set(base_url_of(request))
    try:
        params = _params(request, await _body(request))
    except BadRequest as exc:
        return bad_request(str(exc))
    if "callback" in params:
        return bad_request("JSONP callbacks are not served (the Content-Security-Policy forbids script APIs); "
                           "call the API with CORS-free JSON instead")
    try:
        if name in WRITE_GATES:
            await asyncio.to_thread(Gate(WRITE_GATES[name]), request)
        if name == "package_show" and request.state.actor is None:
            return await cached_package_show(request, params)
        result = await asyncio.to_thread(fn, request, params)
    except CityHubError as exc:
        return fail(request, name, exc)
    return ok(request, name, result)


_show_cache = public_responses


T = TypeVar("T")


async def _off_loop(fn: Callable[..., T], *args: Any) -> T:
    """Run blocking catalog reads. On the embedded store they run on the event loop: indexed reads of a local
    file (well under a millisecond; WAL readers never wait for a lock) cost less than handing the request to
    the thread pool, whose threads then contend with the loop for the GIL (the p99 under 50 connections). A
    network database (PostgreSQL) is read in a worker thread."""
    if get_settings().resolved_database_url.startswith("sqlite"):
        return fn(*args)
    return await asyncio.to_thread(fn, *args)


async def cached_package_show(request: Request, params: dict[str, Any]) -> Response:
    """package_show for anonymous callers: public datasets are served from the stamped cache."""
    ref = _id(params)
    key = f"{_base()} {ref}"  # the body holds links under the base the client used: one entry per base
    if _show_cache.needs_check():
        await _off_loop(_show_cache.check)
    hit = _show_cache.get(key)
    if hit is not None:
        call(request, "usage_record", {"dataset_id": hit[0], "kind": "api_calls"}, via="api")
        return Response(hit[1], media_type="application/json")
    return await _off_loop(_build_package_show, request, params, ref, key)


def _build_package_show(request: Request, params: dict[str, Any], ref: str, key: str) -> Response:
    stamp = _show_cache.stamp
    d = show_dataset(request, ref, action="dataset_record")
    call(request, "usage_record", {"dataset_id": d["id"], "kind": "api_calls"}, via="api")
    body = json.dumps({"help": _help(request, "package_show"), "success": True, "result": package(d)},
                      ensure_ascii=False, separators=(",", ":")).encode()
    if d["public"]:  # the visibility rule's public datasets only (an anonymous caller's view)
        _show_cache.put(key, d["id"], body, stamp)
    return Response(body, media_type="application/json")
