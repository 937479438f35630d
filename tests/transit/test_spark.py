"""The Spark path gives exactly the single-machine tables (hubs from the simulator; smart cards from the Shenzhen
sample plus bad rows)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from cityhub.transit.cards import read_taps
from cityhub.transit.hubs import HubParams, presence, stays, visits
from cityhub.transit.hubsim import HUB_ZONE_IDS, simulate_days
from cityhub.transit.spark import (
    hub_presence,
    hub_stays,
    hub_visits,
    hubs_to_arrow,
    java_time_pattern,
    normalise_taps,
    pings_frame,
)
from tests.transit.test_cards import ROWS, SAMPLE, write

pytestmark = pytest.mark.spark


def test_java_time_patterns() -> None:
    assert java_time_pattern("%Y-%m-%d %H:%M:%S") == "yyyy-M-d H:m:s"
    assert java_time_pattern("%Y%m%dT%H%M") == "yyyyMMdd'T'HHmm"
    assert java_time_pattern("%d/%m/%Y %H:%M") == "d/M/yyyy H:m"


def test_hubs_in_spark_equal_duckdb(spark: Any) -> None:
    sim = simulate_days([(date(2026, 9, 24), False), (date(2026, 10, 1), True)], people=150, seed=3)
    sim.pings = pa.concat_tables([sim.pings, sim.pings.slice(0, 40)])  # exact duplicate pings too
    params = HubParams(gap_s=900, interval_s=1800, dwell_threshold_s=1800, hub_zones=HUB_ZONE_IDS)
    v = visits(sim.pings, params)
    s = stays(v, params)
    p = presence(v, s, params)
    sv = hub_visits(pings_frame(spark, sim.pings), params).cache()
    ss = hub_stays(sv, params).cache()
    sp = hub_presence(sv, ss, params)
    v2, s2, p2 = hubs_to_arrow(sv, ss, sp, params)
    assert v.num_rows > 1000 and s.num_rows == sim.truth.num_rows
    assert v2.equals(v)
    assert s2.equals(s)
    assert p2.equals(p)


def test_card_normalisation_in_spark_equals_duckdb(spark: Any, tmp_path: Path) -> None:
    files = [write(tmp_path, "bad.csv", ROWS), write(tmp_path, "bad-gbk.csv", ROWS, encoding="gb18030")]
    if SAMPLE.is_file():
        files.append(SAMPLE)
    for f in files:
        expected, want = read_taps(f)
        got, report = normalise_taps(spark, str(f))
        assert got.equals(expected), f
        for key in ("rows_read", "rows_loaded", "rejected", "duplicates", "cards", "bad_fare"):
            assert getattr(report, key) == getattr(want, key), (f, key)


def test_trip_chaining_in_spark_equals_numpy(spark: Any) -> None:
    """A simulated day through the pipeline twice, chaining on numpy and on Spark: every stage (alighting stop,
    time, walk, source, reason) and every journey is the same, row by row."""
    from cityhub.transit import pipeline
    from cityhub.transit.params import TransitParams
    from cityhub.transit.simulate import simulate

    city = simulate(4_000, seed=7)
    # London's 750 m walk limit, so that next_boarding_too_far shows up often
    for params in (TransitParams(max_walk_m=750.0),):
        local = pipeline.run(city.taps, city.stops, city.route_stops, city.avl, params)
        on_spark = pipeline.run(city.taps, city.stops, city.route_stops, city.avl, params, spark=spark)
        assert local.stages.num_rows > 2_000
        reasons = set(local.stages.column("reason").to_pylist())
        assert {"", "single_tap", "next_boarding_too_far"} <= reasons, reasons
        assert set(local.stages.column("dest_source").to_pylist()) >= {"observed", "inferred"}
        for col in local.stages.column_names:
            assert on_spark.stages.column(col).equals(local.stages.column(col)), col
        assert on_spark.journeys.equals(local.journeys)
        assert on_spark.report["engine"] == "spark" and local.report["engine"] == "numpy"
        assert on_spark.report["stages"] == local.report["stages"]


def test_spark_chaining_reasons_on_hand_made_stages(spark: Any) -> None:
    """Edge cases the simulator seldom makes: unknown boarding, an unknown pattern on a known route (both
    directions tried), no route at all, the last stop of a pattern, a pre-set reason, an empty input."""
    import numpy as np

    from cityhub.transit import chaining
    from cityhub.transit import spark as spark_rules
    from cityhub.transit.network import build
    from cityhub.transit.params import TransitParams

    stops = pa.table({"stop_id": ["a", "b", "c", "d", "m1", "m2", "m3"],
                      "lat": [23.100, 23.105, 23.110, 23.115, 23.106, 23.101, 23.130],
                      "lon": [113.300, 113.300, 113.300, 113.300, 113.303, 113.303, 113.303],
                      "mode": ["bus"] * 4 + ["metro"] * 3, "district": ["440104"] * 7})
    rs = pa.table({"route_id": ["r1"] * 8, "direction": [0, 0, 0, 0, 1, 1, 1, 1], "seq": [1, 2, 3, 4] * 2,
                   "stop_id": ["a", "b", "c", "d", "d", "c", "b", "a"], "dist_m": [None] * 8},
                  schema=pa.schema([("route_id", pa.string()), ("direction", pa.int64()), ("seq", pa.int64()),
                                    ("stop_id", pa.string()), ("dist_m", pa.float64())]))
    net = build(stops, rs)
    # card-days: 0 = bus a→(target c), then metro m1 (no tap-out) → back to a; 1 = unknown pattern at d, no
    # route, last-stop boarding; 2 = single tap; 3 = pre-set reason, unknown boarding, the day's first boarding
    # unknown
    s = chaining.StageInput(
        cd=np.array([0, 0, 1, 1, 1, 1, 2, 3, 3, 3]),
        board_ts=np.array([0, 3600, 0, 1800, 3600, 5400, 0, 0, 60, 120]) + 1_800_000_000,
        is_metro=np.array([False, True, False, False, False, True, False, False, False, False]),
        board_stop=np.array([0, 4, 3, 1, 3, 6, 0, -1, -1, 2]),
        pattern=np.array([0, -1, -1, -1, 0, -1, 0, -1, -1, 0]),
        seq=np.array([0, -1, -1, -1, 3, -1, 0, -1, -1, 2]),
        route=np.array([0, -1, 0, -1, 0, -1, 0, -1, -1, 0]),
        obs_alight=np.full(10, -1), obs_alight_ts=np.zeros(10, np.int64),
        reason=np.array(["", "", "", "", "", "", "", "avl_gap", "", ""], dtype=object))
    params = TransitParams()
    want = chaining.infer(s, net, params)
    got = spark_rules.infer(spark, s, net, params)
    assert got.reason.tolist() == want.reason.tolist()
    assert set(want.reason.tolist()) >= {"", "no_route_pattern", "no_stop_after_boarding", "single_tap",
                                         "avl_gap", "boarding_unknown", "next_boarding_unknown"}, want.reason.tolist()
    assert want.source.tolist()[:3] == ["inferred", "inferred", "inferred"]  # bus, metro, bus via direction 1
    assert got.stop.tolist() == want.stop.tolist()
    assert got.ts.tolist() == want.ts.tolist()
    assert got.source.tolist() == want.source.tolist()
    assert np.allclose(got.walk_m, want.walk_m, equal_nan=True)
    empty = chaining.StageInput(*(a[:0] for a in (s.cd, s.board_ts, s.is_metro, s.board_stop, s.pattern, s.seq,
                                                  s.route, s.obs_alight, s.obs_alight_ts, s.reason)))
    assert spark_rules.infer(spark, empty, net, params).stop.size == 0


def test_cli_run_with_the_spark_engine(spark: Any, tmp_path: Path) -> None:
    """``cityhub transit run --engine spark`` writes the same stages as the default engine (it takes the
    session the process already runs, and leaves it running)."""
    import pyarrow.parquet as pq
    from typer.testing import CliRunner

    from cityhub.cli.main import app

    runner = CliRunner()
    sim = tmp_path / "sim"
    assert runner.invoke(app, ["transit", "simulate", str(sim), "--taps", "1500", "--seed", "4"]).exit_code == 0
    r = runner.invoke(app, ["transit", "run", str(sim), str(tmp_path / "np")])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["transit", "run", str(sim), str(tmp_path / "sp"), "--engine", "spark"])
    assert r.exit_code == 0, r.output
    want, got = pq.read_table(tmp_path / "np" / "stages.parquet"), pq.read_table(tmp_path / "sp" / "stages.parquet")
    assert want.num_rows > 500 and got.equals(want)
    import json

    assert json.loads((tmp_path / "sp" / "report.json").read_text(encoding="utf-8"))["engine"] == "spark"
    assert spark.range(3).count() == 3  # the shared session still runs
