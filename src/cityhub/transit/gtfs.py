"""GTFS static feeds → the transit tables (STOPS, ROUTE_STOPS, routes, trips, stop times, service dates), with a
validation report.

Pure: imports nothing from the rest of CityHub but :mod:`cityhub.transit.schema` and
:mod:`cityhub.transit.ioreport`. A feed (a ``.zip`` or a directory) is read with pyarrow's CSV reader, every
value as text, and checked with DuckDB SQL over the Arrow tables (no per-row Python on the normal path). Problems
are collected, never raised: a broken reference drops the rows that make it and the rest of the feed loads.

The rules follow the GTFS Schedule reference (gtfs.org/schedule/reference) and take their codes from MobilityData's
gtfs-validator notices (``docs/NOTICES.md`` of MobilityData/gtfs-validator):

============================================================  ========  ==============================================
code                                                          severity  rule
============================================================  ========  ==============================================
``missing_required_file``                                     error     agency, stops, routes, trips, stop_times
``missing_calendar_and_calendar_date_files``                  error     one of calendar.txt / calendar_dates.txt
``empty_file``                                                error     a required file with no record
``missing_required_column``                                   error     a required column absent from the header
``duplicated_column``                                         error     the same column twice (the first one is used)
``invalid_row_length``                                        error     a record with more or fewer fields than the header
``missing_required_field``                                    error     a required value left empty
``duplicate_key``                                             error     stop_id, route_id, trip_id, (trip_id, stop_sequence), …
``foreign_key_violation``                                     error     stop_times→stops/trips, trips→routes/calendar/shapes, …
``invalid_integer`` / ``invalid_float`` / ``invalid_date``    error     a value that is not one
``invalid_time``                                              error     not H:MM:SS (times past 24:00:00 are valid, as GTFS allows)
``number_out_of_range``                                       error     latitude outside ±90, longitude outside ±180
``point_near_origin``                                         error     a stop within 1° of (0, 0)
``start_and_end_range_out_of_order``                          error     calendar end_date before start_date
``stop_time_with_only_arrival_or_departure_time``             error     one of the two times given
``missing_trip_edge``                                         error     first or last stop of a trip without times
``stop_time_with_arrival_before_previous_departure_time``     error     times going backwards along stop_sequence
``decreasing_or_equal_stop_time_distance``                    error     shape_dist_traveled not increasing
``route_both_short_and_long_name_missing``                    error     a route with neither name
``unexpected_enum_value``                                     warning   route_type, direction_id, location_type, … not in the spec
``unusable_trip`` / ``unused_trip``                           warning   a trip with one stop time / with none
``stop_sequence_not_in_file_order``                           warning   CityHub's own: a trip's rows not in stop_sequence order
``non_utf8_encoding``                                         warning   CityHub's own: read as GB18030
============================================================  ========  ==============================================

Times are seconds from "noon minus 12 h" of the service day, so ``25:35:00`` is 92,100 s (1:35 the next morning).
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv

from cityhub.transit.ioreport import Problem, ProblemLog, TransitInputError
from cityhub.transit.schema import ROUTE_STOPS, STOPS

#: required columns per file (those this loader needs; ``stop_lat``/``stop_lon`` are conditionally required by the
#: spec and needed for STOPS), and the optional ones it reads
FILES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "agency": (("agency_name", "agency_url", "agency_timezone"), ("agency_id",)),
    "stops": (("stop_id", "stop_lat", "stop_lon"), ("stop_name", "location_type", "parent_station")),
    "routes": (("route_id", "route_type"), ("agency_id", "route_short_name", "route_long_name")),
    "trips": (("route_id", "service_id", "trip_id"), ("direction_id", "shape_id")),
    "stop_times": (("trip_id", "stop_sequence", "stop_id"), ("arrival_time", "departure_time", "shape_dist_traveled")),
    "calendar": (("service_id", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
                  "start_date", "end_date"), ()),
    "calendar_dates": (("service_id", "date", "exception_type"), ()),
    "shapes": (("shape_id", "shape_pt_lat", "shape_pt_lon", "shape_pt_sequence"), ("shape_dist_traveled",)),
}
REQUIRED_FILES = ("agency", "stops", "routes", "trips", "stop_times")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

#: route_type values of the spec (0–7, 11, 12) and the extended (Google) families, by hundreds
_ROUTE_TYPE_OK = ("(route_type_i IN (0, 1, 2, 3, 4, 5, 6, 7, 11, 12) OR route_type_i // 100 IN "
                  "(1, 2, 4, 7, 8, 9, 10, 11, 12, 13, 14, 15, 17))")
#: which route types are a metro (rail, subway, tram, cable tram, monorail; extended rail/urban rail/tram) and which a
#: bus (bus, trolleybus; extended coach/bus/trolleybus); anything else (ferry, air, …) is outside TAPS' modes
_MODE_SQL = ("CASE WHEN route_type_i IN (0, 1, 2, 5, 7, 12) OR route_type_i // 100 IN (1, 4, 9) THEN 'metro' "
             "WHEN route_type_i IN (3, 11) OR route_type_i // 100 IN (2, 7, 8) THEN 'bus' END")
_TIME_RE = r"^(\d{1,3}):([0-5]\d):([0-5]\d)$"

EARTH_RADIUS_M = 6_371_008.8


def _haversine_sql(lat1: str, lon1: str, lat2: str, lon2: str) -> str:
    return (f"2 * {EARTH_RADIUS_M} * asin(sqrt(pow(sin(radians({lat2} - {lat1}) / 2), 2) + cos(radians({lat1})) * "
            f"cos(radians({lat2})) * pow(sin(radians({lon2} - {lon1}) / 2), 2)))")


@dataclass
class GtfsReport:
    """The validation report: problems (listed up to ``keep`` per code, counted in full), records read per file
    and the size of each output table."""

    log: ProblemLog = field(default_factory=ProblemLog)
    rows_read: dict[str, int] = field(default_factory=dict)
    outputs: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return self.log.count("error")

    @property
    def warnings(self) -> int:
        return self.log.count("warning")

    @property
    def problems(self) -> list[Problem]:
        return self.log.problems

    def to_dict(self) -> dict[str, Any]:
        return {"errors": self.errors, "warnings": self.warnings, "rows_read": self.rows_read,
                "outputs": self.outputs, "counts": self.log.summary(), "notes": self.notes,
                "problems": [p.to_dict() for p in self.log.problems]}


@dataclass
class GtfsFeed:
    stops: pa.Table            # STOPS
    route_stops: pa.Table      # ROUTE_STOPS: the most frequent stop pattern of each route direction
    routes: pa.Table           # route_id, agency_id, short_name, long_name, route_type, mode
    trips: pa.Table            # trip_id, route_id, service_id, direction, shape_id
    stop_times: pa.Table       # trip_id, seq (stop_sequence), stop_id, arrival_s, departure_s
    service_dates: pa.Table    # service_id, date: the days each service runs (calendar + calendar_dates)
    report: GtfsReport

    def trips_on(self, day: date) -> pa.Table:
        """The trips that run on ``day`` (a service day: times past 24:00 belong to it)."""
        con = duckdb.connect()
        con.register("trips", self.trips)
        con.register("service_dates", self.service_dates)
        return con.sql("SELECT t.* FROM trips t SEMI JOIN service_dates s ON s.service_id = t.service_id "
                       f"AND s.date = DATE '{day.isoformat()}' ORDER BY t.trip_id").to_arrow_table()


# ---------------------------------------------------------------------------------------------- reading files


def _members(source: str | Path) -> Callable[[str], bytes | None]:
    """A reader of ``<name>.txt`` from a zip (files may sit in one sub-folder) or a directory."""
    path = Path(source)
    if path.is_dir():
        def from_dir(name: str) -> bytes | None:
            p = path / f"{name}.txt"
            return p.read_bytes() if p.is_file() else None
        return from_dir
    if path.is_file() and zipfile.is_zipfile(path):
        zf = zipfile.ZipFile(path)
        names = {Path(n).name: n for n in zf.namelist() if not n.endswith("/")}

        def from_zip(name: str) -> bytes | None:
            member = names.get(f"{name}.txt")
            return zf.read(member) if member else None
        return from_zip
    raise TransitInputError(f"找不到 GTFS 数据包(应为 zip 文件或目录):{source}",
                            f"No GTFS feed here (a zip file or a directory is expected): {source}", "feed")


def _read_csv(data: bytes, file: str, log: ProblemLog) -> pa.Table:
    """Every column as text, plus ``_row`` (gtfs-validator's csvRowNumber: header 1, first record 2). Fast path:
    pyarrow; a file with malformed records is re-read with the csv module for exact row numbers."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        data = data.decode("gb18030", errors="replace").encode("utf-8")
        log.add(Problem("warning", "non_utf8_encoding", file, None, None, None,
                        "not UTF-8 as GTFS requires; read as GB18030"))
    first, _, _ = data.partition(b"\n")
    header = next(csv.reader([first.decode("utf-8").rstrip("\r")]), [])
    names: list[str] = []
    for i, raw in enumerate(header):
        name = raw.strip()
        if name in names:
            log.add(Problem("error", "duplicated_column", file, 1, name, None,
                            f"column {name} appears twice (index {names.index(name)} and {i}); the first is used"))
            name = f"{name}__dup{i}"
        names.append(name)
    if not names or not any(names):
        return pa.table({"_row": pa.array([], pa.int64())})
    bad: list[Any] = []

    def on_bad(row: Any) -> str:
        bad.append(row)
        return "skip"

    table = pacsv.read_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, block_size=1 << 24),
        parse_options=pacsv.ParseOptions(invalid_row_handler=on_bad, ignore_empty_lines=False),
        convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                             strings_can_be_null=False, quoted_strings_can_be_null=False))
    if not bad:
        return table.append_column("_row", pa.array(range(2, table.num_rows + 2), pa.int64()))
    # slow path, only for a file with malformed records: exact record numbers
    cols: list[list[str | None]] = [[] for _ in names]
    rows: list[int] = []
    reader = csv.reader(io.StringIO(data.decode("utf-8")))
    next(reader, None)
    for number, record in enumerate(reader, start=2):
        if not record:
            continue  # an empty line
        if len(record) != len(names):
            log.add(Problem("error", "invalid_row_length", file, number, None, ",".join(record)[:200],
                            f"{len(record)} fields where the header has {len(names)}; record skipped"))
            continue
        rows.append(number)
        for c, value in zip(cols, record, strict=True):
            c.append(value)
    arrays = {n: pa.array(c, pa.string()) for n, c in zip(names, cols, strict=True)}
    arrays["_row"] = pa.array(rows, pa.int64())
    return pa.table(arrays)


