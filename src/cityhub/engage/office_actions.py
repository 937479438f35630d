"""The data office's console (issue 15, 数据办工作台): one read action, ``office_overview``, that gathers what the
city data office has waiting across the domains, each with bounded queries (grouped counts, lists of at most
``TOP``) and links to the existing queues:

* data requests by status, the open ones (submitted or routed) by age in **calendar days** since they were asked
  (0–5, 6–10, 11–20, >20), and how many routed requests are overdue (same rule as the board's overdue filter);
* indicator values reported and awaiting review, and reported indicators whose report is late or missing (the
  indicators module's own rule, periods from the plan's first year to this year);
* the moderation queue: reported posts, held posts, pending reuses;
* share requests escalated to the data office and still unanswered, and those overdue (working days);
* correction tickets open (open or accepted) and overdue (acceptance or answer past due, working days).

Lists come from the domains' own read actions called with the same context (nested calls share the session).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import case, func, select

from cityhub import actions
from cityhub.actions import ADMINS, action
from cityhub.context import Context
from cityhub.db import today_local, utcnow
from cityhub.engage import datareq_rules as rules
from cityhub.engage import office_auth as auth
from cityhub.engage.datareq_models import DataRequest
from cityhub.engage.discuss_models import DiscussionPost
from cityhub.engage.reuse_models import Reuse
from cityhub.indicators import actions as indicators
from cityhub.indicators.models import Indicator, Observation
from cityhub.indicators.schemas import Empty
from cityhub.sharing import workdays
from cityhub.sharing.deid_models import Correction
from cityhub.sharing.models import ShareRequest

#: the longest list each card shows
TOP = 10
#: age bands of open data requests, in calendar days since they were asked: (label, lowest age, highest age)
AGE_BANDS = (("0-5", 0, 5), ("6-10", 6, 10), ("11-20", 11, 20), (">20", 21, None))
#: how many waiting share requests / open tickets are checked against the working-day calendar (oldest first)
SCAN_CAP = 1000


def _data_requests(ctx: Context, today: dt.date) -> dict[str, Any]:
    by_status = {st: 0 for st in rules.STATUSES}
    for st, n in ctx.db.execute(select(DataRequest.status, func.count()).group_by(DataRequest.status)):
        by_status[str(st)] = int(n)
    now = utcnow()
    open_ = DataRequest.status.in_(rules.OPEN_STATUSES)
    cols = []
    for _, low, high in AGE_BANDS:
        cond = DataRequest.created_at <= now - dt.timedelta(days=low)
        if high is not None:
            cond = cond & (DataRequest.created_at > now - dt.timedelta(days=high + 1))
        cols.append(func.coalesce(func.sum(case((cond, 1), else_=0)), 0))
    row = ctx.db.execute(select(*cols).where(open_)).one()
    ages = [{"band": label, "count": int(n)} for (label, _, _), n in zip(AGE_BANDS, row, strict=True)]
    overdue = int(ctx.db.scalar(select(func.count()).where(
        DataRequest.status == rules.ROUTED, DataRequest.deadline < rules.overdue_before(today))) or 0)
    waiting = actions.call("data_request_list", ctx, {"status": rules.SUBMITTED, "sort": "oldest", "limit": TOP})
    late = actions.call("data_request_list", ctx, {"overdue": True, "sort": "oldest", "limit": TOP})
    return {"by_status": by_status, "open": by_status[rules.SUBMITTED] + by_status[rules.ROUTED],
            "age_unit": "calendar_days", "ages": ages, "overdue": overdue,
            "waiting": waiting["results"], "overdue_list": late["results"]}


def _indicators(ctx: Context) -> dict[str, Any]:
    awaiting = int(ctx.db.scalar(select(func.count()).where(Observation.status == "reported")) or 0)
    queue = actions.call("indicator_queue", ctx, {"status": "reported", "limit": TOP})
    inds = list(ctx.db.scalars(select(Indicator).where(Indicator.active.is_(True))
                               .order_by(Indicator.position, Indicator.code).limit(5000)))
    start, _end = indicators._plan_years(inds)
    this_year = today_local().year
    late_missing = indicators._late_and_missing(ctx, inds, start + 1, this_year, indicators._departments(ctx))
    missing = [r for r in late_missing if r["state"] == "missing"]
    late = [r for r in late_missing if r["state"] == "late"]
    return {"awaiting_review": awaiting, "queue": queue["results"], "missing": len(missing), "late": len(late),
            "indicators_missing": len({r["code"] for r in missing}),
            "late_or_missing": sorted(late_missing, key=lambda r: (r["state"] != "missing", r["due"]))[:TOP]}


def _moderation(ctx: Context) -> dict[str, Any]:
    held = int(ctx.db.scalar(select(func.count()).where(DiscussionPost.status == "held")) or 0)
    reported = int(ctx.db.scalar(select(func.count()).where(DiscussionPost.status == "visible",
                                                             DiscussionPost.report_count > 0)) or 0)
    pending = int(ctx.db.scalar(select(func.count()).where(Reuse.status == "pending")) or 0)
    top = actions.call("discussion_queue", ctx, {"status": "reported", "limit": TOP})
    return {"reported_posts": reported, "held_posts": held, "pending_reuses": pending,
            "reported": [{"id": p["id"], "dataset": p["dataset"], "dataset_title": p["dataset_title"],
                          "report_count": p.get("report_count", 0)} for p in top]}


def _sharing(ctx: Context, today: dt.date) -> dict[str, Any]:
    waiting = ShareRequest.status == "submitted"
    escalated = int(ctx.db.scalar(select(func.count()).where(waiting, ShareRequest.escalated_at.is_not(None))) or 0)
    deadlines = ctx.db.scalars(select(ShareRequest.deadline).where(waiting, ShareRequest.deadline < today)
                               .order_by(ShareRequest.deadline).limit(SCAN_CAP))
    overdue = sum(1 for d in deadlines if workdays.working_days_left(d, today).overdue)
    return {"escalated": escalated, "overdue": overdue}


def _corrections(ctx: Context, today: dt.date) -> dict[str, Any]:
    by_status: dict[str, int] = {}
    for st, n in ctx.db.execute(select(Correction.status, func.count()).group_by(Correction.status)):
        by_status[str(st)] = int(n)
    rows = list(ctx.db.execute(select(Correction.status, Correction.accept_due, Correction.answer_due)
                               .where(Correction.status.in_(("open", "accepted")), Correction.answer_due < today)
                               .order_by(Correction.id).limit(SCAN_CAP)))
    rows += ctx.db.execute(select(Correction.status, Correction.accept_due, Correction.answer_due)
                           .where(Correction.status == "open", Correction.accept_due < today,
                                  Correction.answer_due >= today)
                           .order_by(Correction.id).limit(SCAN_CAP)).all()
    overdue = 0
    for st, accept_due, answer_due in rows:
        if workdays.working_days_left(answer_due, today).overdue or (
                st == "open" and workdays.working_days_left(accept_due, today).overdue):
            overdue += 1
    return {"by_status": by_status, "open": by_status.get("open", 0) + by_status.get("accepted", 0),
            "overdue": overdue}


@action(auth.office_overview, schema=Empty, roles=ADMINS)
def office_overview(ctx: Context, p: Empty) -> dict[str, Any]:
    """The data office's console: what waits for the city data office across data requests, indicator reports,
    moderation, share requests and correction tickets (counts, the ten oldest or most urgent of each)."""
    today = today_local()
    return {"today": today.isoformat(), "data_requests": _data_requests(ctx, today),
            "indicators": _indicators(ctx), "moderation": _moderation(ctx), "sharing": _sharing(ctx, today),
            "corrections": _corrections(ctx, today)}
