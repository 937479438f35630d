"""Analyses over a run's stages and journeys, in DuckDB SQL over the Arrow tables:

- OD matrices (journeys: first boarding → last alighting) by stop/station, by district and by custom zones
  (a ``stop_id → zone_id`` table), per time band of the journey start;
- peak-hour profiles: boardings per hour per line and per stop;
- line loads: riders on each segment of each route direction, per time band;
- commuting: home (most frequent first boarding of the card's days), work (most frequent destination of a
  journey followed by a stay of ≥ ``work_min_stay_s``), commute time and distance distributions;
- transfers: share of journeys with a transfer, mode pairs, transfer-wait distribution.

Pure: imports nothing from the rest of CityHub but the transit modules.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa

from cityhub.transit.params import TransitParams

_DIST = ("6371008.8 * sqrt(power(radians({lon2} - {lon1}) * cos(radians(({lat1} + {lat2}) / 2)), 2)"
         " + power(radians({lat2} - {lat1}), 2))")


def _dist(a: str, b: str) -> str:
    return _DIST.format(lat1=f"{a}.lat", lon1=f"{a}.lon", lat2=f"{b}.lat", lon2=f"{b}.lon")


def _band_sql(params: TransitParams, col: str) -> str:
    hour = f"(hour({col}) + CASE WHEN hour({col}) < 4 THEN 24 ELSE 0 END)"
    cases = " ".join(f"WHEN {hour} >= {lo} AND {hour} < {hi} THEN '{name}'" for name, lo, hi in params.time_bands)
    return f"CASE {cases} ELSE 'other' END"


def analyse(stages: pa.Table, journeys: pa.Table, stops: pa.Table, route_stops: pa.Table,
            params: TransitParams | None = None, zones: pa.Table | None = None,
            threads: int = 2, memory_limit: str = "3GB") -> dict[str, pa.Table]:
    """All analysis tables, by name."""
    params = params or TransitParams()
    con = duckdb.connect()
    con.execute(f"SET threads = {int(threads)}")
    con.execute(f"SET memory_limit = '{memory_limit}'")
    con.execute("SET preserve_insertion_order = false")
    con.register("stages", stages)
    con.register("journeys", journeys)
    con.register("stops", stops)
    con.register("route_stops", route_stops)
    if zones is not None:
        con.register("zones", zones)
    jband = _band_sql(params, "j.start_ts")
    out: dict[str, pa.Table] = {}

    def q(sql: str) -> pa.Table:
        return con.sql(sql).to_arrow_table()

    out["od_stop"] = q(f"""
        SELECT {jband} AS band, j.origin_stop, j.destination_stop, count(*) AS journeys
        FROM journeys j WHERE j.destination_stop IS NOT NULL
        GROUP BY ALL ORDER BY journeys DESC""")
    out["od_district"] = q(f"""
        SELECT {jband} AS band, o.district AS origin_district, d.district AS destination_district,
               count(*) AS journeys
        FROM journeys j JOIN stops o ON o.stop_id = j.origin_stop JOIN stops d ON d.stop_id = j.destination_stop
        GROUP BY ALL ORDER BY band, origin_district, destination_district""")
    if zones is not None:
        out["od_zone"] = q(f"""
            SELECT {jband} AS band, zo.zone_id AS origin_zone, zd.zone_id AS destination_zone, count(*) AS journeys
            FROM journeys j JOIN zones zo ON zo.stop_id = j.origin_stop
                 JOIN zones zd ON zd.stop_id = j.destination_stop
            GROUP BY ALL ORDER BY band, origin_zone, destination_zone""")
    shour = "(hour(s.board_ts_corrected) + CASE WHEN hour(s.board_ts_corrected) < 4 THEN 24 ELSE 0 END)"
    out["peak_line"] = q(f"""
        SELECT coalesce(s.route_id, 'metro') AS line, {shour} AS hour, count(*) AS boardings
        FROM stages s GROUP BY ALL ORDER BY line, hour""")
    out["peak_stop"] = q(f"""
        SELECT s.board_stop AS stop_id, {shour} AS hour, count(*) AS boardings
        FROM stages s WHERE s.board_stop IS NOT NULL GROUP BY ALL ORDER BY stop_id, hour""")
    sband = _band_sql(params, "s.board_ts_corrected")
    out["line_load"] = q(f"""
        WITH rides AS (
            SELECT s.route_id, s.direction, b.seq AS bseq, a.seq AS aseq, {sband} AS band, count(*) AS riders
            FROM stages s
            JOIN route_stops b ON b.route_id = s.route_id AND b.direction = s.direction AND b.stop_id = s.board_stop
            JOIN route_stops a ON a.route_id = s.route_id AND a.direction = s.direction AND a.stop_id = s.alight_stop
            WHERE s.mode = 'bus' AND a.seq > b.seq
            GROUP BY ALL)
        SELECT r.route_id, r.direction, g.seq AS from_seq, g.stop_id AS from_stop, r.band, sum(r.riders) AS riders
        FROM rides r JOIN route_stops g ON g.route_id = r.route_id AND g.direction = r.direction
             AND g.seq >= r.bseq AND g.seq < r.aseq
        GROUP BY ALL ORDER BY r.route_id, r.direction, from_seq, r.band""")
    # commuting
    con.execute("""
        CREATE TEMP TABLE jn AS
        SELECT j.*, row_number() OVER (PARTITION BY j.card_id, j.service_day ORDER BY j.start_ts) AS k,
               lead(j.start_ts) OVER (PARTITION BY j.card_id, j.service_day ORDER BY j.start_ts) AS next_start
        FROM journeys j""")
    out["commute_anchor"] = q(f"""
        WITH home AS (
            SELECT card_id, mode(origin_stop) AS home_stop FROM jn WHERE k = 1 GROUP BY card_id),
        work AS (
            SELECT card_id, mode(destination_stop) AS work_stop FROM jn
            WHERE destination_stop IS NOT NULL AND next_start IS NOT NULL
              AND epoch(next_start) - epoch(end_ts) >= {float(params.work_min_stay_s)}
            GROUP BY card_id)
        SELECT h.card_id, h.home_stop, w.work_stop FROM home h JOIN work w USING (card_id)""")
    con.register("anchors", out["commute_anchor"])
    out["commute_trips"] = q(f"""
        SELECT j.card_id, j.service_day, j.start_ts, epoch(j.end_ts) - epoch(j.start_ts) AS seconds,
               {_dist('h', 'w')} AS distance_m, j.stages
        FROM jn j JOIN anchors a ON a.card_id = j.card_id AND j.origin_stop = a.home_stop
             AND j.destination_stop = a.work_stop
        JOIN stops h ON h.stop_id = a.home_stop JOIN stops w ON w.stop_id = a.work_stop""")
    con.register("ctrips", out["commute_trips"])
    out["commute_time_hist"] = q("""
        SELECT CAST(floor(seconds / 300) * 5 AS INTEGER) AS minutes_from, count(*) AS commutes
        FROM ctrips GROUP BY ALL ORDER BY minutes_from""")
    out["commute_distance_hist"] = q("""
        SELECT CAST(floor(distance_m / 1000) AS INTEGER) AS km_from, count(*) AS commutes
        FROM ctrips GROUP BY ALL ORDER BY km_from""")
    out["transfer_pairs"] = q("""
        WITH s AS (SELECT mode, transfer, lag(mode) OVER (ORDER BY card_id, service_day, stage_no) AS prev_mode
                   FROM stages)
        SELECT prev_mode || '>' || mode AS mode_pair, count(*) AS transfers FROM s WHERE transfer
        GROUP BY ALL ORDER BY transfers DESC""")
    out["transfer_wait_hist"] = q("""
        SELECT CAST(floor(greatest(transfer_wait_s, 0) / 300) * 5 AS INTEGER) AS minutes_from, count(*) AS transfers
        FROM stages WHERE transfer GROUP BY ALL ORDER BY minutes_from""")
    out["transfer_share"] = q("""
        SELECT count(*) AS journeys, count(*) FILTER (WHERE stages > 1) AS with_transfer,
               round(count(*) FILTER (WHERE stages > 1) / greatest(count(*), 1), 4) AS share
        FROM journeys""")
    con.close()
    return out


def summary(tables: dict[str, pa.Table]) -> dict[str, Any]:
    """Small figures for the run report."""
    share = tables["transfer_share"].to_pylist()[0] if tables["transfer_share"].num_rows else {}
    ct = tables["commute_trips"]
    secs = sorted(v for v in ct.column("seconds").to_pylist() if v is not None) if ct.num_rows else []
    dist = sorted(v for v in ct.column("distance_m").to_pylist() if v is not None) if ct.num_rows else []
    return {
        "rows": {k: v.num_rows for k, v in tables.items()},
        "transfers": share,
        "transfer_mode_pairs": {r["mode_pair"]: r["transfers"] for r in tables["transfer_pairs"].to_pylist()},
        "commuters": tables["commute_anchor"].num_rows,
        "commute_median_minutes": round(secs[len(secs) // 2] / 60, 1) if secs else None,
        "commute_median_km": round(dist[len(dist) // 2] / 1000, 2) if dist else None,
    }
