"""The data office's admin walk in headless Chromium: edit a department, disable a user (whose sign-in then
fails), reset a password (and sign in with the new one), filter the audit log and export it as CSV, create a
harvest source (a bad URL first) and run it. Screenshots go to the test's tmp dir and to /tmp/shots/admin/."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import Store, call_as, unique
from tests.live import portal_sign_in

pytestmark = pytest.mark.browser
PASSWORD = "Long-Enough-Pass-77"
COPY_TO = Path("/tmp/shots/admin")


def _shot(page: object, shots: Path, name: str) -> None:
    from playwright.sync_api import Page

    assert isinstance(page, Page)
    path = shots / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    COPY_TO.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, COPY_TO / path.name)


def test_admin_walk(server: str, browser: object, sqlite_demo_store: Store, tmp_path: Path) -> None:
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    sqlite_demo_store.activate()
    shots = tmp_path / "shots"
    shots.mkdir()
    leaving, forgetful = unique("leaver"), unique("forgetful")
    for name, display in ((leaving, "离职专员"), (forgetful, "忘记密码的专员")):
        call_as("system", "user_create", {"name": name, "display_name": display, "role": "steward",
                                          "department": "gz-water", "password": PASSWORD})
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN", accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    portal_sign_in(page, server, "admin", sqlite_demo_store.passwords["admin"], landing=None)
    page.wait_for_url(server + "/")

    # a department: the list with counts, the edit form, a field error, then saved
    page.goto(server + "/admin/departments")
    expect(page.locator("#dept-gz-water")).to_be_visible()
    _shot(page, shots, "01-departments")
    page.locator("#edit-gz-water").click()
    page.wait_for_url("**/admin/departments/gz-water/edit")
    page.fill("#f-contact_phone", "打电话")
    page.click("#save-department")
    expect(page.locator("#err-contact_phone")).to_contain_text("格式不正确")
    _shot(page, shots, "02-department-error")
    page.fill("#f-contact_phone", "020-12345678")
    page.fill("#f-contact_name", "水务数据科")
    page.click("#save-department")
    page.wait_for_url("**/admin/departments?updated=gz-water")
    expect(page.locator("#flash")).to_contain_text("gz-water")
    assert call_as(None, "department_show", {"slug": "gz-water"})["contact_phone"] == "020-12345678"

    # a user: filter, disable (with confirmation); their sign-in then fails
    page.goto(server + "/admin/users")
    page.select_option("#q-department", "gz-water")
    page.select_option("#q-role", "steward")
    page.locator('#user-filter button[type="submit"]').click()
    page.wait_for_url("**/admin/users?department=gz-water*")
    expect(page.locator(f"#user-{leaving}")).to_be_visible()
    expect(page.locator("#user-steward")).to_have_count(0)  # the transport steward is filtered out
    _shot(page, shots, "03-users-filtered")
    page.locator(f'#user-{leaving} a[href$="/disable"]').click()
    expect(page.locator("#confirm")).to_be_visible()
    _shot(page, shots, "04-disable-confirm")
    page.click("#confirm")
    page.wait_for_url(f"**/admin/users?disabled={leaving}")
    expect(page.locator("#flash")).to_contain_text(leaving)
    other = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    visitor = other.new_page()
    portal_sign_in(visitor, server, leaving, PASSWORD, landing=None)
    expect(visitor.locator("#login-error")).to_be_visible()
    _shot(visitor, shots, "05-disabled-user-sign-in-fails")

    # a password reset: the one-time password shown once; the user signs in with it and sets a new one
    page.goto(f"{server}/admin/users/{forgetful}/edit")
    page.click("#reset-password")
    page.click("#confirm")
    secret = page.locator("#temporary-password").inner_text().strip()
    assert len(secret) >= 12
    _shot(page, shots, "06-password-reset")
    portal_sign_in(visitor, server, forgetful, secret, landing=None)
    expect(visitor.locator("#f-new-password")).to_be_visible()
    visitor.fill("#f-password", secret)
    visitor.fill("#f-new-password", "A-new-passphrase-for-2026")
    visitor.locator('#login-form button[type="submit"]').click()
    visitor.wait_for_url(server + "/")
    other.close()
    other = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    visitor = other.new_page()
    portal_sign_in(visitor, server, forgetful, "A-new-passphrase-for-2026", landing=None)
    visitor.wait_for_url(server + "/")
    other.close()

    # the audit log: filter by action and outcome, verify the chain, export the filtered set as CSV
    page.goto(server + "/admin/audit")
    page.fill("#f-actor", "admin")
    page.select_option("#f-action", "user_disable")
    page.select_option("#f-outcome", "success")
    page.click("#audit-apply")
    page.wait_for_url("**/admin/audit?*action=user_disable*")
    rows = page.locator("#audit tbody tr")
    expect(rows.first).to_contain_text(leaving)
    expect(rows.first).to_contain_text("停用用户")
    page.click("#verify-button")
    expect(page.locator("#verify-result")).to_contain_text("审计链完整")
    assert "action=user_disable" in page.url  # the filter stays
    _shot(page, shots, "07-audit-filtered")
    with page.expect_download() as info:
        page.click("#export-csv")
    data = Path(info.value.path()).read_text(encoding="utf-8-sig")
    lines = data.strip().splitlines()
    assert lines[0].startswith("seq,ts,actor") and len(lines) >= 2
    assert all(",user_disable," in line for line in lines[1:]) and leaving in data
    assert info.value.suggested_filename.endswith(".csv")

    # a harvest source: a bad URL gets its error by the field, then created and run
    page.goto(server + "/admin/harvest")
    page.click("#new-source")
    name = unique("remote")
    page.fill("#f-name", name)
    page.fill("#f-title", "番禺区开放数据门户")
    page.select_option("#f-kind", "dcat")
    page.fill("#f-url", "ftp://data.example.org/catalog.ttl")
    page.select_option("#f-department", "gz-water")
    page.click("#save-source")
    expect(page.locator("#err-url")).to_contain_text("http(s)")
    _shot(page, shots, "08-harvest-bad-url")
    page.fill("#f-url", "http://127.0.0.1:9/catalog.ttl")
    page.click("#save-source")
    page.wait_for_url(f"**/admin/harvest/{name}?created=1")
    expect(page.locator("h1")).to_contain_text("番禺区开放数据门户")
    _shot(page, shots, "09-harvest-source")
    page.click("#run-now")
    page.wait_for_url("**/admin/harvest/runs/*")
    expect(page.locator("#run-status[data-status=failed]")).to_have_count(1, timeout=30_000)  # refreshes itself
    expect(page.locator("#run-progress b")).to_have_text("100%")
    expect(page.locator("#run-error")).to_contain_text("拒绝连接")  # the SSRF guard: loopback is refused
    _shot(page, shots, "10-harvest-run")

    page.goto(server + "/admin/audit?lang=en")
    expect(page.locator("#audit-filter")).to_contain_text("Target")
    _shot(page, shots, "11-audit-en")
    unexpected = [e for e in errors if "status of 422" not in e]  # the two forms sent back with field errors
    assert len(errors) - len(unexpected) == 2 and not unexpected, errors
    context.close()
