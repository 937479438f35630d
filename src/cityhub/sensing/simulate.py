"""A Guangzhou-like sensor fleet for ``cityhub sensing simulate``: pure generators, no I/O but what the caller
passes in (the districts GeoJSON as a dict), no import from the rest of CityHub.

- ``build_fleet``: the 11 national air-quality control stations of Guangzhou (approximate WGS-84
  positions) plus thousands of city devices (flood monitors, manhole covers, street lamps, parking spots,
  gas / water / drainage pipeline monitors, energy meters, water-quality and noise monitors) placed inside
  the district polygons, each with a deterministic token, behind gateways (about 100 devices per gateway).
- ``reading``: one reading ``{"ts": <ms>, "values": {...}}`` with daily cycles in Beijing time (PM2.5 and
  NO2 peaking at the rush hours, O3 in the afternoon, lamps on at night, parking full by day) and the
  effect of any incident that is running.
- ``plan_incidents``: a pollution episode, a flooded underpass, an opened manhole and a gas pressure drop,
  placed within the simulated period.
- ``csv_rows``: the device list for the bulk import (columns code, type, name, lat, lon, district, token,
  gateway).

Attribute names and type codes follow ``sensing/devicetypes.py`` (Smart Data Models where one exists).
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

#: the bulk-import CSV; ``district_code`` (the six-digit division code) is what the device registry keeps
CSV_COLUMNS = ("code", "type", "name", "lat", "lon", "district", "token", "gateway", "district_code")

#: Guangzhou's 11 national air-quality control stations (国控点): name, lat, lon (WGS-84, approximate)
STATIONS: tuple[tuple[str, float, float], ...] = (
    ("广雅中学", 23.1425, 113.2363),
    ("市五中", 23.1063, 113.2651),
    ("广东商学院", 23.0951, 113.3497),
    ("市八十六中", 23.1058, 113.4436),
    ("番禺中学", 22.9478, 113.3527),
    ("花都师范", 23.3905, 113.2150),
    ("市监测站", 23.1337, 113.2601),
    ("九龙镇镇龙", 23.2953, 113.5604),
    ("麓湖", 23.1502, 113.2783),
    ("帽峰山森林公园", 23.3051, 113.4702),
    ("体育西", 23.1335, 113.3219),
)

#: share of the non-station fleet per type, code prefix, name
MIX: tuple[tuple[str, float, str, str], ...] = (
    ("streetlight", 0.30, "SL", "路灯"),
    ("parking_spot", 0.22, "PK", "停车位"),
    ("manhole_cover", 0.18, "MH", "井盖"),
    ("energy_meter", 0.08, "EM", "能耗计量表"),
    ("flood", 0.06, "FL", "内涝监测点"),
    ("gas_pipeline", 0.05, "GP", "燃气管网监测"),
    ("water_pipeline", 0.04, "WP", "供水管网监测"),
    ("drainage_pipeline", 0.04, "DP", "排水管网监测"),
    ("water_quality", 0.015, "WQ", "水质监测站"),
    ("noise", 0.015, "NS", "噪声监测点"),
)
#: central districts get more devices
DISTRICT_WEIGHT = {"越秀区": 3.0, "天河区": 3.0, "海珠区": 2.5, "荔湾区": 2.0, "白云区": 2.0, "番禺区": 1.5,
                   "黄埔区": 1.5, "花都区": 1.0, "南沙区": 0.8, "从化区": 0.5, "增城区": 0.8}
GATEWAY_SIZE = 100
BEIJING = 8 * 3600


@dataclass(frozen=True)
class Device:
    code: str
    type: str
    name: str
    lat: float
    lon: float
    district: str
    token: str
    gateway: str = ""  # code of the gateway that relays its readings ("" for devices that publish themselves)
    district_code: str = ""

    def row(self) -> tuple[str, ...]:
        return (self.code, self.type, self.name, f"{self.lat:.6f}", f"{self.lon:.6f}", self.district, self.token,
                self.gateway, self.district_code)


@dataclass(frozen=True)
class Incident:
    kind: str            # pollution_episode | flooded_underpass | manhole_opened | gas_pressure_drop
    devices: frozenset[str]
    start: float         # epoch seconds (simulated clock)
    end: float
    label: str = ""

    def factor(self, t: float) -> float:
        """0 outside, rising to 1 over the first fifth, falling back over the last fifth."""
        if not self.start <= t < self.end:
            return 0.0
        span = (self.end - self.start) / 5 or 1.0
        return min(1.0, (t - self.start) / span, (self.end - t) / span)


def token_for(code: str, seed: int) -> str:
    return hashlib.sha256(f"cityhub-sim:{seed}:{code}".encode()).hexdigest()[:24]


# --- geometry ------------------------------------------------------------------------------------------
def _rings(geometry: dict[str, Any]) -> list[list[list[list[float]]]]:
    if geometry["type"] == "Polygon":
        return [geometry["coordinates"]]
    if geometry["type"] == "MultiPolygon":
        return list(geometry["coordinates"])
    return []


def _in_ring(lon: float, lat: float, ring: Sequence[Sequence[float]]) -> bool:
    inside = False
    j = len(ring) - 1
    for i in range(len(ring)):
        xi, yi, xj, yj = ring[i][0], ring[i][1], ring[j][0], ring[j][1]
        if (yi > lat) != (yj > lat) and lon < (xj - xi) * (lat - yi) / ((yj - yi) or 1e-12) + xi:
            inside = not inside
        j = i
    return inside


def _in_polygons(lon: float, lat: float, polys: list[list[list[list[float]]]]) -> bool:
    return any(_in_ring(lon, lat, p[0]) and not any(_in_ring(lon, lat, h) for h in p[1:]) for p in polys)


@dataclass(frozen=True)
class District:
    name: str
    code: str
    polygons: list[list[list[list[float]]]]
    bbox: tuple[float, float, float, float]

    def contains(self, lon: float, lat: float) -> bool:
        x0, y0, x1, y1 = self.bbox
        return x0 <= lon <= x1 and y0 <= lat <= y1 and _in_polygons(lon, lat, self.polygons)

    def random_point(self, rng: random.Random) -> tuple[float, float]:
        x0, y0, x1, y1 = self.bbox
        for _ in range(10_000):
            lon, lat = rng.uniform(x0, x1), rng.uniform(y0, y1)
            if _in_polygons(lon, lat, self.polygons):
                return lat, lon
        raise ValueError(f"no point found inside district {self.name}")


def districts(geojson: dict[str, Any]) -> list[District]:
    out = []
    for i, f in enumerate(geojson.get("features", [])):
        polys = _rings(f.get("geometry") or {})
        if not polys:
            continue
        xs = [pt[0] for p in polys for pt in p[0]]
        ys = [pt[1] for p in polys for pt in p[0]]
        props = f.get("properties") or {}
        out.append(District(str(props.get("name", f"district-{i}")), str(f.get("id", i)), polys,
                            (min(xs), min(ys), max(xs), max(ys))))
    return out


def district_of(lat: float, lon: float, ds: Sequence[District]) -> District | None:
    for d in ds:
        if d.contains(lon, lat):
            return d
    return None


# --- fleet ---------------------------------------------------------------------------------------------
def build_fleet(geojson: dict[str, Any], devices: int = 3000, seed: int = 7) -> list[Device]:
    """The 11 stations plus ``devices`` other devices and their gateways, deterministic for a seed."""
    rng = random.Random(seed)  # noqa: S311 - a simulation, not a secret
    ds = districts(geojson)
    if not ds:
        raise ValueError("the districts GeoJSON has no polygon")
    fleet = []
    for i, (name, lat, lon) in enumerate(STATIONS, 1):
        d = district_of(lat, lon, ds)
        fleet.append(Device(f"AQ-GZ-{i:02d}", "air_quality", f"{name}国控空气质量监测站", lat, lon,
                            d.name if d else "", token_for(f"AQ-GZ-{i:02d}", seed), "", d.code if d else ""))
    weights = [DISTRICT_WEIGHT.get(d.name, 1.0) for d in ds]
    per_district: dict[str, list[tuple[str, str, str, float, float]]] = {d.name: [] for d in ds}
    counters: dict[str, int] = {}
    for _ in range(devices):
        d = rng.choices(ds, weights)[0]
        dtype, _, prefix, label = rng.choices(MIX, [m[1] for m in MIX])[0]
        counters[prefix] = counters.get(prefix, 0) + 1
        lat, lon = d.random_point(rng)
        code = f"{prefix}-{d.code}-{counters[prefix]:05d}"
        per_district[d.name].append((code, dtype, f"{d.name}{label}{counters[prefix]:05d}", lat, lon))
    for d in ds:
        members = per_district[d.name]
        for g in range(0, len(members), GATEWAY_SIZE):
            group = members[g:g + GATEWAY_SIZE]
            gw = f"GW-{d.code}-{g // GATEWAY_SIZE + 1:03d}"
            glat = sum(m[3] for m in group) / len(group)
            glon = sum(m[4] for m in group) / len(group)
            fleet.append(Device(gw, "gateway", f"{d.name}物联网关{g // GATEWAY_SIZE + 1:03d}", glat, glon, d.name,
                                token_for(gw, seed), "", d.code))
            fleet.extend(Device(code, dtype, name, lat, lon, d.name, token_for(code, seed), gw, d.code)
                         for code, dtype, name, lat, lon in group)
    return fleet


def with_tokens(fleet: Iterable[Device], tokens: dict[str, str]) -> list[Device]:
    """The fleet with the tokens a registry issued (``{code: token}``) instead of the seed's."""
    return [replace(d, token=tokens.get(d.code, d.token)) for d in fleet]