# ---------------------------------------------------------------------------------------------- loading


class _Checker:
    def __init__(self, con: duckdb.DuckDBPyConnection, log: ProblemLog) -> None:
        self.con = con
        self.log = log

    def rows(self, severity: str, code: str, file: str, fld: str | None, sql: str, message: str) -> int:
        """Report each row of ``sql`` (columns: row, value)."""
        res = self.con.execute(f"SELECT r, v, count(*) OVER () AS n FROM ({sql}) q(r, v) ORDER BY r "
                               f"LIMIT {self.log.keep}").fetchall()
        if not res:
            return 0
        total = int(res[0][2])
        self.log.add_many(severity, code, file, [(r, v) for r, v, _ in res], total, fld, message)
        return total


def load_gtfs(source: str | Path, *, metro_parent_stations: bool = True, keep: int = 50,
              max_service_days: int = 3660) -> GtfsFeed:
    """Load and check a GTFS feed. ``metro_parent_stations``: metro stages are tapped at stations, so a metro
    platform with a ``parent_station`` stands for its station in ROUTE_STOPS and STOPS."""
    read = _members(source)
    report = GtfsReport(log=ProblemLog(keep=keep))
    log = report.log
    con = duckdb.connect()
    chk = _Checker(con, log)
    present: dict[str, bool] = {}
    for name, (required, optional) in FILES.items():
        raw = read(name)
        file = f"{name}.txt"
        if raw is None:
            present[name] = False
            if name in REQUIRED_FILES:
                log.add(Problem("error", "missing_required_file", file, None, None, None, "required file missing"))
            table = pa.table({"_row": pa.array([], pa.int64())})
        else:
            present[name] = True
            table = _read_csv(raw, file, log)
            if table.num_rows == 0 and name in REQUIRED_FILES:
                log.add(Problem("error", "empty_file", file, None, None, None, "required file has no record"))
        report.rows_read[file] = table.num_rows if raw is not None else 0
        have = set(table.column_names)
        if raw is not None:
            for col in required:
                if col not in have:
                    log.add(Problem("error", "missing_required_column", file, 1, col, None,
                                    f"required column {col} missing"))
        # the loader's view: every column it uses exists (NULL when absent), trimmed, '' as NULL
        for col in required + optional:
            if col not in have:
                table = table.append_column(col, pa.nulls(table.num_rows, pa.string()))
        con.register(f"raw_{name}", table)
        cols = ", ".join(f"nullif(trim({c}), '') AS {c}" for c in required + optional)
        con.execute(f"CREATE TEMP TABLE {name} AS SELECT _row, {cols} FROM raw_{name}")
        if raw is not None:
            for col in required:
                if col in have:
                    chk.rows("error", "missing_required_field", file, col,
                             f"SELECT _row, NULL FROM {name} WHERE {col} IS NULL", f"{col} is empty")
    if not present["calendar"] and not present["calendar_dates"]:
        log.add(Problem("error", "missing_calendar_and_calendar_date_files", "calendar.txt", None, None, None,
                        "neither calendar.txt nor calendar_dates.txt"))

    _check_types(chk)
    _check_keys(chk)
    _check_stop_times(chk)
    _check_misc(chk)
    return _build(con, chk, report, metro_parent_stations, max_service_days)


