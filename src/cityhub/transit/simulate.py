"""A Guangzhou-like synthetic city and one service day of smart-card taps, with the ground truth kept apart.

Metro lines and bus routes are laid over the real district geography (``data/guangzhou-districts.geojson``,
WGS-84) around Yuexiu/Tianhe; the network grows with the number of taps asked for. A population of card
holders lives at stops: workers make a home → work tour (1–3 stages each way, transfers on foot to a nearby
stop or station) and back, some an evening tour; others a shopping/visit tour. Buses run timetabled trips
with dwell times; their AVL fixes come every 30 s with GPS noise, gaps (minutes, sometimes an hour) and a few
off-route fixes; each farebox clock has its own offset. Taps: metro tap-in/tap-out with the station, bus
tap-on with route and vehicle but usually no stop. Missed taps, missing tap-outs, single-tap days, trips
home by other means and duplicate taps are all produced.

Everything is generated with numpy over whole arrays (loops only over stage positions and route patterns),
so 15 million taps take a minute or so. Seeded: the same seed gives the same tables.

Pure: numpy/pyarrow only, imports nothing from the rest of CityHub but the transit contract.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cityhub.transit import schema
from cityhub.transit.spatial import assign_zones, load_districts, to_latlon

CENTRE = (23.128, 113.300)  # lat, lon: Yuexiu / Tianhe
SERVICE_DATE = datetime(2026, 3, 2)  # a Monday
TAPS_PER_PERSON = 2.9  # measured on the generator

#: the ground truth of every stage travelled (tapped or not)
TRUTH = pa.schema([
    pa.field("card_id", pa.string()),
    pa.field("board_ts", pa.timestamp("s")),       # the boarding tap's recorded time (farebox clock)
    pa.field("mode", pa.string()),
    pa.field("route_id", pa.string()),
    pa.field("direction", pa.int8()),
    pa.field("vehicle_id", pa.string()),
    pa.field("board_stop", pa.string()),
    pa.field("alight_stop", pa.string()),
    pa.field("alight_ts", pa.timestamp("s")),
    pa.field("journey_id", pa.int64()),
    pa.field("stage_no", pa.int16()),              # position in the journey
    pa.field("tapped", pa.bool_()),                # the boarding tap exists in the taps table
    pa.field("tapped_out", pa.bool_()),            # metro: the tap-out exists
])


@dataclass
class City:
    stops: pa.Table
    route_stops: pa.Table
    taps: pa.Table
    avl: pa.Table
    truth: pa.Table
    vehicle_offsets: pa.Table  # vehicle_id, offset_s: the farebox clock error (truth, for validation)

    def write(self, directory: Path) -> dict[str, int]:
        directory.mkdir(parents=True, exist_ok=True)
        counts = {}
        for name in ("stops", "route_stops", "taps", "avl", "truth", "vehicle_offsets"):
            table = getattr(self, name)
            pq.write_table(table, directory / f"{name}.parquet", compression="zstd")
            counts[name] = table.num_rows
        return counts


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """``prefix`` + zero-padded numbers as an Arrow string array (no Python loop)."""
    s = pc.utf8_lpad(pc.cast(pa.array(numbers.astype(np.int64)), pa.string()), width, "0")
    return pc.binary_join_element_wise(pa.scalar(prefix), s, "")


def _take(names: list[str], idx: np.ndarray) -> pa.Array:
    """Strings by index (-1 → null), through a dictionary array."""
    valid = idx >= 0
    arr = pa.DictionaryArray.from_arrays(pa.array(np.where(valid, idx, 0).astype(np.int32), mask=~valid),
                                         pa.array(names, pa.string()))
    return arr.cast(pa.string())


# ----------------------------------------------------------------------------------------------- network
@dataclass
class _Net:
    stop_x: np.ndarray
    stop_y: np.ndarray
    stop_ids: list[str]
    stop_mode: np.ndarray      # 0 bus, 1 metro
    stop_route: np.ndarray     # route index
    stop_seq: np.ndarray       # position on the route (direction 0)
    route_ids: list[str]
    route_mode: np.ndarray
    route_first: np.ndarray    # first stop index of each route (stops are contiguous)
    route_len: np.ndarray
    route_cum: np.ndarray      # per stop: distance from the route's first stop (direction 0)
    nb_ptr: np.ndarray         # neighbours within the transfer walk, CSR
    nb_idx: np.ndarray


def _build_network(rng: np.random.Generator, n_bus: int, n_metro: int) -> _Net:
    side = max(8000.0, math.sqrt(n_bus * 3.5e6))
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    modes, firsts, lens = [], [], []
    first = 0
    # metro: lines through the centre area, stations ~1.3 km apart
    for _m in range(n_metro):
        ang = rng.uniform(0, math.pi)
        off = rng.normal(0, side * 0.12, 2)
        half = side * rng.uniform(0.45, 0.6)
        n = max(6, int(2 * half / 1300))
        t = np.linspace(-half, half, n)
        bend = rng.normal(0, 0.15)
        x = off[0] + t * math.cos(ang) - bend * (t**2 / half) * math.sin(ang)
        y = off[1] + t * math.sin(ang) + bend * (t**2 / half) * math.cos(ang)
        xs.append(x)
        ys.append(y)
        modes.append(1)
        firsts.append(first)
        lens.append(n)
        first += n
    # bus: wandering routes, stops 400–700 m apart
    nstops = rng.integers(14, 32, n_bus)
    start = rng.uniform(-side / 2, side / 2, (n_bus, 2))
    heading = np.arctan2(-start[:, 1], -start[:, 0]) + rng.normal(0, 0.6, n_bus)
    pts_x = np.zeros((n_bus, nstops.max()))
    pts_y = np.zeros_like(pts_x)
    px, py = start[:, 0].copy(), start[:, 1].copy()
    for k in range(nstops.max()):
        pts_x[:, k], pts_y[:, k] = px, py
        step = rng.uniform(400, 700, n_bus)
        heading = heading + rng.normal(0, 0.25, n_bus)
        px = px + step * np.cos(heading)
        py = py + step * np.sin(heading)
    for r in range(n_bus):
        n = int(nstops[r])
        xs.append(pts_x[r, :n])
        ys.append(pts_y[r, :n])
        modes.append(0)
        firsts.append(first)
        lens.append(n)
        first += n
    stop_x = np.concatenate(xs)
    stop_y = np.concatenate(ys)
    route_mode = np.array(modes, dtype=np.int8)
    route_first = np.array(firsts, dtype=np.int64)
    route_len = np.array(lens, dtype=np.int64)
    stop_route = np.repeat(np.arange(len(lens)), route_len)
    stop_seq = np.arange(stop_x.size) - route_first[stop_route]
    seg = np.hypot(np.diff(stop_x, prepend=stop_x[0]), np.diff(stop_y, prepend=stop_y[0]))
    seg[route_first] = 0.0
    cum = np.cumsum(seg)
    route_cum = cum - cum[route_first][stop_route]
    route_ids = [f"M{i + 1}" if modes[i] else f"B{i - n_metro + 1:03d}" for i in range(len(lens))]
    stop_mode = route_mode[stop_route]
    stop_ids = [f"{route_ids[r]}S{s:02d}" for r, s in zip(stop_route.tolist(), stop_seq.tolist(), strict=True)]
    # neighbours within 500 m on another route (the transfers the population can make)
    nb_src, nb_dst = [], []
    n_all = stop_x.size
    for lo in range(0, n_all, 2000):
        hi = min(n_all, lo + 2000)
        d = np.hypot(stop_x[lo:hi, None] - stop_x[None, :], stop_y[lo:hi, None] - stop_y[None, :])
        ok = (d < 500) & (stop_route[lo:hi, None] != stop_route[None, :])
        ok &= ~((stop_mode[lo:hi, None] == 1) & (stop_mode[None, :] == 1))  # metro↔metro is inside the gates
        i, j = np.nonzero(ok)
        nb_src.append(i + lo)
        nb_dst.append(j)
    src = np.concatenate(nb_src)
    dst = np.concatenate(nb_dst)
    order = np.argsort(src, kind="stable")
    nb_ptr = np.zeros(n_all + 1, dtype=np.int64)
    np.add.at(nb_ptr, src + 1, 1)
    nb_ptr = np.cumsum(nb_ptr)
    return _Net(stop_x, stop_y, stop_ids, stop_mode, stop_route, stop_seq, route_ids, route_mode, route_first,
                route_len, route_cum, nb_ptr, dst[order])


# ------------------------------------------------------------------------------------------ timetables
@dataclass
class _Timetable:
    headway: np.ndarray        # per route, s
    first_dep: np.ndarray      # per route and direction (r, 2), s after midnight
    n_trips: np.ndarray        # per route
    n_veh: np.ndarray          # per route
    arr: np.ndarray            # per stop and direction (n_stops, 2): arrival offset from the trip start
    dwell: np.ndarray          # per stop: dwell s
    speed: np.ndarray          # per route, m/s between stops


def _timetable(rng: np.random.Generator, net: _Net) -> _Timetable:
    n_r = net.route_ids.__len__()
    bus = net.route_mode == 0
    headway = np.where(bus, rng.choice([360, 480, 600, 720, 900], n_r), 300).astype(np.float64)
    speed = np.where(bus, rng.uniform(5.0, 7.0, n_r), 10.0)
    dwell = np.where(net.stop_mode == 0, rng.uniform(20, 40, net.stop_x.size), 30.0)
    seg = np.diff(net.route_cum, prepend=0.0)
    seg[net.route_first] = 0.0
    arr = np.zeros((net.stop_x.size, 2))
    for r in range(n_r):
        a, n = net.route_first[r], net.route_len[r]
        s = seg[a:a + n]
        d = dwell[a:a + n]
        run = s / speed[r]
        # direction 0 runs seq 0 → n-1; arrival at k = sum of runs to k + dwells of earlier stops
        fwd = np.cumsum(run) + np.concatenate([[0.0], np.cumsum(d[:-1])])
        runs_in = np.concatenate([[0.0], s[1:][::-1]]) / speed[r]
        db = d[::-1]
        back = np.cumsum(runs_in) + np.concatenate([[0.0], np.cumsum(db[:-1])])
        arr[a:a + n, 0] = fwd
        arr[a:a + n, 1] = back[::-1]
    total = arr[net.route_first + net.route_len - 1, 0] + dwell[net.route_first + net.route_len - 1]
    layover = 300.0
    first0 = 5 * 3600.0 + rng.uniform(0, headway)
    first1 = first0 + total + layover
    n_trips = np.ceil((25 * 3600.0 - first0) / headway).astype(np.int64)
    n_veh = np.where(bus, np.ceil((2 * total + 2 * layover) / headway).astype(np.int64) + 1, 0)
    return _Timetable(headway, np.stack([first0, first1], axis=1), n_trips, n_veh, arr, dwell, speed)


# -------------------------------------------------------------------------------------------- population
def _ride(rng: np.random.Generator, net: _Net, board: np.ndarray,
          origin: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Bus: a direction and an alighting stop 2–14 stops on; metro: another station on any line 2–12 km away
    (chosen among random candidates). With ``origin`` (a transfer), the ride heads away from the journey's
    origin, as a traveller's does. Returns (direction (-1 metro), alighting stop)."""
    n = board.size
    alight = np.empty(n, dtype=np.int64)
    direction = np.full(n, -1, dtype=np.int64)
    r = net.stop_route[board]
    is_bus = net.route_mode[r] == 0
    b = np.flatnonzero(is_bus)
    seq = net.stop_seq[board[b]]
    length = net.route_len[r[b]]
    ahead = length - 1 - seq
    behind = seq
    want = rng.integers(2, 15, b.size)
    go_fwd = np.where(rng.random(b.size) < 0.5, ahead >= behind * 0.5, ahead > behind * 2)
    go_fwd = np.where(ahead == 0, False, np.where(behind == 0, True, go_fwd))
    if origin is not None:
        o = origin[b]
        f_stop = board[b] + np.minimum(want, ahead)
        b_stop = board[b] - np.minimum(want, behind)
        df = np.hypot(net.stop_x[f_stop] - net.stop_x[o], net.stop_y[f_stop] - net.stop_y[o])
        db = np.hypot(net.stop_x[b_stop] - net.stop_x[o], net.stop_y[b_stop] - net.stop_y[o])
        go_fwd = np.where(ahead == 0, False, np.where(behind == 0, True, df >= db))
    steps = np.where(go_fwd, np.minimum(want, ahead), np.minimum(want, behind))
    steps = np.maximum(steps, 1)
    alight[b] = board[b] + np.where(go_fwd, steps, -steps)
    direction[b] = np.where(go_fwd, 0, 1)
    m = np.flatnonzero(~is_bus)
    if m.size:
        stations = np.flatnonzero(net.stop_mode == 1)
        best = np.full(m.size, -1, dtype=np.int64)
        bestd = np.full(m.size, np.inf)
        target = rng.uniform(2000, 12000, m.size)
        for _ in range(6):
            cand = stations[rng.integers(0, stations.size, m.size)]
            d = np.hypot(net.stop_x[cand] - net.stop_x[board[m]], net.stop_y[cand] - net.stop_y[board[m]])
            score = np.abs(d - target)
            ok = (cand != board[m]) & (d > 1000) & (score < bestd)
            if origin is not None:
                o = origin[m]
                ok &= (np.hypot(net.stop_x[cand] - net.stop_x[o], net.stop_y[cand] - net.stop_y[o])
                       > np.hypot(net.stop_x[board[m]] - net.stop_x[o], net.stop_y[board[m]] - net.stop_y[o]))
            best = np.where(ok, cand, best)
            bestd = np.where(ok, score, bestd)
        fallback = stations[(np.searchsorted(stations, board[m]) + 3) % stations.size]
        alight[m] = np.where(best >= 0, best, fallback)
    return direction, alight


