"""Corrections (疑义/错误信息快速校核): a consumer department reports a disputed record of a datastore resource;
the providing department accepts it within 2 working days and answers within 10 (``sharing.workdays``, the
Chinese public-holiday calendar); an upheld correction is written into the next datastore version of the
resource, whose note names the ticket. Overdue tickets are flagged (``accept_overdue`` / ``answer_overdue``)."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import duckdb
from sqlalchemy import or_, select

from cityhub import actions
from cityhub.accounts.models import Department
from cityhub.actions import GOVERNMENT, MANAGERS, SIGNED_IN, action
from cityhub.catalog.schemas import UploadedFile
from cityhub.context import Context
from cityhub.datastore.models import DatastoreVersion
from cityhub.db import today_local, utcnow
from cityhub.errors import Conflict, ValidationError
from cityhub.settings import get_settings
from cityhub.sharing import deid_auth as auth
from cityhub.sharing import deid_schemas as s
from cityhub.sharing import workdays
from cityhub.sharing.deid_actions import live_version as _live
from cityhub.sharing.deid_models import Correction

ACCEPT_DAYS = 2  # the provider accepts (受理) within 2 working days
ANSWER_DAYS = 10  # and answers within 10
STATUS_LABELS = {"open": ("待受理", "Awaiting acceptance"), "accepted": ("已受理", "Accepted"),
                 "upheld": ("已确认更正", "Upheld"), "rejected": ("不予更正", "Rejected"),
                 "applied": ("已更正入库", "Applied")}


def today() -> dt.date:
    """Today in China (tests replace it to file on a given day)."""
    return today_local()


def _parquet(v: DatastoreVersion) -> Path:
    return get_settings().datastore_dir / v.resource_id / f"v{v.version}" / "data.parquet"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit_path(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _types(con: duckdb.DuckDBPyConnection, path: Path) -> dict[str, str]:
    return {str(r[0]): str(r[1]) for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet({_lit_path(path)})")
            .fetchall()}


def _record(v: DatastoreVersion, key_column: str, key_value: str, field: str) -> str | None:
    """The disputed field's value in the one record the key names (refused unless exactly one matches)."""
    names = {c["name"] for c in v.columns} | {"_id"}
    for label, name in (("key_column", key_column), ("field", field)):
        if name not in names:
            raise ValidationError(f"表中没有列:{name}", f"No such column: {name}", fields={label: ["no such column"]},
                                  fields_zh={label: ["表中没有该列"]})
    if field == "_id":
        raise ValidationError("不能更正记录编号 _id", "The record number _id cannot be corrected",
                              fields={"field": ["_id"]})
    con = duckdb.connect()
    try:
        row = con.execute(f"SELECT count(*), any_value(CAST({_q(field)} AS VARCHAR)) FROM read_parquet("
                          f"{_lit_path(_parquet(v))}) WHERE CAST({_q(key_column)} AS VARCHAR) = ?",
                          [key_value]).fetchone()
    finally:
        con.close()
    assert row is not None
    if row[0] != 1:
        zh, en = ("未找到该记录", "No record has that key") if row[0] == 0 else (
            f"该键对应 {row[0]} 条记录,请用唯一的键(如 _id)", f"{row[0]} records have that key; use a unique one (_id)")
        raise ValidationError(zh, en, fields={"key_value": [en]}, fields_zh={"key_value": [zh]})
    return None if row[1] is None else str(row[1])


def _check_value(v: DatastoreVersion, field: str, value: str) -> None:
    """The corrected value must fit the column's type (an integer column takes an integer)."""
    con = duckdb.connect()
    try:
        kind = _types(con, _parquet(v)).get(field, "VARCHAR")
        row = con.execute(f"SELECT TRY_CAST(? AS {kind}) IS NULL", [value]).fetchone()
    finally:
        con.close()
    if value != "" and row and row[0]:
        raise ValidationError(f"更正值不符合该列的类型({kind})", f"The corrected value does not fit the column's "
                              f"type ({kind})", fields={"corrected_value": [f"not a {kind}"]},
                              fields_zh={"corrected_value": [f"不是 {kind} 类型的值"]})


