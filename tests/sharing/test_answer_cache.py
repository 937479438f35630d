"""The answer cache of datastore row searches seen through the exchange API and the native search: an answer is
reused only for the same table version, the same scope and the same parameters; authorization, the grant decision
and the metering run on every call. On SQLite and PostgreSQL (the sharing tests' own store)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest

from cityhub import jobs
from cityhub.catalog.schemas import UploadedFile
from cityhub.errors import NotAuthorized
from tests.conftest import call_as
from tests.sharing.test_exchange import CSV, owner_search, search, xw  # noqa: F401 (xw: the module's fixture)


@pytest.fixture
def cache(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The process's answer cache, on (the default size), emptied before the test."""
    from cityhub.datastore.actions import answer_cache
    from cityhub.settings import get_settings

    monkeypatch.delenv("CITYHUB_DATASTORE_ANSWER_CACHE_MB", raising=False)
    get_settings.cache_clear()
    c = answer_cache()
    assert c.enabled
    c.clear()
    yield c
    c.clear()


def _set_grant(xw: dict[str, Any], **values: Any) -> None:  # noqa: F811 (the fixture's name)
    from cityhub.db import session_scope
    from cityhub.sharing.models import ShareGrant

    with session_scope() as db:
        grant = db.get_one(ShareGrant, xw["grant_id"])
        for k, v in values.items():
            setattr(grant, k, v)


def test_same_search_answered_from_the_cache_and_still_metered(xw: dict[str, Any], cache: Any) -> None:  # noqa: F811
    from cityhub.sharing.exchange_actions import flush_pending

    flush_pending()
    before = call_as("admin", "exchange_usage_show", {"grant_id": xw["grant_id"]})["total"]
    first = search(xw, filters={"所属区": "天河区"}, limit=5)
    hits = cache.stats()["hits"]
    again = search(xw, filters={"所属区": "天河区"}, limit=5)
    assert cache.stats()["hits"] == hits + 1
    assert again == first and again["grant_id"] == xw["grant_id"]
    again["total"] = -1  # each call has its own answer dict: changing one leaves the cached one
    assert search(xw, filters={"所属区": "天河区"}, limit=5)["total"] == first["total"]
    # the parameters normalised: the same filters in another order are the same cached answer
    two = search(xw, filters={"所属区": "天河区", "人数": 3}, limit=5)
    hits = cache.stats()["hits"]
    assert search(xw, filters={"人数": 3, "所属区": "天河区"}, limit=5) == two
    assert cache.stats()["hits"] == hits + 1
    after = call_as("admin", "exchange_usage_show", {"grant_id": xw["grant_id"]})["total"]
    assert after["calls"] - before["calls"] == 5  # every call metered, cached or not
    assert after["records"] - before["records"] == 15 + 2 * len(two["records"])


def test_another_scope_is_another_answer(xw: dict[str, Any], cache: Any) -> None:  # noqa: F811
    scoped = search(xw, limit=500)
    owner = owner_search(xw, limit=500)  # the same parameters, no grant: the whole table
    assert scoped["total"] == 80 and owner["total"] == 120
    assert set(scoped["records"][0]) == {"_id", "编号", "所属区", "人数"}
    assert "姓名" in owner["records"][0]
    assert search(xw, limit=500) == scoped and owner_search(xw, limit=500) == owner
    # the grant's scope changed: its rows and columns, never the cached answer of the old scope
    try:
        _set_grant(xw, columns=["编号", "所属区"], row_filter={"所属区": ["天河区"]})
        narrowed = search(xw, limit=500)
        assert narrowed["total"] == 40 and set(narrowed["records"][0]) == {"_id", "编号", "所属区"}
    finally:
        _set_grant(xw, columns=["编号", "所属区", "人数"], row_filter={"所属区": ["天河区", "海珠区"]})
    assert search(xw, limit=500) == scoped


def test_revoked_grant_refused_although_cached(xw: dict[str, Any], cache: Any) -> None:  # noqa: F811
    from cityhub.db import utcnow

    search(xw, limit=2)
    assert search(xw, limit=2)["total"] == 80  # cached now
    try:
        _set_grant(xw, revoked_at=utcnow(), revoked_by="steward")
        with pytest.raises(NotAuthorized):
            search(xw, limit=2)
    finally:
        _set_grant(xw, revoked_at=None, revoked_by="")
    assert search(xw, limit=2)["total"] == 80


def test_new_version_is_a_fresh_answer(xw: dict[str, Any], cache: Any) -> None:  # noqa: F811
    old = search(xw, limit=1000)
    assert old["total"] == 80 and search(xw, limit=1000) == old
    native = owner_search(xw, limit=1000)
    bigger = CSV + "".join(f"{2000 + i},天河区,新居民{i},{i % 5},2024-02-01\n" for i in range(30))
    try:
        call_as("steward", "datastore_create", {"resource_id": xw["cond"], "wait": True,
                                                "upload": UploadedFile("居民.csv", io.BytesIO(bigger.encode()))})
        jobs.wait_idle()
        fresh = search(xw, limit=1000)
        assert fresh["total"] == 110 and len(fresh["records"]) == 110
        assert owner_search(xw, limit=1000)["total"] == 150
    finally:  # the module's other tests expect the first version
        info = call_as("steward", "datastore_info", {"id": xw["cond"]})
        first = min(v["version"] for v in info["versions"] if v["status"] == "complete")
        call_as("steward", "datastore_rollback", {"resource_id": xw["cond"], "version": first})
    assert search(xw, limit=1000) == old and owner_search(xw, limit=1000) == native


def test_cache_off(xw: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    from cityhub.datastore.actions import answer_cache
    from cityhub.settings import get_settings

    monkeypatch.setenv("CITYHUB_DATASTORE_ANSWER_CACHE_MB", "0")
    get_settings.cache_clear()
    try:
        assert not answer_cache().enabled
        a, b = search(xw, limit=3), search(xw, limit=3)
        assert a == b and len(answer_cache()) == 0
    finally:
        monkeypatch.delenv("CITYHUB_DATASTORE_ANSWER_CACHE_MB")
        get_settings.cache_clear()
