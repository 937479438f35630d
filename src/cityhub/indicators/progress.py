"""Progress of a plan indicator (pure: plain numbers in, plain values out; no database, no web).

The rule (documented in ``docs/indicators.md``):

* **Time** is counted in years at the *end* of a period: a yearly value for year ``Y`` stands at ``Y``; a monthly
  value for ``Y-M`` stands at ``Y - 1 + M/12`` (so December of ``Y`` is ``Y`` too). The baseline stands at its
  year, the target at the target year.
* **Share of the way** from baseline to target: ``(current - baseline) / (target - baseline)``. It works for both
  directions (for ``at_most`` both differences are negative). It is clipped to ``[0, 1]`` for display
  (``share``), the raw value is kept (``raw_share``). ``reach`` means "get to the value": it moves up when the
  target is above the baseline, down otherwise.
* **No baseline** (the plan gives none, or only a text note): for ``at_least`` and ``reach`` the baseline is taken
  as 0 (the share is ``current / target``); for ``at_most`` there is no distance to measure: the share is 1 when
  the current value is at or below the target, else unknown (``None``).
* **Expected share** on the straight line from the baseline year to the target year at the time of the latest
  value: ``(t - baseline_year) / (target_year - baseline_year)``, clipped to ``[0, 1]`` (no baseline year: the
  year before the first observation stands in for it).
* **Status**: ``achieved`` indicators (the target already met in its direction) are ``on_track``; otherwise the
  gap ``expected - share`` decides: ``≤ 0.05`` on track, ``≤ 0.15`` at risk, more off track. A value whose share
  is unknown is ``off_track`` (the target is not met); no value at all is ``no_data``.
"""

from __future__ import annotations

from dataclasses import dataclass

AT_LEAST = "at_least"
AT_MOST = "at_most"
REACH = "reach"
DIRECTIONS = (AT_LEAST, AT_MOST, REACH)
ON_TRACK, AT_RISK, OFF_TRACK, NO_DATA, MONITORED = "on_track", "at_risk", "off_track", "no_data", "monitored"
STATUSES = (ON_TRACK, AT_RISK, OFF_TRACK, NO_DATA, MONITORED)
STATUS_LABELS = {ON_TRACK: ("进展顺利", "On track"), AT_RISK: ("存在风险", "At risk"),
                 OFF_TRACK: ("进度滞后", "Off track"), NO_DATA: ("暂无数据", "No data"),
                 MONITORED: ("监测(无目标值)", "Monitored (no target)")}
DIRECTION_LABELS = {AT_LEAST: ("不低于", "at least"), AT_MOST: ("不高于", "at most"), REACH: ("达到", "reach")}
#: the gap (in share of the way) within which an indicator is on track, and within which it is at risk
ON_TRACK_GAP = 0.05
AT_RISK_GAP = 0.15


@dataclass(frozen=True)
class Progress:
    status: str
    share: float | None  # of the way from baseline to target, clipped to [0, 1]
    raw_share: float | None
    expected: float | None  # where the straight line says the share should be at the latest value's time
    achieved: bool
    current: float | None
    at: float | None  # the latest value's time in years

    def as_dict(self) -> dict[str, object]:
        return {"status": self.status, "share": _round(self.share), "raw_share": _round(self.raw_share),
                "expected": _round(self.expected), "achieved": self.achieved, "current": self.current,
                "at": _round(self.at)}


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 4)


def period_time(period: str) -> float:
    """``"2018"`` → 2018.0; ``"2018-06"`` → 2017.5 (the end of June 2018)."""
    if len(period) == 4:
        return float(int(period))
    year, month = period.split("-")
    return int(year) - 1 + int(month) / 12


def effective_direction(direction: str, baseline: float | None, target: float) -> str:
    """``reach`` moves up to a target above the baseline (or with no baseline), down to one below it."""
    if direction != REACH:
        return direction
    return AT_MOST if baseline is not None and target < baseline else AT_LEAST


def achieved(direction: str, baseline: float | None, target: float, current: float) -> bool:
    if effective_direction(direction, baseline, target) == AT_MOST:
        return current <= target
    return current >= target


def share_of_way(direction: str, baseline: float | None, target: float, current: float) -> float | None:
    """The raw share of the way from baseline to target (unclipped); ``None`` when it cannot be measured."""
    eff = effective_direction(direction, baseline, target)
    if baseline is None:
        if eff == AT_MOST:
            return 1.0 if current <= target else None
        baseline = 0.0
    span = target - baseline
    if span == 0:
        return 1.0 if achieved(direction, baseline, target, current) else 0.0
    return (current - baseline) / span


def expected_share(baseline_year: float, target_year: float, at: float) -> float:
    if target_year <= baseline_year:
        return 1.0
    return min(1.0, max(0.0, (at - baseline_year) / (target_year - baseline_year)))


def evaluate(direction: str, baseline_year: int | None, baseline: float | None, target_year: int,
             target: float | None, series: list[tuple[str, float]]) -> Progress:
    """Progress of one indicator from its ``series`` of ``(period, value)`` (any order; the latest counts).
    ``target`` ``None``: an indicator that is monitored only (status ``monitored``)."""
    if direction not in DIRECTIONS:
        raise ValueError(f"unknown direction {direction}")
    if not series:
        return Progress(NO_DATA, None, None, None, False, None, None)
    period, current = max(series, key=lambda pv: period_time(pv[0]))
    at = period_time(period)
    if target is None:
        return Progress(MONITORED, None, None, None, False, current, at)
    start = float(baseline_year) if baseline_year is not None else min(period_time(p) for p, _ in series) - 1
    expected = expected_share(start, float(target_year), at)
    raw = share_of_way(direction, baseline, target, current)
    done = achieved(direction, baseline, target, current)
    share = None if raw is None else min(1.0, max(0.0, raw))
    if done:
        status = ON_TRACK
    elif share is None:
        status = OFF_TRACK
    else:
        gap = expected - share
        status = ON_TRACK if gap <= ON_TRACK_GAP + 1e-9 else AT_RISK if gap <= AT_RISK_GAP + 1e-9 else OFF_TRACK
    return Progress(status, share, raw, expected, done, current, at)


def due_date(period: str) -> tuple[int, int, int]:
    """The day a period's value is late from (year, month, day; reported before that day is on time): a year's
    value is due by 31 March of the next year, a month's by the last day of the next month."""
    if len(period) == 4:
        return int(period) + 1, 4, 1
    year, month = int(period[:4]), int(period[5:])
    month += 2
    if month > 12:
        year, month = year + 1, month - 12
    return year, month, 1


def late_periods(frequency: str, first_year: int, last_year: int, have: set[str], today_year: int,
                 today_month: int) -> list[str]:
    """The periods a reported indicator should have a value for by today but has none (approved or awaiting):
    a yearly indicator owes year ``Y`` from the start of ``Y + 1``; a monthly one owes ``Y-M`` from the next
    month. Bounded to ``first_year..last_year``."""
    owed: list[str] = []
    for year in range(first_year, last_year + 1):
        if frequency == "monthly":
            for month in range(1, 13):
                if (year, month) < (today_year, today_month) and f"{year}-{month:02d}" not in have:
                    owed.append(f"{year}-{month:02d}")
        elif year < today_year and str(year) not in have:
            owed.append(str(year))
    return owed
