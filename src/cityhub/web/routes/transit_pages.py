"""The transit portal page: ``/transit``, the latest finished run's district OD flow map (lines between district
centroids, weighted by journeys), a time band × district heat map of journeys by origin, and the run and validation
reports beside the published figures. Public: it shows only what ``transit_run_list``/``transit_run_show`` return
(aggregates; the card-level stages stay in their restricted dataset)."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import UploadFile

from cityhub.errors import Conflict, NotAuthorized, ValidationError
from cityhub.geo import DISTRICTS, districts_geojson
from cityhub.settings import get_settings
from cityhub.transit.actions import spark_available
from cityhub.transit.auth import GOVERNMENT
from cityhub.transit.disclosure import SUPPRESSED
from cityhub.transit.schemas import RUN_ID
from cityhub.web import bodies
from cityhub.web.deps import lang
from cityhub.web.page_helpers import (
    acall,
    checked_form,
    field_errors,
    int_param,
    login_redirect,
    redirect,
    render,
)

router = APIRouter(include_in_schema=False)

BANDS = {"early": ("清晨 04–07", "Early 04–07"), "am_peak": ("早高峰 07–09", "AM peak 07–09"),
         "midday": ("平峰 09–17", "Midday 09–17"), "pm_peak": ("晚高峰 17–19", "PM peak 17–19"),
         "evening": ("夜间 19–04", "Evening 19–04"), "other": ("其他", "Other")}
_centroids: dict[str, tuple[float, float]] = {}
#: the custom-zones upload of the page: at most 2 MB (the action's limit on the GeoJSON text), government senders
ZONES_PATH = "/transit/zones"
ZONES_MAX_BYTES = 2_000_000
bodies.SMALL_UPLOADS[ZONES_PATH] = (ZONES_MAX_BYTES, GOVERNMENT)


def centroids() -> dict[str, tuple[float, float]]:
    """Each district's centroid (the mean of its largest ring's vertices), from the bundled WGS-84 boundaries."""
    if not _centroids:
        for feat in json.loads(districts_geojson())["features"]:
            geom = feat["geometry"]
            polys = [geom["coordinates"]] if geom["type"] == "Polygon" else geom["coordinates"]
            ring = max((p[0] for p in polys), key=len)
            _centroids[str(feat.get("id") or feat["properties"].get("code"))] = (
                round(sum(c[0] for c in ring) / len(ring), 5), round(sum(c[1] for c in ring) / len(ring), 5))
    return _centroids


def figures(od: list[dict[str, Any]], language: str) -> dict[str, Any]:
    """The map's flows (origin ≠ destination, all bands), the heat map's cells (band × origin district) and the
    districts' labels, from the OD rows."""
    names = {code: (zh if language == "zh" else en) for code, zh, en in DISTRICTS}
    cents = centroids()
    flows: dict[tuple[str, str], int] = defaultdict(int)
    heat: dict[tuple[str, str], int] = defaultdict(int)
    placeless = 0
    for r in od:
        o, d, n = str(r["origin_district"]), str(r["destination_district"]), int(r["journeys"])
        if o == SUPPRESSED:  # small cells of the band: no place to draw them at (transit/disclosure.py)
            placeless += n
            continue
        heat[(r["band"], o)] += n
        if o != d and o in cents and d in cents:
            flows[(o, d)] += n
    bands = [b for b in BANDS if any(k[0] == b for k in heat)]
    districts = [c for c, _, _ in DISTRICTS if any(k[1] == c for k in heat)]
    return {
        "flows": [{"from": names.get(o, o), "to": names.get(d, d), "coords": [cents[o], cents[d]], "value": n}
                  for (o, d), n in sorted(flows.items(), key=lambda kv: -kv[1])],
        "points": [{"name": names.get(c, c), "value": [*cents[c], sum(n for (b, o), n in heat.items() if o == c)]}
                   for c in districts if c in cents],
        "bands": [BANDS[b][0 if language == "zh" else 1] for b in bands],
        "districts": [names.get(c, c) for c in districts],
        "heat": [[districts.index(o), bands.index(b), n] for (b, o), n in heat.items()],
        "max": max(heat.values(), default=0),
        "placeless": placeless,
    }


