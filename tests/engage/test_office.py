"""The data office's console (``office_overview``, ``/office``): its counts follow what happens (a request asked,
aged, routed, overdue; a post reported), only platform admins see it (others 403, visitors sent to sign in),
bad input is refused after the role gate, and the English page shows no untranslated Chinese."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from cityhub.errors import NotAuthenticated, NotAuthorized, ValidationError
from tests.conftest import Store, call_as, open_dataset, unique
from tests.engage.conftest import ask, call_from, new_user
from tests.web.crawl import parse
from tests.web.test_pages import page, signed_in

HAN = re.compile(r"[\u3400-\u9fff]")


def _overview(who: str = "admin") -> dict[str, Any]:
    out: dict[str, Any] = call_as(who, "office_overview", {})
    return out


def _ages(o: dict[str, Any]) -> dict[str, int]:
    return {a["band"]: a["count"] for a in o["data_requests"]["ages"]}


def _shift(rid: int, created_days_ago: int | None = None, deadline: dt.date | None = None) -> None:
    from cityhub import db
    from cityhub.db import utcnow
    from cityhub.engage.datareq_models import DataRequest

    with db.session_factory()() as s:
        req = s.get_one(DataRequest, rid)
        if created_days_ago is not None:
            req.created_at = utcnow() - dt.timedelta(days=created_days_ago)
        if deadline is not None:
            req.deadline = deadline
        s.commit()


def test_counts_follow_requests_and_reports(w: dict[str, Any]) -> None:
    before = _overview()
    assert before["data_requests"]["age_unit"] == "calendar_days"
    assert [a["band"] for a in before["data_requests"]["ages"]] == ["0-5", "6-10", "11-20", ">20"]
    req = ask(new_user(), title=unique("需求"))
    asked = _overview()
    dr0, dr1 = before["data_requests"], asked["data_requests"]
    assert dr1["by_status"]["submitted"] == dr0["by_status"]["submitted"] + 1
    assert dr1["open"] == dr0["open"] + 1
    assert _ages(asked)["0-5"] == _ages(before)["0-5"] + 1

    _shift(req["id"], created_days_ago=15)  # now 15 calendar days old
    aged = _overview()
    assert _ages(aged)["11-20"] == _ages(before)["11-20"] + 1 and _ages(aged)["0-5"] == _ages(before)["0-5"]

    call_as("admin", "data_request_route", {"id": req["id"], "department": "gz-transport"})
    routed = _overview()["data_requests"]
    assert routed["by_status"]["submitted"] == dr0["by_status"]["submitted"]
    assert routed["by_status"]["routed"] == dr0["by_status"]["routed"] + 1
    assert routed["open"] == dr1["open"] and routed["overdue"] == dr0["overdue"]

    _shift(req["id"], deadline=dt.date(2020, 1, 2))  # long past its deadline: overdue
    late = _overview()["data_requests"]
    assert late["overdue"] == dr0["overdue"] + 1
    assert req["id"] in {r["id"] for r in late["overdue_list"]} or len(late["overdue_list"]) == 10

    post = call_from("steward", "discussion_post_create", {"dataset": w["dataset"], "kind": "question",
                                                            "title": unique("帖子"), "body": "字段含义?"})
    assert post["status"] == "visible"
    call_from(new_user(), "discussion_post_report", {"id": post["id"], "reason": "广告"})
    reported = _overview()["moderation"]
    assert reported["reported_posts"] == before["moderation"]["reported_posts"] + 1
    assert reported["held_posts"] == before["moderation"]["held_posts"]
    for section in ("indicators", "sharing", "corrections"):
        assert section in reported or section in before


def test_only_the_data_office_and_input_is_checked_after_the_gate(w: dict[str, Any]) -> None:
    with pytest.raises(NotAuthenticated):
        call_as(None, "office_overview", {})
    for who in ("steward", "deptadmin", "analyst", "citizen"):
        with pytest.raises(NotAuthorized):
            call_as(who, "office_overview", {"__no_such_field__": 1})  # refused before the input is looked at
    with pytest.raises(ValidationError):
        call_as("admin", "office_overview", {"__no_such_field__": 1})


def test_office_page(demo: Store, app_client: Any) -> None:
    resp = app_client.get("/office", follow_redirects=False)
    assert resp.status_code in (303, 307) and "/login" in resp.headers["location"]
    signed_in(app_client, demo.passwords, "analyst")
    assert app_client.get("/office").status_code == 403
    app_client.cookies.clear()
    signed_in(app_client, demo.passwords, "admin")
    zh = page(app_client, "/office")
    assert "数据办工作台" in zh and 'href="/office"' in zh
    for card in ("office-requests", "office-indicators", "office-moderation", "office-sharing", "office-corrections"):
        assert f'id="{card}"' in zh
    for link in ("/requests/queue", "/admin/indicators/review", "/moderation?status=reported", "/showcase?status=pending",
                 "/corrections"):
        assert f'href="{link}"' in zh
    before = int(re.search(r'data-count="requests-open">(\d+)<', zh).group(1))  # type: ignore[union-attr]
    ask(new_user(), title=unique("需求"))
    after = page(app_client, "/office")
    assert int(re.search(r'data-count="requests-open">(\d+)<', after).group(1)) == before + 1  # type: ignore[union-attr]
    en = page(app_client, "/office?lang=en")
    assert "Data office console" in en and "calendar days" in en
    untranslated = [t for t in parse("/office", en).texts if HAN.search(t)]
    assert not untranslated, untranslated


def test_catalog_list_shows_reuses_per_dataset_with_one_batched_call(demo: Store, app_client: Any,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from cityhub import actions

    title = unique("成果计数数据集")
    ds = open_dataset(title=title)["name"]
    other = open_dataset(title=title + "乙")["name"]
    r = call_from(new_user(), "reuse_create", {"title": "公交到站查询小程序", "description": "用实时公交数据做的小程序",
                                               "url": "https://app.example.cn/bus", "type": "app", "datasets": [ds]})
    calls: list[Any] = []
    real = actions.call

    def counting(name: str, ctx: Any, data: Any = None) -> Any:
        if name == "reuse_count":
            calls.append(data)
        return real(name, ctx, data)

    monkeypatch.setattr(actions, "call", counting)
    listing = page(app_client, f"/dataset?q={title}")
    assert f'href="/dataset/{ds}"' in listing and 'data-reuses=' not in listing  # pending: not counted yet
    call_as("admin", "reuse_review", {"id": r["id"], "decision": "published"})
    calls.clear()
    listing = page(app_client, f"/dataset?q={title}")
    assert f'href="/dataset/{ds}#reuses" data-reuses="1"' in listing
    assert f'href="/dataset/{other}#reuses"' not in listing
    assert len(calls) == 1 and set(calls[0]["datasets"]) >= {ds, other}
    assert "reuses" in page(app_client, f"/dataset?q={title}&lang=en")


def test_indicator_reports_awaited_late_and_missing(w: dict[str, Any]) -> None:
    code = "t." + unique("office").replace("-", "").lower()[-20:]
    call_as("admin", "indicator_create", {"code": code, "area": "industry", "name": "办公室测试指标", "unit": "%",
                                          "baseline_year": 2015, "baseline_value": 10, "target_year": 2020,
                                          "target_value": 50, "direction": "at_least", "department": "gz-transport"})
    before = _overview()["indicators"]
    assert before["missing"] >= 5 and before["indicators_missing"] >= 1  # 2016..last year never reported
    call_as("steward", "indicator_report", {"code": code, "period": "2016", "value": 12, "unit": "%",
                                            "evidence_url": "https://tjj.gz.gov.cn/gb.html"})
    after = _overview()["indicators"]
    assert after["awaiting_review"] == before["awaiting_review"] + 1
    assert code in {r["code"] for r in after["queue"]} or len(after["queue"]) == 10
    assert after["missing"] == before["missing"] - 1 and after["late"] == before["late"] + 1  # reported years late
    assert len(after["late_or_missing"]) <= 10
