"""The CKAN conformance suite: every action routed under ``/api/3/action`` is reproduced here, each case citing the
CKAN 2.10/2.11 function (``github.com/ckan/ckan``) whose behaviour it checks. A test asserts that the set of
routed actions equals the set this module covers. Both backends (the ``demo`` fixture: SQLite and PostgreSQL).

Deliberate differences are listed in ``docs/ckan.md``; where a case checks one, it says so.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Store, call_as, dataset_payload, token_for, unique
from tests.interop.test_ckan_writes import act, created, error, foreign_package, result

F = TypeVar("F", bound=Callable[..., Any])
#: CKAN action → the CKAN function(s) cited by the cases that cover it
COVERED: dict[str, set[str]] = {}


def conforms(*actions: str, ckan: str) -> Callable[[F], F]:
    """Mark a test as the conformance case of ``actions``, reproducing CKAN's ``ckan`` (a path and function)."""
    assert ckan.startswith("ckan"), ckan

    def mark(fn: F) -> F:
        for a in actions:
            COVERED.setdefault(a, set()).add(ckan)
        return fn

    return mark


def get(client: Any, action: str, token: str | None = None, **params: Any) -> Any:
    headers = {"Authorization": token} if token else {}
    return client.get(f"/api/3/action/{action}", params=params, headers=headers)


def ok(client: Any, action: str, token: str | None = None, **params: Any) -> Any:
    return result(get(client, action, token, **params))


def validation_message(resp: Any) -> str:
    err = error(resp, "Validation Error")
    return str(err.get("message", err))


def search_names(client: Any, token: str | None = None, **params: Any) -> set[str]:
    out = ok(client, "package_search", token, rows=1000, **params)
    assert out["count"] <= 1000
    return {p["name"] for p in out["results"]}


@pytest.fixture
def private_package(app_client: Any) -> dict[str, Any]:
    """A private package of gz-transport with a tag, a CSV link and an uploaded CSV file."""
    steward = token_for("steward")
    tag = unique("私有标签")
    pkg = created(app_client, act(app_client, "package_create", foreign_package(private=True, tags=[{"name": tag}],
                                                                    title="Secret bus depots 私有"), steward))
    up = app_client.post("/api/3/action/resource_create", data={"package_id": pkg["id"], "name": "depots.csv"},
                         files={"upload": ("depots.csv", io.BytesIO(b"a,b\n1,2\n"), "text/csv")},
                         headers={"Authorization": steward})
    result(up)
    from cityhub import jobs

    jobs.wait_idle()  # the upload's datastore load: finished before the test reads (and before the next test)
    return {**result(act(app_client, "package_show", {"id": pkg["id"]}, steward)), "tag": tag}


# -- the suite covers the whole surface ----------------------------------------------------------------------


def test_suite_covers_every_routed_action() -> None:
    from cityhub.web.routes import ckan

    assert set(ckan.ACTIONS) == set(COVERED), (set(ckan.ACTIONS) ^ set(COVERED))
    assert all(COVERED.values())


# -- views/api.py: the envelope, help links, GET /api/N ----------------------------------------------------------


@conforms("help_show", ckan="ckan/logic/action/get.py:help_show")
def test_help_show_answers_every_help_link(app_client: Any) -> None:
    """Every response's ``help`` (``url_for('api.action', logic_function='help_show', name=…)``) answers with the
    action's docstring; an unknown name is Not Found ("Action function not found"); no name: Missing value."""
    from cityhub.web.routes import ckan

    for name in sorted(ckan.ACTIONS):
        link = f"http://127.0.0.1:8000/api/3/action/help_show?name={name}"
        doc = result(app_client.get(link))
        assert isinstance(doc, str) and len(doc) > 20, name
    assert ok(app_client, "help_show", name="tag_list") == ckan.tag_list.__doc__
    err = error(get(app_client, "help_show", name="no_such_action"), "Not Found Error")
    assert err["message"] == "Not found: Action function not found"
    assert error(get(app_client, "help_show"), "Validation Error")["name"] == ["Missing value"]


def test_api_root_answers_its_version(app_client: Any) -> None:
    """``ckan/views/api.py:get_api``: ``/api`` and ``/api/1..3`` (``strict_slashes=False``) answer ``{"version": N}``
    (``/api`` is the REST default, 1); ``/api/3/action`` with no name is no route (404)."""
    for path, ver in (("/api", 1), ("/api/", 1), ("/api/1", 1), ("/api/2", 2), ("/api/3", 3), ("/api/3/", 3)):
        resp = app_client.get(path)
        assert resp.status_code == 200 and resp.json() == {"version": ver}, path
    for path in ("/api/4", "/api/3/action", "/api/3/action/"):
        assert app_client.get(path).status_code == 404, path


def test_jsonp_callback_is_refused_loudly(app_client: Any) -> None:
    """``ckan/views/api.py:_finish`` wraps a GET's JSON in ``callback(…)`` (and drops the caller's identity). Our
    Content-Security-Policy forbids script APIs, so the call is refused with CKAN's 400 shape, never answered
    as plain JSON (deliberate difference)."""
    resp = app_client.get("/api/3/action/site_read", params={"callback": "cb"})
    assert resp.status_code == 400 and resp.json().startswith("Bad request - JSONP")


# -- status and lists of packages ----------------------------------------------------------------------------


