"""Data-request actions (issue 15, 数据需求): the public asks for data that is not open yet, the city data office
routes each request to a department, the department answers within a configurable number of Chinese working
days (``datareq_answer_working_days``, default 20): will open by a date / already open at a dataset or URL /
cannot open, with the legal basis. Requests and answers are public.

A request still unanswered a working day after its deadline is escalated (``data_request_escalate``, hourly job
``datareq_jobs``) and shows as overdue on the board and on its department's page; an answer given after the
deadline is accepted and counted late. Each state change is a row of the request's history
(``data_request_event``), an entry of the audit tree (every write action) and an activity
(``cityhub.social.activity.record``: followers are notified from those).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import case, func, select, text

from cityhub import actions
from cityhub.accounts.models import Department
from cityhub.actions import ADMINS, MANAGERS, SIGNED_IN, action
from cityhub.catalog.models import Dataset
from cityhub.context import Actor, Context
from cityhub.db import SH, today_local, utcnow
from cityhub.engage import datareq_auth as auth
from cityhub.engage import datareq_rules as rules
from cityhub.engage import datareq_schemas as s
from cityhub.engage import datareq_search
from cityhub.engage.datareq_models import DataRequest, DataRequestEvent
from cityhub.errors import CityHubError, Conflict, ValidationError
from cityhub.settings import get_settings
from cityhub.social import activity
from cityhub.social.models import Follow

OBJECT = "data_request"
#: how many overdue requests one run of the escalation job marks (the rest on the next run)
ESCALATE_BATCH = 5000
#: the board counts matches up to this many ("10,000+" beyond)
COUNT_CAP = 10_000


def answer_working_days() -> int:
    return int(get_settings().datareq_answer_working_days)


def _iso(value: dt.datetime | dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


class _Names:
    """Departments and datasets a batch of requests refers to (one query each)."""

    def __init__(self, ctx: Context, reqs: list[DataRequest]) -> None:
        dept_ids = {r.department_id for r in reqs if r.department_id} | {
            r.suggested_department_id for r in reqs if r.suggested_department_id}
        ds_ids = {r.answer_dataset_id for r in reqs if r.answer_dataset_id}
        self.departments = {row.id: {"id": row.id, "slug": row.slug, "name": row.name, "name_en": row.name_en}
                            for row in ctx.db.execute(select(Department.id, Department.slug, Department.name,
                                                             Department.name_en).where(Department.id.in_(dept_ids)))
                            } if dept_ids else {}
        self.datasets = {row.id: {"name": row.name, "title": row.title}
                         for row in ctx.db.execute(select(Dataset.id, Dataset.name, Dataset.title)
                                                   .where(Dataset.id.in_(ds_ids)))} if ds_ids else {}

    def dept(self, dept_id: int | None) -> dict[str, Any] | None:
        return self.departments.get(dept_id) if dept_id is not None else None


def request_dict(req: DataRequest, names: _Names, actor: Actor | None, today: dt.date) -> dict[str, Any]:
    waiting = req.status == rules.ROUTED and req.deadline is not None
    overdue = waiting and rules.is_overdue(req.deadline, today)
    created_local = req.created_at.astimezone(SH).date() if req.created_at.tzinfo else req.created_at.date()
    answer = None
    if req.status == rules.ANSWERED or req.answered_at is not None:
        answer = {"kind": req.answer_kind, "text": req.answer_text, "open_by": _iso(req.open_by),
                  "dataset": names.datasets.get(req.answer_dataset_id) if req.answer_dataset_id else None,
                  "url": req.answer_url or None, "legal_basis": req.legal_basis,
                  "answered_at": _iso(req.answered_at), "answered_by": req.answered_by, "late": req.answered_late}
    return {
        "id": req.id,
        "title": req.title,
        "description": req.description,
        "purpose": req.purpose,
        "suggested_department": names.dept(req.suggested_department_id),
        "department": names.dept(req.department_id),
        "contact": req.contact if req.contact and auth.sees_contact(actor, req) else None,
        "status": req.status,
        "created_by": req.created_by,
        "created_at": req.created_at.isoformat(),
        "age_days": max(0, (today - created_local).days),
        "routed_at": _iso(req.routed_at),
        "routed_by": req.routed_by,
        "deadline": _iso(req.deadline),
        "deadline_provisional": req.deadline_provisional,
        # counted while the request is still in time (an overdue request may be years past: not counted day by day)
        "working_days_left": rules.working_days_left(req.deadline, today)
        if req.deadline and waiting and not overdue else None,
        "overdue": overdue,
        "escalated_at": _iso(req.escalated_at),
        "answer": answer,
        "late": req.answered_late,
        "merged_into_id": req.merged_into_id,
        "closed_reason": req.closed_reason,
        "updated_at": req.updated_at.isoformat(),
    }


def _event(ctx: Context, req: DataRequest, event: str, note: str = "", **detail: Any) -> None:
    now = utcnow()
    ctx.db.add(DataRequestEvent(request_id=req.id, at=now, actor=ctx.actor_name, event=event, note=note,
                                detail=detail))
    req.updated_at = now
    activity.record(ctx, "new data request" if event == "submitted" else "changed data request", OBJECT, req.id,
                    data={"event": event, "title": req.title, "status": req.status, "url": f"/requests/{req.id}",
                          **detail},
                    department_id=req.department_id or req.suggested_department_id)


def _department(ctx: Context, slug: str, field: str) -> Department:
    dept = ctx.db.scalar(select(Department).where(Department.slug == slug))
    if dept is None:
        raise ValidationError(f"未找到部门 {slug}", f"Unknown department: {slug}", fields={field: ["unknown"]})
    return dept


def _full(ctx: Context, req: DataRequest) -> dict[str, Any]:
    today = today_local()
    actor = ctx.actor
    events = [{"at": e.at.isoformat(), "actor": e.actor, "event": e.event, "note": e.note, "detail": e.detail}
              for e in ctx.db.scalars(select(DataRequestEvent).where(DataRequestEvent.request_id == req.id)
                                      .order_by(DataRequestEvent.at, DataRequestEvent.id).limit(500))]
    duplicates = list(ctx.db.scalars(select(DataRequest.id).where(DataRequest.merged_into_id == req.id)
                                     .order_by(DataRequest.id).limit(100)))
    return {**request_dict(req, _Names(ctx, [req]), actor, today), "events": events, "duplicates": duplicates,
            "may_answer": rules.may_answer(req.status) and auth.answers_for(actor, req),
            "may_withdraw": rules.may_withdraw(req.status) and auth.is_asker(actor, req),
            "may_route": rules.may_route(req.status) and actor is not None and actor.is_admin,
            "may_close": rules.may_close(req.status) and actor is not None and actor.is_admin}


def _open(req: DataRequest, allowed: bool) -> None:
    if not allowed:
        raise Conflict(f"该需求当前状态为 {req.status},不能执行此操作",
                       f"The request is {req.status}: this step is not possible now", fields={"status": [req.status]})


# -- asking and reading --------------------------------------------------------------------------------------


@action(auth.data_request_create, schema=s.RequestCreate, write=True, roles=SIGNED_IN,
        target=lambda p, r: f"data_request:{r['id']}")
def data_request_create(ctx: Context, p: s.RequestCreate) -> dict[str, Any]:
    """Ask for data that is not open yet: what (title, description), why (purpose), the department believed to
    hold it if known, and optionally a contact (shown to the data office and the department only). The data
    office then routes it to a department. Public once filed."""
    assert ctx.actor is not None
    suggested = _department(ctx, p.department, "department").id if p.department else None
    now = utcnow()
    req = DataRequest(title=p.title, description=p.description, purpose=p.purpose,
                      suggested_department_id=suggested, contact=p.contact,
                      user_id=ctx.actor.id if ctx.actor.id > 0 else None, created_by=ctx.actor_name, created_at=now,
                      status=rules.SUBMITTED, routed_by="", answer_kind="", answer_text="", answer_url="",
                      legal_basis="", answered_by="", answered_late=False, closed_reason="", updated_at=now)
    ctx.db.add(req)
    ctx.db.flush()
    if req.user_id is not None:  # the asker follows their request: routing and the answer reach them
        ctx.db.add(Follow(user_id=req.user_id, object_type=OBJECT, object_id=str(req.id)))
    _event(ctx, req, "submitted", "", suggested_department=p.department)
    ctx.extra["audit_detail"] = {"title": p.title, "department": p.department}
    return _full(ctx, req)


@action(auth.data_request_show, schema=s.RequestRef)
def data_request_show(ctx: Context, p: s.RequestRef) -> dict[str, Any]:
    """One data request with its answer and its whole history (public)."""
    return _full(ctx, auth.find_request(ctx, p.id))


@action(auth.data_request_list, schema=s.RequestListIn)
def data_request_list(ctx: Context, p: s.RequestListIn) -> dict[str, Any]:
    """The public board: requests newest (or oldest) first, by status, by the department they are routed to,
    overdue only, or matching words; keyset paging (``cursor``: the last id of the previous page, ``next``
    in the answer). With ``department``: that department's summary (open, overdue, answered, late)."""
    today = today_local()
    conds: list[Any] = []
    dept: Department | None = None
    if p.department:
        dept = _department(ctx, p.department, "department")
        conds.append(DataRequest.department_id == dept.id)
    if p.status:
        conds.append(DataRequest.status == p.status)
    if p.overdue:
        conds += [DataRequest.status == rules.ROUTED, DataRequest.deadline < rules.overdue_before(today)]
    if p.mine:
        assert ctx.actor is not None
        conds.append(DataRequest.user_id == ctx.actor.id)
    if p.q:
        conds.append(_words(ctx, p.q))
    if p.min_age_days:
        conds.append(DataRequest.created_at <= utcnow() - dt.timedelta(days=p.min_age_days))
    total = None
    if p.count:  # bounded: a count stops at COUNT_CAP (the board says "10,000+"), so no filter scans everything
        total = ctx.db.scalar(select(func.count()).select_from(
            select(DataRequest.id).where(*conds).limit(COUNT_CAP + 1).subquery()))
    q = select(DataRequest).where(*conds)
    if p.sort == "newest":
        if p.cursor:
            q = q.where(DataRequest.id < p.cursor)
        q = q.order_by(DataRequest.id.desc())
    else:
        if p.cursor:
            q = q.where(DataRequest.id > p.cursor)
        q = q.order_by(DataRequest.id)
    reqs = list(ctx.db.scalars(q.limit(p.limit + 1)))
    more = len(reqs) > p.limit
    reqs = reqs[: p.limit]
    names = _Names(ctx, reqs)
    out: dict[str, Any] = {"count": min(total, COUNT_CAP) if total is not None else None,
                           "count_capped": total is not None and total > COUNT_CAP,
                           "results": [request_dict(r, names, ctx.actor, today) for r in reqs],
                           "next": reqs[-1].id if more and reqs else None}
    if dept is not None:
        out["summary"] = _summary(ctx, dept.id, today)
    if p.departments:
        out["departments"] = [{"slug": row.slug, "name": row.name, "name_en": row.name_en} for row in ctx.db.execute(
            select(Department.slug, Department.name, Department.name_en)
            .order_by(Department.level.desc(), Department.id).limit(2000))]
    return out


