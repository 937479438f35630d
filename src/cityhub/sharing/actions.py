"""Sharing actions: consuming departments' systems, share requests (有条件共享 between departments, 有条件开放
to the public) answered within 10 Chinese working days, and the scoped grants an approval creates.

A request's life: ``submitted`` → ``approved`` (as asked) | ``narrowed`` (approved with a narrower scope) |
``refused`` (with a reason) | ``withdrawn`` (by the requester); an answered request whose grants have all
expired becomes ``expired``. A request still unanswered one working day after its deadline is escalated to the
city data office (``share_request_escalate``, run by a periodic job). Every step is a row of the request's
history (``share_request_event``) and, as every write action, an entry of the audit tree.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from cityhub.accounts.models import Department, User
from cityhub.accounts.security import new_token, token_hash
from cityhub.actions import GOVERNMENT, MANAGERS, SIGNED_IN, action
from cityhub.catalog import visibility
from cityhub.catalog.auth import find_dataset
from cityhub.catalog.models import DataGrant, Dataset, Resource
from cityhub.context import Actor, Context
from cityhub.db import today_local, utcnow
from cityhub.errors import Conflict, NotFound, ValidationError
from cityhub.sharing import auth, workdays
from cityhub.sharing import schemas as s
from cityhub.sharing.grants import SYSTEM_TOKEN_PREFIX
from cityhub.sharing.models import (
    APPROVED,
    EXPIRED,
    NARROWED,
    PENDING_INDEXES,
    REFUSED,
    SUBMITTED,
    WITHDRAWN,
    ShareGrant,
    ShareRequest,
    ShareRequestEvent,
    SharingSystem,
)
from cityhub.sharing.problems import SharingInputError
from cityhub.sharing.scope import Scope, is_narrower, narrow

#: the provider answers a conditional-sharing request within this many working days (国发〔2016〕51号)
ANSWER_WORKING_DAYS = 10
CONDITIONAL_SHARING, UNCONDITIONAL_SHARING, NOT_SHARED = "有条件共享", "无条件共享", "不予共享"
CONDITIONAL_OPENING, UNCONDITIONAL_OPENING, NOT_OPEN = "有条件开放", "无条件开放", "不予开放"


def deadline_for(filed_on: dt.date) -> workdays.Deadline:
    """The day the provider must answer by: the 10th working day after filing (the filing day never counts)."""
    return workdays.add_working_days(filed_on, ANSWER_WORKING_DAYS)


def days_left(req: ShareRequest, today: dt.date | None = None) -> workdays.Count:
    """Working days left to answer (0 on the deadline itself, negative once overdue)."""
    return workdays.working_days_left(req.deadline, today or today_local())


def is_overdue(req: ShareRequest, today: dt.date | None = None) -> bool:
    return req.status == SUBMITTED and days_left(req, today).overdue


# -- representation ------------------------------------------------------------------------------------------


def _iso(value: dt.datetime | dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


class _Names:
    """Names of the datasets, departments, systems and users a batch of rows refers to (one query each)."""

    def __init__(self, ctx: Context, reqs: Iterable[ShareRequest] = (), grants: Iterable[ShareGrant] = ()) -> None:
        reqs, grants = list(reqs), list(grants)
        ds_ids = {r.dataset_id for r in reqs} | {g.dataset_id for g in grants}
        dept_ids = {r.provider_department_id for r in reqs} | {r.department_id for r in reqs if r.department_id}
        sys_ids = {r.system_id for r in reqs if r.system_id} | {g.system_id for g in grants if g.system_id}
        user_ids = {r.user_id for r in reqs if r.user_id} | {g.user_id for g in grants if g.user_id}
        res_ids = {r.resource_id for r in reqs if r.resource_id} | {g.resource_id for g in grants}
        db = ctx.db
        self.datasets = {row.id: row for row in db.execute(
            select(Dataset.id, Dataset.name, Dataset.title, Dataset.department_id, Dataset.sharing_class,
                   Dataset.opening_class).where(Dataset.id.in_(ds_ids)))} if ds_ids else {}
        dept_ids |= {row.department_id for row in self.datasets.values()}
        self.systems = {row.id: row for row in db.execute(
            select(SharingSystem.id, SharingSystem.code, SharingSystem.name, SharingSystem.department_id,
                   SharingSystem.active).where(SharingSystem.id.in_(sys_ids)))} if sys_ids else {}
        dept_ids |= {row.department_id for row in self.systems.values()}
        self.departments = {row.id: row for row in db.execute(
            select(Department.id, Department.slug, Department.name).where(Department.id.in_(dept_ids)))} \
            if dept_ids else {}
        self.users: dict[int, str] = {row[0]: row[1] for row in db.execute(
            select(User.id, User.name).where(User.id.in_(user_ids)))} if user_ids else {}
        self.resources: dict[str, str] = {row[0]: row[1] for row in db.execute(
            select(Resource.id, Resource.name).where(Resource.id.in_(res_ids)))} if res_ids else {}

    def dept(self, dept_id: int | None) -> dict[str, Any] | None:
        row = self.departments.get(dept_id) if dept_id is not None else None
        return {"id": row.id, "slug": row.slug, "name": row.name} if row is not None else None

    def system(self, sys_id: int | None) -> dict[str, Any] | None:
        row = self.systems.get(sys_id) if sys_id is not None else None
        if row is None:
            return None
        return {"id": row.id, "code": row.code, "name": row.name, "active": row.active,
                "department": (self.dept(row.department_id) or {}).get("slug")}

    def dataset(self, ds_id: int) -> dict[str, Any]:
        row = self.datasets.get(ds_id)
        if row is None:
            return {"id": ds_id, "name": None, "title": None}
        return {"id": row.id, "name": row.name, "title": row.title, "sharing_class": row.sharing_class,
                "opening_class": row.opening_class}


def request_dict(req: ShareRequest, names: _Names, today: dt.date | None = None) -> dict[str, Any]:
    today = today or today_local()
    left = workdays.working_days_left(req.deadline, today)
    waiting = req.status == SUBMITTED
    return {
        "id": req.id,
        "kind": req.kind,
        "dataset": names.dataset(req.dataset_id),
        "resource_id": req.resource_id,
        "resource_name": names.resources.get(req.resource_id) if req.resource_id else None,
        "provider": names.dept(req.provider_department_id),
        "department": names.dept(req.department_id),
        "system": names.system(req.system_id),
        "user": names.users.get(req.user_id) if req.user_id else None,
        "purpose": req.purpose,
        "legal_basis": req.legal_basis,
        "columns": req.columns,
        "row_scope": req.row_scope,
        "duration_days": req.duration_days,
        "status": req.status,
        "deadline": req.deadline.isoformat(),
        "deadline_provisional": req.deadline_provisional or left.provisional,
        "working_days_left": left.days if waiting else None,
        "overdue": waiting and left.overdue,
        "escalated_at": _iso(req.escalated_at),
        "decided_by": req.decided_by,
        "decided_at": _iso(req.decided_at),
        "reason": req.reason,
        "created_by": req.created_by,
        "created_at": req.created_at.isoformat(),
    }


def grant_dict(g: ShareGrant, names: _Names, now: dt.datetime | None = None) -> dict[str, Any]:
    now = now or utcnow()
    ds = names.dataset(g.dataset_id)
    return {
        "id": g.id,
        "request_id": g.request_id,
        "dataset": ds,
        "provider": names.dept(names.datasets[g.dataset_id].department_id) if g.dataset_id in names.datasets
        else None,
        "resource_id": g.resource_id,
        "resource_name": names.resources.get(g.resource_id),
        "system": names.system(g.system_id),
        "user": names.users.get(g.user_id) if g.user_id else None,
        "columns": g.columns,
        "row_filter": g.row_filter,
        "allow_personal": g.allow_personal,
        "purpose": g.purpose,
        "expires_at": g.expires_at.isoformat(),
        "revoked_at": _iso(g.revoked_at),
        "revoked_by": g.revoked_by,
        "in_force": g.in_force(now),
        "created_by": g.created_by,
        "created_at": g.created_at.isoformat(),
    }


def system_dict(sys_: SharingSystem, dept: Department | None) -> dict[str, Any]:
    return {"id": sys_.id, "code": sys_.code, "name": sys_.name,
            "department": dept.slug if dept else None, "department_name": dept.name if dept else None,
            "token_prefix": sys_.token_prefix, "active": sys_.active, "created_by": sys_.created_by,
            "created_at": sys_.created_at.isoformat(), "token_rotated_at": _iso(sys_.token_rotated_at),
            "deactivated_at": _iso(sys_.deactivated_at)}


def _event(ctx: Context, req: ShareRequest, event: str, note: str = "", **detail: Any) -> None:
    ctx.db.add(ShareRequestEvent(request_id=req.id, at=utcnow(), actor=ctx.actor_name, event=event, note=note,
                                 detail=detail))


def _actor(ctx: Context) -> Actor:
    assert ctx.actor is not None
    return ctx.actor


# -- systems -------------------------------------------------------------------------------------------------


def _new_secret() -> tuple[str, str, str]:
    token = new_token(SYSTEM_TOKEN_PREFIX)
    return token, token[:12], token_hash(token)


@action(auth.system_register, schema=s.SystemRegister, write=True, roles=MANAGERS,
        target=lambda p, r: f"system:{r['id']}")
def system_register(ctx: Context, p: s.SystemRegister) -> dict[str, Any]:
    """Register a consuming system of a department (an X-Road subsystem: department + code). Its secret is in
    the answer once and stored only as a hash; grants are given to the system, none exists yet."""
    actor = _actor(ctx)
    dept_id = auth.department_id_of(ctx, p.department) if p.department else actor.department_id
    dept = ctx.db.get(Department, dept_id)
    if dept is None:
        raise NotFound("未找到部门", "Department not found")
    if ctx.db.scalar(select(SharingSystem.id).where(SharingSystem.department_id == dept.id,
                                                    SharingSystem.code == p.code)) is not None:
        raise Conflict(f"本部门已登记系统代码 {p.code}", f"The department already has a system with code {p.code}",
                       fields={"code": ["duplicate"]})
    token, prefix, hashed = _new_secret()
    sys_ = SharingSystem(department_id=dept.id, code=p.code, name=p.name, token_prefix=prefix, token_hash=hashed,
                         active=True, created_by=ctx.actor_name, created_at=utcnow())
    ctx.db.add(sys_)
    ctx.db.flush()
    return {**system_dict(sys_, dept), "token": token}


@action(auth.system_list, schema=s.SystemListIn, roles=GOVERNMENT)
def system_list(ctx: Context, p: s.SystemListIn) -> list[dict[str, Any]]:
    """A department's registered systems (the caller's; every department's for the data office)."""
    actor = _actor(ctx)
    q = select(SharingSystem, Department).join(Department, Department.id == SharingSystem.department_id)
    if p.department is not None:
        q = q.where(SharingSystem.department_id == auth.department_id_of(ctx, p.department))
    elif not actor.is_admin:
        q = q.where(SharingSystem.department_id == actor.department_id)
    if not p.include_inactive:
        q = q.where(SharingSystem.active.is_(True))
    return [system_dict(sys_, dept) for sys_, dept in ctx.db.execute(q.order_by(Department.slug, SharingSystem.code))]


