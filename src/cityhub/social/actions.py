"""Activity streams, following and notifications: CKAN's activity actions (``ckanext/activity/logic/action.py``,
CKAN 2.10/2.11) and follow actions (``ckan/logic/action/create.py``, ``delete.py``, ``get.py``) with CKAN's
shapes, CityHub's generic following (data requests, indicators) and the notifications of followers.

What a caller sees of any stream is decided by the catalog's one visibility rule (``catalog/visibility.py``):
an activity of a dataset is shown when the caller may see the dataset now (:func:`visibility.can_see`, or
:func:`visibility.can_see_sql` in listings) and, unless the caller owns it, when the activity was recorded while
the dataset was public (``Activity.public``: a change made while it was private stays with its department after
the dataset opens, as CKAN's permission labels of an activity are those of its time)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Integer, Select, and_, cast, exists, false, func, or_, select, true, update
from sqlalchemy.exc import IntegrityError

from cityhub.accounts.models import Department, User
from cityhub.actions import ADMINS, SIGNED_IN, action
from cityhub.actions import registry as action_registry
from cityhub.catalog import auth as catalog_auth
from cityhub.catalog import visibility
from cityhub.catalog.models import Dataset
from cityhub.context import Actor, Context
from cityhub.db import utcnow
from cityhub.errors import NotFound, ValidationError
from cityhub.interop import ckan_map
from cityhub.settings import get_settings
from cityhub.social import auth
from cityhub.social import schemas as s
from cityhub.social.models import Activity, Follow, Notification, SocialPreference

PACKAGE_TYPES = ("new package", "changed package", "deleted package")


# -- shapes ---------------------------------------------------------------------------------------------------


def _ts(value: dt.datetime) -> str:
    """CKAN's activity timestamps: naive UTC ISO 8601 (``table_dictize`` of a ``timestamp without time zone``)."""
    return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat()


def activity_dict(a: Any, *, include_data: bool = True) -> dict[str, Any]:
    """One activity as CKAN's ``activity_dictize`` (``table_dictize`` of the ``activity`` row): ``id``,
    ``timestamp``, ``user_id``, ``object_id``, ``activity_type``, ``data`` (``permission_labels`` are not
    exposed), plus ``object_type`` for non-CKAN readers."""
    data = dict(a.data or {})
    if not include_data:  # CKAN 2.9's activity_dictize(include_data=False): just the titles
        data = {k: {"title": v["title"]} for k, v in data.items() if isinstance(v, dict) and "title" in v}
    return {"id": str(a.id), "timestamp": _ts(a.ts), "user_id": str(a.user_id) if a.user_id else None,
            "object_id": a.object_id, "activity_type": a.activity_type, "data": data,
            "object_type": a.object_type}


def summary(a: Any) -> dict[str, str]:
    """What a page, a feed or an e-mail says about an activity: its title, verb and link."""
    data = a.data or {}
    base = get_settings().base_url.rstrip("/")
    obj = data.get("package") or data.get("group") or data.get("organization") or data
    title = str(obj.get("title") or obj.get("name") or a.object_id) if isinstance(obj, dict) else a.object_id
    url = ""
    if a.object_type == "dataset" and isinstance(obj, dict) and obj.get("name"):
        url = f"{base}/dataset/{obj['name']}"
    elif a.object_type == "organization" and isinstance(obj, dict) and obj.get("name"):
        url = f"{base}/organization/{obj['name']}"
    elif isinstance(data.get("url"), str) and data["url"].startswith("/"):
        url = base + data["url"]
    verbs = {"new package": "新建了数据集 created the dataset", "changed package": "修改了数据集 changed the dataset",
             "deleted package": "删除了数据集 deleted the dataset",
             "new organization": "新建了部门 created the department",
             "changed organization": "修改了部门 changed the department",
             "new data request": "提出了数据需求 asked for data", "changed data request": "更新了数据需求 updated the data request",
             "changed indicator": "更新了规划指标 updated the plan indicator",
             "new discussion post": "在数据集讨论中发帖 posted in the discussion of",
             "new reuse": "展示了基于数据集的成果 showed a reuse of"}
    return {"title": title, "verb": verbs.get(a.activity_type, a.activity_type), "url": url,
            "actor": str(data.get("actor") or a.actor or "system")}


# -- limits and visibility -----------------------------------------------------------------------------------


