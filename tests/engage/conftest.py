"""Fixtures of the data-request tests: a small store of their own (no demo load: fast) on SQLite and, when
reachable, PostgreSQL: two departments, their people, the data office, two public users and one open dataset
an answer can point to. ``today`` moves the actions' "today in China" (deadlines, late answers).

Factories of the discussion and reuse tests: fresh public accounts (each its own client address, so the
per-account and per-address limits of one test never touch another's) and calls as them."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import (
    ADMIN_PASSWORD,
    _drop_pg_database,
    actor_ctx,
    call_as,
    dataset_payload,
    make_store,
    publish,
    unique,
)

PASSWORD = "Datareq-Test-Passphrase-2026"
DEPARTMENTS = [
    {"slug": "gz-transport", "name": "广州市交通运输局", "short_name": "市交通运输局", "uscc": "11440100004735995E",
     "level": "市"},
    {"slug": "gz-ecology-environment", "name": "广州市生态环境局", "short_name": "市生态环境局",
     "uscc": "11440100002609434F", "level": "市"},
]
USERS = [("admin", "platform_admin", None), ("steward", "steward", "gz-transport"),
         ("deptadmin", "dept_admin", "gz-transport"), ("analyst", "analyst", "gz-transport"),
         ("eco_steward", "steward", "gz-ecology-environment"), ("citizen", "public", None),
         ("citizen2", "public", None)]


def build_world(store: Any) -> dict[str, Any]:
    for dept in DEPARTMENTS:
        call_as("system", "department_create", dept)
    for name, role, dept in USERS:
        call_as("system", "user_create", {"name": name, "password": ADMIN_PASSWORD if name == "admin" else PASSWORD,
                                          "role": role, "department": dept})
    store.passwords = {name: ADMIN_PASSWORD if name == "admin" else PASSWORD for name, _, _ in USERS}
    ds = call_as("steward", "dataset_create", dataset_payload(title="公交线路站点"))
    publish(ds["name"])
    draft = call_as("steward", "dataset_create", dataset_payload(title="未发布的数据集"))
    return {"store": store, "dataset": ds["name"], "draft": draft["name"]}


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    store, db_name = make_store(tmp_path_factory.mktemp(f"datareq-{request.param}"), request.param)
    yield build_world(store)
    if db_name:
        from cityhub import db

        db.reset_caches()
        _drop_pg_database(db_name)


@pytest.fixture
def w(world: dict[str, Any]) -> dict[str, Any]:
    """The world (one per backend for the session), its store activated for this test."""
    world["store"].activate()
    return world


@pytest.fixture
def today(monkeypatch: pytest.MonkeyPatch) -> Any:
    """``today("2026-09-30")`` makes the data-request actions believe that is today in China."""
    from cityhub.engage import datareq_actions

    def set_today(value: str) -> None:
        day = dt.date.fromisoformat(value)
        monkeypatch.setattr(datareq_actions, "today_local", lambda: day)

    return set_today


def ask(who: str = "citizen", **over: Any) -> dict[str, Any]:
    """A data request (factory)."""
    data = {"title": "公交站点客流数据", "description": "希望开放各公交站点按小时的上下车客流数据。",
            "purpose": "研究通勤规律", **over}
    out: dict[str, Any] = call_as(who, "data_request_create", data)
    return out

_addresses = itertools.count(1)


def new_address() -> str:
    n = next(_addresses)
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


def new_user(role: str = "public", department: str | None = None) -> str:
    from cityhub import actions
    from cityhub.context import system_context

    name = unique("u").replace("-", "_")
    data: dict[str, Any] = {"name": name, "password": "Correct-horse-battery-9", "role": role}
    if department:
        data["department"] = department
    actions.call("user_create", system_context("test"), data)
    return name


def call_from(name: str | None, action: str, data: Any = None, source: str | None = None) -> Any:
    """Call ``action`` as ``name`` from ``source`` (a fresh address unless given)."""
    from cityhub import actions

    return actions.call(action, actor_ctx(name, source=source or new_address()), data)
