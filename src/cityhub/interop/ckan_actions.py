"""Read actions behind the CKAN Action API's listing and lookup calls (``web/routes/ckan.py`` only shapes them).

Each follows the CKAN function it serves (``ckan/logic/action/get.py``, CKAN 2.10/2.11), over our catalog:
departments are organizations, themes are groups, dataset tags are free tags and our controlled vocabularies
(:data:`cityhub.interop.ckan_map.VOCABULARIES`) are tag vocabularies. What the public may see is decided by the
catalog's rules: counts come from ``dataset_search`` (the caller's visibility), lists of datasets are checked
row by row with ``catalog.auth.can_read``, and tags, formats and resources are those of public datasets
(``published_filter``). Read actions: not audited.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from pydantic import Field
from sqlalchemy import Select, false, func, select

from cityhub import actions
from cityhub.accounts.models import Department, User
from cityhub.actions import action
from cityhub.catalog import solr, visibility
from cityhub.catalog.actions import resource_fields
from cityhub.catalog.auth import can_read
from cityhub.catalog.models import Dataset, Resource, SearchFacet
from cityhub.catalog.schemas import Strict
from cityhub.catalog.vocab import THEMES
from cityhub.context import Context
from cityhub.errors import NotFound, ValidationError
from cityhub.interop import ckan_auth as auth
from cityhub.interop import ckan_map
from cityhub.interop.dcat_actions import published_filter
from cityhub.settings import get_settings

# our roles → CKAN organization capacities
CAPACITY_OF_ROLE = {"dept_admin": "admin", "steward": "editor", "analyst": "member", "platform_admin": "admin"}
FACET_MAX = 1000  # dataset_search's facet.limit ceiling: more departments than this with datasets is not a city


def _like(term: str) -> str:
    """``%term%`` for a case-insensitive LIKE, with LIKE's own characters escaped (CKAN's
    ``escape_sql_like_special_characters``)."""
    escaped = term.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _visible_counts(ctx: Context, facet: str, include_private: bool) -> dict[str, int]:
    """Datasets per organization / group as ``package_search`` counts them for the caller (``group_dictize``'s
    ``package_count``): with ``include_private`` what the caller may list, else ``+capacity:public`` (only what
    the public sees), as ``package_search`` adds it when ``include_private`` is not set."""
    query: dict[str, Any] = {"rows": 0, "facet_fields": [facet], "facet_limit": FACET_MAX, "include_private": True}
    if not include_private:
        query["where"] = [{"param": param, "query": solr.to_json(tree)}
                          for param, tree in ckan_map.search_queries("", "", [], include_private=False)]
    out = actions.call("dataset_search", ctx, query)
    return {item["name"]: int(item["count"]) for item in out["facets"].get(facet, [])}


def department_id_of(ctx: Context, slug: str) -> int | None:
    return ctx.db.scalar(select(Department.id).where(Department.slug == slug))


# -- organization_list / group_list ------------------------------------------------------------------------


class GroupSearchIn(Strict):
    q: str = Field("", max_length=500, description="substring of the name, title or description (any case)")
    names: list[str] | None = Field(None, max_length=10_000, description="only these names")
    sort: Literal["name", "title", "package_count"] = "title"
    order: Literal["asc", "desc"] = "asc"
    limit: int = Field(1000, ge=0, le=100_000)
    offset: int = Field(0, ge=0)


def _page(items: list[dict[str, Any]], p: GroupSearchIn, name: str, title: str, description: str) -> dict[str, Any]:
    """``_group_or_org_list``'s filter, sort and page, over records whose CKAN name, title and description are
    under the keys given, with ``package_count``. Ties are broken by name, so pages never skip or repeat."""
    q = p.q.strip().casefold()
    if p.names is not None:
        wanted = set(p.names)
        items = [i for i in items if i[name] in wanted]
    if q:
        items = [i for i in items if q in i[name].casefold() or q in str(i[title]).casefold()
                 or q in str(i.get(description) or "").casefold()]
    key = {"name": name, "title": title, "package_count": "package_count"}[p.sort]
    items.sort(key=lambda i: i[name])
    items.sort(key=lambda i: i[key], reverse=p.order == "desc")
    return {"count": len(items), "results": items[p.offset:p.offset + p.limit]}


@action(auth.department_search, schema=GroupSearchIn)
def department_search(ctx: Context, p: GroupSearchIn) -> dict[str, Any]:
    """Departments (CKAN organizations: name = slug, title = the department's name) filtered by ``q`` / ``names``
    (slugs), sorted by slug, name or the number of datasets the caller can list, then paged: ``{count, results}``
    (department records with ``package_count``)."""
    # group_dictize: a member of the organization counts with include_private (what it may list), anyone else
    # what the public sees; a sysadmin is a member of every organization
    public = _visible_counts(ctx, "organization", include_private=False)
    actor = ctx.actor
    mine = _visible_counts(ctx, "organization", include_private=True) if actor is not None else {}

    def member(dept_id: int) -> bool:
        return actor is not None and (actor.is_admin or actor.department_id == dept_id)

    depts = actions.call("department_list", ctx, {"limit": 10_000})  # its ceiling; a city has ~100
    items = [{**d, "package_count": (mine if member(d["id"]) else public).get(d["slug"], 0)} for d in depts]
    return _page(items, p, "slug", "name", "description")


@action(auth.theme_search, schema=GroupSearchIn)
def theme_search(ctx: Context, p: GroupSearchIn) -> dict[str, Any]:
    """Themes (CKAN groups), as :func:`department_search`; a theme's title is its Chinese name. Counts are what
    the public sees (``group_dictize`` sets ``include_private`` for organizations only)."""
    counts = _visible_counts(ctx, "theme", include_private=False)
    items = [{"name": t[0], "title": t[1], "title_en": t[2], "package_count": counts.get(t[0], 0)} for t in THEMES]
    return _page(items, p, "name", "title", "title_en")


# -- tags -----------------------------------------------------------------------------------------------------


class TagSearchIn(Strict):
    query: list[str] = Field(default_factory=list, max_length=50, description="substrings, all must match")
    vocabulary: str | None = Field(None, max_length=100, description="a vocabulary name; none: free tags")
    limit: int | None = Field(None, ge=0, le=100_000)
    offset: int = Field(0, ge=0)


def _free_tags(*terms: str) -> Select[Any]:
    q = select(SearchFacet.value).where(SearchFacet.field == "tags",
                                        SearchFacet.dataset_id.in_(select(Dataset.id).where(published_filter())))
    for term in terms:
        q = q.where(func.lower(SearchFacet.value).like(_like(term), escape="\\"))
    return q.distinct()


@action(auth.tag_search, schema=TagSearchIn)
def tag_search(ctx: Context, p: TagSearchIn) -> dict[str, Any]:
    """Tags whose names contain every one of ``query`` (any case), as ``_tag_search``: free tags of public
    datasets, or the values of a vocabulary; none without a query. ``{count, results: [name]}``, by name."""
    terms = [t.strip() for t in p.query if t.strip()]
    if not terms:
        return {"count": 0, "results": []}
    if p.vocabulary is not None:
        values = sorted(v for v in ckan_map.VOCABULARIES.get(p.vocabulary, ())
                        if all(t.casefold() in v.casefold() for t in terms))
        end = None if p.limit is None else p.offset + p.limit
        return {"count": len(values), "results": values[p.offset:end]}
    q = _free_tags(*terms)
    count = int(ctx.db.scalar(select(func.count()).select_from(q.subquery())) or 0)
    page = q.order_by(SearchFacet.value).offset(p.offset)
    if p.limit is not None:
        page = page.limit(p.limit)
    return {"count": count, "results": list(ctx.db.scalars(page))}


class TagShowIn(Strict):
    id: str = Field(min_length=1, max_length=200, description="the tag's name (its id)")
    vocabulary: str | None = Field(None, max_length=100)


@action(auth.tag_show, schema=TagShowIn)
def tag_show(ctx: Context, p: TagShowIn) -> dict[str, Any]:
    """A tag: a free tag some public dataset carries, or a value of the named vocabulary; else Not Found."""
    if p.vocabulary is not None:
        if p.id not in ckan_map.VOCABULARIES.get(p.vocabulary, ()):
            raise NotFound(f"未找到标签 {p.id}", f"Tag not found: {p.id}")
        return {"name": p.id, "vocabulary": p.vocabulary}
    exists = ctx.db.scalar(select(SearchFacet.value).where(
        SearchFacet.field == "tags", SearchFacet.value == p.id,
        SearchFacet.dataset_id.in_(select(Dataset.id).where(published_filter()))).limit(1))
    if exists is None:
        raise NotFound(f"未找到标签 {p.id}", f"Tag not found: {p.id}")
    return {"name": p.id, "vocabulary": None}


# -- autocomplete ------------------------------------------------------------------------------------------


class AutocompleteIn(Strict):
    q: str = Field(min_length=1, max_length=200)
    limit: int = Field(10, ge=0, le=1000)


@action(auth.format_autocomplete, schema=AutocompleteIn)
def format_autocomplete(ctx: Context, p: AutocompleteIn) -> list[str]:
    """Resource formats containing ``q`` (any case), lower-cased, most used first (``format_autocomplete``)."""
    n = func.count().label("n")
    rows = ctx.db.execute(
        select(Resource.format, n).join(Dataset, Dataset.id == Resource.dataset_id)
        .where(published_filter(), Resource.format != "", func.lower(Resource.format).like(_like(p.q), escape="\\"))
        .group_by(Resource.format).order_by(n.desc(), Resource.format).limit(p.limit)).all()
    return [str(fmt).lower() for fmt, _ in rows]


@action(auth.department_autocomplete, schema=AutocompleteIn)
def department_autocomplete(ctx: Context, p: AutocompleteIn) -> list[dict[str, str]]:
    """Departments whose name (slug) or title contains ``q`` (``Group.search_by_name_or_title``), by title."""
    pattern = _like(p.q.strip())
    rows = ctx.db.execute(select(Department.slug, Department.name).where(
        func.lower(Department.slug).like(pattern, escape="\\") | func.lower(Department.name).like(pattern, escape="\\"))
        .order_by(Department.name, Department.slug).limit(p.limit)).all()
    return [{"id": slug, "name": slug, "title": name} for slug, name in rows]


AUTOCOMPLETE_SCAN = 5_000  # matches looked at for one answer (most are readable; private ones are skipped)


@action(auth.dataset_autocomplete, schema=AutocompleteIn)
def dataset_autocomplete(ctx: Context, p: AutocompleteIn) -> list[dict[str, str]]:
    """Datasets the caller may see whose name or title contains ``q`` (``package_autocomplete``): names that match
    first, then titles; each ``{name, title, match_field, match_displayed}``."""
    q = p.q.strip()
    pattern = _like(q)
    name_hit = func.lower(Dataset.name).like(pattern, escape="\\")
    base = (select(Dataset.name, Dataset.title, Dataset.department_id, Dataset.private, Dataset.opening_class,
                   Dataset.publication)
            .where(Dataset.state == "active", name_hit | func.lower(Dataset.title).like(pattern, escape="\\"))
            .order_by(name_hit.desc(), Dataset.name).limit(AUTOCOMPLETE_SCAN))
    out: list[dict[str, str]] = []
    for row in ctx.db.execute(base):
        if len(out) >= p.limit:
            break
        if not can_read(ctx, row):
            continue
        if q.lower() in row.name:
            out.append({"name": row.name, "title": row.title, "match_field": "name", "match_displayed": row.name})
        else:
            out.append({"name": row.name, "title": row.title, "match_field": "title",
                        "match_displayed": f"{row.title} ({row.name})"})
    return out


# -- resource_search -----------------------------------------------------------------------------------------


class ResourceSearchIn(Strict):
    query: list[str] = Field(min_length=1, max_length=20, description="'field:term' criteria, ANDed")
    order_by: str | None = Field(None, max_length=40)
    offset: int = Field(0, ge=0)
    limit: int | None = Field(None, ge=0)


# CKAN's Resource columns we hold: text columns match a substring (any case), the others equal the term
TEXT_COLUMNS = {"name": Resource.name, "description": Resource.description, "url": Resource.url,
                "format": Resource.format, "mimetype": Resource.media_type, "id": Resource.id}
EXACT_COLUMNS = {"size": Resource.size, "position": Resource.position}
ORDER_COLUMNS = {**TEXT_COLUMNS, **EXACT_COLUMNS, "hash": Resource.sha256, "created": Resource.created_at,
                 "last_modified": Resource.modified_at}


def _criteria(query: list[str]) -> list[tuple[str, str]]:
    try:
        pairs = [tuple(item.split(":", 1)) for item in query]
        return [(f, t) for f, t in pairs]
    except ValueError:
        raise ValidationError("query 须为 字段:值", "Must be <field>:<value> pair(s)",
                              fields={"query": ["Must be <field>:<value> pair(s)"]}) from None


@action(auth.resource_search, schema=ResourceSearchIn)
def resource_search(ctx: Context, p: ResourceSearchIn) -> dict[str, Any]:
    """Resources of public datasets (none withheld by a blocked or failed load) matching every ``field:term``
    (``resource_search``): text fields (name,
    description, url, format, mimetype, id) contain the term in any case, ``hash`` starts with it (with or
    without ``sha256:``), ``size`` / ``position`` equal it, ``package_id`` is a package's id or name.
    ``{count, results}``; at most ``search_rows_max`` results per call (``offset`` pages on)."""
    q = (select(Resource, Dataset.name, Dataset.created_at).join(Dataset, Dataset.id == Resource.dataset_id)
         .where(published_filter(), Resource.load_state.not_in(visibility.WITHHELD_STATES)))
    for fld, term in _criteria(p.query):
        if fld in TEXT_COLUMNS:
            q = q.where(func.lower(TEXT_COLUMNS[fld]).like(_like(term), escape="\\"))
        elif fld == "hash":
            digest = term.lower().removeprefix("sha256:")
            q = q.where(Resource.sha256.like(_like(digest)[1:], escape="\\"))
        elif fld in EXACT_COLUMNS:
            try:
                q = q.where(EXACT_COLUMNS[fld] == int(term))
            except ValueError:
                q = q.where(false())  # a non-number equals no number (CKAN's SQL comparison finds nothing)
        elif fld == "package_id":
            parsed = ckan_map.parse_package_id(term)
            q = q.where(Dataset.id == parsed[0]) if parsed else q.where(Dataset.name == term)
        else:
            msg = f'Field "{fld}" not recognised in resource_search.'
            raise ValidationError(f"resource_search 不支持字段 {fld}", msg, fields={"query": [msg]})
    if p.order_by is not None and p.order_by not in ORDER_COLUMNS:
        msg = f'Cannot order by field "{p.order_by}"'
        raise ValidationError(f"不能按 {p.order_by} 排序", msg, fields={"order_by": [msg]})
    count = int(ctx.db.scalar(select(func.count()).select_from(q.subquery())) or 0)
    order = [ORDER_COLUMNS[p.order_by]] if p.order_by else []
    cap = get_settings().search_rows_max
    limit = cap if p.limit is None else min(p.limit, cap)
    rows = ctx.db.execute(q.order_by(*order, Resource.dataset_id, Resource.position, Resource.id)
                          .offset(p.offset).limit(limit)).all()
    base = get_settings().base_url.rstrip("/")
    results = [{**resource_fields(r, name, base), "dataset_name": name, "dataset_created_at": created.isoformat()}
               for r, name, created in rows]
    return {"count": count, "results": results}


# -- members -------------------------------------------------------------------------------------------------


class MemberListIn(Strict):
    id: str = Field(min_length=1, max_length=100, description="an organization (department) or group (theme)")
    object_type: Literal["user", "package"] | None = None
    capacity: str | None = Field(None, max_length=40)


def _packages(ctx: Context, where: Any) -> Iterator[str]:
    rows = ctx.db.execute(select(Dataset.id, Dataset.created_at, Dataset.department_id, Dataset.private,
                                 Dataset.opening_class, Dataset.publication).where(Dataset.state == "active", where).order_by(Dataset.id))
    for row in rows:
        if can_read(ctx, row):
            yield ckan_map.package_id(row.id, row.created_at.isoformat())


@action(auth.member_list, schema=MemberListIn)
def member_list(ctx: Context, p: MemberListIn) -> list[tuple[str, str, str]]:
    """``(id, type, capacity)`` of an organization's or group's members (``member_list``): a department's staff
    (capacity Admin / Editor / Member; shown to platform admins and the department's own staff only) and its
    datasets (capacity ``organization``); a theme's datasets (capacity ``public``). Datasets the caller may
    not see are left out."""
    from cityhub.catalog.vocab import THEME_BY_SLUG

    out: list[tuple[str, str, str]] = []
    want = p.capacity
    dept_id = department_id_of(ctx, p.id)
    if dept_id is not None:
        if p.object_type in (None, "user") and auth.may_see_members(ctx, dept_id):
            users = ctx.db.execute(select(User.id, User.role).where(User.department_id == dept_id,
                                                                    User.active.is_(True)).order_by(User.id))
            for uid, role in users:
                capacity = CAPACITY_OF_ROLE.get(role)
                if capacity and want in (None, capacity):
                    out.append((str(uid), "user", ckan_map.CAPACITY_TITLES[capacity]))
        if p.object_type in (None, "package") and want in (None, "organization"):
            out += [(pid, "package", "organization") for pid in _packages(ctx, Dataset.department_id == dept_id)]
        return out
    if p.id in THEME_BY_SLUG:
        if p.object_type in (None, "package") and want in (None, "public"):
            out += [(pid, "package", "public") for pid in _packages(ctx, Dataset.theme == p.id)]
        return out
    raise NotFound(f"未找到组织或分组 {p.id}", f"Group not found: {p.id}")


class ListForUserIn(Strict):
    id: str | None = Field(None, max_length=64, description="a user's name or id; none: the caller")
    permission: str = Field("manage_group", max_length=40)


@action(auth.department_list_for_user, schema=ListForUserIn)
def department_list_for_user(ctx: Context, p: ListForUserIn) -> list[dict[str, Any]]:
    """The departments a user holds ``permission`` in, each with the user's ``capacity``
    (``organization_list_for_user``): every department (as admin) for a platform admin; the user's own
    department when their capacity there (department admin → admin, steward → editor, analyst → member) has
    the permission; nothing for anonymous callers and public users."""
    if p.id:
        ref = User.id == int(p.id) if p.id.isdigit() else User.name == p.id
        user = ctx.db.execute(select(User.role, User.department_id).where(ref)).first()
        if user is None:
            raise NotFound(f"未找到用户 {p.id}", f"User not found: {p.id}")
        role, dept_id = user.role, user.department_id
    elif ctx.actor is not None:
        role, dept_id = ctx.actor.role, ctx.actor.department_id
    else:
        return []
    depts = ctx.db.scalars(select(Department).order_by(Department.name))
    from cityhub.accounts.actions import department_dict

    if role == "platform_admin":
        return [{**department_dict(d), "capacity": "admin"} for d in depts]
    capacity = CAPACITY_OF_ROLE.get(role)
    if dept_id is None or capacity is None or capacity not in ckan_map.capacities_with(p.permission):
        return []
    return [{**department_dict(d), "capacity": capacity} for d in depts if d.id == dept_id]
