"""Data requests' rules as plain functions (pure: imports nothing from CityHub but the working-day calendar).

* A request's life: ``submitted`` (waiting for the data office to route it) → ``routed`` (waiting for the
  department's answer) → ``answered``; the asker may ``withdraw`` it and the data office may ``close`` it (a
  duplicate, with a link to the request it duplicates) while it is not answered yet. The office may route a
  routed request again (to another department): the answer deadline then counts from the new routing.
* The department answers within ``n`` working days (a setting, default 20) on the Chinese working-day calendar
  (``sharing/workdays.py``: the routing day never counts; day 1 is the first working day after it).
* A request is **overdue** once a working day has passed after its deadline without an answer: ``deadline <
  last_working_day(today)``. The same rule decides whether an answer came **late** (judged on the day it was
  given): a late answer is kept and counted late, never lost.
"""

from __future__ import annotations

import datetime as dt

from cityhub.sharing import workdays

SUBMITTED, ROUTED, ANSWERED, WITHDRAWN, CLOSED = "submitted", "routed", "answered", "withdrawn", "closed"
STATUSES = (SUBMITTED, ROUTED, ANSWERED, WITHDRAWN, CLOSED)
#: states in which the request still waits for someone (the office or the department)
OPEN_STATUSES = (SUBMITTED, ROUTED)
#: the three answers a department gives
WILL_OPEN, ALREADY_OPEN, CANNOT_OPEN = "will_open", "already_open", "cannot_open"
ANSWER_KINDS = (WILL_OPEN, ALREADY_OPEN, CANNOT_OPEN)
#: what a history event records
EVENTS = ("submitted", "routed", "rerouted", "answered", "escalated", "withdrawn", "closed", "merged")
DEFAULT_WORKING_DAYS = 20
_LOOKBACK = 60  # no holiday run in China is this long: bounds the walk back to a working day


def answer_deadline(routed_on: dt.date, working_days: int = DEFAULT_WORKING_DAYS) -> workdays.Deadline:
    """The day the department must answer by: the ``working_days``-th working day after routing."""
    return workdays.add_working_days(routed_on, working_days)


def last_working_day(day: dt.date) -> dt.date:
    """The last working day on or before ``day`` (an unknown year's Mondays to Fridays stand in)."""
    probe = day
    for _ in range(_LOOKBACK):
        known = workdays.is_working_day(probe)
        if known or (known is None and probe.weekday() < 5):
            return probe
        probe -= dt.timedelta(days=1)
    return probe


def overdue_before(today: dt.date) -> dt.date:
    """A deadline earlier than this date is overdue on ``today`` (the SQL filter of the board and the job)."""
    return last_working_day(today)


def is_overdue(deadline: dt.date | None, today: dt.date) -> bool:
    """A working day has passed after ``deadline`` by ``today`` (``None``: no deadline yet, never overdue)."""
    return deadline is not None and deadline < last_working_day(today)


def working_days_left(deadline: dt.date, today: dt.date) -> int:
    """0 on the deadline itself, negative once it has passed (working days)."""
    return workdays.working_days_left(deadline, today).days


def may_route(status: str) -> bool:
    return status in OPEN_STATUSES


def may_answer(status: str) -> bool:
    return status == ROUTED


def may_withdraw(status: str) -> bool:
    return status in OPEN_STATUSES


def may_close(status: str) -> bool:
    return status in OPEN_STATUSES