@router.get("/transit", response_class=HTMLResponse)
async def transit_page(request: Request) -> Response:
    started = request.query_params.get("started", "")
    return await _page(request, started=started if re.fullmatch(RUN_ID, started) else None)


@router.post(ZONES_PATH, response_class=HTMLResponse)
async def transit_zones_upload(request: Request) -> Response:
    """Start a run with custom zones from an uploaded GeoJSON (government users, as ``transit_run_start``). The
    middleware refuses other senders and bodies past the 2 MB cap before reading them (``bodies.SMALL_UPLOADS``);
    the file is read here up to the cap plus one byte."""
    form = await checked_form(request)
    if request.state.actor is None:
        return login_redirect(request)
    file = form.get("zones")
    values = {"taps": str(form.get("taps") or "5000"), "engine": str(form.get("engine") or "numpy")}
    try:
        raw = b""
        if isinstance(file, UploadFile):
            raw = await file.read(ZONES_MAX_BYTES + 1)
        if not raw:
            raise _bad_file("请选择区域 GeoJSON 文件", "Choose a zones GeoJSON file")
        if len(raw) > ZONES_MAX_BYTES:
            raise _bad_file("区域文件超过 2 MB 上限", "The zones file exceeds the 2 MB limit")
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise _bad_file("区域文件须为 UTF-8 编码的 GeoJSON", "The zones file must be UTF-8 GeoJSON") from None
        taps = int_param(values["taps"], 5000, 100, 200_000)
        run = await acall(request, "transit_run_start", {"zones": text, "taps": taps, "engine": values["engine"]})
    except (ValidationError, Conflict, NotAuthorized) as exc:
        errors, general = field_errors(exc, lang(request))
        return await _page(request, errors=errors, general=general, values=values, status=exc.status)
    finally:
        if isinstance(file, UploadFile):
            await file.close()
    return redirect(f"/transit?started={run['id']}#t-upload")


def _bad_file(zh: str, en: str) -> ValidationError:
    return ValidationError(zh, en, {"zones": [en]}, {"zones": [zh]})


async def _page(request: Request, errors: dict[str, list[str]] | None = None, general: list[str] | None = None,
                values: dict[str, str] | None = None, status: int = 200, started: str | None = None) -> Response:
    language = lang(request)
    actor = getattr(request.state, "actor", None)
    listed = await acall(request, "transit_run_list", {"limit": 20})
    done = [r for r in listed["results"] if r["status"] == "done"]
    run = await acall(request, "transit_run_show", {"id": done[0]["id"]}) if done else None
    config: dict[str, Any] = {"base": "/static-geo/guangzhou.json", "lang": language}
    if run is not None:
        config.update(figures(run.get("od_district") or [], language))
        loads = run.get("line_load_top") or []
        keys = [b for b in BANDS if any(b in item["bands"] for item in loads)]
        config["loads"] = {"lines": [f"{x['route_id']} ({x['direction']})" for x in loads],
                           "series": [{"name": BANDS[b][0 if language == "zh" else 1],
                                       "data": [x["bands"].get(b, 0) for x in loads]} for b in keys]}
    return render(request, "transit/overview.html", {
        "run": run, "runs": listed["results"], "nav": "transit", "min_count": get_settings().transit_od_min_count,
        "suppressed_mark": SUPPRESSED, "placeless": config.get("placeless", 0),
        "may_start": actor is not None and actor.role in GOVERNMENT, "errors": errors or {}, "general": general or [],
        "values": values or {"taps": "5000", "engine": "numpy"}, "started": started,
        "spark_available": spark_available(),
        "map_config": json.dumps(config, ensure_ascii=False).replace("</", "<\\/")}, status=status)