@conforms("status_show", "site_read", ckan="ckan/logic/action/get.py:status_show")
def test_status_show_and_site_read(app_client: Any) -> None:
    status = ok(app_client, "status_show")
    assert {"site_title", "site_description", "site_url", "error_emails_to", "locale_default", "extensions",
            "ckan_version"} <= set(status)
    assert status["site_url"] == "http://127.0.0.1:8000"  # the base this request reached
    assert ok(app_client, "site_read") is True


@conforms("package_list", ckan="ckan/logic/action/get.py:package_list")
def test_package_list_pages_until_empty(app_client: Any) -> None:
    """Names of public packages by name; ``limit`` / ``offset`` (``default_pagination_schema``: natural numbers)."""
    every = ok(app_client, "package_list")
    assert every == sorted(every) and len(every) == len(set(every)) > 10
    pages, offset = [], 0
    while True:
        page = ok(app_client, "package_list", limit=7, offset=offset)
        if not page:
            break
        pages += page
        offset += 7
    assert pages == every
    assert ok(app_client, "package_list", limit=0) == every  # ``if limit:``: 0 is no limit
    assert error(get(app_client, "package_list", limit=-1), "Validation Error")["limit"] == ["Must be a natural number"]
    assert error(get(app_client, "package_list", offset="x"), "Validation Error")["offset"] == ["Invalid integer"]


@conforms("current_package_list_with_resources", ckan="ckan/logic/action/get.py:current_package_list_with_resources")
def test_current_package_list_with_resources(app_client: Any, private_package: dict[str, Any]) -> None:
    """Newest first with resources; ``limit`` goes to ``package_search`` ``rows`` and is capped at 1000 there
    (not refused); ``page`` is used without ``offset``; private packages for sysadmins only."""
    capped = ok(app_client, "current_package_list_with_resources", limit=5000)
    assert 10 < len(capped) <= 1000
    stamps = [p["metadata_modified"] for p in capped]
    assert stamps == sorted(stamps, reverse=True)
    page2 = ok(app_client, "current_package_list_with_resources", limit=3, page=2)
    assert [p["id"] for p in page2] == [p["id"] for p in capped[3:6]]
    assert len(ok(app_client, "current_package_list_with_resources")) == 10  # default rows
    names = {p["name"] for p in capped}
    assert private_package["name"] not in names
    steward = {p["name"] for p in ok(app_client, "current_package_list_with_resources", token_for("steward"),
                                     limit=1000)}
    assert private_package["name"] not in steward  # include_private only for sysadmins
    admin = {p["name"] for p in ok(app_client, "current_package_list_with_resources", token_for("admin"),
                                   limit=1000)}
    assert private_package["name"] in admin


@conforms("package_search", ckan="ckan/logic/schema.py:default_package_search_schema")
def test_package_search_rows_are_capped_not_refused(app_client: Any) -> None:
    """``rows: [default(10), natural_number_validator, limit_to_configured_maximum('ckan.search.rows_max', 1000)]``."""
    out = ok(app_client, "package_search", rows=5000)
    assert len(out["results"]) == min(out["count"], 1000)
    assert len(ok(app_client, "package_search")["results"]) == min(out["count"], 10)
    assert "rows" in error(get(app_client, "package_search", rows=-1), "Validation Error")


@conforms("package_show", "resource_show", ckan="ckan/lib/dictization/model_dictize.py:resource_dictize")
def test_package_and_resource_urls_follow_the_request(app_client: Any, private_package: dict[str, Any]) -> None:
    """An uploaded resource's ``url`` is ``url_for('dataset_resource.download', …, qualified=True)``: under the
    host the client used, not a configured default; a linked resource keeps its link."""
    steward = token_for("steward")
    headers = {"Authorization": steward, "Host": "data.example.org:8443"}
    pkg = result(app_client.post("/api/3/action/package_show", json={"id": private_package["id"]}, headers=headers))
    upload = next(r for r in pkg["resources"] if r["url_type"] == "upload")
    link = next(r for r in pkg["resources"] if r["url_type"] is None)
    assert upload["url"] == (f"http://data.example.org:8443/dataset/{pkg['name']}/resource/{upload['id']}/download")
    assert link["url"].startswith("https://example.org/")
    assert pkg["url"] == f"http://data.example.org:8443/dataset/{pkg['name']}"
    shown = result(app_client.post("/api/3/action/resource_show", json={"id": upload["id"]}, headers=headers))
    assert shown["url"] == upload["url"]


# -- organizations and groups ------------------------------------------------------------------------------


