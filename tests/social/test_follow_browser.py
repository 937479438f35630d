"""Following in a real browser (headless Chromium, the pattern of tests/web/test_publish_browser.py): a citizen
follows a dataset from its page; the department's steward changes the dataset in the portal; the citizen's bell
then shows one unread notification, and the notifications page names the change."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Store, open_dataset
from tests.live import launch_chromium, portal_sign_in, require_chromium, serve_in_thread

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(sqlite_demo_store: Store) -> Iterator[str]:
    require_chromium()
    from cityhub.web.app import create_app

    sqlite_demo_store.activate()
    with serve_in_thread(create_app()) as url:
        yield url


def test_follow_a_dataset_steward_changes_it_bell_counts(server: str, sqlite_demo_store: Store,
                                                         tmp_path: Path) -> None:
    from playwright.sync_api import Page, expect, sync_playwright

    sqlite_demo_store.activate()
    passwords = sqlite_demo_store.passwords
    ds = open_dataset(title="浏览器关注测试数据集")

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

        citizen = new_page()
        sign_in(citizen, "citizen")
        citizen.goto(f"{server}/notifications")
        citizen.locator("#mark-read").click()  # start from zero unread
        expect(citizen.locator("#bell-count")).to_have_count(0)
        citizen.goto(f"{server}/dataset/{ds['name']}")
        expect(citizen.locator("#follow-button")).to_have_text("关注")
        citizen.locator("#follow-button").click()
        citizen.wait_for_url(f"{server}/dataset/{ds['name']}")
        expect(citizen.locator("#follow-button")).to_have_text("取消关注")
        expect(citizen.locator("#follower-count")).to_contain_text("1")

        steward = new_page()
        sign_in(steward, "steward")
        steward.goto(f"{server}/dataset/{ds['name']}/edit")
        steward.fill("#f-title", "浏览器关注测试数据集(已更新)")
        steward.locator('#dataset-form button[type="submit"]:not([name])').click()
        steward.wait_for_url(f"{server}/dataset/{ds['name']}")
        expect(steward.locator("#activity-stream")).to_contain_text("已更新")

        citizen.goto(f"{server}/")
        expect(citizen.locator("#bell-count")).to_have_text("1")
        citizen.screenshot(path=str(tmp_path / "bell.png"), full_page=False)
        citizen.locator("#bell").click()
        citizen.wait_for_url(f"{server}/notifications")
        expect(citizen.locator("#notification-list")).to_contain_text("浏览器关注测试数据集(已更新)")
        browser.close()
    assert not errors, errors
