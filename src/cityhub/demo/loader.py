"""Load the Guangzhou demo content (``cityhub/demo/data``, see ``content``) through the actions, the same path a
steward's edits take, dated relative to the load day."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import secrets
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cityhub import actions
from cityhub.catalog.schemas import UploadedFile
from cityhub.context import Actor, Context, system_context
from cityhub.demo import content
from cityhub.errors import NotFound
from cityhub.settings import get_settings

Progress = Callable[[str, int, int], None]


def is_loaded() -> bool:
    try:
        actions.call("department_show", system_context("job"), {"slug": content.current().departments[0].slug})
    except NotFound:
        return False
    return True


def _file(demo: content.Content, ds: content.Dataset) -> tuple[str, bytes, str, int]:
    """The sample table as the file a steward would upload, in the dataset's declared format."""
    cols = [c.name for c in ds.columns]
    fmt = ds.file_format.upper()
    if fmt == "CSV":
        text_rows = demo.text_rows(ds.slug)
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=cols, lineterminator="\n")
        writer.writeheader()
        writer.writerows(text_rows)
        return f"{ds.slug}.csv", ("\ufeff" + out.getvalue()).encode(), "CSV", len(text_rows)
    rows = demo.rows(ds.slug)
    if fmt == "XLSX":
        from openpyxl import Workbook

        wb = Workbook(write_only=True)
        sheet = wb.create_sheet(ds.title[:31])
        sheet.append(cols)
        for row in rows:
            sheet.append([row.get(c) for c in cols])
        buf = io.BytesIO()
        wb.save(buf)
        return f"{ds.slug}.xlsx", buf.getvalue(), "XLSX", len(rows)
    if fmt == "JSON":
        return f"{ds.slug}.json", json.dumps(rows, ensure_ascii=False, indent=1).encode(), "JSON", len(rows)
    if fmt == "GEOJSON":
        feats = []
        shape = ds.geometry or {}
        for row in rows:
            lng, lat = row.get("经度"), row.get("纬度")
            geom: dict[str, Any] | None = None
            if lng is not None and lat is not None:
                geom = {"type": "Point", "coordinates": [lng, lat]}
                if shape.get("shape") == "parcel" and row.get(shape["area"]):
                    geom = parcel(float(lng), float(lat), float(row[shape["area"]]), str(row[cols[0]]))
            feats.append({"type": "Feature", "geometry": geom, "properties": row})
        data = {"type": "FeatureCollection", "features": feats}
        return f"{ds.slug}.geojson", json.dumps(data, ensure_ascii=False).encode(), "GEOJSON", len(rows)
    raise ValueError(f"{ds.slug}: unknown demo file format {ds.file_format}")


def parcel(lng: float, lat: float, area_m2: float, key: str) -> dict[str, Any]:
    """A land parcel's outline for the demo: a quadrilateral of ``area_m2`` square metres centred on the point,
    its proportions (1:1 to 1:2.2) and bearing fixed by the parcel's number."""
    h = zlib.crc32(key.encode())
    ratio = 1 + (h % 120) / 100
    angle = math.radians((h >> 8) % 90)
    w = math.sqrt(area_m2 * ratio)
    d = area_m2 / w
    m_lat = 111_320.0
    m_lng = m_lat * math.cos(math.radians(lat))
    ring = []
    for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1), (-1, -1)):
        x, y = sx * w / 2, sy * d / 2
        ex, ny = x * math.cos(angle) - y * math.sin(angle), x * math.sin(angle) + y * math.cos(angle)
        ring.append([round(lng + ex / m_lng, 6), round(lat + ny / m_lat, 6)])
    return {"type": "Polygon", "coordinates": [ring]}


