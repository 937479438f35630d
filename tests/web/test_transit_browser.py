"""The transit page in a real browser (headless Chromium, zh and en) with a finished demo run — as ``make run``'s
demo makes one: the district OD flow map, the time band heat map and the line load chart are drawn with the run's
figures, the stop and custom-zone OD tables show, and the console stays free of errors.
Screenshots: tests/web/screenshots/transit-*.png."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.conftest import Store, call_as
from tests.web.test_browser import SHOTS

pytestmark = pytest.mark.browser

OPTION = """(id) => {
  const chart = echarts.getInstanceByDom(document.getElementById(id));
  if (!chart) return null;
  const o = chart.getOption();
  return o.series.map((s) => ({type: s.type, n: (s.data || []).length}));
}"""


@pytest.fixture(scope="module")
def demo_run(server: str, sqlite_demo_store: Store) -> dict[str, Any]:
    """A finished, published run of a small simulated day with two custom zones (the demo's run, smaller)."""
    from cityhub import jobs
    from tests.transit.test_zones import CITY_ZONES

    sqlite_demo_store.activate()
    jobs.wait_idle(300)  # another module's run of the same department must end first
    started = call_as("steward", "transit_run_start", {"taps": 3000, "seed": 9, "zones": CITY_ZONES})
    deadline = time.monotonic() + 300
    while True:
        jobs.wait_idle(10)
        run: dict[str, Any] = call_as("steward", "transit_run_show", {"id": started["id"]})
        if run["status"] in ("done", "failed"):
            break
        assert time.monotonic() < deadline, "the transit run did not finish"
        time.sleep(0.3)
    assert run["status"] == "done", run.get("error")
    return run


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_transit_page_draws_the_od_map_and_charts(server: str, browser: Any, sqlite_demo_store: Store,
                                                  demo_run: dict[str, Any], lang: str) -> None:
    from playwright.sync_api import expect

    sqlite_demo_store.activate()
    SHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 1000},
                                  locale="zh-CN" if lang == "zh" else "en-US")
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    outside: list[str] = []
    page.on("request", lambda req: outside.append(req.url) if not req.url.startswith(server) else None)
    page.goto(f"{server}/transit?lang={lang}")
    # the latest finished run is the one shown (the demo run or a newer one of this session)
    expect(page.locator("h1")).to_contain_text("公交地铁客流分析" if lang == "zh" else "Transit ridership analysis")
    expect(page.locator("#t-stages")).not_to_be_empty()
    # the flow map: the district base map registered, lines between districts and the district points drawn
    page.wait_for_function("(id) => { const el = document.getElementById(id);"
                           " return el && el.querySelector('canvas') && echarts.getInstanceByDom(el); }",
                           arg="transit-flow-map", timeout=30_000)
    flow = page.evaluate(OPTION, "transit-flow-map")
    assert flow is not None and [s["type"] for s in flow] == ["lines", "scatter"]
    assert flow[0]["n"] > 0 and flow[1]["n"] >= 2, flow
    heat = page.evaluate(OPTION, "transit-heat")
    assert heat == [{"type": "heatmap", "n": heat[0]["n"]}] and heat[0]["n"] > 0
    loads = page.evaluate(OPTION, "transit-loads")
    assert loads and all(s["type"] == "bar" and s["n"] > 0 for s in loads)
    # the map's canvas is painted (not blank): many distinct pixels
    painted = page.evaluate("""() => {
      const c = document.querySelector('#transit-flow-map canvas');
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }""")
    assert painted > 10_000
    expect(page.locator("#t-od-stop tbody tr").first).to_be_visible()
    zone_rows = page.locator("#t-od-zone tbody tr")
    expect(zone_rows.first).to_be_visible()
    other = "其他(已抑制)" if lang == "zh" else "Other (suppressed)"  # small cells summed (transit/disclosure.py)
    assert set(page.locator("#t-od-zone tbody tr td:nth-child(2)").all_inner_texts()) <= {"west", "east", other}
    # every stop cell shown names a place with at least 10 journeys, or is a suppressed remainder
    for row in page.locator("#t-od-stop tbody tr").all():
        cells = row.locator("td").all_inner_texts()
        assert int(cells[3]) >= 10 or other in cells[1:3], cells
    expect(page.locator("#t-disclosure")).to_contain_text("10")
    page.screenshot(path=str(SHOTS / f"transit-{lang}.png"), full_page=True)
    assert not outside, outside  # nothing loads from another host
    assert not errors, errors
    context.close()
