"""Authorization of the de-identification, base-item and correction actions (deny by default).

* policies and views: the stewards and department admins of the resource's department, and platform admins;
* base items: platform admins (the data office) set them and read the coverage report; any government user
  reads the list and checks a dataset of their own department;
* corrections: any government user reports; the *provider* department's stewards accept, resolve and apply;
  a reporter sees their own tickets, the provider its department's, the platform admin all.
"""

from __future__ import annotations

from typing import Any

from cityhub.accounts.auth import require_admin
from cityhub.catalog.models import Dataset, Resource
from cityhub.context import Context
from cityhub.errors import NotAuthenticated, NotAuthorized, NotFound
from cityhub.sharing.deid_models import Correction


def _actor(ctx: Context) -> Any:
    if ctx.actor is None:
        raise NotAuthenticated("请先登录", "Sign-in required")
    return ctx.actor


def resource(ctx: Context, rid: str) -> Resource:
    res = ctx.db.get(Resource, rid)
    if res is None or res.dataset.state != "active":
        raise NotFound(f"未找到资源 {rid}", f"Resource not found: {rid}")
    return res


def require_steward_of(ctx: Context, department_id: int) -> None:
    if not _actor(ctx).manages(department_id):
        raise NotAuthorized("仅该资源所属部门的数据专员可执行此操作",
                            "Only the stewards of the resource's department may do this")


def _resource_steward(ctx: Context, p: Any) -> None:
    require_steward_of(ctx, resource(ctx, p.resource_id).dataset.department_id)


def _named(func: Any, name: str) -> Any:
    def check(ctx: Context, p: Any) -> None:
        func(ctx, p)

    check.__name__ = check.__qualname__ = name
    return check


deid_policy_set = _named(_resource_steward, "deid_policy_set")
deid_policy_show = _named(_resource_steward, "deid_policy_show")
deid_view_build = _named(_resource_steward, "deid_view_build")
deid_view_release = _named(_resource_steward, "deid_view_release")
deid_view_show = _named(_resource_steward, "deid_view_show")


def base_item_set(ctx: Context, p: Any) -> None:
    require_admin(ctx)


def base_item_coverage(ctx: Context, p: Any) -> None:
    require_admin(ctx)


def base_item_list(ctx: Context, p: Any) -> None:
    _actor(ctx)


def base_item_check(ctx: Context, p: Any) -> None:
    actor = _actor(ctx)
    if actor.is_admin:
        return
    ds = _dataset(ctx, p.dataset)
    require_steward_of(ctx, ds.department_id)


def _dataset(ctx: Context, ref: str) -> Dataset:
    from sqlalchemy import or_, select

    numeric = ref.isascii() and ref.isdigit() and len(ref) <= 9  # an integer key, never an overflow
    cond = or_(Dataset.name == ref, Dataset.id == int(ref)) if numeric else Dataset.name == ref
    ds = ctx.db.scalar(select(Dataset).where(cond))
    if ds is None or ds.state != "active":
        raise NotFound(f"未找到数据资源 {ref}", f"Dataset not found: {ref}")
    return ds


def correction_create(ctx: Context, p: Any) -> None:
    """A record can be disputed by whoever may read the resource's table (the catalog's visibility rule; a
    grant-holding department once the exchange serves grants): a ticket shows the record's current value."""
    from cityhub.catalog import visibility

    _actor(ctx)
    res = resource(ctx, p.resource_id)
    if not visibility.may_read_resource(ctx, res.dataset, res):
        raise NotFound(f"未找到资源 {p.resource_id}", f"Resource not found: {p.resource_id}")


def ticket(ctx: Context, cid: int) -> Correction:
    c = ctx.db.get(Correction, cid)
    if c is None:
        raise NotFound(f"未找到校核工单 {cid}", f"Correction ticket not found: {cid}")
    return c


def _provider(ctx: Context, p: Any) -> None:
    _actor(ctx)
    c = ticket(ctx, p.id)
    if not ctx.actor or not ctx.actor.manages(c.department_id):
        raise NotAuthorized("仅数据提供部门的数据专员可处理该工单",
                            "Only the stewards of the providing department may handle this ticket")


correction_accept = _named(_provider, "correction_accept")
correction_resolve = _named(_provider, "correction_resolve")
correction_apply = _named(_provider, "correction_apply")


def may_see(ctx: Context, c: Correction) -> bool:
    actor = ctx.actor
    return actor is not None and (actor.is_admin or c.reporter == actor.name or actor.manages(c.department_id))


def correction_show(ctx: Context, p: Any) -> None:
    _actor(ctx)
    if not may_see(ctx, ticket(ctx, p.id)):
        raise NotFound(f"未找到校核工单 {p.id}", f"Correction ticket not found: {p.id}")


def correction_list(ctx: Context, p: Any) -> None:
    _actor(ctx)  # the list holds only what the caller may see
