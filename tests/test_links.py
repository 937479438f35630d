"""Links are http, https or ftp only (CKAN's ``ckan.valid_url_schemes`` default, ``ckan/config/
config_declaration.yaml``; ``h.is_url`` renders nothing else as a link): refused on input through every API
with a bilingual error, and a bad link stored before the check is rendered as text, never as a link or a
redirect."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from cityhub import db
from tests.conftest import Store, call_as, dataset_payload, publish, token_for, unique

BAD = ["javascript:alert(document.cookie)", "JavaScript:alert(1)", "data:text/html;base64,PHNjcmlwdD4=",
       "vbscript:msgbox(1)", "file:///etc/passwd", "java\tscript:alert(1)", "//evil.example/x.csv", "http:///x"]


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def dataset(app_client: Any) -> tuple[str, str, str]:
    """A steward's dataset with one link resource: (token, dataset name, resource id)."""
    tok = token_for("steward")
    data = dataset_payload()
    assert app_client.post("/api/v1/datasets", json=data, headers=auth(tok)).status_code == 201
    r = app_client.post(f"/api/v1/datasets/{data['name']}/resources", headers=auth(tok),
                        data={"url": "https://example.org/lines.csv", "name": "lines"})
    assert r.status_code == 201, r.text
    publish(data["name"])
    return tok, data["name"], r.json()["id"]


def _refused(resp: Any) -> None:
    assert resp.status_code == 422, resp.text
    err = resp.json()["error"]
    assert err["type"] == "validation_error" and "url" in str(err["fields"])
    assert "URL" in str(err["fields"]) and "链接" in str(err["fields"])  # both languages


def test_native_api_refuses_unsafe_links(app_client: Any, dataset: tuple[str, str, str]) -> None:
    tok, name, rid = dataset
    for url in BAD:
        _refused(app_client.post(f"/api/v1/datasets/{name}/resources", headers=auth(tok), data={"url": url}))
        _refused(app_client.patch(f"/api/v1/resources/{rid}", headers=auth(tok), json={"url": url}))
    shown = app_client.get(f"/api/v1/datasets/{name}").json()
    assert [r["source_url"] for r in shown["resources"]] == ["https://example.org/lines.csv"]


def test_http_https_and_ftp_links_are_accepted(app_client: Any, dataset: tuple[str, str, str]) -> None:
    tok, _name, rid = dataset
    for url in ("ftp://ftp.example.org/pub/lines.csv", "HTTP://Example.org/a.csv", "https://例子.中国/数据.csv"):
        r = app_client.patch(f"/api/v1/resources/{rid}", headers=auth(tok), json={"url": url})
        assert r.status_code == 200 and r.json()["source_url"] == url, r.text


@pytest.mark.parametrize("url", ["javascript:alert(document.cookie)", "data:text/html;base64,PHNjcmlwdD4="])
def test_ckan_api_refuses_unsafe_links(app_client: Any, dataset: tuple[str, str, str], url: str) -> None:
    tok, name, rid = dataset

    def act(action: str, data: dict[str, Any]) -> Any:
        resp = app_client.post(f"/api/3/action/{action}", json=data, headers={"Authorization": tok})
        assert resp.status_code == 409, resp.text
        body = resp.json()
        assert body["success"] is False and body["error"]["__type"] == "Validation Error"
        return body["error"]

    assert "url" in act("resource_create", {"package_id": name, "url": url, "name": "x"})
    assert "url" in act("resource_patch", {"id": rid, "url": url})
    assert "url" in act("resource_update", {"id": rid, "url": url, "name": "lines"})
    pkg = {"name": unique("pkg"), "title": "链接测试数据集", "notes": "检查 package_create 里的资源链接是否被检查。",
           "owner_org": "gz-transport", "resources": [{"name": "bad", "url": url, "format": "CSV"}]}
    assert "resources.0.url" in act("package_create", pkg)
    assert call_as(None, "dataset_show", {"id": name})["resources"][0]["source_url"] == "https://example.org/lines.csv"


def test_a_stored_bad_link_is_rendered_as_text(app_client: Any, demo: Store, dataset: tuple[str, str, str]) -> None:
    """A link stored before the check existed: the pages show it as text, the download does not redirect."""
    _tok, name, rid = dataset
    bad = "javascript:alert(document.domain)"
    source = unique("src")
    call_as("system", "harvest_source_create", {"name": source, "title": "旧来源", "kind": "dcat",
                                                "url": "https://old.example/catalog.ttl",
                                                "department": "gz-transport"})
    src_id = call_as("system", "harvest_source_show", {"name": source})["id"]
    with db.session_scope() as s:
        s.execute(text("UPDATE resource SET url = :u WHERE id = :id"), {"u": bad, "id": rid})
        s.execute(text("UPDATE harvest_source SET url = :u WHERE id = :id"), {"u": bad, "id": src_id})
        s.execute(text("UPDATE dataset SET origin_url = :u, harvest_source_id = :s, harvest_guid = 'g' "
                       "WHERE name = :n"), {"u": bad, "s": src_id, "n": name})
    page = app_client.get(f"/dataset/{name}")
    assert page.status_code == 200
    res_page = app_client.get(f"/dataset/{name}/resource/{rid}")
    assert res_page.status_code == 200
    admin = token_for("admin")
    src_page = app_client.get(f"/admin/harvest/{source}", headers=auth(admin))
    assert src_page.status_code == 200, src_page.text
    for html in (page.text, res_page.text, src_page.text):
        assert 'href="javascript' not in html.lower() and "href='javascript" not in html.lower()
        assert 'class="unsafe-link"' in html and "javascript:alert(document.domain)" in html
    dl = app_client.get(f"/dataset/{name}/resource/{rid}/download", follow_redirects=False,
                        headers={"Accept": "application/json"})
    assert dl.status_code == 404 and "location" not in dl.headers
    assert dl.json()["error"]["message_en"] == "The resource's link is not an http(s)/ftp URL; it is not followed"
