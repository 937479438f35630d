"""Abuse limits of public posting (discussion posts, their edits and reuse submissions together): so many per minute and per
day per account and per client address, counted over the rows already stored in a sliding window — the way
sign-in attempts are throttled (``accounts.actions._address_throttled``). A refusal is ``TooManyRequests`` (429,
``Retry-After``); the action runner audits it as a failed write, and nothing accepted before it is touched."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import case, func, select

from cityhub.context import Context
from cityhub.db import utcnow
from cityhub.engage.discuss_models import DiscussionPost, DiscussionRevision
from cityhub.engage.reuse_models import Reuse
from cityhub.errors import TooManyRequests
from cityhub.settings import get_settings


def _counts(ctx: Context, model: Any, who: Any, value: Any, minute: dt.datetime, day: dt.datetime,
            *also: Any) -> tuple[int, int]:
    row = ctx.db.execute(select(func.count(), func.coalesce(func.sum(case((model.created_at > minute, 1), else_=0)),
                                                            0))
                         .where(who == value, model.created_at > day, *also)).one()
    return int(row[1] or 0), int(row[0] or 0)


def _edits(ctx: Context, who: Any, value: Any, minute: dt.datetime, day: dt.datetime) -> tuple[int, int]:
    """Edits of posts (an edit is a post written again: the same limits hold for it)."""
    return _counts(ctx, DiscussionRevision, who, value, minute, day, DiscussionRevision.change == "edit")


def check(ctx: Context) -> None:
    """Refuse the caller's next post when their account or their address is over a limit (the local operator,
    who is not a web client, is never limited)."""
    actor = ctx.actor
    if actor is None or actor.id <= 0:
        return
    s = get_settings()
    now = utcnow()
    minute, day = now - dt.timedelta(minutes=1), now - dt.timedelta(days=1)
    p_min, p_day = _counts(ctx, DiscussionPost, DiscussionPost.author_id, actor.id, minute, day)
    r_min, r_day = _counts(ctx, Reuse, Reuse.submitter_id, actor.id, minute, day)
    e_min, e_day = _edits(ctx, DiscussionRevision.editor_id, actor.id, minute, day)
    p_min, p_day = p_min + e_min, p_day + e_day
    if p_min + r_min >= s.discussion_posts_per_minute:
        raise TooManyRequests(f"发帖过于频繁:每分钟最多{s.discussion_posts_per_minute}条,请稍后再试",
                              f"Too many posts: at most {s.discussion_posts_per_minute} a minute; try again shortly",
                              retry_after=60)
    if p_day + r_day >= s.discussion_posts_per_day:
        raise TooManyRequests(f"今日发帖已达上限({s.discussion_posts_per_day}条),请明天再试",
                              f"Daily limit of {s.discussion_posts_per_day} posts reached; try again tomorrow",
                              retry_after=3600)
    if ctx.source in ("", "-", "local"):
        return
    a_min, a_day = _counts(ctx, DiscussionPost, DiscussionPost.source, ctx.source, minute, day)
    b_min, b_day = _counts(ctx, Reuse, Reuse.source, ctx.source, minute, day)
    c_min, c_day = _edits(ctx, DiscussionRevision.source, ctx.source, minute, day)
    a_min, a_day = a_min + c_min, a_day + c_day
    if a_min + b_min >= s.discussion_address_posts_per_minute:
        raise TooManyRequests("来自该地址的发帖过于频繁,请稍后再试",
                              "Too many posts from this address; try again shortly", retry_after=60)
    if a_day + b_day >= s.discussion_address_posts_per_day:
        raise TooManyRequests("来自该地址的发帖今日已达上限,请明天再试",
                              "Daily limit of posts from this address reached; try again tomorrow", retry_after=3600)
