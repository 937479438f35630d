"""The publication workflow's actions: submit, approve, reject and withdraw a data resource; the reviewers'
queue; a steward's dashboard (drafts, overdue updates, failed loads, open submissions).

The states and who sees an unpublished dataset: ``catalog/publication.py``; who may take each step:
``catalog/auth.py``. Every step is audited (from, to, comment) and recorded in the dataset's change history.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from cityhub.accounts.actions import get_department
from cityhub.accounts.models import Department
from cityhub.actions import DEPT_ADMINS, MANAGERS, action
from cityhub.catalog import auth, publication, quality
from cityhub.catalog import schemas as s
from cityhub.catalog.actions import _activity, _revision, dataset_dict, refresh
from cityhub.catalog.models import Dataset
from cityhub.catalog.publication import DRAFT, PUBLISHED, SUBMITTED, TRANSITIONS
from cityhub.catalog.vocab import UPDATE_CYCLES
from cityhub.context import Context
from cityhub.db import today_local, utcnow
from cityhub.errors import Conflict, ValidationError

_STATE_ZH = {k: v[0] for k, v in publication.STATE_LABELS.items()}


def _step(ctx: Context, name: str, p: s.ReviewIn) -> Dataset:
    """Move the dataset along transition ``name``: refused (409) from any other state."""
    ds = auth.find_dataset(ctx, p.id)
    sources, target = TRANSITIONS[name]
    if ds.publication not in sources:
        allowed = "、".join(_STATE_ZH[x] for x in sources)
        raise Conflict(f"该数据资源当前为“{_STATE_ZH[ds.publication]}”,只有“{allowed}”状态可以执行此操作",
                       f"The dataset is {ds.publication}; this step needs it {' or '.join(sources)}",
                       fields={"publication": [ds.publication]})
    old = ds.publication
    ds.publication = target
    ds.modified_at = utcnow()
    _revision(ctx, ds, name.removeprefix("dataset_"), {"publication": [old, target],
                                                       **({"comment": [None, p.comment]} if p.comment else {})})
    ctx.extra["audit_detail"] = {"from": old, "to": target, **({"comment": p.comment} if p.comment else {})}
    return ds


def _needs_comment(p: s.ReviewIn) -> None:
    if not p.comment.strip():
        raise ValidationError("请填写审核意见,说明原因", "Say why in a comment", fields={"comment": ["required"]})


@action(auth.dataset_submit, schema=s.ReviewIn, write=True, target=lambda p, r: p.id, roles=MANAGERS)
def dataset_submit(ctx: Context, p: s.ReviewIn) -> dict[str, Any]:
    """Submit a draft for review by the department's reviewer or the data office (draft → submitted)."""
    ds = _step(ctx, "dataset_submit", p)
    ds.submitted_by = ctx.actor_name
    ds.submitted_at = utcnow()
    refresh(ctx, ds)
    return dataset_dict(ds)


@action(auth.dataset_approve, schema=s.ReviewIn, write=True, target=lambda p, r: p.id, roles=DEPT_ADMINS)
def dataset_approve(ctx: Context, p: s.ReviewIn) -> dict[str, Any]:
    """Approve a submission: the dataset is published (submitted → published) and open to whoever its opening
    class allows. Not by the person who submitted it."""
    ds = _step(ctx, "dataset_approve", p)
    ds.review_comment = p.comment
    if ds.published_on is None:  # today in Beijing time, the day the rule compares with (not_yet_open)
        ds.published_on = today_local()
    refresh(ctx, ds)
    _activity(ctx, ds, "changed package")  # now public: its followers and streams hear of it (issue 15)
    return dataset_dict(ds)


@action(auth.dataset_reject, schema=s.ReviewIn, write=True, target=lambda p, r: p.id, roles=DEPT_ADMINS)
def dataset_reject(ctx: Context, p: s.ReviewIn) -> dict[str, Any]:
    """Send a submission back to draft with the reviewer's comment (submitted → draft); the comment stays on the
    dataset until it is submitted again."""
    _needs_comment(p)
    ds = _step(ctx, "dataset_reject", p)
    ds.review_comment = p.comment
    refresh(ctx, ds)
    return dataset_dict(ds)