def _limit(p: s.Page) -> int:
    """CKAN's ``default(ckan.activity_list_limit)`` then ``limit_to_configured_maximum``."""
    settings = get_settings()
    return min(settings.activity_list_limit if p.limit is None else p.limit, settings.activity_list_limit_max)


def _owner_dept(actor: Actor | None) -> int | None:
    return actor.department_id if actor is not None and actor.manages(actor.department_id) else None


def visible_sql(actor: Actor | None) -> Any:
    """Which activities the caller may see (over ``activity`` outer-joined to ``dataset``): everything for platform
    admins; their own department's for its stewards and admins; otherwise the public ones, of datasets the caller
    may see now (``visibility.can_see_sql``)."""
    if actor is not None and actor.is_admin:
        return true()
    dept = _owner_dept(actor)
    owner = func.coalesce(Dataset.department_id, Activity.department_id) == dept if dept is not None else false()
    return or_(owner, and_(Activity.public.is_(True),
                           or_(Activity.dataset_id.is_(None), visibility.can_see_sql(actor))))


def may_see(actor: Actor | None, a: Activity, ds: Any) -> bool:
    """:func:`visible_sql` for one activity and its dataset (``None`` when it has none)."""
    if actor is not None and actor.is_admin:
        return True
    owner_of = ds.department_id if ds is not None else a.department_id
    if visibility.is_owner(actor, owner_of):
        return True
    if not a.public:
        return False
    return ds is None or visibility.can_see(actor, ds)


def _visible(ctx: Context, q: Select[Any]) -> Select[Any]:
    return q.outerjoin(Dataset, Dataset.id == Activity.dataset_id).where(visible_sql(ctx.actor))


def _window(q: Select[Any], p: s.Page, limit: int) -> Select[Any]:
    """``after`` / ``before`` and the page, newest first (with ``after`` alone: the ``limit`` activities right after
    it, as CKAN pages forward)."""
    if p.after is not None:
        q = q.where(Activity.ts > p.after)
    if p.before is not None:
        q = q.where(Activity.ts < p.before)
    if p.after is not None and p.before is None:
        return q.order_by(Activity.ts.asc(), Activity.id.asc()).offset(p.offset).limit(limit)
    return q.order_by(Activity.ts.desc(), Activity.id.desc()).offset(p.offset).limit(limit)


def _run(ctx: Context, q: Select[Any], p: s.Page) -> list[Activity]:
    """The page's ids first (read from the stream's covering index, however deep the offset), then those rows."""
    ids = list(ctx.db.scalars(_window(q.with_only_columns(Activity.id), p, _limit(p))))
    if not ids:
        return []
    by_id = {a.id: a for a in ctx.db.scalars(select(Activity).where(Activity.id.in_(ids)))}
    rows = [by_id[i] for i in ids if i in by_id]
    if p.after is not None and p.before is None:
        rows.reverse()
    return rows


def _types(q: Select[Any], p: s.ActivityListIn) -> Select[Any]:
    if p.activity_types is not None and p.exclude_activity_types is not None:
        raise ValidationError("activity_types 与 exclude_activity_types 不能同时使用",
                              "activity_types cannot be used together with exclude_activity_types",
                              fields={"activity_types": ["Cannot be used together with `exclude_activity_types"]})
    if p.activity_types is not None:
        q = q.where(Activity.activity_type.in_(p.activity_types))
    if p.exclude_activity_types is not None:
        q = q.where(Activity.activity_type.not_in(p.exclude_activity_types))
    return q


def _hidden(ctx: Context, q: Select[Any], p: s.ActivityListIn) -> Select[Any]:
    """CKAN hides the site user's activity (harvests, the operator's loads) unless a sysadmin asks for it
    (``include_hidden_activity``; ``ignore_not_sysadmin``: others' request is ignored)."""
    if p.include_hidden_activity and ctx.actor is not None and ctx.actor.is_admin:
        return q
    return q.where(Activity.user_id.is_not(None))


# -- finding the objects -------------------------------------------------------------------------------------


