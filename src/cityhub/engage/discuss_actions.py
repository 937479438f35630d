"""Discussions on datasets (issue 15): questions and error reports, threaded by replies, Markdown stored as
written and sanitised when shown (``web/markdown.py``); readers report posts; moderators hide / show posts and
lock / unlock threads (every one of those an audited write); a new public account's first posts are held for a
moderator; posting is rate-limited per account and address (``discuss_limits``); the steward turns an error
report into a correction ticket (``sharing.corrections``). Each post shown to the public is an activity of its
dataset (``social.activity.record``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select

from cityhub import actions
from cityhub.actions import MANAGERS, SIGNED_IN, action
from cityhub.catalog import visibility
from cityhub.catalog.models import Dataset, Resource
from cityhub.context import Context
from cityhub.db import utcnow
from cityhub.engage import discuss_auth as auth
from cityhub.engage import discuss_limits
from cityhub.engage import discuss_schemas as s
from cityhub.engage.discuss_models import DiscussionPost, DiscussionReport
from cityhub.errors import Conflict, ValidationError
from cityhub.interop.ckan_map import package_id
from cityhub.settings import get_settings
from cityhub.social import activity

GOVERNMENT_ROLES = ("platform_admin", "dept_admin", "steward", "analyst")
KIND_LABELS = {"question": ("提问", "Question"), "error_report": ("纠错", "Error report"), "reply": ("回复", "Reply")}
STATUS_LABELS = {"visible": ("已发布", "Published"), "held": ("待审核", "Awaiting moderation"),
                 "hidden": ("已隐藏", "Hidden")}
MAX_REPLIES = 1000  # replies fetched for one page of threads (a bound, not a product limit)


def dataset_uuid(ds: Dataset) -> str:
    """The dataset's CKAN package id (a UUID), the id activity streams use for it."""
    return package_id(ds.id, ds.created_at.isoformat())


def post_dict(ctx: Context, p: DiscussionPost, moderator: bool) -> dict[str, Any]:
    shown = p.status == "visible" or moderator or (ctx.actor is not None and p.author_id == ctx.actor.id)
    out: dict[str, Any] = {
        "id": p.id, "thread_id": p.thread_id, "parent_id": p.parent_id, "kind": p.kind,
        "kind_label": list(KIND_LABELS[p.kind]), "title": p.title, "body": p.body if shown else "",
        "author": p.author, "status": p.status, "status_label": list(STATUS_LABELS[p.status]),
        "locked": p.locked, "correction_id": p.correction_id, "created_at": p.created_at.isoformat(),
    }
    if moderator:
        out.update(report_count=p.report_count, moderated_by=p.moderated_by, moderation_note=p.moderation_note,
                   source=p.source)
    return out


def _published(ctx: Context, p: DiscussionPost, ds: Dataset) -> None:
    """A post becomes visible to the public for the first time: count it and tell the followers."""
    p.approved = True
    activity.record(ctx, "new discussion post", "dataset", dataset_uuid(ds),
                    data={"post_id": p.id, "thread_id": p.thread_id, "kind": p.kind, "title": p.title,
                          "dataset": ds.name, "author": p.author,
                          "url": f"/dataset/{ds.name}/discussion?thread={p.thread_id or p.id}"},
                    dataset_id=ds.id, department_id=ds.department_id, public=visibility.open_to_public(ds))


def _held(ctx: Context, ds: Dataset) -> bool:
    """A public account's posts are held until ``discussion_held_first_posts`` of them have been approved;
    government users and the dataset's moderators post straight away."""
    actor = ctx.actor
    assert actor is not None
    if actor.role in GOVERNMENT_ROLES or actor.manages(ds.department_id):
        return False
    needed = get_settings().discussion_held_first_posts
    if needed <= 0:
        return False
    approved = ctx.db.scalar(select(func.count()).select_from(DiscussionPost).where(
        DiscussionPost.author_id == actor.id, DiscussionPost.approved.is_(True))) or 0
    return approved < needed


