"""The pipeline's fast paths (issue 13 speed work) decide exactly as the general code: the inline reading path
against ``_reading``, the one-threshold rule loop against the general walk, the per-reading Arrow table against
the per-value one, orjson with its ``json`` fallback, and the cache of authenticated tokens."""

from __future__ import annotations

import copy
import datetime as dt
import json
import random

import pyarrow as pa
import pytest
from sqlalchemy import select, update

from cityhub.db import session_scope
from cityhub.sensing import rules, tsstore
from cityhub.sensing.ingest import INVALID, loads, token_hash
from cityhub.sensing.models import DeadLetter, Device, DeviceLatest
from tests.sensing.conftest import NOW, Pipe, msg

UTC = dt.UTC


def _ms(seconds_ago: float) -> int:
    return int((NOW - seconds_ago) * 1000)


@pytest.mark.parametrize("seed", range(6))
def test_one_threshold_loop_matches_the_general_walk(seed: int) -> None:
    rnd = random.Random(seed)
    for _ in range(150):
        cond = rules.Threshold("pm25", rnd.choice(list(rules.OPS)), float(rnd.randint(20, 80)),
                               float(rnd.choice([0, 0, 60, 600])))
        state = rules.State.from_json(rnd.choice([None, {"active": True, "last_seen": NOW - 5000,
                                                         "since": {"0": NOW - 6000}, "last": {}}]))
        twin = copy.deepcopy(state)
        readings = []
        ts = NOW - 4000 - rnd.randint(0, 3000)  # some readings are older than the state's last one (skipped)
        for _ in range(rnd.randint(1, 25)):
            ts += rnd.choice([0, 30, 60, 120, 700])
            values = {"pm25": float(rnd.randint(0, 100))} if rnd.random() < 0.8 else {"no2": 1.0}
            if rnd.random() < 0.3:
                values["pm10"] = float(rnd.randint(0, 150))
            readings.append((ts, values))
        fast = rules.evaluate(cond, readings, state)
        general = rules._evaluate_any(cond, readings, twin)
        assert fast == general
        assert state.to_json() == twin.to_json()


def test_table_from_readings_is_the_per_value_table() -> None:
    readings = [("a", "air_quality", 1_000_000, {"pm25": 1.0, "no2": 2.0}), ("b", "noise", 2_000_000, {"laeq": 3.5}),
                ("a", "air_quality", 3_000_000, {"pm25": 4.0})]
    expanded = [(d, t, k, a, v) for d, t, k, vals in readings for a, v in vals.items()]
    want = tsstore.table_from_columns(*[list(c) for c in zip(*expanded, strict=True)])
    got = tsstore.table_from_readings([r[0] for r in readings], [r[1] for r in readings], [r[2] for r in readings],
                                      [len(r[3]) for r in readings], [a for r in readings for a in r[3]],
                                      [v for r in readings for v in r[3].values()])
    assert got.equals(want) and got.num_rows == 4
    assert got.schema == tsstore.SCHEMA
    with pytest.raises(ValueError):
        tsstore.table_from_readings(["a"], ["t"], [1], [2], ["x"], [1.0])


def test_loads_accepts_and_refuses_what_json_did() -> None:
    assert loads(b'{"a": [1, 2.5, "x"]}') == {"a": [1, 2.5, "x"]}
    nan = loads(b'{"pm25": NaN}')  # orjson refuses NaN; json reads it (validation then refuses the value)
    assert nan is not INVALID and nan["pm25"] != nan["pm25"]
    # past 64 bits an integer comes as the nearest float (json gave an int): every value stored is a float anyway
    assert loads(b'{"n": 123456789012345678901234567890}') == {"n": float(123456789012345678901234567890)}
    assert loads('{"a": 1}'.encode("utf-16")) == {"a": 1}
    assert loads(b"{not json") is INVALID
    assert loads(b"\xff\xfe\xfa") is INVALID
    assert loads(b"[" * 100_000 + b"]" * 100_000) is INVALID  # too deep for both: refused, not raised


def test_pathological_payloads_are_dead_lettered_not_raised(pipe: Pipe) -> None:
    r = pipe.ingest([msg(b"[" * 100_000 + b"]" * 100_000, "tok-air-1"), msg(b'{"pm25": NaN}', "tok-air-1"),
                     msg({"ts": _ms(10), "values": {"pm25": 12}}, "tok-air-1")])
    assert (r.readings, r.rejected, r.reasons) == (1, 2, {"invalid_json": 1, "bad_value": 1})


