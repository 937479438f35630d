# ruff: noqa: F811 - the service fixtures are imported from tests/sensing/transport_services.py
"""A gateway publishes only for the devices assigned to it (``gateway_device``, set at provisioning, in the CSV
import, or changed later): readings it relays for any other device are dead-lettered with the reason
``not_assigned_to_gateway`` — over HTTP and over the MQTT gateway topic — and the assigned ones are stored."""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import call_as, token_for, unique
from tests.sensing.conftest import NOW, Pipe, add_devices, msg
from tests.sensing.conftest import bearer as _h
from tests.sensing.transport_services import mqtt_url, prefix  # noqa: F401 - fixtures


def _create(client: TestClient, **body: Any) -> dict[str, Any]:
    r = client.post("/api/sensing/devices", headers=_h(token_for("admin")), json=body)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def test_gateway_over_http_only_for_its_devices(client: TestClient) -> None:
    admin = _h(token_for("admin"))
    gw = _create(client, code=unique("gw"), type="gateway")
    other_gw = _create(client, code=unique("gw"), type="gateway")
    mine = _create(client, code=unique("mh"), type="manhole_cover", gateway_device=gw["code"])
    theirs = _create(client, code=unique("mh"), type="manhole_cover", gateway_device=other_gw["code"])
    loose = _create(client, code=unique("mh"), type="manhole_cover")
    assert mine["gateway_device"] == gw["code"] and loose["gateway_device"] == ""
    now_ms = int(time.time() * 1000)
    body = {mine["code"]: [{"ts": now_ms - 1000, "values": {"tilt": 2}}],
            theirs["code"]: [{"ts": now_ms - 1000, "values": {"tilt": 3}}, {"ts": now_ms, "values": {"tilt": 4}}],
            loose["code"]: {"ts": now_ms, "values": {"tilt": 5}}}
    r = client.post("/api/telemetry", params={"kind": "gateway"}, headers=_h(gw["token"]), json=body)
    assert r.status_code == 200, r.text
    assert (r.json()["readings"], r.json()["rejected"]) == (1, 3)
    assert r.json()["reasons"] == {"not_assigned_to_gateway": 3}
    dead = client.get("/api/sensing/deadletters", headers=admin, params={"reason": "not_assigned_to_gateway",
                                                                           "limit": 10000}).json()
    mine_dead = [d for d in dead["dead_letters"] if d["device"] in (theirs["code"], loose["code"])]
    assert len(mine_dead) == 3 and all(gw["code"] in d["detail"] for d in mine_dead)
    assert dead["by_reason"]["not_assigned_to_gateway"]["label_zh"] == "设备未分配给该网关"
    assert client.get(f"/api/sensing/devices/{mine['code']}", headers=admin).json()["latest"]["tilt"]["value"] == 2
    assert client.get(f"/api/sensing/devices/{theirs['code']}", headers=admin).json()["latest"] == {}
    # every reading for devices not its own: 403, all dead-lettered
    r = client.post("/api/telemetry", params={"kind": "gateway"}, headers=_h(gw["token"]),
                    json={theirs["code"]: [{"ts": now_ms, "values": {"tilt": 9}}]})
    assert r.status_code == 403 and r.json()["error"]["message"] == "设备未分配给该网关"
    # the other gateway may; reassigning moves the right at once
    r = client.post("/api/telemetry", params={"kind": "gateway"}, headers=_h(other_gw["token"]),
                    json={theirs["code"]: [{"ts": now_ms - 5000, "values": {"tilt": 7}}]})
    assert r.status_code == 200 and r.json()["readings"] == 1
    r = client.patch(f"/api/sensing/devices/{theirs['code']}", headers=admin, json={"gateway_device": gw["code"]})
    assert r.status_code == 200 and r.json()["gateway_device"] == gw["code"]
    r = client.post("/api/telemetry", params={"kind": "gateway"}, headers=_h(other_gw["token"]),
                    json={theirs["code"]: [{"ts": now_ms - 4000, "values": {"tilt": 8}}]})
    assert r.status_code == 403
    r = client.post("/api/telemetry", params={"kind": "gateway"}, headers=_h(gw["token"]),
                    json={theirs["code"]: [{"ts": now_ms - 3000, "values": {"tilt": 8}}]})
    assert r.status_code == 200 and r.json()["readings"] == 1
    # a device still sends its own readings with its own token, assigned or not
    assert client.post("/api/telemetry", headers=_h(loose["token"]), json={"tilt": 1}).json()["readings"] == 1