def load(progress: Progress | None = None, ctx: Context | None = None) -> dict[str, Any]:
    """Create departments, users, data resources with sample files, plans and usage history, dated relative to
    the load day (Asia/Shanghai)."""
    ctx = ctx or system_context("cli")
    ctx.extra["jobs"] = "inline"  # sample tables are loaded into the datastore before we return
    settings = get_settings()
    step = progress or (lambda label, done, total: None)
    now = dt.datetime.now(dt.UTC)
    demo = content.load(now.astimezone(content.SH).date())
    created: dict[str, Any] = {"departments": 0, "datasets": 0, "plans": 0, "users": {}}

    for i, d in enumerate(demo.departments, 1):
        actions.call("department_create", ctx, {
            "slug": d.slug, "name": d.name, "short_name": d.short_name, "name_en": d.name_en, "uscc": d.uscc,
            "level": d.level, "district": d.district, "description": d.description})
        created["departments"] += 1
        step("部门 departments", i, len(demo.departments))

    for u in demo.users:
        if u.name == "admin" and settings.admin_password:
            password, shown = settings.admin_password, "(CITYHUB_ADMIN_PASSWORD)"
        else:
            password = shown = secrets.token_urlsafe(12)
        actions.call("user_create", ctx, {"name": u.name, "password": password, "role": u.role,
                                          "department": u.department, "display_name": u.display_name})
        created["users"][u.name] = shown

    for i, ds in enumerate(demo.datasets, 1):
        start, end = demo.temporal(ds)
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
            "license_id": ds.license, "temporal_start": start, "temporal_end": end,
            "districts": list(ds.districts), "contact_name": "数据开放专员",
            "contact_email": f"opendata@{ds.department.removeprefix('gz-')}.gz.gov.cn",
        })
        filename, data, fmt, count = _file(demo, ds)
        actions.call("resource_create", ctx, {
            "dataset": ds.slug, "name": f"{ds.title}({fmt})",
            "description": f"{ds.title}样例数据文件,{count}行,字段说明见数据项。",
            "format": fmt, "upload": UploadedFile(filename=filename, stream=io.BytesIO(data)),
            "last_modified": demo.data_updated(ds, now).isoformat()})
        created["datasets"] += 1
        step("数据资源 datasets", i, len(demo.datasets))

    for i, plan in enumerate(demo.plans, 1):
        actions.call("plan_upsert", ctx, {
            "department": plan.department, "year": plan.year, "published_on": plan.published_on,
            "note": f"{plan.year}年度公共数据开放计划(演示数据)",
            "items": [{"title": it.title, "dataset": it.dataset, "target_date": it.target_date, "format": it.format,
                       "update_cycle": it.update_cycle} for it in plan.items]})
        created["plans"] += 1
        step("开放计划 plans", i, len(demo.plans))

    for item in content.base_items():  # 一数一源 (issue 12): the authoritative source of each base data item
        held = actions.call("dataset_show", ctx, {"id": item["dataset"]}) if item.get("dataset") else None
        actions.call("base_item_set", ctx, {
            "code": item["code"], "department": item["department"],
            "resource_id": held["resources"][0]["id"] if held and held["resources"] else None})

    actions.call("usage_import", ctx, {"rows": usage_rows(demo, demo.clock.today)})
    created["data_requests"] = load_data_requests(ctx, demo.clock.today)
    created["indicators"] = load_indicators(ctx)  # the plan's table 1 (issue 15)
    step("规划指标 indicators", 1, 1)
    return created


def load_data_requests(ctx: Context, today: dt.date) -> int:
    """The demo's data requests (``data/data_requests.yaml``, issue 15): asked by ``citizen``, routed by the data
    office, answered by the department's steward where the file says so."""
    import yaml

    def as_user(name: str) -> Context:
        u = actions.call("user_show", ctx, {"name": name})
        dept = actions.call("department_show", ctx, {"slug": u["department"]})["id"] if u["department"] else None
        return Context(actor=Actor(id=u["id"], name=u["name"], role=u["role"], department_id=dept), source="local",
                       via="cli")

    items = yaml.safe_load((Path(__file__).parent / "data" / "data_requests.yaml").read_text(encoding="utf-8"))
    citizen = as_user("citizen")
    for item in items:
        made = actions.call("data_request_create", citizen, {
            "title": item["title"], "description": item["description"], "purpose": item.get("purpose", ""),
            "department": item.get("department")})
        if item.get("route"):
            actions.call("data_request_route", ctx, {"id": made["id"], "department": item["route"]})
        answer = item.get("answer")
        if answer:
            steward = as_user("steward" if item["route"] == "gz-transport" else "eco_steward")
            data = {"id": made["id"], "kind": answer["kind"], "text": answer.get("text", "")}
            if "open_by_days" in answer:
                data["open_by"] = (today + dt.timedelta(days=int(answer["open_by_days"]))).isoformat()
            if "dataset" in answer:
                data["dataset"] = answer["dataset"]
            actions.call("data_request_answer", steward, data)
    return len(items)


