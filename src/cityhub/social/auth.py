"""Authorization of the activity-stream, following and notification actions (one function per action, of the same
name). Streams are public: what each caller sees of them is decided row by row by the catalog's visibility rule
(``catalog/visibility.py``) in the actions. Following, dashboards and notifications are the signed-in caller's own;
the list of a dataset's followers is for platform admins only (CKAN: ``dataset_follower_list`` is sysadmin-only)."""

from __future__ import annotations

from typing import Any

from cityhub.context import Context
from cityhub.errors import NotAuthenticated, NotAuthorized


def _signed_in(ctx: Context) -> None:
    if ctx.actor is None:
        raise NotAuthenticated("请先登录", "Sign-in required")


def _admin(ctx: Context, what: str = "查看关注者名单", what_en: str = "list followers") -> None:
    _signed_in(ctx)
    assert ctx.actor is not None
    if not ctx.actor.is_admin:
        raise NotAuthorized(f"仅平台管理员可{what}", f"Only platform admins may {what_en}")


def _anyone(ctx: Context, p: Any) -> None:
    return None


def package_activity_list(ctx: Context, p: Any) -> None:
    return None  # the dataset rule is applied in the action (not found when the caller may not see it)


def organization_activity_list(ctx: Context, p: Any) -> None:
    return None


def recently_changed_packages_activity_list(ctx: Context, p: Any) -> None:
    return None


def user_activity_list(ctx: Context, p: Any) -> None:
    return None  # a user's public activity: each row under the dataset rule


def activity_show(ctx: Context, p: Any) -> None:
    return None


def activity_feed(ctx: Context, p: Any) -> None:
    return None


def dashboard_activity_list(ctx: Context, p: Any) -> None:
    _signed_in(ctx)


def dashboard_new_activities_count(ctx: Context, p: Any) -> None:
    _signed_in(ctx)


def dashboard_mark_activities_old(ctx: Context, p: Any) -> None:
    _signed_in(ctx)


def follow_dataset(ctx: Context, p: Any) -> None:
    _signed_in(ctx)


def unfollow_dataset(ctx: Context, p: Any) -> None:
    _signed_in(ctx)


def follow_group(ctx: Context, p: Any) -> None:
    _signed_in(ctx)


def unfollow_group(ctx: Context, p: Any) -> None:
    _signed_in(ctx)


def am_following_dataset(ctx: Context, p: Any) -> None:
    _signed_in(ctx)


def am_following_group(ctx: Context, p: Any) -> None:
    _signed_in(ctx)


def dataset_follower_count(ctx: Context, p: Any) -> None:
    return None


def group_follower_count(ctx: Context, p: Any) -> None:
    return None


def dataset_follower_list(ctx: Context, p: Any) -> None:
    _admin(ctx)


def followee_list(ctx: Context, p: Any) -> None:
    _signed_in(ctx)
    assert ctx.actor is not None
    if p.id not in (None, "", ctx.actor.name, str(ctx.actor.id)) and not ctx.actor.is_admin:
        raise NotAuthorized("只能查看自己关注的对象", "You may only list what you follow yourself")


def follow_create(ctx: Context, p: Any) -> None:
    _signed_in(ctx)


def follow_delete(ctx: Context, p: Any) -> None:
    _signed_in(ctx)


def follow_list(ctx: Context, p: Any) -> None:
    _signed_in(ctx)


def notification_list(ctx: Context, p: Any) -> None:
    _signed_in(ctx)


def notification_count(ctx: Context, p: Any) -> None:
    _signed_in(ctx)


def notification_mark_read(ctx: Context, p: Any) -> None:
    _signed_in(ctx)


def notification_preference_update(ctx: Context, p: Any) -> None:
    _signed_in(ctx)


def notification_preference_show(ctx: Context, p: Any) -> None:
    _signed_in(ctx)


def notification_email_send(ctx: Context, p: Any) -> None:
    _admin(ctx, "发送通知邮件", "send notification e-mails")
