"""Shared fixtures: real stores (SQLite always; PostgreSQL when reachable, and always in CI), the demo
content, clients and signed-in users."""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ADMIN_PASSWORD = "Test-Platform-Passphrase-2026"
PG_ADMIN_URL = os.environ.get("CITYHUB_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"
SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@dataclass
class Store:
    """One CityHub store: a home directory and a database URL."""

    home: Path
    url: str
    backend: str
    passwords: dict[str, str] = field(default_factory=dict)

    def activate(self) -> None:
        from cityhub import db
        from cityhub.settings import get_settings

        os.environ["CITYHUB_HOME"] = str(self.home)
        os.environ["CITYHUB_DATABASE_URL"] = self.url
        get_settings.cache_clear()
        db.reset_caches()


def _pg_available() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return None


def _create_pg_database() -> tuple[str, str]:
    import psycopg

    name = f"cityhub_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    return name, f"{base}/{name}"


def _drop_pg_database(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def require_postgres() -> None:
    problem = _pg_available()
    if problem:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI but not reachable at {PG_ADMIN_URL}: {problem}")
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL} ({problem}); runs in CI")


def make_store(tmp: Path, backend: str) -> tuple[Store, str | None]:
    os.environ.setdefault("CITYHUB_SECRET_KEY", "test-secret-key-" + secrets.token_hex(8))
    os.environ["CITYHUB_ADMIN_PASSWORD"] = ADMIN_PASSWORD
    os.environ["CITYHUB_ENV"] = "test"
    db_name = None
    if backend == "postgres":
        require_postgres()
        db_name, url = _create_pg_database()
    else:
        url = f"sqlite:///{tmp / 'cityhub.db'}"
    store = Store(home=tmp, url=url, backend=backend)
    store.activate()
    from cityhub.migrate import upgrade

    upgrade(url)
    return store, db_name


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def demo_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """A migrated store with the Guangzhou demo loaded, once per backend for the whole session."""
    store, db_name = make_store(tmp_path_factory.mktemp(f"demo-{request.param}"), request.param)
    from cityhub.demo.loader import load

    result = load()
    store.passwords = {**result["users"], "admin": ADMIN_PASSWORD}
    yield store
    if db_name:
        from cityhub import db

        db.reset_caches()
        _drop_pg_database(db_name)


@pytest.fixture(scope="session")
def sqlite_demo_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    store, _ = make_store(tmp_path_factory.mktemp("demo-sqlite-only"), "sqlite")
    from cityhub.demo.loader import load

    result = load()
    store.passwords = {**result["users"], "admin": ADMIN_PASSWORD}
    return store


@pytest.fixture
def demo(demo_store: Store) -> Store:
    """The demo store (both backends), activated for this test."""
    demo_store.activate()
    return demo_store


@pytest.fixture(params=["sqlite", "postgres"])
def empty_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh migrated store with nothing in it (both backends)."""
    store, db_name = make_store(tmp_path, request.param)
    yield store
    if db_name:
        from cityhub import db

        db.reset_caches()
        _drop_pg_database(db_name)


@pytest.fixture
def settings_env() -> Iterator[dict[str, str]]:
    """Change ``CITYHUB_*`` settings for one test (with ``set_settings``); the environment is restored after."""
    from cityhub.settings import get_settings

    saved = dict(os.environ)
    changed: dict[str, str] = {}
    yield changed
    os.environ.clear()
    os.environ.update(saved)
    get_settings.cache_clear()


def set_settings(changed: dict[str, str], /, **values: Any) -> None:
    from cityhub.settings import get_settings

    for key, value in values.items():
        os.environ[f"CITYHUB_{key.upper()}"] = str(value)
        changed[key] = str(value)
    get_settings.cache_clear()


@pytest.fixture
def sqlite_empty(tmp_path: Path) -> Store:
    store, _ = make_store(tmp_path, "sqlite")
    return store


# -- calling actions as someone -------------------------------------------------------------------------


def actor_ctx(name: str | None, source: str = "127.0.0.1") -> Any:
    """A Context for user ``name`` (None: anonymous), looked up through the actions."""
    from cityhub import actions
    from cityhub.context import Actor, Context, system_context

    if name is None:
        return Context(source=source, via="test")
    if name == "system":
        return system_context("test")
    user = actions.call("user_show", system_context("test"), {"name": name})
    dept_id = None
    if user["department"]:
        dept_id = actions.call("department_show", system_context("test"), {"slug": user["department"]})["id"]
    return Context(actor=Actor(id=user["id"], name=user["name"], role=user["role"], department_id=dept_id),
                   source=source, via="test")


def call_as(name: str | None, action: str, data: Any = None) -> Any:
    from cityhub import actions

    return actions.call(action, actor_ctx(name), data)


@pytest.fixture
def app_client(demo: Store) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from cityhub.web.app import create_app

    with TestClient(create_app(), base_url="http://127.0.0.1:8000") as client:
        yield client


@pytest.fixture
def demo_passwords(demo: Store) -> dict[str, str]:
    return demo.passwords


def login(client: Any, username: str, password: str) -> dict[str, Any]:
    """Sign in through the JSON endpoint; returns the body (with the csrf_token)."""
    resp = client.post("/api/v1/session", json={"username": username, "password": password})
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def token_for(username: str, days: int = 30) -> str:
    token: str = call_as("system", "token_create", {"user": username, "days": days})["token"]
    return token


def unique(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def dataset_payload(department: str = "gz-transport", **over: Any) -> dict[str, Any]:
    """A valid dataset_create input (factory)."""
    data: dict[str, Any] = {
        "name": unique("ds"),
        "title": "测试公交线路数据",
        "department": department,
        "catalog_type": "主题",
        "class_item": "02",
        "class_category": "001",
        "abstract": "广州市公交线路、站点与首末班时间的测试数据集,用于验证目录元数据、搜索与开放流程是否正确。" * 2,
        "format": "电子表格",
        "data_items": [{"name": "线路名称", "type": "string", "description": "公交线路名称"},
                       {"name": "所属区", "type": "string", "description": "行政区"}],
        "sharing_class": "无条件共享",
        "opening_class": "无条件开放",
        "update_cycle": "每月",
        "published_on": "2020-05-01",
        "theme": "transport",
        "tags": ["公交", "测试"],
        "license_id": "cc-by-4.0",
        "temporal_start": "2019-01-01",
        "districts": ["天河区", "越秀区"],
    }
    data.update(over)
    return data


def publish(name: str) -> dict[str, Any]:
    """Take a dataset from draft (a person's new dataset) to published through the workflow, as the local
    operator (the review itself is tested in tests/catalog/test_publication.py)."""
    ds: dict[str, Any] = call_as("system", "dataset_show", {"id": name})
    if ds["publication"] == "draft":
        call_as("system", "dataset_submit", {"id": name})
    if ds["publication"] != "published":
        ds = call_as("system", "dataset_approve", {"id": name})
    return ds


def open_dataset(who: str = "steward", **over: Any) -> dict[str, Any]:
    """A published dataset created by ``who`` from :func:`dataset_payload` (``over``: its fields)."""
    department = over.pop("department", "gz-transport")
    created = call_as(who, "dataset_create", dataset_payload(department, **over))
    return publish(created["name"])
