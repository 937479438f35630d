"""DCAT-AP 3.0 descriptions of the catalog and its datasets, built from plain dataset dicts (pure).

The input is what the ``dataset_show`` / ``dataset_search`` actions return (``full=True``), optionally with
``department_name_en``. The output is a :class:`Document` — subjects in order, each with its types and
(predicate, object) pairs, shared nodes (publishers, themes, districts, media types …) described once — and
four writers: Turtle, N-Triples, JSON-LD and RDF/XML. They write text directly instead of going through
rdflib's serialisers, which cost several times more than building the page (see ``benchmarks/dcat_bench.py``);
:func:`to_rdflib` gives the same triples as an rdflib ``Graph`` for checks and for clients that want one.

URIs (``base`` is the site's public base URL):

* catalog ``<base>/catalog``; a page of it ``<base>/catalog.<ext>?page=N`` (``hydra:PartialCollectionView``);
* dataset ``<base>/id/dataset/<name>`` (303 to its page ``<base>/dataset/<name>``, the landing page, which
  also serves the RDF by content negotiation); distribution ``<base>/id/dataset/<name>/resource/<id>``;
* department ``<base>/id/organization/<slug>``; district ``<base>/id/district/<admin code>``; our theme
  ``<base>/id/theme/<slug>`` (also linked to its EU data theme).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from cityhub.catalog.vocab import LICENSES, OPENING_EN, SHARING_EN, THEME_BY_SLUG, UPDATE_CYCLE_EN
from cityhub.geo import DISTRICT_BY_NAME
from cityhub.interop import vocab as v

# -- namespaces ---------------------------------------------------------------------------------------------

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
XSD = "http://www.w3.org/2001/XMLSchema#"
DCAT = "http://www.w3.org/ns/dcat#"
DCT = "http://purl.org/dc/terms/"
FOAF = "http://xmlns.com/foaf/0.1/"
VCARD = "http://www.w3.org/2006/vcard/ns#"
SKOS = "http://www.w3.org/2004/02/skos/core#"
HYDRA = "http://www.w3.org/ns/hydra/core#"
SPDX = "http://spdx.org/rdf/terms#"
ADMS = "http://www.w3.org/ns/adms#"
# Our own extra metadata (sharing and opening classes, catalog classification …). Fixed, so that one CityHub
# instance recognises another's extras when harvesting.
CITYHUB = "urn:cityhub:ns#"

PREFIXES: dict[str, str] = {
    "rdf": RDF, "rdfs": RDFS, "xsd": XSD, "dcat": DCAT, "dct": DCT, "foaf": FOAF, "vcard": VCARD, "skos": SKOS,
    "hydra": HYDRA, "spdx": SPDX, "adms": ADMS, "cityhub": CITYHUB,
    "freq": v.EU_FREQUENCY, "theme": v.EU_DATA_THEME, "filetype": v.EU_FILE_TYPE, "lang": v.EU_LANGUAGE,
    "access": v.EU_ACCESS_RIGHT, "iana": v.IANA_MEDIA_TYPES,
}

MEDIA_TYPES = {"turtle": "text/turtle", "xml": "application/rdf+xml", "json-ld": "application/ld+json",
               "nt": "application/n-triples"}
EXTENSIONS = {"ttl": "turtle", "rdf": "xml", "jsonld": "json-ld", "nt": "nt"}
EXTENSION_OF = {fmt: ext for ext, fmt in EXTENSIONS.items()}

ZH, EN = v.LANG_ZH, v.LANG_EN

# -- terms --------------------------------------------------------------------------------------------------


class IRI(NamedTuple):
    value: str


class Blank(NamedTuple):
    id: str


class Lit(NamedTuple):
    """A literal: plain, language-tagged (``lang``) or typed (``datatype``, an IRI)."""

    value: str
    lang: str = ""
    datatype: str = ""

# (Named tuples: cheap to make and to hash. Tell them apart with isinstance, never with ==: IRI("x") == Blank("x").)


Subject = IRI | Blank
Term = IRI | Blank | Lit

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_IRI_UNSAFE = re.compile(r'[\x00-\x20<>"{}|^`\\]')


def iri(value: str) -> IRI:
    """An IRI with the characters Turtle, N-Triples and XML forbid in IRIs percent-encoded."""
    if _IRI_UNSAFE.search(value) is None:
        return IRI(value)
    return IRI(_IRI_UNSAFE.sub(lambda m: f"%{ord(m.group()):02X}", value))


@dataclass(slots=True)
class Node:
    """One subject: its ``rdf:type`` values and its (predicate IRI, object) pairs, in order."""

    subject: Subject
    types: list[str] = field(default_factory=list)
    props: list[tuple[str, Term]] = field(default_factory=list)

    def add(self, predicate: str, obj: Term | None) -> None:
        if obj is not None:
            self.props.append((predicate, obj))

    def text(self, predicate: str, value: str | None, lang: str = "") -> None:
        """A literal, skipped when empty. Control characters XML cannot carry are dropped, so that every
        syntax says the same."""
        if value:
            if _CONTROL.search(value):
                value = _CONTROL.sub("", value)
            self.props.append((predicate, Lit(value, lang)))

    def typed(self, predicate: str, value: str | None, datatype: str) -> None:
        if value:
            self.props.append((predicate, Lit(value, "", datatype)))


class Document:
    """An ordered set of nodes; a node asked for twice (a shared publisher, theme, district …) is one node."""

    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}  # keyed by the IRI, or "_:" + the blank node's id

    def node(self, subject: Subject, *types: str) -> tuple[Node, bool]:
        """The node of ``subject`` and whether it is new (describe shared nodes only the first time)."""
        key = subject.value if isinstance(subject, IRI) else "_:" + subject.id
        found = self.nodes.get(key)
        if found is not None:
            for t in types:
                if t not in found.types:
                    found.types.append(t)
            return found, False
        created = Node(subject, list(types))
        self.nodes[key] = created
        return created, True

    def triples(self) -> Iterator[tuple[Subject, str, Term]]:
        for node in self.nodes.values():
            for t in node.types:
                yield node.subject, RDF + "type", IRI(t)
            for p, o in node.props:
                yield node.subject, p, o

    def __len__(self) -> int:
        return sum(len(n.types) + len(n.props) for n in self.nodes.values())


# -- building -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Site:
    """What the export needs to know about the site (from the settings; passed in to keep this module pure)."""

    base_url: str
    title: str = "开放广州"
    city: str = "广州市"

    @property
    def base(self) -> str:
        return self.base_url.rstrip("/")


def dataset_uri(site: Site, name: str) -> str:
    return f"{site.base}/id/dataset/{name}"


def organization_uri(site: Site, slug: str) -> str:
    return f"{site.base}/id/organization/{slug}"


def catalog_uri(site: Site) -> str:
    return f"{site.base}/catalog"


def _date(value: str | None) -> Lit | None:
    """A ``YYYY-MM-DD…`` value as ``xsd:date`` (only the date part)."""
    return Lit(value[:10], "", XSD + "date") if value else None


def _datetime(value: str | None) -> Lit | None:
    return Lit(value, "", XSD + "dateTime") if value else None


def describe_dataset(doc: Document, site: Site, ds: Mapping[str, Any]) -> IRI:
    """Add the DCAT-AP description of one dataset dict (and of the nodes it refers to) to ``doc``."""
    base = site.base
    uri = iri(dataset_uri(site, ds["name"]))
    node, _ = doc.node(uri, DCAT + "Dataset")
    node.text(DCT + "identifier", ds.get("code"))
    node.text(DCT + "title", ds.get("title"), ZH)
    node.text(DCT + "title", ds.get("title_en"), EN)
    node.text(DCT + "description", ds.get("abstract") or ds.get("title"), ZH)
    for tag in ds.get("tags") or ():
        node.text(DCAT + "keyword", tag, ZH)
    _themes(doc, site, node, ds.get("theme") or "")
    node.add(DCT + "publisher", _publisher(doc, site, ds))
    node.add(DCAT + "contactPoint", _contact(doc, ds, uri))
    for name in ds.get("districts") or ():
        node.add(DCT + "spatial", _district(doc, site, name))
    node.add(DCT + "temporal", _period(doc, ds, uri))
    freq = v.frequency_uri(ds.get("update_cycle") or "")
    if freq:
        node.add(DCT + "accrualPeriodicity", _shared(doc, freq, DCT + "Frequency"))
    access = v.access_right_uri(ds.get("opening_class") or "")
    if access:
        node.add(DCT + "accessRights", _shared(doc, access, DCT + "RightsStatement"))
    node.add(DCT + "language", _shared(doc, v.EU_LANGUAGE_BY_TAG[ZH], DCT + "LinguisticSystem"))
    node.add(DCT + "issued", _date(ds.get("published_on")) or _datetime(ds.get("created_at")))
    node.add(DCT + "modified", _datetime(ds.get("modified_at")))
    page, _ = doc.node(iri(f"{base}/dataset/{ds['name']}"), FOAF + "Document")
    node.add(DCAT + "landingPage", page.subject)
    licence = _licence(doc, site, ds.get("license_id") or "")
    node.add(DCT + "license", licence)
    for res in ds.get("resources") or ():
        node.add(DCAT + "distribution", _distribution(doc, site, ds, res, licence))
    _extras(node, ds)
    return uri


def _shared(doc: Document, uri: str, *types: str) -> IRI:
    """A controlled-vocabulary node (frequency, media type …): typed, so that the shapes' class checks hold."""
    subject = iri(uri)
    doc.node(subject, *types)
    return subject


