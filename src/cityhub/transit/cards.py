"""Smart-card transactions (and bus AVL pings) from CSV or Parquet into the TAPS (AVL) table, through a column mapping.

Pure: imports nothing from the rest of CityHub but :mod:`cityhub.transit.schema` and :mod:`cityhub.transit.ioreport`.
One DuckDB query per file does the whole normalisation (no per-row Python): columns are read as text, trimmed,
mapped, parsed; a row that cannot be used is *rejected with its reason* (``missing_card``, ``bad_time``,
``unknown_type``, ``unknown_stop``; AVL: ``missing_vehicle``, ``bad_time``, ``bad_coordinates``), exact duplicate
rows are dropped and counted, and the per-file :class:`CardsReport` says it all. :mod:`cityhub.transit.spark`
applies the very same rules in Spark (a test checks both give identical tables).

A mapping (:class:`CardMapping`) names, for each TAPS field, the source column, either one column for every row or
one per mode: in the Shenzhen Tong data a metro row's ``station`` is the station and ``company_name`` the line,
while a bus row's ``station`` is the route and ``car_no`` the vehicle. ``types`` maps the source's transaction
type to (mode, kind). Mappings load from YAML or JSON (:func:`mapping_from_file`); :data:`SHENZHEN` is the preset
for the Shenzhen open-data format (``deal_date, close_date, card_no, deal_value, deal_type, company_name, car_no,
station, conn_mark, deal_money, equ_no``; money in fen; ``deal_money`` is what was charged, ``deal_value`` the
list price).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import yaml

from cityhub.transit.ioreport import TransitInputError, sniff_encoding, transcode_to_utf8
from cityhub.transit.schema import AVL, MODES, TAP_KINDS, TAPS

#: the TAPS fields a mapping may fill; the first three are required
TAP_FIELDS = ("card_id", "ts", "type", "stop_id", "route_id", "vehicle_id", "fare")
AVL_FIELDS = ("vehicle_id", "ts", "lat", "lon", "route_id", "direction")
#: why a row is rejected, in the order the rules are tried
TAP_REASONS = ("missing_card", "bad_time", "unknown_type", "unknown_stop")
AVL_REASONS = ("missing_vehicle", "bad_time", "bad_coordinates")
EXAMPLES = 5


@dataclass(frozen=True)
class CardMapping:
    """How a source's columns become TAPS. ``fields``: TAPS field → a source column, or {mode: column}.
    ``time_format``: strptime format(s), or ``epoch_s`` / ``epoch_ms`` (then ``timezone`` gives local time).
    ``types``: source value of the ``type`` column → (mode, kind). ``fare_scale``: source unit → fen (100 for
    yuan). ``stops``: optional {mode: {name: stop_id}}; given for a mode, a name not in it rejects the row."""

    name: str
    fields: Mapping[str, str | Mapping[str, str]]
    types: Mapping[str, tuple[str, str]]
    time_format: str | tuple[str, ...] = "%Y-%m-%d %H:%M:%S"
    timezone: str = "Asia/Shanghai"
    fare_scale: float = 1.0
    stops: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for required in ("card_id", "ts", "type"):
            if not isinstance(self.fields.get(required), str):
                raise TransitInputError(f"映射缺少必需字段 {required}(应为一个列名)",
                                        f"The mapping needs {required} (one column name)", required)
        unknown = set(self.fields) - set(TAP_FIELDS)
        if unknown:
            raise TransitInputError(f"映射中有未知字段:{', '.join(sorted(unknown))}",
                                    f"Unknown fields in the mapping: {', '.join(sorted(unknown))}", "fields")
        for value, (mode, kind) in self.types.items():
            if mode not in MODES or kind not in TAP_KINDS:
                raise TransitInputError(f"类型 {value} 映射到未知的方式或刷卡类别 {mode}/{kind}",
                                        f"Type {value} maps to an unknown mode or kind {mode}/{kind}", "types")
        for f in self.fields.values():
            if isinstance(f, Mapping) and set(f) - set(MODES):
                raise TransitInputError("按方式的列名只能用 bus 或 metro", "Per-mode columns take bus or metro only",
                                        "fields")

    def source_columns(self) -> list[str]:
        cols: list[str] = []
        for f in self.fields.values():
            for c in ([f] if isinstance(f, str) else list(f.values())):
                if c not in cols:
                    cols.append(c)
        return cols

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["types"] = {k: list(v) for k, v in self.types.items()}
        return d


SHENZHEN = CardMapping(
    name="shenzhen",
    fields={"card_id": "card_no", "ts": "deal_date", "type": "deal_type",
            "stop_id": {"metro": "station"},
            "route_id": {"metro": "company_name", "bus": "station"},
            "vehicle_id": {"bus": "car_no"},
            "fare": "deal_money"},
    types={"地铁入站": ("metro", "tap_in"), "地铁出站": ("metro", "tap_out"), "巴士": ("bus", "tap_on")},
)
PRESETS: dict[str, CardMapping] = {"shenzhen": SHENZHEN}


@dataclass(frozen=True)
class AvlMapping:
    """AVL columns: ``fields`` names the source column of each AVL field (``route_id``, ``direction`` optional)."""

    name: str
    fields: Mapping[str, str]
    time_format: str | tuple[str, ...] = "%Y-%m-%d %H:%M:%S"
    timezone: str = "Asia/Shanghai"

    def __post_init__(self) -> None:
        for required in ("vehicle_id", "ts", "lat", "lon"):
            if not isinstance(self.fields.get(required), str):
                raise TransitInputError(f"映射缺少必需字段 {required}", f"The mapping needs {required}", required)
        unknown = set(self.fields) - set(AVL_FIELDS)
        if unknown:
            raise TransitInputError(f"映射中有未知字段:{', '.join(sorted(unknown))}",
                                    f"Unknown fields in the mapping: {', '.join(sorted(unknown))}", "fields")


def mapping_from_dict(spec: Mapping[str, Any]) -> CardMapping:
    """A mapping from a plain dict (the YAML/JSON form): ``types`` values are ``[mode, kind]`` or
    ``{mode: …, kind: …}``; ``preset: shenzhen`` starts from a preset and overrides what is given."""
    base: dict[str, Any] = PRESETS[spec["preset"]].to_dict() if spec.get("preset") in PRESETS else {}
    if spec.get("preset") and spec["preset"] not in PRESETS:
        raise TransitInputError(f"未知的预设:{spec['preset']}", f"Unknown preset: {spec['preset']}", "preset")
    merged = {**base, **{k: v for k, v in spec.items() if k != "preset"}}
    try:
        types = {str(k): ((v["mode"], v["kind"]) if isinstance(v, Mapping) else (v[0], v[1]))
                 for k, v in dict(merged.get("types") or {}).items()}
        fmt = merged.get("time_format", "%Y-%m-%d %H:%M:%S")
        return CardMapping(name=str(merged.get("name", "custom")), fields=dict(merged.get("fields") or {}),
                           types=types, time_format=tuple(fmt) if isinstance(fmt, list) else fmt,
                           timezone=str(merged.get("timezone", "Asia/Shanghai")),
                           fare_scale=float(merged.get("fare_scale", 1.0)),
                           stops={m: dict(v) for m, v in dict(merged.get("stops") or {}).items()})
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise TransitInputError(f"映射格式不正确:{exc}", f"The mapping is malformed: {exc}", "mapping") from exc


def mapping_from_file(path: str | Path) -> CardMapping:
    """A mapping from a ``.yaml``/``.yml`` or ``.json`` file."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        spec = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise TransitInputError(f"映射文件无法解析:{exc}", f"The mapping file cannot be parsed: {exc}",
                                "mapping") from exc
    if not isinstance(spec, Mapping):
        raise TransitInputError("映射文件应为一个对象", "The mapping file should hold one object", "mapping")
    return mapping_from_dict(spec)


