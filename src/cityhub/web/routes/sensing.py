"""The sensing hub over HTTP: device telemetry (``POST /api/telemetry`` with the device token as bearer,
``/api/telemetry/{device}``, ThingsBoard's ``/api/v1/{token}/telemetry``), devices, alarms (with a server-sent
events stream of alarm changes at ``/events/sensing/alarms``, and of one device's readings and alarm changes at
``/events/sensing/devices/{code}``), rules, dead letters, the AQI of a station and the city overview. Every route
parses its input and calls one action (the live stream subscribes to ``sensing.notify``)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from cityhub.sensing import devicetypes, notify
from cityhub.sensing.schemas import (
    AssetCreate,
    DeviceChange,
    DeviceCreate,
    DeviceImport,
    RuleChange,
    RuleCreate,
    WebhookChange,
    WebhookCreate,
)
from cityhub.web.deps import access, call, check_csrf, token_from_header
from cityhub.web.openapi import MAX_ID, MAX_OFFSET, Record, body_errors, ok, operation_id

router = APIRouter(tags=["sensing"], generate_unique_id_function=operation_id)

#: paths whose bearer token is a device's, not a user's (the app does not resolve it as an API token)
DEVICE_PATH_PREFIX = "/api/telemetry"


def is_device_path(path: str) -> bool:
    return path == DEVICE_PATH_PREFIX or path.startswith(DEVICE_PATH_PREFIX + "/") or (
        path.startswith("/api/v1/") and path.endswith("/telemetry") and path.count("/") == 4)


class IngestOut(Record):
    """What the pipeline stored (200). With JetStream configured (``CITYHUB_NATS_URL``), a message from a known
    sender is appended to the durable stream and answered with ``queued`` and ``stream`` only: the ingest
    workers validate and store it (refusals go to the dead letters)."""
    messages: int
    readings: int | None = None
    values: int | None = None
    duplicates: int | None = None
    rejected: int | None = None
    alarms_raised: int | None = None
    alarms_cleared: int | None = None
    reasons: dict[str, int] | None = None
    queued: int | None = None
    stream: str | None = None


class DeviceOut(Record):
    code: str
    type: str
    name: str
    district_code: str
    gateway: bool
    active: bool


class DeviceList(Record):
    count: int
    devices: list[DeviceOut]


class AlarmOut(Record):
    id: int
    device: str
    type: str
    severity: str
    status: str
    active: bool
    count: int


class AlarmList(Record):
    count: int
    alarms: list[AlarmOut]


async def _telemetry(request: Request, token: str | None, device: str, kind: str) -> Any:
    body = (await request.body()).decode("utf-8", "replace")
    return await run_in_threadpool(call, request, "telemetry_ingest",
                                   {"token": token or "", "device": device, "kind": kind, "payload": body}, "api")


_TELEMETRY_DOC = ("Readings of the device whose token is the bearer: one reading `{\"ts\": ms, \"values\": {…}}`, "
                  "a flat `{attr: value}`, or a list of readings; `kind=gateway`: `{\"<device>\": [readings…]}`. "
                  "Refused readings are dead-lettered.")
_NO_404 = (" An unknown device or token is answered 401, like a wrong token (no device enumeration); 404 is "
           "declared for the document's rule on path parameters and not sent.")


@router.post("/api/telemetry", summary="Send readings (device token as bearer)", description=_TELEMETRY_DOC,
             responses=ok(IngestOut, *body_errors()))
async def telemetry(request: Request, kind: Literal["device", "gateway"] = Query("device")) -> Any:
    return await _telemetry(request, token_from_header(request), "", kind)


@router.post("/api/telemetry/{device}", summary="Send readings of a named device (its token as bearer)",
             description=_TELEMETRY_DOC + _NO_404, responses=ok(IngestOut, *body_errors(404)))
async def telemetry_device(request: Request, device: str = Path(max_length=100)) -> Any:
    return await _telemetry(request, token_from_header(request), device, "device")


@router.post("/api/v1/{token}/telemetry", summary="Send readings, ThingsBoard style (token in the path)",
             description=_TELEMETRY_DOC + _NO_404, responses=ok(IngestOut, *body_errors(404)))
async def telemetry_thingsboard(request: Request, token: str = Path(max_length=200)) -> Any:
    return await _telemetry(request, token, "", "device")


@router.get("/api/sensing/overview", summary="The sensing hub at a glance (public)", responses=ok(Record))
def overview(request: Request) -> Any:
    return call(request, "sensing_overview", {}, via="api")


@router.get("/api/sensing/hourly", summary="City-wide hourly means of a device type for a day (public)",
            responses=ok(Record))
def hourly(request: Request, type: str = Query("air_quality", max_length=40), date: dt.date | None = Query(None)) -> Any:
    data: dict[str, Any] = {"type": type}
    if date is not None:
        data["date"] = date
    return call(request, "sensing_hourly", data, via="api")


@router.get("/api/sensing/devices", summary="Devices (government users: all; others: the public map types)",
            responses=ok(DeviceList))
def devices(request: Request, type: str | None = Query(None, max_length=40),
            district_code: str | None = Query(None, max_length=6),
            state: Literal["ok", "offline", "alarm", "inactive"] | None = Query(None),
            limit: int = Query(100, ge=1, le=10000), offset: int = Query(0, ge=0, le=MAX_OFFSET)) -> Any:
    data = {"type": type, "district_code": district_code, "state": state, "limit": limit, "offset": offset}
    return call(request, "device_list", {k: v for k, v in data.items() if v is not None}, via="api")


@router.post("/api/sensing/devices", dependencies=[access("device_create")], status_code=201,
             summary="Register a device (its token is in the answer, once)",
             responses=ok(DeviceOut, *body_errors(403, 409), status=201))
def device_create(request: Request, body: DeviceCreate) -> Any:
    check_csrf(request, None)
    return call(request, "device_create", body, via="api")


@router.post("/api/sensing/devices/import", dependencies=[access("device_import")],
             summary="Register devices from CSV, all or nothing (the new tokens are in the answer, once)",
             responses=ok(Record, *body_errors(403)))
def device_import(request: Request, body: DeviceImport) -> Any:
    check_csrf(request, None)
    return call(request, "device_import", body, via="api")


@router.patch("/api/sensing/devices/{code}", dependencies=[access("device_update")],
              summary="Change a device (name, place, district, asset, active)",
              responses=ok(DeviceOut, *body_errors(403, 404)))
def device_update(request: Request, body: DeviceChange, code: str = Path(max_length=100)) -> Any:
    check_csrf(request, None)
    return call(request, "device_update", {**body.model_dump(exclude_unset=True), "code": code}, via="api")


@router.get("/api/sensing/devices/{code}", summary="A device with its latest values and active alarms",
            description="Public users get only devices of the public map types (others: 404).",
            responses=ok(DeviceOut, 404))
def device_show(request: Request, code: str = Path(max_length=100)) -> Any:
    return call(request, "device_show", {"code": code}, via="api")


@router.get("/api/sensing/devices/{code}/series", summary="A device's readings over the last hours",
            description="Public users get only devices of the public map types (others: 404).",
            responses=ok(Record, 404))
def device_series(request: Request, code: str = Path(max_length=100), hours: int = Query(24, ge=1, le=744)) -> Any:
    return call(request, "device_series", {"device": code, "hours": hours}, via="api")


@router.get("/api/sensing/devices/{code}/chart",
            summary="A device's chart series: 24h raw, 7d hourly, 30d daily aggregates (bounded points)",
            description="Public users get only devices of the public map types (others: 404).",
            responses=ok(Record, 404))
def device_series_show(request: Request, code: str = Path(max_length=100),
                       range: Literal["24h", "7d", "30d"] = Query("24h"),
                       attribute: list[str] | None = Query(None, max_length=50)) -> Any:
    data: dict[str, Any] = {"device": code, "range": range}
    if attribute:
        data["attributes"] = attribute
    return call(request, "device_series_show", data, via="api")


@router.post("/api/sensing/devices/{code}/token", dependencies=[access("device_token_rotate")],
             summary="Rotate a device's token (the new one is in the answer, once)",
             responses=ok(Record, *body_errors(403, 404)))
def device_token_rotate(request: Request, code: str = Path(max_length=100)) -> Any:
    check_csrf(request, None)
    return call(request, "device_token_rotate", {"code": code}, via="api")


@router.post("/api/sensing/assets", dependencies=[access("asset_create")], status_code=201,
             summary="Register an asset", responses=ok(Record, *body_errors(403, 409), status=201))
def asset_create(request: Request, body: AssetCreate) -> Any:
    check_csrf(request, None)
    return call(request, "asset_create", body, via="api")


@router.get("/api/sensing/alarms", dependencies=[access("alarm_list")], summary="Alarms (default: active)",
            responses=ok(AlarmList, 403))
def alarms(request: Request,
           status: Literal["active", "cleared", "active_unack", "active_ack", "cleared_unack", "cleared_ack",
                           "all"] = Query("active"),
           device: str | None = Query(None, max_length=100),
           severity: Literal["critical", "major", "minor", "warning"] | None = Query(None),
           type: str | None = Query(None, max_length=100), since: dt.datetime | None = Query(None),
           until: dt.datetime | None = Query(None),
           limit: int = Query(100, ge=1, le=10000), offset: int = Query(0, ge=0, le=MAX_OFFSET)) -> Any:
    data = {"status": status, "device": device, "severity": severity, "type": type, "since": since, "until": until,
            "limit": limit, "offset": offset}
    return call(request, "alarm_list", {k: v for k, v in data.items() if v is not None}, via="api")


@router.post("/api/sensing/alarms/{alarm_id}/ack", dependencies=[access("alarm_ack")],
             summary="Acknowledge an alarm", responses=ok(AlarmOut, *body_errors(403, 404, 409)))
def alarm_ack(request: Request, alarm_id: int = Path(ge=1, le=MAX_ID)) -> Any:
    check_csrf(request, None)
    return call(request, "alarm_ack", {"id": alarm_id}, via="api")


@router.post("/api/sensing/alarms/{alarm_id}/clear", dependencies=[access("alarm_clear")],
             summary="Clear an alarm", responses=ok(AlarmOut, *body_errors(403, 404, 409)))
def alarm_clear(request: Request, alarm_id: int = Path(ge=1, le=MAX_ID)) -> Any:
    check_csrf(request, None)
    return call(request, "alarm_clear", {"id": alarm_id}, via="api")


def _event_stream(request: Request, listener: notify.Listener, seconds: float,
                  render: Callable[[list[dict[str, Any]]], Iterable[tuple[str, Any]]],
                  pause: float = 0.0) -> StreamingResponse:
    """Server-sent events from ``listener``: ``render`` turns what it took into (event name, data) pairs; a comment
    every 15 s keeps the connection; at most one burst per ``pause`` seconds; the stream ends after ``seconds`` or
    when the client goes, and the listener is unsubscribed."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds

    async def events() -> AsyncIterator[bytes]:
        try:
            yield b": connected\n\n"
            while (left := end - loop.time()) > 0:
                assert listener.ready is not None
                try:
                    await asyncio.wait_for(listener.ready.wait(), timeout=min(15.0, left))
                except TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                for name, data in render(listener.take()):
                    yield f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()
                if await request.is_disconnected():
                    break
                if pause:
                    await asyncio.sleep(pause)
        finally:
            notify.unsubscribe(listener)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@router.get("/events/sensing/alarms", dependencies=[access("alarm_list")], include_in_schema=False)
