"""Working-day deadlines (``cityhub.sharing.workdays``) across the Spring Festival and National Day.

Every expected date below was counted by hand from the State Council notices, and the notices' days were
checked against the installed ``chinesecalendar`` 1.11.0 (``test_the_package_has_the_notices``):

* 2025 (国务院办公厅关于2025年部分节假日安排的通知, 12 Nov 2024): National Day and Mid-Autumn 10月1日–8日
  off, make-up working days 9月28日 (Sun) and 10月11日 (Sat).
* 2026 (国务院办公厅关于2026年部分节假日安排的通知, 4 Nov 2025): Spring Festival 2月15日–23日 off, make-up
  working days 2月14日 (Sat) and 2月28日 (Sat); Mid-Autumn 9月25日–27日 off; National Day 10月1日–7日 off,
  make-up working days 9月20日 (Sun) and 10月10日 (Sat).
"""

from __future__ import annotations

import datetime as dt

import pytest

from cityhub.sharing import workdays as wd
from cityhub.sharing.problems import SharingInputError

D = dt.date


def test_the_package_has_the_notices() -> None:
    assert all(wd.is_working_day(D(2026, 2, d)) is False for d in range(15, 24))
    assert wd.is_working_day(D(2026, 2, 14)) is True  # Saturday, make-up
    assert wd.is_working_day(D(2026, 2, 28)) is True  # Saturday, make-up
    assert wd.is_working_day(D(2026, 3, 1)) is False  # an ordinary Sunday
    assert all(wd.is_working_day(D(2025, 10, d)) is False for d in range(1, 9))
    assert wd.is_working_day(D(2025, 9, 28)) is True and wd.is_working_day(D(2025, 10, 11)) is True
    assert all(wd.is_working_day(D(2026, 10, d)) is False for d in range(1, 8))
    assert all(wd.is_working_day(D(2026, 9, d)) is False for d in (25, 26, 27))
    assert wd.is_working_day(D(2026, 9, 20)) is True and wd.is_working_day(D(2026, 10, 10)) is True
    assert wd.package_knows(2026) and not wd.package_knows(2027)
    assert wd.is_working_day(D(2027, 1, 4)) is None  # never guessed


def test_ten_working_days_across_the_2026_spring_festival() -> None:
    # filed Fri 13 Feb: 14 Feb (1, make-up Sat), 24–27 Feb (2–5), 28 Feb (6, make-up Sat), 2–5 Mar (7–10)
    assert wd.add_working_days(D(2026, 2, 13), 10) == wd.Deadline(D(2026, 3, 5), provisional=False)
    # filed during the festival: counts from Tue 24 Feb
    assert wd.add_working_days(D(2026, 2, 17), 1).date == D(2026, 2, 24)
    assert wd.add_working_days(D(2026, 2, 17), 10).date == D(2026, 3, 6)
    # filed on the make-up Saturday itself: that day does not count either
    assert wd.add_working_days(D(2026, 2, 14), 1).date == D(2026, 2, 24)
    assert wd.add_working_days(D(2026, 2, 13), 0).date == D(2026, 2, 13)


def test_ten_working_days_across_national_day_2025_and_2026() -> None:
    # filed Fri 26 Sep 2025: 28 Sep (1, make-up Sun), 29–30 Sep (2–3), 9–10 Oct (4–5), 11 Oct (6, make-up
    # Sat), 13–16 Oct (7–10)
    assert wd.add_working_days(D(2025, 9, 26), 10) == wd.Deadline(D(2025, 10, 16), provisional=False)
    # filed Fri 18 Sep 2026: 20 Sep (1, make-up Sun), 21–24 Sep (2–5), Mid-Autumn off, 28–30 Sep (6–8),
    # National Day off, 8–9 Oct (9–10)
    assert wd.add_working_days(D(2026, 9, 18), 10).date == D(2026, 10, 9)
    # a correction accepted within 2 working days, filed on the eve of the holiday
    assert wd.add_working_days(D(2026, 9, 30), 2).date == D(2026, 10, 9)
    assert wd.add_working_days(D(2026, 10, 9), 1).date == D(2026, 10, 10)  # make-up Saturday