def _typed(chk: _Checker, file: str, col: str, kind: str) -> None:
    cast = {"int": "BIGINT", "float": "DOUBLE"}[kind]
    code = {"int": "invalid_integer", "float": "invalid_float"}[kind]
    chk.rows("error", code, f"{file}.txt", col,
             f"SELECT _row, {col} FROM {file} WHERE {col} IS NOT NULL AND TRY_CAST({col} AS {cast}) IS NULL",
             f"{col} is not {'an integer' if kind == 'int' else 'a number'}")


def _enum(chk: _Checker, file: str, col: str, allowed: str) -> None:
    chk.rows("warning", "unexpected_enum_value", f"{file}.txt", col,
             f"SELECT _row, {col} FROM {file} WHERE TRY_CAST({col} AS BIGINT) IS NOT NULL AND NOT "
             f"({allowed.replace('X', f'TRY_CAST({col} AS BIGINT)')})", f"{col} has a value the spec does not define")


def _check_types(chk: _Checker) -> None:
    con = chk.con
    for file, col, kind in (("stops", "stop_lat", "float"), ("stops", "stop_lon", "float"),
                            ("stops", "location_type", "int"), ("routes", "route_type", "int"),
                            ("trips", "direction_id", "int"), ("stop_times", "stop_sequence", "int"),
                            ("stop_times", "shape_dist_traveled", "float"), ("calendar_dates", "exception_type", "int"),
                            ("shapes", "shape_pt_lat", "float"), ("shapes", "shape_pt_lon", "float"),
                            ("shapes", "shape_pt_sequence", "int"), *(("calendar", d, "int") for d in WEEKDAYS)):
        _typed(chk, file, col, kind)
    for file, col in (("calendar", "start_date"), ("calendar", "end_date"), ("calendar_dates", "date")):
        chk.rows("error", "invalid_date", f"{file}.txt", col,
                 f"SELECT _row, {col} FROM {file} WHERE {col} IS NOT NULL AND "
                 f"try_strptime({col}, '%Y%m%d') IS NULL", f"{col} is not a date as YYYYMMDD")
    for file, col in (("stop_times", "arrival_time"), ("stop_times", "departure_time")):
        chk.rows("error", "invalid_time", f"{file}.txt", col,
                 f"SELECT _row, {col} FROM {file} WHERE {col} IS NOT NULL AND NOT regexp_matches({col}, '{_TIME_RE}')",
                 f"{col} is not a time as H:MM:SS")
    for file, lat, lon in (("stops", "stop_lat", "stop_lon"), ("shapes", "shape_pt_lat", "shape_pt_lon")):
        chk.rows("error", "number_out_of_range", f"{file}.txt", lat,
                 f"SELECT _row, {lat} FROM {file} WHERE abs(TRY_CAST({lat} AS DOUBLE)) > 90",
                 "latitude outside [-90, 90]")
        chk.rows("error", "number_out_of_range", f"{file}.txt", lon,
                 f"SELECT _row, {lon} FROM {file} WHERE abs(TRY_CAST({lon} AS DOUBLE)) > 180",
                 "longitude outside [-180, 180]")
    chk.rows("error", "point_near_origin", "stops.txt", "stop_lat",
             "SELECT _row, stop_lat || ',' || stop_lon FROM stops WHERE abs(TRY_CAST(stop_lat AS DOUBLE)) <= 1 "
             "AND abs(TRY_CAST(stop_lon AS DOUBLE)) <= 1", "stop within 1 degree of (0, 0): coordinates missing?")
    con.execute("ALTER TABLE routes ADD COLUMN route_type_i BIGINT")
    con.execute("UPDATE routes SET route_type_i = TRY_CAST(route_type AS BIGINT)")
    chk.rows("warning", "unexpected_enum_value", "routes.txt", "route_type",
             f"SELECT _row, route_type FROM routes WHERE route_type_i IS NOT NULL AND NOT {_ROUTE_TYPE_OK}",
             "route_type is neither a GTFS route type nor an extended one; the route is left out")
    _enum(chk, "trips", "direction_id", "X IN (0, 1)")
    _enum(chk, "stops", "location_type", "X BETWEEN 0 AND 4")
    _enum(chk, "calendar_dates", "exception_type", "X IN (1, 2)")
    for d in WEEKDAYS:
        _enum(chk, "calendar", d, "X IN (0, 1)")
    chk.rows("error", "start_and_end_range_out_of_order", "calendar.txt", "end_date",
             "SELECT _row, start_date || '>' || end_date FROM calendar WHERE try_strptime(end_date, '%Y%m%d') < "
             "try_strptime(start_date, '%Y%m%d')", "end_date before start_date")


