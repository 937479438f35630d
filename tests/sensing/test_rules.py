"""Alarm rules: thresholds, durations across batches, rates, AND/OR, no-data."""

from __future__ import annotations

import pytest

from cityhub.sensing import rules
from cityhub.sensing.rules import State, evaluate, parse, tick


def test_duration_spans_batches() -> None:
    cond = parse({"attr": "pm25", "op": ">", "value": 75, "for_minutes": 60})
    st = State()
    assert evaluate(cond, [(0, {"pm25": 80}), (1800, {"pm25": 90})], st) == []
    st = State.from_json(st.to_json())   # carried between batches as JSON
    edges = evaluate(cond, [(3599, {"pm25": 85}), (3600, {"pm25": 85})], st)
    assert [(e.kind, e.ts) for e in edges] == [("raise", 3600)]
    edges = evaluate(cond, [(4000, {"pm25": 70}), (4100, {"pm25": 99})], st)
    assert [(e.kind, e.ts) for e in edges] == [("clear", 4000)]
    # the dip restarted the clock
    assert evaluate(cond, [(4100 + 3599, {"pm25": 99})], st) == []


def test_duration_interrupted_never_raises() -> None:
    cond = parse({"attr": "pm25", "op": ">", "value": 75, "for_minutes": 60})
    st = State()
    readings = [(t * 600, {"pm25": 80 if t % 5 else 10}) for t in range(30)]
    assert evaluate(cond, readings, st) == []


def test_and_or_and_other_attributes() -> None:
    cond = parse({"any": [{"attr": "tilt", "op": ">", "value": 15},
                          {"all": [{"attr": "open", "op": "==", "value": 1},
                                   {"attr": "waterLevel", "op": ">=", "value": 1.5}]}]})
    st = State()
    e = evaluate(cond, [(0, {"tilt": 2, "open": 1}), (10, {"waterLevel": 1.0}), (20, {"waterLevel": 1.6}),
                        (30, {"open": 0}), (40, {"tilt": 20}), (50, {"tilt": 3})], st)
    assert [(x.kind, x.ts) for x in e] == [("raise", 20), ("clear", 30), ("raise", 40), ("clear", 50)]
    assert rules.attributes(cond) == {"tilt", "open", "waterLevel"}


def test_rate_of_change() -> None:
    cond = parse({"rate": "currentLevel", "per_minute": 0.1})
    st = State()
    e = evaluate(cond, [(0, {"currentLevel": 1.0}), (600, {"currentLevel": 1.5}),      # 0.05/min
                        (660, {"currentLevel": 1.8}),                                  # 0.3/min
                        (1260, {"currentLevel": 1.9})], st)                            # 0.01/min
    assert [(x.kind, x.ts) for x in e] == [("raise", 660), ("clear", 1260)]


def test_no_data_tick_and_recovery() -> None:
    cond = parse({"no_data_minutes": 30})
    st = State()
    assert evaluate(cond, [(0, {"pm25": 1})], st) == []
    assert tick(cond, st, 1799) == []
    assert [x.kind for x in tick(cond, st, 1800)] == ["raise"]
    assert tick(cond, st, 5000) == []                       # still active: no duplicate
    assert [x.kind for x in evaluate(cond, [(5001, {"pm25": 2})], st)] == ["clear"]
    assert rules.has_timer(cond)


def test_late_readings_ignored_by_rules() -> None:
    cond = parse({"attr": "x", "op": ">", "value": 1})
    st = State()
    evaluate(cond, [(100, {"x": 0})], st)
    assert evaluate(cond, [(50, {"x": 5})], st) == []


@pytest.mark.parametrize("bad", [
    {}, {"attr": "x", "op": "~", "value": 1}, {"attr": "x", "op": ">", "value": "1"}, {"all": []},
    {"rate": "x", "per_minute": 0}, {"no_data_minutes": -1}, {"any": [{"attr": ""}]},
    {"attr": "x", "op": ">", "value": 1, "for_minutes": -5},
])
def test_malformed_rules_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(rules.RuleError):
        parse(bad)
