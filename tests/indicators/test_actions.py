"""Indicator actions: define, import, report with evidence, review, progress, history and audit, the live
computations, the assessments and their export; bad input (wrong unit, outside bounds, another department's
indicator, a live indicator, a future period, no evidence). On SQLite and PostgreSQL (``conftest.iworld``)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cityhub.catalog.schemas import UploadedFile
from cityhub.errors import Conflict, NotAuthenticated, NotAuthorized, ValidationError
from tests.conftest import call_as, dataset_payload, open_dataset

THIS_YEAR = dt.date.today().year


def report(who: str, code: str, period: str, value: float, unit: str, **over: Any) -> dict[str, Any]:
    data = {"code": code, "period": period, "value": value, "unit": unit,
            "evidence_url": "https://tjj.gz.gov.cn/gb.html", **over}
    result: dict[str, Any] = call_as(who, "indicator_report", data)
    return result


def audit_rows(action: str) -> list[Any]:
    from cityhub.audit import AuditRecord
    from cityhub.db import session_scope

    with session_scope() as s:
        return [(r.actor, r.target, r.outcome) for r in s.scalars(
            select(AuditRecord).where(AuditRecord.action == action).order_by(AuditRecord.seq))]


def test_list_shows_every_indicator_with_targets_and_progress(iw: dict[str, Any]) -> None:
    listing = call_as(None, "indicator_list", {})
    codes = [r["code"] for r in listing["results"]]
    assert codes[:5] == ["t.share", "t.output", "t.eco", "t.open", "t.exchanged"]
    share = listing["results"][0]
    assert share["target_value"] == 100 and share["baseline_value"] == 60 and share["department"] == "gz-transport"
    live = next(r for r in listing["results"] if r["code"] == "t.open")
    assert live["kind"] == "live" and "可见性规则" in live["how"] and live["how_en"]
    assert call_as(None, "indicator_list", {"area": "industry"})["count"] == 1


def test_report_review_counts_and_keeps_history(iw: dict[str, Any]) -> None:
    made = report("steward", "t.output", "2017", 2800, "亿元", note="统计公报")
    assert made["status"] == "reported"
    # not counted before review
    shown = call_as(None, "indicator_show", {"code": "t.output"})
    assert [o["id"] for o in shown["observations"]] == [o["id"] for o in shown["observations"] if
                                                      o["status"] == "approved"]
    assert "history" not in shown and made["id"] not in [o["id"] for o in shown["observations"]]
    call_as("admin", "indicator_review", {"id": made["id"], "decision": "approve"})
    shown = call_as(None, "indicator_show", {"code": "t.output"})
    assert ["2017", 2800.0] in shown["series"]
    # (2800-2000)/2000 = 0.4 = expected (2017-2015)/5 → on track
    assert shown["progress"]["share"] == pytest.approx(0.4) and shown["progress"]["status"] == "on_track"
    # a corrected value for the same period supersedes the first (kept)
    again = report("deptadmin", "t.output", "2017", 2700, "亿元")
    call_as("admin", "indicator_review", {"id": again["id"], "decision": "approve", "comment": "按修订数"})
    full = call_as("analyst", "indicator_show", {"code": "t.output"})
    statuses = {o["id"]: o["status"] for o in full["observations"]}
    assert statuses[made["id"]] == "superseded" and statuses[again["id"]] == "approved"
    assert ["2017", 2700.0] in full["series"] and ["2017", 2800.0] not in full["series"]
    actions = [h["action"] for h in full["history"]]
    assert actions.count("indicator_report") >= 2 and actions.count("indicator_review") >= 2
    assert "indicator_create" in actions
    assert ("deptadmin", "t.output@2017", "success") in audit_rows("indicator_report")
    assert any(a == "admin" and o == "success" for a, _, o in audit_rows("indicator_review"))


def test_approval_records_an_activity(iw: dict[str, Any]) -> None:
    from cityhub.db import session_scope
    from cityhub.social.models import Activity

    made = report("steward", "t.share", "2016", 68, "%")
    call_as("admin", "indicator_review", {"id": made["id"], "decision": "approve"})
    with session_scope() as s:
        acts = list(s.scalars(select(Activity).where(Activity.object_type == "indicator",
                                                     Activity.object_id == "t.share")))
    assert acts and acts[-1].data["value"] == 68 and acts[-1].activity_type == "changed indicator"


def test_reject_needs_a_comment_and_does_not_count(iw: dict[str, Any]) -> None:
    made = report("eco_steward", "t.eco", "2018", 80, "%")
    with pytest.raises(ValidationError):
        call_as("admin", "indicator_review", {"id": made["id"], "decision": "reject"})
    call_as("admin", "indicator_review", {"id": made["id"], "decision": "reject", "comment": "缺少统计口径说明"})
    assert ["2018", 80.0] not in call_as(None, "indicator_show", {"code": "t.eco"})["series"]
    with pytest.raises(Conflict):  # reviewed once
        call_as("admin", "indicator_review", {"id": made["id"], "decision": "approve"})


def test_nobody_reviews_their_own_report(iw: dict[str, Any]) -> None:
    made = report("admin", "t.eco", "2016", 50, "%")
    with pytest.raises(Conflict):
        call_as("admin", "indicator_review", {"id": made["id"], "decision": "approve"})
    call_as("admin2", "indicator_review", {"id": made["id"], "decision": "approve"})


def test_evidence_document_upload(iw: dict[str, Any]) -> None:
    made = call_as("steward", "indicator_report", {
        "code": "t.share", "period": "2017", "value": 74.5, "unit": "%",
        "upload": UploadedFile("公报.pdf", io.BytesIO(b"%PDF-1.4 evidence"))})
    assert made["has_evidence_file"] and made["evidence_name"] == "公报.pdf" and made["evidence_sha256"]
    found = call_as("admin", "indicator_evidence", {"id": made["id"]})
    assert Path(found["path"]).read_bytes() == b"%PDF-1.4 evidence"
    with pytest.raises(NotAuthorized):
        call_as("citizen", "indicator_evidence", {"id": made["id"]})


def test_evidence_dataset_link(iw: dict[str, Any]) -> None:
    ds = open_dataset()
    made = report("steward", "t.share", "2018", 80, "%", evidence_url="", evidence_dataset=ds["name"])
    assert made["evidence_dataset"] == ds["name"]


# -- bad input ----------------------------------------------------------------------------------------------------


def test_wrong_unit_is_refused_with_a_bilingual_message(iw: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as err:
        report("steward", "t.output", "2018", 3000, "万元")
    assert "计量单位不符" in err.value.message and "亿元" in err.value.message
    assert "Wrong unit" in err.value.message_en and err.value.fields["unit"]
    assert any(o == "validation_error" for _, _, o in audit_rows("indicator_report"))


@pytest.mark.parametrize(("code", "value", "unit"), [("t.share", 101, "%"), ("t.share", -1, "%"),
                                                      ("t.output", 10001, "亿元"), ("t.output", -5, "亿元")])
def test_value_outside_plausible_bounds(iw: dict[str, Any], code: str, value: float, unit: str) -> None:
    with pytest.raises(ValidationError) as err:
        report("steward", code, "2018", value, unit)
    assert "合理范围" in err.value.message and "plausible range" in err.value.message_en
    assert err.value.fields["value"]


def test_report_for_another_departments_indicator_is_forbidden(iw: dict[str, Any]) -> None:
    with pytest.raises(NotAuthorized) as err:
        report("eco_steward", "t.share", "2018", 80, "%")
    assert err.value.status == 403 and "本部门" in err.value.message
    assert ("eco_steward", "t.share@2018", "denied") in audit_rows("indicator_report")
    with pytest.raises(NotAuthorized):  # an analyst or a citizen reports nothing
        report("analyst", "t.share", "2018", 80, "%")
    with pytest.raises(NotAuthorized):
        report("citizen", "t.share", "2018", 80, "%")
    with pytest.raises(NotAuthenticated):
        report(None, "t.share", "2018", 80, "%")  # type: ignore[arg-type]


def test_live_indicators_cannot_be_typed_in(iw: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as err:
        report("admin", "t.open", "2018", 900, "个")
    assert "实时计算" in err.value.message


def test_other_bad_reports(iw: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):  # a future period
        report("steward", "t.share", str(THIS_YEAR + 1), 80, "%")
    with pytest.raises(ValidationError):  # a month for a yearly indicator
        report("steward", "t.share", "2018-03", 80, "%")
    with pytest.raises(ValidationError):  # no evidence
        report("steward", "t.share", "2018", 80, "%", evidence_url="")
    with pytest.raises(ValidationError):  # not a period
        report("steward", "t.share", "18", 80, "%")
    with pytest.raises(ValidationError):  # a javascript: link
        report("steward", "t.share", "2018", 80, "%", evidence_url="javascript:alert(1)")
    with pytest.raises(ValidationError):  # not a number
        report("steward", "t.share", "2018", float("nan"), "%")
    with pytest.raises(NotAuthorized):  # only the data office back-fills a report's time
        report("steward", "t.share", "2018", 80, "%", reported_at="2019-01-05T00:00:00+00:00")


def test_definitions_are_the_data_offices(iw: dict[str, Any]) -> None:
    new = {"code": "t.new", "area": "security", "name": "处置率", "unit": "%", "target_year": 2020,
           "target_value": 100, "department": "gz-transport"}
    with pytest.raises(NotAuthorized):
        call_as("steward", "indicator_create", new)
    with pytest.raises(ValidationError):  # percentage bounds beyond 0–100
        call_as("admin", "indicator_create", {**new, "max_value": 120})
    with pytest.raises(ValidationError):  # live without a computation
        call_as("admin", "indicator_create", {**new, "kind": "live"})
    with pytest.raises(ValidationError):  # baseline after target
        call_as("admin", "indicator_create", {**new, "baseline_year": 2021, "baseline_value": 1})
    with pytest.raises(ValidationError):  # unknown department
        call_as("admin", "indicator_create", {**new, "department": "gz-nowhere"})
    call_as("admin", "indicator_create", new)
    with pytest.raises(Conflict):
        call_as("admin", "indicator_create", new)
    changed = call_as("admin", "indicator_update", {"code": "t.new", "target_value": 98, "clear": ["department"]})
    assert changed["target_value"] == 98 and changed["department"] is None
    with pytest.raises(ValidationError):  # the changed definition must still hold (percentage over 100)
        call_as("admin", "indicator_update", {"code": "t.new", "max_value": 150})
    hist = call_as("admin", "indicator_show", {"code": "t.new"})["history"]
    assert hist[0]["action"] == "indicator_update" and hist[0]["changes"]["target_value"] == [100, 98]


def test_import_names_the_bad_row_and_imports_nothing(iw: dict[str, Any]) -> None:
    rows = [{"code": "imp.a", "area": "industry", "name": "甲", "unit": "个", "target_year": "2020",
             "target_value": "1,000"},
            {"code": "imp.b", "area": "industry", "name": "乙", "unit": "%", "target_year": "2020",
             "target_value": "50", "max_value": "200"}]
    with pytest.raises(ValidationError) as err:
        call_as("admin", "indicator_import", {"rows": rows})
    assert "第2行" in err.value.message and "Row 2" in err.value.message_en
    assert "imp.a" not in [r["code"] for r in call_as(None, "indicator_list", {})["results"]]
    done = call_as("admin", "indicator_import", {"rows": rows[:1]})
    assert done == {"created": 1, "updated": 0, "skipped": 0}
    assert call_as("admin", "indicator_import", {"rows": rows[:1]})["skipped"] == 1
    again = call_as("admin", "indicator_import", {"rows": [{**rows[0], "target_value": "1200"}], "replace": True})
    assert again["updated"] == 1
    assert call_as(None, "indicator_show", {"code": "imp.a"})["target_value"] == 1200


# -- live values -------------------------------------------------------------------------------------------------


def test_live_open_datasets_follow_the_visibility_rule(iw: dict[str, Any]) -> None:
    from cityhub.indicators import live

    before = call_as(None, "indicator_show", {"code": "t.open"})["series"][-1][1]
    open_dataset()
    call_as("steward", "dataset_create", {**dataset_payload(), "private": True})
    live.clear()
    after = call_as(None, "indicator_show", {"code": "t.open"})
    assert after["series"][-1][1] == before + 1  # the private one does not count
    assert after["progress"]["current"] == before + 1


def test_live_records_exchanged_sum_the_exchange_log(iw: dict[str, Any]) -> None:
    from cityhub.db import session_scope, today_local
    from cityhub.indicators import live
    from cityhub.sharing.exchange_models import ExchangeCall
    from cityhub.sharing.models import SharingSystem

    month = today_local().isoformat()[:7]
    with session_scope() as s:
        system = s.scalars(select(SharingSystem)).first()
        if system is None:
            system = SharingSystem(department_id=1, code="T-1", name="测试系统", token_hash="x" * 64)
            s.add(system)
            s.flush()
        before = live.compute(s, "records_exchanged", fresh=True)["value"]
        for rows, status in ((120, "ok"), (30, "ok"), (999, "error")):
            s.add(ExchangeCall(month=month, system_id=system.id, consumer_department_id=1, provider_department_id=2,
                               resource_id="r", action="datastore_search", status=status, rows=rows))
    live.clear()
    shown = call_as(None, "indicator_show", {"code": "t.exchanged"})
    assert shown["series"][-1] == [month, before + 150]
    assert shown["progress"]["status"] == "monitored"


# -- assessments ---------------------------------------------------------------------------------------------------


def test_assessments_and_the_assessors_export(iw: dict[str, Any]) -> None:
    from cityhub.indicators.export import export_csv

    report("steward", "t.share", "2017", 74, "%")  # reported now, long after its due date
    annual = call_as(None, "indicator_assessment", {"kind": "annual", "year": 2018})
    assert annual["year"] == 2018 and "2018年度" in annual["title"]
    codes = [r["code"] for r in annual["indicators"]]
    assert "t.share" in codes
    # series cut at the year assessed
    assert all(int(p[:4]) <= 2018 for r in annual["indicators"] for p, _ in r["series"])
    late = {(x["code"], x["period"]): x["state"] for x in annual["late_or_missing"]}
    assert late[("t.output", "2016")] == "missing"  # never reported
    assert late[("t.share", "2017")] == "late"  # reported only now, long after 31 March 2018
    assert sum(annual["summary"].values()) == len(annual["indicators"])
    assert call_as(None, "indicator_assessment", {"kind": "midterm"})["year"] == 2018
    assert call_as(None, "indicator_assessment", {"kind": "final"})["year"] == 2020
    rows = list(csv.DictReader(io.StringIO(export_csv(annual))))
    assert rows[0]["code"] == codes[0] and {"share", "expected", "status", "target_value"} <= set(rows[0])


def test_backfilled_reports_on_time_are_not_late(iw: dict[str, Any]) -> None:
    made = report("admin", "t.eco", "2019", 70, "%", reported_at="2020-02-10T02:00:00+00:00")
    call_as("admin2", "indicator_review", {"id": made["id"], "decision": "approve"})
    annual = call_as(None, "indicator_assessment", {"kind": "annual", "year": 2019})
    assert ("t.eco", "2019") not in {(x["code"], x["period"]) for x in annual["late_or_missing"]}


def test_queue_scoped_to_the_department(iw: dict[str, Any]) -> None:
    report("steward", "t.share", "2019", 85, "%")
    report("eco_steward", "t.eco", "2017", 60, "%")
    mine = call_as("steward", "indicator_queue", {})["results"]
    assert mine and {o["department"] for o in mine} == {"gz-transport"}
    everything = call_as("admin", "indicator_queue", {})["results"]
    assert {"gz-transport", "gz-ecology-environment"} <= {o["department"] for o in everything}
    with pytest.raises(NotAuthorized):
        call_as("citizen", "indicator_queue", {})
    with pytest.raises(NotAuthorized):
        call_as("steward", "indicator_review", {"id": mine[0]["id"], "decision": "approve"})


def test_values_dataset_is_published_open_by_the_data_office(iw: dict[str, Any]) -> None:
    from cityhub import jobs
    from cityhub.settings import get_settings

    with pytest.raises(NotAuthorized):
        call_as("steward", "indicator_dataset_publish", {})
    jobs.wait_idle()  # a rewrite queued by an earlier change
    made = report("steward", "t.share", "2020", 93, "%")
    call_as("admin", "indicator_review", {"id": made["id"], "decision": "approve"})
    jobs.wait_idle()  # the approval queued a rewrite of the values dataset
    from cityhub.indicators.actions import last_publish

    queued = last_publish()
    assert queued is not None and queued.done()
    assert "error" not in queued.result(), queued.result()
    name = get_settings().indicators_dataset
    ds = call_as(None, "dataset_show", {"id": name})  # open: the public sees it
    assert ds["opening_class"] == "无条件开放" and ds["department"] == "gz-gov-data"
    res = next(r for r in ds["resources"] if r["name"] == "指标观测值")
    path = call_as(None, "resource_download", {"id": res["id"]})["path"]
    text = Path(path).read_text(encoding="utf-8-sig")
    assert text.startswith("code,area,name,unit,period,value") and "t.share,e_government,网上办理比例,%,2020,93," in text


def test_an_expired_live_value_is_served_while_it_is_recomputed(iw: dict[str, Any]) -> None:
    import time

    from cityhub.indicators import live

    before = call_as(None, "indicator_show", {"code": "t.open"})["series"][-1][1]
    open_dataset()  # the catalog changed outside the indicator actions: the cached figure is now stale
    live.expire()
    stale = call_as(None, "indicator_show", {"code": "t.open"})["series"][-1][1]
    assert stale == before  # served at once, the recount runs in the background
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if call_as(None, "indicator_show", {"code": "t.open"})["series"][-1][1] == before + 1:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the expired value was not recomputed")
