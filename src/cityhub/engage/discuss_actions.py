"""Discussions on datasets (issue 15): questions and error reports, threaded by replies, Markdown stored as
written with its sanitised rendering (``cityhub.markup``, rendered whenever the body is written: pages and the API
show the stored HTML, ``stored_html``); authors edit and delete their own posts (a deleted post with replies stays
as a placeholder keeping its thread), moderators too; readers report posts; moderators hide / show posts and
lock / unlock threads (every one of those an audited write); a new public account's first posts are held for a
moderator; posting is rate-limited per account and address (``discuss_limits``); the steward turns an error
report into a correction ticket (``sharing.corrections``). Each post shown to the public is an activity of its
dataset (``social.activity.record``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, func, or_, select

from cityhub import actions
from cityhub.actions import MANAGERS, SIGNED_IN, action
from cityhub.catalog import visibility
from cityhub.catalog.models import Dataset, Resource
from cityhub.context import Context
from cityhub.db import utcnow
from cityhub.engage import discuss_auth as auth
from cityhub.engage import discuss_limits
from cityhub.engage import discuss_schemas as s
from cityhub.engage.discuss_models import DiscussionPost, DiscussionReport, DiscussionRevision
from cityhub.engage.stored_html import html_of
from cityhub.errors import Conflict, ValidationError
from cityhub.interop.ckan_map import package_id
from cityhub.markup import render
from cityhub.settings import get_settings
from cityhub.social import activity
from cityhub.social.models import Activity

GOVERNMENT_ROLES = ("platform_admin", "dept_admin", "steward", "analyst")
KIND_LABELS = {"question": ("提问", "Question"), "error_report": ("纠错", "Error report"), "reply": ("回复", "Reply")}
STATUS_LABELS = {"visible": ("已发布", "Published"), "held": ("待审核", "Awaiting moderation"),
                 "hidden": ("已隐藏", "Hidden"), "deleted": ("已删除", "Deleted")}
DELETED_LABEL = ("此帖已删除", "This post was deleted")
MAX_REPLIES = 1000  # replies fetched for one page of threads (a bound, not a product limit)


def dataset_uuid(ds: Dataset) -> str:
    """The dataset's CKAN package id (a UUID), the id activity streams use for it."""
    return package_id(ds.id, ds.created_at.isoformat())


