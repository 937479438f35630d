"""GTFS loading and validation on small hand-built feeds (good, and broken in known places)."""

from __future__ import annotations

import zipfile
from datetime import date
from pathlib import Path

import pytest

from cityhub.transit.gtfs import load_gtfs
from cityhub.transit.ioreport import TransitInputError
from cityhub.transit.schema import ROUTE_STOPS, STOPS

GOOD = {
    "agency.txt": "agency_id,agency_name,agency_url,agency_timezone\nGZ,广州公交,https://example.org,Asia/Shanghai\n",
    "stops.txt": (
        "stop_id,stop_name,stop_lat,stop_lon,location_type,parent_station\n"
        "S1,体育西路,23.1300,113.3200,1,\n"
        "S1P,体育西路站台,23.1301,113.3201,0,S1\n"
        "S2,珠江新城,23.1200,113.3230,1,\n"
        "S2P,珠江新城站台,23.1201,113.3231,0,S2\n"
        "B1,天河城,23.1330,113.3220,0,\n"
        "B2,石牌桥,23.1340,113.3330,0,\n"
        "B3,岗顶,23.1350,113.3410,0,\n"
    ),
    "routes.txt": (
        "route_id,agency_id,route_short_name,route_long_name,route_type\n"
        "L3,GZ,3号线,,1\n"
        "B10,GZ,10路,,3\n"
    ),
    "trips.txt": (
        "route_id,service_id,trip_id,direction_id\n"
        "L3,WK,T1,0\n"
        "B10,WK,T2,0\n"
        "B10,WK,T3,0\n"
        "B10,WE,T4,1\n"
    ),
    "stop_times.txt": (
        "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
        "T1,08:00:00,08:00:30,S1P,1\n"
        "T1,08:03:00,08:03:30,S2P,2\n"
        "T2,23:50:00,23:50:00,B1,1\n"
        "T2,24:05:00,24:05:00,B2,5\n"
        "T2,25:35:00,25:35:00,B3,9\n"
        "T3,07:00:00,07:00:00,B1,1\n"
        "T3,07:10:00,07:10:00,B2,2\n"
        "T3,07:20:00,07:20:00,B3,3\n"
        "T4,07:00:00,07:00:00,B3,1\n"
        "T4,07:12:00,07:12:00,B1,2\n"
    ),
    "calendar.txt": (
        "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,end_date\n"
        "WK,1,1,1,1,1,0,0,20260105,20260111\n"
        "WE,0,0,0,0,0,1,1,20260105,20260111\n"
    ),
    "calendar_dates.txt": "service_id,date,exception_type\nWK,20260106,2\nWE,20260107,1\n",
}


def write_feed(tmp_path: Path, files: dict[str, str], as_zip: bool = False) -> Path:
    if as_zip:
        path = tmp_path / "feed.zip"
        with zipfile.ZipFile(path, "w") as zf:
            for name, text in files.items():
                zf.writestr(f"gtfs/{name}", text)
        return path
    folder = tmp_path / "feed"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def codes(feed) -> dict[tuple[str, str, str | None], list[int | None]]:
    out: dict[tuple[str, str, str | None], list[int | None]] = {}
    for p in feed.report.problems:
        out.setdefault((p.code, p.file, p.field), []).append(p.row)
    return out


