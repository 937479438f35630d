"""Catalog rules, codes, change history, quality, freshness and plans."""

from __future__ import annotations

import datetime as dt

import pytest

from cityhub.catalog import codes, quality
from cityhub.errors import Conflict, NotFound, ValidationError
from tests.conftest import Store, call_as, dataset_payload, open_dataset


def _fields(exc: pytest.ExceptionInfo[ValidationError]) -> str:
    return str(exc.value.fields)


def test_code_is_generated_in_catalog_layout(demo: Store) -> None:
    a = call_as("steward", "dataset_create", dataset_payload(class_item="02", class_category="007", class_sub="3"))
    b = call_as("steward", "dataset_create", dataset_payload(class_item="02", class_category="007", class_sub="3"))
    assert a["code"].startswith("2020073/") and codes.parse_code(a["code"])["cls"] == "2"
    assert int(b["code"].split("/")[1]) == int(a["code"].split("/")[1]) + 1


def test_base_data_must_be_shared_unconditionally(demo: Store) -> None:
    with pytest.raises(ValidationError) as exc:
        call_as("steward", "dataset_create", dataset_payload(
            catalog_type="基础", base_category="法人", sharing_class="有条件共享", sharing_condition="x",
            sharing_basis="某法规"))
    assert "无条件共享" in _fields(exc)
    ok = call_as("steward", "dataset_create", dataset_payload(catalog_type="基础", base_category="法人"))
    assert ok["code"].startswith("102") and ok["sharing_class"] == "无条件共享"
    with pytest.raises(ValidationError):
        call_as("steward", "dataset_update", {"id": ok["name"], "sharing_class": "不予共享", "sharing_basis": "x"})
    assert call_as("steward", "dataset_show", {"id": ok["name"]})["sharing_class"] == "无条件共享"


@pytest.mark.parametrize("over, field_text", [
    ({"sharing_class": "有条件共享", "sharing_condition": "仅限公安"}, "依据"),
    ({"sharing_class": "不予共享"}, "依据"),
    ({"opening_class": "有条件开放"}, "开放条件"),
    ({"abstract": "<script>alert(1)</script>" + "正文" * 20}, "脚本"),
    ({"abstract": "点击 <a href=\"x\" onclick=\"steal()\">这里</a>" + "正文" * 20}, "脚本"),
    ({"abstract": "x" * 20001}, "过长"),
    ({"department": "no-such-dept"}, None),
    ({"theme": "astrology"}, "主题"),
    ({"districts": ["深圳市"]}, "行政区"),
    ({"update_cycle": "每分钟"}, "更新周期"),
    ({"temporal_start": "2020-01-01", "temporal_end": "2019-01-01"}, "时间范围"),
    ({"title": ""}, "title"),
    ({"name": "Bad Name!"}, "name"),
    ({"tags": ["<img src=x>"]}, "标签"),
])
def test_bad_metadata_is_refused_and_nothing_stored(demo: Store, over: dict[str, object],
                                                     field_text: str | None) -> None:
    data = dataset_payload(**over)
    before = call_as("system", "dataset_search", {"rows": 0, "include_private": True})["count"]
    with pytest.raises((ValidationError, NotFound)) as exc:
        call_as("steward", "dataset_create", data)
    if field_text:
        assert field_text in str(exc.value.fields) + exc.value.message
    assert call_as("system", "dataset_search", {"rows": 0, "include_private": True})["count"] == before


def test_duplicate_name_conflicts(demo: Store) -> None:
    data = dataset_payload()
    call_as("steward", "dataset_create", data)
    with pytest.raises(Conflict):
        call_as("steward", "dataset_create", {**data, "title": "另一个标题"})
    assert call_as("steward", "dataset_show", {"id": data["name"]})["title"] == data["title"]


def test_update_records_history_and_keeps_rules(demo: Store) -> None:
    ds = call_as("steward", "dataset_create", dataset_payload())
    call_as("steward", "dataset_update", {"id": ds["name"], "title": "新标题", "tags": ["公交", "线路"]})
    with pytest.raises(ValidationError):
        call_as("steward", "dataset_update", {"id": ds["name"], "sharing_class": "有条件共享"})
    with pytest.raises(ValidationError):
        call_as("steward", "dataset_update", {"id": ds["name"], "no_such_field": 1})
    shown = call_as("steward", "dataset_show", {"id": ds["name"]})
    assert shown["title"] == "新标题" and shown["sharing_class"] == "无条件共享"
    history = call_as("steward", "dataset_history", {"id": ds["name"]})
    assert [h["action"] for h in history] == ["update", "create"]
    assert history[0]["changes"]["title"] == ["测试公交线路数据", "新标题"]
    assert history[0]["actor"] == "steward"


def test_reclassification_issues_a_new_code(demo: Store) -> None:
    ds = call_as("steward", "dataset_create", dataset_payload(class_category="021"))
    moved = call_as("steward", "dataset_update", {"id": ds["name"], "class_category": "022"})
    assert moved["code"].startswith("202022/") and moved["code"] != ds["code"]


