"""THE visibility rule of datasets and their resources: every path that lists or shows a dataset, or serves any
of its bytes, asks this module (see ``docs/visibility.md`` for the table of who sees what).

Three questions, for a caller (an :class:`~cityhub.context.Actor` or ``None`` for anonymous):

* :func:`can_see` — may they see the dataset's **metadata** (listed in search, counts, DCAT, CKAN; shown)?
* :func:`data_refusal` — may they read its **data** (raw files, datastore rows/SQL/aggregates/stats/exports,
  previews and maps, data package JSON and zip)? ``None`` when they may, else the refusal to raise.
* :func:`resource_refusal` — may they get **this resource's** bytes (the dataset's data rule plus the resource's
  own state: a file whose datastore load failed or was blocked by the personal-data scan is withheld)?

The rules, in order:

1. The owning department's stewards and department admins, and platform admins, see and read everything.
2. Hidden datasets (:func:`hidden`: ``private``, or not yet published by the publication workflow) are invisible
   to everyone else: "not found" (404), never 403, so their existence does not leak.
3. 不予开放 datasets: metadata and data to government roles only (others: not found).
4. A resource whose newest load failed or was blocked: withheld (not found) — the raw file and every derivative.
5. A publication date (``published_on``) in the future: metadata visible, data refused (not found, saying when).
6. 有条件开放 (conditional opening): metadata visible to all, data only with an approved application
   (:func:`has_data_grant`); otherwise refused (403) with :data:`CONDITIONAL` saying so.

The functions here are pure over the dataset / resource (ORM objects or Core rows with the same columns) and the
caller, except :func:`has_data_grant` and :func:`grants_of` (one query, asked only when rule 6 applies).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import or_, select

from cityhub.catalog import publication
from cityhub.context import Actor, Context
from cityhub.db import today_local, utcnow
from cityhub.errors import CityHubError, NotAuthorized, NotFound

GOVERNMENT_ROLES = ("platform_admin", "dept_admin", "steward", "analyst")
CLOSED = "不予开放"
CONDITIONAL_CLASS = "有条件开放"
#: the load states (``Resource.load_state``) that withhold a resource's file and everything made from it:
#: its load failed, or the personal-data scan blocked it, or its load (and so the scan) has not finished yet
#: ("checking": a new file is served once it has been looked at, not before)
WITHHELD_STATES = frozenset({"failed", "blocked", "checking"})

CONDITIONAL = ("该数据资源为有条件开放:数据仅向开放申请已获批准的用户提供,请先提交申请并等待批准",
               "This dataset is conditionally open: its data is served only to users whose application for it has "
               "been approved. Apply for access and wait for the approval first")


def _published(ds: Any) -> bool:
    """THE hook of the publication workflow (draft → submitted → published): whether the dataset has been
    published. Today every dataset is; the workflow returns ``False`` here for a draft or submitted dataset, and
    it becomes visible only to its department and platform admins (rule 2), in every path at once: the search
    index's ``private``/``public`` flags (:func:`hidden`, :func:`open_to_public`), CKAN's ``private``, DCAT,
    counts, pages and every byte path. The workflow's own rule: ``catalog/publication.py``."""
    return publication.is_published(ds)


def _published_sql() -> Any:
    """:func:`_published` as a condition on the ``dataset`` table (for the listings that filter in SQL:
    :func:`public_sql`); the publication workflow changes both together."""
    from cityhub.catalog.models import Dataset

    return Dataset.publication == publication.PUBLISHED


def hidden(ds: Any) -> bool:
    """Seen only by the owning department and platform admins (rule 2); the search index's ``private`` flag."""
    return bool(ds.private) or not _published(ds)


def public(ds: Any) -> bool:
    """Seen by anonymous callers and citizens (whatever its state): not hidden, not 不予开放. CKAN's ``private``
    is its negation (``dataset_fields``' ``public``)."""
    return not hidden(ds) and ds.opening_class != CLOSED


def open_to_public(ds: Any) -> bool:
    """Listed for anonymous callers and citizens: active and :func:`public` (the search index's ``public``
    flag)."""
    return ds.state == "active" and public(ds)


def public_sql() -> Any:
    """:func:`open_to_public` as a condition on the ``dataset`` table (DCAT's catalog, CKAN's package_list and
    tags, portal statistics)."""
    from cityhub.catalog.models import Dataset

    return ((Dataset.state == "active") & Dataset.private.is_(False) & (Dataset.opening_class != CLOSED)
            & _published_sql())


def is_owner(actor: Actor | None, department_id: int | None) -> bool:
    """A steward or department admin of the owning department, or a platform admin (rule 1)."""
    return actor is not None and actor.manages(department_id)


def is_government(actor: Actor | None) -> bool:
    return actor is not None and actor.role in GOVERNMENT_ROLES


def can_see(actor: Actor | None, ds: Any) -> bool:
    """May the caller see the dataset's metadata (rules 1-3)? A deleted dataset's state is the caller's finder's
    business (``catalog.auth.find_dataset``)."""
    if is_owner(actor, ds.department_id):
        return True
    if hidden(ds):
        return False
    if ds.opening_class == CLOSED:
        return is_government(actor)
    return True


def search_scope(actor: Actor | None) -> tuple[str, int | None]:
    """:func:`can_see` as the search index's filter: ``("public", None)`` (only ``public`` rows), ``("all", None)``
    or ``("government", dept)`` (rows not ``private``, or of ``dept`` — the department the caller manages, or
    none: an analyst manages no department)."""
    if actor is None or not is_government(actor):
        return "public", None
    if actor.is_admin:
        return "all", None
    return "government", actor.department_id if is_owner(actor, actor.department_id) else None


