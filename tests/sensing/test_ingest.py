"""The ingest pipeline: parsing, authentication, validation, de-duplication, storage, latest values, rules →
alarms and dead letters, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select

from cityhub.db import session_scope
from cityhub.sensing.models import Alarm, DeadLetter, Device, DeviceLatest, SensingRule
from tests.sensing.conftest import NOW, Pipe, msg

UTC = dt.UTC


def _dead() -> list[tuple[str, str]]:
    with session_scope() as s:
        return [(d.device_code, d.reason) for d in s.scalars(select(DeadLetter).order_by(DeadLetter.id))]


def test_single_batch_and_gateway_readings_are_stored(pipe: Pipe) -> None:
    r = pipe.ingest([
        msg({"ts": int((NOW - 60) * 1000), "values": {"pm25": 40, "pm10": 70}}, "tok-air-1"),
        msg([{"ts": int((NOW - 120) * 1000), "values": {"pm25": 41}}, {"ts": (NOW - 180), "pm25": 42}], "tok-air-2"),
        msg({"air-1": [{"ts": int((NOW - 240) * 1000), "values": {"no2": 20}}], "mh-1": {"tilt": 3, "open": False}},
            "tok-gw-1", kind="gateway"),
    ])
    assert (r.readings, r.values, r.rejected) == (5, 7, 0), r
    series = pipe.store.series("air-1", dt.datetime.fromtimestamp(NOW - 86400, UTC),
                               dt.datetime.fromtimestamp(NOW, UTC))
    assert [(x["attribute"], x["value"]) for x in series] == [("no2", 20.0), ("pm10", 70.0), ("pm25", 40.0)]
    with session_scope() as s:
        latest = {(d, a): v for d, a, v in s.execute(
            select(Device.code, DeviceLatest.attribute, DeviceLatest.value).join(Device))}
    assert latest[("air-2", "pm25")] == 41.0   # the newest by reading time, not by arrival
    assert latest[("mh-1", "open")] == 0.0 and latest[("mh-1", "tilt")] == 3.0


def test_every_rejection_is_dead_lettered_with_its_reason(pipe: Pipe) -> None:
    r = pipe.ingest([
        msg(b"{not json", "tok-air-1"),
        msg({"pm25": 1}, "nobody's token"),
        msg({"pm25": 1}, "tok-air-2", device="air-1"),                 # a valid token, but not air-1's
        msg({"pm25": 1}, "tok-air-1", device="air-9"),
        msg({"pm1": 3}, "tok-air-1"),
        msg({"values": {"co": 1.0}, "units": {"co": "ug/m3"}}, "tok-air-1"),
        msg({"pm25": 99999}, "tok-air-1"),
        msg({"pm25": "high"}, "tok-air-1"),
        msg({"ts": int((NOW + 600) * 1000), "pm25": 1}, "tok-air-1"),   # 10 minutes ahead, 5 allowed
        msg({"ts": "yesterday", "pm25": 1}, "tok-air-1"),
        msg({"air-1": [{"pm25": 1}]}, "tok-air-1", kind="gateway"),     # not a gateway's token
        msg({"air-404": [{"pm25": 1}], "air-2": [{"pm25": 5}]}, "tok-gw-1", kind="gateway"),
        msg({"ts": int((NOW + 60) * 1000), "pm25": 2}, "tok-air-1"),    # 1 minute ahead: fine
    ])
    assert r.readings == 2 and r.rejected == 12
    assert _dead() == [("", "invalid_json"), ("", "wrong_token"), ("air-1", "wrong_token"),
                       ("air-9", "unknown_device"), ("air-1", "unknown_attribute"), ("air-1", "bad_unit"),
                       ("air-1", "out_of_range"), ("air-1", "bad_value"), ("air-1", "future_timestamp"),
                       ("air-1", "bad_timestamp"), ("air-1", "not_gateway"), ("air-404", "unknown_device")]
    with session_scope() as s:
        payload = s.scalar(select(DeadLetter.payload).where(DeadLetter.reason == "bad_unit"))
    assert payload is not None and "ug/m3" in payload


def test_repeats_are_idempotent(pipe: Pipe) -> None:
    m = msg({"ts": int((NOW - 60) * 1000), "values": {"pm25": 40}}, "tok-air-1")
    assert pipe.ingest([m, m]).duplicates == 1
    r = pipe.ingest([m])
    assert (r.readings, r.duplicates) == (0, 1)
    assert pipe.store.count() == 1


def test_inactive_device_is_refused(pipe: Pipe) -> None:
    with session_scope() as s:
        s.execute(Device.__table__.update().where(Device.code == "air-1").values(active=False))
    pipe.ingest.invalidate()
    assert pipe.ingest([msg({"pm25": 1}, "tok-air-1")]).reasons == {"inactive_device": 1}


def _rule(name: str, condition: dict[str, Any], *, alarm_type: str = "PM2.5 high", dtype: str = "air_quality",
          severity: str = "major") -> None:
    with session_scope() as s:
        s.add(SensingRule(name=name, device_type=dtype, alarm_type=alarm_type, severity=severity,
                          condition=condition))


def test_rules_raise_update_and_clear_one_alarm(pipe: Pipe) -> None:
    _rule("pm25-60", {"attr": "pm25", "op": ">", "value": 75, "for_minutes": 60})
    t0 = NOW - 7200

    def at(minutes: float, v: float) -> Any:
        return msg({"ts": int((t0 + minutes * 60) * 1000), "values": {"pm25": v}}, "tok-air-1")

    assert pipe.ingest([at(0, 80), at(30, 90)]).raised == 0
    assert pipe.ingest([at(59, 85)]).raised == 0
    assert pipe.ingest([at(60, 85), at(70, 100)]).raised == 1      # across batches: the clock started at 0
    with session_scope() as s:
        alarms = s.scalars(select(Alarm)).all()
        assert len(alarms) == 1 and alarms[0].status == "active_unack" and alarms[0].severity == "major"
    r = pipe.ingest([at(80, 20)])
    assert r.cleared == 1
    with session_scope() as s:
        a = s.scalars(select(Alarm)).one()
        assert (a.active, a.status, a.clear_by) == (False, "cleared_unack", "rule")


def test_no_data_rule_by_tick(pipe: Pipe) -> None:
    _rule("offline", {"no_data_minutes": 30}, alarm_type="offline", dtype="manhole_cover", severity="minor")
    pipe.ingest([msg({"ts": int((NOW - 3600) * 1000), "tilt": 1}, "tok-mh-1")])
    r = pipe.ingest.tick(NOW)
    assert r.raised == 1
    assert pipe.ingest.tick(NOW + 60).raised == 0
    with session_scope() as s:
        assert s.scalar(select(func.count()).select_from(Alarm).where(Alarm.active.is_(True))) == 1


def test_hourly_city_aggregate(pipe: Pipe) -> None:
    day = dt.datetime(2026, 11, 29, tzinfo=UTC)
    msgs = []
    for h in range(3):
        for i, code in enumerate(("tok-air-1", "tok-air-2")):
            ts = day + dt.timedelta(hours=h, minutes=10)
            msgs.append(msg({"ts": int(ts.timestamp() * 1000), "values": {"pm25": 10 * (h + 1) + i}}, code))
    pipe.ingest(msgs)
    rows = pipe.store.hourly("air_quality", day, day + dt.timedelta(days=1))
    assert [(r["hour"].hour, r["n"], r["mean"]) for r in rows] == [(0, 2, 10.5), (1, 2, 20.5), (2, 2, 30.5)]
    pipe.store.flush()
    res = pipe.store.retain(day + dt.timedelta(days=40), raw_days=30)
    assert res["dropped"] == 1
    rows2 = pipe.store.hourly("air_quality", day, day + dt.timedelta(days=1))
    assert [(r["hour"].hour, r["n"], r["mean"]) for r in rows2] == [(0, 2, 10.5), (1, 2, 20.5), (2, 2, 30.5)]
