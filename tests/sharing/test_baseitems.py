"""一数一源: the demo designates the authoritative department of each base data item; a dataset of another
department holding the item (by tag or by column signature) is warned with the link to the authoritative
resource; only the data office sets items and reads the coverage report."""

from __future__ import annotations

import pytest

from cityhub.errors import NotAuthorized, ValidationError
from cityhub.sharing.baseitems import detect
from tests.conftest import Store, call_as, dataset_payload


def test_detect_by_tag_and_columns() -> None:
    assert detect(["base:credit"], []) == {"credit": "tag"}
    assert detect(["法人库"], []) == {"legal_person": "tag"}
    assert detect([], [("公民身份号码", None), ("姓名", None)]) == {"person": "columns"}
    assert detect([], [("证件", "resident_id"), ("name", None)]) == {"person": "columns"}
    assert detect([], [("姓名", None)]) == {}
    assert detect([], [("统一社会信用代码", None)]) == {"legal_person": "columns"}


def test_demo_defaults_and_duplicate_warning(demo: Store) -> None:
    items = {i["code"]: i for i in call_as("steward", "base_item_list", {})}
    assert {c: i["department"] for c, i in items.items()} == {
        "person": "gz-public-security", "legal_person": "gz-market-regulation",
        "geography": "gz-planning-natural-resources", "e_licence": "gz-gov-data", "credit": "gz-dev-reform"}
    assert items["legal_person"]["dataset"] == "enterprise-registrations" and items["legal_person"]["resource_id"]
    created = call_as("steward", "dataset_create", dataset_payload(data_items=[
        {"name": "姓名", "type": "string", "description": "乘客姓名"},
        {"name": "身份证号", "type": "string", "description": "乘客身份证号"}], tags=["base:credit"]))
    warned = {w["code"]: w for w in created["base_item_warnings"]}
    assert set(warned) == {"person", "credit"}
    assert warned["person"]["matched_by"] == "columns" and warned["credit"]["matched_by"] == "tag"
    assert warned["person"]["department"] == "gz-public-security" and "一数一源" in warned["person"]["message"]
    assert call_as("steward", "base_item_check", {"dataset": created["name"]})["warnings"] == created[
        "base_item_warnings"]
    plain = call_as("steward", "dataset_create", dataset_payload())
    assert "base_item_warnings" not in plain
    # the authoritative department itself is not warned
    own = call_as("system", "dataset_create", dataset_payload("gz-market-regulation", data_items=[
        {"name": "统一社会信用代码", "type": "string", "description": "代码"}]))
    assert "base_item_warnings" not in own
    report = {r["code"]: r for r in call_as("admin", "base_item_coverage", {})}
    assert created["name"] in [d["dataset"] for d in report["person"]["duplicates"]]
    assert own["name"] in report["legal_person"]["authoritative_datasets"]
    assert "enterprise-registrations" in report["legal_person"]["authoritative_datasets"]
    assert all(r["designated"] for r in report.values())


def test_only_the_data_office_sets_items(demo: Store) -> None:
    with pytest.raises(NotAuthorized):
        call_as("steward", "base_item_set", {"code": "person", "department": "gz-transport"})
    with pytest.raises(NotAuthorized):
        call_as("steward", "base_item_coverage", {})
    with pytest.raises(ValidationError):
        call_as("admin", "base_item_set", {"code": "planet", "department": "gz-transport"})
    person = next(i for i in call_as("admin", "base_item_list", {}) if i["code"] == "person")
    with pytest.raises(ValidationError):  # another department's resource cannot be its authoritative copy
        call_as("admin", "base_item_set", {"code": "person", "department": "gz-transport",
                                           "resource_id": person["resource_id"]})
    assert next(i for i in call_as("admin", "base_item_list", {}) if i["code"] == "person")["department"] == \
        "gz-public-security"
