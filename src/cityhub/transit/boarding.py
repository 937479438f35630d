"""Bus boarding stops from AVL: time matching with interpolation and farebox clock-drift correction.

1. Every AVL fix is snapped to its route pattern (route + direction): nearest stop, then projected on the
   neighbouring segment to a position along the pattern (metres). Fixes farther than
   ``avl_max_stop_dist_m`` from every stop of the pattern are dropped (counted).
2. Each vehicle's farebox clock offset is estimated: over a grid of offsets, the one that puts most of the
   vehicle's taps at a stop (the bus is standing at a stop when people board; taps that name their stop
   must land at that stop) wins; the median of the tied best offsets is taken.
3. Each bus tap's corrected time is located between the vehicle's surrounding fixes (linear interpolation
   of the position, only across fixes of the same pattern at most ``avl_max_gap_s`` apart, or the nearer
   fix when it is within ``avl_match_tolerance_s``); the boarding stop is the pattern's stop nearest that
   position.

Everything runs over whole arrays (numpy ``searchsorted``), with loops only over route patterns.
Pure: imports nothing from the rest of CityHub but the transit modules.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from cityhub.transit.network import Network, codes, encode
from cityhub.transit.params import TransitParams
from cityhub.transit.spatial import to_xy

#: why a bus tap got no boarding stop from AVL
NO_AVL = "no_avl_for_vehicle"
AVL_GAP = "avl_gap"
NO_VEHICLE = "no_vehicle_id"
_BIG = 1 << 32


@dataclass
class Fixes:
    """AVL fixes kept after snapping, sorted by (vehicle, ts)."""

    vehicles: pa.Array            # vehicle id dictionary
    veh: np.ndarray
    ts: np.ndarray                # int64 s
    pattern: np.ndarray
    pos: np.ndarray               # metres along the pattern
    key: np.ndarray               # veh * 2**32 + (ts - t0), sorted
    t0: int
    counts: dict[str, int] = field(default_factory=dict)


def snap(avl: pa.Table, net: Network, params: TransitParams) -> Fixes:
    """Snap the fixes to their patterns; drop those too far from every stop or without a known pattern."""
    n = avl.num_rows
    veh, vehicles = encode(avl.column("vehicle_id"))
    ts = np.asarray(avl.column("ts").cast(pa.int64()).to_numpy(), dtype=np.int64)
    lat = np.asarray(avl.column("lat").to_numpy(), dtype=np.float64)
    lon = np.asarray(avl.column("lon").to_numpy(), dtype=np.float64)
    route = codes(avl.column("route_id"), net.route_ids) if "route_id" in avl.column_names else np.full(n, -1)
    if "direction" in avl.column_names:
        d = avl.column("direction").cast(pa.int64()).fill_null(-1).to_numpy()
        direction = np.asarray(d, dtype=np.int64)
    else:
        direction = np.full(n, -1)
    ok = (route >= 0) & (direction >= 0) & (direction <= 1)
    pattern = np.full(n, -1, dtype=np.int64)
    pattern[ok] = net.route_pat[route[ok], direction[ok]]
    pos = np.full(n, np.nan)
    dist = np.full(n, np.inf)
    has = pattern >= 0
    order = np.argsort(np.where(has, pattern, -1), kind="stable")
    order = order[has[order]]
    if order.size:
        pats = pattern[order]
        bounds = np.flatnonzero(np.concatenate([[True], pats[1:] != pats[:-1], [True]]))
        for a, b in itertools.pairwise(bounds):
            rows = order[a:b]
            p = int(pats[a])
            lo, hi = int(net.pat_ptr[p]), int(net.pat_ptr[p + 1])
            st = net.ps_stop[lo:hi]
            lat0, lon0 = float(net.lat[st[0]]), float(net.lon[st[0]])
            sx, sy = to_xy(net.lat[st], net.lon[st], lat0, lon0)
            cum = net.ps_dist[lo:hi]
            for c in range(0, rows.size, 200_000):
                rr = rows[c:c + 200_000]
                px, py = to_xy(lat[rr], lon[rr], lat0, lon0)
                d2 = (px[:, None] - sx[None, :]) ** 2 + (py[:, None] - sy[None, :]) ** 2
                k = d2.argmin(axis=1)
                dist[rr] = np.sqrt(d2[np.arange(rr.size), k])
                pos[rr] = _project(px, py, sx, sy, cum, k)
    keep = has & (dist <= params.avl_max_stop_dist_m)
    counts = {"avl_fixes": n, "avl_fixes_no_pattern": int((~has).sum()),
              "avl_fixes_far_from_stops": int((has & ~keep).sum())}
    idx = np.flatnonzero(keep)
    t0 = int(ts[idx].min()) if idx.size else 0
    key = veh[idx] * _BIG + (ts[idx] - t0)
    o = np.argsort(key, kind="stable")
    idx = idx[o]
    return Fixes(vehicles, veh[idx], ts[idx], pattern[idx], pos[idx], key[o], t0, counts)


def _project(px: np.ndarray, py: np.ndarray, sx: np.ndarray, sy: np.ndarray, cum: np.ndarray,
             k: np.ndarray) -> np.ndarray:
    """Position along the pattern of points whose nearest stop is ``k``: projected on the better of the
    segments (k-1, k) and (k, k+1)."""
    n = sx.size
    best_pos = cum[k].astype(np.float64)
    best_d = np.full(k.size, np.inf)
    for a_off in (-1, 0):
        a = k + a_off
        b = a + 1
        ok = (a >= 0) & (b < n)
        a = np.clip(a, 0, n - 1)
        b = np.clip(b, 0, n - 1)
        vx, vy = sx[b] - sx[a], sy[b] - sy[a]
        ll = vx * vx + vy * vy
        t = np.where(ll > 0, ((px - sx[a]) * vx + (py - sy[a]) * vy) / np.where(ll > 0, ll, 1), 0.0)
        t = np.clip(t, 0.0, 1.0)
        d = (px - sx[a] - t * vx) ** 2 + (py - sy[a] - t * vy) ** 2
        better = ok & (d < best_d)
        best_d = np.where(better, d, best_d)
        best_pos = np.where(better, cum[a] + t * (cum[b] - cum[a]), best_pos)
    return best_pos


def _locate(fx: Fixes, veh: np.ndarray, t: np.ndarray, params: TransitParams) -> tuple[np.ndarray, np.ndarray]:
    """Pattern and position of vehicles ``veh`` at times ``t`` (pattern -1 where no usable fix).

    Worked out in (vehicle, time) order — needles that come unsorted are sorted once and the answers put back —
    so that numpy's binary search narrows from the previous answer and the gathers from the fix arrays run
    forward through memory instead of at random (the fix arrays of a city-day do not fit in cache)."""
    n = veh.size
    if fx.key.size == 0:
        return np.full(n, -1, dtype=np.int64), np.full(n, np.nan)
    key = veh * _BIG + (t - fx.t0)
    if n < 2 or bool((key[1:] >= key[:-1]).all()):
        return _locate_sorted(fx, veh, t, key, params)
    order = np.argsort(key, kind="stable")
    ps, xs = _locate_sorted(fx, veh[order], t[order], key[order], params)
    pattern = np.empty(n, dtype=ps.dtype)
    pos = np.empty(n, dtype=xs.dtype)
    pattern[order] = ps
    pos[order] = xs
    return pattern, pos


def _locate_sorted(fx: Fixes, veh: np.ndarray, t: np.ndarray, key: np.ndarray, params: TransitParams
                   ) -> tuple[np.ndarray, np.ndarray]:
    last = fx.key.size - 1
    j = np.searchsorted(fx.key, key, side="right")  # first fix after
    i = j - 1                                      # last fix at or before
    ic = np.maximum(i, 0)
    jc = np.minimum(j, last)
    # each fix column gathered once at i and at j
    i_ok = (i >= 0) & (fx.veh[ic] == veh)
    j_ok = (j <= last) & (fx.veh[jc] == veh)
    ti, tj = fx.ts[ic], fx.ts[jc]
    pi, pj = fx.pattern[ic], fx.pattern[jc]
    xi, xj = fx.pos[ic], fx.pos[jc]
    both = i_ok & j_ok & (pi == pj) & (tj - ti <= params.avl_max_gap_s)
    f = np.where(both, (t - ti) / np.maximum(tj - ti, 1), 0.0)
    tol = params.avl_match_tolerance_s
    near_i = ~both & i_ok & (t - ti <= tol)
    near_j = ~both & ~near_i & j_ok & (tj - t <= tol)
    pattern = np.where(both | near_i, pi, np.where(near_j, pj, -1))
    pos = np.where(both, xi + f * (xj - xi), np.where(near_i, xi, np.where(near_j, xj, np.nan)))
    return pattern, pos


def _nearest_stop(net: Network, pattern: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pattern position (seq) of the stop nearest ``pos`` and the gap to it (m); -1 where no pattern."""
    ok = pattern >= 0
    seq = np.full(pattern.size, -1, dtype=np.int64)
    gap = np.full(pattern.size, np.inf)
    if not ok.any():
        return seq, gap
    p = pattern[ok]
    lo, hi = net.pat_ptr[p], net.pat_ptr[p + 1]
    span = 1e8
    keys = np.repeat(np.arange(net.pat_ptr.size - 1), np.diff(net.pat_ptr)) * span + net.ps_dist
    k = np.searchsorted(keys, p * span + pos[ok])
    a = np.clip(k - 1, lo, hi - 1)
    b = np.clip(k, lo, hi - 1)
    da = np.abs(net.ps_dist[a] - pos[ok])
    db = np.abs(net.ps_dist[b] - pos[ok])
    best = np.where(db < da, b, a)
    seq[ok] = best - lo
    gap[ok] = np.minimum(da, db)
    return seq, gap