def _check_keys(chk: _Checker) -> None:
    for file, key in (("agency", "agency_id"), ("stops", "stop_id"), ("routes", "route_id"), ("trips", "trip_id"),
                      ("calendar", "service_id"), ("calendar_dates", "service_id || '|' || date"),
                      ("stop_times", "trip_id || '|' || TRY_CAST(stop_sequence AS BIGINT)"),
                      ("shapes", "shape_id || '|' || TRY_CAST(shape_pt_sequence AS BIGINT)")):
        chk.rows("error", "duplicate_key", f"{file}.txt", key.split(" ")[0],
                 f"SELECT _row, k FROM (SELECT _row, {key} AS k, row_number() OVER (PARTITION BY {key} ORDER BY _row) "
                 f"AS rn FROM {file} WHERE {key} IS NOT NULL) WHERE rn > 1", "key already used on an earlier row")
    chk.con.execute("CREATE TEMP TABLE services AS SELECT service_id FROM calendar WHERE service_id IS NOT NULL "
                    "UNION SELECT service_id FROM calendar_dates WHERE service_id IS NOT NULL")
    for child, col, parent, pcol in (("stop_times", "trip_id", "trips", "trip_id"),
                                     ("stop_times", "stop_id", "stops", "stop_id"),
                                     ("trips", "route_id", "routes", "route_id"),
                                     ("trips", "service_id", "services", "service_id"),
                                     ("trips", "shape_id", "shapes", "shape_id"),
                                     ("routes", "agency_id", "agency", "agency_id"),
                                     ("stops", "parent_station", "stops", "stop_id")):
        pfile = "calendar.txt/calendar_dates.txt" if parent == "services" else f"{parent}.txt"
        chk.rows("error", "foreign_key_violation", f"{child}.txt", col,
                 f"SELECT c._row, c.{col} FROM {child} c ANTI JOIN {parent} p ON c.{col} = p.{pcol} "
                 f"WHERE c.{col} IS NOT NULL", f"{col} refers to no {pcol} in {pfile}")


