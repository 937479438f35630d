"""CKAN package dict ↔ CityHub dataset, both directions (pure data and functions, no web or DB imports).

* :func:`package` / :func:`organization` / :func:`group` serialise our records (as returned by the catalog and
  account actions) in CKAN's shapes; our national catalog metadata travels as ``extras``.
* :func:`package_to_dataset` maps a CKAN package (ours, or any CKAN portal's) back to the input of our
  ``dataset_create`` / ``dataset_update`` actions; :func:`package_resources` gives its resources as inputs of
  ``resource_create``. A foreign package lacks our mandatory metadata, so the documented defaults of
  :data:`DEFAULTS` fill the gaps (see ``docs/ckan.md``); every extra that maps to none of our fields is kept
  in the dataset's free-form ``extras``.
* :func:`package_id` / :func:`parse_package_id` give each dataset a CKAN-style UUID that is unique across
  instances (so ``ckanapi load`` never mistakes another portal's package for one of ours).

* :func:`search_queries` / :func:`search_sort` read ``package_search``'s ``q``, ``fq`` and ``sort`` as CKAN does and
  name the search index's fields (the Lucene parser is :mod:`cityhub.catalog.solr`).

Imports only pure modules (``cityhub.catalog.vocab``, ``cityhub.catalog.solr``, ``cityhub.catalog.textsearch``,
``cityhub.interop.vocab``, ``cityhub.geo``).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from typing import Any

from cityhub.catalog import solr
from cityhub.catalog.textsearch import tokens
from cityhub.catalog.vocab import (
    BASE_CATEGORIES,
    CATALOG_TYPES,
    LICENSES,
    OPENING_CLASSES,
    RESOURCE_FORMATS,
    SHARING_CLASSES,
    SHARING_METHODS,
    THEME_BY_SLUG,
    THEMES,
    UPDATE_CYCLES,
)
from cityhub.geo import DISTRICT_NAMES
from cityhub.interop.vocab import license_id_from_uri, update_cycle_from_frequency

# CKAN's package name rule (``ckan.logic.validators.name_validator``): 2–100 of lowercase a–z, 0–9, - and _.
NAME_RE = re.compile(r"^[a-z0-9_-]{2,100}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE_RE = re.compile(r"^[0-9+\-() ]{0,40}$")
CODE_RE = re.compile(r"^[1-3]\d{5}\d{0,6}/\d{6}$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}")

# Defaults for the national metadata a foreign CKAN package does not carry.
DEFAULTS: dict[str, Any] = {
    "theme": "livelihood",          # 民生服务, when no group names one of our themes
    "catalog_type": "部门",          # a department's own resource
    "class_item": "01",
    "class_category": "001",
    "class_sub": "",
    "format": "电子表格",
    "sharing_class": "无条件共享",
    "sharing_method": ["接口"],
    "opening_class": "无条件开放",   # public packages
    "opening_class_private": "不予开放",  # private packages
    "update_cycle": "不定期",
    "license_id": "",
}
ABSTRACT_MIN = 10  # our abstract (摘要) is mandatory with at least this many characters
MAX_TAGS = 30
MAX_EXTRAS = 100
MAX_EXTRA_KEY = 100
MAX_EXTRA_VALUE = 10_000

# Plain-text catalog fields that travel as extras, in this order.
EXTRA_KEYS = ("code", "catalog_type", "base_category", "class_item", "class_category", "class_sub",
              "sharing_class", "sharing_condition", "sharing_basis", "opening_class", "opening_condition",
              "update_cycle", "published_on", "format", "temporal_start", "temporal_end", "quality_score",
              "title_en", "department_uscc", "contact_phone")
# List-valued catalog fields that travel as JSON-encoded extras.
JSON_EXTRA_KEYS = ("districts", "sharing_method", "data_items", "related_codes")
# Extras computed by us on export: never read back as input.
DERIVED_EXTRAS = frozenset({"quality_score", "department_uscc"})
# Foreign metadata we keep under these extras (the CKAN core field of the same name means something else).
SOURCE_LICENSE = "source_license_id"
SOURCE_GROUPS = "source_groups"
FREQUENCY_KEYS = ("frequency", "accrual_periodicity", "update_frequency", "dct:accrualPeriodicity")
# Keys a dataset's free-form extras may not use: ours, and CKAN's core package fields.
CORE_FIELDS = frozenset({
    "id", "name", "title", "notes", "type", "state", "private", "owner_org", "organization", "groups", "tags",
    "resources", "license_id", "license_title", "license_url", "metadata_created", "metadata_modified",
    "maintainer", "maintainer_email", "author", "author_email", "url", "version", "extras", "num_tags",
    "num_resources", "creator_user_id", "relationships_as_object", "relationships_as_subject", "isopen"})
RESERVED_EXTRAS = frozenset(EXTRA_KEYS) | frozenset(JSON_EXTRA_KEYS) | CORE_FIELDS

# Free-text English (and ISO 8601 repeating-interval) frequencies → our update cycle.
FREQUENCY_WORDS: dict[str, str] = {
    "continuous": "实时", "continual": "实时", "real-time": "实时", "realtime": "实时", "real time": "实时",
    "hourly": "实时", "daily": "每日", "day": "每日", "weekly": "每周", "week": "每周", "monthly": "每月",
    "month": "每月", "quarterly": "每季度", "quarter": "每季度", "semiannual": "每半年", "semi-annual": "每半年",
    "biannual": "每半年", "annual": "每年", "annually": "每年", "yearly": "每年", "year": "每年",
    "irregular": "不定期", "as needed": "不定期", "asneeded": "不定期", "notplanned": "不定期", "unknown": "不定期",
    "r/pt1h": "实时", "r/p1d": "每日", "r/p1w": "每周", "r/p1m": "每月", "r/p3m": "每季度", "r/p6m": "每半年",
    "r/p1y": "每年",
}
# Common CKAN licence ids → ours (CKAN's default licence list and the SPDX-style spellings).
LICENSE_ALIASES: dict[str, str] = {
    "cc-by-4.0": "cc-by-4.0", "cc-by-4": "cc-by-4.0", "cc-by": "cc-by-4.0", "cc_by_4_0": "cc-by-4.0",
    "odc-odbl": "odc-odbl", "odbl-1.0": "odc-odbl", "odbl": "odc-odbl",
    "cc0-1.0": "cc0-1.0", "cc-zero": "cc0-1.0", "cc0": "cc0-1.0",
    "gz-open-data-1.0": "gz-open-data-1.0",
}
# Upper-cased resource formats → our information-resource format (信息资源格式).
RESOURCE_KIND: dict[str, str] = {
    **{f: "电子表格" for f in ("CSV", "TSV", "XLS", "XLSX", "ODS", "JSON", "NDJSON", "JSONL", "PARQUET", "XML")},
    **{f: "文档" for f in ("PDF", "DOC", "DOCX", "TXT", "HTML", "ODT", "RTF")},
    **{f: "图形图像" for f in ("PNG", "JPG", "JPEG", "GIF", "TIFF", "SVG", "GEOJSON", "KML", "SHP", "WMS", "WFS")},
    **{f: "流媒体" for f in ("MP4", "MP3", "AVI", "RTSP", "HLS")},
    **{f: "数据库" for f in ("SQL", "API", "SPARQL")},
}


# Our controlled vocabularies, offered as CKAN tag vocabularies (``vocabulary_list``; ``tag_list`` / ``tag_search``
# / ``tag_show`` with ``vocabulary_id``). Each name is also the ``package_search`` fq field of its values.
VOCABULARIES: dict[str, tuple[str, ...]] = {
    "district": tuple(DISTRICT_NAMES),
    "update_cycle": tuple(UPDATE_CYCLES),
    "sharing_class": tuple(SHARING_CLASSES),
    "opening_class": tuple(OPENING_CLASSES),
    "catalog_type": tuple(CATALOG_TYPES),
}
# CKAN organization capacities (``ckan.authz.ROLE_PERMISSIONS``) and their display names (``trans_role``)
CAPACITY_TITLES = {"admin": "Admin", "editor": "Editor", "member": "Member"}
ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "admin": ("admin", "membership"),
    "editor": ("read", "delete_dataset", "create_dataset", "update_dataset", "manage_group"),
    "member": ("read", "manage_group"),
}


def capacities_with(permission: str) -> tuple[str, ...]:
    """The capacities holding ``permission`` (``ckan.authz.get_roles_with_permission``: admin holds all)."""
    return tuple(c for c, perms in ROLE_PERMISSIONS.items() if permission in perms or "admin" in perms)


def tag(name: str, vocabulary: str | None = None) -> dict[str, Any]:
    """A tag in CKAN's shape (``model_dictize.tag_dictize``); our tags have no ids of their own, the name is one."""
    return {"id": name, "name": name, "vocabulary_id": vocabulary, "display_name": name}


