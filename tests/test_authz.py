"""Every write action against anonymous, another department's steward, the owning steward and the admin.

The other department's steward and anonymous are refused (and nothing changes); the owner and the admin pass."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import Any

import pytest

from cityhub.catalog.schemas import UploadedFile
from cityhub.errors import NotAuthenticated, NotAuthorized, NotFound
from tests.conftest import Store, call_as, dataset_payload, token_for, unique

OWNER = "steward"  # steward of gz-transport in the demo
OTHER = "eco_steward"  # steward of gz-ecology-environment


def _dataset(_: str) -> dict[str, Any]:
    return call_as("system", "dataset_create", dataset_payload())


def _resource(who: str) -> str:
    ds = _dataset(who)
    return str(call_as("system", "resource_create", {"dataset": ds["name"], "url": "https://example.org/a.csv"})["id"])


# action name -> (builds the input before the call, reads back the state the call would change)
CASES: dict[str, Callable[[str], dict[str, Any]]] = {
    "dataset_create": lambda who: dataset_payload(),
    "dataset_update": lambda who: {"id": _dataset(who)["name"], "title": "改过的标题"},
    "dataset_delete": lambda who: {"id": _dataset(who)["name"]},
    "resource_create": lambda who: {"dataset": _dataset(who)["name"], "url": "https://example.org/x.csv"},
    "resource_update": lambda who: {"id": _resource(who), "name": "新名称"},
    "resource_delete": lambda who: {"id": _resource(who)},
    "plan_upsert": lambda who: {"department": "gz-transport", "year": 2031, "items": []},
    # CKAN package_update: the whole record and its resources replaced in one action
    "dataset_save": lambda who: {"id": _dataset(who)["name"], "resources": [{"url": "https://example.org/s.csv"}],
                                 "dataset": {k: v for k, v in dataset_payload(title="整体替换").items() if k != "name"}},
}


@pytest.mark.parametrize("action", sorted(CASES))
@pytest.mark.parametrize("who, allowed", [(None, False), (OTHER, False), (OWNER, True), ("admin", True)])
def test_catalog_write_matrix(demo: Store, action: str, who: str | None, allowed: bool) -> None:
    data = CASES[action](who or "anon")
    before = _snapshot(action, data)
    if allowed:
        call_as(who, action, data)
        assert _snapshot(action, data) != before or action in ("plan_upsert",)
    else:
        with pytest.raises(NotAuthenticated if who is None else NotAuthorized):
            call_as(who, action, data)
        assert _snapshot(action, data) == before


def _snapshot(action: str, data: dict[str, Any]) -> Any:
    if action.startswith("dataset") and "id" in data:
        try:
            return call_as("system", "dataset_show", {"id": data["id"]})
        except Exception as exc:
            return type(exc).__name__
    if action == "dataset_create":
        try:
            return call_as("system", "dataset_show", {"id": data["name"]})
        except Exception as exc:
            return type(exc).__name__
    if action.startswith("resource") and "id" in data:
        try:
            return call_as("system", "resource_show", {"id": data["id"]})
        except Exception as exc:
            return type(exc).__name__
    if action == "resource_create":
        return len(call_as("system", "dataset_show", {"id": data["dataset"]})["resources"])
    return call_as("system", "plan_list", {"department": "gz-transport", "year": 2031})["plans"]


def test_upload_by_other_department_is_refused_and_nothing_stored(demo: Store) -> None:
    ds = _dataset("x")
    files_before = sorted(p.name for p in (demo.home / "files").rglob("*") if p.is_file())
    with pytest.raises(NotAuthorized):
        call_as(OTHER, "resource_create", {"dataset": ds["name"],
                                           "upload": UploadedFile("a.csv", io.BytesIO(b"a,b\n1,2\n"))})
    assert sorted(p.name for p in (demo.home / "files").rglob("*") if p.is_file()) == files_before


@pytest.mark.parametrize("who, allowed", [(None, False), (OTHER, False), ("deptadmin", False), ("admin", True)])
def test_department_create_matrix(demo: Store, who: str | None, allowed: bool) -> None:
    from cityhub.ids import uscc_check_char

    first = "1144010000" + unique("")[-7:].upper().replace("I", "1").replace("O", "0")
    first = "".join(c if c in "0123456789ABCDEFGHJKLMNPQRTUWXY" else "1" for c in first)[:17]
    data = {"slug": unique("dept"), "name": unique("测试部门"), "short_name": "测试", "uscc": first + uscc_check_char(first),
            "level": "市"}
    if allowed:
        assert call_as(who, "department_create", data)["slug"] == data["slug"]
    else:
        with pytest.raises((NotAuthenticated, NotAuthorized)):
            call_as(who, "department_create", data)


@pytest.mark.parametrize("who, allowed", [(None, False), (OTHER, False), ("deptadmin", True), ("admin", True)])
def test_department_update_matrix(demo: Store, who: str | None, allowed: bool) -> None:
    data = {"slug": "gz-transport", "description": f"说明 {unique()}"}
    if allowed:
        assert call_as(who, "department_update", data)["description"] == data["description"]
    else:
        with pytest.raises((NotAuthenticated, NotAuthorized)):
            call_as(who, "department_update", data)
        assert call_as("system", "department_show", {"slug": "gz-transport"})["description"] != data["description"]


@pytest.mark.parametrize("who, allowed", [(None, False), (OTHER, False), ("citizen", False), ("admin", True)])
def test_user_create_and_update_matrix(demo: Store, who: str | None, allowed: bool) -> None:
    data = {"name": unique("u"), "password": "A-very-long-passphrase-42", "role": "analyst"}
    if allowed:
        call_as(who, "user_create", data)
        assert call_as(who, "user_update", {"name": data["name"], "role": "public"})["role"] == "public"
    else:
        with pytest.raises((NotAuthenticated, NotAuthorized)):
            call_as(who, "user_create", data)
        with pytest.raises((NotAuthenticated, NotAuthorized)):
            call_as(who, "user_update", {"name": "steward", "role": "platform_admin"})
        assert call_as("system", "user_show", {"name": "steward"})["role"] == "steward"


@pytest.mark.parametrize("who, allowed", [(None, False), (OTHER, False), (OWNER, True), ("admin", True)])
def test_token_create_and_revoke_for_owner(demo: Store, who: str | None, allowed: bool) -> None:
    if allowed:
        tok = call_as(who, "token_create", {"user": OWNER, "name": "ci"})
        assert tok["token"].startswith("ch_")
        call_as(who, "token_revoke", {"id": tok["id"]})
    else:
        with pytest.raises((NotAuthenticated, NotAuthorized)):
            call_as(who, "token_create", {"user": OWNER})
        tok = call_as("system", "token_create", {"user": OWNER})
        with pytest.raises((NotAuthenticated, NotAuthorized)):
            call_as(who, "token_revoke", {"id": tok["id"]})


@pytest.mark.parametrize("action", ["search_reindex", "usage_import", "audit_verify", "audit_list", "audit_head_show",
                                    "office_overview"])
@pytest.mark.parametrize("who", [None, OWNER, "deptadmin"])
def test_admin_only_actions(demo: Store, action: str, who: str | None) -> None:
    data: dict[str, Any] = {"rows": []} if action == "usage_import" else {}
    with pytest.raises((NotAuthenticated, NotAuthorized)):
        call_as(who, action, data)


def test_private_and_closed_datasets_are_hidden(demo: Store) -> None:
    priv = call_as("system", "dataset_create", dataset_payload(private=True))
    closed = call_as("system", "dataset_create", dataset_payload(
        opening_class="不予开放", sharing_class="有条件共享", sharing_condition="仅限政务部门",
        sharing_basis="《政务信息资源共享管理暂行办法》"))
    for who in (None, "citizen", OTHER):  # not found, not "forbidden": existence does not leak
        with pytest.raises(NotFound):
            call_as(who, "dataset_show", {"id": priv["name"]})
    assert call_as(OWNER, "dataset_show", {"id": priv["name"]})["private"] is True
    with pytest.raises(NotFound):
        call_as("citizen", "dataset_show", {"id": closed["name"]})
    assert call_as("analyst", "dataset_show", {"id": closed["name"]})["opening_class"] == "不予开放"
    public_names = {r["name"] for r in call_as(None, "dataset_search", {"rows": 1000})["results"]}
    assert priv["name"] not in public_names and closed["name"] not in public_names
    owner_names = {r["name"] for r in call_as(OWNER, "dataset_search", {"rows": 1000, "include_private": True})["results"]}
    assert priv["name"] in owner_names
    assert priv["name"] not in {r["name"] for r in call_as(OWNER, "dataset_search", {"rows": 1000})["results"]}
    other_names = {r["name"] for r in call_as(OTHER, "dataset_search", {"rows": 1000, "include_private": True})["results"]}
    assert priv["name"] not in other_names and closed["name"] in other_names


def test_department_delete_matrix(demo: Store) -> None:
    from cityhub.errors import Conflict
    from cityhub.ids import uscc_check_char

    first = "11440100" + "77" + unique("")[-7:].upper()
    first = "".join(c if c in "0123456789ABCDEFGHJKLMNPQRTUWXY" else "3" for c in first)[:17]
    slug = unique("deldept")
    call_as("admin", "department_create", {"slug": slug, "name": unique("待删部门"), "short_name": "待删",
                                           "uscc": first + uscc_check_char(first), "level": "市"})
    for who in (None, OTHER, "deptadmin"):
        with pytest.raises((NotAuthenticated, NotAuthorized)):
            call_as(who, "department_delete", {"slug": slug})
    with pytest.raises(Conflict):  # still has data resources
        call_as("admin", "department_delete", {"slug": "gz-transport"})
    assert call_as("admin", "department_delete", {"slug": slug})["deleted"] is True


@pytest.mark.parametrize("who, allowed", [(None, False), (OTHER, False), ("self", True), ("admin", True)])
def test_totp_matrix(demo: Store, who: str | None, allowed: bool) -> None:
    from cityhub.accounts import totp

    name = unique("mfa").replace("-", "_")
    call_as("system", "user_create", {"name": name, "password": "A-very-long-passphrase-42", "role": "analyst"})
    actor = name if who == "self" else who
    if not allowed:
        for action in ("user_totp_begin", "user_totp_enable", "user_totp_disable"):
            data = {"user": name} if action == "user_totp_begin" else {"user": name, "code": "123456"}
            with pytest.raises((NotAuthenticated, NotAuthorized)):
                call_as(actor, action, data)
        assert call_as("system", "user_show", {"name": name})["totp_enabled"] is False
        return
    secret = call_as(actor, "user_totp_begin", {"user": name})["secret"]
    call_as(actor, "user_totp_enable", {"user": name, "code": totp.now_code(secret)})
    assert call_as("system", "user_show", {"name": name})["totp_enabled"] is True
    code = "" if actor == "admin" else totp.now_code(secret, time.time() + 30)
    call_as(actor, "user_totp_disable", {"user": name, "code": code})
    assert call_as("system", "user_show", {"name": name})["totp_enabled"] is False


def test_every_write_action_is_covered_by_a_matrix() -> None:
    from cityhub import actions

    covered = set(CASES) | {"department_create", "department_update", "department_delete", "user_create",
                            "user_update", "token_create", "token_revoke", "search_reindex", "usage_import",
                            "user_totp_begin", "user_totp_enable", "user_totp_disable",
                            # tests/accounts/test_admin.py and test_passwords.py
                            "user_disable", "user_enable", "user_password_reset", "user_password_change",
                            # tests/datastore/test_actions.py: test_only_owners_load, rollback and recover tests
                            "datastore_create", "datastore_rollback", "datastore_delete", "datastore_recover",
                            # tests/harvest/test_authz.py: the harvest matrix and the harvester-only page import
                            "harvest_source_create", "harvest_source_update", "harvest_source_delete",
                            "harvest_run", "harvest_due", "harvest_page_import",
                            # tests/web/test_admin_pages.py: audit_export for platform admins only
                            "audit_export",
                            # tests/catalog/test_publication.py: the publication workflow's matrix
                            "dataset_submit", "dataset_approve", "dataset_reject", "dataset_withdraw",
                            # tests/sharing/test_flow.py: systems, requests (wrong department, widening), grants
                            "system_register", "system_token_rotate", "system_deactivate", "share_request_create",
                            "share_request_approve", "share_request_refuse", "share_request_withdraw",
                            "share_request_escalate", "grant_revoke",
                            # tests/sensing/test_gates.py: admin-only device management, government alarm handling
                            "device_create", "device_update", "device_token_rotate", "device_import", "asset_create",
                            "rule_create", "webhook_create", "sensing_retain", "sensing_aqi_publish", "alarm_ack",
                            "alarm_clear",
                            # tests/sensing/test_rule_webhook_changes.py: admin-only, other roles/departments 403
                            "rule_update", "rule_delete", "webhook_update", "webhook_delete",
                            # tests/sharing/test_deid_views.py, test_baseitems.py, test_corrections.py
                            "deid_policy_set", "deid_view_build", "deid_view_release", "base_item_set",
                            "correction_create", "correction_accept", "correction_resolve", "correction_apply",
                            # tests/transit/test_actions.py: government users start runs, only admins on a directory
                            "transit_run_start",
                            # tests/engage/test_datareq_api.py: anonymous ask, routing by a non-office user, the
                            # wrong department's answer, withdrawal by someone else than the asker
                            "data_request_create", "data_request_route", "data_request_answer",
                            "data_request_withdraw", "data_request_close", "data_request_escalate",
                            # tests/social/test_activity.py, test_email_feeds.py: one's own follows, dashboard and
                            # notifications (signed-in only); notification_email_send for platform admins only
                            "follow_dataset", "unfollow_dataset", "follow_group", "unfollow_group", "follow_create",
                            "follow_delete", "dashboard_mark_activities_old", "notification_mark_read",
                            "notification_preference_update", "notification_email_send",
                            # tests/engage/test_discussions.py, test_reuses.py: who posts, moderates, reviews
                            "discussion_post_create", "discussion_post_report", "discussion_post_hide",
                            "discussion_thread_lock", "discussion_post_correction", "reuse_create", "reuse_review",
                            # tests/engage/test_post_edit.py: the author or a moderator, nobody else (403)
                            "discussion_post_update", "discussion_post_delete",
                            # tests/indicators/test_actions.py: definitions and reviews the data office's, reports
                            # the responsible department's, the values dataset the data office's
                            "indicator_create", "indicator_update", "indicator_import", "indicator_report",
                            "indicator_review", "indicator_dataset_publish"}
    writes = {n for n, s in actions.registry().items() if s.write}
    admin_only_reads_and_jobs = {"quality_refresh"}
    assert writes - covered - admin_only_reads_and_jobs == set()


@pytest.mark.parametrize("who", [None, OWNER, OTHER, "deptadmin"])
def test_quality_refresh_is_admin_only(demo: Store, who: str | None) -> None:
    with pytest.raises((NotAuthenticated, NotAuthorized)):
        call_as(who, "quality_refresh", {})
    assert call_as("admin", "quality_refresh", {})["updated"] >= 91


# -- access before validity: the registry's gate runs before the input is looked at -------------------------

ROLE_USER = {"public": "citizen", "analyst": "analyst", "steward": OWNER, "dept_admin": "deptadmin",
             "platform_admin": "admin"}
# fails every action's schema (no schema has this field; most lack their required fields too)
GARBAGE: dict[str, Any] = {"__no_such_field__": ["x"]}


def _registry() -> dict[str, Any]:
    from cityhub import actions

    return actions.registry()


@pytest.mark.parametrize("name", sorted(n for n, s in _registry().items() if s.write))
def test_every_write_action_refuses_anonymous_before_validating(demo: Store, name: str) -> None:
    """CKAN calls ``check_access`` before it validates (``ckan/logic/action/create.py``: ``package_create``), so an
    anonymous write is an Authorization Error, never a Validation Error listing our schema's fields. The
    refusal is audited."""
    from cityhub.errors import ValidationError

    with pytest.raises(NotAuthenticated):
        call_as(None, name, GARBAGE)
    assert call_as("admin", "audit_list", {"action": name, "limit": 1})[0]["outcome"] == "denied"
    # a caller the gate lets through gets the validation error
    with pytest.raises(ValidationError):
        call_as("system", name, GARBAGE)


@pytest.mark.parametrize("name", sorted(n for n, s in _registry().items() if s.roles is not None))
def test_roles_gate_runs_before_validation(demo: Store, name: str) -> None:
    """Every action with a role gate: each signed-in role outside it is refused with garbage input (not told what
    is wrong with the input), each role inside it reaches validation."""
    from cityhub.errors import ValidationError

    spec = _registry()[name]
    for role, user in ROLE_USER.items():
        if role in spec.roles:
            with pytest.raises(ValidationError):
                call_as(user, name, GARBAGE)
        else:
            with pytest.raises(NotAuthorized):
                call_as(user, name, GARBAGE)


def test_every_write_action_has_a_gate() -> None:
    """A write nobody signed-in may skip: every write action's gate excludes anonymous callers."""
    assert {n for n, s in _registry().items() if s.write and s.roles is None} == set()