def find_dataset(ctx: Context, ref: str) -> Any:
    """The dataset a CKAN client names by package id or name, as a Core row, if the caller may see it (a deleted
    one: its department and platform admins only); else not found."""
    parsed = ckan_map.parse_package_id(ref)
    key = str(parsed[0]) if parsed else ref
    try:
        row = catalog_auth.find_record(ctx, key, deleted=True)
    except NotFound:
        raise visibility.not_found(ref) from None
    if parsed and not ckan_map.same_instant(row.created_at.isoformat(), parsed[1]):
        raise visibility.not_found(ref)
    if not parsed and row.name != ref and not (ref.isdigit() and str(row.id) == ref):
        raise visibility.not_found(ref)
    if not visibility.can_see(ctx.actor, row):
        raise visibility.not_found(ref)
    if row.state == "deleted" and not visibility.is_owner(ctx.actor, row.department_id):
        raise visibility.not_found(ref)
    return row


def find_department(ctx: Context, ref: str) -> Department:
    dept = ctx.db.scalar(select(Department).where(Department.slug == ref))
    if dept is None and ref.isdigit():
        dept = ctx.db.get(Department, int(ref))
    if dept is None:
        raise NotFound(f"未找到部门 {ref}", f"Organization not found: {ref}")
    return dept


def find_user(ctx: Context, ref: str) -> User:
    user = ctx.db.scalar(select(User).where(User.name == ref))
    if user is None and ref.isdigit():
        user = ctx.db.get(User, int(ref))
    if user is None:
        raise NotFound(f"未找到用户 {ref}", f"User not found: {ref}")
    return user


def package_id_of(row: Any) -> str:
    return ckan_map.package_id(row.id, row.created_at.isoformat())


# -- CKAN activity actions -----------------------------------------------------------------------------------


@action(auth.package_activity_list, schema=s.ActivityListIn)
def package_activity_list(ctx: Context, p: s.ActivityListIn) -> list[dict[str, Any]]:
    """A dataset's activity stream, newest first (CKAN's ``package_activity_list``): ``id`` (package id or name),
    ``offset``, ``limit`` (default 31, at most 100), ``after`` / ``before`` (POSIX or ISO 8601),
    ``activity_types`` or ``exclude_activity_types``, ``include_hidden_activity`` (platform admins)."""
    ds = find_dataset(ctx, p.id)
    q = _types(select(Activity).where(Activity.dataset_id == ds.id), p)
    if not visibility.is_owner(ctx.actor, ds.department_id):
        q = q.where(Activity.public.is_(True))
    return [activity_dict(a) for a in _run(ctx, _hidden(ctx, q, p), p)]


@action(auth.organization_activity_list, schema=s.ActivityListIn)
def organization_activity_list(ctx: Context, p: s.ActivityListIn) -> list[dict[str, Any]]:
    """A department's (CKAN organization's) activity stream: the department's own changes and those of its
    datasets the caller may see (CKAN's ``organization_activity_list``; same parameters as
    :func:`package_activity_list`)."""
    dept = find_department(ctx, p.id)
    q = _types(_visible(ctx, select(Activity).where(Activity.department_id == dept.id)), p)
    return [activity_dict(a) for a in _run(ctx, _hidden(ctx, q, p), p)]


@action(auth.recently_changed_packages_activity_list, schema=s.DashboardIn)
def recently_changed_packages_activity_list(ctx: Context, p: s.DashboardIn) -> list[dict[str, Any]]:
    """The activity of all recently created, changed or deleted datasets the caller may see (CKAN's
    ``recently_changed_packages_activity_list``): ``offset``, ``limit``."""
    q = _visible(ctx, select(Activity).where(Activity.object_type == "dataset",
                                              Activity.activity_type.in_(PACKAGE_TYPES),
                                              Activity.user_id.is_not(None)))
    return [activity_dict(a) for a in _run(ctx, q, p)]


@action(auth.user_activity_list, schema=s.ActivityListIn)
def user_activity_list(ctx: Context, p: s.ActivityListIn) -> list[dict[str, Any]]:
    """What a user did, as far as the caller may see it (CKAN's ``user_activity_list``): ``id`` (name or id),
    ``offset``, ``limit``, ``after``, ``before``."""
    user = find_user(ctx, p.id)
    q = _types(_visible(ctx, select(Activity).where(Activity.user_id == user.id)), p)
    return [activity_dict(a) for a in _run(ctx, q, p)]