@action(auth.discussion_post_create, schema=s.PostCreate, write=True, roles=SIGNED_IN,
        target=lambda p, r: f"discussion_post:{r['id']}" if r else p.dataset)
def discussion_post_create(ctx: Context, p: s.PostCreate) -> dict[str, Any]:
    """Post on a dataset's discussion: a ``question`` or an ``error_report`` opens a thread (with a title), a
    ``reply`` answers a post of an unlocked thread. The body is Markdown (raw HTML is never rendered). Limited
    per account and address (429 beyond); a new public account's first posts wait for a moderator (``held``)."""
    ds = auth.dataset(ctx, p.dataset)
    assert ctx.actor is not None
    parent: DiscussionPost | None = None
    if p.parent_id is not None:
        parent = auth.post(ctx, p.parent_id)
        if parent.dataset_id != ds.id:
            raise ValidationError("回复的帖子不属于该数据资源", "The post replied to is on another dataset",
                                  fields={"parent_id": ["another dataset's post"]},
                                  fields_zh={"parent_id": ["不属于该数据资源的帖子"]})
        root = ctx.db.get(DiscussionPost, parent.thread_id) if parent.thread_id else parent
        if root is not None and root.locked:
            raise Conflict("该讨论已锁定,不能回复", "This thread is locked: no more replies",
                           fields={"parent_id": ["thread locked"]})
    discuss_limits.check(ctx)
    held = _held(ctx, ds)
    now = utcnow()
    post = DiscussionPost(dataset_id=ds.id, department_id=ds.department_id, parent_id=p.parent_id,
                          thread_id=parent.thread_id if parent is not None else None, kind=p.kind,
                          title=p.title if parent is None else "", body=p.body, author_id=ctx.actor.id,
                          author=ctx.actor.name, source=ctx.source[:64], status="held" if held else "visible",
                          approved=False, locked=False, report_count=0, moderated_by="", moderation_note="",
                          created_at=now, updated_at=now)
    ctx.db.add(post)
    ctx.db.flush()
    if post.thread_id is None:
        post.thread_id = post.id
    if not held:
        _published(ctx, post, ds)
    ctx.extra["audit_detail"] = {"dataset": ds.name, "status": post.status, "kind": post.kind}
    return {**post_dict(ctx, post, auth.moderates(ctx, ds.department_id)), "dataset": ds.name}


@action(auth.discussion_post_report, schema=s.PostReport, write=True, roles=SIGNED_IN,
        target=lambda p, r: f"discussion_post:{p.id}")
def discussion_post_report(ctx: Context, p: s.PostReport) -> dict[str, Any]:
    """Report a post to the moderators (spam, abuse, off topic); once per reader and post."""
    post = auth.post(ctx, p.id)
    assert ctx.actor is not None
    already = ctx.db.scalar(select(DiscussionReport.id).where(DiscussionReport.post_id == post.id,
                                                              DiscussionReport.reporter_id == ctx.actor.id))
    if already is None:
        ctx.db.add(DiscussionReport(post_id=post.id, reporter_id=ctx.actor.id, reporter=ctx.actor.name,
                                    reason=p.reason, created_at=utcnow()))
        post.report_count = post.report_count + 1
    ctx.extra["audit_detail"] = {"reason": p.reason[:200], "repeat": already is not None}
    return {"id": post.id, "reported": True}


@action(auth.discussion_post_hide, schema=s.PostHide, write=True, roles=MANAGERS,
        target=lambda p, r: f"discussion_post:{p.id}")
def discussion_post_hide(ctx: Context, p: s.PostHide) -> dict[str, Any]:
    """Hide a post (``hidden``: true) or show it (false: a held post is published, a hidden one shown again);
    moderators of the dataset only; audited with the moderator's note."""
    post = auth.post(ctx, p.id)
    before = post.status
    post.status = "hidden" if p.hidden else "visible"
    post.moderated_by, post.moderation_note, post.updated_at = ctx.actor_name, p.note, utcnow()
    if post.status == "visible" and not post.approved:
        ds = ctx.db.get(Dataset, post.dataset_id)
        assert ds is not None
        _published(ctx, post, ds)
    ctx.extra["audit_detail"] = {"from": before, "to": post.status, "note": p.note[:200]}
    return post_dict(ctx, post, True)


