"""De-identified views: a steward's policy → the de-identified Parquet copy (DuckDB) equal to ``deid.Policy``
value for value, with no raw identifier in the file's bytes; the k-anonymity check refuses a release below the
minimum k with the smallest classes; only the resource's department sets policies; ``released_view``."""

from __future__ import annotations

import io
from typing import Any

import duckdb
import pytest

from cityhub import jobs
from cityhub.catalog.schemas import UploadedFile
from cityhub.errors import Conflict, NotAuthorized, ValidationError
from cityhub.sharing import deid, deidsql, textpii
from tests.conftest import Store, actor_ctx, call_as, open_dataset

DISTRICTS = ["天河区", "越秀区", "海珠区"]


def resident_ids(n: int) -> list[str]:
    from stdnum.cn import ric

    out = []
    for i in range(n):
        body = f"440106{1986 + i % 30}{1 + i % 12:02d}{1 + i % 28:02d}{100 + i:03d}"
        out.append(body + ric.calc_check_digit(body + "0"))
    return out


def people_csv(n: int = 60) -> tuple[str, list[str], list[str]]:
    ids = resident_ids(n)
    mobiles = [f"138{10000000 + i * 7919:08d}" for i in range(n)]
    lines = ["身份证号,姓名,手机号,出生日期,住址,年龄,性别,备注"]
    for i in range(n):
        lines.append(f"{ids[i]},张{'三四五六'[i % 4]}{i},{mobiles[i]},{ids[i][6:10]}-{ids[i][10:12]}-{ids[i][12:14]},"
                     f"广州市{DISTRICTS[i % 3]}某路{i}号,{20 + i % 50},{'男女'[i % 2]},"
                     f"联系人身份证{ids[(i + 1) % n]} 电话{mobiles[(i + 1) % n]}")
    return "\n".join(lines) + "\n", ids, mobiles


def load_people(n: int = 60) -> tuple[str, list[str], list[str]]:
    ds = open_dataset(opening_class="有条件开放", opening_condition="经申请审核后开放")
    text, ids, mobiles = people_csv(n)
    res = call_as("steward", "resource_create", {"dataset": ds["name"], "upload": UploadedFile(
        "people.csv", io.BytesIO(text.encode()))})
    jobs.wait_idle()
    info = call_as("steward", "datastore_info", {"id": res["id"]})
    assert info["rows"] == n, info
    return res["id"], ids, mobiles


POLICY: dict[str, dict[str, Any]] = {
    "身份证号": {"op": "pseudonym", "kind": "resident_id"},
    "姓名": {"op": "mask", "keep_first": 1},
    "手机号": {"op": "mask", "kind": "mobile"},
    "出生日期": {"op": "generalise", "to": "year"},
    "住址": {"op": "generalise", "to": "district"},
    "年龄": {"op": "generalise", "to": "age_band", "width": 20},
    "备注": {"op": "redact"},
}


def _rows(path: Any) -> list[dict[str, Any]]:
    con = duckdb.connect()
    rel = con.execute(f"SELECT * FROM read_parquet('{path}') ORDER BY _id")
    names = [d[0] for d in rel.description]
    return [dict(zip(names, r, strict=True)) for r in rel.fetchall()]


