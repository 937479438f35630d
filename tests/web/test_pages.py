"""The portal pages ("开放广州"), driven through the ASGI app on the demo store."""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import unquote

import pytest
from fastapi.testclient import TestClient

from tests.conftest import call_as, unique

HTML = {"Accept": "text/html"}


# -- helpers ---------------------------------------------------------------------------------------------------


def page(client: TestClient, url: str, status: int = 200) -> str:
    resp = client.get(url, headers=HTML)
    assert resp.status_code == status, (url, resp.status_code, resp.text[:500])
    return resp.text


def csrf_of(body: str, form_id: str = "") -> str:
    if form_id:
        body = body[body.index(f'id="{form_id}"'):]
    m = re.search(r'name="csrf_token" value="([^"]*)"', body)
    assert m, "no csrf_token field in the form"
    return m.group(1)


def web_login(client: TestClient, username: str, password: str, next_url: str = "/") -> Any:
    form = page(client, "/login?next=" + next_url)
    return client.post("/login", data={"username": username, "password": password, "next": next_url,
                                       "csrf_token": csrf_of(form, "login-form")}, headers=HTML, follow_redirects=False)


def signed_in(client: TestClient, passwords: dict[str, str], username: str) -> None:
    resp = web_login(client, username, passwords[username])
    assert resp.status_code == 303, resp.text[:500]


def number_in(body: str, element_id: str) -> int:
    m = re.search(rf'id="{element_id}".*?<b[^>]*>([\d,]+)</b>', body, re.S)
    assert m, f"no figure in #{element_id}"
    return int(m.group(1).replace(",", ""))


def result_count(body: str) -> int:
    m = re.search(r'<b id="result-count">(\d+)</b>', body)
    assert m
    return int(m.group(1))


def dataset_of(department: str) -> dict[str, Any]:
    found = call_as(None, "dataset_search", {"filters": {"organization": [department]}, "rows": 1})
    assert found["results"], department
    result: dict[str, Any] = found["results"][0]
    return result


def form_payload(**over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": unique("web"), "title": "网页表单登记的测试数据", "title_en": "Form test data",
        "department": "gz-transport", "catalog_type": "部门", "class_item": "02", "class_category": "001",
        "class_sub": "", "abstract": "通过门户表单登记的测试数据资源,用来验证表单、校验与错误提示是否正确显示。",
        "format": "电子表格", "sharing_class": "无条件共享", "sharing_method": ["接口", "文件下载"],
        "sharing_condition": "", "sharing_basis": "", "opening_class": "无条件开放", "opening_condition": "",
        "update_cycle": "每月", "published_on": "2021-03-01", "theme": "transport", "tags": "公交, 测试",
        "license_id": "cc-by-4.0", "temporal_start": "2020-01-01", "temporal_end": "",
        "districts": ["天河区", "海珠区"], "contact_name": "张三", "contact_email": "zhang@example.gov.cn",
        "contact_phone": "020-12345678", "related_codes": "",
        # data items as form rows (one value per row in each list)
        "item_name": ["线路名称", "站点数"], "item_type": ["string", "integer"], "item_length": ["", ""],
        "item_description": ["公交线路名称", "站点数量"],
    }
    data.update(over)
    return data


def exists(name: str) -> bool:
    from cityhub.errors import NotFound

    try:
        call_as("system", "dataset_show", {"id": name})
    except NotFound:
        return False
    return True


# -- public pages ------------------------------------------------------------------------------------------------


def test_home_shows_live_indicators(app_client: TestClient) -> None:
    before = call_as(None, "portal_stats", {})
    body = page(app_client, "/")
    after = call_as(None, "portal_stats", {})
    assert "开放广州" in body and "Open Guangzhou" in body
    assert number_in(body, "ind-open") == before["open_datasets"] > 0
    assert f"/ 目标 {before['open_target']:,}" in body
    assert f"{before['open_progress']}%" in body
    assert number_in(body, "ind-plan") == before["departments_with_plan"]
    assert f"{before['plan_share']}%" in body
    for element, key in (("ind-downloads", "month_downloads"), ("ind-api", "month_api_calls"),
                         ("ind-views", "month_views")):
        assert before[key] <= number_in(body, element) <= after[key], element
    assert number_in(body, "ind-overdue") == before["overdue_datasets"]
    assert number_in(body, "ind-quality") == before["average_quality"]
    # the search box, newest and most-used lists and the theme grid
    assert 'action="/dataset"' in body and 'name="q"' in body
    for d in before["newest"][:3] + before["most_used"][:3]:
        assert f'href="/dataset/{d["name"]}"' in body
    transport = next(t for t in before["themes"] if t["slug"] == "transport")
    assert re.search(r'href="/dataset\?theme=transport">.*?' + str(transport["count"]) + " 个数据集", body, re.S)