@action(auth.system_token_rotate, schema=s.SystemRef, write=True, roles=MANAGERS,
        target=lambda p, r: f"system:{p.id}")
def system_token_rotate(ctx: Context, p: s.SystemRef) -> dict[str, Any]:
    """Give the system a new secret (shown once); the old one stops working at once."""
    sys_ = auth.find_system(ctx, p.id)
    if not sys_.active:
        raise Conflict("该系统已停用", "The system is deactivated")
    token, prefix, hashed = _new_secret()
    sys_.token_prefix, sys_.token_hash, sys_.token_rotated_at = prefix, hashed, utcnow()
    return {**system_dict(sys_, ctx.db.get(Department, sys_.department_id)), "token": token}


@action(auth.system_deactivate, schema=s.SystemRef, write=True, roles=MANAGERS,
        target=lambda p, r: f"system:{p.id}")
def system_deactivate(ctx: Context, p: s.SystemRef) -> dict[str, Any]:
    """Stop a system: its secret no longer works and none of its grants is in force (they stay on record)."""
    sys_ = auth.find_system(ctx, p.id)
    if sys_.active:
        sys_.active = False
        sys_.deactivated_at = utcnow()
        sys_.token_hash = token_hash(new_token("dead_"))  # the old secret can never match again
    return system_dict(sys_, ctx.db.get(Department, sys_.department_id))


