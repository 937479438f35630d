"""Alarm rules, evaluated over batches of readings: thresholds, durations ("PM2.5 > 75 for 60 minutes"), rate of
change, AND/OR combinations and no-data (offline) detection. The state of each (device, rule) is a small plain
object carried from one batch to the next, so a duration that starts in one batch is completed in another.

Pure: no import from the rest of CityHub. A condition is written as JSON-like data::

    {"attr": "pm25", "op": ">", "value": 75, "for_minutes": 60}
    {"rate": "waterLevel", "per_minute": 0.5}           # |Δvalue| / Δminutes above 0.5
    {"no_data_minutes": 30}                             # no reading for 30 minutes
    {"all": [c1, c2, …]}   {"any": [c1, c2, …]}

``evaluate`` runs the readings of one device in time order and returns the edges: ``raise`` when the rule
becomes true, ``clear`` when it stops being true (both with the reading's time and the values that decided).
``tick`` re-evaluates at a wall-clock time without a reading (no-data rules and durations completed by time).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "==": operator.eq, "!=": operator.ne,
}


@dataclass(frozen=True)
class Threshold:
    attr: str
    op: str
    value: float
    for_seconds: float = 0.0


@dataclass(frozen=True)
class Rate:
    attr: str
    per_minute: float  # absolute change per minute that trips the condition


@dataclass(frozen=True)
class NoData:
    seconds: float


@dataclass(frozen=True)
class All:
    parts: tuple[Condition, ...]


@dataclass(frozen=True)
class Any_:
    parts: tuple[Condition, ...]


Condition = Threshold | Rate | NoData | All | Any_


class RuleError(ValueError):
    """A rule's condition is malformed (the message names the part)."""


def parse(spec: Mapping[str, Any], path: str = "condition") -> Condition:
    """A condition from its JSON form (see the module docstring); ``RuleError`` names what is wrong."""
    if not isinstance(spec, Mapping):
        raise RuleError(f"{path}: expected an object")
    if "all" in spec or "any" in spec:
        key = "all" if "all" in spec else "any"
        parts = spec[key]
        if not isinstance(parts, list) or not parts:
            raise RuleError(f"{path}.{key}: expected a non-empty list")
        subs = tuple(parse(p, f"{path}.{key}[{i}]") for i, p in enumerate(parts))
        return All(subs) if key == "all" else Any_(subs)
    if "no_data_minutes" in spec:
        return NoData(_positive(spec["no_data_minutes"], f"{path}.no_data_minutes") * 60)
    if "rate" in spec:
        return Rate(_name(spec["rate"], f"{path}.rate"), _positive(spec.get("per_minute"), f"{path}.per_minute"))
    if "attr" in spec:
        op = spec.get("op")
        if op not in OPS:
            raise RuleError(f"{path}.op: one of {' '.join(OPS)}")
        value = spec.get("value")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RuleError(f"{path}.value: expected a number")
        minutes = spec.get("for_minutes", 0)
        if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or minutes < 0:
            raise RuleError(f"{path}.for_minutes: expected a number ≥ 0")
        return Threshold(_name(spec["attr"], f"{path}.attr"), op, float(value), float(minutes) * 60)
    raise RuleError(f"{path}: expected one of attr, rate, no_data_minutes, all, any")


def _name(v: Any, path: str) -> str:
    if not isinstance(v, str) or not v:
        raise RuleError(f"{path}: expected an attribute name")
    return v