def _themes(doc: Document, site: Site, node: Node, slug: str) -> None:
    if not slug:
        return
    eu = v.eu_theme_uri(slug)
    eu_subject: IRI | None = None
    if eu:
        eu_subject = iri(eu)
        concept, new = doc.node(eu_subject, SKOS + "Concept")
        if new:
            concept.text(SKOS + "prefLabel", v.EU_THEME_LABELS.get(eu.rsplit("/", 1)[1]), EN)
            concept.add(SKOS + "inScheme", _eu_theme_scheme(doc))
        node.add(DCAT + "theme", eu_subject)
    ours = iri(v.theme_uri(site.base, slug))
    concept, new = doc.node(ours, SKOS + "Concept")
    if new:
        _zh, label_zh, label_en = THEME_BY_SLUG.get(slug, (slug, slug, ""))
        concept.text(SKOS + "prefLabel", label_zh, ZH)
        concept.text(SKOS + "prefLabel", label_en, EN)
        concept.text(SKOS + "notation", slug)
        concept.add(SKOS + "inScheme", _our_theme_scheme(doc, site))
        concept.add(SKOS + "closeMatch", eu_subject)
    node.add(DCAT + "theme", ours)


def _eu_theme_scheme(doc: Document) -> IRI:
    subject = IRI(v.EU_DATA_THEME_SCHEME)
    scheme, new = doc.node(subject, SKOS + "ConceptScheme")
    if new:
        scheme.text(DCT + "title", "Data theme", EN)
    return subject


