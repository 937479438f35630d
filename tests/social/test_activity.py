"""Activity streams and following: CKAN shape conformance (each test names the CKAN function it follows, from
``ckanext/activity/logic/action.py`` and ``ckan/logic/action/{create,delete,get}.py`` of CKAN 2.10/2.11), the
catalog's visibility rule on every read path, notification fan-out and paging limits."""

from __future__ import annotations

from typing import Any

import pytest

from cityhub.errors import NotAuthenticated, NotAuthorized, NotFound, ValidationError
from tests.conftest import Store, call_as, open_dataset, set_settings

CKAN_ACTIVITY_KEYS = {"id", "timestamp", "user_id", "object_id", "activity_type", "data"}


def _pkg_stream(who: str | None, ref: str, **kw: Any) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = call_as(who, "package_activity_list", {"id": ref, **kw})
    return result


def test_package_activity_list_shape(demo: Store) -> None:
    """ckanext.activity.logic.action.package_activity_list + model.activity.Activity.activity_stream_item: each
    item is the activity row (id, timestamp, user_id, object_id, activity_type, data) and ``data.package`` is the
    package dict of ``package_show`` at that time, with ``data.actor``."""
    ds = open_dataset(title="初始标题")
    call_as("steward", "dataset_update", {"id": ds["name"], "title": "改后的标题"})
    acts = _pkg_stream(None, ds["name"])
    assert [a["activity_type"] for a in acts][:1] == ["changed package"]
    first = acts[0]
    assert first.keys() >= CKAN_ACTIVITY_KEYS
    pkg = first["data"]["package"]
    assert pkg["name"] == ds["name"] and pkg["title"] == "改后的标题"
    assert {"id", "name", "title", "resources", "organization", "private", "state"} <= pkg.keys()
    assert first["object_id"] == pkg["id"]  # CKAN: the activity's object is the package id
    assert first["data"]["actor"] == "steward"
    # by CKAN package id as well as by name, newest first
    assert _pkg_stream(None, pkg["id"]) == acts
    stamps = [a["timestamp"] for a in acts]
    assert stamps == sorted(stamps, reverse=True)


def test_activity_types_filters(demo: Store) -> None:
    """package_activity_list: activity_types / exclude_activity_types, and both at once is a ValidationError."""
    ds = open_dataset()
    call_as("steward", "dataset_update", {"id": ds["name"], "title": "另一个标题"})
    only = _pkg_stream("steward", ds["name"], activity_types=["new package"])
    assert only and {a["activity_type"] for a in only} == {"new package"}
    without = _pkg_stream("steward", ds["name"], exclude_activity_types=["new package"])
    assert "new package" not in {a["activity_type"] for a in without}
    with pytest.raises(ValidationError) as exc:
        _pkg_stream(None, ds["name"], activity_types=["new package"], exclude_activity_types=["x"])
    assert "activity_types" in exc.value.fields


def test_limits_are_capped_and_bad_paging_refused(demo: Store, settings_env: dict[str, str]) -> None:
    """default_activity_list_schema: limit defaults to ckan.activity_list_limit (31) and is capped at
    ckan.activity_list_limit_max (100); offset is a natural number; unknown parameters are refused."""
    ds = open_dataset()
    for i in range(4):
        call_as("steward", "dataset_update", {"id": ds["name"], "title": f"标题 {i}"})
    set_settings(settings_env, activity_list_limit=2, activity_list_limit_max=3)
    assert len(_pkg_stream(None, ds["name"])) == 2
    assert len(_pkg_stream(None, ds["name"], limit=1000)) == 3
    page2 = _pkg_stream(None, ds["name"], limit=2, offset=2)
    assert page2[0]["id"] not in {a["id"] for a in _pkg_stream(None, ds["name"], limit=2)}
    for bad in ({"offset": -1}, {"limit": "many"}, {"after": "not a time"}, {"no_such_param": 1}):
        with pytest.raises(ValidationError):
            _pkg_stream(None, ds["name"], **bad)