def test_search_lists_transport_datasets_with_facets(app_client: TestClient) -> None:
    expected = call_as(None, "dataset_search", {"q": "交通", "rows": 20, "facet_fields": ["organization", "theme"]})
    body = page(app_client, "/dataset?q=交通")
    assert f'<b id="result-count">{expected["count"]}</b>' in body
    assert expected["count"] >= 3
    for d in expected["results"]:
        assert f'href="/dataset/{d["name"]}"' in body
    assert "地铁车站日客流量" in body or "公交线路信息" in body
    org = {f["name"]: f["count"] for f in expected["facets"]["organization"]}
    m = re.search(r'organization=gz-transport"[^>]*>\s*<span class="facet-name">[^<]*</span><span class="count">(\d+)<',
                  body)
    assert m and int(m.group(1)) == org["gz-transport"]


def test_facet_filter_narrows_results(app_client: TestClient) -> None:
    everything = call_as(None, "dataset_search", {"q": "交通", "facet_fields": ["theme"]})
    transport = next(f["count"] for f in everything["facets"]["theme"] if f["name"] == "transport")
    assert transport < everything["count"]
    body = page(app_client, "/dataset?q=交通&theme=transport")
    assert f'<b id="result-count">{transport}</b>' in body
    assert "公共安全" not in re.sub(r'<aside.*?</aside>', "", body, flags=re.S)  # no other theme in the cards
    # the active filter can be removed again
    assert 'class="chip" href="/dataset?q=%E4%BA%A4%E9%80%9A"' in body
    both = page(app_client, "/dataset?q=交通&theme=transport&res_format=XLSX")
    assert result_count(both) < transport


def test_dataset_page_shows_metadata_quality_and_resources(app_client: TestClient) -> None:
    ds = call_as(None, "dataset_show", {"id": "traffic-accident-statistics"})
    body = page(app_client, "/dataset/traffic-accident-statistics")
    assert ds["code"] in body and ds["title"] in body
    assert f'<b id="quality-score">{ds["quality"]["score"]}</b>' in body
    assert body.count('class="mark"') == 9
    for r in ds["resources"]:  # listed; conditionally open, so no download (test_conditionally_open_dataset_page_…)
        assert f'href="/dataset/{ds["name"]}/resource/{r["id"]}"' in body
    for item in ds["data_items"]:
        assert html.escape(item["name"]) in body
    assert f"curl 'http://127.0.0.1:8000/api/3/action/package_show?id={ds['name']}'" in html.unescape(body)
    # the examples name the address the page was asked at, not the default base URL
    other = app_client.get(f"/dataset/{ds['name']}", headers={"Host": "data.example.gov.cn:8765"}).text
    assert f"curl 'http://data.example.gov.cn:8765/api/3/action/package_show?id={ds['name']}'" in html.unescape(other)
    assert f"/api/v1/datasets/{ds['name']}" in body
    assert "更新记录" in body and "添加资源文件" in body
    assert 'id="steward-actions"' not in body  # anonymous visitors get no edit buttons


def test_download_returns_the_file(app_client: TestClient) -> None:
    found = call_as(None, "dataset_search", {"filters": {"opening_class": "无条件开放", "res_format": "CSV"},
                                            "rows": 50, "full": True})["results"]
    ds, res = next((d, r) for d in found for r in d["resources"]
                   if r["uploaded"] and r["format"] == "CSV" and not r["name"].isascii()  # a demo file's name
                   and (d["published_on"] or "") <= "2026-01-01")
    resp = app_client.get(f"/dataset/{ds['name']}/resource/{res['id']}/download")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/csv")
    assert len(resp.content) == res["size"] > 0
    disposition = resp.headers["content-disposition"]
    assert disposition.startswith("attachment") and "filename*=utf-8''" in disposition.lower()


def test_conditionally_open_file_needs_an_approved_application(app_client: TestClient) -> None:
    """Issue 9: 有条件开放 data was served to anyone; now the download says what it takes."""
    ds = call_as(None, "dataset_show", {"id": "traffic-accident-statistics"})
    assert ds["opening_class"] == "有条件开放"
    resp = app_client.get(f"/dataset/{ds['name']}/resource/{ds['resources'][0]['id']}/download")
    assert resp.status_code == 403 and "有条件开放" in resp.text


