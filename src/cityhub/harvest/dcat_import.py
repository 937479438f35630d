"""DCAT → CityHub: parse a DCAT(-AP) RDF document and map each ``dcat:Dataset`` to a dataset payload.

Pure: no database, web or settings import (rdflib and the vocabulary mappings only), so the mapping is
tested on its own. The harvester (``cityhub.harvest.engine``) supplies the department, checks the payload
with the catalog's own schema and imports it through the actions.

Mapping:

* ``dct:title`` / ``dct:description`` with language tags: ``zh`` (or untagged) → ``title`` / ``abstract``,
  ``en`` → ``title_en``;
* ``dcat:keyword`` → ``tags``; ``dcat:theme`` (EU data theme or a CityHub theme URI) → ``theme``;
* ``dct:accrualPeriodicity`` (EU frequency) → ``update_cycle``; ``dct:issued`` → ``published_on``;
* ``dct:temporal`` → ``temporal_start``/``temporal_end``; ``dct:spatial`` district URIs → ``districts``;
* ``dcat:contactPoint`` (vCard) → ``contact_name``/``contact_email``; ``dct:license`` → ``license_id``;
* ``dcat:distribution`` → resources (``dct:title``, ``dcat:downloadURL`` or ``dcat:accessURL``,
  ``dct:format``/``dcat:mediaType``);
* ``dct:identifier`` (else the dataset's URI) → the harvest guid; ``dct:modified`` → the change marker.

Links are checked like any link typed into CityHub (``cityhub.urls``: http, https or ftp only): a
distribution whose URL is not one is left out and a landing page that is not one is not kept; each is noted
in the record's ``notes`` for the run log.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from rdflib import RDF, Graph, Literal, Namespace, URIRef
from rdflib.term import Node

from cityhub.catalog.vocab import UPDATE_CYCLES
from cityhub.interop import vocab
from cityhub.urls import url_problem

DCAT = Namespace("http://www.w3.org/ns/dcat#")
DCT = Namespace("http://purl.org/dc/terms/")
FOAF = Namespace("http://xmlns.com/foaf/0.1/")
VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
HYDRA = Namespace("http://www.w3.org/ns/hydra/core#")
SCHEMA = Namespace("http://schema.org/")
SKOS = Namespace("http://www.w3.org/2004/02/skos/core#")

SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{1,99}$")
BAD_TAG = re.compile(r"[<>\"']")
FORMATS = {
    "text/turtle": "turtle",
    "application/x-turtle": "turtle",
    "application/rdf+xml": "xml",
    "application/xml": "xml",
    "text/xml": "xml",
    "application/ld+json": "json-ld",
    "application/json": "json-ld",
    "application/n-triples": "nt",
    "text/n3": "n3",
}
SUFFIXES = {".ttl": "turtle", ".rdf": "xml", ".xml": "xml", ".jsonld": "json-ld", ".json": "json-ld",
            ".nt": "nt", ".n3": "n3"}
MIN_ABSTRACT = 10


class DcatError(Exception):
    """The document is not usable RDF (the run fails; nothing is imported)."""


@dataclass
class DcatRecord:
    """One remote dataset: its guid and change marker, our payload (no department) and its resources."""

    guid: str
    modified: str
    payload: dict[str, Any]
    resources: list[dict[str, str]] = field(default_factory=list)
    origin_url: str = ""
    publisher: str = ""
    notes: list[str] = field(default_factory=list)


def rdf_format(content_type: str, url: str) -> str | None:
    """The rdflib parser name for a response's media type, else for the URL's suffix (``None``: unknown)."""
    mime = content_type.split(";", 1)[0].strip().lower()
    if mime in FORMATS:
        return FORMATS[mime]
    path = url.split("?", 1)[0].lower()
    for suffix, fmt in SUFFIXES.items():
        if path.endswith(suffix):
            return fmt
    return None


def _remote_context(node: Any) -> str | None:
    """The first remote ``@context`` (a URL) in a JSON-LD document, if any."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "@context":
                for ctx in value if isinstance(value, list) else [value]:
                    if isinstance(ctx, str):
                        return ctx
            found = _remote_context(value)
            if found:
                return found
    elif isinstance(node, list):
        for item in node:
            found = _remote_context(item)
            if found:
                return found
    return None


