# ruff: noqa: F811 - the service fixtures are imported from tests/sensing/transport_services.py
"""The Guangzhou fleet simulator: stations where they are, devices inside their districts, daily cycles,
the four incidents, gateway batches, the bulk-import CSV, and `cityhub sensing simulate` publishing over
MQTT into a receiver."""

from __future__ import annotations

import csv
import json
import uuid
from importlib import resources
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cityhub.sensing import simulate as sim
from cityhub.sensing.transport.mqtt import MqttReceiver
from tests.sensing.test_transport_mqtt import Collect, wait_for
from tests.sensing.transport_services import mqtt_url  # noqa: F401 - fixture

GEO = json.loads(resources.files("cityhub.data").joinpath("guangzhou-districts.geojson").read_text("utf-8"))


@pytest.fixture(scope="module")
def fleet() -> list[sim.Device]:
    return sim.build_fleet(GEO, 400, seed=3)


def at_beijing(hour: float) -> float:
    return 1_780_000_000 - (1_780_000_000 + 8 * 3600) % 86400 + hour * 3600  # a day's `hour` in UTC+8


def test_fleet_stations_districts_tokens_and_csv(fleet, tmp_path: Path) -> None:
    stations = {d.name[:-len("国控空气质量监测站")]: d for d in fleet if d.type == "air_quality"}
    assert len(stations) == 11
    assert {k: stations[k].district for k in ("广雅中学", "体育西", "番禺中学", "花都师范", "麓湖")} == \
        {"广雅中学": "荔湾区", "体育西": "天河区", "番禺中学": "番禺区", "花都师范": "花都区", "麓湖": "越秀区"}
    ds = {d.name: d for d in sim.districts(GEO)}
    others = [d for d in fleet if d.type not in ("air_quality", "gateway")]
    assert len(others) == 400 and len({d.type for d in others}) >= 8
    assert all(ds[d.district].contains(d.lon, d.lat) for d in others)
    gateways = {d.code: d for d in fleet if d.type == "gateway"}
    assert all(d.gateway in gateways and gateways[d.gateway].district == d.district for d in others)
    assert len({d.token for d in fleet}) == len(fleet) == len({d.code for d in fleet})
    assert [d.token for d in sim.build_fleet(GEO, 400, seed=3)] == [d.token for d in fleet]  # deterministic
    path = tmp_path / "devices.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(sim.csv_rows(fleet))
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    assert list(rows[0]) == ["code", "type", "name", "lat", "lon", "district", "token", "gateway", "district_code"]
    codes = {d.name: d.code for d in ds.values()}
    assert all(r["district_code"] == codes[r["district"]] for r in rows)
    assert len(rows) == len(fleet) and rows[0]["name"] == "广雅中学国控空气质量监测站"


def test_daily_cycles(fleet) -> None:
    lamp = next(d for d in fleet if d.type == "streetlight" and d.code[-1] != "0")
    station = next(d for d in fleet if d.type == "air_quality")
    lamp_night = [sim.reading(lamp, at_beijing(22) + i)["values"]["powerState"] for i in range(20)]
    lamp_noon = [sim.reading(lamp, at_beijing(12) + i)["values"]["powerState"] for i in range(20)]
    assert lamp_noon.count("off") == 20 and lamp_night.count("on") in (0, 20)
    o3 = lambda h: sum(sim.reading(station, at_beijing(h) + i)["values"]["o3"] for i in range(30))  # noqa: E731
    assert o3(14) > 2 * o3(4)
    pm = lambda h: sum(sim.reading(station, at_beijing(h) + i)["values"]["pm25"] for i in range(30))  # noqa: E731
    assert pm(8.5) > pm(3)
    assert sim.reading(station, 1_780_000_000.5)["ts"] == 1_780_000_000_500


def test_incidents_show_in_the_readings(fleet) -> None:
    start = at_beijing(3)
    incidents = sim.plan_incidents(fleet, start, 3600, seed=3)
    assert {i.kind for i in incidents} == {"pollution_episode", "flooded_underpass", "manhole_opened",
                                           "gas_pressure_drop"}
    by = {i.kind: i for i in incidents}
    mid = lambda i: (i.start + i.end) / 2  # noqa: E731
    dev = {d.code: d for d in fleet}
    station = dev[sorted(by["pollution_episode"].devices)[0]]
    assert sim.reading(station, mid(by["pollution_episode"]), incidents)["values"]["pm25"] > \
        3 * sim.reading(station, mid(by["pollution_episode"]))["values"]["pm25"]
    flood = dev[next(iter(by["flooded_underpass"].devices))]
    v = sim.reading(flood, mid(by["flooded_underpass"]), incidents)["values"]
    assert v["currentLevel"] > v["dangerLevel"] and v["floodLevelStatus"] == "danger"
    assert sim.reading(flood, start, incidents)["values"]["floodLevelStatus"] == "normal"
    manhole = dev[next(iter(by["manhole_opened"].devices))]
    assert sim.reading(manhole, mid(by["manhole_opened"]), incidents)["values"]["open"] is True
    assert sim.reading(manhole, by["manhole_opened"].end + 1, incidents)["values"]["open"] is False
    gas = dev[next(iter(by["gas_pressure_drop"].devices))]
    assert sim.reading(gas, mid(by["gas_pressure_drop"]), incidents)["values"]["pressure"] < 0.15
    assert sim.reading(gas, start, incidents)["values"]["pressure"] > 0.35


def test_batches_carry_every_device_once(fleet) -> None:
    msgs = list(sim.batches(fleet, at_beijing(9), batch=40))
    seen: list[str] = []
    for kind, code, token, payload in msgs:
        if kind == "gateway":
            assert 1 <= len(payload) <= 40 and code.startswith("GW-")
            seen.extend(payload)
        else:
            seen.append(code)
    assert sorted(seen) == sorted(d.code for d in fleet if d.type != "gateway")


def test_cli_simulate_publishes_into_a_receiver(mqtt_url: str, tmp_path: Path, monkeypatch) -> None:
    from cityhub.cli.main import app
    from cityhub.settings import get_settings

    prefix = f"test-{uuid.uuid4().hex[:8]}/v1"
    monkeypatch.setenv("CITYHUB_MQTT_TOPIC_PREFIX", prefix)
    get_settings.cache_clear()
    sink = Collect()
    rx = MqttReceiver(mqtt_url, sink, client_id=f"rx-{uuid.uuid4().hex[:8]}", prefix=prefix, batch_ms=20).start()
    try:
        result = CliRunner().invoke(app, ["sensing", "simulate", "--mqtt-url", mqtt_url, "--devices", "200",
                                          "--rate", "1500", "--seconds", "2", "--csv", str(tmp_path / "d.csv")])
        assert result.exit_code == 0, result.output
        sent = int(result.output.split(" readings in ")[0].split()[-1])
        assert sent >= 2000

        def readings() -> int:
            return sum(len(json.loads(m.payload)) if m.kind == "gateway" else 1 for m in sink.messages)

        assert wait_for(lambda: readings() == sent, 20), (readings(), sent)
        assert {m.kind for m in sink.messages} == {"gateway", "device"}
        tokens = {r["code"]: r["token"] for r in csv.DictReader((tmp_path / "d.csv").open(encoding="utf-8"))}
        assert all(m.credential == tokens[m.device] for m in sink.messages if m.kind == "device")
    finally:
        rx.stop()
        get_settings.cache_clear()