# -- requests ------------------------------------------------------------------------------------------------


def _basis_of(ds: Dataset) -> str:
    return (ds.sharing_basis or ds.sharing_condition or "").strip()


def _check_class(ds: Dataset, kind: str) -> None:
    """What the dataset's sharing (share) or opening (open) class says about applying for it."""
    if kind == "share":
        if ds.sharing_class == UNCONDITIONAL_SHARING:
            raise ValidationError(
                "该数据资源为无条件共享,无需申请:本部门已登记的应用系统可直接通过交换接口获取",
                "This dataset is shared unconditionally: no request is needed, your department's registered "
                "systems read it directly through the exchange API", fields={"dataset": ["unconditional"]})
        if ds.sharing_class == NOT_SHARED:
            basis = _basis_of(ds) or "(未注明 / not stated)"
            raise ValidationError(f"该数据资源不予共享,不能申请。依据:{basis}",
                                  f"This dataset is not shared and cannot be requested. Legal basis: {basis}",
                                  fields={"dataset": ["not_shared"], "legal_basis": [basis]})
        if ds.sharing_class != CONDITIONAL_SHARING:
            raise ValidationError("该数据资源的共享类型不明,不能申请", "The dataset's sharing class is unknown",
                                  fields={"dataset": [ds.sharing_class]})
        return
    if ds.opening_class == UNCONDITIONAL_OPENING:
        raise ValidationError("该数据资源为无条件开放,无需申请,可直接下载",
                              "This dataset is open: no application is needed, download it directly",
                              fields={"dataset": ["open"]})
    if ds.opening_class != CONDITIONAL_OPENING:
        raise ValidationError("该数据资源不予开放,不能申请", "This dataset is not open and cannot be applied for",
                              fields={"dataset": ["not_open"]})