def ticket_dict(ctx: Context, c: Correction, on: dt.date | None = None) -> dict[str, Any]:
    on = on or today()
    dept = ctx.db.get(Department, c.department_id)
    reporter_dept = ctx.db.get(Department, c.reporter_department_id) if c.reporter_department_id else None
    accept_left = workdays.working_days_left(c.accept_due, on) if c.status == "open" else None
    answer_left = workdays.working_days_left(c.answer_due, on) if c.status in ("open", "accepted") else None
    return {
        "id": c.id, "resource_id": c.resource_id, "department": dept.slug if dept else None,
        "department_name": dept.name if dept else "", "key_column": c.key_column, "key_value": c.key_value,
        "field": c.field, "current_value": c.current_value, "claimed_value": c.claimed_value,
        "evidence": c.evidence, "evidence_url": c.evidence_url, "reporter": c.reporter,
        "reporter_department": reporter_dept.slug if reporter_dept else None,
        "status": c.status, "status_label": list(STATUS_LABELS[c.status]),
        "filed_on": c.filed_on.isoformat(), "accept_due": c.accept_due.isoformat(),
        "answer_due": c.answer_due.isoformat(), "provisional": c.provisional,
        "accept_days_left": accept_left.days if accept_left else None,
        "answer_days_left": answer_left.days if answer_left else None,
        "accept_overdue": bool(accept_left and accept_left.overdue),
        "answer_overdue": bool(answer_left and answer_left.overdue),
        "accepted_by": c.accepted_by, "accepted_on": c.accepted_on.isoformat() if c.accepted_on else None,
        "accepted_late": bool(c.accepted_on and c.accepted_on > c.accept_due),
        "resolved_by": c.resolved_by, "resolved_on": c.resolved_on.isoformat() if c.resolved_on else None,
        "answered_late": bool(c.resolved_on and c.resolved_on > c.answer_due),
        "corrected_value": c.corrected_value, "reason": c.reason, "applied_version": c.applied_version,
        "created_at": c.created_at.isoformat(),
    }


@action(auth.correction_create, schema=s.CorrectionCreate, write=True, target=lambda p, r: p.resource_id,
        roles=GOVERNMENT)
def correction_create(ctx: Context, p: s.CorrectionCreate) -> dict[str, Any]:
    """Report a disputed record (校核): the resource, the record's key (``_id`` or a key column), the field, the
    value it should have and the evidence. The provider must accept within 2 and answer within 10 working days."""
    res = auth.resource(ctx, p.resource_id)
    live = _live(ctx, res.id)
    current = _record(live, p.key_column, p.key_value, p.field)
    filed = today()
    accept, answer = workdays.add_working_days(filed, ACCEPT_DAYS), workdays.add_working_days(filed, ANSWER_DAYS)
    assert ctx.actor is not None
    c = Correction(resource_id=res.id, department_id=res.dataset.department_id, key_column=p.key_column,
                   key_value=p.key_value, field=p.field, current_value=current, claimed_value=p.claimed_value,
                   evidence=p.evidence, evidence_url=p.evidence_url, reporter=ctx.actor.name,
                   reporter_department_id=ctx.actor.department_id, status="open", filed_on=filed,
                   accept_due=accept.date, answer_due=answer.date,
                   provisional=accept.provisional or answer.provisional, created_at=utcnow())
    ctx.db.add(c)
    ctx.db.flush()
    ctx.extra["audit_detail"] = {"ticket": c.id, "field": p.field}
    return ticket_dict(ctx, c, filed)


@action(auth.correction_accept, schema=s.CorrectionRef, write=True, target=lambda p, r: f"correction:{p.id}",
        roles=MANAGERS)
def correction_accept(ctx: Context, p: s.CorrectionRef) -> dict[str, Any]:
    """Accept (受理) a ticket of one's department; after the 2-working-day limit it is accepted late."""
    c = auth.ticket(ctx, p.id)
    if c.status != "open":
        raise Conflict("只能受理待受理的工单", "Only an open ticket can be accepted", fields={"status": [c.status]})
    c.status, c.accepted_by, c.accepted_on = "accepted", ctx.actor_name, today()
    return ticket_dict(ctx, c)


@action(auth.correction_resolve, schema=s.CorrectionResolve, write=True,
        target=lambda p, r: f"correction:{p.id}", roles=MANAGERS)
