"""A bounded, streaming reader of GeoJSON files for the map preview (pure: imports nothing from CityHub).

The file is parsed as a stream of JSON events (ijson, the yajl2 C backend) and features are built one at a time,
so a file of any size costs at most the caps: ``max_bytes`` of the file are read, at most ``max_features``
features and ``max_vertices`` coordinate positions are kept (counted while a feature is being built, so one
enormous polygon stops the reading too). What is past a cap is left out and said so (``truncated`` and
``limit``); what is not GeoJSON raises :class:`GeoJSONError` with a bilingual message.

Accepted: a ``FeatureCollection`` (RFC 7946), a single ``Feature``, or a bare geometry (``Point``, ``MultiPoint``,
``LineString``, ``MultiLineString``, ``Polygon``, ``MultiPolygon``, ``GeometryCollection``). Positions keep their
first two numbers (longitude, latitude) rounded to 1e-6° (about 0.1 m). A feature whose geometry is malformed or
whose coordinates are not longitude/latitude is skipped and counted; if no feature is left and some were skipped,
the file is refused with the first reason (e.g. coordinates in metres of a projected system).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import ijson

GEOMETRY_TYPES = frozenset({"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon",
                            "GeometryCollection"})
DIGITS = 6
MAX_PROPERTY_KEYS = 200  # keys listed for the feature table (a feature may carry more; they stay in the feature)
MAX_NESTING = 3  # GeometryCollection inside GeometryCollection: RFC 7946 §3.1.8 says SHOULD NOT nest at all

MESSAGES = {
    "empty": ("文件为空", "The file is empty"),
    "json": ("不是有效的 JSON:{detail}{near}", "Not valid JSON: {detail_en}{near_en}"),
    "encoding": ("GeoJSON 须为 UTF-8 编码(RFC 7946)", "GeoJSON must be encoded in UTF-8 (RFC 7946)"),
    "not_object": ("不是 GeoJSON:顶层须为对象(FeatureCollection、Feature 或几何对象),而不是{kind}",
                   "Not GeoJSON: the top level must be an object (a FeatureCollection, a Feature or a geometry), "
                   "not {kind_en}"),
    "type": ("不是 GeoJSON:顶层 type 为 “{value}”,应为 FeatureCollection、Feature 或几何类型",
             "Not GeoJSON: the top-level type is “{value}”; expected FeatureCollection, Feature or a geometry type"),
    "no_features": ("FeatureCollection 缺少 features 数组", "The FeatureCollection has no features array"),
    "all_skipped": ("没有可显示的要素:全部 {n} 个要素无效。第一个原因:{reason}",
                    "No feature can be shown: all {n} features are invalid. The first reason: {reason_en}"),
}

# why a feature is skipped (zh, en)
REASONS = {
    "feature": ("要素的 type 不是 Feature", "the feature's type is not Feature"),
    "geometry": ("几何对象无效", "invalid geometry"),
    "geometry_type": ("不支持的几何类型 {value}", "unsupported geometry type {value}"),
    "position": ("坐标须为至少两个数字的数组", "a position must be an array of at least two numbers"),
    "range": ("坐标 [{x}, {y}] 不是经纬度(经度 -180~180、纬度 -90~90;是否为投影坐标,如米?)",
              "coordinates [{x}, {y}] are not longitude/latitude (longitude -180 to 180, latitude -90 to 90; "
              "projected coordinates in metres?)"),
    "line": ("线至少需要两个坐标点", "a line needs at least two positions"),
    "ring": ("多边形的环至少需要四个坐标点且首尾相同", "a polygon ring needs at least four positions, the last equal "
             "to the first"),
    "nesting": ("GeometryCollection 嵌套过深", "GeometryCollection nested too deeply"),
    "properties": ("properties 须为对象或 null", "properties must be an object or null"),
}


class GeoJSONError(ValueError):
    """The file is not GeoJSON; ``message``/``message_en`` say why."""

    def __init__(self, code: str, **values: Any) -> None:
        zh, en = MESSAGES[code]
        self.code = code
        self.message = zh.format(**values)
        self.message_en = en.format(**values)
        super().__init__(self.message_en)


class _Skip(Exception):
    def __init__(self, code: str, **values: Any) -> None:
        zh, en = REASONS[code]
        self.message = zh.format(**values)
        self.message_en = en.format(**values)
        super().__init__(self.message_en)


class _VertexCap(Exception):
    pass


@dataclass
class Preview:
    """What :func:`read_preview` found: the features kept and why reading stopped, if it did."""

    features: list[dict[str, Any]] = field(default_factory=list)
    bbox: list[float] | None = None
    geometry_types: Counter[str] = field(default_factory=Counter)
    properties: list[str] = field(default_factory=list)
    vertices: int = 0
    skipped: int = 0
    skip_reasons: list[tuple[str, str]] = field(default_factory=list)  # the first few, (zh, en)
    truncated: bool = False
    limit: str | None = None  # "bytes", "features" or "vertices"
    bytes_read: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"type": "FeatureCollection", "features": self.features, "bbox": self.bbox,
                "count": len(self.features), "geometry_types": dict(self.geometry_types),
                "properties": self.properties, "vertices": self.vertices, "skipped": self.skipped,
                "skip_reasons": [{"message": zh, "message_en": en} for zh, en in self.skip_reasons],
                "truncated": self.truncated, "limit": self.limit, "bytes_read": self.bytes_read}


class _CappedReader:
    """Gives the parser at most ``cap`` bytes of ``stream`` (noting whether there was more), less a UTF-8 BOM; and
    at most ``feature_cap`` bytes since :attr:`mark` (the end of the last whole feature), so that one enormous
    feature cannot be built in memory."""

    def __init__(self, stream: BinaryIO, cap: int, feature_cap: int | None = None) -> None:
        self.stream, self.cap, self.feature_cap = stream, cap, feature_cap
        self.read_bytes = self.mark = 0
        self.hit = self.feature_hit = self.nonblank = False
        self._first = True

    def read(self, n: int = -1) -> bytes:
        room = self.cap - self.read_bytes
        if self.feature_cap is not None and self.read_bytes - self.mark > self.feature_cap:
            self.feature_hit = True
            return b""
        if room <= 0:
            if not self.hit and self.stream.read(1):
                self.hit = True
            return b""
        n = room if n is None or n < 0 else min(n, room)
        chunk = self.stream.read(n)
        if self._first and chunk:  # (the parser first reads 0 bytes to learn the stream's type)
            self._first = False
            if chunk.startswith(b"\xef\xbb\xbf"):
                chunk = chunk[3:]
                self.read_bytes += 3
        self.read_bytes += len(chunk)
        if not self.nonblank and chunk.strip():
            self.nonblank = True
        return chunk


BUF = 64 * 1024
BYTES_PER_VERTEX = 48  # "[113.29999996300226, 23.000004711887622], " is 42 bytes: a feature of max_vertices fits


def read_preview(stream: BinaryIO, *, max_bytes: int, max_features: int, max_vertices: int) -> Preview:
    """Read GeoJSON from ``stream`` (seekable) within the caps (see the module's docstring).

    The common case, a FeatureCollection, is read in one pass whose features are built by ijson's C code
    (``items``), each checked and counted as it comes. Only when that finds no feature (a single Feature, a bare
    geometry, an empty collection, or not GeoJSON) is the file read a second time event by event, counting
    coordinates while the object is built."""
    out = Preview()
    state = _State(out, max_features, max_vertices)
    reader = _CappedReader(stream, max_bytes, feature_cap=max(max_vertices * BYTES_PER_VERTEX, BUF * 2))
    try:
        for raw in ijson.items(reader, "features.item", use_float=True, buf_size=BUF):
            reader.mark = reader.read_bytes
            state.add(raw)
    except _Stop:
        pass
    except _VertexCap:
        out.truncated, out.limit = True, "vertices"
    except ijson.JSONError as exc:
        if reader.hit:
            out.truncated, out.limit = True, "bytes"
        elif reader.feature_hit:
            out.truncated, out.limit = True, "vertices"
        else:
            raise _json_error(exc, reader.nonblank) from None
    out.bytes_read = reader.read_bytes
    if not out.features and not out.skipped:
        stream.seek(0)
        out = Preview()
        _read_events(stream, _State(out, max_features, max_vertices), max_bytes)
    if not out.features and out.skipped:
        zh, en = out.skip_reasons[0]
        raise GeoJSONError("all_skipped", n=out.skipped, reason=zh, reason_en=en)
    return out


def _read_events(stream: BinaryIO, state: _State, max_bytes: int) -> None:
    out = state.out
    reader = _CappedReader(stream, max_bytes)
    try:
        state.run(ijson.parse(reader, use_float=True, buf_size=BUF))
    except _Stop:
        pass
    except _VertexCap:
        out.truncated, out.limit = True, "vertices"
    except ijson.JSONError as exc:
        if reader.hit:
            out.truncated, out.limit = True, "bytes"
        else:
            raise _json_error(exc, state.seen_any) from None
    out.bytes_read = reader.read_bytes
    if not out.truncated:
        state.finish()


# what the parser (yajl) says, in both languages
_PARSER_ERRORS = (
    ("premature EOF", "文件在 JSON 结束之前就中断了", "the file ends before the JSON does"),
    ("trailing garbage", "JSON 之后还有多余的内容", "there is more after the end of the JSON"),
    ("invalid char", "有不允许的字符", "a character that is not allowed"),
    ("invalid string", "字符串格式错误", "a malformed string"),
    ("invalid object key", "对象的键须为字符串", "an object key that is not a string"),
    ("after key and value", "键值对之间缺少逗号或右花括号", "a missing comma or closing brace after a member"),
    ("after array element", "数组元素之间缺少逗号或右方括号", "a missing comma or closing bracket in an array"),
    ("object key and value must be separated", "键和值之间缺少冒号", "a missing colon between a key and its value"),
    ("unallowed token", "有不允许的记号", "a token that is not allowed here"),
)


def _json_error(exc: Exception, seen_any: bool) -> GeoJSONError:
    text = exc.args[0] if exc.args else ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = str(text)
    if "UTF8" in text or "UTF-8" in text:
        return GeoJSONError("encoding")
    if "premature EOF" in text and not seen_any:
        return GeoJSONError("empty")
    zh, en = "语法错误", "a syntax error"
    for needle, z, e in _PARSER_ERRORS:
        if needle in text:
            zh, en = z, e
            break
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    snippet = lines[1][:80] if len(lines) > 2 else ""
    return GeoJSONError("json", detail=zh, detail_en=en, near=f"(附近:{snippet})" if snippet else "",
                        near_en=f" (near: {snippet})" if snippet else "")


class _Stop(Exception):
    pass


class _State:
    """Turns parser events into features: ``features.item`` objects one at a time; everything else at the top
    level (type, name, crs, or a single Feature/geometry) into one small object."""

    def __init__(self, out: Preview, max_features: int, max_vertices: int) -> None:
        self.out, self.max_features, self.max_vertices = out, max_features, max_vertices
        self.top = ijson.ObjectBuilder()
        self.top_started = False
        self.has_features = False
        self.seen_any = False
        self.keys: dict[str, None] = {}

    def run(self, events: Any) -> None:
        feature: Any = None
        numbers = 0
        top_numbers = 0
        for prefix, event, value in events:
            if not self.seen_any:
                self.seen_any = True
                if event != "start_map":  # an array or a scalar: not GeoJSON, whatever follows
                    self.top.event(event, value)
                    self.top_started = True
                    self.finish()
            if prefix.startswith("features.item"):
                if prefix == "features.item" and event == "start_map":
                    feature = ijson.ObjectBuilder()
                    numbers = 0
                if feature is None:  # an array item that is not an object
                    if prefix == "features.item" and event not in ("start_array", "end_array"):
                        self._skip(_Skip("feature"))
                    continue
                if event == "number" and ".coordinates" in prefix:
                    numbers += 1
                    if (self.out.vertices * 2 + numbers) > self.max_vertices * 2:
                        raise _VertexCap
                feature.event(event, value)
                if prefix == "features.item" and event == "end_map":
                    self.add(feature.value)
                    feature = None
                continue
            if prefix == "features":
                self.has_features = True
                continue
            if prefix == "" and event == "map_key" and value == "features":
                continue
            if event == "number" and "coordinates" in prefix:
                top_numbers += 1
                if top_numbers > self.max_vertices * 2:
                    raise _VertexCap
            self.top_started = True
            self.top.event(event, value)

    def finish(self) -> None:
        top = self.top.value if self.top_started else None
        if not isinstance(top, dict):
            kinds = {list: ("数组", "an array"), str: ("字符串", "a string"), type(None): ("空值", "null"),
                     bool: ("布尔值", "a boolean")}
            zh, en = kinds.get(type(top), ("数值", "a number"))
            raise GeoJSONError("not_object", kind=zh, kind_en=en)
        kind = top.get("type")
        if kind == "FeatureCollection":
            if not self.has_features:
                raise GeoJSONError("no_features")
            return
        if self.has_features and kind is None:
            return  # features without a type member: lenient, as most readers are
        if kind == "Feature":
            self.add(top)
        elif kind in GEOMETRY_TYPES:
            self.add({"type": "Feature", "geometry": top, "properties": {}})
        else:
            raise GeoJSONError("type", value=str(kind)[:50])

    def _skip(self, reason: _Skip) -> None:
        self.out.skipped += 1
        if len(self.out.skip_reasons) < 5:
            self.out.skip_reasons.append((reason.message, reason.message_en))

    def add(self, raw: Any) -> None:
        """Check, clean and keep one feature (or count it as skipped); ``_Stop``/``_VertexCap`` at a cap."""
        out = self.out
        if len(out.features) >= self.max_features:
            out.truncated, out.limit = True, "features"
            raise _Stop
        try:
            feature = clean_feature(raw)
        except _Skip as reason:
            self._skip(reason)
            return
        geom = feature["geometry"]
        if geom is not None:
            count, box = _measure(geom)
            if out.vertices + count > self.max_vertices:
                raise _VertexCap
            out.vertices += count
            out.geometry_types[geom["type"]] += 1
            if box is not None:
                out.bbox = box if out.bbox is None else [min(out.bbox[0], box[0]), min(out.bbox[1], box[1]),
                                                         max(out.bbox[2], box[2]), max(out.bbox[3], box[3])]
        else:
            out.geometry_types["null"] += 1
        for key in feature["properties"]:
            if len(self.keys) >= MAX_PROPERTY_KEYS:
                break
            if key not in self.keys:
                self.keys[key] = None
                out.properties.append(key)
        out.features.append(feature)


# -- validation and normalisation (RFC 7946 §3) ---------------------------------------------------------------


def clean_feature(raw: Any) -> dict[str, Any]:
    """A Feature as the preview sends it: ``type``, ``id`` (if a string or number), a cleaned ``geometry`` (or
    None) and ``properties`` (an object); raises ``_Skip`` with the reason when it is not a valid feature."""
    if not isinstance(raw, dict) or raw.get("type") != "Feature":
        raise _Skip("feature")
    props = raw.get("properties")
    if props is None:
        props = {}
    elif not isinstance(props, dict):
        raise _Skip("properties")
    geom = raw.get("geometry")
    out: dict[str, Any] = {"type": "Feature", "geometry": None if geom is None else clean_geometry(geom),
                           "properties": props}
    fid = raw.get("id")
    if isinstance(fid, (str, int, float)) and not isinstance(fid, bool):
        out["id"] = fid
    return out


def clean_geometry(geom: Any, depth: int = 0) -> dict[str, Any]:
    if not isinstance(geom, dict):
        raise _Skip("geometry")
    kind = geom.get("type")
    if kind not in GEOMETRY_TYPES:
        raise _Skip("geometry_type", value=str(kind)[:50])
    if kind == "GeometryCollection":
        if depth >= MAX_NESTING:
            raise _Skip("nesting")
        parts = geom.get("geometries")
        if not isinstance(parts, list):
            raise _Skip("geometry")
        return {"type": kind, "geometries": [clean_geometry(g, depth + 1) for g in parts]}
    coords = geom.get("coordinates")
    if kind == "Point":
        return {"type": kind, "coordinates": _position(coords)}
    if kind in ("MultiPoint", "LineString"):
        line = _positions(coords)
        if kind == "LineString" and len(line) < 2:
            raise _Skip("line")
        return {"type": kind, "coordinates": line}
    if kind == "MultiLineString":
        lines = [_positions(c) for c in _list(coords)]
        if any(len(line) < 2 for line in lines):
            raise _Skip("line")
        return {"type": kind, "coordinates": lines}
    if kind == "Polygon":
        return {"type": kind, "coordinates": _polygon(coords)}
    return {"type": kind, "coordinates": [_polygon(p) for p in _list(coords)]}


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise _Skip("geometry")
    return value


def _position(value: Any) -> list[float]:
    if not isinstance(value, list) or len(value) < 2:
        raise _Skip("position")
    x, y = value[0], value[1]
    if isinstance(x, bool) or isinstance(y, bool) or not isinstance(x, (int, float)) or \
            not isinstance(y, (int, float)) or not (math.isfinite(x) and math.isfinite(y)):
        raise _Skip("position")
    if not (-180 <= x <= 180 and -90 <= y <= 90):
        raise _Skip("range", x=_num(x), y=_num(y))
    return [round(float(x), DIGITS), round(float(y), DIGITS)]


def _num(v: float) -> str:
    return f"{v:.6g}"


def _positions(value: Any) -> list[list[float]]:
    out: list[list[float]] = []
    for p in _list(value):
        pos = _position(p)
        if not out or out[-1] != pos:  # a repeat after rounding adds nothing to the drawing
            out.append(pos)
    return out


def _polygon(value: Any) -> list[list[list[float]]]:
    rings = []
    for ring in _list(value):
        raw = _list(ring)
        pts = _positions(raw)
        if len(raw) < 4 or len(pts) < 3:
            raise _Skip("ring")
        if pts[0] != pts[-1]:
            pts.append(pts[0])
        rings.append(pts)
    return rings


def _measure(geom: dict[str, Any]) -> tuple[int, list[float] | None]:
    """Number of positions and bounding box of a cleaned geometry."""
    xs: list[float] = []
    ys: list[float] = []

    def walk(c: Any) -> None:
        if c and isinstance(c[0], float):
            xs.append(c[0])
            ys.append(c[1])
            return
        for part in c:
            walk(part)

    def geometry(g: dict[str, Any]) -> None:
        if g["type"] == "GeometryCollection":
            for part in g["geometries"]:
                geometry(part)
        else:
            walk(g["coordinates"])

    geometry(geom)
    if not xs:
        return 0, None
    return len(xs), [min(xs), min(ys), max(xs), max(ys)]