@action(auth.share_request_create, schema=s.RequestCreate, write=True, roles=SIGNED_IN,
        target=lambda p, r: f"share_request:{r['id']}")
def share_request_create(ctx: Context, p: s.RequestCreate) -> dict[str, Any]:
    """Apply for data. ``kind='share'``: a department asks for 有条件共享 data for one of its registered systems,
    with purpose, legal basis, columns, row scope and duration. ``kind='open'``: a person applies for a 有条件开放
    dataset. The provider must answer within 10 working days (``deadline``). 无条件共享/无条件开放 data needs
    no request; 不予共享 data cannot be requested (the error gives the legal basis)."""
    actor = _actor(ctx)
    ds = find_dataset(ctx, p.dataset)
    if not visibility.can_see(actor, ds):
        raise visibility.not_found(p.dataset)
    if actor.department_id is not None and actor.department_id == ds.department_id:
        raise ValidationError("这是本部门的数据资源,无需申请", "This is your own department's dataset: no request "
                              "is needed", fields={"dataset": ["own"]})
    _check_class(ds, p.kind)
    if p.resource_id is not None and p.resource_id not in {r.id for r in ds.resources}:
        raise ValidationError("该资源不属于此数据资源", "The resource is not part of this dataset",
                              fields={"resource_id": ["unknown"]})
    system_id: int | None = None
    if p.kind == "share":
        if p.system_id is None:
            raise ValidationError("请选择使用数据的本部门应用系统", "Name the department's system that will use the data",
                                  fields={"system_id": ["required"]})
        sys_ = ctx.db.get(SharingSystem, p.system_id)
        if sys_ is None or sys_.department_id != actor.department_id or not sys_.active:
            raise ValidationError("应用系统不属于本部门或已停用", "The system is not an active system of your department",
                                  fields={"system_id": ["not_yours"]})
        system_id = sys_.id
        if not p.legal_basis:
            raise ValidationError("请填写申请依据", "State the legal basis of the request",
                                  fields={"legal_basis": ["required"]})
    elif p.columns is not None or p.row_scope is not None or p.resource_id is not None or p.system_id is not None:
        raise ValidationError("开放申请针对整个数据资源,不能指定资源、列、行范围或系统",
                              "An application for open data covers the whole dataset: no resource, columns, row "
                              "scope or system", fields={k: ["not_allowed"] for k in
                                                         ("resource_id", "columns", "row_scope", "system_id")
                                                         if getattr(p, k) is not None})
    pending = select(ShareRequest.id).where(ShareRequest.dataset_id == ds.id, ShareRequest.status == SUBMITTED,
                                            ShareRequest.kind == p.kind)
    pending = pending.where(ShareRequest.system_id == system_id) if p.kind == "share" \
        else pending.where(ShareRequest.user_id == actor.id)
    pending = pending.where(ShareRequest.resource_id.is_(None) if p.resource_id is None
                            else ShareRequest.resource_id == p.resource_id)
    existing = ctx.db.scalar(pending)
    if existing is not None:
        raise Conflict(f"已有一份待答复的相同申请(编号 {existing})",
                       f"An identical request is already waiting for an answer (#{existing})",
                       fields={"dataset": [f"pending:{existing}"]})
    filed = today_local()
    due = deadline_for(filed)
    req = ShareRequest(kind=p.kind, dataset_id=ds.id, resource_id=p.resource_id,
                       provider_department_id=ds.department_id,
                       department_id=actor.department_id if p.kind == "share" else None, system_id=system_id,
                       user_id=actor.id if actor.id else None, purpose=p.purpose, legal_basis=p.legal_basis,
                       columns=p.columns, row_scope=p.row_scope, duration_days=p.duration_days, status=SUBMITTED,
                       deadline=due.date, deadline_provisional=due.provisional, decided_by="", reason="",
                       created_by=ctx.actor_name, created_at=utcnow())
    ctx.db.add(req)
    try:
        ctx.db.flush()
    except IntegrityError as exc:  # another submission of the same request landed meanwhile (the unique index)
        if not any(name in str(exc.orig) for name in PENDING_INDEXES):
            raise
        raise Conflict("已有一份待答复的相同申请(刚刚提交)",
                       "An identical request is already waiting for an answer (submitted just now)",
                       fields={"dataset": ["pending"]}) from None
    _event(ctx, req, "submitted", p.purpose, deadline=due.date.isoformat())
    ctx.extra["audit_detail"] = {"kind": p.kind, "dataset": ds.name, "deadline": due.date.isoformat()}
    return request_dict(req, _Names(ctx, [req]))