@action(auth.discussion_thread_lock, schema=s.ThreadLock, write=True, roles=MANAGERS,
        target=lambda p, r: f"discussion_thread:{p.id}")
def discussion_thread_lock(ctx: Context, p: s.ThreadLock) -> dict[str, Any]:
    """Lock a thread (no more replies) or unlock it; ``id`` is the thread's first post. Audited."""
    post = auth.post(ctx, p.id)
    if post.thread_id != post.id:
        raise ValidationError("只能锁定讨论的首帖", "Only a thread's first post locks the thread",
                              fields={"id": ["not a thread"]}, fields_zh={"id": ["不是讨论首帖"]})
    post.locked = p.locked
    post.moderated_by, post.moderation_note, post.updated_at = ctx.actor_name, p.note, utcnow()
    ctx.extra["audit_detail"] = {"locked": p.locked, "note": p.note[:200]}
    return post_dict(ctx, post, True)


@action(auth.discussion_post_show, schema=s.PostRef)
def discussion_post_show(ctx: Context, p: s.PostRef) -> dict[str, Any]:
    """One post (as the caller may see it) with its dataset's name."""
    post = auth.post(ctx, p.id)
    ds = ctx.db.get(Dataset, post.dataset_id)
    return {**post_dict(ctx, post, auth.moderates(ctx, post.department_id)), "dataset": ds.name if ds else None}


def _shown(ctx: Context, moderator: bool) -> Any:
    """The posts the caller sees in a discussion (SQL condition)."""
    if moderator:
        return DiscussionPost.status.in_(("visible", "held", "hidden"))
    if ctx.actor is None:
        return DiscussionPost.status == "visible"
    return or_(DiscussionPost.status == "visible",
               (DiscussionPost.status == "held") & (DiscussionPost.author_id == ctx.actor.id))


@action(auth.discussion_list, schema=s.DiscussionList)
def discussion_list(ctx: Context, p: s.DiscussionList) -> dict[str, Any]:
    """A dataset's discussion, newest thread first: each thread's first post, its ``reply_count`` and its newest
    ``replies`` (in order, each naming the post it answers); ``thread``: one thread only. Held and hidden posts
    only for those who may see them."""
    ds = auth.dataset(ctx, p.dataset)
    moderator = auth.moderates(ctx, ds.department_id)
    shown = _shown(ctx, moderator)
    openers = (DiscussionPost.dataset_id == ds.id) & (DiscussionPost.thread_id == DiscussionPost.id) & shown
    if p.thread is not None:
        openers = openers & (DiscussionPost.id == p.thread)
    count = ctx.db.scalar(select(func.count()).select_from(DiscussionPost).where(openers)) or 0
    heads = list(ctx.db.scalars(select(DiscussionPost).where(openers).order_by(DiscussionPost.id.desc())
                                .limit(p.limit).offset(p.offset)))
    replies: dict[int, list[dict[str, Any]]] = {h.id: [] for h in heads}
    counts: dict[int, int] = {}
    if heads:
        in_threads = ((DiscussionPost.dataset_id == ds.id) & DiscussionPost.thread_id.in_(list(replies))
                      & (DiscussionPost.id != DiscussionPost.thread_id) & shown)
        counts = {int(t or 0): int(n) for t, n in ctx.db.execute(
            select(DiscussionPost.thread_id, func.count()).where(in_threads).group_by(DiscussionPost.thread_id))}
        if p.replies:
            # the newest ``replies`` of each thread: rank within the thread, newest first
            rank = func.row_number().over(partition_by=DiscussionPost.thread_id,
                                          order_by=DiscussionPost.id.desc()).label("rank")
            ranked = select(DiscussionPost.id, rank).where(in_threads).subquery()
            wanted = select(ranked.c.id).where(ranked.c.rank <= p.replies)
            rows = ctx.db.scalars(select(DiscussionPost).where(DiscussionPost.id.in_(wanted))
                                  .order_by(DiscussionPost.id).limit(MAX_REPLIES))
            for r in rows:
                replies[r.thread_id or 0].append(post_dict(ctx, r, moderator))
    threads = [{**post_dict(ctx, h, moderator), "replies": replies[h.id], "reply_count": counts.get(h.id, 0)}
               for h in heads]
    return {"dataset": ds.name, "count": count, "moderator": moderator, "limit": p.limit, "offset": p.offset,
            "threads": threads}