async def alarm_stream(request: Request, seconds: float = Query(3600, gt=0, le=86400)) -> StreamingResponse:
    """Server-sent events: one ``alarm`` event per alarm change, a comment every 15 s to keep the connection;
    the stream ends after ``seconds``. Government users (the gate above). Outside ``/api/``: a long-lived stream,
    not a request/response operation of the OpenAPI document."""
    await run_in_threadpool(call, request, "alarm_list", {"limit": 1}, "api")  # the record-level rule too
    listener = notify.subscribe(asyncio.get_running_loop())

    def alarm_events(taken: list[dict[str, Any]]) -> Iterator[tuple[str, Any]]:
        return (("alarm", ev) for ev in taken)

    return _event_stream(request, listener, seconds, alarm_events)


#: a device stream sends at most one burst of events per this many seconds (readings coalesce meanwhile)
DEVICE_STREAM_INTERVAL = 0.5
#: what a device stream tells of an alarm change (anyone who sees the device may listen; the page then reads the
#: alarm through ``device_show``, which decides what the caller sees of it)
DEVICE_ALARM_FIELDS = ("event", "alarm_id", "device", "type", "severity", "status", "ts")


def _visible_device(request: Request) -> dict[str, Any]:
    """``device_show`` for the path's device: the one visibility rule (not visible or unknown: 404), run as a
    dependency so it is decided before the query is validated."""
    out: dict[str, Any] = call(request, "device_show", {"code": request.path_params.get("code", "")}, "api")
    return out


