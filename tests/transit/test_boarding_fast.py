"""The faster boarding-from-AVL step gives exactly what the straightforward version gave: the tap sample of the
clock-offset search, the fix search and interpolation in sorted needle order with one gather per column and ``seq_of`` on the rows
that can be found are each checked against the plain formulation they replaced (kept here as the reference)."""

from __future__ import annotations

import numpy as np
import pyarrow.compute as pc

from cityhub.transit import boarding, pipeline
from cityhub.transit.network import build, codes
from cityhub.transit.params import TransitParams
from cityhub.transit.simulate import City


def ref_sample(veh: np.ndarray, sample: int, seed: int) -> np.ndarray:
    """The plain sample: every tap with a vehicle sorted by (vehicle, draw); each vehicle's first ``sample``."""
    idx = np.flatnonzero(veh >= 0)
    order = idx[np.lexsort((np.random.default_rng(seed).random(idx.size), veh[idx]))]
    v = veh[order]
    rank = np.arange(v.size) - np.searchsorted(v, v, side="left")
    return np.sort(order[rank < sample])


def ref_locate(fx: boarding.Fixes, veh: np.ndarray, t: np.ndarray, params: TransitParams
               ) -> tuple[np.ndarray, np.ndarray]:
    n = veh.size
    pattern = np.full(n, -1, dtype=np.int64)
    pos = np.full(n, np.nan)
    key = veh * boarding._BIG + (t - fx.t0)
    j = np.searchsorted(fx.key, key, side="right")
    i = j - 1
    i_ok = (i >= 0) & (fx.veh[np.clip(i, 0, None)] == veh)
    j_ok = (j < fx.key.size) & (fx.veh[np.clip(j, None, fx.key.size - 1)] == veh)
    ic = np.clip(i, 0, fx.key.size - 1)
    jc = np.clip(j, 0, fx.key.size - 1)
    ti, tj = fx.ts[ic], fx.ts[jc]
    both = i_ok & j_ok & (fx.pattern[ic] == fx.pattern[jc]) & (tj - ti <= params.avl_max_gap_s)
    f = np.where(both, (t - ti) / np.maximum(tj - ti, 1), 0.0)
    pattern = np.where(both, fx.pattern[ic], pattern)
    pos = np.where(both, fx.pos[ic] + f * (fx.pos[jc] - fx.pos[ic]), pos)
    tol = params.avl_match_tolerance_s
    near_i = ~both & i_ok & (t - ti <= tol)
    near_j = ~both & ~near_i & j_ok & (tj - t <= tol)
    pattern = np.where(near_i, fx.pattern[ic], np.where(near_j, fx.pattern[jc], pattern))
    pos = np.where(near_i, fx.pos[ic], np.where(near_j, fx.pos[jc], pos))
    return pattern, pos


def test_tap_sample_is_the_plain_one() -> None:
    rng = np.random.default_rng(1)
    # vehicles with 1 … 3,000 taps (and taps without a vehicle), in card order (unsorted by vehicle)
    sizes = np.concatenate([rng.integers(1, 60, 300), rng.integers(500, 3000, 40)])
    veh = np.repeat(np.arange(sizes.size), sizes)
    veh = np.where(rng.random(veh.size) < 0.05, -1, veh)
    rng.shuffle(veh)
    for sample, seed in ((40, 0), (5, 3), (200, 7)):
        order = boarding._sample_order(veh, sizes.size, sample, seed)
        v = veh[order]
        rank = np.arange(v.size) - np.searchsorted(v, v, side="left")
        assert np.array_equal(np.sort(order[rank < sample]), ref_sample(veh, sample, seed))
    assert boarding._sample_order(np.full(4, -1), 1, 40, 0).size == 0


def test_fix_search_and_interpolation_are_the_plain_ones(city: City) -> None:
    params = TransitParams()
    net = build(pipeline.conform("stops", city.stops), pipeline.conform("route_stops", city.route_stops))
    fx = boarding.snap(pipeline.conform("avl", city.avl), net, params)
    rng = np.random.default_rng(2)
    n = 50_000
    veh = rng.integers(-1, len(fx.vehicles) + 1, n)  # a few unknown codes at both ends
    t = rng.integers(int(fx.ts.min()) - 3600, int(fx.ts.max()) + 3600, n)
    for order in (np.arange(n), np.lexsort((t, veh))):  # unsorted and sorted needles
        v, tt = veh[order], t[order]
        got, want = boarding._locate(fx, v, tt, params), ref_locate(fx, v, tt, params)
        assert np.array_equal(got[0], want[0])
        assert np.array_equal(got[1], want[1], equal_nan=True)
        assert (got[0] >= 0).sum() > n // 10


def test_seq_of_is_the_plain_one(city: City) -> None:
    net = build(pipeline.conform("stops", city.stops), pipeline.conform("route_stops", city.route_stops))
    rng = np.random.default_rng(4)
    n = 20_000
    pattern = rng.integers(-1, net.pat_ptr.size - 1, n)
    # half the stops on their pattern, half anywhere (mostly not served), some unknown
    on = net.ps_stop[np.minimum(net.pat_ptr[np.maximum(pattern, 0)] + rng.integers(0, 5, n), net.ps_stop.size - 1)]
    stop = np.where(rng.random(n) < 0.5, on, rng.integers(-1, net.n_stops, n))
    ok = (pattern >= 0) & (stop >= 0)
    key = np.where(ok, pattern.astype(np.int64) * net.n_stops + stop, -1)
    i = np.minimum(np.searchsorted(net._pos_key, key), net._pos_key.size - 1)
    want = np.where(ok & (net._pos_key[i] == key), net._pos_val[i], -1)
    got = net.seq_of(pattern, stop)
    assert np.array_equal(got, want) and (got >= 0).sum() > n // 4
    assert net.seq_of(np.full(3, -1), np.arange(3)).tolist() == [-1, -1, -1]


def test_boardings_on_a_simulated_day_keep_their_accuracy(city: City) -> None:
    """The whole step on the shared day: every bus tap placed as before (the pipeline tests check accuracy)."""
    params = TransitParams()
    net = build(pipeline.conform("stops", city.stops), pipeline.conform("route_stops", city.route_stops))
    fx = boarding.snap(pipeline.conform("avl", city.avl), net, params)
    bus = city.taps.filter(pc.equal(city.taps["mode"], "bus"))
    ts = np.asarray(bus["ts"].cast("int64").to_numpy(), dtype=np.int64)
    b = boarding.infer(fx, net, bus["vehicle_id"], ts, codes(bus["stop_id"], net.stop_ids),
                       codes(bus["route_id"], net.route_ids), params)
    assert (b.stop >= 0).mean() > 0.9 and len(b.offsets) > 5
