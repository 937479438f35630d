"""The whole pipeline on a small simulated day: determinism, the validation targets, bad input."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from cityhub.transit import analysis, pipeline, validate
from cityhub.transit.params import TransitParams
from cityhub.transit.simulate import City, simulate


@pytest.fixture(scope="module")
def base(city: City) -> pipeline.Result:
    return pipeline.run(city.taps, city.stops, city.route_stops, city.avl)


def test_simulation_is_deterministic_with_a_seed() -> None:
    a, b, c = simulate(6_000, seed=4), simulate(6_000, seed=4), simulate(6_000, seed=5)
    for name in ("taps", "truth", "avl", "stops", "route_stops"):
        assert getattr(a, name).equals(getattr(b, name)), name
    assert not a.taps.equals(c.taps)
    assert 4_000 < a.taps.num_rows < 8_000


def test_simulated_day_has_the_awkward_parts(city: City) -> None:
    taps = city.taps
    bus = taps.filter(pc.equal(taps["mode"], "bus"))
    assert bus["stop_id"].null_count > 0.5 * bus.num_rows          # bus taps usually carry no stop
    assert bus["vehicle_id"].null_count == 0
    assert pc.sum(pc.invert(city.truth["tapped"])).as_py() > 0      # missed taps
    offsets = np.abs(city.vehicle_offsets["offset_s"].to_numpy())
    assert (offsets > 60).sum() > 5                                 # drifting fareboxes
    districts = set(city.stops["district"].to_pylist())
    assert districts <= {"440103", "440104", "440105", "440106", "440111", "440112", "440113", "440114",
                         "440115", "440117", "440118"} and len(districts) >= 3


def test_validation_targets_hold(city: City, base: pipeline.Result) -> None:
    v = validate.compare(base.stages, city.truth, city.route_stops)
    assert v["rate_multi_tap"] >= 0.85
    assert v["exact_of_inferred"] >= 0.85
    assert v["within_one_stop_of_inferred"] >= v["exact_of_inferred"]
    assert v["link_f1"] >= 0.95
    assert v["bus_boarding_exact"] >= 0.95
    assert all(t["met"] for t in v["targets"].values())
    # the clock-offset estimate recovers the simulated drift
    true = dict(zip(city.vehicle_offsets["vehicle_id"].to_pylist(), city.vehicle_offsets["offset_s"].to_pylist(),
                    strict=True))
    est = base.report["boarding"]["clock_offsets_s"]
    big = [k for k in est if abs(true[k]) > 60]
    assert big and np.median([abs(est[k] - true[k]) for k in big]) <= 10


def test_wrong_rules_lose_accuracy(city: City, base: pipeline.Result) -> None:
    # without the farebox clock correction the boardings (and so the destinations) get worse: the
    # validation can tell a good run from a bad one
    bad = pipeline.run(city.taps, city.stops, city.route_stops, city.avl, TransitParams(clock_offset_max_s=0.0))
    good_v = validate.compare(base.stages, city.truth, city.route_stops)
    bad_v = validate.compare(bad.stages, city.truth, city.route_stops)
    assert bad_v["bus_boarding_exact"] < good_v["bus_boarding_exact"] - 0.02


def test_missing_columns_are_a_clear_error(city: City) -> None:
    with pytest.raises(pipeline.TransitInputError) as exc:
        pipeline.run(city.taps.drop_columns(["kind", "ts"]), city.stops, city.route_stops, city.avl)
    assert "缺少" in exc.value.message and "kind" in exc.value.message_en and "ts" in exc.value.message_en
    assert exc.value.fields == {"taps": ["ts", "kind"]}
    with pytest.raises(pipeline.TransitInputError, match="lat"):
        pipeline.run(city.taps, city.stops.drop_columns(["lat"]), city.route_stops, city.avl)


def _replace(table: pa.Table, name: str, values: list) -> pa.Table:
    i = table.column_names.index(name)
    return table.set_column(i, table.schema.field(name), pa.array(values, table.schema.field(name).type))


def test_unknown_stations_are_reported_and_the_rest_runs(city: City, base: pipeline.Result) -> None:
    stops = city.taps["stop_id"].to_pylist()
    metro_in = [i for i, k in enumerate(city.taps["kind"].to_pylist()) if k == "tap_in"][:25]
    for i in metro_in:
        stops[i] = "NO-SUCH-STATION"
    r = pipeline.run(_replace(city.taps, "stop_id", stops), city.stops, city.route_stops, city.avl)
    assert r.report["taps"]["unknown_stop_ids"] == 25
    assert r.report["stages"]["reasons"]["unknown_stop"]["count"] == 25
    assert r.stages.num_rows == base.stages.num_rows
    assert r.report["stages"]["rate_multi_tap"] >= 0.85


def test_unsorted_input_gives_the_same_result(city: City, base: pipeline.Result) -> None:
    perm = np.random.default_rng(0).permutation(city.taps.num_rows)
    r = pipeline.run(city.taps.take(pa.array(perm)), city.stops, city.route_stops, city.avl)
    assert r.report["unsorted_rows"] > 0 and base.report["unsorted_rows"] == 0
    assert r.stages.equals(base.stages)


def test_duplicate_taps_are_dropped(city: City, base: pipeline.Result) -> None:
    dup = city.taps.slice(0, 200)
    ts = pc.add(dup["ts"].cast(pa.int64()), 5).cast(pa.timestamp("s"))
    dup = dup.set_column(1, dup.schema.field("ts"), ts)
    r = pipeline.run(pa.concat_tables([city.taps, dup]), city.stops, city.route_stops, city.avl)
    assert r.report["duplicate_taps"] == base.report["duplicate_taps"] + 200
    assert r.stages.num_rows == base.stages.num_rows


def test_a_card_with_300_taps_is_set_aside(city: City, base: pipeline.Result) -> None:
    one = city.taps.filter(pc.equal(city.taps["mode"], "bus")).slice(0, 300)
    one = one.set_column(0, one.schema.field("card_id"), pa.array(["STAFF-CARD"] * 300))
    r = pipeline.run(pa.concat_tables([city.taps, one]), city.stops, city.route_stops, city.avl)
    assert r.report["taps"]["card_days_too_many_taps"] == 1
    staff = r.stages.filter(pc.equal(r.stages["card_id"], "STAFF-CARD"))
    assert staff.num_rows == 300 - r.report["duplicate_taps"] + base.report["duplicate_taps"]
    assert set(staff["reason"].to_pylist()) == {"too_many_taps"}
    others = r.stages.filter(pc.not_equal(r.stages["card_id"], "STAFF-CARD"))
    assert others.num_rows == base.stages.num_rows
    assert r.report["stages"]["reasons"]["too_many_taps"]["count"] == staff.num_rows


def test_an_hour_of_missing_avl_is_reported(city: City, base: pipeline.Result) -> None:
    # remove 07:00-08:00 of the busiest vehicle's fixes
    bus = city.taps.filter(pc.and_(pc.equal(city.taps["mode"], "bus"), pc.is_null(city.taps["stop_id"])))
    hours = pc.hour(bus["ts"])
    morning = bus.filter(pc.equal(hours, 7))
    vc = pc.value_counts(morning["vehicle_id"]).to_pylist()
    vehicle = max(vc, key=lambda r: r["counts"])["values"]
    in_gap = pc.and_(pc.equal(city.avl["vehicle_id"], vehicle), pc.equal(pc.hour(city.avl["ts"]), 7))
    avl = city.avl.filter(pc.invert(in_gap))
    r = pipeline.run(city.taps, city.stops, city.route_stops, avl)
    lost = r.report["boarding"]["unplaced"].get("avl_gap", 0) - base.report["boarding"]["unplaced"].get("avl_gap", 0)
    assert lost >= 3
    assert r.report["stages"]["reasons"]["avl_gap"]["count"] >= lost
    assert r.stages.num_rows == base.stages.num_rows


def test_analyses_add_up(city: City, base: pipeline.Result) -> None:
    t = analysis.analyse(base.stages, base.journeys, city.stops, city.route_stops)
    with_dest = pc.sum(pc.is_valid(base.journeys["destination_stop"])).as_py()
    assert pc.sum(t["od_stop"]["journeys"]).as_py() == with_dest
    assert pc.sum(t["od_district"]["journeys"]).as_py() == with_dest
    assert pc.sum(t["peak_line"]["boardings"]).as_py() == base.stages.num_rows
    share = t["transfer_share"].to_pylist()[0]
    assert share["journeys"] == base.journeys.num_rows
    assert share["with_transfer"] == base.report["journeys"]["with_transfer"]
    # line loads: riders summed over segments = stops ridden by bus stages with a destination on their pattern
    assert pc.sum(t["line_load"]["riders"]).as_py() > 0
    assert t["commute_anchor"].num_rows > 0
    assert analysis.summary(t)["commute_median_minutes"] > 0
    zones = pa.table({"stop_id": city.stops["stop_id"],
                      "zone_id": pc.utf8_slice_codeunits(city.stops["stop_id"], 0, 2)})
    tz = analysis.analyse(base.stages, base.journeys, city.stops, city.route_stops, zones=zones)
    assert pc.sum(tz["od_zone"]["journeys"]).as_py() == with_dest


def test_params_round_trip_and_reject_unknown() -> None:
    p = TransitParams(max_walk_m=400.0)
    assert TransitParams.from_dict(p.to_dict()) == p
    with pytest.raises(ValueError, match="unknown parameters: nope"):
        TransitParams.from_dict({"nope": 1})


def test_chunked_run_equals_one_chunk(city: City, base: pipeline.Result) -> None:
    r = pipeline.run(city.taps, city.stops, city.route_stops, city.avl, chunk_taps=3_000)
    assert r.report["chunks"] > 3 and base.report["chunks"] == 1
    assert r.stages.equals(base.stages)
    assert r.journeys.equals(base.journeys)
    for key in ("stages", "journeys", "metro"):
        assert r.report[key] == base.report[key], key


def test_validation_matches_truth_read_back_from_parquet(city: City, base: pipeline.Result, tmp_path) -> None:
    # Parquet keeps timestamp[s] as timestamp[ms]: the truth read back must still match the stages
    import pyarrow.parquet as pq

    pq.write_table(city.truth, tmp_path / "truth.parquet")
    truth = pq.read_table(tmp_path / "truth.parquet")
    assert truth.schema.field("board_ts").type != city.truth.schema.field("board_ts").type
    v = validate.compare(base.stages, truth, city.route_stops)
    assert v["matched_to_truth"] == base.stages.num_rows
    assert v == validate.compare(base.stages, city.truth, city.route_stops)
