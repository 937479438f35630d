"""Operator actions: the audit-log listing and signed head; denials the web layer makes itself (the tree's check,
proofs and tree heads: ``cityhub.audit_actions``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import func, select

from cityhub import audit, system_auth
from cityhub.actions import ADMINS, action
from cityhub.context import Context


class Empty(BaseModel):
    model_config = ConfigDict(extra="forbid")


#: most records one export holds (the newest matching ones; narrow the filter or the dates for older ones)
AUDIT_EXPORT_MAX = 100_000


class AuditFilter(BaseModel):
    """Which audit records: every given condition must hold."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    action: str | None = Field(None, max_length=100, description="action name, exactly (e.g. user_disable)")
    actor: str | None = Field(None, max_length=200, description="who, exactly (a user name, system, harvester)")
    outcome: str | None = Field(None, max_length=40, description="success, denied, invalid, not_found, …")
    target: str | None = Field(None, max_length=500, description="part of the target")
    since: dt.datetime | None = Field(None, description="at or after this time (ISO 8601; no zone: UTC)")
    until: dt.datetime | None = Field(None, description="before this time (ISO 8601; no zone: UTC)")

    @model_validator(mode="after")
    def _range(self) -> AuditFilter:
        if self.since and self.until and _utc(self.until) <= _utc(self.since):
            raise ValueError("结束时间须晚于开始时间 / the end must be after the start")
        return self


class AuditQuery(AuditFilter):
    limit: int = Field(100, ge=1, le=1000)
    offset: int = Field(0, ge=0, le=1_000_000)
    before_seq: int | None = Field(None, ge=1, description="keyset paging: records older than this sequence number")
    after_seq: int | None = Field(None, ge=0, description="keyset paging backwards: records newer than this one "
                                  "(still answered newest first)")


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class DenialIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    check: str = Field(pattern=r"^[a-z_]{1,40}$", description="the check that refused, e.g. csrf_check")
    target: str = Field(max_length=500, description="what was refused, e.g. POST /api/v1/datasets")
    reason: str = Field(max_length=200)


@action(system_auth.denial_record, schema=DenialIn)
def denial_record(ctx: Context, p: DenialIn) -> dict[str, Any]:
    """Record a request the web layer refused before any action ran (a failed CSRF check) as a denial of
    ``check``, with the caller, their address, the request and the reason."""
    seq = audit.record(ctx.db, ctx, p.check, p.target, "denied", {"reason": p.reason})
    return {"seq": seq}


@action(system_auth.audit_head_show, schema=Empty)
def audit_head_show(ctx: Context, p: Empty) -> dict[str, Any]:
    """The signed head of the audit log as kept outside the database (to copy to a separate system)."""
    head = audit.read_signed_head()
    return {"path": str(audit.signed_head_path()), "head": head.as_dict() if head else None}


def _conditions(p: AuditFilter) -> list[Any]:
    rec = audit.AuditRecord
    cond: list[Any] = []
    if p.action:
        cond.append(rec.action == p.action)
    if p.actor:
        cond.append(rec.actor == p.actor)
    if p.outcome:
        cond.append(rec.outcome == p.outcome)
    if p.target:
        escaped = p.target.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        cond.append(rec.target.like(f"%{escaped}%", escape="\\"))
    if p.since:
        cond.append(rec.ts >= _utc(p.since))
    if p.until:
        cond.append(rec.ts < _utc(p.until))
    return cond


def _record_dict(r: audit.AuditRecord) -> dict[str, Any]:
    return {"seq": r.seq, "ts": r.ts.isoformat(), "actor": r.actor, "source": r.source, "via": r.via,
            "action": r.action, "target": r.target, "outcome": r.outcome, "detail": r.detail, "hash": r.hash}


@action(system_auth.audit_list, schema=AuditQuery, roles=ADMINS)
def audit_list(ctx: Context, p: AuditQuery) -> list[dict[str, Any]]:
    """Audit records matching the filter (action, actor, outcome, part of the target, a time range), newest first
    (platform admins). Page by sequence number: ``before_seq`` (the last one shown) for older records,
    ``after_seq`` (the first one shown) for newer ones; records appended meanwhile never shift a page, so paging
    neither skips nor repeats one. ``offset`` still works for the old clients."""
    rec = audit.AuditRecord
    cond = _conditions(p)
    if p.before_seq is not None:
        cond.append(rec.seq < p.before_seq)
    if p.after_seq is not None:
        cond.append(rec.seq > p.after_seq)
        rows = list(ctx.db.scalars(select(rec).where(*cond).order_by(rec.seq.asc()).limit(p.limit)))
        return [_record_dict(r) for r in reversed(rows)]
    q = select(rec).where(*cond).order_by(rec.seq.desc()).limit(p.limit).offset(p.offset)
    return [_record_dict(r) for r in ctx.db.scalars(q)]


@action(system_auth.audit_export, schema=AuditFilter, write=True, roles=ADMINS,
        target=lambda p, r: f"{r['count']} records" if r else "-")
def audit_export(ctx: Context, p: AuditFilter) -> dict[str, Any]:
    """Start an export of the audit records matching the filter (platform admins; the export itself is audited,
    with its filter). Answers the snapshot to read: records up to ``upto_seq`` (the log's end now, so records
    appended during the download are not in it), at most ``AUDIT_EXPORT_MAX`` of them (``count``; ``capped``
    when more match). The caller reads them newest first with ``audit_list`` and ``before_seq``."""
    rec = audit.AuditRecord
    upto = audit.count(ctx.db)
    matching = ctx.db.scalar(select(func.count()).select_from(rec).where(*_conditions(p), rec.seq <= upto)) or 0
    filters = p.model_dump(mode="json", exclude_none=True)
    ctx.extra["audit_detail"] = {"filter": filters, "upto_seq": upto, "count": min(matching, AUDIT_EXPORT_MAX)}
    return {"filter": filters, "upto_seq": upto, "count": min(matching, AUDIT_EXPORT_MAX),
            "matching": matching, "capped": matching > AUDIT_EXPORT_MAX, "max": AUDIT_EXPORT_MAX}
