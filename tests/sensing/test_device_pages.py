"""Device pages, the device list and the alarm console (issue 13, the portal part), over HTTP on the demo store:
the one device visibility rule (public users see only the public map types, on the page, the list, the latest
values and every series API: 404 otherwise), the chart ranges (24 h raw, 7 d hourly, 30 d daily; bounded), the
console's filters and its acknowledge/clear forms (CSRF, government users only)."""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import Store, call_as, token_for, unique
from tests.sensing.conftest import bearer as _h
from tests.web.test_pages import HTML, csrf_of, page, signed_in

PUBLIC = {"air_quality", "water_quality", "noise", "flood", "streetlight", "parking_spot"}


def _device(client: TestClient, type_: str, **extra: Any) -> dict[str, Any]:
    r = client.post("/api/sensing/devices", headers=_h(token_for("admin")),
                    json={"code": unique(type_[:4]), "type": type_, "name": f"测试{type_}", "district_code": "440106",
                          "lat": 23.13, "lon": 113.36, **extra})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def _send(client: TestClient, token: str, readings: list[dict[str, Any]]) -> dict[str, Any]:
    r = client.post("/api/telemetry", headers=_h(token), json=readings)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_device_page_shows_attributes_latest_values_and_chart(client: TestClient) -> None:
    dev = _device(client, "air_quality")
    now_ms = int(time.time() * 1000)
    _send(client, dev["token"], [{"ts": now_ms - i * 600_000, "values": {"pm25": 30 + i, "no2": 40}} for i in range(6)])
    body = page(client, f"/sensing/devices/{dev['code']}")  # anonymous: an air-quality station is public
    assert 'id="device-charts"' in body and "/static/vendor/echarts/echarts.min.js" in body
    assert "µg/m³" in body and 'data-attr="pm25">30.0<' in body  # the latest value with its unit
    assert 'id="device-map"' in body
    cfg = re.search(r'<script type="application/json" id="device-config">(.*?)</script>', body, re.S)
    assert cfg and '"resolution": "raw"' in cfg.group(1)
    # the chart API: 24 h raw, 7 d hourly (from raw: the day is not aggregated yet), 30 d daily
    raw = client.get(f"/api/sensing/devices/{dev['code']}/chart", params={"range": "24h"}).json()
    pm25 = next(s for s in raw["series"] if s["attribute"] == "pm25")
    assert raw["resolution"] == "raw" and len(pm25["points"]) == 6 and pm25["unit"] == "µg/m³"
    week = client.get(f"/api/sensing/devices/{dev['code']}/chart", params={"range": "7d"}).json()
    hours = next(s for s in week["series"] if s["attribute"] == "pm25")["points"]
    assert week["resolution"] == "hour" and 1 <= len(hours) <= 2
    assert sum(p[4] for p in hours) == 6 and min(p[2] for p in hours) == 30 and max(p[3] for p in hours) == 35
    month = client.get(f"/api/sensing/devices/{dev['code']}/chart", params={"range": "30d"}).json()
    days = next(s for s in month["series"] if s["attribute"] == "pm25")["points"]
    assert month["resolution"] == "day" and sum(p[4] for p in days) == 6 and len(days) <= 2
    assert page(client, f"/sensing/devices/{dev['code']}?range=30d").count('aria-current="true"') == 1
    # bad input: an unknown range or attribute
    assert client.get(f"/api/sensing/devices/{dev['code']}/chart", params={"range": "1y"}).status_code == 422
    r = client.get(f"/api/sensing/devices/{dev['code']}/chart", params={"attribute": "nope"})
    assert r.status_code == 422 and "nope" in r.text


