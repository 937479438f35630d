"""The datastore parts of the portal: the resource page (table, preview, tabs, versions), uploads with load
status, the personal-data block, rollback, the English switch and the vendored ECharts."""

from __future__ import annotations

import html
import io
import json
import random
import re
from typing import Any
from urllib.parse import quote

from fastapi.testclient import TestClient
from stdnum.cn import ric

from tests.conftest import call_as, open_dataset
from tests.web.test_pages import HTML, csrf_of, page, signed_in


def live_resource(dataset: str = "air-quality-hourly") -> tuple[dict[str, Any], dict[str, Any]]:
    ds = call_as(None, "dataset_show", {"id": dataset})
    res = next(r for r in ds["resources"] if r["datastore_active"])
    return ds, res


def resource_url(ds_name: str, rid: str) -> str:
    return f"/dataset/{ds_name}/resource/{rid}"


def new_dataset(**over: Any) -> dict[str, Any]:
    created: dict[str, Any] = open_dataset(**over)
    return created


def upload_via_form(client: TestClient, ds_name: str, filename: str, data: bytes, schema: str = "") -> Any:
    form = page(client, f"/dataset/{ds_name}/resource/new")
    return client.post(f"/dataset/{ds_name}/resource/new",
                       data={"csrf_token": csrf_of(form, "resource-form"), "name": filename, "description": "",
                             "url": "", "format": "", "schema": schema},
                       files={"file": (filename, data, "text/csv")}, headers=HTML, follow_redirects=False)


def table_rows(body: str) -> list[list[str]]:
    """The preview table's body rows as cell texts."""
    tbody = body[body.index('id="preview-rows"'):]
    tbody = tbody[:tbody.index("</tbody>")]
    rows = []
    for tr in re.findall(r"<tr>(.*?)</tr>", tbody, re.S):
        cells = [html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)]
        rows.append(cells)
    return rows