def test_inline_and_general_paths_mix_in_one_message(pipe: Pipe) -> None:
    """One device's readings alternate between the inline path and ``_reading`` (units, the flat form, a float
    time, a boolean, a repeat, out of range): every one is decided as before, and in time order for latest."""
    batch = [
        {"ts": _ms(600), "values": {"pm25": 10, "no2": 5.5}},                     # inline, ints made floats
        {"ts": _ms(500), "values": {"pm25": 11.0}, "units": {"pm25": "µg/m³"}},   # general: units
        {"ts": _ms(400), "values": {"pm25": 12.0}},                               # inline
        {"ts": NOW - 300, "pm25": 13.0},                                          # general: flat, float time
        {"ts": _ms(200), "values": {"pm25": 14.0}},                               # inline
        {"ts": _ms(200), "values": {"pm25": 99.0}},                               # repeat of (air-1, t): dropped
        {"ts": _ms(100), "values": {"pm25": 99999}},                              # out of range
        {"ts": _ms(90), "values": {"pm25": True}},                                # a boolean is not a number
        {"ts": _ms(80), "values": {}},                                            # no values
    ]
    r = pipe.ingest([msg(batch, "tok-air-1")])
    assert (r.readings, r.values, r.duplicates, r.rejected) == (5, 6, 1, 3), r
    assert r.reasons == {"out_of_range": 1, "bad_value": 1, "no_values": 1}
    series = pipe.store.series("air-1", dt.datetime.fromtimestamp(NOW - 3600, UTC), dt.datetime.fromtimestamp(NOW, UTC))
    assert [(x["attribute"], x["value"]) for x in series if x["attribute"] == "pm25"] == [
        ("pm25", 10.0), ("pm25", 11.0), ("pm25", 12.0), ("pm25", 13.0), ("pm25", 14.0)]
    assert all(type(x["value"]) is float for x in series)
    with session_scope() as s:
        latest = dict(s.execute(select(DeviceLatest.attribute, DeviceLatest.value).join(Device)
                                .where(Device.code == "air-1")).all())
    assert latest == {"pm25": 14.0, "no2": 5.5}
    # a second batch repeats a reading of the first: a duplicate, not a second row
    again = pipe.ingest([msg({"ts": _ms(400), "values": {"pm25": 12.0}}, "tok-air-1")])
    assert (again.readings, again.duplicates) == (0, 1)


def test_cached_tokens_follow_rotation_and_deactivation(pipe: Pipe) -> None:
    ok = pipe.ingest([msg({"ts": _ms(50), "values": {"pm25": 1}}, "tok-air-1", device="air-1"),
                      msg({"ts": _ms(49), "values": {"pm25": 1}}, "tok-air-1")])
    assert ok.readings == 2
    with session_scope() as s:
        s.execute(update(Device).where(Device.code == "air-1").values(token_hash=token_hash("tok-new")))
    pipe.ingest.invalidate()  # what the device actions do after their commit
    r = pipe.ingest([msg({"ts": _ms(40), "values": {"pm25": 2}}, "tok-air-1", device="air-1"),
                     msg({"ts": _ms(39), "values": {"pm25": 2}}, "tok-air-1"),
                     msg({"ts": _ms(38), "values": {"pm25": 3}}, "tok-new", device="air-1"),
                     msg({"ts": _ms(37), "values": {"pm25": 3}}, "tok-new")])
    assert (r.readings, r.reasons) == (2, {"wrong_token": 2}), r
    with session_scope() as s:
        s.execute(update(Device).where(Device.code == "air-1").values(active=False))
    pipe.ingest.invalidate()
    r = pipe.ingest([msg({"ts": _ms(30), "values": {"pm25": 2}}, "tok-new", device="air-1")])
    assert r.reasons == {"inactive_device": 1}
    with session_scope() as s:
        reasons = [d.reason for d in s.scalars(select(DeadLetter).order_by(DeadLetter.id))]
    assert reasons == ["wrong_token", "wrong_token", "inactive_device"]


def test_parquet_days_split_at_utc_midnight(tmp_path: object) -> None:
    from pathlib import Path

    store = tsstore.ParquetStore(Path(str(tmp_path)) / "ts", flush_rows=10, flush_seconds=3600)
    midnight = int(dt.datetime(2026, 11, 30, tzinfo=UTC).timestamp() * 1_000_000)
    store.append(tsstore.table_from_readings(["a", "a", "b"], ["air_quality"] * 3, [midnight - 1, midnight, midnight + 5],
                                             [1, 1, 1], ["pm25"] * 3, [1.0, 2.0, 3.0]))
    store.flush()
    days = sorted(p.name for p in (Path(str(tmp_path)) / "ts" / "raw" / "type=air_quality").iterdir())
    assert days == ["day=2026-11-29", "day=2026-11-30"]
    assert store.count() == 3
    store.close()
    assert json.dumps(days)  # plain strings
    assert pa.__version__
