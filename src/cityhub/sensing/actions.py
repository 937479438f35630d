"""Sensing actions: devices (create, update, list, show, token rotation, CSV import), assets, telemetry over
HTTP (the same pipeline as MQTT), alarms (list, acknowledge, clear; audited), rules, dead letters, webhooks, the
AQI of a station (hourly and daily, HJ 633) and the city overview.

Device tokens are shown once (create, rotate, import) and stored as SHA-256 hashes."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import secrets
import time
from collections import Counter
from typing import Any, cast

from sqlalchemy import CursorResult, delete, exists, func, or_, select, update

from cityhub.actions import ADMINS, GOVERNMENT, action
from cityhub.context import Context
from cityhub.db import SH, utcnow
from cityhub.errors import Conflict, NotAuthenticated, NotAuthorized, NotFound, ValidationError
from cityhub.sensing import aqi, auth, devicetypes, notify, rules
from cityhub.sensing import schemas as s
from cityhub.sensing.alarms import alarm_dict, queue_webhooks
from cityhub.sensing.ingest import NOT_ASSIGNED, REASONS, get_ingestor, token_hash
from cityhub.sensing.message import RawMessage
from cityhub.sensing.models import (
    Alarm,
    DeadLetter,
    Device,
    DeviceLatest,
    RuleState,
    SensingAsset,
    SensingAssetRelation,
    SensingRule,
    Webhook,
    WebhookDelivery,
)
from cityhub.sensing.transport.service import receiving_sink
from cityhub.settings import get_settings

UTC = dt.UTC
AUTH_REASONS = {"wrong_token", "unknown_device", "not_gateway", "inactive_device"}
POLLUTANTS = ("so2", "no2", "co", "o3", "pm10", "pm25")


def new_token() -> str:
    return secrets.token_urlsafe(24)


def _refresh_pipeline(ctx: Context) -> None:
    ctx.extra.setdefault("after_commit", []).append(lambda: get_ingestor().invalidate())


def _device(ctx: Context, code: str) -> Device:
    dev = ctx.db.scalar(select(Device).where(Device.code == code))
    if dev is None:
        raise NotFound(f"未找到设备 {code}", f"Device not found: {code}")
    return dev


def _visible_device(ctx: Context, code: str) -> Device:
    """The device, if the caller may see it (``auth.device_visible``); otherwise not found, as if it did not
    exist (no enumeration of the city's infrastructure)."""
    dev = ctx.db.scalar(select(Device).where(Device.code == code))
    if dev is None or not auth.device_visible(ctx, dev.type):
        raise NotFound(f"未找到设备 {code}", f"Device not found: {code}")
    return dev


def _gateway_id(ctx: Context, code: str, own: str = "") -> int | None:
    """The id of the gateway device ``code`` (``""``: none); a device that is not a gateway is refused."""
    if not code:
        return None
    row = ctx.db.execute(select(Device.id, Device.type).where(Device.code == code)).first()
    if row is None or row[1] != "gateway" or code == own:
        raise ValidationError(f"未找到网关设备 {code}", f"No gateway device {code}",
                              fields={"gateway_device": ["unknown gateway" if row is None else "not a gateway"]})
    return int(row[0])


def _gateway_codes(ctx: Context, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(ctx.db.execute(select(Device.id, Device.code).where(Device.id.in_(ids))).all())


def _asset_id(ctx: Context, code: str) -> int | None:
    if not code:
        return None
    aid = ctx.db.scalar(select(SensingAsset.id).where(SensingAsset.code == code))
    if aid is None:
        raise ValidationError(f"未找到资产 {code}", f"Asset not found: {code}", fields={"asset": ["unknown asset"]})
    return int(aid)


def device_dict(d: Device, asset: str = "", gateway_device: str = "") -> dict[str, Any]:
    t = devicetypes.get(d.type)
    return {"code": d.code, "type": d.type, "type_label_zh": t.label_zh if t else d.type,
            "type_label_en": t.label_en if t else d.type, "name": d.name, "lat": d.lat, "lon": d.lon,
            "district_code": d.district_code, "asset": asset, "gateway": d.gateway, "gateway_device": gateway_device,
            "active": d.active,
            "created_at": d.created_at.isoformat(),
            "last_seen_at": d.last_seen_at.isoformat() if d.last_seen_at else None}


def _asset_code(ctx: Context, asset_id: int | None) -> str:
    if asset_id is None:
        return ""
    return ctx.db.scalar(select(SensingAsset.code).where(SensingAsset.id == asset_id)) or ""


# -- devices ---------------------------------------------------------------------------------------------------


def _create(ctx: Context, p: s.DeviceCreate, *, resolve_gateway: bool = True) -> tuple[Device, str]:
    if ctx.db.scalar(select(Device.id).where(Device.code == p.code)) is not None:
        raise Conflict(f"设备编码已被使用: {p.code}", f"Device code already in use: {p.code}",
                       fields={"code": ["duplicate"]})
    token = new_token()
    dev = Device(code=p.code, type=p.type, name=p.name, lat=p.lat, lon=p.lon, district_code=p.district_code,
                 asset_id=_asset_id(ctx, p.asset), token_hash=token_hash(token), gateway=p.gateway, active=p.active,
                 gateway_id=_gateway_id(ctx, p.gateway_device, p.code) if resolve_gateway else None,
                 created_by=ctx.actor_name, created_at=utcnow())
    ctx.db.add(dev)
    return dev, token


@action(auth.device_create, schema=s.DeviceCreate, write=True, target=lambda p, r: p.code, roles=ADMINS)
def device_create(ctx: Context, p: s.DeviceCreate) -> dict[str, Any]:
    """Register a device; the answer carries its access token, shown only this once."""
    dev, token = _create(ctx, p)
    ctx.db.flush()
    _refresh_pipeline(ctx)
    return {**device_dict(dev, p.asset, p.gateway_device), "token": token}


@action(auth.device_update, schema=s.DeviceUpdate, write=True, target=lambda p, r: p.code, roles=ADMINS)
def device_update(ctx: Context, p: s.DeviceUpdate) -> dict[str, Any]:
    """Change a device's name, place, district, asset or active flag (an inactive device's readings are refused)."""
    dev = _device(ctx, p.code)
    for key in ("name", "lat", "lon", "district_code", "active"):
        value = getattr(p, key)
        if value is not None:
            setattr(dev, key, value)
    if p.asset is not None:
        dev.asset_id = _asset_id(ctx, p.asset)
    if p.gateway_device is not None:
        dev.gateway_id = _gateway_id(ctx, p.gateway_device, dev.code)
    _refresh_pipeline(ctx)
    gw = _gateway_codes(ctx, {dev.gateway_id} if dev.gateway_id else set())
    return device_dict(dev, _asset_code(ctx, dev.asset_id), gw.get(dev.gateway_id or 0, ""))


@action(auth.device_token_rotate, schema=s.DeviceRef, write=True, target=lambda p, r: p.code, roles=ADMINS)
def device_token_rotate(ctx: Context, p: s.DeviceRef) -> dict[str, Any]:
    """Give a device a new access token (the old one stops working at once); the new token is shown once."""
    dev = _device(ctx, p.code)
    token = new_token()
    dev.token_hash = token_hash(token)
    _refresh_pipeline(ctx)
    return {"code": dev.code, "token": token}


#: a device seen within this time is online
ONLINE = dt.timedelta(hours=1)
SEVERITY_RANK = {"critical": 4, "major": 3, "minor": 2, "warning": 1}


def _visible_types(ctx: Context, q: Any) -> Any:
    """``q`` (over Device) narrowed to the devices the caller may see (``auth.device_visible``)."""
    return q if auth.sees_every_device(ctx) else q.where(Device.type.in_(auth.PUBLIC_MAP_TYPES))


def _device_states(ctx: Context, devices: list[Device]) -> dict[int, tuple[str, str]]:
    """(state, worst active alarm severity) of each device: ``inactive``, ``alarm``, ``ok`` (seen in the last
    hour) or ``offline``."""
    ids = [d.id for d in devices]
    worst: dict[int, str] = {}
    if ids:
        for dev_id, sev in ctx.db.execute(select(Alarm.device_id, Alarm.severity)
                                          .where(Alarm.active.is_(True), Alarm.device_id.in_(ids))):
            if SEVERITY_RANK.get(sev, 0) > SEVERITY_RANK.get(worst.get(dev_id, ""), 0):
                worst[dev_id] = sev
    since = utcnow() - ONLINE
    out = {}
    for d in devices:
        if not d.active:
            state = "inactive"
        elif d.id in worst:
            state = "alarm"
        else:
            state = "ok" if d.last_seen_at is not None and d.last_seen_at >= since else "offline"
        out[d.id] = (state, worst.get(d.id, ""))
    return out


@action(auth.device_list, schema=s.DeviceList, roles=None)
def device_list(ctx: Context, p: s.DeviceList) -> dict[str, Any]:
    """Devices the caller may see (government users: all; others: the public map types), filtered by type,
    district and state (ok, offline, alarm, inactive), with the total."""
    q = _visible_types(ctx, select(Device))
    if p.type:
        q = q.where(Device.type == p.type)
    if p.district_code:
        q = q.where(Device.district_code == p.district_code)
    if p.state:
        alarmed = exists().where(Alarm.device_id == Device.id, Alarm.active.is_(True))
        since = utcnow() - ONLINE
        if p.state == "inactive":
            q = q.where(Device.active.is_(False))
        elif p.state == "alarm":
            q = q.where(Device.active.is_(True), alarmed)
        elif p.state == "ok":
            q = q.where(Device.active.is_(True), ~alarmed, Device.last_seen_at >= since)
        else:
            q = q.where(Device.active.is_(True), ~alarmed,
                        or_(Device.last_seen_at.is_(None), Device.last_seen_at < since))
    total = ctx.db.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = list(ctx.db.scalars(q.order_by(Device.code).limit(p.limit).offset(p.offset)).all())
    asset_ids = {d.asset_id for d in rows if d.asset_id}
    assets = dict(ctx.db.execute(select(SensingAsset.id, SensingAsset.code)
                                 .where(SensingAsset.id.in_(asset_ids))).all()) if asset_ids else {}
    gateways = _gateway_codes(ctx, {d.gateway_id for d in rows if d.gateway_id})
    states = _device_states(ctx, rows)
    return {"count": total, "devices": [
        {**device_dict(d, assets.get(d.asset_id, "") if d.asset_id else "", gateways.get(d.gateway_id or 0, "")),
         "state": states[d.id][0], "worst_severity": states[d.id][1]} for d in rows]}


@action(auth.device_show, schema=s.DeviceRef, roles=None)
def device_show(ctx: Context, p: s.DeviceRef) -> dict[str, Any]:
    """A device with its type's attributes (units, ranges), its latest values (as sent: enumerations by name,
    booleans), its state and its active alarms. Public users see only devices of the public map types."""
    dev = _visible_device(ctx, p.code)
    t = devicetypes.get(dev.type)
    latest = ctx.db.execute(select(DeviceLatest.attribute, DeviceLatest.ts, DeviceLatest.value)
                            .where(DeviceLatest.device_id == dev.id).order_by(DeviceLatest.attribute)).all()
    alarms = ctx.db.scalars(select(Alarm).where(Alarm.device_id == dev.id, Alarm.active.is_(True))).all()
    gw = _gateway_codes(ctx, {dev.gateway_id} if dev.gateway_id else set())
    state, worst = _device_states(ctx, [dev])[dev.id]
    return {**device_dict(dev, _asset_code(ctx, dev.asset_id), gw.get(dev.gateway_id or 0, "")),
            "state": state, "worst_severity": worst,
            "attributes": [{"name": a.name, "unit": a.unit, "kind": a.kind, "min": a.min, "max": a.max,
                            "values": list(a.values), "label_zh": a.label_zh, "label_en": a.label_en}
                           for a in (t.attributes if t else ())],
            "latest": {a: {"ts": ts.isoformat(), "value": devicetypes.display_value(t, a, v) if t else v,
                           "unit": t.by_name[a].unit if t and a in t.by_name else ""} for a, ts, v in latest},
            "alarms": [_public_alarm(alarm_dict(a, dev.code), auth.sees_every_device(ctx)) for a in alarms]}


#: what a public user sees of a public device's open alarm (not who acknowledged it, nor the rule's details)
PUBLIC_ALARM_FIELDS = ("id", "device", "type", "severity", "status", "active", "first_seen", "last_seen", "count")


def _public_alarm(a: dict[str, Any], full: bool) -> dict[str, Any]:
    return a if full else {k: a[k] for k in PUBLIC_ALARM_FIELDS}


@action(auth.device_series, schema=s.SeriesIn, roles=None)
def device_series(ctx: Context, p: s.SeriesIn) -> dict[str, Any]:
    """One device's readings over the last ``hours`` hours (default 24). Public users: public map types only."""
    dev = _visible_device(ctx, p.device)
    end = utcnow()
    start = end - dt.timedelta(hours=p.hours)
    rows = get_ingestor().store.series(dev.code, start, end, p.attributes, type_=dev.type)
    return {"device": dev.code, "start": start.isoformat(), "end": end.isoformat(),
            "readings": [{"ts": r["ts"].isoformat(), "attribute": r["attribute"], "value": r["value"]} for r in rows]}


#: points per attribute a chart series carries at most (raw readings are averaged into as many time buckets)
MAX_POINTS = 1500
SERIES_RANGES: dict[str, tuple[dt.timedelta, str]] = {"24h": (dt.timedelta(hours=24), "raw"),
                                                      "7d": (dt.timedelta(days=7), "hour"),
                                                      "30d": (dt.timedelta(days=30), "day")}


def downsample(points: list[tuple[dt.datetime, float]], start: dt.datetime, end: dt.datetime,
               limit: int = MAX_POINTS) -> list[tuple[dt.datetime, float]]:
    """At most ``limit`` points: as they are when few enough, else the mean of each of ``limit`` equal time
    buckets (stamped with the bucket's first reading)."""
    if len(points) <= limit:
        return points
    width = (end - start).total_seconds() / limit or 1.0
    buckets: dict[int, list[Any]] = {}
    for ts, v in points:
        b = buckets.setdefault(min(limit - 1, max(0, int((ts - start).total_seconds() / width))), [ts, 0.0, 0])
        b[1] += v
        b[2] += 1
    return [(b[0], b[1] / b[2]) for _, b in sorted(buckets.items())]


@action(auth.device_series_show, schema=s.SeriesShow, roles=None)
def device_series_show(ctx: Context, p: s.SeriesShow) -> dict[str, Any]:
    """A device's chart data: ``24h`` raw readings (at most MAX_POINTS per attribute), ``7d`` hourly and ``30d``
    daily aggregates (mean, min, max) from the time-series store's downsampled values. Public users see only
    devices of the public map types (others: not found)."""
    dev = _visible_device(ctx, p.device)
    t = devicetypes.get(dev.type)
    attrs = list(t.attributes) if t else []
    if p.attributes:
        unknown = sorted(set(p.attributes) - {a.name for a in attrs})
        if unknown:
            raise ValidationError("设备类型没有这些属性", "The device type lacks these attributes",
                                  fields={"attributes": [f"unknown attribute {a}" for a in unknown]})
        attrs = [a for a in attrs if a.name in p.attributes]
    names = [a.name for a in attrs]
    span, resolution = SERIES_RANGES[p.range]
    end = utcnow()
    start = end - span
    store = get_ingestor().store
    by_attr: dict[str, list[list[Any]]] = {n: [] for n in names}
    if resolution == "raw":
        raw: dict[str, list[tuple[dt.datetime, float]]] = {n: [] for n in names}
        for r in store.series(dev.code, start, end, names or None, type_=dev.type):
            if r["attribute"] in raw:
                raw[r["attribute"]].append((r["ts"], float(r["value"])))
        for n, pts in raw.items():
            by_attr[n] = [[ts.isoformat(), round(v, 4)] for ts, v in downsample(pts, start, end)]
    else:
        floor = start.replace(minute=0, second=0, microsecond=0)
        if resolution == "day":
            floor = floor.replace(hour=0)
        for r in store.device_aggregates(dev.code, dev.type, floor, end, resolution, names or None):
            if r["attribute"] in by_attr:
                by_attr[r["attribute"]].append([r["bucket"].isoformat(), round(float(r["mean"]), 4),
                                                round(float(r["min"]), 4), round(float(r["max"]), 4), int(r["n"])])
        for n in by_attr:
            by_attr[n] = by_attr[n][-MAX_POINTS:]
    return {"device": dev.code, "type": dev.type, "range": p.range, "resolution": resolution,
            "start": start.isoformat(), "end": end.isoformat(), "max_points": MAX_POINTS,
            "series": [{"attribute": a.name, "label_zh": a.label_zh or a.name, "label_en": a.label_en or a.name,
                        "unit": a.unit, "kind": a.kind, "values": list(a.values),
                        "points": by_attr[a.name]} for a in attrs]}


@action(auth.device_import, schema=s.DeviceImport, write=True, target=lambda p, r: f"{r['created']} devices",
        roles=ADMINS)
def device_import(ctx: Context, p: s.DeviceImport) -> dict[str, Any]:
    """Register devices from CSV (header: code,type[,name,lat,lon,district_code,asset,gateway]; ``gateway`` — or
    ``gateway_device`` — names the gateway that relays the device's readings, registered before or in the same
    file); all or nothing: a file with any bad row creates none and names every bad row. The answer carries each
    new device's token once."""
    reader = csv.DictReader(io.StringIO(p.csv.lstrip("\ufeff")))
    if not reader.fieldnames or not {"code", "type"} <= {f.strip() for f in reader.fieldnames}:
        raise ValidationError("CSV须有 code 与 type 列", "The CSV needs code and type columns",
                              fields={"csv": ["missing code/type header"]})
    problems: dict[str, list[str]] = {}
    parsed: list[s.DeviceCreate] = []
    seen: set[str] = set()
    for line, row in enumerate(reader, start=2):
        data = {k.strip(): (v or "").strip() for k, v in row.items() if k}
        if "gateway" in data:  # the relaying gateway's code (the simulator's fleet CSV names it so)
            data.setdefault("gateway_device", data.pop("gateway"))
        for key in ("lat", "lon"):
            if data.get(key) == "":
                data.pop(key)
        data = {k: v for k, v in data.items() if k in s.DeviceCreate.model_fields}
        try:
            dc = s.DeviceCreate.model_validate(data)
        except Exception as exc:  # pydantic's ValidationError: named per line
            problems[f"line {line}"] = [str(e.get("msg", e)) for e in getattr(exc, "errors", lambda: [])()] or [str(exc)]
            continue
        if dc.code in seen:
            problems[f"line {line}"] = [f"duplicate code {dc.code} in the file"]
        seen.add(dc.code)
        parsed.append(dc)
    existing = set(ctx.db.scalars(select(Device.code).where(Device.code.in_(seen))).all()) if seen else set()
    file_gateways = {dc.code for dc in parsed if dc.type == "gateway"}
    wanted = {dc.gateway_device for dc in parsed if dc.gateway_device} - file_gateways
    known_gateways = set(ctx.db.scalars(select(Device.code).where(Device.code.in_(wanted),
                                                                   Device.type == "gateway")).all()) if wanted else set()
    for dc in parsed:
        if dc.code in existing:
            problems.setdefault(f"code {dc.code}", []).append("already registered")
        if dc.gateway_device and dc.gateway_device not in file_gateways | known_gateways:
            problems.setdefault(f"code {dc.code}", []).append(f"unknown gateway {dc.gateway_device}")
    if problems:
        raise ValidationError(f"CSV有 {len(problems)} 处错误，未导入任何设备",
                              f"The CSV has {len(problems)} problems; no device was imported", fields=problems)
    tokens = []
    created: list[tuple[Device, str]] = []
    for dc in parsed:
        dev, token = _create(ctx, dc, resolve_gateway=False)
        tokens.append({"code": dev.code, "token": token})
        created.append((dev, dc.gateway_device))
    ctx.db.flush()
    if any(gw for _, gw in created):  # gateways of the same file exist now
        ids = dict(ctx.db.execute(select(Device.code, Device.id).where(
            Device.code.in_({gw for _, gw in created if gw}))).all())
        for dev, gw in created:
            if gw:
                dev.gateway_id = ids[gw]
        ctx.db.flush()
    _refresh_pipeline(ctx)
    ctx.extra["audit_detail"] = {"created": len(tokens)}
    return {"created": len(tokens), "tokens": tokens}


# -- assets ----------------------------------------------------------------------------------------------------


@action(auth.asset_create, schema=s.AssetCreate, write=True, target=lambda p, r: p.code, roles=ADMINS)
def asset_create(ctx: Context, p: s.AssetCreate) -> dict[str, Any]:
    """Register an asset (station, pump house, road segment, district…), optionally inside another one."""
    if ctx.db.scalar(select(SensingAsset.id).where(SensingAsset.code == p.code)) is not None:
        raise Conflict(f"资产编码已被使用: {p.code}", f"Asset code already in use: {p.code}",
                       fields={"code": ["duplicate"]})
    asset = SensingAsset(code=p.code, name=p.name, kind=p.kind, district_code=p.district_code, lat=p.lat, lon=p.lon)
    ctx.db.add(asset)
    ctx.db.flush()
    if p.parent:
        parent = _asset_id(ctx, p.parent)
        ctx.db.add(SensingAssetRelation(from_id=parent, to_id=asset.id, kind="contains"))
    return {"code": asset.code, "name": asset.name, "kind": asset.kind, "district_code": asset.district_code,
            "parent": p.parent}


@action(auth.asset_list, schema=s.ListIn, roles=GOVERNMENT)
def asset_list(ctx: Context, p: s.ListIn) -> list[dict[str, Any]]:
    """Assets with their device counts and the assets they contain."""
    assets = ctx.db.scalars(select(SensingAsset).order_by(SensingAsset.code).limit(p.limit).offset(p.offset)).all()
    counts = dict(ctx.db.execute(select(Device.asset_id, func.count()).group_by(Device.asset_id)).all())
    codes = dict(ctx.db.execute(select(SensingAsset.id, SensingAsset.code)).all())
    children: dict[int, list[str]] = {}
    for f, t in ctx.db.execute(select(SensingAssetRelation.from_id, SensingAssetRelation.to_id)
                               .where(SensingAssetRelation.kind == "contains")):
        children.setdefault(f, []).append(codes.get(t, ""))
    return [{"code": a.code, "name": a.name, "kind": a.kind, "district_code": a.district_code, "lat": a.lat,
             "lon": a.lon, "devices": counts.get(a.id, 0), "contains": sorted(children.get(a.id, []))} for a in assets]


# -- telemetry over HTTP ---------------------------------------------------------------------------------------


@action(auth.telemetry_ingest, schema=s.TelemetryIngest, roles=None)
def telemetry_ingest(ctx: Context, p: s.TelemetryIngest) -> dict[str, Any]:
    """Readings sent over HTTP (``POST /api/telemetry`` with the device token as bearer, or ThingsBoard's
    ``/api/v1/{token}/telemetry``): the same pipeline as MQTT. Refused readings are dead-lettered; a wrong token is
    401, a gateway's readings all for devices not assigned to it 403, readings that all failed validation 422,
    otherwise the counts."""
    msg = RawMessage(kind=p.kind, credential=p.token, payload=p.payload.encode("utf-8"), received_at=time.time(),
                     source="http", device=p.device)
    settings = get_settings()
    if settings.nats_url and get_ingestor().sender_ok(msg):
        # JetStream configured: appended to the durable stream like an MQTT message; the ingest workers validate,
        # store and dead-letter. Answered once JetStream stored it. A bad credential falls through to the
        # pipeline below, which dead-letters it and answers 401 as without a stream.
        receiving_sink(settings)([msg])
        return {"messages": 1, "queued": 1, "stream": settings.nats_stream}
    res = get_ingestor()([msg])
    if res.readings == 0 and res.duplicates == 0 and res.rejected:
        reason = next(iter(res.reasons))
        zh, en = REASONS.get(reason, (reason, reason))
        if set(res.reasons) <= AUTH_REASONS:
            raise NotAuthenticated(zh, en)
        if set(res.reasons) == {NOT_ASSIGNED}:  # a known gateway speaking for devices that are not its own
            raise NotAuthorized(zh, en)
        raise ValidationError(f"读数被拒绝: {zh}", f"Readings refused: {en}",
                              fields={"payload": [f"{k}: {v}" for k, v in res.reasons.items()]})
    return res.as_dict()


# -- alarms ----------------------------------------------------------------------------------------------------


def _alarm_q(p: s.AlarmList) -> Any:
    q = select(Alarm, Device.code).join(Device, Device.id == Alarm.device_id)
    if p.status == "active":
        q = q.where(Alarm.active.is_(True))
    elif p.status == "cleared":
        q = q.where(Alarm.active.is_(False))
    elif p.status != "all":
        q = q.where(Alarm.status == p.status)
    if p.device:
        q = q.where(Device.code == p.device)
    if p.severity:
        q = q.where(Alarm.severity == p.severity)
    if p.type:
        q = q.where(Alarm.type == p.type)
    if p.since:
        q = q.where(Alarm.first_seen >= p.since)
    if p.until:
        q = q.where(Alarm.first_seen < p.until)
    return q


@action(auth.alarm_list, schema=s.AlarmList, roles=GOVERNMENT)
def alarm_list(ctx: Context, p: s.AlarmList) -> dict[str, Any]:
    """Alarms (default: the active ones), newest first, with the total."""
    q = _alarm_q(p)
    total = ctx.db.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = ctx.db.execute(q.order_by(Alarm.last_seen.desc(), Alarm.id.desc()).limit(p.limit).offset(p.offset)).all()
    return {"count": total, "alarms": [alarm_dict(a, code) for a, code in rows]}


def _alarm(ctx: Context, alarm_id: int) -> tuple[Alarm, str]:
    row = ctx.db.execute(select(Alarm, Device.code).join(Device, Device.id == Alarm.device_id)
                         .where(Alarm.id == alarm_id)).first()
    if row is None:
        raise NotFound(f"未找到告警 {alarm_id}", f"Alarm not found: {alarm_id}")
    return row[0], row[1]


def _announce(ctx: Context, a: Alarm, code: str, event: str) -> None:
    ev = {"event": event, "alarm_id": a.id, "device": code, "type": a.type, "severity": a.severity,
          "status": a.status, "by": ctx.actor_name, "ts": utcnow().isoformat()}
    queue_webhooks(ctx.db, ev)
    ctx.extra.setdefault("after_commit", []).append(lambda: notify.publish(ev))


@action(auth.alarm_ack, schema=s.AlarmRef, write=True, target=lambda p, r: str(p.id), roles=GOVERNMENT)
def alarm_ack(ctx: Context, p: s.AlarmRef) -> dict[str, Any]:
    """Acknowledge an alarm (active or cleared): someone has seen it."""
    a, code = _alarm(ctx, p.id)
    if a.status.endswith("_ack"):
        raise Conflict("告警已确认", "Alarm already acknowledged")
    a.status = "active_ack" if a.active else "cleared_ack"
    a.ack_by = ctx.actor_name
    a.ack_at = utcnow()
    _announce(ctx, a, code, "alarm_acknowledged")
    return alarm_dict(a, code)


@action(auth.alarm_clear, schema=s.AlarmRef, write=True, target=lambda p, r: str(p.id), roles=GOVERNMENT)
def alarm_clear(ctx: Context, p: s.AlarmRef) -> dict[str, Any]:
    """Clear an active alarm by hand (a new reading that breaks the rule raises a new one)."""
    a, code = _alarm(ctx, p.id)
    if not a.active:
        raise Conflict("告警已清除", "Alarm already cleared")
    a.active = False
    a.status = "cleared_ack" if a.status == "active_ack" else "cleared_unack"
    a.clear_by = ctx.actor_name
    a.cleared_at = utcnow()
    ctx.db.flush()
    _announce(ctx, a, code, "alarm_cleared")
    return alarm_dict(a, code)


# -- rules, dead letters, webhooks -----------------------------------------------------------------------------


def rule_dict(r: SensingRule, device: str = "") -> dict[str, Any]:
    return {"id": r.id, "name": r.name, "device_type": r.device_type, "device": device, "alarm_type": r.alarm_type,
            "severity": r.severity, "condition": r.condition, "enabled": r.enabled, "created_by": r.created_by,
            "created_at": r.created_at.isoformat()}


@action(auth.rule_create, schema=s.RuleCreate, write=True, target=lambda p, r: p.name, roles=ADMINS)
def rule_create(ctx: Context, p: s.RuleCreate) -> dict[str, Any]:
    """Add an alarm rule for the devices of a type (or one device); see docs/sensing.md for conditions."""
    if ctx.db.scalar(select(SensingRule.id).where(SensingRule.name == p.name)) is not None:
        raise Conflict(f"规则名称已被使用: {p.name}", f"Rule name already in use: {p.name}",
                       fields={"name": ["duplicate"]})
    t = devicetypes.TYPES[p.device_type]
    unknown = rules.attributes(rules.parse(p.condition)) - set(t.by_name)
    if unknown:
        raise ValidationError("规则引用了设备类型没有的属性", "The rule names attributes the device type lacks",
                              fields={"condition": [f"unknown attribute {a}" for a in sorted(unknown)]})
    device_id = None
    if p.device:
        dev = _device(ctx, p.device)
        if dev.type != p.device_type:
            raise ValidationError("设备类型不符", "The device is of another type", fields={"device": ["wrong type"]})
        device_id = dev.id
    rule = SensingRule(name=p.name, device_type=p.device_type, device_id=device_id, alarm_type=p.alarm_type,
                       severity=p.severity, condition=p.condition, created_by=ctx.actor_name, created_at=utcnow())
    ctx.db.add(rule)
    ctx.db.flush()
    _refresh_pipeline(ctx)
    return rule_dict(rule, p.device)


def _rule(ctx: Context, name: str) -> SensingRule:
    rule = ctx.db.scalar(select(SensingRule).where(SensingRule.name == name))
    if rule is None:
        raise NotFound(f"未找到规则 {name}", f"Rule not found: {name}")
    return rule


@action(auth.rule_update, schema=s.RuleUpdate, write=True, target=lambda p, r: p.name, roles=ADMINS)
def rule_update(ctx: Context, p: s.RuleUpdate) -> dict[str, Any]:
    """Change a rule's alarm type, severity, condition or enabled flag (its device type and device stay). A new
    condition starts from a fresh evaluation state; alarms it raised before keep their history."""
    rule = _rule(ctx, p.name)
    changed: list[str] = []
    if p.condition is not None:
        unknown = rules.attributes(rules.parse(p.condition)) - set(devicetypes.TYPES[rule.device_type].by_name)
        if unknown:
            raise ValidationError("规则引用了设备类型没有的属性", "The rule names attributes the device type lacks",
                                  fields={"condition": [f"unknown attribute {a}" for a in sorted(unknown)]})
        if p.condition != rule.condition:
            rule.condition = p.condition
            ctx.db.execute(delete(RuleState).where(RuleState.rule_id == rule.id))
            changed.append("condition")
    for key in ("alarm_type", "severity", "enabled"):
        value = getattr(p, key)
        if value is not None and value != getattr(rule, key):
            setattr(rule, key, value)
            changed.append(key)
    ctx.db.flush()
    _refresh_pipeline(ctx)
    ctx.extra["audit_detail"] = {"changed": changed}
    device = ctx.db.scalar(select(Device.code).where(Device.id == rule.device_id)) if rule.device_id else ""
    return rule_dict(rule, device or "")


@action(auth.rule_delete, schema=s.RuleRef, write=True, target=lambda p, r: p.name, roles=ADMINS)
def rule_delete(ctx: Context, p: s.RuleRef) -> dict[str, Any]:
    """Delete a rule. The alarms it raised stay (readable, with the rule's name in their details; an active one
    is cleared by hand); only its evaluation state goes."""
    rule = _rule(ctx, p.name)
    kept = cast("CursorResult[Any]", ctx.db.execute(update(Alarm).where(Alarm.rule_id == rule.id)
                                                    .values(rule_id=None))).rowcount
    ctx.db.execute(delete(RuleState).where(RuleState.rule_id == rule.id))
    ctx.db.delete(rule)
    ctx.db.flush()
    _refresh_pipeline(ctx)
    ctx.extra["audit_detail"] = {"alarms_kept": kept}
    return {"name": p.name, "deleted": True, "alarms_kept": kept}


@action(auth.rule_list, schema=s.ListIn, roles=GOVERNMENT)
def rule_list(ctx: Context, p: s.ListIn) -> list[dict[str, Any]]:
    """Alarm rules."""
    rows = ctx.db.execute(select(SensingRule, Device.code).outerjoin(Device, Device.id == SensingRule.device_id)
                          .order_by(SensingRule.name).limit(p.limit).offset(p.offset)).all()
    return [rule_dict(r, code or "") for r, code in rows]


@action(auth.deadletter_list, schema=s.DeadLetterList, roles=GOVERNMENT)
def deadletter_list(ctx: Context, p: s.DeadLetterList) -> dict[str, Any]:
    """Refused readings, newest first, with the total and the count per reason (zh/en labels)."""
    q = select(DeadLetter)
    if p.reason:
        q = q.where(DeadLetter.reason == p.reason)
    if p.device:
        q = q.where(DeadLetter.device_code == p.device)
    total = ctx.db.scalar(select(func.count()).select_from(q.subquery())) or 0
    by_reason = dict(ctx.db.execute(select(DeadLetter.reason, func.count()).group_by(DeadLetter.reason)).all())
    rows = ctx.db.scalars(q.order_by(DeadLetter.id.desc()).limit(p.limit).offset(p.offset)).all()
    return {"count": total,
            "by_reason": {k: {"count": v, "label_zh": REASONS.get(k, (k, k))[0], "label_en": REASONS.get(k, (k, k))[1]}
                          for k, v in sorted(by_reason.items())},
            "dead_letters": [{"id": d.id, "received_at": d.received_at.isoformat(), "source": d.source,
                              "device": d.device_code, "reason": d.reason, "detail": d.detail, "payload": d.payload}
                             for d in rows]}


@action(auth.webhook_create, schema=s.WebhookCreate, write=True, target=lambda p, r: p.name, roles=ADMINS)
def webhook_create(ctx: Context, p: s.WebhookCreate) -> dict[str, Any]:
    """Subscribe an HTTP endpoint to alarm changes at or above a severity (POSTed as JSON, signed with HMAC-SHA256
    of the secret in ``X-CityHub-Signature``, retried with back-off)."""
    if ctx.db.scalar(select(Webhook.id).where(Webhook.name == p.name)) is not None:
        raise Conflict(f"名称已被使用: {p.name}", f"Name already in use: {p.name}", fields={"name": ["duplicate"]})
    hook = Webhook(name=p.name, url=p.url, secret=p.secret, min_severity=p.min_severity, created_by=ctx.actor_name)
    ctx.db.add(hook)
    ctx.db.flush()
    return {"id": hook.id, "name": hook.name, "url": hook.url, "min_severity": hook.min_severity, "enabled": True}


def _hook_dict(h: Webhook) -> dict[str, Any]:
    return {"id": h.id, "name": h.name, "url": h.url, "min_severity": h.min_severity, "enabled": h.enabled}


def _hook(ctx: Context, name: str) -> Webhook:
    hook = ctx.db.scalar(select(Webhook).where(Webhook.name == name))
    if hook is None:
        raise NotFound(f"未找到 Webhook {name}", f"Webhook not found: {name}")
    return hook


@action(auth.webhook_update, schema=s.WebhookUpdate, write=True, target=lambda p, r: p.name, roles=ADMINS)
def webhook_update(ctx: Context, p: s.WebhookUpdate) -> dict[str, Any]:
    """Change a webhook's URL, secret, minimum severity or enabled flag (the secret is never shown back)."""
    hook = _hook(ctx, p.name)
    changed = []
    for key in ("url", "secret", "min_severity", "enabled"):
        value = getattr(p, key)
        if value is not None and value != getattr(hook, key):
            setattr(hook, key, value)
            changed.append(key)
    ctx.extra["audit_detail"] = {"changed": changed}
    return _hook_dict(hook)


@action(auth.webhook_delete, schema=s.WebhookRef, write=True, target=lambda p, r: p.name, roles=ADMINS)
def webhook_delete(ctx: Context, p: s.WebhookRef) -> dict[str, Any]:
    """Unsubscribe a webhook; its pending deliveries are dropped with it."""
    hook = _hook(ctx, p.name)
    dropped = cast("CursorResult[Any]", ctx.db.execute(delete(WebhookDelivery)
                                                       .where(WebhookDelivery.webhook_id == hook.id))).rowcount
    ctx.db.delete(hook)
    ctx.extra["audit_detail"] = {"deliveries_dropped": dropped}
    return {"name": p.name, "deleted": True, "deliveries_dropped": dropped}


@action(auth.webhook_list, schema=s.ListIn, roles=ADMINS)
def webhook_list(ctx: Context, p: s.ListIn) -> list[dict[str, Any]]:
    """Webhook subscriptions."""
    rows = ctx.db.scalars(select(Webhook).order_by(Webhook.name).limit(p.limit).offset(p.offset)).all()
    return [_hook_dict(h) for h in rows]


# -- AQI and overview ------------------------------------------------------------------------------------------


def station_hourly(store: Any, code: str, start: dt.datetime, end: dt.datetime) -> dict[dt.datetime, dict[str, float]]:
    """Hourly mean concentrations of one air-quality station in [start, end): {hour start (UTC): {pollutant: mean}}."""
    out: dict[dt.datetime, dict[str, float]] = {}
    for r in store.hourly("air_quality", start, end, per_device=True, attributes=POLLUTANTS):
        if r["device"] == code:
            out.setdefault(r["hour"], {})[r["attribute"]] = float(r["mean"])
    return out


def hourly_aqi_series(hours: dict[dt.datetime, dict[str, float]], start: dt.datetime, end: dt.datetime,
                      table: str) -> list[dict[str, Any]]:
    """The real-time AQI of each hour in [start, end) from hourly means (``hours`` should reach 23 hours earlier
    for the O3 8-hour and SO2 24-hour means)."""
    out = []
    h = start
    while h < end:
        cur = hours.get(h)
        if cur:
            o3_window = [hours.get(h - dt.timedelta(hours=i), {}).get("o3") for i in range(7, -1, -1)]
            so2_window = [v for i in range(24) if (v := hours.get(h - dt.timedelta(hours=i), {}).get("so2")) is not None]
            o3_8h = aqi.moving_average(o3_window)[-1]
            so2_24h = sum(so2_window) / len(so2_window) if len(so2_window) >= 20 else None
            r = aqi.hourly_aqi(so2=cur.get("so2"), no2=cur.get("no2"), co=cur.get("co"), o3=cur.get("o3"),
                               pm10=cur.get("pm10"), pm25=cur.get("pm25"), o3_8h=o3_8h, so2_24h=so2_24h, version=table)
            out.append({"hour": h.isoformat(), "hour_local": h.astimezone(SH).isoformat(),
                        "concentrations": {k: round(v, 3) for k, v in cur.items()},
                        "o3_8h": round(o3_8h, 3) if o3_8h is not None else None, **r.as_dict()})
        h += dt.timedelta(hours=1)
    return out


@action(auth.aqi_show, schema=s.AqiShow, roles=None)
def aqi_show(ctx: Context, p: s.AqiShow) -> dict[str, Any]:
    """A monitoring station's AQI for one day (Asia/Shanghai): each hour's real-time AQI and the daily AQI
    (HJ 633; the table in CITYHUB_SENSING_AQI_TABLE unless one is named)."""
    dev = _device(ctx, p.device)
    if dev.type != "air_quality":
        raise ValidationError("该设备不是空气质量监测站", "Not an air-quality station", fields={"device": ["wrong type"]})
    table = p.table or get_settings().sensing_aqi_table
    day = p.date or dt.datetime.now(SH).date()
    start = dt.datetime.combine(day, dt.time(), SH).astimezone(UTC)
    end = start + dt.timedelta(days=1)
    hours = station_hourly(get_ingestor().store, dev.code, start - dt.timedelta(hours=23), end)
    hourly = hourly_aqi_series(hours, start, end, table)
    day_hours = [hours.get(start + dt.timedelta(hours=i), {}) for i in range(24)]
    prev = [hours.get(start - dt.timedelta(hours=i), {}) for i in range(7, 0, -1)]
    inputs = aqi.daily_inputs(day_hours, previous=prev)
    daily = aqi.daily_aqi(so2=inputs["so2"], no2=inputs["no2"], co=inputs["co"], pm10=inputs["pm10"],
                          pm25=inputs["pm25"], o3_1h_max=inputs["o3_1h_max"], o3_8h_max=inputs["o3_8h_max"],
                          version=table)
    return {"device": dev.code, "name": dev.name, "date": day.isoformat(), "table": table,
            "table_note": aqi.TABLE_NOTES[table], "hourly": hourly,
            "daily": {"inputs": {k: (round(v, 3) if v is not None else None) for k, v in inputs.items()},
                      **daily.as_dict()}}


#: devices the overview's live map shows at most
MAP_DEVICES = 5000


#: device types whose places the public overview shows (the rest is infrastructure: government users only); the
#: rule itself is ``auth.device_visible``, applied on every path that serves a device
PUBLIC_MAP_TYPES = auth.PUBLIC_MAP_TYPES


@action(auth.sensing_overview, schema=s.Empty, roles=None)
def sensing_overview(ctx: Context, p: s.Empty) -> dict[str, Any]:
    """The city at a glance: devices by type and district, online in the last hour, active alarms by severity,
    dead letters (last 24 hours and in all) and each station's AQI from its latest readings."""
    now = utcnow()
    by_type = Counter(dict(ctx.db.execute(select(Device.type, func.count()).group_by(Device.type)).all()))
    by_district = dict(ctx.db.execute(select(Device.district_code, func.count())
                                      .group_by(Device.district_code)).all())
    online = ctx.db.scalar(select(func.count()).select_from(Device)
                           .where(Device.last_seen_at >= now - dt.timedelta(hours=1))) or 0
    alarms = dict(ctx.db.execute(select(Alarm.severity, func.count()).where(Alarm.active.is_(True))
                                 .group_by(Alarm.severity)).all())
    dead_day = ctx.db.scalar(select(func.count()).select_from(DeadLetter)
                             .where(DeadLetter.received_at >= now - dt.timedelta(days=1))) or 0
    dead_all = ctx.db.scalar(select(func.count()).select_from(DeadLetter)) or 0
    table = get_settings().sensing_aqi_table
    stations = []
    rows = ctx.db.execute(select(Device.code, Device.name, Device.lat, Device.lon, Device.district_code,
                                 DeviceLatest.attribute, DeviceLatest.value)
                          .join(DeviceLatest, DeviceLatest.device_id == Device.id)
                          .where(Device.type == "air_quality", Device.active.is_(True))).all()
    latest: dict[str, dict[str, Any]] = {}
    for code, name, lat, lon, district, attr, value in rows:
        entry = latest.setdefault(code, {"code": code, "name": name, "lat": lat, "lon": lon,
                                         "district_code": district, "values": {}})
        entry["values"][attr] = value
    for entry in latest.values():
        v = entry["values"]
        r = aqi.hourly_aqi(**{k: v.get(k) for k in POLLUTANTS}, version=table)
        stations.append({**{k: entry[k] for k in ("code", "name", "lat", "lon", "district_code")},
                         "aqi": r.aqi, "primary": r.primary, "category_zh": r.category_zh,
                         "category_en": r.category_en, "colour": r.colour})
    types = [{"type": t, "label_zh": devicetypes.TYPES[t].label_zh if t in devicetypes.TYPES else t,
              "label_en": devicetypes.TYPES[t].label_en if t in devicetypes.TYPES else t, "devices": n}
             for t, n in sorted(by_type.items())]
    severity_rank = {"critical": 4, "major": 3, "minor": 2, "warning": 1}
    worst: dict[int, str] = {}
    for device_id, sev in ctx.db.execute(select(Alarm.device_id, Alarm.severity).where(Alarm.active.is_(True))):
        if severity_rank.get(sev, 0) > severity_rank.get(worst.get(device_id, ""), 0):
            worst[device_id] = sev
    points = []  # located devices (up to MAP_DEVICES) with their state, for the live map
    shown = select(Device.id, Device.code, Device.type, Device.lat, Device.lon, Device.last_seen_at).where(
        Device.active.is_(True), Device.lat.is_not(None), Device.lon.is_not(None), Device.type != "gateway")
    # the public sees where the public-facing sensors are, never the city's infrastructure (manhole covers,
    # gas/water/drainage pipelines, energy meters): their places are for government users only
    shown = _visible_types(ctx, shown)
    for dev_id, code, dtype, lat, lon, seen in ctx.db.execute(shown.order_by(Device.id).limit(MAP_DEVICES)):
        state = worst.get(dev_id) or ("ok" if seen is not None and seen >= now - dt.timedelta(hours=1) else "offline")
        points.append({"code": code, "type": dtype, "lat": lat, "lon": lon, "state": state})
    try:
        values: int | None = get_ingestor().store.count()  # rows of the store: one per reading and attribute
    except Exception:  # a store that cannot be read right now: the rest of the overview still answers
        values = None
    return {"devices": sum(by_type.values()), "online_last_hour": online, "types": types,
            "values_stored": values, "map": points,
            "districts": by_district, "alarms_active": {sev: alarms.get(sev, 0) for sev in
                                                         ("critical", "major", "minor", "warning")},
            "dead_letters_24h": dead_day, "dead_letters": dead_all,
            "stations": sorted(stations, key=lambda x: x["code"]), "aqi_table": table}


@action(auth.sensing_hourly, schema=s.HourlyIn, roles=None)
def sensing_hourly(ctx: Context, p: s.HourlyIn) -> dict[str, Any]:
    """City-wide hourly aggregates (count, mean, min, max per attribute) of a device type for one day (Asia/Shanghai),
    from raw readings or, for days past retention, from the kept hourly aggregates."""
    day = p.date or dt.datetime.now(SH).date()
    start = dt.datetime.combine(day, dt.time(), SH).astimezone(UTC)
    rows = get_ingestor().store.hourly(p.type, start, start + dt.timedelta(days=1), attributes=p.attributes)
    return {"type": p.type, "date": day.isoformat(),
            "hours": [{"hour": r["hour"].isoformat(), "hour_local": r["hour"].astimezone(SH).isoformat(),
                       "attribute": r["attribute"], "n": int(r["n"]), "mean": r["mean"], "min": r["min"],
                       "max": r["max"]} for r in rows]}


@action(auth.sensing_retain, schema=s.Empty, write=True, target=lambda p, r: "tsstore", roles=ADMINS)
def sensing_retain(ctx: Context, p: s.Empty) -> dict[str, Any]:
    """Aggregate finished days of readings to hourly and daily values, compact them, and drop raw readings older
    than CITYHUB_SENSING_RAW_DAYS (the job ``sensing_retention`` runs it daily)."""
    result: dict[str, Any] = get_ingestor().store.retain(utcnow(), get_settings().sensing_raw_days)
    ctx.extra["audit_detail"] = result
    return result


# -- the hourly AQI as open data -------------------------------------------------------------------------------

AQI_COLUMNS = ["站点编码", "站点名称", "所属区划代码", "监测时间", "PM2_5浓度", "PM10浓度", "SO2浓度", "NO2浓度", "一氧化碳浓度",
               "O3浓度", "O3_8小时浓度", "AQI", "级别", "类别", "首要污染物"]
AQI_BACKFILL = dt.timedelta(days=7)


def _aqi_dir() -> Any:
    d = get_settings().home / "sensing" / "aqi"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _ensure_aqi_dataset(ctx: Context, name: str) -> dict[str, Any]:
    from cityhub import actions

    try:
        ds: dict[str, Any] = actions.call("dataset_show", ctx, {"id": name})
        return ds
    except NotFound:
        pass
    actions.call("dataset_create", ctx, {
        "name": name, "title": "空气质量监测站点小时 AQI", "title_en": "Hourly AQI of air-quality stations",
        "department": get_settings().sensing_aqi_department, "catalog_type": "主题", "class_item": "08",
        "class_category": "001", "class_sub": "1",
        "abstract": "城市感知平台按 HJ 633-2012 由各空气质量监测站点逐小时的PM2.5、PM10、二氧化硫、二氧化氮、一氧化碳、臭氧"
                    "浓度计算的实时空气质量指数（AQI）、级别、类别与首要污染物，每小时自动追加。",
        "format": "电子表格",
        "data_items": [{"name": c, "type": "string", "description": c} for c in AQI_COLUMNS],
        "sharing_class": "无条件共享", "opening_class": "无条件开放", "update_cycle": "实时",
        "theme": "environment", "tags": ["空气质量", "AQI", "城市感知"], "license_id": "cc-by-4.0"})
    ds = actions.call("dataset_show", ctx, {"id": name})
    if ds.get("publication") == "draft":
        actions.call("dataset_submit", ctx, {"id": name})
    if ds.get("publication") != "published":
        ds = actions.call("dataset_approve", ctx, {"id": name})
    return actions.call("dataset_show", ctx, {"id": name})


@action(auth.sensing_aqi_publish, schema=s.Empty, write=True, target=lambda p, r: r.get("dataset", "-"), roles=ADMINS)
def sensing_aqi_publish(ctx: Context, p: s.Empty) -> dict[str, Any]:
    """Append the completed hours' AQI of every active station to the open dataset (CITYHUB_SENSING_AQI_DATASET,
    created 无条件开放 on first use) and load it into the datastore, so anyone can query it through the datastore
    API. The job ``sensing_aqi_publish`` runs it hourly; hours already published are not repeated."""
    from cityhub import actions
    from cityhub.catalog.schemas import UploadedFile

    settings = get_settings()
    folder = _aqi_dir()
    state_path, csv_path = folder / "state.json", folder / "station_aqi_hourly.csv"
    state = json.loads(state_path.read_text()) if state_path.exists() else {}
    now = utcnow()
    end = now.replace(minute=0, second=0, microsecond=0)       # hours before this one are complete
    start = dt.datetime.fromisoformat(state["next"]) if state.get("next") else end - AQI_BACKFILL
    if start >= end:
        return {"dataset": settings.sensing_aqi_dataset, "rows": 0}
    store = get_ingestor().store
    stations = ctx.db.execute(select(Device.code, Device.name, Device.district_code)
                              .where(Device.type == "air_quality", Device.active.is_(True))
                              .order_by(Device.code)).all()
    rows = []
    for code, name, district in stations:
        hours = station_hourly(store, code, start - dt.timedelta(hours=23), end)
        for h in hourly_aqi_series(hours, start, end, settings.sensing_aqi_table):
            c = h["concentrations"]
            rows.append([code, name, district, h["hour_local"][:19].replace("T", " "), c.get("pm25", ""),
                         c.get("pm10", ""), c.get("so2", ""), c.get("no2", ""), c.get("co", ""), c.get("o3", ""),
                         h["o3_8h"] if h["o3_8h"] is not None else "", h["aqi"] if h["aqi"] is not None else "",
                         h["level_zh"], h["category_zh"], "、".join(h["primary"]) or "—"])
    new_state = {"next": end.isoformat()}
    if not rows:
        ctx.extra.setdefault("after_commit", []).append(lambda: state_path.write_text(json.dumps(new_state)))
        return {"dataset": settings.sensing_aqi_dataset, "rows": 0}
    buf = io.StringIO()
    writer = csv.writer(buf)
    previous = csv_path.read_text(encoding="utf-8") if csv_path.exists() else ""
    if not previous:
        writer.writerow(AQI_COLUMNS)
    writer.writerows(rows)
    content = previous + buf.getvalue()
    ds = _ensure_aqi_dataset(ctx, settings.sensing_aqi_dataset)
    upload = UploadedFile(filename="station_aqi_hourly.csv", stream=io.BytesIO(content.encode("utf-8")))
    ours = [r for r in ds.get("resources", []) if r.get("name") == "站点小时 AQI"]
    if ours:
        res = actions.call("resource_update", ctx, {"id": ours[0]["id"], "upload": upload})
    else:
        res = actions.call("resource_create", ctx, {"dataset": settings.sensing_aqi_dataset, "name": "站点小时 AQI",
                                                    "description": "各站点逐小时 AQI（CSV，每小时追加）",
                                                    "format": "CSV", "upload": upload})

    def keep() -> None:
        tmp = csv_path.with_suffix(".tmp")
        tmp.write_text(content, encoding="utf-8")
        tmp.replace(csv_path)
        state_path.write_text(json.dumps(new_state))

    ctx.extra.setdefault("after_commit", []).append(keep)
    ctx.extra["audit_detail"] = {"rows": len(rows), "until": end.isoformat()}
    return {"dataset": settings.sensing_aqi_dataset, "resource_id": res["id"], "rows": len(rows),
            "until": end.isoformat()}