@pytest.fixture
def list_caps(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Small ``ckan.group_and_organization_list_max`` / ``…_all_fields_max`` so the caps show on the demo."""
    from cityhub.settings import get_settings

    monkeypatch.setenv("CITYHUB_CKAN_GROUP_LIST_MAX", "10")
    monkeypatch.setenv("CITYHUB_CKAN_GROUP_LIST_ALL_FIELDS_MAX", "4")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


@conforms("organization_list", "group_list", ckan="ckan/logic/action/get.py:_group_or_org_list")
def test_group_and_org_lists_sort_page_filter_and_cap(app_client: Any, list_caps: None) -> None:
    # the default sort is ckan.default_group_sort = title (asc); limit capped at the max, not refused
    first = ok(app_client, "organization_list", limit=100)
    assert len(first) == 10
    # a client paging until an empty page stops, and sees every organization once
    seen: list[str] = []
    offset = 0
    while True:
        page = ok(app_client, "organization_list", limit=10, offset=offset)
        if not page:
            break
        seen += page
        offset += 10
    assert len(seen) == len(set(seen)) > 30
    titled = ok(app_client, "organization_list", all_fields="true", limit=4, offset=0)
    assert len(titled) == 4 and len(ok(app_client, "organization_list", all_fields="true", limit=50)) == 4
    every = [o for off in range(0, len(seen) + 4, 4)
             for o in ok(app_client, "organization_list", all_fields="true", offset=off)]
    assert [o["name"] for o in every] == seen
    assert [o["title"] for o in every] == sorted(o["title"] for o in every)
    # sort by name, descending; by package count (alone: descending)
    by_name = ok(app_client, "organization_list", sort="name desc", limit=10)
    assert by_name == sorted(seen, reverse=True)[:10]
    counts = {o["name"]: o["package_count"] for o in every}
    by_count = ok(app_client, "organization_list", sort="package_count", limit=10)
    assert [counts[n] for n in by_count] == sorted(counts.values(), reverse=True)[:10]
    assert ok(app_client, "organization_list", order_by="name", limit=3) == sorted(seen)[:3]  # deprecated
    # a JSON 0 is no limit at all (``if limit:``), a query-string "0" an empty page
    assert len(result(act(app_client, "organization_list", {"limit": 0}))) == len(seen)
    assert ok(app_client, "organization_list", limit="0") == []
    # q: name, title or description, any case; organizations: a list or comma-separated names
    assert ok(app_client, "organization_list", q="TRANSPORT") == ["gz-transport"]
    assert ok(app_client, "organization_list", q="交通运输") == ["gz-transport"]
    assert sorted(ok(app_client, "organization_list", organizations="gz-transport,gz-health", sort="name")) == \
        ["gz-health", "gz-transport"]
    # _unpick_search errors and pagination validation
    assert validation_message(get(app_client, "organization_list", sort="created")) == \
        "Cannot sort by field `created`"
    assert validation_message(get(app_client, "organization_list", sort="name sideways")) == \
        "Invalid sort direction `sideways`"
    assert validation_message(get(app_client, "organization_list", sort="name, title")) == \
        "Too many sort criteria provided only 1 allowed"
    assert error(get(app_client, "organization_list", limit=-2), "Validation Error")["limit"] == \
        ["Must be a natural number"]
    # groups: the same list machinery over themes
    groups = ok(app_client, "group_list", limit=100)
    assert len(groups) == 10
    all_groups = ok(app_client, "group_list", all_fields="true", sort="name asc", offset=0)
    assert [g["name"] for g in all_groups] == sorted(g["name"] for g in all_groups) and len(all_groups) == 4
    assert ok(app_client, "group_list", q="transport") == ["transport"]
    assert ok(app_client, "group_list", groups="transport,health", sort="name") == ["health", "transport"]


@conforms("organization_list", "organization_show", "group_list", "group_show",
          ckan="ckan/lib/dictization/model_dictize.py:group_dictize")
def test_package_counts_equal_what_the_caller_can_list(app_client: Any, private_package: dict[str, Any]) -> None:
    """``package_count`` is a ``package_search`` count (``+owner_org:`` / ``+groups:``), with ``include_private``
    only for members of the organization (the transport steward in gz-transport; anyone else, another
    department's steward too, counts what the public sees); ``include_dataset_count=false`` leaves it out;
    ``include_extras`` etc. are off in lists (``_group_or_org_list``) and on in ``organization_show``."""
    steward = token_for("steward")
    # a dataset shared with every department but not open (private in CKAN's terms, listed by government users
    # with include_private): counted for the member only, whichever tests ran before
    call_as("steward", "dataset_create", dataset_payload(opening_class="不予开放", sharing_class="无条件共享"))
    for token, member_of in ((None, ""), (steward, "gz-transport"), (token_for("eco_steward"), "")):
        orgs = {o["name"]: o for o in ok(app_client, "organization_list", token, all_fields="true",
                                         organizations="gz-transport,gz-health")}
        assert set(orgs) == {"gz-transport", "gz-health"}
        for name, org in orgs.items():
            listed = ok(app_client, "package_search", token, fq=f"organization:{name}", rows=1000,
                        include_private=str(name == member_of).lower())["count"]
            assert org["package_count"] == listed, (token, name)
            assert "extras" not in org and "users" not in org
        shown = ok(app_client, "organization_show", token, id="gz-transport")
        assert shown["package_count"] == orgs["gz-transport"]["package_count"] and "extras" in shown
    mine = ok(app_client, "organization_show", steward, id="gz-transport", include_datasets="true")
    assert private_package["name"] in {p["name"] for p in mine["packages"]}
    theirs = ok(app_client, "organization_show", id="gz-transport", include_datasets="true")
    assert private_package["name"] not in {p["name"] for p in theirs["packages"]}
    assert "package_count" not in ok(app_client, "organization_list", all_fields="true", limit=1,
                                     include_dataset_count="false")[0]
    assert "extras" in ok(app_client, "organization_list", all_fields="true", limit=1, include_extras="true")[0]
    group = ok(app_client, "group_show", id="transport", include_datasets="true")
    assert group["package_count"] == ok(app_client, "package_search", fq="groups:transport", rows=0)["count"]
    assert {p["groups"][0]["name"] for p in group["packages"]} == {"transport"}
    error(get(app_client, "organization_show", id="no-such-org"), "Not Found Error")
    error(get(app_client, "group_show", id="no-such-group"), "Not Found Error")


@conforms("group_package_show", ckan="ckan/logic/action/get.py:group_package_show")
def test_group_package_show(app_client: Any) -> None:
    """``package_search`` with ``fq=groups:NAME`` and ``rows=limit`` (default 10, capped at 1000); a negative or
    non-integer limit: Validation Error "Limit must be a positive integer"; unknown group: Not Found."""
    every = ok(app_client, "package_search", fq="groups:transport", rows=1000)
    shown = ok(app_client, "group_package_show", id="transport", limit=5000)
    assert {p["name"] for p in shown} == {p["name"] for p in every["results"]}
    assert len(ok(app_client, "group_package_show", id="transport")) == min(10, every["count"])
    assert len(ok(app_client, "group_package_show", id="transport", limit=2)) == 2
    assert validation_message(get(app_client, "group_package_show", id="transport", limit=-1)) == \
        "Limit must be a positive integer"
    assert ok(app_client, "group_package_show", id="gz-transport") == []  # an organization is no group
    error(get(app_client, "group_package_show", id="no-such-group"), "Not Found Error")


@conforms("organization_autocomplete", ckan="ckan/logic/action/get.py:_group_or_org_autocomplete")
def test_organization_autocomplete(app_client: Any) -> None:
    """``Group.search_by_name_or_title``: name contains or title ilike the query; ``{id, name, title}``, limit 20."""
    found = ok(app_client, "organization_autocomplete", q="TRANSPORT")
    assert found == [{"id": "gz-transport", "name": "gz-transport", "title": "广州市交通运输局"}]
    assert ok(app_client, "organization_autocomplete", q="交通运输") == found
    assert len(ok(app_client, "organization_autocomplete", q="gz")) == 20
    assert len(ok(app_client, "organization_autocomplete", q="gz", limit=3)) == 3
    assert error(get(app_client, "organization_autocomplete"), "Validation Error")["q"] == ["Missing value"]


@conforms("organization_list_for_user", ckan="ckan/logic/action/get.py:organization_list_for_user")
def test_organization_list_for_user(app_client: Any) -> None:
    """Sysadmins: every organization with capacity ``admin``; others: the organizations where their capacity has
    ``permission`` (``get_roles_with_permission``; default ``manage_group``); anonymous: none."""
    assert ok(app_client, "organization_list_for_user") == []
    mine = ok(app_client, "organization_list_for_user", token_for("steward"), include_dataset_count="true")
    assert [(o["name"], o["capacity"]) for o in mine] == [("gz-transport", "editor")]
    assert mine[0]["package_count"] == ok(app_client, "organization_show", token_for("steward"),
                                          id="gz-transport")["package_count"]
    assert ok(app_client, "organization_list_for_user", token_for("steward"), permission="create_dataset")
    assert ok(app_client, "organization_list_for_user", token_for("steward"), permission="membership") == []
    assert [o["capacity"] for o in ok(app_client, "organization_list_for_user", token_for("deptadmin"),
                                      permission="membership")] == ["admin"]
    admin = ok(app_client, "organization_list_for_user", token_for("admin"))
    assert {o["capacity"] for o in admin} == {"admin"}
    assert len(admin) == len(ok(app_client, "organization_list", limit=1000))
    assert [o["display_name"] for o in admin] == sorted(o["display_name"] for o in admin)
    assert ok(app_client, "organization_list_for_user", token_for("citizen")) == []
    # another user's organizations: platform admins only (deliberate difference: CKAN lets anyone ask)
    assert [o["name"] for o in ok(app_client, "organization_list_for_user", token_for("admin"), id="steward")] == \
        ["gz-transport"]
    error(get(app_client, "organization_list_for_user", token_for("eco_steward"), id="steward"),
          "Authorization Error")


@conforms("member_list", ckan="ckan/logic/action/get.py:member_list")
def test_member_list(app_client: Any, private_package: dict[str, Any]) -> None:
    """``(table_id, table_name, capacity)`` of active members; users with their translated capacity
    (``authz.roles_trans``), an organization's packages with capacity ``organization``, a group's ``public``.
    Users only to the organization's staff and sysadmins (CKAN with ``ckan.auth.public_user_details = false``);
    packages the caller may not see are left out (deliberate difference)."""
    public = ok(app_client, "member_list", id="gz-transport")
    assert {m[1] for m in public} == {"package"} and {m[2] for m in public} == {"organization"}
    listed = ok(app_client, "package_search", fq="organization:gz-transport", rows=1000)["results"]
    assert {m[0] for m in public} == {p["id"] for p in listed}
    assert private_package["id"] not in {m[0] for m in public}
    error(get(app_client, "member_list", id="gz-transport", object_type="user"), "Authorization Error")
    staff = ok(app_client, "member_list", token_for("steward"), id="gz-transport", object_type="user")
    steward_id = str(call_as("admin", "user_show", {"name": "steward"})["id"])
    assert [steward_id, "user", "Editor"] in staff and {m[2] for m in staff} <= {"Admin", "Editor", "Member"}
    assert private_package["id"] in {m[0] for m in ok(app_client, "member_list", token_for("steward"),
                                                      id="gz-transport", object_type="package")}
    admins = ok(app_client, "member_list", token_for("admin"), id="gz-transport", capacity="admin")
    assert admins and all(m[1:] == ["user", "Admin"] for m in admins)
    group = ok(app_client, "member_list", id="transport")
    assert group and {m[2] for m in group} == {"public"}
    error(get(app_client, "member_list", id="no-such-group"), "Not Found Error")


# -- tags and vocabularies -----------------------------------------------------------------------------------


@conforms("tag_list", ckan="ckan/logic/action/get.py:tag_list")
def test_tag_list(app_client: Any, private_package: dict[str, Any]) -> None:
    """Without ``query`` every free tag; with ``query`` (or ``q``) ``_tag_search``'s substring match with
    ``limit`` / ``offset``; ``all_fields`` gives tag dicts; ``vocabulary_id`` a vocabulary's tags. Tags of
    private datasets are not listed (deliberate difference: CKAN lists every tag)."""
    every = ok(app_client, "tag_list")
    assert len(every) == len(set(every)) > 20 and "人口" in every
    assert private_package["tag"] not in every
    matching = ok(app_client, "tag_list", query="人")
    assert matching and all("人" in t for t in matching) and set(matching) <= set(every)
    assert ok(app_client, "tag_list", q="人") == matching
    paged = [t for off in range(0, len(matching)) for t in ok(app_client, "tag_list", query="人", limit=1,
                                                              offset=off)]
    assert paged == matching
    dicts = ok(app_client, "tag_list", query="人", all_fields="true")
    assert dicts[0] == {"id": matching[0], "name": matching[0], "vocabulary_id": None, "display_name": matching[0]}
    districts = ok(app_client, "tag_list", vocabulary_id="district")
    assert "天河区" in districts and len(districts) == 11
    # every list pages (deliberate difference: CKAN pages only a query's list, so a client paging the whole list
    # with offset would never see an empty page)
    pages: list[str] = []
    for _ in range(len(every) // 50 + 2):  # bounded: a list that never ends fails here instead of hanging
        page = ok(app_client, "tag_list", limit=50, offset=len(pages))
        if not page:
            break
        pages += page
    assert pages == every
    assert ok(app_client, "tag_list", vocabulary_id="district", limit=3, offset=10) == districts[10:11]


@conforms("tag_search", "tag_autocomplete", ckan="ckan/logic/action/get.py:_tag_search")
def test_tag_search_and_autocomplete(app_client: Any) -> None:
    """Every term must be contained (any case, LIKE characters escaped); ``count`` is before paging; no query:
    nothing; repeated ``query`` parameters are a list (``_get_request_data``'s ``mixed``)."""
    out = ok(app_client, "tag_search", query="人")
    assert out["count"] == len(out["results"]) > 1
    assert all(t["name"].find("人") >= 0 and t["vocabulary_id"] is None for t in out["results"])
    page = ok(app_client, "tag_search", query="人", limit=1, offset=1)
    assert page["count"] == out["count"] and page["results"] == out["results"][1:2]
    both = result(app_client.get("/api/3/action/tag_search?query=人&query=口"))
    assert both["results"] and all("人" in t["name"] and "口" in t["name"] for t in both["results"])
    assert ok(app_client, "tag_search") == {"count": 0, "results": []}
    assert ok(app_client, "tag_search", query="%") == {"count": 0, "results": []}  # no LIKE wildcard
    assert ok(app_client, "tag_search", query="天河", vocabulary_id="district")["results"][0]["vocabulary_id"] == \
        "district"
    assert ok(app_client, "tag_autocomplete", q="人") == [t["name"] for t in out["results"]]


@conforms("tag_show", ckan="ckan/lib/dictization/model_dictize.py:tag_dictize")
def test_tag_show(app_client: Any, private_package: dict[str, Any]) -> None:
    """``{id, name, vocabulary_id, display_name}``; ``include_datasets``: the public packages carrying it (up to
    1000, ``+capacity:public +tags:"NAME"``); an unknown tag: Not Found."""
    tag = ok(app_client, "tag_show", id="人口", include_datasets="true")
    assert {k: tag[k] for k in ("id", "name", "vocabulary_id", "display_name")} == \
        {"id": "人口", "name": "人口", "vocabulary_id": None, "display_name": "人口"}
    assert {p["name"] for p in tag["packages"]} == search_names(app_client, fq='tags:"人口"')
    assert "packages" not in ok(app_client, "tag_show", id="人口")
    error(get(app_client, "tag_show", id=private_package["tag"]), "Not Found Error")
    error(get(app_client, "tag_show", id="no-such-tag"), "Not Found Error")
    district = ok(app_client, "tag_show", id="天河区", vocabulary_id="district", include_datasets="true")
    assert district["vocabulary_id"] == "district"
    assert {p["name"] for p in district["packages"]} == search_names(app_client, fq="district:天河区")


@conforms("vocabulary_list", ckan="ckan/lib/dictization/model_dictize.py:vocabulary_list_dictize")
def test_vocabulary_list(app_client: Any) -> None:
    """Each vocabulary ``{id, name, tags}`` with its tags (``tag_dictize`` with ``vocabulary_id``); every name
    is a ``tag_list`` vocabulary and a ``package_search`` fq field."""
    vocabularies = ok(app_client, "vocabulary_list")
    names = {v["name"] for v in vocabularies}
    assert {"district", "update_cycle", "sharing_class", "opening_class", "catalog_type"} == names
    for v in vocabularies:
        assert v["id"] == v["name"] and v["tags"]
        assert all(t["vocabulary_id"] == v["name"] for t in v["tags"])
        assert ok(app_client, "tag_list", vocabulary_id=v["name"]) == [t["name"] for t in v["tags"]]
    monthly = ok(app_client, "package_search", fq="update_cycle:每月", rows=0)["count"]
    assert monthly > 0


@conforms("license_list", ckan="ckan/model/license.py:LicenseRegister")
def test_license_list(app_client: Any) -> None:
    """CKAN's license dicts (``DefaultLicense.copy()``: every value a string); every package's licence is one."""
    licenses = ok(app_client, "license_list")
    keys = {"domain_content", "id", "domain_data", "domain_software", "family", "is_generic", "od_conformance",
            "osd_conformance", "maintainer", "status", "url", "title"}
    assert licenses and all(set(lic) == keys and all(isinstance(v, str) for v in lic.values()) for lic in licenses)
    ids = {lic["id"] for lic in licenses}
    used = {p["license_id"] for p in ok(app_client, "package_search", rows=1000)["results"]}
    assert used - {""} <= ids


# -- autocomplete and resource search ----------------------------------------------------------------------------


@conforms("package_autocomplete", ckan="ckan/logic/action/get.py:package_autocomplete")
def test_package_autocomplete(app_client: Any, private_package: dict[str, Any]) -> None:
    """Names or titles containing ``q``; ``match_field`` ``name`` when the name contains it, else ``title`` with
    ``match_displayed`` "TITLE (NAME)"; limit 10; permission labels: private packages only for their members."""
    found = ok(app_client, "package_autocomplete", q="air")
    assert found[0] == {"name": "air-quality-hourly", "title": found[0]["title"], "match_field": "name",
                        "match_displayed": "air-quality-hourly"}
    by_title = ok(app_client, "package_autocomplete", q="空气质量")
    assert by_title and by_title[0]["match_field"] == "title"
    assert by_title[0]["match_displayed"] == f"{by_title[0]['title']} ({by_title[0]['name']})"
    assert len(ok(app_client, "package_autocomplete", q="-")) == 10
    assert len(ok(app_client, "package_autocomplete", q="-", limit=3)) == 3
    assert not ok(app_client, "package_autocomplete", q="Secret bus depots")
    assert private_package["name"] in [p["name"] for p in ok(app_client, "package_autocomplete", token_for("steward"),
                                                              q="Secret bus depots", limit=1000)]
    assert error(get(app_client, "package_autocomplete"), "Validation Error")["q"] == ["Missing value"]


@conforms("format_autocomplete", ckan="ckan/logic/action/get.py:format_autocomplete")
def test_format_autocomplete(app_client: Any) -> None:
    """``default_autocomplete_schema``: q required; formats containing q (ilike), lower-cased, most used first,
    limit 5."""
    found = ok(app_client, "format_autocomplete", q="S")
    assert found[0] == "csv" and all("s" in f for f in found) and len(found) <= 5
    assert ok(app_client, "format_autocomplete", q="xls") == ["xlsx"]
    assert ok(app_client, "format_autocomplete", q="S", limit=1) == ["csv"]
    assert error(get(app_client, "format_autocomplete"), "Validation Error")["q"] == ["Missing value"]


@conforms("resource_search", ckan="ckan/logic/action/get.py:resource_search")
def test_resource_search(app_client: Any, private_package: dict[str, Any]) -> None:
    """``query`` 'field:term' (or a list, ANDed): text fields contain the term in any case, ``hash`` is a prefix;
    ``count`` before paging; resources of public packages only; an unknown field or a criterion without ':'
    is a Validation Error with CKAN's message."""
    csv = ok(app_client, "resource_search", query="format:csv")
    assert csv["count"] == len(csv["results"]) > 10 and all(r["format"] == "CSV" for r in csv["results"])
    public_ids = {p["id"] for p in ok(app_client, "package_search", rows=1000)["results"]}
    assert {r["package_id"] for r in csv["results"]} <= public_ids
    assert private_package["id"] not in {r["package_id"] for r in csv["results"]}
    page = ok(app_client, "resource_search", query="format:csv", limit=2, offset=1, order_by="name")
    ordered = ok(app_client, "resource_search", query="format:csv", order_by="name")["results"]
    assert page["count"] == csv["count"] and [r["id"] for r in page["results"]] == [r["id"] for r in ordered[1:3]]
    upload = next(r for r in csv["results"] if r["url_type"] == "upload")
    by_hash = ok(app_client, "resource_search", query=f"hash:{upload['hash'][:20]}")
    assert upload["id"] in {r["id"] for r in by_hash["results"]}
    both = result(app_client.get("/api/3/action/resource_search",
                                 params=[("query", "format:CSV"), ("query", f"name:{upload['name'][:4]}")]))
    assert upload["id"] in {r["id"] for r in both["results"]} and both["count"] <= csv["count"]
    assert ok(app_client, "resource_search", query="name:%")["count"] == 0  # LIKE characters are literal
    err = error(get(app_client, "resource_search", query="colour:red"), "Validation Error")
    assert err["query"] == ['Field "colour" not recognised in resource_search.']
    err = error(get(app_client, "resource_search", query="format"), "Validation Error")
    assert err["query"] == ["Must be <field>:<value> pair(s)"]
    assert error(get(app_client, "resource_search"), "Validation Error")["query"] == ["Missing value"]


# -- users, datastore ----------------------------------------------------------------------------------------


@conforms("user_show", ckan="ckan/logic/action/get.py:user_show")
def test_user_show(app_client: Any) -> None:
    """The caller's own account without ``id``; anonymous: Authorization Error (``public_user_details`` false)."""
    me = ok(app_client, "user_show", token_for("steward"))
    assert me["name"] == "steward" and me["capacity"] == "editor"
    error(get(app_client, "user_show"), "Authorization Error")


@conforms("datastore_search", "datastore_search_sql", "datastore_info",
          ckan="ckanext/datastore/logic/action.py:datastore_search")
def test_datastore_reads(app_client: Any) -> None:
    """The envelope and shapes of the datastore reads (their behaviour: ``tests/datastore``)."""
    pkg = ok(app_client, "package_show", id="air-quality-hourly")
    rid = next(r["id"] for r in pkg["resources"] if r["datastore_active"])
    info = ok(app_client, "datastore_info", id=rid)
    assert info["meta"]["count"] > 0 and info["fields"]
    rows = ok(app_client, "datastore_search", resource_id=rid, limit=3)
    assert len(rows["records"]) == 3 and rows["total"] == info["meta"]["count"]
    sql = result(act(app_client, "datastore_search_sql", {"sql": f'SELECT count(*) AS n FROM "{rid}"'}))
    assert sql["records"][0]["n"] == info["meta"]["count"]


# -- writes: access before validity, and what they keep ------------------------------------------------------


WRITE_CITES = "ckan/logic/action/create.py:package_create"
#: writes any signed-in user may make on their own account (CKAN's follow_* and dashboard_mark_activities_old
#: check only that there is a user: ckanext/activity/logic/auth.py, ckan/logic/auth/create.py:follow_dataset)
OWN_WRITES = {"follow_dataset", "unfollow_dataset", "follow_group", "unfollow_group", "dashboard_mark_activities_old"}


@conforms("package_create", "package_update", "package_patch", "package_delete", "resource_create",
          "resource_update", "resource_patch", "resource_delete", "organization_member_create", ckan=WRITE_CITES)
def test_every_write_checks_access_before_validating(app_client: Any) -> None:
    """CKAN's write actions call ``_check_access`` before they validate (``package_create``: ``_check_access
    ('package_create', …)`` then ``_validate``), so an anonymous caller with garbage input gets an Authorization
    Error, not a Validation Error listing the schema's fields; a public user on package writes too."""
    from cityhub.web.routes import ckan

    citizen = token_for("citizen")
    for name in sorted(ckan.WRITES):
        for body in ({}, {"name": "Bad Name!", "resources": "x", "owner_org": 5}):
            err = error(act(app_client, name, body), "Authorization Error")
            assert err["message"].startswith("Access denied"), (name, err)
        if name in OWN_WRITES:  # a public user may follow and mark their own dashboard: through to validation
            error(act(app_client, name, {"id": "x", "resources": "not a list"}, citizen), "Validation Error")
        elif not name.startswith("organization"):
            error(act(app_client, name, {"id": "x", "resources": "not a list"}, citizen), "Authorization Error")
    assert call_as("admin", "audit_list", {"action": "dataset_save", "limit": 1})[0]["outcome"] == "denied"
    # the gate lets a steward through to validation
    assert "name" in error(act(app_client, "package_create", {"name": "Bad Name!", "owner_org": "gz-transport"},
                               token_for("steward")), "Validation Error")


@conforms("resource_update", "resource_patch", "package_update", "package_patch",
          ckan="ckan/logic/action/update.py:resource_update")
def test_own_download_url_sent_back_keeps_the_file(app_client: Any, private_package: dict[str, Any]) -> None:
    """A client that read a package through another host name (or proxy) and writes it back sends our download
    URL under that base: it names the stored file, so the upload stays an upload (``url_type`` ``upload``)."""
    steward = token_for("steward")
    headers = {"Authorization": steward, "Host": "portal.example.net"}
    pkg = result(app_client.post("/api/3/action/package_show", json={"id": private_package["id"]}, headers=headers))
    upload = next(r for r in pkg["resources"] if r["url_type"] == "upload")
    assert upload["url"].startswith("http://portal.example.net/")
    for name in ("resource_update", "resource_patch"):
        out = result(app_client.post(f"/api/3/action/{name}", json={**upload, "name": f"renamed by {name}"},
                                     headers=headers))
        assert out["url_type"] == "upload" and out["name"] == f"renamed by {name}" and out["size"] == upload["size"]
    again = result(app_client.post("/api/3/action/package_show", json={"id": pkg["id"]}, headers=headers))
    for name in ("package_update", "package_patch"):
        out = result(app_client.post(f"/api/3/action/{name}", json={**again, "title": f"t {name}"},
                                     headers=headers))
        kept = next(r for r in out["resources"] if r["id"] == upload["id"])
        assert kept["url_type"] == "upload" and kept["url"] == upload["url"]
    assert call_as("admin", "resource_show", {"id": upload["id"]})["source_url"] == ""


@conforms("package_create", "resource_create", ckan="ckan/lib/dictization/model_save.py:package_resource_list_save")
def test_resource_positions_are_their_order(app_client: Any, private_package: dict[str, Any]) -> None:
    """A resource's ``position`` is its index in the package's list (``package_resource_list_save``); two
    resources never share one, so every reader lists them in the same order."""
    assert [r["position"] for r in private_package["resources"]] == [0, 1, 2]
    assert [r["name"] for r in private_package["resources"]] == ["stops.csv", "lines.json", "depots.csv"]


@conforms("package_create", "package_delete", "resource_create", "resource_delete", "organization_member_create",
          ckan="ckan/views/api.py:action")
def test_writes_answer_in_the_envelope(app_client: Any) -> None:
    """Successful writes answer ``{help, success, result}``; ``package_delete`` / ``resource_delete`` answer
    ``result: null``."""
    steward = token_for("steward")
    pkg = created(app_client, act(app_client, "package_create", foreign_package(), steward))
    res = result(act(app_client, "resource_create", {"package_id": pkg["id"], "url": "https://example.org/r.csv",
                                                     "name": "r"}, steward))
    assert res["package_id"] == pkg["id"]
    assert result(act(app_client, "resource_delete", {"id": res["id"]}, steward)) is None
    assert result(act(app_client, "package_delete", {"id": pkg["id"]}, steward)) is None
    user = unique("m")
    call_as("system", "user_create", {"name": user, "password": "Member-Passphrase-2026!", "role": "public"})
    member = result(act(app_client, "organization_member_create", {"id": "gz-transport", "username": user,
                                                                   "role": "member"}, token_for("deptadmin")))
    assert member["capacity"] == "member"


# -- the base URL: the request's, trusted proxies', or the configured one ----------------------------------------


def _client(client_ip: str = "10.1.2.3") -> TestClient:
    from cityhub.web.app import create_app

    return TestClient(create_app(), base_url="http://127.0.0.1:8000", client=(client_ip, 5555))


def _help_of(resp: Any) -> str:
    assert resp.status_code == 200, resp.text
    return str(resp.json()["help"])


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    from cityhub.settings import get_settings

    def setenv(**values: str) -> None:
        for key, value in values.items():
            monkeypatch.setenv(f"CITYHUB_{key.upper()}", value)
        get_settings.cache_clear()

    yield setenv
    monkeypatch.undo()
    get_settings.cache_clear()


@conforms("package_show", ckan="ckan/lib/helpers.py:url_for")
def test_links_come_from_the_request_and_trusted_proxies_only(demo: Store,
                                                              settings_env: Callable[..., None]) -> None:
    """``url_for(..., _external=True)`` links (``help``, package and download URLs) name the host the client
    reached: its Host header, or X-Forwarded-Proto/-Host/-Prefix from a configured proxy only; a configured
    ``CITYHUB_BASE_URL`` wins over both."""
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example, open.gz.gov.cn",
                 "X-Forwarded-Prefix": "/portal"}
    with _client() as client:
        url = "/api/3/action/package_show?id=air-quality-hourly"
        assert _help_of(client.get(url, headers={"Host": "gz.example:9000"})).startswith(
            "http://gz.example:9000/api/3/action/help_show")
        assert _help_of(client.get(url, headers=forwarded)).startswith("http://127.0.0.1:8000/")  # not trusted
        # a Host that is no host[:port] is not written into links: the server's own address is
        assert _help_of(client.get(url, headers={"Host": "bad host<script>"})).startswith("http://127.0.0.1:8000/")
    settings_env(trusted_proxies="10.0.0.0/8")
    with _client() as client:
        body = client.get(url, headers=forwarded).json()
        assert body["help"].startswith("https://open.gz.gov.cn/portal/api/3/action/help_show")  # right-most host
        upload = next(r for r in body["result"]["resources"] if r["url_type"] == "upload")
        assert upload["url"].startswith("https://open.gz.gov.cn/portal/dataset/air-quality-hourly/resource/")
    with _client("192.168.9.9") as client:  # not a trusted proxy
        assert _help_of(client.get(url, headers=forwarded)).startswith("http://127.0.0.1:8000/")
    settings_env(base_url="https://data.gz.gov.cn/")
    with _client() as client:
        assert _help_of(client.get(url, headers=forwarded)).startswith("https://data.gz.gov.cn/api/3/action/")


@conforms("package_show", ckan="ckan/views/api.py:action")
def test_cached_package_show_is_per_base_url(demo: Store) -> None:
    """Anonymous ``package_show`` is served from a cache; one entry per base URL, so a client that came through
    one host name never receives links of another."""
    with _client() as client:
        first = client.get("/api/3/action/package_show?id=air-quality-hourly", headers={"Host": "one.example"})
        second = client.get("/api/3/action/package_show?id=air-quality-hourly", headers={"Host": "two.example"})
        again = client.get("/api/3/action/package_show?id=air-quality-hourly", headers={"Host": "one.example"})
    assert "http://one.example/" in first.text and "two.example" not in first.text
    assert "http://two.example/" in second.text and "one.example" not in second.text
    assert again.content == first.content
    assert json.loads(second.content)["result"]["id"] == json.loads(first.content)["result"]["id"]


def test_base_url_parts() -> None:
    """The pieces of a request's base URL: trusted peers by address or network, the right-most forwarded value,
    the default port dropped (as ``url_for(..., _external=True)`` writes it), nothing that is not a host."""
    from cityhub.web import base_url as b

    proxies = "10.0.0.0/8, 192.168.1.1"
    assert b.trusted_proxy("10.2.3.4", proxies) and b.trusted_proxy("192.168.1.1", proxies)
    assert not b.trusted_proxy("192.168.1.2", proxies) and not b.trusted_proxy("testclient", proxies)
    assert b.trusted_proxy("::1", "::1") and not b.trusted_proxy("10.2.3.4", "")
    assert b._compose("https", "example.org:443", "", None) == "https://example.org"
    assert b._compose("http", "example.org:443", "/p/", None) == "http://example.org:443/p"
    assert b._compose("http", "[::1]:8000", "", None) == "http://[::1]:8000"
    assert b._compose("http", "a.org/evil", "", ("10.0.0.1", 8000)) == "http://10.0.0.1:8000"
    assert b._compose("http", "a.org", '/x"><script>', None) == "http://a.org"
    assert b._last("evil.example, open.gz.gov.cn") == "open.gz.gov.cn"


# the activity-stream and follow actions (issue 15) register their cases here
import tests.social.test_ckan_api  # noqa: E402,F401
