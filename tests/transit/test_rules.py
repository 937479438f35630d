"""The chaining and linking rules on a hand-made network where every answer is known."""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa
import pytest

from cityhub.transit import pipeline, schema
from cityhub.transit.params import TransitParams

LAT0, LON0 = 23.13, 113.30
STEP = 0.005  # ~510 m of longitude


def _network() -> tuple[pa.Table, pa.Table]:
    # bus route R1: 6 stops west → east along LAT0; metro station M_A near R1 stop 4, M_B far north
    stops = [(f"R1S{i}", LAT0, LON0 + i * STEP, "bus") for i in range(6)]
    stops += [("M_A", LAT0 + 0.001, LON0 + 4 * STEP, "metro"), ("M_B", LAT0 + 0.08, LON0 + 4 * STEP, "metro")]
    stops_t = pa.table({"stop_id": [s[0] for s in stops], "name": [s[0] for s in stops],
                        "lat": [s[1] for s in stops], "lon": [s[2] for s in stops],
                        "mode": [s[3] for s in stops], "district": ["440106"] * len(stops)}, schema=schema.STOPS)
    rows = []
    for d in (0, 1):
        order = list(range(6)) if d == 0 else list(range(5, -1, -1))
        for seq, i in enumerate(order):
            rows.append(("R1", d, seq, f"R1S{i}", seq * 510.0))
    rs = pa.table({"route_id": [r[0] for r in rows], "direction": pa.array([r[1] for r in rows], pa.int8()),
                   "seq": pa.array([r[2] for r in rows], pa.int32()), "stop_id": [r[3] for r in rows],
                   "dist_m": [r[4] for r in rows]}, schema=schema.ROUTE_STOPS)
    return stops_t, rs


def _taps(rows: list[tuple]) -> pa.Table:
    cols = list(zip(*rows, strict=True))
    return pa.table({"card_id": list(cols[0]), "ts": [datetime.fromisoformat(t) for t in cols[1]],
                     "mode": list(cols[2]), "kind": list(cols[3]), "stop_id": list(cols[4]),
                     "route_id": list(cols[5]), "vehicle_id": [None] * len(rows),
                     "fare_fen": [200] * len(rows)}, schema=schema.TAPS)


def _run(rows: list[tuple], **params: object) -> pipeline.Result:
    stops, rs = _network()
    return pipeline.run(_taps(rows), stops, rs, None, TransitParams(**params))  # type: ignore[arg-type]


def test_alighting_is_the_stop_nearest_the_next_boarding_and_the_day_returns_home() -> None:
    r = _run([
        ("A", "2026-03-02 08:00:00", "bus", "tap_on", "R1S0", "R1"),
        ("A", "2026-03-02 08:20:00", "metro", "tap_in", "M_A", None),
        ("A", "2026-03-02 08:45:00", "metro", "tap_out", "M_B", None),
        ("A", "2026-03-02 18:00:00", "metro", "tap_in", "M_B", None),
        ("A", "2026-03-02 18:25:00", "metro", "tap_out", "M_A", None),
        ("A", "2026-03-02 18:40:00", "bus", "tap_on", "R1S4", "R1"),
    ])
    st = r.stages.to_pylist()
    assert [s["alight_stop"] for s in st] == ["R1S4", "M_B", "M_A", "R1S0"]
    assert [s["dest_source"] for s in st] == ["inferred", "observed", "observed", "inferred"]
    # R1 boarded at stop 0 with no vehicle: both directions tried, only direction 0 has stops after it
    assert st[0]["direction"] is None and st[3]["direction"] is None
    # bus → metro within 20 min and 100 m: one journey; the evening pair another
    assert st[0]["journey_id"] == st[1]["journey_id"] != st[2]["journey_id"] == st[3]["journey_id"]
    assert r.report["stages"]["rate_multi_tap"] == 1.0
    assert r.journeys.num_rows == 2


