"""一数一源: each base data item (人口、法人、自然资源和空间地理、电子证照、社会信用) has one authoritative
department (责任采集部门) and, once it is registered, its authoritative resource. A dataset of another
department that holds the same item — declared with a tag (``base:person`` or the item's Chinese name) or
recognised from its columns (a resident ID with a name → person; a unified social credit code → legal person)
— gets a warning that links the authoritative source: in ``dataset_create``'s result (``base_item_warnings``)
and on the dataset page. The data office reads the coverage report (``base_item_coverage``)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from sqlalchemy import and_, select

from cityhub.accounts.actions import get_department
from cityhub.accounts.models import Department
from cityhub.actions import ADMINS, GOVERNMENT, SIGNED_IN, action
from cityhub.catalog.models import Dataset, Resource
from cityhub.context import Context
from cityhub.datastore.models import DatastoreTable, DatastoreVersion
from cityhub.db import utcnow
from cityhub.errors import ValidationError
from cityhub.sharing import deid_auth as auth
from cityhub.sharing import deid_schemas as s
from cityhub.sharing.deid_models import BaseItem

#: code → (Chinese name, English name, short Chinese tags that declare it)
ITEMS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "person": ("人口基础信息", "Population (natural persons)", ("人口基础信息", "人口库")),
    "legal_person": ("法人基础信息", "Legal persons", ("法人基础信息", "法人库")),
    "geography": ("自然资源和空间地理基础信息", "Natural resources and spatial geography",
                  ("自然资源和空间地理基础信息", "空间地理基础信息", "地理空间库")),
    "e_licence": ("电子证照基础信息", "Electronic licences", ("电子证照基础信息", "电子证照库")),
    "credit": ("社会信用基础信息", "Social credit", ("社会信用基础信息", "信用库")),
}
_ID_COL = re.compile(r"身份证|公民身份号码|证件号码|resident_?id|id_?no", re.I)
_NAME_COL = re.compile(r"^(姓名|人员姓名|name|full_?name)$", re.I)
_USCC_COL = re.compile(r"统一社会信用代码|社会信用代码|uscc|credit_?code", re.I)


def detect(tags: Iterable[str], columns: Iterable[tuple[str, str | None]]) -> dict[str, str]:
    """Base items a dataset holds: code → how it was found (``tag`` or ``columns``). ``columns``: (name, the
    personal-data scan's finding or None) of its declared data items and loaded tables."""
    found: dict[str, str] = {}
    tagset = {t.strip() for t in tags}
    for code, (_zh, _en, names) in ITEMS.items():
        if f"base:{code}" in tagset or tagset & set(names):
            found[code] = "tag"
    cols = list(columns)
    has_id = any(pii == "resident_id" or _ID_COL.search(name) for name, pii in cols)
    has_name = any(_NAME_COL.search(name) for name, _ in cols)
    if has_id and has_name:
        found.setdefault("person", "columns")
    if any(_USCC_COL.search(name) for name, _ in cols):
        found.setdefault("legal_person", "columns")
    return found


def _live_columns(ctx: Context, dataset_ids: list[int]) -> dict[int, list[tuple[str, str | None]]]:
    """The loaded tables' columns (name, personal-data finding) per dataset."""
    out: dict[int, list[tuple[str, str | None]]] = {}
    if not dataset_ids:
        return out
    rows = ctx.db.execute(
        select(Resource.dataset_id, DatastoreVersion.columns)
        .join(DatastoreTable, DatastoreTable.resource_id == Resource.id)
        .join(DatastoreVersion, and_(DatastoreVersion.resource_id == Resource.id,
                                     DatastoreVersion.version == DatastoreTable.current_version))
        .where(Resource.dataset_id.in_(dataset_ids)))
    for dataset_id, columns in rows:
        out.setdefault(dataset_id, []).extend((str(c["name"]), c.get("pii")) for c in columns or [])
    return out


def _items(ctx: Context) -> dict[str, BaseItem]:
    return {b.code: b for b in ctx.db.scalars(select(BaseItem))}


def item_dict(ctx: Context, code: str, b: BaseItem | None) -> dict[str, Any]:
    zh, en, _tags = ITEMS[code]
    dept = ctx.db.get(Department, b.department_id) if b else None
    res = ctx.db.get(Resource, b.resource_id) if b and b.resource_id else None
    return {"code": code, "name": zh, "name_en": en, "department": dept.slug if dept else None,
            "department_name": dept.name if dept else None, "resource_id": b.resource_id if b else None,
            "resource_name": res.name if res else None, "dataset": res.dataset.name if res else None,
            "updated_by": b.updated_by if b else "", "updated_at": b.updated_at.isoformat() if b else None}


def warnings_for(ctx: Context, ds: Dataset, live: list[tuple[str, str | None]] | None = None) -> list[dict[str, Any]]:
    cols: list[tuple[str, str | None]] = [(str(i.get("name", "")), None) for i in ds.data_items or []]
    cols += live if live is not None else _live_columns(ctx, [ds.id]).get(ds.id, [])
    found = detect(ds.tags or [], cols)
    items = _items(ctx)
    out = []
    for code, how in found.items():
        b = items.get(code)
        if b is None or b.department_id == ds.department_id:
            continue
        info = item_dict(ctx, code, b)
        out.append({**info, "matched_by": how,
                    "message": f"{info['name']}的权威来源是{info['department_name']}(一数一源),请共享使用,不要重复采集",
                    "message_en": f"The authoritative source of {info['name_en']} is {info['department_name']} "
                                  "(one source per item): use the shared copy instead of collecting it again"})
    return out


@action(auth.base_item_set, schema=s.BaseItemSet, write=True, target=lambda p, r: p.code, roles=ADMINS)
def base_item_set(ctx: Context, p: s.BaseItemSet) -> dict[str, Any]:
    """Designate the authoritative department (and, once registered, its resource) of a base data item."""
    dept = get_department(ctx, p.department)
    if p.resource_id:
        res = ctx.db.get(Resource, p.resource_id)
        if res is None or res.dataset.state != "active":
            raise ValidationError("未找到该资源", "No such resource", fields={"resource_id": ["not found"]})
        if res.dataset.department_id != dept.id:
            raise ValidationError("权威资源须属于权威部门", "The authoritative resource must be the department's own",
                                  fields={"resource_id": ["another department's resource"]})
    b = ctx.db.get(BaseItem, p.code) or BaseItem(code=p.code, name=ITEMS[p.code][0], name_en=ITEMS[p.code][1])
    b.department_id, b.resource_id = dept.id, p.resource_id or None
    b.updated_by, b.updated_at = ctx.actor_name, utcnow()
    ctx.db.add(b)
    ctx.db.flush()
    return item_dict(ctx, p.code, b)


@action(auth.base_item_list, schema=s.Empty, roles=SIGNED_IN)
def base_item_list(ctx: Context, p: s.Empty) -> list[dict[str, Any]]:
    """The base data items and their authoritative departments and resources."""
    items = _items(ctx)
    return [item_dict(ctx, code, items.get(code)) for code in ITEMS]


@action(auth.base_item_check, schema=s.DatasetRef, roles=GOVERNMENT)
def base_item_check(ctx: Context, p: s.DatasetRef) -> dict[str, Any]:
    """Whether a dataset holds a base data item another department is the authoritative source of (by its tags,
    declared data items and loaded columns), with links to the authoritative source."""
    ds = auth._dataset(ctx, p.dataset)
    return {"dataset": ds.name, "warnings": warnings_for(ctx, ds)}


@action(auth.base_item_coverage, schema=s.Empty, roles=ADMINS)
def base_item_coverage(ctx: Context, p: s.Empty) -> list[dict[str, Any]]:
    """The data office's report: per base item, its authoritative department and resource, the department's own
    datasets holding it, and the datasets of other departments that duplicate it."""
    items = _items(ctx)
    datasets = list(ctx.db.scalars(select(Dataset).where(Dataset.state == "active")))
    live = _live_columns(ctx, [d.id for d in datasets])
    slugs = {d.id: d.slug for d in ctx.db.scalars(select(Department))}
    holders: dict[str, list[Dataset]] = {code: [] for code in ITEMS}
    for ds in datasets:
        cols = [(str(i.get("name", "")), None) for i in ds.data_items or []] + live.get(ds.id, [])
        for code in detect(ds.tags or [], cols):
            holders[code].append(ds)
    report = []
    for code in ITEMS:
        b = items.get(code)
        own = [d for d in holders[code] if b and d.department_id == b.department_id]
        dup = [d for d in holders[code] if not b or d.department_id != b.department_id]
        report.append({**item_dict(ctx, code, b), "designated": b is not None,
                       "has_resource": bool(b and b.resource_id),
                       "authoritative_datasets": [d.name for d in own],
                       "duplicates": [{"dataset": d.name, "title": d.title, "department": slugs.get(d.department_id)}
                                      for d in dup]})
    return report