def vocabulary_list() -> list[dict[str, Any]]:
    """Our controlled vocabularies in CKAN's ``vocabulary_list`` shape (``vocabulary_list_dictize``)."""
    return [{"id": name, "name": name, "tags": [tag(v, name) for v in values]} for name, values in VOCABULARIES.items()]


def license_list() -> list[dict[str, Any]]:
    """Our licences in CKAN's ``license_list`` shape. CKAN's ``DefaultLicense.copy()`` turns every value into a
    string (``"False"``, ``"approved"``), so the flags are strings here too."""
    out = []
    for lid, (title, _title_en, url) in LICENSES.items():
        out.append({"domain_content": "False", "id": lid, "domain_data": "True", "domain_software": "False",
                    "family": "", "is_generic": "False", "od_conformance": "approved",
                    "osd_conformance": "not reviewed", "maintainer": "", "status": "active", "url": url,
                    "title": title})
    return out


class MappingError(ValueError):
    """A package that cannot become a dataset; ``fields`` holds CKAN-style per-field messages."""

    def __init__(self, fields: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {', '.join(v)}" for k, v in fields.items()))
        self.fields = fields


# -- identifiers ------------------------------------------------------------------------------------------


def _micros(created_at: str) -> int:
    stamp = dt.datetime.fromisoformat(created_at)
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.UTC)
    return (stamp - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1)


