"""Authorization rules of the catalog actions: one function per action, of the same name. Deny by default:
writes need a steward or department admin of the owning department, or a platform admin."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, select
from sqlalchemy.orm import joinedload

from cityhub.accounts.auth import require_admin, require_user
from cityhub.accounts.models import Department
from cityhub.catalog import visibility as vis
from cityhub.catalog.models import Dataset, Resource
from cityhub.context import Context
from cityhub.errors import NotAuthorized, NotFound

GOVERNMENT_ROLES = vis.GOVERNMENT_ROLES


# one query with the resources joined (the default select-in load costs a second round trip), built once:
# constructing the loader options on every call cost more than running the query
_BY_NAME = select(Dataset).options(joinedload(Dataset.resources)).where(Dataset.name == bindparam("ref"))


def with_deleted(ctx: Context, p: Any) -> bool:
    """Whether a read asks for deleted datasets too (``include_deleted``) and may: platform admins only."""
    return bool(getattr(p, "include_deleted", False)) and ctx.actor is not None and ctx.actor.is_admin


def _found(ds: Any, ref: str, deleted: bool) -> Any:
    """``ds`` (an ORM object or a Core row) if it may be served; deleted only with ``deleted``; withdrawn at its
    harvest source never (kept for the record)."""
    if ds is None or (ds.state != "active" and not (deleted and ds.state == "deleted")):
        raise NotFound(f"未找到数据资源 {ref}", f"Dataset not found: {ref}")
    return ds


def find_dataset(ctx: Context, ref: str, *, deleted: bool = False) -> Dataset:
    """The dataset by name or id (looked up once per call: the auth check and the action share it);
    deleted datasets only with ``deleted``."""
    key = f"dataset:{ref}" + (":any" if deleted else "")
    cached = ctx.extra.get(key)
    if isinstance(cached, Dataset) and cached in ctx.db:
        return cached
    ds = ctx.db.execute(_BY_NAME, {"ref": ref}).unique().scalar_one_or_none()
    if ds is None and ref.isdigit():
        ds = ctx.db.get(Dataset, int(ref))
    ctx.extra[key] = _found(ds, ref, deleted)
    return cast(Dataset, ds)


# The same lookup as Core rows (no ORM objects): the dataset's columns and its department's slug, name and
# unified social credit code, for the hot read paths (``dataset_record``).
RECORD = (select(*cast(Table, Dataset.__table__).c, Department.slug.label("dept_slug"),
                 Department.name.label("dept_name"), Department.uscc.label("dept_uscc"))
          .join(Department, Department.id == Dataset.department_id))
_RECORD_BY_NAME = RECORD.where(Dataset.name == bindparam("ref"))
_RECORD_BY_ID = RECORD.where(Dataset.id == bindparam("id"))


def find_record(ctx: Context, ref: str, *, deleted: bool = False) -> Any:
    """:func:`find_dataset` as a Core row (a ``sqlalchemy.Row``) of :data:`RECORD`: the same lookup order and
    the same states."""
    key = f"record:{ref}" + (":any" if deleted else "")
    cached = ctx.extra.get(key)
    if isinstance(cached, Row):
        return cached
    conn = ctx.db.connection()  # Core statements: no ORM execution layer
    row = conn.execute(_RECORD_BY_NAME, {"ref": ref}).first()
    if row is None and ref.isdigit():
        row = conn.execute(_RECORD_BY_ID, {"id": int(ref)}).first()
    ctx.extra[key] = _found(row, ref, deleted)
    return row


def can_read(ctx: Context, ds: Any) -> bool:
    """Whether the caller may see the metadata of ``ds`` (a :class:`Dataset` or a row of :data:`RECORD`): the
    visibility rule's :func:`~cityhub.catalog.visibility.can_see`."""
    return vis.can_see(ctx.actor, ds)


def visibility(ctx: Context) -> tuple[str, int | None]:
    """The search index's filter for the caller (:func:`~cityhub.catalog.visibility.search_scope`)."""
    return vis.search_scope(ctx.actor)


def require_visible(ctx: Context, ds: Any, ref: str) -> None:
    """Not found unless the caller may see the dataset: a hidden dataset does not reveal that it exists."""
    if not vis.can_see(ctx.actor, ds):
        raise vis.not_found(ref)


