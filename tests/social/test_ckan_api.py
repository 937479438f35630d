"""The CKAN Action API surface of activity streams and following (``/api/3/action/...``): each case cites the
CKAN 2.10/2.11 function it reproduces and registers with the CKAN conformance suite's coverage list."""

from __future__ import annotations

from typing import Any

from tests.conftest import open_dataset, token_for
from tests.interop.test_ckan_conformance import conforms, error, get, ok
from tests.interop.test_ckan_writes import act, result


@conforms("package_activity_list", "activity_show", "recently_changed_packages_activity_list",
          "organization_activity_list", "user_activity_list",
          ckan="ckanext/activity/logic/action.py:package_activity_list")
def test_activity_lists_over_the_api(app_client: Any) -> None:
    """package_activity_list by package id and name; activity_show; recently changed packages, the organization's
    and the user's streams: CKAN's envelope and activity dicts; limit above the maximum is capped (100), a bad
    limit or an unknown parameter is a Validation Error (409)."""
    ds = open_dataset()
    steward = token_for("steward")
    result(act(app_client, "package_patch", {"id": ds["name"], "title": "API 动态标题"}, steward))
    acts = ok(app_client, "package_activity_list", id=ds["name"])
    assert acts[0]["activity_type"] == "changed package"
    assert acts[0]["data"]["package"]["title"] == "API 动态标题"
    assert ok(app_client, "package_activity_list", id=acts[0]["object_id"]) == acts
    assert ok(app_client, "activity_show", id=acts[0]["id"])["id"] == acts[0]["id"]
    assert len(ok(app_client, "package_activity_list", id=ds["name"], limit=5000)) <= 100
    assert ok(app_client, "package_activity_list", id=ds["name"], activity_types="changed package")
    recent = ok(app_client, "recently_changed_packages_activity_list", limit=100)
    assert acts[0]["id"] in {a["id"] for a in recent}
    org = ok(app_client, "organization_activity_list", id="gz-transport", limit=100)
    assert acts[0]["id"] in {a["id"] for a in org}
    assert acts[0]["id"] in {a["id"] for a in ok(app_client, "user_activity_list", id="steward", limit=100)}
    error(get(app_client, "package_activity_list", id=ds["name"], limit="lots"), "Validation Error")
    error(get(app_client, "package_activity_list", id=ds["name"], frobnicate="1"), "Validation Error")
    error(get(app_client, "package_activity_list", id="no-such-package"), "Not Found Error")


@conforms("package_activity_list", ckan="ckanext/activity/logic/action.py:package_activity_list")
def test_private_package_activity_not_served(app_client: Any) -> None:
    """A private package's activity: Not Found for anonymous callers and other departments' stewards."""
    ds = open_dataset()
    steward = token_for("steward")
    result(act(app_client, "package_patch", {"id": ds["name"], "private": True}, steward))
    error(get(app_client, "package_activity_list", id=ds["name"]), "Not Found Error")
    error(get(app_client, "package_activity_list", token_for("eco_steward"), id=ds["name"]), "Not Found Error")
    assert ok(app_client, "package_activity_list", steward, id=ds["name"])


@conforms("follow_dataset", "unfollow_dataset", "am_following_dataset", "dataset_follower_count",
          "dataset_follower_list", "followee_list", ckan="ckan/logic/action/create.py:follow_dataset")
def test_follow_dataset_over_the_api(app_client: Any) -> None:
    """follow_dataset → {follower_id, object_id, datetime}; following twice is a Validation Error;
    dataset_follower_list is for sysadmins (Authorization Error otherwise); unfollow_dataset of what one does not
    follow is Not Found; anonymous follow is an Authorization Error."""
    ds = open_dataset()
    citizen = token_for("citizen")
    out = result(act(app_client, "follow_dataset", {"id": ds["name"]}, citizen))
    assert set(out) == {"follower_id", "object_id", "datetime"}
    error(act(app_client, "follow_dataset", {"id": ds["name"]}, citizen), "Validation Error")
    assert ok(app_client, "am_following_dataset", citizen, id=ds["name"]) is True
    assert ok(app_client, "dataset_follower_count", id=ds["name"]) == 1
    error(get(app_client, "dataset_follower_list", citizen, id=ds["name"]), "Authorization Error")
    assert [u["name"] for u in ok(app_client, "dataset_follower_list", token_for("admin"), id=ds["name"])] == \
        ["citizen"]
    assert any(f["type"] == "dataset" for f in ok(app_client, "followee_list", citizen))
    result(act(app_client, "unfollow_dataset", {"id": ds["name"]}, citizen))
    error(act(app_client, "unfollow_dataset", {"id": ds["name"]}, citizen), "Not Found Error")
    error(act(app_client, "follow_dataset", {"id": ds["name"]}), "Authorization Error")


@conforms("follow_group", "unfollow_group", "am_following_group", "group_follower_count",
          "organization_follower_count", ckan="ckan/logic/action/create.py:follow_group")
def test_follow_organization_with_follow_group(app_client: Any) -> None:
    """CKAN follows organizations with follow_group (an organization is a group)."""
    analyst = token_for("analyst")
    before = ok(app_client, "organization_follower_count", id="gz-culture-tourism")
    result(act(app_client, "follow_group", {"id": "gz-culture-tourism"}, analyst))
    assert ok(app_client, "am_following_group", analyst, id="gz-culture-tourism") is True
    assert ok(app_client, "group_follower_count", id="gz-culture-tourism") == before + 1
    result(act(app_client, "unfollow_group", {"id": "gz-culture-tourism"}, analyst))


@conforms("dashboard_activity_list", "dashboard_new_activities_count", "dashboard_mark_activities_old",
          ckan="ckanext/activity/logic/action.py:dashboard_activity_list")
def test_dashboard_over_the_api(app_client: Any) -> None:
    """dashboard_activity_list items carry is_new; dashboard_mark_activities_old resets
    dashboard_new_activities_count to 0; anonymous callers are refused."""
    ds = open_dataset()
    citizen = token_for("citizen")
    result(act(app_client, "dashboard_mark_activities_old", {}, citizen))
    result(act(app_client, "follow_dataset", {"id": ds["name"]}, citizen))
    result(act(app_client, "package_patch", {"id": ds["name"], "title": "看板 API"}, token_for("steward")))
    feed = ok(app_client, "dashboard_activity_list", citizen)
    assert feed[0]["is_new"] is True
    assert ok(app_client, "dashboard_new_activities_count", citizen) >= 1
    result(act(app_client, "dashboard_mark_activities_old", {}, citizen))
    assert ok(app_client, "dashboard_new_activities_count", citizen) == 0
    error(get(app_client, "dashboard_activity_list"), "Authorization Error")
    result(act(app_client, "unfollow_dataset", {"id": ds["name"]}, citizen))