def test_policy_view_is_deidentified_and_equals_the_pure_policy(demo: Store) -> None:
    from cityhub.settings import get_settings
    from cityhub.sharing import views

    rid, ids, mobiles = load_people()
    shown = call_as("steward", "deid_policy_show", {"resource_id": rid})
    assert shown["saved"] is False
    # the personal-data scan pre-fills the suggestions
    assert shown["suggestions"]["身份证号"] == {"op": "pseudonym", "kind": "resident_id"}
    assert shown["suggestions"]["手机号"] == {"op": "mask", "kind": "mobile"}
    saved = call_as("steward", "deid_policy_set", {"resource_id": rid, "rules": POLICY, "quasi": ["住址", "性别"],
                                                    "default": "keep"})
    assert saved["saved"] and saved["quasi"] == ["住址", "性别"]
    built = call_as("steward", "deid_view_build", {"resource_id": rid})
    assert built["status"] == "built" and built["rows"] == 60 and built["k"] == 10
    path = views.view_path(rid, built["id"])
    data = path.read_bytes()
    for raw in ids + mobiles:
        assert raw.encode() not in data, raw
    rows = _rows(path)
    assert all(r["手机号"].startswith("138****") for r in rows)
    assert {r["住址"] for r in rows} == set(DISTRICTS)
    assert all(r["姓名"].startswith("张") and set(r["姓名"][1:]) == {"*"} for r in rows)
    assert all(r["身份证号"].startswith("P") and len(r["身份证号"]) == 17 for r in rows)
    assert "440106********" in rows[0]["备注"] and "138****" in rows[0]["备注"]
    # value for value what the pure policy gives on the live table
    live = [{k: v for k, v in r.items() if not k.startswith("__side")}  # the load's bad-cell side columns
            for r in _rows(get_settings().datastore_dir / rid / "v1" / "data.parquet")]
    plain, _redact = deidsql.split_spec(POLICY)
    policy = deid.Policy.from_dict(plain, default="keep", key=get_settings().resolved_deid_key)
    expected = policy.apply([{k: v for k, v in r.items() if k != "备注"} for r in live])
    for got, want, src in zip(rows, expected, live, strict=True):
        assert {k: v for k, v in got.items() if k != "备注"} == want
        assert got["备注"] == textpii.redact(src["备注"])
    # not released yet: nothing to serve
    ctx = actor_ctx("steward")
    from cityhub.db import session_factory

    ctx.session = session_factory()()
    try:
        assert views.released_view(ctx, rid) is None
    finally:
        ctx.session.close()
    released = call_as("steward", "deid_view_release", {"resource_id": rid})
    assert released["status"] == "released" and released["k"] == 10
    ctx.session = session_factory()()
    try:
        assert views.released_view(ctx, rid) == path
    finally:
        ctx.session.close()


def test_raw_ids_are_found_in_the_bytes_when_kept(demo: Store) -> None:
    """The byte check above can fail: a view that keeps the column holds the raw numbers."""
    from cityhub.sharing import views

    rid, ids, _ = load_people(20)
    call_as("steward", "deid_policy_set", {"resource_id": rid, "rules": {"身份证号": {"op": "keep"}}})
    built = call_as("steward", "deid_view_build", {"resource_id": rid})
    data = views.view_path(rid, built["id"]).read_bytes()
    assert sum(raw.encode() in data for raw in ids) >= 15


def test_release_below_min_k_is_refused_with_the_smallest_groups(demo: Store) -> None:
    rid, _, _ = load_people(30)
    call_as("steward", "deid_policy_set", {"resource_id": rid, "rules": {
        "住址": {"op": "generalise", "to": "district"}, "年龄": {"op": "keep"}, "性别": {"op": "keep"}},
        "quasi": ["住址", "年龄"]})
    built = call_as("steward", "deid_view_build", {"resource_id": rid})
    assert built["k"] == 1 and built["report"]["meets_target"] is False
    with pytest.raises(Conflict) as exc:
        call_as("steward", "deid_view_release", {"resource_id": rid})
    assert exc.value.fields["k"] == ["1"] and exc.value.fields["min_k"] == ["5"]
    assert len(exc.value.fields["smallest"]) == 5 and exc.value.fields["smallest"][0].endswith(": 1")
    # coarser quasi-identifiers pass: 3 districts × 2 sexes, 5 each
    ok = call_as("steward", "deid_view_release", {"resource_id": rid, "quasi": ["住址", "性别"]})
    assert ok["status"] == "released" and ok["k"] == 5


