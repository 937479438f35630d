"""A CKAN source that answers 500, garbage, ``success: false``, a wrong shape, too much or too slowly: the
run fails with a clear log and the datasets harvested before stay exactly as they were. A foreign package's
mapping, and one package the mapping refuses, are covered too (paging: against the second instance)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Store, call_as, unique
from tests.harvest.conftest import Script, harvest, local_state, make_department

SEARCH = "/api/3/action/package_search"


def package(name: str, title: str, modified: str = "2026-01-01T00:00:00") -> dict[str, Any]:
    return {"id": f"id-{name}", "name": name, "title": title, "notes": f"{title}:一个来自外部 CKAN 门户的测试数据集。",
            "owner_org": "foreign-org", "organization": {"name": "foreign-org", "title": "外部机构"},
            "metadata_modified": modified, "license_id": "cc-by", "tags": [{"name": "外部"}],
            "groups": [{"name": "transport"}], "private": False,
            "resources": [{"id": f"r-{name}", "name": f"{title}.csv", "url": f"https://ckan.example.org/{name}.csv",
                           "format": "CSV"}]}


def answer(packages: list[dict[str, Any]]) -> bytes:
    return json.dumps({"help": "x", "success": True, "result": {"count": len(packages), "results": packages}},
                      ensure_ascii=False).encode()


@pytest.fixture
def store(empty_store: Store) -> Store:
    empty_store.activate()
    return empty_store


def _source(base: str, **config: Any) -> str:
    name = unique("ckan")
    call_as("system", "harvest_source_create", {"name": name, "title": "外部 CKAN", "kind": "ckan", "url": base,
                                                "department": make_department(), "config": config})
    return name


def test_ckan_paging_and_a_refused_package(store: Store, tiny_server: tuple[str, Script]) -> None:
    base, script = tiny_server
    good = [package(f"ext-{i}", f"外部数据{i}") for i in range(5)]
    bad = {**package("ext-bad", "坏数据"), "name": "Not A Valid Name!"}
    script.routes[SEARCH] = (200, "application/json", answer([*good, bad]), 0)
    make_department("foreign-org")  # a local department with the remote organization's slug gets its datasets
    src = _source(base, rows=1000)
    run = harvest(src)
    assert run["status"] == "partial", run
    assert (run["new"], run["errors"]) == (5, 1)
    assert any(e["guid"] == "id-ext-bad" and "name" in e["message"] for e in run["log"])
    shown = call_as(None, "dataset_show", {"id": "ext-0"})
    assert shown["theme"] == "transport" and shown["license_id"] == "cc-by-4.0" and shown["tags"] == ["外部"]
    assert shown["origin_url"] == f"{base}/dataset/ext-0" and shown["resources"][0]["format"] == "CSV"
    assert shown["department"] == "foreign-org"


@pytest.mark.parametrize("failure, expected", [
    ("http500", "HTTP 500"),
    ("garbage", "did not return JSON"),
    ("success_false", "success is not true"),
    ("wrong_shape", "not a CKAN package_search response"),
    ("timeout", "Timed out"),
    ("too_big", "byte cap"),
])
def test_failing_ckan_source_changes_nothing(store: Store, tiny_server: tuple[str, Script], failure: str,
                                             expected: str) -> None:
    base, script = tiny_server
    first = [package("keep-one", "保留一"), package("keep-two", "保留二")]
    script.routes[SEARCH] = (200, "application/json", answer(first), 0)
    src = _source(base, timeout=0.5, max_mb=1)
    assert harvest(src)["new"] == 2
    before = {n: call_as(None, "dataset_show", {"id": n})["modified_at"] for n in local_state(src)}
    script.routes[SEARCH] = {
        "http500": (500, "application/json", b'{"success": false}', 0),
        "garbage": (200, "application/json", b"<html>Service Unavailable</html>", 0),
        "success_false": (200, "application/json", json.dumps(
            {"success": False, "error": {"__type": "Search Query Error", "message": "boom"}}).encode(), 0),
        "wrong_shape": (200, "application/json", b'[1, 2, 3]', 0),
        "timeout": (200, "application/json", answer(first), 2.0),
        "too_big": (200, "application/json", answer([package("huge", "大" * 600_000)]), 0),
    }[failure]
    run = harvest(src)
    assert run["status"] == "failed", run
    assert expected in run["error"] and "nothing was changed" in run["error"]
    assert any(e["level"] == "error" and expected in e["message"] for e in run["log"])
    assert (run["new"], run["updated"], run["withdrawn"]) == (0, 0, 0)
    assert local_state(src) == {"keep-one": "active", "keep-two": "active"}
    assert {n: call_as(None, "dataset_show", {"id": n})["modified_at"] for n in before} == before


def test_unsafe_resource_urls_of_a_ckan_package_are_left_out(store: Store, tiny_server: tuple[str, Script]) -> None:
    base, script = tiny_server
    pkg = package("links-pkg", "链接测试")
    pkg["resources"] = [{"id": "r1", "name": "bad", "url": "javascript:alert(1)", "format": "CSV"},
                        {"id": "r2", "name": "inline", "url": "data:text/html,<script>x</script>", "format": "HTML"},
                        {"id": "r3", "name": "good", "url": "https://ckan.example.org/links.csv", "format": "CSV"}]
    script.routes[SEARCH] = (200, "application/json", answer([pkg]), 0)
    run = harvest(_source(base))
    assert run["status"] == "succeeded" and run["new"] == 1, run
    shown = call_as(None, "dataset_show", {"id": "links-pkg"})
    assert [r["url"] for r in shown["resources"]] == ["https://ckan.example.org/links.csv"]
    assert sum(e["level"] == "warning" and "resource left out" in e["message"] for e in run["log"]) == 2
