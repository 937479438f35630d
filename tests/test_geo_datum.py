"""One datum for the maps: the bundled district boundaries and the demo's points are WGS-84 (docs/maps.md)."""

from __future__ import annotations

import json
from functools import cache

import prcoords
import pytest

from cityhub import geo
from cityhub.datastore.coords import detect_points
from cityhub.demo import content

# WGS-84 positions (GPS, OpenStreetMap) of landmarks and the district each stands in
LANDMARKS = [
    ("广州塔 Canton Tower", 113.3245, 23.1064, "海珠区"),
    ("广州大剧院 Guangzhou Opera House", 113.3247, 23.1153, "天河区"),
    ("中山纪念堂 Sun Yat-sen Memorial Hall", 113.2646, 23.1329, "越秀区"),
    ("沙面 Shamian Island", 113.2418, 23.1086, "荔湾区"),
    ("广州南站 Guangzhou South Station", 113.2695, 22.9886, "番禺区"),
]


@cache
def _features() -> dict[str, dict]:
    data = json.loads(geo.districts_geojson())
    return {f["properties"]["name"]: f for f in data["features"]}


def _in_ring(ring: list[list[float]], lng: float, lat: float) -> bool:
    hit, j = False, -1
    for i in range(len(ring)):
        (xi, yi), (xj, yj) = ring[i], ring[j]
        if (yi > lat) != (yj > lat) and lng < (xj - xi) * (lat - yi) / (yj - yi) + xi:
            hit = not hit
        j = i
    return hit


def district_at(lng: float, lat: float) -> list[str]:
    """The districts whose bundled boundary holds the point (a point inside Guangzhou is in exactly one)."""
    return [name for name, f in _features().items() if _in_ring(f["geometry"]["coordinates"][0], lng, lat)]


def test_the_bundled_boundaries_are_wgs84_converted_from_amaps_gcj02() -> None:
    data = json.loads(geo.districts_geojson())
    assert data["datum"] == geo.BOUNDARY_DATUM == "wgs84" and geo.SOURCE_DATUM == "gcj02"
    assert sorted(_features()) == sorted(geo.DISTRICT_NAMES)
    # the source's centre of 越秀区 is AMap's geocode of the district (GCJ-02): 113.266835, 23.128537; bundled it
    # is that point in WGS-84, about 0.0053° west and 0.0027° north of it
    cp = _features()["越秀区"]["properties"]["cp"]
    back = prcoords.wgs_gcj(prcoords.Coords(cp[1], cp[0]))
    assert back.lon == pytest.approx(113.266835, abs=3e-6) and back.lat == pytest.approx(23.128537, abs=3e-6)
    assert 0.004 < 113.266835 - cp[0] < 0.007 and 0.001 < cp[1] - 23.128537 < 0.004


@pytest.mark.parametrize(("name", "lng", "lat", "district"), LANDMARKS, ids=[x[0] for x in LANDMARKS])
def test_known_landmarks_land_in_their_district(name: str, lng: float, lat: float, district: str) -> None:
    assert district_at(lng, lat) == [district], name


def test_to_wgs84_inverts_the_obfuscations() -> None:
    lng, lat = 113.3245, 23.1064
    gcj = prcoords.wgs_gcj(prcoords.Coords(lat, lng))
    bd = prcoords.wgs_bd(prcoords.Coords(lat, lng))
    for datum, (x, y) in (("gcj02", (gcj.lon, gcj.lat)), ("bd09", (bd.lon, bd.lat)), ("wgs84", (lng, lat))):
        w = geo.to_wgs84(x, y, datum)
        assert w == pytest.approx((lng, lat), abs=2e-7), datum  # about 2 cm
    assert geo.to_wgs84(gcj.lon, gcj.lat, "gcj02") != pytest.approx((gcj.lon, gcj.lat), abs=1e-3)
    with pytest.raises(ValueError, match="unknown datum"):
        geo.to_wgs84(lng, lat, "mars")


def test_every_demo_point_lies_in_its_district_on_the_maps_datum() -> None:
    """The demo's tables say WGS84坐标系 in their data dictionary: on the (WGS-84) base layer every point lies in
    Guangzhou, inside the district its row names."""
    demo = content.current()
    checked = 0
    for ds in demo.datasets:
        lng_col = next((c for c in ds.columns if c.name == "经度"), None)
        if lng_col is None:
            continue
        declared = detect_points([{"name": c.name, "type": c.type, "description": c.description} for c in ds.columns],
                                 demo.rows(ds.slug)[:50])
        assert declared is not None and (declared.datum, declared.datum_named) == ("wgs84", True), ds.slug
        for r in demo.rows(ds.slug):
            if r.get("经度") is None:
                continue
            found = district_at(r["经度"], r["纬度"])
            assert found == [r["所属区"]], f"{ds.slug}: {r['所属区']} point at {r['经度']}, {r['纬度']} is in {found}"
            checked += 1
    assert checked >= 5000


def test_the_data_dictionary_declares_the_datum_before_the_names() -> None:
    columns = [{"name": "经度", "type": "number", "description": "高德坐标系(GCJ-02)经度"},
               {"name": "纬度", "type": "number", "description": "高德坐标系(GCJ-02)纬度"}]
    rows = [{"经度": 113.33, "纬度": 23.10}]
    found = detect_points(columns, rows)
    assert found is not None and (found.datum, found.datum_named) == ("gcj02", True)
    undescribed = detect_points([{"name": "lng_bd09", "type": "number"}, {"name": "lat_bd09", "type": "number"}],
                                [{"lng_bd09": 113.33, "lat_bd09": 23.10}])
    assert undescribed is not None and (undescribed.datum, undescribed.datum_named) == ("bd09", True)
    plain = detect_points([{"name": "经度", "type": "number", "description": "位置"},
                           {"name": "纬度", "type": "number"}], rows)
    assert plain is not None and (plain.datum, plain.datum_named) == ("wgs84", False)
