"""DCAT-AP 3.0 export: SHACL conformance (pyshacl, the official DCAT-AP 3.0 shapes), the four RDF syntaxes,
content negotiation, Hydra paging, vocabulary mappings, language tags, and what must never be published."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from rdflib import RDF, Graph, Literal, Namespace, URIRef
from rdflib.compare import isomorphic

from cityhub.catalog.vocab import LICENSES, THEMES, UPDATE_CYCLES
from cityhub.geo import DISTRICTS
from cityhub.interop import dcat
from cityhub.interop import vocab as v
from tests.conftest import SHARED, Store, actor_ctx, call_as, dataset_payload, open_dataset, publish

# the official shapes, kept in tests/data so the suite runs from a clone anywhere (see tests/data/README.md)
SHAPES = Path(__file__).resolve().parents[1] / "data" / "dcat-ap-3-shacl-shapes.ttl"
SHARED_SHAPES = SHARED / "data" / "dcat-ap" / "dcat-ap-3-shacl-shapes.ttl"
DCAT = Namespace(dcat.DCAT)
DCT = Namespace(dcat.DCT)
FOAF = Namespace(dcat.FOAF)
HYDRA = Namespace(dcat.HYDRA)
SKOS = Namespace(dcat.SKOS)
VCARD = Namespace(dcat.VCARD)
CH = Namespace(dcat.CITYHUB)
BASE = "http://127.0.0.1:8000"
RDFLIB_FORMAT = {"turtle": "turtle", "xml": "xml", "json-ld": "json-ld", "nt": "nt"}


def _parse(body: str, fmt: str) -> Graph:
    return Graph().parse(data=body, format=RDFLIB_FORMAT[fmt])


def _catalog(page: int = 1, page_size: int = 1000, fmt: str = "turtle", who: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = call_as(who, "catalog_dcat", {"page": page, "page_size": page_size, "format": fmt})
    return out


def _public_names() -> set[str]:
    return set(call_as(None, "dataset_list", {"limit": 100000}))


def _dataset_names(g: Graph) -> set[str]:
    return {str(s).rsplit("/", 1)[1] for s in g.subjects(RDF.type, DCAT.Dataset)}


# -- pure: mappings ------------------------------------------------------------------------------------------


def test_every_update_cycle_maps_to_an_eu_frequency_and_back() -> None:
    for cycle in UPDATE_CYCLES:
        uri = v.frequency_uri(cycle)
        assert uri is not None and uri.startswith(v.EU_FREQUENCY), cycle
        assert v.update_cycle_from_frequency(uri) == cycle
    assert v.frequency_uri("每月") == "http://publications.europa.eu/resource/authority/frequency/MONTHLY"
    assert v.update_cycle_from_frequency("BIWEEKLY") == "每月"  # coarser cycle whose deadline still holds
    assert v.update_cycle_from_frequency("https://publications.europa.eu/resource/authority/frequency/DAILY") == "每日"
    assert v.update_cycle_from_frequency("http://example.org/frequency/DAILY") is None
    assert v.frequency_uri("hourly") is None


def test_every_theme_maps_to_an_eu_data_theme() -> None:
    for slug, _zh, _en in THEMES:
        uri = v.eu_theme_uri(slug)
        assert uri is not None and uri.rsplit("/", 1)[1] in v.EU_THEME_LABELS, slug
    for code, slug in v.SLUG_BY_EU_THEME.items():
        assert v.EU_THEME_BY_SLUG[slug] == code  # the reverse lands on a theme that maps back to the same code
    assert v.theme_slug_from_eu(v.EU_DATA_THEME + "TRAN") == "transport"
    assert v.theme_slug_from_eu("INTR") is None
    assert v.theme_slug_from_uri(BASE, v.theme_uri(BASE, "weather")) == "weather"


def test_format_licence_district_and_access_mappings() -> None:
    assert v.media_type("GeoJSON") == "application/geo+json"
    assert v.media_type_uri("text/csv; charset=utf-8") == "https://www.iana.org/assignments/media-types/text/csv"
    assert v.media_type_uri("nonsense") is None
    assert v.file_type_uri("xlsx") == v.EU_FILE_TYPE + "XLSX"
    assert v.format_from_file_type(v.EU_FILE_TYPE + "CSV") == "CSV"
    assert v.format_from_media_type(v.IANA_MEDIA_TYPES + "application/geo+json") == "GEOJSON"
    for lic_id in LICENSES:
        uri = v.license_uri(lic_id, BASE)
        assert uri is not None and v.license_id_from_uri(uri, BASE) == lic_id
    assert v.license_id_from_uri("http://creativecommons.org/licenses/by/4.0") == "cc-by-4.0"
    assert v.license_id_from_uri(v.EU_LICENCE + "CC_BY_4_0") == "cc-by-4.0"
    assert v.license_uri("", BASE) is None
    for code, name, _en in DISTRICTS:
        uri = v.district_uri(BASE + "/", name)
        assert uri == f"{BASE}/id/district/{code}"
        assert v.district_from_uri(BASE, uri) == name
    assert v.district_uri(BASE, "不存在区") is None
    assert v.access_right_uri("有条件开放") == v.EU_ACCESS_RIGHT + "RESTRICTED"
    assert v.opening_class_from_access_right("PUBLIC") == "无条件开放"


@pytest.mark.parametrize(("accept", "expected"), [
    ("text/turtle", "turtle"),
    ("application/rdf+xml", "xml"),
    ("application/ld+json", "json-ld"),
    ("application/n-triples", "nt"),
    ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", None),  # a browser
    ("*/*", None),
    ("", None),
    ("application/json", None),
    ("text/html;q=0.5, text/turtle", "turtle"),
    ("application/ld+json;q=0.2, application/rdf+xml;q=0.8", "xml"),
    ("text/turtle;q=0, application/ld+json", "json-ld"),
    ("text/turtle;q=abc", None),
])
def test_negotiate(accept: str, expected: str | None) -> None:
    assert dcat.negotiate(accept) == expected


# -- pure: the writers ---------------------------------------------------------------------------------------

AWKWARD = {
    "id": 7, "name": "awkward", "code": "2020001/000007", "title": '引号 "quoted" \\ 反斜杠\n换行\t制表',
    "title_en": "Tricky <title> & 'apostrophes'", "abstract": "控制字符\x01与\x7f;末尾反斜杠\\",
    "tags": ["a\"b", "<c>"], "theme": "transport", "department": "gz-transport", "department_name": "交通局 & 合作方",
    "department_name_en": "Transport <Bureau>", "department_uscc": "11440100MB2C93261X", "districts": ["天河区", "火星区"],
    "temporal_start": "2020-01-01", "temporal_end": None, "update_cycle": "每周", "opening_class": "有条件开放",
    "license_id": "gz-open-data-1.0", "published_on": None, "created_at": "2024-01-02T03:04:05+00:00",
    "modified_at": "2024-02-03T04:05:06+00:00", "contact_email": "a b@example.org", "contact_phone": "(020) 1234-5678",
    "resources": [{"id": "r1", "name": "文件 \"一\"", "url": "https://example.org/a b/<x>.csv?q=1&r=\"2\"",
                   "format": "csv", "media_type": "", "size": 12, "sha256": "AB" * 32,
                   "created_at": "2024-01-02T03:04:05+00:00", "modified_at": "2024-01-02T03:04:05+00:00"},
                  {"id": "r2", "name": "无格式", "url": "", "format": "", "media_type": "", "size": None,
                   "sha256": "", "created_at": None, "modified_at": None}],
}


@pytest.mark.parametrize("fmt", ["turtle", "xml", "json-ld", "nt"])
def test_every_writer_gives_back_the_same_triples(fmt: str) -> None:
    """Escaping of quotes, backslashes, control characters, markup and spaces in URLs, in every syntax."""
    doc = dcat.dataset_document(dcat.Site(BASE), AWKWARD)
    expected = dcat.to_rdflib(doc)
    parsed = _parse(dcat.serialize(doc, fmt), fmt)
    assert len(parsed) == len(expected) == len(doc)
    assert isomorphic(parsed, expected)
    ds = URIRef(f"{BASE}/id/dataset/awkward")
    assert Literal(AWKWARD["title"], lang="zh-Hans") in set(parsed.objects(ds, DCT.title))
    assert Literal(AWKWARD["title_en"], lang="en") in set(parsed.objects(ds, DCT.title))
    download = next(iter(parsed.objects(None, DCAT.downloadURL)))
    assert " " not in str(download) and "<" not in str(download) and "%20" in str(download)


def test_unknown_values_are_left_out_not_invented() -> None:
    g = dcat.to_rdflib(dcat.dataset_document(dcat.Site(BASE), AWKWARD))
    ds = URIRef(f"{BASE}/id/dataset/awkward")
    assert {str(o) for o in g.objects(ds, DCT.spatial)} == {f"{BASE}/id/district/440106"}  # not 火星区
    assert set(g.objects(ds, DCT.license)) == {URIRef(f"{BASE}/id/licence/gz-open-data-1.0")}
    bare = URIRef(f"{BASE}/id/dataset/awkward/resource/r2")
    assert not set(g.objects(bare, DCAT.mediaType)) and not set(g.objects(bare, DCAT.downloadURL))
    assert set(g.objects(bare, DCAT.accessURL))  # mandatory: the resource page


def test_hydra_view_links() -> None:
    def url(n: int) -> str:
        return f"{BASE}/catalog.ttl?page={n}"

    def view(number: int, total: int) -> dict[str, str]:
        page = dcat.Page(number, 10, total, url)
        g = dcat.to_rdflib(dcat.catalog_document(dcat.Site(BASE), [], page))
        node = URIRef(url(number))
        assert (URIRef(f"{BASE}/catalog"), HYDRA.view, node) in g
        assert (node, RDF.type, HYDRA.PartialCollectionView) in g
        return {str(p).rsplit("#", 1)[1]: str(o) for p, o in g.predicate_objects(node) if p != RDF.type}

    assert view(1, 25) == {"first": url(1), "next": url(2), "last": url(3)}
    assert view(2, 25) == {"first": url(1), "previous": url(1), "next": url(3), "last": url(3)}
    assert view(3, 25) == {"first": url(1), "previous": url(2), "last": url(3)}
    assert view(1, 0) == {"first": url(1), "last": url(1)}  # an empty catalog still has its one (empty) page
    assert view(2, 20) == {"first": url(1), "previous": url(1), "last": url(2)}


# -- the demo catalog, on SQLite and PostgreSQL --------------------------------------------------------------


def test_demo_catalog_conforms_to_the_dcat_ap_3_shapes(demo: Store) -> None:
    import pyshacl

    out = _catalog()
    data = _parse(out["body"], "turtle")
    shapes = Graph().parse(SHAPES, format="turtle")
    conforms, _report, text = pyshacl.validate(data, shacl_graph=shapes)
    assert conforms is True, text
    # … and the check can fail: a dataset without a title, a distribution without an access URL
    broken = Graph()
    for t in data:
        broken.add(t)
    first = next(iter(data.subjects(RDF.type, DCAT.Dataset)))
    broken.remove((first, DCT.title, None))
    dist = next(iter(data.subjects(RDF.type, DCAT.Distribution)))
    broken.remove((dist, DCAT.accessURL, None))
    conforms, _report, text = pyshacl.validate(broken, shacl_graph=shapes)
    assert conforms is False
    assert "title" in text and "accessURL" in text


def test_demo_catalog_lists_exactly_the_published_datasets(demo: Store) -> None:
    out = _catalog()
    g = _parse(out["body"], "turtle")
    names = _dataset_names(g)
    public = _public_names()
    assert names == public
    assert out["total"] == len(public) == out["count"]
    cat = URIRef(f"{BASE}/catalog")
    assert (cat, RDF.type, DCAT.Catalog) in g
    assert {str(o).rsplit("/", 1)[1] for o in g.objects(cat, DCAT.dataset)} == public
    assert int(g.value(cat, HYDRA.totalItems)) == len(public)
    everything = call_as("system", "dataset_search", {"rows": 1000, "include_private": True})["results"]
    hidden = {r["name"] for r in everything if r["opening_class"] == "不予开放" or r["private"]}
    assert hidden and not names & hidden


def test_private_withdrawn_and_closed_datasets_never_appear(demo: Store) -> None:
    private = open_dataset(private=True)["name"]
    closed = open_dataset(opening_class="不予开放")["name"]
    gone = open_dataset()["name"]
    call_as("steward", "dataset_delete", {"id": gone})
    shown = open_dataset()["name"]
    names: set[str] = set()
    page, pages = 1, 1
    while page <= pages:
        out = _catalog(page=page, page_size=7)
        pages = out["pages"]
        names |= _dataset_names(_parse(out["body"], "turtle"))
        page += 1
    assert shown in names
    assert not names & {private, closed, gone}
    # a signed-in steward of the owning department gets the same public catalog
    assert private not in _dataset_names(_parse(_catalog(who="steward")["body"], "turtle"))
    from cityhub import actions
    from cityhub.errors import NotFound

    # nor as single datasets, to the public (same answers as dataset_show: not found, existence does not leak)
    with pytest.raises(NotFound):
        actions.call("dataset_dcat", actor_ctx(None), {"id": private})
    with pytest.raises(NotFound):
        actions.call("dataset_dcat", actor_ctx(None), {"id": gone})


def test_dataset_description_mappings_and_language_tags(demo: Store) -> None:
    payload = dataset_payload(title_en="Test bus routes", update_cycle="每季度", theme="transport",
                              districts=["天河区", "越秀区"], temporal_start="2019-01-01", temporal_end="2020-12-31",
                              contact_name="王工", contact_email="wang@example.gov.cn", contact_phone="020-12345678",
                              tags=["公交", "线路"])
    name = publish(call_as("steward", "dataset_create", payload)["name"])["name"]
    call_as("steward", "resource_create", {"dataset": name, "name": "线路表", "url": "https://example.org/routes.csv",
                                           "format": "CSV"})
    g = _parse(call_as(None, "dataset_dcat", {"id": name})["body"], "turtle")
    shown = call_as(None, "dataset_show", {"id": name})
    ds = URIRef(f"{BASE}/id/dataset/{name}")
    assert (ds, RDF.type, DCAT.Dataset) in g
    assert g.value(ds, DCT.identifier) == Literal(shown["code"])
    assert set(g.objects(ds, DCT.title)) == {Literal(payload["title"], lang="zh-Hans"),
                                             Literal("Test bus routes", lang="en")}
    assert {o for o in g.objects(ds, DCAT.keyword)} == {Literal("公交", lang="zh-Hans"), Literal("线路", lang="zh-Hans")}
    assert g.value(ds, DCT.accrualPeriodicity) == URIRef(v.EU_FREQUENCY + "QUARTERLY")
    assert set(g.objects(ds, DCAT.theme)) == {URIRef(v.EU_DATA_THEME + "TRAN"), URIRef(f"{BASE}/id/theme/transport")}
    own = URIRef(f"{BASE}/id/theme/transport")
    assert (own, RDF.type, SKOS.Concept) in g and (own, SKOS.prefLabel, Literal("交通", lang="zh-Hans")) in g
    assert set(g.objects(ds, DCT.spatial)) == {URIRef(f"{BASE}/id/district/440106"),
                                               URIRef(f"{BASE}/id/district/440104")}
    period = g.value(ds, DCT.temporal)
    assert str(g.value(period, DCAT.startDate)) == "2019-01-01" and str(g.value(period, DCAT.endDate)) == "2020-12-31"
    publisher = g.value(ds, DCT.publisher)
    assert publisher == URIRef(f"{BASE}/id/organization/gz-transport")
    assert (publisher, RDF.type, FOAF.Agent) in g
    assert g.value(publisher, DCT.identifier) == Literal(shown["department_uscc"])
    langs = {o.language for o in g.objects(publisher, FOAF.name)}
    assert langs == {"zh-Hans", "en"}
    contact = g.value(ds, DCAT.contactPoint)
    assert g.value(contact, VCARD.fn) == Literal("王工", lang="zh-Hans")
    assert g.value(contact, VCARD.hasEmail) == URIRef("mailto:wang@example.gov.cn")
    assert g.value(ds, DCAT.landingPage) == URIRef(f"{BASE}/dataset/{name}")
    assert g.value(ds, DCT.license) == URIRef("https://creativecommons.org/licenses/by/4.0/")
    assert g.value(ds, CH.openingClass, any=True) is not None
    assert set(g.objects(ds, CH.sharingClass)) == {Literal("无条件共享", lang="zh-Hans"),
                                                   Literal("unconditional", lang="en")}
    dist = g.value(ds, DCAT.distribution)
    res = shown["resources"][0]
    assert g.value(dist, DCAT.accessURL) == URIRef(f"{BASE}/dataset/{name}/resource/{res['id']}")
    assert g.value(dist, DCAT.downloadURL) == URIRef("https://example.org/routes.csv")
    assert g.value(dist, DCAT.mediaType) == URIRef("https://www.iana.org/assignments/media-types/text/csv")
    assert g.value(dist, DCT["format"]) == URIRef(v.EU_FILE_TYPE + "CSV")
    # every literal of the description is either language-tagged, typed, or a code
    for s, p, o in g:
        if isinstance(o, Literal) and o.language is None and o.datatype is None:
            assert p in (DCT.identifier, SKOS.notation, CH.classification, CH.relatedCode), (p, o)


def test_the_four_syntaxes_carry_the_same_dataset(demo: Store) -> None:
    graphs = [_parse(call_as(None, "dataset_dcat", {"id": "bus-routes", "format": f})["body"], f)
              for f in ("turtle", "xml", "json-ld", "nt")]
    assert len(graphs[0]) > 40
    for g in graphs[1:]:
        assert isomorphic(graphs[0], g)


# -- HTTP: content negotiation and paging --------------------------------------------------------------------


@pytest.mark.parametrize(("path", "accept", "media_type"), [
    ("/catalog.ttl", None, "text/turtle"),
    ("/catalog.rdf", None, "application/rdf+xml"),
    ("/catalog.jsonld", None, "application/ld+json"),
    ("/catalog.nt", None, "application/n-triples"),
    ("/catalog", "text/turtle", "text/turtle"),
    ("/catalog", "application/rdf+xml", "application/rdf+xml"),
    ("/catalog", "application/ld+json", "application/ld+json"),
    ("/catalog", "*/*", "text/turtle"),
    ("/dataset/bus-routes.ttl", None, "text/turtle"),
    ("/dataset/bus-routes.rdf", None, "application/rdf+xml"),
    ("/dataset/bus-routes.jsonld", None, "application/ld+json"),
    ("/dataset/bus-routes", "text/turtle", "text/turtle"),
    ("/dataset/bus-routes", "application/rdf+xml", "application/rdf+xml"),
    ("/dataset/bus-routes", "application/ld+json", "application/ld+json"),
    ("/dataset/bus-routes", "text/html,application/xhtml+xml,*/*;q=0.8", "text/html"),
    ("/dataset/bus-routes", "*/*", "text/html"),
])
def test_content_negotiation(app_client: Any, path: str, accept: str | None, media_type: str) -> None:
    resp = app_client.get(path, headers={"accept": accept} if accept else {})
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].split(";")[0] == media_type
    if path == "/dataset/bus-routes":  # one URL, two kinds of answer: caches must key on Accept
        assert "accept" in resp.headers.get("vary", "").lower()
    if media_type == "text/html":
        assert "<html" in resp.text
        return
    fmt = {"text/turtle": "turtle", "application/rdf+xml": "xml", "application/ld+json": "json-ld",
           "application/n-triples": "nt"}[media_type]
    g = _parse(resp.text, fmt)
    if path.startswith("/dataset/"):
        assert (URIRef(f"{BASE}/id/dataset/bus-routes"), RDF.type, DCAT.Dataset) in g
    else:
        assert (URIRef(f"{BASE}/catalog"), RDF.type, DCAT.Catalog) in g


def test_redirects_for_browsers_and_uris(app_client: Any) -> None:
    resp = app_client.get("/catalog", headers={"accept": "text/html"}, follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"] == "/dataset"
    resp = app_client.get("/id/dataset/bus-routes", follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"] == "/dataset/bus-routes"
    resp = app_client.get("/id/dataset/bus-routes", headers={"accept": "text/turtle"})
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/turtle")


def _view(g: Graph, page_url: str) -> dict[str, str]:
    node = URIRef(page_url)
    return {str(p).rsplit("#", 1)[1]: str(o) for p, o in g.predicate_objects(node) if p != RDF.type}


def test_hydra_paging_over_http(app_client: Any) -> None:
    public = _public_names()
    size = 10
    last = -(-len(public) // size)
    assert last >= 3
    seen: list[str] = []
    url: str | None = f"{BASE}/catalog.jsonld?page=1&page_size={size}"
    pages = 0
    while url:
        resp = app_client.get(url)
        assert resp.status_code == 200, resp.text
        json.loads(resp.text)
        g = _parse(resp.text, "json-ld")
        view = _view(g, url)
        pages += 1
        assert view["first"] == f"{BASE}/catalog.jsonld?page=1&page_size={size}"
        assert view["last"] == f"{BASE}/catalog.jsonld?page={last}&page_size={size}"
        if pages == 1:
            assert "previous" not in view
        else:
            assert parse_qs(urlsplit(view["previous"]).query)["page"] == [str(pages - 1)]
        names = _dataset_names(g)
        assert len(names) == (size if pages < last else len(public) - size * (last - 1))
        seen.extend(names)
        url = view.get("next")
    assert pages == last
    assert sorted(seen) == sorted(public)  # every published dataset once, none twice
    # default page size 100, and the default is left out of the links
    g = _parse(app_client.get("/catalog.ttl").text, "turtle")
    assert _view(g, f"{BASE}/catalog.ttl?page=1")["last"] == f"{BASE}/catalog.ttl?page={-(-len(public) // 100)}"


@pytest.mark.parametrize(("query", "status", "field"), [
    ("page=0", 422, "page"),
    ("page=-1", 422, "page"),
    ("page=abc", 422, "page"),
    ("page_size=0", 422, "page_size"),
    ("page_size=1001", 422, "page_size"),
    ("page_size=ten", 422, "page_size"),
    ("page=999999", 404, "page"),
])
def test_bad_page_parameters_get_the_standard_error_shape(app_client: Any, query: str, status: int,
                                                          field: str) -> None:
    for path in ("/catalog.ttl", "/catalog.jsonld"):
        resp = app_client.get(f"{path}?{query}", headers={"accept": "text/html"})
        assert resp.status_code == status, resp.text
        error = resp.json()["error"]
        assert error["type"] == ("validation_error" if status == 422 else "not_found")
        assert error["message"] and error["message_en"]
        assert field in error["fields"]


def test_largest_page_size_is_accepted(app_client: Any) -> None:
    resp = app_client.get("/catalog.nt?page_size=1000")
    assert resp.status_code == 200
    assert len(_dataset_names(_parse(resp.text, "nt"))) == len(_public_names())


def test_unknown_dataset_is_a_json_404(app_client: Any) -> None:
    for path, accept in (("/dataset/no-such-dataset.ttl", "text/html"), ("/dataset/no-such-dataset", "text/turtle")):
        resp = app_client.get(path, headers={"accept": accept})
        assert resp.status_code == 404
        assert resp.json()["error"]["type"] == "not_found"


def test_published_list_is_patched_as_the_catalog_changes(demo: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """The per-process list behind the paging follows creates, privacy and opening changes and withdrawals
    without a full rebuild."""
    from cityhub.interop import dcat_actions as da

    da.published_ids.clear()
    _catalog()  # full build
    patched: list[bool] = []
    original = da.published_ids._patch

    def spy(ctx: Any, snap: Any) -> Any:
        out = original(ctx, snap)
        patched.append(out is not None)
        return out

    monkeypatch.setattr(da.published_ids, "_patch", spy)

    def listed(name: str) -> bool:
        return name in _dataset_names(_parse(_catalog(fmt="nt")["body"], "nt"))

    name = open_dataset()["name"]
    assert listed(name)
    call_as("steward", "dataset_update", {"id": name, "private": True})
    assert not listed(name)
    call_as("steward", "dataset_update", {"id": name, "private": False})
    assert listed(name)
    call_as("steward", "dataset_update", {"id": name, "opening_class": "不予开放"})
    assert not listed(name)
    call_as("steward", "dataset_update", {"id": name, "opening_class": "无条件开放"})
    assert listed(name)
    call_as("deptadmin", "dataset_withdraw", {"id": name, "comment": "数据待核对"})  # the publication workflow
    assert not listed(name)
    call_as("steward", "dataset_submit", {"id": name})
    assert not listed(name)
    call_as("deptadmin", "dataset_approve", {"id": name})
    assert listed(name)
    call_as("steward", "dataset_delete", {"id": name})
    assert not listed(name)
    assert len(patched) >= 6 and all(patched)
    assert _catalog()["total"] == len(_public_names())


def test_a_stale_list_never_publishes_a_closed_dataset(demo: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from array import array

    from cityhub.interop import dcat_actions as da

    everything = call_as("system", "dataset_search", {"rows": 1000, "include_private": True})["results"]
    closed = {r["id"]: r["name"] for r in everything if r["opening_class"] == "不予开放"}
    assert closed
    stale = array("q", sorted(r["id"] for r in everything))  # as if nothing had ever been closed
    monkeypatch.setattr(da.published_ids, "get", lambda ctx: stale)
    names = _dataset_names(_parse(_catalog()["body"], "turtle"))
    assert names and not names & set(closed.values())


def test_garbage_collection_is_deferred_while_a_page_is_built_and_resumes_after() -> None:
    import gc

    from cityhub.interop.dcat_actions import gc_deferred

    assert gc.isenabled()
    with gc_deferred():
        assert not gc.isenabled()
        with gc_deferred():  # another page at the same time
            assert not gc.isenabled()
        assert not gc.isenabled()  # still one page being built
    assert gc.isenabled()
    with pytest.raises(RuntimeError), gc_deferred():
        raise RuntimeError("a failing page")
    assert gc.isenabled()
    gc.disable()  # a process that turned the collector off keeps it off
    try:
        with gc_deferred():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_shapes_are_the_shared_official_copy() -> None:
    if not SHARED_SHAPES.is_file():
        pytest.skip(f"{SHARED_SHAPES} is not next to this clone; the copy in tests/data is used")
    assert SHAPES.read_bytes() == SHARED_SHAPES.read_bytes()
