"""The sensing hub's portal page: ``/sensing``, the city at a glance (devices by type, active alarms by severity,
refused readings, and each air-quality station's AQI on the Guangzhou district map). Public: it shows only
what ``sensing_overview`` (a public action) returns."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from cityhub.actions import GOVERNMENT
from cityhub.web.deps import lang
from cityhub.web.page_helpers import acall, render

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
