"""Authorization of the indicator actions.

* Anyone reads the indicators, their progress, approved values and the assessment reports (the plan's scoreboard
  is public); the change history and values awaiting review are for government users.
* Platform admins (the data office) define, edit and import indicators, review reported values and publish the
  values dataset.
* A department's stewards and department admins report values for the reported indicators their department is
  responsible for (another department's indicator: 403); platform admins may report for any.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from cityhub.context import Context
from cityhub.errors import NotAuthenticated, NotAuthorized

GOVERNMENT = ("platform_admin", "dept_admin", "steward", "analyst")


def is_government(ctx: Context) -> bool:
    return ctx.actor is not None and ctx.actor.role in GOVERNMENT


def _admin(ctx: Context) -> None:
    if ctx.actor is None:
        raise NotAuthenticated("请先登录", "Sign-in required")
    if not ctx.actor.is_admin:
        raise NotAuthorized("仅数据管理机构(平台管理员)可管理规划指标", "Only the data office (platform admins) may "
                            "manage plan indicators")


def indicator_list(ctx: Context, p: Any) -> None:
    return None


def indicator_show(ctx: Context, p: Any) -> None:
    return None


def indicator_assessment(ctx: Context, p: Any) -> None:
    return None


def indicator_create(ctx: Context, p: Any) -> None:
    _admin(ctx)


def indicator_update(ctx: Context, p: Any) -> None:
    _admin(ctx)


def indicator_import(ctx: Context, p: Any) -> None:
    _admin(ctx)


def indicator_review(ctx: Context, p: Any) -> None:
    _admin(ctx)


def indicator_dataset_publish(ctx: Context, p: Any) -> None:
    _admin(ctx)


def indicator_evidence(ctx: Context, p: Any) -> None:
    if not is_government(ctx):
        raise NotAuthorized("仅政府用户可查看证明材料", "Only government users may see evidence documents")


def indicator_queue(ctx: Context, p: Any) -> None:
    if ctx.actor is None:
        raise NotAuthenticated("请先登录", "Sign-in required")
    if not ctx.actor.is_admin and ctx.actor.role not in ("dept_admin", "steward"):
        raise NotAuthorized("无权查看指标填报", "You may not see indicator reports")


def indicator_report(ctx: Context, p: Any) -> None:
    """Only the responsible department's stewards and department admins (or platform admins) report a value."""
    from cityhub.indicators.models import Indicator

    if ctx.actor is None:
        raise NotAuthenticated("请先登录", "Sign-in required")
    if ctx.actor.is_admin:
        return
    department_id = ctx.db.scalar(select(Indicator.department_id).where(Indicator.code == p.code))
    if department_id is None or not ctx.actor.manages(department_id):
        raise NotAuthorized("只能填报本部门负责的指标", "You may only report indicators your department is "
                            "responsible for")
