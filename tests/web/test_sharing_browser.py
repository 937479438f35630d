"""Sharing between two departments in a real browser (headless Chromium), then through the exchange API.

The ecology bureau's steward (department B) registers a system in the portal (its secret is shown once), opens a
有条件共享 dataset of the transport bureau (department A) and applies for three columns of two districts; the
transport bureau's steward finds the request in the review queue and approves it narrower (two columns, one
district). B's system then reads through ``/api/exchange/{rid}/search`` and ``/sql`` with its own credentials:
within the approved scope it gets the rows; a column or a district outside it is refused or absent. Screenshots go
to the test's tmp dir and to /tmp/shots/sharing/."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import httpx
import pytest

from tests.conftest import Store, call_as, open_dataset, unique
from tests.live import launch_chromium, portal_sign_in

pytestmark = pytest.mark.browser
SHARED_SHOTS = Path("/tmp/shots/sharing")
DISTRICTS = ["天河区", "越秀区", "海珠区"]
CSV = "编号,所属区,站点名称,人数\n" + "".join(
    f"{1000 + i},{DISTRICTS[i % 3]},站点{i},{i % 13}\n" for i in range(60))


def test_department_b_applies_a_approves_narrower_b_reads_within_scope(
        server: str, sqlite_demo_store: Store, tmp_path: Path) -> None:
    from playwright.sync_api import Page, expect, sync_playwright

    from cityhub import jobs
    from cityhub.catalog.schemas import UploadedFile

    sqlite_demo_store.activate()
    passwords = sqlite_demo_store.passwords
    shots = tmp_path / "shots"
    shots.mkdir()
    SHARED_SHOTS.mkdir(parents=True, exist_ok=True)
    # department A's conditionally shared table (the transport bureau's steward publishes it)
    ds = open_dataset(sharing_class="有条件共享", sharing_condition="仅限生态环境监管使用",
                      sharing_basis="《广州市公共数据管理办法》", opening_class="不予开放")
    res = call_as("steward", "resource_create", {"dataset": ds["name"],
                                                 "upload": UploadedFile("站点.csv", io.BytesIO(CSV.encode()))})
    jobs.wait_idle()
    rid = res["id"]
    code = unique("GZ-EE/air")

    def shot(page: Page, file: str) -> None:
        page.screenshot(path=str(shots / file), full_page=True)
        shutil.copy(shots / file, SHARED_SHOTS / file)

    def sign_in(page: Page, user: str) -> None:
        portal_sign_in(page, server, user, passwords[user])

    with sync_playwright() as p:
        browser = launch_chromium(p)
        errors: list[str] = []

        def new_page() -> Page:
            ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
            page = ctx.new_page()
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            return page

        # -- B: register the system that will read the data (its secret is shown once) ------------------------
        eco = new_page()
        sign_in(eco, "eco_steward")
        eco.goto(server + "/sharing/systems")
        eco.fill("#s-code", code)
        eco.fill("#s-name", "空气质量研判系统")
        eco.locator('#system-form button[type="submit"]').click()
        eco.wait_for_load_state("networkidle")
        secret = eco.locator("#new-secret code").inner_text().strip()
        assert secret.startswith("sys_")
        shot(eco, "01-b-system-registered.png")

        # -- B: apply from the dataset's page: three columns of two districts ---------------------------------
        eco.goto(f"{server}/dataset/{ds['name']}")
        eco.locator("#apply-share a").click()
        eco.wait_for_url(f"{server}/sharing/request/new?dataset={ds['name']}")
        eco.select_option("#f-system", label=eco.locator("#f-system option", has_text=code).inner_text().strip())
        eco.select_option("#f-resource", rid)
        eco.fill("#f-purpose", "大气污染联防联控研判,核对各区监测站点")
        eco.fill("#f-basis", "《广州市政务信息共享管理规定》第十五条")
        eco.fill("#f-columns", "编号\n所属区\n人数")
        eco.fill("#f-rows", "所属区=天河区,海珠区")
        eco.fill("#f-days", "90")
        shot(eco, "02-b-request-form.png")
        eco.locator('#request-form button[type="submit"]').click()
        eco.wait_for_url(f"{server}/sharing/request/*")
        request_id = eco.url.rsplit("/", 1)[1]
        expect(eco.locator(".status-submitted")).to_be_visible()
        expect(eco.locator("#deadline .days-left")).to_contain_text("个工作日")
        shot(eco, "03-b-request-submitted.png")

        # -- A: the review queue, approve narrower (two columns, one district) --------------------------------
        steward = new_page()
        sign_in(steward, "steward")
        steward.goto(server + "/sharing/requests?box=review")
        row = steward.locator(f"#request-{request_id}")
        expect(row).to_be_visible()
        shot(steward, "04-a-review-queue.png")
        row.locator("a").first.click()
        steward.wait_for_url(f"{server}/sharing/request/{request_id}")
        steward.fill("#a-columns", "编号\n所属区")
        steward.fill("#a-rows", "所属区=天河区")
        steward.fill("#a-note", "人数不在本次共享范围内;先开放天河区")
        steward.locator('#approve-form button[type="submit"]').click()
        steward.wait_for_url(f"{server}/sharing/request/{request_id}")
        expect(steward.locator(".status-narrowed")).to_be_visible()
        expect(steward.locator("#grants tbody tr")).to_have_count(1)
        shot(steward, "05-a-approved-narrower.png")

        # -- B sees the answer and the history ----------------------------------------------------------------
        eco.reload()
        expect(eco.locator(".status-narrowed")).to_be_visible()
        expect(eco.locator("#history")).to_contain_text("人数不在本次共享范围内")
        shot(eco, "06-b-sees-narrowed.png")
        assert not errors, errors
        browser.close()

    # -- B's system reads through the exchange API, within the approved scope only ------------------------------
    headers = {"X-Road-Client": f"gz-ecology-environment/{code}", "Authorization": f"Bearer {secret}"}
    with httpx.Client(base_url=server, headers=headers, timeout=30) as http:
        got = http.get(f"/api/exchange/{rid}/search", params={"limit": 100})
        assert got.status_code == 200, got.text
        body = got.json()
        assert [f["id"] for f in body["fields"]] == ["_id", "编号", "所属区"]
        assert body["total"] == 20 and {r["所属区"] for r in body["records"]} == {"天河区"}
        out = http.get(f"/api/exchange/{rid}/search", params={"filters": json.dumps({"所属区": "海珠区"})})
        assert out.status_code == 200 and out.json()["total"] == 0  # requested, not approved: absent
        refused = http.get(f"/api/exchange/{rid}/search", params={"fields": "人数"})
        assert refused.status_code in (400, 422) and "人数" in refused.text  # requested, not approved: refused
        sql = http.get(f"/api/exchange/{rid}/sql", params={"sql": f'SELECT "所属区", count(*) AS n FROM "{rid}" GROUP BY 1'})
        assert sql.status_code == 200, sql.text
        assert sql.json()["records"] == [{"所属区": "天河区", "n": 20}]
        hidden = http.get(f"/api/exchange/{rid}/sql", params={"sql": f'SELECT sum("人数") FROM "{rid}"'})
        assert hidden.status_code in (400, 422) and "人数" in hidden.text
        stolen = http.get(f"/api/exchange/{rid}/search", headers={"Authorization": "Bearer sys_forged"})
        assert stolen.status_code == 401
