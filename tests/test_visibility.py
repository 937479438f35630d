"""The one visibility rule (``catalog/visibility.py``) as a matrix: every path that serves a dataset's bytes ×
every case (private, 不予开放, future publication date, 有条件开放 without and with an approved application, a
failed load, a load blocked by the personal-data scan, open) × every role (anonymous, citizen, a steward of
another department, an analyst, a steward of the owning department, a platform admin), with the exact outcome:
served, not found (404) or refused with the conditional-opening message (403). Then the listings (search, counts,
CKAN ``private`` / ``num_resources`` / ``package_count``, DCAT distributions, plans) and the issue's own cases
over HTTP."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from collections.abc import Callable
from typing import Any

import pytest

from cityhub import jobs
from cityhub.catalog import visibility
from cityhub.catalog.schemas import UploadedFile
from cityhub.errors import NotAuthorized, NotFound, ValidationError
from tests.conftest import Store, call_as, dataset_payload, publish

ROLES: list[str | None] = [None, "citizen", "eco_steward", "analyst", "steward", "admin"]
OWNERS = {"steward", "admin"}  # steward of gz-transport (the datasets' department) and the platform admin
GOVERNMENT = {"eco_steward", "analyst", "steward", "admin"}
CASES = ["private", "closed", "future", "conditional", "conditional_granted", "failed", "blocked", "open"]

CSV = "站点名称,所属区,PM2_5\n" + "".join(f"站点{i},{['天河区', '越秀区'][i % 2]},{10 + i}\n" for i in range(20))


def _resident_ids(n: int) -> list[str]:
    from stdnum.cn import ric

    out = []
    for i in range(n):
        body = f"440106{2001 + i % 18}{1 + i % 12:02d}{1 + i % 28:02d}{100 + i:03d}"
        out.append(body + ric.calc_check_digit(body + "0"))
    return out


PII_CSV = "姓名,身份证号,所属区\n" + "".join(f"居民{i},{rid},天河区\n" for i, rid in enumerate(_resident_ids(30)))
FUTURE = (dt.date.today() + dt.timedelta(days=400)).isoformat()


def _upload(name: str, data: bytes) -> UploadedFile:
    return UploadedFile(name, io.BytesIO(data))


def _make_case(case: str) -> dict[str, Any]:
    """A dataset of gz-transport with one CSV resource whose table is loaded, in the state of ``case``."""
    over: dict[str, Any] = {}
    if case == "private":
        over = {"private": True}
    elif case == "closed":
        over = {"opening_class": "不予开放", "sharing_class": "有条件共享", "sharing_condition": "仅限政务部门",
                "sharing_basis": "《政务信息资源共享管理暂行办法》"}
    elif case == "future":
        over = {"published_on": FUTURE}
    elif case.startswith("conditional"):
        over = {"opening_class": "有条件开放", "opening_condition": "经申请审核后开放"}
    ds = call_as("steward", "dataset_create", dataset_payload(**over))
    publish(ds["name"])  # through the review: a draft is hidden from all but its department (tested elsewhere)
    res = call_as("steward", "resource_create", {"dataset": ds["name"], "upload": _upload("t.csv", CSV.encode())})
    jobs.wait_idle()
    if case == "failed":  # the stored file is replaced by one that cannot load (the table of the old one stays)
        call_as("steward", "resource_update", {"id": res["id"], "upload": _upload("t.csv", b"\x00\x01\x02" * 500)})
        jobs.wait_idle()
    elif case == "blocked":  # the stored file is replaced by one with resident ID numbers
        call_as("steward", "resource_update", {"id": res["id"], "upload": _upload("t.csv", PII_CSV.encode())})
        jobs.wait_idle()
    if case == "conditional_granted":
        _grant(ds["id"], ("citizen", "eco_steward", "analyst"))
    return {"case": case, "name": ds["name"], "id": ds["id"], "rid": res["id"]}


def _grant(dataset_id: int, users: tuple[str, ...]) -> None:
    """Approved applications, as the sharing workflow will record them (the seam: a ``data_grant`` row)."""
    from cityhub.catalog.models import DataGrant
    from cityhub.db import session_scope

    with session_scope() as db:
        for name in users:
            uid = call_as("system", "user_show", {"name": name})["id"]
            db.add(DataGrant(dataset_id=dataset_id, user_id=uid, granted_by="test"))


@pytest.fixture(scope="module")
def cases(demo_store: Store) -> dict[str, dict[str, Any]]:
    demo_store.activate()
    return {case: _make_case(case) for case in CASES}


def _drain(out: dict[str, Any]) -> dict[str, Any]:
    chunks = out.get("chunks")
    if chunks is not None:
        out["body"] = b"".join(chunks)
    return out


# every path that serves bytes of a dataset's data: (action, input from the case)
PATHS: dict[str, Callable[[dict[str, Any]], tuple[str, dict[str, Any]]]] = {
    "raw_download": lambda c: ("resource_download", {"id": c["rid"]}),
    "preview": lambda c: ("resource_preview", {"id": c["rid"]}),
    "datastore_search": lambda c: ("datastore_search", {"resource_id": c["rid"], "limit": 5}),
    "datastore_sql": lambda c: ("datastore_search_sql", {"sql": f'SELECT count(*) AS n FROM "{c["rid"]}"'}),
    "datastore_aggregate": lambda c: ("datastore_aggregate", {"resource_id": c["rid"], "group_by": ["所属区"],
                                                              "metrics": [["count", None]]}),
    "datastore_stats": lambda c: ("datastore_stats", {"resource_id": c["rid"], "column": "所属区"}),
    "datastore_export": lambda c: ("datastore_export", {"resource_id": c["rid"], "format": "json"}),
    "datapackage_json": lambda c: ("dataset_datapackage", {"id": c["name"]}),
    "datapackage_zip": lambda c: ("dataset_datapackage_zip", {"id": c["name"]}),
}


def expected(case: str, who: str | None) -> str:
    """The rule, written out independently of the module under test."""
    if who in OWNERS:
        return "served"
    if case == "private":
        return "404"
    if case == "closed":
        return "served" if who in GOVERNMENT else "404"
    if case in ("future", "failed", "blocked"):
        return "404"
    if case == "conditional":
        return "conditional"
    if case == "conditional_granted":
        return "served" if who is not None else "conditional"
    return "served"


def outcome(action: str, data: dict[str, Any], who: str | None) -> str:
    try:
        _drain(call_as(who, action, data))
    except NotFound:
        return "404"
    except NotAuthorized as exc:
        assert (exc.message, exc.message_en) == visibility.CONDITIONAL, exc.message_en
        return "conditional"
    except ValidationError as exc:  # the rule let the caller through; the file is not GeoJSON (preview)
        assert action == "resource_preview", exc.message_en
        return "served"
    return "served"


@pytest.mark.parametrize("who", ROLES, ids=lambda w: w or "anonymous")
@pytest.mark.parametrize("case", CASES)
def test_every_byte_path_follows_the_rule(cases: dict[str, dict[str, Any]], case: str, who: str | None) -> None:
    c = cases[case]
    got = {path: outcome(*make(c), who) for path, make in PATHS.items()}
    want = {path: expected(case, who) for path in PATHS}
    assert got == want


def test_metadata_follows_the_rule(cases: dict[str, dict[str, Any]]) -> None:
    """Metadata: hidden datasets are not found (never 403); future and conditional ones are shown to all; a
    withheld resource is listed for its department only."""
    for who in ROLES:
        for case, c in cases.items():
            visible = who in OWNERS or case not in ("private", "closed") or (case == "closed" and who in GOVERNMENT)
            try:
                shown = call_as(who, "dataset_show", {"id": c["name"]})
            except NotFound:
                assert not visible, (case, who)
                continue
            assert visible, (case, who)
            rids = [r["id"] for r in shown["resources"]]
            withheld = case in ("failed", "blocked") and who not in OWNERS
            assert (c["rid"] in rids) is not withheld, (case, who)
            if c["rid"] in rids:  # the department sees it, marked
                flag = next(r["withheld"] for r in shown["resources"] if r["id"] == c["rid"])
                assert flag is (case in ("failed", "blocked")), (case, who)
            names = {d["name"] for d in call_as(who, "dataset_search", {"q": "", "rows": 1000,
                                                                        "include_private": True})["results"]}
            assert c["name"] in names, (case, who)


def test_ckan_private_flag_and_counts(cases: dict[str, dict[str, Any]]) -> None:
    """CKAN: ``private`` is true for every dataset the public cannot see; ``num_resources`` leaves withheld
    resources out; ``department_list`` counts what the caller can list; CKAN's organization ``package_count`` what
    CKAN counts (``group_dictize``: with private datasets for members only)."""
    from cityhub.interop.ckan_map import package

    for case, c in cases.items():
        d = call_as("admin", "dataset_show", {"id": c["name"]})
        assert package(d, "http://x")["private"] is (case in ("private", "closed")), case
    for case in ("failed", "blocked"):
        d = call_as("citizen", "dataset_show", {"id": cases[case]["name"]})
        assert package(d, "http://x")["num_resources"] == 0
    public = call_as(None, "dataset_search", {"rows": 0, "filters": {"organization": ["gz-transport"]}})["count"]
    for who in ROLES:
        counts = {d["slug"]: d["dataset_count"] for d in call_as(who, "department_list", {})}
        listed = call_as(who, "dataset_search", {"rows": 0, "include_private": True,
                                                 "filters": {"organization": ["gz-transport"]}})["count"]
        assert counts["gz-transport"] == listed, who
        # CKAN (group_dictize): include_private for members of the organization only, the public's count else
        orgs = call_as(who, "department_search", {"names": ["gz-transport"]})["results"]
        assert orgs[0]["package_count"] == (listed if who in OWNERS else public), who
    assert public < call_as("eco_steward", "dataset_search", {"rows": 0, "include_private": True,
                                                              "filters": {"organization": ["gz-transport"]}})["count"]


def test_dcat_lists_no_withheld_distribution(cases: dict[str, dict[str, Any]]) -> None:
    for case in ("failed", "blocked", "open"):
        body = call_as(None, "dataset_dcat", {"id": cases[case]["name"], "format": "nt"})["body"]
        assert (cases[case]["rid"] in body) is (case == "open"), case
        owner = call_as("steward", "dataset_dcat", {"id": cases[case]["name"], "format": "nt"})["body"]
        assert cases[case]["rid"] in owner
    for case in ("private", "closed"):
        with pytest.raises(NotFound):
            call_as(None, "dataset_dcat", {"id": cases[case]["name"]})


def test_grant_expires(cases: dict[str, dict[str, Any]]) -> None:
    from cityhub.catalog.models import DataGrant
    from cityhub.db import session_scope, utcnow

    c = cases["conditional"]
    with session_scope() as db:
        uid = call_as("system", "user_show", {"name": "citizen"})["id"]
        db.add(DataGrant(dataset_id=c["id"], user_id=uid, expires_at=utcnow() - dt.timedelta(days=1)))
    assert outcome("datastore_search", {"resource_id": c["rid"]}, "citizen") == "conditional"


def test_plans_do_not_show_a_hidden_dataset_title(cases: dict[str, dict[str, Any]]) -> None:
    priv = call_as("admin", "dataset_show", {"id": cases["private"]["name"]})
    call_as("steward", "plan_upsert", {"department": "gz-transport", "year": 2031, "items": [
        {"title": "计划事项", "dataset": priv["name"], "target_date": "2031-06-30"}]})
    for who, shown in ((None, False), ("citizen", False), ("eco_steward", False), ("steward", True)):
        items = [i for p in call_as(who, "plan_list", {"department": "gz-transport", "year": 2031})["plans"]
                 for i in p["items"]]
        assert (items[0]["dataset_title"] == priv["title"]) is shown, who
        assert (items[0]["dataset"] == priv["name"]) is shown, who


# -- the cases over HTTP (these failed before the rule) ---------------------------------------------------


@pytest.fixture
def client(cases: dict[str, dict[str, Any]]) -> Any:
    from fastapi.testclient import TestClient

    from cityhub.web.app import create_app

    with TestClient(create_app(), base_url="http://127.0.0.1:8000") as c:
        yield c


def test_blocked_file_is_not_downloadable_anonymously(cases: dict[str, dict[str, Any]], client: Any) -> None:
    c = cases["blocked"]
    resp = client.get(f"/dataset/{c['name']}/resource/{c['rid']}/download")
    assert resp.status_code == 404 and "身份证号" not in resp.text
    assert client.get(f"/dataset/{c['name']}/datapackage.zip").status_code == 404


def test_blocked_file_is_not_inside_datapackage_zip(cases: dict[str, dict[str, Any]], client: Any) -> None:
    """A dataset with a blocked resource beside an open one: the zip holds the open one only."""
    c = cases["blocked"]
    other = call_as("steward", "resource_create", {"dataset": c["name"], "upload": _upload("ok.csv", CSV.encode())})
    jobs.wait_idle()
    try:
        resp = client.get(f"/dataset/{c['name']}/datapackage.zip")
        assert resp.status_code == 200
        with zipfile.ZipFile(io.BytesIO(resp.content)) as zf:
            data = b"".join(zf.read(n) for n in zf.namelist())
            descriptor = json.loads(zf.read("datapackage.json"))
        assert "身份证号".encode() not in data and len(descriptor["resources"]) == 1
        assert c["rid"] not in json.dumps(client.get(f"/dataset/{c['name']}/datapackage.json").json())
        pkg = client.get(f"/api/3/action/package_show?id={c['name']}").json()["result"]
        assert [r["id"] for r in pkg["resources"]] == [other["id"]] and pkg["num_resources"] == 1
    finally:
        call_as("steward", "resource_delete", {"id": other["id"]})


def test_future_dated_raw_file_is_not_downloadable(cases: dict[str, dict[str, Any]], client: Any) -> None:
    c = cases["future"]
    assert client.get(f"/dataset/{c['name']}").status_code == 200  # the metadata is public
    resp = client.get(f"/dataset/{c['name']}/resource/{c['rid']}/download")
    assert resp.status_code == 404 and FUTURE in resp.text


def test_private_dataset_is_not_found_not_forbidden(cases: dict[str, dict[str, Any]], client: Any) -> None:
    name = cases["private"]["name"]
    assert client.get(f"/api/v1/datasets/{name}").status_code == 404
    body = client.get(f"/api/3/action/package_show?id={name}").json()
    assert body["success"] is False and body["error"]["__type"] == "Not Found Error"


def test_conditional_data_is_refused_with_the_message(cases: dict[str, dict[str, Any]], client: Any) -> None:
    c = cases["conditional"]
    resp = client.get(f"/dataset/{c['name']}/resource/{c['rid']}/download")
    assert resp.status_code == 403
    assert visibility.CONDITIONAL[0] in resp.text or visibility.CONDITIONAL[1] in resp.text



def test_resource_page_says_what_conditional_data_takes(cases: dict[str, dict[str, Any]], client: Any) -> None:
    c = cases["conditional"]
    body = client.get(f"/dataset/{c['name']}/resource/{c['rid']}", headers={"Accept": "text/html"}).text
    assert visibility.CONDITIONAL[0] in body and "站点0" not in body
    blocked = cases["blocked"]
    assert client.get(f"/dataset/{blocked['name']}/resource/{blocked['rid']}",
                      headers={"Accept": "text/html"}).status_code == 404


def test_ckan_resource_search_and_show_leave_withheld_resources_out(cases: dict[str, dict[str, Any]]) -> None:
    for case in ("failed", "blocked", "open"):
        rid = cases[case]["rid"]
        found = call_as(None, "resource_search", {"query": [f"id:{rid}"]})
        assert (found["count"] == 1) is (case == "open"), case
        if case != "open":
            with pytest.raises(NotFound):
                call_as(None, "resource_show", {"id": rid})
            assert call_as("steward", "resource_show", {"id": rid})["id"] == rid


def test_a_withheld_resource_does_not_make_its_dataset_found_by_format(cases: dict[str, dict[str, Any]]) -> None:
    """``res_format:CSV`` finds a dataset only by resources the public is shown."""
    found = call_as(None, "dataset_search", {"filters": {"res_format": "CSV"}, "rows": 1000, "full": True})
    names = {d["name"] for d in found["results"]}
    assert cases["open"]["name"] in names
    assert cases["blocked"]["name"] not in names and cases["failed"]["name"] not in names
    assert all("CSV" in {r["format"] for r in d["resources"]} for d in found["results"])
