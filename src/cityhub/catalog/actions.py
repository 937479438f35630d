"""Catalog actions: data resources, resources, change history, search, plans, usage and portal figures."""

from __future__ import annotations

import datetime as dt
import mimetypes
import threading
import uuid
from collections import Counter, OrderedDict
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from cityhub.accounts.actions import department_dict, get_department
from cityhub.accounts.models import Department
from cityhub.actions import ADMINS, MANAGERS, action
from cityhub.actions import call as call_action
from cityhub.catalog import auth, codes, geojson, publication, quality, search, solr, visibility
from cityhub.catalog import schemas as s
from cityhub.catalog.models import (
    Dataset,
    DatasetRevision,
    OpenPlan,
    PlanItem,
    Resource,
    SearchDoc,
    SearchFacet,
    UsageDaily,
)
from cityhub.catalog.vocab import (
    CATALOG_TYPES,
    LICENSES,
    MEDIA_TYPES,
    OPEN_FILE_FORMATS,
    THEME_BY_SLUG,
    THEMES,
    UPDATE_CYCLES,
)
from cityhub.context import Actor, Context
from cityhub.db import is_postgres, today_local, utcnow
from cityhub.errors import Conflict, NotFound, ValidationError
from cityhub.settings import get_settings
from cityhub.storage import get_storage
from cityhub.urls import link_url

TABULAR_FORMATS = frozenset({"CSV", "TSV", "XLSX", "XLS", "JSON", "NDJSON", "JSONL", "PARQUET"})
FIELDS = tuple(s.DatasetFields.model_fields)


# -- representation -------------------------------------------------------------------------------------


def resource_dict(r: Resource) -> dict[str, Any]:
    return resource_fields(r, r.dataset.name, get_settings().base_url.rstrip("/"))


def resource_fields(r: Any, dataset_name: str, base: str) -> dict[str, Any]:
    """``resource_dict`` of anything with a resource's attributes: an ORM object or a Core row."""
    download = r.url if r.url and not r.file_path else f"{base}/dataset/{dataset_name}/resource/{r.id}/download"
    return {
        "id": r.id,
        "dataset_id": r.dataset_id,
        "position": r.position,
        "name": r.name,
        "description": r.description,
        "url": download,
        "source_url": r.url,
        "uploaded": bool(r.file_path),
        "format": r.format,
        "media_type": r.media_type,
        "size": r.size,
        "sha256": r.sha256,
        "created_at": r.created_at.isoformat(),
        "modified_at": r.modified_at.isoformat(),
        "reachable": r.reachable,
        "datastore_active": r.datastore_active,
        # withheld by a blocked or failed load, or one still checking a new file: listed for its department only
        # (``visibility.listed_resources``)
        "withheld": visibility.withheld(r),
        "load_state": r.load_state or None,
    }


def quality_input(ds: Dataset) -> quality.QualityInput:
    return quality.QualityInput(
        license_id=ds.license_id,
        temporal_start=ds.temporal_start,
        districts=list(ds.districts),
        update_cycle=ds.update_cycle,
        cycle_days=UPDATE_CYCLES.get(ds.update_cycle),
        last_update=ds.data_updated_at,
        abstract=ds.abstract,
        resource_formats=[r.format for r in ds.resources],
        resources_reachable=[_reachable(r) for r in ds.resources],
        resource_descriptions=[r.description for r in ds.resources],
        data_items=len(ds.data_items),
        open_formats=OPEN_FILE_FORMATS,
    )


def _reachable(r: Resource) -> bool | None:
    if r.file_path:
        return get_storage().exists(r.file_path)
    return r.reachable


def quality_of(ds: Dataset) -> dict[str, Any]:
    now = utcnow()
    checks = quality.score(quality_input(ds), now)
    fresh = quality.freshness(UPDATE_CYCLES.get(ds.update_cycle), ds.data_updated_at, now)
    return {
        "score": quality.total(checks),
        "criteria": [{"key": k, "label": zh, "label_en": en, "ok": checks[k]} for k, zh, en in quality.CRITERIA],
        "overdue": fresh.overdue,
        "due": fresh.due.isoformat() if fresh.due else None,
        "days_overdue": fresh.days_overdue,
    }


def dataset_dict(ds: Dataset, *, full: bool = True, viewer: Context | None = None) -> dict[str, Any]:
    """The dataset as the API shows it; with ``viewer``, its resources as that caller may list them (resources
    withheld by a failed or blocked load only for their department: ``visibility.listed_resources``)."""
    dept = ds.department
    shown = ds.resources if viewer is None else visibility.listed_resources(viewer.actor, ds, ds.resources)
    out = dataset_fields(ds, dept.slug, dept.name, dept.uscc, [r.format for r in shown])
    if full:
        out.update(_full_fields(ds), resources=[resource_dict(r) for r in shown], quality=quality_of(ds))
    return out


def dataset_fields(ds: Any, dept_slug: str, dept_name: str, dept_uscc: str, formats: list[str]) -> dict[str, Any]:
    """The summary fields of ``dataset_dict`` from anything with a dataset's attributes (an ORM object or a Core
    row), its department's slug, name and credit code and its resources' formats."""
    theme = THEME_BY_SLUG.get(ds.theme, (ds.theme, ds.theme, ds.theme))
    lic = LICENSES.get(ds.license_id, ("", "", ""))
    return {
        "id": ds.id,
        "name": ds.name,
        "title": ds.title,
        "title_en": ds.title_en,
        "code": ds.code,
        "catalog_type": ds.catalog_type,
        "base_category": ds.base_category,
        "class_item": ds.class_item,
        "class_category": ds.class_category,
        "class_sub": ds.class_sub,
        "department": dept_slug,
        "department_name": dept_name,
        "department_uscc": dept_uscc,
        "abstract": ds.abstract,
        "format": ds.format,
        "sharing_class": ds.sharing_class,
        "sharing_condition": ds.sharing_condition,
        "sharing_method": list(ds.sharing_method),
        "sharing_basis": ds.sharing_basis,
        "opening_class": ds.opening_class,
        "opening_condition": ds.opening_condition,
        "update_cycle": ds.update_cycle,
        "published_on": ds.published_on.isoformat() if ds.published_on else None,
        "theme": ds.theme,
        "theme_name": theme[1],
        "theme_name_en": theme[2],
        "tags": list(ds.tags),
        "license_id": ds.license_id,
        "license_title": lic[0],
        "license_url": lic[2],
        "temporal_start": ds.temporal_start.isoformat() if ds.temporal_start else None,
        "temporal_end": ds.temporal_end.isoformat() if ds.temporal_end else None,
        "districts": list(ds.districts),
        "private": ds.private,
        "public": visibility.public(ds),  # the public sees it (not private, not 不予开放): CKAN's ``private``
        "state": ds.state,
        "created_at": ds.created_at.isoformat(),
        "modified_at": ds.modified_at.isoformat(),
        "data_updated_at": ds.data_updated_at.isoformat() if ds.data_updated_at else None,
        "quality_score": ds.quality_score,
        "views": ds.views_total,
        "downloads": ds.downloads_total,
        "api_calls": ds.api_calls_total,
        "resource_formats": sorted({f.upper() for f in formats if f}),
        "extras": dict(ds.extras or {}),
        "harvested": ds.harvest_source_id is not None,
        "origin_url": ds.origin_url,
        "publication": ds.publication,
        "review_comment": ds.review_comment,
        "submitted_by": ds.submitted_by,
        "submitted_at": ds.submitted_at.isoformat() if ds.submitted_at else None,
    }