def not_found(ref: str) -> NotFound:
    return NotFound(f"未找到数据资源 {ref}", f"Dataset not found: {ref}")


def not_opened(ds: Any) -> NotFound:
    day = ds.published_on.isoformat()
    return NotFound(f"该数据资源的数据将于 {day} 开放,目前不能获取", f"This dataset's data opens on {day}; not yet")


def withheld_error() -> NotFound:
    return NotFound("未找到该资源的数据(导入未完成或未通过个人信息检查)",
                    "This resource's data is not available (its load has not finished, failed, or was blocked by the "
                    "personal-data scan)")


def conditional_error() -> NotAuthorized:
    return NotAuthorized(*CONDITIONAL)


def not_yet_open(ds: Any, today: dt.date | None = None) -> bool:
    return ds.published_on is not None and ds.published_on > (today or today_local())


def data_refusal(actor: Actor | None, ds: Any, granted: bool) -> CityHubError | None:
    """Why the caller may not read the dataset's data (rules 1-3, 5, 6), or ``None``. ``granted``: whether the
    caller holds an approved application (:func:`has_data_grant`; only consulted for 有条件开放)."""
    if is_owner(actor, ds.department_id):
        return None
    if not can_see(actor, ds):
        return not_found(ds.name)
    if not_yet_open(ds):
        return not_opened(ds)
    if ds.opening_class == CONDITIONAL_CLASS and not granted:
        return conditional_error()
    return None


def withheld(res: Any) -> bool:
    """The resource's newest datastore load failed, was blocked, or is still checking its own file (rule 4)."""
    return (getattr(res, "load_state", "") or "") in WITHHELD_STATES


def resource_refusal(actor: Actor | None, ds: Any, res: Any, granted: bool) -> CityHubError | None:
    """:func:`data_refusal` for one resource's bytes, with rule 4."""
    if is_owner(actor, ds.department_id):
        return None
    if not can_see(actor, ds):
        return not_found(ds.name)
    if withheld(res):
        return withheld_error()
    return data_refusal(actor, ds, granted)


def listed_resources(actor: Actor | None, ds: Any, resources: Iterable[Any]) -> list[Any]:
    """The resources a listing shows the caller (DCAT distributions, CKAN resources, data package members):
    withheld ones only to the owning department and platform admins, so the public never gets a download URL
    for them."""
    if is_owner(actor, ds.department_id):
        return list(resources)
    return [r for r in resources if not withheld(r)]


# -- the grant seam ---------------------------------------------------------------------------------------------


def grants_of(ctx: Context, dataset_ids: Iterable[int]) -> set[int]:
    """The datasets among ``dataset_ids`` whose data the caller may read by an approved, unexpired application
    (one query; none for anonymous callers)."""
    from cityhub.catalog.models import DataGrant

    ids = list(dataset_ids)
    if ctx.actor is None or not ids:
        return set()
    rows = ctx.db.scalars(select(DataGrant.dataset_id).where(
        DataGrant.dataset_id.in_(ids), DataGrant.user_id == ctx.actor.id,
        or_(DataGrant.expires_at.is_(None), DataGrant.expires_at > utcnow())))
    return set(rows)


def has_data_grant(ctx: Context, ds: Any) -> bool:
    """Whether the caller holds an approved application for the data of ``ds`` (a row of ``data_grant``; the
    sharing workflow creates them)."""
    return ds.id in grants_of(ctx, [ds.id])


def _granted(ctx: Context, ds: Any) -> bool:
    """The grant only matters (and is only looked up) for a conditionally open dataset the caller does not own."""
    if ds.opening_class != CONDITIONAL_CLASS or is_owner(ctx.actor, ds.department_id):
        return False
    return has_data_grant(ctx, ds)


def data_refusal_of(ctx: Context, ds: Any) -> CityHubError | None:
    """:func:`data_refusal` for the context's caller (the grant looked up when it matters)."""
    return data_refusal(ctx.actor, ds, _granted(ctx, ds))


def require_data(ctx: Context, ds: Any) -> None:
    """Raise unless the caller may read the dataset's data."""
    err = data_refusal(ctx.actor, ds, _granted(ctx, ds))
    if err is not None:
        raise err


def require_resource(ctx: Context, ds: Any, res: Any) -> None:
    """Raise unless the caller may get the resource's bytes."""
    err = resource_refusal(ctx.actor, ds, res, _granted(ctx, ds))
    if err is not None:
        raise err


def refusal(ctx: Context, ds: Any, res: Any) -> CityHubError | None:
    """:func:`resource_refusal` for the context's caller (the grant looked up when it matters)."""
    return resource_refusal(ctx.actor, ds, res, _granted(ctx, ds))


def may_read_resource(ctx: Context, ds: Any, res: Any) -> bool:
    return refusal(ctx, ds, res) is None


def can_see_sql(actor: Actor | None) -> Any:
    """:func:`can_see` as a condition on the ``dataset`` table (rules 1-3; the state is the caller's business):
    for listings that filter in SQL (the activity streams of many datasets)."""
    from sqlalchemy import false, true

    from cityhub.catalog.models import Dataset

    if actor is not None and actor.is_admin:
        return true()
    shown = Dataset.private.is_(False) & _published_sql()
    if not is_government(actor):
        shown = shown & (Dataset.opening_class != CLOSED)
    owner = (Dataset.department_id == actor.department_id) if actor is not None and actor.manages(
        actor.department_id) else false()
    return owner | shown