@action(auth.activity_show, schema=s.ActivityShowIn)
def activity_show(ctx: Context, p: s.ActivityShowIn) -> dict[str, Any]:
    """One activity (CKAN's ``activity_show``): ``id``, ``include_data`` (default true)."""
    a = ctx.db.get(Activity, int(p.id)) if p.id.isdigit() else None
    ds = ctx.db.get(Dataset, a.dataset_id) if a is not None and a.dataset_id is not None else None
    if a is None or not may_see(ctx.actor, a, ds):
        raise NotFound(f"未找到动态 {p.id}", f"Activity not found: {p.id}")
    return activity_dict(a, include_data=p.include_data)


def _dashboard_query(me: int) -> Select[Any]:
    """The caller's own activity and that of everything they follow (CKAN's ``_dashboard_activity_query``)."""
    mine = Follow.user_id == me
    return select(Activity).where(or_(
        Activity.user_id == me,
        Activity.dataset_id.in_(select(cast(Follow.object_id, Integer)).where(mine, Follow.object_type == "dataset")),
        Activity.department_id.in_(select(cast(Follow.object_id, Integer))
                                   .where(mine, Follow.object_type == "organization")),
        exists().where(mine, Follow.object_type == Activity.object_type, Follow.object_id == Activity.object_id)))


def _viewed_at(ctx: Context, me: int) -> dt.datetime | None:
    return ctx.db.scalar(select(SocialPreference.dashboard_viewed_at).where(SocialPreference.user_id == me))


@action(auth.dashboard_activity_list, schema=s.DashboardIn, roles=SIGNED_IN)
def dashboard_activity_list(ctx: Context, p: s.DashboardIn) -> list[dict[str, Any]]:
    """The caller's news feed (CKAN's ``dashboard_activity_list``): their own activity and that of the datasets,
    departments, requests and indicators they follow, each with ``is_new`` (since they last marked their dashboard
    read; their own activity is never new)."""
    assert ctx.actor is not None
    me = ctx.actor.id
    viewed = _viewed_at(ctx, me)
    out = []
    for a in _run(ctx, _visible(ctx, _dashboard_query(me)), p):
        d = activity_dict(a)
        d["is_new"] = a.user_id != me and (viewed is None or a.ts > viewed)
        out.append(d)
    return out


@action(auth.dashboard_new_activities_count, schema=s.Empty, roles=SIGNED_IN)
def dashboard_new_activities_count(ctx: Context, p: s.Empty) -> int:
    """How many of the caller's dashboard activities are new (CKAN's ``dashboard_new_activities_count``: counted
    over one default-sized page of the dashboard)."""
    return sum(1 for a in dashboard_activity_list(ctx, s.DashboardIn()) if a["is_new"])


def _preference(ctx: Context, me: int) -> SocialPreference:
    pref = ctx.db.get(SocialPreference, me)
    if pref is None:
        pref = SocialPreference(user_id=me, email_notifications=True)
        ctx.db.add(pref)
    return pref


@action(auth.dashboard_mark_activities_old, schema=s.Empty, write=True, roles=SIGNED_IN,
        target=lambda p, r: "dashboard")
def dashboard_mark_activities_old(ctx: Context, p: s.Empty) -> None:
    """Mark the caller's dashboard activities old (CKAN's ``dashboard_mark_activities_old``); their unread
    notifications are marked read with them."""
    assert ctx.actor is not None
    now = utcnow()
    _preference(ctx, ctx.actor.id).dashboard_viewed_at = now
    ctx.db.execute(update(Notification).where(Notification.user_id == ctx.actor.id, Notification.read_at.is_(None))
                   .values(read_at=now))
    return None


# -- following ---------------------------------------------------------------------------------------------


def _follow_key(ctx: Context, object_type: str, ref: str) -> tuple[str, str, str]:
    """``(stored id, CKAN-facing id, title)`` of an object to follow; datasets and departments by our row id."""
    if object_type == "dataset":
        row = find_dataset(ctx, ref)
        return str(row.id), package_id_of(row), row.title
    if object_type == "organization":
        dept = find_department(ctx, ref)
        return str(dept.id), dept.slug, dept.name
    show = f"{object_type}_show"
    if show in action_registry():  # the object's own domain says whether it exists (and the caller may see it)
        from cityhub import actions

        actions.call(show, ctx, {SHOW_KEYS.get(object_type, "id"): ref})
    return ref, ref, ref


#: the input field of ``<object_type>_show`` that names the object, where it is not ``id``
SHOW_KEYS = {"indicator": "code"}


