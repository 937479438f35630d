"""Linking stages into journeys by transfer rules (ODX London/MBTA, Honolulu, TriMet, UrbanTrips).

The next stage of a card-day continues the current journey when all of these hold (else a new journey
starts, and the first failing rule is counted):

1. the current stage has a destination (observed or inferred) — else ``no_destination``;
2. the wait from its (estimated) alighting to the next boarding is within the limit of the mode pair
   (``max_wait_s``, e.g. bus→bus 45 min), allowing 5 min of clock error — ``wait``;
3. the walk from the alighting stop to the next boarding is ≤ ``transfer_max_m`` — ``distance``;
4. the next boarding is within ``journey_window_s`` of the journey's first tap — ``window``;
5. the next stage's bus route is not already in the journey (``no_repeated_route``) — ``repeated_route``;
6. the journey stays direct: path length (stages and walks) / straight line origin → new destination
   ≤ ``circuity_max``, and the new destination is not back within ``max_walk_m`` of the origin —
   ``circuity``.

Vectorised over card-days: one pass per stage position (1st, 2nd, … stage of the day), each over all
card-days that have that many stages.
Pure: imports nothing from the rest of CityHub but the transit modules.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cityhub.transit.network import Network
from cityhub.transit.params import TransitParams
from cityhub.transit.spatial import metres

CLOCK_ALLOWANCE_S = 300.0
REPEAT_LOOKBACK = 6
BREAKS = ("new_day", "no_destination", "wait", "distance", "window", "repeated_route", "circuity")


@dataclass
class Linked:
    journey: np.ndarray        # journey id per stage (0..n_journeys-1)
    linked: np.ndarray         # bool: stage continues the previous stage's journey (a transfer)
    wait_s: np.ndarray         # transfer wait (s) where linked, NaN otherwise
    breaks: dict[str, int]     # first failing rule per new journey


def link(cd: np.ndarray, board_ts: np.ndarray, alight_ts: np.ndarray, is_metro: np.ndarray,
         board_stop: np.ndarray, alight_stop: np.ndarray, route: np.ndarray, net: Network,
         params: TransitParams) -> Linked:
    n = cd.size
    if n == 0:
        return Linked(np.zeros(0, np.int64), np.zeros(0, bool), np.zeros(0), dict.fromkeys(BREAKS, 0))
    first = np.concatenate([[True], cd[1:] != cd[:-1]])
    start_idx = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    pos = np.arange(n) - start_idx
    order = np.argsort(pos, kind="stable")
    ptr = np.concatenate([[0], np.cumsum(np.bincount(pos))])
    linked = np.zeros(n, dtype=bool)
    jstart = np.arange(n)                 # first stage of each stage's journey
    path = np.zeros(n)                    # journey path length up to the end of each stage
    bs = np.maximum(board_stop, 0)
    dest = np.where(alight_stop >= 0, alight_stop, board_stop)
    ds = np.maximum(dest, 0)
    ride = np.where((board_stop >= 0) & (dest >= 0), metres(net.lat[bs], net.lon[bs], net.lat[ds], net.lon[ds]), 0.0)
    path[:] = ride
    wait_out = np.full(n, np.nan)
    breaks = dict.fromkeys(BREAKS, 0)
    breaks["new_day"] = int(first.sum())
    limits = {(a, b): params.wait_limit(ma, mb) for a, ma in ((0, "bus"), (1, "metro"))
              for b, mb in ((0, "bus"), (1, "metro"))}
    for k in range(1, ptr.size - 1):
        i = order[ptr[k]:ptr[k + 1]]
        p = i - 1
        j = jstart[p]
        has_dest = alight_stop[p] >= 0
        wait = (board_ts[i] - alight_ts[p]).astype(np.float64)
        lim = np.zeros(i.size)
        for (a, b), v in limits.items():
            lim = np.where((is_metro[p] == bool(a)) & (is_metro[i] == bool(b)), v, lim)
        ok_wait = (wait >= -CLOCK_ALLOWANCE_S) & (wait <= lim + CLOCK_ALLOWANCE_S)
        a_s = np.maximum(alight_stop[p], 0)
        walk = np.where(has_dest & (board_stop[i] >= 0),
                        metres(net.lat[a_s], net.lon[a_s], net.lat[bs[i]], net.lon[bs[i]]), np.inf)
        ok_dist = walk <= params.transfer_max_m
        ok_window = board_ts[i] - board_ts[j] <= params.journey_window_s
        ok_route = np.ones(i.size, dtype=bool)
        if params.no_repeated_route:
            for back in range(1, min(k, REPEAT_LOOKBACK) + 1):
                q = i - back
                in_journey = q >= j
                ok_route &= ~(in_journey & (route[q] == route[i]) & (route[i] >= 0) & ~is_metro[i])
        o = bs[j]
        straight = metres(net.lat[o], net.lon[o], net.lat[ds[i]], net.lon[ds[i]])
        new_path = path[p] + np.where(np.isfinite(walk), walk, 0.0) + ride[i]
        ok_circ = (straight > params.max_walk_m) & (new_path <= params.circuity_max * np.maximum(straight, 1.0))
        checks = [("no_destination", has_dest), ("wait", ok_wait), ("distance", ok_dist), ("window", ok_window),
                  ("repeated_route", ok_route), ("circuity", ok_circ)]
        ok = np.ones(i.size, dtype=bool)
        for name, c in checks:
            breaks[name] += int((ok & ~c).sum())
            ok &= c
        linked[i] = ok
        jstart[i] = np.where(ok, j, i)
        path[i] = np.where(ok, new_path, ride[i])
        wait_out[i] = np.where(ok, wait, np.nan)
    journey = np.cumsum(~linked) - 1
    return Linked(journey, linked, wait_out, breaks)