def _full_fields(ds: Any) -> dict[str, Any]:
    return {"data_items": list(ds.data_items), "related_codes": list(ds.related_codes),
            "contact_name": ds.contact_name, "contact_email": ds.contact_email, "contact_phone": ds.contact_phone}


_RESOURCES_OF = (select(*cast(Table, Resource.__table__).c).where(Resource.dataset_id.in_(bindparam("ids", expanding=True)))
                 .order_by(Resource.dataset_id, Resource.position))


def dataset_records(ctx: Context, rows: list[Any]) -> list[dict[str, Any]]:
    """``dataset_dict(ds, full=True, viewer=ctx)`` without the quality report for Core rows of ``auth.RECORD``:
    two Core statements in all and no ORM objects (the CKAN API's package_show and package_search serialise
    these)."""
    by_dataset: dict[int, list[Any]] = {}
    if rows:
        for r in ctx.db.connection().execute(_RESOURCES_OF, {"ids": [row.id for row in rows]}):
            by_dataset.setdefault(r.dataset_id, []).append(r)
    base = get_settings().base_url.rstrip("/")
    out = []
    for row in rows:
        resources = visibility.listed_resources(ctx.actor, row, by_dataset.get(row.id, []))
        d = dataset_fields(row, row.dept_slug, row.dept_name, row.dept_uscc, [r.format for r in resources])
        d.update(_full_fields(row), resources=[resource_fields(r, row.name, base) for r in resources])
        out.append(d)
    return out


def editable_fields(ds: Dataset) -> dict[str, Any]:
    """The dataset's current metadata in input form (for merging a patch)."""
    d = dataset_dict(ds, full=True)
    out = {k: d[k] for k in FIELDS if k in d}
    out["department"] = ds.department.slug
    out["published_on"] = ds.published_on
    out["temporal_start"] = ds.temporal_start
    out["temporal_end"] = ds.temporal_end
    return out


# -- helpers ----------------------------------------------------------------------------------------------


def _revision(ctx: Context, ds: Dataset, kind: str, changes: dict[str, Any]) -> None:
    ctx.db.add(DatasetRevision(dataset_id=ds.id, ts=utcnow(), actor=ctx.actor_name, action=kind,
                               changes=_jsonable(changes)))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def _next_code(ctx: Context, prefix: str) -> str:
    last = ctx.db.scalar(select(func.max(Dataset.code)).where(Dataset.code.like(prefix + "/%")))
    return codes.make_code(prefix, int(last.split("/")[1]) + 1 if last else 1)


def _code_free(ctx: Context, code: str, prefix: str) -> bool:
    """A catalog code brought along (e.g. in a CityHub dump) is kept when it fits the classification and no
    other data resource holds it."""
    return code.startswith(prefix + "/") and ctx.db.scalar(select(Dataset.id).where(Dataset.code == code)) is None


def _apply(ds: Dataset, fields: s.DatasetFields, dept: Department) -> None:
    data = fields.model_dump(exclude={"department", "code"})
    data["data_items"] = [i.model_dump(exclude_none=True) for i in fields.data_items]
    for key, value in data.items():
        setattr(ds, key, value)
    ds.department_id = dept.id
    ds.department = dept


def refresh(ctx: Context, ds: Dataset) -> None:
    """Recompute the stored quality score and rewrite the search entries of ``ds``."""
    ds.quality_score = quality.total(quality.score(quality_input(ds), utcnow()))
    ctx.db.flush()
    search.index(ctx.db, ds)


def refresh_resources(ctx: Context, datasets: list[Dataset]) -> None:
    """After a change to these datasets' resources only: recompute their quality scores and rewrite their
    format facets (the search text holds no resource fields, so the rest of the index stays as it is)."""
    now = utcnow()
    for ds in datasets:
        ds.quality_score = quality.total(quality.score(quality_input(ds), now))
    ctx.db.flush()
    search.index_formats(ctx.db, datasets)


def _activity(ctx: Context, ds: Dataset, activity_type: str) -> None:
    """Record a CKAN-shaped package activity (``new package`` / ``changed package`` / ``deleted package``; ``data``:
    the package as ``package_show`` gives it at this moment and the actor, as CKAN's ``Activity.activity_stream_item``)
    for the dataset's followers and streams; public when the public may see the dataset now (issue 15)."""
    from cityhub.interop import ckan_map
    from cityhub.social import activity

    ctx.db.flush()
    ctx.db.expire(ds, ["resources"])
    d = dataset_dict(ds, full=True)
    d.pop("quality", None)
    pkg = ckan_map.package(d, get_settings().base_url.rstrip("/"))
    activity.record(ctx, activity_type, "dataset", pkg["id"], data={"package": pkg, "actor": ctx.actor_name},
                    dataset_id=ds.id, department_id=ds.department_id, public=visibility.public(ds))


# -- data resources ---------------------------------------------------------------------------------------