def _our_theme_scheme(doc: Document, site: Site) -> IRI:
    subject = iri(v.theme_scheme_uri(site.base))
    scheme, new = doc.node(subject, SKOS + "ConceptScheme")
    if new:
        scheme.text(DCT + "title", f"{site.title}数据主题", ZH)
        scheme.text(DCT + "title", "CityHub data themes", EN)
    return subject


def _publisher(doc: Document, site: Site, ds: Mapping[str, Any]) -> IRI | None:
    slug = ds.get("department")
    if not slug:
        return None
    subject = iri(organization_uri(site, slug))
    agent, new = doc.node(subject, FOAF + "Agent", FOAF + "Organization")
    if new:
        agent.text(FOAF + "name", ds.get("department_name") or slug, ZH)
        agent.text(FOAF + "name", ds.get("department_name_en"), EN)
        agent.text(DCT + "identifier", ds.get("department_uscc"))  # unified social credit code
        agent.add(FOAF + "homepage", iri(f"{site.base}/organization/{slug}"))
    return subject


def _contact(doc: Document, ds: Mapping[str, Any], dataset: IRI) -> Blank:
    """The dataset's contact (or, without one, its department) as a vCard organisation."""
    subject = Blank(f"c{ds.get('id') or _slug(dataset.value)}")
    card, _ = doc.node(subject, VCARD + "Kind", VCARD + "Organization")
    card.text(VCARD + "fn", ds.get("contact_name") or ds.get("department_name") or ds.get("department"), ZH)
    card.text(VCARD + "organization-name", ds.get("department_name"), ZH)
    email = (ds.get("contact_email") or "").strip()
    if email:
        card.add(VCARD + "hasEmail", iri(f"mailto:{email}"))
    phone = re.sub(r"[^0-9+\-]", "", ds.get("contact_phone") or "")
    if phone:
        card.add(VCARD + "hasTelephone", iri(f"tel:{phone}"))
    return subject


