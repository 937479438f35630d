"""A dataset's discussion in a real browser (headless Chromium): a steward opens a thread on a dataset page, a
citizen replies (a new account's post: held, with a note), an anonymous visitor does not see the held reply,
the steward approves it from the page, and the visitor then sees the thread with its reply. Screenshots go to
the test's tmp dir and /tmp/shots/discussion/."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import Store, open_dataset, unique
from tests.live import launch_chromium

pytestmark = pytest.mark.browser
SHARED_SHOTS = Path("/tmp/shots/discussion")


def test_post_and_reply_on_a_dataset_page(server: str, sqlite_demo_store: Store, tmp_path: Path) -> None:
    from playwright.sync_api import Page, expect, sync_playwright

    sqlite_demo_store.activate()
    SHARED_SHOTS.mkdir(parents=True, exist_ok=True)
    passwords = sqlite_demo_store.passwords
    name = open_dataset(title="公交线路讨论测试")["name"]
    title = unique("字段含义")

    def shot(page: Page, file: str) -> None:
        page.screenshot(path=str(tmp_path / file), full_page=True)
        shutil.copy(tmp_path / file, SHARED_SHOTS / file)

    def sign_in(page: Page, user: str) -> None:
        page.goto(server + "/login")
        page.fill("#f-username", user)
        page.fill("#f-password", passwords[user])
        page.locator('#login-form button[type="submit"]').click()
        page.wait_for_url(server + "/")

    with sync_playwright() as p:
        browser = launch_chromium(p)
        errors: list[str] = []

        def new_page() -> Page:
            ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
            page = ctx.new_page()
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.on("dialog", lambda d: errors.append(f"dialog: {d.message}"))  # an alert() would be injection
            return page

        steward = new_page()
        sign_in(steward, "steward")
        steward.goto(f"{server}/dataset/{name}")
        form = steward.locator("#discussion-form")
        form.locator("#f-kind").select_option("question")
        form.locator("#f-disc-title").fill(title)
        form.locator("#f-disc-body").fill("**线路名称**一列是否含支线?<script>alert('x')</script>")
        form.locator('button[type="submit"]').click()
        steward.wait_for_url(f"**/dataset/{name}#post-*")
        thread = steward.locator(f"article.thread:has-text('{title}')")
        expect(thread).to_be_visible()
        expect(thread.locator(".post-body strong")).to_have_text("线路名称")
        thread_id = thread.get_attribute("data-thread")
        shot(steward, "01-steward-thread.png")

        citizen = new_page()
        sign_in(citizen, "citizen")
        citizen.goto(f"{server}/dataset/{name}")
        reply = citizen.locator(f'form.reply-form[data-reply-to="{thread_id}"]')
        reply.locator("textarea").fill("含支线,见数据项说明。")
        reply.locator('button[type="submit"]').click()
        citizen.wait_for_url(f"**/dataset/{name}?held=1#post-*")
        expect(citizen.locator("#held-note")).to_be_visible()
        expect(citizen.locator(f"#post-{thread_id} .reply.post-held")).to_contain_text("含支线")
        shot(citizen, "02-citizen-reply-held.png")

        visitor = new_page()
        visitor.goto(f"{server}/dataset/{name}")
        expect(visitor.locator(f"#post-{thread_id}")).to_be_visible()
        expect(visitor.locator(f"#post-{thread_id} .reply")).to_have_count(0)

        steward.goto(f"{server}/dataset/{name}")
        held = steward.locator(f"#post-{thread_id} .reply.post-held")
        expect(held).to_have_count(1)
        held.locator("button[data-hide]").click()
        steward.wait_for_url(f"**/dataset/{name}#post-*")
        expect(steward.locator(f"#post-{thread_id} .reply.post-held")).to_have_count(0)

        visitor.goto(f"{server}/dataset/{name}")
        expect(visitor.locator(f"#post-{thread_id} .reply")).to_have_count(1)
        expect(visitor.locator(f"#post-{thread_id} .reply")).to_contain_text("含支线")
        shot(visitor, "03-visitor-thread-with-reply.png")
        assert errors == []
        browser.close()
