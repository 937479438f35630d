"""Authorization of the discussion actions. A discussion lives on a dataset and is seen by exactly those who may
see the dataset (``catalog.visibility.can_see``: others get "not found", never a hint it exists). Within it a
post is shown by its state: ``visible`` to all of them, ``held`` to its author and the moderators, ``hidden``
to the moderators only. Moderators: platform admins and the stewards (and department admins) of the dataset's
department (``Actor.manages``)."""

from __future__ import annotations

from typing import Any

from cityhub.catalog import visibility
from cityhub.catalog.auth import find_dataset
from cityhub.catalog.models import Dataset
from cityhub.context import Context
from cityhub.engage.discuss_models import DiscussionPost
from cityhub.errors import NotAuthenticated, NotAuthorized, NotFound


def dataset(ctx: Context, ref: str) -> Dataset:
    """The dataset, or "not found" for a caller who may not see it."""
    ds = find_dataset(ctx, ref)
    if not visibility.can_see(ctx.actor, ds):
        raise visibility.not_found(ref)
    return ds


def moderates(ctx: Context, department_id: int | None) -> bool:
    return ctx.actor is not None and ctx.actor.manages(department_id)


def may_see_post(ctx: Context, post: DiscussionPost) -> bool:
    if post.status == "visible" or moderates(ctx, post.department_id):
        return True
    return post.status == "held" and ctx.actor is not None and post.author_id == ctx.actor.id


def post_not_found(pid: int) -> NotFound:
    return NotFound(f"未找到讨论帖 {pid}", f"Discussion post not found: {pid}")


def post(ctx: Context, pid: int) -> DiscussionPost:
    """The post with its dataset's visibility and its own state applied ("not found" otherwise)."""
    key = f"discussion_post:{pid}"
    cached = ctx.extra.get(key)
    if isinstance(cached, DiscussionPost):
        return cached
    found = ctx.db.get(DiscussionPost, pid)
    if found is None:
        raise post_not_found(pid)
    ds = ctx.db.get(Dataset, found.dataset_id)
    if ds is None or ds.state != "active" or not visibility.can_see(ctx.actor, ds) or not may_see_post(ctx, found):
        raise post_not_found(pid)
    ctx.extra[key] = found
    return found


def _signed_in(ctx: Context) -> None:
    if ctx.actor is None:
        raise NotAuthenticated("请先登录", "Sign-in required")


def _moderator(ctx: Context, pid: int) -> None:
    found = post(ctx, pid)
    if not moderates(ctx, found.department_id):
        raise NotAuthorized("仅平台管理员和该数据资源所属部门的数据专员可管理讨论",
                            "Only platform admins and the dataset's department stewards moderate its discussion")


def discussion_post_create(ctx: Context, p: Any) -> None:
    _signed_in(ctx)
    dataset(ctx, p.dataset)
    if p.parent_id is not None:
        post(ctx, p.parent_id)


def _author_or_moderator(ctx: Context, pid: int) -> None:
    _signed_in(ctx)
    assert ctx.actor is not None
    found = post(ctx, pid)
    if moderates(ctx, found.department_id) or (found.author_id is not None and found.author_id == ctx.actor.id):
        return
    raise NotAuthorized("只有帖子作者或该数据资源所属部门的数据专员可以编辑或删除此帖",
                        "Only the post's author and the dataset's department stewards may edit or delete it")


def discussion_post_update(ctx: Context, p: Any) -> None:
    _author_or_moderator(ctx, p.id)


def discussion_post_delete(ctx: Context, p: Any) -> None:
    _author_or_moderator(ctx, p.id)


def discussion_post_report(ctx: Context, p: Any) -> None:
    _signed_in(ctx)
    post(ctx, p.id)


def discussion_post_hide(ctx: Context, p: Any) -> None:
    _moderator(ctx, p.id)


def discussion_thread_lock(ctx: Context, p: Any) -> None:
    _moderator(ctx, p.id)


def discussion_post_correction(ctx: Context, p: Any) -> None:
    _moderator(ctx, p.id)


def discussion_post_show(ctx: Context, p: Any) -> None:
    post(ctx, p.id)


def discussion_list(ctx: Context, p: Any) -> None:
    dataset(ctx, p.dataset)


def discussion_queue(ctx: Context, p: Any) -> None:
    """Moderators only (the gate lets managers through; the queue holds their departments' posts)."""
    _signed_in(ctx)
