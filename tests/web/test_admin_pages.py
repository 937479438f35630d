"""The administration pages: departments, users, the audit log and harvest sources, as the platform admin, a
department admin, a steward and a visitor; forms, refusals, CSRF, the audit filters, keyset paging and export."""

from __future__ import annotations

import csv
import io
import json
import re
import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import call_as, token_for, unique
from tests.web.test_pages import HTML, csrf_of, page, signed_in

PASSWORD = "Long-Enough-Pass-77"


def new_user(role: str = "steward", department: str | None = "gz-transport") -> str:
    name = unique("clerk")
    call_as("system", "user_create", {"name": name, "display_name": "测试用户", "role": role,
                                      "department": department, "password": PASSWORD})
    return name


def api_login(client: TestClient, name: str, password: str, **extra: str) -> int:
    resp = client.post("/api/v1/session", json={"username": name, "password": password, **extra})
    client.cookies.clear()
    return resp.status_code


# -- departments ----------------------------------------------------------------------------------------------


def test_admin_edits_a_department_and_sees_field_errors(app_client: TestClient,
                                                         demo_passwords: dict[str, str]) -> None:
    signed_in(app_client, demo_passwords, "admin")
    listing = page(app_client, "/admin/departments")
    assert 'href="/admin/departments/gz-water/edit"' in listing
    before = call_as(None, "department_show", {"slug": "gz-water"})
    form = page(app_client, "/admin/departments/gz-water/edit")
    assert f'value="{before["uscc"]}"' in form
    data = {"csrf_token": csrf_of(form, "department-edit-form"), **{k: before[k] or "" for k in (
        "name", "short_name", "name_en", "uscc", "level", "district", "description", "contact_name",
        "contact_phone", "contact_email")}}
    bad = app_client.post("/admin/departments/gz-water/edit", data={**data, "uscc": "11440100MA5C0A0A0X",
                                                                     "contact_phone": "call me"}, headers=HTML)
    assert bad.status_code == 422
    assert re.search(r'id="err-uscc">\s*<li>统一社会信用代码', bad.text)
    assert 'id="err-contact_phone"' in bad.text and "格式不正确" in bad.text
    assert call_as(None, "department_show", {"slug": "gz-water"})["uscc"] == before["uscc"]  # nothing stored
    bad_en = app_client.post("/admin/departments/gz-water/edit?lang=en", data={**data, "contact_phone": "call me"},
                             headers=HTML)
    assert bad_en.status_code == 422 and "Wrong format" in bad_en.text
    ok = app_client.post("/admin/departments/gz-water/edit",
                         data={**data, "name_en": "Guangzhou Water Authority (edited)", "contact_name": "王工"},
                         headers=HTML, follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"] == "/admin/departments?updated=gz-water"
    after = call_as(None, "department_show", {"slug": "gz-water"})
    assert after["name_en"] == "Guangzhou Water Authority (edited)" and after["contact_name"] == "王工"
    assert after["name"] == before["name"]
    assert 'id="flash"' in page(app_client, "/admin/departments?updated=gz-water")
    audit = call_as("admin", "audit_list", {"action": "department_update", "limit": 1})[0]
    assert audit["actor"] == "admin" and audit["outcome"] == "success"


def test_dept_admin_edits_only_the_contact_fields_of_their_own_department(
        app_client: TestClient, demo_passwords: dict[str, str]) -> None:
    signed_in(app_client, demo_passwords, "deptadmin")
    listing = page(app_client, "/admin/departments")
    assert "/admin/departments/gz-transport/edit" in listing and "/admin/departments/gz-water/edit" not in listing
    assert 'id="department-form"' not in listing  # no "create a department" form
    form = page(app_client, "/admin/departments/gz-transport/edit")
    assert re.search(r'<input id="f-name" value="[^"]*" disabled>', form)  # names: the data office's
    assert 'name="contact_email"' in form and 'name="uscc"' not in form
    page(app_client, "/admin/departments/gz-water/edit", status=403)  # refused before the form
    token = csrf_of(form, "department-edit-form")
    resp = app_client.post("/admin/departments/gz-transport/edit", headers=HTML, follow_redirects=False,
                           data={"csrf_token": token, "contact_email": "data@jtj.gz.gov.cn", "name": "改名"})
    assert resp.status_code == 303  # the forged "name" field is not sent to the action
    dept = call_as(None, "department_show", {"slug": "gz-transport"})
    assert dept["contact_email"] == "data@jtj.gz.gov.cn" and dept["name"] != "改名"
    other = app_client.post("/admin/departments/gz-water/edit", headers=HTML,
                            data={"csrf_token": token, "contact_email": "x@example.org"})
    assert other.status_code == 403
    assert app_client.post("/admin/departments", headers=HTML, data={
        "csrf_token": token, "slug": unique("gz"), "name": "某局", "short_name": "某",
        "uscc": "11440100MA5C0A0A0X"}).status_code == 403


@pytest.mark.parametrize("who", ["steward", "analyst"])
def test_stewards_and_analysts_get_no_admin_page(app_client: TestClient, demo_passwords: dict[str, str],
                                                 who: str) -> None:
    signed_in(app_client, demo_passwords, who)
    for url in ("/admin/departments", "/admin/users", "/admin/departments/gz-transport/edit",
                "/admin/users/steward/edit", "/admin/users/steward/disable", "/admin/audit",
                "/admin/audit/export.csv", "/admin/harvest", "/admin/harvest/new"):
        page(app_client, url, status=403)


# -- users ------------------------------------------------------------------------------------------------------


def test_user_list_filters(app_client: TestClient, demo_passwords: dict[str, str]) -> None:
    disabled = new_user("analyst", "gz-water")
    call_as("admin", "user_disable", {"name": disabled})
    signed_in(app_client, demo_passwords, "admin")
    body = page(app_client, "/admin/users?department=gz-water&role=analyst&state=disabled")
    assert f'id="user-{disabled}"' in body and 'id="user-steward"' not in body
    body = page(app_client, "/admin/users?role=steward&state=active")
    assert 'id="user-steward"' in body and f'id="user-{disabled}"' not in body
    assert 'id="user-admin"' not in body
    body = page(app_client, "/admin/users?department=")
    assert 'id="user-admin"' in body and 'id="user-steward"' not in body  # the admin has no department


def test_admin_edits_disables_enables_and_resets(app_client: TestClient, demo_passwords: dict[str, str]) -> None:
    name = new_user()
    signed_in(app_client, demo_passwords, "admin")
    form = page(app_client, f"/admin/users/{name}/edit")
    token = csrf_of(form, "user-edit-form")
    bad = app_client.post(f"/admin/users/{name}/edit", headers=HTML, data={
        "csrf_token": token, "role": "steward", "department": "", "display_name": "x", "email": "no-at-sign"})
    assert bad.status_code == 422 and 'id="err-email"' in bad.text
    resp = app_client.post(f"/admin/users/{name}/edit", headers=HTML, follow_redirects=False, data={
        "csrf_token": token, "role": "analyst", "department": "gz-water", "display_name": "水务分析员",
        "email": "a@example.org"})
    assert resp.status_code == 303
    user = call_as("system", "user_show", {"name": name})
    assert (user["role"], user["department"], user["display_name"]) == ("analyst", "gz-water", "水务分析员")

    confirm = page(app_client, f"/admin/users/{name}/disable")
    assert 'id="confirm-form"' in confirm and call_as("system", "user_show", {"name": name})["active"]
    resp = app_client.post(f"/admin/users/{name}/disable", data={"csrf_token": csrf_of(confirm)}, headers=HTML,
                           follow_redirects=False)
    assert resp.status_code == 303 and not call_as("system", "user_show", {"name": name})["active"]
    assert api_login(TestClient(app_client.app), name, PASSWORD) == 401
    resp = app_client.post(f"/admin/users/{name}/enable", data={"csrf_token": token}, headers=HTML,
                           follow_redirects=False)
    assert resp.status_code == 303 and call_as("system", "user_show", {"name": name})["active"]

    confirm = page(app_client, f"/admin/users/{name}/reset-password")
    resp = app_client.post(f"/admin/users/{name}/reset-password", data={"csrf_token": csrf_of(confirm)}, headers=HTML)
    assert resp.status_code == 200 and "no-store" in resp.headers["cache-control"]
    secret = re.search(r'id="temporary-password" translate="no">([^<]+)<', resp.text)
    assert secret
    other = TestClient(app_client.app, base_url="http://127.0.0.1:8000")
    assert api_login(other, name, PASSWORD) == 401  # the old password is gone
    assert api_login(other, name, secret.group(1), new_password="A-brand-new-passphrase-42") == 200
    assert api_login(other, name, "A-brand-new-passphrase-42") == 200


def test_admin_cannot_disable_or_reset_themself(app_client: TestClient, demo_passwords: dict[str, str]) -> None:
    signed_in(app_client, demo_passwords, "admin")
    body = page(app_client, "/admin/users")
    row = re.search(r'<tr id="user-admin">.*?</tr>', body, re.S)
    assert row and "/admin/users/admin/edit" in row.group(0) and "/disable" not in row.group(0)
    page(app_client, "/admin/users/admin/disable", status=403)


def test_dept_admin_manages_only_their_departments_members(app_client: TestClient,
                                                           demo_passwords: dict[str, str]) -> None:
    mine = new_user("steward", "gz-transport")
    theirs = new_user("steward", "gz-water")
    signed_in(app_client, demo_passwords, "deptadmin")
    body = page(app_client, "/admin/users")
    assert f'id="user-{mine}"' in body and f'id="user-{theirs}"' not in body
    row = re.search(r'<tr id="user-deptadmin">.*?</tr>', body, re.S)
    assert row and "/edit" not in row.group(0)  # themself: nothing to offer
    assert 'name="department"' in body and 'value="gz-water"' not in body  # create: own department only
    assert '<option value="platform_admin"' not in body.split('id="user-form"')[1]
    form = page(app_client, f"/admin/users/{mine}/edit")
    assert '<option value="dept_admin"' not in form
    page(app_client, f"/admin/users/{theirs}/edit", status=403)
    page(app_client, f"/admin/users/{theirs}/disable", status=403)
    page(app_client, "/admin/users/admin/reset-password", status=403)
    token = csrf_of(form, "user-edit-form")
    for url in (f"/admin/users/{theirs}/disable", f"/admin/users/{theirs}/reset-password",
                f"/admin/users/{theirs}/edit", "/admin/users/admin/disable"):
        assert app_client.post(url, data={"csrf_token": token, "role": "steward"}, headers=HTML).status_code == 403
    assert call_as("system", "user_show", {"name": theirs})["active"]
    forged = app_client.post(f"/admin/users/{mine}/edit", headers=HTML, data={
        "csrf_token": token, "role": "platform_admin", "department": "gz-transport", "display_name": "x",
        "email": ""})
    assert forged.status_code == 403 and call_as("system", "user_show", {"name": mine})["role"] == "steward"
    resp = app_client.post(f"/admin/users/{mine}/disable", data={"csrf_token": token}, headers=HTML,
                           follow_redirects=False)
    assert resp.status_code == 303 and not call_as("system", "user_show", {"name": mine})["active"]


def test_writes_without_the_csrf_token_are_refused(app_client: TestClient, demo_passwords: dict[str, str]) -> None:
    name = new_user()
    signed_in(app_client, demo_passwords, "admin")
    for url, data in ((f"/admin/users/{name}/disable", {}), (f"/admin/users/{name}/reset-password", {}),
                      (f"/admin/users/{name}/edit", {"role": "analyst"}),
                      ("/admin/departments/gz-water/edit", {"name_en": "forged"}),
                      ("/admin/harvest/new", {"name": unique("src")})):
        for token in (None, "wrong"):
            body = {**data, **({"csrf_token": token} if token else {})}
            assert app_client.post(url, data=body, headers=HTML).status_code == 401, url
    user = call_as("system", "user_show", {"name": name})
    assert user["active"] and user["role"] == "steward" and not user["must_change_password"]
    assert call_as(None, "department_show", {"slug": "gz-water"})["name_en"] != "forged"
    denial = call_as("admin", "audit_list", {"action": "csrf_check", "limit": 1})[0]
    assert denial["outcome"] == "denied" and denial["actor"] == "admin"


# -- audit log ----------------------------------------------------------------------------------------------------


def test_audit_filters_and_keyset_paging(app_client: TestClient, demo_passwords: dict[str, str]) -> None:
    marker = unique("nobody")
    for _ in range(3):
        assert api_login(TestClient(app_client.app), marker, "wrong password") == 401
    signed_in(app_client, demo_passwords, "admin")
    body = page(app_client, f"/admin/audit?action=session_create&outcome=failure&target={marker}")
    assert len(re.findall(r'data-seq="\d+"', body)) == 3 and body.count(f'class="target" translate="no">{marker}<') == 3
    assert "登录" in body and "失败" in body  # the action and outcome as people say them
    english = page(app_client, f"/admin/audit?action=session_create&outcome=failure&target={marker}&lang=en")
    assert "Sign in" in english and "failed" in english
    assert 'id="audit-empty"' in page(app_client, f"/admin/audit?target={marker}&outcome=success")
    assert 'id="audit-empty"' in page(app_client, f"/admin/audit?target={marker}&since=2001-01-01&until=2001-01-02")
    api = TestClient(app_client.app).get("/api/v1/audit", params={"target": marker, "outcome": "failure",
                                                                  "since": "2001-01-01T00:00:00Z"},
                                         headers={"Authorization": f"Bearer {token_for('admin')}"})
    assert api.status_code == 200 and [r["target"] for r in api.json()] == [marker] * 3
    top = api.json()[0]["seq"]
    assert [r["seq"] for r in TestClient(app_client.app).get(
        "/api/v1/audit", params={"target": marker, "before_seq": top},
        headers={"Authorization": f"Bearer {token_for('admin')}"}).json()] == [r["seq"] for r in api.json()[1:]]
    bad = app_client.get("/admin/audit?since=yesterday", headers=HTML)
    assert bad.status_code == 422 and 'id="err-since"' in bad.text

    # page through everything older than now, 50 at a time, while records keep being appended
    newest = call_as("admin", "audit_list", {"limit": 1})[0]["seq"]
    expected = [r["seq"] for r in call_as("admin", "audit_list", {"limit": 1000, "before_seq": newest + 1})][:180]
    seen: list[int] = []
    url = f"/admin/audit?before={newest + 1}"
    while len(seen) < len(expected):
        call_as("system", "department_update", {"slug": "gz-water", "description": unique("d")})  # a new record
        body = page(app_client, url)
        seqs = [int(s) for s in re.findall(r'data-seq="(\d+)"', body)]
        assert seqs == sorted(seqs, reverse=True) and len(seqs) == 50
        seen += seqs
        older = re.search(r'id="page-older" href="([^"]+)"', body) or re.search(r'href="([^"]+)" id="page-older"', body)
        assert older
        url = older.group(1).replace("&amp;", "&")
    assert seen[:len(expected)] == expected  # nothing skipped, nothing repeated
    back = re.search(r'href="([^"]+)" id="page-newer"', body)
    assert back
    newer = [int(s) for s in re.findall(r'data-seq="(\d+)"', page(app_client, back.group(1).replace("&amp;", "&")))]
    assert newer == seen[-100:-50]


def test_audit_list_keyset_under_concurrent_inserts(demo: Any) -> None:
    """Paging by sequence number with writers appending all along: every record once, in order."""
    top = call_as("admin", "audit_list", {"limit": 1})[0]["seq"] + 1
    want = [r["seq"] for r in call_as("admin", "audit_list", {"limit": 300, "before_seq": top})]
    stop = threading.Event()

    def writer() -> None:
        while not stop.is_set():
            call_as("system", "department_update", {"slug": "gz-water", "description": unique("w")})

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        got: list[int] = []
        before = top
        while len(got) < len(want):
            batch = call_as("admin", "audit_list", {"limit": 37, "before_seq": before})
            got += [r["seq"] for r in batch]
            before = batch[-1]["seq"]
    finally:
        stop.set()
        thread.join()
    assert got[:len(want)] == want
    assert len(set(got)) == len(got)
    from cityhub.errors import ValidationError

    with pytest.raises(ValidationError) as info:
        call_as("admin", "audit_list", {"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"})
    assert "结束时间须晚于开始时间" in str(info.value.fields_zh)
    from cityhub.errors import NotAuthenticated, NotAuthorized

    for who in (None, "citizen", "analyst", "steward", "deptadmin"):
        for action in ("audit_export", "audit_list"):
            with pytest.raises((NotAuthenticated, NotAuthorized)):
                call_as(who, action, {})
    assert call_as("admin", "audit_export", {"action": "user_disable"})["count"] >= 0


def test_audit_export_csv_and_json(app_client: TestClient, demo_passwords: dict[str, str]) -> None:
    evil = "=HYPERLINK(\"http://x\",\"y\")" + unique("")
    assert api_login(TestClient(app_client.app), evil, "wrong password") == 401
    signed_in(app_client, demo_passwords, "admin")
    resp = app_client.get("/admin/audit/export.csv", params={"action": "session_create", "target": evil[:30]})
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    assert resp.headers["content-disposition"].startswith("attachment;")
    text = resp.content.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    mine = [r for r in rows if evil in r["target"]]
    assert len(mine) == 1 and mine[0]["target"] == "'" + evil  # neutralised for spreadsheets
    assert mine[0]["action_label"] == "登录" and mine[0]["outcome_label"] == "失败"
    assert int(resp.headers["x-audit-count"]) == len(rows)

    full = app_client.get("/admin/audit/export.json", params={"outcome": "success", "action": "department_update"})
    doc = json.loads(full.content)
    assert doc["count"] == len(doc["records"]) > 0
    assert all(r["outcome"] == "success" and r["action"] == "department_update" for r in doc["records"])
    seqs = [r["seq"] for r in doc["records"]]
    assert seqs == sorted(seqs, reverse=True) and seqs[0] <= doc["upto_seq"]
    assert isinstance(doc["records"][0]["detail"], dict)
    export = call_as("admin", "audit_list", {"action": "audit_export", "limit": 1})[0]
    assert export["actor"] == "admin" and "department_update" in export["detail"]  # the export is audited
    page(app_client, "/admin/audit/export.xml", status=404)


def test_audit_page_verifies_the_chain(app_client: TestClient, demo_passwords: dict[str, str]) -> None:
    signed_in(app_client, demo_passwords, "admin")
    body = page(app_client, "/admin/audit?actor=admin&verify=1")
    assert 'id="verify-result"' in body and "审计链完整" in body
    assert 'value="admin"' in body  # the filter stays


# -- harvest sources ----------------------------------------------------------------------------------------------


def test_harvest_source_create_edit_disable_run_delete(app_client: TestClient, demo_passwords: dict[str, str]) -> None:
    signed_in(app_client, demo_passwords, "admin")
    form = page(app_client, "/admin/harvest/new")
    token = csrf_of(form, "source-form")
    name = unique("src")
    data = {"csrf_token": token, "name": name, "title": "测试来源", "kind": "dcat", "url": "javascript:alert(1)",
            "department": "gz-transport", "schedule": "daily", "enabled": "1", "timeout": "0", "max_mb": "200",
            "max_pages": "10", "fq": ""}
    bad = app_client.post("/admin/harvest/new", data=data, headers=HTML)
    assert bad.status_code == 422
    assert re.search(r'id="err-url">\s*<li>[^<]*http', bad.text) and 'id="err-timeout"' in bad.text
    bad_en = app_client.post("/admin/harvest/new?lang=en", data=data, headers=HTML)
    assert re.search(r'id="err-url">\s*<li>[^<\u3400-\u9fff]*URL', bad_en.text)
    with pytest.raises(Exception, match=r"未找到|not found"):
        call_as("admin", "harvest_source_show", {"name": name})
    resp = app_client.post("/admin/harvest/new", headers=HTML, follow_redirects=False,
                           data={**data, "url": "http://127.0.0.1:9/catalog.ttl", "timeout": "5"})
    assert resp.status_code == 303 and resp.headers["location"] == f"/admin/harvest/{name}?created=1"
    src = call_as("admin", "harvest_source_show", {"name": name})
    assert (src["kind"], src["schedule"], src["config"]["timeout"], src["config"]["max_pages"]) == \
        ("dcat", "daily", 5.0, 10)
    assert name in page(app_client, "/admin/harvest")

    edit = page(app_client, f"/admin/harvest/{name}/edit")
    assert 'value="http://127.0.0.1:9/catalog.ttl"' in edit
    resp = app_client.post(f"/admin/harvest/{name}/edit", headers=HTML, follow_redirects=False, data={
        "csrf_token": token, "title": "改过的来源", "url": "http://127.0.0.1:9/other.ttl", "department": "gz-water",
        "schedule": "manual", "timeout": "5", "max_mb": "50", "max_pages": "10", "fq": ""})
    assert resp.status_code == 303
    src = call_as("admin", "harvest_source_show", {"name": name})
    assert (src["title"], src["department"], src["schedule"], src["enabled"]) == ("改过的来源", "gz-water", "manual",
                                                                                   False)
    assert app_client.post(f"/admin/harvest/{name}/enable", data={"csrf_token": token}, headers=HTML,
                           follow_redirects=False).status_code == 303
    assert call_as("admin", "harvest_source_show", {"name": name})["enabled"]

    run = app_client.post(f"/admin/harvest/{name}/run", data={"csrf_token": token}, headers=HTML)
    assert run.status_code == 200 and 'id="run-progress"' in run.text
    from cityhub import jobs

    jobs.wait_idle(60)
    run_id = int(run.url.path.rsplit("/", 1)[-1])
    done = page(app_client, f"/admin/harvest/runs/{run_id}")
    assert 'data-percent="100"' in done and 'data-status="failed"' in done and 'id="run-error"' in done
    assert 'http-equiv="refresh"' not in done
    shown = call_as("admin", "harvest_run_show", {"id": run_id})
    assert shown["progress"]["percent"] == 100 and shown["log"]

    confirm = page(app_client, f"/admin/harvest/{name}/delete")
    resp = app_client.post(f"/admin/harvest/{name}/delete", data={"csrf_token": csrf_of(confirm, "delete-source-form"),
                                                                  "datasets": "withdraw"},
                           headers=HTML, follow_redirects=False)
    assert resp.status_code == 303
    with pytest.raises(Exception, match=r"未找到|not found"):
        call_as("admin", "harvest_source_show", {"name": name})


def test_a_loopback_source_is_refused_when_run(app_client: TestClient, demo_passwords: dict[str, str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The SSRF guard applies to sources made in the portal: a run to a loopback address is refused, and says so."""
    from cityhub import jobs
    from cityhub.settings import get_settings

    monkeypatch.delenv("CITYHUB_HARVEST_ALLOWED_NETWORKS", raising=False)
    get_settings.cache_clear()
    name = unique("src")
    call_as("admin", "harvest_source_create", {"name": name, "title": "内网", "kind": "dcat",
                                               "url": "http://127.0.0.1:9/c.ttl", "department": "gz-transport"})
    signed_in(app_client, demo_passwords, "admin")
    token = csrf_of(page(app_client, f"/admin/harvest/{name}"))
    run = app_client.post(f"/admin/harvest/{name}/run", data={"csrf_token": token}, headers=HTML)
    jobs.wait_idle(60)
    body = page(app_client, run.url.path)
    assert 'data-status="failed"' in body and "拒绝连接" in body
    get_settings.cache_clear()
