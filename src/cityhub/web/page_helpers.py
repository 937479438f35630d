"""What every portal page module shares: the Jinja environment and ``render``, the error page, redirects,
splitting an action's error over the form's fields, calling an action off the event loop, and the small
request checks (signed in, platform admin, manages this department, an integer query parameter).

Page modules (``routes/*_pages.py``, ``routes/harvest.py``) import from here and never from each other; this
module imports no route module (import-linter contracts in ``pyproject.toml``).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from fastapi import Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData

from cityhub.catalog.publication import STATE_LABELS
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
from cityhub.datastore.schemas import TableSchema
from cityhub.errors import CityHubError, NotAuthorized, ValidationError
from cityhub.geo import DISTRICT_NAMES
from cityhub.messages import localize
from cityhub.settings import get_settings
from cityhub.urls import link_url
from cityhub.web import i18n
from cityhub.web.deps import call, check_csrf, error_response, lang
from cityhub.web.markdown import plain, render_cached
from cityhub.web.markdown import render as markdown
from cityhub.web.markdown import stored as stored_html

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
SH = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")
FACET_LABELS = {"organization": "提供部门", "theme": "主题", "res_format": "资源格式", "sharing_class": "共享类型",
                "opening_class": "开放类型", "update_cycle": "更新周期", "district": "行政区", "tags": "标签"}
DATA_ITEM_TYPES = ("string", "integer", "number", "date", "datetime", "boolean", "time")
ITEM_TYPE_LABELS = {"string": "文本", "integer": "整数", "number": "数值", "date": "日期", "datetime": "日期时间",
                    "boolean": "布尔", "time": "时间"}
# sub-fields of form rows (data items, plan items) as people name them, for messages like "第2行 · 名称: 必填"
ROW_FIELD_LABELS = {"name": "名称", "type": "类型", "length": "长度", "description": "说明", "title": "标题",
                    "dataset": "数据集", "target_date": "计划开放日期", "format": "格式", "update_cycle": "更新周期"}
# a dataset's fields as the forms name them (the change history lists changed fields)
DATASET_FIELD_LABELS = {
    "name": "URL 名称", "title": "标题", "title_en": "英文标题", "department": "提供部门", "catalog_type": "目录类型",
    "base_category": "基础类别", "class_item": "项", "class_category": "目", "class_sub": "细目", "code": "数据资源代码",
    "abstract": "摘要", "format": "信息资源格式", "data_items": "数据项", "related_codes": "关联资源代码",
    "sharing_class": "共享类型", "sharing_method": "共享方式", "sharing_condition": "共享条件",
    "sharing_basis": "共享依据", "opening_class": "开放类型", "opening_condition": "开放条件", "license_id": "许可协议",
    "private": "非公开", "update_cycle": "更新周期", "published_on": "发布日期", "temporal_start": "时间范围",
    "temporal_end": "时间范围", "districts": "空间范围", "theme": "主题", "tags": "标签", "contact_name": "联系人姓名",
    "contact_email": "联系邮箱", "contact_phone": "联系电话", "resource": "数据资源", "state": "状态", "extras": "附加字段",
    "publication": "发布状态", "comment": "审核意见",
}
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
    env.filters.update(markdown=markdown, plain=plain, local=_local, filesize=_filesize, number=_number, link=link_url)
    env.filters.update(post_markdown=render_cached)  # Markdown not stored rendered: cached renderings
    env.filters.update(stored_html=stored_html)  # discussion posts, reuses (issue 15): the HTML stored when written
    env.globals.update(THEMES=THEMES, THEME_BY_SLUG=THEME_BY_SLUG, SHARING_CLASSES=SHARING_CLASSES,
                       OPENING_CLASSES=OPENING_CLASSES, UPDATE_CYCLES=tuple(UPDATE_CYCLES),
                       RESOURCE_FORMATS=RESOURCE_FORMATS, SHARING_METHODS=SHARING_METHODS, LICENSES=LICENSES,
                       CATALOG_TYPES=tuple(CATALOG_TYPES), BASE_CATEGORIES=tuple(BASE_CATEGORIES),
                       DISTRICT_NAMES=DISTRICT_NAMES, ROLES=ROLES, FACET_LABELS=FACET_LABELS,
                       DATA_ITEM_TYPES=DATA_ITEM_TYPES, ITEM_TYPE_LABELS=ITEM_TYPE_LABELS, HISTORY_ACTIONS=i18n.HISTORY_ACTIONS)
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

    english_names: dict[str, str] = {}

    def dept_name(slug: str | None, zh: str | None) -> str:
        """A department's name in the page's language (English names are looked up once per page)."""
        if language != "en" or not slug:
            return zh or ""
        if not english_names:
            english_names.update({d["slug"]: d.get("name_en") or d["name"]
                                  for d in call(request, "department_list", {})})
        return english_names.get(slug) or zh or ""

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
        "dept_name": dept_name,
        "field_label": lambda key: i18n.t(DATASET_FIELD_LABELS[key], language) if key in DATASET_FIELD_LABELS
        else key,
        "actor_label": lambda name: i18n.t("系统", language) if name in ("system", "-", "") else name,
        "action_label": lambda name: i18n.label(i18n.ACTION_LABELS, name, language),
        "publication_label": lambda state: i18n.label(STATE_LABELS, state, language),
        "outcome_label": lambda outcome: i18n.label(i18n.OUTCOME_LABELS, outcome, language),
        "via_label": lambda via: i18n.label(i18n.VIA_LABELS, via, language),
        "localized": lambda message: localize(message or "", language),
        "run_status": lambda status: i18n.label(i18n.RUN_STATUS_LABELS, status, language),
        "run_stage": lambda stage: i18n.label(i18n.RUN_STAGE_LABELS, stage, language),
        "schedule_label": lambda schedule: i18n.label(i18n.SCHEDULE_LABELS, schedule, language),
        "log_level": lambda level: i18n.label(i18n.LOG_LEVEL_LABELS, level, language),
        "actor": actor,
        "user": getattr(request.state, "user", None),
        "csrf": getattr(request.state, "csrf", ""),
        "site_title": settings.site_title,
        "base_url": settings.base_url.rstrip("/"),
        "switch_url": _switch_url(request, "zh" if language == "en" else "en"),
        "path": request.url.path,
        # issue 15: the bell, follow buttons and activity sections (``_social*.html``; social/actions.py)
        **social_context(request, actor),
    }


def social_board(request: Request) -> dict[str, Any]:
    """The signed-in user's part of their dashboard (issue 15): what they follow, their news feed, unread
    notifications (``social/actions.py``)."""
    return {"following": call(request, "follow_list", {"limit": 50}),
            "news": call(request, "dashboard_activity_list", {"limit": 20}),
            "unread": call(request, "notification_count", {})["unread"]}


def social_context(request: Request, actor: Any) -> dict[str, Any]:
    """Template functions of activity streams and following, each one action call made only when a page asks."""

    def unread() -> int:
        if actor is None:
            return 0
        try:
            return int(call(request, "notification_count", {})["unread"])
        except CityHubError:
            return 0

    def follow_state(kind: str, ref: str) -> dict[str, Any]:
        group = kind == "organization"
        try:
            count = call(request, "group_follower_count" if group else "dataset_follower_count", {"id": ref})
            following = (call(request, "am_following_group" if group else "am_following_dataset", {"id": ref})
                         if actor is not None else False)
        except CityHubError:
            return {"count": 0, "following": False}
        return {"count": count, "following": following}

    def stream(kind: str, ref: str, limit: int = 10) -> list[dict[str, Any]]:
        name = "organization_activity_list" if kind == "organization" else "package_activity_list"
        try:
            acts: list[dict[str, Any]] = call(request, name, {"id": ref, "limit": limit})
        except CityHubError:
            return []
        return acts

    return {"notifications_unread": unread, "follow_state": follow_state, "activity_stream": stream}


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
    if path.startswith(("/api/", "/events/")):  # the API and the event streams answer errors in JSON, never a page
        return False
    accept = request.headers.get("accept", "")
    return "text/html" in accept or "application/json" not in accept


def error_page(request: Request, exc: CityHubError) -> Response:
    try:
        language = lang(request)
        message = exc.message_en if language == "en" else exc.message
        fields, _general = field_errors(exc, language) if exc.fields else ({}, [])
        response = render(request, "error.html", {"error": exc, "message": message, "fields": fields,
                                                  "next": request.url.path}, status=exc.status)
    except Exception:  # the error page must never fail: fall back to the JSON shape
        return error_response(exc)
    if exc.status == 429:
        response.headers["Retry-After"] = str(getattr(exc, "retry_after", 900))
    return response


# -- redirects, actions, form errors ----------------------------------------------------------------------------


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def safe_next(value: str | None) -> str:
    """Only local paths: start with one "/" (not "//" nor "/\\"), no scheme tricks."""
    if not value or not value.startswith("/") or value.startswith("//") or value.startswith("/\\"):
        return "/"
    if any(c in value for c in "\r\n\t") or "\\" in value:
        return "/"
    return value


async def checked_form(request: Request) -> FormData:
    """The posted form of a page write, once its CSRF token is checked (the check every cookie write makes)."""
    form = await request.form()
    check_csrf(request, str(form.get("csrf_token") or ""))
    return form


def login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return redirect("/login?" + urlencode({"next": target}))


async def acall(request: Request, name: str, data: Any = None) -> Any:
    return await run_in_threadpool(call, request, name, data)


def _where(key: str, language: str) -> str:
    """``data_items.1.name`` → "第2行 · 名称" (rows of a form) or the key's last parts as they are."""
    parts = key.split(".")[1:]
    out = []
    for part in parts:
        if part.isdigit():
            out.append(f"row {int(part) + 1}" if language == "en" else f"第{int(part) + 1}行")
        else:
            out.append(i18n.t(ROW_FIELD_LABELS.get(part, part), language))
    return " · ".join(out)


