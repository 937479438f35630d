"""Destination inference by trip chaining (Barry et al. 2002; Munizaga & Palma 2012; Lei et al. 2021).

For each stage of a card-day, in time order:

- a metro stage with its tap-out has an *observed* destination;
- otherwise the *target* is the next stage's boarding stop (the last stage of the day: the day's first
  boarding stop, "the last trip goes back towards the first origin");
- a bus stage's alighting stop is the stop of the boarded route pattern, *after* the boarding stop in the
  direction of travel, nearest the target; when the direction is unknown both directions are tried;
- a metro stage without tap-out alights at the station nearest the target;
- the alighting stop is kept only if the walk to the target is ≤ ``max_walk_m`` and the earliest possible
  alighting time (ride at ``*_speed_max_kmh``) is not after the next boarding.

Every stage left without a destination carries its reason (:data:`REASONS`). Vectorised over all stages
(the candidate stops of a pattern are a 2-D block per chunk of stages); no per-card loop.
Pure: imports nothing from the rest of CityHub but the transit modules.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cityhub.transit.network import Network
from cityhub.transit.params import TransitParams
from cityhub.transit.spatial import metres

OBSERVED = "observed"
INFERRED = "inferred"
#: reason code → (中文, English)
REASONS: dict[str, tuple[str, str]] = {
    "single_tap": ("当日仅一次刷卡", "the only stage of the card-day"),
    "boarding_unknown": ("上车站点未知", "boarding stop unknown"),
    "avl_gap": ("车辆定位缺失,无法确定上车站", "no AVL fix near the tap time"),
    "no_avl_for_vehicle": ("车辆无定位数据", "vehicle has no AVL"),
    "no_vehicle_id": ("刷卡无车辆编号且无站点", "tap names neither vehicle nor stop"),
    "unknown_stop": ("站点编号不在站点表中", "stop id not in the stops table"),
    "next_boarding_unknown": ("下一次上车地点未知", "next boarding location unknown"),
    "same_stop": ("下一次上车与本次上车同站", "next boarding at the same stop"),
    "no_route_pattern": ("线路走向未知", "no route pattern for the boarding"),
    "no_stop_after_boarding": ("上车站为终点站", "boarded at the last stop of the pattern"),
    "next_boarding_too_far": ("下车站距下一次上车过远", "next boarding beyond the walking limit"),
    "alighting_after_next_boarding": ("下车时间晚于下一次上车", "alighting would be after the next boarding"),
}


@dataclass
class StageInput:
    """One row per stage, sorted by (card-day, boarding time)."""

    cd: np.ndarray            # card-day code
    board_ts: np.ndarray      # int64 s (bus: clock-corrected)
    is_metro: np.ndarray
    board_stop: np.ndarray    # -1 unknown
    pattern: np.ndarray       # bus pattern, -1 unknown
    seq: np.ndarray           # position on the pattern
    route: np.ndarray         # route index in net.route_ids, -1 unknown
    obs_alight: np.ndarray    # metro tap-out station, -1 none
    obs_alight_ts: np.ndarray
    reason: np.ndarray        # object: a reason already known (boarding), "" otherwise


@dataclass
class Destinations:
    stop: np.ndarray          # alighting stop, -1 when uninferred
    ts: np.ndarray            # alighting time (estimate)
    walk_m: np.ndarray        # walk from the alighting stop to the target
    source: np.ndarray        # object: observed / inferred / ""
    reason: np.ndarray        # object: "" when a destination was found


def _targets(s: StageInput) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Target stop and time for each stage, the card-day's stage count, and whether this is the last stage."""
    n = s.cd.size
    first = np.concatenate([[True], s.cd[1:] != s.cd[:-1]]) if n else np.zeros(0, bool)
    last = np.concatenate([s.cd[1:] != s.cd[:-1], [True]]) if n else np.zeros(0, bool)
    start_idx = np.maximum.accumulate(np.where(first, np.arange(n), 0)) if n else np.zeros(0, np.int64)
    nxt = np.minimum(np.arange(n) + 1, max(n - 1, 0))
    target = np.where(last, s.board_stop[start_idx], s.board_stop[nxt])
    target_ts = np.where(last, np.iinfo(np.int64).max // 2, s.board_ts[nxt])
    counts = np.bincount(np.cumsum(first) - 1)[np.cumsum(first) - 1] if n else np.zeros(0, np.int64)
    return target, target_ts, counts, last


def _best_on_pattern(net: Network, pattern: np.ndarray, seq: np.ndarray, target: np.ndarray,
                     chunk: int = 100_000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each stage: the stop after ``seq`` on ``pattern`` nearest the ``target`` stop; its walk and the ride
    (m). Walk is +inf where the pattern has no stop after the boarding."""
    n = pattern.size
    stop = np.full(n, -1, dtype=np.int64)
    walk = np.full(n, np.inf)
    ride = np.zeros(n)
    ok = np.flatnonzero((pattern >= 0) & (seq >= 0) & (target >= 0))
    # chunks of stages with about as many stops left, so each block is as narrow as its longest row
    left = net.pat_ptr[pattern[ok] + 1] - net.pat_ptr[pattern[ok]] - seq[ok]
    ok = ok[np.argsort(left, kind="stable")]
    ps_stop32 = net.ps_stop.astype(np.int32)
    for c in range(0, ok.size, chunk):
        rows = ok[c:c + chunk]
        p = pattern[rows]
        hi = net.pat_ptr[p + 1]
        base = net.pat_ptr[p] + seq[rows]
        width = int((hi - base - 1).max()) if rows.size else 0
        if width <= 0:
            continue
        base32 = base.astype(np.int32)
        idx = base32[:, None] + np.arange(1, width + 1, dtype=np.int32)[None, :]
        valid = idx < hi.astype(np.int32)[:, None]
        np.minimum(idx, (hi - 1).astype(np.int32)[:, None], out=idx)
        st = ps_stop32[idx]
        tg = target[rows]
        dx = net.x[st]
        dx -= net.x[tg][:, None]
        dy = net.y[st]
        dy -= net.y[tg][:, None]
        dx *= dx
        dy *= dy
        dx += dy
        dx[~valid] = np.inf
        d2 = dx
        k = d2.argmin(axis=1)
        ar = np.arange(rows.size)
        pick = idx[ar, k]
        w = d2[ar, k]
        fin = np.isfinite(w)
        stop[rows] = np.where(fin, net.ps_stop[pick], -1)
        walk[rows] = np.where(fin, metres(net.lat[net.ps_stop[pick]], net.lon[net.ps_stop[pick]],
                                          net.lat[tg], net.lon[tg]), np.inf)
        ride[rows] = net.ps_dist[pick] - net.ps_dist[base]
    return stop, walk, ride


def infer(s: StageInput, net: Network, params: TransitParams) -> Destinations:
    n = s.cd.size
    target, target_ts, counts, _last = _targets(s)
    reason = s.reason.copy()
    out_stop = np.full(n, -1, dtype=np.int64)
    out_ts = np.zeros(n, dtype=np.int64)
    walk = np.full(n, np.nan)
    source = np.full(n, "", dtype=object)
    # observed metro destinations
    obs = s.is_metro & (s.obs_alight >= 0) & (s.reason == "")
    out_stop[obs] = s.obs_alight[obs]
    out_ts[obs] = s.obs_alight_ts[obs]
    source[obs] = OBSERVED
    reason[obs] = ""
    todo = ~obs & (reason == "")
    reason[todo & (counts < 2)] = "single_tap"
    todo &= counts >= 2
    reason[todo & (s.board_stop < 0)] = "boarding_unknown"
    todo &= s.board_stop >= 0
    reason[todo & (target < 0)] = "next_boarding_unknown"
    todo &= target >= 0
    same = todo & (target == s.board_stop)
    reason[same] = "same_stop"
    todo &= ~same
    tgt = np.maximum(target, 0)
    tlat, tlon = net.lat[tgt], net.lon[tgt]
    best_stop = np.full(n, -1, dtype=np.int64)
    best_walk = np.full(n, np.inf)
    best_ride = np.zeros(n)
    # bus: the known pattern, else both directions of the route
    bus = todo & ~s.is_metro
    cands = [np.where(bus, s.pattern, -1)]
    seqs = [np.where(bus, s.seq, -1)]
    unknown = bus & (s.pattern < 0) & (s.route >= 0)
    for d in (0, 1):
        p = np.where(unknown, net.route_pat[np.maximum(s.route, 0), d], -1)
        cands.append(p)
        seqs.append(net.seq_of(p, s.board_stop))
    any_pattern = np.zeros(n, dtype=bool)
    any_after = np.zeros(n, dtype=bool)
    speed = params.bus_speed_max_kmh / 3.6
    for p, q in zip(cands, seqs, strict=True):
        usable = (p >= 0) & (q >= 0)
        any_pattern |= usable
        stp, w, r = _best_on_pattern(net, p, q, np.where(todo, target, -1))
        any_after |= usable & np.isfinite(w)
        feasible = s.board_ts + r / speed <= target_ts + params.min_activity_s
        better = usable & feasible & (w < best_walk)
        best_stop = np.where(better, stp, best_stop)
        best_walk = np.where(better, w, best_walk)
        best_ride = np.where(better, r, best_ride)
    reason[bus & ~any_pattern] = "no_route_pattern"
    reason[bus & any_pattern & ~any_after] = "no_stop_after_boarding"
    reason[bus & any_after & ~np.isfinite(best_walk)] = "alighting_after_next_boarding"
    # metro without a tap-out: the station nearest the target
    met = np.flatnonzero(todo & s.is_metro)
    if met.size:
        stations = np.flatnonzero(net.is_metro)
        dm = metres(net.lat[stations][None, :], net.lon[stations][None, :], tlat[met, None], tlon[met, None])
        dm = np.where(stations[None, :] == s.board_stop[met, None], np.inf, dm)
        k = dm.argmin(axis=1)
        best_stop[met] = stations[k]
        best_walk[met] = dm[np.arange(met.size), k]
        best_ride[met] = metres(net.lat[s.board_stop[met]], net.lon[s.board_stop[met]], net.lat[stations[k]],
                                net.lon[stations[k]])
        late = s.board_ts[met] + best_ride[met] / (params.metro_speed_max_kmh / 3.6) > target_ts[met]
        reason[met[late]] = "alighting_after_next_boarding"
        best_walk[met[late]] = np.inf
    found = todo & np.isfinite(best_walk) & (best_walk <= params.max_walk_m)
    reason[todo & np.isfinite(best_walk) & ~found] = "next_boarding_too_far"
    out_stop[found] = best_stop[found]
    walk[found] = best_walk[found]
    typical = np.where(s.is_metro, params.metro_speed_kmh, params.bus_speed_kmh) / 3.6
    out_ts[found] = s.board_ts[found] + (best_ride[found] / typical[found]).astype(np.int64)
    source[found] = INFERRED
    reason[found] = ""
    return Destinations(out_stop, out_ts, walk, source, reason)