def readings_event(dtype: devicetypes.DeviceType | None, event: dict[str, Any]) -> dict[str, Any]:
    """A coalesced ``readings`` event as sent: the latest value of each attribute as the device sent it (enum
    names, booleans) with its time, and the points (ISO time, stored value) for the charts."""
    latest: dict[str, dict[str, Any]] = {}
    points: dict[str, list[list[Any]]] = {}
    for attr, pts in event["points"].items():
        ordered = sorted(pts, key=lambda p: p[0])
        ts, v = ordered[-1]
        latest[attr] = {"ts": dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(),
                        "value": devicetypes.display_value(dtype, attr, v) if dtype else v}
        points[attr] = [[dt.datetime.fromtimestamp(t, dt.UTC).isoformat(), round(x, 4)] for t, x in ordered]
    return {"device": event["device"], "latest": latest, "points": points}


@router.get("/events/sensing/devices/{code}", dependencies=[access("device_show")], include_in_schema=False)
async def device_stream(request: Request, dev: dict[str, Any] = Depends(_visible_device),
                        seconds: float = Query(3600, gt=0, le=86400)) -> StreamingResponse:
    """Server-sent events of one device, for whoever may see it (``device_show``'s rule, decided first): a
    ``readings`` event with the latest value of each attribute and the new points, coalesced (at most one burst
    every ``DEVICE_STREAM_INTERVAL`` seconds), and an ``alarm`` event per alarm change of the device; a comment
    every 15 s keeps the connection; the stream ends after ``seconds``. Per process: readings stored by another
    process (a JetStream ingest worker) do not reach it."""
    dtype = devicetypes.get(dev["type"])
    listener = notify.subscribe_device(dev["code"], asyncio.get_running_loop())

    def device_events(taken: list[dict[str, Any]]) -> Iterator[tuple[str, Any]]:
        merged: dict[str, Any] | None = None
        for ev in taken:
            if ev.get("event") != "readings":
                yield "alarm", {k: ev[k] for k in DEVICE_ALARM_FIELDS if k in ev}
            elif merged is None:
                merged = ev
            else:  # readings on both sides of an alarm change: still one readings event
                for attr, pts in ev["points"].items():
                    merged["points"].setdefault(attr, []).extend(pts)
        if merged is not None:
            yield "readings", readings_event(dtype, merged)

    return _event_stream(request, listener, seconds, device_events, pause=DEVICE_STREAM_INTERVAL)


