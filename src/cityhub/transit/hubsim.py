"""A seeded simulator of device pings at Guangzhou South railway station (广州南站), with its ground truth.

Pure: imports nothing from the rest of CityHub but :mod:`cityhub.transit.schema`; vectorised with NumPy (no
per-person Python loop). The hub's zones are the platforms, the waiting concourse, the metro hall (lines 2, 7 and
22), the taxi rank and the bus/coach terminal; outside it, the districts people come from and go to (district
codes as zone ids). Four kinds of people:

* **departing** rail passengers: a ping in their home district, then the access zone (metro, taxi drop-off, bus),
  the concourse (20–90 min; longer on a holiday), the platform, and the train (no more pings);
* **arriving** rail passengers: platform, concourse, the egress zone (metro, taxi queue — much longer on a holiday —
  or bus), then a ping in the district they go to;
* **metro transfers**: only the metro hall, a few minutes, between two outside pings;
* **staff**: an eight-hour shift in the concourse.

Within a zone a device pings at its first and last moment and in between at most ``1.3 × ping_every_s`` apart
(jittered), and the next zone starts 5–30 s later, so with a visit gap of 15 min the hub rules of
:mod:`cityhub.transit.hubs` must recover each person's one stay, its exact dwell, origin and destination: the
``truth`` table is what a test compares against. A holiday (``holiday=True``) multiplies departures by 1.9,
arrivals by 1.5 and transfers by 1.2, and lengthens waits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import pyarrow as pa

from cityhub.transit.schema import PINGS

#: zone id → (中文, English)
HUB_ZONES: dict[str, tuple[str, str]] = {
    "gzs-platform": ("站台", "platforms"),
    "gzs-concourse": ("候车大厅", "waiting concourse"),
    "gzs-metro": ("地铁站厅(2/7/22号线)", "metro hall (lines 2, 7, 22)"),
    "gzs-taxi": ("出租车场", "taxi rank"),
    "gzs-bus": ("公交及长途客运站", "bus and coach terminal"),
}
#: outside zones: district code → (中文, English, share of trips)
DISTRICTS: dict[str, tuple[str, str, float]] = {
    "440113": ("番禺区", "Panyu", 0.22),
    "440106": ("天河区", "Tianhe", 0.18),
    "440105": ("海珠区", "Haizhu", 0.12),
    "440104": ("越秀区", "Yuexiu", 0.09),
    "440103": ("荔湾区", "Liwan", 0.08),
    "440111": ("白云区", "Baiyun", 0.10),
    "440112": ("黄埔区", "Huangpu", 0.06),
    "440606": ("佛山市顺德区", "Foshan Shunde", 0.15),
}
HUB_ZONE_IDS = tuple(HUB_ZONES)
#: trains per hour of day (relative), 06:00–22:59
TRAIN_PROFILE = {6: 1, 7: 4, 8: 7, 9: 6, 10: 5, 11: 5, 12: 5, 13: 5, 14: 5, 15: 5, 16: 6, 17: 7, 18: 7, 19: 6,
                 20: 5, 21: 4, 22: 2}
ACCESS = (("gzs-metro", 0.55), ("gzs-taxi", 0.20), ("gzs-bus", 0.25))
EGRESS = (("gzs-metro", 0.55), ("gzs-taxi", 0.25), ("gzs-bus", 0.20))

TRUTH = pa.schema([
    pa.field("device_id", pa.string()), pa.field("kind", pa.string()),
    pa.field("origin_zone", pa.string()), pa.field("destination_zone", pa.string()),
    pa.field("first_zone", pa.string()), pa.field("arrive", pa.timestamp("s")), pa.field("leave", pa.timestamp("s")),
    pa.field("dwell_s", pa.int64()),
])


@dataclass
class SimulatedHub:
    pings: pa.Table       # PINGS, ordered by device and time
    truth: pa.Table       # TRUTH: one row per person, their one stay at the hub
    zones: pa.Table       # zone_id, name_zh, name_en, inside (bool)
    counts: dict[str, int]


def zones_table() -> pa.Table:
    ids = [*HUB_ZONES, *DISTRICTS]
    return pa.table({"zone_id": ids,
                     "name_zh": [v[0] for v in HUB_ZONES.values()] + [v[0] for v in DISTRICTS.values()],
                     "name_en": [v[1] for v in HUB_ZONES.values()] + [v[1] for v in DISTRICTS.values()],
                     "inside": [True] * len(HUB_ZONES) + [False] * len(DISTRICTS)})


class _Segments:
    """Segments (person, zone, start, end) collected as arrays, seconds from the day's midnight."""

    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []

    def add(self, person: np.ndarray, zone: np.ndarray, start: np.ndarray, end: np.ndarray) -> None:
        self.parts.append((person, zone, np.round(start).astype(np.int64), np.round(end).astype(np.int64)))

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return tuple(np.concatenate([p[i] for p in self.parts]) for i in range(4))  # type: ignore[return-value]