def _events(ctx: Context, req: ShareRequest) -> list[dict[str, Any]]:
    rows = ctx.db.scalars(select(ShareRequestEvent).where(ShareRequestEvent.request_id == req.id)
                          .order_by(ShareRequestEvent.at, ShareRequestEvent.id))
    return [{"at": e.at.isoformat(), "actor": e.actor, "event": e.event, "note": e.note, "detail": e.detail}
            for e in rows]


def _grants_of(ctx: Context, request_ids: list[int]) -> list[ShareGrant]:
    return list(ctx.db.scalars(select(ShareGrant).where(ShareGrant.request_id.in_(request_ids))
                               .order_by(ShareGrant.id))) if request_ids else []


def _full(ctx: Context, req: ShareRequest) -> dict[str, Any]:
    grants = _grants_of(ctx, [req.id])
    names = _Names(ctx, [req], grants)
    actor = _actor(ctx)
    return {**request_dict(req, names), "events": _events(ctx, req),
            "grants": [grant_dict(g, names) for g in grants],
            "may_answer": req.status == SUBMITTED and auth.may_answer(actor, req),
            "may_withdraw": req.status == SUBMITTED and _may_withdraw(actor, req),
            "may_revoke": actor.is_admin or auth.answers_for_provider(actor, req.provider_department_id)}


def _may_withdraw(actor: Actor, req: ShareRequest) -> bool:
    return (req.user_id is not None and actor.id == req.user_id) or (
        req.kind == "share" and actor.department_id == req.department_id and actor.role in auth.ANSWERING_ROLES)


@action(auth.share_request_show, schema=s.RequestRef, roles=SIGNED_IN)
def share_request_show(ctx: Context, p: s.RequestRef) -> dict[str, Any]:
    """One request with its whole history and its grants (both sides and the data office see the same)."""
    return _full(ctx, auth.find_request(ctx, p.id))