def test_after_before(demo: Store) -> None:
    """package_activity_list's after/before (POSIX timestamps or ISO 8601)."""
    ds = open_dataset()
    call_as("steward", "dataset_update", {"id": ds["name"], "title": "之后"})
    acts = _pkg_stream("steward", ds["name"])
    assert len(acts) >= 2
    newest, oldest = acts[0], acts[-1]
    assert [a["id"] for a in _pkg_stream("steward", ds["name"], before=newest["timestamp"])] == \
        [a["id"] for a in acts[1:]]
    after = _pkg_stream("steward", ds["name"], after=oldest["timestamp"])
    assert oldest["id"] not in {a["id"] for a in after} and newest["id"] in {a["id"] for a in after}


def test_private_dataset_activity_hidden(demo: Store) -> None:
    """Visibility: a private dataset's stream is not found for the public and other departments; its
    department sees it. Made public, only activity recorded while public is shown to others."""
    ds = open_dataset()
    call_as("steward", "dataset_update", {"id": ds["name"], "private": True})
    call_as("steward", "dataset_update", {"id": ds["name"], "title": "私有期间的标题"})
    for who in (None, "citizen", "eco_steward", "analyst"):
        with pytest.raises(NotFound):
            _pkg_stream(who, ds["name"])
    assert _pkg_stream("steward", ds["name"])[0]["data"]["package"]["title"] == "私有期间的标题"
    assert _pkg_stream("admin", ds["name"])
    # not in the recent changes or the department's stream either
    for action, data in (("recently_changed_packages_activity_list", {"limit": 100}),
                         ("organization_activity_list", {"id": "gz-transport", "limit": 100}),
                         ("user_activity_list", {"id": "steward", "limit": 100})):
        for who in (None, "eco_steward", "citizen"):
            titles = {a["data"].get("package", {}).get("title") for a in call_as(who, action, data)}
            assert "私有期间的标题" not in titles, (action, who)
        own = {a["data"].get("package", {}).get("title") for a in call_as("steward", action, data)}
        assert "私有期间的标题" in own, action
    call_as("steward", "dataset_update", {"id": ds["name"], "private": False})
    public = _pkg_stream(None, ds["name"])
    assert public[0]["activity_type"] == "changed package"
    titles = [a["data"]["package"]["title"] for a in public]
    assert "私有期间的标题" in titles[:1]  # the change that opened it (the title is public now)
    assert len(public) < len(_pkg_stream("steward", ds["name"]))  # the private-time changes stay hidden
    hidden_ids = {a["id"] for a in _pkg_stream("steward", ds["name"])} - {a["id"] for a in public}
    for aid in hidden_ids:
        with pytest.raises(NotFound):
            call_as(None, "activity_show", {"id": aid})


def test_activity_show_shape(demo: Store) -> None:
    """ckanext.activity.logic.action.activity_show (include_data)."""
    ds = open_dataset()
    call_as("steward", "dataset_update", {"id": ds["name"], "title": "展示标题"})
    act = _pkg_stream(None, ds["name"])[0]
    shown = call_as(None, "activity_show", {"id": act["id"]})
    assert shown == act
    light = call_as(None, "activity_show", {"id": act["id"], "include_data": False})
    assert light["data"] == {"package": {"title": "展示标题"}}
    with pytest.raises(NotFound):
        call_as(None, "activity_show", {"id": "999999999"})


def test_follow_unfollow_dataset(demo: Store) -> None:
    """ckan.logic.action.create.follow_dataset / delete.unfollow_dataset / get.am_following_dataset,
    dataset_follower_count and dataset_follower_list (sysadmins only)."""
    ds = open_dataset()
    out = call_as("citizen", "follow_dataset", {"id": ds["name"]})
    assert set(out) == {"follower_id", "object_id", "datetime"}
    with pytest.raises(ValidationError):
        call_as("citizen", "follow_dataset", {"id": ds["name"]})
    assert call_as("citizen", "am_following_dataset", {"id": ds["name"]}) is True
    assert call_as(None, "dataset_follower_count", {"id": ds["name"]}) == 1
    with pytest.raises(NotAuthorized):
        call_as("steward", "dataset_follower_list", {"id": ds["name"]})
    with pytest.raises(NotAuthenticated):
        call_as(None, "follow_dataset", {"id": ds["name"]})
    assert [u["name"] for u in call_as("admin", "dataset_follower_list", {"id": ds["name"]})] == ["citizen"]
    followees = call_as("citizen", "followee_list", {})
    assert {"type": "dataset", "display_name": ds["title"]}.items() <= followees[0].items()
    call_as("citizen", "unfollow_dataset", {"id": ds["name"]})
    with pytest.raises(NotFound):
        call_as("citizen", "unfollow_dataset", {"id": ds["name"]})
    assert call_as(None, "dataset_follower_count", {"id": ds["name"]}) == 0


