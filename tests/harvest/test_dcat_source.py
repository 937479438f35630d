"""DCAT sources: a Turtle catalog on a local HTTP server, harvested incrementally (new, unchanged, updated,
withdrawn), read-only locally, and failure cases (HTTP 500, garbage, timeout) that change nothing."""

from __future__ import annotations

from typing import Any

import pytest

from cityhub.errors import NotAuthorized, NotFound
from tests.conftest import Store, call_as, unique
from tests.harvest.conftest import Script, harvest, local_state, make_department

PREFIXES = """@prefix dcat: <http://www.w3.org/ns/dcat#> .
@prefix dct: <http://purl.org/dc/terms/> .
@prefix foaf: <http://xmlns.com/foaf/0.1/> .
@prefix vcard: <http://www.w3.org/2006/vcard/ns#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
@prefix hydra: <http://www.w3.org/ns/hydra/core#> .
"""


def dataset_ttl(key: str, title: str, modified: str = "2026-01-01T00:00:00Z", freq: str = "MONTHLY",
                theme: str = "TRAN") -> str:
    return f"""
<https://data.example.org/dataset/{key}> a dcat:Dataset ;
    dct:identifier "{key}" ;
    dct:title "{title}"@zh, "{title} (English)"@en ;
    dct:description "关于{title}的开放数据集,由示例城市发布,用于测试采集。"@zh ;
    dcat:keyword "交通"@zh, "测试"@zh, "traffic"@en ;
    dct:accrualPeriodicity <http://publications.europa.eu/resource/authority/frequency/{freq}> ;
    dcat:theme <http://publications.europa.eu/resource/authority/data-theme/{theme}> ;
    dct:issued "2025-03-01"^^xsd:date ;
    dct:modified "{modified}"^^xsd:dateTime ;
    dct:license <https://creativecommons.org/licenses/by/4.0/> ;
    dct:publisher [ a foaf:Agent ; foaf:name "示例市交通局"@zh ] ;
    dcat:contactPoint [ a vcard:Kind ; vcard:fn "数据办" ; vcard:hasEmail <mailto:data@example.org> ] ;
    dcat:landingPage <https://data.example.org/dataset/{key}> ;
    dcat:distribution <https://data.example.org/dataset/{key}/csv> .
<https://data.example.org/dataset/{key}/csv> a dcat:Distribution ;
    dct:title "{title} CSV"@zh ;
    dcat:downloadURL <https://data.example.org/files/{key}.csv> ;
    dcat:mediaType <https://www.iana.org/assignments/media-types/text/csv> .
"""


def catalog(*datasets: str, next_page: str = "") -> bytes:
    body = PREFIXES + "<https://data.example.org/catalog> a dcat:Catalog .\n" + "".join(datasets)
    if next_page:
        body += f'<https://data.example.org/catalog?page=1> a hydra:PartialCollectionView ; hydra:next <{next_page}> .\n'
    return body.encode()


def _source(url: str, dept: str, **config: Any) -> str:
    name = unique("dcat")
    call_as("system", "harvest_source_create", {"name": name, "title": "示例城市 DCAT", "kind": "dcat", "url": url,
                                                "department": dept, "config": config})
    return name


@pytest.fixture
def store(empty_store: Store) -> Store:
    empty_store.activate()
    return empty_store


