"""The sensing hub's portal pages: ``/sensing``, the city at a glance (devices by type, active alarms by severity,
refused readings, and each air-quality station's AQI on the Guangzhou district map; public: it shows only
what ``sensing_overview`` returns); ``/sensing/devices`` and ``/sensing/devices/{code}`` (the device list and a
device's page with its charts, kept current by the device's event stream; the actions apply the one device
visibility rule); ``/sensing/alarms``, the alarm
console for government users (acknowledge, clear, live through the alarm stream)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from cityhub.actions import GOVERNMENT
from cityhub.errors import NotFound
from cityhub.geo import DISTRICTS
from cityhub.sensing import devicetypes
from cityhub.sensing.auth import PUBLIC_MAP_TYPES
from cityhub.web.deps import lang
from cityhub.web.page_helpers import (
    acall,
    checked_form,
    int_param,
    login_redirect,
    redirect,
    render,
    safe_next,
)

router = APIRouter(include_in_schema=False)

SEVERITY_LABELS = {"critical": ("紧急", "Critical"), "major": ("重要", "Major"), "minor": ("次要", "Minor"),
                   "warning": ("警告", "Warning")}


@router.get("/sensing", response_class=HTMLResponse)
async def sensing_overview_page(request: Request) -> Response:
    data = await acall(request, "sensing_overview", {})
    language = lang(request)
    config = {"base": "/static-geo/guangzhou.json", "lang": language,
              "stations": [{"name": s["name"] or s["code"], "code": s["code"], "lon": s["lon"], "lat": s["lat"],
                            "aqi": s["aqi"], "colour": s["colour"],
                            "category": s["category_zh"] if language == "zh" else s["category_en"]}
                           for s in data["stations"] if s["lon"] is not None and s["lat"] is not None],
              "devices": [[d["lon"], d["lat"], d["state"], d["type"], d["code"]] for d in data["map"]
                          if d["type"] != "air_quality"],
              "alarm_stream": getattr(getattr(request.state, "actor", None), "role", None) in GOVERNMENT,
              "states": {"ok": "正常" if language == "zh" else "Normal",
                         "offline": "离线" if language == "zh" else "Offline",
                         **{k: zh if language == "zh" else en for k, (zh, en) in SEVERITY_LABELS.items()}}}
    severities = [(key, zh if language == "zh" else en, data["alarms_active"].get(key, 0))
                  for key, (zh, en) in SEVERITY_LABELS.items()]
    return render(request, "sensing/overview.html", {
        "o": data, "severities": severities, "map_config": json.dumps(config, ensure_ascii=False).replace("</", "<\\/"),
        "nav": "sensing"})


# -- device list and device pages (issue 13: device pages with 24 h / 7 d / 30 d charts) ----------------------------

STATE_LABELS = {"ok": ("正常", "Normal"), "offline": ("离线", "Offline"), "alarm": ("告警中", "In alarm"),
                "inactive": ("已停用", "Inactive")}
STATUS_LABELS = {"active_unack": ("活动·未确认", "Active, unacknowledged"),
                 "active_ack": ("活动·已确认", "Active, acknowledged"),
                 "cleared_unack": ("已清除·未确认", "Cleared, unacknowledged"),
                 "cleared_ack": ("已清除·已确认", "Cleared, acknowledged"),
                 "active": ("全部活动告警", "All active"), "cleared": ("全部已清除", "All cleared"), "all": ("全部", "All")}
RANGE_LABELS = {"24h": ("24小时", "24 hours"), "7d": ("7天", "7 days"), "30d": ("30天", "30 days")}
PAGE_SIZE = 50


def _pick(language: str, pair_: tuple[str, str]) -> str:
    return pair_[1] if language == "en" else pair_[0]


def _js(value: object) -> str:
    return json.dumps(value, ensure_ascii=False).replace("</", "<\\/")


@router.get("/sensing/devices", response_class=HTMLResponse)
async def sensing_devices_page(request: Request) -> Response:
    """Devices the visitor may see (``device_list`` applies the visibility rule), filtered by type, district and
    state, each linking to its page."""
    language = lang(request)
    q = request.query_params
    actor = getattr(request.state, "actor", None)
    government = getattr(actor, "role", None) in GOVERNMENT
    types = [t for t in devicetypes.TYPES if government or t in PUBLIC_MAP_TYPES]
    f = {"type": q.get("type") or "", "district_code": q.get("district_code") or "", "state": q.get("state") or ""}
    page = int_param(q.get("page"), 1, 1, 10_000)
    data: dict[str, object] = {"limit": PAGE_SIZE, "offset": (page - 1) * PAGE_SIZE}
    if f["type"] in types:
        data["type"] = f["type"]
    if f["district_code"] in {d[0] for d in DISTRICTS}:
        data["district_code"] = f["district_code"]
    if f["state"] in STATE_LABELS:
        data["state"] = f["state"]
    res = await acall(request, "device_list", data)
    return render(request, "sensing/devices.html", {
        "res": res, "f": f, "page": page, "pages": max(1, -(-res["count"] // PAGE_SIZE)),
        "types": [(t, _pick(language, (devicetypes.TYPES[t].label_zh, devicetypes.TYPES[t].label_en))) for t in types],
        "districts": [(code, en if language == "en" else zh) for code, zh, en in DISTRICTS],
        "district_names": {code: en if language == "en" else zh for code, zh, en in DISTRICTS},
        "states": [(k, _pick(language, v)) for k, v in STATE_LABELS.items()],
        "state_labels": {k: _pick(language, v) for k, v in STATE_LABELS.items()},
        "query": {k: v for k, v in f.items() if v}, "nav": "sensing"})


@router.get("/sensing/devices/{code}", response_class=HTMLResponse)
async def sensing_device_page(request: Request, code: str) -> Response:
    """One device: attributes with units, latest values, state, place, open alarms and its charts (24 h raw, 7 d
    hourly, 30 d daily). A device the visitor may not see is not found (``device_show``'s visibility rule)."""
    language = lang(request)
    rng = request.query_params.get("range") or "24h"
    if rng not in RANGE_LABELS:
        rng = "24h"
    dev = await acall(request, "device_show", {"code": code[:100]})
    series = await acall(request, "device_series_show", {"device": dev["code"], "range": rng})
    actor = getattr(request.state, "actor", None)
    config = {"code": dev["code"], "range": rng, "lang": language, "series": series,
              "geo": "/static-geo/guangzhou.json", "lon": dev["lon"], "lat": dev["lat"], "name": dev["name"] or dev["code"],
              "labels": {"mean": "均值" if language == "zh" else "mean", "min": "最小" if language == "zh" else "min",
                         "max": "最大" if language == "zh" else "max",
                         "empty": "该时段暂无读数" if language == "zh" else "No readings in this period",
                         "no_alarms": "暂无未关闭的告警" if language == "zh" else "No open alarms"},
              # live: the device's readings and alarm changes (server-sent events, the same visibility rule)
              "stream": "/events/sensing/devices/" + quote(dev["code"], safe=""),
              "state_labels": {k: _pick(language, v) for k, v in STATE_LABELS.items()},
              "severity_labels": {k: _pick(language, v) for k, v in SEVERITY_LABELS.items()},
              "status_labels": {k: _pick(language, v) for k, v in STATUS_LABELS.items()}}
    rows = []
    for a in dev["attributes"]:
        latest = dev["latest"].get(a["name"])
        rows.append({**a, "label": a["label_en"] if language == "en" else a["label_zh"],
                     "value": latest["value"] if latest else None, "ts": latest["ts"] if latest else None})
    return render(request, "sensing/device.html", {
        "d": dev, "attrs": rows, "range": rng,
        "ranges": [(k, _pick(language, v)) for k, v in RANGE_LABELS.items()],
        "state_label": _pick(language, STATE_LABELS.get(dev["state"], (dev["state"], dev["state"]))),
        "severity_labels": {k: _pick(language, v) for k, v in SEVERITY_LABELS.items()},
        "status_labels": {k: _pick(language, v) for k, v in STATUS_LABELS.items()},
        "district_names": {c: en if language == "en" else zh for c, zh, en in DISTRICTS},
        "government": getattr(actor, "role", None) in GOVERNMENT,
        "chart_config": _js(config), "nav": "sensing"})


# -- the alarm console (government users) ----------------------------------------------------------------------


def _alarm_filters(q: Any) -> dict[str, str]:
    f = {k: (q.get(k) or "").strip()[:100] for k in ("status", "severity", "device", "type")}
    if f["status"] not in STATUS_LABELS:
        f["status"] = "active"
    if f["severity"] not in SEVERITY_LABELS:
        f["severity"] = ""
    return f


@router.get("/sensing/alarms", response_class=HTMLResponse)
async def sensing_alarms_page(request: Request) -> Response:
    """The alarm console: alarms by lifecycle (active/cleared × acknowledged/unacknowledged), severity, device and
    type, with acknowledge and clear buttons; live through the alarm stream. Government users only."""
    if getattr(request.state, "actor", None) is None:
        return login_redirect(request)
    language = lang(request)
    f = _alarm_filters(request.query_params)
    page = int_param(request.query_params.get("page"), 1, 1, 10_000)
    data = {k: v for k, v in f.items() if v} | {"limit": PAGE_SIZE, "offset": (page - 1) * PAGE_SIZE}
    res = await acall(request, "alarm_list", data)
    query = {k: v for k, v in f.items() if v}
    here = "/sensing/alarms" + ("?" + urlencode({**query, "page": page}) if query or page > 1 else "")
    return render(request, "sensing/alarms.html", {
        "res": res, "f": f, "page": page, "pages": max(1, -(-res["count"] // PAGE_SIZE)), "query": query,
        "here": here, "statuses": [(k, _pick(language, v)) for k, v in STATUS_LABELS.items()],
        "severities": [(k, _pick(language, v)) for k, v in SEVERITY_LABELS.items()],
        "severity_labels": {k: _pick(language, v) for k, v in SEVERITY_LABELS.items()},
        "status_labels": {k: _pick(language, v) for k, v in STATUS_LABELS.items()},
        "live_config": _js({"stream": "/events/sensing/alarms",
                            "updated": "告警已更新" if language == "zh" else "Alarms updated"}),
        "nav": "sensing"})


@router.post("/sensing/alarms/{alarm_id}/{step}", response_class=HTMLResponse)
async def sensing_alarm_step(request: Request, alarm_id: int, step: str) -> Response:
    """Acknowledge or clear an alarm from the console (CSRF-checked form), then back to the console."""
    form = await checked_form(request)
    if getattr(request.state, "actor", None) is None:
        return login_redirect(request)
    if step not in ("ack", "clear") or not 1 <= alarm_id <= 2**31 - 1:
        raise NotFound("未知的操作", "Unknown step")
    await acall(request, "alarm_ack" if step == "ack" else "alarm_clear", {"id": alarm_id})
    back = safe_next(str(form.get("next") or "/sensing/alarms"))
    return redirect(back if back.startswith("/sensing/") else "/sensing/alarms")
