"""Every rule parameter of the transit pipeline in one place, each with its default and where that default
comes from (see docs/transit.md and /shared/reference/transit.md).

Pure: imports nothing from the rest of CityHub.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

#: the published sources the defaults come from (cited by key in :data:`SOURCES`)
SOURCES: dict[str, str] = {
    "mbta": "Gordon et al. 2013 / MBTA ODX (Sánchez-Martínez 2017): max walk 1,000 m (+2.1 pp inferred)",
    "london": "Gordon 2012, London ODX: max walk 750 m; transfer wait ≤ 45 min bus, circuity ≤ 1.7",
    "nanjing": "Nanjing smart-card studies: max walk 400 m",
    "honolulu": "Honolulu transfer rule: ≤ 90 min from the first tap, no repeated route",
    "trimet": "TriMet ODX: duplicate taps < 20 s, walking 1.5 m/s",
    "urbantrips": "UrbanTrips (BID): same-journey window 60–120 min, duplicate window 5 min",
    "lei2021": "Lei et al. 2021: alighting after the boarding stop, alighting time between boardings",
    "avl": "AVL practice: interpolate 30 s fixes, drop fixes > 250 m from any stop, correct farebox clock drift",
    "service_day": "service day starts 04:00 (schema.SERVICE_DAY_START_HOUR)",
}

#: the published alternatives to the default max walk
MAX_WALK_CHOICES_M = (400.0, 750.0, 1000.0)


def _default_wait() -> dict[str, float]:
    # max wait (s) between the end of one stage and the next boarding, by mode pair "from>to"
    # bus legs: 45 min (London ODX); metro→metro re-entry: 30 min; metro↔bus: 30 min (walk out of the station)
    return {"bus>bus": 45 * 60.0, "bus>metro": 30 * 60.0, "metro>bus": 30 * 60.0, "metro>metro": 30 * 60.0}


@dataclass(frozen=True)
class TransitParams:
    """The rules' knobs; ``TransitParams()`` is the published default set."""

    # destination inference (trip chaining)
    max_walk_m: float = 1000.0          # mbta (400 nanjing, 750 london are the alternatives)
    bus_speed_max_kmh: float = 40.0     # lei2021: an alighting time must fall before the next boarding;
    # the fastest plausible bus ride sets the earliest alighting time
    metro_speed_max_kmh: float = 80.0
    bus_speed_kmh: float = 16.0         # typical bus speed with dwells (Guangzhou ~15–18 km/h): alighting time
    metro_speed_kmh: float = 30.0       # typical metro speed with dwells and walks, for a missing tap-out
    min_activity_s: float = 0.0         # lei2021: alighting (earliest) ≤ next boarding + this slack
    metro_trip_max_s: float = 4 * 3600.0  # a tap-out more than this after the tap-in is not the same stage
    # journey linking (transfers)
    max_wait_s: dict[str, float] = field(default_factory=_default_wait)  # london
    transfer_max_m: float = 1000.0      # london/mbta transfer distance
    circuity_max: float = 1.7           # london
    journey_window_s: float = 90 * 60.0  # honolulu (urbantrips 60–120 min)
    no_repeated_route: bool = True      # honolulu
    duplicate_window_s: float = 60.0    # trimet 20 s … urbantrips 5 min: same card, same vehicle/stop, same kind
    # bus boarding from AVL
    avl_max_stop_dist_m: float = 250.0  # avl: fixes farther than this from every stop are dropped
    avl_match_tolerance_s: float = 120.0  # a tap needs a fix within this many seconds (one side) to be placed
    avl_max_gap_s: float = 600.0        # interpolate only between fixes at most this far apart
    clock_offset_max_s: float = 600.0   # farebox clock offsets searched in ±this
    clock_offset_step_s: float = 10.0
    clock_offset_min_taps: int = 8      # fewer taps on a vehicle: no offset estimated (0)
    at_stop_m: float = 60.0             # a tap "at a stop" when the bus is this close to one
    card_day_max_taps: int = 40         # plausibility bound (no published figure): busier card-days are set
    # aside with reason too_many_taps (staff or test cards), reported, and left out of chaining and linking
    # analysis
    time_bands: tuple[tuple[str, int, int], ...] = (
        ("early", 4, 7), ("am_peak", 7, 9), ("midday", 9, 17), ("pm_peak", 17, 19), ("evening", 19, 28))
    work_min_stay_s: float = 4 * 3600.0  # a stay this long before 19:00 after the first journey is "work"

    def wait_limit(self, from_mode: str, to_mode: str) -> float:
        return self.max_wait_s.get(f"{from_mode}>{to_mode}", 45 * 60.0)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["time_bands"] = [list(b) for b in self.time_bands]
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TransitParams:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"未知参数 / unknown parameters: {', '.join(unknown)}")
        values = dict(data)
        if "time_bands" in values:
            values["time_bands"] = tuple(tuple(b) for b in values["time_bands"])
        return replace(cls(), **values)


#: parameter → the source key of its default (``SOURCES``), for the docs and the run report
PARAM_SOURCES: dict[str, str] = {
    "max_walk_m": "mbta", "bus_speed_max_kmh": "lei2021", "metro_speed_max_kmh": "lei2021",
    "min_activity_s": "lei2021", "bus_speed_kmh": "lei2021", "metro_speed_kmh": "lei2021", "max_wait_s": "london", "transfer_max_m": "london", "circuity_max": "london",
    "journey_window_s": "honolulu", "no_repeated_route": "honolulu", "duplicate_window_s": "trimet",
    "avl_max_stop_dist_m": "avl", "avl_match_tolerance_s": "avl", "avl_max_gap_s": "avl",
    "clock_offset_max_s": "avl", "clock_offset_step_s": "avl",
}