@action(auth.share_request_list, schema=s.RequestListIn, roles=SIGNED_IN)
def share_request_list(ctx: Context, p: s.RequestListIn) -> dict[str, Any]:
    """Requests by box: ``mine`` (filed by the caller's department, or by the caller for open data), ``review``
    (to the caller's department; everything escalated for the data office), ``all`` (the data office). Waiting
    requests first, nearest deadline first; ``overdue`` keeps only unanswered requests past their deadline."""
    actor = _actor(ctx)
    q = select(ShareRequest)
    if p.box == "mine":
        mine = [ShareRequest.user_id == actor.id]
        if actor.department_id is not None and actor.role in auth.GOVERNMENT_ROLES:
            mine.append((ShareRequest.kind == "share") & (ShareRequest.department_id == actor.department_id))
        q = q.where(or_(*mine))
    elif p.box == "review":
        if actor.is_admin and actor.department_id is None:
            q = q.where(ShareRequest.escalated_at.is_not(None))
        else:
            q = q.where(ShareRequest.provider_department_id == actor.department_id)
    if p.status is not None:
        q = q.where(ShareRequest.status == p.status)
    today = today_local()
    if p.overdue:
        q = q.where(ShareRequest.status == SUBMITTED, ShareRequest.deadline < today)
    if p.dataset is not None:
        q = q.where(ShareRequest.dataset_id == find_dataset(ctx, p.dataset).id)
    total = ctx.db.scalar(select(func.count()).select_from(q.subquery())) or 0
    q = q.order_by((ShareRequest.status != SUBMITTED), ShareRequest.deadline, ShareRequest.id)
    reqs = list(ctx.db.scalars(q.limit(p.limit).offset(p.offset)))
    names = _Names(ctx, reqs)
    rows = [request_dict(r, names, today) for r in reqs]
    if p.overdue:  # the calendar filter above is a superset: overdue counts working days
        rows = [r for r in rows if r["overdue"]]
    return {"count": total, "results": rows}


def _waiting(req: ShareRequest) -> None:
    if req.status != SUBMITTED:
        raise Conflict(f"该申请已{_STATUS_ZH.get(req.status, req.status)},不能再处理",
                       f"The request is already {req.status}", fields={"status": [req.status]})


_STATUS_ZH = {APPROVED: "批准", NARROWED: "缩小范围批准", REFUSED: "拒绝", WITHDRAWN: "撤回", EXPIRED: "过期"}


def _scope_error(exc: SharingInputError) -> ValidationError:
    field = exc.field or "__all__"
    return ValidationError(f"批准范围不能大于申请范围:{exc.zh}", f"The approval cannot exceed the request: {exc.en}",
                           fields={field: [str(exc)]})


@action(auth.share_request_approve, schema=s.RequestApprove, write=True, roles=MANAGERS,
        target=lambda p, r: f"share_request:{p.id}")
def share_request_approve(ctx: Context, p: s.RequestApprove) -> dict[str, Any]:
    """Approve a request as asked, or narrower (fewer columns, fewer rows, shorter): never wider. Creates one
    grant per resource (the requested one, or each of the dataset's resources) to the requesting system or, for
    open data, to the applicant, who may then read the data (a ``data_grant`` for the portal) until it expires
    or is revoked. Narrowing needs a note saying why."""
    req = auth.find_request(ctx, p.id)
    _waiting(req)
    now = utcnow()
    requested = Scope(tuple(req.columns) if req.columns is not None else None, req.row_scope,
                      now + dt.timedelta(days=req.duration_days))
    wanted = Scope(tuple(p.columns) if p.columns is not None else requested.columns,
                   p.row_filter if p.row_filter is not None else requested.row_filter,
                   now + dt.timedelta(days=p.duration_days if p.duration_days is not None else req.duration_days))
    if req.kind == "open" and (p.columns is not None or p.row_filter is not None):
        raise ValidationError("开放申请针对整个数据资源,只能缩短期限", "An open-data approval covers the whole dataset; "
                              "only its duration can be shortened",
                              fields={k: ["not_allowed"] for k in ("columns", "row_filter")
                                      if getattr(p, k) is not None})
    try:
        approved = narrow(requested, wanted)
    except SharingInputError as exc:
        raise _scope_error(exc) from None
    narrower = is_narrower(requested, approved)
    if narrower and not p.note:
        raise ValidationError("缩小范围批准时请说明原因", "Say why the scope was narrowed",
                              fields={"note": ["required"]})
    ds = ctx.db.get(Dataset, req.dataset_id)
    if ds is None or ds.state != "active":
        raise Conflict("数据资源已删除", "The dataset has been deleted")
    resources = [r for r in ds.resources if req.resource_id is None or r.id == req.resource_id]
    if not resources:
        raise Conflict("数据资源没有可授权的资源", "The dataset has no resource to grant")
    assert approved.expires_at is not None
    data_grant_id: int | None = None
    if req.kind == "open":
        if req.user_id is None:
            raise Conflict("申请人账户已不存在", "The applicant's account no longer exists")
        dg = DataGrant(dataset_id=ds.id, user_id=req.user_id, granted_by=ctx.actor_name, granted_at=now,
                       expires_at=approved.expires_at, note=f"share_request:{req.id}")
        ctx.db.add(dg)
        ctx.db.flush()
        data_grant_id = dg.id
    for res in resources:
        ctx.db.add(ShareGrant(request_id=req.id, dataset_id=ds.id, resource_id=res.id, system_id=req.system_id,
                              user_id=req.user_id if req.kind == "open" else None,
                              columns=list(approved.columns) if approved.columns is not None else None,
                              row_filter=approved.row_filter, allow_personal=p.allow_personal,
                              purpose=req.purpose, expires_at=approved.expires_at, revoked_by="",
                              data_grant_id=data_grant_id, created_by=ctx.actor_name, created_at=now))
    req.status = NARROWED if narrower else APPROVED
    req.decided_by, req.decided_at, req.reason = ctx.actor_name, now, p.note
    scope = approved.to_dict()
    _event(ctx, req, req.status, p.note, scope=scope, allow_personal=p.allow_personal,
           resources=[r.id for r in resources])
    ctx.db.flush()
    ctx.extra["audit_detail"] = {"status": req.status, "scope": scope, "resources": len(resources)}
    return _full(ctx, req)