def test_each_uninferred_stage_has_its_reason() -> None:
    r = _run([
        ("single", "2026-03-02 08:00:00", "bus", "tap_on", "R1S0", "R1"),
        ("same", "2026-03-02 08:00:00", "bus", "tap_on", "R1S2", "R1"),
        ("same", "2026-03-02 12:00:00", "bus", "tap_on", "R1S2", "R1"),
        ("far", "2026-03-02 08:00:00", "bus", "tap_on", "R1S1", "R1"),
        ("far", "2026-03-02 12:00:00", "metro", "tap_in", "M_B", None),
        ("noroute", "2026-03-02 08:00:00", "bus", "tap_on", "R1S1", "R9"),
        ("noroute", "2026-03-02 12:00:00", "bus", "tap_on", "R1S3", "R1"),
    ])
    by = {(s["card_id"], s["stage_no"]): s["reason"] for s in r.stages.to_pylist()}
    assert by[("single", 0)] == "single_tap"
    assert by[("same", 0)] == "same_stop"
    assert by[("far", 0)] == "next_boarding_too_far"
    assert by[("noroute", 0)] == "no_route_pattern"
    reasons = r.report["stages"]["reasons"]
    assert reasons["single_tap"]["count"] == 1 and reasons["single_tap"]["zh"]


@pytest.mark.parametrize(("walk", "inferred"), [(400.0, False), (750.0, True), (1000.0, True)])
def test_max_walk_is_a_parameter(walk: float, inferred: bool) -> None:
    # the next boarding is 600 m north of R1S3: within 750 and 1,000 m, not within 400 m
    stops, rs = _network()
    extra = pa.table({"stop_id": ["M_C"], "name": ["M_C"], "lat": [LAT0 + 0.0054], "lon": [LON0 + 3 * STEP],
                      "mode": ["metro"], "district": ["440106"]}, schema=schema.STOPS)
    stops = pa.concat_tables([stops, extra])
    taps = _taps([("A", "2026-03-02 08:00:00", "bus", "tap_on", "R1S0", "R1"),
                  ("A", "2026-03-02 08:30:00", "metro", "tap_in", "M_C", None),
                  ("A", "2026-03-02 08:50:00", "metro", "tap_out", "M_B", None)])
    r = pipeline.run(taps, stops, rs, None, TransitParams(max_walk_m=walk))
    first = r.stages.to_pylist()[0]
    assert (first["alight_stop"] == "R1S3") is inferred
    assert first["reason"] == ("" if inferred else "next_boarding_too_far")


def test_alighting_cannot_be_after_the_next_boarding() -> None:
    # 5 stops (2.5 km) in 60 s is faster than any bus: the alighting is refused
    r = _run([
        ("A", "2026-03-02 08:00:00", "bus", "tap_on", "R1S0", "R1"),
        ("A", "2026-03-02 08:01:00", "metro", "tap_in", "M_A", None),
        ("A", "2026-03-02 08:30:00", "metro", "tap_out", "M_B", None),
    ])
    assert r.stages.to_pylist()[0]["reason"] == "alighting_after_next_boarding"


def test_transfer_rules_wait_and_repeated_route() -> None:
    base = [("A", "2026-03-02 08:00:00", "bus", "tap_on", "R1S0", "R1")]
    # a 2-hour wait: two journeys
    r = _run([*base, ("A", "2026-03-02 10:30:00", "metro", "tap_in", "M_A", None),
              ("A", "2026-03-02 10:50:00", "metro", "tap_out", "M_B", None)])
    assert r.report["journeys"]["journeys"] == 2
    assert r.report["journeys"]["new_journey_because"]["wait"] == 1
    # the same route again right away (going back): a new journey
    r = _run([*base, ("A", "2026-03-02 08:25:00", "bus", "tap_on", "R1S4", "R1")])
    assert r.report["journeys"]["journeys"] == 2