def _sample_order(veh: np.ndarray, n_veh: int, sample: int, seed: int) -> np.ndarray:
    """The taps with a vehicle, sorted by (vehicle, a random draw), as far as needed to hold each vehicle's
    ``sample`` smallest draws: only draws under a per-vehicle threshold can be among them, so the sort runs on
    those (about 2 × sample a vehicle) instead of on every tap; a vehicle whose threshold kept too few keeps all
    its taps. Its first ``sample`` taps a vehicle are the same as sorting every tap by (vehicle, draw)."""
    idx = np.flatnonzero(veh >= 0)
    draw = np.random.default_rng(seed).random(idx.size)
    v_all = veh[idx]
    cnt = np.bincount(v_all, minlength=n_veh)
    thresh = np.minimum(1.0, 2.0 * sample / np.maximum(cnt, 1) + 1e-3)
    keep = draw < thresh[v_all]
    short = np.bincount(v_all[keep], minlength=n_veh) < np.minimum(cnt, sample)
    keep |= short[v_all]
    sub = idx[keep]
    order: np.ndarray = sub[np.lexsort((draw[keep], veh[sub]))]
    return order


def estimate_offsets(fx: Fixes, net: Network, veh: np.ndarray, ts: np.ndarray, known_stop: np.ndarray,
                     params: TransitParams, sample: int = 40, seed: int = 0) -> np.ndarray:
    """Per-vehicle farebox clock offset (s, farebox − GPS), indexed like ``fx.vehicles``; 0 where too few
    taps. ``known_stop`` is the stop index a tap names (-1 if none)."""
    n_veh = len(fx.vehicles)
    offsets = np.zeros(n_veh)
    ok = veh >= 0
    if not ok.any() or fx.key.size == 0:
        return offsets
    order = _sample_order(veh, n_veh, sample, seed)
    v = veh[order]
    first = np.searchsorted(v, v, side="left")
    rank = np.arange(v.size) - first
    take = order[rank < sample]
    counts = np.bincount(veh[take], minlength=n_veh)
    enough = counts >= params.clock_offset_min_taps
    take = take[enough[veh[take]]]
    if take.size == 0:
        return offsets
    # in (vehicle, time) order: every shifted grid below keeps the needles sorted for the fix search (the
    # scores are per-vehicle counts, so the order changes nothing else)
    take = take[np.lexsort((ts[take], veh[take]))]
    tv, tt, ks = veh[take], ts[take], known_stop[take]
    # the grid at the step, then a 2 s grid within one step of each vehicle's best
    step = params.clock_offset_step_s
    coarse = np.arange(-params.clock_offset_max_s, params.clock_offset_max_s + 1e-9, step)
    centre, _ = _median_best(_score(fx, net, tv, tt, ks, coarse, n_veh, params), coarse)
    rel = np.arange(-step, step + 1e-9, 2.0)
    fine, best = _median_best(_score(fx, net, tv, tt - centre[tv], ks, rel, n_veh, params), rel)
    return np.where(enough & (best > 0), centre + fine, 0.0)