def _district(doc: Document, site: Site, name: str) -> IRI | None:
    uri = v.district_uri(site.base, name)
    if uri is None:
        return None
    subject = iri(uri)
    place, new = doc.node(subject, DCT + "Location")
    if new:
        code, zh, en = DISTRICT_BY_NAME[name]
        place.text(SKOS + "prefLabel", zh, ZH)
        place.text(SKOS + "prefLabel", en, EN)
        place.text(DCT + "identifier", code)  # GB/T 2260 administrative division code
    return subject


def _period(doc: Document, ds: Mapping[str, Any], dataset: IRI) -> Blank | None:
    start, end = ds.get("temporal_start"), ds.get("temporal_end")
    if not start and not end:
        return None
    subject = Blank(f"t{ds.get('id') or _slug(dataset.value)}")
    period, _ = doc.node(subject, DCT + "PeriodOfTime")
    period.add(DCAT + "startDate", _date(start))
    period.add(DCAT + "endDate", _date(end))
    return subject


def _licence(doc: Document, site: Site, license_id: str) -> IRI | None:
    uri = v.license_uri(license_id, site.base)
    if uri is None:
        return None
    subject = iri(uri)
    lic, new = doc.node(subject, DCT + "LicenseDocument")
    if new:
        zh, en, _url = LICENSES.get(license_id, (license_id, license_id, ""))
        lic.text(DCT + "title", zh, ZH)
        lic.text(DCT + "title", en, EN)
        lic.text(DCT + "identifier", license_id)
    return subject


def _distribution(doc: Document, site: Site, ds: Mapping[str, Any], res: Mapping[str, Any],
                  licence: IRI | None) -> IRI:
    subject = iri(f"{dataset_uri(site, ds['name'])}/resource/{res['id']}")
    dist, _ = doc.node(subject, DCAT + "Distribution")
    dist.text(DCT + "title", res.get("name"), ZH)
    dist.text(DCT + "description", res.get("description"), ZH)
    dist.add(DCAT + "accessURL", _resource(doc, f"{site.base}/dataset/{ds['name']}/resource/{res['id']}"))
    if res.get("url"):
        dist.add(DCAT + "downloadURL", _resource(doc, res["url"]))
    fmt = res.get("format") or ""
    mime = res.get("media_type") or v.media_type(fmt) or ""
    mime_uri = v.media_type_uri(mime) if mime else None
    if mime_uri:
        dist.add(DCAT + "mediaType", _shared(doc, mime_uri, DCT + "MediaType"))
    file_type = v.file_type_uri(fmt) if fmt else None
    if file_type:
        dist.add(DCT + "format", _shared(doc, file_type, DCT + "MediaTypeOrExtent"))
    if res.get("size") is not None and int(res["size"]) >= 0:
        dist.typed(DCAT + "byteSize", str(int(res["size"])), XSD + "nonNegativeInteger")
    sha = (res.get("sha256") or "").lower()
    if re.fullmatch(r"[0-9a-f]{64}", sha):
        checksum, _ = doc.node(Blank(f"s{_slug(str(res['id']))}"), SPDX + "Checksum")
        checksum.add(SPDX + "algorithm", _shared(doc, SPDX + "checksumAlgorithm_sha256", SPDX + "ChecksumAlgorithm"))
        checksum.typed(SPDX + "checksumValue", sha, XSD + "hexBinary")
        dist.add(SPDX + "checksum", checksum.subject)
    dist.add(DCT + "license", licence)
    dist.add(DCT + "issued", _datetime(res.get("created_at")))
    dist.add(DCT + "modified", _datetime(res.get("modified_at")))
    return subject


def _resource(doc: Document, url: str) -> IRI:
    subject = iri(url)
    doc.node(subject, RDFS + "Resource")
    return subject


