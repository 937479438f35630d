"""The stewards' forms: extra input attributes, resource edit and delete, refusals before any form, plan items and
data items as rows, column types kept across re-imports."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from typing import Any

from fastapi.testclient import TestClient

from cityhub import jobs
from cityhub.web.page_helpers import templates
from tests.conftest import call_as, open_dataset
from tests.web.test_pages import HTML, csrf_of, form_payload, page, signed_in


def _inputs(markup: str) -> list[dict[str, str | None]]:
    found: list[dict[str, str | None]] = []

    class P(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag == "input":
                found.append(dict(attrs))

    P().feed(markup)
    return found


def test_text_field_renders_extra_attributes_as_real_attributes() -> None:
    tpl = templates.env.from_string(
        '{% from "macros.html" import text_field with context %}'
        '{{ text_field("url", "Link", {}, {}, type="url", attrs={"placeholder": "https://", "maxlength": 20}) }}'
        '{{ text_field("code", "Code", {"code": "12"}, {}, attrs={"pattern": "\\\\d{2}", "inputmode": "numeric"}) }}'
        '{{ text_field("x", "X", {}, {}, attrs={"placeholder": "a \\"quoted\\" <b>", "title": "t"}) }}')
    out = tpl.render(_=lambda s: s)
    url, code, x = _inputs(out)
    # was: placeholder="&#34;https://&#34;" read as a literal "https://" with quotes, and maxlength lost
    assert url["placeholder"] == "https://" and url["maxlength"] == "20" and url["type"] == "url"
    assert code["pattern"] == r"\d{2}" and code["inputmode"] == "numeric" and code["value"] == "12"
    assert x["placeholder"] == 'a "quoted" <b>' and x["title"] == "t"
    assert "<b>" not in out and re.search(r'placeholder="a &#34;quoted&#34; &lt;b&gt;"', out)


# -- pages (the demo store, both backends) ----------------------------------------------------------------------


def _own_dataset(**over: Any) -> dict[str, Any]:
    created: dict[str, Any] = open_dataset(**over)
    return created


def _upload(client: TestClient, ds: str, name: str, data: bytes, fmt: str = "") -> str:
    form = page(client, f"/dataset/{ds}/resource/new")
    resp = client.post(f"/dataset/{ds}/resource/new",
                       data={"csrf_token": csrf_of(form, "resource-form"), "name": name, "format": fmt},
                       files={"file": (name, data, "text/csv")}, headers=HTML, follow_redirects=False)
    assert resp.status_code == 303, resp.text[:500]
    jobs.wait_idle()
    res = call_as("system", "dataset_show", {"id": ds})["resources"]
    return str(next(r["id"] for r in res if r["name"] == name))


def test_another_departments_steward_is_refused_before_any_form(app_client: TestClient,
                                                                demo_passwords: dict[str, str]) -> None:
    ds = _own_dataset()  # gz-transport's
    link = call_as("steward", "resource_create", {"dataset": ds["name"], "url": "https://example.gov.cn/a.csv"})
    signed_in(app_client, demo_passwords, "eco_steward")  # a steward of the ecology department
    for url in (f"/dataset/{ds['name']}/resource/new", f"/dataset/{ds['name']}/resource/{link['id']}/edit",
                f"/dataset/{ds['name']}/resource/{link['id']}/delete", f"/dataset/{ds['name']}/edit"):
        body = page(app_client, url, status=403)
        assert "只能管理本部门的数据资源" in body
        assert 'type="file"' not in body and 'id="resource-form"' not in body, url  # no form at all
    # and a direct post is refused by the action too, leaving the resource
    token = csrf_of(page(app_client, "/account"))
    resp = app_client.post(f"/dataset/{ds['name']}/resource/{link['id']}/delete", data={"csrf_token": token},
                           headers=HTML)
    assert resp.status_code == 403
    assert [r["id"] for r in call_as("system", "dataset_show", {"id": ds["name"]})["resources"]] == [link["id"]]


def test_steward_edits_and_deletes_a_resource(app_client: TestClient, demo_passwords: dict[str, str]) -> None:
    ds = _own_dataset()
    signed_in(app_client, demo_passwords, "steward")
    rid = _upload(app_client, ds["name"], "lines.csv", "线路,站点数\n1路,20\n".encode())
    body = page(app_client, f"/dataset/{ds['name']}/resource/{rid}")
    assert f'href="/dataset/{ds["name"]}/resource/{rid}/edit"' in body
    form = page(app_client, f"/dataset/{ds['name']}/resource/{rid}/edit")
    assert 'value="lines.csv"' in form and "替换文件" in form
    # change name and description; an empty name is refused with the message next to the field
    resp = app_client.post(f"/dataset/{ds['name']}/resource/{rid}/edit",
                           data={"csrf_token": csrf_of(form, "resource-form"), "name": "", "description": "x",
                                 "format": "CSV"}, headers=HTML)
    assert resp.status_code == 422 and "名称不能为空" in resp.text
    resp = app_client.post(f"/dataset/{ds['name']}/resource/{rid}/edit",
                           data={"csrf_token": csrf_of(form, "resource-form"), "name": "线路表",
                                 "description": "公交线路与站点数", "format": "CSV"}, headers=HTML,
                           follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"] == f"/dataset/{ds['name']}/resource/{rid}"
    res = call_as("system", "resource_show", {"id": rid})
    assert res["name"] == "线路表" and res["description"] == "公交线路与站点数"
    # replace the file: stored, and loaded again
    new = "线路,站点数\n1路,20\n2路,31\n".encode()
    resp = app_client.post(f"/dataset/{ds['name']}/resource/{rid}/edit",
                           data={"csrf_token": csrf_of(form, "resource-form"), "name": "线路表",
                                 "description": "公交线路与站点数", "format": "CSV"},
                           files={"file": ("lines2.csv", new, "text/csv")}, headers=HTML, follow_redirects=False)
    assert resp.status_code == 303 and "?job=" in resp.headers["location"]
    assert app_client.get(f"/dataset/{ds['name']}/resource/{rid}/download").content == new
    # delete
    confirm = page(app_client, f"/dataset/{ds['name']}/resource/{rid}/delete")
    assert "确定要删除这个资源吗" in confirm
    resp = app_client.post(f"/dataset/{ds['name']}/resource/{rid}/delete",
                           data={"csrf_token": csrf_of(confirm)}, headers=HTML, follow_redirects=False)
    assert resp.status_code == 303
    assert call_as("system", "dataset_show", {"id": ds["name"]})["resources"] == []


def test_link_resource_edit_refuses_a_script_link(app_client: TestClient, demo_passwords: dict[str, str]) -> None:
    ds = _own_dataset()
    link = call_as("steward", "resource_create", {"dataset": ds["name"], "url": "https://example.gov.cn/a.csv"})
    signed_in(app_client, demo_passwords, "steward")
    form = page(app_client, f"/dataset/{ds['name']}/resource/{link['id']}/edit")
    assert 'placeholder="https://"' in form and 'type="file"' not in form
    resp = app_client.post(f"/dataset/{ds['name']}/resource/{link['id']}/edit",
                           data={"csrf_token": csrf_of(form, "resource-form"), "name": link["name"],
                                 "url": "javascript:alert(1)", "description": "", "format": "CSV"}, headers=HTML)
    assert resp.status_code == 422 and "链接须以 http://" in resp.text
    assert call_as("system", "resource_show", {"id": link["id"]})["source_url"] == "https://example.gov.cn/a.csv"


def test_validation_messages_follow_the_page_language(app_client: TestClient,
                                                      demo_passwords: dict[str, str]) -> None:
    signed_in(app_client, demo_passwords, "steward")
    token = csrf_of(page(app_client, "/dataset/new"))
    data = form_payload(abstract="太短")
    resp = app_client.post("/dataset/new", data={**data, "csrf_token": token}, headers=HTML)
    assert resp.status_code == 422
    # was: "String should have at least 10 characters" on the Chinese page
    assert "至少需要 10 个字符" in resp.text and "String should have" not in resp.text
    resp = app_client.post("/dataset/new?lang=en", data={**data, "csrf_token": token}, headers=HTML)
    assert "String should have at least 10 characters" in resp.text and "至少需要" not in resp.text


def test_data_items_rows_add_remove_and_fill_from_the_table(app_client: TestClient,
                                                            demo_passwords: dict[str, str]) -> None:
    ds = _own_dataset(data_items=[])
    signed_in(app_client, demo_passwords, "steward")
    rid = _upload(app_client, ds["name"], "stops.csv", "站点名称,线路数,开通日期\n体育中心,12,2010-01-01\n".encode())
    # the edit form starts from the loaded table's columns when nothing is described yet
    edit = page(app_client, f"/dataset/{ds['name']}/edit")
    assert 'id="filled-note"' in edit
    names = re.findall(r'name="item_name" value="([^"]*)"', edit.split("<template")[0])
    assert names == ["站点名称", "线路数", "开通日期"]
    assert re.search(r'value="线路数".*?<option value="integer" selected>', edit, re.S)
    assert f'value="fill_items:{rid}"' in edit
    token = csrf_of(edit)
    base = {**form_payload(name=ds["name"]), "csrf_token": token,
            "item_name": ["站点名称", "线路数"], "item_type": ["string", "integer"], "item_length": ["", ""],
            "item_description": ["站点的名称", ""]}
    # without JavaScript: "add a row" and "remove this row" re-render the form, nothing is saved
    more = app_client.post(f"/dataset/{ds['name']}/edit", data={**base, "form_action": "add_item"}, headers=HTML)
    assert more.status_code == 200 and more.text.count('name="item_name"') == 3 + 1  # + the row template
    less = app_client.post(f"/dataset/{ds['name']}/edit", data={**base, "form_action": "remove_item:0"},
                           headers=HTML)
    assert re.findall(r'name="item_name" value="([^"]*)"', less.text)[:1] == ["线路数"]
    # fill keeps the descriptions already written and adds the missing column
    filled = app_client.post(f"/dataset/{ds['name']}/edit", data={**base, "form_action": f"fill_items:{rid}"},
                             headers=HTML)
    assert re.findall(r'name="item_name" value="([^"]*)"', filled.text)[:3] == ["站点名称", "线路数", "开通日期"]
    assert 'value="站点的名称"' in filled.text
    assert call_as("system", "dataset_show", {"id": ds["name"]})["data_items"] == []
    # save: the rows become the data items
    resp = app_client.post(f"/dataset/{ds['name']}/edit", data=base, headers=HTML, follow_redirects=False)
    assert resp.status_code == 303
    items = call_as("system", "dataset_show", {"id": ds["name"]})["data_items"]
    assert [(i["name"], i["type"]) for i in items] == [("站点名称", "string"), ("线路数", "integer")]


def test_plan_rows_add_and_remove_without_javascript(app_client: TestClient,
                                                     demo_passwords: dict[str, str]) -> None:
    signed_in(app_client, demo_passwords, "steward")
    form = page(app_client, "/plans/gz-transport/2032/edit")
    assert 'type="date"' in form and 'name="item_update_cycle"' in form and "(尚未开放)" in form
    rows = {"csrf_token": csrf_of(form), "item_title": ["甲数据", "乙数据"], "item_dataset": ["", ""],
            "item_target_date": ["2032-03-01", "2032-09-01"], "item_format": ["电子表格", "电子表格"],
            "item_update_cycle": ["每月", "每年"]}
    more = app_client.post("/plans/gz-transport/2032/edit", data={**rows, "form_action": "add_item"}, headers=HTML)
    assert more.text.count('name="item_title"') == 3 + 1
    less = app_client.post("/plans/gz-transport/2032/edit", data={**rows, "form_action": "remove_item:0"},
                           headers=HTML)
    assert re.findall(r'name="item_title" value="([^"]*)"', less.text)[:1] == ["乙数据"]
    assert call_as(None, "plan_list", {"department": "gz-transport", "year": 2032})["plans"] == []


def test_english_mode_shows_department_english_names(app_client: TestClient) -> None:
    dept = call_as(None, "department_show", {"slug": "gz-transport"})
    assert dept["name_en"]
    ds = next(d for d in call_as(None, "dataset_search", {"filters": {"organization": ["gz-transport"]},
                                                          "rows": 5})["results"])
    app_client.cookies.set("cityhub_lang", "en")
    for url in ("/dataset?q=交通", f"/dataset/{ds['name']}", "/plans?department=gz-transport",
                "/organization/gz-transport"):
        body = page(app_client, url)
        assert html.escape(dept["name_en"]) in body, url
    dataset_page = page(app_client, f"/dataset/{ds['name']}")
    assert html.escape(dept["name"]) not in dataset_page  # breadcrumb, meta line and metadata table


def test_column_types_chosen_on_the_page_are_kept_for_the_next_loads(app_client: TestClient,
                                                                    demo_passwords: dict[str, str]) -> None:
    ds = _own_dataset()
    signed_in(app_client, demo_passwords, "steward")
    rid = _upload(app_client, ds["name"], "codes.csv", "编号,数量\n1,5\n2,7\n".encode())
    url = f"/dataset/{ds['name']}/resource/{rid}"
    assert [c["type"] for c in call_as("steward", "datastore_info", {"id": rid})["columns"]] == ["integer", "integer"]
    body = page(app_client, url)
    assert 'id="column-types"' in body and 'name="col_type"' in body
    # the steward makes 编号 text (a code, not a number) and leaves 数量 to inference
    resp = app_client.post(f"{url}/datastore", data={"csrf_token": csrf_of(body, "reload-form"), "types_shown": "1",
                                                     "col_name": ["编号", "数量"], "col_type": ["string", ""]},
                           headers=HTML, follow_redirects=False)
    assert resp.status_code == 303, resp.text[:500]
    jobs.wait_idle()
    info = call_as("steward", "datastore_info", {"id": rid})
    assert [c["type"] for c in info["columns"]] == ["string", "integer"]
    assert info["kept_schema"] == {"fields": [{"name": "编号", "type": "string"}]}
    # the choice shows on the form, and survives a file replaced through the resource form
    assert re.search(r'value="编号">.*?<option value="string" selected>', page(app_client, url), re.S)
    edit = page(app_client, f"{url}/edit")
    resp = app_client.post(f"{url}/edit", data={"csrf_token": csrf_of(edit, "resource-form"), "name": "codes.csv",
                                                "description": "", "format": "CSV"},
                           files={"file": ("codes2.csv", "编号,数量,备注\n7,1,新\n".encode(), "text/csv")},
                           headers=HTML, follow_redirects=False)
    assert resp.status_code == 303
    jobs.wait_idle()
    info = call_as("steward", "datastore_info", {"id": rid})
    assert info["versions"][0]["status"] == "complete"
    assert [(c["name"], c["type"]) for c in info["columns"]] == [("编号", "string"), ("数量", "integer"),
                                                                ("备注", "string")]
    rows = call_as(None, "datastore_search", {"resource_id": rid})["records"]
    assert rows[0]["编号"] == "7"  # text, as chosen (inference alone makes it an integer)
    # a new file without the column: the kept type is dropped with a warning, the load does not fail
    edit = page(app_client, f"{url}/edit")
    app_client.post(f"{url}/edit", data={"csrf_token": csrf_of(edit, "resource-form"), "name": "codes.csv",
                                         "description": "", "format": "CSV"},
                    files={"file": ("codes3.csv", "代码,数量\n008,2\n".encode(), "text/csv")}, headers=HTML)
    jobs.wait_idle()
    newest = call_as("steward", "datastore_info", {"id": rid})["versions"][0]
    assert newest["status"] == "complete", newest["error_en"]
    assert any("编号" in w for w in newest["warnings"])