def test_delete_hides_everywhere(demo: Store) -> None:
    ds = open_dataset(title="即将删除的停车场数据")
    assert any(r["name"] == ds["name"] for r in call_as(None, "dataset_search", {"q": "停车场", "rows": 100})["results"])
    call_as("steward", "dataset_delete", {"id": ds["name"]})
    with pytest.raises(NotFound):
        call_as(None, "dataset_show", {"id": ds["name"]})
    assert all(r["name"] != ds["name"] for r in call_as(None, "dataset_search", {"q": "停车场", "rows": 100})["results"])
    assert ds["name"] not in call_as(None, "dataset_list", {})


def test_quality_score_and_freshness(demo: Store) -> None:
    ds = open_dataset(license_id="", districts=[])
    q = call_as(None, "dataset_quality", {"id": ds["name"]})
    crit = {c["key"]: c["ok"] for c in q["criteria"]}
    assert crit["license"] is False and crit["spatial_coverage"] is False and crit["temporal_coverage"] is True
    assert crit["resources_reachable"] is False  # no resources yet
    old = (dt.datetime.now(dt.UTC) - dt.timedelta(days=70)).isoformat()
    call_as("steward", "resource_create", {"dataset": ds["name"], "url": "https://example.org/data.csv",
                                           "description": "说明", "last_modified": old})
    q = call_as(None, "dataset_quality", {"id": ds["name"]})
    assert q["overdue"] is True and q["days_overdue"] >= 70 - 31 - 1
    crit = {c["key"]: c["ok"] for c in q["criteria"]}
    assert crit["open_format"] is True and crit["updated_on_time"] is False
    assert q["score"] == round(100 * sum(crit.values()) / 9)


def test_freshness_pure_function() -> None:
    now = dt.datetime(2020, 3, 10, tzinfo=dt.UTC)
    monthly = 31
    assert not quality.freshness(monthly, now - dt.timedelta(days=31), now).overdue  # due today
    assert not quality.freshness(monthly, now - dt.timedelta(days=32), now).overdue  # one day of grace
    late = quality.freshness(monthly, now - dt.timedelta(days=40), now)
    assert late.overdue and late.days_overdue == 9
    assert not quality.freshness(None, now - dt.timedelta(days=999), now).overdue


def test_plan_item_statuses(demo: Store) -> None:
    opened = open_dataset(published_on="2020-03-01")
    plan = call_as("steward", "plan_upsert", {"department": "gz-transport", "year": 2032, "published_on": "2032-01-10",
                                              "items": [
        {"title": "按期开放", "dataset": opened["name"], "target_date": "2020-06-30"},
        {"title": "逾期未开放", "dataset": None, "target_date": "2020-06-30"},
        {"title": "计划中", "dataset": None, "target_date": "2099-12-31"},
        {"title": "逾期开放", "dataset": opened["name"], "target_date": "2020-01-31"},
    ]})
    by_title = {i["title"]: i for i in plan["items"]}
    assert by_title["按期开放"]["status"] == "opened" and not by_title["按期开放"]["opened_late"]
    assert by_title["逾期开放"]["status"] == "opened" and by_title["逾期开放"]["opened_late"]
    assert by_title["逾期未开放"]["status"] == "late"
    assert by_title["计划中"]["status"] == "planned"
    assert plan["summary"] == {"total": 4, "opened": 2, "late": 1, "planned": 1, "progress": 50}
    with pytest.raises(ValidationError):
        call_as("steward", "plan_upsert", {"department": "gz-transport", "year": 2033, "items": [
            {"title": "别的部门的数据", "dataset": "air-quality-hourly", "target_date": "2020-01-01"}]})


def test_demo_content_meets_the_brief(demo: Store) -> None:
    from cityhub.demo import content

    loaded = content.current()
    depts = call_as(None, "department_list", {})
    assert len(depts) >= len(loaded.departments) >= 37
    assert all(len(d["uscc"]) == 18 for d in depts)
    stats = call_as(None, "portal_stats", {})
    assert stats["open_datasets"] >= 60 and stats["open_target"] == 800
    plans = call_as(None, "plan_list", {})
    with_plan = {p["department"] for p in plans["plans"] if p["year"] == stats["plan_year"] and p["published_on"]}
    assert stats["plan_year"] == loaded.clock.year  # the demo's plans run up to this year (and the next)
    assert stats["plan_share"] == round(100 * len(with_plan) / len(depts), 1)
    assert {d.slug for d in loaded.departments} <= with_plan  # every department published this year's plan
    stored = {(p["department"], p["year"]) for p in plans["plans"] if p["year"] <= loaded.clock.year + 1}
    assert {(p.department, p.year) for p in loaded.plans} <= stored
    themes_used = [t for t in stats["themes"] if t["count"]]
    assert len(themes_used) >= 14
