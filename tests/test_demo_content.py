"""The Guangzhou demo content is coherent and dated relative to the load day (issue 11).

The expectations come from the data files themselves (``cityhub/demo/data``): each dataset declares its keys,
derived figures and orderings under ``checks``, its time column under ``series``; these tests hold the shipped
tables to them for load days spread over a year, so the demo can neither contradict itself nor age. The last
tests look at a loaded store through the actions: plan items are never opened before their plan year, the
newest data is recent and the budget table's percentages are what its figures say."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections import defaultdict
from functools import cache
from itertools import pairwise
from statistics import mean
from typing import Any

import holidays
import pytest
from stdnum.cn import uscc

from cityhub.catalog import quality
from cityhub.catalog.vocab import (
    BASE_CATEGORIES,
    LICENSES,
    OPENING_CLASSES,
    RESOURCE_FORMATS,
    SHARING_CLASSES,
    SHARING_METHODS,
    THEME_BY_SLUG,
    UPDATE_CYCLES,
)
from cityhub.demo import content
from cityhub.geo import DISTRICT_NAMES, districts_geojson
from tests.conftest import Store, call_as

TODAY = content.today()
# load days spread over a year (and a leap day), plus days whose metro window holds Spring Festival / National Day
DAYS = [TODAY, TODAY + dt.timedelta(days=45), TODAY + dt.timedelta(days=170), dt.date(TODAY.year + 1, 1, 2),
        dt.date(2028, 2, 29), dt.date(2027, 2, 20), dt.date(2026, 10, 20)]
ROLES = {"platform_admin", "dept_admin", "steward", "analyst", "public"}
# how old the newest row of a dataset's series may be, by update cycle (publication delays included)
MAX_AGE = {"实时": 3, "每日": 8, "每周": 21, "每月": 80, "每季度": 210, "每半年": 400, "每年": 560, "不定期": 730}


@pytest.fixture(scope="module", params=DAYS, ids=[d.isoformat() for d in DAYS])
def demo_on(request: pytest.FixtureRequest) -> content.Content:
    return content.load(request.param)


def _close(a: float, b: float, digits: int) -> bool:
    return abs(a - b) <= 0.5 * 10 ** -digits + 1e-9 * max(1.0, abs(b))


@cache
def _rings() -> dict[str, list[list[float]]]:
    return {f["properties"]["name"]: f["geometry"]["coordinates"][0] for f in json.loads(districts_geojson())["features"]}


def _inside(district: str, lng: float, lat: float) -> bool:
    ring, hit, j = _rings()[district], False, -1
    for i in range(len(ring)):
        (xi, yi), (xj, yj) = ring[i], ring[j]
        if (yi > lat) != (yj > lat) and lng < (xj - xi) * (lat - yi) / (yj - yi) + xi:
            hit = not hit
        j = i
    return hit


# -- departments, users, metadata ----------------------------------------------------------------------------------


def test_departments_are_the_real_ones_with_english_names() -> None:
    demo = content.current()
    assert len(demo.departments) == 37
    for field in ("slug", "name", "name_en", "uscc", "short_name"):
        values = [getattr(d, field) for d in demo.departments]
        assert len(set(values)) == len(values), f"duplicate department {field}"
    for d in demo.departments:
        assert d.name.startswith(("广州", "国家税务总局广州市税务局")) and re.fullmatch(r"[A-Z][\w ,.'()-]+", d.name_en)
        assert uscc.is_valid(d.uscc), d.uscc
        assert (d.level == "区") == (d.district is not None) and (d.district is None or d.district in DISTRICT_NAMES)


def test_one_demo_user_per_role() -> None:
    demo = content.current()
    assert {u.role for u in demo.users} == ROLES
    assert len({u.name for u in demo.users}) == len(demo.users)
    for u in demo.users:
        assert (u.department is not None) == (u.role in ("steward", "dept_admin"))
        assert u.department is None or u.department in demo.department


def test_dataset_metadata_follows_the_catalog_rules(demo_on: content.Content) -> None:
    demo = demo_on
    assert len(demo.datasets) >= 90
    for field in ("slug", "title", "title_en"):
        values = [getattr(d, field) for d in demo.datasets]
        assert len(set(values)) == len(values), f"duplicate dataset {field}"
    codes = [(d.catalog_type, d.class_item, d.class_category) for d in demo.datasets]
    assert len(set(codes)) == len(codes)
    for d in demo.datasets:
        assert d.department in demo.department and d.theme in THEME_BY_SLUG and d.format in RESOURCE_FORMATS
        assert d.update_cycle in UPDATE_CYCLES and d.license in LICENSES and d.opening_class in OPENING_CLASSES
        assert d.sharing_class in SHARING_CLASSES and set(d.sharing_method) <= set(SHARING_METHODS)
        assert (d.sharing_class == "无条件共享") == (d.sharing_basis == ""), d.slug  # a restriction cites its basis
        if d.catalog_type == "基础":
            assert d.base_category in BASE_CATEGORIES and d.sharing_class == "无条件共享", d.slug
        assert d.published <= demo.clock.today, f"{d.slug} published in the future"
        assert set(d.districts) <= set(DISTRICT_NAMES) and 2 <= len(d.tags) <= 5
        assert d.abstract.endswith(content.DEMO_SUFFIX) and not re.search(r"20[12]\d", d.abstract)
        assert all(c.shift in (None, *content.SHIFTS) for c in d.columns)
        assert (d.series is None) != (d.since is None), f"{d.slug}: a series column or a since date"
        assert d.checks.get("unique"), f"{d.slug} declares no key"
    newest = max(d.published for d in demo.datasets)
    assert (demo.clock.today - newest).days <= 40 or demo.clock.today.timetuple().tm_yday <= 40


# -- the sample tables -------------------------------------------------------------------------------------------------


def _check_types(ds: content.Dataset, rows: list[dict[str, str]], today: dt.date) -> None:
    for c in ds.columns:
        for row in rows:
            v = row[c.name]
            if v == "":
                continue
            if c.type == "integer":
                int(v)
            elif c.type == "number":
                assert math.isfinite(float(v))
            elif c.type == "boolean":
                assert v in ("是", "否"), (ds.slug, c.name, v)
            elif c.type in ("date", "datetime"):
                day = dt.date.fromisoformat(v[:10])
                if c.type == "datetime":
                    dt.datetime.fromisoformat(v)
                if c.future:
                    assert day > today - dt.timedelta(days=400), (ds.slug, c.name, v)
                else:
                    assert day <= today, f"{ds.slug}.{c.name} = {v} is after the load day {today}"


def _check_declared(ds: content.Dataset, rows: list[dict[str, Any]]) -> None:
    checks = ds.checks
    for key in checks.get("unique", []):
        seen = [tuple(r[k] for k in key) for r in rows]
        dup = {k for k in seen if seen.count(k) > 1}
        assert not dup, f"{ds.slug}: {key} repeats {sorted(dup)[:3]}"
    for rule in checks.get("ratio", []):
        for r in rows:
            num = math.prod(float(r[c]) for c in rule["num"])
            den = math.prod(float(r[c]) for c in rule["den"]) if rule["den"] else 1.0
            assert _close(r[rule["value"]], num / den * rule["scale"], rule["digits"]), (ds.slug, rule["value"], r)
    for rule in checks.get("sum", []):
        for r in rows:
            assert abs(r[rule["total"]] - sum(r[p] for p in rule["parts"])) <= rule.get("tolerance", 0.0) + 1e-9, (ds.slug, r)
    for small, big in checks.get("order", []):
        for r in rows:
            assert r[small] is None or r[small] <= r[big], f"{ds.slug}: {small} {r[small]} > {big} {r[big]}"
    for rule in checks.get("change", []):
        series: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
        for r in rows:
            series[tuple(r[k] for k in rule["key"])].append(r)
        for items in series.values():
            items.sort(key=lambda r: r[rule["order"]])
            assert items[0][rule["value"]] is None
            for prev, cur in pairwise(items):
                want = (cur[rule["of"]] - prev[rule["of"]]) / prev[rule["of"]] * 100
                assert _close(cur[rule["value"]], want, rule["digits"]), (ds.slug, cur)
    for col, (lo, hi) in checks.get("range", {}).items():
        assert all(lo <= r[col] <= hi for r in rows), (ds.slug, col)
    for rule in checks.get("rule", []):
        for r in rows:
            if all(r[k] == v for k, v in rule["if"].items()):
                assert all(r[k] == v for k, v in rule["then"].items()), (ds.slug, r)


def test_every_table_keeps_its_own_declared_invariants(demo_on: content.Content) -> None:
    """Keys are unique (no five schools of one name), derived figures equal what their inputs say (a budget's
    completion is spending ÷ budget), orderings hold (deaths ≤ cases), values have their declared types, no
    date lies after the load day, and every point lies inside the district its row names."""
    demo = demo_on
    for ds in demo.datasets:
        text = list(demo.text_rows(ds.slug))
        assert text, ds.slug
        assert list(text[0]) == [c.name for c in ds.columns], f"{ds.slug}: table columns differ from the metadata"
        _check_types(ds, text, demo.clock.today)
        rows = demo.rows(ds.slug)
        _check_declared(ds, rows)
        for r in rows:
            if "所属区" in r:
                assert r["所属区"] in ds.districts, (ds.slug, r["所属区"])
                if r.get("经度") is not None:
                    assert _inside(r["所属区"], r["经度"], r["纬度"]), f"{ds.slug}: point outside {r['所属区']}: {r}"


def test_series_end_near_the_load_day_and_temporal_coverage_matches(demo_on: content.Content) -> None:
    demo = demo_on
    now = dt.datetime.combine(demo.clock.today, dt.time(12), tzinfo=content.SH)
    for ds in demo.datasets:
        start, end = demo.temporal(ds)
        updated = demo.data_updated(ds, now)
        assert dt.datetime.combine(ds.published, dt.time(0), tzinfo=content.SH) <= updated <= now, ds.slug
        if ds.series is None:
            assert start == ds.since and end is None
            continue
        assert start is not None and end is not None and start <= end
        newest = end
        age = (demo.clock.today - newest).days
        assert -1 <= age <= MAX_AGE[ds.update_cycle], f"{ds.slug}: newest row {newest}, {age} days before the load day"
        assert updated.date() >= min(newest, demo.clock.today) - dt.timedelta(days=1), ds.slug
        # a table with a series was updated when its newest period came out: on schedule, never overdue
        assert not quality.freshness(UPDATE_CYCLES[ds.update_cycle], updated, now).overdue, (ds.slug, updated)


def test_shifts_move_whole_periods() -> None:
    clock = content.Clock(dt.date(2027, 3, 10), dt.date(2026, 12, 1))
    assert clock.delta == {"day": 99, "week": 98, "month": 3, "quarter": 1, "year": 0}
    assert clock.shift("week", "2026-11-30") == "2027-03-08" and dt.date(2027, 3, 8).weekday() == 0
    assert clock.shift("day", "2026-11-30T23:00:00") == "2027-03-09T23:00:00"
    assert clock.shift("month", "2026-10-01") == "2027-01-01" and clock.shift("quarter", "2026Q3") == "2026Q4"
    later = content.Clock(dt.date(2028, 6, 1), dt.date(2026, 12, 1))
    assert later.delta["year"] == 2 and later.shift("year", "2024-2025") == "2026-2027"
    assert later.shift("year", "GR202544000123") == "GR202744000123"
    assert later.shift("month", "2026-01-31") == "2027-07-31"  # 18 months: April 2028 is out by 1 June


# -- plans ------------------------------------------------------------------------------------------------------------


def test_plan_items_open_in_their_own_year(demo_on: content.Content) -> None:
    demo = demo_on
    year = demo.clock.year
    assert {p.year for p in demo.plans} == {year + k for k in content.PLAN_YEARS}
    assert {p.department for p in demo.plans if p.year == year} == set(demo.department)
    for plan in demo.plans:
        assert plan.items and plan.department in demo.department
        if plan.published_on is not None:
            assert plan.published_on <= demo.clock.today and plan.published_on.year == plan.year - 1
        else:
            assert plan.year > year
        for it in plan.items:
            assert it.target_date.year == plan.year and it.format in RESOURCE_FORMATS
            if it.dataset is None:
                continue
            ds = demo.dataset[it.dataset]
            assert ds.department == plan.department and ds.is_open
            assert ds.published.year == plan.year, f"{it.title}: opened {ds.published} in the {plan.year} plan"
            assert plan.year <= year, "next year's items cannot be open yet"


# -- metro ridership ----------------------------------------------------------------------------------------------


def test_metro_ridership_has_weekly_and_holiday_patterns(demo_on: content.Content) -> None:
    demo = demo_on
    ds = demo.dataset["metro-station-passenger-flow"]
    rows = demo.rows(ds.slug)
    days = sorted({r["日期"] for r in rows})
    assert days[-1] == (demo.clock.today - dt.timedelta(days=1)).isoformat() and len(days) == ds.model["days"]  # type: ignore[index]
    calendar = holidays.China(years=range(int(days[0][:4]), int(days[-1][:4]) + 1))
    by_station: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        day = dt.date.fromisoformat(r["日期"])
        want = ("法定节假日" if day in calendar else "调休工作日" if day.weekday() >= 5 and calendar.is_working_day(day)
                else {5: "周六", 6: "周日"}.get(day.weekday(), "工作日"))
        assert r["日期类型"] == want, r
        assert 1000 <= r["进站客流_人次"] <= 200_000 and 1000 <= r["出站客流_人次"] <= 200_000
        by_station[r["地铁站名称"]].append(r)
    for station, items in by_station.items():
        def avg(kind: str, weekdays: tuple[int, ...] = (0, 1, 2, 3, 4), items: list[dict[str, Any]] = items) -> float:
            picked = [r["进站客流_人次"] for r in items
                      if r["日期类型"] == kind and dt.date.fromisoformat(r["日期"]).weekday() in weekdays]
            return mean(picked) if picked else math.nan
        plain = avg("工作日", (0, 1, 2, 3))
        assert avg("工作日", (4,)) > plain, f"{station}: Friday is the weekday peak"
        if station in ("体育西路", "珠江新城", "石牌桥", "客村"):  # business districts: quiet weekends and holidays
            assert avg("周日", (6,)) < avg("周六", (5,)) < plain
            holiday = avg("法定节假日", tuple(range(7)))
            assert math.isnan(holiday) or holiday < 0.8 * plain
        if station in ("广州南站", "广州火车站"):  # rail hubs: busier at weekends and holidays
            assert avg("周日", (6,)) > plain
    if any(r["日期类型"] == "法定节假日" for r in rows):
        assert by_station["北京路"] and mean(r["进站客流_人次"] for r in by_station["北京路"] if r["日期类型"] == "法定节假日") > \
            mean(r["进站客流_人次"] for r in by_station["北京路"] if r["日期类型"] == "工作日")


def test_a_window_with_a_holiday_shows_it() -> None:
    demo = content.load(dt.date(2026, 10, 20))  # National Day week 1-7 October 2026 lies in the window
    kinds = {r["日期"]: r["日期类型"] for r in demo.rows("metro-station-passenger-flow")}
    assert kinds["2026-10-01"] == "法定节假日" and kinds["2026-10-10"] == "调休工作日" and kinds["2026-09-30"] == "工作日"


# -- a loaded store ---------------------------------------------------------------------------------------------------


def test_loaded_plans_never_open_an_item_before_its_plan_year(demo: Store) -> None:
    this_year = content.today().year
    window = {this_year + k for k in content.PLAN_YEARS}
    departments = set(content.current().department)
    plans = [p for p in call_as(None, "plan_list", {})["plans"] if p["year"] in window and p["department"] in departments]
    assert {p["year"] for p in plans} == window
    opened = [(p["year"], i) for p in plans for i in p["items"] if i["status"] == "opened"]
    assert opened
    for year, item in opened:
        assert int(item["opened_on"][:4]) == year, f"{item['title']}: opened {item['opened_on']} in the {year} plan"
        assert item["target_date"].startswith(str(year))
    assert all(i["status"] == "planned" for p in plans if p["year"] > this_year for i in p["items"])


def test_loaded_portal_looks_current(demo: Store) -> None:
    today = content.today()
    rows = call_as(None, "dataset_search", {"rows": 1000})["results"]
    demo_rows = [r for r in rows if r["name"] in content.current().dataset]
    published = sorted(dt.date.fromisoformat(r["published_on"]) for r in demo_rows if r.get("published_on"))
    assert published and published[-1] <= today and (today - published[-1]).days <= 40 + 40 * (today.timetuple().tm_yday <= 40)
    stats = call_as(None, "portal_stats", {})
    assert stats["overdue_datasets"] <= 0.25 * stats["open_datasets"]


def test_loaded_budget_table_percentages_match_its_figures(demo: Store) -> None:
    ds = call_as(None, "dataset_show", {"id": "fiscal-budget"})
    res = next(r for r in ds["resources"] if r["datastore_active"])
    got = call_as(None, "datastore_search", {"resource_id": res["id"], "limit": 1000})
    assert got["total"] == len(content.current().rows("fiscal-budget"))
    for r in got["records"]:
        assert abs(r["完成预算比例"] - r["执行数_亿元"] / r["预算数_亿元"] * 100) <= 0.051, r
    years = {r["年度"] for r in got["records"]}
    assert max(years) == content.latest_year(content.today()) and ds["temporal_end"][:4] == str(max(years))