def test_dcat_incremental_withdraw_and_read_only(store: Store, tiny_server: tuple[str, Script]) -> None:
    base, script = tiny_server
    dept = make_department()
    # two pages joined by hydra:next
    script.routes["/catalog.ttl"] = (200, "text/turtle", catalog(dataset_ttl("bus-lines", "公交线路"),
                                                                 dataset_ttl("metro", "地铁站点"),
                                                                 next_page=f"{base}/page2.ttl"), 0)
    script.routes["/page2.ttl"] = (200, "text/turtle", catalog(dataset_ttl("parking", "停车场")), 0)
    src = _source(f"{base}/catalog.ttl", dept)

    run = harvest(src)
    assert run["status"] == "succeeded", run
    assert (run["new"], run["updated"], run["unchanged"], run["withdrawn"], run["errors"]) == (3, 0, 0, 0, 0)
    assert local_state(src) == {"bus-lines": "active", "metro": "active", "parking": "active"}
    ds = call_as(None, "dataset_show", {"id": "bus-lines"})
    assert ds["title"] == "公交线路" and ds["title_en"] == "公交线路 (English)"
    assert ds["update_cycle"] == "每月" and ds["theme"] == "transport" and ds["license_id"] == "cc-by-4.0"
    assert set(ds["tags"]) == {"交通", "测试"} and ds["department"] == dept
    assert ds["contact_email"] == "data@example.org" and ds["published_on"] == "2025-03-01"
    assert [(r["name"], r["url"], r["format"]) for r in ds["resources"]] == [
        ("公交线路 CSV", "https://data.example.org/files/bus-lines.csv", "CSV")]
    assert ds["harvested"] and ds["origin_url"] == "https://data.example.org/dataset/bus-lines"

    by_format = call_as(None, "dataset_search", {"filters": {"res_format": "CSV"}, "rows": 50})["results"]
    assert {"bus-lines", "metro", "parking"} <= {d["name"] for d in by_format}
    assert ds["quality"]["score"] == call_as(None, "dataset_quality", {"id": "bus-lines"})["score"]

    again = harvest(src)
    assert (again["new"], again["updated"], again["unchanged"], again["withdrawn"]) == (0, 0, 3, 0), again

    # the source changes one dataset and drops another
    script.routes["/catalog.ttl"] = (200, "text/turtle", catalog(
        dataset_ttl("bus-lines", "公交线路(新版)", modified="2026-02-01T00:00:00Z", freq="WEEKLY"),
        dataset_ttl("metro", "地铁站点"), next_page=f"{base}/page2.ttl"), 0)
    script.routes["/page2.ttl"] = (200, "text/turtle", catalog(), 0)
    third = harvest(src)
    assert (third["new"], third["updated"], third["unchanged"], third["withdrawn"]) == (0, 1, 1, 1), third
    assert call_as(None, "dataset_show", {"id": "bus-lines"})["update_cycle"] == "每周"
    assert local_state(src)["parking"] == "withdrawn"
    with pytest.raises(NotFound):
        call_as(None, "dataset_show", {"id": "parking"})
    names = [d["name"] for d in call_as(None, "dataset_search", {"rows": 100})["results"]]
    assert "parking" not in names and "bus-lines" in names
    assert any(e["guid"] == "parking" and "withdrawn" in e["message"] for e in third["log"])

    # read-only locally: even the department's own steward (and the admin outside the harvester) is refused
    steward = unique("st").replace("-", "")
    call_as("system", "user_create", {"name": steward, "password": "Steward-Pass-2026!x", "role": "steward",
                                      "department": dept})
    with pytest.raises(NotAuthorized) as refused:
        call_as(steward, "dataset_update", {"id": "bus-lines", "title": "本地修改"})
    assert refused.value.message_en == "Harvested from https://data.example.org/dataset/bus-lines; edit it at the source"
    with pytest.raises(NotAuthorized):
        call_as("system", "dataset_update", {"id": "bus-lines", "title": "本地修改"})
    with pytest.raises(NotAuthorized):
        call_as("system", "dataset_delete", {"id": "metro"})
    rid = call_as(None, "dataset_show", {"id": "metro"})["resources"][0]["id"]
    with pytest.raises(NotAuthorized):
        call_as("system", "resource_delete", {"id": rid})
    with pytest.raises(NotAuthorized):
        call_as(steward, "resource_update", {"id": rid, "name": "改名"})
    with pytest.raises(NotAuthorized):
        call_as(steward, "datastore_create", {"resource_id": rid})

    # listed again at the source: reinstated
    script.routes["/page2.ttl"] = (200, "text/turtle", catalog(dataset_ttl("parking", "停车场")), 0)
    fourth = harvest(src)
    assert (fourth["updated"], fourth["withdrawn"]) == (1, 0), fourth
    assert local_state(src)["parking"] == "active"
    assert call_as(None, "dataset_show", {"id": "parking"})["title"] == "停车场"


def test_bad_record_is_one_error_and_the_rest_continue(store: Store, tiny_server: tuple[str, Script]) -> None:
    base, script = tiny_server
    dept = make_department()
    untitled = ('<https://data.example.org/dataset/untitled> a dcat:Dataset ; dct:identifier "untitled" .\n')
    script.routes["/c.ttl"] = (200, "text/turtle", catalog(dataset_ttl("good-one", "好的数据"), untitled,
                                                           dataset_ttl("bad-theme", "<script>x</script>")), 0)
    src = _source(f"{base}/c.ttl", dept)
    run = harvest(src)
    assert run["status"] == "partial", run
    assert (run["new"], run["errors"]) == (1, 2)
    guids = {e["guid"] for e in run["log"] if e["level"] == "error"}
    assert "bad-theme" in guids and any("untitled" in g for g in guids)
    assert local_state(src) == {"good-one": "active"}


