"""The Guangzhou demo content, read from the data files in ``cityhub/demo/data`` and dated relative to a day.

The files hold the content (departments, users, data resources, plan items, sample tables); this module only
reads them and turns relative dates into real ones, so the demo looks the same age whenever it is loaded:

- a dataset's ``published: Y-2 40%`` is 40 % through the year two before the load year (for the load year
  itself, 40 % of the part already gone, so nothing is published in the future);
- a sample table column with ``shift`` is re-dated by the time between the tables' ``as_of`` day and the load
  day: ``day`` by whole days, ``week`` by whole weeks (weekdays keep their meaning), ``month``/``quarter``/
  ``year`` by whole periods, counted with the usual publication delays (a month's figures come out about
  20 days after it ends, a quarter's 25 days, a year's about 90 days), so the newest row is the newest one
  a real bureau would have published by the load day;
- the metro ridership table is drawn from station profiles over the days before the load day with the
  Chinese public-holiday calendar (``holidays``), so weekends, holidays and their eves fall on the right days.

Plans: a dataset opened in year P is an item of its department's plan for P (its target on or after the
opening, or before it when ``opened_late_by`` says so); ``plans.yaml`` adds the items no dataset fulfils yet.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import re
import zlib
from dataclasses import dataclass, field
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from cityhub.catalog.vocab import BASE_CATEGORIES, THEMES
from cityhub.geo import DISTRICT_NAMES

SH = ZoneInfo("Asia/Shanghai")
PLAN_YEARS = (-3, -2, -1, 0, 1)  # relative to the load year
DEMO_SUFFIX = "（本数据为演示用样例数据。）"
SHIFTS = ("day", "week", "month", "quarter", "year")
_REL = re.compile(r"^Y([+-]\d+)?$")
_PUBLISHED = re.compile(r"^(Y(?:[+-]\d+)?) (\d{1,3})%$")
_YEAR_IN_TEXT = re.compile(r"(?<!\d)((?:19|20)\d\d)")
_QUARTER = re.compile(r"^(\d{4})Q([1-4])$")
_THEME_SLUGS = tuple(t[0] for t in THEMES)


def _files() -> Any:
    return resources.files("cityhub.demo").joinpath("data")


def _yaml(name: str) -> Any:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(_files().joinpath(name).read_text(encoding="utf-8"), Loader=loader)  # noqa: S506 (safe loader)


def base_items() -> list[dict[str, Any]]:
    """The authoritative department (and demo dataset) of each base data item (``base_items.yaml``)."""
    items: list[dict[str, Any]] = _yaml("base_items.yaml")
    return items


def _table(name: str) -> list[dict[str, str]]:
    text = _files().joinpath("tables", name).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def _h(*parts: object) -> int:
    return zlib.crc32("|".join(str(p) for p in parts).encode("utf-8"))


# -- the calendar of a load ----------------------------------------------------------------------------------------


def _month_index(day: dt.date) -> int:
    return day.year * 12 + day.month - 1


def latest_month(day: dt.date) -> int:
    """Index (year*12+month-1) of the newest month whose figures are out on ``day`` (about 20 days after it)."""
    return _month_index(day - dt.timedelta(days=20)) - 1


def latest_quarter(day: dt.date) -> int:
    """Index (year*4+quarter-1) of the newest quarter whose figures are out on ``day`` (25 days after it)."""
    d = day - dt.timedelta(days=25)
    return d.year * 4 + (d.month - 1) // 3 - 1


def latest_year(day: dt.date) -> int:
    """The newest year whose annual figures are out on ``day`` (about 90 days after it)."""
    return (day - dt.timedelta(days=90)).year - 1


@dataclass(frozen=True)
class Clock:
    """The load day and how far the sample tables move from their ``as_of`` day to it."""

    today: dt.date
    as_of: dt.date

    @property
    def year(self) -> int:
        return self.today.year

    @functools.cached_property
    def delta(self) -> dict[str, int]:
        days = (self.today - self.as_of).days
        return {"day": days, "week": 7 * (days // 7),
                "month": latest_month(self.today) - latest_month(self.as_of),
                "quarter": latest_quarter(self.today) - latest_quarter(self.as_of),
                "year": latest_year(self.today) - latest_year(self.as_of)}

    def rel_year(self, label: str) -> int:
        m = _REL.match(label)
        if not m:
            raise ValueError(f"not a relative year (Y, Y-2, Y+1): {label!r}")
        return self.year + int(m.group(1) or 0)

    def through(self, year: int, percent: float) -> dt.date:
        """The day ``percent`` % through ``year``; in the load year, through the part already gone."""
        start = dt.date(year, 1, 1)
        end = self.today if year == self.year else dt.date(year, 12, 31)
        return start + dt.timedelta(days=int((end - start).days * percent / 100))

    def shift(self, kind: str, value: str) -> str:
        """Move one cell of a table column declared ``shift: kind``."""
        if value == "":
            return value
        n = self.delta[kind]
        if not n:
            return value
        if kind in ("day", "week"):
            if "T" in value:
                return (dt.datetime.fromisoformat(value) + dt.timedelta(days=n)).isoformat()
            return (dt.date.fromisoformat(value) + dt.timedelta(days=n)).isoformat()
        if kind == "month":
            y, m, *rest = (int(p) for p in value.split("-"))
            k = y * 12 + m - 1 + n
            if not rest:
                return f"{k // 12:04d}-{k % 12 + 1:02d}"
            return _month_day(k // 12, k % 12 + 1, rest[0]).isoformat()
        if kind == "quarter":
            q = _QUARTER.match(value)
            if not q:
                raise ValueError(f"not a quarter (2026Q3): {value!r}")
            k = int(q.group(1)) * 4 + int(q.group(2)) - 1 + n
            return f"{k // 4}Q{k % 4 + 1}"
        return _YEAR_IN_TEXT.sub(lambda y: str(int(y.group(1)) + n), value)


def _month_day(year: int, month: int, day: int) -> dt.date:
    while True:
        try:
            return dt.date(year, month, day)
        except ValueError:
            day -= 1


def period_bounds(kind: str, value: str) -> tuple[dt.date, dt.date]:
    """First and last day of one series value (a date, month, quarter or year)."""
    if kind in ("day", "week"):
        d = dt.date.fromisoformat(value[:10])
        return d, d
    if kind == "month":
        y, m = int(value[:4]), int(value[5:7])
        nxt = dt.date(y + (m == 12), m % 12 + 1, 1)
        return dt.date(y, m, 1), nxt - dt.timedelta(days=1)
    if kind == "quarter":
        q = _QUARTER.match(value)
        assert q is not None
        y, n = int(q.group(1)), int(q.group(2))
        start = dt.date(y, 3 * n - 2, 1)
        return start, (dt.date(y + (n == 4), (3 * n) % 12 + 1, 1) - dt.timedelta(days=1))
    y = int(_YEAR_IN_TEXT.search(value).group(1))  # type: ignore[union-attr]
    return dt.date(y, 1, 1), dt.date(y, 12, 31)


# publication delay after a series period ends (matches latest_month/quarter/year above)
_PUBLISHED_AFTER = {"day": dt.timedelta(hours=9), "week": dt.timedelta(hours=9), "month": dt.timedelta(days=20),
                    "quarter": dt.timedelta(days=25), "year": dt.timedelta(days=90)}


# -- the content --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Department:
    slug: str
    name: str
    short_name: str
    name_en: str
    uscc: str
    level: str
    district: str | None
    description: str


@dataclass(frozen=True)
class User:
    name: str
    role: str
    display_name: str
    department: str | None = None


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    description: str
    shift: str | None = None  # re-dated at load: day, week, month, quarter or year
    future: bool = False  # holds dates after the load day (a licence's expiry)


@dataclass(frozen=True)
class Dataset:
    slug: str
    title: str
    title_en: str
    department: str
    theme: str
    catalog_type: str
    base_category: str | None
    class_item: str
    class_category: str
    class_sub: str
    abstract: str
    format: str
    file_format: str
    sharing_class: str
    sharing_condition: str
    sharing_method: tuple[str, ...]
    sharing_basis: str
    opening_class: str
    opening_condition: str
    update_cycle: str
    published: dt.date
    opened_late_by: int | None
    tags: tuple[str, ...]
    districts: tuple[str, ...]
    license: str
    columns: tuple[Column, ...]
    series: str | None
    since: dt.date | None
    model: dict[str, Any] | None
    checks: dict[str, Any] = field(default_factory=dict)
    geometry: dict[str, Any] | None = None  # a GeoJSON file's shapes: ``{shape: parcel, area: <m² column>}``

    @property
    def is_open(self) -> bool:
        return self.opening_class != "不予开放"

    @property
    def series_column(self) -> Column | None:
        return next((c for c in self.columns if c.name == self.series), None) if self.series else None


@dataclass(frozen=True)
class PlanItem:
    title: str
    dataset: str | None
    target_date: dt.date
    format: str
    update_cycle: str


@dataclass(frozen=True)
class Plan:
    department: str
    year: int
    published_on: dt.date | None
    items: tuple[PlanItem, ...]


class Content:
    """Everything the demo loads, dated for one load day."""

    def __init__(self, today: dt.date) -> None:
        raw = _yaml("datasets.yaml")
        self.clock = Clock(today, raw["as_of"])
        self.departments = [Department(district=d.get("district"), **{k: v for k, v in d.items() if k != "district"})
                            for d in _yaml("departments.yaml")]
        self.department = {d.slug: d for d in self.departments}
        self.users = [User(**u) for u in _yaml("users.yaml")]
        self.datasets = self._datasets(raw["datasets"])
        self.dataset = {d.slug: d for d in self.datasets}
        self._planned = _yaml("plans.yaml")

    # datasets ----------------------------------------------------------------------------------------------------

    def _datasets(self, raw: list[dict[str, Any]]) -> list[Dataset]:
        counters: dict[tuple[str, str], int] = {}
        slugs = [d.slug for d in self.departments]
        out = []
        for r in raw:
            m = _PUBLISHED.match(r["published"])
            if not m:
                raise ValueError(f"{r['slug']}: published should read like 'Y-2 40%', not {r['published']!r}")
            published = self.clock.through(self.clock.rel_year(m.group(1)), int(m.group(2)))
            catalog_type = r["catalog_type"]
            if catalog_type == "基础":
                item = BASE_CATEGORIES[r["base_category"]]
            elif catalog_type == "主题":
                item = f"{_THEME_SLUGS.index(r['theme']) + 1:02d}"
            else:
                item = f"{slugs.index(r['department']) + 1:02d}"
            counters[(catalog_type, item)] = counters.get((catalog_type, item), 0) + 1
            districts = tuple(r.get("districts") or DISTRICT_NAMES)
            coverage = "全市11个区" if len(districts) == len(DISTRICT_NAMES) else "、".join(districts)
            cycle = r["update_cycle"]
            provenance = f"数据由{self.department[r['department']].short_name}提供，{cycle}更新，覆盖{coverage}。"
            out.append(Dataset(
                slug=r["slug"], title=r["title"], title_en=r["title_en"], department=r["department"], theme=r["theme"],
                catalog_type=catalog_type, base_category=r.get("base_category"), class_item=item,
                class_category=f"{counters[(catalog_type, item)]:03d}", class_sub=str(r.get("class_sub", "")),
                abstract=r["abstract"] + provenance + DEMO_SUFFIX, format=r.get("format", "电子表格"),
                file_format=r.get("file_format", "CSV"), sharing_class=r.get("sharing_class", "无条件共享"),
                sharing_condition=r.get("sharing_condition", ""),
                sharing_method=tuple(r.get("sharing_method", ("接口", "文件下载"))), sharing_basis=r.get("sharing_basis", ""),
                opening_class=r.get("opening_class", "无条件开放"), opening_condition=r.get("opening_condition", ""),
                update_cycle=cycle, published=published, opened_late_by=r.get("opened_late_by"), tags=tuple(r["tags"]),
                districts=districts, license=r.get("license", "cc-by-4.0"),
                columns=tuple(Column(**c) for c in r["columns"]), series=r.get("series"),
                since=r.get("since"), model=r.get("model"), checks=r.get("checks", {}), geometry=r.get("geometry")))
        return out

    def datasets_of(self, department: str) -> list[Dataset]:
        return [d for d in self.datasets if d.department == department]

    @functools.cache  # noqa: B019 (one Content per load day, kept for the process)
    def text_rows(self, slug: str) -> tuple[dict[str, str], ...]:
        """The sample table as text cells, re-dated for the load day."""
        ds = self.dataset[slug]
        if ds.model:
            return tuple(_MODELS[ds.model["name"]](self, ds))
        rows = _table(f"{slug}.csv")
        shifted = [c for c in ds.columns if c.shift]
        for row in rows:
            for c in shifted:
                row[c.name] = self.clock.shift(c.shift or "", row[c.name])
        return tuple(rows)

    def rows(self, slug: str) -> list[dict[str, Any]]:
        """The sample table with typed values (int, float, bool, ISO date text, None for an empty cell)."""
        types = {c.name: c.type for c in self.dataset[slug].columns}
        return [{k: _typed(types[k], v) for k, v in row.items()} for row in self.text_rows(slug)]

    def series_range(self, ds: Dataset) -> tuple[dt.date, dt.date] | None:
        """First and last day the sample table's series column covers."""
        col = ds.series_column
        if col is None:
            return None
        kind = col.shift or "day"
        values = [r[col.name] for r in self.text_rows(ds.slug) if r[col.name]]
        bounds = [period_bounds(kind, v) for v in values]
        return min(b[0] for b in bounds), max(b[1] for b in bounds)

    def temporal(self, ds: Dataset) -> tuple[dt.date | None, dt.date | None]:
        covered = self.series_range(ds)
        if covered:
            return covered
        return ds.since, None

    def data_updated(self, ds: Dataset, now: dt.datetime) -> dt.datetime:
        """When the sample table was last updated: when its newest period came out, or for tables without a
        series, on schedule for most and a cycle late for about one in five of those old enough to be late."""
        opened = dt.datetime.combine(ds.published, dt.time(10), tzinfo=now.tzinfo)
        col = ds.series_column
        if col is not None:
            kind = col.shift or "day"
            newest = max(r[col.name] for r in self.text_rows(ds.slug) if r[col.name])
            if "T" in newest:
                out = dt.datetime.fromisoformat(newest).replace(tzinfo=now.tzinfo) + dt.timedelta(hours=1)
            else:
                out = dt.datetime.combine(period_bounds(kind, newest)[1], dt.time(0), tzinfo=now.tzinfo)
                out += (dt.timedelta(days=1) if kind in ("day", "week") else dt.timedelta(0)) + _PUBLISHED_AFTER[kind]
        else:
            h = _h(ds.slug)
            cycle = {"实时": 1, "每日": 1, "每周": 7, "每月": 31, "每季度": 92, "每半年": 183, "每年": 366}.get(ds.update_cycle)
            if cycle is None:
                out = now - dt.timedelta(days=20 + h % 200)
            elif h % 5 == 0:  # a cycle missed, by a few days to a month
                out = now - dt.timedelta(days=cycle + 3 + h % 30)
            else:
                out = now - dt.timedelta(hours=h % max(1, cycle * 24 - 30))
        return min(now, max(opened, out))

    # plans ---------------------------------------------------------------------------------------------------------

    def plan_published_on(self, department: str, year: int) -> dt.date | None:
        """Plans for a year come out in December of the year before; next year's may not be out yet."""
        day = dt.date(year - 1, 12, 1 + _h(department, year) % 20)
        return day if day <= self.clock.today else None

    @functools.cached_property
    def plans(self) -> list[Plan]:
        window = {self.clock.year + k for k in PLAN_YEARS}
        items: dict[tuple[str, int], list[PlanItem]] = {}
        for ds in self.datasets:
            year = ds.published.year
            if not ds.is_open or year not in window:
                continue
            if ds.opened_late_by:
                target = max(dt.date(year, 1, 1), ds.published - dt.timedelta(days=ds.opened_late_by))
            else:
                target = min(dt.date(year, 12, 31), ds.published + dt.timedelta(days=10 + _h(ds.slug, "target") % 50))
            items.setdefault((ds.department, year), []).append(
                PlanItem(f"{year}年开放{ds.title}", ds.slug, target, ds.format, ds.update_cycle))
        for dept, planned in (self._planned or {}).items():
            for p in planned:
                year = self.clock.rel_year(p["year"])
                if year not in window:
                    raise ValueError(f"plans.yaml: {dept} plans for {p['year']}, outside Y-3..Y+1")
                target = dt.date(year, 1, 1) + dt.timedelta(days=int(364 * float(str(p["target"]).rstrip("%")) / 100))
                items.setdefault((dept, year), []).append(
                    PlanItem(p["title"], None, target, p["format"], p["update_cycle"]))
        return [Plan(dept, year, self.plan_published_on(dept, year), tuple(sorted(its, key=lambda i: i.target_date)))
                for (dept, year), its in sorted(items.items())]


