"""The portal in a real browser: headless Chromium walks home → search → dataset → download, with screenshots."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Store, call_as
from tests.live import portal_sign_in

SHOTS = Path(__file__).parent / "screenshots"

pytestmark = pytest.mark.browser


def test_home_search_dataset_download(server: str, browser: object, sqlite_demo_store: Store) -> None:
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    sqlite_demo_store.activate()
    SHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN", accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)

    page.goto(server + "/")
    expect(page.locator(".brand-text strong")).to_have_text("开放广州")
    stats = call_as(None, "portal_stats", {})
    expect(page.locator("#ind-open .ind-value b")).to_have_text(f"{stats['open_datasets']:,}")
    page.screenshot(path=str(SHOTS / "01-home.png"), full_page=True)

    page.fill("#home-q", "交通")
    page.press("#home-q", "Enter")
    page.wait_for_url("**/dataset?q=*")
    cards = page.locator(".dataset-card")
    expect(cards.first).to_be_visible()
    assert cards.count() >= 3
    expected = call_as(None, "dataset_search", {"q": "交通", "rows": 20})
    expect(page.locator("#result-count")).to_have_text(str(expected["count"]))
    page.screenshot(path=str(SHOTS / "02-search.png"), full_page=True)

    # the first result open to everyone with a file (a conditionally open one offers no download: tested below)
    pick = next(d for d in expected["results"] if d["opening_class"] == "无条件开放" and d["resource_formats"])
    first = page.locator(f'.dataset-card .dataset-title a[href="/dataset/{pick["name"]}"]')
    title = first.inner_text()
    first.click()
    page.wait_for_url("**/dataset/*")
    expect(page.locator("h1")).to_have_text(title)
    name = page.url.rstrip("/").rsplit("/", 1)[-1]
    ds = call_as(None, "dataset_show", {"id": name})
    expect(page.locator("#ds-code code")).to_have_text(ds["code"])
    page.screenshot(path=str(SHOTS / "03-dataset.png"), full_page=True)

    resource = next(r for r in ds["resources"] if r["uploaded"])
    with page.expect_download() as info:
        page.locator(f'a.download[href$="/resource/{resource["id"]}/download"]').click()
    download = info.value
    data = Path(download.path()).read_bytes()
    assert data and len(data) == resource["size"]
    assert download.suggested_filename.endswith("." + resource["format"].lower())

    page.goto(server + "/?lang=en")
    expect(page.locator("#ind-h")).to_contain_text("Live indicators")
    page.screenshot(path=str(SHOTS / "04-home-en.png"), full_page=True)
    page.goto(server + "/dataset?q=transport")  # the language sticks through the cookie
    expect(page.locator(".facets-title")).to_have_text("Filters")

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(server + "/?lang=zh")
    page.screenshot(path=str(SHOTS / "05-home-mobile.png"), full_page=True)
    assert not errors, errors
    context.close()


def test_resource_preview_sort_chart_and_map(server: str, browser: object, sqlite_demo_store: Store) -> None:
    """The datastore resource page: rows load through the API, a header sorts, the chart builder draws a bar
    chart and the Guangzhou district map with ECharts."""
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    sqlite_demo_store.activate()
    SHOTS.mkdir(parents=True, exist_ok=True)
    ds = call_as(None, "dataset_show", {"id": "air-quality-hourly"})
    res = next(r for r in ds["resources"] if r["datastore_active"])
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    page.goto(f"{server}/dataset/{ds['name']}")
    page.locator(f'a.preview[href*="{res["id"]}"]').click()
    page.wait_for_url(f"**/resource/{res['id']}*")
    expect(page.locator("#preview-table[data-loaded]")).to_have_count(1)  # the rows came through the API
    rows = page.locator("#preview-rows tr")
    expect(rows).to_have_count(50)

    page.locator('#preview-table th[data-col="AQI"] .sort-link').click()
    expect(page.locator('#preview-table th[data-col="AQI"]')).to_have_attribute("aria-sort", "ascending")
    lowest = call_as(None, "datastore_search", {"resource_id": res["id"], "sort": "AQI asc, _id asc", "limit": 1})
    aqi_index = [c["name"] for c in call_as(None, "datastore_info", {"id": res["id"]})["columns"]].index("AQI")
    expect(rows.first.locator("td").nth(aqi_index + 1)).to_have_text(str(lowest["records"][0]["AQI"]))
    expect(page.locator("#api-ckan")).to_contain_text("sort=AQI%20asc")
    assert "sort=AQI" in page.url
    page.screenshot(path=str(SHOTS / "10-preview.png"), full_page=True)

    page.locator('[data-tab="chart"]').click()
    expect(page.locator("#chart-form[data-ready]")).to_have_count(1)
    page.select_option("#ch-type", "bar")
    page.select_option("#ch-x", "首要污染物")
    page.select_option("#ch-fn", "avg")
    page.select_option("#ch-col", "AQI")
    page.click("#ch-draw")
    expect(page.locator('#ch-out[data-drawn="bar"] canvas')).to_have_count(1)
    expect(page.locator("#ch-error")).to_be_hidden()
    page.wait_for_timeout(600)  # the bars' entry animation
    page.locator("#tab-chart").screenshot(path=str(SHOTS / "11-chart.png"))

    expect(page.locator("#ch-type-map")).to_be_enabled()  # 所属区 holds district names
    page.select_option("#ch-type", "map")
    page.click("#ch-draw")
    expect(page.locator('#ch-out[data-drawn="map"] canvas')).to_have_count(1)
    assert page.locator("#ch-x").input_value() == "所属区"
    page.wait_for_timeout(600)
    page.locator("#tab-chart").screenshot(path=str(SHOTS / "12-map.png"))
    assert not errors, errors
    context.close()


def test_api_docs_and_steward_forms_offline(server: str, browser: object, sqlite_demo_store: Store) -> None:
    """Swagger UI renders from the package with no request to another host; a steward's forms (data items and
    plan items as rows, a resource's edit page, the column types) and the TOTP QR code, in Chinese and English."""
    from urllib.parse import urlsplit

    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    sqlite_demo_store.activate()
    SHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    outside: list[str] = []
    local = urlsplit(server).netloc
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("request", lambda req: outside.append(req.url)
            if urlsplit(req.url).scheme in ("http", "https") and urlsplit(req.url).netloc != local else None)

    page.goto(server + "/api/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("CityHub API", timeout=30_000)  # openapi.json is built on first ask
    expect(page.locator(".opblock").first).to_be_visible()
    page.screenshot(path=str(SHOTS / "20-api-docs.png"))

    portal_sign_in(page, server, "steward", sqlite_demo_store.passwords["steward"])
    found = call_as(None, "dataset_search", {"filters": {"organization": ["gz-transport"]}, "rows": 50,
                                             "full": True})["results"]
    ds = next(d for d in found if any(r["datastore_active"] and r["uploaded"] for r in d["resources"]))
    rid = ds["resources"][0]["id"]
    for lang in ("zh", "en"):
        page.goto(f"{server}/dataset/{ds['name']}/edit?lang={lang}")
        rows = page.locator("#data-items tbody tr")
        before = rows.count()
        page.locator('button.row-add[data-target="data-items"]').click()  # in place, no round trip
        expect(rows).to_have_count(before + 1)
        rows.last.locator('input[name="item_name"]').fill("新列" if lang == "zh" else "new_column")
        rows.last.locator('select[name="item_type"]').select_option("integer")
        page.locator("#data-items-set").screenshot(path=str(SHOTS / f"21-data-items-{lang}.png"))
        rows.last.locator("button.row-remove").click()
        expect(rows).to_have_count(before)

        page.goto(f"{server}/plans/gz-transport/2030/edit?lang={lang}")
        plan_rows = page.locator("#plan-items tbody tr")
        count = plan_rows.count()
        page.locator('button.row-add[data-target="plan-items"]').click()
        expect(plan_rows).to_have_count(count + 1)
        expect(plan_rows.last.locator('input[type="date"]')).to_be_visible()
        page.screenshot(path=str(SHOTS / f"22-plan-form-{lang}.png"), full_page=True)

        page.goto(f"{server}/dataset/{ds['name']}/resource/{rid}/edit?lang={lang}")
        expect(page.locator("#resource-form")).to_be_visible()
        page.screenshot(path=str(SHOTS / f"23-resource-edit-{lang}.png"), full_page=True)

        live = next((r for r in ds["resources"] if r["datastore_active"] and r["uploaded"]), None)
        if live is not None:
            page.goto(f"{server}/dataset/{ds['name']}/resource/{live['id']}?lang={lang}#reload")
            expect(page.locator("#column-types")).to_be_visible()
            page.locator("#reload").screenshot(path=str(SHOTS / f"24-column-types-{lang}.png"))

        page.goto(f"{server}/account?lang={lang}")
        if page.locator("#totp-begin-form").count():
            page.locator('#totp-begin-form button[type="submit"]').click()
            page.wait_for_load_state()
        expect(page.locator("#totp-qr svg")).to_be_visible()
        box = page.locator("#totp-qr svg").bounding_box()
        assert box and box["width"] >= 120
        page.locator("#totp").screenshot(path=str(SHOTS / f"25-totp-{lang}.png"))
    assert not outside, outside
    assert not errors, errors
    context.close()
