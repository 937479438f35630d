"""The exchange serves the released de-identified view (issue 12: "grants and open publishing only ever see
de-identified views"): once a resource's view is released, a grant holder's search and SQL read the view's
Parquet with the grant's columns and rows on top, and no raw resident ID or name is in any response's bytes;
before the release the live table minus the personal-data columns (today's rule); the provider's own reads stay
raw; a personal-data column the policy keeps unchanged stays out unless the grant allows personal data."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from typing import Any

import duckdb
import pytest

from cityhub import jobs
from cityhub.catalog.schemas import UploadedFile
from tests.conftest import call_as, dataset_payload, publish
from tests.sharing.test_deid_views import resident_ids

DISTRICTS = ["天河区", "越秀区", "海珠区"]
N = 30


def people(w: dict[str, Any]) -> tuple[str, str, list[str], list[str]]:
    """A 有条件共享 gz-transport dataset whose table holds resident IDs and names (the scan flags the IDs)."""
    ids = resident_ids(N)
    names = [f"李{'明华强伟'[i % 4]}{'国建志文'[i // 4 % 4]}{i}" for i in range(N)]
    text = "身份证号,姓名,所属区,年龄\n" + "".join(f"{ids[i]},{names[i]},{DISTRICTS[i % 3]},{20 + i}\n"
                                            for i in range(N))
    ds = call_as("steward", "dataset_create", dataset_payload(
        opening_class="有条件开放", opening_condition="经申请审核后开放", sharing_class="有条件共享", sharing_condition="仅限生态环境监管使用", sharing_basis="《广州市公共数据管理办法》"))
    publish(ds["name"])
    res = call_as("steward", "resource_create", {"dataset": ds["name"], "upload": UploadedFile(
        "people.csv", io.BytesIO(text.encode()))})
    jobs.wait_idle()
    deadline = time.monotonic() + 60  # served once the load and its personal-data scan have ended
    while call_as("steward", "resource_show", {"id": res["id"]}).get("load_state") and time.monotonic() < deadline:
        time.sleep(0.1)
        jobs.wait_idle()
    info = call_as("steward", "datastore_info", {"id": res["id"]})
    cols = {c["name"]: c for c in info["columns"]}
    assert cols.get("身份证号", {}).get("pii") == "resident_id" and not cols["姓名"].get("pii"), info["versions"]
    return ds["name"], res["id"], ids, names


def grant(w: dict[str, Any], name: str, **approve: Any) -> dict[str, Any]:
    req = call_as("eco_steward", "share_request_create", {
        "kind": "share", "dataset": name, "system_id": w["system"]["id"], "purpose": "人口与环境健康关联研判",
        "legal_basis": "《广州市政务信息共享管理规定》第十五条", "columns": ["身份证号", "姓名", "所属区"],
        "duration_days": 90})
    done = call_as("steward", "share_request_approve", {"id": req["id"], "duration_days": 90, "note": "同意",
                                                        **approve})
    return dict(done["grants"][0])


def release(rid: str, rules: dict[str, Any]) -> dict[tuple[str, str], Any]:
    """Set the policy, build and release; the released file's values by (``_id``, column) as text."""
    from cityhub.sharing import views

    call_as("steward", "deid_policy_set", {"resource_id": rid, "rules": rules, "default": "drop",
                                           "quasi": ["所属区"]})
    call_as("steward", "deid_view_build", {"resource_id": rid})
    done = call_as("steward", "deid_view_release", {"resource_id": rid})
    assert done["status"] == "released"
    con = duckdb.connect()
    rel = con.execute(f"SELECT * FROM read_parquet('{views.view_path(rid, done['id'])}')")
    cols = [d[0] for d in rel.description]
    out = {(str(row[0]), c): v for row in rel.fetchall() for c, v in zip(cols, row, strict=True)}
    con.close()
    return out


@pytest.fixture(scope="module")
def client(world: dict[str, Any]) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from cityhub.web.app import create_app

    world["store"].activate()
    with TestClient(create_app(), base_url="http://127.0.0.1:8000") as c:
        yield c


def call(client: Any, w: dict[str, Any], rid: str, kind: str, **params: Any) -> tuple[dict[str, Any], bytes]:
    headers = {"X-Road-Client": f"gz-ecology-environment/{w['system']['code']}",
               "Authorization": "Bearer " + w["system"]["token"]}
    r = client.post(f"/api/exchange/{rid}/{kind}", json=params, headers=headers)
    assert r.status_code == 200, r.text
    return r.json(), r.content


def raw_in(body: bytes, values: list[str]) -> list[str]:
    return [v for v in values if v.encode() in body]


