"""The same transit input rules on Apache Spark (PySpark, local mode or a cluster), for months of data.

Pure: imports nothing from the rest of CityHub but the transit modules whose rules it repeats. PySpark is an
optional dependency (``pip install 'cityhub[spark]'``; Java 17). What runs here, rule for rule as in the
single-machine path (a test checks that both give identical tables on a sample):

* :func:`hub_visits`, :func:`hub_stays`, :func:`hub_presence` — :mod:`cityhub.transit.hubs`;
* :func:`normalise_taps` — :func:`cityhub.transit.cards.read_taps` (trim, map, parse, reject with reasons, drop
  exact duplicates).

Times travel as epoch seconds of the local wall time (the session time zone is UTC, so Spark never shifts them).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from cityhub.transit.cards import SHENZHEN, CardMapping, CardsReport
from cityhub.transit.hubs import HUB, PRESENCE, STAYS, UNKNOWN, VISITS, HubParams
from cityhub.transit.ioreport import TransitInputError, sniff_encoding
from cityhub.transit.schema import TAPS

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession


def _pyspark() -> Any:
    try:
        import pyspark.sql.functions as F
        from pyspark.sql import SparkSession, Window
    except ImportError as exc:  # pragma: no cover - the dev extra installs it
        raise TransitInputError("未安装 PySpark:pip install 'cityhub[spark]'",
                                "PySpark is not installed: pip install 'cityhub[spark]'", "spark") from exc
    return F, SparkSession, Window


def spark_session(cores: int = 2, app: str = "cityhub-transit") -> SparkSession:
    """A local Spark session set up for these rules (UTC session time, no UI, few shuffle partitions)."""
    _, session, _ = _pyspark()
    return (session.builder.master(f"local[{cores}]").appName(app)
            .config("spark.ui.enabled", "false")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.shuffle.partitions", str(max(1, cores)))
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
            .config("spark.driver.extraJavaOptions", "-Duser.timezone=UTC")
            # GB18030 and the other Java charsets for CSV (Spark 4 otherwise takes UTF-8/16/32 and Latin-1 only)
            .config("spark.sql.legacy.javaCharsets", "true")
            .config("spark.ui.showConsoleProgress", "false")
            .getOrCreate())


def _to_epoch(table: pa.Table, *cols: str) -> pa.Table:
    for col in cols:
        i = table.schema.get_field_index(col)
        table = table.set_column(i, col, pc.cast(pc.cast(table.column(col), pa.timestamp("s")), pa.int64()))
    return table


def _from_epoch(table: pa.Table, mapping: dict[str, str]) -> pa.Table:
    for src, dst in mapping.items():
        i = table.schema.get_field_index(src)
        table = table.set_column(i, dst, pc.cast(table.column(src), pa.timestamp("s")))
    return table


# ---------------------------------------------------------------------------------------------- hubs


def pings_frame(spark: SparkSession, pings: pa.Table) -> DataFrame:
    """PINGS (Arrow) → a Spark frame (device_id, zone_id, e)."""
    t = _to_epoch(pings.select(["device_id", "zone_id", "ts"]), "ts").rename_columns(["device_id", "zone_id", "e"])
    return spark.createDataFrame(t)


def _in_hub(F: Any, params: HubParams, col: str = "zone_id") -> Column:
    if params.hub_zones is None:
        return F.lit(True)
    return F.col(col).isin(list(params.hub_zones))


def hub_visits(pings: DataFrame, params: HubParams) -> DataFrame:
    """Visits (device_id, visit_no, zone_id, start_e, end_e, pings) from (device_id, zone_id, e)."""
    F, _, Window = _pyspark()
    w = Window.partitionBy("device_id").orderBy("e", "zone_id")
    p = pings.select("device_id", "zone_id", "e")
    p = p.withColumn("pz", F.lag("zone_id").over(w)).withColumn("pe", F.lag("e").over(w))
    p = p.withColumn("new", F.when(F.col("pz").isNull() | (F.col("pz") != F.col("zone_id"))
                                   | (F.col("e") - F.col("pe") > int(params.gap_s)), 1).otherwise(0))
    p = p.withColumn("one", F.when((F.col("pz") == F.col("zone_id")) & (F.col("pe") == F.col("e")), 0)
                     .otherwise(1))
    p = p.withColumn("visit_no", F.sum("new").over(w.rowsBetween(Window.unboundedPreceding, Window.currentRow)))
    return p.groupBy("device_id", "visit_no").agg(
        F.min("zone_id").alias("zone_id"), F.min("e").alias("start_e"), F.max("e").alias("end_e"),
        F.sum("one").cast("long").alias("pings"))


def hub_stays(visits: DataFrame, params: HubParams) -> DataFrame:
    """Stays (device_id, stay_no, start_e, end_e, visits, first/last zone, origin/destination zone)."""
    F, _, Window = _pyspark()
    gap, window = int(params.gap_s), int(params.origin_window_s)
    w = Window.partitionBy("device_id").orderBy("start_e", "visit_no")
    a = (visits.withColumn("hub", _in_hub(F, params))
         .withColumn("prev_zone", F.lag("zone_id").over(w)).withColumn("prev_end", F.lag("end_e").over(w))
         .withColumn("prev_hub", F.lag("hub").over(w))
         .withColumn("next_zone", F.lead("zone_id").over(w)).withColumn("next_start", F.lead("start_e").over(w))
         .withColumn("next_hub", F.lead("hub").over(w)))
    b = (a.filter(F.col("hub"))
         .withColumn("new_stay", F.when(F.col("prev_hub").isNull() | ~F.col("prev_hub")
                                        | (F.col("start_e") - F.col("prev_end") > gap), 1).otherwise(0))
         .withColumn("last_of_stay", F.when(F.col("next_hub").isNull() | ~F.col("next_hub")
                                            | (F.col("next_start") - F.col("end_e") > gap), 1).otherwise(0)))
    c = b.withColumn("stay_no", F.sum("new_stay").over(w.rowsBetween(Window.unboundedPreceding, Window.currentRow)))
    came = (F.col("new_stay") == 1) & (F.col("prev_hub") == F.lit(False)) & \
        (F.col("start_e") - F.col("prev_end") <= window)
    went = (F.col("last_of_stay") == 1) & (F.col("next_hub") == F.lit(False)) & \
        (F.col("next_start") - F.col("end_e") <= window)
    return c.groupBy("device_id", "stay_no").agg(
        F.min("start_e").alias("start_e"), F.max("end_e").alias("end_e"), F.count(F.lit(1)).alias("visits"),
        F.min_by("zone_id", "start_e").alias("first_zone"), F.max_by("zone_id", "start_e").alias("last_zone"),
        F.coalesce(F.max(F.when(came, F.col("prev_zone"))), F.lit(UNKNOWN)).alias("origin_zone"),
        F.coalesce(F.max(F.when(went, F.col("next_zone"))), F.lit(UNKNOWN)).alias("destination_zone"))


def _presence(F: Any, src: DataFrame, zone: Column, d: int) -> DataFrame:
    s = src.select("device_id", zone.alias("zone_id"), F.floor(F.col("start_e") / d).cast("long").alias("i0"),
                   F.floor(F.col("end_e") / d).cast("long").alias("i1"))
    x = s.select("device_id", "zone_id", F.explode(F.sequence("i0", "i1")).alias("i"))
    pres = x.groupBy("zone_id", "i").agg(F.countDistinct("device_id").alias("present"))
    arr = s.groupBy("zone_id", F.col("i0").alias("i")).agg(F.count(F.lit(1)).alias("arrivals"))
    dep = s.groupBy("zone_id", F.col("i1").alias("i")).agg(F.count(F.lit(1)).alias("departures"))
    grid = s.groupBy("zone_id").agg(F.min("i0").alias("a"), F.max("i1").alias("b")) \
        .select("zone_id", F.explode(F.sequence("a", "b")).alias("i"))
    out = grid.join(pres, ["zone_id", "i"], "left").join(arr, ["zone_id", "i"], "left") \
        .join(dep, ["zone_id", "i"], "left")
    return out.select((F.col("i") * d).alias("interval_e"), "zone_id",
                      F.coalesce("present", F.lit(0)).cast("long").alias("present"),
                      F.coalesce("arrivals", F.lit(0)).cast("long").alias("arrivals"),
                      F.coalesce("departures", F.lit(0)).cast("long").alias("departures"))


def hub_presence(visits: DataFrame, stays: DataFrame, params: HubParams) -> DataFrame:
    """Present / arrivals / departures per interval per hub zone, and hub-wide (zone ``*``)."""
    F, _, _ = _pyspark()
    d = int(params.interval_s)
    per_zone = _presence(F, visits.filter(_in_hub(F, params)), F.col("zone_id"), d)
    return per_zone.unionByName(_presence(F, stays, F.lit(HUB), d))


def hubs_to_arrow(visits: DataFrame, stays: DataFrame, presence: DataFrame,
                  params: HubParams) -> tuple[pa.Table, pa.Table, pa.Table]:
    """The three frames as the Arrow tables :mod:`cityhub.transit.hubs` returns, in the same order."""
    v = visits.toArrow()
    v = v.append_column("dwell_s", pc.subtract(v.column("end_e"), v.column("start_e")))
    v = _from_epoch(v, {"start_e": "start", "end_e": "end"}).select(VISITS.names)
    v = v.sort_by([("device_id", "ascending"), ("visit_no", "ascending")]).cast(VISITS)
    s = stays.toArrow()
    dwell = pc.subtract(s.column("end_e"), s.column("start_e"))
    s = s.append_column("dwell_s", dwell).append_column(
        "stayed", pc.greater_equal(dwell, pa.scalar(int(params.dwell_threshold_s), pa.int64())))
    s = _from_epoch(s, {"start_e": "start", "end_e": "end"}).select(STAYS.names)
    s = s.sort_by([("device_id", "ascending"), ("stay_no", "ascending")]).cast(STAYS)
    p = _from_epoch(presence.toArrow(), {"interval_e": "interval_start"}).select(PRESENCE.names)
    p = p.sort_by([("interval_start", "ascending"), ("zone_id", "ascending")]).cast(PRESENCE)
    return v, s, p


# ---------------------------------------------------------------------------------------------- cards

_JAVA = {"%Y": "yyyy", "%m": "M", "%d": "d", "%H": "H", "%M": "m", "%S": "s", "%y": "yy", "%%": "%"}


def java_time_pattern(fmt: str) -> str:
    """A strptime format as a Spark datetime pattern: 1- or 2-digit fields where a separator follows (as DuckDB's
    strptime reads them), fixed 2-digit fields where numbers run together (``%Y%m%d``)."""
    out: list[str] = []
    tokens = re.findall(r"%.|[A-Za-z]+|[^%A-Za-z]+", fmt)
    numeric = {"%Y", "%m", "%d", "%H", "%M", "%S", "%y"}
    for k, token in enumerate(tokens):
        if token.startswith("%"):
            if token not in _JAVA:
                raise TransitInputError(f"Spark 路径不支持时间格式 {token}", f"The Spark path does not support {token}",
                                        "time_format")
            glued = token in numeric and ((k + 1 < len(tokens) and tokens[k + 1] in numeric)
                                          or (k > 0 and tokens[k - 1] in numeric))
            pattern = _JAVA[token]
            out.append(pattern * 2 if glued and len(pattern) == 1 else pattern)
        elif token[0].isalpha():
            out.append("'" + token + "'")
        else:
            out.append(token.replace("'", "''"))
    return "".join(out)


def _ts(F: Any, col: Column, mapping: CardMapping) -> Column:
    if mapping.time_format in ("epoch_s", "epoch_ms"):
        div = 1000 if mapping.time_format == "epoch_ms" else 1
        secs = F.floor(col.try_cast("double") / div)
        local = F.from_utc_timestamp(F.timestamp_seconds(secs), mapping.timezone)
        return F.unix_timestamp(local)
    fmts = [mapping.time_format] if isinstance(mapping.time_format, str) else list(mapping.time_format)
    parsed = F.coalesce(*[F.try_to_timestamp(col, F.lit(java_time_pattern(f))) for f in fmts])
    return F.unix_timestamp(parsed)


def normalise_taps(spark: SparkSession, path: str, mapping: CardMapping = SHENZHEN) -> tuple[pa.Table, CardsReport]:
    """:func:`cityhub.transit.cards.read_taps` in Spark: same rules, same table, same counts (examples are
    not collected)."""
    F, _, _ = _pyspark()
    if path.lower().endswith(".parquet"):
        df = spark.read.parquet(path)
        enc = None
    else:
        enc = sniff_encoding(path)
        df = spark.read.option("header", True).option("encoding", enc.upper()).csv(path)
    missing = [c for c in mapping.source_columns() if c not in df.columns]
    if missing:
        raise TransitInputError(f"{path} 缺少列:{', '.join(missing)}", f"{path} lacks the column(s) {', '.join(missing)}",
                                "columns")

    def src(c: str) -> Column:
        t = F.trim(F.col(f"`{c}`").cast("string"))
        return F.when(t == "", None).otherwise(t)

    raw = df.select(*[src(c).alias(f"src_{c}") for c in mapping.source_columns()]).cache()
    types = spark.createDataFrame(pa.table({"type_raw": list(mapping.types),
                                            "mode": [v[0] for v in mapping.types.values()],
                                            "kind": [v[1] for v in mapping.types.values()]}))
    f = mapping.fields

    def field(spec: Any) -> Column:
        if spec is None:
            return F.lit(None).cast("string")
        if isinstance(spec, str):
            return F.col(f"src_{spec}")
        expr: Column = F.lit(None).cast("string")
        for k, (m, c) in enumerate(spec.items()):
            expr = (F.when(F.col("mode") == m, F.col(f"src_{c}")) if k == 0
                    else expr.when(F.col("mode") == m, F.col(f"src_{c}")))
        return expr

    t = raw.withColumn("type_raw", F.col(f"src_{f['type']}")).join(F.broadcast(types), "type_raw", "left")
    fare = (F.lit(None).cast("double") if f.get("fare") is None
            else F.col("fare_txt").try_cast("double"))
    m = t.select(F.col(f"src_{f['card_id']}").alias("card_id"), F.col(f"src_{f['ts']}").alias("ts_raw"),
                 "type_raw", "mode", "kind", field(f.get("stop_id")).alias("stop_raw"),
                 field(f.get("route_id")).alias("route_id"), field(f.get("vehicle_id")).alias("vehicle_id"),
                 field(f.get("fare")).alias("fare_txt"))
    m = m.withColumn("ts", _ts(F, F.col("ts_raw"), mapping)).withColumn("fare_raw", fare)
    rows = [(mode, n, s) for mode, names in mapping.stops.items() for n, s in names.items()]
    stops = spark.createDataFrame(pa.table({"mode": pa.array([r[0] for r in rows], pa.string()),
                                            "stop_raw": pa.array([r[1] for r in rows], pa.string()),
                                            "stop_id": pa.array([r[2] for r in rows], pa.string())}))
    looked = F.col("mode").isin(list(mapping.stops)) if mapping.stops else F.lit(False)
    j = m.join(F.broadcast(stops), ["mode", "stop_raw"], "left")
    parsed = j.select(
        "card_id", "ts", "mode", "kind",
        F.when(F.col("stop_id").isNotNull(), F.col("stop_id")).when(looked, F.lit(None))
        .otherwise(F.col("stop_raw")).alias("stop_id"),
        "route_id", "vehicle_id",
        F.round(F.col("fare_raw") * float(mapping.fare_scale)).cast("int").alias("fare_fen"),
        F.when(F.col("card_id").isNull(), "missing_card").when(F.col("ts").isNull(), "bad_time")
        .when(F.col("mode").isNull(), "unknown_type")
        .when(F.col("stop_id").isNull() & F.col("stop_raw").isNotNull() & looked, "unknown_stop").alias("reason"),
    ).cache()
    report = CardsReport(file=path.rsplit("/", 1)[-1], encoding=enc)
    report.rows_read = raw.count()
    report.rejected = {r["reason"]: int(r["count"]) for r in
                       parsed.filter(F.col("reason").isNotNull()).groupBy("reason").count().collect()}
    kept = parsed.filter(F.col("reason").isNull()).select(*TAPS.names)
    n_kept = kept.count()
    report.bad_fare = kept.filter(F.col("fare_fen").isNull()).count() if f.get("fare") else 0
    out = kept.distinct()
    table = out.toArrow()
    table = _from_epoch(table, {"ts": "ts"}).select(TAPS.names)
    table = table.sort_by([(c, "ascending") for c in
                           ("card_id", "ts", "kind", "mode", "stop_id", "route_id", "vehicle_id", "fare_fen")]).cast(TAPS)
    report.rows_loaded = table.num_rows
    report.duplicates = n_kept - table.num_rows
    report.cards = len(pc.unique(table.column("card_id"))) if table.num_rows else 0
    raw.unpersist()
    parsed.unpersist()
    return table, report
