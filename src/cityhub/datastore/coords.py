"""Which columns of a table hold point coordinates (pure: imports nothing from CityHub).

A table gets a point map when :func:`detect_points` finds, by name and by the range of sample values:

* a longitude and a latitude column: ``lng``/``lon``/``long``/``longitude``/``经度`` and ``lat``/``latitude``/
  ``纬度`` (also inside longer names: ``中心点经度``, ``lng_gcj02``, ``LONGITUDE``), or ``x``/``y`` whose values are
  degrees; numbers, or text holding numbers; every sample value within -180..180 / -90..90 (projected metres,
  such as Gauss-Krüger ``38500000``, are not degrees and give no map). Columns named the other way round (every
  "longitude" within ±90 while every "latitude" is beyond it) are taken swapped, and said so;
* or one text column of ``lng,lat`` pairs (named like ``坐标``/``经纬度``/``location``/``coordinates``…; the order
  ``lat,lng`` when the name says so or the values show it) or of WKT ``POINT (lng lat)`` values (any name).

The datum is declared by the coordinate columns' descriptions in the data dictionary (``WGS84坐标系经度``,
``高德坐标(GCJ-02)``), else by their names: ``gcj``/``高德``/``火星``/``amap``/``腾讯`` → GCJ-02,
``bd09``/``百度``/``baidu`` → BD-09, ``wgs``/``gps``/``cgcs2000``/``4326`` → WGS-84, otherwise WGS-84 undeclared
(``datum_named`` says whether a description or a name said so). The map converts GCJ-02 and BD-09 points to
WGS-84, the datum of its base layer. See docs/maps.md on datums.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

LNG_WORDS = frozenset({"lng", "lon", "long", "longitude", "longtitude"})
LAT_WORDS = frozenset({"lat", "latitude"})
PAIR_NAME = re.compile(r"坐标|经纬|纬经|位置|定位|location|coord|point|lnglat|lnglng|latlng|latlon|lonlat|gps|"
                       r"geo|position|经度纬度|纬度经度", re.IGNORECASE)
LATLNG_NAME = re.compile(r"纬经|纬度[,，、/ ]?经度|lat[_\- ]?(lng|lon)", re.IGNORECASE)
NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
PAIR_VALUE = re.compile(rf"^\s*[\[(]?\s*({NUMBER})\s*[,，;\s]\s*({NUMBER})\s*[\])]?\s*$")
WKT_VALUE = re.compile(rf"^\s*(?:SRID=\d+;)?\s*POINT\s*Z?M?\s*\(\s*({NUMBER})\s+({NUMBER})(?:\s+{NUMBER}){{0,2}}\s*\)\s*$",
                       re.IGNORECASE)
DATUMS = (("gcj02", re.compile(r"gcj|火星|高德|amap|gaode|腾讯|tencent|国测局", re.IGNORECASE)),
          ("bd09", re.compile(r"bd[-_ ]?09|百度|baidu|bd(?![a-z])", re.IGNORECASE)),
          ("wgs84", re.compile(r"wgs|gps|cgcs|2000|4326|4490|84", re.IGNORECASE)))
MIN_SHARE = 0.9  # of the non-empty sample values of a pair/WKT column that must parse


@dataclass(frozen=True)
class PointColumns:
    """Where a table's points are: ``kind`` ``columns`` (``lng`` and ``lat``), ``pair`` or ``wkt`` (``column``,
    with ``order`` ``lnglat`` or ``latlng`` for pairs); ``datum`` and whether a column name named it;
    ``swapped`` when the columns are named the other way round."""

    kind: str
    lng: str | None = None
    lat: str | None = None
    column: str | None = None
    order: str = "lnglat"
    datum: str = "wgs84"
    datum_named: bool = False
    swapped: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def words(name: str) -> list[str]:
    """Lower-case ASCII words of a column name (``poiLng84`` → ``poi``, ``lng``, ``84``)."""
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", name)
    return re.findall(r"[a-z]+|\d+", spaced.lower())


def _axis(name: str) -> str | None:
    ws = set(words(name))
    if "经度" in name or ws & LNG_WORDS:
        return "lng"
    if "纬度" in name or ws & LAT_WORDS:
        return "lat"
    return None


def _xy(name: str) -> str | None:
    base = name.strip().lower().removesuffix("坐标").removesuffix("_coord").removesuffix("coord").strip(" _-")
    return {"x": "lng", "y": "lat"}.get(base)


def to_float(value: Any) -> float | None:
    """A finite number from a cell (numbers, or text holding a number); None otherwise."""
    if isinstance(value, bool) or value is None:
        return None
    if not (isinstance(value, (int, float)) or (isinstance(value, str) and re.fullmatch(rf"\s*{NUMBER}\s*", value))):
        return None
    f = float(value)
    return f if math.isfinite(f) else None


def _values(rows: Sequence[Mapping[str, Any]], column: str) -> list[Any]:
    return [r.get(column) for r in rows if r.get(column) not in (None, "")]


def _numbers(rows: Sequence[Mapping[str, Any]], column: str) -> list[float] | None:
    """The column's sample values as numbers (None if any is not a number, or none is there)."""
    out = []
    for v in _values(rows, column):
        f = to_float(v)
        if f is None:
            return None
        out.append(f)
    return out or None


