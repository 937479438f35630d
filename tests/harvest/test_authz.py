"""Authorization of the harvest write actions: only the platform admin manages sources and starts runs; the
page import (which writes harvested datasets) belongs to the harvester's own context, not even the admin's."""

from __future__ import annotations

from typing import Any

import pytest

from cityhub.errors import NotAuthenticated, NotAuthorized
from tests.conftest import Store, actor_ctx, call_as, unique

DENIED = (NotAuthenticated, NotAuthorized)
CLOSED = "http://127.0.0.1:9/catalog.ttl"  # nothing listens on the discard port: a run fails at once


def _new_source() -> str:
    name = unique("authz")
    call_as("admin", "harvest_source_create", {"name": name, "title": "authz", "kind": "dcat", "url": CLOSED,
                                               "department": "gz-transport"})
    return name


CASES: dict[str, Any] = {
    "harvest_source_create": lambda: {"name": unique("authz"), "title": "t", "kind": "dcat", "url": CLOSED,
                                      "department": "gz-transport"},
    "harvest_source_update": lambda: {"name": _new_source(), "title": "新标题"},
    "harvest_source_delete": lambda: {"name": _new_source()},
    "harvest_run": lambda: {"source": _new_source(), "wait": True},
    "harvest_due": lambda: {"wait": True},
}


@pytest.mark.parametrize("action", sorted(CASES))
@pytest.mark.parametrize("who", [None, "steward", "eco_steward", "deptadmin", "admin"])
def test_harvest_write_matrix(demo: Store, action: str, who: str | None) -> None:
    data = CASES[action]()
    if who == "admin":
        assert call_as(who, action, data) is not None
    else:
        with pytest.raises(DENIED):
            call_as(who, action, data)


@pytest.mark.parametrize("who", [None, "steward", "admin", "system"])
def test_page_import_is_the_harvesters_alone(demo: Store, who: str | None) -> None:
    record = {"op": "withdraw", "guid": "x", "dataset_id": 1}
    with pytest.raises(DENIED):
        call_as(who, "harvest_page_import", {"run_id": 1, "source_id": 1, "records": [record]})


def test_reads_are_admin_only(demo: Store) -> None:
    name = _new_source()
    for who in (None, "steward", "deptadmin"):
        for action, data in (("harvest_source_list", {}), ("harvest_source_show", {"name": name}),
                             ("harvest_run_list", {}), ("harvest_dataset_list", {"source": name})):
            with pytest.raises(DENIED):
                call_as(who, action, data)
    from cityhub import actions

    assert any(s["name"] == name for s in actions.call("harvest_source_list", actor_ctx("admin"), {}))