def _follow(ctx: Context, object_type: str, ref: str) -> dict[str, Any]:
    assert ctx.actor is not None
    key, public_id, title = _follow_key(ctx, object_type, ref)
    row = Follow(user_id=ctx.actor.id, object_type=object_type, object_id=key, created_at=utcnow())
    try:
        with ctx.db.begin_nested():
            ctx.db.add(row)
            ctx.db.flush()
    except IntegrityError:
        raise ValidationError(f"您已关注 {title}", f"You are already following {ref}",
                              fields={"message": [f"You are already following {ref}"]}) from None
    return {"follower_id": str(ctx.actor.id), "object_id": public_id, "datetime": _ts(row.created_at)}


def _unfollow(ctx: Context, object_type: str, ref: str) -> None:
    assert ctx.actor is not None
    key, _, _ = _follow_key(ctx, object_type, ref)
    gone = getattr(ctx.db.execute(Follow.__table__.delete().where(  # type: ignore[attr-defined]
        Follow.user_id == ctx.actor.id, Follow.object_type == object_type, Follow.object_id == key)), "rowcount", 0)
    if not gone:
        raise NotFound(f"您没有关注 {ref}", f"You are not following {ref}.")


def _following(ctx: Context, object_type: str, ref: str) -> bool:
    assert ctx.actor is not None
    key, _, _ = _follow_key(ctx, object_type, ref)
    return ctx.db.scalar(select(Follow.id).where(Follow.user_id == ctx.actor.id, Follow.object_type == object_type,
                                                 Follow.object_id == key)) is not None


def _count(ctx: Context, object_type: str, ref: str) -> int:
    key, _, _ = _follow_key(ctx, object_type, ref)
    return int(ctx.db.scalar(select(func.count()).select_from(Follow).where(
        Follow.object_type == object_type, Follow.object_id == key)) or 0)


@action(auth.follow_dataset, schema=s.FollowRef, write=True, roles=SIGNED_IN)
def follow_dataset(ctx: Context, p: s.FollowRef) -> dict[str, Any]:
    """Follow a dataset (CKAN's ``follow_dataset``): ``{follower_id, object_id, datetime}``; already following is
    a validation error."""
    return _follow(ctx, "dataset", p.id)


@action(auth.unfollow_dataset, schema=s.FollowRef, write=True, roles=SIGNED_IN)
def unfollow_dataset(ctx: Context, p: s.FollowRef) -> None:
    """Stop following a dataset (CKAN's ``unfollow_dataset``); not following it is not found."""
    _unfollow(ctx, "dataset", p.id)


@action(auth.follow_group, schema=s.FollowRef, write=True, roles=SIGNED_IN)
def follow_group(ctx: Context, p: s.FollowRef) -> dict[str, Any]:
    """Follow a department (CKAN's ``follow_group``, which CKAN also uses for organizations)."""
    return _follow(ctx, "organization", p.id)


@action(auth.unfollow_group, schema=s.FollowRef, write=True, roles=SIGNED_IN)
def unfollow_group(ctx: Context, p: s.FollowRef) -> None:
    """Stop following a department (CKAN's ``unfollow_group``)."""
    _unfollow(ctx, "organization", p.id)


@action(auth.am_following_dataset, schema=s.FollowRef, roles=SIGNED_IN)
def am_following_dataset(ctx: Context, p: s.FollowRef) -> bool:
    """Whether the caller follows the dataset (CKAN's ``am_following_dataset``)."""
    return _following(ctx, "dataset", p.id)


@action(auth.am_following_group, schema=s.FollowRef, roles=SIGNED_IN)
def am_following_group(ctx: Context, p: s.FollowRef) -> bool:
    """Whether the caller follows the department (CKAN's ``am_following_group``)."""
    return _following(ctx, "organization", p.id)


@action(auth.dataset_follower_count, schema=s.FollowRef)
def dataset_follower_count(ctx: Context, p: s.FollowRef) -> int:
    """How many users follow the dataset (CKAN's ``dataset_follower_count``)."""
    return _count(ctx, "dataset", p.id)


@action(auth.group_follower_count, schema=s.FollowRef)
def group_follower_count(ctx: Context, p: s.FollowRef) -> int:
    """How many users follow the department (CKAN's ``group_follower_count`` / ``organization_follower_count``)."""
    return _count(ctx, "organization", p.id)