def _check_stop_times(chk: _Checker) -> None:
    con = chk.con
    con.execute(f"""
        CREATE TEMP TABLE st AS
        SELECT _row, trip_id, stop_id, TRY_CAST(stop_sequence AS BIGINT) AS seq,
               CASE WHEN regexp_matches(arrival_time, '{_TIME_RE}') THEN
                 CAST(split_part(arrival_time, ':', 1) AS BIGINT) * 3600 + CAST(split_part(arrival_time, ':', 2) AS BIGINT) * 60
                 + CAST(split_part(arrival_time, ':', 3) AS BIGINT) END AS arr,
               CASE WHEN regexp_matches(departure_time, '{_TIME_RE}') THEN
                 CAST(split_part(departure_time, ':', 1) AS BIGINT) * 3600 + CAST(split_part(departure_time, ':', 2) AS BIGINT) * 60
                 + CAST(split_part(departure_time, ':', 3) AS BIGINT) END AS dep,
               arrival_time, departure_time, TRY_CAST(shape_dist_traveled AS DOUBLE) AS dist
        FROM stop_times WHERE trip_id IS NOT NULL""")
    chk.rows("error", "stop_time_with_only_arrival_or_departure_time", "stop_times.txt", "arrival_time",
             "SELECT _row, coalesce(arrival_time, '') || '/' || coalesce(departure_time, '') FROM st "
             "WHERE (arrival_time IS NULL) <> (departure_time IS NULL)", "only one of arrival_time and departure_time")
    chk.rows("warning", "stop_sequence_not_in_file_order", "stop_times.txt", "stop_sequence",
             "SELECT _row, seq FROM (SELECT _row, seq, lag(seq) OVER (PARTITION BY trip_id ORDER BY _row) AS prev "
             "FROM st WHERE seq IS NOT NULL) WHERE seq < prev",
             "stop_sequence lower than the trip's previous row (read in stop_sequence order)")
    con.execute("""
        CREATE TEMP TABLE st_ordered AS
        SELECT *, max(coalesce(dep, arr)) OVER (PARTITION BY trip_id ORDER BY seq, _row
                    ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_dep,
               max(dist) OVER (PARTITION BY trip_id ORDER BY seq, _row
                    ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_dist,
               row_number() OVER (PARTITION BY trip_id ORDER BY seq, _row) AS k,
               count(*) OVER (PARTITION BY trip_id) AS n
        FROM st WHERE seq IS NOT NULL""")
    chk.rows("error", "stop_time_with_arrival_before_previous_departure_time", "stop_times.txt", "arrival_time",
             "SELECT _row, arrival_time FROM st_ordered WHERE coalesce(arr, dep) < prev_dep",
             "time earlier than a previous stop's departure along stop_sequence")
    chk.rows("error", "decreasing_or_equal_stop_time_distance", "stop_times.txt", "shape_dist_traveled",
             "SELECT _row, dist FROM st_ordered WHERE dist <= prev_dist",
             "shape_dist_traveled not greater than at the previous stop")
    chk.rows("error", "missing_trip_edge", "stop_times.txt", "arrival_time",
             "SELECT _row, trip_id FROM st_ordered WHERE (k = 1 OR k = n) AND (arr IS NULL OR dep IS NULL)",
             "first or last stop of a trip without arrival_time and departure_time")
    chk.rows("warning", "unusable_trip", "trips.txt", "trip_id",
             "SELECT t._row, t.trip_id FROM trips t JOIN (SELECT trip_id, count(*) AS n FROM st GROUP BY 1) s "
             "USING (trip_id) WHERE s.n = 1", "trip with a single stop time")
    chk.rows("warning", "unused_trip", "trips.txt", "trip_id",
             "SELECT t._row, t.trip_id FROM trips t ANTI JOIN st s USING (trip_id) WHERE t.trip_id IS NOT NULL",
             "trip with no stop time")