def _positive(v: Any, path: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
        raise RuleError(f"{path}: expected a number > 0")
    return float(v)


def attributes(cond: Condition) -> set[str]:
    if isinstance(cond, (Threshold, Rate)):
        return {cond.attr}
    if isinstance(cond, (All, Any_)):
        return set().union(*(attributes(p) for p in cond.parts))
    return set()


def leaves(cond: Condition) -> list[Threshold | Rate | NoData]:
    if isinstance(cond, (All, Any_)):
        return [leaf for p in cond.parts for leaf in leaves(p)]
    return [cond]


@dataclass
class State:
    """What a (device, rule) remembers between batches."""

    active: bool = False
    last_seen: float | None = None                                    # time of the device's last reading
    since: dict[int, float | None] = field(default_factory=dict)      # threshold leaf → since when it holds
    last: dict[str, tuple[float, float]] = field(default_factory=dict)  # attr → (time, value) last seen
    rate_hit: dict[int, bool] = field(default_factory=dict)           # rate leaf → tripped at the last reading

    def to_json(self) -> dict[str, Any]:
        return {"active": self.active, "last_seen": self.last_seen,
                "since": {str(k): v for k, v in self.since.items()},
                "last": {k: list(v) for k, v in self.last.items()},
                "rate_hit": {str(k): v for k, v in self.rate_hit.items()}}

    @classmethod
    def from_json(cls, d: Mapping[str, Any] | None) -> State:
        if not d:
            return cls()
        return cls(bool(d.get("active")), d.get("last_seen"),
                   {int(k): v for k, v in (d.get("since") or {}).items()},
                   {k: (float(v[0]), float(v[1])) for k, v in (d.get("last") or {}).items()},
                   {int(k): bool(v) for k, v in (d.get("rate_hit") or {}).items()})


@dataclass(frozen=True)
class Edge:
    kind: Literal["raise", "clear"]
    ts: float
    values: dict[str, float]


def _truth(cond: Condition, state: State, now: float, ids: dict[int, int]) -> bool:
    if isinstance(cond, All):
        return all(_truth(p, state, now, ids) for p in cond.parts)
    if isinstance(cond, Any_):
        return any(_truth(p, state, now, ids) for p in cond.parts)
    i = ids[id(cond)]
    if isinstance(cond, Threshold):
        since = state.since.get(i)
        return since is not None and now - since >= cond.for_seconds
    if isinstance(cond, Rate):
        return state.rate_hit.get(i, False)
    return state.last_seen is None or now - state.last_seen >= cond.seconds


def _ids(cond: Condition) -> dict[int, int]:
    return {id(leaf): n for n, leaf in enumerate(leaves(cond))}


def evaluate(cond: Condition, readings: Iterable[tuple[float, Mapping[str, float]]], state: State) -> list[Edge]:
    """Run one device's readings (``(unix time, {attr: value})``, in time order) through the condition; update
    ``state`` in place and return the raise/clear edges."""
    if type(cond) is Threshold:
        return _evaluate_threshold(cond, readings, state)
    return _evaluate_any(cond, readings, state)


def _evaluate_threshold(cond: Threshold, readings: Iterable[tuple[float, Mapping[str, float]]],
                        state: State) -> list[Edge]:
    """``evaluate`` for a rule that is one threshold (most rules): the same state changes and edges as the
    general walk over the leaves (its leaf is number 0), in one loop."""
    edges: list[Edge] = []
    attr, test, limit, hold = cond.attr, OPS[cond.op], cond.value, cond.for_seconds
    since_of, last = state.since, state.last
    last_seen, active = state.last_seen, state.active
    try:
        for ts, values in readings:
            if last_seen is not None and ts < last_seen:
                continue  # late reading: its time has passed for the rule (it is still stored)
            if attr in values:
                if not test(values[attr], limit):
                    since_of[0] = None
                elif since_of.get(0) is None:
                    since_of[0] = ts
            for a, v in values.items():
                last[a] = (ts, v)
            last_seen = ts
            since = since_of.get(0)
            on = since is not None and ts - since >= hold
            if on and not active:
                active = True
                edges.append(Edge("raise", ts, dict(values)))
            elif not on and active:
                active = False
                edges.append(Edge("clear", ts, dict(values)))
    finally:
        state.last_seen, state.active = last_seen, active
    return edges


def _evaluate_any(cond: Condition, readings: Iterable[tuple[float, Mapping[str, float]]], state: State) -> list[Edge]:
    """``evaluate`` for any condition: each reading updates every leaf, then the whole condition is decided."""
    ids = _ids(cond)
    lvs = leaves(cond)
    edges: list[Edge] = []
    for ts, values in readings:
        if state.last_seen is not None and ts < state.last_seen:
            continue  # late reading: its time has passed for the rule (it is still stored)
        for n, leaf in enumerate(lvs):
            if isinstance(leaf, Threshold) and leaf.attr in values:
                ok = OPS[leaf.op](values[leaf.attr], leaf.value)
                if not ok:
                    state.since[n] = None
                elif state.since.get(n) is None:
                    state.since[n] = ts
            elif isinstance(leaf, Rate) and leaf.attr in values:
                prev = state.last.get(leaf.attr)
                if prev is not None and ts > prev[0]:
                    state.rate_hit[n] = abs(values[leaf.attr] - prev[1]) / ((ts - prev[0]) / 60) > leaf.per_minute
        for attr, v in values.items():
            state.last[attr] = (ts, v)
        state.last_seen = ts
        edges.extend(_edge(cond, state, ts, ids, values))
    return edges


def tick(cond: Condition, state: State, now: float) -> list[Edge]:
    """Re-evaluate at ``now`` with no new reading (offline detection, durations completed by time passing)."""
    return _edge(cond, state, now, _ids(cond), {})


def _edge(cond: Condition, state: State, ts: float, ids: dict[int, int], values: Mapping[str, float]) -> list[Edge]:
    on = _truth(cond, state, ts, ids)
    if on and not state.active:
        state.active = True
        return [Edge("raise", ts, dict(values))]
    if not on and state.active:
        state.active = False
        return [Edge("clear", ts, dict(values))]
    return []


def has_timer(cond: Condition) -> bool:
    """Whether time alone can change the condition (a no-data part or a duration)."""
    return any(isinstance(leaf, NoData) or (isinstance(leaf, Threshold) and leaf.for_seconds > 0)
               for leaf in leaves(cond))


def group_by_device(rows: Sequence[tuple[str, float, Mapping[str, float]]]) -> dict[str, list[tuple[float, Mapping[str, float]]]]:
    """(device, time, values) rows → per device, in time order (stable for equal times)."""
    out: dict[str, list[tuple[float, Mapping[str, float]]]] = {}
    for dev, ts, values in rows:
        out.setdefault(dev, []).append((ts, values))
    for seq in out.values():
        seq.sort(key=lambda r: r[0])
    return out