def test_conditionally_open_dataset_page_offers_no_download(app_client: TestClient,
                                                             demo_passwords: dict[str, str]) -> None:
    """The public sees the metadata and why the data is not theirs, and no download, preview or data package
    button that would only answer 403; the owning department (here the data office) keeps them."""
    ds = call_as(None, "dataset_show", {"id": "traffic-accident-statistics"})
    assert ds["data_access"]["status"] == 403
    body = page(app_client, f"/dataset/{ds['name']}")
    assert 'id="data-refusal"' in body and "有条件开放" in body
    assert "/download" not in body and 'id="datapackage-zip"' not in body and 'class="btn btn-ghost preview"' not in body
    english = page(app_client, f"/dataset/{ds['name']}?lang=en")
    refusal = english[english.index('id="data-refusal"'):]
    assert "conditionally open" in refusal[:400].lower()
    signed_in(app_client, demo_passwords, "admin")  # the data office sees every department's data
    own = page(app_client, f"/dataset/{ds['name']}")
    assert 'id="data-refusal"' not in own and f"/resource/{ds['resources'][0]['id']}/download" in own
    assert call_as("admin", "dataset_show", {"id": ds["name"]})["data_access"] is None


def test_missing_pages_get_an_html_error(app_client: TestClient) -> None:
    body = page(app_client, "/dataset/no-such-dataset", status=404)
    assert "<html" in body and "未找到数据资源" in body


def test_english_switch_changes_labels_and_sticks(app_client: TestClient) -> None:
    zh = page(app_client, "/")
    assert "开放数据集" in zh and "Open datasets" not in zh
    resp = app_client.get("/?lang=en", headers=HTML)
    assert resp.status_code == 200
    assert "Open datasets" in resp.text and "Browse by theme" in resp.text
    assert 'lang="en"' in resp.text
    assert resp.cookies.get("cityhub_lang") == "en"
    again = page(app_client, "/dataset?q=交通")  # no ?lang: the cookie keeps English
    assert "results" in again and "Filters" in again
    back = app_client.get("/dataset?lang=zh", headers=HTML)
    assert "筛选" in back.text


def test_organization_and_plans_pages(app_client: TestClient) -> None:
    depts = call_as(None, "department_list", {})
    body = page(app_client, "/organization")
    assert all(html.escape(d["name"]) in body for d in depts)
    dept = next(d for d in depts if d["slug"] == "gz-transport")
    body = page(app_client, "/organization/gz-transport")
    assert dept["uscc"] in body and f"({dept['dataset_count']})" in body
    plans = call_as(None, "plan_list", {"department": "gz-transport"})
    body = page(app_client, "/plans?department=gz-transport")
    assert f'<b id="sum-opened">{plans["summary"].get("opened", 0)}</b>' in body
    assert f'<b id="sum-late">{plans["summary"].get("late", 0)}</b>' in body
    if plans["summary"].get("late"):
        assert 'class="badge bad">逾期' in body


# -- sign-in ------------------------------------------------------------------------------------------------------


def test_login_wrong_password_shows_error(app_client: TestClient) -> None:
    resp = web_login(app_client, "steward", "definitely-not-the-password")
    assert resp.status_code == 401
    assert "用户名或密码错误" in resp.text and 'id="login-error"' in resp.text
    assert 'value="steward"' in resp.text  # the user name is kept
    assert "cityhub_session" not in resp.cookies


def test_login_throttled_shows_message(demo: Any) -> None:
    from cityhub.web.app import create_app

    name = unique("locked")
    call_as("system", "user_create", {"name": name, "password": "Correct-Horse-Battery-9", "role": "public"})
    with TestClient(create_app(), base_url="http://127.0.0.1:8000", client=("10.9.8.7", 5000)) as client:
        statuses = [web_login(client, name, "wrong-password-123").status_code for _ in range(6)]
        assert statuses[:5] == [401] * 5
        resp = web_login(client, name, "Correct-Horse-Battery-9")
    assert resp.status_code == 429
    assert "登录失败次数过多" in resp.text and resp.headers.get("retry-after")