def resident_ids(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        birth = f"{rng.randint(2001, 2018)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        body = f"440106{birth}{i % 1000:03d}"
        out.append(body + ric.calc_check_digit(body + "0"))
    assert all(ric.is_valid(x) for x in out)
    return out


# -- the resource page ---------------------------------------------------------------------------------------


def test_resource_page_renders_table_server_side(app_client: TestClient) -> None:
    ds, res = live_resource()
    info = call_as(None, "datastore_info", {"id": res["id"]})
    first = call_as(None, "datastore_search", {"resource_id": res["id"], "limit": 50})

    dataset_page = page(app_client, f"/dataset/{ds['name']}")
    assert f'href="{resource_url(ds["name"], res["id"])}#tab-preview"' in dataset_page  # the Preview button

    body = page(app_client, resource_url(ds["name"], res["id"]))
    for col in info["columns"]:
        assert f'data-col="{col["name"]}"' in body
    assert 'class="type-badge type-datetime">日期时间<' in body and 'class="type-badge type-integer">整数<' in body
    m = re.search(r'id="pv-total">共 <b>([\d,]+)</b>', body)
    assert m and int(m.group(1).replace(",", "")) == info["rows"] == first["total"]
    rows = table_rows(body)
    assert len(rows) == 50
    names = [c["name"] for c in info["columns"]]
    for got, rec in zip(rows[:5], first["records"][:5], strict=True):
        assert got[0] == str(rec["_id"])
        assert got[1 + names.index("站点名称")] == rec["站点名称"]
        assert got[1 + names.index("AQI")] == str(rec["AQI"])
    # the tabs, the API examples and the downloads are in the page
    for tab in ("预览", "统计", "图表", "API", "下载"):
        assert f">{tab}</a>" in body
    assert f"/api/3/action/datastore_search?resource_id={res['id']}" in body
    sql = html.unescape(re.search(r'id="api-sql-text"[^>]*><code>(.*?)</code>', body, re.S).group(1))
    assert sql.startswith('SELECT "') and f'count(*) FROM "{res["id"]}" GROUP BY 1' in sql
    assert call_as(None, "datastore_search_sql", {"sql": sql})["records"]  # the example runs
    assert f"/api/v1/resources/{res['id']}/datastore/download?format=csv&amp;bom=true" in body
    assert "/static/vendor/echarts/echarts.min.js" in body and "/static/js/datastore.js" in body
    assert "<script>" not in body  # CSP: no inline scripts (the config block is JSON data)
    config = json.loads(html.unescape(re.search(r'<script type="application/json" id="ds-config">(.*?)</script>',
                                                body, re.S).group(1)))
    assert config["rid"] == res["id"] and config["live"] and len(config["columns"]) == len(names)
    # anonymous visitors see the history but no rollback
    assert 'id="version-table"' in body and "rollback-form" not in body and 'id="reload-form"' not in body


def test_preview_without_javascript_sorts_filters_and_pages(app_client: TestClient) -> None:
    ds, res = live_resource()
    url = resource_url(ds["name"], res["id"])
    body = page(app_client, f"{url}?sort={quote('AQI desc')}&filter.{quote('所属区')}={quote('天河区')}")
    expected = call_as(None, "datastore_search", {"resource_id": res["id"], "filters": {"所属区": "天河区"},
                                                  "sort": "AQI desc", "limit": 50})
    rows = table_rows(body)
    assert [r[0] for r in rows] == [str(r["_id"]) for r in expected["records"]]
    assert re.search(rf'id="pv-total">共 <b>{expected["total"]}</b>', body)
    assert 'aria-sort="descending"' in body and 'value="天河区"' in body

    second = page(app_client, f"{url}?offset=50")
    assert table_rows(second)[0][0] == "51" and 'id="pv-prev" href="' in second

    bad = page(app_client, f"{url}?sort={quote('no_such_column desc')}")  # shown inline, the page still renders
    assert re.search(r'id="pv-error" role="alert">[^<]*no_such_column', bad)
    assert len(table_rows(bad)) == 50


def test_english_switch_translates_the_tabs(app_client: TestClient) -> None:
    ds, res = live_resource()
    body = page(app_client, resource_url(ds["name"], res["id"]) + "?lang=en")
    for label in ("Preview", "Column statistics", "Chart", "Download", "Versions", "CSV for Excel (UTF-8 BOM)"):
        assert f">{label}<" in body or f"⬇ {label}<" in body, label
    assert ">预览<" not in body and ">统计<" not in body and ">图表<" not in body
    config = json.loads(html.unescape(re.search(r'id="ds-config">(.*?)</script>', body, re.S).group(1)))
    assert config["lang"] == "en" and config["text"]["计数"] == "Count" and config["stages"]["pii"]


def test_echarts_and_district_map_are_served(app_client: TestClient) -> None:
    resp = app_client.get("/static/vendor/echarts/echarts.min.js")
    assert resp.status_code == 200 and "javascript" in resp.headers["content-type"]
    assert len(resp.content) > 500_000 and b"echarts" in resp.content[:2000].lower()
    lic = app_client.get("/static/vendor/echarts/LICENSE")
    assert lic.status_code == 200 and "Apache License" in lic.text
    js = app_client.get("/static/js/datastore.js")
    assert js.status_code == 200 and "registerMap" in js.text
    geo = app_client.get("/static-geo/guangzhou.json")
    assert geo.status_code == 200
    names = {f["properties"]["name"] for f in geo.json()["features"]}
    assert len(names) == 11 and "天河区" in names


# -- stewards: uploads, load status, rollback ----------------------------------------------------------------


def test_steward_upload_redirects_to_resource_page_and_loads(app_client: TestClient,
                                                              demo_passwords: dict[str, str]) -> None:
    from cityhub import jobs

    ds = new_dataset()
    signed_in(app_client, demo_passwords, "steward")
    csv = "线路名称,所属区,站点数\n1路,越秀区,20\n2路,天河区,18\n3路,海珠区,25\n".encode()
    resp = upload_via_form(app_client, ds["name"], "线路.csv", csv)
    assert resp.status_code == 303, resp.text[:500]
    location = resp.headers["location"]
    rid = call_as("system", "dataset_show", {"id": ds["name"]})["resources"][0]["id"]
    m = re.fullmatch(rf"/dataset/{ds['name']}/resource/{rid}\?job=(\d+)#load-status", location)
    assert m, location
    jobs.wait_idle()
    job = call_as("steward", "datastore_job_show", {"version_id": int(m.group(1))})
    assert job["status"] == "complete" and job["rows"] == 3

    body = page(app_client, location.split("#")[0])
    assert 'id="load-status"' in body and 'data-status="complete"' in body and "已导入 3 行" in body
    assert [r[1:] for r in table_rows(body)] == [["1路", "越秀区", "20"], ["2路", "天河区", "18"],
                                                 ["3路", "海珠区", "25"]]
    assert 'id="reload-form"' in body  # the steward may load it again with a schema

    # a Table Schema on the form: this load keeps 站点数 as text
    schema = json.dumps({"fields": [{"name": "线路名称", "type": "string"}, {"name": "所属区", "type": "string"},
                                    {"name": "站点数", "type": "string"}]})
    resp = upload_via_form(app_client, ds["name"], "线路2.csv", csv, schema=schema)
    assert resp.status_code == 303
    jobs.wait_idle()
    rid2 = resp.headers["location"].split("/resource/")[1].split("?")[0]
    info = call_as("steward", "datastore_info", {"id": rid2})
    assert {c["name"]: c["type"] for c in info["columns"]}["站点数"] == "string"

    bad = upload_via_form(app_client, ds["name"], "线路3.csv", csv, schema="{not json")
    assert bad.status_code == 422 and 'id="err-schema"' in bad.text


def test_load_blocked_for_personal_data_names_the_column(app_client: TestClient,
                                                          demo_passwords: dict[str, str]) -> None:
    from cityhub import jobs

    ds = new_dataset(opening_class="无条件开放")
    signed_in(app_client, demo_passwords, "steward")
    ids = resident_ids(30)
    out = io.StringIO()
    out.write("姓名,身份证号码,所属区\n")
    for i, rid in enumerate(ids):
        out.write(f"居民{i},{rid},天河区\n")
    resp = upload_via_form(app_client, ds["name"], "居民.csv", out.getvalue().encode())
    assert resp.status_code == 303
    jobs.wait_idle()
    body = page(app_client, resp.headers["location"].split("#")[0])
    assert 'data-status="blocked"' in body
    m = re.search(r'id="job-error">([^<]+)<', body)
    assert m and "身份证号码" in html.unescape(m.group(1)) and "个人信息" in html.unescape(m.group(1))
    assert 'id="preview-table"' not in body  # nothing went live

    en = page(app_client, resp.headers["location"].split("#")[0] + "&lang=en")
    m = re.search(r'id="job-error">([^<]+)<', en)
    assert m and "personal data" in m.group(1) and "身份证号码" in m.group(1)
    # the steward's own page shows the blocked load without ?job= too
    rid = resp.headers["location"].split("/resource/")[1].split("?")[0]
    assert 'data-status="blocked"' in page(app_client, resource_url(ds["name"], rid))


def test_rollback_button_only_for_department_stewards(app_client: TestClient,
                                                       demo_passwords: dict[str, str]) -> None:
    from cityhub import jobs
    from cityhub.catalog.schemas import UploadedFile

    ds = new_dataset()
    created = call_as("steward", "resource_create", {
        "dataset": ds["name"], "name": "表.csv",
        "upload": UploadedFile(filename="表.csv", stream=io.BytesIO(b"a,b\n1,x\n2,y\n"))})
    rid = created["id"]
    jobs.wait_idle()
    call_as("steward", "datastore_create", {"resource_id": rid, "wait": True})
    info = call_as("steward", "datastore_info", {"id": rid})
    assert info["current_version"] == 2 and [v["status"] for v in info["versions"]] == ["complete", "complete"]
    url = resource_url(ds["name"], rid)

    assert "rollback-form" not in page(app_client, url)  # anonymous
    signed_in(app_client, demo_passwords, "eco_steward")  # another department's steward
    other = page(app_client, url)
    assert "rollback-form" not in other and "设为当前版本" not in other and 'id="reload-form"' not in other
    app_client.cookies.clear()

    signed_in(app_client, demo_passwords, "steward")
    body = page(app_client, url)
    forms = re.findall(r'<form method="post" action="([^"]+/rollback)"[^>]*>.*?name="version" value="(\d+)"',
                       body, re.S)
    assert forms == [(f"{url}/rollback", "1")]  # only the complete version that is not live
    no_csrf = app_client.post(f"{url}/rollback", data={"version": "1"}, headers=HTML, follow_redirects=False)
    assert no_csrf.status_code in (400, 401, 403)
    resp = app_client.post(f"{url}/rollback", data={"version": "1", "csrf_token": csrf_of(body)}, headers=HTML,
                           follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"] == f"{url}#versions"
    assert call_as(None, "datastore_info", {"id": rid})["current_version"] == 1
    after = page(app_client, url)
    assert re.findall(r'name="version" value="(\d+)"', after) == ["2"]