def test_gateway_assignment_bad_input(client: TestClient) -> None:
    admin = _h(token_for("admin"))
    plain = _create(client, code=unique("aq"), type="air_quality")
    for gateway in ("no-such-gateway", plain["code"]):  # unknown, or not a gateway
        r = client.post("/api/sensing/devices", headers=admin,
                        json={"code": unique("mh"), "type": "manhole_cover", "gateway_device": gateway})
        assert r.status_code == 422 and "gateway_device" in r.json()["error"]["fields"], r.text
    gw = _create(client, code=unique("gw"), type="gateway")
    r = client.patch(f"/api/sensing/devices/{gw['code']}", headers=admin, json={"gateway_device": gw["code"]})
    assert r.status_code == 422  # not its own gateway
    r = client.patch(f"/api/sensing/devices/{plain['code']}", headers=admin, json={"gateway_device": plain["code"]})
    assert r.status_code == 422
    r = client.patch(f"/api/sensing/devices/{plain['code']}", headers=admin, json={"gateway_device": "x" * 101})
    assert r.status_code == 422
    # unassigning: ""
    client.patch(f"/api/sensing/devices/{plain['code']}", headers=admin, json={"gateway_device": gw["code"]})
    r = client.patch(f"/api/sensing/devices/{plain['code']}", headers=admin, json={"gateway_device": ""})
    assert r.status_code == 200 and r.json()["gateway_device"] == ""


def test_csv_import_assigns_gateways(client: TestClient) -> None:
    gw, a, b = unique("GW"), unique("D"), unique("D")
    known = _create(client, code=unique("gw"), type="gateway")
    csv = (f"code,type,name,gateway\n{a},noise,a,{gw}\n{gw},gateway,the gateway,\n"
           f"{b},noise,b,{known['code']}\n")
    res = call_as("admin", "device_import", {"csv": csv})
    assert res["created"] == 3
    shown = {d["code"]: d for d in call_as("admin", "device_list", {"type": "noise", "limit": 10000})["devices"]}
    assert shown[a]["gateway_device"] == gw and shown[b]["gateway_device"] == known["code"]
    # all or nothing: an unknown gateway, or one that is not a gateway, names the row and creates nothing
    c, d = unique("D"), unique("D")
    from cityhub.errors import ValidationError

    with pytest.raises(ValidationError) as err:
        call_as("admin", "device_import", {"csv": f"code,type,gateway\n{c},noise,nope-gw\n{d},noise,{a}\n"})
    assert set(err.value.fields) == {f"code {c}", f"code {d}"}
    assert call_as("admin", "device_list", {"type": "noise", "limit": 10000})["count"] == len(shown)


def test_gateway_topic_over_mqtt_only_for_its_devices(pipe: Pipe, mqtt_url: str, prefix: str) -> None:
    """Through Mosquitto: the gateway topic's message carries readings of an assigned device and of one that is
    not assigned to this gateway; the first is stored, the second dead-lettered with the reason."""
    from sqlalchemy import select

    from cityhub.db import session_scope
    from cityhub.sensing.models import DeadLetter
    from cityhub.sensing.transport.mqtt import MqttReceiver
    from cityhub.sensing.transport.topics import gateway_topic
    from tests.sensing.test_transport_mqtt import publisher, wait_for

    add_devices([("air-9", "air_quality", "tok-air-9", False)], {})  # registered, assigned to no gateway
    results = []
    lock = threading.Lock()

    def sink(batch: Any) -> Any:
        r = pipe.ingest(batch)
        with lock:
            results.append(r)
        return r

    rx = MqttReceiver(mqtt_url, sink, client_id=f"rx-{uuid.uuid4().hex[:8]}", prefix=prefix, batch_ms=20).start()
    pub = publisher(mqtt_url)
    ts = int(NOW * 1000)
    try:
        pub.publish(gateway_topic(prefix, "tok-gw-1"),
                    json.dumps({"air-1": [{"ts": ts, "values": {"pm25": 12}}],
                                "air-9": [{"ts": ts, "values": {"pm25": 13}}, {"ts": ts + 1, "values": {"pm25": 14}}]}),
                    qos=1)
        assert wait_for(lambda: sum(r.messages for r in results) == 1, 20)
    finally:
        pub.loop_stop()
        pub.disconnect()
        rx.stop()
    (r,) = results
    assert (r.readings, r.rejected, r.reasons) == (1, 2, {"not_assigned_to_gateway": 2})
    with session_scope() as s:
        dead = s.execute(select(DeadLetter.device_code, DeadLetter.reason, DeadLetter.source)).all()
    assert sorted(dead) == [("air-9", "not_assigned_to_gateway", "mqtt")] * 2
    assert [x["value"] for x in pipe.store.series("air-1", *_around(NOW))] == [12.0]
    assert pipe.store.series("air-9", *_around(NOW)) == []


def _around(t: float) -> tuple[Any, Any]:
    import datetime as dt

    at = dt.datetime.fromtimestamp(t, dt.UTC)
    return at - dt.timedelta(minutes=1), at + dt.timedelta(minutes=1)


def test_gateway_message_in_the_pipeline_directly(pipe: Pipe) -> None:
    """The same rule without a broker (HTTP and MQTT share it): one message, mixed devices."""
    add_devices([("air-9", "air_quality", "tok-air-9", False)], {})
    res = pipe.ingest([msg({"air-2": [{"pm25": 5}], "air-9": [{"pm25": 6}], "mh-1": {"open": 1}}, "tok-gw-1",
                           kind="gateway", source="http")])
    assert (res.readings, res.rejected, res.reasons) == (2, 1, {"not_assigned_to_gateway": 1})