def test_login_sets_session_and_edit_buttons_follow_department(app_client: TestClient,
                                                              demo_passwords: dict[str, str]) -> None:
    own = dataset_of("gz-transport")
    other = dataset_of("gz-public-security")
    resp = web_login(app_client, "steward", demo_passwords["steward"], next_url=f"/dataset/{own['name']}")
    assert resp.status_code == 303
    assert resp.headers["location"] == f"/dataset/{own['name']}"
    assert resp.cookies.get("cityhub_session")
    body = page(app_client, f"/dataset/{own['name']}")
    assert 'id="steward-actions"' in body and f'href="/dataset/{own["name"]}/edit"' in body
    body = page(app_client, f"/dataset/{other['name']}")
    assert 'id="steward-actions"' not in body
    assert page(app_client, f"/dataset/{other['name']}/edit", status=403)
    # sign out with the CSRF token ends the session
    resp = app_client.post("/logout", data={"csrf_token": csrf_of(body)}, headers=HTML, follow_redirects=False)
    assert resp.status_code == 303
    assert 'id="steward-actions"' not in page(app_client, f"/dataset/{own['name']}")


def test_login_next_must_be_local(app_client: TestClient, demo_passwords: dict[str, str]) -> None:
    for evil in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        resp = web_login(app_client, "analyst", demo_passwords["analyst"], next_url=evil)
        assert resp.status_code == 303 and resp.headers["location"] == "/", evil


def test_login_form_needs_its_token(app_client: TestClient, demo_passwords: dict[str, str]) -> None:
    resp = app_client.post("/login", data={"username": "analyst", "password": demo_passwords["analyst"]},
                           headers=HTML, follow_redirects=False)
    assert resp.status_code == 400 and "cityhub_session" not in resp.cookies


# -- steward forms ------------------------------------------------------------------------------------------------


def test_post_without_csrf_is_refused(app_client: TestClient, demo_passwords: dict[str, str]) -> None:
    signed_in(app_client, demo_passwords, "steward")
    data = form_payload()
    resp = app_client.post("/dataset/new", data=data, headers=HTML)
    assert resp.status_code == 401 and "CSRF" in resp.text
    resp = app_client.post("/dataset/new", data={**data, "csrf_token": "forged"}, headers=HTML)
    assert resp.status_code == 401
    assert not exists(data["name"])
    assert app_client.post("/logout", headers=HTML).status_code == 401


def test_conditional_sharing_without_basis_is_shown_and_nothing_created(
        app_client: TestClient, demo_passwords: dict[str, str]) -> None:
    signed_in(app_client, demo_passwords, "steward")
    form = page(app_client, "/dataset/new")
    assert '<option value="gz-transport" selected>' in form
    assert 'value="gz-ecology-environment"' not in form  # only the steward's own department
    data = form_payload(sharing_class="有条件共享", sharing_condition="仅限交通管理部门使用", sharing_basis="")
    resp = app_client.post("/dataset/new", data={**data, "csrf_token": csrf_of(form)}, headers=HTML)
    assert resp.status_code == 422
    assert "须注明法律法规或政策依据" in resp.text
    assert re.search(r'id="err-sharing_basis">\s*<li>[^<]*依据', resp.text)
    assert f'value="{data["name"]}"' in resp.text and "仅限交通管理部门使用" in resp.text  # input kept
    assert not exists(data["name"])


def test_script_in_abstract_is_refused(app_client: TestClient, demo_passwords: dict[str, str]) -> None:
    signed_in(app_client, demo_passwords, "steward")
    token = csrf_of(page(app_client, "/dataset/new"))
    data = form_payload(abstract="正常的摘要文字很长很长很长<script>alert(1)</script>")
    resp = app_client.post("/dataset/new", data={**data, "csrf_token": token}, headers=HTML)
    assert resp.status_code == 422 and "含有脚本" in resp.text
    assert "<script>alert(1)" not in resp.text  # the kept input is escaped
    assert not exists(data["name"])
    data = form_payload(abstract="说明文字足够长足够长。[x](javascript:alert(1))")
    resp = app_client.post("/dataset/new", data={**data, "csrf_token": token}, headers=HTML)
    assert resp.status_code == 422 and not exists(data["name"])