@action(auth.dataset_create, schema=s.DatasetCreate, write=True, target=lambda p, r: p.name, roles=MANAGERS)
def dataset_create(ctx: Context, p: s.DatasetCreate) -> dict[str, Any]:
    """Register a data resource with the national core metadata; its catalog code is generated."""
    dept = get_department(ctx, p.department)
    if ctx.db.scalar(select(Dataset.id).where(Dataset.name == p.name)) is not None:
        raise Conflict(f"数据资源名称已被使用: {p.name}", f"Dataset name already in use: {p.name}",
                       fields={"name": ["duplicate"]})
    prefix = codes.code_prefix(CATALOG_TYPES[p.catalog_type], p.class_item, p.class_category, p.class_sub)
    now = utcnow()
    code = p.code if p.code and _code_free(ctx, p.code, prefix) else _next_code(ctx, prefix)
    ds = Dataset(name=p.name, code=code, created_at=now, modified_at=now)
    _apply(ds, p, dept)
    _initial_publication(ctx, ds, p.publication, dept.id)
    ds.resources = []
    ctx.db.add(ds)
    try:
        ctx.db.flush()
    except IntegrityError:
        raise Conflict("数据资源名称或代码重复", "Duplicate dataset name or code") from None
    _revision(ctx, ds, "create", {k: [None, v] for k, v in p.model_dump().items() if v not in (None, "", [], False)})
    refresh(ctx, ds)
    _activity(ctx, ds, "new package")
    out = dataset_dict(ds)
    # 一数一源: a base data item another department is the authoritative source of (issue 12, sharing.baseitems)
    warnings = call_action("base_item_check", ctx, {"dataset": ds.name})["warnings"]
    if warnings:
        out["base_item_warnings"] = warnings
    return out


def _initial_publication(ctx: Context, ds: Dataset, asked: str | None, department_id: int) -> None:
    """A person's new dataset is a draft for the department to review (``catalog/publication.py``); asked to be
    published, it is when the caller may approve it and is submitted for review otherwise. The harvester (the
    source published it) and the local operator (CLI, demo) create published datasets unless asked for a draft."""
    trusted = ctx.via == "harvest" or (ctx.actor is not None and ctx.actor.id == 0)
    if asked == publication.DRAFT or (asked is None and not trusted):
        ds.publication = publication.DRAFT
    elif trusted or auth.may_review(ctx, department_id):
        ds.publication = publication.PUBLISHED
    else:
        ds.publication = publication.SUBMITTED
        ds.submitted_by, ds.submitted_at = ctx.actor_name, utcnow()


@action(auth.dataset_update, schema=s.DatasetPatch, write=True, target=lambda p, r: p.id, roles=MANAGERS)
def dataset_update(ctx: Context, p: s.DatasetPatch) -> dict[str, Any]:
    """Change some metadata fields; the merged record is validated whole, and the change is recorded."""
    ds = auth.find_dataset(ctx, p.id)
    current = editable_fields(ds)
    merged = {**current, **p.changes()}
    try:
        fields = s.DatasetFields.model_validate(merged)
    except Exception as exc:  # re-raised in the standard shape through the runner's validation path
        import pydantic

        if isinstance(exc, pydantic.ValidationError):
            raise ValidationError("输入数据不合法", "Invalid input", fields={
                ".".join(str(x) for x in e["loc"]) or "__all__": [e["msg"].removeprefix("Value error, ")]
                for e in exc.errors()}) from None
        raise
    new = fields.model_dump()
    new["data_items"] = [i.model_dump(exclude_none=True) for i in fields.data_items]
    old_cmp = {**current, "data_items": [dict(i) for i in current["data_items"]]}
    changes = {k: [old_cmp.get(k), v] for k, v in new.items() if _jsonable(old_cmp.get(k)) != _jsonable(v)}
    if not changes:
        return dataset_dict(ds)
    dept = get_department(ctx, fields.department)
    class_keys = {"catalog_type", "class_item", "class_category", "class_sub", "base_category"}
    _apply(ds, fields, dept)
    if class_keys & changes.keys():
        prefix = codes.code_prefix(CATALOG_TYPES[ds.catalog_type], ds.class_item, ds.class_category, ds.class_sub)
        if not ds.code.startswith(prefix + "/"):
            old_code = ds.code
            ds.code = _next_code(ctx, prefix)
            changes["code"] = [old_code, ds.code]
    if ("opening_class" in changes or "private" in changes) and ds.opening_class == "无条件开放" and not ds.private:
        _refuse_personal_data(ctx, ds)
    ds.modified_at = utcnow()
    _revision(ctx, ds, "update", changes)
    refresh(ctx, ds)
    _activity(ctx, ds, "changed package")
    return dataset_dict(ds)


def _refuse_personal_data(ctx: Context, ds: Dataset) -> None:
    """An unconditionally open dataset cannot be published while its tables hold personal data."""
    from cityhub import actions

    tables = actions.call("datastore_pii_columns", ctx, {"dataset_id": ds.id})
    if tables:
        cols = [f"{t['resource_name']}: {c}" for t in tables for c in t["columns"]]
        raise Conflict(f"数据表含个人信息列,不能无条件开放:{'、'.join(cols)}",
                       f"Tables hold personal data; the dataset cannot be opened unconditionally: {', '.join(cols)}",
                       fields={"opening_class": cols})


@action(auth.dataset_delete, schema=s.DatasetRef, write=True, target=lambda p, r: p.id, roles=MANAGERS)
def dataset_delete(ctx: Context, p: s.DatasetRef) -> dict[str, Any]:
    """Withdraw a data resource (kept for the record; gone from search, lists and the portal)."""
    ds = auth.find_dataset(ctx, p.id)
    ds.state = "deleted"
    ds.modified_at = utcnow()
    _revision(ctx, ds, "delete", {"state": ["active", "deleted"]})
    search.remove(ctx.db, ds.id)
    _activity(ctx, ds, "deleted package")
    return {"name": ds.name, "deleted": True}


@action(auth.dataset_show, schema=s.DatasetShowIn)
def dataset_show(ctx: Context, p: s.DatasetShowIn) -> dict[str, Any]:
    """One data resource with its resources, quality score and freshness (platform admins may ask for a
    deleted one with ``include_deleted``)."""
    ds = auth.find_dataset(ctx, p.id, deleted=auth.with_deleted(ctx, p))
    out = dataset_dict(ds, viewer=ctx)
    # whether this caller may have the data, and if not why (the dataset page then offers no download)
    refused = visibility.data_refusal_of(ctx, ds)
    out["data_access"] = (None if refused is None else
                          {"status": refused.status, "message": refused.message, "message_en": refused.message_en})
    return out