def package_id(dataset_id: int, created_at: str) -> str:
    """A CKAN package id: an RFC 9562 version-8 UUID holding our row id and the creation instant (µs).

    Another instance's dataset with the same row id was created at another microsecond, so its id differs:
    ``ckanapi load`` (which looks packages up by ``id`` first) never updates the wrong dataset."""
    micros = _micros(created_at) & ((1 << 60) - 1)
    value = ((micros >> 12) << 80) | (0x8 << 76) | ((micros & 0xFFF) << 64) | (0b10 << 62)
    value |= dataset_id & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


def parse_package_id(ref: str) -> tuple[int, int] | None:
    """``(row id, creation µs)`` of an id made by :func:`package_id`, or ``None`` for anything else."""
    try:
        u = uuid.UUID(ref)
    except (ValueError, AttributeError, TypeError):
        return None
    if u.version != 8 or str(u) != ref.lower():
        return None
    value = u.int
    micros = ((value >> 80) << 12) | ((value >> 64) & 0xFFF)
    return value & ((1 << 62) - 1), micros


def same_instant(created_at: str, micros: int) -> bool:
    """Whether ``created_at`` (ISO 8601) is the instant encoded in a package id."""
    return _micros(created_at) & ((1 << 60) - 1) == micros


# -- CityHub → CKAN ------------------------------------------------------------------------------------------


def organization(d: dict[str, Any], package_count: int | None = None, *, include_extras: bool = True,
                 include_groups: bool = True, include_tags: bool = True, include_users: bool = True) -> dict[str, Any]:
    """A department (``department_list`` record) as a CKAN organization (``group_dictize``): ``package_count`` when
    given (the datasets the caller can list), the ``include_*`` parts as ``organization_show`` /
    ``organization_list`` ask for them."""
    out: dict[str, Any] = {
        "id": d["slug"], "name": d["slug"], "title": d["name"], "display_name": d["name"],
        "description": d.get("description", ""), "type": "organization", "is_organization": True,
        "state": "active", "image_url": "", "image_display_url": "", "created": d.get("created_at"),
        "approval_status": "approved"}
    if package_count is not None:
        out["package_count"] = package_count
    if include_extras:
        out["extras"] = [{"key": "uscc", "value": d["uscc"]}, {"key": "level", "value": d["level"]},
                         {"key": "short_name", "value": d["short_name"]}, {"key": "name_en", "value": d["name_en"]}]
    if include_groups:
        out["groups"] = []
    if include_tags:
        out["tags"] = []
    if include_users:
        out["users"] = []
    return out


def group(slug: str, count: int | None = None) -> dict[str, Any]:
    """A theme as a CKAN group."""
    t = THEME_BY_SLUG.get(slug, (slug, slug, slug))
    out: dict[str, Any] = {"id": slug, "name": slug, "title": t[1], "display_name": t[1], "description": t[2],
                           "type": "group", "is_organization": False, "state": "active", "image_url": "",
                           "image_display_url": "", "approval_status": "approved"}
    if count is not None:
        out["package_count"] = count
    return out


def _extra_value(value: Any) -> str:
    return "" if value is None else str(value)


def package_extras(d: dict[str, Any]) -> list[dict[str, str]]:
    """The CKAN ``extras`` of a dataset: our catalog fields, then its free-form extras (sorted by key)."""
    out = [{"key": k, "value": _extra_value(d.get(k))} for k in EXTRA_KEYS]
    out += [{"key": k, "value": json.dumps(d.get(k) or [], ensure_ascii=False)} for k in JSON_EXTRA_KEYS]
    free = d.get("extras") or {}
    out += [{"key": k, "value": str(free[k])} for k in sorted(free) if k not in RESERVED_EXTRAS]
    return out


def download_url(base_url: str, dataset_name: str, resource_id: str) -> str:
    """Where an uploaded file is served (the portal's download route) under ``base_url``."""
    return f"{base_url.rstrip('/')}/dataset/{dataset_name}/resource/{resource_id}/download"