def _median_best(scores: np.ndarray, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per vehicle (column): the median of the grid values tied for the best score, and that score."""
    best = scores.max(axis=0)
    tied = scores >= best[None, :] - 1e-9
    cnt = tied.sum(axis=0)
    csum = np.cumsum(tied, axis=0)
    mid = (cnt + 1) // 2
    return grid[(csum >= mid[None, :]).argmax(axis=0)], best


def _score(fx: Fixes, net: Network, tv: np.ndarray, tt: np.ndarray, ks: np.ndarray, grid: np.ndarray,
           n_veh: int, params: TransitParams) -> np.ndarray:
    """Per offset in ``grid`` and vehicle: how many of its taps the offset puts at a stop (the named one)."""
    scores = np.zeros((grid.size, n_veh))
    for g, delta in enumerate(grid):
        pattern, pos = _locate(fx, tv, (tt - delta).astype(np.int64), params)
        seq, gap = _nearest_stop(net, pattern, pos)
        hit = (seq >= 0) & (gap <= params.at_stop_m)
        named = ks >= 0
        if named.any():
            stop = np.where(seq >= 0, net.ps_stop[np.clip(net.pat_ptr[np.maximum(pattern, 0)] + seq, 0,
                                                           net.ps_stop.size - 1)], -1)
            hit = np.where(named, hit & (stop == ks), hit)
        scores[g] = np.bincount(tv, weights=hit.astype(np.float64), minlength=n_veh)
    return scores


@dataclass
class Boardings:
    stop: np.ndarray      # stop index (-1 unknown)
    pattern: np.ndarray   # pattern (-1 unknown)
    seq: np.ndarray       # position on the pattern (-1 unknown)
    ts: np.ndarray        # corrected time (GPS clock)
    reason: np.ndarray    # object: why no stop ("" when found)
    offsets: dict[str, float]


def infer(fx: Fixes, net: Network, vehicle: pa.Array | pa.ChunkedArray, ts: np.ndarray, tap_stop: np.ndarray,
          tap_route: np.ndarray, params: TransitParams) -> Boardings:
    """Boarding stop, pattern and corrected time of bus taps (tap_stop: the stop the tap names, -1 if none;
    tap_route: route index in ``net.route_ids``, -1 if none)."""
    n = ts.size
    veh = codes(vehicle, fx.vehicles) if n else np.zeros(0, np.int64)
    offsets = estimate_offsets(fx, net, veh, ts, tap_stop, params)
    padded = np.concatenate([offsets, [0.0]])  # index -1 (no vehicle) → 0
    corr = ts - padded[np.where(veh >= 0, veh, -1)].round().astype(np.int64)
    pattern, pos = _locate(fx, veh, corr, params)
    seq, _gap = _nearest_stop(net, pattern, pos)
    stop = np.where(seq >= 0, net.ps_stop[np.clip(net.pat_ptr[np.maximum(pattern, 0)] + seq, 0,
                                                   max(net.ps_stop.size - 1, 0))], -1) if n else seq
    # a stop named on the tap wins; AVL still gives the direction when its pattern serves that stop
    named = tap_stop >= 0
    named_seq = net.seq_of(pattern, tap_stop)
    stop = np.where(named, tap_stop, stop)
    seq = np.where(named, named_seq, seq)
    pattern = np.where(named & (named_seq < 0), -1, pattern)
    # no AVL and a named stop on a route with one pattern serving it: take that pattern
    for d in (0, 1):
        rp = np.where(tap_route >= 0, net.route_pat[np.maximum(tap_route, 0), d], -1)
        s = net.seq_of(rp, tap_stop)
        fill = named & (pattern < 0) & (s >= 0)
        other = np.where(tap_route >= 0, net.route_pat[np.maximum(tap_route, 0), 1 - d], -1)
        fill &= net.seq_of(other, tap_stop) < 0     # ambiguous when both directions serve it
        pattern = np.where(fill, rp, pattern)
        seq = np.where(fill, s, seq)
    reason = np.full(n, "", dtype=object)
    has_fix = np.zeros(len(fx.vehicles) + 1, dtype=bool)
    has_fix[fx.veh] = True
    no_stop = stop < 0
    reason[no_stop & (veh < 0)] = NO_AVL
    reason[no_stop & (veh >= 0)] = AVL_GAP
    vnull = np.asarray(pa.chunked_array([vehicle]).is_null().to_numpy(zero_copy_only=False)
                       if isinstance(vehicle, pa.Array) else vehicle.is_null().to_numpy(zero_copy_only=False),
                       dtype=bool) if n else np.zeros(0, bool)
    reason[no_stop & vnull] = NO_VEHICLE
    names = fx.vehicles.to_pylist()
    used = np.flatnonzero(offsets != 0)
    return Boardings(stop, pattern, seq, corr, reason, {names[i]: float(offsets[i]) for i in used})