def _words(ctx: Context, q: str) -> Any:
    """Every word of ``q`` is a word of the title or description: jieba tokens read through an index on both
    engines (``datareq_search``), the board's order and keyset paging unchanged."""
    return datareq_search.condition(ctx.db.get_bind().dialect.name, q)


def _summary(ctx: Context, dept_id: int, today: dt.date) -> dict[str, int]:
    cutoff = rules.overdue_before(today)
    routed = DataRequest.status == rules.ROUTED
    row = ctx.db.execute(select(
        func.coalesce(func.sum(case((routed, 1), else_=0)), 0),
        func.coalesce(func.sum(case((routed & (DataRequest.deadline < cutoff), 1), else_=0)), 0),
        func.coalesce(func.sum(case((DataRequest.status == rules.ANSWERED, 1), else_=0)), 0),
        func.coalesce(func.sum(case((DataRequest.answered_late.is_(True), 1), else_=0)), 0),
    ).where(DataRequest.department_id == dept_id)).one()
    return {"open": int(row[0]), "overdue": int(row[1]), "answered": int(row[2]), "late": int(row[3])}


# -- the data office -----------------------------------------------------------------------------------------


@action(auth.data_request_route, schema=s.RequestRoute, write=True, roles=ADMINS,
        target=lambda p, r: f"data_request:{p.id}")