def is_own_download_url(url: str, resource_id: str) -> bool:
    """Whether ``url`` is this resource's own download URL under any base (a client sending back what it read,
    possibly through another host name or proxy): such a URL names the stored file, not a new link."""
    return url.rstrip("/").endswith(f"/resource/{resource_id}/download") and "://" in url


def resource(r: dict[str, Any], pkg_id: str, base_url: str = "", dataset_name: str = "") -> dict[str, Any]:
    """A resource (``resource_dict`` record) in CKAN's resource shape. An uploaded file's ``url`` is its download
    URL under ``base_url`` (the base the client reached us by), when given with the dataset's name."""
    url = download_url(base_url, dataset_name, r["id"]) if r["uploaded"] and base_url and dataset_name else r["url"]
    return {"id": r["id"], "package_id": pkg_id, "name": r["name"], "description": r["description"],
            "url": url, "format": r["format"], "mimetype": r["media_type"], "size": r["size"],
            "hash": f"sha256:{r['sha256']}" if r["sha256"] else "", "created": r["created_at"],
            "last_modified": r["modified_at"], "metadata_modified": r["modified_at"], "position": r["position"],
            "state": "active", "url_type": "upload" if r["uploaded"] else None,
            "datastore_active": r.get("datastore_active", False), "resource_type": None, "cache_url": None,
            "mimetype_inner": None}


def package(d: dict[str, Any], base_url: str) -> dict[str, Any]:
    """A dataset (``dataset_show`` / full ``dataset_search`` record) in CKAN's package shape."""
    pid = package_id(d["id"], d["created_at"])
    resources = [resource(r, pid, base_url, d["name"]) for r in d.get("resources", [])]
    org = {"id": d["department"], "name": d["department"], "title": d["department_name"],
           "type": "organization", "description": "", "image_url": "", "created": None,
           "is_organization": True, "approval_status": "approved", "state": "active"}
    return {
        "id": pid,
        "name": d["name"],
        "title": d["title"],
        "notes": d["abstract"],
        "type": "dataset",
        # CKAN's ``draft``: not yet published (drafts and submissions awaiting review, docs/ckan.md)
        "state": "draft" if d["state"] == "active" and d.get("publication", "published") != "published"
        else d["state"],
        # CKAN's private: the public cannot see it (private, 不予开放 or not published; ``visibility.public``)
        "private": not d.get("public", not d["private"]),
        "owner_org": d["department"],
        "organization": org,
        "groups": [group(d["theme"])],
        "tags": [{"name": t, "display_name": t, "state": "active", "vocabulary_id": None} for t in d["tags"]],
        "num_tags": len(d["tags"]),
        "resources": resources,
        "num_resources": len(resources),
        "license_id": d["license_id"],
        "license_title": d["license_title"],
        "license_url": d["license_url"],
        "isopen": d["license_id"] in LICENSES and d.get("public", not d["private"]),
        "metadata_created": d["created_at"],
        "metadata_modified": d["modified_at"],
        "maintainer": d.get("contact_name", ""),
        "maintainer_email": d.get("contact_email", ""),
        "author": d["department_name"],
        "author_email": "",
        "creator_user_id": None,
        "url": f"{base_url.rstrip('/')}/dataset/{d['name']}",
        "version": "",
        "relationships_as_object": [],
        "relationships_as_subject": [],
        "extras": package_extras(d),
    }


# -- CKAN → CityHub ------------------------------------------------------------------------------------------


def _extras_dict(pkg: dict[str, Any], errors: dict[str, list[str]]) -> dict[str, str]:
    raw = pkg.get("extras") or []
    out: dict[str, str] = {}
    if isinstance(raw, dict):  # some clients send a plain object
        raw = [{"key": k, "value": v} for k, v in raw.items()]
    if not isinstance(raw, list):
        errors.setdefault("extras", []).append("extras must be a list of {key, value}")
        return out
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            errors.setdefault("extras", []).append("each extra needs a string key")
            continue
        if item.get("deleted") in (True, "on", "true", "True"):
            continue
        value = item.get("value")
        out[item["key"].strip()] = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return out


def _json_list(value: str, key: str, errors: dict[str, list[str]]) -> list[Any] | None:
    if not value.strip():
        return None
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(parsed, list):
        errors.setdefault(key, []).append("must be a JSON list")
        return None
    return parsed


def _names(items: Any) -> list[str]:
    out = []
    for item in items or []:
        if isinstance(item, dict):
            name = item.get("name") or item.get("display_name") or item.get("title") or item.get("id")
        else:
            name = item
        if isinstance(name, str) and name.strip():
            out.append(name.strip())
    return out