def csv_rows(fleet: Iterable[Device]) -> Iterator[tuple[str, ...]]:
    yield CSV_COLUMNS
    for dev in fleet:
        yield dev.row()


# --- incidents -----------------------------------------------------------------------------------------
def plan_incidents(fleet: Sequence[Device], start: float, seconds: float, seed: int = 7) -> list[Incident]:
    """Four incidents spread over ``[start, start + seconds)`` (simulated time)."""
    rng = random.Random(seed + 1)  # noqa: S311 - a simulation, not a secret
    by_type: dict[str, list[Device]] = {}
    for dev in fleet:
        by_type.setdefault(dev.type, []).append(dev)

    def pick(dtype: str, k: int = 1) -> frozenset[str]:
        devs = by_type.get(dtype, [])
        return frozenset(d.code for d in rng.sample(devs, min(k, len(devs))))

    central = frozenset(d.code for d in by_type.get("air_quality", [])
                        if d.district in ("越秀区", "荔湾区", "海珠区", "天河区"))
    plan = (("pollution_episode", central, 0.05, 0.55, "中心城区污染过程 pollution episode"),
            ("flooded_underpass", pick("flood"), 0.15, 0.45, "下穿隧道积水 flooded underpass"),
            ("manhole_opened", pick("manhole_cover"), 0.30, 0.60, "井盖被打开 manhole opened"),
            ("gas_pressure_drop", pick("gas_pipeline"), 0.50, 0.80, "燃气压力骤降 gas pressure drop"))
    return [Incident(kind, devs, start + a * seconds, start + b * seconds, label)
            for kind, devs, a, b, label in plan if devs]


