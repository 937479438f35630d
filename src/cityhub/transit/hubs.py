"""Hub crowd monitoring (综合客运枢纽客流监测) from anonymous device pings (phone signalling, Wi-Fi probes).

Pure: imports nothing from the rest of CityHub but :mod:`cityhub.transit.schema`. Every step is one DuckDB query
over Arrow tables (no per-device Python); :mod:`cityhub.transit.spark` runs the same rules in Spark.

The rules, with their parameters in :class:`HubParams`:

* **visit**: a run of a device's pings (ordered by time, then zone) in one zone, with no two consecutive pings
  more than ``gap_s`` apart; it lasts from its first to its last ping (``dwell_s`` = last − first). A ping in
  another zone, or a silence longer than ``gap_s``, ends it. Exact duplicate pings count once.
* **stay** (at the hub): consecutive visits of a device in hub zones (``hub_zones``; all zones when not given),
  each starting at most ``gap_s`` after the previous one ended. Its **origin** is the zone of the device's visit
  just before it when that visit is outside the hub and ended at most ``origin_window_s`` before the stay began
  (else none: ``unknown``); its **destination** likewise after it. A stay of at least ``dwell_threshold_s`` is
  *stayed*, a shorter one *passed through* (no published standard: a parameter).
* **people present** in an interval ``[t, t + interval_s)``: distinct devices with a visit (per zone) or a stay
  (the hub, zone ``*``) overlapping it, i.e. the intervals from the one holding its first ping to the one
  holding its last; **arrivals**/**departures**: visits or stays whose first/last ping falls in the interval.
* **surge**: one day against a baseline day, interval by interval (time of day).

Intervals are aligned on midnight; times are local (Asia/Shanghai) timestamps without zone, as in PINGS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from itertools import pairwise
from typing import Any

import duckdb
import pyarrow as pa

#: the zone id of hub-wide rows in :func:`presence`
HUB = "*"
UNKNOWN = "unknown"
DWELL_BINS_MIN = (0, 5, 15, 30, 60, 120, 240)

VISITS = pa.schema([
    pa.field("device_id", pa.string(), nullable=False), pa.field("visit_no", pa.int64(), nullable=False),
    pa.field("zone_id", pa.string(), nullable=False), pa.field("start", pa.timestamp("s"), nullable=False),
    pa.field("end", pa.timestamp("s"), nullable=False), pa.field("pings", pa.int64(), nullable=False),
    pa.field("dwell_s", pa.int64(), nullable=False),
])
STAYS = pa.schema([
    pa.field("device_id", pa.string(), nullable=False), pa.field("stay_no", pa.int64(), nullable=False),
    pa.field("start", pa.timestamp("s"), nullable=False), pa.field("end", pa.timestamp("s"), nullable=False),
    pa.field("dwell_s", pa.int64(), nullable=False), pa.field("visits", pa.int64(), nullable=False),
    pa.field("first_zone", pa.string(), nullable=False), pa.field("last_zone", pa.string(), nullable=False),
    pa.field("origin_zone", pa.string(), nullable=False), pa.field("destination_zone", pa.string(), nullable=False),
    pa.field("stayed", pa.bool_(), nullable=False),
])
PRESENCE = pa.schema([
    pa.field("interval_start", pa.timestamp("s"), nullable=False), pa.field("zone_id", pa.string(), nullable=False),
    pa.field("present", pa.int64(), nullable=False), pa.field("arrivals", pa.int64(), nullable=False),
    pa.field("departures", pa.int64(), nullable=False),
])


@dataclass(frozen=True)
class HubParams:
    gap_s: int = 900
    interval_s: int = 900
    dwell_threshold_s: int = 1800
    origin_window_s: int = 7200
    hub_zones: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        for name in ("gap_s", "interval_s", "dwell_threshold_s", "origin_window_s"):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"{name} 应为正数 / {name} must be positive")


def _con(**tables: pa.Table) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for name, table in tables.items():
        con.register(name, table)
    return con


def _in_hub(params: HubParams, col: str = "zone_id") -> str:
    if params.hub_zones is None:
        return "TRUE"
    zones = ", ".join("'" + z.replace("'", "''") + "'" for z in params.hub_zones)
    return f"{col} IN ({zones})" if zones else "FALSE"


def visits_sql(params: HubParams) -> str:
    """Visits from the table ``pings`` (times as epoch seconds in ``e``). An exact duplicate ping sorts next to
    its twin, so it neither starts a visit nor counts as a ping (cheaper than a DISTINCT first)."""
    return f"""
        WITH p AS (SELECT device_id, zone_id, CAST(epoch(ts) AS BIGINT) AS e FROM pings),
        l AS (SELECT *, lag(zone_id) OVER w AS pz, lag(e) OVER w AS pe
              FROM p WINDOW w AS (PARTITION BY device_id ORDER BY e, zone_id)),
        f AS (SELECT *, CASE WHEN pz IS NULL OR pz <> zone_id OR e - pe > {int(params.gap_s)} THEN 1 ELSE 0 END AS new,
                        CASE WHEN pz = zone_id AND pe = e THEN 0 ELSE 1 END AS one
              FROM l),
        g AS (SELECT *, sum(new) OVER (PARTITION BY device_id ORDER BY e, zone_id ROWS UNBOUNDED PRECEDING)
                        AS visit_no FROM f)
        SELECT device_id, CAST(visit_no AS BIGINT) AS visit_no, any_value(zone_id) AS zone_id,
               min(e) AS start_e, max(e) AS end_e, CAST(sum(one) AS BIGINT) AS pings
        FROM g GROUP BY device_id, visit_no"""


def stays_sql(params: HubParams) -> str:
    """Stays from the table ``v`` (visits with ``start_e``/``end_e``)."""
    gap, window = int(params.gap_s), int(params.origin_window_s)
    return f"""
        WITH a AS (
            SELECT *, {_in_hub(params)} AS hub,
                   lag(zone_id) OVER w AS prev_zone, lag(end_e) OVER w AS prev_end,
                   lag({_in_hub(params)}) OVER w AS prev_hub,
                   lead(zone_id) OVER w AS next_zone, lead(start_e) OVER w AS next_start,
                   lead({_in_hub(params)}) OVER w AS next_hub
            FROM v WINDOW w AS (PARTITION BY device_id ORDER BY start_e, visit_no)),
        b AS (
            SELECT *, CASE WHEN prev_hub IS NULL OR NOT prev_hub OR start_e - prev_end > {gap} THEN 1 ELSE 0 END
                      AS new_stay,
                      CASE WHEN next_hub IS NULL OR NOT next_hub OR next_start - end_e > {gap} THEN 1 ELSE 0 END
                      AS last_of_stay
            FROM a WHERE hub),
        c AS (
            SELECT *, sum(new_stay) OVER (PARTITION BY device_id ORDER BY start_e, visit_no
                                          ROWS UNBOUNDED PRECEDING) AS stay_no FROM b)
        SELECT device_id, CAST(stay_no AS BIGINT) AS stay_no, min(start_e) AS start_e, max(end_e) AS end_e,
               count(*) AS visits,
               arg_min(zone_id, start_e) AS first_zone, arg_max(zone_id, start_e) AS last_zone,
               coalesce(max(CASE WHEN new_stay = 1 AND prev_hub = FALSE AND start_e - prev_end <= {window}
                                 THEN prev_zone END), '{UNKNOWN}') AS origin_zone,
               coalesce(max(CASE WHEN last_of_stay = 1 AND next_hub = FALSE AND next_start - end_e <= {window}
                                 THEN next_zone END), '{UNKNOWN}') AS destination_zone
        FROM c GROUP BY device_id, stay_no"""


def presence_sql(params: HubParams, source: str, zone_expr: str) -> str:
    """Present, arrivals, departures per interval from ``source`` (rows with ``start_e``, ``end_e``, a zone),
    on the full grid of intervals from the first to the last one seen, per zone."""
    d = int(params.interval_s)
    return f"""
        WITH s AS (SELECT device_id, {zone_expr} AS zone_id, start_e // {d} AS i0, end_e // {d} AS i1 FROM {source}),
        x AS (SELECT device_id, zone_id, unnest(generate_series(i0, i1)) AS i FROM s),
        pres AS (SELECT zone_id, i, count(DISTINCT device_id) AS present FROM x GROUP BY ALL),
        arr AS (SELECT zone_id, i0 AS i, count(*) AS arrivals FROM s GROUP BY ALL),
        dep AS (SELECT zone_id, i1 AS i, count(*) AS departures FROM s GROUP BY ALL),
        grid AS (SELECT zone_id, unnest(generate_series(min(i0), max(i1))) AS i FROM s GROUP BY zone_id)
        SELECT g.i * {d} AS interval_e, g.zone_id, coalesce(p.present, 0) AS present,
               coalesce(a.arrivals, 0) AS arrivals, coalesce(dp.departures, 0) AS departures
        FROM grid g LEFT JOIN pres p USING (zone_id, i) LEFT JOIN arr a USING (zone_id, i)
             LEFT JOIN dep dp USING (zone_id, i)"""


def _ts(col: str) -> str:
    return f"make_timestamp({col} * 1000000)"


def visits(pings: pa.Table, params: HubParams | None = None) -> pa.Table:
    """VISITS, ordered by device and start."""
    params = params or HubParams()
    con = _con(pings=pings)
    return con.sql(f"SELECT device_id, visit_no, zone_id, {_ts('start_e')} AS start, {_ts('end_e')} AS \"end\", "
                   f"pings, end_e - start_e AS dwell_s FROM ({visits_sql(params)}) ORDER BY device_id, visit_no"
                   ).to_arrow_table().cast(VISITS)


_EPOCHS = "SELECT *, CAST(epoch(start) AS BIGINT) AS start_e, CAST(epoch(\"end\") AS BIGINT) AS end_e FROM "


def stays(visit_table: pa.Table, params: HubParams | None = None) -> pa.Table:
    """STAYS at the hub, ordered by device and start."""
    params = params or HubParams()
    con = _con(t=visit_table)
    con.execute(f"CREATE TEMP TABLE v AS {_EPOCHS} t")
    return con.sql(f"SELECT device_id, stay_no, {_ts('start_e')} AS start, {_ts('end_e')} AS \"end\", "
                   f"end_e - start_e AS dwell_s, visits, first_zone, last_zone, origin_zone, destination_zone, "
                   f"end_e - start_e >= {int(params.dwell_threshold_s)} AS stayed "
                   f"FROM ({stays_sql(params)}) ORDER BY device_id, stay_no").to_arrow_table().cast(STAYS)


def presence(visit_table: pa.Table, stay_table: pa.Table, params: HubParams | None = None) -> pa.Table:
    """PRESENCE per interval: one row per hub zone (from visits) and the hub as a whole (zone ``*``, from stays)."""
    params = params or HubParams()
    con = _con(tv=visit_table, ts_=stay_table)
    con.execute(f"CREATE TEMP TABLE v AS {_EPOCHS} tv WHERE {_in_hub(params)}")
    con.execute(f"CREATE TEMP TABLE s AS {_EPOCHS} ts_")
    return con.sql(f"""
        SELECT {_ts('interval_e')} AS interval_start, zone_id, present, arrivals, departures FROM (
            SELECT * FROM ({presence_sql(params, 'v', 'zone_id')})
            UNION ALL
            SELECT * FROM ({presence_sql(params, 's', f"'{HUB}'")}))
        ORDER BY interval_start, zone_id""").to_arrow_table().cast(PRESENCE)


def dwell_distribution(stay_table: pa.Table, params: HubParams | None = None,
                       bins_min: tuple[int, ...] = DWELL_BINS_MIN) -> tuple[pa.Table, dict[str, Any]]:
    """Stays per dwell-time bin (minutes; the last bin is open), and a summary: stays, stayed, passed through,
    median and 90th percentile dwell in minutes."""
    params = params or HubParams()
    con = _con(s=stay_table)
    edges = list(bins_min)
    case = " ".join(f"WHEN dwell_s < {hi * 60} THEN {k}" for k, hi in enumerate(edges[1:]))
    labels = [f"{lo}-{hi}" for lo, hi in pairwise(edges)] + [f"{edges[-1]}+"]
    con.register("bins", pa.table({"k": list(range(len(labels))), "bin": labels, "lo_min": edges,
                                   "hi_min": pa.array([*edges[1:], None], pa.int64())}))
    table = con.sql(f"""
        WITH c AS (SELECT CASE {case} ELSE {len(edges) - 1} END AS k, count(*) AS n FROM s GROUP BY 1)
        SELECT b.bin, b.lo_min, b.hi_min, coalesce(c.n, 0) AS stays,
               coalesce(c.n, 0) / greatest(sum(coalesce(c.n, 0)) OVER (), 1) AS share
        FROM bins b LEFT JOIN c USING (k) ORDER BY b.k""").to_arrow_table()
    row = con.execute(f"""SELECT count(*), count(*) FILTER (WHERE dwell_s >= {int(params.dwell_threshold_s)}),
                                quantile_disc(dwell_s, 0.5), quantile_disc(dwell_s, 0.9) FROM s""").fetchall()[0]
    summary = {"stays": int(row[0]), "stayed": int(row[1]), "passed_through": int(row[0]) - int(row[1]),
               "dwell_threshold_min": params.dwell_threshold_s / 60,
               "median_min": None if row[2] is None else row[2] / 60, "p90_min": None if row[3] is None else row[3] / 60}
    return table, summary


def origins(stay_table: pa.Table, by: str = "origin_zone") -> pa.Table:
    """Arrivals by the zone they came from (``by="destination_zone"``: departures by where they went), with the
    share of each."""
    if by not in ("origin_zone", "destination_zone"):
        raise ValueError("by 应为 origin_zone 或 destination_zone / by is origin_zone or destination_zone")
    con = _con(s=stay_table)
    return con.sql(f"SELECT {by} AS zone_id, count(*) AS stays, count(*) / sum(count(*)) OVER () AS share "
                   f"FROM s GROUP BY 1 ORDER BY stays DESC, zone_id").to_arrow_table()


def surge(presence_table: pa.Table, day: date, baseline: date, zone_id: str = HUB) -> pa.Table:
    """``day`` against ``baseline``, interval by interval (time of day): present and arrivals on both days,
    and their ratios (NULL where the baseline is 0)."""
    con = _con(p=presence_table)
    return con.sql(f"""
        WITH d AS (SELECT CAST(interval_start AS TIME) AS t, present, arrivals, departures FROM p
                   WHERE zone_id = $z AND CAST(interval_start AS DATE) = DATE '{day.isoformat()}'),
             b AS (SELECT CAST(interval_start AS TIME) AS t, present, arrivals, departures FROM p
                   WHERE zone_id = $z AND CAST(interval_start AS DATE) = DATE '{baseline.isoformat()}')
        SELECT t AS time_of_day, coalesce(d.present, 0) AS present, coalesce(b.present, 0) AS present_baseline,
               coalesce(d.arrivals, 0) AS arrivals, coalesce(b.arrivals, 0) AS arrivals_baseline,
               coalesce(d.present, 0) / nullif(b.present, 0) AS present_ratio,
               coalesce(d.arrivals, 0) / nullif(b.arrivals, 0) AS arrivals_ratio
        FROM d FULL JOIN b USING (t) ORDER BY t""".replace("$z", "'" + zone_id.replace("'", "''") + "'")
                   ).to_arrow_table()


@dataclass
class HubAnalysis:
    visits: pa.Table
    stays: pa.Table
    presence: pa.Table
    dwell: pa.Table
    origins: pa.Table
    summary: dict[str, Any] = field(default_factory=dict)


def analyse(pings: pa.Table, params: HubParams | None = None) -> HubAnalysis:
    """Visits, stays, presence, dwell distribution and origins in one go; ``summary`` adds the peak."""
    params = params or HubParams()
    v = visits(pings, params)
    s = stays(v, params)
    p = presence(v, s, params)
    dwell, summary = dwell_distribution(s, params)
    con = _con(p=p, v=v)
    devices = con.execute("SELECT count(DISTINCT device_id) FROM v").fetchall()[0][0]
    peak = con.execute(f"SELECT CAST(interval_start AS VARCHAR), present FROM p WHERE zone_id = '{HUB}' "
                       "ORDER BY present DESC, interval_start LIMIT 1").fetchall()
    summary.update({"pings": pings.num_rows, "devices": int(devices), "visits": v.num_rows,
                    "peak_interval": peak[0][0] if peak else None, "peak_present": int(peak[0][1]) if peak else 0})
    return HubAnalysis(v, s, p, dwell, origins(s), summary)
