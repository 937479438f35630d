"""Who may call the sensing hub's writes at all: the role gate refuses before the input is read (an empty input
is refused for the caller, never validated), and nothing is stored. Device management, rules, webhooks,
retention and publishing are for platform admins; alarms are acknowledged and cleared by government users."""

from __future__ import annotations

import pytest

from cityhub.errors import NotAuthenticated, NotAuthorized
from tests.conftest import Store, call_as

ADMIN_ONLY = ["device_create", "device_update", "device_token_rotate", "device_import", "asset_create",
              "rule_create", "webhook_create", "sensing_retain", "sensing_aqi_publish",
              "rule_update", "rule_delete", "webhook_update", "webhook_delete"]
GOVERNMENT = ["alarm_ack", "alarm_clear"]


@pytest.mark.parametrize("action", ADMIN_ONLY + GOVERNMENT)
def test_anonymous_callers_are_refused_before_validation(demo: Store, action: str) -> None:
    with pytest.raises(NotAuthenticated):
        call_as(None, action, {})


@pytest.mark.parametrize("action", ADMIN_ONLY)
@pytest.mark.parametrize("who", ["steward", "eco_steward"])
def test_admin_only_writes_refuse_stewards(demo: Store, action: str, who: str) -> None:
    with pytest.raises(NotAuthorized):
        call_as(who, action, {})


@pytest.mark.parametrize("action", ADMIN_ONLY + GOVERNMENT)
def test_public_users_are_refused(demo: Store, action: str) -> None:
    from tests.conftest import unique

    name = unique("pub").replace("-", "")
    call_as("system", "user_create", {"name": name, "password": "Public-User-Pass-2026!x", "role": "public"})
    before = call_as("admin", "device_list", {})
    with pytest.raises(NotAuthorized):
        call_as(name, action, {})
    assert call_as("admin", "device_list", {}) == before