def _extras(node: Node, ds: Mapping[str, Any]) -> None:
    """Our catalog metadata that DCAT-AP has no property for, in the ``cityhub:`` namespace."""
    node.text(CITYHUB + "catalogType", ds.get("catalog_type"), ZH)
    node.text(CITYHUB + "baseCategory", ds.get("base_category"), ZH)
    classification = "".join(str(ds.get(k) or "") for k in ("class_item", "class_category", "class_sub"))
    node.text(CITYHUB + "classification", classification)
    node.text(CITYHUB + "resourceFormat", ds.get("format"), ZH)
    sharing = ds.get("sharing_class") or ""
    node.text(CITYHUB + "sharingClass", sharing, ZH)
    node.text(CITYHUB + "sharingClass", SHARING_EN.get(sharing), EN)
    node.text(CITYHUB + "sharingCondition", ds.get("sharing_condition"), ZH)
    for method in ds.get("sharing_method") or ():
        node.text(CITYHUB + "sharingMethod", method, ZH)
    node.text(CITYHUB + "sharingBasis", ds.get("sharing_basis"), ZH)
    opening = ds.get("opening_class") or ""
    node.text(CITYHUB + "openingClass", opening, ZH)
    node.text(CITYHUB + "openingClass", OPENING_EN.get(opening), EN)
    node.text(CITYHUB + "openingCondition", ds.get("opening_condition"), ZH)
    cycle = ds.get("update_cycle") or ""
    node.text(CITYHUB + "updateCycle", cycle, ZH)
    node.text(CITYHUB + "updateCycle", UPDATE_CYCLE_EN.get(cycle), EN)
    for code in ds.get("related_codes") or ():
        node.text(CITYHUB + "relatedCode", code)
    if ds.get("quality_score") is not None:
        node.typed(CITYHUB + "qualityScore", str(int(ds["quality_score"])), XSD + "integer")
    node.typed(CITYHUB + "dataUpdated", ds.get("data_updated_at"), XSD + "dateTime")


def _slug(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", value)


def dataset_document(site: Site, ds: Mapping[str, Any]) -> Document:
    """The DCAT-AP description of one dataset."""
    doc = Document()
    describe_dataset(doc, site, ds)
    return doc


@dataclass(frozen=True)
class Page:
    """Which page of the catalog this is; ``url(n)`` gives the address of page ``n`` in the same format."""

    number: int
    size: int
    total: int
    url: Callable[[int], str]

    @property
    def last(self) -> int:
        return max(1, -(-self.total // self.size))


def catalog_document(site: Site, datasets: Iterable[Mapping[str, Any]], page: Page,
                     modified: str | None = None) -> Document:
    """One page of the catalog: the catalog itself, the page's datasets, and a Hydra partial-collection view
    with the first, previous, next and last pages."""
    doc = Document()
    cat_uri = iri(catalog_uri(site))
    cat, _ = doc.node(cat_uri, DCAT + "Catalog", HYDRA + "Collection")
    cat.text(DCT + "title", f"{site.title}数据目录", ZH)
    cat.text(DCT + "title", "CityHub open data catalogue", EN)
    cat.text(DCT + "description", f"{site.city}政务数据资源开放目录(DCAT-AP 3.0)", ZH)
    cat.text(DCT + "description", "Open government data catalogue (DCAT-AP 3.0)", EN)
    publisher, _ = doc.node(iri(f"{site.base}/id/publisher"), FOAF + "Agent", FOAF + "Organization")
    publisher.text(FOAF + "name", site.title, ZH)
    publisher.text(FOAF + "name", "CityHub", EN)
    cat.add(DCT + "publisher", publisher.subject)
    home, _ = doc.node(iri(f"{site.base}/"), FOAF + "Document")
    cat.add(FOAF + "homepage", home.subject)
    for tag in (ZH, EN):
        cat.add(DCT + "language", _shared(doc, v.EU_LANGUAGE_BY_TAG[tag], DCT + "LinguisticSystem"))
    cat.add(DCAT + "themeTaxonomy", _eu_theme_scheme(doc))
    cat.add(DCAT + "themeTaxonomy", _our_theme_scheme(doc, site))
    cat.add(DCT + "modified", _datetime(modified))
    cat.typed(HYDRA + "totalItems", str(page.total), XSD + "nonNegativeInteger")
    view_uri = iri(page.url(page.number))
    cat.add(HYDRA + "view", view_uri)
    view, _ = doc.node(view_uri, HYDRA + "PartialCollectionView")
    view.add(HYDRA + "first", iri(page.url(1)))
    if page.number > 1:
        view.add(HYDRA + "previous", iri(page.url(min(page.number, page.last + 1) - 1)))
    if page.number < page.last:
        view.add(HYDRA + "next", iri(page.url(page.number + 1)))
    view.add(HYDRA + "last", iri(page.url(page.last)))
    for ds in datasets:
        cat.add(DCAT + "dataset", describe_dataset(doc, site, ds))
    return doc


# -- writers ------------------------------------------------------------------------------------------------

_PN_LOCAL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_\-.]*[A-Za-z0-9_\-])?")
_NCNAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\-.]*")
_PREFIX_OF = {ns: prefix for prefix, ns in PREFIXES.items()}
# one alternation, longest namespace first: a single C-level match per IRI (most IRIs of a page are unique)
_NAMESPACE = re.compile("|".join(re.escape(ns) for ns in sorted(_PREFIX_OF, key=len, reverse=True)))


