"""The same transit input rules on Apache Spark (PySpark, local mode or a cluster), for months of data.

Pure: imports nothing from the rest of CityHub but the transit modules whose rules it repeats. PySpark is an
optional dependency (``pip install 'cityhub[spark]'``; Java 17). What runs here, rule for rule as in the
single-machine path (a test checks that both give identical tables on a sample):

* :func:`hub_visits`, :func:`hub_stays`, :func:`hub_presence` — :mod:`cityhub.transit.hubs`;
* :func:`normalise_taps` — :func:`cityhub.transit.cards.read_taps` (trim, map, parse, reject with reasons, drop
  exact duplicates);
* :func:`chain` — :func:`cityhub.transit.chaining.infer` (destination inference by trip chaining; the pipeline
  runs it with ``engine="spark"``).

Times travel as epoch seconds of the local wall time (the session time zone is UTC, so Spark never shifts them).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cityhub.transit.cards import SHENZHEN, CardMapping, CardsReport
from cityhub.transit.chaining import INFERRED, OBSERVED, Destinations, StageInput
from cityhub.transit.hubs import HUB, PRESENCE, STAYS, UNKNOWN, VISITS, HubParams
from cityhub.transit.ioreport import TransitInputError, sniff_encoding
from cityhub.transit.network import Network
from cityhub.transit.params import TransitParams
from cityhub.transit.schema import TAPS
from cityhub.transit.spatial import EARTH_R

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


def active_session() -> SparkSession | None:
    """The Spark session this process already runs, if any."""
    _, session, _ = _pyspark()
    active: SparkSession | None = session.getActiveSession()
    return active


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


# ---------------------------------------------------------------------------------------------- trip chaining

_BIG_TS = np.iinfo(np.int64).max // 2  # chaining._targets: the last stage of the day has no time bound


def _metres_sql(F: Any, lat1: Column, lon1: Column, lat2: Column, lon2: Column) -> Column:
    """:func:`cityhub.transit.spatial.metres` as a Spark expression (same formula, same operation order)."""
    phi = F.radians((lat1 + lat2) * 0.5)
    dx = F.radians(lon2 - lon1) * F.cos(phi)
    dy = F.radians(lat2 - lat1)
    return F.lit(EARTH_R) * F.sqrt(dx * dx + dy * dy)


def network_frames(spark: SparkSession, net: Network) -> dict[str, DataFrame]:
    """The network as small Spark frames: ``stops`` (stop, lat, lon, x, y, is_metro), ``ps`` (pattern, pos,
    stop, dist: every position of every pattern), ``route_pat`` (route, cand, pattern; cand 1/2 = direction 0/1)."""
    n_pat = net.pat_ptr.size - 1
    lens = np.diff(net.pat_ptr)
    pat_of_pos = np.repeat(np.arange(n_pat, dtype=np.int64), lens)
    pos = np.arange(net.ps_stop.size, dtype=np.int64) - np.repeat(net.pat_ptr[:-1], lens)
    stops = pa.table({"stop": np.arange(net.n_stops, dtype=np.int64), "lat": net.lat, "lon": net.lon,
                      "x": net.x.astype(np.float32), "y": net.y.astype(np.float32), "is_metro": net.is_metro})
    ps = pa.table({"pattern": pat_of_pos, "pos": pos, "stop": net.ps_stop.astype(np.int64),
                   "dist": net.ps_dist.astype(np.float64)})
    r, d = np.nonzero(net.route_pat >= 0)
    route_pat = pa.table({"route": r.astype(np.int64), "cand": (d + 1).astype(np.int64),
                          "pattern": net.route_pat[r, d].astype(np.int64)})
    return {"stops": spark.createDataFrame(stops), "ps": spark.createDataFrame(ps),
            "route_pat": spark.createDataFrame(route_pat)}


def stages_frame(spark: SparkSession, s: StageInput) -> DataFrame:
    """A chaining input (:class:`cityhub.transit.chaining.StageInput`) as a Spark frame with its row number ``i``."""
    n = s.cd.size
    t = pa.table({"i": np.arange(n, dtype=np.int64), "cd": s.cd.astype(np.int64),
                  "board_ts": s.board_ts.astype(np.int64), "is_metro": s.is_metro.astype(bool),
                  "board_stop": s.board_stop.astype(np.int64), "pattern": s.pattern.astype(np.int64),
                  "seq": s.seq.astype(np.int64), "route": s.route.astype(np.int64),
                  "obs_alight": s.obs_alight.astype(np.int64), "obs_alight_ts": s.obs_alight_ts.astype(np.int64),
                  "reason": pa.array(s.reason.tolist(), pa.string())})
    return spark.createDataFrame(t)


def chain(stages: DataFrame, frames: dict[str, DataFrame], params: TransitParams) -> DataFrame:
    """:func:`cityhub.transit.chaining.infer` in Spark DataFrame operations (window functions and joins, no
    per-card Python): returns (i, stop, ts, walk_m, source, reason) per stage, the same values rule for rule.

    Ties break as in numpy's ``argmin`` (lowest pattern position, lowest station index); the bus nearest-stop
    search compares squared float32 metres as the single-machine path does."""
    F, _, Window = _pyspark()
    col, lit = F.col, F.lit
    stops = frames["stops"]
    w = Window.partitionBy("cd").orderBy("i")
    whole = Window.partitionBy("cd")
    st = (stages
          .withColumn("last", F.lead("i").over(w).isNull())
          .withColumn("target", F.when(col("last"), F.first("board_stop").over(w))
                      .otherwise(F.lead("board_stop").over(w)))
          .withColumn("target_ts", F.when(col("last"), lit(int(_BIG_TS)))
                      .otherwise(F.lead("board_ts").over(w)))
          .withColumn("counts", F.count(lit(1)).over(whole)))
    obs = col("is_metro") & (col("obs_alight") >= 0) & (col("reason") == "")
    todo = (~obs & (col("reason") == "") & (col("counts") >= 2) & (col("board_stop") >= 0) & (col("target") >= 0)
            & (col("target") != col("board_stop")))
    tgt = stops.select(col("stop").alias("target"), col("lat").alias("tlat"), col("lon").alias("tlon"),
                       col("x").alias("tx"), col("y").alias("ty"))
    st = st.withColumn("todo", todo).join(F.broadcast(tgt), "target", "left")

    # bus: the known pattern (cand 0), else both directions of the route (cand 1, 2) at the boarding stop's
    # first position
    bus = st.filter(col("todo") & ~col("is_metro")).select("i", "board_ts", "target_ts", "board_stop", "pattern",
                                                            "seq", "route", "tlat", "tlon", "tx", "ty")
    ps = frames["ps"]
    first_pos = ps.groupBy("pattern", "stop").agg(F.min("pos").alias("q"))
    known = bus.filter((col("pattern") >= 0) & (col("seq") >= 0)).select(
        "i", lit(0).cast("long").alias("cand"), col("pattern").alias("p"), col("seq").alias("q"))
    rp = frames["route_pat"].select("route", "cand", col("pattern").alias("p"))
    fp = first_pos.select(col("pattern").alias("p"), col("stop").alias("board_stop"), "q")
    unknown = (bus.filter((col("pattern") < 0) & (col("route") >= 0)).select("i", "route", "board_stop")
               .join(F.broadcast(rp), "route").join(F.broadcast(fp), ["p", "board_stop"])
               .select("i", "cand", "p", "q"))
    cands = known.unionByName(unknown).join(bus.select("i", "board_ts", "target_ts", "tlat", "tlon", "tx", "ty"),
                                            "i")
    base = ps.select(col("pattern").alias("p"), col("pos").alias("q"), col("dist").alias("dist0"))
    after = ps.select(col("pattern").alias("p"), col("pos").alias("k"), "stop", "dist").join(
        F.broadcast(stops.select("stop", "lat", "lon", "x", "y")), "stop")
    c = cands.join(F.broadcast(base), ["p", "q"]).join(F.broadcast(after),
                                                       (cands["p"] == after["p"]) & (col("k") > col("q")))
    dx = (col("x") - col("tx"))
    dy = (col("y") - col("ty"))
    c = c.select(cands["i"], "cand", "board_ts", "target_ts", "tlat", "tlon", "k", "stop", "lat", "lon",
                 (col("dist") - col("dist0")).alias("ride"), (dx * dx + dy * dy).alias("d2"))
    pick = c.groupBy("i", "cand").agg(F.min(F.struct("d2", "k", "stop", "lat", "lon", "ride", "board_ts",
                                                     "target_ts", "tlat", "tlon")).alias("m"))
    speed = params.bus_speed_max_kmh / 3.6
    pick = pick.select("i", "cand", col("m.stop").alias("stop"), col("m.ride").alias("ride"),
                       _metres_sql(F, col("m.lat"), col("m.lon"), col("m.tlat"), col("m.tlon")).alias("w"),
                       (col("m.board_ts") + col("m.ride") / lit(speed)
                        <= col("m.target_ts") + lit(float(params.min_activity_s))).alias("feasible"))
    best_bus = pick.filter("feasible").groupBy("i").agg(F.min(F.struct("w", "cand", "stop", "ride")).alias("b")) \
        .select("i", col("b.stop").alias("b_stop"), col("b.w").alias("b_walk"), col("b.ride").alias("b_ride"))
    flags = (cands.select("i", lit(True).alias("any_pattern")).distinct()
             .join(pick.select("i", lit(True).alias("any_after")).distinct(), "i", "left"))

    # metro without a tap-out: the station nearest the target (not the boarding station)
    stations = stops.filter("is_metro").select(col("stop").alias("station"), col("lat").alias("slat"),
                                               col("lon").alias("slon"))
    board = stops.select(col("stop").alias("board_stop"), col("lat").alias("blat"), col("lon").alias("blon"))
    met = (st.filter(col("todo") & col("is_metro")).select("i", "board_stop", "board_ts", "target_ts", "tlat", "tlon")
           .join(F.broadcast(board), "board_stop").crossJoin(F.broadcast(stations))
           .filter(col("station") != col("board_stop"))
           .select("i", "station", "board_ts", "target_ts", "blat", "blon", "slat", "slon",
                   _metres_sql(F, col("slat"), col("slon"), col("tlat"), col("tlon")).alias("dm")))
    best_met = met.groupBy("i").agg(F.min(F.struct("dm", "station", "board_ts", "target_ts", "blat", "blon",
                                                   "slat", "slon")).alias("m"))
    ride_m = _metres_sql(F, col("m.blat"), col("m.blon"), col("m.slat"), col("m.slon"))
    best_met = best_met.select("i", col("m.station").alias("m_stop"), col("m.dm").alias("m_walk"),
                               ride_m.alias("m_ride"),
                               (col("m.board_ts") + ride_m / lit(params.metro_speed_max_kmh / 3.6)
                                > col("m.target_ts")).alias("late"))

    a = st.join(best_bus, "i", "left").join(flags, "i", "left").join(best_met, "i", "left")
    is_bus = ~col("is_metro")
    walk = F.when(is_bus, col("b_walk")).when(~col("late"), col("m_walk"))
    ride = F.when(is_bus, col("b_ride")).otherwise(col("m_ride"))
    best = F.when(is_bus, col("b_stop")).otherwise(col("m_stop"))
    found = col("todo") & walk.isNotNull() & (walk <= lit(float(params.max_walk_m)))
    reason = (F.when(obs, lit(""))
              .when(col("reason") != "", col("reason"))
              .when(col("counts") < 2, lit("single_tap"))
              .when(col("board_stop") < 0, lit("boarding_unknown"))
              .when(col("target") < 0, lit("next_boarding_unknown"))
              .when(col("target") == col("board_stop"), lit("same_stop"))
              .when(is_bus & col("any_pattern").isNull(), lit("no_route_pattern"))
              .when(is_bus & col("any_after").isNull(), lit("no_stop_after_boarding"))
              .when(is_bus & col("b_walk").isNull(), lit("alighting_after_next_boarding"))
              .when(col("is_metro") & col("late"), lit("alighting_after_next_boarding"))
              .when(found, lit(""))
              .when(walk.isNotNull(), lit("next_boarding_too_far"))
              .otherwise(lit("")))
    typical = F.when(col("is_metro"), lit(params.metro_speed_kmh / 3.6)).otherwise(lit(params.bus_speed_kmh / 3.6))
    return a.select(
        "i",
        F.when(obs, col("obs_alight")).when(found, best).otherwise(lit(-1)).cast("long").alias("stop"),
        F.when(obs, col("obs_alight_ts")).when(found, col("board_ts") + (ride / typical).cast("long"))
        .otherwise(lit(0)).cast("long").alias("ts"),
        F.when(found, walk).cast("double").alias("walk_m"),
        F.when(obs, lit(OBSERVED)).when(found, lit(INFERRED)).otherwise(lit("")).alias("source"),
        reason.alias("reason"))


def infer(spark: SparkSession, s: StageInput, net: Network, params: TransitParams,
          frames: dict[str, DataFrame] | None = None) -> Destinations:
    """:func:`chain` on a single-machine chaining input, collected back as
    :class:`cityhub.transit.chaining.Destinations` (the pipeline's ``engine="spark"``)."""
    if s.cd.size == 0:
        from cityhub.transit.chaining import infer as local_infer

        return local_infer(s, net, params)
    frames = frames or network_frames(spark, net)
    out = chain(stages_frame(spark, s), frames, params).toArrow().sort_by("i")
    walk = np.asarray(pc.fill_null(out.column("walk_m"), np.nan).to_numpy(), dtype=np.float64)
    return Destinations(stop=np.asarray(out.column("stop").to_numpy(), dtype=np.int64),
                        ts=np.asarray(out.column("ts").to_numpy(), dtype=np.int64), walk_m=walk,
                        source=np.asarray(out.column("source").to_pylist(), dtype=object),
                        reason=np.asarray(out.column("reason").to_pylist(), dtype=object))
