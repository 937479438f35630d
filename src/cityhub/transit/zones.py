"""Custom analysis zones for the OD matrices: a GeoJSON of polygons (uploaded by the user or given to the CLI),
checked, and the stops assigned to them by a vectorised point-in-polygon test.

- :func:`parse` accepts a ``FeatureCollection`` or a single ``Feature`` of ``Polygon``/``MultiPolygon``
  geometries in WGS-84 longitude/latitude (RFC 7946). Each zone's id is the feature's ``zone_id``, ``id``,
  ``code`` or ``name`` property, else the feature ``id``, else ``Z<n>``. Refused, with a bilingual message
  naming the feature: not JSON, not polygons, non-numeric or non-finite coordinates, coordinates outside
  longitude/latitude ranges (a projected system in metres), rings not closed or with fewer than four positions,
  rings of zero area, rings that cross themselves, duplicate zone ids, more than ``max_zones`` zones or
  ``max_vertices`` positions in all.
- :func:`assign` gives each point the first zone (in file order) that holds it (even-odd rule over the
  polygon's rings, so holes are holes), ``None`` outside every zone. Vectorised over points × edges in blocks.

Pure: numpy only, imports nothing from the rest of CityHub.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MAX_ZONES = 500
MAX_VERTICES = 200_000
MAX_ID = 100
_BLOCK = 4_000_000  # points × edges per block of the point-in-polygon test


class ZoneError(ValueError):
    """A zones file that cannot be used; carries 中文 and English text and the feature it is about."""

    def __init__(self, message: str, message_en: str, feature: int | None = None) -> None:
        where, where_en = ("", "") if feature is None else (f"第 {feature + 1} 个要素:", f"feature {feature + 1}: ")
        super().__init__(f"{where}{message} / {where_en}{message_en}")
        self.message = where + message
        self.message_en = where_en + message_en
        self.feature = feature


@dataclass
class Zone:
    zone_id: str
    name: str
    polygons: list[list[np.ndarray]] = field(default_factory=list)  # polygons → rings → (n, 2) lon/lat, closed

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        allp = np.concatenate([r for poly in self.polygons for r in poly])
        return float(allp[:, 0].min()), float(allp[:, 1].min()), float(allp[:, 0].max()), float(allp[:, 1].max())


def parse(data: str | bytes | dict[str, Any], max_zones: int = MAX_ZONES, max_vertices: int = MAX_VERTICES
          ) -> list[Zone]:
    """The zones of a GeoJSON document (text or already parsed); raises :class:`ZoneError`."""
    if isinstance(data, (str, bytes)):
        try:
            doc = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ZoneError(f"不是有效的 JSON:{exc}", f"not valid JSON: {exc}") from None
    else:
        doc = data
    if not isinstance(doc, dict):
        raise ZoneError("顶层须为 FeatureCollection 或 Feature", "the top level must be a FeatureCollection or a Feature")
    if doc.get("type") == "Feature":
        feats = [doc]
    elif doc.get("type") == "FeatureCollection" and isinstance(doc.get("features"), list):
        feats = doc["features"]
    else:
        raise ZoneError("顶层须为 FeatureCollection 或 Feature", "the top level must be a FeatureCollection or a Feature")
    if not feats:
        raise ZoneError("没有任何区域", "no zones in the file")
    if len(feats) > max_zones:
        raise ZoneError(f"区域过多:{len(feats)} 个,上限 {max_zones}", f"too many zones: {len(feats)}, at most {max_zones}")
    zones: list[Zone] = []
    seen: set[str] = set()
    vertices = 0
    for k, feat in enumerate(feats):
        if not isinstance(feat, dict) or feat.get("type") != "Feature":
            raise ZoneError("不是 Feature", "not a Feature", k)
        geom = feat.get("geometry")
        if not isinstance(geom, dict) or geom.get("type") not in ("Polygon", "MultiPolygon"):
            kind = geom.get("type") if isinstance(geom, dict) else None
            raise ZoneError(f"几何须为 Polygon 或 MultiPolygon,而不是 {kind}",
                            f"the geometry must be a Polygon or MultiPolygon, not {kind}", k)
        coords = geom.get("coordinates")
        polys = [coords] if geom["type"] == "Polygon" else coords
        if not isinstance(polys, list) or not polys:
            raise ZoneError("坐标为空", "empty coordinates", k)
        zone_polys = []
        for poly in polys:
            if not isinstance(poly, list) or not poly:
                raise ZoneError("多边形没有环", "a polygon without rings", k)
            rings = []
            for ring in poly:
                arr = _ring(ring, k)
                vertices += arr.shape[0]
                if vertices > max_vertices:
                    raise ZoneError(f"顶点过多,上限 {max_vertices}", f"too many vertices, at most {max_vertices}", k)
                rings.append(arr)
            zone_polys.append(rings)
        raw_props = feat.get("properties")
        props: dict[str, Any] = raw_props if isinstance(raw_props, dict) else {}
        raw_id = next((props[key] for key in ("zone_id", "id", "code", "name") if props.get(key) not in (None, "")),
                      feat.get("id"))
        zone_id = str(raw_id).strip() if raw_id not in (None, "") else f"Z{k + 1}"
        if not zone_id or len(zone_id) > MAX_ID:
            raise ZoneError(f"区域编号须为 1–{MAX_ID} 个字符", f"a zone id must have 1–{MAX_ID} characters", k)
        if zone_id in seen:
            raise ZoneError(f"区域编号重复:{zone_id}", f"duplicate zone id: {zone_id}", k)
        seen.add(zone_id)
        name = props.get("name")
        zones.append(Zone(zone_id, str(name) if name is not None else zone_id, zone_polys))
    return zones


def _ring(ring: Any, k: int) -> np.ndarray:
    if not isinstance(ring, list) or len(ring) < 4:
        raise ZoneError("环须至少有 4 个坐标(首尾相同)", "a ring needs at least 4 positions (first = last)", k)
    try:
        if not all(isinstance(p, list) and len(p) >= 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                             for v in p[:2]) for p in ring):
            raise TypeError
        arr = np.array([[float(p[0]), float(p[1])] for p in ring], dtype=np.float64)
    except (TypeError, ValueError):
        raise ZoneError("坐标须为数字 [经度, 纬度]", "positions must be numbers [longitude, latitude]", k) from None
    if not np.isfinite(arr).all():
        raise ZoneError("坐标含非有限数值", "positions must be finite numbers", k)
    if (np.abs(arr[:, 0]) > 180).any() or (np.abs(arr[:, 1]) > 90).any():
        raise ZoneError("坐标超出经纬度范围(是否为投影坐标?须为 WGS-84 经纬度)",
                        "positions outside longitude/latitude ranges (projected metres? WGS-84 lon/lat is required)", k)
    if not np.array_equal(arr[0], arr[-1]):
        raise ZoneError("环未闭合(首尾坐标须相同)", "a ring is not closed (the first and last positions must be equal)", k)
    x, y = arr[:, 0], arr[:, 1]
    area = 0.5 * abs(float(np.dot(x[:-1], y[1:]) - np.dot(x[1:], y[:-1])))
    if area <= 1e-12 or math.isnan(area):
        raise ZoneError("环的面积为零", "a ring has zero area", k)
    if _self_intersects(arr):
        raise ZoneError("环自相交", "a ring crosses itself", k)
    return arr


def _self_intersects(ring: np.ndarray, max_edges: int = 4000) -> bool:
    """Whether two non-adjacent edges of a closed ring cross (vectorised; rings longer than ``max_edges`` edges
    are checked in blocks of rows)."""
    a, b = ring[:-1], ring[1:]
    n = a.shape[0]
    if n < 4:
        return False

    def orient(p: np.ndarray, q: np.ndarray, r: np.ndarray) -> np.ndarray:
        return np.sign((q[..., 0] - p[..., 0]) * (r[..., 1] - p[..., 1]) - (q[..., 1] - p[..., 1]) * (r[..., 0] - p[..., 0]))

    j = np.arange(n)
    for lo in range(0, n, max_edges):
        i = np.arange(lo, min(n, lo + max_edges))
        pa_, pb = a[i][:, None, :], b[i][:, None, :]
        qa, qb = a[None, :, :], b[None, :, :]
        o1, o2 = orient(pa_, pb, qa), orient(pa_, pb, qb)
        o3, o4 = orient(qa, qb, pa_), orient(qa, qb, pb)
        cross = (o1 * o2 < 0) & (o3 * o4 < 0)
        ii, jj = i[:, None], j[None, :]
        adjacent = (np.abs(ii - jj) <= 1) | ((ii == 0) & (jj == n - 1)) | ((jj == 0) & (ii == n - 1))
        if (cross & ~adjacent).any():
            return True
    return False


def _in_ring(lon: np.ndarray, lat: np.ndarray, ring: np.ndarray) -> np.ndarray:
    """Even-odd ray casting, vectorised over points × edges in blocks."""
    x0, y0 = ring[:-1, 0], ring[:-1, 1]
    x1, y1 = ring[1:, 0], ring[1:, 1]
    keep = y0 != y1
    x0, y0, x1, y1 = x0[keep], y0[keep], x1[keep], y1[keep]
    inside = np.zeros(lon.shape, dtype=bool)
    step = max(1, _BLOCK // max(1, x0.size))
    for lo in range(0, lon.size, step):
        px, py = lon[lo:lo + step, None], lat[lo:lo + step, None]
        crosses = (y1 > py) != (y0 > py)
        with np.errstate(divide="ignore", invalid="ignore"):
            xint = (x0 - x1) * (py - y1) / (y0 - y1) + x1
        inside[lo:lo + step] = (np.count_nonzero(crosses & (px < xint), axis=1) % 2) == 1
    return inside


def assign(lat: np.ndarray, lon: np.ndarray, zones: list[Zone]) -> np.ndarray:
    """The zone id (object array) holding each point, the first in file order; ``None`` outside every zone."""
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    found = np.full(lat.shape, -1, dtype=np.int64)
    for z, zone in enumerate(zones):
        x0, y0, x1, y1 = zone.bbox
        cand = np.flatnonzero((found < 0) & (lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1))
        if cand.size == 0:
            continue
        hit = np.zeros(cand.size, dtype=bool)
        for poly in zone.polygons:
            inside = np.zeros(cand.size, dtype=bool)
            for ring in poly:  # even-odd over the outer ring and its holes
                inside ^= _in_ring(lon[cand], lat[cand], ring)
            hit |= inside
        found[cand[hit]] = z
    ids = np.array([z.zone_id for z in zones] + [None], dtype=object)
    return ids[found]


def stop_zones(stops: Any, zones: list[Zone]) -> Any:
    """``stop_id, zone_id`` (Arrow) for the stops inside a zone (the ``zones`` table of
    :func:`cityhub.transit.analysis.analyse`); stops outside every zone are left out."""
    import pyarrow as pa
    import pyarrow.compute as pc

    ids = assign(np.asarray(stops.column("lat").to_numpy(zero_copy_only=False), dtype=np.float64),
                 np.asarray(stops.column("lon").to_numpy(zero_copy_only=False), dtype=np.float64), zones)
    table = pa.table({"stop_id": stops.column("stop_id"), "zone_id": pa.array(ids.tolist(), pa.string())})
    return table.filter(pc.is_valid(table.column("zone_id")))
