"""Authorization rules of the datastore actions (same names as the actions). Reads follow the dataset's
visibility; loads, rollbacks and deletes need a steward of the owning department (or an admin)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cityhub import audit
from cityhub.accounts.auth import require_admin, require_user
from cityhub.catalog import visibility
from cityhub.catalog.auth import require_manager, require_not_harvested
from cityhub.catalog.models import Resource
from cityhub.context import Context
from cityhub.datastore.models import DatastoreVersion
from cityhub.datastore.query.grants import GRANTED_READ, GrantedRead
from cityhub.errors import NotAuthorized, NotFound

#: ``ctx.extra`` key of a ``Preset``
PRESET = "datastore_preset"


@dataclass(frozen=True)
class Preset:
    """What the sharing layer, having just authorised a grant-scoped read of one resource, hands the datastore
    action it calls (``sharing.exchange_auth``): the resource exists and is active, its dataset, and its live
    version (``None``: the action looks it up itself). Saves the nested action the same queries again."""

    resource_id: str
    dataset_id: int
    live: DatastoreVersion | None


def preset(ctx: Context, rid: str) -> Preset | None:
    found = ctx.extra.get(PRESET)
    return found if isinstance(found, Preset) and found.resource_id == rid and granted_read(ctx) is not None else None


def find_resource(ctx: Context, rid: str) -> Resource:
    res = ctx.db.get(Resource, rid)
    if res is None or res.dataset.state != "active":
        raise NotFound(f"未找到资源 {rid}", f"Resource not found: {rid}")
    return res


def readable(ctx: Context, res: Resource) -> bool:
    """The caller may read the resource's table: the visibility rule for the resource's bytes
    (``catalog.visibility``: hidden datasets, withheld loads, publication date, conditional opening)."""
    return visibility.may_read_resource(ctx, res.dataset, res)


def granted_read(ctx: Context) -> GrantedRead | None:
    """The grant the sharing layer authorised this call with (``sharing.exchange_actions``), if any."""
    found = ctx.extra.get(GRANTED_READ)
    return found if isinstance(found, GrantedRead) else None


def _read(ctx: Context, rid: str, action: str) -> None:
    """The visibility rule for the table's bytes. A refusal of an existing table is audited with its id (also
    when it answers "not found", which keeps a hidden dataset's existence from leaking).

    A call the sharing layer authorised with a grant (``granted_read``) reads that grant's resource only, in its
    scope (the actions apply it): the grant, not the portal's visibility rule, is the authorization."""
    granted = granted_read(ctx)
    if granted is not None and granted.resource_id == rid and preset(ctx, rid) is not None:
        return  # the sharing layer has checked the resource (``Preset``)
    res = ctx.db.get(Resource, rid)
    if res is None or res.dataset.state != "active":
        raise NotFound(f"未找到资源 {rid}", f"Resource not found: {rid}")
    if granted is not None:
        if granted.resource_id != rid:
            raise NotFound(f"未找到资源 {rid}", f"Resource not found: {rid}")
        return
    refused = visibility.refusal(ctx, res.dataset, res)
    if refused is None:
        return
    if not isinstance(refused, NotAuthorized):  # the registry audits NotAuthorized itself
        audit.record_separately(ctx, action, rid, "denied", {"reason": refused.message_en})
    if not visibility.can_see(ctx.actor, res.dataset):
        raise NotFound(f"未找到资源 {rid}", f"Resource not found: {rid}")
    raise refused


def _write(ctx: Context, rid: str) -> None:
    res = find_resource(ctx, rid)
    require_manager(ctx, res.dataset.department_id)
    require_not_harvested(ctx, res.dataset)  # a harvested dataset's tables are the source's business


def datastore_create(ctx: Context, p: Any) -> None:
    _write(ctx, p.resource_id)


def datastore_rollback(ctx: Context, p: Any) -> None:
    _write(ctx, p.resource_id)


def datastore_delete(ctx: Context, p: Any) -> None:
    _write(ctx, p.resource_id)


def datastore_info(ctx: Context, p: Any) -> None:
    _read(ctx, p.id, "datastore_info")


def datastore_search(ctx: Context, p: Any) -> None:
    _read(ctx, p.resource_id, "datastore_search")


def datastore_aggregate(ctx: Context, p: Any) -> None:
    _read(ctx, p.resource_id, "datastore_aggregate")


def datastore_stats(ctx: Context, p: Any) -> None:
    _read(ctx, p.resource_id, "datastore_stats")


def datastore_export(ctx: Context, p: Any) -> None:
    _read(ctx, p.resource_id, "datastore_export")


def datastore_search_sql(ctx: Context, p: Any) -> None:
    return None  # each table the SQL names is resolved under the caller's visibility; others look absent


def datastore_job_show(ctx: Context, p: Any) -> None:
    return None  # checked in the action once the version's resource is known


def datastore_load_run(ctx: Context, p: Any) -> None:
    require_user(ctx)
    assert ctx.actor is not None
    if ctx.actor.name != "system":
        raise NotAuthorized("仅后台任务可执行", "Only background jobs run loads")


def datastore_recover(ctx: Context, p: Any) -> None:
    require_admin(ctx)


def datastore_pii_columns(ctx: Context, p: Any) -> None:
    return None  # names columns only, for the dataset's own publish checks


def datastore_failure_list(ctx: Context, p: Any) -> None:
    """A department's failed loads: its stewards and admins (every department's: platform admins)."""
    if p.department_id is None:
        require_admin(ctx)
    else:
        require_manager(ctx, p.department_id)