@pytest.mark.parametrize("failure", ["http500", "garbage", "timeout", "empty"])
def test_failing_source_changes_nothing(store: Store, tiny_server: tuple[str, Script], failure: str) -> None:
    base, script = tiny_server
    dept = make_department()
    good = catalog(dataset_ttl("keep-a", "保留数据一"), dataset_ttl("keep-b", "保留数据二"))
    script.routes["/c.ttl"] = (200, "text/turtle", good, 0)
    src = _source(f"{base}/c.ttl", dept, timeout=0.5)
    assert harvest(src)["new"] == 2
    before = local_state(src)
    titles = {n: call_as(None, "dataset_show", {"id": n})["modified_at"] for n in before}
    script.routes["/c.ttl"] = {
        "http500": (500, "text/plain", b"Internal Server Error", 0),
        "garbage": (200, "text/turtle", b"<html><body>\x00\xff this is not RDF {{{", 0),
        "timeout": (200, "text/turtle", good, 2.0),
        "empty": (200, "text/turtle", PREFIXES.encode(), 0),
    }[failure]
    run = harvest(src)
    assert run["status"] == "failed", run
    expected = {"http500": "HTTP 500", "garbage": "not valid RDF", "timeout": "Timed out",
                "empty": "no dcat:Dataset"}[failure]
    assert expected in run["error"]
    assert any(e["level"] == "error" and expected in e["message"] for e in run["log"])
    assert (run["new"], run["updated"], run["withdrawn"]) == (0, 0, 0)
    assert local_state(src) == before == {"keep-a": "active", "keep-b": "active"}
    assert {n: call_as(None, "dataset_show", {"id": n})["modified_at"] for n in before} == titles


def test_schedule_runs_only_due_sources(store: Store, tiny_server: tuple[str, Script]) -> None:
    base, script = tiny_server
    dept = make_department()
    script.routes["/a.ttl"] = (200, "text/turtle", catalog(dataset_ttl("sched-a", "定时数据")), 0)
    hourly = unique("hourly")
    manual = unique("manual")
    for name, schedule in ((hourly, "hourly"), (manual, "manual")):
        call_as("system", "harvest_source_create", {"name": name, "title": name, "kind": "dcat",
                                                    "url": f"{base}/a.ttl", "department": dept,
                                                    "schedule": schedule})
    first = call_as("system", "harvest_due", {"wait": True})
    assert [s["source"] for s in first["started"]] == [hourly]
    shown = call_as("system", "harvest_source_show", {"name": hourly})
    assert shown["runs"][0]["status"] == "succeeded" and shown["datasets"] == 1
    assert shown["next_run_at"] > shown["last_run_at"]
    assert call_as("system", "harvest_due", {"wait": True})["started"] == []  # not due again for an hour
    assert call_as("system", "harvest_source_show", {"name": manual})["runs"] == []
    # a disabled source is never due
    call_as("system", "harvest_source_update", {"name": hourly, "enabled": False, "schedule": "daily"})
    assert call_as("system", "harvest_due", {"wait": True})["started"] == []


def test_only_admin_manages_sources(store: Store) -> None:
    dept = make_department()
    with pytest.raises(Exception) as info:
        call_as(None, "harvest_source_create", {"name": unique("x"), "title": "x", "kind": "dcat",
                                                "url": "http://127.0.0.1:9/c.ttl", "department": dept})
    assert type(info.value).__name__ == "NotAuthenticated"


@pytest.mark.parametrize("withdraw", [True, False])
def test_deleting_a_source_withdraws_or_releases_its_datasets(store: Store, tiny_server: tuple[str, Script],
                                                               withdraw: bool) -> None:
    base, script = tiny_server
    dept = make_department()
    script.routes["/d.ttl"] = (200, "text/turtle", catalog(dataset_ttl("gone-or-kept", "来源删除测试")), 0)
    src = _source(f"{base}/d.ttl", dept)
    assert harvest(src)["new"] == 1
    out = call_as("system", "harvest_source_delete", {"name": src, "withdraw": withdraw})
    assert (out["withdrawn"], out["released"]) == ((1, 0) if withdraw else (0, 1))
    with pytest.raises(NotFound):
        call_as("system", "harvest_source_show", {"name": src})
    if withdraw:
        with pytest.raises(NotFound):
            call_as(None, "dataset_show", {"id": "gone-or-kept"})
    else:  # released: an ordinary local dataset now, which the department's steward may edit
        shown = call_as(None, "dataset_show", {"id": "gone-or-kept"})
        assert not shown["harvested"]
        steward = unique("st").replace("-", "")
        call_as("system", "user_create", {"name": steward, "password": "Steward-Pass-2026!x", "role": "steward",
                                          "department": dept})
        assert call_as(steward, "dataset_update", {"id": "gone-or-kept", "title": "本地接管"})["title"] == "本地接管"