def test_infrastructure_devices_are_not_found_for_the_public(client: TestClient, sqlite_demo_store: Store) -> None:
    hidden = _device(client, "manhole_cover")
    code = hidden["code"]
    _send(client, hidden["token"], [{"values": {"tilt": 3}}])
    citizen = token_for("citizen")
    for headers in ({}, _h(citizen)):
        for url in (f"/api/sensing/devices/{code}", f"/api/sensing/devices/{code}/series",
                    f"/api/sensing/devices/{code}/chart", f"/api/sensing/devices/{code}/chart?range=7d"):
            r = client.get(url, headers=headers)
            assert r.status_code == 404, (url, r.status_code)
        listed = client.get("/api/sensing/devices", headers=headers, params={"limit": 10000}).json()
        assert code not in {d["code"] for d in listed["devices"]}
        assert {d["type"] for d in listed["devices"]} <= PUBLIC
        assert client.get("/api/sensing/devices", headers=headers,
                          params={"type": "manhole_cover"}).json()["count"] == 0
    page(client, f"/sensing/devices/{code}", status=404)
    assert code not in page(client, "/sensing/devices?type=manhole_cover")
    # the same 404 as a device that does not exist: nothing to enumerate
    assert client.get("/api/sensing/devices/no-such-device/chart").status_code == 404
    # government users see it everywhere
    analyst = token_for("analyst")
    assert client.get(f"/api/sensing/devices/{code}/chart", headers=_h(analyst)).status_code == 200
    assert client.get(f"/api/sensing/devices/{code}", headers=_h(analyst)).json()["state"] == "ok"
    signed_in(client, sqlite_demo_store.passwords, "analyst")
    assert code in page(client, "/sensing/devices?type=manhole_cover&state=ok")
    assert "tilt" in page(client, f"/sensing/devices/{code}")


def test_device_list_filters(client: TestClient) -> None:
    quiet = _device(client, "noise", district_code="440103")
    body = page(client, "/sensing/devices?type=noise&district_code=440103&state=offline")
    assert f'href="/sensing/devices/{quiet["code"]}"' in body
    assert quiet["code"] not in page(client, "/sensing/devices?type=noise&state=ok")
    _send(client, quiet["token"], [{"values": {"LAeq": 55}}])
    assert quiet["code"] in page(client, "/sensing/devices?type=noise&state=ok")
    assert quiet["code"] not in page(client, "/sensing/devices?type=noise&district_code=440106")
    # bad filter values are ignored by the page and refused by the API
    page(client, "/sensing/devices?state=melted&district_code=x&type=nope")
    assert client.get("/api/sensing/devices", params={"state": "melted"}).status_code == 422


def test_downsampling_bounds_the_points() -> None:
    from cityhub.sensing.actions import MAX_POINTS, downsample

    start = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    pts = [(start + dt.timedelta(seconds=i * 10), float(i % 7)) for i in range(8640)]
    out = downsample(pts, start, start + dt.timedelta(hours=24))
    assert len(out) <= MAX_POINTS and len(out) > MAX_POINTS // 2
    assert abs(sum(v for _, v in out) / len(out) - 3.0) < 0.1
    assert downsample(pts[:10], start, start + dt.timedelta(hours=24)) == pts[:10]


def test_public_users_see_open_alarms_without_names(client: TestClient) -> None:
    dev, alarm_id = _alarm(client)
    client.post(f"/api/sensing/alarms/{alarm_id}/ack", headers=_h(token_for("analyst")))
    public = client.get(f"/api/sensing/devices/{dev['code']}").json()["alarms"]
    assert [a["id"] for a in public] == [alarm_id] and public[0]["status"] == "active_ack"
    assert "ack_by" not in public[0] and "details" not in public[0]
    full = client.get(f"/api/sensing/devices/{dev['code']}", headers=_h(token_for("analyst"))).json()["alarms"]
    assert full[0]["ack_by"] == "analyst" and "rule" in full[0]["details"]
    assert "analyst" not in page(client, f"/sensing/devices/{dev['code']}")


def _alarm(client: TestClient) -> tuple[dict[str, Any], int]:
    admin = token_for("admin")
    dev = _device(client, "flood")
    rule = unique("flood")
    r = client.post("/api/sensing/rules", headers=_h(admin),
                    json={"name": rule, "device_type": "flood", "device": dev["code"], "alarm_type": f"{rule}-high",
                          "severity": "critical", "condition": {"attr": "currentLevel", "op": ">", "value": 2}})
    assert r.status_code == 201, r.text
    assert _send(client, dev["token"], [{"values": {"currentLevel": 3.5}}])["alarms_raised"] == 1
    alarms = client.get("/api/sensing/alarms", headers=_h(admin), params={"device": dev["code"]}).json()["alarms"]
    return dev, alarms[0]["id"]