def theme_for_groups(groups: list[dict[str, Any]] | list[str]) -> tuple[str | None, list[str]]:
    """Our theme for a package's CKAN groups: the first group whose name is one of our theme slugs, or whose
    title is one of our theme names (Chinese or English); the group names that matched nothing come back too."""
    theme = None
    unmatched = []
    by_title = {t[1]: t[0] for t in THEMES} | {t[2].lower(): t[0] for t in THEMES}
    for item in groups or []:
        name = _names([item])
        title = item.get("title", "") if isinstance(item, dict) else ""
        slug = None
        if name and name[0] in THEME_BY_SLUG:
            slug = name[0]
        elif isinstance(title, str) and (title in by_title or title.lower() in by_title):
            slug = by_title.get(title) or by_title[title.lower()]
        if slug and theme is None:
            theme = slug
        elif not slug and name:
            unmatched.append(name[0])
    return theme, unmatched


def update_cycle_for(extras: dict[str, str]) -> str | None:
    """Our update cycle from a foreign frequency extra (EU code or URI, ISO 8601 interval or English word)."""
    for key in FREQUENCY_KEYS:
        value = (extras.get(key) or "").strip()
        if not value:
            continue
        if value in UPDATE_CYCLES:
            return value
        word = FREQUENCY_WORDS.get(value.lower())
        if word:
            return word
        try:
            cycle = update_cycle_from_frequency(value)
        except Exception:
            cycle = None
        if cycle:
            return cycle
    return None


def license_for(value: str) -> str | None:
    """Our licence id for a CKAN ``license_id`` (ours, a common alias, or a licence URL), else ``None``."""
    v = (value or "").strip()
    if not v:
        return ""
    if v in LICENSES:
        return v
    alias = LICENSE_ALIASES.get(v.lower())
    if alias:
        return alias
    return license_id_from_uri(v) if "/" in v else None


def _date(value: str, key: str, errors: dict[str, list[str]]) -> str | None:
    v = value.strip()
    if not v:
        return None
    if not DATE_RE.match(v):
        errors.setdefault(key, []).append("must be an ISO 8601 date")
        return None
    return v[:10]


def _str(pkg: dict[str, Any], key: str) -> str:
    value = pkg.get(key)
    return value.strip() if isinstance(value, str) else ("" if value is None else str(value).strip())


def _bool(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).strip().lower() in ("true", "1", "yes", "on")


def _resource_kind(pkg: dict[str, Any]) -> str:
    kinds = [RESOURCE_KIND.get(_str(r, "format").upper()) for r in pkg.get("resources") or []
             if isinstance(r, dict)]
    return next((k for k in kinds if k), DEFAULTS["format"])


def department_for(pkg: dict[str, Any]) -> str:
    """Our department slug for a package: ``organization.name`` when ``owner_org`` is that organization's id
    (a real CKAN export, where ids are UUIDs) or is missing, otherwise ``owner_org`` (ours are slugs, and a
    client moving a package sends the new ``owner_org`` next to the old ``organization``)."""
    org = pkg.get("organization")
    owner = _str(pkg, "owner_org")
    if isinstance(org, dict) and _str(org, "name") and (not owner or owner == _str(org, "id")):
        return _str(org, "name")
    return owner


def abstract_for(notes: str, title: str, name: str) -> str:
    """Our abstract for a package's ``notes``: kept as they are when long enough; otherwise (our abstract has
    at least ten characters) the notes, or the title, followed by a note saying where the record came from."""
    if len(notes) >= ABSTRACT_MIN:
        return notes
    base = notes or title or name
    return f"{base}(由 CKAN 数据集 {name} 导入 / imported from CKAN package {name})"


