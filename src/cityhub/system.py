"""Operator actions: the audit-log check and listing."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from cityhub import audit, system_auth
from cityhub.actions import action
from cityhub.context import Context


class Empty(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AuditQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    limit: int = 100
    offset: int = 0
    action: str | None = None
    actor: str | None = None


@action(system_auth.audit_verify, schema=Empty)
def audit_verify(ctx: Context, p: Empty) -> dict[str, Any]:
    """Check the whole audit chain; names the first bad record."""
    result = audit.verify(ctx.db, ctx.extra.get("progress"))
    return {"ok": result.ok, "count": result.count, "head": result.head_hash, "bad_seq": result.bad_seq,
            "reason": result.reason}


@action(system_auth.audit_list, schema=AuditQuery)
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
