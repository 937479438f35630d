"""Corrections (校核): a consumer reports a disputed record; only the provider's stewards accept and answer it,
within 2 and 10 working days on the Chinese calendar (Spring Festival 2026 included); overdue tickets are
flagged; an upheld correction becomes the next datastore version, whose note names the ticket."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest

from cityhub import jobs
from cityhub.catalog.schemas import UploadedFile
from cityhub.errors import Conflict, NotAuthorized, NotFound, ValidationError
from cityhub.sharing import corrections
from tests.conftest import Store, call_as, open_dataset

CSV = "站点名称,所属区,PM2_5\n" + "".join(f"站点{i},{['天河区', '越秀区', '海珠区'][i % 3]},{10 + i}\n" for i in range(30))


def _table() -> str:
    ds = open_dataset()
    res = call_as("steward", "resource_create", {"dataset": ds["name"], "upload": UploadedFile(
        "air.csv", io.BytesIO(CSV.encode()))})
    jobs.wait_idle()
    return str(res["id"])


def _on(monkeypatch: pytest.MonkeyPatch, day: dt.date) -> None:
    monkeypatch.setattr(corrections, "today", lambda: day)


def _report(rid: str, **over: Any) -> dict[str, Any]:
    data = {"resource_id": rid, "key_value": "3", "field": "所属区", "claimed_value": "白云区",
            "evidence": "现场核查:站点2位于白云区", "evidence_url": "https://example.gov.cn/check/2"}
    data.update(over)
    return call_as("eco_steward", "correction_create", data)


def test_deadlines_across_spring_festival_and_overdue_flags(demo: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    rid = _table()
    _on(monkeypatch, dt.date(2026, 2, 13))  # Friday; Saturday 14 Feb is a make-up working day, 15–23 Feb off
    t = _report(rid)
    assert t["status"] == "open" and t["current_value"] == "海珠区" and t["department"] == "gz-transport"
    assert t["accept_due"] == "2026-02-24" and t["answer_due"] == "2026-03-05" and t["provisional"] is False
    assert t["accept_days_left"] == 2 and not t["accept_overdue"]
    _on(monkeypatch, dt.date(2026, 2, 23))  # still the holiday: nothing used up
    assert call_as("eco_steward", "correction_show", {"id": t["id"]})["accept_days_left"] == 1
    _on(monkeypatch, dt.date(2026, 2, 25))
    late = call_as("steward", "correction_show", {"id": t["id"]})
    assert late["accept_overdue"] is True and late["accept_days_left"] == -1 and not late["answer_overdue"]
    accepted = call_as("steward", "correction_accept", {"id": t["id"]})
    assert accepted["status"] == "accepted" and accepted["accepted_late"] is True
    assert accepted["accept_overdue"] is False  # accepted: only the answer is still due
    _on(monkeypatch, dt.date(2026, 3, 6))
    assert call_as("steward", "correction_show", {"id": t["id"]})["answer_overdue"] is True
    # a year the calendar package does not know yet: provisional, never guessed
    _on(monkeypatch, dt.date(2026, 12, 28))
    assert _report(rid)["provisional"] is True


def test_only_the_providing_department_answers(demo: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    rid = _table()
    t = _report(rid)
    for action in ("correction_accept", "correction_apply"):
        with pytest.raises(NotAuthorized):
            call_as("eco_steward", action, {"id": t["id"]})
    with pytest.raises(NotAuthorized):
        call_as("eco_steward", "correction_resolve", {"id": t["id"], "outcome": "upheld"})
    with pytest.raises(NotFound):  # someone else's ticket is not theirs to see
        call_as("citizen", "correction_show", {"id": t["id"]})
    assert [x["id"] for x in call_as("citizen", "correction_list", {})] == []
    assert t["id"] in [x["id"] for x in call_as("eco_steward", "correction_list", {})]
    assert t["id"] in [x["id"] for x in call_as("steward", "correction_list", {"status": "open"})]
    with pytest.raises(NotAuthorized):  # the public may not report at all
        call_as("citizen", "correction_create", {"resource_id": rid, "key_value": "1", "field": "所属区",
                                                 "claimed_value": "x", "evidence": "y"})
    # bad reports are refused, nothing stored
    with pytest.raises(ValidationError):
        _report(rid, key_value="999")
    with pytest.raises(ValidationError):
        _report(rid, field="不存在")
    with pytest.raises(ValidationError):
        _report(rid, key_column="所属区", key_value="天河区")  # 10 records have that key
    with pytest.raises(ValidationError):  # rejection needs a reason
        call_as("steward", "correction_resolve", {"id": t["id"], "outcome": "rejected"})
    rejected = call_as("steward", "correction_resolve", {"id": t["id"], "outcome": "rejected", "reason": "经核实无误"})
    assert rejected["status"] == "rejected" and rejected["accepted_by"] == "steward"
    with pytest.raises(Conflict):
        call_as("steward", "correction_apply", {"id": t["id"]})


def test_upheld_correction_becomes_the_next_version(demo: Store) -> None:
    rid = _table()
    t = _report(rid, key_column="站点名称", key_value="站点5", field="PM2_5", claimed_value="99")
    with pytest.raises(ValidationError):  # an integer column takes an integer
        call_as("steward", "correction_resolve", {"id": t["id"], "outcome": "upheld", "corrected_value": "abc"})
    call_as("steward", "correction_accept", {"id": t["id"]})
    upheld = call_as("steward", "correction_resolve", {"id": t["id"], "outcome": "upheld", "corrected_value": "77"})
    assert upheld["status"] == "upheld" and upheld["corrected_value"] == "77"
    applied = call_as("steward", "correction_apply", {"id": t["id"]})
    jobs.wait_idle()
    assert applied["status"] == "applied" and applied["applied_version"] == 2
    info = call_as("steward", "datastore_info", {"id": rid})
    assert info["current_version"] == 2 and info["rows"] == 30
    assert f"#{t['id']}" in info["versions"][0]["note"]
    rows = call_as("steward", "datastore_search", {"resource_id": rid, "limit": 100})["records"]
    by_name = {r["站点名称"]: r for r in rows}
    assert by_name["站点5"]["PM2_5"] == 77 and by_name["站点5"]["_id"] == 6
    assert all(r["PM2_5"] == 10 + int(r["站点名称"][2:]) for r in rows if r["站点名称"] != "站点5")
    assert [r["_id"] for r in rows] == list(range(1, 31))
    with pytest.raises(Conflict):
        call_as("steward", "correction_apply", {"id": t["id"]})


def test_correction_desk_pages_api_and_cli(app_client: Any, demo_passwords: dict[str, str]) -> None:
    from typer.testing import CliRunner

    from cityhub.cli.main import app as cli
    from tests.conftest import token_for
    from tests.web.test_pages import HTML, csrf_of, page, signed_in

    rid = _table()
    signed_in(app_client, demo_passwords, "eco_steward")
    form = page(app_client, f"/corrections/new?resource_id={rid}")
    assert "提交数据校核" in form
    bad = app_client.post("/corrections/new", headers=HTML, follow_redirects=False, data={
        "csrf_token": csrf_of(form, "correction-form"), "resource_id": rid, "key_column": "_id", "key_value": "999",
        "field": "所属区", "claimed_value": "白云区", "evidence": "核查"})
    assert bad.status_code == 422 and "未找到该记录" in bad.text
    made = app_client.post("/corrections/new", headers=HTML, follow_redirects=False, data={
        "csrf_token": csrf_of(form, "correction-form"), "resource_id": rid, "key_column": "_id", "key_value": "2",
        "field": "所属区", "claimed_value": "白云区", "evidence": "核查"})
    assert made.status_code == 303
    url = made.headers["location"]
    body = page(app_client, url)
    assert "provider-actions" not in body  # the reporter cannot answer it
    assert url.rsplit("/", 1)[1] in page(app_client, "/corrections")
    app_client.post("/api/v1/session/logout", headers={"X-CSRF-Token": csrf_of(body)})
    app_client.cookies.clear()
    signed_in(app_client, demo_passwords, "steward")
    body = page(app_client, url)
    assert "provider-actions" in body
    resp = app_client.post(f"{url}/resolve", headers=HTML, follow_redirects=False, data={
        "csrf_token": csrf_of(body, "resolve-form"), "outcome": "upheld", "corrected_value": "", "reason": ""})
    assert resp.status_code == 303
    assert 'data-status="upheld"' in page(app_client, url)
    # the API, with a token: the provider lists and applies
    app_client.cookies.clear()
    auth = {"Authorization": f"Bearer {token_for('steward')}"}
    listed = app_client.get("/api/v1/corrections?status=upheld", headers=auth).json()
    cid = int(url.rsplit("/", 1)[1])
    assert cid in [t["id"] for t in listed]
    other = {"Authorization": f"Bearer {token_for('eco_steward')}"}
    assert app_client.post(f"/api/v1/corrections/{cid}/apply", headers=other).status_code == 403
    applied = app_client.post(f"/api/v1/corrections/{cid}/apply", headers=auth)
    assert applied.status_code == 200 and applied.json()["status"] == "applied"
    jobs.wait_idle()
    # the CLI (the local operator): list and show
    result = CliRunner().invoke(cli, ["correction", "show", str(cid)])
    assert result.exit_code == 0 and '"applied"' in result.output
    assert CliRunner().invoke(cli, ["correction", "accept", str(cid)]).exit_code == 2  # not open any more


def test_a_record_one_may_not_read_cannot_be_disputed(demo: Store) -> None:
    ds = open_dataset(private=True)
    res = call_as("steward", "resource_create", {"dataset": ds["name"], "upload": UploadedFile(
        "air.csv", io.BytesIO(CSV.encode()))})
    jobs.wait_idle()
    with pytest.raises(NotFound):  # the value would leak through the ticket
        _report(str(res["id"]))
    assert call_as("steward", "correction_create", {  # its own department may
        "resource_id": res["id"], "key_value": "1", "field": "所属区", "claimed_value": "越秀区",
        "evidence": "内部核查"})["current_value"] == "天河区"