@action(auth.dataset_record, schema=s.DatasetShowIn)
def dataset_record(ctx: Context, p: s.DatasetShowIn) -> dict[str, Any]:
    """``dataset_show`` without the quality report, read with two Core statements instead of ORM objects: what
    the CKAN API serialises on its busiest path (``package_show``). Same lookup, states and visibility rules."""
    return dataset_records(ctx, [auth.find_record(ctx, p.id, deleted=auth.with_deleted(ctx, p))])[0]


def _field_default(name: str) -> Any:
    return s.DatasetFields.model_fields[name].get_default(call_default_factory=True)


@action(auth.dataset_save, schema=s.DatasetSave, write=True,
        target=lambda p, r: p.id or str(p.dataset.get("name", "-")), roles=MANAGERS)
def dataset_save(ctx: Context, p: s.DatasetSave) -> dict[str, Any]:
    """Create a data resource, or replace one whole, together with its resources, in one transaction (CKAN's
    ``package_create`` / ``package_update``). On a replace, metadata fields not given return to their
    defaults; with ``resources`` given, listed resources with an ``id`` are updated, those without one are
    added as links and the dataset's other resources are removed. Runs ``dataset_create`` /
    ``dataset_update`` and ``resource_create`` / ``resource_update`` / ``resource_delete``, each checked and
    audited on its own."""
    from cityhub import actions

    if p.id is None:
        created = actions.call("dataset_create", ctx, p.dataset)
        ds = auth.find_dataset(ctx, created["name"])
    else:
        ds = auth.find_dataset(ctx, p.id)
        given = {k: v for k, v in p.dataset.items() if k not in ("name", "code")}
        if p.dataset.get("name") not in (None, ds.name):
            raise ValidationError("不支持修改数据资源名称", "Renaming a dataset is not supported",
                                  fields={"name": ["renaming is not supported"]})
        whole = {k: given.get(k, _field_default(k)) for k in FIELDS
                 if k in given or not s.DatasetFields.model_fields[k].is_required()}
        actions.call("dataset_update", ctx, {"id": ds.name, **whole})
    if p.resources is not None:
        _save_resources(ctx, ds, p.resources)
        ctx.db.flush()
        ctx.db.expire(ds, ["resources"])  # resource_create appends through both sides of the relationship
    return dataset_dict(ds)


def _save_resources(ctx: Context, ds: Dataset, specs: list[s.ResourceSpec]) -> None:
    from cityhub import actions

    current = {r.id: r for r in ds.resources}
    kept = {spec.id for spec in specs if spec.id in current}
    for rid in [r for r in current if r not in kept]:
        actions.call("resource_delete", ctx, {"id": rid})
    for i, spec in enumerate(specs):
        try:
            if spec.id in current:
                res = current[spec.id]
                change: dict[str, Any] = {"id": res.id}
                for key in ("name", "description", "format"):
                    if getattr(spec, key) != getattr(res, key):
                        change[key] = getattr(spec, key)
                if spec.url and spec.url != resource_dict(res)["url"]:
                    change["url"] = spec.url
                if len(change) > 1:
                    actions.call("resource_update", ctx, change)
            else:
                actions.call("resource_create", ctx, {"dataset": ds.name, "name": spec.name, "url": spec.url,
                                                      "format": spec.format, "description": spec.description})
        except ValidationError as exc:
            raise ValidationError(exc.message, exc.message_en, fields={"resources": [
                f"{i}: {key}: {'; '.join(msgs)}" for key, msgs in exc.fields.items()]}) from None


@action(auth.catalog_stamp, schema=s.Empty)
def catalog_stamp(ctx: Context, p: s.Empty) -> str:
    """The catalog's change stamp: the latest dataset modification (every create, update, delete and
    resource change moves it). Response caches compare it to decide whether they are still current."""
    return str(ctx.db.execute(_STAMP_QUERY).scalar())


@action(auth.dataset_history, schema=s.HistoryIn)
def dataset_history(ctx: Context, p: s.HistoryIn) -> list[dict[str, Any]]:
    """Change history, newest first."""
    ds = auth.find_dataset(ctx, p.id)
    revs = ctx.db.scalars(select(DatasetRevision).where(DatasetRevision.dataset_id == ds.id)
                          .order_by(DatasetRevision.id.desc()).limit(p.limit)).all()
    return [{"id": r.id, "ts": r.ts.isoformat(), "actor": r.actor, "action": r.action, "changes": r.changes}
            for r in revs]


@action(auth.dataset_quality, schema=s.DatasetRef)
def dataset_quality(ctx: Context, p: s.DatasetRef) -> dict[str, Any]:
    """The nine quality criteria and freshness of one dataset."""
    return quality_of(auth.find_dataset(ctx, p.id))


def _filters(raw: dict[str, list[str] | str]) -> list[tuple[str, str]]:
    out = []
    for fld, values in raw.items():
        if fld not in search.FACET_FIELDS:
            raise ValidationError(f"未知筛选字段 {fld}", f"Unknown filter field {fld}",
                                  fields={"filters": [f"unknown field {fld}"]})
        for v in [values] if isinstance(values, str) else values:
            out.append((fld, v))
    return out


FACET_DISPLAY: dict[str, Any] = {"theme": {t[0]: (t[1], t[2]) for t in THEMES}}


@action(auth.dataset_search, schema=s.SearchIn)
def dataset_search(ctx: Context, p: s.SearchIn) -> dict[str, Any]:
    """Full-text search (jieba-segmented Chinese) with facets, visible datasets only."""
    vis, dept = auth.visibility(ctx)
    where = []
    for w in p.where:
        try:
            where.append((w.param, solr.from_json(w.query)))
        except ValueError as exc:
            raise ValidationError("查询树不合法", f"Malformed query tree: {exc}", fields={w.param: [str(exc)]}) from None
    result = search.search(ctx.db, search.Query(
        q=p.q, filters=_filters(p.filters), where=where, rows=p.rows, start=p.start, sort=p.sort,
        facet_fields=p.facet_fields, facet_limit=p.facet_limit, visibility=vis, department_id=dept,
        include_private=p.include_private, include_drafts=p.include_drafts, today=today_local(), now=utcnow()))
    if p.full and not p.quality:  # Core rows, no ORM objects (CKAN's package_search)
        rows = list(ctx.db.connection().execute(auth.RECORD.where(Dataset.id.in_(result.ids)))) if result.ids else []
        records = {d["id"]: d for d in dataset_records(ctx, rows)}
        results = [records[i] for i in result.ids if i in records]
    else:
        by_id = {d.id: d for d in ctx.db.scalars(select(Dataset).where(Dataset.id.in_(result.ids)))} if result.ids \
            else {}
        results = [dataset_dict(by_id[i], full=p.full, viewer=ctx) for i in result.ids if i in by_id]
    depts = {}
    if "organization" in result.facets:
        depts = dict(ctx.db.execute(select(Department.slug, Department.name)).all())
    facets = {}
    for fld, pairs in result.facets.items():
        items = []
        for value, n in pairs:
            if fld == "organization":
                display = depts.get(value, value)
            elif fld == "theme":
                display = FACET_DISPLAY["theme"].get(value, (value,))[0]
            else:
                display = value
            items.append({"name": value, "display_name": display, "count": n})
        facets[fld] = items
    return {"count": result.count, "results": results, "facets": facets}


