"""Dataset quality score (the nine uData criteria, adapted) and freshness (pure functions)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

MIN_DESCRIPTION = 60  # characters; Chinese packs more meaning per character than the 100+ words uData asks
GRACE = dt.timedelta(days=1)

CRITERIA = (
    ("license", "有开放许可", "Has a licence"),
    ("temporal_coverage", "有时间范围", "Has temporal coverage"),
    ("spatial_coverage", "有空间范围", "Has spatial coverage"),
    ("update_frequency", "设定更新周期", "Update frequency set"),
    ("updated_on_time", "按周期及时更新", "Updated on time"),
    ("description", "描述充分", "Description long enough"),
    ("open_format", "至少一个开放格式", "At least one open format"),
    ("resources_reachable", "资源均可访问", "All resources reachable"),
    ("documentation", "资源有说明文档", "Resources documented"),
)


@dataclass(frozen=True)
class QualityInput:
    license_id: str
    temporal_start: dt.date | None
    districts: list[str]
    update_cycle: str
    cycle_days: int | None
    last_update: dt.datetime | None
    abstract: str
    resource_formats: list[str]
    resources_reachable: list[bool | None]
    resource_descriptions: list[str]
    data_items: int
    open_formats: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Freshness:
    overdue: bool
    due: dt.datetime | None
    days_overdue: int


def freshness(cycle_days: int | None, last_update: dt.datetime | None, now: dt.datetime) -> Freshness:
    """Overdue when the last data update is older than the declared cycle plus one day of grace."""
    if cycle_days is None or last_update is None:
        return Freshness(False, None, 0)
    due = last_update + dt.timedelta(days=cycle_days)
    if now > due + GRACE:
        return Freshness(True, due, (now - due).days)
    return Freshness(False, due, 0)


def score(q: QualityInput, now: dt.datetime) -> dict[str, bool]:
    """Which of the nine criteria hold."""
    fresh = freshness(q.cycle_days, q.last_update, now)
    has_resources = bool(q.resource_formats)
    return {
        "license": bool(q.license_id),
        "temporal_coverage": q.temporal_start is not None,
        "spatial_coverage": bool(q.districts),
        "update_frequency": bool(q.update_cycle) and q.update_cycle != "不定期",
        "updated_on_time": q.last_update is not None and not fresh.overdue,
        "description": len(q.abstract.strip()) >= MIN_DESCRIPTION,
        "open_format": any(f.upper() in q.open_formats for f in q.resource_formats),
        "resources_reachable": has_resources and all(r is not False for r in q.resources_reachable),
        "documentation": q.data_items > 0 and all(d.strip() for d in q.resource_descriptions) and has_resources,
    }


def total(checks: dict[str, bool]) -> int:
    """Score out of 100 (criteria met / 9)."""
    return round(100 * sum(checks.values()) / len(CRITERIA))