def avl_mapping_from_file(path: str | Path) -> AvlMapping:
    """An AVL mapping from YAML/JSON: ``name``, ``fields`` ({vehicle_id, ts, lat, lon, route_id?, direction?}),
    ``time_format``, ``timezone``."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        spec = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
        fmt = spec.get("time_format", "%Y-%m-%d %H:%M:%S")
        return AvlMapping(name=str(spec.get("name", "avl")), fields=dict(spec.get("fields") or {}),
                          time_format=tuple(fmt) if isinstance(fmt, list) else fmt,
                          timezone=str(spec.get("timezone", "Asia/Shanghai")))
    except (ValueError, yaml.YAMLError, AttributeError, TypeError) as exc:
        raise TransitInputError(f"映射文件无法解析:{exc}", f"The mapping file cannot be parsed: {exc}",
                                "mapping") from exc


@dataclass
class CardsReport:
    """What happened to one file."""

    file: str
    rows_read: int = 0
    rows_loaded: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)
    duplicates: int = 0
    cards: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    unknown_types: dict[str, int] = field(default_factory=dict)
    unknown_stops: dict[str, int] = field(default_factory=dict)
    bad_fare: int = 0
    first_ts: str | None = None
    last_ts: str | None = None
    encoding: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------------------------------- SQL building


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _col(c: str) -> str:
    return f"nullif(trim(CAST({_q(c)} AS VARCHAR)), '')"


def _ref(c: str) -> str:
    """A source column in the ``raw`` step: already text, trimmed, '' as NULL."""
    return _q("src_" + c)


def _field_sql(spec: str | Mapping[str, str] | None) -> str:
    if spec is None:
        return "CAST(NULL AS VARCHAR)"
    if isinstance(spec, str):
        return _ref(spec)
    return "CASE " + " ".join(f"WHEN mode = {_lit(m)} THEN {_ref(c)}" for m, c in spec.items()) + " END"


def time_sql(expr: str, time_format: str | tuple[str, ...], tz: str) -> str:
    """The timestamp (local, whole seconds) a text value gives, NULL when it does not parse."""
    if time_format in ("epoch_s", "epoch_ms"):
        div = 1000 if time_format == "epoch_ms" else 1
        return f"CAST(timezone({_lit(tz)}, to_timestamp(TRY_CAST({expr} AS DOUBLE) / {div})) AS TIMESTAMP_S)"
    fmts = [time_format] if isinstance(time_format, str) else list(time_format)
    return f"CAST(try_strptime({expr}, [{', '.join(_lit(f) for f in fmts)}]) AS TIMESTAMP_S)"


def _source(path: Path, tmp: Path) -> tuple[str, str | None]:
    if path.suffix.lower() == ".parquet":
        return f"read_parquet({_lit(str(path))})", None
    enc = sniff_encoding(path)
    if enc != "utf-8":
        target = tmp / (path.stem + ".utf8.csv")
        transcode_to_utf8(path, target, enc)
        path = target
    return (f"read_csv({_lit(str(path))}, all_varchar = true, header = true, auto_detect = true, "
            f"strict_mode = false, null_padding = true)"), enc


def _check_columns(con: duckdb.DuckDBPyConnection, src: str, wanted: Iterable[str], file: str) -> None:
    try:
        names = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()]
    except duckdb.Error as exc:
        raise TransitInputError(f"文件无法读取:{file}({exc})", f"Cannot read {file} ({exc})", "file") from exc
    missing = [c for c in wanted if c not in names]
    if missing:
        raise TransitInputError(f"{file} 缺少列:{', '.join(missing)}(现有列:{', '.join(names)})",
                                f"{file} lacks the column(s) {', '.join(missing)} (it has {', '.join(names)})",
                                "columns")


def taps_sql(src: str, mapping: CardMapping) -> str:
    """The query that gives every source row its TAPS fields and its reject ``reason`` (NULL when kept); reads
    the tables ``_types`` (raw, mode, kind) and ``_stops`` (mode, name, stop_id)."""
    f = mapping.fields
    fare = "CAST(NULL AS DOUBLE)" if f.get("fare") is None else f"TRY_CAST({_field_sql(f['fare'])} AS DOUBLE)"
    raw_cols = ", ".join(f"{_col(c)} AS {_ref(c)}" for c in mapping.source_columns())
    card, ts, kind = (str(f["card_id"]), str(f["ts"]), str(f["type"]))
    return f"""
        WITH raw AS (SELECT {raw_cols} FROM {src}),
        typed AS (
            SELECT r.*, t.mode, t.kind FROM raw r LEFT JOIN _types t ON t.raw = r.{_ref(kind)}),
        mapped AS (
            SELECT {_ref(card)} AS card_id, {_ref(ts)} AS ts_raw, {_ref(kind)} AS type_raw,
                   mode, kind, {time_sql(_ref(ts), mapping.time_format, mapping.timezone)} AS ts,
                   {_field_sql(f.get('stop_id'))} AS stop_raw, {_field_sql(f.get('route_id'))} AS route_id,
                   {_field_sql(f.get('vehicle_id'))} AS vehicle_id, {fare} AS fare_raw
            FROM typed)
        SELECT m.card_id, m.ts, m.mode, m.kind,
               CASE WHEN s.stop_id IS NOT NULL THEN s.stop_id
                    WHEN m.mode IN (SELECT mode FROM _stops) THEN NULL ELSE m.stop_raw END AS stop_id,
               m.route_id, m.vehicle_id,
               CAST(round(m.fare_raw * {float(mapping.fare_scale)}) AS INTEGER) AS fare_fen,
               m.ts_raw, m.type_raw, m.stop_raw,
               CASE WHEN m.card_id IS NULL THEN 'missing_card'
                    WHEN m.ts IS NULL THEN 'bad_time'
                    WHEN m.mode IS NULL THEN 'unknown_type'
                    WHEN s.stop_id IS NULL AND m.stop_raw IS NOT NULL AND m.mode IN (SELECT mode FROM _stops)
                         THEN 'unknown_stop' END AS reason
        FROM mapped m LEFT JOIN _stops s ON s.mode = m.mode AND s.name = m.stop_raw"""


def _register_lookups(con: duckdb.DuckDBPyConnection, mapping: CardMapping) -> None:
    con.register("_types", pa.table({"raw": list(mapping.types), "mode": [v[0] for v in mapping.types.values()],
                                     "kind": [v[1] for v in mapping.types.values()]}))
    rows = [(m, n, s) for m, names in mapping.stops.items() for n, s in names.items()]
    con.register("_stops", pa.table({"mode": pa.array([r[0] for r in rows], pa.string()),
                                     "name": pa.array([r[1] for r in rows], pa.string()),
                                     "stop_id": pa.array([r[2] for r in rows], pa.string())}))


def read_taps(path: str | Path, mapping: CardMapping = SHENZHEN) -> tuple[pa.Table, CardsReport]:
    """One file → (TAPS table sorted by card and time, its report). Raises :class:`TransitInputError` only when
    the file cannot be read or lacks a mapped column."""
    path = Path(path)
    report = CardsReport(file=path.name)
    con = duckdb.connect()
    with tempfile.TemporaryDirectory(prefix="cityhub-cards-") as tmp:
        src, report.encoding = _source(path, Path(tmp))
        _check_columns(con, src, mapping.source_columns(), path.name)
        _register_lookups(con, mapping)
        con.execute(f"CREATE TEMP TABLE parsed AS {taps_sql(src, mapping)}")
    report.rows_read = int(con.execute("SELECT count(*) FROM parsed").fetchall()[0][0])
    for reason, n in con.execute("SELECT reason, count(*) FROM parsed WHERE reason IS NOT NULL GROUP BY 1").fetchall():
        report.rejected[reason] = int(n)
        ex = con.execute("SELECT concat_ws(' | ', card_id, ts_raw, type_raw, stop_raw) FROM parsed WHERE reason = ? "
                         f"LIMIT {EXAMPLES}", [reason]).fetchall()
        report.examples[reason] = [r[0] for r in ex]
    report.unknown_types = {str(v): int(n) for v, n in con.execute(
        "SELECT coalesce(type_raw, ''), count(*) FROM parsed WHERE reason = 'unknown_type' GROUP BY 1 "
        "ORDER BY 2 DESC LIMIT 50").fetchall()}
    report.unknown_stops = {str(v): int(n) for v, n in con.execute(
        "SELECT stop_raw, count(*) FROM parsed WHERE reason = 'unknown_stop' GROUP BY 1 ORDER BY 2 DESC "
        "LIMIT 50").fetchall()}
    report.bad_fare = int(con.execute("SELECT count(*) FROM parsed WHERE reason IS NULL AND fare_fen IS NULL")
                          .fetchall()[0][0]) if mapping.fields.get("fare") else 0
    cols = ", ".join(TAPS.names)
    table = con.sql(f"SELECT DISTINCT {cols} FROM parsed WHERE reason IS NULL "
                    "ORDER BY card_id, ts, kind, mode, stop_id, route_id, vehicle_id, fare_fen").to_arrow_table().cast(TAPS)
    kept = con.execute("SELECT count(*) FROM parsed WHERE reason IS NULL").fetchall()[0][0]
    report.duplicates = int(kept) - table.num_rows
    report.rows_loaded = table.num_rows
    con.register("out", table)
    stats = con.execute("SELECT count(DISTINCT card_id), CAST(min(ts) AS VARCHAR), CAST(max(ts) AS VARCHAR) "
                        "FROM out").fetchall()[0]
    report.cards, report.first_ts, report.last_ts = int(stats[0]), stats[1], stats[2]
    report.by_type = {f"{m}/{k}": int(n) for m, k, n in
                      con.execute("SELECT mode, kind, count(*) FROM out GROUP BY 1, 2 ORDER BY 1, 2").fetchall()}
    return table, report


def load_taps(paths: Iterable[str | Path], mapping: CardMapping = SHENZHEN) -> tuple[pa.Table, list[CardsReport]]:
    """Several files: a file that cannot be read gets a report with its ``error`` (zh / en) and the others load.
    Rows duplicated across files are dropped too (counted on the last report)."""
    tables: list[pa.Table] = []
    reports: list[CardsReport] = []
    for p in paths:
        try:
            table, report = read_taps(p, mapping)
        except TransitInputError as exc:
            reports.append(CardsReport(file=Path(p).name, error=str(exc)))
            continue
        tables.append(table)
        reports.append(report)
    if not tables:
        return TAPS.empty_table(), reports
    con = duckdb.connect()
    con.register("t", pa.concat_tables(tables))
    out = con.sql(f"SELECT DISTINCT {', '.join(TAPS.names)} FROM t ORDER BY card_id, ts, kind, mode, stop_id, "
                  "route_id, vehicle_id, fare_fen").to_arrow_table().cast(TAPS)
    across = sum(t.num_rows for t in tables) - out.num_rows
    if across:
        last = [r for r in reports if r.error is None][-1]
        last.duplicates += across
    return out, reports


# ---------------------------------------------------------------------------------------------- AVL


def avl_sql(src: str, mapping: AvlMapping) -> str:
    f = mapping.fields

    def opt(name: str) -> str:
        return _col(f[name]) if f.get(name) else "CAST(NULL AS VARCHAR)"

    return f"""
        WITH m AS (
            SELECT {_col(f['vehicle_id'])} AS vehicle_id, {_col(f['ts'])} AS ts_raw,
                   TRY_CAST({_col(f['lat'])} AS DOUBLE) AS lat, TRY_CAST({_col(f['lon'])} AS DOUBLE) AS lon,
                   {opt('route_id')} AS route_id, TRY_CAST({opt('direction')} AS TINYINT) AS direction
            FROM {src})
        SELECT vehicle_id, {time_sql('ts_raw', mapping.time_format, mapping.timezone)} AS ts, lat, lon, route_id,
               direction, ts_raw
        FROM m"""


def read_avl(path: str | Path, mapping: AvlMapping) -> tuple[pa.Table, CardsReport]:
    """AVL pings → AVL table sorted by vehicle and time; rejects: ``missing_vehicle``, ``bad_time``,
    ``bad_coordinates`` (missing, out of range, or within 1° of (0, 0))."""
    path = Path(path)
    report = CardsReport(file=path.name)
    con = duckdb.connect()
    with tempfile.TemporaryDirectory(prefix="cityhub-avl-") as tmp:
        src, report.encoding = _source(path, Path(tmp))
        _check_columns(con, src, [c for c in mapping.fields.values() if c], path.name)
        con.execute(f"""CREATE TEMP TABLE parsed AS SELECT *,
            CASE WHEN vehicle_id IS NULL THEN 'missing_vehicle' WHEN ts IS NULL THEN 'bad_time'
                 WHEN lat IS NULL OR lon IS NULL OR abs(lat) > 90 OR abs(lon) > 180
                      OR (abs(lat) <= 1 AND abs(lon) <= 1) THEN 'bad_coordinates' END AS reason
            FROM ({avl_sql(src, mapping)})""")
    report.rows_read = int(con.execute("SELECT count(*) FROM parsed").fetchall()[0][0])
    for reason, n in con.execute("SELECT reason, count(*) FROM parsed WHERE reason IS NOT NULL GROUP BY 1").fetchall():
        report.rejected[reason] = int(n)
        report.examples[reason] = [r[0] for r in con.execute(
            "SELECT concat_ws(' | ', vehicle_id, ts_raw, lat, lon) FROM parsed WHERE reason = ? "
            f"LIMIT {EXAMPLES}", [reason]).fetchall()]
    table = con.sql(f"SELECT DISTINCT {', '.join(AVL.names)} FROM parsed WHERE reason IS NULL "
                    "ORDER BY vehicle_id, ts, lat, lon").to_arrow_table().cast(AVL)
    kept = con.execute("SELECT count(*) FROM parsed WHERE reason IS NULL").fetchall()[0][0]
    report.duplicates = int(kept) - table.num_rows
    report.rows_loaded = table.num_rows
    con.register("out", table)
    stats = con.execute("SELECT count(DISTINCT vehicle_id), CAST(min(ts) AS VARCHAR), CAST(max(ts) AS VARCHAR) "
                        "FROM out").fetchall()[0]
    report.cards, report.first_ts, report.last_ts = int(stats[0]), stats[1], stats[2]
    return table, report
