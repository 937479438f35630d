"""Custom zones from GeoJSON: geometry checks with clear reasons, vectorised point-in-polygon assignment (holes,
multipolygons, first zone wins), and the OD matrix by zone through the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from cityhub.cli.main import app
from cityhub.transit import zones
from cityhub.transit.spatial import points_in_ring


def box(x0: float, y0: float, x1: float, y1: float) -> list[list[float]]:
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]


def feature(coords: Any, kind: str = "Polygon", **props: Any) -> dict[str, Any]:
    return {"type": "Feature", "properties": props, "geometry": {"type": kind, "coordinates": coords}}


def collection(*features: dict[str, Any]) -> str:
    return json.dumps({"type": "FeatureCollection", "features": list(features)})


#: west and east halves of central Guangzhou; the west one with a hole, the east one a MultiPolygon
CITY_ZONES = collection(
    feature([box(113.0, 22.9, 113.32, 23.5), box(113.25, 23.10, 113.27, 23.12)], zone_id="west", name="西"),
    feature([[box(113.32, 22.9, 113.7, 23.5)], [box(113.7, 23.0, 113.8, 23.1)]], "MultiPolygon", zone_id="east"))


def test_assignment_holes_multipolygons_and_order() -> None:
    zs = zones.parse(CITY_ZONES)
    assert [z.zone_id for z in zs] == ["west", "east"] and zs[0].name == "西" and zs[1].name == "east"
    lon = np.array([113.10, 113.26, 113.40, 113.75, 114.5, 113.32 - 1e-9])
    lat = np.array([23.00, 23.11, 23.20, 23.05, 23.0, 23.2])
    assert zones.assign(lat, lon, zs).tolist() == ["west", None, "east", "east", None, "west"]
    # overlapping zones: the first in the file wins
    over = zones.parse(collection(feature([box(0, 0, 2, 2)], id="a"), feature([box(1, 1, 3, 3)], id="b")))
    assert zones.assign(np.array([1.5, 2.5]), np.array([1.5, 2.5]), over).tolist() == ["a", "b"]
    # the same answer as the reference ray casting, on many random points and a jagged polygon
    rng = np.random.default_rng(3)
    ang = np.linspace(0, 2 * np.pi, 60, endpoint=False)
    rad = 0.05 + 0.03 * rng.random(60)
    ring = np.c_[113.3 + rad * np.cos(ang), 23.1 + rad * np.sin(ang)]
    ring = np.vstack([ring, ring[:1]])
    star = zones.parse(collection(feature([ring.tolist()], zone_id="star")))
    plon, plat = 113.3 + rng.uniform(-0.1, 0.1, 20_000), 23.1 + rng.uniform(-0.1, 0.1, 20_000)
    got = zones.assign(plat, plon, star) == "star"
    assert got.sum() > 1000 and np.array_equal(got, points_in_ring(plon, plat, ring))


@pytest.mark.parametrize(("doc", "words"), [
    ("not json", "not valid JSON"),
    ("[1, 2]", "FeatureCollection"),
    (collection(), "no zones"),
    (collection(feature([113.3, 23.1], "Point")), "not Point"),
    (collection(feature([[[113.3, 23.1], [113.4, 23.1], [113.3, 23.1]]])), "at least 4"),
    (collection(feature([[[113.3, 23.1], [113.4, 23.1], [113.4, 23.2], [113.3, 23.2]]])), "not closed"),
    (collection(feature([box(500000, 2500000, 510000, 2510000)])), "projected"),
    (collection(feature([[[113.3, 23.1], [113.4, 23.1], [113.5, 23.1], [113.3, 23.1]]])), "zero area"),
    (collection(feature([[[0, 0], [2, 2], [2, 0], [0, 1], [0, 0]]])), "crosses itself"),
    (collection(feature([[[0, 0], ["1", 0], [1, 1], [0, 0]]])), "numbers"),
    (collection(feature([box(0, 0, 1, 1)], id="a"), feature([box(2, 2, 3, 3)], id="a")), "duplicate zone id: a"),
])
def test_bad_zone_files_say_why(doc: str, words: str) -> None:
    with pytest.raises(zones.ZoneError) as exc:
        zones.parse(doc)
    assert words in exc.value.message_en and exc.value.message  # and a Chinese message


def test_zone_limits() -> None:
    many = collection(*[feature([box(i, 0, i + 0.5, 1)]) for i in range(6)])
    with pytest.raises(zones.ZoneError, match="too many zones"):
        zones.parse(many, max_zones=5)
    assert [z.zone_id for z in zones.parse(many)][:2] == ["Z1", "Z2"]
    with pytest.raises(zones.ZoneError, match="too many vertices"):
        zones.parse(many, max_vertices=20)


def test_cli_od_by_geojson_zones_and_by_stop(tmp_path: Path) -> None:
    runner = CliRunner()
    sim, out = tmp_path / "sim", tmp_path / "out"
    assert runner.invoke(app, ["transit", "simulate", str(sim), "--taps", "4000", "--seed", "2"]).exit_code == 0
    zfile = tmp_path / "zones.geojson"
    zfile.write_text(CITY_ZONES, encoding="utf-8")
    r = runner.invoke(app, ["transit", "run", str(sim), str(out), "--zones", str(zfile)])
    assert r.exit_code == 0, r.output
    od_zone = pq.read_table(out / "od_zone.parquet")
    assert od_zone.column_names == ["band", "origin_zone", "destination_zone", "journeys"]
    assert set(od_zone.column("origin_zone").to_pylist()) <= {"west", "east"} and od_zone.num_rows > 0
    od_stop = pq.read_table(out / "od_stop.parquet")
    journeys = pq.read_table(out / "journeys.parquet")
    complete = journeys.filter(journeys.column("destination_stop").is_valid())
    assert sum(od_stop.column("journeys").to_pylist()) == complete.num_rows
    assert sum(od_zone.column("journeys").to_pylist()) <= complete.num_rows
    bad = tmp_path / "bad.geojson"
    bad.write_text(collection(feature([box(500000, 2500000, 510000, 2510000)])), encoding="utf-8")
    r = runner.invoke(app, ["transit", "run", str(sim), str(out), "--zones", str(bad)])
    assert r.exit_code == 2 and "projected" in r.output
    r = runner.invoke(app, ["transit", "run", str(sim), str(out), "--engine", "flink"])
    assert r.exit_code == 2 and "unknown engine" in r.output