def parse(data: bytes, content_type: str = "", url: str = "") -> Graph:
    """Parse an RDF document; tries Turtle, RDF/XML and JSON-LD when the type is unknown. A JSON-LD document
    naming a remote ``@context`` is refused: rdflib would fetch it without our timeout, byte cap and address
    check. The error names the parsers and their exception types only, never the document's text."""
    fmt = rdf_format(content_type, url)
    candidates = [fmt] if fmt else ["turtle", "xml", "json-ld"]
    problems = []
    for candidate in candidates:
        if candidate == "json-ld":
            try:
                remote = _remote_context(json.loads(data))
            except ValueError:
                remote = None  # not JSON: the parser says so below
            except RecursionError:
                problems.append("json-ld: nested too deeply")
                continue
            if remote:
                problems.append("json-ld: a remote @context is not fetched; inline the context")
                continue
        graph = Graph()
        try:
            graph.parse(data=data, format=candidate, publicID=url or None)
        except Exception as exc:  # rdflib raises many types for bad input; their text quotes the document
            problems.append(f"{candidate}: {type(exc).__name__}")
            continue
        return graph
    raise DcatError("not valid RDF (" + "; ".join(problems) + ")")


def next_page(graph: Graph) -> str | None:
    """The Hydra ``hydra:next`` page of a paged catalog, if any."""
    for obj in graph.objects(None, HYDRA.next):
        return str(obj)
    return None


def dataset_nodes(graph: Graph) -> list[Node]:
    """Every ``dcat:Dataset`` in the graph, in a stable order."""
    return sorted(set(graph.subjects(RDF.type, DCAT.Dataset)), key=str)


def _literals(graph: Graph, node: Node, prop: URIRef) -> list[Literal]:
    return [o for o in graph.objects(node, prop) if isinstance(o, Literal)]


def _by_lang(values: list[Literal]) -> tuple[str, str]:
    """(Chinese or untagged text, English text) of a multilingual property."""
    zh = en = other = ""
    for lit in sorted(values, key=str):
        lang = (lit.language or "").lower()
        text = str(lit).strip()
        if not text:
            continue
        if lang.startswith("zh") and not zh:
            zh = text
        elif lang.startswith("en") and not en:
            en = text
        elif not lang and not other:
            other = text
    return zh or other, en


def _first(graph: Graph, node: Node, *props: URIRef) -> Node | None:
    for prop in props:
        for obj in graph.objects(node, prop):
            return obj
    return None


def _date(value: Node | None) -> dt.date | None:
    if value is None:
        return None
    text = str(value).strip()
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        return None


def slug_for(guid: str, uri: str) -> str:
    """A URL name for a remote dataset: its URI's last segment or identifier when already a slug, else a
    stable hash of the guid."""
    for candidate in (uri.rstrip("/").rsplit("/", 1)[-1], guid):
        candidate = candidate.strip().lower()
        for suffix in (".ttl", ".rdf", ".jsonld", ".json"):
            candidate = candidate.removesuffix(suffix)
        if SLUG.match(candidate):
            return candidate
    return "dcat-" + hashlib.sha1(guid.encode()).hexdigest()[:16]  # noqa: S324 - a name, not security


def _theme(graph: Graph, node: Node, default_theme: str) -> str:
    for obj in sorted(graph.objects(node, DCAT.theme), key=str):
        uri = str(obj)
        if "/id/theme/" in uri:  # a CityHub theme concept: <base>/id/theme/<slug>
            slug = vocab.theme_slug_from_uri(uri.rsplit("/id/theme/", 1)[0], uri)
            if slug:
                return slug
    for obj in sorted(graph.objects(node, DCAT.theme), key=str):
        slug = vocab.theme_slug_from_eu(str(obj))
        if slug:
            return slug
    return default_theme


def _tags(graph: Graph, node: Node) -> list[str]:
    words = _literals(graph, node, DCAT.keyword)
    preferred = [w for w in words if not w.language or w.language.lower().startswith("zh")]
    out: list[str] = []
    for word in sorted(preferred or words, key=str):
        text = str(word).strip()
        if text and len(text) <= 50 and not BAD_TAG.search(text) and text not in out:
            out.append(text)
    return out[:30]


def _districts(graph: Graph, node: Node) -> list[str]:
    out = []
    for obj in graph.objects(node, DCT.spatial):
        uri = str(obj)
        if "/id/district/" in uri:
            name = vocab.district_from_uri(uri.rsplit("/id/district/", 1)[0], uri)
            if name and name not in out:
                out.append(name)
    return sorted(out)


def _contact(graph: Graph, node: Node) -> tuple[str, str]:
    point = _first(graph, node, DCAT.contactPoint)
    if point is None:
        return "", ""
    name = _first(graph, point, VCARD.fn, VCARD["organization-name"])
    email = _first(graph, point, VCARD.hasEmail)
    mail = str(email).removeprefix("mailto:") if email is not None else ""
    if mail and not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", mail):
        mail = ""
    return (str(name).strip()[:100] if name is not None else ""), mail[:254]


def _license(graph: Graph, node: Node, distributions: list[Node]) -> str:
    for subject in [node, *distributions]:
        lic = _first(graph, subject, DCT.license)
        if lic is not None:
            found = vocab.license_id_from_uri(str(lic))
            if found:
                return found
    return ""


