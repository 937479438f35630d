"""Load the Guangzhou demo content through the actions (the same path a steward's edits take)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import secrets
import zlib
from collections.abc import Callable
from typing import Any

from cityhub import actions
from cityhub.catalog.schemas import UploadedFile
from cityhub.context import Context, system_context
from cityhub.demo import content
from cityhub.errors import NotFound
from cityhub.settings import get_settings

Progress = Callable[[str, int, int], None]

DEMO_USERS = (
    # name, role, department slug, display name
    ("steward", "steward", "gz-transport", "交通局数据专员"),
    ("deptadmin", "dept_admin", "gz-transport", "交通局部门管理员"),
    ("eco_steward", "steward", "gz-ecology-environment", "生态环境局数据专员"),
    ("analyst", "analyst", None, "城市运行中心分析师"),
    ("citizen", "public", None, "注册公众用户"),
)


def is_loaded() -> bool:
    try:
        actions.call("department_show", system_context("job"), {"slug": content.DEPARTMENTS[0].slug})
    except NotFound:
        return False
    return True


def _file(ds: content.DemoDataset) -> tuple[str, bytes, str]:
    rows = content.sample_rows(ds)
    cols = [c.name for c in ds.columns]
    fmt = ds.file_format.upper()
    if fmt == "XLSX":
        from openpyxl import Workbook

        wb = Workbook(write_only=True)
        sheet = wb.create_sheet(ds.title[:31])
        sheet.append(cols)
        for row in rows:
            sheet.append([row.get(c) for c in cols])
        buf = io.BytesIO()
        wb.save(buf)
        return f"{ds.slug}.xlsx", buf.getvalue(), "XLSX"
    if fmt == "JSON":
        return f"{ds.slug}.json", json.dumps(rows, ensure_ascii=False, indent=1).encode(), "JSON"
    if fmt == "GEOJSON":
        feats = []
        for row in rows:
            lng, lat = row.get("经度"), row.get("纬度")
            geom = {"type": "Point", "coordinates": [lng, lat]} if lng is not None and lat is not None else None
            feats.append({"type": "Feature", "geometry": geom, "properties": row})
        data = {"type": "FeatureCollection", "features": feats}
        return f"{ds.slug}.geojson", json.dumps(data, ensure_ascii=False).encode(), "GEOJSON"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=cols, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return f"{ds.slug}.csv", ("\ufeff" + out.getvalue()).encode(), "CSV"


def _last_update(ds: content.DemoDataset, now: dt.datetime) -> dt.datetime:
    """A plausible last data update: most datasets on time, about one in five overdue."""
    h = zlib.crc32(ds.slug.encode())
    cycle = {"实时": 1, "每日": 1, "每周": 7, "每月": 31, "每季度": 92, "每半年": 183, "每年": 366}.get(ds.update_cycle)
    if cycle is None:
        return now - dt.timedelta(days=30 + h % 300)
    if h % 5 == 0:
        return now - dt.timedelta(days=cycle * 2 + 3 + h % 20)
    return now - dt.timedelta(hours=(h % max(1, cycle * 24 - 30)))


def load(progress: Progress | None = None, ctx: Context | None = None) -> dict[str, Any]:
    """Create departments, users, data resources with sample files, plans and usage history."""
    ctx = ctx or system_context("cli")
    ctx.extra["jobs"] = "inline"  # sample tables are loaded into the datastore before we return
    settings = get_settings()
    step = progress or (lambda label, done, total: None)
    created: dict[str, Any] = {"departments": 0, "datasets": 0, "plans": 0, "users": {}}

    total = len(content.DEPARTMENTS)
    for i, d in enumerate(content.DEPARTMENTS, 1):
        actions.call("department_create", ctx, {
            "slug": d.slug, "name": d.name, "short_name": d.short_name, "name_en": d.name_en, "uscc": d.uscc,
            "level": d.level, "district": d.district, "description": d.description})
        created["departments"] += 1
        step("部门 departments", i, total)

    admin_password = settings.admin_password or secrets.token_urlsafe(12)
    actions.call("user_create", ctx, {"name": "admin", "password": admin_password, "role": "platform_admin",
                                      "display_name": "市政务服务数据管理局平台管理员"})
    created["users"]["admin"] = admin_password if not settings.admin_password else "(CITYHUB_ADMIN_PASSWORD)"
    for name, role, dept, display in DEMO_USERS:
        password = secrets.token_urlsafe(12)
        actions.call("user_create", ctx, {"name": name, "password": password, "role": role, "department": dept,
                                          "display_name": display})
        created["users"][name] = password

    now = dt.datetime.now(dt.UTC)
    total = len(content.DATASETS)
    for i, ds in enumerate(content.DATASETS, 1):
        actions.call("dataset_create", ctx, {
            "name": ds.slug, "title": ds.title, "title_en": ds.title_en, "department": ds.department,
            "catalog_type": ds.catalog_type, "base_category": ds.base_category, "class_item": ds.class_item,
            "class_category": ds.class_category, "class_sub": ds.class_sub, "abstract": ds.abstract,
            "format": ds.format, "data_items": [{"name": c.name, "type": c.type, "description": c.description}
                                                for c in ds.columns],
            "sharing_class": ds.sharing_class, "sharing_condition": ds.sharing_condition,
            "sharing_method": list(ds.sharing_method), "sharing_basis": ds.sharing_basis,
            "opening_class": ds.opening_class, "opening_condition": ds.opening_condition,
            "update_cycle": ds.update_cycle, "published_on": ds.published, "theme": ds.theme, "tags": list(ds.tags),
            "license_id": ds.license, "temporal_start": ds.temporal_start, "temporal_end": ds.temporal_end,
            "districts": list(ds.districts), "contact_name": "数据开放专员",
            "contact_email": f"opendata@{ds.department}.gz.gov.cn".replace("gz-", ""),
        })
        filename, data, fmt = _file(ds)
        actions.call("resource_create", ctx, {
            "dataset": ds.slug, "name": f"{ds.title}({fmt})",
            "description": f"{ds.title}样例数据文件,{len(content.sample_rows(ds))}行,字段说明见数据项。",
            "format": fmt, "upload": UploadedFile(filename=filename, stream=io.BytesIO(data)),
            "last_modified": _last_update(ds, now).isoformat()})
        created["datasets"] += 1
        step("数据资源 datasets", i, total)

    plans = content.plans()
    for i, ((dept, year), items) in enumerate(sorted(plans.items()), 1):
        actions.call("plan_upsert", ctx, {
            "department": dept, "year": year, "published_on": f"{year}-03-31",
            "note": f"{year}年度公共数据开放计划(演示数据)",
            "items": [{"title": it.title, "dataset": it.dataset, "target_date": it.target_date,
                       "format": it.format if len(it.format) <= 20 else "CSV", "update_cycle": it.update_cycle}
                      for it in items]})
        created["plans"] += 1
        step("开放计划 plans", i, len(plans))

    rows = []
    today = now.date()
    for ds in content.DATASETS:
        if ds.opening_class == "不予开放":
            continue
        h = zlib.crc32(ds.slug.encode())
        for back in range(0, 60):
            day = today - dt.timedelta(days=back)
            k = zlib.crc32(f"{ds.slug}{day}".encode())
            rows.append({"dataset": ds.slug, "day": day.isoformat(), "views": 5 + (h + k) % 60,
                         "downloads": (h + k) % 13, "api_calls": (k % 40) * (1 + h % 3)})
    actions.call("usage_import", ctx, {"rows": rows})
    return created
