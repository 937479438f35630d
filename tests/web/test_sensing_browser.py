"""The sensing hub's device page and alarm console in a real browser (headless Chromium): a device's chart drawn
from its readings and switched to 7 days without a reload; the alarm console acknowledging an alarm with its
button and showing a new alarm live from the alarm stream. Screenshots: tests/web/screenshots/sensing-*.png."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.conftest import Store, call_as, unique
from tests.live import portal_sign_in
from tests.web.test_browser import SHOTS
from tests.web.test_map_browser import new_page

pytestmark = pytest.mark.browser


def _send(token: str, readings: Any) -> dict[str, Any]:
    out: dict[str, Any] = call_as(None, "telemetry_ingest", {"token": token, "payload": json.dumps(readings)})
    return out


def test_device_page_draws_its_chart(server: str, browser: Any, sqlite_demo_store: Store) -> None:
    from playwright.sync_api import expect

    sqlite_demo_store.activate()
    SHOTS.mkdir(parents=True, exist_ok=True)
    dev = call_as("admin", "device_create", {"code": unique("aq"), "type": "air_quality", "name": "浏览器测试站",
                                             "district_code": "440106", "lat": 23.13, "lon": 113.33})
    now_ms = int(time.time() * 1000)
    _send(dev["token"], [{"ts": now_ms - i * 900_000, "values": {"pm25": 20 + i % 9, "pm10": 40}} for i in range(40)])
    context, page, errors = new_page(browser, "zh")
    page.goto(f"{server}/sensing/devices/{dev['code']}?lang=zh")
    charts = page.locator('#device-charts[data-rendered="24h"]')
    expect(charts).to_have_count(1, timeout=20_000)
    assert int(charts.get_attribute("data-points") or 0) >= 2 * 40  # pm25 and pm10 over 24 h (raw)
    expect(page.locator('#device-charts div[data-attr="pm25"] canvas')).to_have_count(1)
    expect(page.locator("#device-map canvas")).to_have_count(1, timeout=20_000)
    page.wait_for_timeout(300)
    page.screenshot(path=str(SHOTS / "sensing-device-24h.png"), full_page=True)
    page.locator("#range-7d").click()  # switched in place: hourly means with min and max
    expect(page.locator('#device-charts[data-rendered="7d"]')).to_have_count(1, timeout=20_000)
    expect(page.locator("#range-7d")).to_have_attribute("aria-current", "true")
    assert page.url.endswith("?range=7d")
    page.screenshot(path=str(SHOTS / "sensing-device-7d.png"), full_page=True)
    assert not errors, errors
    context.close()


def test_alarm_console_acknowledges_and_updates_live(server: str, browser: Any, sqlite_demo_store: Store) -> None:
    from playwright.sync_api import expect

    sqlite_demo_store.activate()
    alarm_type = unique("flood-high")
    first = call_as("admin", "device_create", {"code": unique("fl"), "type": "flood", "name": "下穿隧道一"})
    second = call_as("admin", "device_create", {"code": unique("fl"), "type": "flood", "name": "下穿隧道二"})
    for dev in (first, second):  # one rule per device: a type-wide rule would reach other tests' devices
        call_as("admin", "rule_create", {"name": unique("r"), "device_type": "flood", "device": dev["code"],
                                         "alarm_type": alarm_type, "severity": "critical",
                                         "condition": {"attr": "currentLevel", "op": ">", "value": 2}})
    assert _send(first["token"], {"currentLevel": 2.6})["alarms_raised"] == 1
    alarm_id = call_as("admin", "alarm_list", {"type": alarm_type})["alarms"][0]["id"]
    context, page, errors = new_page(browser, "zh")
    portal_sign_in(page, server, "analyst", sqlite_demo_store.passwords["analyst"])
    page.goto(f"{server}/sensing/alarms?type={alarm_type}&status=active")
    expect(page.locator(f"#alarm-{alarm_id}")).to_have_count(1)
    expect(page.locator("body[data-alarm-stream='open']")).to_have_count(1, timeout=10_000)
    page.locator(f"#ack-{alarm_id}").click()
    expect(page.locator(f"#alarm-{alarm_id}")).to_have_attribute("data-status", "active_ack", timeout=15_000)
    assert f"type={alarm_type}" in page.url  # back on the console with its filters
    expect(page.locator(f"#ack-{alarm_id}")).to_have_count(0)
    assert call_as("admin", "alarm_list", {"type": alarm_type})["alarms"][0]["ack_by"] == "analyst"
    # a new alarm of the same type appears without a reload (the alarm stream)
    expect(page.locator("body[data-alarm-stream='open']")).to_have_count(1, timeout=10_000)
    assert _send(second["token"], {"currentLevel": 3.1})["alarms_raised"] == 1
    new_id = next(a["id"] for a in call_as("admin", "alarm_list", {"type": alarm_type})["alarms"] if a["id"] != alarm_id)
    expect(page.locator(f"#alarm-{new_id}")).to_have_count(1, timeout=15_000)
    expect(page.locator("#alarm-count")).to_have_text("2")
    page.screenshot(path=str(SHOTS / "sensing-alarm-console.png"), full_page=True)
    assert not errors, errors
    context.close()