def _temporal(graph: Graph, node: Node) -> tuple[dt.date | None, dt.date | None]:
    period = _first(graph, node, DCT.temporal)
    if period is None:
        return None, None
    start = _date(_first(graph, period, DCAT.startDate, SCHEMA.startDate))
    end = _date(_first(graph, period, DCAT.endDate, SCHEMA.endDate))
    if start and end and end < start:
        end = None
    return start, end


def _resource(graph: Graph, dist: Node, notes: list[str]) -> dict[str, str] | None:
    url = _first(graph, dist, DCAT.downloadURL, DCAT.accessURL)
    if url is None:
        return None
    problem = url_problem(str(url).strip())
    if problem:
        notes.append(f"distribution left out: {problem}")
        return None
    title, title_en = _by_lang(_literals(graph, dist, DCT.title))
    desc, desc_en = _by_lang(_literals(graph, dist, DCT.description))
    fmt = ""
    raw_format = _first(graph, dist, DCT["format"])
    if raw_format is not None:
        label = _first(graph, raw_format, SKOS.prefLabel, RDF.value) if not isinstance(raw_format, Literal) else None
        value = str(label if label is not None else raw_format)
        fmt = vocab.format_from_file_type(value) or vocab.format_from_media_type(value) or ""
        if not fmt and "/" not in value:
            fmt = value.strip().upper()
    media = _first(graph, dist, DCAT.mediaType)
    if not fmt and media is not None:
        fmt = vocab.format_from_media_type(str(media)) or ""
    if not re.match(r"^[A-Za-z0-9.+-]{0,20}$", fmt):
        fmt = ""
    href = str(url).strip()
    return {"name": (title or title_en or href.rstrip("/").rsplit("/", 1)[-1] or "resource")[:300],
            "url": href[:2000], "format": fmt, "description": (desc or desc_en)[:5000]}


def to_record(graph: Graph, node: Node, *, default_theme: str = "livelihood") -> DcatRecord:
    """Map one ``dcat:Dataset`` to a record (raises ``DcatError`` when it has no title)."""
    uri = str(node) if isinstance(node, URIRef) else ""
    ident = _first(graph, node, DCT.identifier)
    guid = (str(ident).strip() if ident is not None else "") or uri
    if not guid:
        raise DcatError("dataset without dct:identifier or URI")
    title, title_en = _by_lang(_literals(graph, node, DCT.title))
    if not title and title_en:
        title = title_en
    if not title:
        raise DcatError(f"dataset {guid} has no dct:title")
    desc, desc_en = _by_lang(_literals(graph, node, DCT.description))
    notes: list[str] = []
    landing = _first(graph, node, DCAT.landingPage)
    origin = str(landing).strip() if landing is not None else ""
    if origin and url_problem(origin):
        notes.append(f"landing page not kept: {url_problem(origin)}")
        origin = ""
    if not origin and uri.startswith(("http://", "https://")) and not url_problem(uri):
        origin = uri
    abstract = desc or desc_en
    if len(abstract) < MIN_ABSTRACT:
        abstract = f"{abstract or title}(来源 / source: {origin or guid})"
    cycle = "不定期"
    freq = _first(graph, node, DCT.accrualPeriodicity)
    if freq is not None:
        found = vocab.update_cycle_from_frequency(str(freq))
        if found in UPDATE_CYCLES:
            cycle = found
    distributions = sorted(graph.objects(node, DCAT.distribution), key=str)
    start, end = _temporal(graph, node)
    contact_name, contact_email = _contact(graph, node)
    publisher = ""
    pub = _first(graph, node, DCT.publisher)
    if pub is not None:
        publisher = _by_lang(_literals(graph, pub, FOAF.name))[0]
    modified = _first(graph, node, DCT.modified)
    payload: dict[str, Any] = {
        "name": slug_for(guid, uri),
        "title": title[:300],
        "title_en": title_en[:300] if title_en != title else "",
        "abstract": abstract,
        "theme": _theme(graph, node, default_theme),
        "tags": _tags(graph, node),
        "update_cycle": cycle,
        "published_on": _date(_first(graph, node, DCT.issued)),
        "temporal_start": start,
        "temporal_end": end,
        "districts": _districts(graph, node),
        "license_id": _license(graph, node, distributions),
        "contact_name": contact_name,
        "contact_email": contact_email,
        "sharing_class": "无条件共享",
        "opening_class": "无条件开放",
    }
    resources = [r for r in (_resource(graph, d, notes) for d in distributions) if r is not None]
    return DcatRecord(guid=guid[:500], modified=str(modified).strip()[:64] if modified is not None else "",
                      payload=payload, resources=resources, origin_url=origin[:2000], publisher=publisher,
                      notes=notes)
