"""Indicator actions: define and import the plan's indicators, report values with evidence (the responsible
department), review them (the data office), read progress, produce the assessment reports and publish the values
as an open dataset.

Every write goes through the registry (so the audit log holds it) and appends to ``indicator_history`` (kept for
good). Live indicators are computed by ``live.py`` and cannot be reported; the progress rule is ``progress.py``."""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import re
import secrets
import threading
from concurrent.futures import Future
from typing import Any

import pydantic
from sqlalchemy import func, select

from cityhub import jobs
from cityhub.accounts.models import Department
from cityhub.actions import ADMINS, GOVERNMENT, MANAGERS, action
from cityhub.context import Context, system_context
from cityhub.db import SH, today_local, utcnow
from cityhub.errors import Conflict, NotAuthorized, NotFound, ValidationError
from cityhub.indicators import auth, live, progress
from cityhub.indicators import schemas as s
from cityhub.indicators.models import Indicator, IndicatorHistory, Observation
from cityhub.settings import get_settings

log = logging.getLogger("cityhub.indicators")

AREA_LABELS = {"infrastructure": ("信息基础设施", "Information infrastructure"),
               "industry": ("信息产业", "Information industry"), "big_data": ("大数据", "Big data"),
               "economy": ("信息经济", "Information economy"), "smart_city": ("智慧城市", "Smart city"),
               "e_government": ("电子政务", "E-government"), "security": ("信息安全", "Information security"),
               "other": ("其他", "Other")}
KIND_LABELS = {"live": ("平台实时计算", "Computed live by the platform"),
               "reported": ("部门填报", "Reported by the department")}
FIELDS = ("area", "name", "name_en", "unit", "baseline_year", "baseline_value", "baseline_note", "target_year",
          "target_value", "target_note", "direction", "source", "kind", "compute_key", "frequency", "min_value",
          "max_value", "position")
MAX_EVIDENCE = 20 << 20  # an evidence document: 20 MiB at most


# -- helpers ---------------------------------------------------------------------------------------------------


def _find(ctx: Context, code: str) -> Indicator:
    ind = ctx.db.scalar(select(Indicator).where(Indicator.code == code))
    if ind is None:
        raise NotFound(f"未找到指标 {code}", f"Indicator not found: {code}")
    return ind


def _department_id(ctx: Context, slug: str | None) -> int | None:
    if not slug:
        return None
    dept_id = ctx.db.scalar(select(Department.id).where(Department.slug == slug))
    if dept_id is None:
        raise ValidationError(f"未找到部门 {slug}", f"Department not found: {slug}", {"department": [slug]})
    return int(dept_id)


def _history(ctx: Context, ind: Indicator, action_name: str, changes: dict[str, Any],
             observation_id: int | None = None) -> None:
    ctx.db.add(IndicatorHistory(indicator_id=ind.id, observation_id=observation_id, actor=ctx.actor_name,
                                action=action_name, changes=changes))


def _departments(ctx: Context) -> dict[int, tuple[str, str, str]]:
    return {int(i): (slug, name, name_en or name) for i, slug, name, name_en in
            ctx.db.execute(select(Department.id, Department.slug, Department.name, Department.name_en))}


def _approved(ctx: Context, ids: list[int] | None = None) -> dict[int, list[tuple[str, float]]]:
    """Approved values per indicator, one per period (a later approval supersedes the earlier one)."""
    q = select(Observation.indicator_id, Observation.period, Observation.value).where(
        Observation.status == "approved").order_by(Observation.indicator_id, Observation.period)
    if ids is not None:
        q = q.where(Observation.indicator_id.in_(ids))
    out: dict[int, list[tuple[str, float]]] = {}
    for ind_id, period, value in ctx.db.execute(q):
        out.setdefault(int(ind_id), []).append((period, float(value)))
    return out


def _series(ctx: Context, ind: Indicator, approved: dict[int, list[tuple[str, float]]]
            ) -> tuple[list[tuple[str, float]], dict[str, Any] | None]:
    if ind.kind == "live":
        result = live.compute(ctx.db, ind.compute_key)
        return [(str(p), float(v)) for p, v in result["series"]], result
    return approved.get(ind.id, []), None