def package_to_dataset(pkg: dict[str, Any], *, default_theme: str | None = None) -> dict[str, Any]:
    """The ``dataset_create`` / ``dataset_update`` input for a CKAN package.

    Our fields are taken from the package's extras when present (our own export puts them there), otherwise
    the defaults of :data:`DEFAULTS` apply: groups → the first group matching a theme, else ``default_theme``
    (民生服务); opening class 无条件开放 (不予开放 for private packages); sharing class 无条件共享; update cycle
    from a ``frequency`` / ``accrual_periodicity`` extra, else 不定期; catalog type 部门 with classification
    01/001; information-resource format from the resource formats. ``owner_org`` (or ``organization.name``)
    becomes ``department``; ``maintainer``/``maintainer_email`` the contact. Every other extra, and groups
    and licences we do not know (as ``source_groups`` / ``source_license_id``), go to ``extras``. The
    result carries ``code`` when the package has one of ours (the caller keeps it if it is free).

    Raises :class:`MappingError` with CKAN-style per-field messages for what cannot be mapped (a missing or
    malformed name, no organization, malformed extras)."""
    if not isinstance(pkg, dict):
        raise MappingError({"__all__": ["a package must be a JSON object"]})
    errors: dict[str, list[str]] = {}
    extras = _extras_dict(pkg, errors)
    used: set[str] = set()

    def extra(key: str) -> str:
        if key in extras:
            used.add(key)
            return (extras[key] or "").strip()
        return ""

    name = _str(pkg, "name")
    if not name:
        errors["name"] = ["Missing value"]
    elif not NAME_RE.match(name):
        errors["name"] = ["Must be purely lowercase alphanumeric (ascii) characters and these symbols: -_"
                          if len(name) >= 2 else "Name must be at least 2 characters long"]
    dept = department_for(pkg)
    if not dept:
        errors["owner_org"] = ["Missing value"]
    title = _str(pkg, "title") or name
    out: dict[str, Any] = {"name": name, "title": title, "department": dept,
                           "abstract": abstract_for(_str(pkg, "notes"), title, name)}
    # our plain fields from extras
    for key in EXTRA_KEYS:
        if key in DERIVED_EXTRAS:
            extra(key)
            continue
        value = extra(key)
        if key in ("published_on", "temporal_start", "temporal_end"):
            parsed = _date(value, key, errors)
            if parsed:
                out[key] = parsed
        elif value:
            out[key] = value
    for key in JSON_EXTRA_KEYS:
        items = _json_list(extra(key), key, errors)
        if items is not None:
            out[key] = items
    # tags
    tags = _names(pkg.get("tags"))
    if len(tags) > MAX_TAGS:
        extras.setdefault("source_tags", json.dumps(tags[MAX_TAGS:], ensure_ascii=False))
        tags = tags[:MAX_TAGS]
    out["tags"] = tags
    # theme from groups
    theme, unmatched = theme_for_groups(pkg.get("groups") or [])
    out["theme"] = theme or default_theme or DEFAULTS["theme"]
    if unmatched:
        extras[SOURCE_GROUPS] = json.dumps(unmatched, ensure_ascii=False)
    # licence
    raw_license = _str(pkg, "license_id")
    lic = license_for(raw_license)
    if lic is None:
        out["license_id"] = DEFAULTS["license_id"]
        extras[SOURCE_LICENSE] = raw_license
    else:
        out["license_id"] = lic
    # contact
    out["contact_name"] = _str(pkg, "maintainer")[:100]
    email = _str(pkg, "maintainer_email")
    if email and not EMAIL_RE.match(email):
        extras["source_maintainer_email"] = email
        email = ""
    out["contact_email"] = email
    phone = out.get("contact_phone", "")
    if phone and not PHONE_RE.match(phone):
        extras["source_contact_phone"] = out.pop("contact_phone")
    out["private"] = _bool(pkg.get("private", False))
    # defaults for the national metadata
    if out.get("catalog_type") not in CATALOG_TYPES:
        out["catalog_type"] = DEFAULTS["catalog_type"]
    if out.get("base_category") not in BASE_CATEGORIES or out["catalog_type"] != "基础":
        out.pop("base_category", None)
    if out.get("sharing_class") not in SHARING_CLASSES:
        out["sharing_class"] = DEFAULTS["sharing_class"]
    if out.get("opening_class") not in OPENING_CLASSES:
        out["opening_class"] = DEFAULTS["opening_class_private" if out["private"] else "opening_class"]
    if out.get("update_cycle") not in UPDATE_CYCLES:
        out["update_cycle"] = update_cycle_for(extras) or DEFAULTS["update_cycle"]
    if out.get("format") not in RESOURCE_FORMATS:
        out["format"] = _resource_kind(pkg)
    if "sharing_method" in out:
        methods = [m for m in out["sharing_method"] if m in SHARING_METHODS]
        out["sharing_method"] = methods or list(DEFAULTS["sharing_method"])
    if "districts" in out:
        out["districts"] = [d for d in out["districts"] if d in DISTRICT_NAMES]
    if "data_items" in out and not all(isinstance(i, dict) for i in out["data_items"]):
        errors.setdefault("data_items", []).append("must be a JSON list of objects")
    if "related_codes" in out:
        out["related_codes"] = [str(c) for c in out["related_codes"]]
    if "code" in out and not CODE_RE.match(out["code"]):
        extras["source_code"] = out.pop("code")
    # everything else stays in extras
    free = {k: v for k, v in extras.items() if k not in used and k not in RESERVED_EXTRAS}
    problems = [k for k in free if not k or len(k) > MAX_EXTRA_KEY]
    if problems:
        errors.setdefault("extras", []).append(f"extra keys must have 1–{MAX_EXTRA_KEY} characters")
    if len(free) > MAX_EXTRAS:
        errors.setdefault("extras", []).append(f"at most {MAX_EXTRAS} extras")
    if any(len(v) > MAX_EXTRA_VALUE for v in free.values()):
        errors.setdefault("extras", []).append(f"extra values have at most {MAX_EXTRA_VALUE} characters")
    out["extras"] = free
    if errors:
        raise MappingError(errors)
    return out


