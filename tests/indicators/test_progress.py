"""The progress rule (``cityhub.indicators.progress``), checked against hand-computed cases."""

from __future__ import annotations

import pytest

from cityhub.indicators import progress as pr


def test_period_time() -> None:
    assert pr.period_time("2018") == 2018.0
    assert pr.period_time("2018-12") == 2018.0
    assert pr.period_time("2018-06") == pytest.approx(2017.5)


def test_at_least_on_track() -> None:
    # baseline 62.3 (2015) → target 100 (2020); 2018 value 85: share (85-62.3)/37.7 = 0.6021; expected 3/5 = 0.6
    p = pr.evaluate("at_least", 2015, 62.3, 2020, 100, [("2016", 70), ("2018", 85)])
    assert p.share == pytest.approx(0.60212, abs=1e-4)
    assert p.expected == pytest.approx(0.6)
    assert p.status == "on_track" and not p.achieved


def test_at_least_at_risk_and_off_track() -> None:
    # share (2259+0.5*1341 = 2929.5 → 0.5); expected 0.6: gap 0.10 → at risk
    assert pr.evaluate("at_least", 2015, 2259, 2020, 3600, [("2018", 2929.5)]).status == "at_risk"
    # gap 0.15 exactly is still at risk; 0.16 off track
    assert pr.evaluate("at_least", 2015, 0, 2020, 100, [("2018", 45)]).status == "at_risk"
    assert pr.evaluate("at_least", 2015, 0, 2020, 100, [("2018", 44)]).status == "off_track"
    # gap 0.05 exactly is on track
    assert pr.evaluate("at_least", 2015, 0, 2020, 100, [("2018", 55)]).status == "on_track"


def test_at_most_direction() -> None:
    # overdue datasets: 40 (2015) → at most 10 (2020); 2017 value 28: share (28-40)/(10-40) = 0.4 = expected 0.4
    p = pr.evaluate("at_most", 2015, 40, 2020, 10, [("2017", 28)])
    assert p.share == pytest.approx(0.4) and p.expected == pytest.approx(0.4) and p.status == "on_track"
    # 2019 still 34: share 0.2, expected 0.8 → off track
    assert pr.evaluate("at_most", 2015, 40, 2020, 10, [("2019", 34)]).status == "off_track"
    # already at 9: achieved (≤ 10), share clipped to 1 (raw 31/30)
    p = pr.evaluate("at_most", 2015, 40, 2020, 10, [("2016", 9)])
    assert p.achieved and p.share == 1.0 and p.raw_share == pytest.approx(31 / 30) and p.status == "on_track"
    # moving the wrong way: share clipped to 0
    assert pr.evaluate("at_most", 2015, 40, 2020, 10, [("2016", 50)]).share == 0.0


def test_reach_follows_the_baseline() -> None:
    assert pr.effective_direction("reach", 100, 50) == "at_most"
    assert pr.effective_direction("reach", 10, 50) == "at_least"
    assert pr.effective_direction("reach", None, 50) == "at_least"
    assert pr.evaluate("reach", 2015, 100, 2020, 50, [("2020", 50)]).achieved


def test_missing_baseline() -> None:
    # at least, no baseline: baseline taken as 0; the year before the first value stands in for the baseline year
    # (2016 → start 2015); 2018 value 30 of 50: share 0.6, expected (2018-2016)/(2020-2016) = 0.5 → on track
    p = pr.evaluate("at_least", None, None, 2020, 50, [("2017", 20), ("2018", 30)])
    assert p.share == pytest.approx(0.6) and p.expected == pytest.approx(0.5) and p.status == "on_track"
    # at most, no baseline: no distance to measure; met → share 1, not met → unknown share, off track
    met = pr.evaluate("at_most", None, None, 2020, 10, [("2018", 8)])
    assert met.share == 1.0 and met.status == "on_track"
    unmet = pr.evaluate("at_most", None, None, 2020, 10, [("2018", 12)])
    assert unmet.share is None and unmet.status == "off_track"


def test_monthly_values_and_past_target_year() -> None:
    # 2017-06 stands at 2016.5: expected (2016.5-2015)/5 = 0.3
    p = pr.evaluate("at_least", 2015, 0, 2020, 100, [("2017-06", 30)])
    assert p.expected == pytest.approx(0.3) and p.status == "on_track"
    # after the target year the line expects the whole way
    p = pr.evaluate("at_least", 2015, 0, 2020, 800, [("2026-12", 87)])
    assert p.expected == 1.0 and p.status == "off_track"


def test_no_data_and_monitored() -> None:
    assert pr.evaluate("at_least", 2015, 1, 2020, 2, []).status == "no_data"
    p = pr.evaluate("at_least", None, None, 2020, None, [("2026-11", 5), ("2026-12", 7)])
    assert p.status == "monitored" and p.current == 7 and p.share is None


def test_unknown_direction_refused() -> None:
    with pytest.raises(ValueError):
        pr.evaluate("sideways", 2015, 1, 2020, 2, [("2016", 1)])


def test_due_dates() -> None:
    assert pr.due_date("2019") == (2020, 4, 1)
    assert pr.due_date("2019-11") == (2020, 1, 1)
    assert pr.due_date("2019-06") == (2019, 8, 1)
