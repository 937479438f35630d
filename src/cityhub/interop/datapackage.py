"""Frictionless Data Package (v2) descriptors of a dataset — pure: plain dicts in, a descriptor dict out.

The caller (``interop/datapackage_actions.py``) decides where each part lives (an absolute download URL for the
published descriptor, a relative path inside the zip) and supplies sizes and SHA-256 digests; this module maps the
catalog metadata to the Data Package properties and the datastore's column types to a Table Schema that matches
the CSV the datastore writes (header row, UTF-8, comma, ``"`` quoting, nulls as empty cells, a leading ``_id``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

PROFILE = "https://datapackage.org/profiles/2.0/datapackage.json"
#: v1's name pattern; v2 allows any string, but names kept to it work with v1 tools too
NAME_RE = re.compile(r"^[a-z0-9._-]+$")
#: Open Definition licence ids of the catalog's licences (Data Package ``licenses[].name``)
OPEN_DEFINITION_IDS = {"cc-by-4.0": "CC-BY-4.0", "odc-odbl": "ODbL-1.0", "cc0-1.0": "CC0-1.0"}
#: the row number column the datastore adds to every table (unique, 1-based, file order)
ROW_ID = "_id"
#: how the datastore's CSV export writes values (DuckDB ``COPY … (FORMAT csv, HEADER true)``)
CSV_DIALECT = {"header": True, "delimiter": ",", "quoteChar": '"', "doubleQuote": True, "lineTerminator": "\n"}
MISSING_VALUES = [""]
#: datastore column type -> Table Schema field properties (type and, where needed, format/values)
FIELD_TYPES: dict[str, dict[str, Any]] = {
    "integer": {"type": "integer"},
    "number": {"type": "number"},
    "boolean": {"type": "boolean", "trueValues": ["true"], "falseValues": ["false"]},
    "date": {"type": "date", "format": "default"},  # YYYY-MM-DD
    # DuckDB writes "YYYY-MM-DD hh:mm:ss[.ffffff]" (a space, not the "T" of the default form, and no zone)
    "datetime": {"type": "datetime", "format": "any"},
    "time": {"type": "time", "format": "default"},  # hh:mm:ss[.ffffff]
    "string": {"type": "string"},
}
TEXT_FORMATS = frozenset({"csv", "tsv", "txt", "json", "geojson", "ndjson", "jsonl", "xml", "html", "rdf", "ttl"})


@dataclass
class Part:
    """One resource of the package as the caller found it.

    ``columns`` (datastore columns: ``name``, ``type``) makes it a table; ``path`` is its location (URL or
    relative path); ``sha256``/``bytes`` describe the bytes at ``path`` (unknown for links: None)."""

    title: str
    path: str
    format: str
    mediatype: str = ""
    description: str = ""
    stem: str = ""
    encoding: str | None = None
    bytes: int | None = None
    sha256: str | None = None
    columns: list[Mapping[str, Any]] | None = None


def spec_name(text: str, fallback: str) -> str:
    """A lowercase name of ``[a-z0-9._-]`` (the v1 pattern) made from ``text``, or ``fallback``."""
    name = re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-._")
    return name[:100] if name else fallback


def unique_names(names: Iterable[str]) -> list[str]:
    """``names`` with later duplicates suffixed ``-2``, ``-3``… (resource names must be unique)."""
    seen: set[str] = set()
    out: list[str] = []
    for name in names:
        candidate, n = name, 1
        while candidate in seen:
            n += 1
            candidate = f"{name}-{n}"
        seen.add(candidate)
        out.append(candidate)
    return out


def part_names(parts: Sequence[Part]) -> list[str]:
    """Spec-valid, unique resource names: the slug of each part's file stem, else ``resource-<n>``."""
    return unique_names(spec_name(p.stem, f"resource-{i}") for i, p in enumerate(parts, 1))


def archive_path(name: str, fmt: str) -> str:
    """Where a part goes inside the zip (relative, POSIX, no ``..``): ``data/<name>.<format>``."""
    ext = spec_name(fmt, "bin")
    return f"data/{name}.{ext}"


def table_field(column: Mapping[str, Any]) -> dict[str, Any]:
    """The Table Schema field of one datastore column (unknown types are read as strings)."""
    out: dict[str, Any] = {"name": str(column["name"])}
    out.update(FIELD_TYPES.get(str(column.get("type") or "string"), FIELD_TYPES["string"]))
    if column.get("title"):
        out["title"] = str(column["title"])
    if column.get("description"):
        out["description"] = str(column["description"])
    return out