@action(auth.dataset_follower_list, schema=s.FollowRef, roles=ADMINS)
def dataset_follower_list(ctx: Context, p: s.FollowRef) -> list[dict[str, Any]]:
    """The users who follow the dataset (CKAN's ``dataset_follower_list``: sysadmins only), at most 1,000."""
    key, _, _ = _follow_key(ctx, "dataset", p.id)
    users = ctx.db.scalars(select(User).join(Follow, Follow.user_id == User.id).where(
        Follow.object_type == "dataset", Follow.object_id == key).order_by(User.name).limit(1000))
    return [{"id": str(u.id), "name": u.name, "display_name": u.display_name or u.name,
             "fullname": u.display_name, "state": "active" if u.active else "deleted"} for u in users]


def _followees(ctx: Context, user_id: int, object_type: str | None, limit: int) -> list[dict[str, Any]]:
    q = select(Follow).where(Follow.user_id == user_id).order_by(Follow.created_at.desc(), Follow.id.desc())
    if object_type:
        q = q.where(Follow.object_type == object_type)
    follows = list(ctx.db.scalars(q.limit(limit)))
    ds_ids = [int(f.object_id) for f in follows if f.object_type == "dataset" and f.object_id.isdigit()]
    dept_ids = [int(f.object_id) for f in follows if f.object_type == "organization" and f.object_id.isdigit()]
    datasets = {r.id: r for r in ctx.db.execute(catalog_auth.RECORD.where(Dataset.id.in_(ds_ids)))} if ds_ids else {}
    depts = {d.id: d for d in ctx.db.scalars(select(Department).where(Department.id.in_(dept_ids)))} if dept_ids \
        else {}
    out = []
    for f in follows:
        item: dict[str, Any] = {"type": f.object_type, "object_id": f.object_id, "created_at": _ts(f.created_at)}
        if f.object_type == "dataset":
            row = datasets.get(int(f.object_id)) if f.object_id.isdigit() else None
            if row is None or not visibility.can_see(ctx.actor, row) or row.state != "active":
                continue  # no longer visible to them: not listed (the follow row stays)
            item.update(display_name=row.title, dict={"id": package_id_of(row), "name": row.name,
                                                       "title": row.title, "type": "dataset"})
        elif f.object_type == "organization":
            dept = depts.get(int(f.object_id)) if f.object_id.isdigit() else None
            if dept is None:
                continue
            item.update(display_name=dept.name, dict={"id": dept.slug, "name": dept.slug, "title": dept.name,
                                                      "type": "organization", "is_organization": True})
        else:
            item.update(display_name=f.object_id, dict={"id": f.object_id, "type": f.object_type})
        out.append(item)
    return out


@action(auth.followee_list, schema=s.UserRef, roles=SIGNED_IN)
def followee_list(ctx: Context, p: s.UserRef) -> list[dict[str, Any]]:
    """What a user follows (CKAN's ``followee_list``: ``[{type, display_name, dict}]``; ``q`` filters on the
    display name). Yourself, or anyone for platform admins."""
    assert ctx.actor is not None
    user_id = ctx.actor.id if not p.id or p.id in (ctx.actor.name, str(ctx.actor.id)) else find_user(ctx, p.id).id
    items = _followees(ctx, user_id, None, 1000)
    if p.q:
        items = [i for i in items if p.q.casefold() in str(i["display_name"]).casefold()]
    return [{"type": i["type"], "display_name": i["display_name"], "dict": i["dict"]} for i in items]


@action(auth.follow_create, schema=s.FollowIn, write=True, roles=SIGNED_IN,
        target=lambda p, r: f"{p.object_type}:{p.object_id}")
def follow_create(ctx: Context, p: s.FollowIn) -> dict[str, Any]:
    """Follow a dataset, a department, a data request or an indicator (its id as text): its activity then reaches
    the caller's dashboard and notifications."""
    return {"object_type": p.object_type, **_follow(ctx, p.object_type, p.object_id)}


@action(auth.follow_delete, schema=s.FollowIn, write=True, roles=SIGNED_IN,
        target=lambda p, r: f"{p.object_type}:{p.object_id}")
def follow_delete(ctx: Context, p: s.FollowIn) -> dict[str, Any]:
    """Stop following an object."""
    _unfollow(ctx, p.object_type, p.object_id)
    return {"object_type": p.object_type, "object_id": p.object_id, "deleted": True}