def _split(uri: str) -> tuple[str, str] | None:
    """(prefix, local name) of an IRI under one of :data:`PREFIXES`, or ``None``."""
    m = _NAMESPACE.match(uri)
    return (_PREFIX_OF[m.group()], uri[m.end():]) if m else None


@functools.lru_cache(maxsize=8192)
def _turtle_iri(uri: str) -> str:
    split = _split(uri)
    if split and _PN_LOCAL.fullmatch(split[1]):
        return f"{split[0]}:{split[1]}"
    return f"<{uri}>"


_TTL_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_TTL_SPECIAL = re.compile(r'["\\\x00-\x1f\x7f]')


def _ttl_string(value: str) -> str:
    if _TTL_SPECIAL.search(value):
        value = _TTL_SPECIAL.sub(lambda m: _TTL_ESCAPES.get(m.group(), f"\\u{ord(m.group()):04X}"), value)
    return f'"{value}"'


def _term(term: Term, iri: Callable[[str], str]) -> str:
    """A term in Turtle or N-Triples syntax; the two differ only in how an IRI is written (``iri``)."""
    if isinstance(term, IRI):
        return iri(term.value)
    if isinstance(term, Blank):
        return f"_:{term.id}"
    text = _ttl_string(term.value)
    if term.lang:
        return f"{text}@{term.lang}"
    if term.datatype:
        return f"{text}^^{iri(term.datatype)}"
    return text


def _ttl_term(term: Term) -> str:
    return _term(term, _turtle_iri)


def to_turtle(doc: Document) -> str:
    """Turtle, one block per subject, predicates grouped with ``;`` and repeated objects with ``,``."""
    out = [f"@prefix {p}: <{ns}> ." for p, ns in PREFIXES.items()]
    out.append("")
    for node in doc.nodes.values():
        lines = []
        if node.types:
            lines.append("a " + ", ".join(_turtle_iri(t) for t in node.types))
        grouped: dict[str, list[str]] = {}
        for p, o in node.props:
            grouped.setdefault(p, []).append(_ttl_term(o))
        for p, objs in grouped.items():
            lines.append(f"{_turtle_iri(p)} " + ", ".join(objs))
        if not lines:
            continue
        out.append(_ttl_term(node.subject) + " " + " ;\n    ".join(lines) + " .\n")
    return "\n".join(out)


def _nt_term(term: Term) -> str:
    return _term(term, lambda value: f"<{value}>")


def to_ntriples(doc: Document) -> str:
    return "".join(f"{_nt_term(s)} <{p}> {_nt_term(o)} .\n" for s, p, o in doc.triples())


def _json_term(term: Term) -> dict[str, str]:
    if isinstance(term, IRI):
        return {"@id": term.value}
    if isinstance(term, Blank):
        return {"@id": f"_:{term.id}"}
    if term.lang:
        return {"@value": term.value, "@language": term.lang}
    if term.datatype:
        return {"@value": term.value, "@type": _compact(term.datatype)}
    return {"@value": term.value}


@functools.lru_cache(maxsize=8192)
def _compact(uri: str) -> str:
    split = _split(uri)
    return f"{split[0]}:{split[1]}" if split and split[1] and ":" not in split[1] else uri


def to_jsonld(doc: Document) -> str:
    """JSON-LD: a ``@graph`` of node objects under a context that declares the prefixes."""
    graph: list[dict[str, Any]] = []
    for node in doc.nodes.values():
        subject = node.subject
        obj: dict[str, Any] = {"@id": subject.value if isinstance(subject, IRI) else f"_:{subject.id}"}
        if node.types:
            obj["@type"] = [_compact(t) for t in node.types]
        for p, o in node.props:
            obj.setdefault(_compact(p), []).append(_json_term(o))
        graph.append(obj)
    return json.dumps({"@context": PREFIXES, "@graph": graph}, ensure_ascii=False, separators=(",", ":"))


