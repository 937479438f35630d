"""Authorization of the reuse actions. Anyone signed in submits a reuse of datasets they may see (a dataset they
may not see is "not found"); the data office (platform admins) reviews. A published reuse is public; a pending
or rejected one is seen by its submitter and the data office. The datasets listed with a reuse are only those
the caller may see (``catalog.visibility.can_see``)."""

from __future__ import annotations

from typing import Any

from cityhub.catalog.models import Dataset
from cityhub.context import Context
from cityhub.engage import discuss_auth
from cityhub.engage.reuse_models import Reuse
from cityhub.errors import NotAuthenticated, NotAuthorized, NotFound


def data_office(ctx: Context) -> bool:
    return ctx.actor is not None and ctx.actor.is_admin


def may_see(ctx: Context, r: Reuse) -> bool:
    if r.status == "published" or data_office(ctx):
        return True
    return ctx.actor is not None and r.submitter_id == ctx.actor.id


def reuse(ctx: Context, rid: int) -> Reuse:
    found = ctx.db.get(Reuse, rid)
    if found is None or not may_see(ctx, found):
        raise NotFound(f"未找到成果 {rid}", f"Reuse not found: {rid}")
    return found


def datasets(ctx: Context, refs: list[str]) -> list[Dataset]:
    return [discuss_auth.dataset(ctx, ref) for ref in refs]


def reuse_create(ctx: Context, p: Any) -> None:
    if ctx.actor is None:
        raise NotAuthenticated("请先登录", "Sign-in required")
    datasets(ctx, p.datasets)


def reuse_review(ctx: Context, p: Any) -> None:
    if not data_office(ctx):
        raise NotAuthorized("仅数据管理机构(平台管理员)可审核成果", "Only the data office (platform admins) reviews reuses")
    reuse(ctx, p.id)


def reuse_list(ctx: Context, p: Any) -> None:
    if p.status != "published" and not data_office(ctx):
        raise NotAuthorized("仅数据管理机构可查看待审核或未通过的成果", "Only the data office sees pending or rejected reuses")
    if p.dataset:
        discuss_auth.dataset(ctx, p.dataset)


def reuse_show(ctx: Context, p: Any) -> None:
    reuse(ctx, p.id)


def reuse_image(ctx: Context, p: Any) -> None:
    reuse(ctx, p.id)


def reuse_count(ctx: Context, p: Any) -> None:
    """Anyone: the counts are of published reuses, for the datasets the caller may see."""