# native routes whose action anyone may call (signing in) or that only read
UNGATED_NATIVE = {("POST", "/api/v1/session"), ("POST", "/api/v1/datastore/sql")}
# the exchange API's reads by POST: registered systems, authenticated by their own credentials (no user role)
UNGATED_NATIVE |= {("POST", "/api/exchange/{resource_id}/search"), ("POST", "/api/exchange/{resource_id}/sql")}
# device telemetry: devices authenticate with their own token (tests/sensing/test_api.py), readings with a wrong or
# missing token are dead-lettered and answered 401
UNGATED_NATIVE |= {("POST", "/api/telemetry"), ("POST", "/api/telemetry/{device}"), ("POST", "/api/v1/{token}/telemetry")}
# write actions the native REST API does not expose (CLI, jobs, the CKAN API's whole-package save)
NOT_ON_NATIVE_API = {"dataset_save", "usage_import", "search_reindex", "quality_refresh", "datastore_recover",
                     "harvest_page_import", "user_totp_begin", "user_totp_enable", "user_totp_disable",
                     # the admin page's CSV/JSON download (/admin/audit/export.*); API clients page GET /api/v1/audit
                     "audit_export",
                     # the sensing hub's hourly jobs (also `cityhub sensing retain` / the AQI publishing job)
                     "sensing_retain", "sensing_aqi_publish",
                     # issue 15: CKAN's follow actions are served by the CKAN Action API (gated there with
                     # WRITE_GATES); natively, /api/v1/follows (follow_create / follow_delete) does the same
                     "follow_dataset", "unfollow_dataset", "follow_group", "unfollow_group",
                     "dashboard_mark_activities_old",
                     # plan indicators: a table is imported by `cityhub indicators import`; the values dataset is
                     # rewritten by its job
                     "indicator_import", "indicator_dataset_publish"}


