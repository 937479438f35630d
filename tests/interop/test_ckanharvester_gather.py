"""Acceptance: a ckanext-harvest CKAN harvester gathering from CityHub, full then incremental, on SQLite and
PostgreSQL. ``gather`` below is ckanext-harvest's ``CKANHarvester.gather_stage`` query building and
``_search_for_datasets`` paging (ckanext/harvest/harvesters/ckanharvester.py), line for line: the same query
strings (``metadata_modified:[<last run - 1 h>Z TO *]``, organization and group filters), ``sort=id asc``,
``rows=100``, ``start`` stepped until an empty page. The incremental run must return exactly the public
datasets modified since the time, across several pages, also while datasets change between pages."""

# ruff: noqa: UP031, UP032  (the harvester's string formatting is kept as ckanext-harvest writes it)
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.conftest import Store, call_as, dataset_payload, unique
from tests.harvest.conftest import make_department


class SearchError(Exception):
    pass


def search_for_datasets(get_content: Callable[[str], str], remote_ckan_base_url: str,
                        fq_terms: list[str] | None = None, pages: list[list[str]] | None = None,
                        between_pages: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
    """``CKANHarvester._search_for_datasets`` (``pages`` records each page's ids; ``between_pages(n)`` runs
    after page ``n`` is read, to change the catalog while the harvester pages)."""
    base_search_url = remote_ckan_base_url + "/api/3/action/package_search"
    params = {"rows": "100", "start": "0"}
    params["sort"] = "id asc"
    if fq_terms:
        params["fq"] = " ".join(fq_terms)
    pkg_dicts: list[dict[str, Any]] = []
    pkg_ids: set[str] = set()
    previous_content = None
    while True:
        url = base_search_url + "?" + urlencode(params)
        content = get_content(url)
        if previous_content and content == previous_content:
            raise SearchError("The paging doesn't seem to work. URL: %s" % url)
        try:
            response_dict = json.loads(content)
        except ValueError:
            raise SearchError("Response from remote CKAN was not JSON: %r" % content) from None
        pkg_dicts_page = response_dict.get("result", {}).get("results", [])
        if pages is not None:
            pages.append([p["id"] for p in pkg_dicts_page])
        ids_in_page = {p["id"] for p in pkg_dicts_page}
        duplicate_ids = ids_in_page & pkg_ids
        if duplicate_ids:
            pkg_dicts_page = [p for p in pkg_dicts_page if p["id"] not in duplicate_ids]
        pkg_ids |= ids_in_page
        pkg_dicts.extend(pkg_dicts_page)
        if len(pkg_dicts_page) == 0:
            break
        if between_pages is not None:
            between_pages(len(pages or []))
        params["start"] = str(int(params["start"]) + int(params["rows"]))
    return pkg_dicts


def gather_fq_terms(config: dict[str, Any], last_time: dt.datetime | None) -> list[str]:
    """The ``fq`` terms ``CKANHarvester.gather_stage`` builds from the source config and the last error-free
    job's ``gather_started`` (naive UTC)."""
    fq_terms = []
    org_filter_include = config.get("organizations_filter_include", [])
    org_filter_exclude = config.get("organizations_filter_exclude", [])
    if org_filter_include:
        fq_terms.append(" OR ".join("organization:%s" % org_name for org_name in org_filter_include))
    elif org_filter_exclude:
        fq_terms.extend("-organization:%s" % org_name for org_name in org_filter_exclude)
    groups_filter_include = config.get("groups_filter_include", [])
    groups_filter_exclude = config.get("groups_filter_exclude", [])
    if groups_filter_include:
        fq_terms.append(" OR ".join("groups:%s" % group_name for group_name in groups_filter_include))
    elif groups_filter_exclude:
        fq_terms.extend("-groups:%s" % group_name for group_name in groups_filter_exclude)
    if last_time is not None:
        get_changes_since = (last_time - dt.timedelta(hours=1)).isoformat()
        fq_terms.append("metadata_modified:[{since}Z TO *]".format(since=get_changes_since))
    return fq_terms


@pytest.fixture
def remote(empty_store: Store) -> Iterator[Callable[[str], str]]:
    """CityHub (fresh store, both backends) answering over HTTP, as ``_get_content`` reads it."""
    from fastapi.testclient import TestClient

    from cityhub.web.app import create_app

    empty_store.activate()
    with TestClient(create_app(), base_url="http://cityhub.test") as client:
        def get_content(url: str) -> str:
            r = client.get(url)
            assert r.status_code == 200, r.text
            text: str = r.text
            return text

        yield get_content


def _truth(since: dt.datetime, departments: set[str] | None = None) -> set[str]:
    """Public active datasets modified at or after ``since`` (Solr's millisecond precision), from the tables."""
    from sqlalchemy import select

    from cityhub import db
    from cityhub.accounts.models import Department
    from cityhub.catalog.models import Dataset

    since = since.replace(microsecond=since.microsecond // 1000 * 1000)
    q = (select(Dataset.name).join(Department, Department.id == Dataset.department_id)
         .where(Dataset.state == "active", Dataset.private.is_(False), Dataset.opening_class != "不予开放",
                Dataset.modified_at >= since))
    if departments is not None:
        q = q.where(Department.slug.in_(departments))
    with db.session_scope() as s:
        return set(s.scalars(q))


def _move(names: list[str], when: dt.datetime) -> None:
    from sqlalchemy import select

    from cityhub import db
    from cityhub.catalog.models import Dataset

    with db.session_scope() as s:
        for ds in s.scalars(select(Dataset).where(Dataset.name.in_(names))):
            ds.modified_at = when


def test_incremental_harvest_returns_exactly_the_datasets_modified_since(remote: Callable[[str], str]) -> None:
    base = "http://cityhub.test"
    d1, d2, d3 = make_department(), make_department(), make_department()
    names = {d: [call_as("system", "dataset_create", dataset_payload(department=d, name=unique("h"),
                                                                     theme="transport" if d != d3 else "economy"))
                 ["name"] for _ in range(n)] for d, n in ((d1, 80), (d2, 40), (d3, 15))}
    every = [n for group in names.values() for n in group]

    # the first run: no earlier job, all packages
    first_started = dt.datetime.now(dt.UTC).replace(tzinfo=None)  # gather_started: naive UTC
    pages: list[list[str]] = []
    first = search_for_datasets(remote, base, gather_fq_terms({}, None), pages)
    assert {p["name"] for p in first} == set(every) and len(first) == 135
    assert [len(p) for p in pages] == [100, 35, 0]

    # then, before the second run: everything is older than the window, except what changes
    last = first_started.replace(tzinfo=dt.UTC)
    _move(every, last - dt.timedelta(hours=3))
    _move(names[d1][:3], last - dt.timedelta(minutes=30))  # inside the harvester's hour of overlap
    _move(names[d1][3:4], last - dt.timedelta(minutes=61))  # just outside it
    for name in names[d1][10:70] + names[d2][:40] + names[d3][:8]:  # 108 edited after the first run
        call_as("system", "dataset_update", {"id": name, "title": f"已更新 {name}"})
    call_as("system", "dataset_update", {"id": names[d1][10], "private": True})
    call_as("system", "dataset_delete", {"id": names[d1][11]})
    new = [call_as("system", "dataset_create", dataset_payload(department=d3, name=unique("n"), theme="economy"))
           ["name"] for _ in range(2)]
    since = last - dt.timedelta(hours=1)
    expected = _truth(since)
    assert len(expected) == 3 + 60 - 2 + 40 + 8 + 2 and new[0] in expected and names[d1][3] not in expected

    def run(config: dict[str, Any], **kw: Any) -> tuple[set[str], list[list[str]]]:
        pages: list[list[str]] = []
        found = search_for_datasets(remote, base, gather_fq_terms(config, first_started), pages, **kw)
        flat = [i for page in pages for i in page]
        assert len(flat) == len(set(flat)), "a dataset came twice across pages"
        return {p["name"] for p in found}, pages

    found, pages = run({})
    assert found == expected
    assert [len(p) for p in pages] == [100, 11, 0]
    assert run({"organizations_filter_exclude": [d2]})[0] == _truth(since, {d1, d3})
    assert run({"organizations_filter_include": [d3]})[0] == _truth(since, {d3})
    assert run({"groups_filter_exclude": ["economy"]})[0] == _truth(since, {d1, d2})
    # several included organizations: "organization:a OR organization:b metadata_modified:[…]" filters nothing
    # on CKAN (Lucene's addClause with q.op=AND makes the ORed clauses optional; ckanext-harvest issue #518)
    assert run({"organizations_filter_include": [d1, d2]})[0] == expected

    # datasets change while the harvester pages: one on the first page is edited, one is added; sorted by id,
    # nothing that matched when paging began is skipped, nothing comes twice
    def change(page: int) -> None:
        if page == 1:
            call_as("system", "dataset_update", {"id": sorted(expected)[0], "title": "翻页时修改"})
            new.append(call_as("system", "dataset_create", dataset_payload(department=d1, name=unique("p")))["name"])

    found, pages = run({}, between_pages=change)
    assert expected <= found <= expected | {new[-1]}
