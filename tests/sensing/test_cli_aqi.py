"""The ``cityhub sensing`` CLI, and a station's AQI computed from stored readings (hand-checked)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from cityhub.cli.main import app
from cityhub.db import SH
from tests.conftest import call_as, unique

runner = CliRunner()


def test_cli_import_list_and_refusal(sqlite_empty: Any, tmp_path: Path) -> None:
    codes = [unique("aq") for _ in range(3)]
    src = tmp_path / "devices.csv"
    src.write_bytes(("code,type,name,district_code\n" + "".join(f"{c},air_quality,站点{i},440106\n"
                                                                 for i, c in enumerate(codes))).encode("gb18030"))
    tokens = tmp_path / "tokens.csv"
    r = runner.invoke(app, ["sensing", "device-import", str(src), "--tokens", str(tokens)])
    assert r.exit_code == 0, r.output
    lines = tokens.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "code,token" and {ln.split(",")[0] for ln in lines[1:]} == set(codes)
    r = runner.invoke(app, ["sensing", "device-list"])
    assert r.exit_code == 0 and codes[0] in r.output
    r = runner.invoke(app, ["sensing", "rule-create", "r1", "air_quality", "--alarm-type", "x",
                            "--condition", '{"attr": "pm25", "op": "~", "value": 1}'])
    assert r.exit_code != 0
    assert runner.invoke(app, ["sensing", "--help"]).exit_code == 0


def test_station_aqi_from_readings(sqlite_empty: Any) -> None:
    dev = call_as("system", "device_create", {"code": "gz-tianhe", "type": "air_quality", "name": "天河"})
    day = dt.date(2026, 11, 20)
    start = dt.datetime.combine(day, dt.time(), SH)
    readings = []
    for h in range(24):
        ts = start + dt.timedelta(hours=h)
        # two readings per hour: the hourly mean is what counts
        for minute, pm25 in ((10, 70.0), (40, 90.0)):
            readings.append({"ts": int((ts + dt.timedelta(minutes=minute)).timestamp() * 1000),
                             "values": {"pm25": pm25, "pm10": 100.0, "no2": 30.0, "o3": 50.0}})
    out = call_as(None, "telemetry_ingest", {"token": dev["token"], "payload": json.dumps(readings)})
    assert out["readings"] == 48
    res = call_as(None, "aqi_show", {"device": "gz-tianhe", "date": day.isoformat()})
    assert len(res["hourly"]) == 24
    first = res["hourly"][0]
    # pm25 mean 80 → 50/40 × 5 + 100 = 106.25 → 107; pm10 100 → 75; no2 (1-h) 30 → 15; o3 50 → 16
    assert first["concentrations"]["pm25"] == 80 and first["iaqi"]["pm25"] == 107
    assert first["aqi"] == 107 and first["primary"] == ["PM2.5"] and first["category_zh"] == "轻度污染"
    assert first["hour_local"].startswith("2026-11-20T00:00")
    assert "o3_8h" not in first["iaqi"] and "o3_8h" in res["hourly"][7]["iaqi"]   # 8-hour mean needs 6 hours
    d = res["daily"]
    # daily: no2 24-h 30 → 50/40 × 30 = 37.5 → 38; the rest as hourly
    assert d["aqi"] == 107 and d["iaqi"]["no2"] == 38 and d["iaqi"]["pm25"] == 107
    res26 = call_as(None, "aqi_show", {"device": "gz-tianhe", "date": day.isoformat(), "table": "HJ633-2026"})
    # 2026 (provisional): pm25 80 in 60–115 → 50/55 × 20 + 100 = 118.2 → 119
    assert res26["daily"]["iaqi"]["pm25"] == 119 and "PROVISIONAL" in res26["table_note"]
    city = call_as(None, "sensing_hourly", {"type": "air_quality", "date": day.isoformat()})
    pm25 = [h for h in city["hours"] if h["attribute"] == "pm25"]
    assert len(pm25) == 24 and {(h["n"], h["mean"], h["min"], h["max"]) for h in pm25} == {(2, 80.0, 70.0, 90.0)}
    assert pm25[0]["hour_local"].startswith("2026-11-20T00:00")


def test_hourly_aqi_published_as_open_data(sqlite_demo_store: Any) -> None:
    sqlite_demo_store.activate()
    from cityhub.db import utcnow

    code = unique("st")
    dev = call_as("system", "device_create", {"code": code, "type": "air_quality", "name": "海珠湖站",
                                              "district_code": "440105"})
    hour = utcnow().replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=2)
    readings = [{"ts": int((hour + dt.timedelta(minutes=5)).timestamp() * 1000), "values": {"pm25": 80, "pm10": 40}}]
    call_as(None, "telemetry_ingest", {"token": dev["token"], "payload": json.dumps(readings)})
    out = call_as("system", "sensing_aqi_publish", {})
    assert out["rows"] >= 1
    again = call_as("system", "sensing_aqi_publish", {})
    assert again["rows"] == 0          # the published hours are not repeated
    from cityhub import jobs

    jobs.wait_idle(60)
    ds = call_as(None, "dataset_show", {"id": out["dataset"]})   # anonymous: 无条件开放 and published
    assert ds["opening_class"] == "无条件开放"
    found = call_as(None, "datastore_search", {"resource_id": out["resource_id"], "filters": {"站点编码": code}})
    rows = found["records"]
    assert len(rows) == 1 and str(rows[0]["AQI"]) == "107" and rows[0]["首要污染物"] == "PM2.5"
