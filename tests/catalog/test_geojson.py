"""The bounded GeoJSON reader of the map preview (catalog/geojson.py): every geometry type, the caps enforced
while reading (bytes, features, vertices: one huge polygon too), and bilingual refusals of what is not GeoJSON."""

from __future__ import annotations

import io
import json
import math
import time
from typing import Any

import pytest

from cityhub.catalog.geojson import GeoJSONError, read_preview

CAPS = {"max_bytes": 16 << 20, "max_features": 5000, "max_vertices": 100_000}


def read(data: bytes | dict[str, Any], **caps: int) -> Any:
    raw = data if isinstance(data, bytes) else json.dumps(data, ensure_ascii=False).encode()
    return read_preview(io.BytesIO(raw), **{**CAPS, **caps})


def refused(data: bytes | dict[str, Any], **caps: int) -> GeoJSONError:
    with pytest.raises(GeoJSONError) as info:
        read(data, **caps)
    err = info.value
    assert err.message and err.message_en and err.message != err.message_en  # both languages
    return err


def feature(geometry: dict[str, Any] | None, **props: Any) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry, "properties": props}


def fc(*features: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features), **extra}


SQUARE = [[113.0, 23.0], [113.1, 23.0], [113.1, 23.1], [113.0, 23.1], [113.0, 23.0]]
HOLE = [[113.02, 23.02], [113.02, 23.05], [113.05, 23.05], [113.02, 23.02]]


def test_every_geometry_type_is_kept_with_properties_and_bbox() -> None:
    out = read(fc(
        feature({"type": "Point", "coordinates": [113.3, 23.1, 12.5]}, 名称="越秀公园", 面积=86.0),
        feature({"type": "MultiPoint", "coordinates": [[113.2, 23.0], [113.21, 23.01]]}),
        feature({"type": "LineString", "coordinates": [[113.2, 23.0], [113.4, 23.2]]}, 线路="1号线"),
        feature({"type": "MultiLineString", "coordinates": [[[113.2, 23.0], [113.3, 23.0]], [[113.5, 23.3], [113.6, 23.4]]]}),
        feature({"type": "Polygon", "coordinates": [SQUARE, HOLE]}),
        feature({"type": "MultiPolygon", "coordinates": [[SQUARE], [[[113.5, 22.8], [113.6, 22.8], [113.6, 22.9], [113.5, 22.8]]]]}),
        feature({"type": "GeometryCollection", "geometries": [{"type": "Point", "coordinates": [113.7, 23.5]}]}),
        feature(None, 备注="没有几何"),
    )).as_dict()
    assert out["count"] == 8 and out["skipped"] == 0 and not out["truncated"]
    assert out["geometry_types"] == {"Point": 1, "MultiPoint": 1, "LineString": 1, "MultiLineString": 1, "Polygon": 1,
                                     "MultiPolygon": 1, "GeometryCollection": 1, "null": 1}
    assert out["bbox"] == [113.0, 22.8, 113.7, 23.5]
    assert out["properties"] == ["名称", "面积", "线路", "备注"]
    first = out["features"][0]
    assert first["geometry"] == {"type": "Point", "coordinates": [113.3, 23.1]}  # 2D: the altitude is dropped
    assert first["properties"] == {"名称": "越秀公园", "面积": 86.0}
    assert out["features"][4]["geometry"]["coordinates"][1][-1] == HOLE[0]  # the hole is kept (and closed)
    assert out["vertices"] == 1 + 2 + 2 + 4 + 9 + 9 + 1


def test_single_feature_bare_geometry_bom_and_rounding() -> None:
    one = read(feature({"type": "Point", "coordinates": [113.123456789, 23.987654321]}, a=1)).as_dict()
    assert one["count"] == 1 and one["features"][0]["geometry"]["coordinates"] == [113.123457, 23.987654]
    bare = read({"type": "LineString", "coordinates": [[113, 23], [114, 24]]}).as_dict()
    assert bare["features"][0]["geometry"]["type"] == "LineString" and bare["features"][0]["properties"] == {}
    with_bom = read(b"\xef\xbb\xbf" + json.dumps(fc(feature({"type": "Point", "coordinates": [113, 23]}))).encode())
    assert len(with_bom.features) == 1
    members_after = b'{"features": [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [113, 23]}, ' \
                    b'"properties": {}}], "type": "FeatureCollection", "name": "x"}'
    assert len(read(members_after).features) == 1