def test_only_the_department_sets_policies_and_bad_policies_are_refused(demo: Store) -> None:
    rid, _, _ = load_people(10)
    with pytest.raises(NotAuthorized):
        call_as("eco_steward", "deid_policy_set", {"resource_id": rid, "rules": {"姓名": {"op": "drop"},
                                                                                "性别": {"op": "keep"}}})
    with pytest.raises(NotAuthorized):
        call_as("eco_steward", "deid_view_build", {"resource_id": rid})
    for action in ("deid_view_release", "deid_policy_show", "deid_view_show"):
        with pytest.raises(NotAuthorized):
            call_as("eco_steward", action, {"resource_id": rid})
    with pytest.raises(ValidationError) as exc:
        call_as("steward", "deid_policy_set", {"resource_id": rid, "rules": {"姓名": {"op": "shred"}}})
    assert "姓名" in exc.value.fields
    with pytest.raises(ValidationError):
        call_as("steward", "deid_policy_set", {"resource_id": rid, "rules": {"不存在": {"op": "keep"}}})
    with pytest.raises(ValidationError):
        call_as("steward", "deid_policy_set", {"resource_id": rid, "rules": {
            "身份证号": {"op": "pseudonym", "key": "0123456789abcdef0123"}}})
    with pytest.raises(ValidationError):  # a quasi-identifier the view drops
        call_as("steward", "deid_policy_set", {"resource_id": rid, "rules": {"性别": {"op": "keep"}},
                                               "quasi": ["住址"]})
    assert call_as("steward", "deid_policy_show", {"resource_id": rid})["saved"] is False


def test_text_recognizers_validate_candidates() -> None:
    from stdnum import luhn

    ids = resident_ids(2)
    card = "622202020000000" + luhn.calc_check_digit("622202020000000")
    order = "1234567890123" if not luhn.is_valid("1234567890123") else "1234567890124"
    text = f"身份证 {ids[0]},手机 +86 13812345678,卡号 {card[:4]} {card[4:8]} {card[8:12]} {card[12:]},订单 {order}"
    assert sorted(k for k, _ in textpii.find(text)) == ["bank_card", "mobile", "resident_id"]
    out = textpii.redact(text)
    assert ids[0] not in out and "13812345678" not in out and card[4:8] + " " + card[8:12] not in out
    assert "6222" in out and order in out
    bad = ids[1][:-1] + ("0" if ids[1][-1] != "0" else "1")  # wrong check character: not an ID, left alone
    assert textpii.redact(bad) == bad


def test_policy_editor_page_and_api(app_client: Any, demo_passwords: dict[str, str]) -> None:
    from tests.conftest import token_for
    from tests.web.test_pages import HTML, csrf_of, page, signed_in

    rid, _, _ = load_people(30)
    signed_in(app_client, demo_passwords, "steward")
    body = page(app_client, f"/deid/resource/{rid}")
    assert "policy-table" in body and 'value="pseudonym_id" selected' in body  # the scan's suggestion
    data: dict[str, Any] = {"csrf_token": csrf_of(body, "policy-form"), "default": "drop", "form_action": "policy_save",
                            "column": [], "rule": [], "custom": [], "quasi": ["住址", "年龄"]}
    for name, rule in (("住址", "district"), ("年龄", "keep"), ("性别", "keep"), ("身份证号", "pseudonym_id")):
        data["column"].append(name)
        data["rule"].append(rule)
        data["custom"].append("")
    assert app_client.post(f"/deid/resource/{rid}", data=data, headers=HTML, follow_redirects=False).status_code == 303
    data["form_action"] = "view_build"
    assert app_client.post(f"/deid/resource/{rid}", data=data, headers=HTML, follow_redirects=False).status_code == 303
    data["form_action"] = "view_release"
    refused = app_client.post(f"/deid/resource/{rid}", data=data, headers=HTML, follow_redirects=False)
    assert refused.status_code == 409 and 'id="k-refused"' in refused.text
    app_client.cookies.clear()
    auth = {"Authorization": f"Bearer {token_for('steward')}"}
    api = app_client.post(f"/api/v1/deid/{rid}/release", headers=auth, json={})
    assert api.status_code == 409 and api.json()["error"]["fields"]["k"] == ["1"]
    ok = app_client.post(f"/api/v1/deid/{rid}/release", headers=auth, json={"quasi": ["住址"]})
    assert ok.status_code == 200 and ok.json()["status"] == "released" and ok.json()["k"] == 10
    other = {"Authorization": f"Bearer {token_for('eco_steward')}"}
    assert app_client.get(f"/api/v1/deid/{rid}/policy", headers=other).status_code == 403
    shown = app_client.get(f"/api/v1/deid/{rid}/views", headers=auth).json()
    assert shown["released"]["id"] == ok.json()["id"]