def _until(series: list[tuple[str, float]], year: int | None) -> list[tuple[str, float]]:
    if year is None:
        return series
    return [(p, v) for p, v in series if int(p[:4]) <= year]


def indicator_dict(ind: Indicator, depts: dict[int, tuple[str, str, str]], series: list[tuple[str, float]],
                   computed: dict[str, Any] | None) -> dict[str, Any]:
    dept = depts.get(ind.department_id) if ind.department_id is not None else None
    prog = progress.evaluate(ind.direction, ind.baseline_year, ind.baseline_value, ind.target_year,
                             ind.target_value, series)
    area = AREA_LABELS.get(ind.area, (ind.area, ind.area))
    out: dict[str, Any] = {
        "code": ind.code, "position": ind.position, "area": ind.area, "area_label": area[0], "area_label_en": area[1],
        "name": ind.name, "name_en": ind.name_en, "unit": ind.unit,
        "baseline_year": ind.baseline_year, "baseline_value": ind.baseline_value, "baseline_note": ind.baseline_note,
        "target_year": ind.target_year, "target_value": ind.target_value, "target_note": ind.target_note,
        "direction": ind.direction, "department": dept[0] if dept else None,
        "department_name": dept[1] if dept else "", "department_name_en": dept[2] if dept else "",
        "source": ind.source, "kind": ind.kind, "compute_key": ind.compute_key, "frequency": ind.frequency,
        "min_value": ind.min_value, "max_value": ind.max_value, "active": ind.active,
        "modified_at": ind.modified_at.isoformat() if ind.modified_at else None,
        "series": [[p, v] for p, v in sorted(series, key=lambda pv: progress.period_time(pv[0]))],
        "progress": prog.as_dict(),
    }
    if computed is not None:
        out["how"], out["how_en"] = computed["how"], computed["how_en"]
    return out


def _bounds(ind: Indicator) -> tuple[float | None, float | None]:
    lo, hi = ind.min_value, ind.max_value
    if ind.unit == "%":
        lo = 0.0 if lo is None else lo
        hi = 100.0 if hi is None else hi
    return lo, hi


def _fmt(v: float | None) -> str:
    return "" if v is None else f"{v:g}"


def _publish_later(ctx: Context) -> None:
    """Rewrite the open values dataset once the transaction has committed (in the background)."""
    live.clear()
    if ctx.extra.get("indicators_publish") == "defer":  # a bulk load publishes once at its end
        return
    hooks = ctx.extra.setdefault("after_commit", [])
    if _submit_publish not in hooks:
        hooks.append(_submit_publish)


_pending: Future[Any] | None = None
_pending_lock = threading.Lock()


def _submit_publish() -> None:
    """Queue one rewrite of the values dataset unless one is queued and not yet started (a burst of changes: one
    rewrite, which reads the state as it is when it starts)."""
    global _pending
    with _pending_lock:
        if _pending is not None and not _pending.running() and not _pending.done():
            return
        try:
            _pending = jobs.submit("indicator_dataset_publish", serial="indicator-values")
        except Exception:  # the values dataset is refreshed daily anyway
            log.exception("could not queue the indicator values dataset")


def last_publish() -> Future[Any] | None:
    """The most recently queued rewrite (tests and the CLI wait on it and read its result)."""
    return _pending


# -- reading -----------------------------------------------------------------------------------------------------