@action(auth.follow_list, schema=s.FollowListIn, roles=SIGNED_IN)
def follow_list(ctx: Context, p: s.FollowListIn) -> list[dict[str, Any]]:
    """What the caller follows, newest first (datasets no longer visible to them left out)."""
    assert ctx.actor is not None
    return _followees(ctx, ctx.actor.id, p.object_type, p.limit)


# -- notifications -------------------------------------------------------------------------------------------


def _notifications(ctx: Context, unread_only: bool) -> Select[Any]:
    assert ctx.actor is not None
    q: Select[Any] = select(Notification, Activity)  # type: ignore[assignment]
    q = (q.join(Activity, Activity.id == Notification.activity_id)
         .outerjoin(Dataset, Dataset.id == Activity.dataset_id)
         .where(Notification.user_id == ctx.actor.id, visible_sql(ctx.actor)))
    if unread_only:
        q = q.where(Notification.read_at.is_(None))
    return q


@action(auth.notification_list, schema=s.NotificationListIn, roles=SIGNED_IN)
def notification_list(ctx: Context, p: s.NotificationListIn) -> dict[str, Any]:
    """The caller's notifications, newest first, each with its activity (as the caller may see it now)."""
    rows = ctx.db.execute(_notifications(ctx, p.unread_only).order_by(Notification.id.desc())
                          .offset(p.offset).limit(p.limit)).all()
    items = [{"id": n.id, "created_at": _ts(n.created_at), "read": n.read_at is not None,
              "activity": activity_dict(a, include_data=False), **summary(a)} for n, a in rows]
    return {"unread": notification_count(ctx, s.Empty())["unread"], "items": items}


UNREAD_CAP = 100


@action(auth.notification_count, schema=s.Empty, roles=SIGNED_IN)
def notification_count(ctx: Context, p: s.Empty) -> dict[str, int]:
    """The caller's unread notifications (counted up to 100: the bell shows "99+" beyond)."""
    sub = _notifications(ctx, True).with_only_columns(Notification.id).limit(UNREAD_CAP).subquery()
    return {"unread": int(ctx.db.scalar(select(func.count()).select_from(sub)) or 0)}


@action(auth.notification_mark_read, schema=s.NotificationReadIn, write=True, roles=SIGNED_IN,
        target=lambda p, r: "all" if p.ids is None else f"{len(p.ids)} notifications")
def notification_mark_read(ctx: Context, p: s.NotificationReadIn) -> dict[str, int]:
    """Mark some (``ids``) or all of the caller's notifications read."""
    assert ctx.actor is not None
    q = update(Notification).where(Notification.user_id == ctx.actor.id, Notification.read_at.is_(None))
    if p.ids is not None:
        q = q.where(Notification.id.in_(p.ids))
    marked = getattr(ctx.db.execute(q.values(read_at=utcnow())), "rowcount", 0)
    return {"marked": int(marked or 0)}


@action(auth.notification_preference_update, schema=s.PreferenceIn, write=True, roles=SIGNED_IN,
        target=lambda p, r: "email_notifications")
def notification_preference_update(ctx: Context, p: s.PreferenceIn) -> dict[str, bool]:
    """Turn the caller's notification e-mails on or off (CKAN's ``activity_streams_email_notifications``)."""
    assert ctx.actor is not None
    _preference(ctx, ctx.actor.id).email_notifications = p.email_notifications
    return {"email_notifications": p.email_notifications}


@action(auth.notification_preference_show, schema=s.Empty, roles=SIGNED_IN)
def notification_preference_show(ctx: Context, p: s.Empty) -> dict[str, bool]:
    """Whether the caller receives notification e-mails."""
    assert ctx.actor is not None
    return {"email_notifications": preference_of(ctx, ctx.actor.id)}


def preference_of(ctx: Context, user_id: int) -> bool:
    pref = ctx.db.get(SocialPreference, user_id)
    return True if pref is None else pref.email_notifications


EMAIL_BATCH = 500


