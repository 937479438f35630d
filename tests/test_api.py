"""Native REST API and CKAN-compatible API over HTTP: tokens, error shape, uploads, bad input."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from sqlalchemy import text

from cityhub import db
from tests.conftest import Store, dataset_payload, login, publish, token_for, unique


def _error(resp: Any, status: int, kind: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"}
    err = body["error"]
    assert err["type"] == kind and err["message"] and err["message_en"]
    return err


def auth(token: str, bearer: bool = True) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}" if bearer else token}


def test_create_show_update_delete_with_token(app_client: Any, demo: Store) -> None:
    tok = token_for("steward")
    data = dataset_payload()
    r = app_client.post("/api/v1/datasets", json=data, headers=auth(tok))
    assert r.status_code == 201, r.text
    assert r.json()["code"].startswith("202001/") and r.json()["publication"] == "draft"
    _error(app_client.get(f"/api/v1/datasets/{data['name']}"), 404, "not_found")  # a draft: its department only
    assert app_client.post(f"/api/v1/datasets/{data['name']}/submit", headers=auth(tok)).json()["publication"] \
        == "submitted"
    _error(app_client.post(f"/api/v1/datasets/{data['name']}/approve", headers=auth(tok)), 403, "not_authorized")
    r = app_client.post(f"/api/v1/datasets/{data['name']}/approve", headers=auth(token_for("deptadmin")))
    assert r.status_code == 200 and r.json()["publication"] == "published", r.text
    r = app_client.patch(f"/api/v1/datasets/{data['name']}", json={"title": "API 改名"}, headers=auth(tok, bearer=False))
    assert r.status_code == 200 and r.json()["title"] == "API 改名"
    assert app_client.get(f"/api/v1/datasets/{data['name']}").json()["title"] == "API 改名"
    hist = app_client.get(f"/api/v1/datasets/{data['name']}/history").json()
    assert hist[0]["changes"]["title"][1] == "API 改名"
    assert app_client.delete(f"/api/v1/datasets/{data['name']}", headers=auth(tok)).status_code == 200
    _error(app_client.get(f"/api/v1/datasets/{data['name']}"), 404, "not_found")


def test_error_shapes(app_client: Any, demo: Store) -> None:
    steward = token_for("steward")
    other = token_for("eco_steward")
    _error(app_client.post("/api/v1/datasets", json=dataset_payload()), 401, "not_authenticated")
    _error(app_client.post("/api/v1/datasets", json=dataset_payload(), headers=auth(other)), 403, "not_authorized")
    err = _error(app_client.post("/api/v1/datasets", json=dataset_payload(sharing_class="不予共享"),
                                 headers=auth(steward)), 422, "validation_error")
    assert "依据" in json.dumps(err["fields"], ensure_ascii=False)
    dup = dataset_payload()
    assert app_client.post("/api/v1/datasets", json=dup, headers=auth(steward)).status_code == 201
    _error(app_client.post("/api/v1/datasets", json=dup, headers=auth(steward)), 409, "conflict")
    _error(app_client.get("/api/v1/nowhere"), 404, "not_found")
    _error(app_client.get("/api/v1/datasets?rows=5000"), 422, "validation_error")
    _error(app_client.post("/api/v1/departments", json={"slug": "x-dept", "name": "某部门", "short_name": "某",
                                                        "uscc": "11440100006940001X"}, headers=auth(token_for("admin"))),
           422, "validation_error")


def test_another_departments_steward_cannot_edit(app_client: Any, demo: Store) -> None:
    name = "air-quality-hourly"
    before = app_client.get(f"/api/v1/datasets/{name}").json()
    _error(app_client.patch(f"/api/v1/datasets/{name}", json={"title": "hijack"}, headers=auth(token_for("steward"))),
           403, "not_authorized")
    after = app_client.get(f"/api/v1/datasets/{name}").json()
    assert after["title"] == before["title"] and after["modified_at"] == before["modified_at"]


def test_expired_and_revoked_tokens(app_client: Any, demo: Store) -> None:
    tok = token_for("steward")
    assert app_client.get("/api/v1/tokens", headers=auth(tok)).status_code == 200
    with db.get_engine().begin() as conn:
        conn.execute(text("UPDATE api_token SET expires_at = :t WHERE prefix = :p"),
                     {"t": dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1), "p": tok[:8]})
    err = _error(app_client.get("/api/v1/tokens", headers=auth(tok)), 401, "not_authenticated")
    assert "expired" in err["message_en"]
    tok2 = token_for("steward")
    listed = app_client.get("/api/v1/tokens", headers=auth(tok2)).json()
    assert all("token" not in t and "token_hash" not in t for t in listed)
    mine = next(t for t in listed if t["prefix"] == tok2[:8])
    assert app_client.delete(f"/api/v1/tokens/{mine['id']}", headers=auth(tok2)).status_code == 200
    err = _error(app_client.get("/api/v1/tokens", headers=auth(tok2)), 401, "not_authenticated")
    assert "revoked" in err["message_en"]
    _error(app_client.get("/api/v1/tokens", headers=auth("ch_forged")), 401, "not_authenticated")


def test_upload_download_and_size_limit(app_client: Any, demo: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    tok = token_for("steward")
    data = dataset_payload()
    app_client.post("/api/v1/datasets", json=data, headers=auth(tok))
    publish(data["name"])
    content = "线路,所属区\n1路,越秀区\n".encode()
    r = app_client.post(f"/api/v1/datasets/{data['name']}/resources", headers=auth(tok),
                        files={"file": ("lines.csv", content, "text/csv")}, data={"description": "线路表"})
    assert r.status_code == 201, r.text
    res = r.json()
    assert res["format"] == "CSV" and res["size"] == len(content)
    from cityhub import jobs

    jobs.wait_idle()  # a new table is served once its load (and personal-data scan) has ended
    dl = app_client.get(res["url"].replace("http://127.0.0.1:8000", ""))
    assert dl.status_code == 200 and dl.content == content

    monkeypatch.setenv("CITYHUB_MAX_UPLOAD_MB", "1")
    from cityhub.settings import get_settings

    get_settings.cache_clear()
    big = b"a,b\n" + b"1,2\n" * 400_000
    files_before = sorted(p for p in (demo.home / "files").rglob("*") if p.is_file())
    r = app_client.post(f"/api/v1/datasets/{data['name']}/resources", headers=auth(tok),
                        files={"file": ("big.csv", big, "text/csv")})
    _error(r, 413, "payload_too_large")
    assert sorted(p for p in (demo.home / "files").rglob("*") if p.is_file()) == files_before
    assert len(app_client.get(f"/api/v1/datasets/{data['name']}").json()["resources"]) == 1
    monkeypatch.delenv("CITYHUB_MAX_UPLOAD_MB")
    get_settings.cache_clear()


def test_cookie_session_needs_csrf_for_api_writes(app_client: Any, demo: Store) -> None:
    body = login(app_client, "steward", demo.passwords["steward"])
    data = dataset_payload()
    _error(app_client.post("/api/v1/datasets", json=data), 401, "not_authenticated")
    r = app_client.post("/api/v1/datasets", json=data, headers={"X-CSRF-Token": body["csrf_token"]})
    assert r.status_code == 201, r.text
    app_client.cookies.clear()


def test_login_throttling(app_client: Any, demo: Store) -> None:
    name = unique("u")
    app_client.post("/api/v1/users", json={"name": name, "password": "Some-long-passphrase-77", "role": "public"},
                    headers=auth(token_for("admin")))
    for _ in range(5):
        _error(app_client.post("/api/v1/session", json={"username": name, "password": "wrong-password-00"}),
               401, "not_authenticated")
    r = app_client.post("/api/v1/session", json={"username": name, "password": "Some-long-passphrase-77"})
    _error(r, 429, "too_many_requests")
    assert r.headers["Retry-After"]


def test_session_idle_timeout(app_client: Any, demo: Store) -> None:
    login(app_client, "analyst", demo.passwords["analyst"])
    assert app_client.get("/api/v1/users/analyst").status_code == 200
    with db.get_engine().begin() as conn:
        conn.execute(text("UPDATE web_session SET last_seen_at = :t"),
                     {"t": dt.datetime.now(dt.UTC) - dt.timedelta(minutes=31)})
    _error(app_client.get("/api/v1/users/analyst"), 401, "not_authenticated")
    login(app_client, "analyst", demo.passwords["analyst"])
    with db.get_engine().begin() as conn:
        conn.execute(text("UPDATE web_session SET created_at = :t"),
                     {"t": dt.datetime.now(dt.UTC) - dt.timedelta(hours=13)})
    _error(app_client.get("/api/v1/users/analyst"), 401, "not_authenticated")
    app_client.cookies.clear()


def test_weak_passwords_refused(app_client: Any, demo: Store) -> None:
    admin = auth(token_for("admin"))
    for pw in ("short", "password1234", "aaaaaaaaaaaaaaaa"):
        err = _error(app_client.post("/api/v1/users", json={"name": unique("w"), "password": pw}, headers=admin),
                     422, "validation_error")
        assert "password" in err["fields"]
    long_ok = "长" * 70 + "-passphrase"
    assert app_client.post("/api/v1/users", json={"name": unique("w"), "password": long_ok},
                           headers=admin).status_code == 201


def test_security_headers(app_client: Any) -> None:
    r = app_client.get("/api/v1/stats")
    assert r.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'self'" in r.headers["Content-Security-Policy"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_openapi_documents_native_routes(app_client: Any) -> None:
    spec = app_client.get("/api/openapi.json").json()
    for path in ("/api/v1/datasets", "/api/v1/datasets/{name}", "/api/v1/departments", "/api/v1/tokens"):
        assert path in spec["paths"]
    assert app_client.get("/api/docs").status_code == 200


# -- CKAN ---------------------------------------------------------------------------------------------------


def ckan(client: Any, action: str, **params: Any) -> Any:
    return client.get(f"/api/3/action/{action}", params=params)


def test_ckan_envelope_and_reads(app_client: Any, demo: Store) -> None:
    r = ckan(app_client, "status_show")
    body = r.json()
    assert r.status_code == 200 and body["success"] is True and "help" in body and body["result"]["ckan_version"]
    names = ckan(app_client, "package_list").json()["result"]
    assert "air-quality-hourly" in names
    pkg = ckan(app_client, "package_show", id="air-quality-hourly").json()["result"]
    assert pkg["name"] == "air-quality-hourly" and pkg["organization"]["name"] == "gz-ecology-environment"
    assert pkg["resources"] and pkg["resources"][0]["url"].startswith("http")
    extras = {e["key"]: e["value"] for e in pkg["extras"]}
    assert extras["sharing_class"] in ("无条件共享", "有条件共享", "不予共享") and "/" in extras["code"]
    orgs = ckan(app_client, "organization_list").json()["result"]
    assert "gz-transport" in orgs
    org = ckan(app_client, "organization_show", id="gz-transport", include_datasets="true").json()["result"]
    assert org["packages"] and all(p["owner_org"] == "gz-transport" for p in org["packages"])
    groups = ckan(app_client, "group_list").json()["result"]
    assert "transport" in groups
    assert "交通" in ckan(app_client, "tag_list").json()["result"] or ckan(app_client, "tag_list").json()["result"]


def test_ckan_package_search(app_client: Any, demo: Store) -> None:
    r = app_client.get("/api/3/action/package_search", params={
        "q": "交通", "fq": "groups:transport", "rows": 5, "facet.field": json.dumps(["organization", "res_format"])})
    body = r.json()
    assert body["success"], body
    res = body["result"]
    assert res["count"] >= 1 and len(res["results"]) <= 5
    assert all(p["groups"][0]["name"] == "transport" for p in res["results"])
    assert sum(res["facets"]["organization"].values()) == res["count"]
    assert res["search_facets"]["res_format"]["items"]
    page2 = app_client.get("/api/3/action/package_search", params={"fq": "groups:transport", "rows": 2, "start": 2})
    page1 = app_client.get("/api/3/action/package_search", params={"fq": "groups:transport", "rows": 2, "start": 0})
    assert {p["name"] for p in page1.json()["result"]["results"]}.isdisjoint(
        p["name"] for p in page2.json()["result"]["results"])
    posted = app_client.post("/api/3/action/package_search", json={"q": "tags:空气质量", "rows": 3})
    assert posted.json()["success"] and posted.json()["result"]["count"] >= 1


def test_ckan_errors(app_client: Any) -> None:
    r = ckan(app_client, "package_show", id="no-such-dataset")
    assert r.status_code == 404
    assert r.json()["success"] is False and r.json()["error"]["__type"] == "Not Found Error"
    r = ckan(app_client, "package_search", rows="-1")  # over 1000 is capped (limit_to_configured_maximum)
    assert r.status_code == 409 and r.json()["error"]["__type"] == "Validation Error" and "rows" in r.json()["error"]
    r = ckan(app_client, "no_such_action")  # CKAN: 400 and a bare JSON string, not the envelope
    assert r.status_code == 400 and r.json() == "Bad request - Action name not known: no_such_action"
    r = app_client.post("/api/3/action/package_search", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json().startswith("Bad request - JSON Error")


def test_department_bad_input(app_client: Any, demo: Store) -> None:
    admin = auth(token_for("admin"))
    existing = app_client.get("/api/v1/departments/gz-transport").json()
    err = _error(app_client.post("/api/v1/departments", json={
        "slug": unique("d"), "name": unique("重复代码部门"), "short_name": "重复", "uscc": existing["uscc"]}, headers=admin),
        409, "conflict")
    assert "uscc" in err["fields"]
    err = _error(app_client.post("/api/v1/departments", json={
        "slug": unique("d"), "name": unique("区级部门"), "short_name": "区级", "level": "区",
        "uscc": existing["uscc"]}, headers=admin), 422, "validation_error")
    assert "所属区" in json.dumps(err["fields"], ensure_ascii=False)
    _error(app_client.get("/api/v1/departments/no-such"), 404, "not_found")