def correction_resolve(ctx: Context, p: s.CorrectionResolve) -> dict[str, Any]:
    """Answer a ticket: ``upheld`` with the corrected value (default: the claimed one), or ``rejected`` with the
    reason. An open ticket is accepted by its answer."""
    c = auth.ticket(ctx, p.id)
    if c.status not in ("open", "accepted"):
        raise Conflict("该工单已答复", "This ticket has been answered", fields={"status": [c.status]})
    if p.outcome == "rejected":
        if not p.reason.strip():
            raise ValidationError("不予更正须说明理由", "A rejection needs its reason", fields={"reason": ["required"]},
                                  fields_zh={"reason": ["请说明理由"]})
        c.corrected_value = None
    else:
        value = p.corrected_value if p.corrected_value is not None else c.claimed_value
        _check_value(_live(ctx, c.resource_id), c.field, value)
        c.corrected_value = value
    now = today()
    if c.status == "open":
        c.accepted_by, c.accepted_on = ctx.actor_name, now
    c.status, c.reason, c.resolved_by, c.resolved_on = p.outcome, p.reason, ctx.actor_name, now
    ctx.extra["audit_detail"] = {"outcome": p.outcome}
    return ticket_dict(ctx, c)


@action(auth.correction_apply, schema=s.CorrectionRef, write=True, target=lambda p, r: f"correction:{p.id}",
        roles=MANAGERS)
def correction_apply(ctx: Context, p: s.CorrectionRef) -> dict[str, Any]:
    """Write an upheld correction into the next datastore version of the resource (a load of the live table with
    the one value changed); the version's note names the ticket."""
    c = auth.ticket(ctx, p.id)
    if c.status != "upheld":
        raise Conflict("只能应用已确认更正的工单", "Only an upheld ticket can be applied", fields={"status": [c.status]})
    live = _live(ctx, c.resource_id)
    _record(live, c.key_column, c.key_value, c.field)  # still exactly one record
    value = c.corrected_value if c.corrected_value is not None else c.claimed_value
    _check_value(live, c.field, value)
    tmp = get_settings().datastore_dir / "tmp" / f"correction-{c.id}-{uuid.uuid4().hex[:8]}.parquet"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    try:
        types = _types(con, _parquet(live))
        wanted = [col["name"] for col in live.columns if col["name"] != "_id"]
        parts = [f"CASE WHEN CAST({_q(c.key_column)} AS VARCHAR) = ? THEN TRY_CAST(? AS {types[n]}) ELSE {_q(n)} END "
                 f"AS {_q(n)}" if n == c.field else _q(n) for n in wanted]
        con.execute(f"COPY (SELECT {', '.join(parts)} FROM read_parquet({_lit_path(_parquet(live))}) ORDER BY \"_id\") "
                    f"TO {_lit_path(tmp)} (FORMAT parquet)", [c.key_value, None if value == "" else value])
    finally:
        con.close()
    note = f"校核工单 #{c.id}:{c.field}({c.key_column}={c.key_value})更正 / correction ticket #{c.id}"
    try:
        with tmp.open("rb") as stream:
            version = actions.call("datastore_create", ctx, {
                "resource_id": c.resource_id, "upload": UploadedFile(f"correction-{c.id}.parquet", stream),
                "note": note})
    finally:
        tmp.unlink(missing_ok=True)
    c.status, c.applied_version = "applied", int(version["version"])
    ctx.extra["audit_detail"] = {"version": c.applied_version}
    return {**ticket_dict(ctx, c), "version": version}


@action(auth.correction_show, schema=s.CorrectionRef, roles=SIGNED_IN)
def correction_show(ctx: Context, p: s.CorrectionRef) -> dict[str, Any]:
    """One correction ticket with its deadlines in working days (reporter, provider's stewards, admins)."""
    return ticket_dict(ctx, auth.ticket(ctx, p.id))


@action(auth.correction_list, schema=s.CorrectionList, roles=SIGNED_IN)
def correction_list(ctx: Context, p: s.CorrectionList) -> list[dict[str, Any]]:
    """The tickets the caller may see, newest first: their own reports and, for stewards, those their department
    must answer (platform admins: all)."""
    assert ctx.actor is not None
    q = select(Correction)
    if not ctx.actor.is_admin:
        mine = Correction.reporter == ctx.actor.name
        if ctx.actor.role in ("dept_admin", "steward") and ctx.actor.department_id is not None:
            q = q.where(or_(mine, Correction.department_id == ctx.actor.department_id))
        else:
            q = q.where(mine)
    if p.status:
        q = q.where(Correction.status == p.status)
    if p.resource_id:
        q = q.where(Correction.resource_id == p.resource_id)
    on = today()
    return [ticket_dict(ctx, c, on) for c in ctx.db.scalars(q.order_by(Correction.id.desc()).limit(p.limit))]