@action(auth.dataset_list, schema=s.ListIn)
def dataset_list(ctx: Context, p: s.ListIn) -> list[str]:
    """Names of the public datasets."""
    q = (select(Dataset.name).where(visibility.public_sql())
         .order_by(Dataset.name).limit(p.limit).offset(p.offset))
    return list(ctx.db.scalars(q))


# -- resources (files and links) ----------------------------------------------------------------------------


def _guess_format(filename: str, url: str) -> str:
    name = filename or url.split("?")[0]
    ext = Path(name).suffix.lstrip(".").upper()
    return ext if ext and len(ext) <= 10 else ""


def _store(ctx: Context, ds: Dataset, res: Resource, upload: s.UploadedFile) -> None:
    safe = "".join(c for c in Path(upload.filename).name if c.isalnum() or c in "._-") or "file"
    key = f"resources/{ds.id}/{res.id}/{uuid.uuid4().hex[:8]}-{safe[-100:]}"
    storage = get_storage()
    size, digest = storage.put(key, upload.stream, get_settings().max_upload_mb << 20)
    ctx.extra.setdefault("on_rollback", []).append(lambda: storage.delete(key))
    old = res.file_path
    res.file_path, res.size, res.sha256 = key, size, digest
    res.load_state = ""  # new bytes: no load has failed or been blocked on them (their own load decides)
    if old:
        ctx.extra.setdefault("after_commit", []).append(lambda: storage.delete(old))


@action(auth.resource_create, schema=s.ResourceCreate, write=True, target=lambda p, r: p.dataset, roles=MANAGERS)
def resource_create(ctx: Context, p: s.ResourceCreate) -> dict[str, Any]:
    """Add a file (uploaded) or a link to a data resource."""
    ds = auth.find_dataset(ctx, p.dataset)
    filename = p.upload.filename if p.upload else ""
    fmt = (p.format or _guess_format(filename, p.url)).upper()
    now = utcnow()
    position = max((r.position for r in ds.resources), default=-1) + 1  # distinct: the order is by position
    res = Resource(id=str(uuid.uuid4()), dataset_id=ds.id, position=position,
                   name=p.name or Path(filename).name or p.url.rsplit("/", 1)[-1] or "resource",
                   description=p.description, url=p.url if not p.upload else "", format=fmt,
                   media_type=MEDIA_TYPES.get(fmt, mimetypes.guess_type(filename)[0] or "application/octet-stream"),
                   created_at=now, modified_at=p.last_modified or now)
    res.dataset = ds
    if p.upload is not None:
        _store(ctx, ds, res, p.upload)
    ds.resources.append(res)
    updated = p.last_modified or now
    ds.data_updated_at = max(ds.data_updated_at, updated) if ds.data_updated_at else updated
    ds.modified_at = now
    _revision(ctx, ds, "resource_create", {"resource": [None, res.name]})
    refresh(ctx, ds)
    _activity(ctx, ds, "changed package")
    out = resource_dict(res)
    out["datastore_job"] = _auto_load(ctx, res)
    return out


def _auto_load(ctx: Context, res: Resource) -> dict[str, Any] | None:
    """An uploaded table is loaded into the datastore as a background job (as CKAN's xloader does)."""
    from cityhub import actions

    if ctx.extra.get("jobs") == "skip":  # the caller loads the table itself (CLI with a progress bar)
        return None
    if not (res.file_path and get_settings().datastore_auto_load and res.format.upper() in TABULAR_FORMATS):
        return None
    job: dict[str, Any] = actions.call("datastore_create", ctx, {"resource_id": res.id})
    return job


@action(auth.resource_update, schema=s.ResourceUpdate, write=True, target=lambda p, r: p.id, roles=MANAGERS)
def resource_update(ctx: Context, p: s.ResourceUpdate) -> dict[str, Any]:
    """Replace a resource's file or link, or change its name, description or format."""
    res = ctx.db.get(Resource, p.id)
    if res is None:
        raise NotFound("未找到资源", "Resource not found")
    ds = res.dataset
    now = utcnow()
    for key in ("name", "description", "format"):
        value = getattr(p, key)
        if value is not None:
            setattr(res, key, value.upper() if key == "format" else value)
    if p.url is not None:
        res.url = p.url
    if p.upload is not None:
        _store(ctx, ds, res, p.upload)
        res.url = ""
        ds.data_updated_at = now
    res.modified_at = now
    ds.modified_at = now
    _revision(ctx, ds, "resource_update", {"resource": [res.name, res.name]})
    refresh(ctx, ds)
    _activity(ctx, ds, "changed package")
    out = resource_dict(res)
    out["datastore_job"] = _auto_load(ctx, res) if p.upload is not None else None
    return out


@action(auth.resource_delete, schema=s.ResourceRef, write=True, target=lambda p, r: p.id, roles=MANAGERS)
def resource_delete(ctx: Context, p: s.ResourceRef) -> dict[str, Any]:
    """Remove a resource (its file is deleted after the change commits)."""
    res = ctx.db.get(Resource, p.id)
    if res is None:
        raise NotFound("未找到资源", "Resource not found")
    ds = res.dataset
    if res.file_path:
        storage, key = get_storage(), res.file_path
        ctx.extra.setdefault("after_commit", []).append(lambda: storage.delete(key))
    ds.resources.remove(res)
    ds.modified_at = utcnow()
    _revision(ctx, ds, "resource_delete", {"resource": [res.name, None]})
    refresh(ctx, ds)
    _activity(ctx, ds, "changed package")
    return {"id": p.id, "deleted": True}


@action(auth.resource_show, schema=s.ResourceRef)
def resource_show(ctx: Context, p: s.ResourceRef) -> dict[str, Any]:
    """One resource."""
    res = ctx.db.get(Resource, p.id)
    assert res is not None
    return resource_dict(res)