@action(auth.share_request_refuse, schema=s.RequestRefuse, write=True, roles=MANAGERS,
        target=lambda p, r: f"share_request:{p.id}")
def share_request_refuse(ctx: Context, p: s.RequestRefuse) -> dict[str, Any]:
    """Refuse a request; the reason is required and shown to the requester."""
    req = auth.find_request(ctx, p.id)
    _waiting(req)
    req.status, req.decided_by, req.decided_at, req.reason = REFUSED, ctx.actor_name, utcnow(), p.reason
    _event(ctx, req, REFUSED, p.reason)
    ctx.extra["audit_detail"] = {"reason": p.reason}
    return _full(ctx, req)


@action(auth.share_request_withdraw, schema=s.RequestWithdraw, write=True, roles=SIGNED_IN,
        target=lambda p, r: f"share_request:{p.id}")
def share_request_withdraw(ctx: Context, p: s.RequestWithdraw) -> dict[str, Any]:
    """Withdraw a request still waiting for its answer (the applicant, or the requesting department's stewards)."""
    req = auth.find_request(ctx, p.id)
    _waiting(req)
    req.status = WITHDRAWN
    _event(ctx, req, WITHDRAWN, p.note)
    return _full(ctx, req)


@action(auth.share_request_escalate, schema=s.EscalateIn, write=True, roles=frozenset({"platform_admin"}),
        target=lambda p, r: "share_requests")
def share_request_escalate(ctx: Context, p: s.EscalateIn) -> dict[str, Any]:
    """The periodic check: requests still unanswered after their deadline (at least one working day past it)
    are escalated to the city data office, once each; answered requests whose grants have all expired become
    ``expired`` (and their portal access ends with them)."""
    today = p.today or today_local()
    now = utcnow()
    escalated: list[int] = []
    late = ctx.db.scalars(select(ShareRequest).where(ShareRequest.status == SUBMITTED,
                                                     ShareRequest.escalated_at.is_(None),
                                                     ShareRequest.deadline < today).order_by(ShareRequest.id))
    for req in late:
        left = days_left(req, today)
        if not left.overdue:
            continue
        req.escalated_at = now
        _event(ctx, req, "escalated", "逾期未答复,已提交市数据管理机构 / overdue, escalated to the city data office",
               working_days_overdue=-left.days, deadline=req.deadline.isoformat())
        escalated.append(req.id)
    expired: list[int] = []
    answered = select(ShareRequest).where(ShareRequest.status.in_((APPROVED, NARROWED)))
    for req in ctx.db.scalars(answered.order_by(ShareRequest.id)):
        grants = _grants_of(ctx, [req.id])
        live = [g for g in grants if g.revoked_at is None]
        if live and all(g.expires_at <= now for g in live):
            req.status = EXPIRED
            _event(ctx, req, EXPIRED, "授权已到期 / the grants have expired")
            _end_data_grants(ctx, grants)
            expired.append(req.id)
    ctx.extra["audit_detail"] = {"escalated": escalated, "expired": expired}
    return {"escalated": escalated, "expired": expired, "today": today.isoformat()}


