"""/indicators in a real browser (headless Chromium on the demo store): every table-1 indicator is shown with its
progress bar and target, its ECharts trend chart is drawn, the area filter works, and the annual report prints
(Chromium's own PDF of the printable page)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Store, call_as
from tests.live import launch_chromium, require_chromium, serve_in_thread

SHOTS = Path(__file__).resolve().parents[1] / "web" / "screenshots"

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(sqlite_demo_store: Store) -> Iterator[str]:
    require_chromium()
    from cityhub.web.app import create_app

    sqlite_demo_store.activate()
    with serve_in_thread(create_app()) as url:
        yield url


@pytest.fixture(scope="module")
def browser(server: str) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch_chromium(p)
        yield b
        b.close()


def test_progress_page_in_a_browser(server: str, browser: object, sqlite_demo_store: Store, tmp_path: Path) -> None:
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    sqlite_demo_store.activate()
    SHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    outside: list[str] = []
    page.on("request", lambda req: outside.append(req.url) if not req.url.startswith(server) else None)

    listing = call_as(None, "indicator_list", {})
    assert listing["count"] >= 35  # every row of table 1 (multi-figure rows split) and the platform's own figures
    page.goto(server + "/indicators")
    expect(page.locator("h1")).to_have_text("规划实施进展")
    cards = page.locator(".ind-card")
    expect(cards).to_have_count(listing["count"])
    expect(page.locator("#ind-count")).to_have_text(str(listing["count"]))
    live = page.locator('[data-code="gz2020.open-datasets"]')
    expect(live.locator(".ind-current b")).to_have_text(f"{int(live_value(listing, 'gz2020.open-datasets'))}")
    expect(live.locator("details.ind-how")).to_have_count(1)
    # the first chart is drawn by ECharts (a canvas inside its box)
    expect(page.locator('[data-chart="gz2020.broadband-urban"] canvas').first).to_be_visible(timeout=15_000)
    page.screenshot(path=str(SHOTS / "indicators-01-progress.png"), full_page=False)
    # the area filter
    page.select_option("#ind-area", "big_data")
    page.wait_for_url("**/indicators?area=big_data")
    big = [r for r in listing["results"] if r["area"] == "big_data"]
    expect(page.locator(".ind-card")).to_have_count(len(big))
    # the annual report: a table row and an SVG chart per indicator; Chromium prints it to PDF
    page.goto(server + "/indicators/reports/annual?year=2019")
    expect(page.locator("#report-table tbody tr")).to_have_count(listing["count"])
    expect(page.locator(".report-chart svg")).to_have_count(listing["count"])
    page.screenshot(path=str(SHOTS / "indicators-02-annual-report.png"), full_page=False)
    page.emulate_media(media="print")
    expect(page.locator(".site-header")).to_be_hidden()  # the print CSS leaves the portal's chrome out
    page.emulate_media(media="screen")
    pdf = page.pdf(path=str(tmp_path / "annual.pdf"), format="A4", print_background=True)
    assert pdf[:5] == b"%PDF-" and len(pdf) > 20_000
    assert not errors, errors
    assert not outside, outside  # nothing loaded from another host
    context.close()


def live_value(listing: dict[str, object], code: str) -> float:
    for r in listing["results"]:  # type: ignore[attr-defined]
        if r["code"] == code:
            return float(r["series"][-1][1])
    raise AssertionError(code)