def require_manager(ctx: Context, department_id: int | None) -> None:
    require_user(ctx)
    assert ctx.actor is not None
    if not ctx.actor.manages(department_id):
        raise NotAuthorized("只能管理本部门的数据资源", "You may only manage your own department's resources")


def _dept_id(ctx: Context, slug: str) -> int | None:
    dept_id = ctx.db.scalar(select(Department.id).where(Department.slug == slug))
    if dept_id is None:  # departments are public, so saying so leaks nothing
        raise NotFound(f"未知部门 {slug}", f"Unknown department: {slug}", fields={"department": ["unknown"]})
    return dept_id


def dataset_create(ctx: Context, p: Any) -> None:
    require_manager(ctx, _dept_id(ctx, p.department))


def require_not_harvested(ctx: Context, ds: Dataset | None) -> None:
    """Harvested datasets are read-only here: only the harvester (``via='harvest'``) changes them."""
    if ds is not None and ds.harvest_source_id is not None and ctx.via != "harvest":
        origin = ds.origin_url or "its harvest source"
        raise NotAuthorized(f"该数据资源采集自 {origin},请在来源处修改",
                            f"Harvested from {origin}; edit it at the source")


def _dataset_write(ctx: Context, ref: str) -> None:
    require_user(ctx)
    ds = ctx.db.scalar(select(Dataset).where(Dataset.name == ref))
    if ds is None and ref.isdigit():
        ds = ctx.db.get(Dataset, int(ref))
    require_manager(ctx, ds.department_id if ds is not None else None)
    require_not_harvested(ctx, ds)


def dataset_update(ctx: Context, p: Any) -> None:
    _dataset_write(ctx, p.id)
    if "department" in p.changes():  # moving a resource needs the target department too
        require_manager(ctx, _dept_id(ctx, p.changes()["department"]))


def dataset_delete(ctx: Context, p: Any) -> None:
    _dataset_write(ctx, p.id)


def dataset_save(ctx: Context, p: Any) -> None:
    """A whole-dataset save is a create or an update of the named dataset (each nested action checks too)."""
    if p.id is None:
        require_manager(ctx, _dept_id(ctx, str(p.dataset.get("department", ""))))
        return
    _dataset_write(ctx, p.id)
    target = p.dataset.get("department")
    if target is not None:
        require_manager(ctx, _dept_id(ctx, str(target)))


def dataset_show(ctx: Context, p: Any) -> None:
    require_visible(ctx, find_dataset(ctx, p.id, deleted=with_deleted(ctx, p)), p.id)


def dataset_record(ctx: Context, p: Any) -> None:
    require_visible(ctx, find_record(ctx, p.id, deleted=with_deleted(ctx, p)), p.id)


def catalog_stamp(ctx: Context, p: Any) -> None:
    return None


def dataset_history(ctx: Context, p: Any) -> None:
    dataset_show(ctx, p)


def dataset_quality(ctx: Context, p: Any) -> None:
    dataset_show(ctx, p)


def dataset_search(ctx: Context, p: Any) -> None:
    return None  # results are filtered by the caller's visibility


def dataset_list(ctx: Context, p: Any) -> None:
    return None


def _resource_dept(ctx: Context, resource_id: str) -> int | None:
    res = ctx.db.get(Resource, resource_id)
    return res.dataset.department_id if res is not None else None


def _resource_write(ctx: Context, resource_id: str) -> None:
    require_manager(ctx, _resource_dept(ctx, resource_id))
    res = ctx.db.get(Resource, resource_id)
    require_not_harvested(ctx, res.dataset if res is not None else None)


def resource_create(ctx: Context, p: Any) -> None:
    _dataset_write(ctx, p.dataset)


def resource_update(ctx: Context, p: Any) -> None:
    _resource_write(ctx, p.id)


def resource_delete(ctx: Context, p: Any) -> None:
    _resource_write(ctx, p.id)


def _find_resource(ctx: Context, rid: str) -> Resource:
    """The resource if the caller may see its dataset's metadata; else not found (existence does not leak)."""
    res = ctx.db.get(Resource, rid)
    if res is None or res.dataset.state != "active" or not vis.can_see(ctx.actor, res.dataset):
        raise NotFound("未找到资源", "Resource not found")
    return res