@pytest.mark.parametrize("as_zip", [False, True])
def test_good_feed_loads_clean(tmp_path: Path, as_zip: bool) -> None:
    feed = load_gtfs(write_feed(tmp_path, GOOD, as_zip))
    assert feed.report.errors == 0, feed.report.to_dict()
    assert feed.report.warnings == 0, feed.report.to_dict()
    assert feed.stops.schema == STOPS and feed.route_stops.schema == ROUTE_STOPS
    stops = {r["stop_id"]: r["mode"] for r in feed.stops.to_pylist()}
    # metro platforms stand for their parent stations; bus stops are themselves
    assert stops == {"S1": "metro", "S2": "metro", "B1": "bus", "B2": "bus", "B3": "bus"}
    rs = [(r["route_id"], r["direction"], r["seq"], r["stop_id"]) for r in feed.route_stops.to_pylist()]
    assert rs == [("B10", 0, 0, "B1"), ("B10", 0, 1, "B2"), ("B10", 0, 2, "B3"), ("B10", 1, 0, "B3"),
                  ("B10", 1, 1, "B1"), ("L3", 0, 0, "S1"), ("L3", 0, 1, "S2")]
    dist = [r["dist_m"] for r in feed.route_stops.to_pylist() if r["route_id"] == "L3"]
    assert dist[0] == 0 and 1150 < dist[1] < 1200  # 0.01° lat and 0.003° lon apart at 23° N ≈ 1,170 m
    # times past 24:00 are the same service day: 25:35:00 is 92,100 s
    t2 = [r for r in feed.stop_times.to_pylist() if r["trip_id"] == "T2"]
    assert [r["arrival_s"] for r in t2] == [85800, 86700, 92100]
    # WK runs Mon–Fri of 5–11 Jan 2026 but not Tue 6; WE Sat/Sun plus Wed 7
    days = {(r["service_id"], r["date"]) for r in feed.service_dates.to_pylist()}
    assert {d.day for s, d in days if s == "WK"} == {5, 7, 8, 9}
    assert {d.day for s, d in days if s == "WE"} == {7, 10, 11}
    assert [r["trip_id"] for r in feed.trips_on(date(2026, 1, 10)).to_pylist()] == ["T4"]
    assert [r["trip_id"] for r in feed.trips_on(date(2026, 1, 7)).to_pylist()] == ["T1", "T2", "T3", "T4"]


def test_broken_references_are_reported_and_the_rest_loads(tmp_path: Path) -> None:
    files = dict(GOOD)
    files["stops.txt"] = GOOD["stops.txt"] + "B1,重复,23.1,113.3,0,\nBX,坏坐标,95.0,113.3,0,\nB9,零点,0,0,0,\n"
    files["routes.txt"] = GOOD["routes.txt"] + "R9,GZ,,,3\nF1,NOPE,轮渡,,4\nZZ,GZ,怪,,42\n"
    files["trips.txt"] = GOOD["trips.txt"] + "NOROUTE,WK,T5,0\nB10,NOSVC,T6,0\nB10,WK,T7,0\nB10,WK,T8,0\nB10,WK,T9,0\n"
    files["stop_times.txt"] = GOOD["stop_times.txt"] + (
        "T6,08:00:00,08:00:00,B1,1\n"
        "T6,08:10:00,08:10:00,GHOST,2\n"     # stop_times→stops broken
        "T6,08:20:00,08:20:00,B3,3\n"
        "NOTRIP,08:00:00,08:00:00,B1,1\n"    # stop_times→trips broken
        "T7,09:00:00,09:00:00,B1,2\n"
        "T7,08:50:00,08:50:00,B2,1\n"        # listed out of order: a warning; times are fine in sequence order
        "T7,08:40:00,08:40:00,B3,3\n"        # goes back in time
        "T8,9:00:00,,B1,1\n"                 # only arrival; also an edge without both times
        "T8,09:61:00,09:61:00,B2,2\n"        # invalid time
        "T8,10:00:00,10:00:00,B3,2\n"        # duplicate (trip_id, stop_sequence)
        "T9,10:00:00,10:00:00,B1,1\n"        # a trip with a single stop time
    )
    feed = load_gtfs(write_feed(tmp_path, files))
    c = codes(feed)
    # header is row 1, first record row 2 (gtfs-validator's csvRowNumber)
    assert c[("foreign_key_violation", "stop_times.txt", "stop_id")] == [13]
    assert c[("foreign_key_violation", "stop_times.txt", "trip_id")] == [15]
    assert c[("foreign_key_violation", "trips.txt", "route_id")] == [6]
    assert c[("foreign_key_violation", "trips.txt", "service_id")] == [7]
    assert c[("foreign_key_violation", "routes.txt", "agency_id")] == [5]
    assert c[("duplicate_key", "stops.txt", "stop_id")] == [9]
    assert c[("duplicate_key", "stop_times.txt", "trip_id")] == [21]
    assert c[("number_out_of_range", "stops.txt", "stop_lat")] == [10]
    assert c[("point_near_origin", "stops.txt", "stop_lat")] == [11]
    assert c[("route_both_short_and_long_name_missing", "routes.txt", "route_short_name")] == [4]
    assert c[("unexpected_enum_value", "routes.txt", "route_type")] == [6]
    assert c[("stop_sequence_not_in_file_order", "stop_times.txt", "stop_sequence")] == [17]
    assert c[("stop_time_with_arrival_before_previous_departure_time", "stop_times.txt", "arrival_time")] == [18]
    assert c[("stop_time_with_only_arrival_or_departure_time", "stop_times.txt", "arrival_time")] == [19]
    assert c[("invalid_time", "stop_times.txt", "arrival_time")] == [20]
    assert 19 in c[("missing_trip_edge", "stop_times.txt", "arrival_time")]
    assert c[("unusable_trip", "trips.txt", "trip_id")] == [10]
    severities = {p.code: p.severity for p in feed.report.problems}
    assert severities["foreign_key_violation"] == "error" and severities["unusable_trip"] == "warning"
    # the rest loads: the good routes are as before, T6 runs without its ghost stop, the ferry is left out
    assert {r["stop_id"] for r in feed.stops.to_pylist()} == {"S1", "S2", "B1", "B2", "B3"}
    assert [r["stop_id"] for r in feed.stop_times.to_pylist() if r["trip_id"] == "T6"] == ["B1", "B3"]
    assert "T5" not in {r["trip_id"] for r in feed.trips.to_pylist()}
    modes = {r["route_id"]: r["mode"] for r in feed.routes.to_pylist()}
    assert modes["F1"] is None and modes["L3"] == "metro" and modes["B10"] == "bus"
    assert any("neither bus nor metro" in n for n in feed.report.notes)
    d = feed.report.to_dict()
    assert d["errors"] == feed.report.errors > 10 and d["counts"]


