"""Map previews on the resource page: GeoJSON files (the preview API: valid, partial, malformed, refused as the
download is) and the point map of tables with coordinate columns; the district base layer (WGS-84)."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cityhub import jobs
from cityhub.catalog.schemas import UploadedFile
from tests.conftest import call_as, open_dataset, set_settings, token_for
from tests.web.test_pages import page

SQUARE = [[113.30, 23.10], [113.32, 23.10], [113.32, 23.12], [113.30, 23.12], [113.30, 23.10]]
MIXED = {"type": "FeatureCollection", "features": [
    {"type": "Feature", "geometry": {"type": "Point", "coordinates": [113.324, 23.106]}, "properties": {"名称": "广州塔"}},
    {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[113.26, 23.13], [113.33, 23.13]]},
     "properties": {"名称": "中山路"}},
    {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [SQUARE]}, "properties": {"名称": "地块"}},
    {"type": "Feature", "geometry": {"type": "MultiLineString", "coordinates": [[[113.2, 23.0], [113.3, 23.0]]]},
     "properties": {}},
    {"type": "Feature", "geometry": {"type": "MultiPolygon", "coordinates": [[SQUARE]]}, "properties": None},
]}


def encode(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode()


def new_dataset(user: str = "steward", **over: Any) -> str:
    department = "gz-transport" if user == "steward" else "gz-ecology-environment"
    name: str = open_dataset(user, department=department, **over)["name"]
    return name


def upload(dataset: str, filename: str, data: bytes, user: str = "steward") -> str:
    res = call_as(user, "resource_create", {"dataset": dataset, "name": filename,
                                            "upload": UploadedFile(filename=filename, stream=io.BytesIO(data))})
    rid: str = res["id"]
    jobs.wait_idle()  # a file the datastore loads is served once its load (and personal-data scan) has ended
    return rid


def preview(client: TestClient, rid: str, token: str | None = None) -> Any:
    return client.get(f"/api/v1/resources/{rid}/preview", headers={"Authorization": token} if token else {})


def first_resource(slug: str) -> dict[str, Any]:
    res: dict[str, Any] = call_as(None, "dataset_show", {"id": slug})["resources"][0]
    return res


def map_config(body: str) -> dict[str, Any]:
    m = re.search(r'<script type="application/json" id="map-config">(.*?)</script>', body, re.S)
    assert m, "the page has no map configuration"
    config: dict[str, Any] = json.loads(m.group(1))
    return config


# -- GeoJSON files --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("slug", "kind"), [("ancient-trees", "Point"), ("land-supply-parcels", "Polygon")])
def test_demo_geojson_resources_preview_what_their_file_holds(app_client: TestClient, slug: str, kind: str) -> None:
    res = first_resource(slug)
    assert res["format"] == "GEOJSON" and res["uploaded"]
    resp = preview(app_client, res["id"])
    assert resp.status_code == 200, resp.text
    body = resp.json()
    stored = json.loads(app_client.get(f"/dataset/{slug}/resource/{res['id']}/download").content)
    assert body["type"] == "FeatureCollection" and body["count"] == len(stored["features"]) > 100
    assert body["geometry_types"] == {kind: body["count"]} and not body["truncated"] and body["notes"] == []
    for got, want in zip(body["features"], stored["features"], strict=True):
        assert got["properties"] == want["properties"]
        assert json.dumps(got["geometry"]["coordinates"]) == json.dumps(want["geometry"]["coordinates"])
    xs = [p[0] for f in stored["features"] for p in (f["geometry"]["coordinates"][0] if kind == "Polygon"
                                                      else [f["geometry"]["coordinates"]])]
    assert body["bbox"][0] == min(xs) and body["bbox"][2] == max(xs)

    html = page(app_client, f"/dataset/{slug}/resource/{res['id']}")
    assert 'id="geo-preview"' in html and 'data-mode="yes"' in html and 'id="no-table"' not in html
    assert '<script src="/static/js/map.js" defer></script>' in html and "echarts.min.js" in html
    config = map_config(html)
    assert config["geo"] == "yes" and config["preview"] == f"/api/v1/resources/{res['id']}/preview"
    assert config["points"] is None


def test_uploaded_lines_polygons_and_multi_geometries(app_client: TestClient) -> None:
    name = new_dataset()
    rid = upload(name, "roads.geojson", encode(MIXED))
    body = preview(app_client, rid).json()
    assert body["geometry_types"] == {"Point": 1, "LineString": 1, "Polygon": 1, "MultiLineString": 1, "MultiPolygon": 1}
    assert body["bbox"] == [113.2, 23.0, 113.33, 23.13] and body["properties"] == ["名称"]
    assert body["features"][4]["properties"] == {}  # null properties become an empty object

    # a FeatureCollection uploaded as .json: the datastore may make a table of it, the page still maps it
    rid_json = upload(name, "roads.json", encode(MIXED))
    assert preview(app_client, rid_json).json()["count"] == 5
    assert map_config(page(app_client, f"/dataset/{name}/resource/{rid_json}"))["geo"] == "maybe"
    # a plain table as .json: no map
    rid_rows = upload(name, "rows.json", encode([{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]))
    assert preview(app_client, rid_rows).status_code == 422


@pytest.mark.parametrize(("data", "zh", "en"), [
    (b'{"type": "FeatureCollection", "features": [{"type": "Feature", ', "结束之前", "ends before"),
    (b'{"type": "Topology", "objects": {}}', "Topology", "Topology"),
    (b'{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Point","coordinates":'
     b'[38500000, 2560000]},"properties":{}}]}', "投影坐标", "projected"),
])
def test_malformed_geojson_gets_a_bilingual_422(app_client: TestClient, data: bytes, zh: str, en: str) -> None:
    rid = upload(new_dataset(), "bad.geojson", data)
    resp = preview(app_client, rid)
    assert resp.status_code == 422
    err = resp.json()["error"]
    assert err["type"] == "validation_error" and zh in err["message"] and en in err["message_en"]
    assert err["message"].startswith("无法预览") and err["message_en"].startswith("Cannot preview")


def test_a_large_file_is_previewed_partially_with_a_bilingual_note(app_client: TestClient,
                                                                    settings_env: dict[str, str]) -> None:
    feats = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [113 + i / 1e5, 23.1]},
              "properties": {"n": i, "说明": "某某街道某某社区公共设施" * 3}} for i in range(12_000)]
    data = encode({"type": "FeatureCollection", "features": feats})
    assert len(data) > 2 << 20
    rid = upload(new_dataset(), "big.geojson", data)

    set_settings(settings_env, preview_max_features=1000)
    body = preview(app_client, rid).json()
    assert body["truncated"] and body["limit"] == "features" and body["count"] == 1000
    assert [f["properties"]["n"] for f in body["features"]] == list(range(1000))
    assert body["notes"][0]["message"] == "只显示前 1,000 个要素(预览上限);完整数据请下载文件。"
    assert "first 1,000 features" in body["notes"][0]["message_en"]

    set_settings(settings_env, preview_max_features=100_000, preview_max_mb=1)
    body = preview(app_client, rid).json()
    assert body["truncated"] and body["limit"] == "bytes" and 0 < body["count"] < 12_000
    assert body["bytes_read"] <= 1 << 20 and body["size"] == len(data)
    assert f"{len(data) / (1 << 20):.1f} MiB" in body["notes"][0]["message"] and "1.0 MiB" in body["notes"][0]["message_en"]

    set_settings(settings_env, preview_max_mb=16, preview_max_vertices=500)
    body = preview(app_client, rid).json()
    assert body["limit"] == "vertices" and body["count"] == 500 and "500 positions" in body["notes"][0]["message_en"]


def test_a_link_is_not_fetched(app_client: TestClient) -> None:
    name = new_dataset()
    link = call_as("steward", "resource_create", {"dataset": name, "name": "外部", "url": "https://example.org/a.geojson",
                                                  "format": "GeoJSON"})
    resp = preview(app_client, link["id"])
    assert resp.status_code == 422 and "open the link" in resp.json()["error"]["message_en"]
    html = page(app_client, f"/dataset/{name}/resource/{link['id']}")
    assert 'id="geo-preview"' not in html


def test_preview_is_refused_exactly_as_the_download_is(app_client: TestClient) -> None:
    """The preview's auth function is the download's (catalog/auth.py): compared over datasets × callers."""
    cases = {"open": new_dataset(), "private": new_dataset(private=True),
             "not-open": new_dataset(opening_class="不予开放", sharing_class="有条件共享",
                                     sharing_condition="仅限政务使用", sharing_basis="《政务数据管理办法》")}
    callers = {"anonymous": None, **{u: token_for(u) for u in ("analyst", "steward", "eco_steward", "admin")}}
    seen = set()
    for label, name in cases.items():
        rid = upload(name, "p.geojson", encode(MIXED))
        for who, token in callers.items():
            headers = {"Authorization": token} if token else {}
            download = app_client.get(f"/dataset/{name}/resource/{rid}/download", headers=headers)
            shown = preview(app_client, rid, token)
            assert shown.status_code == download.status_code, (label, who, shown.text)
            seen.add(shown.status_code)
            if shown.status_code == 200:
                assert shown.json()["count"] == 5
    assert 200 in seen and seen - {200}, seen  # some callers were refused, some were not
    assert preview(app_client, "no-such-resource").status_code == 404


# -- tables with coordinates ----------------------------------------------------------------------------------


def test_tables_with_coordinate_columns_get_a_point_map_tab(app_client: TestClient) -> None:
    res = first_resource("urban-parks")
    url = f"/dataset/urban-parks/resource/{res['id']}"
    html = page(app_client, url)
    assert 'data-tab="map"' in html and 'id="tab-map"' in html and 'id="geo-preview"' not in html
    points = map_config(html)["points"]
    assert points["kind"] == "columns" and (points["lng"], points["lat"]) == ("经度", "纬度")
    assert points["label"] == "公园名称" and "面积_公顷" in points["numeric"] and points["limit"] == 5000
    assert '<option value="面积_公顷">面积_公顷</option>' in html
    assert (points["datum"], points["datum_named"]) == ("wgs84", True)  # the data items say WGS84坐标系
    # filtered to nothing: still judged on the table's first rows
    assert map_config(page(app_client, url + "?filter.所属区=无此区"))["points"]["lng"] == "经度"

    other = first_resource("gdp-by-district")
    html = page(app_client, f"/dataset/gdp-by-district/resource/{other['id']}")
    assert 'data-tab="map"' not in html and 'id="map-config"' not in html


def test_a_table_of_wkt_points(app_client: TestClient) -> None:
    name = new_dataset()
    csv = "站点,位置,客流\n体育西路,POINT (113.3215 23.1349),95000\n公园前,POINT (113.2644 23.1262),80000\n"
    rid = call_as("steward", "resource_create", {
        "dataset": name, "name": "stations.csv", "upload": UploadedFile(filename="stations.csv",
                                                                         stream=io.BytesIO(csv.encode()))})["id"]
    jobs.wait_idle()  # the automatic load first: two loads of one table at once contend on SQLite's writer lock
    call_as("steward", "datastore_create", {"resource_id": rid, "wait": True})
    points = map_config(page(app_client, f"/dataset/{name}/resource/{rid}"))["points"]
    assert points["kind"] == "wkt" and points["column"] == "位置" and points["label"] == "站点"
    assert points["numeric"] == ["客流"]


def test_the_data_dictionary_declares_a_tables_datum(app_client: TestClient) -> None:
    """Coordinates copied from AMap, said so in the data items: the map starts at GCJ-02 and moves the points
    onto the WGS-84 base layer (map.js)."""
    items = [{"name": "站点", "type": "string", "description": "站点名称"},
             {"name": "经度", "type": "number", "description": "高德地图坐标(GCJ-02)经度"},
             {"name": "纬度", "type": "number", "description": "高德地图坐标(GCJ-02)纬度"}]
    name = new_dataset(data_items=items)
    csv = "站点,经度,纬度\n广州塔,113.329921,23.103798\n体育西路,113.327101,23.132312\n"
    rid = call_as("steward", "resource_create", {
        "dataset": name, "name": "gcj.csv", "upload": UploadedFile(filename="gcj.csv", stream=io.BytesIO(csv.encode()))})["id"]
    jobs.wait_idle()  # the automatic load first: two loads of one table at once contend on SQLite's writer lock
    call_as("steward", "datastore_create", {"resource_id": rid, "wait": True})
    points = map_config(page(app_client, f"/dataset/{name}/resource/{rid}"))["points"]
    assert (points["lng"], points["lat"], points["datum"], points["datum_named"]) == ("经度", "纬度", "gcj02", True)


# -- the base layer ---------------------------------------------------------------------------------------------


def test_district_base_layer_is_wgs84(app_client: TestClient) -> None:
    """One datum for every map: the base layer is the bundled WGS-84 boundaries whatever is asked; data in
    GCJ-02 or BD-09 is converted on the page (map.js), never the base layer."""
    from cityhub.geo import districts_geojson

    bundled = json.loads(districts_geojson())
    got = app_client.get("/static-geo/guangzhou.json")
    assert got.status_code == 200 and got.headers["content-type"].startswith("application/geo+json")
    body = json.loads(got.content)
    assert body["datum"] == "wgs84" and body["features"] == bundled["features"] and len(body["features"]) == 11
    assert app_client.get("/static-geo/guangzhou.json?datum=gcj02").content == got.content