def field_errors(exc: CityHubError, language: str = "zh") -> tuple[dict[str, list[str]], list[str]]:
    """Split an action error into messages per form field and general messages, in the page's language."""
    fields: dict[str, list[str]] = {}
    general: list[str] = []
    for key, stored in exc.fields.items():
        if language == "zh" and key in exc.fields_zh:
            messages = exc.fields_zh[key]
        else:
            messages = [localize(m, language) for m in stored]
        top = key.split(".")[0] if key else "__all__"
        if top in ("__all__", ""):
            for msg, raw in zip(messages, stored, strict=False):
                general.append(msg)
                for needle, fld in RULE_FIELDS:
                    if needle in raw:
                        fields.setdefault(fld, []).append(msg)
                        break
        else:
            fields.setdefault(top, []).extend(f"{_where(key, language)}: {m}" if key != top else m
                                              for m in messages)
    if not exc.fields:
        general.append(exc.message_en if language == "en" else exc.message)
    return fields, general


# -- request checks ---------------------------------------------------------------------------------------------


def may_manage(request: Request, department_slug: str) -> bool:
    """May the signed-in user edit this department's datasets and plans (its steward or admin, or a platform admin)?"""
    actor = getattr(request.state, "actor", None)
    if actor is None:
        return False
    if actor.is_admin:
        return True
    if actor.role not in ("steward", "dept_admin") or actor.department_id is None:
        return False
    dept = call(request, "department_show", {"slug": department_slug})
    return bool(dept["id"] == actor.department_id)


