"""Hub crowd monitoring: hand-computed counts on a tiny day, and the simulator's known totals."""

from __future__ import annotations

from datetime import date, datetime, time

import pyarrow as pa
import pytest

from cityhub.transit.hubs import (
    HUB,
    HubParams,
    analyse,
    dwell_distribution,
    origins,
    presence,
    stays,
    surge,
    visits,
)
from cityhub.transit.schema import PINGS

HUB_ZONES = ("concourse", "platform", "metro")
P = HubParams(gap_s=900, interval_s=900, dwell_threshold_s=600, origin_window_s=7200, hub_zones=HUB_ZONES)


def pings(rows: list[tuple[str, str, str]], day: str = "2026-10-01") -> pa.Table:
    return pa.table({"device_id": [r[0] for r in rows],
                     "ts": [datetime.fromisoformat(f"{day} {r[1]}") for r in rows],
                     "zone_id": [r[2] for r in rows]}, schema=PINGS)


TINY = [
    ("A", "08:00:00", "D1"), ("A", "08:30:00", "concourse"), ("A", "08:35:00", "concourse"),
    ("A", "08:40:00", "platform"), ("A", "08:41:00", "platform"), ("A", "10:00:00", "concourse"),
    ("B", "08:02:00", "concourse"), ("B", "08:02:00", "concourse"),
    # listed out of time order on purpose: the rules sort
    ("C", "08:50:00", "metro"), ("C", "08:10:00", "metro"), ("C", "08:20:00", "metro"), ("C", "09:00:00", "D2"),
]


def test_visits_and_stays_by_hand() -> None:
    v = visits(pings(TINY), P)
    got = [(r["device_id"], r["zone_id"], r["start"].strftime("%H:%M"), r["end"].strftime("%H:%M"), r["pings"])
           for r in v.to_pylist()]
    assert got == [("A", "D1", "08:00", "08:00", 1), ("A", "concourse", "08:30", "08:35", 2),
                   ("A", "platform", "08:40", "08:41", 2), ("A", "concourse", "10:00", "10:00", 1),
                   ("B", "concourse", "08:02", "08:02", 1),  # the duplicate ping counts once
                   ("C", "metro", "08:10", "08:20", 2), ("C", "metro", "08:50", "08:50", 1),  # 30 min silence
                   ("C", "D2", "09:00", "09:00", 1)]
    s = stays(v, P)
    got = [(r["device_id"], r["start"].strftime("%H:%M"), r["end"].strftime("%H:%M"), r["dwell_s"], r["visits"],
            r["first_zone"], r["last_zone"], r["origin_zone"], r["destination_zone"], r["stayed"])
           for r in s.to_pylist()]
    assert got == [
        ("A", "08:30", "08:41", 660, 2, "concourse", "platform", "D1", "unknown", True),
        ("A", "10:00", "10:00", 0, 1, "concourse", "concourse", "unknown", "unknown", False),
        ("B", "08:02", "08:02", 0, 1, "concourse", "concourse", "unknown", "unknown", False),
        ("C", "08:10", "08:20", 600, 1, "metro", "metro", "unknown", "unknown", True),
        ("C", "08:50", "08:50", 0, 1, "metro", "metro", "unknown", "D2", False),
    ]
    # a shorter origin window loses A's origin (D1 was 30 minutes before)
    s2 = stays(v, HubParams(gap_s=900, origin_window_s=1200, hub_zones=HUB_ZONES))
    assert s2.column("origin_zone").to_pylist()[0] == "unknown"


def test_presence_arrivals_departures_by_hand() -> None:
    v = visits(pings(TINY), P)
    p = presence(v, stays(v, P), P)

    def series(zone: str, col: str) -> dict[str, int]:
        return {r["interval_start"].strftime("%H:%M"): r[col] for r in p.to_pylist() if r["zone_id"] == zone}

    assert series(HUB, "present") == {"08:00": 2, "08:15": 1, "08:30": 1, "08:45": 1, "09:00": 0, "09:15": 0,
                                      "09:30": 0, "09:45": 0, "10:00": 1}
    assert [n for n in series(HUB, "arrivals").values()] == [2, 0, 1, 1, 0, 0, 0, 0, 1]
    assert [n for n in series(HUB, "departures").values()] == [1, 1, 1, 1, 0, 0, 0, 0, 1]
    assert series("metro", "present") == {"08:00": 1, "08:15": 1, "08:30": 0, "08:45": 1}
    assert list(series("metro", "arrivals").values()) == [1, 0, 0, 1]
    assert list(series("metro", "departures").values()) == [0, 1, 0, 1]
    assert series("platform", "present") == {"08:30": 1}
    assert {r["zone_id"] for r in p.to_pylist()} == {HUB, "concourse", "platform", "metro"}  # outside zones: not counted


