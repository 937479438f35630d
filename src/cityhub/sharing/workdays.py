"""Working-day deadlines on the Chinese public-holiday calendar (pure: imports nothing else from CityHub).

The rules (国发〔2016〕51号 and Guangzhou's): a provider answers a conditional-sharing request within 10
working days; a correction is accepted within 2. Working days are Monday to Friday, minus the public
holidays, plus the make-up working weekends (调休上班) of the State Council's yearly notice. The
``chinesecalendar`` package (module ``chinese_calendar``) ships those notices up to the year it was released
for (1.11.0: 2004–2026).

Counting, one rule everywhere:

* **the filing day never counts.** Day 1 is the first working day strictly after the filing day, whether
  the filing day is a working day or not: a request filed on Friday 13 February 2026 counts from the
  make-up Saturday 14 February; one filed during the Spring Festival counts from 24 February, the first
  working day after it. ``add_working_days(start, n)`` is the n-th such day (``n = 0`` is the filing day).
* ``working_days_between(a, b)`` counts the working days d with ``a < d <= b`` (negative when ``b < a``), so
  ``working_days_between(start, add_working_days(start, n).date) == n``.
* ``working_days_left(deadline, today)`` is ``working_days_between(today, deadline)``: 0 on the deadline
  itself (still due today), negative once overdue (-1 on the first working day after it).

Dates are calendar dates in China (Asia/Shanghai); the caller converts a timestamp first. A ``datetime`` is
refused rather than silently cut to its (perhaps UTC) date.

Years the package does not know are never guessed: a result that depends on one is marked ``provisional``
(its date counts such a year's Mondays to Fridays as working days, a placeholder only) until the data office
loads that year's schedule as a ``Calendar``, which then decides every day of the years it covers (it may
also correct a year the package knows).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, lru_cache

import chinese_calendar

from cityhub.sharing.problems import SharingInputError

#: The longest span counted, in working days (about 40 years): bounds the work one call can cause.
MAX_WORKING_DAYS = 10_000
_ONE_DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class Calendar:
    """A year's schedule from a State Council notice, loaded by the data office.

    ``years`` are the years it fully describes; within them a day is a working day if it is in ``workdays``
    (the make-up working weekends), or else if it is Monday to Friday and not in ``days_off``.
    """

    years: frozenset[int]
    days_off: frozenset[dt.date] = frozenset()
    workdays: frozenset[dt.date] = frozenset()

    @classmethod
    def from_notice(
        cls, years: Iterable[int], days_off: Iterable[dt.date] = (), workdays: Iterable[dt.date] = ()
    ) -> Calendar:
        """Check and build: every date falls in a declared year, no date is both off and a working day."""
        ys = frozenset(years)
        if not ys:
            raise SharingInputError("请指定该日历覆盖的年份", "Name the years this calendar covers", "years")
        off = frozenset(_plain_date(d, "days_off") for d in days_off)
        work = frozenset(_plain_date(d, "workdays") for d in workdays)
        for field, days in (("days_off", off), ("workdays", work)):
            outside = sorted(d for d in days if d.year not in ys)
            if outside:
                raise SharingInputError(
                    f"{outside[0].isoformat()} 不在该日历覆盖的年份内",
                    f"{outside[0].isoformat()} is outside the years this calendar covers",
                    field,
                )
        both = sorted(off & work)
        if both:
            raise SharingInputError(
                f"{both[0].isoformat()} 不能既是假日又是工作日",
                f"{both[0].isoformat()} cannot be both a day off and a working day",
                "workdays",
            )
        return cls(years=ys, days_off=off, workdays=work)

    def is_working_day(self, day: dt.date) -> bool:
        return day in self.workdays or (day.weekday() < 5 and day not in self.days_off)


@dataclass(frozen=True)
class Deadline:
    """The due date, and whether it rests on a year nobody has loaded the schedule of yet."""

    date: dt.date
    provisional: bool


@dataclass(frozen=True)
class Count:
    """A number of working days, and whether it rests on a year not known yet."""

    days: int
    provisional: bool

    @property
    def overdue(self) -> bool:
        return self.days < 0


@cache
def package_knows(year: int) -> bool:
    """Whether the installed ``chinesecalendar`` has the State Council schedule of ``year``."""
    try:
        chinese_calendar.is_workday(dt.date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


def is_working_day(day: dt.date, extra: Calendar | None = None) -> bool | None:
    """True or False, or None when neither ``extra`` nor the package knows the day's year."""
    day = _plain_date(day, "date")
    if extra is not None and day.year in extra.years:
        return extra.is_working_day(day)
    if package_knows(day.year):
        return _package_workday(day)
    return None


@lru_cache(maxsize=8192)
def _package_workday(day: dt.date) -> bool:
    # the package scans all its holidays for its year range on every call (~30 µs): remember the answers
    return bool(chinese_calendar.is_workday(day))


def _step(day: dt.date, extra: Calendar | None) -> tuple[bool, bool]:
    """(working day?, known?) — an unknown year's Mondays to Fridays stand in as working days."""
    known = is_working_day(day, extra)
    if known is None:
        return day.weekday() < 5, False
    return known, True


def add_working_days(start: dt.date, n: int, extra: Calendar | None = None) -> Deadline:
    """The n-th working day after ``start`` (the filing day itself never counts; ``n = 0`` is ``start``)."""
    start = _plain_date(start, "start")
    if isinstance(n, bool) or not isinstance(n, int) or n < 0 or n > MAX_WORKING_DAYS:
        raise SharingInputError(
            f"工作日数应为 0 到 {MAX_WORKING_DAYS} 之间的整数",
            f"The number of working days must be a whole number from 0 to {MAX_WORKING_DAYS}",
            "n",
        )
    day = start
    provisional = False
    counted = 0
    while counted < n:
        try:
            day += _ONE_DAY
        except OverflowError:
            raise SharingInputError("日期超出范围", "The date is out of range", "start") from None
        working, known = _step(day, extra)
        provisional = provisional or not known
        if working:
            counted += 1
    return Deadline(date=day, provisional=provisional)


def working_days_between(a: dt.date, b: dt.date, extra: Calendar | None = None) -> Count:
    """Working days d with ``a < d <= b``; negative (the same count) when ``b`` is before ``a``."""
    a = _plain_date(a, "a")
    b = _plain_date(b, "b")
    if b < a:
        back = working_days_between(b, a, extra)
        return Count(days=-back.days, provisional=back.provisional)
    days = 0
    provisional = False
    day = a
    while day < b:
        day += _ONE_DAY
        working, known = _step(day, extra)
        provisional = provisional or not known
        if working:
            days += 1
    return Count(days=days, provisional=provisional)


def working_days_left(deadline: dt.date, today: dt.date, extra: Calendar | None = None) -> Count:
    """Working days still left: 0 on the deadline itself, negative once it has passed (``.overdue``)."""
    return working_days_between(today, deadline, extra)


def _plain_date(value: object, field: str) -> dt.date:
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise SharingInputError(
            "应为日期(不含时间)",
            "A date without a time (convert timestamps to the date in China first)",
            field,
        )
    return value
