"""The publication workflow in a real browser (headless Chromium): a steward drafts a dataset, uploads a file whose
load fails, sees it on the dashboard, fixes it with a good file and submits; the department's reviewer approves
from the queue; an anonymous visitor then finds the dataset. Screenshots go to the test's tmp dir and to
/tmp/shots/publish/ (for people to look at)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import Store, call_as, unique
from tests.live import launch_chromium, portal_sign_in

pytestmark = pytest.mark.browser
SHARED_SHOTS = Path("/tmp/shots/publish")
GOOD_CSV = "停车场名称,所属区,泊位数\n天河体育中心停车场,天河区,820\n北京路停车场,越秀区,310\n琶洲会展停车场,海珠区,1500\n"


def test_steward_drafts_fixes_a_load_and_submits_reviewer_approves(
        server: str, sqlite_demo_store: Store, tmp_path: Path) -> None:
    from playwright.sync_api import Page, expect, sync_playwright

    sqlite_demo_store.activate()
    shots = tmp_path / "shots"
    shots.mkdir()
    SHARED_SHOTS.mkdir(parents=True, exist_ok=True)
    passwords = sqlite_demo_store.passwords
    word = unique("泊位")
    title = f"{word}公共停车场泊位"
    name = unique("parking")

    def shot(page: Page, file: str) -> None:
        page.screenshot(path=str(shots / file), full_page=True)
        shutil.copy(shots / file, SHARED_SHOTS / file)

    def sign_in(page: Page, user: str) -> None:
        portal_sign_in(page, server, user, passwords[user])

    bad = tmp_path / "停车场.csv"
    bad.write_bytes(b"\x00\x01\x02" * 500)
    good = tmp_path / "停车场-修正.csv"
    good.write_text(GOOD_CSV, encoding="utf-8")

    with sync_playwright() as p:
        browser = launch_chromium(p)
        errors: list[str] = []

        def new_page() -> Page:
            ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
            page = ctx.new_page()
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            return page

        # -- the steward: draft, upload, a failed load on the dashboard, the fix, submit -------------------
        steward = new_page()
        sign_in(steward, "steward")
        expect(steward.locator("#dashboard-link")).to_have_text("工作台")
        steward.goto(server + "/dataset/new")
        steward.fill("#f-name", name)
        steward.fill("#f-title", title)
        steward.fill("#f-abstract", "全市公共停车场的名称、所在区和泊位数,每月更新,供市民查找停车位和开发者调用。")
        steward.select_option("#f-theme", "transport")
        steward.locator('#dataset-form button[type="submit"]:not([name])').click()
        steward.wait_for_url(f"{server}/dataset/{name}")
        expect(steward.locator("#publication-badge")).to_have_text("草稿")
        expect(steward.locator("#btn-submit")).to_be_visible()
        shot(steward, "01-steward-draft.png")

        steward.goto(f"{server}/dataset/{name}/resource/new")
        steward.set_input_files("#f-file", str(bad))
        steward.locator('form button[type="submit"]').last.click()
        steward.wait_for_load_state("networkidle")
        from cityhub import jobs

        jobs.wait_idle()
        steward.locator("#dashboard-link").click()
        steward.wait_for_url(server + "/dashboard")
        failed = steward.locator("#failed-loads .failed-load")
        expect(failed).to_have_count(1)
        expect(failed.first).to_contain_text("停车场.csv")
        expect(steward.locator(f"#draft-{name}")).to_be_visible()
        expect(steward.locator("#dashboard-dept")).to_have_text("广州市交通运输局")
        shot(steward, "02-dashboard-failed-load.png")

        failed.first.locator("a.fix-load").click()
        steward.wait_for_url("**/edit")
        steward.set_input_files("#f-file", str(good))
        steward.locator('form button[type="submit"]').last.click()
        steward.wait_for_load_state("networkidle")
        jobs.wait_idle()
        steward.goto(server + "/dashboard")
        expect(steward.locator(f"#failed-loads .failed-load:has-text('{name}')")).to_have_count(0)
        expect(steward.locator("#failed-loads .failed-load")).to_have_count(0)
        shot(steward, "03-dashboard-fixed.png")

        steward.goto(f"{server}/dataset/{name}")
        steward.locator("#btn-submit").click()
        steward.wait_for_url(f"{server}/dataset/{name}")
        expect(steward.locator("#publication-badge")).to_have_text("待审核")
        expect(steward.locator("#btn-approve")).to_have_count(0)  # not the steward's to approve
        shot(steward, "04-steward-submitted.png")

        # -- nobody else finds it yet ----------------------------------------------------------------------
        visitor = new_page()
        visitor.goto(f"{server}/dataset?q={word}")
        expect(visitor.locator("#result-count")).to_have_text("0")
        assert visitor.goto(f"{server}/dataset/{name}").status == 404  # type: ignore[union-attr]
        assert errors == ["Failed to load resource: the server responded with a status of 404 (Not Found)"]
        errors.clear()  # that refusal was the point

        # -- the reviewer (the department's admin) approves from the queue ------------------------------------
        reviewer = new_page()
        sign_in(reviewer, "deptadmin")
        reviewer.locator("#dashboard-link").click()
        row = reviewer.locator(f"#review-{name}")
        expect(row).to_be_visible()
        shot(reviewer, "05-reviewer-queue.png")
        reviewer.goto(f"{server}/dataset/{name}")
        expect(reviewer.locator("#btn-approve")).to_be_visible()
        expect(reviewer.locator("#btn-reject")).to_be_visible()
        reviewer.locator("#btn-reject").click()  # the form to send it back, with its comment
        expect(reviewer.locator("#review-comment-input")).to_be_visible()
        shot(reviewer, "06-reviewer-dataset.png")
        reviewer.locator("#btn-approve").click()
        reviewer.wait_for_url(f"{server}/dataset/{name}")
        expect(reviewer.locator("#publication-badge")).to_have_count(0)
        expect(reviewer.locator("#btn-withdraw")).to_be_visible()
        shot(reviewer, "07-reviewer-approved.png")

        # -- an anonymous visitor now finds it, with its live table -----------------------------------------
        visitor.goto(f"{server}/dataset?q={word}")
        expect(visitor.locator("#result-count")).to_have_text("1")
        visitor.locator(".dataset-card .dataset-title a").first.click()
        visitor.wait_for_url(f"{server}/dataset/{name}")
        expect(visitor.locator("h1")).to_have_text(title)
        expect(visitor.locator(".table-badge")).to_have_count(1)
        shot(visitor, "08-visitor-finds-it.png")

        reviewer.goto(server + "/dashboard?lang=en")
        expect(reviewer.locator("h1")).to_have_text("Steward's dashboard")
        shot(reviewer, "09-dashboard-en.png")
        browser.close()

    assert call_as(None, "dataset_show", {"id": name})["publication"] == "published"
    assert not errors, errors