@action(auth.indicator_list, schema=s.IndicatorList)
def indicator_list(ctx: Context, p: s.IndicatorList) -> dict[str, Any]:
    """Every indicator (of an area, of a department) with its series (approved or live values), target and
    progress (share of the way, expected share, status); live ones say how they are computed."""
    q = select(Indicator).order_by(Indicator.position, Indicator.code)
    if p.area:
        q = q.where(Indicator.area == p.area)
    if p.department:
        q = q.where(Indicator.department_id == _department_id(ctx, p.department))
    if not p.include_inactive:
        q = q.where(Indicator.active.is_(True))
    inds = list(ctx.db.scalars(q.limit(5000)))
    approved = _approved(ctx)
    depts = _departments(ctx)
    results = []
    for ind in inds:
        series, computed = _series(ctx, ind, approved)
        results.append(indicator_dict(ind, depts, series, computed))
    areas = [a for a, _ in ctx.db.execute(select(Indicator.area, func.min(Indicator.position))
                                          .group_by(Indicator.area).order_by(func.min(Indicator.position)))]
    summary = {st: sum(1 for r in results if r["progress"]["status"] == st) for st in progress.STATUSES}
    return {"count": len(results), "results": results, "areas": [
        {"area": a, "label": AREA_LABELS.get(a, (a, a))[0], "label_en": AREA_LABELS.get(a, (a, a))[1]}
        for a in areas], "summary": summary}


def _obs_dict(o: Observation, full: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": o.id, "period": o.period, "value": o.value, "unit": o.unit, "status": o.status, "note": o.note,
        "evidence_url": o.evidence_url, "evidence_dataset": o.evidence_dataset, "evidence_name": o.evidence_name,
        "has_evidence_file": bool(o.evidence_file), "reported_at": o.reported_at.isoformat(),
        "reviewed_at": o.reviewed_at.isoformat() if o.reviewed_at else None, "review_comment": o.review_comment}
    if full:
        out.update(reporter=o.reporter, reviewer=o.reviewer, evidence_sha256=o.evidence_sha256)
    return out


@action(auth.indicator_show, schema=s.IndicatorRef)
def indicator_show(ctx: Context, p: s.IndicatorRef) -> dict[str, Any]:
    """One indicator with its progress and series; for government users also every reported value (with its
    review) and the full change history."""
    ind = _find(ctx, p.code)
    series, computed = _series(ctx, ind, _approved(ctx, [ind.id]))
    out = indicator_dict(ind, _departments(ctx), series, computed)
    gov = auth.is_government(ctx)
    q = select(Observation).where(Observation.indicator_id == ind.id)
    if not gov:
        q = q.where(Observation.status == "approved")
    out["observations"] = [_obs_dict(o, gov) for o in ctx.db.scalars(
        q.order_by(Observation.period.desc(), Observation.id.desc()).limit(1000))]
    if gov:
        out["history"] = [{"ts": h.ts.isoformat(), "actor": h.actor, "action": h.action, "changes": h.changes,
                           "observation_id": h.observation_id}
                          for h in ctx.db.scalars(select(IndicatorHistory).where(
                              IndicatorHistory.indicator_id == ind.id).order_by(IndicatorHistory.id.desc())
                              .limit(1000))]
    return out


@action(auth.indicator_queue, schema=s.QueueIn, roles=MANAGERS)
def indicator_queue(ctx: Context, p: s.QueueIn) -> dict[str, Any]:
    """Reported values by status (default: awaiting review), oldest first: the data office sees all, a
    department's stewards and admins their department's."""
    q = (select(Observation, Indicator).join(Indicator, Indicator.id == Observation.indicator_id)
         .where(Observation.status == p.status))
    actor = ctx.actor
    assert actor is not None
    if not actor.is_admin:
        q = q.where(Indicator.department_id == (actor.department_id or -1))
    elif p.department:
        q = q.where(Indicator.department_id == _department_id(ctx, p.department))
    depts = _departments(ctx)
    rows = ctx.db.execute(q.order_by(Observation.reported_at, Observation.id).limit(p.limit)).all()
    return {"count": len(rows), "results": [
        {**_obs_dict(o, True), "code": i.code, "name": i.name, "name_en": i.name_en, "indicator_unit": i.unit,
         "department": depts.get(i.department_id, ("", "", ""))[0] if i.department_id else "",
         "department_name": depts.get(i.department_id, ("", "", ""))[1] if i.department_id else ""}
        for o, i in rows]}


