"""A device page updating live in a real browser (headless Chromium): readings posted through the HTTP ingest with
the device token change the latest values and extend the 24 h chart without a reload, an alarm change shows in the
open alarms, the live badge says 实时 / Live; nothing is requested from another host and nothing errors in the
console. Screenshots: tests/web/screenshots/sensing-live-*.png."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.conftest import Store, call_as, unique
from tests.live import portal_sign_in
from tests.web.test_browser import SHOTS
from tests.web.test_map_browser import new_page

pytestmark = pytest.mark.browser


def _post(server: str, token: str, readings: Any) -> dict[str, Any]:
    r = httpx.post(f"{server}/api/telemetry", headers={"Authorization": f"Bearer {token}"}, json=readings, timeout=30)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def _watch(page: Any, server: str) -> list[str]:
    outside: list[str] = []
    page.on("request", lambda req: outside.append(req.url) if not req.url.startswith(server) else None)
    return outside


def test_public_device_page_updates_live(server: str, browser: Any, sqlite_demo_store: Store) -> None:
    from playwright.sync_api import expect

    sqlite_demo_store.activate()
    SHOTS.mkdir(parents=True, exist_ok=True)
    dev = call_as("admin", "device_create", {"code": unique("aq"), "type": "air_quality", "name": "实时测试站",
                                             "district_code": "440106", "lat": 23.13, "lon": 113.33})
    now_ms = int(time.time() * 1000)
    _post(server, dev["token"], [{"ts": now_ms - i * 900_000, "values": {"pm25": 20 + i % 9}} for i in range(1, 30)])
    context, page, errors = new_page(browser, "zh")
    outside = _watch(page, server)
    page.goto(f"{server}/sensing/devices/{dev['code']}?lang=zh")  # a visitor: air quality is public
    expect(page.locator('#device-charts[data-rendered="24h"]')).to_have_count(1, timeout=20_000)
    badge = page.locator("#device-live")
    expect(badge).to_have_attribute("data-state", "on", timeout=10_000)
    expect(badge).to_have_text("实时")
    points = int(page.locator("#device-charts").get_attribute("data-points") or 0)
    page.evaluate("window.__sameDocument = true")
    cell = page.locator('#attribute-table td[data-attr="pm25"]')
    assert cell.inner_text() != "123.4"
    _post(server, dev["token"], {"ts": now_ms, "values": {"pm25": 123.4, "pm10": 150}})
    expect(cell).to_have_text("123.4", timeout=10_000)
    expect(page.locator('#attribute-table td[data-attr="pm10"]')).to_have_text("150.0")
    expect(page.locator('#device-charts div[data-attr="pm10"] canvas')).to_have_count(1)  # its first points: drawn
    expect(page.locator("#device-charts")).to_have_attribute("data-points", str(points + 2))
    assert page.evaluate("window.__sameDocument") is True  # no reload
    page.wait_for_timeout(300)
    page.screenshot(path=str(SHOTS / "sensing-live-zh.png"), full_page=True)
    assert not outside, outside
    assert not errors, errors
    context.close()
    # the stream cannot be reached: the script marks the badge (the page starts it as "none"; the failed request's
    # console line is expected here)
    context, page, _errors = new_page(browser, "zh")
    page.route("**/events/sensing/devices/**", lambda route: route.abort())
    page.goto(f"{server}/sensing/devices/{dev['code']}?lang=zh")
    expect(page.locator('#device-charts[data-rendered="24h"]')).to_have_count(1, timeout=20_000)
    page.wait_for_timeout(500)
    expect(page.locator("#device-live")).to_have_attribute("data-state", "off")
    expect(page.locator("#device-live")).to_have_text("已断开")
    context.close()


def test_government_device_page_live_alarm_in_english(server: str, browser: Any, sqlite_demo_store: Store) -> None:
    from playwright.sync_api import expect

    sqlite_demo_store.activate()
    dev = call_as("admin", "device_create", {"code": unique("mh"), "type": "manhole_cover", "name": "Live manhole",
                                             "district_code": "440106", "lat": 23.12, "lon": 113.30})
    call_as("admin", "rule_create", {"name": unique("r"), "device_type": "manhole_cover", "device": dev["code"],
                                     "alarm_type": "井盖倾斜", "severity": "critical",
                                     "condition": {"attr": "tilt", "op": ">", "value": 30}})
    context, page, errors = new_page(browser, "en")
    outside = _watch(page, server)
    portal_sign_in(page, server, "analyst", sqlite_demo_store.passwords["analyst"])
    page.goto(f"{server}/sensing/devices/{dev['code']}?lang=en")  # infrastructure: government users only
    badge = page.locator("#device-live")
    expect(badge).to_have_attribute("data-state", "on", timeout=10_000)
    expect(badge).to_have_text("Live")
    expect(page.locator("#device-alarms tbody")).to_contain_text("No open alarms")
    assert _post(server, dev["token"], {"tilt": 45, "open": True})["alarms_raised"] == 1
    expect(page.locator('#attribute-table td[data-attr="tilt"]')).to_have_text("45.0", timeout=10_000)
    expect(page.locator('#attribute-table td[data-attr="open"]')).to_have_text("True")
    expect(page.locator("#device-alarms tbody")).to_contain_text("Critical", timeout=10_000)
    expect(page.locator("#device-state")).to_have_attribute("data-state", "alarm")
    page.wait_for_timeout(300)
    page.screenshot(path=str(SHOTS / "sensing-live-en.png"), full_page=True)
    assert not outside, outside
    assert not errors, errors
    context.close()