def test_cannot_follow_a_dataset_one_cannot_see(demo: Store) -> None:
    ds = open_dataset()
    call_as("steward", "dataset_update", {"id": ds["name"], "private": True})
    with pytest.raises(NotFound):
        call_as("citizen", "follow_dataset", {"id": ds["name"]})


def test_follow_group_for_organizations(demo: Store) -> None:
    """CKAN follows organizations with follow_group / unfollow_group / am_following_group."""
    call_as("citizen", "follow_group", {"id": "gz-ecology-environment"})
    assert call_as("citizen", "am_following_group", {"id": "gz-ecology-environment"}) is True
    assert call_as(None, "group_follower_count", {"id": "gz-ecology-environment"}) >= 1
    call_as("citizen", "unfollow_group", {"id": "gz-ecology-environment"})
    assert call_as("citizen", "am_following_group", {"id": "gz-ecology-environment"}) is False
    with pytest.raises(NotFound):
        call_as("citizen", "follow_group", {"id": "no-such-department"})


def test_generic_follow_of_requests_and_indicators(demo: Store) -> None:
    asked = call_as("citizen", "data_request_create", {"title": "公交车辆实时位置",
                                                      "description": "希望开放公交车辆实时位置数据。"})
    rid = str(asked["id"])
    call_as("analyst", "follow_create", {"object_type": "data_request", "object_id": rid})
    with pytest.raises(NotFound):  # data_request_show checks that the request exists
        call_as("analyst", "follow_create", {"object_type": "data_request", "object_id": "999999"})
    call_as("analyst", "follow_create", {"object_type": "indicator", "object_id": "gz2020.open-datasets"})
    with pytest.raises(NotFound):  # indicator_show checks that the indicator exists
        call_as("analyst", "follow_create", {"object_type": "indicator", "object_id": "no.such-indicator"})
    kinds = {(f["type"], f["object_id"]) for f in call_as("analyst", "follow_list", {})}
    assert {("data_request", rid), ("indicator", "gz2020.open-datasets")} <= kinds
    with pytest.raises(ValidationError):
        call_as("analyst", "follow_create", {"object_type": "spaceship", "object_id": "1"})
    call_as("analyst", "follow_delete", {"object_type": "data_request", "object_id": rid})
    with pytest.raises(NotFound):
        call_as("analyst", "follow_delete", {"object_type": "data_request", "object_id": rid})


def test_notification_fan_out_excludes_actor(demo: Store) -> None:
    """Every follower of the dataset and of its department gets one notification; the actor none."""
    ds = open_dataset()
    call_as("citizen", "follow_dataset", {"id": ds["name"]})
    call_as("analyst", "follow_group", {"id": "gz-transport"})
    call_as("analyst", "follow_dataset", {"id": ds["name"]})  # both: still one notification
    call_as("steward", "follow_dataset", {"id": ds["name"]})  # the actor
    before = {u: call_as(u, "notification_count", {})["unread"] for u in ("citizen", "analyst", "steward")}
    call_as("steward", "dataset_update", {"id": ds["name"], "title": "通知测试标题"})
    after = {u: call_as(u, "notification_count", {})["unread"] for u in ("citizen", "analyst", "steward")}
    assert after["citizen"] == before["citizen"] + 1
    assert after["analyst"] == before["analyst"] + 1
    assert after["steward"] == before["steward"]
    items = call_as("citizen", "notification_list", {"unread_only": True})["items"]
    assert items[0]["title"] == "通知测试标题" and items[0]["activity"]["activity_type"] == "changed package"
    call_as("citizen", "notification_mark_read", {"ids": [items[0]["id"]]})
    assert call_as("citizen", "notification_count", {})["unread"] == after["citizen"] - 1
    call_as("analyst", "dashboard_mark_activities_old", {})
    assert call_as("analyst", "notification_count", {})["unread"] == 0
    call_as("analyst", "unfollow_group", {"id": "gz-transport"})
    call_as("analyst", "unfollow_dataset", {"id": ds["name"]})
    call_as("citizen", "unfollow_dataset", {"id": ds["name"]})