def _neighbour(rng: np.random.Generator, net: _Net, at: np.ndarray) -> np.ndarray:
    """A random stop within 500 m on another route (-1 when none)."""
    lo, hi = net.nb_ptr[at], net.nb_ptr[at + 1]
    cnt = hi - lo
    pick = lo + (rng.random(at.size) * np.maximum(cnt, 1)).astype(np.int64)
    return np.where(cnt > 0, net.nb_idx[np.minimum(pick, net.nb_idx.size - 1)], -1)


def _path(rng: np.random.Generator, net: _Net, start: np.ndarray, nst: np.ndarray) -> dict[str, np.ndarray]:
    """Out-bound journeys of up to 3 stages from ``start``; arrays (n, 3); unused stages have board = -1."""
    n = start.size
    board = np.full((n, 3), -1, dtype=np.int64)
    alight = np.full((n, 3), -1, dtype=np.int64)
    direction = np.full((n, 3), -1, dtype=np.int64)
    cur = start.copy()
    alive = np.ones(n, dtype=bool)
    for k in range(3):
        act = alive & (nst > k)
        if k == 0:
            idx = np.flatnonzero(act)
            d, a = _ride(rng, net, cur[idx])
        else:
            # a transfer: of a few nearby stops, the one whose ride gets farthest from the origin
            best_far = np.full(n, -1.0)
            best_nb = np.full(n, -1, dtype=np.int64)
            best_d = np.full(n, -1, dtype=np.int64)
            best_a = np.full(n, -1, dtype=np.int64)
            for _try in range(3):
                nb = _neighbour(rng, net, cur)
                nbc = np.maximum(nb, 0)
                bad = (nb < 0) | ((net.stop_mode[cur] == 1) & (net.stop_mode[nbc] == 1))
                for q in range(k):  # no route twice in one journey
                    bad |= (board[:, q] >= 0) & (net.stop_route[nbc] == net.stop_route[np.maximum(board[:, q], 0)])
                cand = np.flatnonzero(act & ~bad)
                if cand.size == 0:
                    continue
                dd, aa = _ride(rng, net, nbc[cand], start[cand])
                far = np.hypot(net.stop_x[aa] - net.stop_x[start[cand]], net.stop_y[aa] - net.stop_y[start[cand]])
                better = far > best_far[cand]
                c2 = cand[better]
                best_far[c2], best_nb[c2], best_d[c2], best_a[c2] = far[better], nbc[c2], dd[better], aa[better]
            act &= best_nb >= 0
            idx = np.flatnonzero(act)
            cur = np.where(act, best_nb, cur)
            d, a = best_d[idx], best_a[idx]
        if idx.size == 0:
            break
        board[idx, k] = cur[idx]
        alight[idx, k] = a
        direction[idx, k] = d
        cur[idx] = a
        alive = act
    return {"board": board, "alight": alight, "dir": direction}


