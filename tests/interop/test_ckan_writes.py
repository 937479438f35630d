"""CKAN Action API over HTTP (both backends): writes with authorization and audit, the package ↔ dataset
mapping with its defaults, CKAN's error types and codes, and the reads issue 4 lists."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import text

from cityhub import db
from tests.conftest import Store, call_as, publish, token_for, unique

ERROR_STATUS = {"Validation Error": 409, "Not Found Error": 404, "Authorization Error": 403}


def act(client: Any, action: str, data: dict[str, Any] | None = None, token: str | None = None,
        prefix: str = "/api/3/action") -> Any:
    headers = {"Authorization": token} if token else {}
    return client.post(f"{prefix}/{action}", json=data or {}, headers=headers)


def result(resp: Any) -> Any:
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["success"] is True and body["help"].endswith("help_show?name=" + resp.url.path.rsplit("/", 1)[-1])
    return body["result"]


def created(client: Any, resp: Any) -> Any:
    """The package ``package_create`` answered, taken through the department's review (a steward's package awaits
    it, docs/ckan.md) so that anyone may see it: as ``package_show`` shows it now."""
    pkg = result(resp)
    publish(pkg["name"])
    return result(act(client, "package_show", {"id": pkg["id"]}, token_for("admin")))


def error(resp: Any, kind: str) -> dict[str, Any]:
    """A CKAN error envelope of ``kind`` with the HTTP status CKAN uses for it."""
    assert resp.status_code == ERROR_STATUS[kind], resp.text
    body = resp.json()
    assert body["success"] is False and body["error"]["__type"] == kind, body
    err: dict[str, Any] = body["error"]
    return err


def foreign_package(**over: Any) -> dict[str, Any]:
    """A package in the shape another CKAN portal exports (no CityHub extras)."""
    pkg: dict[str, Any] = {
        "name": unique("pkg"),
        "title": "Bus stops 公交站点",
        "notes": "All bus stops of the city with their coordinates, lines and accessibility information.",
        "owner_org": "gz-transport",
        "license_id": "cc-by",
        "maintainer": "Open Data Team",
        "maintainer_email": "opendata@example.org",
        "tags": [{"name": "公交"}, {"name": "stops"}],
        "groups": [{"name": "roads", "title": "Roads"}, {"name": "mobility", "title": "交通"}],
        "extras": [{"key": "frequency", "value": "weekly"}, {"key": "spatial_uri", "value": "http://x.org/gz"},
                   {"key": "source_system", "value": "legacy-ckan"}],
        "resources": [
            {"name": "stops.csv", "url": "https://example.org/stops.csv", "format": "csv", "description": "Stops"},
            {"name": "lines.json", "url": "https://example.org/lines.json", "format": "JSON", "description": ""},
        ],
    }
    pkg.update(over)
    return pkg


def extras_of(pkg: dict[str, Any]) -> dict[str, str]:
    return {e["key"]: e["value"] for e in pkg["extras"]}


def test_package_create_maps_foreign_package_with_defaults(app_client: Any, demo: Store) -> None:
    steward = token_for("steward")
    sent = foreign_package()
    pkg = created(app_client, act(app_client, "package_create", sent, steward))
    assert pkg["name"] == sent["name"] and pkg["title"] == sent["title"] and pkg["notes"] == sent["notes"]
    assert pkg["organization"]["name"] == "gz-transport" and pkg["owner_org"] == "gz-transport"
    assert [g["name"] for g in pkg["groups"]] == ["transport"]  # the group titled 交通
    assert sorted(t["name"] for t in pkg["tags"]) == ["stops", "公交"]
    assert pkg["license_id"] == "cc-by-4.0" and pkg["maintainer"] == "Open Data Team"
    assert [(r["name"], r["url"], r["format"], r["description"]) for r in pkg["resources"]] == [
        ("stops.csv", "https://example.org/stops.csv", "CSV", "Stops"),
        ("lines.json", "https://example.org/lines.json", "JSON", "")]
    ex = extras_of(pkg)
    assert ex["update_cycle"] == "每周"  # from the frequency extra
    assert ex["sharing_class"] == "无条件共享" and ex["opening_class"] == "无条件开放" and ex["catalog_type"] == "部门"
    assert ex["code"].startswith("301001/")
    assert ex["source_groups"] == '["roads"]' and ex["source_system"] == "legacy-ckan"
    assert ex["spatial_uri"] == "http://x.org/gz" and ex["frequency"] == "weekly"
    # the package answers to its id and its name; a forged id of the same row, or the bare row id, do not
    assert result(act(app_client, "package_show", {"id": pkg["id"]}))["name"] == sent["name"]
    forged = pkg["id"][:9] + ("0" if pkg["id"][9] != "0" else "1") + pkg["id"][10:]
    error(act(app_client, "package_show", {"id": forged}), "Not Found Error")
    native = app_client.get(f"/api/v1/datasets/{sent['name']}").json()
    error(act(app_client, "package_show", {"id": str(native["id"])}), "Not Found Error")
    assert native["extras"]["source_system"] == "legacy-ckan"  # the native API shows the extras too
    # a private foreign package is not opened by default; short notes become a valid abstract
    priv = created(app_client, act(app_client, "package_create", foreign_package(private=True, notes="short", groups=[]),
                      steward))
    assert priv["private"] is True and extras_of(priv)["opening_class"] == "不予开放"
    assert priv["notes"].startswith("short") and len(priv["notes"]) >= 10
    assert priv["groups"][0]["name"] == "livelihood"  # the default theme


def test_package_update_replaces_and_patch_merges(app_client: Any, demo: Store) -> None:
    steward = token_for("steward")
    pkg = created(app_client, act(app_client, "package_create", foreign_package(), steward))
    first, second = pkg["resources"]
    # package_update replaces: the dropped resource is deleted, the kept one updated, a new one added;
    # fields and extras not sent are cleared
    sent = {"id": pkg["id"], "name": pkg["name"], "title": "Bus stops v2", "notes": pkg["notes"],
            "owner_org": "gz-transport", "tags": [{"name": "公交"}], "license_id": "odc-odbl",
            "extras": [{"key": "source_system", "value": "legacy-ckan-2"}],
            "resources": [{**first, "name": "stops-v2.csv"}, {"name": "new.xml", "url": "https://example.org/n.xml"}]}
    upd = result(act(app_client, "package_update", sent, steward))
    assert upd["id"] == pkg["id"] and upd["title"] == "Bus stops v2" and upd["license_id"] == "odc-odbl"
    assert [r["name"] for r in upd["resources"]] == ["stops-v2.csv", "new.xml"]
    assert upd["resources"][0]["id"] == first["id"]
    assert second["id"] not in {r["id"] for r in upd["resources"]}
    error(act(app_client, "resource_show", {"id": second["id"]}), "Not Found Error")
    assert [t["name"] for t in upd["tags"]] == ["公交"] and upd["maintainer"] == ""
    ex = extras_of(upd)
    assert ex["source_system"] == "legacy-ckan-2" and "spatial_uri" not in ex and ex["update_cycle"] == "不定期"
    # package_patch changes only what is sent
    patched = result(act(app_client, "package_patch", {"id": pkg["name"], "title": "Bus stops v3"}, steward))
    assert patched["title"] == "Bus stops v3"
    assert [r["id"] for r in patched["resources"]] == [r["id"] for r in upd["resources"]]
    assert patched["tags"] == upd["tags"] and extras_of(patched)["code"] == ex["code"]
    # package_update without a resources key keeps the resources (CKAN 2.10)
    kept = result(act(app_client, "package_update", {k: v for k, v in patched.items() if k != "resources"},
                      steward))
    assert [r["id"] for r in kept["resources"]] == [r["id"] for r in upd["resources"]]
    # a rename is refused, not half-done
    err = error(act(app_client, "package_update", {**kept, "name": unique("renamed")}, steward), "Validation Error")
    assert "name" in err
    # the change history records the CKAN writes
    hist = app_client.get(f"/api/v1/datasets/{pkg['name']}/history").json()
    assert {"create", "update", "resource_create", "resource_delete", "resource_update"} <= {h["action"] for h in hist}


def test_package_delete_is_soft(app_client: Any, demo: Store) -> None:
    steward, admin = token_for("steward"), token_for("admin")
    pkg = created(app_client, act(app_client, "package_create", foreign_package(), steward))
    assert result(act(app_client, "package_delete", {"id": pkg["id"]}, steward)) is None
    error(act(app_client, "package_show", {"id": pkg["name"]}), "Not Found Error")
    error(act(app_client, "package_show", {"id": pkg["name"]}, steward), "Not Found Error")
    shown = result(act(app_client, "package_show", {"id": pkg["id"]}, admin))
    assert shown["state"] == "deleted" and shown["name"] == pkg["name"]
    assert pkg["name"] not in result(app_client.get("/api/3/action/package_list"))
    err = error(act(app_client, "package_create", foreign_package(name=pkg["name"]), steward), "Validation Error")
    assert err["name"] == ["That URL is already in use."]


@pytest.fixture
def own_package(app_client: Any, demo: Store) -> dict[str, Any]:
    """A fresh gz-transport package with one resource."""
    pkg: dict[str, Any] = created(app_client, act(app_client, "package_create", foreign_package(), token_for("steward")))
    return pkg


def _write_cases(pkg: dict[str, Any]) -> dict[str, Callable[[], tuple[str, dict[str, Any]]]]:
    rid = pkg["resources"][0]["id"]
    return {
        "package_create": lambda: ("package_create", foreign_package()),
        "package_update": lambda: ("package_update", {**pkg, "title": "changed"}),
        "package_patch": lambda: ("package_patch", {"id": pkg["id"], "title": "changed"}),
        "package_delete": lambda: ("package_delete", {"id": pkg["name"]}),
        "resource_create": lambda: ("resource_create", {"package_id": pkg["id"], "name": "more",
                                                        "url": "https://example.org/more.csv"}),
        "resource_update": lambda: ("resource_update", {"id": rid, "name": "renamed", "url": pkg["resources"][0]["url"]}),
        "resource_delete": lambda: ("resource_delete", {"id": rid}),
    }


@pytest.mark.parametrize("action", ["package_create", "package_update", "package_patch", "package_delete",
                                    "resource_create", "resource_update", "resource_delete"])
def test_write_authorization(app_client: Any, demo: Store, own_package: dict[str, Any], action: str) -> None:
    """Anonymous and another department's steward get 403 and change nothing; the owning steward and a
    platform admin succeed; every attempt is in the audit log."""
    name, data = _write_cases(own_package)[action]()
    def state() -> tuple[Any, ...]:
        d = app_client.get(f"/api/v1/datasets/{own_package['name']}").json()
        return d["modified_at"], d["title"], [(r["id"], r["name"]) for r in d["resources"]]

    before = state()
    error(act(app_client, name, data), "Authorization Error")
    err = error(act(app_client, name, data, token_for("eco_steward")), "Authorization Error")
    assert err["message"].startswith("Access denied")
    assert state() == before
    result(act(app_client, name, data, token_for("steward")))
    if action == "package_create":
        data = foreign_package()
    elif action in ("package_delete", "resource_delete"):
        data = _write_cases(created(app_client, act(app_client, "package_create", foreign_package(),
                                       token_for("steward"))))[action]()[1]
    result(act(app_client, name, data, token_for("admin")))
    denied = call_as("admin", "audit_list", {"actor": "eco_steward", "limit": 20})
    assert any(r["outcome"] == "denied" for r in denied)
    assert call_as("admin", "audit_list", {"actor": "admin", "limit": 5})[0]["outcome"] == "success"


def test_organization_member_create(app_client: Any, demo: Store) -> None:
    user = unique("m")
    call_as("system", "user_create", {"name": user, "password": "Member-Passphrase-2026!", "role": "public"})
    data = {"id": "gz-transport", "username": user, "role": "editor"}
    error(act(app_client, "organization_member_create", data), "Authorization Error")
    error(act(app_client, "organization_member_create", data, token_for("steward")), "Authorization Error")
    error(act(app_client, "organization_member_create", {**data, "id": "gz-ecology-environment"},
              token_for("deptadmin")), "Authorization Error")
    member = result(act(app_client, "organization_member_create", data, token_for("deptadmin")))
    assert member["capacity"] == "editor" and member["group_id"] == "gz-transport"
    shown = call_as("admin", "user_show", {"name": user})
    assert shown["role"] == "steward" and shown["department"] == "gz-transport"
    # a department admin may not make department admins; a platform admin may
    error(act(app_client, "organization_member_create", {**data, "role": "admin"}, token_for("deptadmin")),
          "Authorization Error")
    result(act(app_client, "organization_member_create", {**data, "role": "admin"}, token_for("admin")))
    assert call_as("admin", "user_show", {"name": user})["role"] == "dept_admin"
    err = error(act(app_client, "organization_member_create", {**data, "role": "owner"}, token_for("admin")),
                "Validation Error")
    assert "role" in err
    error(act(app_client, "organization_member_create", {**data, "id": "no-such-org"}, token_for("admin")),
          "Not Found Error")
    # the member's own token now writes in the department
    tok = token_for(user)
    created(app_client, act(app_client, "package_create", foreign_package(), tok))


def test_bad_input(app_client: Any, demo: Store) -> None:
    steward = token_for("steward")
    headers = {"Authorization": steward, "Content-Type": "application/json"}
    r = app_client.post("/api/3/action/package_create", content=b'{"name": "x"', headers=headers)
    assert r.status_code == 400 and r.json().startswith("Bad request - JSON Error")
    r = app_client.post("/api/3/action/package_create", content=b"[1, 2]", headers=headers)
    assert r.status_code == 400 and "needs to be a dictionary" in r.json()
    r = app_client.get("/api/3/action/package_create", headers={"Authorization": steward})
    assert r.status_code == 400 and "POST" in r.json()
    r = app_client.get("/api/action/no_such_action")
    assert r.status_code == 400 and r.json() == "Bad request - Action name not known: no_such_action"
    assert error(act(app_client, "package_create", {k: v for k, v in foreign_package().items() if k != "name"},
                     steward), "Validation Error")["name"] == ["Missing value"]
    assert "name" in error(act(app_client, "package_create", foreign_package(name="Bad Name!"), steward),
                           "Validation Error")
    err = error(act(app_client, "package_create", foreign_package(owner_org="no-such-org"), steward),
                "Validation Error")
    assert err["owner_org"] == ["Organization does not exist"]
    err = error(act(app_client, "package_create", foreign_package(notes="长" * 20_001), steward), "Validation Error")
    assert isinstance(err["notes"], list) and "too long" in err["notes"][0]
    err = error(act(app_client, "package_create", foreign_package(notes="Hello <script>alert(1)</script> world"),
                    steward), "Validation Error")
    assert "unsafe" in err["notes"][0]
    refused = foreign_package(resources=[{"name": "x", "url": "javascript:alert(1)"}])
    err = error(act(app_client, "package_create", refused, steward), "Validation Error")
    assert any(key.startswith("resources") for key in err)
    error(act(app_client, "package_show", {"id": refused["name"]}), "Not Found Error")  # nothing half-created
    err = error(act(app_client, "package_create", foreign_package(extras=[{"key": "k" * 101, "value": "v"}]),
                    steward), "Validation Error")
    assert "extras" in err
    # a revoked token is an Authorization Error in CKAN's envelope, not a native error
    tok = token_for("steward")
    with db.get_engine().begin() as conn:
        conn.execute(text("UPDATE api_token SET revoked_at = :t WHERE prefix = :p"),
                     {"t": dt.datetime.now(dt.UTC), "p": tok[:8]})
    err = error(act(app_client, "package_create", foreign_package(), tok), "Authorization Error")
    assert "revoked" in err["message"]


def test_script_like_notes_are_sanitised_on_display(app_client: Any, demo: Store) -> None:
    notes = 'Stops <img src="https://evil.example/x.png"> and <b>bold</b> and [link](https://example.org/ok)'
    pkg = created(app_client, act(app_client, "package_create", foreign_package(notes=notes), token_for("steward")))
    assert pkg["notes"] == notes  # stored as sent (CKAN keeps the text; display escapes it)
    page = app_client.get(f"/dataset/{pkg['name']}").text
    assert '<img src="https://evil.example' not in page and "&lt;img" in page
    assert '<a href="https://example.org/ok"' in page


def test_reads(app_client: Any, demo: Store) -> None:
    assert result(app_client.get("/api/3/action/site_read")) is True
    assert result(app_client.get("/api/action/status_show"))["ckan_version"].startswith("2.")
    # ``curl -d '{…}'`` sends the JSON document as the one key of a form; CKAN reads it as the body
    posted = app_client.post("/api/3/action/package_show", content=b'{"id": "air-quality-hourly"}',
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert result(posted)["name"] == "air-quality-hourly"
    # current_package_list_with_resources: newest first, paged
    page1 = result(app_client.get("/api/3/action/current_package_list_with_resources", params={"limit": 3}))
    page2 = result(app_client.get("/api/3/action/current_package_list_with_resources",
                                  params={"limit": 3, "offset": 3}))
    assert len(page1) == 3 and {p["id"] for p in page1}.isdisjoint(p["id"] for p in page2)
    stamps = [p["metadata_modified"] for p in page1 + page2]
    assert stamps == sorted(stamps, reverse=True) and all("resources" in p for p in page1)
    # resource_show
    pkg = result(act(app_client, "package_show", {"id": "air-quality-hourly"}))
    res = result(app_client.get("/api/3/action/resource_show", params={"id": pkg["resources"][0]["id"]}))
    assert res["package_id"] == pkg["id"] and res["url"] == pkg["resources"][0]["url"]
    # organizations and groups
    orgs = result(app_client.get("/api/3/action/organization_list", params={"all_fields": "true"}))
    transport = next(o for o in orgs if o["name"] == "gz-transport")
    assert transport["is_organization"] and transport["package_count"] >= 1 and transport["title"]
    org = result(app_client.get("/api/3/action/organization_show", params={"id": "gz-transport",
                                                                          "include_datasets": "true"}))
    assert org["packages"] and {p["owner_org"] for p in org["packages"]} == {"gz-transport"}
    grp = result(app_client.get("/api/3/action/group_show", params={"id": "transport", "include_datasets": True}))
    assert grp["package_count"] >= 1 and all(p["groups"][0]["name"] == "transport" for p in grp["packages"])
    error(app_client.get("/api/3/action/group_show", params={"id": "no-such-group"}), "Not Found Error")
    # user_show: yourself; others only for admins
    steward = token_for("steward")
    me = result(app_client.get("/api/3/action/user_show", headers={"Authorization": steward}))
    assert me["name"] == "steward" and me["sysadmin"] is False and me["capacity"] == "editor"
    assert result(app_client.get("/api/3/action/user_show", params={"id": me["id"]},
                                 headers={"Authorization": steward}))["name"] == "steward"
    error(app_client.get("/api/3/action/user_show", params={"id": "eco_steward"},
                         headers={"Authorization": steward}), "Authorization Error")
    other = result(app_client.get("/api/3/action/user_show", params={"id": "eco_steward"},
                                  headers={"Authorization": token_for("admin")}))
    assert other["name"] == "eco_steward"
    error(app_client.get("/api/3/action/user_show"), "Authorization Error")


def test_package_search_field_syntax_and_private(app_client: Any, demo: Store) -> None:
    def search(token: str | None = None, **params: Any) -> dict[str, Any]:
        headers = {"Authorization": token} if token else {}
        out: dict[str, Any] = result(app_client.get("/api/3/action/package_search", params=params, headers=headers))
        return out

    by_org = search(q="organization:gz-transport", rows=1000)
    assert by_org["count"] >= 1 and {p["owner_org"] for p in by_org["results"]} == {"gz-transport"}
    by_group = search(q="groups:transport", rows=1000)
    assert by_group["count"] >= 1 and {p["groups"][0]["name"] for p in by_group["results"]} == {"transport"}
    by_format = search(q="res_format:CSV", rows=1000)
    assert by_format["count"] >= 1
    assert all("CSV" in {r["format"] for r in p["resources"]} for p in by_format["results"])
    tag = next(p for p in by_group["results"] if p["tags"])["tags"][0]["name"]
    by_tag = search(q=f"tags:{tag}", rows=1000)
    assert by_tag["count"] >= 1 and all(tag in {t["name"] for t in p["tags"]} for p in by_tag["results"])
    both = search(q="organization:gz-transport", fq="res_format:CSV", rows=1000)
    assert both["count"] <= min(by_org["count"], by_format["count"])
    everything = search(rows=1000, **{"facet.field": json.dumps(["organization", "tags"]), "facet.limit": 2})
    assert len(everything["results"]) == min(everything["count"], 1000)
    assert len(everything["search_facets"]["organization"]["items"]) <= 2
    assert len(everything["facets"]["tags"]) <= 2
    # rows over ckan.search.rows_max are capped, not refused (default_package_search_schema:
    # limit_to_configured_maximum('ckan.search.rows_max', 1000))
    capped = search(rows=1001)
    assert len(capped["results"]) == min(capped["count"], 1000)
    assert "rows" in error(app_client.get("/api/3/action/package_search", params={"rows": -1}), "Validation Error")
    # include_private: only for callers who may see the private package
    steward = token_for("steward")
    priv = created(app_client, act(app_client, "package_create", foreign_package(private=True), steward))
    q = {"q": "organization:gz-transport", "rows": 1000, "include_private": "true"}
    assert priv["name"] in {p["name"] for p in search(steward, **q)["results"]}
    assert priv["name"] in {p["name"] for p in search(token_for("admin"), **q)["results"]}
    assert priv["name"] not in {p["name"] for p in search(None, **q)["results"]}
    assert priv["name"] not in {p["name"] for p in search(token_for("eco_steward"), **q)["results"]}
    assert priv["name"] not in {p["name"] for p in search(steward, **{**q, "include_private": "false"})["results"]}
    error(act(app_client, "package_show", {"id": priv["id"]}), "Not Found Error")  # existence does not leak