_XML_TEXT = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\r": "&#13;"}
_XML_SPECIAL = re.compile(r'[&<>"\r]')
_XML_INVALID = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml(value: str) -> str:
    value = _XML_INVALID.sub("", value)
    return _XML_SPECIAL.sub(lambda m: _XML_TEXT[m.group()], value) if _XML_SPECIAL.search(value) else value


@functools.lru_cache(maxsize=1024)
def _qname(uri: str) -> str:
    split = _split(uri)
    if split is None or not _NCNAME.fullmatch(split[1]):
        raise ValueError(f"no XML name for predicate {uri}")
    return f"{split[0]}:{split[1]}"


def to_rdfxml(doc: Document) -> str:
    """RDF/XML: one ``rdf:Description`` per subject."""
    out = ['<?xml version="1.0" encoding="utf-8"?>', "<rdf:RDF"]
    out.extend(f'   xmlns:{p}="{_xml(ns)}"' for p, ns in PREFIXES.items())
    out[-1] += ">"
    for node in doc.nodes.values():
        subject = node.subject
        about = (f'rdf:about="{_xml(subject.value)}"' if isinstance(subject, IRI)
                 else f'rdf:nodeID="{subject.id}"')
        out.append(f"  <rdf:Description {about}>")
        out.extend(f'    <rdf:type rdf:resource="{_xml(t)}"/>' for t in node.types)
        for p, o in node.props:
            name = _qname(p)
            if isinstance(o, IRI):
                out.append(f'    <{name} rdf:resource="{_xml(o.value)}"/>')
            elif isinstance(o, Blank):
                out.append(f'    <{name} rdf:nodeID="{o.id}"/>')
            elif o.lang:
                out.append(f'    <{name} xml:lang="{o.lang}">{_xml(o.value)}</{name}>')
            elif o.datatype:
                out.append(f'    <{name} rdf:datatype="{_xml(o.datatype)}">{_xml(o.value)}</{name}>')
            else:
                out.append(f"    <{name}>{_xml(o.value)}</{name}>")
        out.append("  </rdf:Description>")
    out.append("</rdf:RDF>\n")
    return "\n".join(out)


WRITERS: dict[str, Callable[[Document], str]] = {
    "turtle": to_turtle, "xml": to_rdfxml, "json-ld": to_jsonld, "nt": to_ntriples,
}


def serialize(doc: Document, fmt: str) -> str:
    """``doc`` in ``fmt`` (``turtle``, ``xml``, ``json-ld`` or ``nt``)."""
    try:
        writer = WRITERS[fmt]
    except KeyError:
        raise ValueError(f"unknown RDF format {fmt}") from None
    return writer(doc)


def to_rdflib(doc: Document) -> Any:
    """The same triples as an ``rdflib.Graph`` (rdflib is imported only here)."""
    from rdflib import BNode, Graph, Literal, URIRef

    def term(t: Term) -> Any:
        if isinstance(t, IRI):
            return URIRef(t.value)
        if isinstance(t, Blank):
            return BNode(t.id)
        if t.lang:
            return Literal(t.value, lang=t.lang)
        return Literal(t.value, datatype=URIRef(t.datatype) if t.datatype else None)

    graph = Graph()
    for prefix, ns in PREFIXES.items():
        graph.bind(prefix, ns)
    for s, p, o in doc.triples():
        graph.add((term(s), URIRef(p), term(o)))
    return graph


# -- content negotiation ------------------------------------------------------------------------------------

_ACCEPTED = {
    "text/turtle": "turtle", "application/x-turtle": "turtle", "application/rdf+xml": "xml",
    "application/ld+json": "json-ld", "application/n-triples": "nt", "text/html": "html",
    "application/xhtml+xml": "html",
}


def negotiate(accept: str) -> str | None:
    """The RDF format an ``Accept`` header prefers (``turtle``, ``xml``, ``json-ld``, ``nt``), or ``None``
    when it prefers HTML or names no RDF type. Ties keep the header's order; ``*/*`` never selects RDF."""
    best: tuple[float, int, str] | None = None
    for position, part in enumerate(accept.split(",")):
        fields = part.strip().split(";")
        kind = _ACCEPTED.get(fields[0].strip().lower())
        if kind is None:
            continue
        q = 1.0
        for param in fields[1:]:
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q <= 0:
            continue
        if best is None or q > best[0] or (q == best[0] and position < best[1]):
            best = (q, position, kind)
    if best is None or best[2] == "html":
        return None
    return best[2]