def int_param(value: str | None, default: int, low: int = 0, high: int = 1_000_000) -> int:
    """A query or form value as an int within [low, high]; ``default`` when missing or not a number."""
    try:
        n = int(value) if value not in (None, "") else default
    except ValueError:
        return default
    return max(low, min(high, n))


def require_admin(request: Request) -> Response | None:
    """``None`` for a platform admin; a sign-in redirect for a visitor; refused for anyone else."""
    actor = request.state.actor
    if actor is None:
        return login_redirect(request)
    if not actor.is_admin:
        raise NotAuthorized("需要平台管理员权限", "Platform admins only")
    return None


# -- form fields shared by several page modules --------------------------------------------------------------


def parse_table_schema(text: str) -> dict[str, Any] | None:
    """The "Table Schema (JSON)" field: empty → None; otherwise a Frictionless Table Schema, checked here so a
    mistake is shown next to the field before anything is stored."""
    if not text.strip():
        return None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError("Table Schema 不是有效的 JSON", "Table Schema is not valid JSON",
                              fields={"schema": [f"JSON: {exc.msg} (line {exc.lineno})"]}) from None
    if isinstance(raw, list):  # a bare list of fields is accepted too
        raw = {"fields": raw}
    try:
        return TableSchema.model_validate(raw).model_dump()
    except ValueError as exc:
        raise ValidationError("Table Schema 格式不正确", "Table Schema is malformed",
                              fields={"schema": [str(exc).splitlines()[0] if str(exc) else "invalid"]}) from None


def publication_steps(request: Request, ds: dict[str, Any]) -> list[str]:
    """The publication steps (``catalog/publication.py``) the signed-in user may take on ``ds`` now, for its
    buttons: ``submit`` (the department's stewards and admins), ``approve`` / ``reject`` (its reviewer or a
    platform admin; not one's own submission), ``withdraw`` (the same, once published). The actions decide."""
    actor = getattr(request.state, "actor", None)
    if actor is None or ds.get("harvested") or ds.get("state") != "active":
        return []
    state = ds.get("publication", "published")
    manages = may_manage(request, ds["department"])
    reviews = actor.is_admin or (actor.role == "dept_admin" and manages)
    steps = []
    if state == "draft" and manages:
        steps.append("submit")
    if state == "submitted" and reviews:
        if ds.get("submitted_by") != actor.name:
            steps.append("approve")
        steps.append("reject")
    if state == "published" and reviews:
        steps.append("withdraw")
    return steps