def test_alarm_console_acknowledge_and_clear(client: TestClient, sqlite_demo_store: Store) -> None:
    dev, alarm_id = _alarm(client)
    # visitors are sent to sign in; public users are refused
    r = client.get("/sensing/alarms", headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    signed_in(client, sqlite_demo_store.passwords, "citizen")
    page(client, "/sensing/alarms", status=403)
    client.cookies.clear()
    signed_in(client, sqlite_demo_store.passwords, "analyst")
    body = page(client, f"/sensing/alarms?device={dev['code']}&status=active_unack&severity=critical")
    assert f'id="alarm-{alarm_id}"' in body and f'id="ack-{alarm_id}"' in body and "/events/sensing/alarms" in body
    assert f'id="alarm-{alarm_id}"' not in page(client, f"/sensing/alarms?device={dev['code']}&status=cleared")
    assert f'id="alarm-{alarm_id}"' not in page(client, f"/sensing/alarms?device={dev['code']}&severity=minor")
    # a form without its CSRF token is refused; with it the alarm is acknowledged (audited) and we are back
    assert client.post(f"/sensing/alarms/{alarm_id}/ack", headers=HTML, data={}).status_code == 401
    assert client.post(f"/sensing/alarms/{alarm_id}/ack", headers=HTML, data={"csrf_token": "forged"}).status_code == 401
    r = client.post(f"/sensing/alarms/{alarm_id}/ack", headers=HTML, follow_redirects=False,
                    data={"csrf_token": csrf_of(body), "next": f"/sensing/alarms?device={dev['code']}"})
    assert r.status_code == 303 and r.headers["location"] == f"/sensing/alarms?device={dev['code']}"
    body = page(client, f"/sensing/alarms?device={dev['code']}&status=active_ack")
    assert f'id="alarm-{alarm_id}"' in body and f'id="ack-{alarm_id}"' not in body
    r = client.post(f"/sensing/alarms/{alarm_id}/clear", headers=HTML, follow_redirects=False,
                    data={"csrf_token": csrf_of(body), "next": "https://evil.example/"})
    assert r.status_code == 303 and r.headers["location"] == "/sensing/alarms"
    a = call_as("analyst", "alarm_list", {"device": dev["code"], "status": "all"})["alarms"][0]
    assert a["status"] == "cleared_ack" and a["ack_by"] == "analyst" and a["clear_by"] == "analyst"
    audit = call_as("admin", "audit_list", {"action": "alarm_ack", "limit": 1})[0]
    assert audit["target"] == str(alarm_id) and audit["via"] == "web"
    # a second acknowledgement conflicts; an unknown step or alarm is not found
    assert client.post(f"/sensing/alarms/{alarm_id}/ack", headers=HTML,
                       data={"csrf_token": csrf_of(body)}).status_code == 409
    assert client.post(f"/sensing/alarms/{alarm_id}/melt", headers=HTML,
                       data={"csrf_token": csrf_of(body)}).status_code == 404
    assert client.post("/sensing/alarms/999999999/ack", headers=HTML,
                       data={"csrf_token": csrf_of(body)}).status_code == 404


def test_alarm_api_filters_by_type_and_time(client: TestClient) -> None:
    dev, alarm_id = _alarm(client)
    admin = _h(token_for("admin"))
    a = client.get("/api/sensing/alarms", headers=admin, params={"device": dev["code"]}).json()["alarms"][0]
    got = client.get("/api/sensing/alarms", headers=admin, params={"type": a["type"], "status": "all"}).json()
    assert [x["id"] for x in got["alarms"]] == [alarm_id]
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    assert client.get("/api/sensing/alarms", headers=admin,
                      params={"device": dev["code"], "since": later}).json()["count"] == 0
    assert client.get("/api/sensing/alarms", headers=admin,
                      params={"device": dev["code"], "until": later}).json()["count"] == 1
    assert client.get("/api/sensing/alarms", headers=admin, params={"since": "yesterday"}).status_code == 422
