"""Authorization rules of the operator actions (same names as the actions)."""

from __future__ import annotations

from typing import Any

from cityhub.accounts.auth import require_admin
from cityhub.context import Context


def audit_list(ctx: Context, p: Any) -> None:
    require_admin(ctx)


def audit_export(ctx: Context, p: Any) -> None:
    require_admin(ctx)


def audit_head_show(ctx: Context, p: Any) -> None:
    require_admin(ctx)


def denial_record(ctx: Context, p: Any) -> None:
    return None  # the web layer records what it refused, for any caller (anonymous included)