def test_javascript_links_never_render(app_client: TestClient, demo_passwords: dict[str, str]) -> None:
    signed_in(app_client, demo_passwords, "steward")
    token = csrf_of(page(app_client, "/dataset/new"))
    abstract = ("数据说明足够长,包含几个链接:[a](javascript&#58;alert(1)) [b](JaVaScRiPt%3Aalert(2)) "
                "[c](https://www.gz.gov.cn/) **粗体**")
    data = form_payload(abstract=abstract)
    resp = app_client.post("/dataset/new", data={**data, "csrf_token": token}, headers=HTML, follow_redirects=False)
    assert resp.status_code == 303, resp.text[:800]
    body = page(app_client, f"/dataset/{data['name']}")
    abstract_html = re.search(r'<div class="prose" id="abstract">(.*?)</div>', body, re.S).group(1)  # type: ignore[union-attr]
    assert "<strong>粗体</strong>" in abstract_html
    assert 'href="https://www.gz.gov.cn/" rel="noopener noreferrer nofollow"' in abstract_html
    assert not re.search(r"href\s*=\s*[\"']?\s*javascript", abstract_html, re.I)
    for href in re.findall(r'href="([^"]*)"', body):
        decoded = unquote(html.unescape(href)).strip().lower()
        assert not decoded.startswith(("javascript", "vbscript", "data:")), href


def test_markdown_renderer_is_safe() -> None:
    from cityhub.web.markdown import plain, render

    out = str(render("[x](javascript:alert(1)) <img src=x onerror=alert(1)> <b>raw</b>\n\n# Title"))
    assert "javascript:" not in out.replace("[x](javascript:alert(1))", "")
    assert "<img" not in out and "<b>" not in out and "&lt;b&gt;" in out
    assert "<h3>Title</h3>" in out
    assert plain("**a** [b](https://x.y)", 10) == "a b"