@action(auth.dataset_withdraw, schema=s.ReviewIn, write=True, target=lambda p, r: p.id, roles=DEPT_ADMINS)
def dataset_withdraw(ctx: Context, p: s.ReviewIn) -> dict[str, Any]:
    """Take a published dataset back to draft (published → draft), with the reason: it leaves the public
    catalog at once."""
    _needs_comment(p)
    ds = _step(ctx, "dataset_withdraw", p)
    ds.review_comment = p.comment
    refresh(ctx, ds)
    return dataset_dict(ds)


def _summary(ds: Dataset) -> dict[str, Any]:
    d = dataset_dict(ds, full=False)
    return {k: d[k] for k in ("id", "name", "title", "title_en", "department", "department_name", "publication",
                              "review_comment", "submitted_by", "submitted_at", "modified_at", "update_cycle",
                              "data_updated_at", "opening_class")}


def _department_scope(ctx: Context, slug: str | None) -> int | None:
    """The department a list is about: the one asked for, else the caller's; ``None``: all (platform admins)."""
    if slug is not None:
        return get_department(ctx, slug).id
    assert ctx.actor is not None
    return None if ctx.actor.is_admin else ctx.actor.department_id


@action(auth.review_list, schema=s.ReviewListIn, roles=DEPT_ADMINS)
def review_list(ctx: Context, p: s.ReviewListIn) -> list[dict[str, Any]]:
    """The reviewers' queue: submitted datasets of the caller's department (of every department for platform
    admins), oldest submission first."""
    dept = _department_scope(ctx, p.department)
    q = select(Dataset).where(Dataset.state == "active", Dataset.publication == SUBMITTED)
    if dept is not None:
        q = q.where(Dataset.department_id == dept)
    q = q.order_by(Dataset.submitted_at, Dataset.id).limit(p.limit)
    return [_summary(ds) for ds in ctx.db.scalars(q)]


@action(auth.dashboard_show, schema=s.DashboardIn, roles=MANAGERS)
def dashboard_show(ctx: Context, p: s.DashboardIn) -> dict[str, Any]:
    """A steward's dashboard for a department (the caller's by default; every department for a platform admin
    without one): its drafts (rejected ones with the reviewer's comment), open submissions, published datasets
    whose update is overdue (update cycle against the last data update, as the quality report computes it) and
    resources whose latest datastore load failed or was blocked."""
    from cityhub import actions

    dept = _department_scope(ctx, p.department)
    base = select(Dataset).where(Dataset.state == "active")
    if dept is not None:
        base = base.where(Dataset.department_id == dept)
    drafts = [_summary(ds) for ds in ctx.db.scalars(
        base.where(Dataset.publication == DRAFT).order_by(Dataset.modified_at.desc(), Dataset.id).limit(p.limit))]
    submitted = [_summary(ds) for ds in ctx.db.scalars(
        base.where(Dataset.publication == SUBMITTED).order_by(Dataset.submitted_at, Dataset.id).limit(p.limit))]
    now = utcnow()
    overdue = []
    cols = select(Dataset.id, Dataset.update_cycle, Dataset.data_updated_at).where(
        Dataset.state == "active", Dataset.publication == PUBLISHED)
    if dept is not None:
        cols = cols.where(Dataset.department_id == dept)
    late: dict[int, quality.Freshness] = {}
    for ds_id, cycle, updated in ctx.db.execute(cols):
        fresh = quality.freshness(UPDATE_CYCLES.get(cycle), updated, now)
        if fresh.overdue:
            late[ds_id] = fresh
    if late:
        for ds in ctx.db.scalars(select(Dataset).where(Dataset.id.in_(late))):
            fresh = late[ds.id]
            overdue.append({**_summary(ds), "due": fresh.due.isoformat() if fresh.due else None,
                            "days_overdue": fresh.days_overdue})
        overdue.sort(key=lambda d: (-(d["days_overdue"] or 0), d["name"]))
    failed = actions.call("datastore_failure_list", ctx, {"department_id": dept, "limit": p.limit})
    scope = ctx.db.get(Department, dept) if dept is not None else None
    return {"department": scope.slug if scope else None, "department_name": scope.name if scope else None,
            "drafts": drafts, "submitted": submitted, "overdue": overdue[:p.limit],
            "failed_loads": failed,
            "counts": {"drafts": len(drafts), "rejected": sum(1 for d in drafts if d["review_comment"]),
                       "submitted": len(submitted), "overdue": len(overdue), "failed_loads": len(failed)}}
