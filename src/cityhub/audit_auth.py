"""Authorization rules of the audit-tree actions (same names as the actions): platform admins and auditors."""

from __future__ import annotations

from typing import Any

from cityhub.accounts.auth import require_admin, require_user
from cityhub.context import Context
from cityhub.errors import NotAuthorized

AUDIT_READERS = ("platform_admin", "auditor")


def require_audit_reader(ctx: Context) -> None:
    require_user(ctx)
    assert ctx.actor is not None
    if ctx.actor.role not in AUDIT_READERS:
        raise NotAuthorized("仅平台管理员和审计员可查看审计证明", "Only platform admins and auditors may do this")


def audit_verify(ctx: Context, p: Any) -> None:
    require_audit_reader(ctx)


def audit_proof(ctx: Context, p: Any) -> None:
    require_audit_reader(ctx)


def audit_sth_show(ctx: Context, p: Any) -> None:
    require_audit_reader(ctx)


def audit_sth_issue(ctx: Context, p: Any) -> None:
    require_admin(ctx)
