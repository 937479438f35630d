"""A citizen's walk through the demo portal in a real browser (headless Chromium), anonymous, in Chinese and in
English: search for a dataset, open it, preview its table, see its points on the map, download it as CSV, then
a GeoJSON file on the district map. Nothing is requested from another host and nothing errors in the console.

Screenshots go to the test's tmp dir and are copied to /tmp/shots/citizen/ to be looked at."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from cityhub.geo import to_wgs84
from tests.conftest import Store, call_as

pytestmark = pytest.mark.browser

LOOKED_AT = Path("/tmp/shots/citizen")
# what a citizen types, and the dataset each search must find
WALK = {
    "zh": {"q": "公园", "points": "urban-parks", "geo_q": "古树", "geo": "ancient-trees"},
    "en": {"q": "parks", "points": "urban-parks", "geo_q": "ancient trees", "geo": "ancient-trees"},
}
ORANGE = (217, 72, 15)
COUNT_ORANGE = """(id) => {
  const canvas = document.querySelector('#' + id + ' canvas');
  const img = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let n = 0;
  for (let i = 0; i < img.length; i += 4) {
    if (Math.abs(img[i] - 217) < 40 && Math.abs(img[i + 1] - 72) < 40 && Math.abs(img[i + 2] - 15) < 40) n++;
  }
  return n;
}"""


def _search_and_open(page: Any, server: str, q: str, slug: str, lang: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"{server}/?lang={lang}")
    page.fill("#home-q", q)
    page.press("#home-q", "Enter")
    page.wait_for_url("**/dataset?q=*")
    found = call_as(None, "dataset_search", {"q": q, "rows": 20})
    expect(page.locator("#result-count")).to_have_text(str(found["count"]))
    card = page.locator(f'.dataset-card .dataset-title a[href="/dataset/{slug}"]')
    expect(card).to_have_count(1)
    card.click()
    page.wait_for_url(f"**/dataset/{slug}")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_citizen_finds_previews_maps_and_downloads(server: str, browser: Any, sqlite_demo_store: Store,
                                                   lang: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    sqlite_demo_store.activate()
    walk = WALK[lang]
    shots = tmp_path / "citizen"
    shots.mkdir()
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True,
                                  locale="zh-CN" if lang == "zh" else "en-US")
    page = context.new_page()
    errors: list[str] = []
    elsewhere: list[str] = []
    own = urlsplit(server).netloc

    def on_request(request: Any) -> None:
        parts = urlsplit(request.url)
        if parts.scheme not in ("data", "blob", "about") and parts.netloc != own:
            elsewhere.append(request.url)
    page.on("request", on_request)
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    def shot(name: str) -> None:
        page.screenshot(path=str(shots / f"{lang}-{name}.png"), full_page=True)

    # find the parks and open the dataset
    _search_and_open(page, server, walk["q"], walk["points"], lang)
    ds = call_as(None, "dataset_show", {"id": walk["points"]})
    expect(page.locator("h1")).to_have_text(ds["title"] if lang == "zh" else ds["title_en"])
    shot("1-dataset")

    # preview its table
    res = next(r for r in ds["resources"] if r["datastore_active"])
    page.locator(f'a.preview[href*="{res["id"]}"]').click()
    page.wait_for_url(f"**/resource/{res['id']}*")
    expect(page.locator("#preview-table[data-loaded]")).to_have_count(1)
    total = call_as(None, "datastore_search", {"resource_id": res["id"], "limit": 0})["total"]
    expect(page.locator("#preview-rows tr")).to_have_count(min(50, total))
    expect(page.locator("#pv-total b")).to_have_text(str(total))
    shot("2-preview")

    # the points on the district map, in the datum their data dictionary declares
    page.locator('a[data-tab="map"]').click()
    points = page.locator('#pm-map[data-drawn="points"]')
    expect(points).to_have_attribute("data-points", str(total), timeout=20_000)
    expect(points).to_have_attribute("data-datum", "wgs84")
    assert page.locator("#pm-datum").input_value() == "wgs84"
    assert page.evaluate(COUNT_ORANGE, "pm-map") > 300
    # the page's datum transforms are the server's (a GCJ-02 Canton Tower back to WGS-84)
    got = page.evaluate("() => window.cityhubDatum.toWgs84(113.329921, 23.103798, 'gcj02')")
    assert got == pytest.approx(to_wgs84(113.329921, 23.103798, "gcj02"), abs=1e-7)
    page.wait_for_timeout(300)
    shot("3-points-map")

    # download the table as CSV
    page.locator('a[data-tab="download"]').click()
    link = page.locator('#tab-download a[data-format="csv"]').first
    expect(link).to_be_visible()
    with page.expect_download() as info:
        link.click()
    text = Path(info.value.path()).read_bytes().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    columns = [c["name"] for c in call_as(None, "datastore_info", {"id": res["id"]})["columns"]]
    assert rows[0][-len(columns):] == columns and len(rows) == total + 1
    assert info.value.suggested_filename.endswith(".csv")
    shot("4-download")

    # a GeoJSON file: the ancient trees on the district map
    _search_and_open(page, server, walk["geo_q"], walk["geo"], lang)
    trees = call_as(None, "dataset_show", {"id": walk["geo"]})
    geo_res = next(r for r in trees["resources"] if r["format"] == "GEOJSON")
    page.goto(f"{server}/dataset/{walk['geo']}/resource/{geo_res['id']}")
    preview = call_as(None, "resource_preview", {"id": geo_res["id"]})
    expect(page.locator('#geo-map[data-drawn="geojson"]')).to_have_attribute("data-features", str(preview["count"]),
                                                                              timeout=20_000)
    assert page.evaluate(COUNT_ORANGE, "geo-map") > 200
    page.locator("#geo-table tbody tr").nth(2).click()
    expect(page.locator("#geo-props dl")).to_be_visible()
    page.wait_for_timeout(300)
    shot("5-geojson-map")

    assert not elsewhere, elsewhere
    assert not errors, errors
    context.close()
    LOOKED_AT.mkdir(parents=True, exist_ok=True)
    for png in sorted(shots.glob("*.png")):
        shutil.copy(png, LOOKED_AT / png.name)
