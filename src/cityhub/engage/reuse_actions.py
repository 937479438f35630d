"""Reuses (成果展示, issue 15): the public submits an app, article, visualisation or research built on datasets —
title, description (Markdown, stored with its sanitised rendering: ``stored_html``), link, type, an image (PNG/JPEG/WebP checked by its bytes,
metadata dropped: ``reuse_image``) and the datasets; the data office reviews (pending → published / rejected);
published reuses show on their datasets' pages and on the showcase, and are counted per dataset. Each publication
is an activity of each of its datasets (``social.activity.record``)."""

from __future__ import annotations

import io
from typing import Any

from sqlalchemy import func, select

from cityhub.actions import ADMINS, SIGNED_IN, action
from cityhub.catalog import visibility
from cityhub.catalog.models import Dataset
from cityhub.context import Context
from cityhub.db import utcnow
from cityhub.engage import discuss_auth, discuss_limits
from cityhub.engage import reuse_auth as auth
from cityhub.engage import reuse_image as imagecheck
from cityhub.engage import reuse_schemas as s
from cityhub.engage.discuss_actions import dataset_uuid
from cityhub.engage.reuse_models import Reuse, ReuseDataset
from cityhub.engage.stored_html import html_of
from cityhub.errors import NotFound, ValidationError
from cityhub.markup import render
from cityhub.settings import get_settings
from cityhub.social import activity
from cityhub.storage import get_storage

STATUS_LABELS = {"pending": ("待审核", "Pending review"), "published": ("已发布", "Published"),
                 "rejected": ("未通过", "Rejected")}
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}


