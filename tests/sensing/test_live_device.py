"""A device page's live stream (issue 13, the portal part): the listener registry of ``sensing.notify`` (bounded,
coalescing, never blocking; nothing built by the pipeline while nobody listens) and
``/events/sensing/devices/{code}`` over HTTP — a reading posted with the device token arrives on the stream, an
alarm change too; the device page's visibility rule decides who may listen, before the query is validated."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cityhub.sensing import notify
from tests.conftest import token_for, unique
from tests.sensing.conftest import NOW, Pipe, msg
from tests.sensing.conftest import bearer as _h


def test_device_listener_coalesces_bounded_and_never_blocks() -> None:
    listener = notify.subscribe_device("dev-unit")
    other = notify.subscribe_device("dev-other")
    try:
        assert {"dev-unit", "dev-other"} <= notify.device_listeners.keys()
        start = time.perf_counter()
        for i in range(20_000):  # nobody takes: the queue must not grow past its bounds nor block the publisher
            notify.publish_readings({"dev-unit": [(NOW + i, {"pm25": float(i), "pm10": 1.0})]})
        elapsed = time.perf_counter() - start
        assert elapsed < 5.0, elapsed
        events = listener.take()
        assert len(events) == 1 and events[0]["event"] == "readings"  # coalesced into one pending event
        pm25 = list(events[0]["points"]["pm25"])
        assert len(pm25) == notify.POINTS and pm25[-1] == (NOW + 19_999, 19_999.0)  # the oldest dropped
        assert other.take() == []  # another device's listener gets nothing
        # alarm changes of the device reach its listener between readings, in order; the queue is bounded too
        notify.publish_readings({"dev-unit": [(NOW, {"pm25": 1.0})]})
        notify.publish({"event": "alarm_raised", "device": "dev-unit", "alarm_id": 1})
        notify.publish_readings({"dev-unit": [(NOW + 1, {"pm25": 2.0})]})
        assert [e["event"] for e in listener.take()] == ["readings", "alarm_raised", "readings"]
        for i in range(notify.QUEUE_SIZE + 50):
            notify.publish({"event": "alarm_raised", "device": "dev-unit", "alarm_id": i})
        events = listener.take()
        assert len(events) == notify.QUEUE_SIZE and events[-1]["alarm_id"] == notify.QUEUE_SIZE + 49
    finally:
        notify.unsubscribe(listener)
        notify.unsubscribe(other)
    assert "dev-unit" not in notify.device_listeners and "dev-other" not in notify.device_listeners


def test_pipeline_builds_nothing_without_listeners(sqlite_pipe: Pipe, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    monkeypatch.setattr(notify, "publish_readings", lambda by_device: calls.append(by_device))
    monkeypatch.setattr(notify, "device_listeners", {})
    sqlite_pipe.ingest([msg({"ts": NOW * 1000, "values": {"pm25": 30}}, "tok-air-1")])
    assert calls == []  # nobody listens: the pipeline does not even call in
    monkeypatch.undo()
    listener = notify.subscribe_device("air-1")
    try:
        res = sqlite_pipe.ingest([msg({"ts": (NOW + 60) * 1000, "values": {"pm25": 31}}, "tok-air-1"),
                                  msg({"ts": (NOW + 60) * 1000, "values": {"pm25": 7}}, "tok-air-2")])
        assert res.readings == 2
        (ev,) = listener.take()
        assert ev["device"] == "air-1" and list(ev["points"]) == ["pm25"]
        assert list(ev["points"]["pm25"]) == [(NOW + 60, 31.0)]
    finally:
        notify.unsubscribe(listener)


# -- over HTTP --------------------------------------------------------------------------------------------------


def _device(client: TestClient, type_: str) -> dict[str, Any]:
    r = client.post("/api/sensing/devices", headers=_h(token_for("admin")),
                    json={"code": unique(type_[:4]), "type": type_, "name": "实时测试", "district_code": "440106"})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def _listen(client: TestClient, code: str, headers: dict[str, str], seconds: float) -> tuple[threading.Thread,
                                                                                              list[str]]:
    lines: list[str] = []

    def run() -> None:
        with client.stream("GET", f"/events/sensing/devices/{code}", headers=headers,
                           params={"seconds": seconds}) as s:
            lines.append(f"status {s.status_code}")
            for line in s.iter_lines():
                lines.append(line)

    t = threading.Thread(target=run)
    t.start()
    return t, lines


def _events(lines: list[str]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    name = ""
    for line in lines:
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            out.append((name, json.loads(line[6:])))
    return out


def test_stream_carries_posted_readings_and_alarms(client: TestClient) -> None:
    dev = _device(client, "air_quality")
    admin = token_for("admin")
    client.post("/api/sensing/rules", headers=_h(admin),
                json={"name": unique("pm"), "device_type": "air_quality", "device": dev["code"],
                      "alarm_type": "PM2.5超标", "severity": "major",
                      "condition": {"attr": "pm25", "op": ">", "value": 75}}).raise_for_status()
    t, lines = _listen(client, dev["code"], {}, 4)  # an air-quality station: public, anonymous may listen
    deadline = time.monotonic() + 5
    while not any(x == ": connected" for x in lines) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert lines[:1] == ["status 200"], lines
    now_ms = int(time.time() * 1000)
    r = client.post("/api/telemetry", headers=_h(dev["token"]),
                    json=[{"ts": now_ms - 2000, "values": {"pm25": 42.5}}, {"ts": now_ms - 1000, "values": {"pm25": 88,
                                                                                                          "no2": 12}}])
    assert r.status_code == 200 and r.json()["readings"] == 2 and r.json()["alarms_raised"] == 1
    t.join(10)
    events = _events(lines)
    readings = [e for name, e in events if name == "readings"]
    assert len(readings) == 1, lines  # one batch: one coalesced event
    ev = readings[0]
    assert ev["device"] == dev["code"]
    assert ev["latest"]["pm25"]["value"] == 88.0 and ev["latest"]["no2"]["value"] == 12.0
    assert ev["latest"]["pm25"]["ts"].startswith(time.strftime("%Y-", time.gmtime()))
    assert [p[1] for p in ev["points"]["pm25"]] == [42.5, 88.0]
    alarms = [e for name, e in events if name == "alarm"]
    assert [a["event"] for a in alarms] == ["alarm_raised"]
    # what the device stream tells of an alarm: no rule, no values (the page reads the rest through device_show)
    assert set(alarms[0]) <= {"event", "alarm_id", "device", "type", "severity", "status", "ts"}


def test_stream_follows_the_device_visibility_rule(client: TestClient) -> None:
    manhole = _device(client, "manhole_cover")  # infrastructure: government users only
    citizen = token_for("citizen")
    for headers in ({}, _h(citizen)):
        r = client.get(f"/events/sensing/devices/{manhole['code']}", headers=headers)
        assert r.status_code == 404, r.text
        unknown = client.get("/events/sensing/devices/no-such-device", headers=headers)  # the same answer
        assert r.json()["error"]["type"] == unknown.json()["error"]["type"] == "not_found"
        assert unknown.status_code == 404
        # refused before the query is validated: a bad ``seconds`` does not tell the device exists
        assert client.get(f"/events/sensing/devices/{manhole['code']}", headers=headers,
                          params={"seconds": "-1"}).status_code == 404
    assert client.get("/events/sensing/devices/no-such-device").status_code == 404
    # a government user may listen; a bad query is refused for them
    analyst = _h(token_for("analyst"))
    assert client.get(f"/events/sensing/devices/{manhole['code']}", headers=analyst,
                      params={"seconds": "-1"}).status_code == 422
    t, lines = _listen(client, manhole["code"], analyst, 1.5)
    t.join(10)
    assert lines[:2] == ["status 200", ": connected"], lines
    assert not notify.device_listeners.get(manhole["code"])  # the ended stream left the registry


def test_stream_coalesces_a_burst(client: TestClient) -> None:
    dev = _device(client, "noise")
    t, lines = _listen(client, dev["code"], {}, 4)
    deadline = time.monotonic() + 5
    while ": connected" not in lines and time.monotonic() < deadline:
        time.sleep(0.05)
    now_ms = int(time.time() * 1000) - 60_000
    start = time.monotonic()
    for i in range(40):  # 40 messages of one reading each, as fast as the HTTP ingest takes them
        r = client.post("/api/telemetry", headers=_h(dev["token"]), json={"ts": now_ms + i * 100, "LAeq": 40 + i % 20})
        assert r.status_code == 200, r.text
    burst = time.monotonic() - start
    t.join(10)
    readings = [e for name, e in _events(lines) if name == "readings"]
    assert sum(len(e["points"]["LAeq"]) for e in readings) == 40  # every point arrives
    # at most one readings event per DEVICE_STREAM_INTERVAL (0.5 s), plus the first
    assert len(readings) <= burst / 0.5 + 2, (len(readings), burst)
    assert readings[-1]["latest"]["LAeq"]["value"] == 40.0 + 39 % 20
