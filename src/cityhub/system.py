"""Operator actions: the audit-log listing and signed head; denials the web layer makes itself (the tree's check,
proofs and tree heads: ``cityhub.audit_actions``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from cityhub import audit, system_auth
from cityhub.actions import ADMINS, action
from cityhub.context import Context


class Empty(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AuditQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    limit: int = 100
    offset: int = 0
    action: str | None = None
    actor: str | None = None


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


@action(system_auth.audit_list, schema=AuditQuery, roles=ADMINS)
def audit_list(ctx: Context, p: AuditQuery) -> list[dict[str, Any]]:
    """Audit records, newest first (platform admins)."""
    q = select(audit.AuditRecord).order_by(audit.AuditRecord.seq.desc()).limit(min(p.limit, 1000)).offset(p.offset)
    if p.action:
        q = q.where(audit.AuditRecord.action == p.action)
    if p.actor:
        q = q.where(audit.AuditRecord.actor == p.actor)
    return [{"seq": r.seq, "ts": r.ts.isoformat(), "actor": r.actor, "source": r.source, "via": r.via,
             "action": r.action, "target": r.target, "outcome": r.outcome, "detail": r.detail}
            for r in ctx.db.scalars(q)]