def _degrees(lngs: list[float], lats: list[float]) -> bool:
    if not all(-180 <= x <= 180 for x in lngs) or not all(-90 <= y <= 90 for y in lats):
        return False
    return any(x != 0 or y != 0 for x, y in zip(lngs, lats, strict=False))  # not only (0, 0) placeholders


def _rest(name: str, axis: str) -> str:
    """The name without its axis word, to pair ``中心点经度`` with ``中心点纬度`` and ``lng_gcj`` with ``lat_gcj``."""
    ws = words(name)
    drop = LNG_WORDS if axis == "lng" else LAT_WORDS
    chinese = re.sub(r"[A-Za-z0-9_\-\s]", "", name).replace("经度" if axis == "lng" else "纬度", "")
    return "|".join([w for w in ws if w not in drop]) + "|" + chinese


def datum_of(*names: str) -> tuple[str, bool]:
    """The datum the column names (or descriptions) speak of, and whether they do."""
    text = " ".join(names)
    for datum, pattern in DATUMS:
        if pattern.search(text):
            return datum, True
    return "wgs84", False


def _declared(columns: Sequence[Mapping[str, Any]], *names: str | None) -> tuple[str, bool]:
    """The datum the data dictionary's descriptions of the columns ``names`` declare, else their names'."""
    described = [str(c.get("description") or "") for c in columns if c.get("name") in names]
    found = datum_of(*described)
    return found if found[1] else datum_of(*(n for n in names if n))


def parse_point(value: Any, kind: str, order: str = "lnglat") -> tuple[float, float] | None:
    """(lng, lat) of a ``pair`` or ``wkt`` cell, or None."""
    if not isinstance(value, str):
        return None
    m = (WKT_VALUE if kind == "wkt" else PAIR_VALUE).match(value)
    if not m:
        return None
    a, b = float(m.group(1)), float(m.group(2))
    lng, lat = (b, a) if order == "latlng" else (a, b)
    if not (math.isfinite(lng) and math.isfinite(lat) and -180 <= lng <= 180 and -90 <= lat <= 90):
        return None
    return lng, lat


def detect_points(columns: Sequence[Mapping[str, Any]], rows: Sequence[Mapping[str, Any]]) -> PointColumns | None:
    """Where the points of a table with ``columns`` (``name``, ``type``, optionally the data dictionary's
    ``description``) are, judged on the sample ``rows``;
    None when the table has no point coordinates (see the module's docstring)."""
    usable = [c for c in columns if c.get("type") in ("number", "integer", "string")]
    found = _pair_of_columns(usable, rows, _axis) or _pair_of_columns(usable, rows, _xy)
    if found:
        return found
    for c in usable:
        if c.get("type") != "string":
            continue
        name = str(c["name"])
        values = [v for v in _values(rows, name) if isinstance(v, str)]
        if not values:
            continue
        for kind in ("wkt", "pair"):
            if kind == "pair" and not PAIR_NAME.search(name):
                continue
            order = _pair_order(name, values) if kind == "pair" else "lnglat"
            parsed = [parse_point(v, kind, order) for v in values]
            good = [p for p in parsed if p is not None]
            if good and len(good) >= MIN_SHARE * len(values) and any(p != (0.0, 0.0) for p in good):
                datum, named = _declared(columns, name)
                return PointColumns(kind=kind, column=name, order=order, datum=datum, datum_named=named)
    return None


def _pair_order(name: str, values: list[str]) -> str:
    if LATLNG_NAME.search(name):
        return "latlng"
    firsts, seconds = [], []
    for v in values:
        m = PAIR_VALUE.match(v)
        if m:
            firsts.append(abs(float(m.group(1))))
            seconds.append(abs(float(m.group(2))))
    if firsts and all(a <= 90 for a in firsts) and any(b > 90 for b in seconds):
        return "latlng"
    return "lnglat"


def _pair_of_columns(columns: Sequence[Mapping[str, Any]], rows: Sequence[Mapping[str, Any]],
                     axis_of: Any) -> PointColumns | None:
    lngs = [str(c["name"]) for c in columns if axis_of(str(c["name"])) == "lng"]
    lats = [str(c["name"]) for c in columns if axis_of(str(c["name"])) == "lat"]
    if not lngs or not lats:
        return None
    # columns that share the rest of their name first (中心点经度 with 中心点纬度), then any pair in order
    pairs = [(x, y) for x in lngs for y in lats if _rest(x, "lng") == _rest(y, "lat")]
    pairs += [(x, y) for x in lngs for y in lats if (x, y) not in pairs]
    for x, y in pairs:
        xs, ys = _numbers(rows, x), _numbers(rows, y)
        if xs is None or ys is None:
            continue
        datum, named = _declared(columns, x, y)
        if _degrees(xs, ys):
            return PointColumns(kind="columns", lng=x, lat=y, datum=datum, datum_named=named)
        if _degrees(ys, xs):  # "longitude" holds latitudes and the other way round
            return PointColumns(kind="columns", lng=y, lat=x, datum=datum, datum_named=named, swapped=True)
    return None