def data_request_route(ctx: Context, p: s.RequestRoute) -> dict[str, Any]:
    """Route a request to the department that answers it (the data office); routing again moves it to another
    department, whose answer deadline counts from then. The deadline is the N-th Chinese working day after the
    routing day (``datareq_answer_working_days``)."""
    req = auth.find_request(ctx, p.id)
    _open(req, rules.may_route(req.status))
    dept = _department(ctx, p.department, "department")
    if req.department_id == dept.id:
        raise Conflict("该需求已分派给此部门", "The request is already routed to this department",
                       fields={"department": ["same"]})
    previous = _Names(ctx, [req]).dept(req.department_id)
    due = rules.answer_deadline(today_local(), answer_working_days())
    req.department_id, req.status = dept.id, rules.ROUTED
    req.routed_at, req.routed_by = utcnow(), ctx.actor_name
    req.deadline, req.deadline_provisional, req.escalated_at = due.date, due.provisional, None
    event = "rerouted" if previous else "routed"
    _event(ctx, req, event, p.note, department=dept.slug, previous=previous["slug"] if previous else None,
           deadline=due.date.isoformat())
    ctx.extra["audit_detail"] = {"department": dept.slug, "previous": previous["slug"] if previous else None,
                                 "deadline": due.date.isoformat()}
    return _full(ctx, req)