EDGE_POLICY: dict[str, dict[str, Any]] = {
    "a": {"op": "mask", "kind": "resident_id"},
    "b": {"op": "pseudonym", "kind": "resident_id"},
    "c": {"op": "generalise", "to": "birth_year"},
    "d": {"op": "generalise", "to": "region", "level": "county"},
    "e": {"op": "mask", "kind": "mobile"},
    "f": {"op": "pseudonym", "kind": "mobile", "prefix": "M", "length": 12},
    "g": {"op": "mask", "keep_first": 2, "keep_last": 1},
    "h": {"op": "generalise", "to": "district"},
    "i": {"op": "generalise", "to": "age_band", "width": 5},
    "j": {"op": "generalise", "to": "year"},
}


def test_sql_equals_the_pure_policy_on_odd_values(tmp_path: Any, settings_env: dict[str, str]) -> None:
    """Every operator the SQL writes itself agrees with ``deid`` on bad, spaced, lower-case and missing values."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from cityhub.sharing import views
    from tests.conftest import set_settings

    set_settings(settings_env, secret_key="test-secret-key-deid-0001", home=str(tmp_path))
    good = resident_ids(3)
    ids = [*good, f"\u3000{good[0].lower()}\t", f"  {good[1]} ", good[2][:-1] + ("1" if good[2][-1] != "1" else "2"),
           "440106199002300011", "999999199001011234", "abc", "", None, "４４０１０６"]
    texts = ["+86 138-1234-5678", "13812345678", "1381234567", "张三丰", "王", None, "广州市东山区", "芳村区花地",
             " 23 ", "34岁", "150", "-1"]
    n = max(len(ids), len(texts))
    col = {k: [ids[i % len(ids)] for i in range(n)] for k in "abcd"}
    col.update({k: [texts[i % len(texts)] for i in range(n)] for k in "efghi"})
    col["j"] = ["1990-05-17", "1990/5/7", "19900517", "1990年5月17日", "1990-02-30", None, "x", "2000-1-1",
                "1990-05-17T10:00", "", "1990.5.17", "17/05/1990"][:n]
    table = pa.table({"_id": pa.array(range(1, n + 1), type=pa.int64()), **{k: pa.array(v, type=pa.string())
                                                                             for k, v in col.items()}})
    src, dest = tmp_path / "src.parquet", tmp_path / "view.parquet"
    pq.write_table(table, src)
    key = b"0123456789abcdef0123456789"
    views.build(src, [("_id", "integer"), *[(k, "string") for k in col]], EDGE_POLICY, "drop", key, dest)
    got = _rows(dest)
    want = deid.Policy.from_dict(EDGE_POLICY, key=key).apply(table.to_pylist())
    for g, w in zip(got, want, strict=True):
        assert {k: v for k, v in g.items() if k != "_id"} == w
    assert got[0]["a"] != "*" * 18 and got[5]["a"] == "*" * 18  # a valid number kept its ends, a bad one did not