def resource_show(ctx: Context, p: Any) -> None:
    """A resource withheld by a failed or blocked load is listed for its department only (not found for others,
    as in the dataset's resource lists)."""
    res = _find_resource(ctx, p.id)
    if vis.withheld(res) and not vis.is_owner(ctx.actor, res.dataset.department_id):
        raise vis.withheld_error()


def resource_download(ctx: Context, p: Any) -> None:
    """The file's bytes: the visibility rule for this resource (withheld loads, publication date, conditional
    opening)."""
    res = _find_resource(ctx, p.id)
    vis.require_resource(ctx, res.dataset, res)


def plan_upsert(ctx: Context, p: Any) -> None:
    require_manager(ctx, _dept_id(ctx, p.department))


def plan_list(ctx: Context, p: Any) -> None:
    return None


def usage_record(ctx: Context, p: Any) -> None:
    return None


def usage_flush(ctx: Context, p: Any) -> None:
    return None  # writes only counts gathered in this process


def usage_import(ctx: Context, p: Any) -> None:
    require_admin(ctx)


def portal_stats(ctx: Context, p: Any) -> None:
    return None


def tag_list(ctx: Context, p: Any) -> None:
    return None


def theme_list(ctx: Context, p: Any) -> None:
    return None


def search_reindex(ctx: Context, p: Any) -> None:
    require_admin(ctx)


def quality_refresh(ctx: Context, p: Any) -> None:
    require_admin(ctx)


def resource_preview(ctx: Context, p: Any) -> None:
    """A file's preview shows its content: the same rule as its download."""
    resource_download(ctx, p)


# -- the publication workflow (catalog/publication.py) -------------------------------------------------------


def may_review(ctx: Context, department_id: int | None) -> bool:
    """The department's reviewer (its ``dept_admin``) or the data office (a platform admin)."""
    actor = ctx.actor
    if actor is None:
        return False
    return actor.is_admin or (actor.role == "dept_admin" and department_id is not None
                              and actor.department_id == department_id)


def _workflow_dataset(ctx: Context, ref: str) -> Dataset:
    """The dataset a workflow step is about; one the caller may not even see is "not found"."""
    ds = find_dataset(ctx, ref)
    if not can_read(ctx, ds):
        raise NotFound(f"未找到数据资源 {ref}", f"Dataset not found: {ref}")
    require_not_harvested(ctx, ds)
    return ds


def require_reviewer(ctx: Context, ds: Dataset) -> None:
    require_user(ctx)
    if not may_review(ctx, ds.department_id):
        raise NotAuthorized("只有本部门的审核人(部门管理员)或平台管理员可以审核发布",
                            "Only the department's reviewer (its department admin) or a platform admin may review "
                            "a publication")


def dataset_submit(ctx: Context, p: Any) -> None:
    require_manager(ctx, _workflow_dataset(ctx, p.id).department_id)


def dataset_approve(ctx: Context, p: Any) -> None:
    ds = _workflow_dataset(ctx, p.id)
    require_reviewer(ctx, ds)
    assert ctx.actor is not None
    if ds.submitted_by and ds.submitted_by == ctx.actor.name and ctx.actor.id != 0:  # id 0: the local operator
        raise NotAuthorized("不能审核自己提交的数据资源,请由本部门其他审核人或平台管理员审核",
                            "You may not approve your own submission: another reviewer of the department or a "
                            "platform admin must approve it")


def dataset_reject(ctx: Context, p: Any) -> None:
    require_reviewer(ctx, _workflow_dataset(ctx, p.id))


def dataset_withdraw(ctx: Context, p: Any) -> None:
    require_reviewer(ctx, _workflow_dataset(ctx, p.id))


def review_list(ctx: Context, p: Any) -> None:
    require_user(ctx)
    assert ctx.actor is not None
    if p.department is not None and not may_review(ctx, _dept_id(ctx, p.department)):
        raise NotAuthorized("只能审核本部门的数据资源", "You may only review your own department's datasets")


def dashboard_show(ctx: Context, p: Any) -> None:
    require_user(ctx)
    assert ctx.actor is not None
    if p.department is not None:
        require_manager(ctx, _dept_id(ctx, p.department))
    elif ctx.actor.department_id is None and not ctx.actor.is_admin:
        raise NotAuthorized("只有部门用户有数据专员工作台", "Only department users have a steward's dashboard")
