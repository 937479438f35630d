"""The sensing hub over HTTP: telemetry with device tokens, devices, rules → alarms (ack/clear audited), the live
alarm stream, dead letters, the AQI and the overview; the role gates."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Store, call_as, token_for, unique
from tests.sensing.conftest import bearer as _h


def _device(client: TestClient, admin: str, type_: str = "air_quality") -> dict[str, Any]:
    r = client.post("/api/sensing/devices", headers=_h(admin),
                    json={"code": unique("aq"), "type": type_, "name": "天河监测站", "district_code": "440106",
                          "lat": 23.13, "lon": 113.36})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    assert len(body["token"]) >= 30
    return body


def test_telemetry_paths_and_refusals(client: TestClient) -> None:
    admin = token_for("admin")
    dev = _device(client, admin)
    now_ms = int(time.time() * 1000)
    r = client.post("/api/telemetry", headers=_h(dev["token"]), json={"ts": now_ms - 60000, "values": {"pm25": 30}})
    assert r.status_code == 200, r.text
    assert r.json()["readings"] == 1
    r = client.post(f"/api/telemetry/{dev['code']}", headers=_h(dev["token"]), json=[{"ts": now_ms - 30000, "pm10": 80}])
    assert r.json()["readings"] == 1
    r = client.post(f"/api/v1/{dev['token']}/telemetry", json={"ts": now_ms - 10000, "no2": 40})
    assert r.status_code == 200 and r.json()["readings"] == 1
    # a user's API token is not a device token: dead-lettered, 401 with the bilingual message
    r = client.post(f"/api/telemetry/{dev['code']}", headers=_h(admin), json={"pm25": 1})
    assert r.status_code == 401 and r.json()["error"]["message"] == "设备令牌错误"
    r = client.post("/api/telemetry", headers=_h(dev["token"]), json={"pm25": -5})
    assert r.status_code == 422 and "out_of_range" in json.dumps(r.json())
    shown = client.get(f"/api/sensing/devices/{dev['code']}", headers=_h(admin)).json()
    assert shown["latest"]["pm25"]["value"] == 30 and shown["latest"]["no2"]["unit"] == "µg/m³"
    dead = client.get("/api/sensing/deadletters", headers=_h(admin), params={"device": dev["code"]}).json()
    assert sorted(d["reason"] for d in dead["dead_letters"]) == ["out_of_range", "wrong_token"]
    assert dead["by_reason"]["wrong_token"]["label_zh"] == "设备令牌错误"
    # rotation: the old token stops at once
    new = client.post(f"/api/sensing/devices/{dev['code']}/token", headers=_h(admin)).json()["token"]
    assert client.post("/api/telemetry", headers=_h(dev["token"]), json={"pm25": 1}).status_code == 401
    assert client.post("/api/telemetry", headers=_h(new), json={"pm25": 1}).status_code == 200


def test_gates(client: TestClient) -> None:
    citizen = token_for("citizen")
    analyst = token_for("analyst")
    # the device list is public since device pages are, narrowed to the public map types (test_device_pages.py)
    public = client.get("/api/sensing/devices", headers=_h(citizen))
    assert public.status_code == 200
    assert {d["type"] for d in public.json()["devices"]} <= {"air_quality", "water_quality", "noise", "flood",
                                                             "streetlight", "parking_spot"}
    assert client.get("/api/sensing/devices").status_code == 200
    assert client.get("/api/sensing/devices", headers=_h(analyst)).status_code == 200
    r = client.post("/api/sensing/devices", headers=_h(analyst), json={"code": "x1", "type": "noise"})
    assert r.status_code == 403
    assert client.get("/api/sensing/overview").status_code == 200


def test_rule_alarm_stream_ack_clear(client: TestClient) -> None:
    admin = token_for("admin")
    analyst = token_for("analyst")
    dev = _device(client, admin)
    r = client.post("/api/sensing/rules", headers=_h(admin),
                    json={"name": unique("pm25"), "device_type": "air_quality", "device": dev["code"],
                          "alarm_type": "PM2.5超标", "severity": "major",
                          "condition": {"attr": "pm25", "op": ">", "value": 75}})
    assert r.status_code == 201, r.text
    bad = client.post("/api/sensing/rules", headers=_h(admin),
                      json={"name": unique("bad"), "device_type": "air_quality", "alarm_type": "x",
                            "condition": {"attr": "tilt", "op": ">", "value": 1}})
    assert bad.status_code == 422

    lines: list[str] = []

    def listen() -> None:
        with client.stream("GET", "/events/sensing/alarms", headers=_h(analyst), params={"seconds": 4}) as s:
            assert s.status_code == 200
            for line in s.iter_lines():
                lines.append(line)

    t = threading.Thread(target=listen)
    t.start()
    time.sleep(1.0)
    now_ms = int(time.time() * 1000)
    r = client.post("/api/telemetry", headers=_h(dev["token"]), json={"ts": now_ms - 1000, "values": {"pm25": 120}})
    assert r.json()["alarms_raised"] == 1
    t.join(10)
    events = [json.loads(x[5:]) for x in lines if x.startswith("data:")]
    assert any(e["device"] == dev["code"] and e["event"] == "alarm_raised" for e in events), lines

    alarms = client.get("/api/sensing/alarms", headers=_h(analyst), params={"device": dev["code"]}).json()
    assert alarms["count"] == 1
    aid = alarms["alarms"][0]["id"]
    a = client.post(f"/api/sensing/alarms/{aid}/ack", headers=_h(analyst)).json()
    assert a["status"] == "active_ack" and a["ack_by"] == "analyst"
    assert client.post(f"/api/sensing/alarms/{aid}/ack", headers=_h(analyst)).status_code == 409
    c = client.post(f"/api/sensing/alarms/{aid}/clear", headers=_h(analyst)).json()
    assert c["status"] == "cleared_ack" and c["clear_by"] == "analyst"
    assert client.post(f"/api/sensing/alarms/{aid}/clear", headers=_h(analyst)).status_code == 409
    audit = call_as("admin", "audit_list", {"action": "alarm_ack", "limit": 5})
    records = audit["records"] if isinstance(audit, dict) else audit
    assert any(r["target"] == str(aid) for r in records)
    # a new reading over the limit raises a new alarm (the cleared one does not block it)
    r = client.post("/api/telemetry", headers=_h(dev["token"]), json={"ts": now_ms, "values": {"pm25": 130}})
    assert r.json()["alarms_raised"] == 0  # the rule is still true: no new edge until it has been false
    client.post("/api/telemetry", headers=_h(dev["token"]), json={"ts": now_ms + 1000, "values": {"pm25": 10}})
    r = client.post("/api/telemetry", headers=_h(dev["token"]), json={"ts": now_ms + 2000, "values": {"pm25": 99}})
    assert r.json()["alarms_raised"] == 1


def test_device_import_all_or_nothing(client: TestClient) -> None:
    admin_ctx = "system"
    a, b = unique("nz"), unique("nz")
    bad = f"code,type,name\n{a},noise,一号\n{b},teleporter,二号\n"
    with pytest.raises(Exception) as err:
        call_as(admin_ctx, "device_import", {"csv": bad})
    assert "line 3" in json.dumps(getattr(err.value, "fields", {}))
    assert client.get(f"/api/sensing/devices/{a}", headers=_h(token_for("admin"))).status_code == 404
    good = f"\ufeffcode,type,name,lat,lon,district_code\n{a},noise,一号,23.1,113.3,440104\n{b},flood,二号,,,\n"
    out = call_as(admin_ctx, "device_import", {"csv": good})
    assert out["created"] == 2 and {t["code"] for t in out["tokens"]} == {a, b}


def test_overview_page_in_both_languages_and_offline(client: TestClient) -> None:
    admin = token_for("admin")
    dev = _device(client, admin)
    client.post("/api/telemetry", headers=_h(dev["token"]), json={"values": {"pm25": 80, "pm10": 40}})
    client.cookies.set("cityhub_lang", "zh")
    page = client.get("/sensing")
    assert page.status_code == 200 and "城市感知总览" in page.text and dev["code"] in page.text
    assert "轻度污染" in page.text           # AQI 107 from the latest readings
    import re

    sources = re.findall(r'<script[^>]+src="([^"]+)"', page.text)
    assert sources and all(s.startswith("/") and not s.startswith("//") for s in sources)
    client.cookies.set("cityhub_lang", "en")
    en = client.get("/sensing")
    assert "City sensing overview" in en.text and "Lightly polluted" in en.text


def test_device_import_and_update_over_http(client: TestClient) -> None:
    admin, steward = token_for("admin"), token_for("steward")
    a, b = unique("pk"), unique("pk")
    csv_text = f"code,type,name,lat,lon,district_code\n{a},parking_spot,一号泊位,23.12,113.32,440106\n{b},parking_spot,二号泊位,,,\n"
    assert client.post("/api/sensing/devices/import", headers=_h(steward), json={"csv": csv_text}).status_code == 403
    assert client.get(f"/api/sensing/devices/{a}", headers=_h(admin)).status_code == 404
    r = client.post("/api/sensing/devices/import", headers=_h(admin), json={"csv": csv_text})
    assert r.status_code == 200, r.text
    assert r.json()["created"] == 2 and {t["code"] for t in r.json()["tokens"]} == {a, b}
    again = client.post("/api/sensing/devices/import", headers=_h(admin), json={"csv": csv_text})
    assert again.status_code == 422 and "already registered" in again.text

    assert client.patch(f"/api/sensing/devices/{b}", headers=_h(steward), json={"name": "x"}).status_code == 403
    r = client.patch(f"/api/sensing/devices/{b}", headers=_h(admin),
                     json={"name": "二号泊位(体育西)", "district_code": "440106", "active": False})
    assert r.status_code == 200, r.text
    shown = client.get(f"/api/sensing/devices/{b}", headers=_h(admin)).json()
    assert (shown["name"], shown["district_code"], shown["active"]) == ("二号泊位(体育西)", "440106", False)
    assert client.patch(f"/api/sensing/devices/{b}", headers=_h(admin), json={"code": "other"}).status_code == 422
    assert client.patch(f"/api/sensing/devices/{unique('none')}", headers=_h(admin), json={"name": "x"}).status_code == 404


def test_public_overview_hides_infrastructure_places(client: TestClient) -> None:
    admin = token_for("admin")
    air = _device(client, admin, "air_quality")
    manhole = _device(client, admin, "manhole_cover")
    public = {p["code"] for p in client.get("/api/sensing/overview").json()["map"]}
    government = {p["code"] for p in client.get("/api/sensing/overview", headers=_h(token_for("steward"))).json()["map"]}
    assert air["code"] in public and manhole["code"] not in public
    assert {air["code"], manhole["code"]} <= government


def test_http_telemetry_goes_through_jetstream_when_configured(sqlite_demo_store: Store,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """With CITYHUB_NATS_URL set the HTTP route appends to the durable stream as the MQTT receiver does (answered once
    JetStream stored it, ``queued``), a worker stores it; a wrong token is still refused at once (401) and dead-lettered,
    nothing of it in the stream."""
    import asyncio
    import uuid

    import nats

    from cityhub.sensing.ingest import get_ingestor
    from cityhub.sensing.transport import service
    from cityhub.sensing.transport.stream import run_worker
    from cityhub.settings import get_settings
    from tests.sensing.transport_services import NATS_URL, _reachable, need

    need(_reachable(NATS_URL))
    uid = uuid.uuid4().hex[:10]
    sqlite_demo_store.activate()
    monkeypatch.setenv("CITYHUB_NATS_URL", NATS_URL)
    monkeypatch.setenv("CITYHUB_NATS_STREAM", f"TEST_{uid}")
    monkeypatch.setenv("CITYHUB_NATS_SUBJECT", f"test.{uid}.telemetry")
    monkeypatch.setenv("CITYHUB_NATS_CONSUMER", f"w-{uid}")
    get_settings.cache_clear()
    monkeypatch.setattr(service, "_receiving_sink", None)
    from cityhub.web.app import create_app

    stop = threading.Event()
    worker: threading.Thread | None = None
    try:
        with TestClient(create_app(), base_url="http://127.0.0.1:8000") as client:
            admin = token_for("admin")
            dev = _device(client, admin)
            now_ms = int(time.time() * 1000)
            r = client.post("/api/telemetry", headers=_h(dev["token"]), json={"ts": now_ms - 5000, "values": {"pm25": 41}})
            assert r.status_code == 200, r.text
            assert r.json() == {"messages": 1, "queued": 1, "stream": f"TEST_{uid}"}
            r = client.post(f"/api/telemetry/{dev['code']}", headers=_h(admin), json={"pm25": 1})
            assert r.status_code == 401 and r.json()["error"]["message"] == "设备令牌错误"
            cfg = service.stream_config(get_settings())

            async def stored() -> int:
                nc = await nats.connect(NATS_URL)
                info = await nc.jetstream().stream_info(f"TEST_{uid}")
                await nc.close()
                return int(info.state.messages)

            assert asyncio.run(stored()) == 1  # the refused one never reached the stream
            shown = client.get(f"/api/sensing/devices/{dev['code']}", headers=_h(admin)).json()
            assert "pm25" not in (shown.get("latest") or {})  # queued, not stored yet
            worker = threading.Thread(target=run_worker, args=(get_ingestor(), cfg), kwargs={"batch": 10, "stop": stop})
            worker.start()
            deadline = time.time() + 20
            while time.time() < deadline:
                shown = client.get(f"/api/sensing/devices/{dev['code']}", headers=_h(admin)).json()
                if (shown.get("latest") or {}).get("pm25"):
                    break
                time.sleep(0.2)
            assert shown["latest"]["pm25"]["value"] == 41
            dead = client.get("/api/sensing/deadletters", headers=_h(admin), params={"device": dev["code"]}).json()
            assert [d["reason"] for d in dead["dead_letters"]] == ["wrong_token"]
    finally:
        stop.set()
        if worker is not None:
            worker.join(10)
        sink = service._receiving_sink
        if sink is not None and hasattr(sink, "close"):
            sink.close()

        async def drop() -> None:
            nc = await nats.connect(NATS_URL)
            await nc.jetstream().delete_stream(f"TEST_{uid}")
            await nc.close()

        asyncio.run(drop())
        get_settings.cache_clear()