def _reverse(net: _Net, rng: np.random.Generator, out: dict[str, np.ndarray], shift_p: float) -> dict[str, np.ndarray]:
    """The way back: the same stages in reverse order and direction; with probability ``shift_p`` the first
    boarding is one stop off (the traveller walked to the next stop)."""
    used = out["board"] >= 0
    nused = used.sum(axis=1)
    n = nused.size
    board = np.full((n, 3), -1, dtype=np.int64)
    alight = np.full((n, 3), -1, dtype=np.int64)
    direction = np.full((n, 3), -1, dtype=np.int64)
    for k in range(3):
        src = nused - 1 - k
        ok = src >= 0
        rows = np.flatnonzero(ok)
        s = src[rows]
        board[rows, k] = out["alight"][rows, s]
        alight[rows, k] = out["board"][rows, s]
        d = out["dir"][rows, s]
        direction[rows, k] = np.where(d >= 0, 1 - d, -1)
    # the shifted first boarding (bus only, ride of ≥ 3 stops so it stays a ride)
    b0, a0 = board[:, 0], alight[:, 0]
    bus = (b0 >= 0) & (net.stop_mode[np.maximum(b0, 0)] == 0)
    span = np.abs(net.stop_seq[np.maximum(a0, 0)] - net.stop_seq[np.maximum(b0, 0)])
    shift = bus & (span >= 3) & (rng.random(n) < shift_p)
    toward = np.sign(net.stop_seq[np.maximum(a0, 0)] - net.stop_seq[np.maximum(b0, 0)])
    board[shift, 0] = b0[shift] + toward[shift]
    return {"board": board, "alight": alight, "dir": direction}


