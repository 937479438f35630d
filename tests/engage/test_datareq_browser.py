"""A data request in a real browser (headless Chromium): a citizen asks through the form, the data office routes
it from its queue, the department's steward answers on the request page, and an anonymous visitor finds the
answer on the public board. Screenshots go to the test's tmp dir and to /tmp/shots/datareq/."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_store, unique
from tests.engage.conftest import build_world
from tests.live import launch_chromium, portal_sign_in, require_chromium, serve_in_thread

pytestmark = pytest.mark.browser
SHARED_SHOTS = Path("/tmp/shots/datareq")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, Any]]]:
    require_chromium()
    store, _ = make_store(tmp_path_factory.mktemp("datareq-browser"), "sqlite")
    world = build_world(store)
    from cityhub.web.app import create_app

    with serve_in_thread(create_app()) as url:
        yield url, world


def test_ask_route_answer_in_the_browser(live: tuple[str, dict[str, Any]], tmp_path: Path) -> None:
    from playwright.sync_api import Page, expect, sync_playwright

    server, world = live
    world["store"].activate()
    passwords = world["store"].passwords
    shots = tmp_path / "shots"
    shots.mkdir()
    SHARED_SHOTS.mkdir(parents=True, exist_ok=True)
    title = unique("公交站点客流")

    def shot(page: Page, file: str) -> None:
        page.screenshot(path=str(shots / file), full_page=True)
        shutil.copy(shots / file, SHARED_SHOTS / file)

    with sync_playwright() as p:
        browser = launch_chromium(p)
        errors: list[str] = []

        def session(user: str | None) -> Page:
            ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
            page = ctx.new_page()
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            if user is not None:
                portal_sign_in(page, server, user, passwords[user])
            return page

        # -- the citizen asks ---------------------------------------------------------------------------------
        citizen = session("citizen")
        citizen.goto(server + "/requests")
        citizen.click("#ask-link")
        citizen.fill("#f-title", title)
        citizen.fill("#f-description", "希望开放各公交站点**按小时**的上下车客流数据。")
        citizen.fill("#f-purpose", "研究通勤规律")
        citizen.select_option("#f-department", "gz-transport")
        citizen.fill("#f-contact", "citizen@example.com")
        citizen.locator('#ask-form button[type="submit"]').click()
        citizen.wait_for_url(f"{server}/requests/*")
        rid = int(citizen.url.rsplit("/", 1)[1])
        expect(citizen.locator("#request-title")).to_have_text(title)
        expect(citizen.locator(".page-head [data-status]")).to_have_text("待分派")
        expect(citizen.locator("#request-description strong")).to_have_text("按小时")
        shot(citizen, "1-asked.png")

        # -- the data office routes it from the queue ---------------------------------------------------------
        office = session("admin")
        office.goto(server + "/requests/queue")
        row = office.locator(f"#queue-{rid}")
        expect(row).to_contain_text(title)
        row.locator("select").select_option("gz-transport")
        shot(office, "2-queue.png")
        row.locator('button[type="submit"]').click()
        office.wait_for_url(server + "/requests/queue")
        expect(office.locator(f"#queue-{rid}")).to_have_count(0)

        # -- the department's steward answers -----------------------------------------------------------------
        steward = session("steward")
        steward.goto(f"{server}/requests/{rid}")
        expect(steward.locator("#request-contact")).to_have_text("citizen@example.com")
        expect(steward.locator("#deadline")).to_contain_text("剩余工作日")
        steward.check("#kind-will_open")
        steward.fill("#a-open_by", "2030-06-30")
        steward.fill("#a-text", "已列入明年的开放计划。")
        shot(steward, "3-answer-form.png")
        steward.locator('#answer-form button[type="submit"]').click()
        steward.wait_for_url(f"{server}/requests/{rid}")
        expect(steward.locator("#answer-kind")).to_have_text("将于指定日期开放")
        expect(steward.locator("#answer-open-by")).to_have_text("2030-06-30")
        expect(steward.locator("#history li")).to_have_count(3)

        # -- anyone reads it on the board ---------------------------------------------------------------------
        visitor = session(None)
        visitor.goto(server + "/requests")
        visitor.fill("#b-q", title)
        visitor.locator('#board-filters button[type="submit"]').click()
        board_row = visitor.locator(f"#request-{rid}")
        expect(board_row).to_contain_text("已答复")
        shot(visitor, "4-board.png")
        board_row.locator("a").first.click()
        expect(visitor.locator("#answer-open-by")).to_have_text("2030-06-30")
        expect(visitor.locator("#request-contact")).to_have_count(0)
        browser.close()
    assert not errors, errors