def usage_rows(demo: content.Content, today: dt.date, days: int = 60) -> list[dict[str, Any]]:
    """Views, downloads and API calls of the open datasets over the last ``days`` days (since they opened):
    busier on working days, each dataset at its own level."""
    rows = []
    for ds in demo.datasets:
        if not ds.is_open:
            continue
        h = zlib.crc32(ds.slug.encode())
        level = 0.5 + (h % 100) / 50
        for back in range(days):
            day = today - dt.timedelta(days=back)
            if day < ds.published:
                break
            k = zlib.crc32(f"{ds.slug}{day}".encode())
            week = 1.0 if day.weekday() < 5 else 0.55
            rows.append({"dataset": ds.slug, "day": day.isoformat(), "views": round((8 + k % 50) * level * week),
                         "downloads": round((k % 13) * level * week), "api_calls": round((k % 40) * (1 + h % 3) * week)})
    return rows


PLAN_SOURCE = "《广州市信息化发展第十三个五年规划(2016—2020年)》表1"


def indicator_rows() -> list[dict[str, Any]]:
    """The plan's table 1 (``demo/data/indicators.yaml``) as ``indicator_import`` rows, in the plan's order."""
    rows = content._yaml("indicators.yaml")
    return [{"source": PLAN_SOURCE, **row, "position": 10 * i} for i, row in enumerate(rows, 1)]


def demo_observations(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Yearly values 2016–2020 of the reported indicators, so the charts show trends: each indicator keeps its
    own pace towards the target (some ahead, some behind), a few stop before 2020 (the reports of the late or
    missing list) and the newest value of some awaits review. Deterministic (by the indicator's code)."""
    out = []
    for row in rows:
        if row.get("kind") == "live" or row.get("target_value") is None:
            continue
        h = zlib.crc32(row["code"].encode())
        pace = (1.08, 1.0, 0.93, 0.85, 0.7)[h % 5]
        last = 2020 if h % 4 else 2019
        target = float(row["target_value"])
        base = row.get("baseline_value")
        start = float(base) if base is not None else target * (0.35 + (h % 20) / 100)
        for year in range(2016, last + 1):
            share = pace * (year - 2015) / 5 * (1 + ((h >> (year % 7)) % 7 - 3) / 100)
            value = start + (target - start) * share
            if row.get("unit") == "%":
                value = min(value, 100.0)
            out.append({"code": row["code"], "period": str(year), "value": round(value, 2), "unit": row["unit"],
                        "evidence_url": f"https://tjj.gz.gov.cn/tjgb/{year}/{row['code']}.html",
                        "note": f"{year}年度统计公报(演示数据)",
                        "reported_at": f"{year + 1}-0{1 + h % 3}-{10 + h % 15:02d}T02:00:00+00:00",
                        "pending": year == last and h % 3 == 0})
    return out


def load_indicators(ctx: Context) -> dict[str, int]:
    """The plan's indicators, reported values (back-filled at their historical dates) and their reviews."""
    rows = indicator_rows()
    ctx.extra["indicators_publish"] = "defer"
    result: dict[str, int] = actions.call("indicator_import", ctx, {"rows": rows})
    approved = 0
    for obs in demo_observations(rows):
        pending = obs.pop("pending")
        made = actions.call("indicator_report", ctx, obs)
        if not pending:
            actions.call("indicator_review", ctx, {"id": made["id"], "decision": "approve"})
            approved += 1
    del ctx.extra["indicators_publish"]
    actions.call("indicator_dataset_publish", ctx, {})  # the values as an open dataset
    return {**result, "approved": approved}