def resource_specs(pkg: dict[str, Any]) -> list[dict[str, Any]]:
    """The package's resources in order, each ``{id?, name, url, format, description}``: ``id`` only when the
    resource names one (a CKAN update refers to existing resources by id). Resources with neither an id nor
    a URL are skipped (CKAN allows them, we do not)."""
    out: list[dict[str, Any]] = []
    for r in pkg.get("resources") or []:
        if not isinstance(r, dict):
            continue
        url = _str(r, "url")
        rid = _str(r, "id")
        if not url and not rid:
            continue
        fmt = re.sub(r"[^A-Za-z0-9.+-]", "", _str(r, "format"))[:20]
        spec: dict[str, Any] = {"name": _str(r, "name")[:300], "url": url, "format": fmt.upper(),
                                "description": _str(r, "description")}
        if rid:
            spec["id"] = rid[:36]
        out.append(spec)
    return out


def package_resources(pkg: dict[str, Any]) -> list[dict[str, str]]:
    """The package's resources as ``resource_create`` inputs (``name``, ``url``, ``format``, ``description``),
    in order; resources without a URL are skipped (CKAN allows them, we do not)."""
    return [{k: v for k, v in spec.items() if k != "id"} for spec in resource_specs(pkg) if spec["url"]]


# -- package_search: CKAN's search fields and sorts → the search index -------------------------------------------
#
# Field names as CKAN's Solr schema (ckan/config/solr/schema.xml) and indexer (ckan/lib/search/index.py) define
# them, mapped to the index fields of cityhub.catalog.search. A field outside this list is refused by name.

SEARCH_FIELDS: dict[str, str] = {
    "text": "text", "title": "title", "notes": "notes",  # text fields (jieba tokens)
    "name": "name", "id": "package",
    "organization": "organization", "owner_org": "organization", "groups": "theme", "tags": "tags",
    "res_format": "res_format", "license_id": "license_id",
    "metadata_modified": "modified", "metadata_created": "created",
    "capacity": "public", "private": "public", "state": "state", "dataset_type": "type", "type": "type",
    "views_total": "views_total", "views_recent": "views_recent",
    # our catalog fields: CKAN indexes a package's extras under their own key too (index_package)
    "theme": "theme", "sharing_class": "sharing_class", "opening_class": "opening_class",
    "update_cycle": "update_cycle", "district": "district", "catalog_type": "catalog_type",
}
SEARCH_TEXT_FIELDS = frozenset({"text", "title", "notes"})
EXTRA_FACETS = frozenset({"sharing_class", "opening_class", "update_cycle", "catalog_type"})
EXTRA_KEY = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
# what package_search may sort on (Solr sorts on single-valued, untokenised fields); all map to the same
# names in cityhub.catalog.search
SEARCH_SORTS = ("score", "metadata_modified", "metadata_created", "name", "title_string", "id", "views_total",
                "views_recent", "organization", "license_id", "capacity")
# single-valued string fields CKAN also sorts on: (index sort, whether the order flips), or None: one value
# for every indexed dataset, so the key orders nothing
SORT_ALIASES: dict[str, tuple[str, bool] | None] = {"owner_org": ("organization", False),
                                                    "private": ("capacity", True),  # "false" < "true"
                                                    "state": None, "type": None, "dataset_type": None}
UNSORTABLE = frozenset({"title", "notes", "text", "tags", "groups", "res_format"})  # text or multi-valued
DEFAULT_SORT = "score desc, metadata_modified desc"  # ckan.search.default_package_sort


def _drops(fld: str, value: str) -> bool:
    """Whether analysis leaves nothing of a term (Lucene then drops the clause): text fields only."""
    return fld in SEARCH_TEXT_FIELDS and not tokens(value)


def _index_leaf(node: solr.LeafNode) -> solr.Node:
    """A leaf with CKAN's field name as the same leaf over the index's field names and values."""
    fld = node.field
    if fld.startswith("extras_"):
        key = fld[len("extras_"):]
        if key in EXTRA_FACETS:
            target = key
        elif not EXTRA_KEY.match(key) or key in RESERVED_EXTRAS:
            raise solr.QueryError(f"extra {key} is not searchable by field (search its words in q)",
                                  f"附加字段 {key} 不能按字段检索(可在 q 中检索其中的词)", node.src)
        else:
            target = f"extra.{key}"
    elif fld in SEARCH_FIELDS:
        target = SEARCH_FIELDS[fld]
    else:
        raise solr.QueryError(f"unknown field {fld}", f"未知字段 {fld}", node.src)
    if isinstance(node, solr.Term):
        text = node.text
        if fld == "res_format":
            text = text.upper()  # our formats are stored upper-cased
        elif fld == "capacity":
            text = {"public": "true", "private": "false"}.get(text, "none")
        elif fld == "private":
            text = {"true": "false", "false": "true"}.get(text, "none")
        elif fld == "id":
            parsed = parse_package_id(text)
            text = f"{parsed[0]}:{parsed[1]}" if parsed else "none"
        return solr.Term(target, text, node.phrase, node.src)
    if isinstance(node, solr.Prefix):
        return solr.Prefix(target, node.text.upper() if fld == "res_format" else node.text, node.src)
    if isinstance(node, solr.Exists):
        return solr.Exists(target, node.src)
    return solr.Range(target, node.lo, node.hi, node.lo_inc, node.hi_inc, node.src)


