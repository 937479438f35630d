"""China's air quality index, HJ 633-2012 (环境空气质量指数(AQI)技术规定): IAQI per pollutant, AQI, primary
and exceeding pollutants, level, category and colour, for hourly (real-time) and daily reports.

Pure: plain numbers in, plain dataclasses out; no import from the rest of CityHub.

* ``IAQI_P = (IAQI_Hi − IAQI_Lo) / (BP_Hi − BP_Lo) × (C_P − BP_Lo) + IAQI_Lo``, the continuous piecewise-linear
  formula of the standard, rounded **up** to an integer (``python-aqi`` uses integer-stepped ranges instead,
  which shifts results slightly; we follow the formula).
* Hourly (实时报): SO2, NO2, CO and O3 use their 1-hour limits; PM10 and PM2.5 have only 24-hour limits, which
  are applied to their 1-hour concentrations (as the national real-time publication does); the O3 8-hour
  moving average uses the O3 8-hour limits.
* Daily (日报): 24-hour means of SO2, NO2, CO, PM10, PM2.5 with the 24-hour limits, the day's maximum 1-hour O3
  and maximum 8-hour moving average O3.
* Special cases: SO2 1-hour above 800 µg/m³ is not computed from the 1-hour value; the SO2 24-hour sub-index is
  reported instead (when the 24-hour mean is given; otherwise SO2 has no sub-index for that hour). O3 8-hour
  above 800 µg/m³: the O3 1-hour sub-index is reported instead. A concentration above a table's IAQI-500 limit
  is reported as 500 (``beyond_scale`` names it).
* Breakpoint tables are versioned data (``TABLES``): ``HJ633-2012`` (the default) and ``HJ633-2026``
  (provisional, see ``TABLE_NOTES``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

IAQI_POINTS: tuple[int, ...] = (0, 50, 100, 150, 200, 300, 400, 500)

#: concentration limits at each of IAQI_POINTS (shorter rows end where the standard stops: "—")
_T2012: dict[str, tuple[float, ...]] = {
    "so2_24h": (0, 50, 150, 475, 800, 1600, 2100, 2620),
    "so2_1h": (0, 150, 500, 650, 800),
    "no2_24h": (0, 40, 80, 180, 280, 565, 750, 940),
    "no2_1h": (0, 100, 200, 700, 1200, 2340, 3090, 3840),
    "pm10_24h": (0, 50, 150, 250, 350, 420, 500, 600),
    "co_24h": (0, 2, 4, 14, 24, 36, 48, 60),
    "co_1h": (0, 5, 10, 35, 60, 90, 120, 150),
    "o3_1h": (0, 160, 200, 300, 400, 800, 1000, 1200),
    "o3_8h": (0, 100, 160, 215, 265, 800),
    "pm25_24h": (0, 35, 75, 115, 150, 250, 350, 500),
}

_T2026 = dict(_T2012)
_T2026["pm25_24h"] = (0, 30, 60, 115, 150, 250, 350, 500)
_T2026["pm10_24h"] = (0, 50, 120, 250, 350, 420, 500, 600)

TABLES: dict[str, dict[str, tuple[float, ...]]] = {"HJ633-2012": _T2012, "HJ633-2026": _T2026}
DEFAULT_VERSION = "HJ633-2012"

TABLE_NOTES: dict[str, str] = {
    "HJ633-2012": "HJ 633-2012, table 1 (in force 2016-01-01).",
    "HJ633-2026": (
        "PROVISIONAL. Only three limits are known to us (secondary sources, not verified against the official "
        "text): PM2.5 24h 30 µg/m³ at IAQI 50 and 60 at IAQI 100, PM10 24h 120 at IAQI 100. Missing: PM2.5 24h "
        "limits at IAQI 150–500, PM10 24h limits at IAQI 50 and 150–500, and whether any SO2/NO2/CO/O3 limit "
        "changed; those are carried over from HJ 633-2012 unchanged."
    ),
}

#: unit of each pollutant's concentration (CO in mg/m³, the others µg/m³)
UNITS = {"so2": "µg/m³", "no2": "µg/m³", "pm10": "µg/m³", "pm25": "µg/m³", "o3": "µg/m³", "co": "mg/m³"}

#: (level, level zh, category zh, category en, colour) for AQI up to the bound
LEVELS: tuple[tuple[int, int, str, str, str, str], ...] = (
    (50, 1, "一级", "优", "Excellent", "#00E400"),
    (100, 2, "二级", "良", "Good", "#FFFF00"),
    (150, 3, "三级", "轻度污染", "Lightly polluted", "#FF7E00"),
    (200, 4, "四级", "中度污染", "Moderately polluted", "#FF0000"),
    (300, 5, "五级", "重度污染", "Heavily polluted", "#99004C"),
    (10**9, 6, "六级", "严重污染", "Severely polluted", "#7E0023"),
)

#: display names of the sub-indexes (the pollutant named as primary)
NAMES = {"so2": "SO2", "no2": "NO2", "co": "CO", "pm10": "PM10", "pm25": "PM2.5", "o3_1h": "O3_1h",
         "o3_8h": "O3_8h", "o3": "O3"}


def table(version: str = DEFAULT_VERSION) -> dict[str, tuple[float, ...]]:
    try:
        return TABLES[version]
    except KeyError:
        raise ValueError(f"unknown AQI table {version!r}; known: {', '.join(TABLES)}") from None


def _ceil(x: float) -> int:
    # the formula's exact result may be an integer that floating point puts a hair above it
    return math.ceil(round(x, 9))


def iaqi(key: str, c: float | None, version: str = DEFAULT_VERSION) -> int | None:
    """Sub-index of concentration ``c`` under the limits ``key`` (e.g. ``"pm25_24h"``, ``"so2_1h"``).

    ``None`` when ``c`` is missing or negative, or above the last limit of a table that stops before IAQI 500
    (SO2 1h above 800, O3 8h above 800: the caller applies the standard's substitution). Above the IAQI-500 limit
    of a full table: 500."""
    if c is None or (isinstance(c, float) and math.isnan(c)) or c < 0:
        return None
    bps = table(version)[key]
    if c > bps[-1]:
        return 500 if len(bps) == len(IAQI_POINTS) else None
    for i in range(1, len(bps)):
        if c <= bps[i]:
            lo, hi = bps[i - 1], bps[i]
            return _ceil((IAQI_POINTS[i] - IAQI_POINTS[i - 1]) / (hi - lo) * (c - lo) + IAQI_POINTS[i - 1])
    raise AssertionError("unreachable")


def level_of(aqi_value: int) -> tuple[int, str, str, str, str]:
    """(level 1–6, 一级…六级, category zh, category en, colour) of an AQI value."""
    for bound, lvl, lvl_zh, cat_zh, cat_en, colour in LEVELS:
        if aqi_value <= bound:
            return lvl, lvl_zh, cat_zh, cat_en, colour
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class AqiResult:
    aqi: int | None
    iaqi: dict[str, int]                        # sub-index per key (so2, no2, co, pm10, pm25, o3_1h, o3_8h)
    primary: list[str] = field(default_factory=list)     # 首要污染物 (display names), only when AQI > 50
    exceeding: list[str] = field(default_factory=list)   # 超标污染物: IAQI > 100
    level: int | None = None
    level_zh: str = ""
    category_zh: str = ""
    category_en: str = ""
    colour: str = ""
    version: str = DEFAULT_VERSION
    notes: list[str] = field(default_factory=list)       # the special cases applied, beyond-scale values
    beyond_scale: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {"aqi": self.aqi, "iaqi": dict(self.iaqi), "primary": list(self.primary),
                "exceeding": list(self.exceeding), "level": self.level, "level_zh": self.level_zh,
                "category_zh": self.category_zh, "category_en": self.category_en, "colour": self.colour,
                "version": self.version, "notes": list(self.notes)}


def _result(sub: dict[str, int], version: str, notes: list[str], beyond: list[str]) -> AqiResult:
    if not sub:
        return AqiResult(None, {}, version=version, notes=notes)
    top = max(sub.values())
    primary = [NAMES[k] for k, v in sub.items() if v == top] if top > 50 else []
    exceeding = [NAMES[k] for k, v in sub.items() if v > 100]
    lvl, lvl_zh, cat_zh, cat_en, colour = level_of(top)
    return AqiResult(top, sub, primary, exceeding, lvl, lvl_zh, cat_zh, cat_en, colour, version, notes, beyond)


def _beyond(key: str, c: float | None, version: str) -> bool:
    bps = table(version)[key]
    return c is not None and len(bps) == len(IAQI_POINTS) and c > bps[-1]


def hourly_aqi(
    *,
    so2: float | None = None,
    no2: float | None = None,
    co: float | None = None,
    o3: float | None = None,
    pm10: float | None = None,
    pm25: float | None = None,
    o3_8h: float | None = None,
    so2_24h: float | None = None,
    version: str = DEFAULT_VERSION,
) -> AqiResult:
    """Real-time (hourly) AQI from 1-hour concentrations (``o3_8h``: the O3 8-hour moving average ending at
    this hour; ``so2_24h``: the SO2 24-hour mean, used only when the 1-hour SO2 is above 800)."""
    sub: dict[str, int] = {}
    notes: list[str] = []
    beyond: list[str] = []
    if so2 is not None:
        if so2 > table(version)["so2_1h"][-1]:
            v = iaqi("so2_24h", so2_24h, version)
            notes.append("SO2 1h > 800 µg/m³: IAQI from the 24-hour mean" if v is not None
                         else "SO2 1h > 800 µg/m³ and no 24-hour mean: SO2 not computed")
            if v is not None:
                sub["so2"] = v
        else:
            _put(sub, "so2", iaqi("so2_1h", so2, version))
    for name, key, c in (("no2", "no2_1h", no2), ("co", "co_1h", co), ("pm10", "pm10_24h", pm10),
                         ("pm25", "pm25_24h", pm25), ("o3_1h", "o3_1h", o3)):
        _put(sub, name, iaqi(key, c, version))
        if _beyond(key, c, version):
            beyond.append(NAMES[name])
    _o3_8h(sub, o3_8h, o3, version, notes)
    return _result(sub, version, notes, beyond)


def daily_aqi(
    *,
    so2: float | None = None,
    no2: float | None = None,
    co: float | None = None,
    pm10: float | None = None,
    pm25: float | None = None,
    o3_1h_max: float | None = None,
    o3_8h_max: float | None = None,
    version: str = DEFAULT_VERSION,
) -> AqiResult:
    """Daily AQI from 24-hour means (SO2, NO2, CO, PM10, PM2.5), the day's maximum 1-hour O3 and maximum 8-hour
    moving average O3, all with the 24-hour limits (the 1-hour limits serve real-time reports only)."""
    sub: dict[str, int] = {}
    notes: list[str] = []
    beyond: list[str] = []
    for name, key, c in (("so2", "so2_24h", so2), ("no2", "no2_24h", no2), ("co", "co_24h", co),
                         ("pm10", "pm10_24h", pm10), ("pm25", "pm25_24h", pm25), ("o3_1h", "o3_1h", o3_1h_max)):
        _put(sub, name, iaqi(key, c, version))
        if _beyond(key, c, version):
            beyond.append(NAMES[name])
    _o3_8h(sub, o3_8h_max, o3_1h_max, version, notes)
    return _result(sub, version, notes, beyond)


def _put(sub: dict[str, int], name: str, value: int | None) -> None:
    if value is not None:
        sub[name] = value


def _o3_8h(sub: dict[str, int], o3_8h: float | None, o3_1h: float | None, version: str, notes: list[str]) -> None:
    if o3_8h is None:
        return
    if o3_8h > table(version)["o3_8h"][-1]:
        v = iaqi("o3_1h", o3_1h, version)
        notes.append("O3 8h > 800 µg/m³: IAQI from the 1-hour O3" if v is not None
                     else "O3 8h > 800 µg/m³ and no 1-hour O3: O3 8h not computed")
        if v is not None:
            sub["o3_8h"] = v
    else:
        _put(sub, "o3_8h", iaqi("o3_8h", o3_8h, version))


# -- averaging (HJ 663-2013 validity: a 24-hour mean needs 20 hourly values, an 8-hour mean 6) ------------------


def moving_average(hourly: Sequence[float | None], window: int = 8, min_valid: int = 6) -> list[float | None]:
    """The moving average ending at each hour over ``window`` hours (``None`` where fewer than ``min_valid``
    of those hours have a value): the O3 8-hour moving average with the defaults."""
    out: list[float | None] = []
    for i in range(len(hourly)):
        vals = [v for v in hourly[max(0, i - window + 1): i + 1] if v is not None]
        out.append(sum(vals) / len(vals) if len(vals) >= min_valid else None)
    return out


def daily_inputs(hours: Sequence[Mapping[str, float | None]], *, previous: Sequence[Mapping[str, float | None]] = (),
                 min_hours: int = 20, min_8h: int = 14) -> dict[str, float | None]:
    """The daily AQI's inputs from one day's hourly concentrations (24 mappings, hour 0..23; missing hours
    ``None`` or absent keys): 24-hour means (``None`` under ``min_hours`` valid hours), the maximum 1-hour O3 and
    the maximum O3 8-hour moving average (the day's own windows, ending at 7:00 … 23:00; with the previous day's
    hours given, windows ending at 0:00 … 23:00; ``None`` under ``min_8h`` valid windows)."""
    out: dict[str, float | None] = {}
    for p in ("so2", "no2", "co", "pm10", "pm25"):
        vals = [h.get(p) for h in hours]
        good = [v for v in vals if v is not None]
        out[p] = sum(good) / len(good) if len(good) >= min_hours else None
    o3 = [h.get("o3") for h in hours]
    good_o3 = [v for v in o3 if v is not None]
    out["o3_1h_max"] = max(good_o3) if len(good_o3) >= min_hours else None
    prev = [h.get("o3") for h in previous][-7:]
    series = list(prev) + o3
    ma = moving_average(series)[len(prev):]
    if not prev:
        ma = ma[7:]  # the day's own 8-hour windows: ending 7:00 (0–7) … 23:00
    good_ma = [v for v in ma if v is not None]
    out["o3_8h_max"] = max(good_ma) if len(good_ma) >= min_8h else None
    return out
