"""The indicators the platform measures itself: computed from its own tables, never typed in.

Each computation is read-only over another domain's tables (counts and sums only, no rows leave), and each says
how it is computed (``HOW``: shown on the progress page and in the reports). Values are kept per process for
:data:`TTL` seconds so the public progress page does not recount 100,000 datasets on every view (an older value is
served once more while it is recomputed in the background); a change made through the indicator actions clears the
cache (:func:`clear`).

Periods: ``YYYY-MM`` for the monthly figures (Asia/Shanghai months), ``YYYY`` for the yearly plan share.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from typing import Any

from sqlalchemy import Engine, and_, func, or_, select
from sqlalchemy.orm import Session

from cityhub.catalog import visibility
from cityhub.catalog.quality import GRACE
from cityhub.catalog.vocab import UPDATE_CYCLES
from cityhub.db import today_local, utcnow

TTL = 60.0
STALE = 600.0  # how long past TTL a value is still served while it is recomputed in the background
MONTHS = 24  # the trend charts show the last 24 months

HOW: dict[str, tuple[str, str]] = {
    "open_datasets": (
        "平台目录中公众可见的开放数据集数量:状态有效、已发布、非私有且开放类型不是“不予开放”(与门户统计、DCAT、CKAN "
        "同一可见性规则);趋势按发布日期逐月累计。",
        "Datasets of the platform's catalog that the public can see: active, published, not private and not "
        "不予开放 (the same visibility rule as the portal's figures, DCAT and CKAN); the trend counts them by "
        "publication date, month by month."),
    "plan_share": (
        "已发布本年度开放计划(开放清单)的部门数 ÷ 平台登记的部门总数 × 100;取不晚于今年的最近计划年度。",
        "Departments that published their open-data plan (list) for the year ÷ all departments registered on the "
        "platform × 100; the latest plan year not after this year."),
    "records_exchanged": (
        "共享交换平台本月各部门之间通过交换接口成功交换的记录数(交换日志 exchange_call 中成功调用返回的记录数之和)。",
        "Records exchanged between departments through the exchange API this month (the sum of rows of the "
        "successful calls in the exchange log, exchange_call)."),
    "overdue_datasets": (
        "公众可见的开放数据集中,最近一次数据更新距今已超过其声明的更新周期(另加一天宽限)的数量,与数据质量评分的"
        "“按周期及时更新”同一规则。",
        "Publicly visible open datasets whose last data update is older than their declared update cycle plus one "
        "day of grace (the same rule as the quality score's 'updated on time')."),
    "monthly_downloads": (
        "本月开放数据集的下载次数之和(按日统计表 usage_daily)。",
        "Downloads of open datasets this month (sum of the daily usage table, usage_daily)."),
    "monthly_api_calls": (
        "本月开放数据集的数据接口调用次数之和(按日统计表 usage_daily)。",
        "API calls to open datasets this month (sum of the daily usage table, usage_daily)."),
}

_cache: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}
_refreshing: set[tuple[str, str]] = set()
_lock = threading.Lock()


def clear() -> None:
    with _lock:
        _cache.clear()


def compute(db: Session, key: str, fresh: bool = False) -> dict[str, Any]:
    """``{"value", "period", "series": [[period, value], …], "how", "how_en"}`` of live computation ``key``.

    A value older than :data:`TTL` (but younger than ``TTL + STALE``) is served once more while a background
    thread recomputes it (stale-while-revalidate), so no page view waits for a recount after the first."""
    bind = db.get_bind()
    cache_key = (str(getattr(bind, "url", id(bind))), key)
    now = time.monotonic()
    if not fresh:
        with _lock:
            hit = _cache.get(cache_key)
        if hit is not None and hit[0] > now:
            return hit[1]
        if hit is not None and hit[0] + STALE > now and isinstance(bind, Engine):
            _refresh_later(bind, cache_key, key)
            return hit[1]
    return _store(cache_key, key, db)


def _store(cache_key: tuple[str, str], key: str, db: Session) -> dict[str, Any]:
    result = _COMPUTE[key](db)
    result["how"], result["how_en"] = HOW[key]
    with _lock:
        _cache[cache_key] = (time.monotonic() + TTL, result)
    return result


def _refresh_later(engine: Engine, cache_key: tuple[str, str], key: str) -> None:
    with _lock:
        if cache_key in _refreshing:
            return
        _refreshing.add(cache_key)

    def run() -> None:
        try:
            with Session(bind=engine) as s:
                _store(cache_key, key, s)
        except Exception:  # the stale value stays; the next view after STALE recomputes in line
            logging.getLogger("cityhub.indicators").exception("live indicator %s not refreshed", key)
        finally:
            with _lock:
                _refreshing.discard(cache_key)

    threading.Thread(target=run, name=f"indicator-{key}", daemon=True).start()


def expire() -> None:
    """Make every cached value due for a refresh (tests and the benchmark: as if ``TTL`` had passed)."""
    with _lock:
        for k, (_, value) in list(_cache.items()):
            _cache[k] = (time.monotonic() - 1, value)


def _month(d: dt.date) -> str:
    return f"{d.year}-{d.month:02d}"


def _months_back(today: dt.date, n: int) -> list[str]:
    y, m = today.year, today.month
    out = []
    for _ in range(n):
        out.append(f"{y}-{m:02d}")
        m -= 1
        if m == 0:
            y, m = y - 1, 12
    return out[::-1]


def _open_datasets(db: Session) -> dict[str, Any]:
    from cityhub.catalog.models import Dataset

    today = today_local()
    months = _months_back(today, MONTHS)
    rows = db.execute(select(Dataset.published_on, func.count()).where(visibility.public_sql())
                      .group_by(Dataset.published_on)).all()
    total = sum(int(n) for _, n in rows)
    by_month: dict[str, int] = {}
    for day, n in rows:
        if day is not None:
            by_month[_month(day)] = by_month.get(_month(day), 0) + int(n)
    before = sum(n for m, n in by_month.items() if m < months[0])
    series: list[list[Any]] = []
    first_year = int(months[0][:4])
    years = sorted({int(m[:4]) for m in by_month if m < months[0] and int(m[:4]) < first_year})
    for y in range(years[0], first_year) if years else ():  # year-end figures before the 24 months (the reports)
        series.append([str(y), sum(n for m, n in by_month.items() if int(m[:4]) <= y)])
    running = before
    for m in months:
        running += by_month.get(m, 0)
        series.append([m, running])
    series[-1][1] = total  # datasets without a publication date count from now on
    return {"value": total, "period": months[-1], "series": series}


def _plan_share(db: Session) -> dict[str, Any]:
    from cityhub.accounts.models import Department
    from cityhub.catalog.models import OpenPlan

    depts = db.scalar(select(func.count()).select_from(Department)) or 0
    this_year = today_local().year
    rows = db.execute(select(OpenPlan.year, func.count(func.distinct(OpenPlan.department_id)))
                      .where(OpenPlan.published_on.is_not(None), OpenPlan.year <= this_year)
                      .group_by(OpenPlan.year).order_by(OpenPlan.year)).all()
    series = [[str(y), round(100 * int(n) / depts, 1) if depts else 0.0] for y, n in rows]
    if not series:
        return {"value": 0.0, "period": str(this_year), "series": [[str(this_year), 0.0]]}
    return {"value": series[-1][1], "period": series[-1][0], "series": series}


def _records_exchanged(db: Session) -> dict[str, Any]:
    from cityhub.sharing.exchange_models import ExchangeCall

    months = _months_back(today_local(), MONTHS)
    rows = dict(db.execute(select(ExchangeCall.month, func.coalesce(func.sum(ExchangeCall.rows), 0))
                           .where(ExchangeCall.month >= months[0], ExchangeCall.status == "ok")
                           .group_by(ExchangeCall.month)).all())
    series = [[m, int(rows.get(m, 0))] for m in months]
    return {"value": series[-1][1], "period": months[-1], "series": series}


def _overdue_datasets(db: Session) -> dict[str, Any]:
    from cityhub.catalog.models import Dataset

    now = utcnow()
    late = [and_(Dataset.update_cycle == cycle, Dataset.data_updated_at < now - dt.timedelta(days=days) - GRACE)
            for cycle, days in UPDATE_CYCLES.items() if days is not None]
    n = db.scalar(select(func.count()).select_from(Dataset).where(
        visibility.public_sql(), Dataset.data_updated_at.is_not(None), or_(*late))) or 0
    period = _month(today_local())
    return {"value": int(n), "period": period, "series": [[period, int(n)]]}


def _usage(column: str) -> Any:
    def run(db: Session) -> dict[str, Any]:
        from cityhub.catalog.models import UsageDaily

        today = today_local()
        months = _months_back(today, MONTHS)
        start = dt.date(int(months[0][:4]), int(months[0][5:]), 1)
        rows: dict[str, int] = {}
        for day, n in db.execute(select(UsageDaily.day, func.coalesce(func.sum(getattr(UsageDaily, column)), 0))
                                 .where(UsageDaily.day >= start).group_by(UsageDaily.day)):
            rows[_month(day)] = rows.get(_month(day), 0) + int(n)
        series = [[m, rows.get(m, 0)] for m in months]
        return {"value": series[-1][1], "period": months[-1], "series": series}

    return run


_COMPUTE = {
    "open_datasets": _open_datasets,
    "plan_share": _plan_share,
    "records_exchanged": _records_exchanged,
    "overdue_datasets": _overdue_datasets,
    "monthly_downloads": _usage("downloads"),
    "monthly_api_calls": _usage("api_calls"),
}