def test_missing_files_and_columns_do_not_crash(tmp_path: Path) -> None:
    files = {k: v for k, v in GOOD.items() if k not in ("calendar.txt", "calendar_dates.txt", "agency.txt")}
    files["stops.txt"] = GOOD["stops.txt"].replace("stop_lat,", "lat,")
    files["trips.txt"] = "route_id,service_id,trip_id,trip_id\n" + "L3,WK,T1,T1\nB10,WK,T2,T2\n"
    files["routes.txt"] = GOOD["routes.txt"] + "B11,GZ,11路\n"  # short record
    feed = load_gtfs(write_feed(tmp_path, files))
    c = codes(feed)
    assert ("missing_required_file", "agency.txt", None) in c
    assert ("missing_calendar_and_calendar_date_files", "calendar.txt", None) in c
    assert c[("missing_required_column", "stops.txt", "stop_lat")] == [1]
    assert c[("duplicated_column", "trips.txt", "trip_id")] == [1]
    assert c[("invalid_row_length", "routes.txt", None)] == [4]
    # no coordinates: no stop can be placed, but trips, routes and stop times still load
    assert feed.stops.num_rows == 0
    assert {r["trip_id"] for r in feed.trips.to_pylist()} == {"T1", "T2"}
    assert feed.route_stops.num_rows == 5 and feed.service_dates.num_rows == 0
    assert feed.report.rows_read["routes.txt"] == 2


def test_gb18030_feed_is_read_with_a_warning(tmp_path: Path) -> None:
    folder = write_feed(tmp_path, GOOD)
    (folder / "stops.txt").write_bytes(GOOD["stops.txt"].encode("gb18030"))
    feed = load_gtfs(folder)
    assert codes(feed)[("non_utf8_encoding", "stops.txt", None)] == [None]
    assert "体育西路" in {r["name"] for r in feed.stops.to_pylist()}


def test_not_a_feed_is_a_bilingual_error(tmp_path: Path) -> None:
    bad = tmp_path / "x.txt"
    bad.write_text("hello")
    with pytest.raises(TransitInputError) as err:
        load_gtfs(bad)
    assert "GTFS" in err.value.zh and "feed" in err.value.en