@action(auth.discussion_queue, schema=s.DiscussionQueue, roles=MANAGERS)
def discussion_queue(ctx: Context, p: s.DiscussionQueue) -> list[dict[str, Any]]:
    """The moderation queue: ``pending`` (held posts, oldest first), ``reported`` (shown posts with reports, most
    reported first) or ``hidden``; of the caller's department's datasets (platform admins: all)."""
    assert ctx.actor is not None
    q = select(DiscussionPost, Dataset.name, Dataset.title).join(Dataset, Dataset.id == DiscussionPost.dataset_id)
    if p.status == "pending":
        q = q.where(DiscussionPost.status == "held").order_by(DiscussionPost.id)
    elif p.status == "reported":
        q = q.where(DiscussionPost.status == "visible", DiscussionPost.report_count > 0).order_by(
            DiscussionPost.report_count.desc(), DiscussionPost.id)
    else:
        q = q.where(DiscussionPost.status == "hidden").order_by(DiscussionPost.id.desc())
    if not ctx.actor.is_admin:
        q = q.where(DiscussionPost.department_id == (ctx.actor.department_id or -1))
        if ctx.actor.role not in ("dept_admin", "steward"):
            return []
    return [{**post_dict(ctx, post, True), "dataset": name, "dataset_title": title}
            for post, name, title in ctx.db.execute(q.limit(p.limit))]


@action(auth.discussion_post_correction, schema=s.PostCorrection, write=True, roles=MANAGERS,
        target=lambda p, r: f"discussion_post:{p.id}")
def discussion_post_correction(ctx: Context, p: s.PostCorrection) -> dict[str, Any]:
    """Turn an error report into a correction ticket (校核, ``correction_create``) on one of the dataset's
    resources: the report is the ticket's evidence and links back to the post; the post names the ticket."""
    post = auth.post(ctx, p.id)
    if post.kind != "error_report":
        raise Conflict("只有纠错帖可转为校核工单", "Only an error report becomes a correction ticket",
                       fields={"id": [post.kind]})
    if post.correction_id is not None:
        raise Conflict("该纠错帖已转为校核工单", "This error report already has its correction ticket",
                       fields={"id": [f"correction {post.correction_id}"]})
    ds = ctx.db.get(Dataset, post.dataset_id)
    res = ctx.db.get(Resource, p.resource_id)
    if ds is None or res is None or res.dataset_id != ds.id:
        raise ValidationError("该资源不属于此数据资源", "That resource is not one of this dataset's",
                              fields={"resource_id": ["not this dataset's"]}, fields_zh={"resource_id": ["不属于该数据资源"]})
    link = f"{get_settings().base_url.rstrip('/')}/dataset/{ds.name}#post-{post.id}"
    evidence = f"来自讨论帖 #{post.id}({post.author})/ from discussion post #{post.id}: {link}\n\n{post.body}"
    ticket = actions.call("correction_create", ctx, {
        "resource_id": p.resource_id, "key_column": p.key_column, "key_value": p.key_value, "field": p.field,
        "claimed_value": p.claimed_value, "evidence": evidence[:5000], "evidence_url": link})
    post.correction_id = int(ticket["id"])
    post.moderated_by, post.updated_at = ctx.actor_name, utcnow()
    ctx.extra["audit_detail"] = {"correction": post.correction_id}
    return {"post": post_dict(ctx, post, True), "correction": ticket}