@action(auth.resource_download, schema=s.ResourceRef)
def resource_download(ctx: Context, p: s.ResourceRef) -> dict[str, Any]:
    """Where to stream a resource from: a stored file's path, or the external link to redirect to."""
    res = ctx.db.get(Resource, p.id)
    assert res is not None
    record_usage(res.dataset_id, "downloads")
    if res.file_path:
        path = get_storage().path(res.file_path)
        if not path.is_file():
            raise NotFound("文件缺失", "The stored file is missing")
        name = res.name if Path(res.name).suffix else f"{res.name}.{res.format.lower() or 'bin'}"
        return {"path": str(path), "media_type": res.media_type, "filename": name, "redirect": None}
    if link_url(res.url) is None:  # a javascript:/data: link stored before links were checked: never redirect
        raise NotFound("该资源的链接不是 http(s)/ftp 地址,不能打开",
                       "The resource's link is not an http(s)/ftp URL; it is not followed")
    return {"path": None, "media_type": res.media_type, "filename": res.name, "redirect": res.url}


# the previews of the last few files read (a stored file never changes: a new upload gets a new key)
_PREVIEWS: OrderedDict[tuple[Any, ...], dict[str, Any]] = OrderedDict()
_PREVIEWS_LOCK = threading.Lock()
PREVIEW_CACHE_SIZE = 8


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB" if n >= 1 << 20 else f"{max(n, 1) / 1024:.0f} KiB"


def _preview_notes(found: dict[str, Any], size: int, caps: tuple[int, int, int]) -> list[dict[str, str]]:
    notes = []
    n = found["count"]
    if found["limit"] == "bytes":
        notes.append({"message": f"文件共 {_mib(size)},预览只读取前 {_mib(caps[0])},显示其中完整的 {n:,} 个要素;完整数据请下载文件。",
                      "message_en": f"The file is {_mib(size)}; the preview reads its first {_mib(caps[0])} and "
                                    f"shows the {n:,} whole features in it. Download the file for all of them."})
    elif found["limit"] == "features":
        notes.append({"message": f"只显示前 {n:,} 个要素(预览上限);完整数据请下载文件。",
                      "message_en": f"Showing the first {n:,} features (the preview's limit). Download the file "
                                    "for all of them."})
    elif found["limit"] == "vertices":
        notes.append({"message": f"坐标点超过预览上限 {caps[2]:,} 个,只显示前 {n:,} 个要素;完整数据请下载文件。",
                      "message_en": f"The coordinates pass the preview's limit of {caps[2]:,} positions: showing "
                                    f"the first {n:,} features. Download the file for all of them."})
    if found["skipped"]:
        first = found["skip_reasons"][0]
        notes.append({"message": f"{found['skipped']:,} 个要素无效,未显示(例如:{first['message']})",
                      "message_en": f"{found['skipped']:,} invalid features are not shown (e.g. "
                                    f"{first['message_en']})"})
    return notes


@action(auth.resource_preview, schema=s.ResourceRef)
def resource_preview(ctx: Context, p: s.ResourceRef) -> dict[str, Any]:
    """A stored GeoJSON file's features for the map preview (a FeatureCollection with ``bbox``, counts and
    bilingual ``notes``), read within the preview's byte, feature and vertex caps; whoever may download the file
    may preview it. A file that is not GeoJSON is a ValidationError saying why."""
    res = ctx.db.get(Resource, p.id)
    assert res is not None
    if not res.file_path:
        raise ValidationError("链接资源的文件不在本平台存储,不能预览;请打开链接查看",
                              "A link's file is not stored here, so it is not previewed; open the link instead")
    path = get_storage().path(res.file_path)
    if not path.is_file():
        raise NotFound("文件缺失", "The stored file is missing")
    settings = get_settings()
    caps = (settings.preview_max_mb << 20, settings.preview_max_features, settings.preview_max_vertices)
    key = (res.file_path, res.sha256, *caps)
    with _PREVIEWS_LOCK:
        cached = _PREVIEWS.get(key)
        if cached is not None:
            _PREVIEWS.move_to_end(key)
    if cached is None:
        try:
            with path.open("rb") as f:
                found = geojson.read_preview(f, max_bytes=caps[0], max_features=caps[1],
                                             max_vertices=caps[2]).as_dict()
        except geojson.GeoJSONError as exc:
            raise ValidationError(f"无法预览:{exc.message}", f"Cannot preview: {exc.message_en}",
                                  fields={"file": [exc.message_en]}) from None
        size = path.stat().st_size
        cached = {**found, "resource_id": res.id, "size": size, "datum": "wgs84",
                  "notes": _preview_notes(found, size, caps)}
        with _PREVIEWS_LOCK:
            _PREVIEWS[key] = cached
            while len(_PREVIEWS) > PREVIEW_CACHE_SIZE:
                _PREVIEWS.popitem(last=False)
    return cached


# -- open-data plans ----------------------------------------------------------------------------------------


def plan_item_status(item: PlanItem, today: dt.date, actor: Actor | None = None) -> dict[str, Any]:
    """An item's status; its dataset's name and title only for a caller who may see the dataset (a plan is
    public, a private dataset's title is not)."""
    ds = item.dataset
    opened_on = None
    if ds is not None and visibility.open_to_public(ds):
        opened_on = ds.published_on or ds.created_at.date()
    shown = ds if ds is not None and ds.state == "active" and visibility.can_see(actor, ds) else None
    if opened_on is not None:
        status = "opened"
    elif item.target_date < today:
        status = "late"
    else:
        status = "planned"
    return {
        "id": item.id,
        "title": item.title,
        "dataset": shown.name if shown else None,
        "dataset_title": shown.title if shown else None,
        "target_date": item.target_date.isoformat(),
        "format": item.format,
        "update_cycle": item.update_cycle,
        "status": status,
        "opened_on": opened_on.isoformat() if opened_on else None,
        "opened_late": bool(opened_on and opened_on > item.target_date),
    }


def plan_dict(plan: OpenPlan, today: dt.date, actor: Actor | None = None) -> dict[str, Any]:
    items = [plan_item_status(i, today, actor) for i in plan.items]
    counts = Counter(i["status"] for i in items)
    return {
        "id": plan.id,
        "department": plan.department.slug,
        "department_name": plan.department.name,
        "year": plan.year,
        "published_on": plan.published_on.isoformat() if plan.published_on else None,
        "note": plan.note,
        "items": items,
        "summary": {"total": len(items), "opened": counts["opened"], "late": counts["late"],
                    "planned": counts["planned"],
                    "progress": round(100 * counts["opened"] / len(items)) if items else 0},
    }