def test_between_and_left_agree_with_add() -> None:
    start = D(2026, 2, 13)
    due = wd.add_working_days(start, 10).date
    assert wd.working_days_between(start, due) == wd.Count(10, provisional=False)
    assert wd.working_days_between(due, start).days == -10
    assert wd.working_days_between(start, start).days == 0
    assert wd.working_days_left(due, D(2026, 2, 13)).days == 10
    assert wd.working_days_left(due, D(2026, 2, 16)).days == 9  # on a holiday: 24 Feb–5 Mar remain
    left = wd.working_days_left(due, due)
    assert left.days == 0 and not left.overdue  # due today
    late = wd.working_days_left(due, D(2026, 3, 6))
    assert late.days == -1 and late.overdue
    assert wd.working_days_left(due, D(2026, 3, 8)).days == -1  # the weekend adds nothing
    for n in (1, 2, 5, 10, 30):
        for s in (D(2025, 9, 26), D(2026, 2, 10), D(2026, 9, 30)):
            assert wd.working_days_between(s, wd.add_working_days(s, n).date).days == n


def test_a_deadline_into_an_unknown_year_is_provisional_until_the_office_loads_it() -> None:
    assert wd.add_working_days(D(2026, 12, 10), 10) == wd.Deadline(D(2026, 12, 24), provisional=False)
    # 25, 28–31 Dec (1–5), then 2027, which the package does not know: Mon–Fri stand in
    guess = wd.add_working_days(D(2026, 12, 24), 10)
    assert guess == wd.Deadline(D(2027, 1, 7), provisional=True)
    assert wd.working_days_left(guess.date, D(2026, 12, 30)).provisional
    # a schedule the data office loads (a made-up test schedule: 1–3 Jan off, no make-up day)
    extra = wd.Calendar.from_notice([2027], days_off=[D(2027, 1, 1), D(2027, 1, 2), D(2027, 1, 3)])
    assert wd.add_working_days(D(2026, 12, 24), 10, extra) == wd.Deadline(D(2027, 1, 8), provisional=False)
    assert wd.working_days_between(D(2026, 12, 24), D(2027, 1, 8), extra) == wd.Count(10, False)
    # a make-up Saturday in the loaded year counts
    extra2 = wd.Calendar.from_notice([2027], days_off=[D(2027, 1, 1)], workdays=[D(2027, 1, 2)])
    assert wd.add_working_days(D(2026, 12, 31), 1, extra2).date == D(2027, 1, 2)
    # years before the package's first (2004) are unknown too
    assert wd.add_working_days(D(2003, 12, 30), 1).provisional


def test_a_loaded_calendar_overrides_a_known_year() -> None:
    fix = wd.Calendar.from_notice([2026], days_off=[D(2026, 12, 11)])
    assert wd.add_working_days(D(2026, 12, 10), 1).date == D(2026, 12, 11)
    assert wd.add_working_days(D(2026, 12, 10), 1, fix).date == D(2026, 12, 14)
    # ...but only for the years it declares: the Spring Festival of 2026 is its own business now
    assert wd.is_working_day(D(2026, 2, 16), fix) is True


def test_bad_input_is_refused_clearly() -> None:
    with pytest.raises(SharingInputError) as e:
        wd.add_working_days(dt.datetime(2026, 2, 13, 23, 30), 10)  # type: ignore[arg-type]
    assert e.value.field == "start" and "日期" in e.value.zh and "date" in e.value.en
    for n in (-1, True, 2.5, wd.MAX_WORKING_DAYS + 1):
        with pytest.raises(SharingInputError):
            wd.add_working_days(D(2026, 2, 13), n)  # type: ignore[arg-type]
    with pytest.raises(SharingInputError):
        wd.working_days_between("2026-02-13", D(2026, 3, 1))  # type: ignore[arg-type]
    with pytest.raises(SharingInputError) as e:
        wd.add_working_days(D(9999, 12, 30), 5)
    assert e.value.field == "start"
    with pytest.raises(SharingInputError) as e:
        wd.Calendar.from_notice([2027], days_off=[D(2028, 1, 1)])
    assert e.value.field == "days_off" and "2028-01-01" in str(e.value)
    with pytest.raises(SharingInputError) as e:
        wd.Calendar.from_notice([2027], days_off=[D(2027, 2, 6)], workdays=[D(2027, 2, 6)])
    assert e.value.field == "workdays"
    with pytest.raises(SharingInputError):
        wd.Calendar.from_notice([])
