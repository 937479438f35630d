"""The deadline rules of data requests on the Chinese working-day calendar (pure functions, no store)."""

from __future__ import annotations

import datetime as dt

from cityhub.engage import datareq_rules as rules

D = dt.date.fromisoformat


def test_deadline_across_national_day_2026() -> None:
    # routed Wednesday 30 September 2026: 1-7 October are off (Golden Week), Saturday 10 October is a make-up
    # working day; the 20th working day after routing is Tuesday 3 November (not 28 October, plain weekdays)
    due = rules.answer_deadline(D("2026-09-30"), 20)
    assert due.date == D("2026-11-03") and not due.provisional
    assert rules.answer_deadline(D("2026-09-28"), 3).date == D("2026-10-08")  # 29, 30 Sep, then 8 Oct
    assert rules.answer_deadline(D("2026-10-08"), 2).date == D("2026-10-10")  # the make-up Saturday counts


def test_overdue_needs_a_working_day_past_the_deadline() -> None:
    deadline = D("2026-09-30")
    assert not rules.is_overdue(deadline, D("2026-09-30"))  # due today
    assert not rules.is_overdue(deadline, D("2026-10-05"))  # holidays only since: no working day has passed
    assert rules.is_overdue(deadline, D("2026-10-08"))  # the first working day after the holiday
    assert rules.last_working_day(D("2026-10-07")) == D("2026-09-30")
    assert rules.last_working_day(D("2026-10-10")) == D("2026-10-10")  # make-up Saturday
    assert not rules.is_overdue(None, D("2030-01-01"))
    assert rules.working_days_left(D("2026-11-03"), D("2026-10-30")) == 2
    assert rules.working_days_left(D("2026-09-30"), D("2026-10-09")) == -2


def test_states() -> None:
    assert rules.may_route("submitted") and rules.may_route("routed") and not rules.may_route("answered")
    assert rules.may_answer("routed") and not rules.may_answer("submitted") and not rules.may_answer("closed")
    assert not rules.may_withdraw("answered") and not rules.may_close("withdrawn")