@action(auth.plan_upsert, schema=s.PlanUpsert, write=True, target=lambda p, r: f"{p.department}/{p.year}", roles=MANAGERS)
def plan_upsert(ctx: Context, p: s.PlanUpsert) -> dict[str, Any]:
    """Create or replace a department's open-data plan (开放计划/清单) for a year."""
    dept = get_department(ctx, p.department)
    plan = ctx.db.scalar(select(OpenPlan).where(OpenPlan.department_id == dept.id, OpenPlan.year == p.year))
    if plan is None:
        plan = OpenPlan(department_id=dept.id, year=p.year)
        plan.department = dept
        ctx.db.add(plan)
    plan.published_on = p.published_on
    plan.note = p.note
    items = []
    for it in p.items:
        ds_id = None
        if it.dataset:
            ds = auth.find_dataset(ctx, it.dataset)
            if ds.department_id != dept.id:
                raise ValidationError("计划事项只能关联本部门的数据资源",
                                      "Plan items may only point at the department's own datasets",
                                      fields={"items": [f"{it.dataset} belongs to another department"]})
            ds_id = ds.id
        items.append(PlanItem(title=it.title, dataset_id=ds_id, target_date=it.target_date, format=it.format,
                              update_cycle=it.update_cycle))
    plan.items = items
    ctx.db.flush()
    for item in plan.items:
        ctx.db.refresh(item)
    return plan_dict(plan, today_local(), ctx.actor)


@action(auth.plan_list, schema=s.PlanQuery)
def plan_list(ctx: Context, p: s.PlanQuery) -> dict[str, Any]:
    """Plans with each item's status (planned / opened / late) and progress, by department and year."""
    q = select(OpenPlan).order_by(OpenPlan.year.desc(), OpenPlan.department_id)
    if p.department:
        q = q.where(OpenPlan.department_id == get_department(ctx, p.department).id)
    if p.year:
        q = q.where(OpenPlan.year == p.year)
    today = today_local()
    plans = [plan_dict(pl, today, ctx.actor) for pl in ctx.db.scalars(q)]
    totals: Counter[str] = Counter()
    for pl in plans:
        totals.update({k: pl["summary"][k] for k in ("total", "opened", "late", "planned")})
    return {"plans": plans, "summary": dict(totals)}


# -- usage metrics ------------------------------------------------------------------------------------------

_usage_lock = threading.Lock()
_usage: Counter[tuple[int, dt.date, str]] = Counter()


def record_usage(dataset_id: int, kind: str) -> None:
    """Count a view, download or API call in memory; ``usage_flush`` writes the counts per day."""
    with _usage_lock:
        _usage[(dataset_id, today_local(), kind)] += 1


@action(auth.usage_record, schema=s.UsageIn)
def usage_record(ctx: Context, p: s.UsageIn) -> dict[str, Any]:
    """Count one view, download or API call of a dataset (buffered)."""
    record_usage(p.dataset_id, p.kind)
    return {"ok": True}


@action(auth.usage_flush, schema=s.Empty)
def usage_flush(ctx: Context, p: s.Empty) -> dict[str, Any]:
    """Write buffered usage counts into the per-day table and the dataset totals."""
    with _usage_lock:
        pending = {k: n for k, n in _usage.items() if n}
        _usage.clear()
    if not pending:
        return {"written": 0}
    per_day: dict[tuple[int, dt.date], Counter[str]] = {}
    for (ds_id, day, kind), n in pending.items():
        per_day.setdefault((ds_id, day), Counter())[kind] += n
    existing_ids = set(ctx.db.scalars(select(Dataset.id).where(Dataset.id.in_({k[0] for k in per_day}))))
    rows = [{"p_ds": ds_id, "p_day": day, "p_v": c["views"], "p_d": c["downloads"], "p_a": c["api_calls"],
             "p_pop": c["views"] + 5 * c["downloads"] + c["api_calls"]}
            for (ds_id, day), c in sorted(per_day.items()) if ds_id in existing_ids]
    if not rows:
        return {"written": 0}
    # Core statements run as executemany: one prepared statement per table for the whole flush (per-row ORM
    # statements held the GIL long enough to show in the request latency of a busy process)
    daily, ds_t, doc_t = (cast(Table, m.__table__) for m in (UsageDaily, Dataset, SearchDoc))
    insert = pg_insert if is_postgres(ctx.db) else sqlite_insert
    upsert = insert(daily).values(dataset_id=bindparam("p_ds"), day=bindparam("p_day"), views=bindparam("p_v"),
                                  downloads=bindparam("p_d"), api_calls=bindparam("p_a"))
    # an upsert: several processes flush counts for the same dataset and day
    ctx.db.execute(upsert.on_conflict_do_update(
        index_elements=["dataset_id", "day"],
        set_={"views": daily.c.views + bindparam("p_v"), "downloads": daily.c.downloads + bindparam("p_d"),
              "api_calls": daily.c.api_calls + bindparam("p_a")}), rows)
    ctx.db.execute(update(ds_t).where(ds_t.c.id == bindparam("p_ds")).values(
        views_total=ds_t.c.views_total + bindparam("p_v"), downloads_total=ds_t.c.downloads_total + bindparam("p_d"),
        api_calls_total=ds_t.c.api_calls_total + bindparam("p_a")), rows)
    ctx.db.execute(update(doc_t).where(doc_t.c.dataset_id == bindparam("p_ds")).values(
        popularity=doc_t.c.popularity + bindparam("p_pop")), rows)
    return {"written": sum(pending.values())}


@action(auth.usage_import, schema=s.UsageImport, write=True, target=lambda p, r: f"{len(p.rows)} rows", roles=ADMINS)
def usage_import(ctx: Context, p: s.UsageImport) -> dict[str, Any]:
    """Import historical daily usage (e.g. when migrating from an older portal); adds to existing counts."""
    names = {r.dataset for r in p.rows}
    ids = dict(ctx.db.execute(select(Dataset.name, Dataset.id).where(Dataset.name.in_(names))).all())
    missing = sorted(names - ids.keys())
    if missing:
        raise NotFound(f"未找到数据资源: {', '.join(missing[:5])}", f"Datasets not found: {', '.join(missing[:5])}")
    for r in p.rows:
        with _usage_lock:
            _usage[(ids[r.dataset], r.day, "views")] += r.views
            _usage[(ids[r.dataset], r.day, "downloads")] += r.downloads
            _usage[(ids[r.dataset], r.day, "api_calls")] += r.api_calls
    return usage_flush(ctx, s.Empty())