@action(auth.data_request_close, schema=s.RequestClose, write=True, roles=ADMINS,
        target=lambda p, r: f"data_request:{p.id}")
def data_request_close(ctx: Context, p: s.RequestClose) -> dict[str, Any]:
    """Close a request not answered yet (the data office): as a duplicate of another request (``duplicate_of``,
    linked both ways) or for a stated reason."""
    req = auth.find_request(ctx, p.id)
    _open(req, rules.may_close(req.status))
    if p.duplicate_of is None and len(p.reason) < 2:
        raise ValidationError("请说明关闭原因或指明重复的需求", "Give the reason, or the request this one duplicates",
                              fields={"reason": ["required"]})
    original: DataRequest | None = None
    if p.duplicate_of is not None:
        if p.duplicate_of == req.id:
            raise ValidationError("不能与自身合并", "A request cannot duplicate itself",
                                  fields={"duplicate_of": ["self"]})
        original = ctx.db.get(DataRequest, p.duplicate_of)
        if original is None:
            raise ValidationError(f"未找到数据需求 {p.duplicate_of}", f"Data request not found: {p.duplicate_of}",
                                  fields={"duplicate_of": ["unknown"]})
        if original.merged_into_id is not None:
            raise ValidationError(f"需求 {original.id} 本身已合并到 {original.merged_into_id}",
                                  f"Request {original.id} was itself merged into {original.merged_into_id}",
                                  fields={"duplicate_of": ["merged"]})
    req.status, req.closed_reason = rules.CLOSED, p.reason
    req.merged_into_id = original.id if original is not None else None
    if original is not None:
        _event(ctx, req, "merged", p.reason, duplicate_of=original.id)
        _event(ctx, original, "merged", p.reason, duplicate=req.id)
    else:
        _event(ctx, req, "closed", p.reason)
    ctx.extra["audit_detail"] = {"duplicate_of": p.duplicate_of, "reason": p.reason}
    return _full(ctx, req)


# -- the department ------------------------------------------------------------------------------------------


def _public_dataset(ctx: Context, ref: str) -> int:
    """The catalog dataset an answer points to, as the public sees it (so the link works for everyone)."""
    anonymous = Context(actor=None, source=ctx.source, via=ctx.via, session=ctx.db)
    try:
        ds = actions.call("dataset_show", anonymous, {"id": ref})
    except CityHubError:
        ds = None
    if ds is None or ds.get("private") or ds.get("publication", "published") != "published":
        raise ValidationError(f"目录中没有公开的数据集 {ref}", f"No public dataset {ref} in the catalog",
                              fields={"dataset": ["not_public"]})
    row = ctx.db.scalar(select(Dataset.id).where(Dataset.name == ds["name"]))
    if row is None:
        raise ValidationError(f"目录中没有公开的数据集 {ref}", f"No public dataset {ref} in the catalog",
                              fields={"dataset": ["not_public"]})
    return int(row)