def test_notifications_of_a_dataset_made_private_are_not_shown(demo: Store) -> None:
    ds = open_dataset()
    call_as("citizen", "follow_dataset", {"id": ds["name"]})
    call_as("steward", "dataset_update", {"id": ds["name"], "title": "公开时的修改"})
    seen = call_as("citizen", "notification_count", {})["unread"]
    call_as("steward", "dataset_update", {"id": ds["name"], "private": True})
    assert call_as("citizen", "notification_count", {})["unread"] < seen
    call_as("steward", "dataset_update", {"id": ds["name"], "private": False})
    call_as("citizen", "unfollow_dataset", {"id": ds["name"]})


def test_dashboard_activity_list(demo: Store) -> None:
    """ckanext.activity.logic.action.dashboard_activity_list (is_new; own activity never new),
    dashboard_new_activities_count and dashboard_mark_activities_old."""
    ds = open_dataset()
    call_as("citizen", "dashboard_mark_activities_old", {})
    call_as("citizen", "follow_dataset", {"id": ds["name"]})
    call_as("steward", "dataset_update", {"id": ds["name"], "title": "看板标题"})
    feed = call_as("citizen", "dashboard_activity_list", {})
    assert feed[0]["is_new"] is True and feed[0]["data"]["package"]["title"] == "看板标题"
    assert CKAN_ACTIVITY_KEYS | {"is_new"} <= feed[0].keys()
    assert call_as("citizen", "dashboard_new_activities_count", {}) >= 1
    call_as("citizen", "dashboard_mark_activities_old", {})
    assert call_as("citizen", "dashboard_new_activities_count", {}) == 0
    own = call_as("steward", "dashboard_activity_list", {})
    assert all(a["is_new"] is False for a in own if a["user_id"] == str(own[0]["user_id"]))
    with pytest.raises(NotAuthenticated):
        call_as(None, "dashboard_activity_list", {})
    call_as("citizen", "unfollow_dataset", {"id": ds["name"]})


def test_organization_activity(demo: Store) -> None:
    """ckanext.activity.logic.action.organization_activity_list: the organization's own changes ("changed
    organization", data.group) and its datasets'."""
    call_as("admin", "department_update", {"slug": "gz-transport", "description": "组织动态测试说明"})
    acts = call_as(None, "organization_activity_list", {"id": "gz-transport", "limit": 100})
    org = next(a for a in acts if a["activity_type"] == "changed organization")
    assert org["object_id"] == "gz-transport" and org["data"]["group"]["name"] == "gz-transport"
    with pytest.raises(NotFound):
        call_as(None, "organization_activity_list", {"id": "no-such-org"})


def test_deleted_package_activity(demo: Store) -> None:
    ds = open_dataset()
    call_as("steward", "dataset_delete", {"id": ds["name"]})
    assert _pkg_stream("steward", ds["name"])[0]["activity_type"] == "deleted package"
    with pytest.raises(NotFound):  # a deleted dataset's stream: its department and admins only
        _pkg_stream(None, ds["name"])


def test_hidden_activity_is_for_sysadmins(demo: Store) -> None:
    """package_activity_list's include_hidden_activity: the site user's activity (here: the operator's, user_id
    null) is hidden unless a sysadmin asks; others asking are ignored (CKAN's ignore_not_sysadmin)."""
    ds = open_dataset()  # created and approved by the local operator ("system")
    call_as("steward", "dataset_update", {"id": ds["name"], "title": "可见的修改"})
    shown = _pkg_stream("steward", ds["name"], include_hidden_activity=True)
    assert all(a["user_id"] is not None for a in shown)
    every = _pkg_stream("admin", ds["name"], include_hidden_activity=True)
    assert any(a["user_id"] is None for a in every) and len(every) > len(shown)