def table_schema(columns: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A Table Schema for the datastore's CSV of a table with ``columns``: ``_id`` first (the primary key)."""
    id_field = {"name": ROW_ID, "type": "integer", "title": "行号 row number",
                "constraints": {"required": True, "unique": True, "minimum": 1}}
    fields = [id_field] + [table_field(c) for c in columns if c.get("name") != ROW_ID]
    return {"fields": fields, "missingValues": list(MISSING_VALUES), "primaryKey": [ROW_ID]}


def licenses(license_id: str, title: str, url: str) -> list[dict[str, str]]:
    """``licenses``: the Open Definition id when there is one, the licence URL as ``path``, the title."""
    if not license_id and not url:
        return []
    out: dict[str, str] = {"name": OPEN_DEFINITION_IDS.get(license_id, license_id)} if license_id else {}
    if url:
        out["path"] = url
    if title:
        out["title"] = title
    return [out]


def resource_descriptor(part: Part, name: str) -> dict[str, Any]:
    """One Data Resource: tables get ``type: table``, the CSV dialect and the Table Schema."""
    fmt = part.format.lower()
    out: dict[str, Any] = {"name": name, "path": part.path, "title": part.title}
    if part.description:
        out["description"] = part.description
    if part.columns is not None:
        out["type"] = "table"
    if fmt:
        out["format"] = fmt
    if part.mediatype:
        out["mediatype"] = part.mediatype
    if part.encoding:
        out["encoding"] = part.encoding
    if part.bytes is not None:
        out["bytes"] = part.bytes
    if part.sha256:
        out["hash"] = f"sha256:{part.sha256}"
    if part.columns is not None:
        out["dialect"] = dict(CSV_DIALECT)
        out["schema"] = table_schema(part.columns)
    return out


def _contributors(ds: Mapping[str, Any], base_url: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"title": ds.get("department_name") or ds.get("department") or "",
                                  "path": f"{base_url}/organization/{ds.get('department', '')}",
                                  "roles": ["publisher"]}]
    if ds.get("contact_name") or ds.get("contact_email"):
        contact: dict[str, Any] = {"title": ds.get("contact_name") or ds.get("contact_email"), "roles": ["contact"]}
        if ds.get("contact_email"):
            contact["email"] = ds["contact_email"]
        if ds.get("department_name"):
            contact["organization"] = ds["department_name"]
        out.append(contact)
    return out


def _utc(value: str | None) -> str | None:
    """An ISO timestamp as RFC 3339 in UTC with ``Z`` (naive values are UTC)."""
    if not value:
        return None
    text = value.replace("+00:00", "Z")
    return text if text.endswith("Z") or re.search(r"[+-]\d\d:\d\d$", text) else text + "Z"


def package_descriptor(ds: Mapping[str, Any], parts: Sequence[Part], *, base_url: str,
                       names: Sequence[str] | None = None,
                       sources: Sequence[Mapping[str, str]] = ()) -> dict[str, Any]:
    """The Data Package descriptor of dataset ``ds`` (a ``dataset_show`` dict) with ``parts`` as its resources,
    named ``names`` (default: ``part_names(parts)``).

    ``sources`` lists external links that are not part of the package (``{"title", "path"}``)."""
    base_url = base_url.rstrip("/")
    homepage = f"{base_url}/dataset/{ds['name']}"
    keywords = list(dict.fromkeys([*ds.get("tags", []), *([ds["theme_name"]] if ds.get("theme_name") else [])]))
    out: dict[str, Any] = {
        "$schema": PROFILE,
        "name": spec_name(str(ds["name"]), "dataset"),
        "id": homepage,
        "title": ds.get("title") or ds["name"],
    }
    if ds.get("abstract"):
        out["description"] = ds["abstract"]
    out["homepage"] = homepage
    lic = licenses(str(ds.get("license_id") or ""), str(ds.get("license_title") or ""),
                   str(ds.get("license_url") or ""))
    if lic:
        out["licenses"] = lic
    if keywords:
        out["keywords"] = keywords
    out["contributors"] = _contributors(ds, base_url)
    created = _utc(ds.get("created_at"))
    if created:
        out["created"] = created
    modified = _utc(ds.get("modified_at"))
    if modified:
        out["modified"] = modified
    if sources:
        out["sources"] = [dict(s) for s in sources]
    out["cityhub"] = {k: ds[k] for k in ("code", "title_en", "theme", "opening_class", "sharing_class",
                                         "update_cycle", "temporal_start", "temporal_end", "districts")
                      if ds.get(k) not in (None, "", [])}
    names = list(names) if names is not None else part_names(parts)
    out["resources"] = [resource_descriptor(p, n) for p, n in zip(parts, names, strict=True)]
    return out