# -- portal figures ------------------------------------------------------------------------------------------


def _open_filter() -> Any:
    return visibility.public_sql()


_STAMP_QUERY = select(func.max(Dataset.modified_at))


@action(auth.portal_stats, schema=s.Empty)
def portal_stats(ctx: Context, p: s.Empty) -> dict[str, Any]:
    """Live open-data indicators for the home page."""
    settings = get_settings()
    open_count = ctx.db.scalar(select(func.count()).select_from(Dataset).where(_open_filter())) or 0
    dept_count = ctx.db.scalar(select(func.count()).select_from(Department)) or 0
    this_year = today_local().year
    plan_year = (ctx.db.scalar(select(func.max(OpenPlan.year)).where(OpenPlan.year <= this_year))
                 or ctx.db.scalar(select(func.max(OpenPlan.year))) or this_year)
    with_plan = ctx.db.scalar(select(func.count(func.distinct(OpenPlan.department_id))).where(
        OpenPlan.year == plan_year, OpenPlan.published_on.is_not(None))) or 0
    month_start = today_local().replace(day=1)
    month = ctx.db.execute(select(func.coalesce(func.sum(UsageDaily.downloads), 0),
                                  func.coalesce(func.sum(UsageDaily.api_calls), 0),
                                  func.coalesce(func.sum(UsageDaily.views), 0))
                           .where(UsageDaily.day >= month_start)).one()
    newest = ctx.db.scalars(select(Dataset).where(_open_filter()).order_by(Dataset.published_on.desc(),
                                                                         Dataset.id.desc()).limit(6)).all()
    popular = ctx.db.scalars(select(Dataset).where(_open_filter()).order_by(
        (Dataset.views_total + 5 * Dataset.downloads_total + Dataset.api_calls_total).desc(), Dataset.id).limit(6)).all()
    theme_counts = dict(ctx.db.execute(select(Dataset.theme, func.count()).where(_open_filter())
                                       .group_by(Dataset.theme)).all())
    overdue = 0
    now = utcnow()
    for cycle, updated in ctx.db.execute(select(Dataset.update_cycle, Dataset.data_updated_at).where(_open_filter())):
        if quality.freshness(UPDATE_CYCLES.get(cycle), updated, now).overdue:
            overdue += 1
    avg_quality = ctx.db.scalar(select(func.avg(Dataset.quality_score)).where(_open_filter())) or 0
    return {
        "open_datasets": open_count,
        "open_target": settings.open_dataset_target,
        "open_progress": round(100 * open_count / settings.open_dataset_target, 1),
        "departments": dept_count,
        "plan_year": plan_year,
        "departments_with_plan": with_plan,
        "plan_share": round(100 * with_plan / dept_count, 1) if dept_count else 0.0,
        "month": month_start.isoformat()[:7],
        "month_downloads": int(month[0]),
        "month_api_calls": int(month[1]),
        "month_views": int(month[2]),
        "overdue_datasets": overdue,
        "average_quality": round(float(avg_quality)),
        "newest": [dataset_dict(d, full=False) for d in newest],
        "most_used": [dataset_dict(d, full=False) for d in popular],
        "themes": [{"slug": t[0], "name": t[1], "name_en": t[2], "count": int(theme_counts.get(t[0], 0))}
                   for t in THEMES],
    }


@action(auth.tag_list, schema=s.ListIn)
def tag_list(ctx: Context, p: s.ListIn) -> list[Any]:
    """Tags of public datasets (with counts when ``all_fields``)."""
    rows = ctx.db.execute(
        select(SearchFacet.value, func.count()).where(SearchFacet.field == "tags", SearchFacet.dataset_id.in_(
            select(Dataset.id).where(_open_filter()))).group_by(SearchFacet.value)
        .order_by(func.count().desc(), SearchFacet.value).limit(p.limit).offset(p.offset)).all()
    return [{"name": v, "count": int(n)} for v, n in rows] if p.all_fields else [v for v, _ in rows]


@action(auth.theme_list, schema=s.ListIn)
def theme_list(ctx: Context, p: s.ListIn) -> list[dict[str, Any]]:
    """Themes (CKAN groups) with dataset counts."""
    counts = dict(ctx.db.execute(select(Dataset.theme, func.count()).where(_open_filter())
                                 .group_by(Dataset.theme)).all())
    return [{"name": t[0], "title": t[1], "title_en": t[2], "package_count": int(counts.get(t[0], 0))}
            for t in THEMES]


@action(auth.search_reindex, schema=s.Empty, write=True, target=lambda p, r: "search_index", roles=ADMINS)
def search_reindex(ctx: Context, p: s.Empty) -> dict[str, Any]:
    """Rebuild the whole search index (and stored quality scores)."""
    progress = ctx.extra.get("progress")
    search.clear(ctx.db)
    total = ctx.db.scalar(select(func.count()).select_from(Dataset).where(Dataset.state == "active")) or 0
    if progress:
        progress(0, total)
    done = 0
    last = 0
    while True:
        batch = ctx.db.scalars(select(Dataset).where(Dataset.state == "active", Dataset.id > last)
                               .order_by(Dataset.id).limit(5000)).all()
        if not batch:
            break
        search.index_many(ctx.db, batch)
        done += len(batch)
        last = batch[-1].id
        if progress:
            progress(done, total)
        ctx.db.expunge_all()
    search.analyze(ctx.db)
    return {"indexed": done}


@action(auth.quality_refresh, schema=s.Empty, write=True, target=lambda p, r: "quality", roles=ADMINS)
def quality_refresh(ctx: Context, p: s.Empty) -> dict[str, Any]:
    """Recompute every stored quality score (freshness changes with time)."""
    n = 0
    for ds in ctx.db.scalars(select(Dataset).where(Dataset.state == "active")):
        ds.quality_score = quality.total(quality.score(quality_input(ds), utcnow()))
        n += 1
    return {"updated": n}


def department_summary(ctx: Context, slug: str) -> dict[str, Any]:
    dept = get_department(ctx, slug)
    return department_dict(dept)