def test_steward_creates_edits_uploads_and_deletes(app_client: TestClient, demo_passwords: dict[str, str]) -> None:
    signed_in(app_client, demo_passwords, "steward")
    token = csrf_of(page(app_client, "/dataset/new"))
    data = form_payload()
    resp = app_client.post("/dataset/new", data={**data, "csrf_token": token}, headers=HTML, follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"] == f"/dataset/{data['name']}"
    created = call_as("system", "dataset_show", {"id": data["name"]})
    assert created["tags"] == ["公交", "测试"] and created["districts"] == ["天河区", "海珠区"]
    assert [i["name"] for i in created["data_items"]] == ["线路名称", "站点数"]
    assert created["sharing_method"] == ["接口", "文件下载"]

    edit = page(app_client, f"/dataset/{data['name']}/edit")
    assert 'value="网页表单登记的测试数据"' in edit
    assert re.search(r'name="item_name" value="线路名称".*?<option value="string" selected>.*?'
                     r'name="item_description" value="公交线路名称"', edit, re.S)
    resp = app_client.post(f"/dataset/{data['name']}/edit", data={**data, "title": "改过标题的测试数据",
                                                                    "csrf_token": token},
                           headers=HTML, follow_redirects=False)
    assert resp.status_code == 303
    history = call_as("system", "dataset_history", {"id": data["name"]})
    assert set(history[0]["changes"]) == {"title"}  # only the changed field was sent

    csv = "线路名称,站点数\n1路,20\n2路,18\n".encode("gb18030")
    resp = app_client.post(f"/dataset/{data['name']}/resource/new",
                           data={"csrf_token": token, "name": "线路表", "description": "测试上传", "format": ""},
                           files={"file": ("线路.csv", csv, "text/csv")}, headers=HTML, follow_redirects=False)
    assert resp.status_code == 303, resp.text[:500]
    res = call_as("system", "dataset_show", {"id": data["name"]})["resources"][0]
    assert res["format"] == "CSV" and res["size"] == len(csv)
    got = app_client.get(f"/dataset/{data['name']}/resource/{res['id']}/download")
    assert got.content == csv

    resp = app_client.post(f"/dataset/{data['name']}/resource/new", data={"csrf_token": token, "url": "javascript:alert(1)"},
                           headers=HTML)
    assert resp.status_code == 422 and "ftp://" in resp.text and "javascript:alert" not in resp.text.split("<form")[0]

    assert "确认删除" in page(app_client, f"/dataset/{data['name']}/delete")
    resp = app_client.post(f"/dataset/{data['name']}/delete", data={"csrf_token": token}, headers=HTML,
                           follow_redirects=False)
    assert resp.status_code == 303 and not exists(data["name"])


def test_plan_edit_and_tokens(app_client: TestClient, demo_passwords: dict[str, str]) -> None:
    signed_in(app_client, demo_passwords, "steward")
    own = dataset_of("gz-transport")
    form = page(app_client, "/plans/gz-transport/2031/edit")
    rows = {"item_title": ["开放公交测试数据", "未来的测试数据"], "item_dataset": [own["name"], ""],
            "item_target_date": ["2031-06-30", "2031-12-31"], "item_format": ["电子表格", "接口"],
            "item_update_cycle": ["每月", "每年"]}
    resp = app_client.post("/plans/gz-transport/2031/edit", data={
        "csrf_token": csrf_of(form), "published_on": "2031-01-15", "note": "测试计划", **rows},
        headers=HTML, follow_redirects=False)
    assert resp.status_code == 303
    body = page(app_client, "/plans?department=gz-transport&year=2031")
    assert "开放公交测试数据" in body and "计划中" in body and "已开放" in body
    resp = app_client.post("/plans/gz-transport/2031/edit", data={
        "csrf_token": csrf_of(form), "item_title": ["坏日期"], "item_dataset": [""],
        "item_target_date": ["2031-13-45"], "item_format": ["电子表格"], "item_update_cycle": ["每年"]},
        headers=HTML)
    assert resp.status_code == 422 and 'value="坏日期"' in resp.text  # the row is kept
    assert "第1行 · 计划开放日期: 日期格式应为 YYYY-MM-DD" in resp.text
    assert page(app_client, "/plans/gz-ecology-environment/2031/edit", status=403)

    account = page(app_client, "/account")
    assert "交通局数据专员" in account
    resp = app_client.post("/account/tokens", data={"csrf_token": csrf_of(account), "name": "网页令牌",
                                                    "days": "30"}, headers=HTML)
    assert resp.status_code == 200
    token = re.search(r'<pre id="token-value"><code>([^<]+)</code>', resp.text).group(1)  # type: ignore[union-attr]
    assert token.startswith("ch_")
    assert token not in page(app_client, "/account")  # shown once
    api = app_client.get("/api/v1/tokens", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 200
    token_id = next(t["id"] for t in api.json() if t["name"] == "网页令牌")
    resp = app_client.post(f"/account/tokens/{token_id}/revoke", data={"csrf_token": csrf_of(account)},
                           headers=HTML, follow_redirects=False)
    assert resp.status_code == 303
    assert app_client.get("/api/v1/tokens", headers={"Authorization": f"Bearer {token}"}).status_code == 401


# -- admin ---------------------------------------------------------------------------------------------------------


def test_admin_department_with_bad_credit_code(app_client: TestClient, demo_passwords: dict[str, str]) -> None:
    signed_in(app_client, demo_passwords, "admin")
    form = page(app_client, "/admin/departments")
    slug = unique("gz-test")
    resp = app_client.post("/admin/departments", data={
        "csrf_token": csrf_of(form), "slug": slug, "name": "广州市测试局", "short_name": "测试局",
        "uscc": "11440100MA5C0A0A0X", "level": "市"}, headers=HTML)
    assert resp.status_code == 422
    assert re.search(r'id="err-uscc">\s*<li>统一社会信用代码', resp.text)
    assert 'value="广州市测试局"' in resp.text
    assert page(app_client, f"/organization/{slug}", status=404)


def test_admin_users_and_audit(app_client: TestClient, demo_passwords: dict[str, str]) -> None:
    signed_in(app_client, demo_passwords, "admin")
    form = page(app_client, "/admin/users")
    name = unique("clerk")
    resp = app_client.post("/admin/users", data={"csrf_token": csrf_of(form), "name": name, "role": "steward",
                                                 "department": "", "password": "Long-Enough-Pass-77"}, headers=HTML)
    assert resp.status_code == 422 and "部门角色须指定部门" in resp.text
    resp = app_client.post("/admin/users", data={"csrf_token": csrf_of(form), "name": name, "role": "steward",
                                                 "department": "gz-water", "password": "Long-Enough-Pass-77"},
                           headers=HTML)
    assert resp.status_code == 200 and f"<code translate=\"no\">{name}</code>" in resp.text
    body = page(app_client, "/admin/audit?verify=1")
    assert 'id="verify-result"' in body and "审计链完整" in body
    assert "user_create" in body


@pytest.mark.parametrize("url", ["/admin/departments", "/admin/users", "/admin/audit"])
def test_admin_pages_refuse_others(app_client: TestClient, demo_passwords: dict[str, str], url: str) -> None:
    resp = app_client.get(url, headers=HTML, follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"].startswith("/login?next=")
    signed_in(app_client, demo_passwords, "analyst")
    page(app_client, url, status=403)