@action(auth.indicator_evidence, schema=s.ObservationRef, roles=GOVERNMENT)
def indicator_evidence(ctx: Context, p: s.ObservationRef) -> dict[str, Any]:
    """Where the evidence document of a reported value is (government users: the reviewers, the department)."""
    from cityhub.storage import get_storage

    o = ctx.db.get(Observation, p.id)
    if o is None or not o.evidence_file:
        raise NotFound("未找到证明材料", "Evidence not found")
    return {"path": str(get_storage().path(o.evidence_file)), "filename": o.evidence_name,
            "sha256": o.evidence_sha256}


# -- defining ----------------------------------------------------------------------------------------------------


def _apply(ctx: Context, ind: Indicator, values: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for key, new in values.items():
        old = getattr(ind, key)
        if old != new:
            changes[key] = [old, new]
            setattr(ind, key, new)
    return changes


def _create(ctx: Context, p: s.IndicatorCreate) -> Indicator:
    if ctx.db.scalar(select(Indicator.id).where(Indicator.code == p.code)) is not None:
        raise Conflict(f"指标代码 {p.code} 已存在", f"Indicator code {p.code} already exists", {"code": [p.code]})
    ind = Indicator(code=p.code, department_id=_department_id(ctx, p.department),
                    **{k: getattr(p, k) for k in FIELDS})
    ctx.db.add(ind)
    ctx.db.flush()
    _history(ctx, ind, "indicator_create", {k: [None, getattr(p, k)] for k in FIELDS if getattr(p, k) not in
                                            (None, "")} | {"department": [None, p.department]})
    return ind


@action(auth.indicator_create, schema=s.IndicatorCreate, write=True, target=lambda p, r: p.code, roles=ADMINS)
def indicator_create(ctx: Context, p: s.IndicatorCreate) -> dict[str, Any]:
    """Define an indicator of the plan (the data office)."""
    ind = _create(ctx, p)
    _publish_later(ctx)
    return indicator_dict(ind, _departments(ctx), [], None)


@action(auth.indicator_update, schema=s.IndicatorUpdate, write=True, target=lambda p, r: p.code, roles=ADMINS)
def indicator_update(ctx: Context, p: s.IndicatorUpdate) -> dict[str, Any]:
    """Change an indicator's definition (fields given; ``clear`` empties nullable ones); the change is kept in
    its history."""
    ind = _find(ctx, p.code)
    values = {k: v for k, v in p.model_dump(exclude={"code", "clear", "department"}).items() if v is not None}
    for key in p.clear:
        if key != "department":
            values[key] = None
    new_dept = ind.department_id
    if p.department is not None:
        new_dept = _department_id(ctx, p.department)
    if "department" in p.clear:
        new_dept = None
    merged = {k: getattr(ind, k) for k in FIELDS} | {k: v for k, v in values.items() if k in FIELDS}
    merged["department"] = None
    try:  # the whole definition must still hold together (bounds, percentages, baseline before target)
        s.IndicatorFields.model_validate(merged)
    except pydantic.ValidationError as exc:
        msgs = [str(e["msg"]).removeprefix("Value error, ") for e in exc.errors()]
        raise ValidationError(f"指标定义不合法:{';'.join(msgs)}", f"Invalid indicator definition: {'; '.join(msgs)}",
                              {"__all__": msgs}) from None
    changes = _apply(ctx, ind, values)
    if new_dept != ind.department_id:
        changes["department_id"] = [ind.department_id, new_dept]
        ind.department_id = new_dept
    if changes:
        ind.modified_at = utcnow()
        _history(ctx, ind, "indicator_update", changes)
        _publish_later(ctx)
    ctx.extra["audit_detail"] = {"changed": sorted(changes)}
    series, computed = _series(ctx, ind, _approved(ctx, [ind.id]))
    return indicator_dict(ind, _departments(ctx), series, computed)


@action(auth.indicator_import, schema=s.IndicatorImport, write=True, target=lambda p, r: f"{len(p.rows)} rows",
        roles=ADMINS)
def indicator_import(ctx: Context, p: s.IndicatorImport) -> dict[str, Any]:
    """Import a city's own indicator table (rows as ``indicator_create`` takes them): new codes are created,
    existing ones updated with ``replace`` (else skipped). All rows or none: a bad row fails the import, naming
    the row."""
    created = updated = skipped = 0
    for i, raw in enumerate(p.rows, 1):
        try:
            data = s.import_row(raw)
            fields = s.IndicatorCreate.model_validate(data)
        except Exception as exc:
            raise ValidationError(f"第{i}行不合法:{str(exc)[:300]}", f"Row {i} is invalid: {str(exc)[:300]}",
                                  {f"rows.{i - 1}": [str(exc)[:500]]}) from None
        ind = ctx.db.scalar(select(Indicator).where(Indicator.code == fields.code))
        if ind is None:
            _create(ctx, fields)
            created += 1
        elif p.replace:
            changes = _apply(ctx, ind, {k: getattr(fields, k) for k in FIELDS})
            dept = _department_id(ctx, fields.department)
            if dept != ind.department_id:
                changes["department_id"] = [ind.department_id, dept]
                ind.department_id = dept
            if changes:
                ind.modified_at = utcnow()
                _history(ctx, ind, "indicator_import", changes)
                updated += 1
            else:
                skipped += 1
        else:
            skipped += 1
    _publish_later(ctx)
    ctx.extra["audit_detail"] = {"created": created, "updated": updated, "skipped": skipped}
    return {"created": created, "updated": updated, "skipped": skipped}


# -- reporting and review ----------------------------------------------------------------------------------------


def _unit_key(unit: str) -> str:
    return re.sub(r"\s+", "", unit).lower().replace("％", "%")


@action(auth.indicator_report, schema=s.ObservationReport, write=True,
        target=lambda p, r: f"{p.code}@{p.period}", roles=MANAGERS)
def indicator_report(ctx: Context, p: s.ObservationReport) -> dict[str, Any]:
    """Report a value of a reported indicator for a period, with evidence (an uploaded document, a link or a
    dataset of the catalog). It counts once the data office approves it. The value must be in the indicator's
    unit and within its plausible bounds."""
    ind = _find(ctx, p.code)
    if ind.kind == "live":
        raise ValidationError("该指标由平台实时计算,不能填报", "This indicator is computed live by the platform and "
                              "cannot be reported", {"code": [p.code]})
    if not ind.active:
        raise ValidationError("该指标已停用", "This indicator is no longer tracked", {"code": [p.code]})
    if _unit_key(p.unit) != _unit_key(ind.unit):
        raise ValidationError(f"计量单位不符:该指标以“{ind.unit}”计,收到“{p.unit}”",
                              f"Wrong unit: this indicator is measured in '{ind.unit}', got '{p.unit}'",
                              {"unit": [f"expected {ind.unit}"]}, {"unit": [f"应为 {ind.unit}"]})
    lo, hi = _bounds(ind)
    if (lo is not None and p.value < lo) or (hi is not None and p.value > hi):
        span = f"{_fmt(lo) or '-∞'}–{_fmt(hi) or '+∞'} {ind.unit}"
        raise ValidationError(f"数值超出合理范围({span}),请核对", f"Value outside the plausible range ({span}); "
                              "check it", {"value": [f"outside {span}"]}, {"value": [f"超出合理范围 {span}"]})
    if ind.frequency == "yearly" and len(p.period) != 4:
        raise ValidationError("该指标按年填报,期间应为年份", "This indicator is reported yearly: the period is a year",
                              {"period": [p.period]})
    if ind.frequency == "monthly" and len(p.period) != 7:
        raise ValidationError("该指标按月填报,期间应为年月", "This indicator is reported monthly: the period is a "
                              "month", {"period": [p.period]})
    now_local = utcnow().astimezone(SH)
    if (p.period[:4], p.period[5:] or "00") > (str(now_local.year), f"{now_local.month:02d}" if len(p.period) == 7
                                                 else "00"):
        raise ValidationError("不能填报未来期间的数值", "A value cannot be reported for a future period",
                              {"period": [p.period]})
    if p.reported_at is not None and not (ctx.actor is not None and ctx.actor.is_admin):
        raise NotAuthorized("仅数据管理机构可补录历史填报时间", "Only the data office may back-fill a report's time")
    if p.evidence_dataset:
        from cityhub import actions

        actions.call("dataset_show", ctx, {"id": p.evidence_dataset})  # must exist and be visible to the reporter
    obs = Observation(indicator_id=ind.id, period=p.period, value=p.value, unit=ind.unit, note=p.note,
                      evidence_url=p.evidence_url, evidence_dataset=p.evidence_dataset, reporter=ctx.actor_name,
                      reported_at=p.reported_at or utcnow())
    if p.upload is not None:
        from cityhub.storage import get_storage

        name = (p.upload.filename or "evidence").replace("/", "_").replace("\\", "_")[-200:]
        key = f"indicators/evidence/{ind.code}/{secrets.token_hex(8)}"
        _size, sha = get_storage().put(key, p.upload.stream, MAX_EVIDENCE)
        obs.evidence_file, obs.evidence_name, obs.evidence_sha256 = key, name, sha
    ctx.db.add(obs)
    ctx.db.flush()
    _history(ctx, ind, "indicator_report", {"period": [None, p.period], "value": [None, p.value],
                                            "status": [None, "reported"]}, obs.id)
    ctx.extra["audit_detail"] = {"observation": obs.id, "value": p.value, "period": p.period}
    return _obs_dict(obs, True) | {"code": ind.code}


@action(auth.indicator_review, schema=s.ObservationReview, write=True, target=lambda p, r: f"observation {p.id}",
        roles=ADMINS)
def indicator_review(ctx: Context, p: s.ObservationReview) -> dict[str, Any]:
    """Approve (it counts from now on; an earlier approved value of the same period is superseded, kept) or
    reject (with a comment) a reported value. Nobody reviews their own report."""
    obs = ctx.db.get(Observation, p.id)
    if obs is None:
        raise NotFound(f"未找到填报记录 {p.id}", f"Reported value not found: {p.id}")
    if obs.status != "reported":
        raise Conflict("该填报已审核", "This value has already been reviewed", {"id": [str(p.id)]})
    if obs.reporter == ctx.actor_name and ctx.actor_name != "system":
        raise Conflict("不能审核本人填报的数值", "You may not review your own report", {"id": [str(p.id)]})
    ind = ctx.db.get(Indicator, obs.indicator_id)
    assert ind is not None
    obs.status = "approved" if p.decision == "approve" else "rejected"
    obs.reviewer, obs.reviewed_at, obs.review_comment = ctx.actor_name, utcnow(), p.comment
    changes: dict[str, Any] = {"status": ["reported", obs.status]}
    if p.decision == "approve":
        for old in ctx.db.scalars(select(Observation).where(
                Observation.indicator_id == ind.id, Observation.period == obs.period,
                Observation.status == "approved", Observation.id != obs.id)):
            old.status = "superseded"
            changes["superseded"] = [old.id, old.value]
        from cityhub.social import activity

        activity.record(ctx, "changed indicator", "indicator", ind.code, department_id=ind.department_id,
                        data={"period": obs.period, "value": obs.value, "unit": ind.unit, "name": ind.name,
                              "title": ind.name, "url": f"/indicators/{ind.code}"})
        _publish_later(ctx)
    _history(ctx, ind, "indicator_review", changes | ({"comment": [None, p.comment]} if p.comment else {}), obs.id)
    ctx.extra["audit_detail"] = {"decision": p.decision, "indicator": ind.code, "period": obs.period}
    return _obs_dict(obs, True) | {"code": ind.code}


# -- assessments -------------------------------------------------------------------------------------------------


def _plan_years(inds: list[Indicator]) -> tuple[int, int]:
    starts = [i.baseline_year for i in inds if i.baseline_year is not None]
    ends = [i.target_year for i in inds]
    end = max(ends) if ends else today_local().year
    start = min(starts) if starts else end - 5
    return start, end


def _late_and_missing(ctx: Context, inds: list[Indicator], first: int, last: int,
                      depts: dict[int, tuple[str, str, str]]) -> list[dict[str, Any]]:
    """Reported indicators' periods ``first..last`` with no report by their due date (missing) or whose first
    report came after it (late)."""
    today = today_local()
    reported = [i for i in inds if i.kind == "reported" and i.active]
    if not reported:
        return []
    rows = ctx.db.execute(select(Observation.indicator_id, Observation.period, func.min(Observation.reported_at))
                          .where(Observation.indicator_id.in_([i.id for i in reported]),
                                 Observation.period >= str(first), Observation.period < str(last + 1))
                          .group_by(Observation.indicator_id, Observation.period)).all()
    first_report = {(int(i), p): at for i, p, at in rows}
    out = []
    for ind in reported:
        start = max(first, (ind.baseline_year or first - 1) + 1)
        periods = ([f"{y}-{m:02d}" for y in range(start, last + 1) for m in range(1, 13)]
                   if ind.frequency == "monthly" else [str(y) for y in range(start, last + 1)])
        for period in periods:
            due = dt.date(*progress.due_date(period))
            at = first_report.get((ind.id, period))
            dept = depts.get(ind.department_id or -1, ("", "", ""))
            base: dict[str, Any] = {"code": ind.code, "name": ind.name, "name_en": ind.name_en, "period": period,
                    "due": (due - dt.timedelta(days=1)).isoformat(), "department": dept[0],
                    "department_name": dept[1]}
            if at is None:
                if today >= due:
                    out.append(base | {"state": "missing", "reported_at": None})
            elif at.astimezone(SH).date() >= due:
                out.append(base | {"state": "late", "reported_at": at.isoformat()})
    return out


@action(auth.indicator_assessment, schema=s.AssessmentIn)
def indicator_assessment(ctx: Context, p: s.AssessmentIn) -> dict[str, Any]:
    """The annual evaluation (a year), the mid-term assessment (the plan's middle year) or the final assessment
    (the target year): every indicator evaluated with the values up to the end of that year, a summary by status
    and area, and the late or missing reports up to then."""
    q = select(Indicator).where(Indicator.active.is_(True)).order_by(Indicator.position, Indicator.code)
    if p.area:
        q = q.where(Indicator.area == p.area)
    inds = list(ctx.db.scalars(q.limit(5000)))
    start, end = _plan_years(inds)
    if p.kind == "annual":
        year = p.year or today_local().year - 1
    elif p.kind == "midterm":
        year = p.year or (start + end + 1) // 2
    else:
        year = p.year or end
    approved = _approved(ctx)
    depts = _departments(ctx)
    results = []
    for ind in inds:
        series, computed = _series(ctx, ind, approved)
        results.append(indicator_dict(ind, depts, _until(series, year), computed))
    summary = {st: sum(1 for r in results if r["progress"]["status"] == st) for st in progress.STATUSES}
    by_area: dict[str, dict[str, int]] = {}
    for r in results:
        by_area.setdefault(r["area"], {st: 0 for st in progress.STATUSES})[r["progress"]["status"]] += 1
    titles = {"annual": (f"{year}年度规划实施情况评估报告", f"Annual evaluation {year}"),
              "midterm": (f"规划实施中期评估报告({year}年)", f"Mid-term assessment ({year})"),
              "final": (f"规划实施总结评估报告({year}年)", f"Final assessment ({year})")}
    return {"kind": p.kind, "year": year, "plan_start": start + 1 if start < end else start, "plan_end": end,
            "title": titles[p.kind][0], "title_en": titles[p.kind][1], "generated_at": utcnow().isoformat(),
            "indicators": results, "summary": summary, "by_area": by_area,
            "late_or_missing": _late_and_missing(ctx, inds, start + 1, year, depts)}


# -- the open dataset of the values -------------------------------------------------------------------------------

VALUE_COLUMNS = ("code", "area", "name", "unit", "period", "value", "kind", "target_year", "target_value",
                 "direction", "department")


def _ensure_dataset(ctx: Context, name: str, department: str) -> dict[str, Any]:
    from cityhub import actions

    try:
        ds: dict[str, Any] = actions.call("dataset_show", ctx, {"id": name})
        return ds
    except NotFound:
        pass
    actions.call("dataset_create", ctx, {
        "name": name, "title": "规划指标实施进展数据", "title_en": "Plan indicator values",
        "department": department, "catalog_type": "主题", "class_item": "01", "class_category": "001",
        "class_sub": "1",
        "abstract": "信息化发展规划主要指标(表1)的基期值、目标值和逐期观测值:平台可计算的指标由平台实时计算,"
                    "其余由责任部门填报并经数据管理机构审核后计入。数值变化时自动更新。",
        "format": "电子表格",
        "data_items": [{"name": c, "type": "string", "description": c} for c in VALUE_COLUMNS],
        "sharing_class": "无条件共享", "opening_class": "无条件开放", "update_cycle": "实时",
        "theme": "economy", "tags": ["规划", "指标", "实施进展"], "license_id": "cc-by-4.0"})
    ds = actions.call("dataset_show", ctx, {"id": name})
    if ds.get("publication") == "draft":
        actions.call("dataset_submit", ctx, {"id": name})
        ds = actions.call("dataset_show", ctx, {"id": name})
    if ds.get("publication") != "published":
        actions.call("dataset_approve", ctx, {"id": name})
    result: dict[str, Any] = actions.call("dataset_show", ctx, {"id": name})
    return result


def values_csv(listing: dict[str, Any]) -> tuple[str, int]:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(VALUE_COLUMNS)
    n = 0
    for r in listing["results"]:
        for period, value in r["series"]:
            writer.writerow([r["code"], r["area"], r["name"], r["unit"], period, _fmt(value), r["kind"],
                             r["target_year"], _fmt(r["target_value"]), r["direction"], r["department"] or ""])
            n += 1
    return buf.getvalue(), n


@action(auth.indicator_dataset_publish, schema=s.Empty, write=True, target=lambda p, r: r.get("dataset", "-"),
        roles=ADMINS)
def indicator_dataset_publish(ctx: Context, p: s.Empty) -> dict[str, Any]:
    """Rewrite the open dataset of the indicator values (CITYHUB_INDICATORS_DATASET, created 无条件开放 by the data
    office's department on first use) from the approved and live values; loaded into the datastore like any
    upload. Runs after every change of a value or definition, and daily for the live values."""
    from cityhub import actions
    from cityhub.catalog.schemas import UploadedFile

    settings = get_settings()
    text, n = values_csv(indicator_list(ctx, s.IndicatorList()))
    ds = _ensure_dataset(ctx, settings.indicators_dataset, settings.indicators_department)
    upload = UploadedFile(filename="plan_indicator_values.csv", stream=io.BytesIO(("\ufeff" + text).encode()))
    ours = [r for r in ds.get("resources", []) if r.get("name") == "指标观测值"]
    if ours:
        res = actions.call("resource_update", ctx, {"id": ours[0]["id"], "upload": upload})
    else:
        res = actions.call("resource_create", ctx, {"dataset": settings.indicators_dataset, "name": "指标观测值",
                                                    "description": "各指标逐期数值(CSV,数值变化时更新)",
                                                    "format": "CSV", "upload": upload})
    ctx.extra["audit_detail"] = {"rows": n}
    return {"dataset": settings.indicators_dataset, "resource_id": res["id"], "rows": n}


def publish_job() -> dict[str, Any]:
    from cityhub import actions

    try:
        result: dict[str, Any] = actions.call("indicator_dataset_publish", system_context("job"), {})
        return result
    except Exception as exc:  # e.g. no data-office department in this installation: logged, not raised
        log.warning("indicator values dataset not published: %s", exc, exc_info=True)
        return {"error": str(exc)}


jobs.register("indicator_dataset_publish", publish_job)
jobs.every("indicator_dataset_publish_daily", publish_job, seconds=24 * 3600)