@router.post("/api/sensing/rules", dependencies=[access("rule_create")], status_code=201,
             summary="Create an alarm rule", responses=ok(Record, *body_errors(403, 404, 409), status=201))
def rule_create(request: Request, body: RuleCreate) -> Any:
    check_csrf(request, None)
    return call(request, "rule_create", body, via="api")


@router.patch("/api/sensing/rules/{name}", dependencies=[access("rule_update")],
              summary="Change an alarm rule (alarm type, severity, condition, enabled)",
              responses=ok(Record, *body_errors(403, 404)))
def rule_update(request: Request, body: RuleChange, name: str = Path(max_length=100)) -> Any:
    check_csrf(request, None)
    return call(request, "rule_update", {**body.model_dump(exclude_unset=True), "name": name}, via="api")


@router.delete("/api/sensing/rules/{name}", dependencies=[access("rule_delete")],
               summary="Delete an alarm rule (its past alarms stay readable)", responses=ok(Record, 403, 404))
def rule_delete(request: Request, name: str = Path(max_length=100)) -> Any:
    check_csrf(request, None)
    return call(request, "rule_delete", {"name": name}, via="api")


@router.get("/api/sensing/rules", dependencies=[access("rule_list")], summary="Alarm rules",
            responses=ok(list[Record], 403))