def search_queries(q: str | None, fq: str | None, fq_list: list[str], *, include_private: bool,
                   include_drafts: bool = False, include_deleted: bool = False, def_type: str | None = None,
                   mm: str | None = None) -> list[tuple[str, solr.Node]]:
    """The queries CKAN's ``package_search`` sends Solr, parsed and over the index's fields: ``[(parameter,
    tree)]``, all of which must match. Raises ``solr.QueryError`` (``param`` set) naming the clause.

    As ``ckan/logic/action/get.py`` ``package_search`` builds them: ``+capacity:public`` is put in front of
    ``fq`` unless ``include_private``, and ``+state:(active)`` after it unless it names ``+state`` — in the same
    string, so they change how the client's clauses combine (``a OR b`` next to a required clause filters
    nothing, as on CKAN); then ``PackageSearchQuery.run``: an empty ``q`` is ``*:*``, a ``q`` without a colon is
    read by DisMax with CKAN's ``mm``, any other by the standard parser with ``q.op=AND`` and ``df=text``."""
    fq = fq or ""
    if not include_private:
        fq = "+capacity:public " + fq
    if "+state" not in fq:
        states = ["active"] + (["draft"] if include_drafts else []) + (["deleted"] if include_deleted else [])
        fq += " +state:({})".format(" OR ".join(states))
    q = q or ""
    if not q or q in ('""', "''"):
        q = "*:*"
    if def_type not in (None, "dismax", "lucene"):
        raise _param(solr.QueryError(f"defType {def_type} is not supported (dismax or lucene)",
                                     f"不支持 defType {def_type}(可用 dismax 或 lucene)", def_type), "defType")
    if mm is not None and not solr.valid_mm(mm):
        raise _param(solr.QueryError("mm must be a Solr minimum-should-match spec such as 2<-1 5<80%",
                                     "mm 须为 Solr 的最少匹配数写法,例如 2<-1 5<80%", mm), "mm")
    out: list[tuple[str, solr.Node]] = []
    try:
        if def_type == "dismax" or (def_type is None and ":" not in q):
            # an explicit defType=dismax keeps DisMax even with a colon; CKAN then sets no mm (Solr: 100% under
            # q.op=AND)
            spec = mm or (solr.CKAN_MM if ":" not in q else "100%")
            tree = solr.parse_dismax(q, default_field="text", mm=spec, drops=_drops)
        else:
            tree = solr.parse(q, default_field="text", default_op="AND", drops=_drops)
        out.append(("q", solr.map_leaves(tree, _index_leaf)))
    except solr.QueryError as exc:
        raise _param(exc, "q") from None
    for param, text in [("fq", fq)] + [("fq_list", f) for f in fq_list]:
        try:
            tree = solr.parse(text, default_field="text", default_op="AND", drops=_drops)
        except solr.QueryError as exc:
            raise _param(exc, param) from None
        if tree == solr.MATCH_NONE:
            continue  # Solr skips a filter query that parses to nothing
        try:
            out.append((param, solr.map_leaves(tree, _index_leaf)))
        except solr.QueryError as exc:
            raise _param(exc, param) from None
    return out


def _param(exc: solr.QueryError, param: str) -> solr.QueryError:
    exc.param = param
    return exc


def search_sort(sort: str | None) -> tuple[str, str]:
    """(the sort CKAN echoes, the index's sort) for ``package_search``'s ``sort``; ``solr.SortError`` for a
    sort Solr refuses. None or ``rank``: ``ckan.search.default_package_sort``; empty: Solr's default (score)."""
    if sort is None or sort == "rank":
        sort = DEFAULT_SORT
    out = []
    for name, desc in solr.parse_sort(sort):
        if name in UNSORTABLE:
            raise solr.SortError("field", f"can not sort on a tokenized or multivalued field: {name}", name)
        if name in SORT_ALIASES:
            alias = SORT_ALIASES[name]
            if alias is not None:
                out.append(f"{alias[0]} {'desc' if desc != alias[1] else 'asc'}")
        elif name in SEARCH_SORTS:
            out.append(f"{name} {'desc' if desc else 'asc'}")
        else:
            raise solr.SortError("field", f"sort param field can't be found: {name}", name)
    return sort, ", ".join(out) or "score desc"
