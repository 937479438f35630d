"""Fixtures of the sharing workflow tests: a small store of its own (no demo load: fast) on SQLite and, when
reachable, PostgreSQL, with three of the demo's departments (gz-transport provides, the ecology bureau requests,
the education bureau is a third party), their people, a registered system, and datasets in each sharing class."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from typing import Any

import pytest

from cityhub import jobs
from cityhub.catalog.schemas import UploadedFile
from tests.conftest import ADMIN_PASSWORD, _drop_pg_database, call_as, dataset_payload, make_store, publish

CSV = "站点名称,所属区,PM2_5\n" + "".join(f"站点{i},{['天河区', '越秀区'][i % 2]},{10 + i}\n" for i in range(20))
PASSWORD = "Sharing-Test-Passphrase-2026"


def make_dataset(with_table: bool = False, **over: Any) -> dict[str, Any]:
    """A published gz-transport dataset (with one CSV resource; its table loaded when ``with_table``)."""
    ds = call_as("steward", "dataset_create", dataset_payload(**over))
    publish(ds["name"])
    res = call_as("steward", "resource_create", {"dataset": ds["name"],
                                                 "upload": UploadedFile("t.csv", io.BytesIO(CSV.encode()))})
    jobs.wait_idle()  # one load at a time: loads running while the next dataset is written contend on SQLite
    if with_table:  # served once its load (and personal-data scan) has ended
        deadline = time.monotonic() + 60
        while call_as("steward", "resource_show", {"id": res["id"]}).get("load_state") and time.monotonic() < deadline:
            time.sleep(0.1)
            jobs.wait_idle()
        assert not call_as("steward", "resource_show", {"id": res["id"]}).get("load_state")
    return {"name": ds["name"], "id": ds["id"], "rid": res["id"]}


DEPARTMENTS = [
    {"slug": "gz-transport", "name": "广州市交通运输局", "short_name": "市交通运输局", "uscc": "11440100004735995E",
     "level": "市"},
    {"slug": "gz-ecology-environment", "name": "广州市生态环境局", "short_name": "市生态环境局",
     "uscc": "11440100002609434F", "level": "市"},
    {"slug": "gz-education", "name": "广州市教育局", "short_name": "市教育局", "uscc": "11440100004291239H",
     "level": "市"},
]
USERS = [("admin", "platform_admin", None), ("steward", "steward", "gz-transport"),
         ("deptadmin", "dept_admin", "gz-transport"), ("eco_steward", "steward", "gz-ecology-environment"),
         ("third", "steward", "gz-education"), ("citizen", "public", None), ("citizen2", "public", None)]


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    store, db_name = make_store(tmp_path_factory.mktemp(f"sharing-{request.param}"), request.param)
    for dept in DEPARTMENTS:
        call_as("system", "department_create", dept)
    for name, role, dept in USERS:
        call_as("system", "user_create", {"name": name, "password": ADMIN_PASSWORD if name == "admin" else PASSWORD,
                                          "role": role, "department": dept})
    third = "third"
    store.passwords = {name: ADMIN_PASSWORD if name == "admin" else PASSWORD for name, _, _ in USERS}
    system = call_as("eco_steward", "system_register", {"code": "GZ-EE/air-quality", "name": "空气质量研判系统"})
    conditional = {"sharing_class": "有条件共享", "sharing_condition": "仅限生态环境监管使用",
                   "sharing_basis": "《广州市公共数据管理办法》"}
    yield {
        "store": store,
        "third": third,
        "system": system,
        "conditional": make_dataset(**conditional),
        "unconditional": make_dataset(sharing_class="无条件共享"),
        "not_shared": make_dataset(sharing_class="不予共享", sharing_condition="涉及公共安全,不予共享",
                                   sharing_basis="《中华人民共和国反恐怖主义法》第四十八条"),
        "open_conditional": make_dataset(with_table=True, opening_class="有条件开放",
                                         opening_condition="经申请审核后开放", **conditional),
    }
    jobs.wait_idle()
    if db_name:
        from cityhub import db

        db.reset_caches()
        _drop_pg_database(db_name)


@pytest.fixture
def w(world: dict[str, Any]) -> dict[str, Any]:
    """The world (one per backend for the session), its store activated for this test."""
    world["store"].activate()
    return world