def test_dwell_origins_and_stayed_versus_passed() -> None:
    v = visits(pings(TINY), P)
    s = stays(v, P)
    table, summary = dwell_distribution(s, P)
    assert dict(zip(table.column("bin").to_pylist(), table.column("stays").to_pylist(), strict=True)) == {
        "0-5": 3, "5-15": 2, "15-30": 0, "30-60": 0, "60-120": 0, "120-240": 0, "240+": 0}
    assert summary == {"stays": 5, "stayed": 2, "passed_through": 3, "dwell_threshold_min": 10.0,
                       "median_min": 0.0, "p90_min": 11.0}
    # the threshold is a parameter: at 11 minutes only A's first stay counts as stayed
    assert dwell_distribution(s, HubParams(dwell_threshold_s=660))[1]["stayed"] == 1
    assert origins(s).to_pylist() == [{"zone_id": "unknown", "stays": 4, "share": 0.8},
                                      {"zone_id": "D1", "stays": 1, "share": 0.2}]
    assert origins(s, by="destination_zone").column("zone_id").to_pylist() == ["unknown", "D2"]
    with pytest.raises(ValueError):
        origins(s, by="device_id")


def test_holiday_surge_against_a_baseline_day() -> None:
    both = pa.concat_tables([pings(TINY), pings([("Z", "08:02:00", "concourse"), ("Z", "08:40:00", "metro")],
                                                day="2026-09-24")])
    result = analyse(both, P)
    s = surge(result.presence, date(2026, 10, 1), date(2026, 9, 24))
    rows = {r["time_of_day"]: r for r in s.to_pylist()}
    assert (rows[time(8, 0)]["present"], rows[time(8, 0)]["present_baseline"], rows[time(8, 0)]["present_ratio"]) \
        == (2, 1, 2.0)
    assert rows[time(8, 30)]["present_baseline"] == 1 and rows[time(8, 15)]["present_ratio"] is None
    assert rows[time(10, 0)]["present"] == 1 and rows[time(10, 0)]["present_baseline"] == 0
    assert result.summary["devices"] == 4 and result.summary["peak_present"] == 2


def test_params_must_be_positive() -> None:
    with pytest.raises(ValueError, match="gap_s"):
        HubParams(gap_s=0)


def test_the_simulator_known_totals_are_recovered() -> None:
    from cityhub.transit.hubsim import HUB_ZONE_IDS, simulate_days, simulate_hub

    sim = simulate_hub(date(2026, 9, 24), people=800, seed=7)
    assert sim.pings.schema == PINGS
    # 8 staff; of the 792 others 45 % depart (356), 45 % arrive (356), 10 % change metro lines (79)
    assert sim.counts["people"] == sim.truth.num_rows == 356 + 356 + 79 + 8
    again = simulate_hub(date(2026, 9, 24), people=800, seed=7)
    assert again.pings.equals(sim.pings)  # seeded
    params = HubParams(gap_s=900, interval_s=3600, dwell_threshold_s=1800, hub_zones=HUB_ZONE_IDS)
    result = analyse(sim.pings, params)
    # one stay per person, with its exact start, end, origin and destination
    got = {r["device_id"]: r for r in result.stays.to_pylist()}
    assert len(got) == result.stays.num_rows == sim.truth.num_rows
    for t in sim.truth.to_pylist():
        s = got[t["device_id"]]
        assert (s["start"], s["end"], s["origin_zone"], s["destination_zone"], s["first_zone"]) == \
            (t["arrive"], t["leave"], t["origin_zone"], t["destination_zone"], t["first_zone"])
    # hub arrivals per hour equal the true ones
    true_by_hour: dict[int, int] = {}
    for t in sim.truth.to_pylist():
        true_by_hour[t["arrive"].hour] = true_by_hour.get(t["arrive"].hour, 0) + 1
    hub = {r["interval_start"].hour: r["arrivals"] for r in result.presence.to_pylist()
           if r["zone_id"] == HUB and r["interval_start"].date() == date(2026, 9, 24)}
    assert {h: n for h, n in hub.items() if n} == true_by_hour
    staff = [r for r in sim.truth.to_pylist() if r["kind"] == "staff"]
    assert all(r["dwell_s"] == 8 * 3600 for r in staff)
    # a holiday: more people, longer waits, and the surge view shows it
    both = simulate_days([(date(2026, 9, 24), False), (date(2026, 10, 1), True)], people=800, seed=7)
    assert both.counts["departing"] == 356 + 677 and both.counts["people"] > 1.5 * sim.counts["people"]
    res2 = analyse(both.pings, params)
    s = surge(res2.presence, date(2026, 10, 1), date(2026, 9, 24))
    assert sum(s.column("arrivals").to_pylist()) == both.truth.num_rows - sim.truth.num_rows
    assert sum(s.column("arrivals_baseline").to_pylist()) == sim.truth.num_rows
    assert sum(s.column("present").to_pylist()) > 1.4 * sum(s.column("present_baseline").to_pylist())
