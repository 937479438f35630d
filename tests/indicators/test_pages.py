"""The indicator pages and HTTP API through the ASGI app (the indicator tests' own store): the public progress
page, one indicator, the reporting form (and its refusals), the data office's definition pages and review queue,
the printable reports and the assessors' exports."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import call_as
from tests.web.test_pages import csrf_of, page, web_login

HTML = {"Accept": "text/html"}


@pytest.fixture
def client(iw: dict[str, Any]) -> Iterator[TestClient]:
    from cityhub.web.app import create_app

    with TestClient(create_app(), base_url="http://127.0.0.1:8000") as c:
        yield c


def sign_in(client: TestClient, iw: dict[str, Any], who: str) -> None:
    assert web_login(client, who, iw["store"].passwords[who]).status_code == 303


def test_progress_page_is_public_with_bars_targets_and_charts(client: TestClient) -> None:
    body = page(client, "/indicators")
    listing = call_as(None, "indicator_list", {})
    for r in listing["results"]:
        assert f'data-code="{r["code"]}"' in body
    assert "规划实施进展" in body and 'role="progressbar"' in body
    assert "/static/vendor/echarts/echarts.min.js" in body and "/static/js/indicators.js" in body
    assert "100 %" in body  # the target of t.share, with its unit
    config = json.loads(re.search(r'id="indicators-config">(.*?)</script>', body, re.S).group(1))  # type: ignore[union-attr]
    assert set(config) == {r["code"] for r in listing["results"]}
    filtered = page(client, "/indicators?area=industry")
    assert 'data-code="t.output"' in filtered and 'data-code="t.share"' not in filtered
    assert 'data-code="t.share"' in page(client, "/indicators?area=nonsense")  # unknown area: everything
    en = page(client, "/indicators?lang=en")
    assert "Plan progress" in en


def test_indicator_page_shows_how_live_values_are_computed(client: TestClient) -> None:
    body = page(client, "/indicators/t.open")
    assert 'id="ind-how"' in body and "可见性规则" in body
    page(client, "/indicators/no.such", status=404)


def test_reporting_form_and_its_bad_input(client: TestClient, iw: dict[str, Any]) -> None:
    assert client.get("/indicators/t.share/report", headers=HTML, follow_redirects=False).status_code == 303
    sign_in(client, iw, "eco_steward")
    page(client, "/indicators/t.share/report", status=403)  # another department's indicator
    client.cookies.clear()
    sign_in(client, iw, "steward")
    detail = page(client, "/indicators/t.share")
    assert 'id="ind-report-link"' in detail
    form = page(client, "/indicators/t.share/report")
    token = csrf_of(form, "ind-report-form")
    wrong = client.post("/indicators/t.share/report", headers=HTML, data={
        "csrf_token": token, "period": "2019", "value": "0.9", "unit": "比例", "evidence_url": "https://x.gov.cn/a"})
    assert wrong.status_code == 422 and "计量单位不符" in wrong.text
    over = client.post("/indicators/t.share/report", headers=HTML, data={
        "csrf_token": token, "period": "2019", "value": "120", "unit": "%", "evidence_url": "https://x.gov.cn/a"})
    assert over.status_code == 422 and "合理范围" in over.text
    ok = client.post("/indicators/t.share/report", headers=HTML, follow_redirects=False, data={
        "csrf_token": token, "period": "2019", "value": "88.5", "unit": "%", "note": "网页表单"},
        files={"file": ("证明.pdf", b"%PDF evidence", "application/pdf")})
    assert ok.status_code == 303 and ok.headers["location"] == "/indicators/t.share?reported=1"
    made = [o for o in call_as("admin", "indicator_queue", {})["results"] if o["note"] == "网页表单"]
    assert made and made[0]["evidence_name"] == "证明.pdf" and made[0]["reporter"] == "steward"
    forged = client.post("/indicators/t.share/report", headers=HTML, data={
        "csrf_token": "nope", "period": "2019", "value": "88", "unit": "%", "evidence_url": "https://x.gov.cn/a"})
    assert forged.status_code in (401, 403)


def test_review_queue_and_definition_pages(client: TestClient, iw: dict[str, Any]) -> None:
    made = call_as("steward", "indicator_report", {"code": "t.output", "period": "2019", "value": 3500,
                                                   "unit": "亿元", "evidence_url": "https://x.gov.cn/b"})
    sign_in(client, iw, "steward")
    page(client, "/admin/indicators/review", status=403)
    client.cookies.clear()
    sign_in(client, iw, "admin")
    queue = page(client, "/admin/indicators/review")
    assert f'id="obs-{made["id"]}"' in queue
    done = client.post(f"/admin/indicators/review/{made['id']}", headers=HTML, follow_redirects=False,
                       data={"csrf_token": csrf_of(queue), "decision": "approve", "comment": ""})
    assert done.status_code == 303
    assert ["2019", 3500.0] in call_as(None, "indicator_show", {"code": "t.output"})["series"]
    listing = page(client, "/admin/indicators")
    assert 'id="ind-admin-table"' in listing
    form = page(client, "/admin/indicators/new")
    bad = client.post("/admin/indicators/new", headers=HTML, data={
        "csrf_token": csrf_of(form, "ind-def-form"), "code": "t.page", "area": "security", "name": "页面新增",
        "unit": "%", "target_year": "2020", "target_value": "100", "max_value": "150", "direction": "at_least",
        "kind": "reported", "frequency": "yearly"})
    assert bad.status_code == 422 and "0–100" in bad.text
    good = client.post("/admin/indicators/new", headers=HTML, follow_redirects=False, data={
        "csrf_token": csrf_of(form, "ind-def-form"), "code": "t.page", "area": "security", "name": "页面新增",
        "unit": "%", "target_year": "2020", "target_value": "100", "direction": "at_least", "kind": "reported",
        "frequency": "yearly", "department": "gz-transport"})
    assert good.status_code == 303, good.text[:500]
    edit = page(client, "/admin/indicators/t.page/edit")
    changed = client.post("/admin/indicators/t.page/edit", headers=HTML, follow_redirects=False, data={
        "csrf_token": csrf_of(edit, "ind-def-form"), "area": "security", "name": "页面新增(改)", "unit": "%",
        "target_year": "2020", "target_value": "99", "direction": "at_least", "frequency": "yearly",
        "department": "gz-transport", "active": "on"})
    assert changed.status_code == 303, re.sub(r"<[^>]+>", " ", changed.text)[-1500:]
    shown = call_as("admin", "indicator_show", {"code": "t.page"})
    assert shown["name"] == "页面新增(改)" and shown["target_value"] == 99 and shown["history"]


def test_printable_reports_and_exports(client: TestClient) -> None:
    for kind in ("annual", "midterm", "final"):
        body = page(client, f"/indicators/reports/{kind}?year=2019")
        assert 'id="report-title"' in body and 'id="report-table"' in body and "<svg" in body
        assert "@media print" not in body and "/static/css/indicators.css" in body
    css = client.get("/static/css/indicators.css").text
    assert "@media print" in css and "@page" in css
    js = client.get("/api/indicator-assessments/annual?year=2019")
    assert js.status_code == 200 and js.json()["year"] == 2019
    csv_resp = client.get("/api/indicator-assessments/final?format=csv")
    assert csv_resp.status_code == 200 and csv_resp.headers["content-type"].startswith("text/csv")
    assert csv_resp.text.lstrip("\ufeff").startswith("code,area,name")
    assert client.get("/api/indicator-assessments/weekly").status_code == 422


def test_api_report_and_refusals(client: TestClient, iw: dict[str, Any]) -> None:
    listing = client.get("/api/indicators").json()
    assert listing["count"] >= 5
    anon = client.post("/api/indicators/t.share/observations", data={"period": "2019", "value": "1", "unit": "%"})
    assert anon.status_code == 401 and anon.json()["error"]["message_en"]
    token = call_as("system", "token_create", {"user": "eco_steward", "days": 1})["token"]
    auth = {"Authorization": f"Bearer {token}"}
    other = client.post("/api/indicators/t.share/observations", headers=auth,
                        data={"period": "2019", "value": "80", "unit": "%", "evidence_url": "https://x.gov.cn"})
    assert other.status_code == 403 and other.json()["error"]["type"] == "not_authorized"
    mine = client.post("/api/indicators/t.eco/observations", headers=auth,
                       data={"period": "2019", "value": "80", "unit": "%", "evidence_url": "https://x.gov.cn"})
    assert mine.status_code == 201, mine.text
    bad = client.post("/api/indicators/t.eco/observations", headers=auth,
                      data={"period": "2019", "value": "180", "unit": "%", "evidence_url": "https://x.gov.cn"})
    assert bad.status_code == 422 and "合理范围" in bad.json()["error"]["message"]
    review = client.post(f"/api/indicator-observations/{mine.json()['id']}/review", headers=auth,
                         json={"decision": "approve"})
    assert review.status_code == 403
