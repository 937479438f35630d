"""Which columns of a table hold point coordinates (datastore/coords.py): by name and by the range of the values."""

from __future__ import annotations

from typing import Any

import pytest

from cityhub.datastore.coords import PointColumns, detect_points, parse_point, words


def cols(*spec: tuple[str, str]) -> list[dict[str, Any]]:
    return [{"name": n, "type": t} for n, t in spec]


PARKS = cols(("公园名称", "string"), ("面积_公顷", "number"), ("经度", "number"), ("纬度", "number"))
PARK_ROWS = [{"公园名称": "越秀公园", "面积_公顷": 86.0, "经度": 113.270926, "纬度": 23.119118},
             {"公园名称": "天河公园", "面积_公顷": 70.7, "经度": 113.39897, "纬度": 23.118711}]


def test_chinese_longitude_latitude_columns() -> None:
    assert detect_points(PARKS, PARK_ROWS) == PointColumns(kind="columns", lng="经度", lat="纬度")


@pytest.mark.parametrize(("lng", "lat"), [
    ("lng", "lat"), ("lon", "lat"), ("LONGITUDE", "LATITUDE"), ("Longitude", "Latitude"), ("poiLng", "poiLat"),
    ("location_lon", "location_lat"), ("中心点经度", "中心点纬度"), ("X", "Y"), ("x坐标", "y坐标"), ("long", "lat"),
])
def test_column_names_in_many_spellings(lng: str, lat: str) -> None:
    found = detect_points(cols((lng, "number"), (lat, "number")), [{lng: 113.3, lat: 23.1}])
    assert found is not None and (found.lng, found.lat) == (lng, lat)


def test_numbers_stored_as_text_count_but_other_text_does_not() -> None:
    assert detect_points(cols(("lng", "string"), ("lat", "string")), [{"lng": "113.3", "lat": " 23.1 "}])
    assert detect_points(cols(("lng", "string"), ("lat", "string")), [{"lng": "东经113度", "lat": "北纬23度"}]) is None


@pytest.mark.parametrize("rows", [
    [{"X": 38_500_000.0, "Y": 2_560_000.0}],  # Gauss-Krüger metres (CGCS2000 3° zone 38)
    [{"X": 435_000.0, "Y": 2_558_000.0}],  # UTM metres
    [{"X": 0, "Y": 0}, {"X": 0.0, "Y": 0.0}],  # placeholders, not a place
    [{"X": None, "Y": None}],  # nothing to judge by
])
def test_values_that_are_not_degrees_give_no_map(rows: list[dict[str, Any]]) -> None:
    assert detect_points(cols(("X", "number"), ("Y", "number")), rows) is None


def test_range_is_checked_on_every_sample_value() -> None:
    rows = [{"lng": 113.3, "lat": 23.1}, {"lng": 113.4, "lat": 123.0}]
    assert detect_points(cols(("lng", "number"), ("lat", "number")), rows) is None


def test_columns_named_the_wrong_way_round_are_swapped_and_said_so() -> None:
    found = detect_points(cols(("经度", "number"), ("纬度", "number")), [{"经度": 23.1, "纬度": 113.3}])
    assert found == PointColumns(kind="columns", lng="纬度", lat="经度", swapped=True)


def test_names_alone_or_ranges_alone_are_not_enough() -> None:
    # degrees-like numbers in columns not named as coordinates
    assert detect_points(cols(("面积", "number"), ("容积率", "number")), [{"面积": 113.3, "容积率": 2.5}]) is None
    # one axis only
    assert detect_points(cols(("经度", "number"), ("名称", "string")), [{"经度": 113.3, "名称": "a"}]) is None
    # a word that merely contains the letters
    assert detect_points(cols(("plateau", "number"), ("along", "number")), [{"plateau": 23.0, "along": 113.0}]) is None


def test_matching_prefixes_pair_first() -> None:
    columns = cols(("起点经度", "number"), ("终点经度", "number"), ("终点纬度", "number"), ("起点纬度", "number"))
    rows = [{"起点经度": 113.1, "终点经度": 113.5, "终点纬度": 23.5, "起点纬度": 23.1}]
    found = detect_points(columns, rows)
    assert found is not None and (found.lng, found.lat) == ("起点经度", "起点纬度")


@pytest.mark.parametrize(("name", "datum", "named"), [
    ("经度", "wgs84", False), ("lng_wgs84", "wgs84", True), ("经度_CGCS2000", "wgs84", True),
    ("lng_gcj02", "gcj02", True), ("高德经度", "gcj02", True), ("lng_bd09", "bd09", True), ("百度经度", "bd09", True),
])
def test_datum_from_the_names(name: str, datum: str, named: bool) -> None:
    lat = name.replace("经度", "纬度").replace("lng", "lat")
    found = detect_points(cols((name, "number"), (lat, "number")), [{name: 113.3, lat: 23.1}])
    assert found is not None and (found.datum, found.datum_named) == (datum, named)


@pytest.mark.parametrize(("name", "values", "order"), [
    ("坐标", ["113.3,23.1", "113.2, 23.0"], "lnglat"),
    ("经纬度", ["113.3，23.1"], "lnglat"),
    ("location", ["[113.3, 23.1]", "(113.2 23.0)"], "lnglat"),
    ("latlng", ["23.1,113.3"], "latlng"),
    ("位置", ["23.1,113.3", "23.2,113.4"], "latlng"),  # the values show the order
])
def test_one_text_column_of_pairs(name: str, values: list[str], order: str) -> None:
    found = detect_points(cols(("名称", "string"), (name, "string")), [{"名称": "a", name: v} for v in values])
    assert found == PointColumns(kind="pair", column=name, order=order)
    assert parse_point(values[0], "pair", order) == (113.3, 23.1)


def test_pairs_need_a_coordinate_name() -> None:
    assert detect_points(cols(("备注", "string"),), [{"备注": "113.3,23.1"}]) is None


def test_wkt_points_in_any_column() -> None:
    rows = [{"geom": "POINT (113.3 23.1)"}, {"geom": "SRID=4326;POINT(113.2 23.0)"}, {"geom": "POINT Z (113 23 5)"}]
    found = detect_points(cols(("geom", "string"),), rows)
    assert found == PointColumns(kind="wkt", column="geom")
    assert [parse_point(r["geom"], "wkt") for r in rows] == [(113.3, 23.1), (113.2, 23.0), (113.0, 23.0)]
    assert parse_point("LINESTRING (113 23, 114 24)", "wkt") is None
    assert detect_points(cols(("geom", "string"),), [{"geom": "POINT (500000 2500000)"}]) is None


def test_words_split_camel_case_and_digits() -> None:
    assert words("poiLng84") == ["poi", "lng", "84"] and words("LOCATION_LAT") == ["location", "lat"]
