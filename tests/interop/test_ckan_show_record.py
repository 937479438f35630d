"""CKAN ``package_show`` reads its dataset with Core statements (``dataset_record``) instead of the ORM
(``dataset_show``): the output must be the same, byte for byte, and so must the visibility rules (both
backends)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cityhub import actions
from cityhub.errors import NotAuthorized, NotFound
from cityhub.interop import ckan_map
from cityhub.settings import get_settings
from tests.conftest import Store, actor_ctx, call_as, token_for
from tests.interop.test_ckan_writes import act, created, foreign_package, result


def _all_names() -> list[str]:
    from sqlalchemy import text

    from cityhub import db

    with db.get_engine().connect() as conn:
        return [r[0] for r in conn.execute(text("SELECT name FROM dataset ORDER BY id"))]


def _body(pkg: dict[str, Any]) -> bytes:
    """The response body ``package_show`` sent before ``dataset_record`` existed."""
    help_url = f"{get_settings().base_url.rstrip('/')}/api/3/action/help_show?name=package_show"
    return json.dumps({"help": help_url, "success": True, "result": pkg}, ensure_ascii=False,
                      separators=(",", ":")).encode()


def test_record_equals_dataset_show_without_quality(app_client: Any, demo: Store) -> None:
    steward = token_for("steward")
    # a package with free-form extras, two resources, tags and groups; one withdrawn; one private
    extra = created(app_client, act(app_client, "package_create", foreign_package(), steward))
    gone = created(app_client, act(app_client, "package_create", foreign_package(), steward))
    result(act(app_client, "package_delete", {"id": gone["id"]}, steward))
    created(app_client, act(app_client, "package_create", foreign_package(private=True), steward))
    assert {"frequency", "spatial_uri", "source_system"} <= {e["key"] for e in extra["extras"]}
    admin = actor_ctx("admin")
    base = get_settings().base_url
    names = _all_names()
    assert len(names) > 50
    for name in names:
        try:
            shown = actions.call("dataset_show", admin, {"id": name, "include_deleted": True})
        except NotFound:  # withdrawn at a harvest source: neither shows it
            with pytest.raises(NotFound):
                actions.call("dataset_record", admin, {"id": name, "include_deleted": True})
            continue
        record = actions.call("dataset_record", admin, {"id": name, "include_deleted": True})
        # dataset_show adds the quality report and whether this caller may have the data (for the page)
        assert record == {k: v for k, v in shown.items() if k not in ("quality", "data_access")}, name
        assert list(record) == [k for k in shown if k not in ("quality", "data_access")]  # same key order: same JSON
        assert _body(ckan_map.package(record, base)) == _body(ckan_map.package(shown, base))


def test_package_show_bytes_unchanged(app_client: Any, demo: Store) -> None:
    base = get_settings().base_url
    shown_any = 0
    for name in _all_names():
        resp = app_client.get("/api/3/action/package_show", params={"id": name})
        try:
            shown = call_as(None, "dataset_show", {"id": name})
        except (NotFound, NotAuthorized):
            assert resp.status_code in (403, 404), name
            continue
        assert resp.status_code == 200
        assert resp.content == _body(ckan_map.package(shown, base)), name
        # by package id too, and served again from the response cache
        again = app_client.get("/api/3/action/package_show", params={"id": json.loads(resp.content)["result"]["id"]})
        assert again.content == resp.content
        assert app_client.get("/api/3/action/package_show", params={"id": name}).content == resp.content
        shown_any += 1
    assert shown_any > 50


def test_record_visibility_matches_dataset_show(app_client: Any, demo: Store) -> None:
    steward = token_for("steward")
    priv = created(app_client, act(app_client, "package_create", foreign_package(private=True), steward))
    closed = created(app_client, act(app_client, "package_create", foreign_package(), steward))
    call_as("admin", "dataset_update", {"id": closed["name"], "opening_class": "不予开放",
                                        "sharing_basis": "x", "opening_condition": ""})
    gone = created(app_client, act(app_client, "package_create", foreign_package(), steward))
    result(act(app_client, "package_delete", {"id": gone["id"]}, steward))
    for who in (None, "steward", "eco_steward", "admin"):
        for name in (priv["name"], closed["name"], gone["name"], "air-quality-hourly"):
            for include_deleted in (False, True):
                data = {"id": name, "include_deleted": include_deleted}
                try:
                    expected: Any = type(None)
                    call_as(who, "dataset_show", data)
                except (NotFound, NotAuthorized) as exc:
                    expected = type(exc)
                try:
                    got: Any = type(None)
                    call_as(who, "dataset_record", data)
                except (NotFound, NotAuthorized) as exc:
                    got = type(exc)
                assert got is expected, (who, name, include_deleted)
    # anonymous CKAN callers: private and closed datasets refused, withdrawn ones not found
    for name, status in ((priv["name"], 404), (closed["name"], 404), (gone["name"], 404)):
        assert app_client.get("/api/3/action/package_show", params={"id": name}).status_code == status


def test_search_records_equal_full_records(app_client: Any, demo: Store) -> None:
    """``dataset_search`` with ``quality=False`` (CKAN's package_search, current_package_list_with_resources and
    the organization/group package lists) gives the full records minus the quality report, in the same order."""
    steward = token_for("steward")
    created(app_client, act(app_client, "package_create", foreign_package(), steward))
    for who in (None, "steward", "admin"):
        for q in ({"rows": 1000, "sort": "metadata_modified desc", "include_private": True},
                  {"q": "公交", "rows": 50, "facet_fields": ["organization", "tags"]},
                  {"filters": {"res_format": ["CSV"]}, "rows": 1000, "sort": "title_string asc"}):
            full = call_as(who, "dataset_search", {**q, "full": True})
            lean = call_as(who, "dataset_search", {**q, "full": True, "quality": False})
            assert full["count"] == lean["count"] and full["facets"] == lean["facets"]
            assert lean["results"] == [{k: v for k, v in d.items() if k != "quality"} for d in full["results"]]
            assert all(list(a) == [k for k in b if k != "quality"] for a, b in zip(lean["results"], full["results"],
                                                                                  strict=True))
    assert len(call_as(None, "dataset_search", {"rows": 1000, "full": True, "quality": False})["results"]) > 50