def rules(request: Request, limit: int = Query(100, ge=1, le=10000),
          offset: int = Query(0, ge=0, le=MAX_OFFSET)) -> Any:
    return call(request, "rule_list", {"limit": limit, "offset": offset}, via="api")


@router.get("/api/sensing/deadletters", dependencies=[access("deadletter_list")],
            summary="Refused readings with their reasons", responses=ok(Record, 403))
def deadletters(request: Request, reason: str | None = Query(None, max_length=30),
                device: str | None = Query(None, max_length=100), limit: int = Query(100, ge=1, le=10000),
                offset: int = Query(0, ge=0, le=MAX_OFFSET)) -> Any:
    data = {"reason": reason, "device": device, "limit": limit, "offset": offset}
    return call(request, "deadletter_list", {k: v for k, v in data.items() if v is not None}, via="api")


@router.post("/api/sensing/webhooks", dependencies=[access("webhook_create")], status_code=201,
             summary="Subscribe a webhook to alarm changes", responses=ok(Record, *body_errors(403, 409), status=201))
def webhook_create(request: Request, body: WebhookCreate) -> Any:
    check_csrf(request, None)
    return call(request, "webhook_create", body, via="api")


@router.get("/api/sensing/webhooks", dependencies=[access("webhook_list")], summary="Webhook subscriptions",
            responses=ok(list[Record], 403))
def webhooks(request: Request, limit: int = Query(100, ge=1, le=10000),
             offset: int = Query(0, ge=0, le=MAX_OFFSET)) -> Any:
    return call(request, "webhook_list", {"limit": limit, "offset": offset}, via="api")


@router.patch("/api/sensing/webhooks/{name}", dependencies=[access("webhook_update")],
              summary="Change a webhook (URL, secret, minimum severity, enabled)",
              responses=ok(Record, *body_errors(403, 404)))
def webhook_update(request: Request, body: WebhookChange, name: str = Path(max_length=100)) -> Any:
    check_csrf(request, None)
    return call(request, "webhook_update", {**body.model_dump(exclude_unset=True), "name": name}, via="api")


@router.delete("/api/sensing/webhooks/{name}", dependencies=[access("webhook_delete")],
               summary="Unsubscribe a webhook", responses=ok(Record, 403, 404))
def webhook_delete(request: Request, name: str = Path(max_length=100)) -> Any:
    check_csrf(request, None)
    return call(request, "webhook_delete", {"name": name}, via="api")


@router.get("/api/sensing/aqi/{device}", summary="A station's hourly and daily AQI (HJ 633) for a day (public)",
            responses=ok(Record, 404))
def aqi(request: Request, device: str = Path(max_length=100), date: dt.date | None = Query(None),
        table: str | None = Query(None, max_length=20)) -> Any:
    data: dict[str, Any] = {"device": device}
    if date is not None:
        data["date"] = date
    if table is not None:
        data["table"] = table
    return call(request, "aqi_show", data, via="api")