def simulate(taps: int = 50_000, seed: int = 1) -> City:
    """One service day of about ``taps`` taps (the population is sized to it)."""
    rng = np.random.default_rng(seed)
    n_bus = int(np.clip(taps / 35_000, 12, 450))
    n_metro = int(np.clip(n_bus / 45, 2, 10))
    net = _build_network(rng, n_bus, n_metro)
    tt = _timetable(rng, net)
    # more metro lines, more two-tap stages: taps per person measured 2.9 (2 lines) to 3.27 (10 lines)
    n_persons = max(50, int(taps / (TAPS_PER_PERSON + 0.046 * (n_metro - 2))))
    n_stops = net.stop_x.size

    # ---- who does what
    home = rng.integers(0, n_stops, n_persons)
    worker = rng.random(n_persons) < 0.62
    single = rng.random(n_persons) < 0.08           # one stage all day (the rest by other means)
    evening = rng.random(n_persons) < np.where(worker, 0.15, 0.25)
    no_return = rng.random(n_persons) < 0.04         # went home by taxi / on foot: last journey untapped

    def nstages(size: int) -> np.ndarray:
        return rng.choice([1, 2, 3], size, p=[0.58, 0.34, 0.08])

    n1 = np.where(single, 1, nstages(n_persons))
    out1 = _path(rng, net, home, n1)
    back1 = _reverse(net, rng, out1, 0.08)
    out2 = _path(rng, net, home, nstages(n_persons))
    back2 = _reverse(net, rng, out2, 0.08)
    # journeys per person (up to 4), each (n, 3) stages
    journeys = [out1, back1, out2, back2]
    active = [np.ones(n_persons, bool), ~single, evening & ~single, evening & ~single]

    # ---- times, stage by stage
    start1 = np.where(worker, rng.normal(7.9, 0.8, n_persons).clip(5.5, 11), rng.uniform(8.5, 15, n_persons))
    stay1 = np.where(worker, rng.uniform(8, 10, n_persons), rng.uniform(1, 4, n_persons)) * 3600
    stay_home = rng.uniform(0.5, 2.5, n_persons) * 3600
    stay2 = rng.uniform(0.5, 2.5, n_persons) * 3600
    rows: dict[str, list[np.ndarray]] = {k: [] for k in (
        "person", "board", "alight", "dir", "route", "tap_ts", "alight_ts", "trip", "journey", "stage_no",
        "jactive")}
    t = start1 * 3600
    for j, path in enumerate(journeys):
        tj = t.copy()
        for k in range(3):
            b = path["board"][:, k]
            ok = (b >= 0) & active[j]
            idx = np.flatnonzero(ok)
            if idx.size == 0:
                continue
            bi, ai, di = b[idx], path["alight"][idx, k], path["dir"][idx, k]
            r = net.stop_route[bi]
            is_bus = net.route_mode[r] == 0
            tap = np.empty(idx.size)
            alight_t = np.empty(idx.size)
            trip = np.full(idx.size, -1, dtype=np.int64)
            now = tj[idx]
            bb = np.flatnonzero(is_bus)
            if bb.size:
                rr, dd = r[bb], di[bb]
                a_b = tt.arr[bi[bb], dd]
                a_a = tt.arr[ai[bb], dd]
                m = np.ceil((now[bb] - tt.first_dep[rr, dd] - a_b) / tt.headway[rr]).astype(np.int64)
                m = np.clip(m, 0, tt.n_trips[rr] - 1)
                start = tt.first_dep[rr, dd] + m * tt.headway[rr]
                tap[bb] = start + a_b + rng.uniform(0, 1, bb.size) * tt.dwell[bi[bb]]
                alight_t[bb] = start + a_a
                trip[bb] = m
            mm = np.flatnonzero(~is_bus)
            if mm.size:
                tap[mm] = now[mm] + rng.uniform(20, 120, mm.size)
                dist = np.hypot(net.stop_x[ai[mm]] - net.stop_x[bi[mm]], net.stop_y[ai[mm]] - net.stop_y[bi[mm]])
                alight_t[mm] = tap[mm] + dist / 8.5 + rng.uniform(120, 420, mm.size)
            walk_next = rng.uniform(60, 360, idx.size)
            tj[idx] = alight_t + walk_next
            rows["person"].append(idx)
            rows["board"].append(bi)
            rows["alight"].append(ai)
            rows["dir"].append(di)
            rows["route"].append(r)
            rows["tap_ts"].append(tap)
            rows["alight_ts"].append(alight_t)
            rows["trip"].append(trip)
            rows["journey"].append(np.full(idx.size, j))
            rows["stage_no"].append(np.full(idx.size, k))
        # the next journey starts after the stay
        stay = [stay1, stay_home, stay2, stay_home][j]
        t = np.maximum(tj + stay, t)
    st = {k: np.concatenate(v) for k, v in rows.items() if v}
    person, route, board, alight = st["person"], st["route"], st["board"], st["alight"]
    n_st = person.size
    is_bus = net.route_mode[route] == 0
    jkey = person.astype(np.int64) * 4 + st["journey"]
    # vehicles and their clock offsets
    veh_base = np.concatenate([[0], np.cumsum(tt.n_veh)[:-1]])
    vehicle = np.where(is_bus, veh_base[route] + st["trip"] % np.maximum(tt.n_veh[route], 1), -1)
    n_vehicles = int(tt.n_veh.sum())
    drifting = rng.random(n_vehicles) < 0.3
    offset = np.where(drifting, rng.normal(0, 120, n_vehicles).clip(-500, 500), rng.normal(0, 3, n_vehicles))
    offset = np.round(offset)
    tap_ts = np.round(st["tap_ts"] + np.where(is_bus, offset[np.maximum(vehicle, 0)], 0.0))
    alight_ts = np.round(st["alight_ts"])
    # which taps exist
    last_j = np.zeros(n_persons, dtype=np.int64)
    np.maximum.at(last_j, person, st["journey"])
    untapped_journey = no_return[person] & (st["journey"] == last_j[person]) & ~single[person]
    missed = (rng.random(n_st) < np.where(is_bus, 0.03, 0.005)) | untapped_journey
    tapped = ~missed
    tapped_out = tapped & ~is_bus & (rng.random(n_st) >= 0.02)

    # ---- tables
    base = int((SERVICE_DATE - datetime(1970, 1, 1)).total_seconds())
    order = np.lexsort((tap_ts, person))
    person, route, board, alight = person[order], route[order], board[order], alight[order]
    is_bus, vehicle, tap_ts, alight_ts = is_bus[order], vehicle[order], tap_ts[order], alight_ts[order]
    tapped, tapped_out, jkey = tapped[order], tapped_out[order], jkey[order]
    stage_no = st["stage_no"][order]
    direction = np.where(is_bus, st["dir"][order], -1)
    # journey ids renumbered densely
    _, jid = np.unique(jkey, return_inverse=True)

    veh_route = np.repeat(np.arange(len(net.route_ids)), tt.n_veh)
    veh_no = np.arange(n_vehicles) - veh_base[veh_route]
    vehicle_names = [f"{net.route_ids[r]}-V{v:02d}" for r, v in zip(veh_route.tolist(), veh_no.tolist(), strict=True)]
    card = _ids("C", person, 8)
    ts_type = pa.timestamp("s")
    truth = pa.table({
        "card_id": card,
        "board_ts": pa.array((tap_ts + base).astype(np.int64), ts_type),
        "mode": _take(["bus", "metro"], (~is_bus).astype(np.int64)),
        "route_id": _take(net.route_ids, np.where(is_bus, route, -1)),
        "direction": pa.array(direction.astype(np.int8), mask=direction < 0),
        "vehicle_id": _take(vehicle_names, vehicle),
        "board_stop": _take(net.stop_ids, board),
        "alight_stop": _take(net.stop_ids, alight),
        "alight_ts": pa.array((alight_ts + base).astype(np.int64), ts_type),
        "journey_id": pa.array(jid.astype(np.int64)),
        "stage_no": pa.array(stage_no.astype(np.int16)),
        "tapped": pa.array(tapped),
        "tapped_out": pa.array(tapped_out),
    }, schema=TRUTH)

    # taps: boarding taps, tap-outs, duplicates
    t_idx = np.flatnonzero(tapped)
    o_idx = np.flatnonzero(tapped_out)
    dup = t_idx[is_bus[t_idx] & (rng.random(t_idx.size) < 0.01)]
    src = np.concatenate([t_idx, o_idx, dup])
    kind = np.concatenate([np.where(is_bus[t_idx], 0, 1), np.full(o_idx.size, 2), np.zeros(dup.size, np.int64)])
    ts = np.concatenate([tap_ts[t_idx], alight_ts[o_idx] + rng.integers(20, 90, o_idx.size),
                         tap_ts[dup] + rng.integers(3, 25, dup.size)])
    bus_tap = kind == 0
    stop_known = ~bus_tap | (rng.random(src.size) < 0.3)
    stop = np.where(kind == 2, alight[src], board[src])
    stop = np.where(stop_known, stop, -1)
    route_known = bus_tap & (rng.random(src.size) < 0.95)
    fare = np.where(bus_tap, 200, 0)
    metro_d = np.hypot(net.stop_x[alight[src]] - net.stop_x[board[src]], net.stop_y[alight[src]] - net.stop_y[board[src]])
    fare = np.where(kind == 2, 200 + 100 * (metro_d // 6000), fare)
    tord = np.lexsort((ts, person[src]))
    src, kind, ts, stop, route_known, fare = src[tord], kind[tord], ts[tord], stop[tord], route_known[tord], fare[tord]
    bus_tap = kind == 0
    taps_t = pa.table({
        "card_id": _ids("C", person[src], 8),
        "ts": pa.array((ts + base).astype(np.int64), ts_type),
        "mode": _take(["bus", "metro"], (~bus_tap).astype(np.int64)),
        "kind": _take(list(schema.TAP_KINDS), kind),
        "stop_id": _take(net.stop_ids, stop),
        "route_id": _take(net.route_ids, np.where(route_known, route[src], -1)),
        "vehicle_id": _take(vehicle_names, np.where(bus_tap, vehicle[src], -1)),
        "fare_fen": pa.array(fare.astype(np.int32)),
    }, schema=schema.TAPS)

    # stops, patterns
    lat, lon = to_latlon(net.stop_x, net.stop_y, *CENTRE)
    districts = assign_zones(lat, lon, load_districts())
    mode_names = np.array(["bus", "metro"], dtype=object)
    stops_t = pa.table({
        "stop_id": pa.array(net.stop_ids, pa.string()),
        "name": pa.array([f"站{s}" for s in net.stop_ids], pa.string()),
        "lat": pa.array(lat), "lon": pa.array(lon),
        "mode": pa.array(mode_names[net.stop_mode].tolist(), pa.string()),
        "district": pa.array(districts.tolist(), pa.string()),
    }, schema=schema.STOPS)
    rs_route, rs_dir, rs_seq, rs_stop, rs_dist = [], [], [], [], []
    for r in range(len(net.route_ids)):
        a, n = int(net.route_first[r]), int(net.route_len[r])
        cum = net.route_cum[a:a + n]
        for d in (0, 1):
            ids = np.arange(a, a + n) if d == 0 else np.arange(a + n - 1, a - 1, -1)
            rs_route.append(np.full(n, r))
            rs_dir.append(np.full(n, d))
            rs_seq.append(np.arange(n))
            rs_stop.append(ids)
            rs_dist.append(cum if d == 0 else cum[-1] - cum[::-1])
    route_stops_t = pa.table({
        "route_id": _take(net.route_ids, np.concatenate(rs_route)),
        "direction": pa.array(np.concatenate(rs_dir).astype(np.int8)),
        "seq": pa.array(np.concatenate(rs_seq).astype(np.int32)),
        "stop_id": _take(net.stop_ids, np.concatenate(rs_stop)),
        "dist_m": pa.array(np.concatenate(rs_dist)),
    }, schema=schema.ROUTE_STOPS)

    avl_t = _avl(rng, net, tt, vehicle_names, veh_base, lat, lon, base)
    offsets_t = pa.table({"vehicle_id": pa.array(vehicle_names, pa.string()),
                          "offset_s": pa.array(offset.astype(np.int64))})
    return City(stops_t, route_stops_t, taps_t, avl_t, truth, offsets_t)


def _avl(rng: np.random.Generator, net: _Net, tt: _Timetable, vehicle_names: list[str], veh_base: np.ndarray,
         lat: np.ndarray, lon: np.ndarray, base: int) -> pa.Table:
    """30 s fixes of every bus trip (GPS time), with noise, gaps and a few off-route fixes."""
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("veh", "ts", "lat", "lon", "route", "dir")}
    for r in np.flatnonzero(net.route_mode == 0):
        a, n = int(net.route_first[r]), int(net.route_len[r])
        for d in (0, 1):
            ids = np.arange(a, a + n) if d == 0 else np.arange(a + n - 1, a - 1, -1)
            arr = tt.arr[ids, d]
            dw = tt.dwell[ids]
            # position along the pattern (0..n-1 in stop units) against time: at stop k during [arr, arr+dwell]
            tp = np.stack([arr, arr + dw], axis=1).ravel()
            kp = np.repeat(np.arange(n, dtype=np.float64), 2)
            dur = tp[-1]
            n_ping = int(dur // 30) + 1
            trips = np.arange(int(tt.n_trips[r]))
            phase = rng.uniform(0, 30, trips.size)
            off = phase[:, None] + 30.0 * np.arange(n_ping)[None, :]
            inside = off <= dur
            k = np.interp(off, tp, kp)
            k0 = np.floor(k).astype(np.int64).clip(0, n - 1)
            k1 = np.minimum(k0 + 1, n - 1)
            f = k - k0
            la = lat[ids][k0] * (1 - f) + lat[ids][k1] * f
            lo = lon[ids][k0] * (1 - f) + lon[ids][k1] * f
            tsec = tt.first_dep[r, d] + trips[:, None] * tt.headway[r] + off
            veh = veh_base[r] + trips % tt.n_veh[r]
            vehm = np.broadcast_to(veh[:, None], off.shape)
            sel = inside
            parts["veh"].append(vehm[sel])
            parts["ts"].append(tsec[sel])
            parts["lat"].append(la[sel])
            parts["lon"].append(lo[sel])
            parts["route"].append(np.full(int(sel.sum()), r))
            parts["dir"].append(np.full(int(sel.sum()), d))
    veh = np.concatenate(parts["veh"])
    ts = np.round(np.concatenate(parts["ts"]))
    la = np.concatenate(parts["lat"]) + rng.normal(0, 8e-5, veh.size)   # ~9 m GPS noise
    lo = np.concatenate(parts["lon"]) + rng.normal(0, 9e-5, veh.size)
    route = np.concatenate(parts["route"])
    direction = np.concatenate(parts["dir"])
    # gaps: 10 % of vehicles lose 10–30 min, 2 % an hour
    n_veh = len(vehicle_names)
    g_start = rng.uniform(6 * 3600, 21 * 3600, n_veh)
    g_len = np.where(rng.random(n_veh) < 0.1, rng.uniform(600, 1800, n_veh), 0.0)
    g_len = np.where(rng.random(n_veh) < 0.02, 3600.0, g_len)
    keep = ~((ts >= g_start[veh]) & (ts < g_start[veh] + g_len[veh]))
    # off-route fixes (multipath, depot moves): pushed ~600 m away
    stray = rng.random(veh.size) < 0.002
    la = np.where(stray, la + 0.0055, la)
    order = np.lexsort((ts, veh))
    order = order[keep[order]]
    return pa.table({
        "vehicle_id": _take(vehicle_names, veh[order]),
        "ts": pa.array((ts[order] + base).astype(np.int64), pa.timestamp("s")),
        "lat": pa.array(la[order]), "lon": pa.array(lo[order]),
        "route_id": _take(net.route_ids, route[order]),
        "direction": pa.array(direction[order].astype(np.int8)),
    }, schema=schema.AVL)