# --- readings ------------------------------------------------------------------------------------------
def _hour(t: float) -> float:
    return ((t + BEIJING) % 86400) / 3600


def _phase(code: str) -> float:
    return (int(hashlib.md5(code.encode(), usedforsecurity=False).hexdigest()[:6], 16) % 1000) / 1000


def reading(dev: Device, t: float, incidents: Sequence[Incident] = (), rng: random.Random | None = None
            ) -> dict[str, Any]:
    """One reading of ``dev`` at simulated time ``t`` (epoch seconds): ``{"ts": ms, "values": {...}}``."""
    r = rng or random.Random(f"{dev.code}:{int(t)}")  # noqa: S311 - a simulation, not a secret
    h = _hour(t)
    rush = math.exp(-((h - 8.5) ** 2) / 3) + math.exp(-((h - 18.5) ** 2) / 4)   # 0…~1 at the rush hours
    day = max(0.0, math.sin((h - 6) / 12 * math.pi))                            # 0 at night, 1 at noon
    hit = {i.kind: i.factor(t) for i in incidents if dev.code in i.devices and i.factor(t) > 0}
    ph = _phase(dev.code)
    v: dict[str, Any]
    if dev.type == "air_quality":
        ep = hit.get("pollution_episode", 0.0)
        pm25 = (22 + 18 * rush + 6 * ph) * (1 + 4 * ep) * r.uniform(0.9, 1.1)
        v = {"pm25": round(pm25, 1), "pm10": round(pm25 * r.uniform(1.4, 1.8), 1),
             "no2": round((25 + 35 * rush) * (1 + 1.5 * ep) * r.uniform(0.9, 1.1), 1),
             "so2": round(6 + 3 * rush * r.random(), 1), "co": round(0.6 + 0.5 * rush + 0.8 * ep, 2),
             "o3": round(30 + 110 * day ** 2 * r.uniform(0.85, 1.15), 1),
             "temperature": round(19 + 7 * day + r.uniform(-0.5, 0.5), 1),
             "relativeHumidity": round(80 - 20 * day + r.uniform(-3, 3), 1)}
    elif dev.type == "flood":
        f = hit.get("flooded_underpass", 0.0)
        level = 0.05 + 0.02 * r.random() + 1.6 * f
        v = {"currentLevel": round(level, 3), "alertLevel": 0.3, "dangerLevel": 0.8, "referenceLevel": 0.0,
             "floodLevelStatus": "danger" if level >= 0.8 else "alert" if level >= 0.3 else "normal"}
    elif dev.type == "manhole_cover":
        opened = hit.get("manhole_opened", 0.0) > 0
        v = {"tilt": round(62.0 if opened else r.uniform(0, 1.5), 1), "open": opened,
             "waterLevel": round(0.2 + 0.1 * r.random(), 2)}
    elif dev.type == "streetlight":
        on = h >= 18.5 or h < 6.5
        broken = ph < 0.01
        v = {"status": "defectiveLamp" if broken else "ok", "powerState": "on" if on and not broken else "off",
             "powerConsumption": round((150 + 10 * r.random()) if on and not broken else 0.5, 1),
             "voltage": round(220 + r.uniform(-4, 4), 1), "current": round(0.68 if on and not broken else 0.0, 2)}
    elif dev.type == "parking_spot":
        occupancy = 0.25 + 0.6 * day + 0.1 * rush
        v = {"status": "occupied" if r.random() < occupancy else "free"}
    elif dev.type in ("gas_pipeline", "water_pipeline", "drainage_pipeline"):
        drop = hit.get("gas_pressure_drop", 0.0)
        base = {"gas_pipeline": 0.40, "water_pipeline": 0.30, "drainage_pipeline": 0.05}[dev.type]
        flow = (80 + 120 * day + 60 * rush) * (1 + 0.2 * ph)
        v = {"pressure": round(base * (1 - 0.75 * drop) * r.uniform(0.98, 1.02), 4),
             "flow": round(flow * (1 + 0.5 * drop) * r.uniform(0.95, 1.05), 1), "leak": drop > 0.5}
    elif dev.type == "energy_meter":
        kw = (30 + 120 * day + 40 * rush) * (0.5 + ph)
        v = {"power": round(kw * r.uniform(0.95, 1.05), 2), "energy": round((t / 3600) * 60 * (0.5 + ph) % 1e9, 1)}
    elif dev.type == "water_quality":
        v = {"temperature": round(22 + 4 * day, 1), "pH": round(7.2 + r.uniform(-0.2, 0.2), 2),
             "conductivity": round(420 + 40 * r.random(), 0), "turbidity": round(8 + 6 * r.random(), 1),
             "O2": round(6.5 + 1.5 * day, 2), "NO3": round(1.8 + 0.4 * r.random(), 2)}
    elif dev.type == "noise":
        la = 48 + 20 * rush + 8 * day + r.uniform(-3, 3)
        v = {"LAeq": round(la, 1), "LAmax": round(la + r.uniform(8, 18), 1)}
    else:
        v = {}
    return {"ts": int(t * 1000), "values": v}


def batches(fleet: Sequence[Device], t: float, incidents: Sequence[Incident] = (), batch: int = 100,
            rng: random.Random | None = None) -> Iterator[tuple[str, str, str, dict[str, Any] | list[Any]]]:
    """One reading of every device at ``t`` as MQTT messages: ``(kind, device code, token, payload)``.
    Stations (and any device without a gateway) publish themselves (kind ``device``); the others go in
    gateway messages ``{"<code>": [reading], …}`` of at most ``batch`` readings (kind ``gateway``)."""
    tokens = {d.code: d.token for d in fleet if d.type == "gateway"}
    groups: dict[str, dict[str, list[Any]]] = {}
    for dev in fleet:
        if dev.type == "gateway":
            continue
        rec = reading(dev, t, incidents, rng)
        if not dev.gateway:
            yield "device", dev.code, dev.token, rec
            continue
        group = groups.setdefault(dev.gateway, {})
        group[dev.code] = [rec]
        if len(group) >= batch:
            yield "gateway", dev.gateway, tokens[dev.gateway], group
            groups[dev.gateway] = {}
    for gw, group in groups.items():
        if group:
            yield "gateway", gw, tokens[gw], group
