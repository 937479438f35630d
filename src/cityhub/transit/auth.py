"""Authorization rules of the transit actions: government users start runs (a department admin, steward or
analyst for their own department; platform admins for any, and only they may point a run at a server directory);
the run list and a run's report are public once the run is finished and published (they hold aggregate figures
only — the card-level stages stay in the restricted dataset); government users see every run."""

from __future__ import annotations

from typing import Any

from cityhub.context import Context
from cityhub.errors import NotAuthenticated, NotAuthorized

GOVERNMENT = ("platform_admin", "dept_admin", "steward", "analyst")


def is_government(ctx: Context) -> bool:
    return ctx.actor is not None and ctx.actor.role in GOVERNMENT


def transit_run_start(ctx: Context, p: Any) -> None:
    if ctx.actor is None:
        raise NotAuthenticated("请先登录", "Sign-in required")
    if ctx.actor.role not in GOVERNMENT:
        raise NotAuthorized("仅政府用户可发起客流分析", "Only government users may start a transit run")
    if p.input_dir and ctx.actor.role != "platform_admin":
        raise NotAuthorized("仅平台管理员可指定服务器目录作为输入", "Only platform admins may run on a server directory")


def transit_run_show(ctx: Context, p: Any) -> None:
    return None  # record level: unfinished or unpublished runs are not found for the public (in the action)


def transit_run_list(ctx: Context, p: Any) -> None:
    return None