def test_invalid_features_are_skipped_and_counted_with_the_reason() -> None:
    out = read(fc(
        feature({"type": "Point", "coordinates": [113.3, 23.1]}),
        feature({"type": "Point", "coordinates": [38_500_000.0, 2_560_000.0]}),  # Gauss-Krüger metres
        feature({"type": "LineString", "coordinates": [[113.2, 23.0]]}),
        feature({"type": "Polygon", "coordinates": [[[113, 23], [113.1, 23], [113, 23]]]}),
        feature({"type": "Circle", "coordinates": [113, 23]}),
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [113, 23]}, "properties": [1, 2]},
        {"type": "Thing"},
        42,
    )).as_dict()
    assert out["count"] == 1 and out["skipped"] == 7
    reasons = [r["message_en"] for r in out["skip_reasons"]]
    assert "not longitude/latitude" in reasons[0] and "projected" in reasons[0]
    assert "3.85e+07" in out["skip_reasons"][0]["message"]
    assert any("at least two positions" in r for r in reasons) and any("ring" in r for r in reasons)


def test_all_features_invalid_is_refused_with_the_first_reason() -> None:
    err = refused(fc(feature({"type": "Point", "coordinates": [500_000.0, 2_500_000.0]})))
    assert err.code == "all_skipped" and "投影坐标" in err.message and "projected" in err.message_en


@pytest.mark.parametrize(("data", "code", "en"), [
    (b"", "empty", "empty"),
    (b"  \n ", "empty", "empty"),
    (b'{"type": "FeatureCollection", "features": [', "json", "ends before"),
    (b'{"type": "FeatureCollection", features: []}', "json", "malformed string"),
    (b'{"type": "FeatureCollection", "features": [x]}', "json", "not allowed (near: ureCollection\", \"features\": [x]})"),
    (b'{"type": "FeatureCollection", "features": []} {}', "json", "more after"),
    (b"[1, 2, 3]", "not_object", "not an array"),
    (b'"a string"', "not_object", "not a string"),
    (b'{"type": "Topology", "objects": {}}', "type", "Topology"),
    (b'{"type": "FeatureCollection"}', "no_features", "no features array"),
    ('{"type": "Feature", "properties": {"名": "广州"}}'.encode("gb18030"), "encoding", "UTF-8"),
])
def test_malformed_files_get_a_bilingual_reason(data: bytes, code: str, en: str) -> None:
    err = refused(data)
    assert err.code == code and en in err.message_en


def test_feature_cap_stops_reading_and_says_so() -> None:
    out = read(fc(*(feature({"type": "Point", "coordinates": [113 + i / 1000, 23]}, n=i) for i in range(50))),
               max_features=10)
    assert out.truncated and out.limit == "features" and len(out.features) == 10
    assert [f["properties"]["n"] for f in out.features] == list(range(10))


def test_byte_cap_previews_the_whole_features_within_it() -> None:
    data = json.dumps(fc(*(feature({"type": "Point", "coordinates": [113.0, 23.0]}, n=i) for i in range(1000)))).encode()
    out = read(data, max_bytes=len(data) // 4)
    assert out.truncated and out.limit == "bytes" and out.bytes_read <= len(data) // 4
    assert 200 <= len(out.features) < 260  # the whole features in the first quarter (about 250)
    assert [f["properties"]["n"] for f in out.features] == list(range(len(out.features)))


def test_vertex_cap_counts_while_reading_so_one_huge_polygon_stops_it() -> None:
    n = 400_000  # about 9 MB of coordinates in a single feature
    ring = [[113 + 0.3 * math.cos(2 * math.pi * i / n), 23 + 0.3 * math.sin(2 * math.pi * i / n)] for i in range(n)]
    ring.append(ring[0])
    small = feature({"type": "Point", "coordinates": [113.1, 23.1]})
    data = json.dumps(fc(small, feature({"type": "Polygon", "coordinates": [ring]}), small)).encode()
    started = time.perf_counter()
    out = read(data, max_vertices=20_000)
    assert time.perf_counter() - started < 5
    assert out.truncated and out.limit == "vertices" and len(out.features) == 1 and out.vertices <= 20_000
    whole = read(data, max_vertices=n + 10)
    assert len(whole.features) == 3 and whole.vertices == n + 1 + 2 and not whole.truncated


def test_huge_single_geometry_is_cut_by_the_vertex_cap_too() -> None:
    line = [[113 + i * 1e-6, 23.0] for i in range(200_000)]
    out = read({"type": "LineString", "coordinates": line}, max_vertices=1000)
    assert out.truncated and out.limit == "vertices" and not out.features


def test_a_large_array_is_refused_as_not_geojson_without_reading_it_all() -> None:
    data = json.dumps([{"id": i, "name": "x" * 50} for i in range(200_000)]).encode()
    started = time.perf_counter()
    err = refused(data, max_bytes=1 << 20)
    assert err.code == "not_object" and time.perf_counter() - started < 3