def _choice(rng: np.random.Generator, options: tuple[tuple[str, float], ...] | list[tuple[str, float]],
            n: int) -> np.ndarray:
    names = np.array([o[0] for o in options], dtype=object)
    w = np.array([o[1] for o in options], dtype=float)
    return names[rng.choice(len(names), size=n, p=w / w.sum())]


def _train_times(rng: np.random.Generator, n: int) -> np.ndarray:
    hours = np.array(list(TRAIN_PROFILE))
    w = np.array(list(TRAIN_PROFILE.values()), dtype=float)
    return rng.choice(hours, size=n, p=w / w.sum()) * 3600 + rng.uniform(0, 3600, n)


def _minutes(rng: np.random.Generator, lo: float, hi: float, n: int) -> np.ndarray:
    return rng.uniform(lo * 60, hi * 60, n)


def simulate_hub(day: date, people: int = 20_000, *, holiday: bool = False, seed: int = 0,
                 ping_every_s: int = 300) -> SimulatedHub:
    """One day of pings at 广州南站 for about ``people`` people on an ordinary day (more on a holiday)."""
    if people < 10 or ping_every_s <= 0:
        raise ValueError("people 至少为 10,ping_every_s 应为正数 / people must be at least 10 and ping_every_s "
                         "positive")
    rng = np.random.default_rng([seed, day.toordinal(), int(holiday)])
    factor = {"departing": 1.9, "arriving": 1.5, "transfer": 1.2} if holiday else \
        {"departing": 1.0, "arriving": 1.0, "transfer": 1.0}
    n_staff = max(1, people // 100)
    base = people - n_staff
    n = {"departing": int(base * 0.45 * factor["departing"]), "arriving": int(base * 0.45 * factor["arriving"]),
         "transfer": int(base * 0.10 * factor["transfer"]), "staff": n_staff}
    districts = [(k, v[2]) for k, v in DISTRICTS.items()]
    seg = _Segments()
    kinds: list[np.ndarray] = []
    origin: list[np.ndarray] = []
    dest: list[np.ndarray] = []
    first: list[np.ndarray] = []
    offset = 0

    def gap(k: int) -> np.ndarray:
        return rng.uniform(5, 30, k)

    # departing: district ping → access zone → concourse → platform → train
    k = n["departing"]
    p = np.arange(offset, offset + k)
    train = _train_times(rng, k)
    plat = _minutes(rng, 5, 12, k)
    wait = _minutes(rng, 20, 90, k) + (_minutes(rng, 0, 40, k) if holiday else 0)
    acc = _minutes(rng, 1, 4, k)
    acc_zone = _choice(rng, ACCESS, k)
    home = _choice(rng, districts, k)
    plat0 = train - plat
    conc1 = plat0 - gap(k)
    conc0 = conc1 - wait
    acc1 = conc0 - gap(k)
    acc0 = acc1 - acc
    o = acc0 - _minutes(rng, 15, 60, k)
    seg.add(p, home, o, o)
    seg.add(p, acc_zone, acc0, acc1)
    seg.add(p, np.full(k, "gzs-concourse", dtype=object), conc0, conc1)
    seg.add(p, np.full(k, "gzs-platform", dtype=object), plat0, train)
    kinds.append(np.full(k, "departing", dtype=object))
    origin.append(home)
    dest.append(np.full(k, "unknown", dtype=object))
    first.append(acc_zone)
    offset += k

    # arriving: platform → concourse → egress zone → district ping
    k = n["arriving"]
    p = np.arange(offset, offset + k)
    t0 = _train_times(rng, k)
    t1 = t0 + _minutes(rng, 2, 5, k)
    c0 = t1 + gap(k)
    c1 = c0 + _minutes(rng, 2, 10, k)
    e0 = c1 + gap(k)
    eg = _choice(rng, EGRESS, k)
    taxi = _minutes(rng, 15, 60, k) if holiday else _minutes(rng, 5, 25, k)
    e1 = e0 + np.where(eg == "gzs-taxi", taxi, np.where(eg == "gzs-metro", _minutes(rng, 2, 8, k),
                                                        _minutes(rng, 5, 20, k)))
    to = _choice(rng, districts, k)
    d = e1 + _minutes(rng, 15, 60, k)
    seg.add(p, np.full(k, "gzs-platform", dtype=object), t0, t1)
    seg.add(p, np.full(k, "gzs-concourse", dtype=object), c0, c1)
    seg.add(p, eg, e0, e1)
    seg.add(p, to, d, d)
    kinds.append(np.full(k, "arriving", dtype=object))
    origin.append(np.full(k, "unknown", dtype=object))
    dest.append(to)
    first.append(np.full(k, "gzs-platform", dtype=object))
    offset += k

    # metro transfers: district ping → metro hall → district ping
    k = n["transfer"]
    p = np.arange(offset, offset + k)
    m0 = _train_times(rng, k)
    m1 = m0 + _minutes(rng, 1, 6, k)
    fr = _choice(rng, districts, k)
    to2 = _choice(rng, districts, k)
    b = m0 - _minutes(rng, 10, 40, k)
    a = m1 + _minutes(rng, 10, 40, k)
    seg.add(p, fr, b, b)
    seg.add(p, np.full(k, "gzs-metro", dtype=object), m0, m1)
    seg.add(p, to2, a, a)
    kinds.append(np.full(k, "transfer", dtype=object))
    origin.append(fr)
    dest.append(to2)
    first.append(np.full(k, "gzs-metro", dtype=object))
    offset += k

    # staff: an eight-hour shift in the concourse, from about 07:00 or 14:00
    k = n["staff"]
    p = np.arange(offset, offset + k)
    s0 = np.where(rng.random(k) < 0.5, 7 * 3600, 14 * 3600) + rng.uniform(-1200, 1200, k)
    seg.add(p, np.full(k, "gzs-concourse", dtype=object), s0, s0 + 8 * 3600)
    kinds.append(np.full(k, "staff", dtype=object))
    origin.append(np.full(k, "unknown", dtype=object))
    dest.append(np.full(k, "unknown", dtype=object))
    first.append(np.full(k, "gzs-concourse", dtype=object))
    offset += k

    person, zone, start, end = seg.arrays()
    # pings: first and last moment of each segment, and interior ones at most 1.3 × ping_every_s apart
    dur = end - start
    inner = np.maximum(np.ceil(dur / ping_every_s).astype(np.int64) - 1, 0)
    idx = np.repeat(np.arange(len(dur)), inner)
    j = np.arange(len(idx)) - np.repeat(np.cumsum(inner) - inner, inner) + 1  # 1..inner within its segment
    step = dur[idx] / (inner[idx] + 1)
    t_in = np.round(start[idx] + (j + rng.uniform(-0.3, 0.3, len(idx))) * step).astype(np.int64)
    t_in = np.clip(t_in, start[idx], end[idx])
    edge_end = dur > 0
    all_person = np.concatenate([person, person[edge_end], person[idx]])
    all_zone = np.concatenate([zone, zone[edge_end], zone[idx]])
    all_t = np.concatenate([start, end[edge_end], t_in])
    order = np.lexsort((all_t, all_person))
    midnight = np.datetime64(datetime(day.year, day.month, day.day), "s")
    prefix = f"{day:%Y%m%d}-"
    ids = np.char.add(prefix, np.char.zfill(np.arange(offset).astype(str), 7))
    pings = pa.table({"device_id": pa.array(ids[all_person[order]], pa.string()),
                      "ts": pa.array(midnight + all_t[order].astype("timedelta64[s]"), pa.timestamp("s")),
                      "zone_id": pa.array(all_zone[order].astype(str), pa.string())}, schema=PINGS)
    inside = np.isin(zone, HUB_ZONE_IDS)
    arrive = np.full(offset, np.iinfo(np.int64).max)
    leave = np.full(offset, np.iinfo(np.int64).min)
    np.minimum.at(arrive, person[inside], start[inside])
    np.maximum.at(leave, person[inside], end[inside])
    truth = pa.table({
        "device_id": pa.array(ids, pa.string()),
        "kind": pa.array(np.concatenate(kinds).astype(str), pa.string()),
        "origin_zone": pa.array(np.concatenate(origin).astype(str), pa.string()),
        "destination_zone": pa.array(np.concatenate(dest).astype(str), pa.string()),
        "first_zone": pa.array(np.concatenate(first).astype(str), pa.string()),
        "arrive": pa.array(midnight + arrive.astype("timedelta64[s]"), pa.timestamp("s")),
        "leave": pa.array(midnight + leave.astype("timedelta64[s]"), pa.timestamp("s")),
        "dwell_s": pa.array(leave - arrive, pa.int64()),
    }, schema=TRUTH)
    return SimulatedHub(pings, truth, zones_table(), {**n, "people": offset, "pings": pings.num_rows})


def simulate_days(days: list[tuple[date, bool]], people: int = 20_000, *, seed: int = 0,
                  ping_every_s: int = 300) -> SimulatedHub:
    """Several days (each ``(day, holiday)``) in one set of tables, e.g. a holiday and its baseline."""
    sims = [simulate_hub(d, people, holiday=h, seed=seed, ping_every_s=ping_every_s) for d, h in days]
    counts: dict[str, int] = {}
    for s in sims:
        for key, v in s.counts.items():
            counts[key] = counts.get(key, 0) + v
    return SimulatedHub(pa.concat_tables([s.pings for s in sims]), pa.concat_tables([s.truth for s in sims]),
                        zones_table(), counts)
