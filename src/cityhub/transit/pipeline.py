"""One run of the transit rules: taps → stages (with boarding and alighting stops) → journeys, and a report.

``run(taps, stops, route_stops, avl, params)`` checks the inputs (missing columns are a clear bilingual
error; bad rows are counted and set aside, never fatal), sorts, drops duplicate taps, splits service days
(starting 04:00), places bus boardings from AVL, pairs metro tap-in/tap-out, infers destinations by trip
chaining and links stages into journeys. Every step works on whole columns (numpy/pyarrow).
Pure: imports nothing from the rest of CityHub but the transit modules.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cityhub.transit import boarding, chaining, journeys, schema
from cityhub.transit.network import Network, build, codes, encode, encode_sorted, take
from cityhub.transit.params import TransitParams

Progress = Callable[[str, int, int], None]
_MODES = pa.array(["bus", "metro"])
#: the journeys output
JOURNEYS = pa.schema([("journey_id", pa.int64()), ("card_id", pa.string()), ("service_day", pa.date32()),
                      ("start_ts", pa.timestamp("s")), ("end_ts", pa.timestamp("s")), ("origin_stop", pa.string()),
                      ("destination_stop", pa.string()), ("stages", pa.int32()), ("modes", pa.string()),
                      ("complete", pa.bool_())])
STEPS = ("check", "taps", "boarding", "stages", "chaining", "journeys", "tables")


class TransitInputError(ValueError):
    """An input the pipeline cannot run on at all (missing columns, wrong types); carries zh + en text."""

    def __init__(self, message: str, message_en: str, fields: dict[str, list[str]] | None = None) -> None:
        super().__init__(f"{message} / {message_en}")
        self.message = message
        self.message_en = message_en
        self.fields = fields or {}


REQUIRED = {
    "taps": ("card_id", "ts", "mode", "kind"),
    "stops": ("stop_id", "lat", "lon", "mode"),
    "route_stops": ("route_id", "direction", "seq", "stop_id"),
    "avl": ("vehicle_id", "ts", "lat", "lon", "route_id", "direction"),
}
SCHEMAS = {"taps": schema.TAPS, "stops": schema.STOPS, "route_stops": schema.ROUTE_STOPS, "avl": schema.AVL}


def conform(name: str, table: pa.Table) -> pa.Table:
    """Check the required columns of input ``name`` and cast to the contract's types (optional columns
    missing are added as nulls). Raises :class:`TransitInputError` naming every missing column."""
    missing = [c for c in REQUIRED[name] if c not in table.column_names]
    if missing:
        raise TransitInputError(f"{name} 缺少必需的列:{', '.join(missing)}",
                                f"{name} lacks required columns: {', '.join(missing)}", {name: missing})
    cols = []
    bad: list[str] = []
    target = SCHEMAS[name]
    for f in target:
        if f.name in table.column_names:
            col = table.column(f.name)
            try:
                # timestamps in ms/us/ns (as Parquet gives them back) are truncated to whole seconds
                truncate = pa.types.is_timestamp(f.type) and pa.types.is_timestamp(col.type)
                col = col.cast(f.type, safe=not truncate) if col.type != f.type else col
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                bad.append(f.name)
                continue
        else:
            col = pa.nulls(table.num_rows, f.type)
        cols.append(col)
    if bad:
        raise TransitInputError(f"{name} 的列类型无法转换:{', '.join(bad)}",
                                f"{name} has columns of the wrong type: {', '.join(bad)}", {name: bad})
    return pa.table(cols, schema=target.with_nullable(True) if hasattr(target, "with_nullable") else
                    pa.schema([f.with_nullable(True) for f in target]))


@dataclass
class Result:
    stages: pa.Table
    journeys: pa.Table
    report: dict[str, Any]
    network: Network = field(repr=False)


def _np(col: pa.ChunkedArray | pa.Array, fill: Any) -> np.ndarray:
    return np.asarray(pc.fill_null(col, fill).to_numpy(zero_copy_only=False))


def run(taps: pa.Table, stops: pa.Table, route_stops: pa.Table, avl: pa.Table | None = None,
        params: TransitParams | None = None, progress: Progress | None = None,
        chunk_taps: int = 2_000_000, spark: Any = None) -> Result:
    """``spark``: a SparkSession to run destination inference (trip chaining) on Spark
    (:func:`cityhub.transit.spark.chain`, the same rules) instead of numpy; everything else runs here."""
    params = params or TransitParams()
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    report: dict[str, Any] = {"params": params.to_dict()}

    def step(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 3)
        clock = now
        if progress:
            progress(name, STEPS.index(name) + 1, len(STEPS))

    taps = conform("taps", taps)
    stops = conform("stops", stops)
    route_stops = conform("route_stops", route_stops)
    avl = conform("avl", avl if avl is not None else SCHEMAS["avl"].empty_table())
    net = build(stops, route_stops)
    step("check")

    # ---------------------------------------------------------------- taps: clean, sort, dedupe, days
    n_in = taps.num_rows
    card, card_dict = encode_sorted(taps.column("card_id"))
    ts_null = np.asarray(taps.column("ts").is_null().to_numpy(zero_copy_only=False), dtype=bool)
    ts = _np(taps.column("ts").cast(pa.int64()), 0).astype(np.int64)
    is_metro = _np(pc.equal(taps.column("mode"), "metro"), False).astype(bool)
    is_bus = _np(pc.equal(taps.column("mode"), "bus"), False).astype(bool)
    kind = codes(taps.column("kind"), pa.array(list(schema.TAP_KINDS)))
    valid_kind = (is_bus & (kind == 0)) | (is_metro & (kind >= 1))
    good = (card >= 0) & ~ts_null & valid_kind
    dropped = Counter({"no_card_or_time": int(((card < 0) | ts_null).sum()),
                       "bad_mode_or_kind": int(((card >= 0) & ~ts_null & ~valid_kind).sum())})
    stop_col = taps.column("stop_id")
    stop = codes(stop_col, net.stop_ids)
    stop_given = ~np.asarray(stop_col.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    unknown_stop = stop_given & (stop < 0)
    route = codes(taps.column("route_id"), net.route_ids)
    veh, veh_dict = encode(taps.column("vehicle_id"))
    # input order problems (reported, then fixed by sorting)
    same_card = card[1:] == card[:-1]
    report["unsorted_rows"] = int((same_card & (ts[1:] < ts[:-1])).sum())
    order = np.flatnonzero(good)
    order = order[np.lexsort((kind[order], ts[order], card[order]))]
    card, ts, is_metro, kind, stop, route, veh, unknown_stop = _sel(
        order, card, ts, is_metro, kind, stop, route, veh, unknown_stop)
    # duplicates: same card, kind, vehicle (bus) or stop, within the window
    place = np.where(is_metro, stop, np.where(veh >= 0, veh, stop))
    dup = np.zeros(order.size, dtype=bool)
    if order.size > 1:
        dup[1:] = ((card[1:] == card[:-1]) & (kind[1:] == kind[:-1]) & (place[1:] == place[:-1])
                   & (ts[1:] - ts[:-1] <= params.duplicate_window_s))
    report["duplicate_taps"] = int(dup.sum())
    keep = ~dup
    order, card, ts, is_metro, kind, stop, route, veh, unknown_stop = _sel(
        keep, order, card, ts, is_metro, kind, stop, route, veh, unknown_stop)
    n = order.size
    del ts_null, is_bus, valid_kind, good, stop_given, same_card, stop_col, place, dup, keep, order, taps
    day = (ts - schema.SERVICE_DAY_START_HOUR * 3600) // 86400
    new_cd = np.ones(n, dtype=bool)
    if n > 1:
        new_cd[1:] = (card[1:] != card[:-1]) | (day[1:] != day[:-1])
    cd = np.cumsum(new_cd) - 1
    taps_per_cd = np.bincount(cd)[cd] if n else np.zeros(0, np.int64)
    busy = taps_per_cd > params.card_day_max_taps
    report["taps"] = {"input": n_in, "dropped": dict(dropped), "used": int(n),
                      "unknown_stop_ids": int(unknown_stop.sum()),
                      "card_days": int(new_cd.sum()), "cards": len(card_dict),
                      "card_days_too_many_taps": int(np.unique(cd[busy]).size)}
    step("taps")

    # ---------------------------------------------------------------- bus boardings from AVL
    fx = boarding.snap(avl, net, params)
    del avl  # the fixes are all the rest needs (the caller may drop its table too)
    bus_rows = np.flatnonzero(~is_metro)
    vehicle_col = take(veh_dict, veh[bus_rows])
    b = boarding.infer(fx, net, vehicle_col, ts[bus_rows], stop[bus_rows], route[bus_rows], params)
    board_stop = stop.copy()
    pattern = np.full(n, -1, dtype=np.int64)
    seq = np.full(n, -1, dtype=np.int64)
    ts_corr = ts.copy()
    board_reason = np.full(n, "", dtype=object)
    board_stop[bus_rows] = b.stop
    pattern[bus_rows] = b.pattern
    seq[bus_rows] = b.seq
    ts_corr[bus_rows] = b.ts
    board_reason[bus_rows] = np.where((b.stop < 0) & unknown_stop[bus_rows], "unknown_stop", b.reason)
    from_avl = (stop[bus_rows] < 0) & (b.stop >= 0)
    report["boarding"] = {**fx.counts, "bus_taps": int(bus_rows.size),
                          "stop_on_tap": int((stop[bus_rows] >= 0).sum()),
                          "placed_from_avl": int(from_avl.sum()),
                          "direction_known": int((b.pattern >= 0).sum()),
                          "unplaced": dict(Counter(b.reason[b.stop < 0].tolist())),
                          "vehicles_clock_corrected": len(b.offsets),
                          "clock_offsets_s": {k: v for k, v in sorted(b.offsets.items())[:200]}}
    step("boarding")

    # ---------------------------------------------------------------- stages, chaining, journeys by card chunks
    # card-days are independent: work through chunks of about `chunk_taps` taps (whole card-days) so the
    # working arrays stay small; the outputs are concatenated Arrow tables
    i32 = np.int32
    taps_arrays = {"card": card.astype(i32), "ts": ts, "ts_corr": ts_corr, "is_metro": is_metro,
                   "kind": kind.astype(np.int8), "stop": stop.astype(i32), "route": route.astype(i32),
                   "veh": veh.astype(i32), "pattern": pattern.astype(i32), "seq": seq.astype(i32),
                   "board_stop": board_stop.astype(i32), "board_reason": board_reason,
                   "unknown_stop": unknown_stop, "busy": busy, "cd": cd.astype(np.int64), "day": day.astype(i32)}
    del card, ts, ts_corr, is_metro, kind, stop, route, veh, pattern, seq, board_stop, board_reason
    del unknown_stop, busy, day, b, fx
    cd_starts = np.flatnonzero(new_cd)
    cuts = [0]
    while cuts[-1] < n:
        k = int(np.searchsorted(cd_starts, cuts[-1] + max(chunk_taps, 1)))
        cuts.append(int(cd_starts[k]) if k < cd_starts.size else n)
    acc = _Acc()
    acc.spark = spark
    stage_parts, journey_parts = [], []
    for lo, hi in itertools.pairwise(cuts):
        part = {k: v[lo:hi] for k, v in taps_arrays.items()}
        part["cd"] = part["cd"] - part["cd"][0]
        st_t, j_t = _chunk(part, net, params, card_dict, veh_dict, acc, timings)
        stage_parts.append(st_t)
        journey_parts.append(j_t)
    for name in ("stages", "chaining", "journeys", "tables"):
        timings[name] = round(timings.get(name, 0.0), 3)
        if progress:
            progress(name, STEPS.index(name) + 1, len(STEPS))
    stages = pa.concat_tables(stage_parts) if stage_parts else _chunk_empty(net)[0]
    j_tab = pa.concat_tables(journey_parts) if journey_parts else _chunk_empty(net)[1]
    report["chunks"] = len(stage_parts)
    report["engine"] = "spark" if spark is not None else "numpy"
    report["metro"] = acc.metro
    by_mode = {name: {"stages": acc.mode_stages[name], "with_destination": acc.mode_has[name],
                      "rate": _rate(acc.mode_has[name], acc.mode_stages[name])} for name in ("bus", "metro")}
    report["stages"] = {
        "stages": acc.stages, "with_destination": acc.has, "observed": acc.observed, "inferred": acc.inferred,
        "rate_all": _rate(acc.has, acc.stages),
        "multi_tap_stages": acc.multi, "rate_multi_tap": _rate(acc.multi_has, acc.multi),
        "by_mode": by_mode,
        "reasons": {k: {"count": v, "zh": chaining.REASONS.get(k, (k, k))[0],
                        "en": chaining.REASONS.get(k, (k, k))[1]} for k, v in acc.reasons.most_common()},
    }
    report["journeys"] = {"journeys": acc.journeys, "with_transfer": acc.with_transfer,
                          "share_with_transfer": _rate(acc.with_transfer, acc.journeys),
                          "stages_linked": acc.linked, "new_journey_because": dict(acc.breaks)}
    report["seconds"] = timings
    report["seconds_total"] = round(sum(timings.values()), 3)
    return Result(stages, j_tab, report, net)


@dataclass
class _Acc:
    """Counters summed over the chunks."""

    stages: int = 0
    has: int = 0
    observed: int = 0
    inferred: int = 0
    multi: int = 0
    multi_has: int = 0
    journeys: int = 0
    with_transfer: int = 0
    linked: int = 0
    mode_stages: Counter = field(default_factory=Counter)
    mode_has: Counter = field(default_factory=Counter)
    reasons: Counter = field(default_factory=Counter)
    breaks: Counter = field(default_factory=Counter)
    metro: Counter = field(default_factory=Counter)
    spark: Any = None       # a SparkSession: chaining runs on Spark
    spark_frames: Any = None


def _chunk_empty(net: Network) -> tuple[pa.Table, pa.Table]:
    z = np.zeros(0, dtype=np.int64)
    part = {k: z for k in ("card", "ts", "ts_corr", "kind", "stop", "route", "veh", "pattern", "seq",
                           "board_stop", "cd", "day")}
    part.update({"is_metro": z.astype(bool), "unknown_stop": z.astype(bool), "busy": z.astype(bool),
                 "board_reason": np.zeros(0, dtype=object)})
    return _chunk(part, net, TransitParams(), pa.array([], pa.string()), pa.array([], pa.string()), _Acc(), {})


def _chunk(a: dict[str, np.ndarray], net: Network, params: TransitParams, card_dict: pa.Array, veh_dict: pa.Array,
           acc: _Acc, timings: dict[str, float]) -> tuple[pa.Table, pa.Table]:
    """Stages, destinations and journeys of a run of whole card-days (taps sorted by card-day and time)."""
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = timings.get(name, 0.0) + now - clock
        clock = now

    n = a["cd"].size
    cd, kind, ts, stop = a["cd"], a["kind"], a["ts"], a["stop"]
    nxt = np.minimum(np.arange(n) + 1, max(n - 1, 0))
    same_next = np.zeros(n, dtype=bool)
    if n > 1:
        same_next[:-1] = cd[1:] == cd[:-1]
    tap_in = kind == 1
    paired = tap_in & same_next & (kind[nxt] == 2) & (ts[nxt] - ts <= params.metro_trip_max_s)
    tap_out = kind == 2
    paired_out = np.zeros(n, dtype=bool)
    paired_out[nxt[paired]] = True
    acc.metro.update({"tap_in": int(tap_in.sum()), "tap_out": int(tap_out.sum()), "paired": int(paired.sum()),
                      "tap_in_without_tap_out": int((tap_in & ~paired).sum()),
                      "tap_out_without_tap_in": int((tap_out & ~paired_out).sum())})
    st = np.flatnonzero(~tap_out)
    s_metro = a["is_metro"][st]
    obs_alight = np.where(paired[st], stop[nxt[st]], -1)
    obs_ts = np.where(paired[st], ts[nxt[st]], 0)
    reason = a["board_reason"][st].copy()
    reason[s_metro & a["unknown_stop"][st]] = "unknown_stop"
    busy = a["busy"][st]
    reason[busy] = "too_many_taps"
    s_cd = cd[st]
    pattern, board_stop, ts_corr, route = a["pattern"][st], a["board_stop"][st], a["ts_corr"][st], a["route"][st]
    s_in = chaining.StageInput(cd=s_cd, board_ts=ts_corr, is_metro=s_metro, board_stop=board_stop,
                               pattern=pattern, seq=a["seq"][st], route=route, obs_alight=obs_alight,
                               obs_alight_ts=obs_ts, reason=reason)
    lap("stages")
    if acc.spark is not None:
        from cityhub.transit import spark as spark_rules

        if acc.spark_frames is None:
            acc.spark_frames = spark_rules.network_frames(acc.spark, net)
        dest = spark_rules.infer(acc.spark, s_in, net, params, acc.spark_frames)
    else:
        dest = chaining.infer(s_in, net, params)
    del s_in, reason, obs_alight, obs_ts
    lap("chaining")
    link_route = np.where(s_metro, -1, np.where(pattern >= 0, net.pat_route[np.maximum(pattern, 0)], route))
    lk = journeys.link(s_cd, ts_corr, np.where(dest.stop >= 0, dest.ts, ts_corr), s_metro, board_stop,
                       dest.stop, link_route, net, params)
    journey = lk.journey + acc.journeys
    lap("journeys")
    ns = st.size
    first_stage = np.ones(ns, dtype=bool)
    if ns > 1:
        first_stage[1:] = s_cd[1:] != s_cd[:-1]
    start_idx = np.maximum.accumulate(np.where(first_stage, np.arange(ns), 0)) if ns else np.zeros(0, np.int64)
    stage_no = np.arange(ns) - start_idx
    pat_dir = np.where(pattern >= 0, net.pat_dir[np.maximum(pattern, 0)], -1)
    route_idx = np.where(pattern >= 0, net.pat_route[np.maximum(pattern, 0)], route)
    ts_type = pa.timestamp("s")
    stages = pa.table({
        "card_id": take(card_dict, a["card"][st]),
        "service_day": pa.array(a["day"][st].astype(np.int32)).cast(pa.date32()),
        "stage_no": pa.array(stage_no.astype(np.int32)),
        "board_ts": pa.array(ts[st], ts_type),
        "board_ts_corrected": pa.array(ts_corr, ts_type),
        "mode": take(_MODES, s_metro.astype(np.int64)),
        "route_id": take(net.route_ids, np.where(s_metro, -1, route_idx)),
        "direction": pa.array(pat_dir.astype(np.int8), mask=pat_dir < 0),
        "vehicle_id": take(veh_dict, np.where(s_metro, -1, a["veh"][st])),
        "board_stop": take(net.stop_ids, board_stop),
        "alight_stop": take(net.stop_ids, dest.stop),
        "alight_ts": pa.array(dest.ts, ts_type, mask=dest.stop < 0),
        "dest_source": pa.array(dest.source.tolist(), pa.string()),
        "reason": pa.array(dest.reason.tolist(), pa.string()),
        "walk_m": pa.array(np.round(dest.walk_m, 1), mask=np.isnan(dest.walk_m)),
        "journey_id": pa.array(journey.astype(np.int64)),
        "transfer": pa.array(lk.linked),
        "transfer_wait_s": pa.array(lk.wait_s, mask=np.isnan(lk.wait_s)),
    })
    j_tab = _journey_table(stages, journey, s_metro, board_stop, dest.stop, ts_corr, dest.ts, net)
    counts_cd = np.bincount(s_cd)[s_cd] if ns else np.zeros(0, np.int64)
    multi = (counts_cd >= 2) & ~busy
    has = dest.stop >= 0
    acc.stages += int(ns)
    acc.has += int(has.sum())
    acc.observed += int((dest.source == "observed").sum())
    acc.inferred += int((dest.source == "inferred").sum())
    acc.multi += int(multi.sum())
    acc.multi_has += int((multi & has).sum())
    for name, m in (("bus", ~s_metro), ("metro", s_metro)):
        acc.mode_stages[name] += int(m.sum())
        acc.mode_has[name] += int((m & has).sum())
    acc.reasons.update(dest.reason[~has].tolist())
    stages_per_j = np.bincount(lk.journey) if ns else np.zeros(0, np.int64)
    acc.journeys += int(stages_per_j.size)
    acc.with_transfer += int((stages_per_j > 1).sum())
    acc.linked += int(lk.linked.sum())
    acc.breaks.update(lk.breaks)
    lap("tables")
    return stages, j_tab


def _sel(idx: np.ndarray, *arrays: np.ndarray) -> list[Any]:
    return [a[idx] for a in arrays]


def _rate(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def _journey_table(stages: pa.Table, journey: np.ndarray, is_metro: np.ndarray, board: np.ndarray,
                   alight: np.ndarray, board_ts: np.ndarray, alight_ts: np.ndarray, net: Network) -> pa.Table:
    ns = journey.size
    if ns == 0:
        return JOURNEYS.empty_table()
    first = np.concatenate([[True], journey[1:] != journey[:-1]])
    last = np.concatenate([journey[1:] != journey[:-1], [True]])
    fi, li = np.flatnonzero(first), np.flatnonzero(last)
    n_st = li - fi + 1
    local = journey - journey[0]
    complete = np.bincount(local, weights=(alight >= 0).astype(np.float64)) == n_st
    any_metro = np.bincount(local, weights=is_metro.astype(np.float64)) > 0
    any_bus = np.bincount(local, weights=(~is_metro).astype(np.float64)) > 0
    modes = np.where(any_metro & any_bus, 2, np.where(any_metro, 1, 0))
    return pa.table({
        "journey_id": pa.array(journey[fi].astype(np.int64)),
        "card_id": stages.column("card_id").take(pa.array(fi)),
        "service_day": stages.column("service_day").take(pa.array(fi)),
        "start_ts": pa.array(board_ts[fi], pa.timestamp("s")),
        "end_ts": pa.array(alight_ts[li], pa.timestamp("s"), mask=alight[li] < 0),
        "origin_stop": take(net.stop_ids, board[fi]),
        "destination_stop": take(net.stop_ids, alight[li]),
        "stages": pa.array(n_st.astype(np.int32)),
        "modes": take(pa.array(["bus", "metro", "bus+metro"]), modes),
        "complete": pa.array(complete),
    }, schema=JOURNEYS)
