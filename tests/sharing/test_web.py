"""Sharing over HTTP without a browser: the native API (``/api/sharing``, the JSON error shape) and the portal
pages (status codes, Chinese wording, the request form, the review queue's countdown, revocation)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cityhub.web.deps import LANG_COOKIE
from tests.conftest import token_for


@pytest.fixture
def client(w: dict[str, Any]) -> Iterator[TestClient]:
    from cityhub.web.app import create_app

    with TestClient(create_app(), base_url="http://127.0.0.1:8000") as c:
        yield c


def bearer(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(name)}"}


def signed_in(client: TestClient, w: dict[str, Any], name: str) -> str:
    """Sign in by the JSON endpoint (session cookie); returns the CSRF token for forms."""
    client.cookies.clear()
    resp = client.post("/api/v1/session", json={"username": name, "password": w["store"].passwords[name]})
    assert resp.status_code == 200, resp.text
    return str(resp.json()["csrf_token"])


def test_api_flow_and_error_shape(client: TestClient, w: dict[str, Any]) -> None:
    eco, steward = bearer("eco_steward"), bearer("steward")
    body = {"kind": "share", "dataset": w["conditional"]["name"], "system_id": w["system"]["id"],
            "purpose": "大气污染联防联控研判", "legal_basis": "《广州市公共数据管理办法》", "columns": ["所属区", "PM2_5"]}
    resp = client.post("/api/sharing/requests", json=body, headers=eco)
    assert resp.status_code == 201, resp.text
    rid = resp.json()["id"]
    shown = client.get(f"/api/sharing/requests/{rid}", headers=eco)
    assert shown.status_code == 200, shown.text
    assert shown.json()["status"] == "submitted"

    # errors: the native shape, in both languages
    wider = client.post(f"/api/sharing/requests/{rid}/approve", json={"columns": ["站点名称"], "note": "x"},
                        headers=steward)
    assert wider.status_code == 422
    err = wider.json()["error"]
    assert err["type"] == "validation_error" and err["message"] and err["message_en"] and "columns" in err["fields"]
    outsider = client.get(f"/api/sharing/requests/{rid}", headers=bearer("third"))
    assert outsider.status_code == 404 and outsider.json()["error"]["type"] == "not_found"
    wrong_side = client.post(f"/api/sharing/requests/{rid}/approve", json={}, headers=eco)
    assert wrong_side.status_code == 403 and wrong_side.json()["error"]["type"] == "not_authorized"
    anonymous = client.get("/api/sharing/requests")
    assert anonymous.status_code == 401 and anonymous.json()["error"]["type"] == "not_authenticated"
    refused = client.post(f"/api/sharing/requests/{rid}/refuse", json={"reason": ""}, headers=steward)
    assert refused.status_code == 422

    ok = client.post(f"/api/sharing/requests/{rid}/approve", json={}, headers=steward)
    assert ok.status_code == 200 and ok.json()["status"] == "approved"
    grants = client.get("/api/sharing/grants", params={"side": "consumer"}, headers=eco).json()
    gid = next(g["id"] for g in grants["results"] if g["request_id"] == rid)
    assert client.post(f"/api/sharing/grants/{gid}/revoke", json={"reason": "用途已完成"},
                       headers=steward).status_code == 200
    assert client.post(f"/api/sharing/grants/{gid}/revoke", json={"reason": "再次撤销"},
                       headers=steward).status_code == 409
    listed = client.get("/api/sharing/requests", params={"box": "review"}, headers=steward).json()
    assert rid in [r["id"] for r in listed["results"]]
    assert client.get("/api/sharing/requests", params={"box": "all"}, headers=steward).status_code == 403
    assert client.post("/api/sharing/escalate", json={}, headers=steward).status_code == 403
    assert client.post("/api/sharing/escalate", json={}, headers=bearer("admin")).status_code == 200


def test_pages_apply_review_and_revoke(client: TestClient, w: dict[str, Any]) -> None:
    ds = w["open_conditional"]
    # a visitor is sent to sign in
    resp = client.get("/sharing/requests", follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"].startswith("/login")

    # the applicant finds the link on the dataset page, fills the form in
    csrf = signed_in(client, w, "citizen")
    page = client.get(f"/dataset/{ds['name']}")
    assert page.status_code == 200 and "申请使用数据" in page.text
    form = client.get("/sharing/request/new", params={"dataset": ds["name"]})
    assert form.status_code == 200 and "申请使用有条件开放数据" in form.text
    bad = client.post("/sharing/request/new", data={"csrf_token": csrf, "dataset": ds["name"], "kind": "open",
                                                    "purpose": "", "duration_days": "30"})
    assert bad.status_code == 422 and "用途" in bad.text
    made = client.post("/sharing/request/new", data={"csrf_token": csrf, "dataset": ds["name"], "kind": "open",
                                                     "purpose": "高校城市空气质量研究", "duration_days": "30"},
                       follow_redirects=False)
    assert made.status_code == 303
    rid = int(re.findall(r"/sharing/request/(\d+)$", made.headers["location"])[0])
    mine = client.get("/sharing/requests?box=mine")
    assert mine.status_code == 200 and f"request-{rid}" in mine.text and "待答复" in mine.text

    # the provider's queue counts the working days down; the request page has the answer forms
    csrf = signed_in(client, w, "steward")
    queue = client.get("/sharing/requests?box=review")
    assert queue.status_code == 200 and "待我审核" in queue.text and "个工作日" in queue.text
    assert re.search(rf'id="request-{rid}"', queue.text)
    detail = client.get(f"/sharing/request/{rid}")
    assert detail.status_code == 200 and "答复申请" in detail.text and "办理记录" in detail.text
    wrong = client.post(f"/sharing/request/{rid}/refuse", data={"csrf_token": csrf, "reason": ""})
    assert wrong.status_code == 422 and "拒绝理由" in wrong.text
    done = client.post(f"/sharing/request/{rid}/approve", data={"csrf_token": csrf, "note": ""},
                       follow_redirects=False)
    assert done.status_code == 303
    grants = client.get("/sharing/grants?side=provider")
    assert grants.status_code == 200 and "授权管理" in grants.text and "有效" in grants.text
    gid = re.findall(r'action="/sharing/grant/(\d+)/revoke"', grants.text)
    assert gid
    out = client.post(f"/sharing/grant/{gid[0]}/revoke", data={"csrf_token": csrf, "reason": "项目结束"},
                      follow_redirects=False)
    assert out.status_code == 303
    assert "已撤销" in client.get(f"/sharing/request/{rid}").text

    # a form without the CSRF token is refused
    assert client.post(f"/sharing/request/{rid}/withdraw", data={}).status_code in (401, 403)


def test_systems_page_and_data_office_overview(client: TestClient, w: dict[str, Any]) -> None:
    csrf = signed_in(client, w, "eco_steward")
    page = client.get("/sharing/systems")
    assert page.status_code == 200 and "应用系统" in page.text and w["system"]["code"] in page.text
    made = client.post("/sharing/systems", data={"csrf_token": csrf, "op": "register", "code": "GZ-EE/web-check",
                                                 "name": "网页登记的系统"})
    assert made.status_code == 200 and "只显示这一次" in made.text and "sys_" in made.text
    dup = client.post("/sharing/systems", data={"csrf_token": csrf, "op": "register", "code": "GZ-EE/web-check",
                                                "name": "重复"})
    assert dup.status_code == 409

    signed_in(client, w, "admin")
    overview = client.get("/sharing/requests?box=all")
    assert overview.status_code == 200 and "全部申请(市数据管理机构)" in overview.text
    client.cookies.set(LANG_COOKIE, "en")
    english = client.get("/sharing/requests?box=all")
    assert english.status_code == 200 and "All requests (data office)" in english.text


@pytest.mark.parametrize("who", ["steward", "eco_steward", "citizen", "admin"])
def test_chinese_pages_show_no_english_only_text(client: TestClient, w: dict[str, Any], who: str) -> None:
    from tests.web.crawl import parse
    from tests.web.test_i18n import english_only

    signed_in(client, w, who)
    client.cookies.set(LANG_COOKIE, "zh")
    urls = ["/sharing/requests?box=mine", "/sharing/grants?inactive=1"]
    if who != "citizen":
        urls += ["/sharing/requests?box=review", "/sharing/systems"]
        box = "all" if who == "admin" else "review" if who == "steward" else "mine"
        listed = client.get("/api/sharing/requests", params={"box": box, "limit": 5}).json()["results"]
        urls += [f"/sharing/request/{r['id']}" for r in listed]
    else:
        urls += [f"/sharing/request/new?dataset={w['open_conditional']['name']}"]
    if who == "admin":
        urls += ["/sharing/requests?box=all&overdue=1"]
    found: dict[str, set[str]] = {}
    for url in urls:
        resp = client.get(url)
        assert resp.status_code == 200, (url, resp.status_code)
        for text in parse(url, resp.text).texts:
            if english_only(text):
                found.setdefault(text[:120], set()).add(url)
    assert not found, found