@action(auth.notification_email_send, schema=s.Empty, write=True, roles=ADMINS, target=lambda p, r: "smtp")
def notification_email_send(ctx: Context, p: s.Empty) -> dict[str, Any]:
    """Send the pending notification e-mails (the background job's round; platform admins may run one): one
    plain-text mail per user with what they may still see, to users who have not turned e-mails off. A failed
    send is retried on the next round, up to ``CITYHUB_SMTP_MAX_ATTEMPTS`` tries."""
    from cityhub.social import mail

    settings = get_settings()
    if not settings.smtp_host:
        return {"enabled": False, "sent": 0, "failed": 0, "skipped": 0}
    rows = ctx.db.execute(
        select(Notification, Activity, User).join(Activity, Activity.id == Notification.activity_id)
        .join(User, User.id == Notification.user_id)
        .where(Notification.emailed_at.is_(None), Notification.email_attempts < settings.smtp_max_attempts)
        .order_by(Notification.id).limit(EMAIL_BATCH)).all()
    by_user: dict[int, tuple[User, list[tuple[Notification, Activity]]]] = {}
    for n, a, u in rows:
        by_user.setdefault(u.id, (u, []))[1].append((n, a))
    now = utcnow()
    sent = failed = skipped = 0
    base = settings.base_url.rstrip("/")
    for user, pairs in by_user.values():
        reader = Actor(id=user.id, name=user.name, role=user.role, department_id=user.department_id)
        items = []
        for _n, a in pairs:
            ds = ctx.db.get(Dataset, a.dataset_id) if a.dataset_id is not None else None
            if may_see(reader, a, ds):
                items.append({**summary(a), "when": _ts(a.ts)[:16].replace("T", " ")})
        if not items or not user.email or not user.active or not preference_of(ctx, user.id):
            for n, _ in pairs:
                n.emailed_at = now  # nothing to send them: done
            skipped += len(pairs)
            continue
        msg = mail.message(settings.smtp_from, user.email, mail.subject(settings.site_title, items),
                           mail.body(settings.site_title, user.display_name or user.name, items,
                                     f"{base}/notifications"))
        try:
            _smtp_send(msg)
        except Exception:  # the SMTP server refused or was unreachable: try again next round
            for n, _ in pairs:
                n.email_attempts += 1
            failed += len(pairs)
            continue
        for n, _ in pairs:
            n.emailed_at = now
            n.email_attempts += 1
        sent += 1
    return {"enabled": True, "sent": sent, "failed": failed, "skipped": skipped}


def _smtp_send(msg: Any) -> None:
    import smtplib

    settings = get_settings()
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=30) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password)
        smtp.send_message(msg)


# -- feeds ---------------------------------------------------------------------------------------------------


@action(auth.activity_feed, schema=s.FeedIn)
def activity_feed(ctx: Context, p: s.FeedIn) -> dict[str, Any]:
    """A dataset's, a department's or the whole site's recent changes as the entries of an Atom feed (what the
    caller may see; ``social/feeds.py`` writes the XML)."""
    settings = get_settings()
    base = settings.base_url.rstrip("/")
    page = {"limit": p.limit}
    if p.kind == "dataset":
        ds = find_dataset(ctx, p.id or "")
        acts = package_activity_list(ctx, s.ActivityListIn(id=p.id or "", **page))
        title, link, self_url = ds.title, f"{base}/dataset/{ds.name}", f"{base}/feeds/dataset/{ds.name}.atom"
        feed_id = f"{base}/feeds/dataset/{package_id_of(ds)}"
    elif p.kind == "organization":
        dept = find_department(ctx, p.id or "")
        acts = organization_activity_list(ctx, s.ActivityListIn(id=dept.slug, **page))
        title, link = dept.name, f"{base}/organization/{dept.slug}"
        self_url = feed_id = f"{base}/feeds/organization/{dept.slug}.atom"
    else:
        acts = recently_changed_packages_activity_list(ctx, s.DashboardIn(**page))
        title, link = f"{settings.site_title} · 最近更新 Recent changes", f"{base}/dataset"
        self_url = feed_id = f"{base}/feeds/recent.atom"
    entries = []
    for d in acts:
        a = Activity(id=int(d["id"]), object_type=d["object_type"], object_id=d["object_id"],
                     activity_type=d["activity_type"], data=d["data"], actor=str(d["data"].get("actor") or ""))
        sm = summary(a)
        entries.append({"id": f"{base}/activity/{d['id']}", "title": f"{sm['actor']} {sm['verb']}: {sm['title']}",
                        "link": sm["url"], "updated": d["timestamp"] + "Z", "author": sm["actor"],
                        "summary": f"{sm['verb']}: {sm['title']}"})
    updated = entries[0]["updated"] if entries else _ts(utcnow()) + "Z"
    return {"id": feed_id, "title": title, "link": link, "self": self_url, "updated": updated, "entries": entries}