def _native_routes() -> list[tuple[str, str, str | None]]:
    from fastapi.routing import APIRoute

    from cityhub.web import deps
    from cityhub.web.app import create_app

    def flat(routes: list[Any]) -> list[Any]:
        out = []
        for r in routes:
            inner = getattr(r, "original_router", None)  # an included router (FastAPI ≥ 0.120)
            out += flat(inner.routes) if inner is not None else [r]
        return out

    out = []
    for route in flat(create_app().routes):
        if not isinstance(route, APIRoute) or not route.path.startswith("/api/") or "/action/" in route.path:
            continue
        gates = [d.dependency.action for d in route.dependencies if isinstance(d.dependency, deps.Gate)]
        for method in sorted(route.methods - {"HEAD"}):
            out.append((method, route.path, gates[0] if gates else None))
    return out


def test_every_native_write_route_is_gated() -> None:
    writes = {n for n, s in _registry().items() if s.write}
    routes = _native_routes()
    ungated = {(m, p) for m, p, g in routes if g is None and m != "GET"}
    assert ungated == UNGATED_NATIVE
    gated = {g for _, _, g in routes if g}
    assert writes - gated == NOT_ON_NATIVE_API
    assert all(_registry()[g].roles is not None for g in gated)


@pytest.mark.parametrize("method, path, gate", [r for r in _native_routes() if r[2]])
def test_native_api_refuses_anonymous_before_validating(app_client: Any, method: str, path: str, gate: str) -> None:
    """Anonymous on any gated native route: 401 whatever the body (fields FastAPI refuses, or not JSON at all)."""
    url = path.replace("{token_id}", "1").replace("{year}", "2030").replace("{run_id}", "1")
    url = url.replace("{", "").replace("}", "")
    for body in ({"content": b'{"__no_such_field__": 1, "title": 5}'}, {"content": b"{not json"}):
        resp = app_client.request(method, url, headers={"Content-Type": "application/json"}, **body)
        assert resp.status_code == 401, (method, url, resp.text)
        assert resp.json()["error"]["type"] == "not_authenticated"
    resp = app_client.request(method, url, content=b"{not json", headers={
        "Content-Type": "application/json", "Authorization": token_for("citizen")})
    if "public" in _registry()[gate].roles:  # past the gate: invalid input, or the record-level rule
        assert resp.status_code in (200, 403, 404, 422) and "may not call" not in resp.text, (method, url, resp.text)
    else:
        assert resp.status_code == 403 and resp.json()["error"]["message_en"] == f"Your role may not call {gate}"
