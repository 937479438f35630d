"""Harvest actions: sources (CRUD), runs (start, list, show, due), and the harvester's page import.

A run is queued by ``harvest_run`` and executed as a background job (``cityhub.jobs``), or in the caller's
thread when asked (``wait``, ``ctx.extra["jobs"] == "inline"`` or ``CITYHUB_JOBS_INLINE``). The engine
(``cityhub.harvest.engine``) gathers the remote records without touching the catalog, then imports them a
page at a time through ``harvest_page_import``, which calls ``dataset_create`` / ``dataset_update`` /
``resource_*`` / ``dataset_delete`` in the harvester's context: validation, search indexing, change
history and the audit log all apply to harvested datasets as to any other.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import insert, select

from cityhub import actions
from cityhub.accounts.actions import get_department
from cityhub.actions import ADMINS, action
from cityhub.catalog.models import Dataset
from cityhub.context import Actor, Context
from cityhub.db import utcnow
from cityhub.errors import Conflict, NotFound
from cityhub.harvest import auth, progress
from cityhub.harvest import schemas as s
from cityhub.harvest.models import HarvestObject, HarvestRun, HarvestSource
from cityhub.settings import get_settings

INTERVALS = {"hourly": dt.timedelta(hours=1), "daily": dt.timedelta(days=1), "weekly": dt.timedelta(days=7)}
STALE_RUN = dt.timedelta(hours=6)  # a run "running" for longer is taken to be dead (process stopped)


def harvester_context(session: Any = None) -> Context:
    """The context harvested datasets are written in (the only one the catalog lets change them)."""
    return Context(actor=Actor(id=0, name="harvester", role="platform_admin", department_id=None),
                   source="local", via=auth.HARVEST_VIA, session=session)


def next_run(schedule: str, after: dt.datetime) -> dt.datetime | None:
    """When a source on ``schedule`` is next due after a run at ``after`` (``None``: manual)."""
    step = INTERVALS.get(schedule)
    return after + step if step else None


# -- representation -----------------------------------------------------------------------------------------


def source_dict(src: HarvestSource, counts: dict[str, int] | None = None) -> dict[str, Any]:
    return {
        "id": src.id,
        "name": src.name,
        "title": src.title,
        "kind": src.kind,
        "url": src.url,
        "department": src.department.slug,
        "department_name": src.department.name,
        "schedule": src.schedule,
        "enabled": src.enabled,
        "config": s.SourceConfig.model_validate(src.config or {}).model_dump(),
        "created_by": src.created_by,
        "created_at": src.created_at.isoformat(),
        "last_run_at": src.last_run_at.isoformat() if src.last_run_at else None,
        "next_run_at": src.next_run_at.isoformat() if src.next_run_at else None,
        "datasets": (counts or {}).get("datasets", 0),
        "withdrawn": (counts or {}).get("withdrawn", 0),
    }


def run_dict(run: HarvestRun, source_name: str, *, log: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": run.id,
        "source": source_name,
        "status": run.status,
        "created_at": run.created_at.isoformat(),
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "seconds": round((run.finished_at - run.started_at).total_seconds(), 3)
        if run.finished_at and run.started_at else None,
        "created_by": run.created_by,
        "gathered": run.gathered,
        "new": run.new,
        "updated": run.updated,
        "unchanged": run.unchanged,
        "withdrawn": run.withdrawn,
        "errors": run.errors,
        "error": run.error,
    }
    out["progress"] = progress.of(run.id, run.status)
    if log:
        out["log"] = list(run.log or [])
    return out


def _source(ctx: Context, name: str) -> HarvestSource:
    src = ctx.db.scalar(select(HarvestSource).where(HarvestSource.name == name))
    if src is None:
        raise NotFound(f"未找到采集来源 {name}", f"Harvest source not found: {name}")
    return src


def _counts(ctx: Context, source_id: int) -> dict[str, int]:
    rows = ctx.db.execute(select(HarvestObject.withdrawn).where(HarvestObject.source_id == source_id)).scalars()
    values = list(rows)
    return {"datasets": sum(1 for w in values if not w), "withdrawn": sum(1 for w in values if w)}


# -- sources ------------------------------------------------------------------------------------------------


@action(auth.harvest_source_create, schema=s.SourceCreate, write=True, target=lambda p, r: p.name, roles=ADMINS)
def harvest_source_create(ctx: Context, p: s.SourceCreate) -> dict[str, Any]:
    """Register a harvest source: a CKAN Action API (the portal's base URL) or a DCAT RDF document or
    endpoint, the local department its datasets go to, and its schedule."""
    if ctx.db.scalar(select(HarvestSource.id).where(HarvestSource.name == p.name)) is not None:
        raise Conflict(f"采集来源名称已被使用: {p.name}", f"Harvest source name already in use: {p.name}",
                       fields={"name": ["duplicate"]})
    dept = get_department(ctx, p.department)
    now = utcnow()
    src = HarvestSource(name=p.name, title=p.title, kind=p.kind, url=p.url.rstrip("/") if p.kind == "ckan" else p.url,
                        department_id=dept.id, schedule=p.schedule, enabled=p.enabled,
                        config=p.config.model_dump(), created_by=ctx.actor_name, created_at=now,
                        next_run_at=now if p.schedule != "manual" else None)
    src.department = dept
    ctx.db.add(src)
    ctx.db.flush()
    return source_dict(src)


@action(auth.harvest_source_update, schema=s.SourceUpdate, write=True, target=lambda p, r: p.name, roles=ADMINS)
def harvest_source_update(ctx: Context, p: s.SourceUpdate) -> dict[str, Any]:
    """Change a source's title, URL, department, schedule, enabled flag or options."""
    src = _source(ctx, p.name)
    if p.title is not None:
        src.title = p.title
    if p.url is not None:
        src.url = p.url.rstrip("/") if src.kind == "ckan" else p.url
    if p.department is not None:
        dept = get_department(ctx, p.department)
        src.department_id, src.department = dept.id, dept
    if p.enabled is not None:
        src.enabled = p.enabled
    if p.config is not None:
        src.config = p.config.model_dump()
    if p.schedule is not None and p.schedule != src.schedule:
        src.schedule = p.schedule
        src.next_run_at = (next_run(p.schedule, src.last_run_at) if src.last_run_at else utcnow()) \
            if p.schedule != "manual" else None
    ctx.db.flush()
    return source_dict(src, _counts(ctx, src.id))


@action(auth.harvest_source_delete, schema=s.SourceDelete, write=True, target=lambda p, r: p.name, roles=ADMINS)
def harvest_source_delete(ctx: Context, p: s.SourceDelete) -> dict[str, Any]:
    """Delete a source with its runs. Its datasets are withdrawn (kept for the record, gone from the
    portal) by default; with ``withdraw=false`` they are released as ordinary local datasets instead."""
    src = _source(ctx, p.name)
    if ctx.db.scalar(select(HarvestRun.id).where(HarvestRun.source_id == src.id,
                                                 HarvestRun.status.in_(("queued", "running")))) is not None:
        raise Conflict("该来源正在采集,请稍后再删除", "A run of this source is in progress; delete it later")
    objs = ctx.db.scalars(select(HarvestObject).where(HarvestObject.source_id == src.id)).all()
    hctx = harvester_context(ctx.db)
    withdrawn = released = 0
    for obj in objs:
        ds = ctx.db.get(Dataset, obj.dataset_id)
        if ds is None:
            continue
        if p.withdraw:
            if ds.state == "active":
                actions.call("dataset_delete", hctx, {"id": ds.name})
                ds.state = "withdrawn"
                withdrawn += 1
        else:
            ds.harvest_source_id = None
            ds.harvest_guid = ""
            released += 1
    ctx.db.flush()
    ctx.db.delete(src)
    return {"name": p.name, "deleted": True, "withdrawn": withdrawn, "released": released}


@action(auth.harvest_source_list, schema=s.ListIn, roles=ADMINS)
def harvest_source_list(ctx: Context, p: s.ListIn) -> list[dict[str, Any]]:
    """Every harvest source with its dataset counts and its last run."""
    sources = ctx.db.scalars(select(HarvestSource).order_by(HarvestSource.name).limit(p.limit).offset(p.offset)).all()
    out = []
    for src in sources:
        d = source_dict(src, _counts(ctx, src.id))
        last = ctx.db.scalar(select(HarvestRun).where(HarvestRun.source_id == src.id).order_by(HarvestRun.id.desc()))
        d["last_run"] = run_dict(last, src.name, log=False) if last else None
        out.append(d)
    return out


@action(auth.harvest_source_show, schema=s.SourceRef, roles=ADMINS)
def harvest_source_show(ctx: Context, p: s.SourceRef) -> dict[str, Any]:
    """One harvest source with its dataset counts and its recent runs."""
    src = _source(ctx, p.name)
    d = source_dict(src, _counts(ctx, src.id))
    runs = ctx.db.scalars(select(HarvestRun).where(HarvestRun.source_id == src.id)
                          .order_by(HarvestRun.id.desc()).limit(20)).all()
    d["runs"] = [run_dict(r, src.name, log=False) for r in runs]
    return d


@action(auth.harvest_dataset_list, schema=s.DatasetListIn, roles=ADMINS)
def harvest_dataset_list(ctx: Context, p: s.DatasetListIn) -> list[dict[str, Any]]:
    """The datasets a source harvested (withdrawn ones included): name, state, guid, origin and the remote
    modification marker."""
    src = _source(ctx, p.source)
    rows = ctx.db.execute(
        select(Dataset.name, Dataset.title, Dataset.state, Dataset.origin_url, HarvestObject.guid,
               HarvestObject.remote_modified, HarvestObject.withdrawn)
        .join(HarvestObject, HarvestObject.dataset_id == Dataset.id)
        .where(HarvestObject.source_id == src.id).order_by(Dataset.name).limit(p.limit)).all()
    return [{"name": n, "title": t, "state": st, "origin_url": o, "guid": g, "remote_modified": m, "withdrawn": w}
            for n, t, st, o, g, m, w in rows]


# -- runs ---------------------------------------------------------------------------------------------------


def _active_run(ctx: Context, source_id: int) -> HarvestRun | None:
    run: HarvestRun | None = ctx.db.scalar(
        select(HarvestRun).where(HarvestRun.source_id == source_id, HarvestRun.status.in_(("queued", "running")))
        .order_by(HarvestRun.id.desc()))
    if run is not None and utcnow() - (run.started_at or run.created_at) > STALE_RUN:
        run.status, run.finished_at = "failed", utcnow()
        run.error = "interrupted (no progress for six hours)"
        return None
    return run


def _queue(ctx: Context, src: HarvestSource, inline: bool) -> HarvestRun:
    if _active_run(ctx, src.id) is not None:
        raise Conflict("该来源已有进行中的采集", "A run of this source is already queued or running")
    run = HarvestRun(source_id=src.id, status="queued", created_at=utcnow(), created_by=ctx.actor_name, log=[])
    ctx.db.add(run)
    ctx.db.flush()
    run_id, report = run.id, ctx.extra.get("progress")
    tracker = progress.tracker
    from cityhub import jobs

    hooks = ctx.extra.setdefault("after_commit", [])
    if inline:
        from cityhub.harvest.engine import execute

        hooks.append(lambda: execute(run_id, tracker(run_id, report)))
    else:
        hooks.append(lambda: jobs.submit("harvest_run", run_id))
    return run


def _inline(ctx: Context, wait: bool) -> bool:
    return wait or ctx.extra.get("jobs") == "inline" or get_settings().jobs_inline


@action(auth.harvest_run, schema=s.RunStart, write=True, target=lambda p, r: p.source, roles=ADMINS)
def harvest_run(ctx: Context, p: s.RunStart) -> dict[str, Any]:
    """Start a run of a source (gather → fetch → import); it is queued as a background job. With ``wait`` it
    runs in the caller's thread once this call has committed: read the result with ``harvest_run_show``."""
    src = _source(ctx, p.source)
    run = _queue(ctx, src, _inline(ctx, p.wait))
    return run_dict(run, src.name)


@action(auth.harvest_run_list, schema=s.RunListIn, roles=ADMINS)
def harvest_run_list(ctx: Context, p: s.RunListIn) -> list[dict[str, Any]]:
    """Recent runs (of one source, or of all), newest first, without their logs."""
    q = select(HarvestRun, HarvestSource.name).join(HarvestSource, HarvestSource.id == HarvestRun.source_id)
    if p.source:
        q = q.where(HarvestRun.source_id == _source(ctx, p.source).id)
    rows = ctx.db.execute(q.order_by(HarvestRun.id.desc()).limit(p.limit)).all()
    return [run_dict(run, name, log=False) for run, name in rows]


@action(auth.harvest_run_show, schema=s.RunRef, roles=ADMINS)
def harvest_run_show(ctx: Context, p: s.RunRef) -> dict[str, Any]:
    """One run with its counts and its log (level, guid, message)."""
    row = ctx.db.execute(select(HarvestRun, HarvestSource.name).join(HarvestSource, HarvestSource.id == HarvestRun.source_id)
                         .where(HarvestRun.id == p.id)).first()
    if row is None:
        raise NotFound(f"未找到采集任务 {p.id}", f"Harvest run not found: {p.id}")
    return run_dict(row[0], row[1])


@action(auth.harvest_due, schema=s.DueIn, write=True, target=lambda p, r: "harvest_due", roles=ADMINS)
def harvest_due(ctx: Context, p: s.DueIn) -> dict[str, Any]:
    """Start a run of every enabled source whose schedule is due (a periodic job in the web process calls
    this, and ``cityhub harvest due``). Sources with a run in progress are skipped."""
    now = utcnow()
    sources = ctx.db.scalars(select(HarvestSource).where(
        HarvestSource.enabled.is_(True), HarvestSource.schedule != "manual",
        HarvestSource.next_run_at.is_not(None), HarvestSource.next_run_at <= now).order_by(HarvestSource.id)).all()
    started = []
    for src in sources:
        if _active_run(ctx, src.id) is not None:
            continue
        run = _queue(ctx, src, _inline(ctx, p.wait))
        src.next_run_at = next_run(src.schedule, now)  # not due again until this run's schedule comes round
        started.append({"source": src.name, "run": run.id})
    return {"started": started}


@action(auth.harvest_job_run, schema=s.RunRef, roles=ADMINS)
def harvest_job_run(ctx: Context, p: s.RunRef) -> dict[str, Any]:
    """Execute a queued run (background jobs call this in the harvester's context)."""
    from cityhub.harvest.engine import execute

    return execute(p.id, progress.tracker(p.id, ctx.extra.get("progress")))


# -- the harvester's page import ----------------------------------------------------------------------------


def _resources_of(ds: Dataset) -> list[dict[str, str]]:
    return [{"name": r.name, "url": r.url, "format": r.format, "description": r.description} for r in ds.resources]


def _attach_resources(ctx: Context, ds: Dataset, want: list[dict[str, str]]) -> None:
    """Links of a newly created dataset, checked with ``resource_create``'s own schema and attached to it;
    the caller refreshes the quality scores and format facets of a whole page at once (``resource_create``
    per link would re-index the whole dataset each time). The dataset's creation and the page are audited."""
    from cityhub.catalog.models import Resource
    from cityhub.catalog.schemas import ResourceCreate
    from cityhub.catalog.vocab import MEDIA_TYPES

    now = utcnow()
    for i, r in enumerate(want):
        spec = ResourceCreate.model_validate({"dataset": ds.name, **r})
        fmt = spec.format.upper()
        res = Resource(id=str(uuid.uuid4()), dataset_id=ds.id, position=i,
                       name=spec.name or spec.url.rstrip("/").rsplit("/", 1)[-1] or "resource",
                       description=spec.description, url=spec.url, format=fmt,
                       media_type=MEDIA_TYPES.get(fmt, "application/octet-stream"), created_at=now, modified_at=now)
        res.dataset = ds
        ds.resources.append(res)
    ds.data_updated_at = ds.data_updated_at or now


def _wanted(wanted: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{"name": r["name"], "url": r["url"], "format": r.get("format", "").upper(),
             "description": r.get("description", "")} for r in wanted]


def _set_resources(ctx: Context, ds: Dataset, wanted: list[dict[str, str]]) -> None:
    """Make an existing dataset's links what the source lists (through the resource actions)."""
    want = _wanted(wanted)
    if _resources_of(ds) == want:
        return
    for rid in [r.id for r in ds.resources]:
        actions.call("resource_delete", ctx, {"id": rid})
    for r in want:
        actions.call("resource_create", ctx, {"dataset": ds.name, **r})


@action(auth.harvest_page_import, schema=s.PageIn, write=True, target=lambda p, r: f"run {p.run_id}", roles=ADMINS)
def harvest_page_import(ctx: Context, p: s.PageIn) -> list[dict[str, Any]]:
    """Import one page of prepared records in one transaction (the harvester calls this): ``create``,
    ``update`` (``reinstate`` brings back a withdrawn dataset) or ``withdraw``."""
    from cityhub.catalog.actions import refresh, refresh_resources

    now = utcnow()
    out = []
    created: list[Dataset] = []
    objects: list[dict[str, Any]] = []
    for rec in p.records:
        op, guid = rec["op"], rec["guid"]
        if op == "create":
            made = actions.call("dataset_create", ctx, {**rec["payload"], "name": rec["name"]})
            ds = ctx.db.get(Dataset, made["id"])
            assert ds is not None
            ds.harvest_source_id, ds.harvest_guid, ds.origin_url = p.source_id, guid, rec["origin_url"]
            _attach_resources(ctx, ds, _wanted(rec["resources"]))
            created.append(ds)
            objects.append({"source_id": p.source_id, "guid": guid, "dataset_id": ds.id,
                            "remote_modified": rec["modified"], "content_hash": rec["hash"], "withdrawn": False,
                            "last_seen_at": now})
            out.append({"guid": guid, "outcome": "new", "name": ds.name})
            continue
        obj = ctx.db.scalar(select(HarvestObject).where(HarvestObject.source_id == p.source_id,
                                                        HarvestObject.guid == guid))
        ds = ctx.db.get(Dataset, rec["dataset_id"])
        if obj is None or ds is None:
            raise NotFound(f"未找到采集记录 {guid}", f"Harvested record not found: {guid}")
        if op == "withdraw":
            if ds.state == "active":
                actions.call("dataset_delete", ctx, {"id": ds.name})
            ds.state = "withdrawn"
            obj.withdrawn = True
            out.append({"guid": guid, "outcome": "withdrawn", "name": ds.name})
            continue
        reinstate = ds.state != "active"
        if reinstate:
            ds.state = "active"
        changes = {k: v for k, v in rec["payload"].items() if k != "name"}
        actions.call("dataset_update", ctx, {"id": ds.name, **changes})
        ds.origin_url = rec["origin_url"]
        _set_resources(ctx, ds, rec["resources"])
        if reinstate:
            ds.modified_at = now
            refresh(ctx, ds)
        obj.remote_modified, obj.content_hash, obj.withdrawn, obj.last_seen_at = \
            rec["modified"], rec["hash"], False, now
        out.append({"guid": guid, "outcome": "updated", "name": ds.name, "reinstated": reinstate})
    if created:
        refresh_resources(ctx, created)
        ctx.db.execute(insert(HarvestObject), objects)
    return out