@pytest.mark.parametrize("world", ["sqlite"], indirect=True)
def test_grant_holder_reads_the_released_view_only(w: dict[str, Any], client: Any) -> None:
    name, rid, ids, names = people(w)
    g = grant(w, name, row_filter={"所属区": ["天河区", "越秀区"]})
    in_scope = [i for i in range(N) if DISTRICTS[i % 3] != "海珠区"]

    # before any release: the live table, the flagged resident IDs left out (today's rule), names as they are
    got, body = call(client, w, rid, "search", limit=100)
    assert [f["id"] for f in got["fields"]] == ["_id", "姓名", "所属区"] and got["grant_id"] == g["id"]
    assert got["total"] == len(in_scope) and not raw_in(body, ids)
    assert sorted(r["姓名"] for r in got["records"]) == sorted(names[i] for i in in_scope)

    view = release(rid, {"身份证号": {"op": "pseudonym", "kind": "resident_id"},
                         "姓名": {"op": "mask", "keep_first": 1}, "所属区": {"op": "keep"}})

    # released: search reads the view, the grant's columns and rows on top; nothing raw in the bytes
    got, body = call(client, w, rid, "search", limit=100)
    assert [f["id"] for f in got["fields"]] == ["_id", "身份证号", "姓名", "所属区"]
    assert got["total"] == len(in_scope) and {r["所属区"] for r in got["records"]} == {"天河区", "越秀区"}
    assert not raw_in(body, ids) and not raw_in(body, names)
    for r in got["records"]:
        assert r["身份证号"] == view[(str(r["_id"]), "身份证号")] and r["姓名"] == view[(str(r["_id"]), "姓名")]
        assert r["姓名"] != names[r["_id"] - 1] and r["姓名"][0] == names[r["_id"] - 1][0]
    got, body = call(client, w, rid, "search", q="天河区", fields=["身份证号", "姓名"], limit=100,
                     records_format="csv")
    assert not raw_in(body, ids) and not raw_in(body, names) and got["records"].count("\n") == 10

    # SQL reads the same view: the pseudonyms, never a raw ID, not even by asking for one
    got, body = call(client, w, rid, "sql", sql=f'SELECT "身份证号", "姓名", "所属区" FROM "{rid}" ORDER BY _id')
    assert len(got["records"]) == len(in_scope) and not raw_in(body, ids) and not raw_in(body, names)
    assert {r["身份证号"] for r in got["records"]} == {view[(str(i + 1), "身份证号")] for i in in_scope}
    got, body = call(client, w, rid, "sql", sql=f'SELECT count(*) AS n FROM "{rid}" WHERE "身份证号" = \'{ids[0]}\'')
    assert got["records"] == [{"n": 0}]
    got, _ = call(client, w, rid, "sql", sql=f'SELECT count(*) AS n FROM "{rid}" WHERE "所属区" = \'海珠区\'')
    assert got["records"] == [{"n": 0}]  # the grant's row filter holds on the view too

    # the provider's own reads still see the live table
    own = call_as("steward", "datastore_search", {"resource_id": rid, "limit": 100})
    assert sorted(r["身份证号"] for r in own["records"]) == sorted(ids)
    own = call_as("steward", "datastore_search_sql", {"sql": f'SELECT "姓名" FROM "{rid}"'})
    assert sorted(r["姓名"] for r in own["records"]) == sorted(names)

    # a policy that keeps the flagged IDs unchanged: those stay out for a grant without allow_personal
    release(rid, {"身份证号": {"op": "keep"}, "姓名": {"op": "mask", "keep_first": 1}, "所属区": {"op": "keep"}})
    got, body = call(client, w, rid, "search", limit=100)
    assert [f["id"] for f in got["fields"]] == ["_id", "姓名", "所属区"] and not raw_in(body, ids)
    assert not raw_in(body, names)


@pytest.mark.parametrize("world", ["sqlite"], indirect=True)
def test_usage_page(w: dict[str, Any], client: Any) -> None:
    from tests.sharing.test_web import signed_in

    client.cookies.clear()
    anonymous = client.get("/sharing/usage", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    rid = w["unconditional"]["rid"]
    got, _ = call(client, w, rid, "search", limit=3)
    assert len(got["records"]) == 3

    signed_in(client, w, "steward")
    page = client.get("/sharing/usage")
    assert page.status_code == 200, page.text
    html = page.text
    assert "交换用量" in html and "每月交换记录数" in html and 'id="usage-chart"' in html
    assert "/static/vendor/echarts/echarts.min.js" in html and "http://" not in html.split("<body", 1)[1].replace(
        "http://www.w3.org", "")
    consumers = html.split('id="usage-consumers"', 1)[1].split("</table>", 1)[0]
    assert "广州市生态环境局" in consumers
    grants = html.split('id="usage-grants"', 1)[1].split("</table>", 1)[0]
    assert rid in grants and "无需授权" in grants
    assert 'href="/sharing/usage"' in client.get("/sharing/grants").text  # linked from the sharing pages
    assert "Records exchanged per month" in client.get("/sharing/usage?lang=en").text

    signed_in(client, w, "citizen")
    assert client.get("/sharing/usage").status_code == 403
