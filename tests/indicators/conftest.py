"""Fixtures of the indicator tests: a small store of their own (no demo load: fast) on SQLite and, when reachable,
PostgreSQL, with three departments (the transport bureau reports two indicators, the ecology bureau one, the data
office owns the values dataset), their people, and a small plan table: reported indicators (a percentage, an
output in 亿元 with bounds, one without a baseline), a live one (open datasets against 800) and a monitored one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import ADMIN_PASSWORD, _drop_pg_database, call_as, make_store

PASSWORD = "Indicator-Test-Passphrase-2026"
DEPARTMENTS = [
    {"slug": "gz-transport", "name": "广州市交通运输局", "short_name": "市交通运输局", "uscc": "11440100004735995E",
     "level": "市"},
    {"slug": "gz-ecology-environment", "name": "广州市生态环境局", "short_name": "市生态环境局",
     "uscc": "11440100002609434F", "level": "市"},
    {"slug": "gz-gov-data", "name": "广州市政务服务数据管理局", "short_name": "市政务服务数据管理局",
     "uscc": "11440100001938025C", "level": "市"},
]
USERS = [("admin", "platform_admin", None), ("admin2", "platform_admin", None),
         ("steward", "steward", "gz-transport"), ("deptadmin", "dept_admin", "gz-transport"),
         ("eco_steward", "steward", "gz-ecology-environment"), ("analyst", "analyst", None),
         ("citizen", "public", None)]
PLAN = [
    {"code": "t.share", "area": "e_government", "name": "网上办理比例", "name_en": "Online share", "unit": "%",
     "baseline_year": 2015, "baseline_value": 60, "target_year": 2020, "target_value": 100, "direction": "at_least",
     "department": "gz-transport", "position": 1},
    {"code": "t.output", "area": "industry", "name": "产业产值", "unit": "亿元", "baseline_year": 2015,
     "baseline_value": 2000, "target_year": 2020, "target_value": 4000, "direction": "at_least",
     "department": "gz-transport", "min_value": 0, "max_value": 10000, "position": 2},
    {"code": "t.eco", "area": "smart_city", "name": "生态指标", "unit": "%", "target_year": 2020, "target_value": 95,
     "direction": "at_least", "department": "gz-ecology-environment", "position": 3},
    {"code": "t.open", "area": "big_data", "name": "开放的政府数据集", "unit": "个", "target_year": 2020,
     "target_value": 800, "direction": "at_least", "department": "gz-gov-data", "kind": "live",
     "compute_key": "open_datasets", "frequency": "monthly", "position": 4},
    {"code": "t.exchanged", "area": "big_data", "name": "交换记录数", "unit": "条", "target_year": 2020,
     "department": "gz-gov-data", "kind": "live", "compute_key": "records_exchanged", "frequency": "monthly",
     "position": 5},
]


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def iworld(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    store, db_name = make_store(tmp_path_factory.mktemp(f"indicators-{request.param}"), request.param)
    for dept in DEPARTMENTS:
        call_as("system", "department_create", dept)
    for name, role, dept in USERS:
        call_as("system", "user_create", {"name": name, "password": ADMIN_PASSWORD if name == "admin" else PASSWORD,
                                          "role": role, "department": dept})
    store.passwords = {name: ADMIN_PASSWORD if name == "admin" else PASSWORD for name, _, _ in USERS}
    call_as("admin", "indicator_import", {"rows": PLAN})
    yield {"store": store}
    from cityhub import jobs

    jobs.wait_idle()
    if db_name:
        from cityhub import db

        db.reset_caches()
        _drop_pg_database(db_name)


@pytest.fixture
def iw(iworld: dict[str, Any]) -> dict[str, Any]:
    iworld["store"].activate()
    from cityhub import jobs
    from cityhub.indicators import live

    jobs.wait_idle()  # a rewrite of the values dataset queued by an earlier change (it adds an open dataset)
    live.clear()
    return iworld