def _visible_datasets(ctx: Context, reuse_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Each reuse's datasets the caller may see (one query)."""
    out: dict[int, list[dict[str, Any]]] = {rid: [] for rid in reuse_ids}
    if not reuse_ids:
        return out
    rows = ctx.db.execute(select(ReuseDataset.reuse_id, Dataset).join(Dataset, Dataset.id == ReuseDataset.dataset_id)
                          .where(ReuseDataset.reuse_id.in_(reuse_ids), Dataset.state == "active")
                          .order_by(ReuseDataset.reuse_id, Dataset.name))
    for rid, ds in rows:
        if visibility.can_see(ctx.actor, ds):
            out[rid].append({"name": ds.name, "title": ds.title})
    return out


def reuse_dict(r: Reuse, datasets: list[dict[str, Any]], full: bool, ctx: Context | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": r.id, "title": r.title, "description": r.description,
        "description_html": html_of(ctx, r, "description", "description_html"), "url": r.url, "type": r.type,
        "type_label": list(s.TYPE_LABELS[r.type]), "image_url": f"/showcase/{r.id}/image" if r.image_key else None,
        "status": r.status, "status_label": list(STATUS_LABELS[r.status]), "submitter": r.submitter,
        "created_at": r.created_at.isoformat(), "datasets": datasets,
    }
    if full:
        out.update(review_comment=r.review_comment, reviewed_by=r.reviewed_by,
                   reviewed_at=r.reviewed_at.isoformat() if r.reviewed_at else None)
    return out


def _store_image(ctx: Context, r: Reuse, upload: Any) -> None:
    limit = get_settings().reuse_image_max_kb * 1024
    data = upload.stream.read(limit + 1)
    try:
        cleaned, media_type = imagecheck.clean(data, limit)
    except imagecheck.BadImage as exc:
        raise ValidationError(exc.args[0], exc.args[1], fields={"image": [exc.args[1]]},
                              fields_zh={"image": [exc.args[0]]}) from None
    key = f"reuses/{r.id}/image.{EXTENSIONS[media_type]}"
    storage = get_storage()
    storage.put(key, io.BytesIO(cleaned), limit)
    ctx.extra.setdefault("on_rollback", []).append(lambda: storage.delete(key))
    r.image_key, r.image_type = key, media_type


@action(auth.reuse_create, schema=s.ReuseCreate, write=True, roles=SIGNED_IN,
        target=lambda p, r: f"reuse:{r['id']}" if r else "-")
def reuse_create(ctx: Context, p: s.ReuseCreate) -> dict[str, Any]:
    """Submit a reuse of datasets (1-20 the caller may see) for the data office's review: title, description
    (Markdown), an http(s) link, the type, and optionally an image (PNG, JPEG or WebP, checked by its bytes; its
    metadata is dropped). Limited per account and address with discussion posts (429 beyond)."""
    assert ctx.actor is not None
    found = auth.datasets(ctx, p.datasets)
    discuss_limits.check(ctx)
    r = Reuse(title=p.title, description=p.description, description_html=render(p.description), url=p.url, type=p.type, image_key="", image_type="",
              status="pending", review_comment="", reviewed_by="", submitter_id=ctx.actor.id,
              submitter=ctx.actor.name, source=ctx.source[:64], created_at=utcnow())
    ctx.db.add(r)
    ctx.db.flush()
    for ds in found:
        ctx.db.add(ReuseDataset(reuse_id=r.id, dataset_id=ds.id, status="pending"))
    if p.image is not None:
        _store_image(ctx, r, p.image)
    ctx.extra["audit_detail"] = {"datasets": [d.name for d in found], "type": p.type, "image": bool(r.image_key)}
    return reuse_dict(r, [{"name": d.name, "title": d.title} for d in found], True, ctx)


@action(auth.reuse_review, schema=s.ReuseReview, write=True, roles=ADMINS, target=lambda p, r: f"reuse:{p.id}")
def reuse_review(ctx: Context, p: s.ReuseReview) -> dict[str, Any]:
    """The data office publishes or rejects a reuse (a published one can be withdrawn by rejecting it). Audited;
    a publication is an activity of each of its datasets."""
    r = auth.reuse(ctx, p.id)
    before = r.status
    r.status, r.review_comment, r.reviewed_by, r.reviewed_at = p.decision, p.comment, ctx.actor_name, utcnow()
    links = list(ctx.db.scalars(select(ReuseDataset).where(ReuseDataset.reuse_id == r.id)))
    for link in links:
        link.status = p.decision
    if p.decision == "published" and before != "published":
        for link in links:
            ds = ctx.db.get(Dataset, link.dataset_id)
            if ds is None:
                continue
            activity.record(ctx, "new reuse", "dataset", dataset_uuid(ds),
                            data={"reuse_id": r.id, "title": r.title, "type": r.type, "link": r.url,
                                  "url": f"/showcase?dataset={ds.name}", "dataset": ds.name},
                            dataset_id=ds.id, department_id=ds.department_id, public=visibility.open_to_public(ds))
    ctx.extra["audit_detail"] = {"from": before, "to": p.decision, "comment": p.comment[:200]}
    return reuse_dict(r, _visible_datasets(ctx, [r.id])[r.id], True, ctx)


@action(auth.reuse_list, schema=s.ReuseList)
def reuse_list(ctx: Context, p: s.ReuseList) -> dict[str, Any]:
    """Reuses, newest first: published ones (anyone), pending or rejected ones (the data office); filtered by type
    and by a dataset (one the caller may see). ``count``: how many match (on a dataset: its reuse count)."""
    q = select(Reuse).where(Reuse.status == p.status)
    count_q = select(func.count()).select_from(Reuse).where(Reuse.status == p.status)
    if p.dataset:
        ds = discuss_auth.dataset(ctx, p.dataset)
        linked = select(ReuseDataset.reuse_id).where(ReuseDataset.dataset_id == ds.id,
                                                      ReuseDataset.status == p.status)
        q, count_q = q.where(Reuse.id.in_(linked)), count_q.where(Reuse.id.in_(linked))
    if p.type:
        q, count_q = q.where(Reuse.type == p.type), count_q.where(Reuse.type == p.type)
    rows = list(ctx.db.scalars(q.order_by(Reuse.id.desc()).limit(p.limit).offset(p.offset)))
    datasets = _visible_datasets(ctx, [r.id for r in rows])
    full = auth.data_office(ctx)
    return {"count": ctx.db.scalar(count_q) or 0, "limit": p.limit, "offset": p.offset,
            "results": [reuse_dict(r, datasets[r.id], full, ctx) for r in rows]}


@action(auth.reuse_show, schema=s.ReuseRef)
def reuse_show(ctx: Context, p: s.ReuseRef) -> dict[str, Any]:
    """One reuse (published; pending or rejected: its submitter and the data office)."""
    r = auth.reuse(ctx, p.id)
    return reuse_dict(r, _visible_datasets(ctx, [r.id])[r.id],
                      auth.data_office(ctx) or (ctx.actor is not None and ctx.actor.id == r.submitter_id), ctx)


@action(auth.reuse_image, schema=s.ReuseRef)
def reuse_image(ctx: Context, p: s.ReuseRef) -> dict[str, Any]:
    """Where a reuse's image is (path and media type) for the web layer to send."""
    r = auth.reuse(ctx, p.id)
    if not r.image_key:
        raise NotFound("该成果没有图片", "This reuse has no image")
    return {"path": str(get_storage().path(r.image_key)), "media_type": r.image_type}


@action(auth.reuse_count, schema=s.ReuseCount)
def reuse_count(ctx: Context, p: s.ReuseCount) -> dict[str, int]:
    """Published reuses per dataset (for a catalog list): ``{name: count}`` for the named datasets the caller may
    see (one grouped query)."""
    if not p.datasets:
        return {}
    rows = ctx.db.execute(select(Dataset, func.count(ReuseDataset.reuse_id))
                          .outerjoin(ReuseDataset, (ReuseDataset.dataset_id == Dataset.id)
                                     & (ReuseDataset.status == "published"))
                          .where(Dataset.name.in_(p.datasets), Dataset.state == "active").group_by(Dataset.id))
    return {ds.name: int(n) for ds, n in rows if visibility.can_see(ctx.actor, ds)}
