"""The map previews in a real browser (headless Chromium, zh and en): a GeoJSON file's features drawn on the
district map with its feature table, a click on the map or the table showing a feature's properties, and the point
map of a table following the preview's filters. Screenshots: tests/web/screenshots/map-*.png."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Store, call_as
from tests.web.test_browser import SHOTS

pytestmark = pytest.mark.browser

# pixels of the drawn data on the map's canvas: the points' orange, the polygons' teal outline
COUNT_PIXELS = """([id, colours]) => {
  const canvas = document.querySelector('#' + id + ' canvas');
  const ctx = canvas.getContext('2d');
  const img = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  let n = 0;
  for (let i = 0; i < img.length; i += 4) {
    for (const [r, g, b] of colours) {
      if (Math.abs(img[i] - r) < 40 && Math.abs(img[i + 1] - g) < 40 && Math.abs(img[i + 2] - b) < 40) { n++; break; }
    }
  }
  return n;
}"""
ORANGE, TEAL, BASE = (217, 72, 15), (15, 124, 140), (238, 242, 246)


def resource_of(slug: str) -> dict[str, Any]:
    res: dict[str, Any] = call_as(None, "dataset_show", {"id": slug})["resources"][0]
    return res


def new_page(chromium: Any, lang: str) -> tuple[Any, Any, list[str]]:
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN" if lang == "zh" else "en-US")
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return context, page, errors


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_geojson_features_on_the_district_map(server: str, browser: Any, sqlite_demo_store: Store,
                                              lang: str) -> None:
    from playwright.sync_api import expect

    sqlite_demo_store.activate()
    SHOTS.mkdir(parents=True, exist_ok=True)
    context, page, errors = new_page(browser, lang)
    query = "?lang=en" if lang == "en" else "?lang=zh"

    trees = resource_of("ancient-trees")
    preview = call_as(None, "resource_preview", {"id": trees["id"]})
    page.goto(f"{server}/dataset/ancient-trees/resource/{trees['id']}{query}")
    drawn = page.locator('#geo-map[data-drawn="geojson"]')
    expect(drawn).to_have_attribute("data-features", str(preview["count"]), timeout=20_000)
    expect(page.locator("#geo-count")).to_contain_text("200 个要素" if lang == "zh" else "200 features")
    assert page.locator("#geo-table tbody tr").count() == 100  # the first page of the feature table
    assert page.evaluate(COUNT_PIXELS, ["geo-map", [ORANGE]]) > 200  # the points are drawn
    assert page.evaluate(COUNT_PIXELS, ["geo-map", [BASE]]) > 20_000  # on the districts
    expect(page.locator("#no-table")).to_have_count(0)

    # hovering a point shows its properties, a click shows them beside the map and marks its row
    def alone(f: dict[str, Any]) -> float:
        x, y = f["geometry"]["coordinates"]
        return min((x - g["geometry"]["coordinates"][0]) ** 2 + (y - g["geometry"]["coordinates"][1]) ** 2
                   for g in preview["features"] if g is not f)
    first = max(preview["features"], key=alone)  # a point no other covers
    x, y = page.evaluate("""(lnglat) => {
      const chart = echarts.getInstanceByDom(document.getElementById('geo-map'));
      const box = document.getElementById('geo-map').getBoundingClientRect();
      const p = chart.convertToPixel({geoIndex: 0}, lnglat);
      return [box.left + p[0], box.top + p[1]];
    }""", first["geometry"]["coordinates"])
    page.mouse.move(x, y)
    expect(page.locator("#geo-map .map-tooltip")).to_contain_text(first["properties"]["古树编号"], timeout=5000)
    page.mouse.click(x, y)
    expect(page.locator("#geo-props dl")).to_contain_text(first["properties"]["古树编号"])
    expect(page.locator("#geo-table tbody tr.selected")).to_have_count(1)
    page.screenshot(path=str(SHOTS / f"map-geojson-points-{lang}.png"), full_page=True)
    zoom = "() => echarts.getInstanceByDom(document.getElementById('geo-map')).getOption().geo[0].zoom"
    before = page.evaluate(zoom)
    page.mouse.wheel(0, -300)  # the map zooms and pans (roam)
    page.wait_for_function(f"(z) => ({zoom})() > z", arg=before)

    # polygons: the parcels; a row of the table selects its parcel on the map
    parcels = resource_of("land-supply-parcels")
    page.goto(f"{server}/dataset/land-supply-parcels/resource/{parcels['id']}{query}")
    expect(page.locator('#geo-map[data-drawn="geojson"]')).to_have_attribute("data-features", "150", timeout=20_000)
    assert page.evaluate(COUNT_PIXELS, ["geo-map", [TEAL]]) > 100
    row = page.locator("#geo-table tbody tr").nth(4)
    code = row.locator("td").nth(2).inner_text()
    row.click()
    expect(page.locator("#geo-map")).to_have_attribute("data-selected", "4")
    expect(page.locator("#geo-props")).to_contain_text(code)
    expect(page.locator("#geo-props h3")).to_contain_text("Polygon")
    page.screenshot(path=str(SHOTS / f"map-geojson-polygons-{lang}.png"), full_page=True)

    # the datum: data said to be GCJ-02 moves onto the WGS-84 base layer, about 0.005° west and 0.0025° north
    first_vertex = "() => echarts.getInstanceByDom(document.getElementById('geo-map')).getOption().series[0].data[0].value"
    before_xy = page.evaluate(first_vertex)
    page.select_option("#geo-datum", "gcj02")
    expect(page.locator("#geo-map")).to_have_attribute("data-datum", "gcj02")
    after_xy = page.evaluate(first_vertex)
    assert 0.004 < before_xy[0] - after_xy[0] < 0.007 and 0.001 < after_xy[1] - before_xy[1] < 0.004
    assert not errors, errors
    context.close()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_point_map_of_a_table_follows_the_preview_filters(server: str, browser: Any,
                                                          sqlite_demo_store: Store, lang: str) -> None:
    from playwright.sync_api import expect

    sqlite_demo_store.activate()
    context, page, errors = new_page(browser, lang)
    res = resource_of("urban-parks")
    total = call_as(None, "datastore_search", {"resource_id": res["id"], "limit": 0})["total"]
    tianhe = call_as(None, "datastore_search", {"resource_id": res["id"], "filters": {"所属区": "天河区"},
                                                "limit": 0})["total"]
    assert 0 < tianhe < total
    query = "?lang=en" if lang == "en" else "?lang=zh"
    page.goto(f"{server}/dataset/urban-parks/resource/{res['id']}{query}#tab-map")
    points = page.locator('#pm-map[data-drawn="points"]')
    expect(points).to_have_attribute("data-points", str(total), timeout=20_000)
    expect(page.locator("#pm-count")).to_contain_text(f"{total}")
    assert page.evaluate(COUNT_PIXELS, ["pm-map", [ORANGE]]) > 300

    page.select_option("#pm-value", "面积_公顷")  # sized and coloured by the park's area
    expect(points).to_have_attribute("data-points", str(total), timeout=10_000)
    page.screenshot(path=str(SHOTS / f"map-points-{lang}.png"), full_page=True)

    # filter the preview to one district: the map shows its rows only
    page.locator('a[data-tab="preview"]').click()
    page.fill('.filter-row input[data-col="所属区"]', "天河区")
    page.press('.filter-row input[data-col="所属区"]', "Enter")
    expect(page.locator("#pv-total b")).to_have_text(str(tianhe))
    page.locator('a[data-tab="map"]').click()
    expect(page.locator('#pm-map[data-drawn="points"]')).to_have_attribute("data-points", str(tianhe), timeout=10_000)
    page.screenshot(path=str(SHOTS / f"map-points-filtered-{lang}.png"), full_page=True)
    assert not errors, errors
    context.close()