# -- grants --------------------------------------------------------------------------------------------------


@action(auth.grant_list, schema=s.GrantListIn, roles=SIGNED_IN)
def grant_list(ctx: Context, p: s.GrantListIn) -> dict[str, Any]:
    """Grants by side: ``consumer`` (to the caller's department's systems, or to the caller), ``provider`` (on
    the caller's department's data), ``all`` (the data office); in force only unless ``active`` is false."""
    actor = _actor(ctx)
    now = utcnow()
    q = select(ShareGrant)
    if p.side == "consumer":
        mine = [ShareGrant.user_id == actor.id]
        if actor.department_id is not None:
            mine.append(ShareGrant.system_id.in_(select(SharingSystem.id)
                                                 .where(SharingSystem.department_id == actor.department_id)))
        q = q.where(or_(*mine))
    elif p.side == "provider" and not actor.is_admin:
        q = q.where(ShareGrant.dataset_id.in_(select(Dataset.id).where(Dataset.department_id == actor.department_id)))
    if p.request_id is not None:
        q = q.where(ShareGrant.request_id == p.request_id)
    if p.system_id is not None:
        q = q.where(ShareGrant.system_id == p.system_id)
    if p.active:
        q = q.where(ShareGrant.revoked_at.is_(None), ShareGrant.expires_at > now)
    total = ctx.db.scalar(select(func.count()).select_from(q.subquery())) or 0
    grants = list(ctx.db.scalars(q.order_by(ShareGrant.id.desc()).limit(p.limit).offset(p.offset)))
    names = _Names(ctx, grants=grants)
    return {"count": total, "results": [grant_dict(g, names, now) for g in grants]}


def _end_data_grants(ctx: Context, grants: list[ShareGrant]) -> None:
    """Delete the portal's ``data_grant`` rows no grant still in force keeps alive."""
    now = utcnow()
    for dg_id in {g.data_grant_id for g in grants if g.data_grant_id is not None}:
        alive = ctx.db.scalar(select(func.count()).select_from(ShareGrant).where(
            ShareGrant.data_grant_id == dg_id, ShareGrant.revoked_at.is_(None), ShareGrant.expires_at > now))
        if not alive:
            dg = ctx.db.get(DataGrant, dg_id)
            if dg is not None:
                ctx.db.delete(dg)
            for g in grants:
                if g.data_grant_id == dg_id:
                    g.data_grant_id = None


@action(auth.grant_revoke, schema=s.GrantRevoke, write=True, roles=MANAGERS,
        target=lambda p, r: f"share_grant:{p.id}" if p.id else f"share_request:{p.request_id}")
def grant_revoke(ctx: Context, p: s.GrantRevoke) -> dict[str, Any]:
    """Revoke one grant (``id``) or every grant of a request (``request_id``), with the reason: it ends with
    the next call of the system or user (and, for open data, the portal stops serving the data to the
    applicant)."""
    if p.id is not None:
        grant = auth.find_grant(ctx, p.id)
        if grant.revoked_at is not None:
            raise Conflict("该授权已撤销", "The grant is already revoked")
        req = auth.find_request(ctx, grant.request_id)
        grants = [grant]
    else:
        req = auth.find_request(ctx, p.request_id or 0)
        grants = [g for g in _grants_of(ctx, [req.id]) if g.revoked_at is None]
        if not grants:
            raise Conflict("该申请没有可撤销的授权", "The request has no grant to revoke")
    now = utcnow()
    for g in grants:
        g.revoked_at, g.revoked_by = now, ctx.actor_name
    ctx.db.flush()
    _end_data_grants(ctx, grants)
    _event(ctx, req, "revoked", p.reason, grants=[g.id for g in grants])
    ctx.extra["audit_detail"] = {"grants": [g.id for g in grants], "reason": p.reason}
    names = _Names(ctx, [req], grants)
    return {"request": request_dict(req, names), "revoked": [grant_dict(g, names, now) for g in grants]}
