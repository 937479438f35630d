"""The pure DCAT → dataset mapping (no store): syntaxes, language tags, vocabularies, names, refusals."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from cityhub.harvest import dcat_import as di

TTL = b"""@prefix dcat: <http://www.w3.org/ns/dcat#> . @prefix dct: <http://purl.org/dc/terms/> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
<https://x.example/dataset/air-quality> a dcat:Dataset ; dct:identifier "AQ-1" ;
  dct:title "Air quality"@en, "\xe7\xa9\xba\xe6\xb0\x94\xe8\xb4\xa8\xe9\x87\x8f"@zh-CN ;
  dct:description "short"@en ;
  dcat:keyword "air"@en ;
  dct:accrualPeriodicity <http://publications.europa.eu/resource/authority/frequency/HOURLY> ;
  dcat:theme <http://publications.europa.eu/resource/authority/data-theme/ENVI> ;
  dct:temporal [ dcat:startDate "2024-01-01"^^xsd:date ; dcat:endDate "2023-01-01"^^xsd:date ] ;
  dct:spatial <http://portal.example/id/district/440106> ;
  dcat:distribution [ dct:format <http://publications.europa.eu/resource/authority/file-type/GEOJSON> ;
                      dcat:accessURL <https://x.example/aq.geojson> ] ,
                    [ dct:title "no url" ] .
"""


def test_turtle_mapping_languages_vocabularies_and_fallbacks() -> None:
    graph = di.parse(TTL, "text/turtle", "https://x.example/catalog.ttl")
    (node,) = di.dataset_nodes(graph)
    rec = di.to_record(graph, node, default_theme="livelihood")
    p = rec.payload
    assert rec.guid == "AQ-1" and rec.origin_url == "https://x.example/dataset/air-quality"
    assert p["name"] == "air-quality" and p["title"] == "空气质量" and p["title_en"] == "Air quality"
    assert p["update_cycle"] == "实时" and p["theme"] == "environment"
    assert p["tags"] == ["air"]  # no Chinese keywords: the others are kept
    assert p["temporal_start"] == dt.date(2024, 1, 1) and p["temporal_end"] is None  # an end before the start
    assert p["districts"] == ["天河区"]
    assert len(p["abstract"]) >= di.MIN_ABSTRACT and "short" in p["abstract"]
    assert rec.resources == [{"name": "aq.geojson", "url": "https://x.example/aq.geojson", "format": "GEOJSON",
                              "description": ""}]


def test_rdf_xml_and_json_ld_are_read() -> None:
    graph = di.parse(TTL, "text/turtle")
    xml = graph.serialize(format="xml").encode()
    jsonld = graph.serialize(format="json-ld").encode()
    for data, ctype in ((xml, "application/rdf+xml"), (jsonld, "application/ld+json"), (xml, "")):
        parsed = di.parse(data, ctype)
        assert di.to_record(parsed, di.dataset_nodes(parsed)[0]).guid == "AQ-1"


def test_remote_json_ld_context_and_garbage_are_refused() -> None:
    doc = {"@context": "https://evil.example/context.jsonld", "@id": "https://x.example/d", "title": "x"}
    with pytest.raises(di.DcatError, match="remote @context"):
        di.parse(json.dumps(doc).encode(), "application/ld+json")
    with pytest.raises(di.DcatError, match="not valid RDF"):
        di.parse(b"<html>nope", "")


def test_names_and_untitled_datasets() -> None:
    assert di.slug_for("x", "https://a.example/dataset/bus-lines.ttl") == "bus-lines"
    assert di.slug_for("公交", "https://a.example/数据/公交").startswith("dcat-")
    assert di.slug_for("公交", "") == di.slug_for("公交", "")  # stable
    graph = di.parse(b'<https://a.example/d> a <http://www.w3.org/ns/dcat#Dataset> .', "text/turtle")
    with pytest.raises(di.DcatError, match="no dct:title"):
        di.to_record(graph, di.dataset_nodes(graph)[0])


def test_hydra_next_page() -> None:
    graph = di.parse(b'@prefix hydra: <http://www.w3.org/ns/hydra/core#> . '
                     b'<https://a.example/c?page=1> hydra:next <https://a.example/c?page=2> .', "text/turtle")
    assert di.next_page(graph) == "https://a.example/c?page=2"
    assert di.rdf_format("", "https://a.example/catalog.jsonld?page=2") == "json-ld"


UNSAFE = b"""@prefix dcat: <http://www.w3.org/ns/dcat#> . @prefix dct: <http://purl.org/dc/terms/> .
<https://x.example/dataset/links> a dcat:Dataset ; dct:identifier "LINKS-1" ;
  dct:title "\xe9\x93\xbe\xe6\x8e\xa5\xe6\xb5\x8b\xe8\xaf\x95"@zh ;
  dcat:landingPage <javascript:alert(document.cookie)> ;
  dcat:distribution [ dct:title "script" ; dcat:accessURL <javascript:alert(1)> ] ,
                    [ dct:title "inline" ; dcat:downloadURL <data:text/html;base64,PHNjcmlwdD4=> ] ,
                    [ dct:title "file" ; dcat:downloadURL <file:///etc/passwd> ] ,
                    [ dct:title "ftp" ; dcat:downloadURL <ftp://files.x.example/links.csv> ] ,
                    [ dct:title "web" ; dcat:downloadURL <https://x.example/links.csv> ] .
"""


def test_unsafe_landing_pages_and_access_urls_are_not_kept() -> None:
    """Only http, https and ftp links are kept (CKAN's ``ckan.valid_url_schemes`` default): a ``javascript:``
    landing page falls back to the dataset's own http(s) URI, and the distributions with ``javascript:``,
    ``data:`` or ``file:`` URLs are left out, each noted for the run log."""
    graph = di.parse(UNSAFE, "text/turtle")
    rec = di.to_record(graph, di.dataset_nodes(graph)[0])
    assert rec.origin_url == "https://x.example/dataset/links"
    assert [r["url"] for r in rec.resources] == ["ftp://files.x.example/links.csv", "https://x.example/links.csv"]
    assert len(rec.notes) == 4 and sum("distribution left out" in n for n in rec.notes) == 3
    assert any("landing page not kept" in n for n in rec.notes)
    assert all("http, https or ftp" in n for n in rec.notes)