def post_dict(ctx: Context, p: DiscussionPost, moderator: bool) -> dict[str, Any]:
    """A post as the caller may see it: ``body`` (the Markdown) and ``body_html`` (its stored sanitised rendering)
    empty when they may not; a deleted post is a placeholder (``deleted``, ``deleted_label``), its text kept for
    the moderators' Markdown only."""
    shown = p.status == "visible" or moderator or (ctx.actor is not None and p.author_id == ctx.actor.id)
    deleted = p.deleted_at is not None
    out: dict[str, Any] = {
        "id": p.id, "thread_id": p.thread_id, "parent_id": p.parent_id, "kind": p.kind,
        "kind_label": list(KIND_LABELS[p.kind]), "title": p.title if not deleted or moderator else "",
        "body": p.body if shown and (not deleted or moderator) else "",
        "body_html": html_of(ctx, p, "body", "body_html") if shown and not deleted else "",
        "author": p.author, "mine": ctx.actor is not None and p.author_id == ctx.actor.id, "status": p.status,
        "status_label": list(STATUS_LABELS[p.status]), "deleted": deleted,
        "locked": p.locked, "correction_id": p.correction_id, "created_at": p.created_at.isoformat(),
        "edited_at": p.edited_at.isoformat() if p.edited_at else None,
    }
    if deleted:
        out["deleted_label"] = list(DELETED_LABEL)
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
        if parent.status == "deleted":
            raise Conflict("该帖已删除,不能回复", "That post was deleted: it takes no replies",
                           fields={"parent_id": ["deleted"]})
        root = ctx.db.get(DiscussionPost, parent.thread_id) if parent.thread_id else parent
        if root is not None and root.locked:
            raise Conflict("该讨论已锁定,不能回复", "This thread is locked: no more replies",
                           fields={"parent_id": ["thread locked"]})
    discuss_limits.check(ctx)
    held = _held(ctx, ds)
    now = utcnow()
    post = DiscussionPost(dataset_id=ds.id, department_id=ds.department_id, parent_id=p.parent_id,
                          thread_id=parent.thread_id if parent is not None else None, kind=p.kind,
                          title=p.title if parent is None else "", body=p.body, body_html=render(p.body),
                          author_id=ctx.actor.id,
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


def _thread_root(ctx: Context, post: DiscussionPost) -> DiscussionPost:
    if post.thread_id is None or post.thread_id == post.id:
        return post
    return ctx.db.get(DiscussionPost, post.thread_id) or post


def _revision(ctx: Context, post: DiscussionPost, change: str) -> None:
    """Keep what the post said before an edit or a deletion (its history; edits count against the limits)."""
    assert ctx.actor is not None
    ctx.db.add(DiscussionRevision(post_id=post.id, change=change, title=post.title, body=post.body,
                                  editor_id=ctx.actor.id, editor=ctx.actor.name, source=ctx.source[:64],
                                  created_at=utcnow()))


@action(auth.discussion_post_update, schema=s.PostUpdate, write=True, roles=SIGNED_IN,
        target=lambda p, r: f"discussion_post:{p.id}")
def discussion_post_update(ctx: Context, p: s.PostUpdate) -> dict[str, Any]:
    """Edit a post's body (and a thread opener's title): its author or the dataset's moderators. The new text is
    rendered and sanitised as it is stored; the text it replaces is kept (``discussion_revision``). A locked
    thread's posts and a deleted post are not edited (409); edits count against the posting limits (429); a new
    public account's edited post waits for a moderator again, as its posts do (``held``). Audited."""
    post = auth.post(ctx, p.id)
    assert ctx.actor is not None
    if post.deleted_at is not None:
        raise Conflict("该帖已删除,不能编辑", "That post was deleted: it can no longer be edited",
                       fields={"id": ["deleted"]})
    if _thread_root(ctx, post).locked:
        raise Conflict("该讨论已锁定,不能编辑", "This thread is locked: its posts can no longer be edited",
                       fields={"id": ["thread locked"]})
    opener = post.thread_id == post.id
    if p.title is not None and not opener:
        raise ValidationError("只有讨论首帖有标题", "Only a thread's first post has a title",
                              fields={"title": ["a reply has no title"]}, fields_zh={"title": ["回复没有标题"]})
    if p.title is not None and not p.title:
        raise ValidationError("讨论需要标题", "A thread needs a title", fields={"title": ["empty"]},
                              fields_zh={"title": ["标题为空"]})
    title = p.title if p.title is not None else post.title
    ds = ctx.db.get(Dataset, post.dataset_id)
    assert ds is not None
    changed = p.body != post.body or title != post.title
    held = False
    if changed:
        discuss_limits.check(ctx)
        _revision(ctx, post, "edit")
        now = utcnow()
        post.body, post.body_html, post.title = p.body, render(p.body), title
        post.edited_at = post.updated_at = now
        held = post.author_id == ctx.actor.id and post.status == "visible" and _held(ctx, ds)
        if held:
            post.status = "held"
    ctx.extra["audit_detail"] = {"dataset": ds.name, "changed": changed, "status": post.status, "held_again": held,
                                 "by": "author" if post.author_id == ctx.actor.id else "moderator"}
    return {**post_dict(ctx, post, auth.moderates(ctx, post.department_id)), "dataset": ds.name}


def _has_replies(ctx: Context, post: DiscussionPost) -> bool:
    """Whether anything not deleted still hangs on the post (a thread opener: anything in its thread)."""
    alive = DiscussionPost.status != "deleted"
    under: Any
    if post.thread_id == post.id:
        under = (DiscussionPost.thread_id == post.id) & (DiscussionPost.id != post.id)
    else:
        under = DiscussionPost.parent_id == post.id
    return bool(ctx.db.scalar(select(exists().where(under, alive))))


def _forget_title(ctx: Context, post: DiscussionPost) -> None:
    """The dataset's activity stream said "new discussion post" with the thread's title: a deleted post's title is
    no longer quoted there (the activity stays, as a record that something was posted)."""
    if not post.title:
        return
    for row in ctx.db.scalars(select(Activity).where(Activity.dataset_id == post.dataset_id,
                                                     Activity.activity_type == "new discussion post")):
        if isinstance(row.data, dict) and row.data.get("post_id") == post.id:
            row.data = {**row.data, "title": f"#{post.id}", "deleted": True}


@action(auth.discussion_post_delete, schema=s.PostRef, write=True, roles=SIGNED_IN,
        target=lambda p, r: f"discussion_post:{p.id}")
def discussion_post_delete(ctx: Context, p: s.PostRef) -> dict[str, Any]:
    """Delete a post: its author or the dataset's moderators. A post with replies stays in its thread as "此帖已删除 /
    This post was deleted" (its title and text no longer shown); one without replies is gone from the discussion
    (``deleted``), and so is a deleted post above it left with nothing under it. What it said is kept for the
    moderators (``discussion_revision``). Audited."""
    post = auth.post(ctx, p.id)
    if post.deleted_at is not None:
        raise Conflict("该帖已删除", "That post is already deleted", fields={"id": ["deleted"]})
    _revision(ctx, post, "delete")
    now = utcnow()
    post.deleted_at = post.updated_at = now
    removed = [post.id]
    ctx.db.flush()
    current: DiscussionPost | None = post
    while current is not None and current.deleted_at is not None and current.status != "deleted" \
            and not _has_replies(ctx, current):
        current.status = "deleted"
        if current.id != post.id:
            removed.append(current.id)
        ctx.db.flush()
        current = ctx.db.get(DiscussionPost, current.parent_id) if current.parent_id else None
    _forget_title(ctx, post)
    ds = ctx.db.get(Dataset, post.dataset_id)
    assert ctx.actor is not None
    ctx.extra["audit_detail"] = {"dataset": ds.name if ds else None, "placeholder": post.status != "deleted",
                                 "removed": removed, "by": "author" if post.author_id == ctx.actor.id else "moderator"}
    return {**post_dict(ctx, post, auth.moderates(ctx, post.department_id)), "dataset": ds.name if ds else None}


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
    q = (select(DiscussionPost, Dataset.name, Dataset.title).join(Dataset, Dataset.id == DiscussionPost.dataset_id)
         .where(DiscussionPost.deleted_at.is_(None)))  # a deleted post is nothing left to moderate
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