def _typed(kind: str, value: str) -> Any:
    if value == "":
        return None
    if kind == "integer":
        return int(value)
    if kind == "number":
        return float(value)
    if kind == "boolean":
        return value == "是"
    return value


# -- models: tables drawn for the load day -------------------------------------------------------------------------


def _metro_daily(content: Content, ds: Dataset) -> list[dict[str, str]]:
    """Daily station ridership for the ``days`` before the load day from each station's profile: a normal
    weekday's entries, exits and transfers, scaled for Fridays (+6 %), Saturdays, Sundays, public holidays
    and the last working day before a holiday, with ±3 % day-to-day variation."""
    import holidays

    assert ds.model is not None
    days = int(ds.model["days"])
    today = content.clock.today
    first = today - dt.timedelta(days=days)
    calendar = holidays.China(years=range(first.year, today.year + 2))
    profiles = _table(ds.model["profiles"])
    rows = []
    for offset in range(days):
        day = first + dt.timedelta(days=offset)
        if day in calendar:
            kind = "法定节假日"
        elif day.weekday() >= 5:
            kind = "调休工作日" if calendar.is_working_day(day) else ("周六" if day.weekday() == 5 else "周日")
        else:
            kind = "工作日"
        eve = kind in ("工作日", "调休工作日") and (day + dt.timedelta(days=1)) in calendar
        for p in profiles:
            f = {"工作日": 1.06 if day.weekday() == 4 else 1.0, "调休工作日": 0.97, "周六": float(p["周六系数"]),
                 "周日": float(p["周日系数"]), "法定节假日": float(p["节假日系数"])}[kind]
            if eve:
                f *= float(p["节前系数"])
            values = []
            for col in ("工作日进站_人次", "工作日出站_人次", "工作日换乘_人次"):
                noise = 1 + (_h(p["地铁站名称"], day, col) % 601 - 300) / 10000
                values.append(str(round(int(p[col]) * f * noise)))
            rows.append({"日期": day.isoformat(), "线路": p["线路"], "地铁站名称": p["地铁站名称"], "所属区": p["所属区"],
                         "日期类型": kind, "进站客流_人次": values[0], "出站客流_人次": values[1], "换乘客流_人次": values[2]})
    return rows


_MODELS = {"metro_daily": _metro_daily}


@functools.lru_cache(maxsize=4)
def load(today: dt.date) -> Content:
    """The demo content dated for ``today`` (the load day, Asia/Shanghai)."""
    return Content(today)


def today() -> dt.date:
    return dt.datetime.now(SH).date()


def current() -> Content:
    """The demo content dated for today in Guangzhou, as ``cityhub demo load`` loads it."""
    return load(today())