def _check_answer(p: s.RequestAnswer, today: dt.date) -> None:
    extra = {"will_open": ("dataset", "url"), "already_open": ("open_by",), "cannot_open": ("open_by", "dataset",
                                                                                          "url")}[p.kind]
    bad = {k: ["not_allowed"] for k in extra if getattr(p, k) is not None}
    if bad:
        raise ValidationError("答复类型与所填内容不符", "These fields do not go with this kind of answer", fields=bad)
    if p.kind == "will_open":
        if p.open_by is None:
            raise ValidationError("请填写计划开放日期", "Give the date the data will be open",
                                  fields={"open_by": ["required"]})
        if p.open_by < today:
            raise ValidationError("计划开放日期不能早于今天", "The opening date cannot be in the past",
                                  fields={"open_by": ["past"]})
    elif p.kind == "already_open":
        if p.dataset is None and p.url is None:
            raise ValidationError("请给出已开放数据的数据集或链接", "Give the dataset or the link where the data is open",
                                  fields={"dataset": ["required"], "url": ["required"]})
    elif len(p.legal_basis) < 4:
        raise ValidationError("不予开放须注明法律依据", "A refusal must give its legal basis",
                              fields={"legal_basis": ["required"]})


@action(auth.data_request_answer, schema=s.RequestAnswer, write=True, roles=MANAGERS,
        target=lambda p, r: f"data_request:{p.id}")
def data_request_answer(ctx: Context, p: s.RequestAnswer) -> dict[str, Any]:
    """Answer a request routed to the caller's department: ``will_open`` by ``open_by``, ``already_open`` at a
    catalog ``dataset`` or a ``url``, or ``cannot_open`` with its ``legal_basis``. An answer after the deadline
    is accepted and counted late."""
    req = auth.find_request(ctx, p.id)
    _open(req, rules.may_answer(req.status))
    today = today_local()
    _check_answer(p, today)
    dataset_id = _public_dataset(ctx, p.dataset) if p.dataset else None
    late = rules.is_overdue(req.deadline, today)
    req.status, req.answer_kind, req.answer_text = rules.ANSWERED, p.kind, p.text
    req.open_by, req.answer_dataset_id, req.answer_url = p.open_by, dataset_id, p.url or ""
    req.legal_basis = p.legal_basis if p.kind == "cannot_open" else ""
    req.answered_at, req.answered_by, req.answered_late = utcnow(), ctx.actor_name, late
    _event(ctx, req, "answered", p.text, kind=p.kind, late=late, open_by=_iso(p.open_by), dataset=p.dataset,
           url=p.url, legal_basis=req.legal_basis or None)
    ctx.extra["audit_detail"] = {"kind": p.kind, "late": late}
    return _full(ctx, req)


# -- the asker -----------------------------------------------------------------------------------------------


@action(auth.data_request_withdraw, schema=s.RequestWithdraw, write=True, roles=SIGNED_IN,
        target=lambda p, r: f"data_request:{p.id}")
def data_request_withdraw(ctx: Context, p: s.RequestWithdraw) -> dict[str, Any]:
    """Withdraw one's own request while it waits (for routing or for the answer)."""
    req = auth.find_request(ctx, p.id)
    _open(req, rules.may_withdraw(req.status))
    req.status = rules.WITHDRAWN
    _event(ctx, req, "withdrawn", p.note)
    return _full(ctx, req)


# -- the job -------------------------------------------------------------------------------------------------


@action(auth.data_request_escalate, schema=s.EscalateIn, write=True, roles=ADMINS,
        target=lambda p, r: "data_requests")
def data_request_escalate(ctx: Context, p: s.EscalateIn) -> dict[str, Any]:
    """The hourly check: requests still unanswered a working day after their deadline are escalated to the data
    office, once each (the board and the department's page show them as overdue)."""
    today = p.today or today_local()
    late = list(ctx.db.scalars(select(DataRequest).where(
        DataRequest.status == rules.ROUTED, DataRequest.escalated_at.is_(None),
        DataRequest.deadline < rules.overdue_before(today)).order_by(DataRequest.deadline, DataRequest.id)
        .limit(ESCALATE_BATCH)))
    now = utcnow()
    for req in late:
        req.escalated_at = now
        assert req.deadline is not None
        _event(ctx, req, "escalated", "逾期未答复,已升级至市数据管理机构 / overdue, escalated to the city data office",
               deadline=req.deadline.isoformat(), working_days_overdue=-rules.working_days_left(req.deadline, today))
    ids = [r.id for r in late]
    if ctx.db.get_bind().dialect.name == "sqlite":
        # keep SQLite's planner statistics current (PostgreSQL's autovacuum does this itself): with them the
        # overdue board reads newest-first through (status, id) when most routed requests are overdue, and
        # through (status, deadline) when few are
        ctx.db.execute(text("ANALYZE data_request"))
    ctx.extra["audit_detail"] = {"escalated": ids[:200], "count": len(ids)}
    return {"escalated": ids, "today": today.isoformat()}