def _check_misc(chk: _Checker) -> None:
    chk.rows("error", "route_both_short_and_long_name_missing", "routes.txt", "route_short_name",
             "SELECT _row, route_id FROM routes WHERE route_short_name IS NULL AND route_long_name IS NULL",
             "route has neither route_short_name nor route_long_name")


def _build(con: duckdb.DuckDBPyConnection, chk: _Checker, report: GtfsReport, metro_parent: bool,
           max_days: int) -> GtfsFeed:
    """The output tables from the rows that passed: first of each duplicate key, valid references only."""
    con.execute("""
        CREATE TEMP TABLE ok_routes AS
        SELECT route_id, agency_id, route_short_name AS short_name, route_long_name AS long_name,
               CAST(route_type_i AS INTEGER) AS route_type, """ + _MODE_SQL + """ AS mode
        FROM routes WHERE route_id IS NOT NULL AND route_type_i IS NOT NULL
        QUALIFY row_number() OVER (PARTITION BY route_id ORDER BY _row) = 1""")
    con.execute("""
        CREATE TEMP TABLE ok_stops AS
        SELECT stop_id, stop_name AS name, TRY_CAST(stop_lat AS DOUBLE) AS lat, TRY_CAST(stop_lon AS DOUBLE) AS lon,
               parent_station, TRY_CAST(location_type AS INTEGER) AS location_type
        FROM stops WHERE stop_id IS NOT NULL
        QUALIFY row_number() OVER (PARTITION BY stop_id ORDER BY _row) = 1""")
    con.execute("""
        CREATE TEMP TABLE ok_trips AS
        SELECT t.trip_id, t.route_id, t.service_id,
               CAST(CASE WHEN TRY_CAST(t.direction_id AS INTEGER) = 1 THEN 1 ELSE 0 END AS TINYINT) AS direction,
               t.shape_id, r.mode
        FROM trips t JOIN ok_routes r USING (route_id)
        WHERE t.trip_id IS NOT NULL AND t.service_id IS NOT NULL
        QUALIFY row_number() OVER (PARTITION BY t.trip_id ORDER BY t._row) = 1""")
    # stop times with valid references; a metro platform stands for its parent station when asked
    parent = ("CASE WHEN t.mode = 'metro' AND p.stop_id IS NOT NULL AND p.lat IS NOT NULL THEN p.stop_id "
              "ELSE s.stop_id END") if metro_parent else "s.stop_id"
    con.execute(f"""
        CREATE TEMP TABLE ok_st AS
        SELECT st.trip_id, CAST(st.seq AS INTEGER) AS seq, {parent} AS stop_id, st.arr AS arrival_s,
               st.dep AS departure_s, t.route_id, t.direction, t.mode
        FROM st JOIN ok_trips t USING (trip_id) JOIN ok_stops s ON s.stop_id = st.stop_id
        LEFT JOIN ok_stops p ON p.stop_id = s.parent_station
        WHERE st.seq IS NOT NULL
        QUALIFY row_number() OVER (PARTITION BY st.trip_id, st.seq ORDER BY st._row) = 1""")
    unknown_mode = con.execute("SELECT count(*) FROM ok_routes WHERE mode IS NULL").fetchall()[0]
    if unknown_mode and unknown_mode[0]:
        report.notes.append(f"{unknown_mode[0]} route(s) are neither bus nor metro (ferry, air, …) and are not in "
                            "STOPS/ROUTE_STOPS")
    served = con.sql("""
        SELECT s.stop_id, s.name, s.lat, s.lon,
               CASE WHEN bool_or(m.mode = 'metro') THEN 'metro' ELSE 'bus' END AS mode,
               CAST(NULL AS VARCHAR) AS district
        FROM (SELECT DISTINCT stop_id, mode FROM ok_st WHERE mode IS NOT NULL) m JOIN ok_stops s USING (stop_id)
        WHERE s.lat BETWEEN -90 AND 90 AND s.lon BETWEEN -180 AND 180
        GROUP BY ALL ORDER BY s.stop_id""").to_arrow_table().cast(STOPS)
    con.register("out_stops", served)
    # representative pattern per route direction: the stop sequence most trips run (ties: longest, then first)
    con.execute("CREATE TEMP TABLE pat AS SELECT route_id, direction, trip_id, list(stop_id ORDER BY seq) AS stops "
                "FROM ok_st WHERE mode IS NOT NULL GROUP BY ALL")
    route_stops = con.sql(f"""
        WITH best AS (
            SELECT route_id, direction, stops FROM pat GROUP BY route_id, direction, stops
            QUALIFY row_number() OVER (PARTITION BY route_id, direction
                                       ORDER BY count(*) DESC, len(stops) DESC, list_aggr(stops, 'string_agg', '|'))
                    = 1),
        seq AS (
            SELECT route_id, direction, CAST(generate_subscripts(stops, 1) - 1 AS INTEGER) AS seq,
                   unnest(stops) AS stop_id FROM best),
        geo AS (
            SELECT q.*, s.lat, s.lon,
                   lag(s.lat) OVER w AS plat, lag(s.lon) OVER w AS plon
            FROM seq q LEFT JOIN out_stops s USING (stop_id)
            WINDOW w AS (PARTITION BY route_id, direction ORDER BY seq))
        SELECT route_id, direction, seq, stop_id,
               sum(coalesce({_haversine_sql('plat', 'plon', 'lat', 'lon')}, 0)) OVER
                   (PARTITION BY route_id, direction ORDER BY seq) AS dist_m
        FROM geo ORDER BY route_id, direction, seq""").to_arrow_table().cast(ROUTE_STOPS)
    multi = con.execute("SELECT count(*) FROM (SELECT route_id, direction FROM pat GROUP BY ALL "
                        "HAVING count(DISTINCT stops) > 1)").fetchall()[0]
    if multi and multi[0]:
        report.notes.append(f"{multi[0]} route direction(s) run more than one stop pattern; ROUTE_STOPS keeps the "
                            "one most trips run")
    # service dates: calendar ranges by weekday, plus calendar_dates additions, minus removals
    span = con.execute("SELECT max(datediff('day', try_strptime(start_date, '%Y%m%d'), "
                       "try_strptime(end_date, '%Y%m%d'))) FROM calendar").fetchall()[0]
    if span and span[0] is not None and span[0] > max_days:
        report.notes.append(f"a calendar range of {span[0]} days is cut to {max_days} days")
    service_dates = con.sql(f"""
        WITH cal AS (
            SELECT service_id, CAST(try_strptime(start_date, '%Y%m%d') AS DATE) AS d0,
                   CAST(try_strptime(end_date, '%Y%m%d') AS DATE) AS d1,
                   [{', '.join(f"TRY_CAST({d} AS INTEGER) = 1" for d in WEEKDAYS)}] AS days
            FROM calendar WHERE service_id IS NOT NULL
            QUALIFY row_number() OVER (PARTITION BY service_id ORDER BY _row) = 1),
        ranged AS (
            SELECT service_id, CAST(unnest(generate_series(d0, least(d1, d0 + INTERVAL {max_days} DAY),
                                                           INTERVAL 1 DAY)) AS DATE) AS date, days
            FROM cal WHERE d0 IS NOT NULL AND d1 IS NOT NULL AND d1 >= d0),
        exc AS (
            SELECT service_id, CAST(try_strptime(date, '%Y%m%d') AS DATE) AS date,
                   TRY_CAST(exception_type AS INTEGER) AS et
            FROM calendar_dates WHERE service_id IS NOT NULL
            QUALIFY row_number() OVER (PARTITION BY service_id, date ORDER BY _row) = 1)
        SELECT service_id, date FROM ranged WHERE days[isodow(date)]
        EXCEPT SELECT service_id, date FROM exc WHERE et = 2
        UNION SELECT service_id, date FROM exc WHERE et = 1 AND date IS NOT NULL
        ORDER BY service_id, date""").to_arrow_table()
    routes = con.sql("SELECT * FROM ok_routes ORDER BY route_id").to_arrow_table()
    trips = con.sql("SELECT trip_id, route_id, service_id, direction, shape_id FROM ok_trips "
                        "ORDER BY trip_id").to_arrow_table()
    stop_times = con.sql("SELECT trip_id, seq, stop_id, arrival_s, departure_s FROM ok_st "
                             "ORDER BY trip_id, seq").to_arrow_table()
    report.outputs = {"stops": served.num_rows, "route_stops": route_stops.num_rows, "routes": routes.num_rows,
                      "trips": trips.num_rows, "stop_times": stop_times.num_rows,
                      "service_dates": service_dates.num_rows}
    return GtfsFeed(served, route_stops, routes, trips, stop_times, service_dates, report)
