"""What the data office does to accounts: edit departments, edit users, disable and enable them, reset their
passwords; from actions, the native API and the CLI; with the authorization matrix of each."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cityhub.cli.main import app
from cityhub.context import Context
from cityhub.errors import Conflict, NotAuthenticated, NotAuthorized, ValidationError
from tests.conftest import Store, call_as, token_for, unique

PASSWORD = "Admin-Actions-Test-2026"
runner = CliRunner()


def _user(role: str = "steward", department: str | None = "gz-transport") -> str:
    name = unique("adm").replace("-", "_")
    call_as("system", "user_create", {"name": name, "password": PASSWORD, "role": role, "department": department})
    return name


def _sign_in(username: str, password: str = PASSWORD) -> dict[str, Any]:
    from cityhub import actions

    result: dict[str, Any] = actions.call("session_create", Context(source="10.8.0.1", via="test"),
                                          {"username": username, "password": password})
    return result


def _uscc(prefix: str) -> str:
    from cityhub.ids import uscc_check_char

    body = (prefix + unique("")[-8:].upper())[:17]
    body = "".join(c if c in "0123456789ABCDEFGHJKLMNPQRTUWXY" else "7" for c in body)
    return body + uscc_check_char(body)


def _department() -> str:
    slug = unique("dep")
    call_as("system", "department_create", {"slug": slug, "name": unique("测试局"), "short_name": "测试局",
                                            "uscc": _uscc("114401000"), "level": "市"})
    return slug


# -- the authorization matrix ----------------------------------------------------------------------------------------

# target (a steward of the dept admin's department, one of another department, a platform admin)
TARGETS: dict[str, Callable[[], str]] = {
    "own_steward": lambda: _user("steward", "gz-transport"),
    "other_steward": lambda: _user("steward", "gz-ecology-environment"),
    "admin2": lambda: _user("platform_admin", None),
}
# (actor, target) -> allowed; "self" is the target itself
ALLOWED = {
    ("admin", "own_steward"), ("admin", "other_steward"), ("admin", "admin2"),
    ("deptadmin", "own_steward"),
}
ACTORS = [None, "citizen", "steward", "eco_steward", "deptadmin", "admin", "self"]


def _state(name: str) -> dict[str, Any]:
    user = call_as("system", "user_show", {"name": name})
    return {"active": user["active"], "must": user["must_change_password"]}


@pytest.mark.parametrize("action", ["user_disable", "user_enable", "user_password_reset"])
@pytest.mark.parametrize("target", sorted(TARGETS))
@pytest.mark.parametrize("who", ACTORS)
def test_manage_matrix(demo: Store, action: str, target: str, who: str | None) -> None:
    name = TARGETS[target]()
    if action == "user_enable":
        call_as("system", "user_disable", {"name": name})
    actor = name if who == "self" else who
    before = _state(name)
    if (who, target) in ALLOWED:
        call_as(actor, action, {"name": name})
        assert _state(name) != before
    else:
        with pytest.raises(NotAuthenticated if who is None else NotAuthorized):
            call_as(actor, action, {"name": name})
        assert _state(name) == before


@pytest.mark.parametrize("who, change, allowed", [
    (None, {"display_name": "x"}, False),
    ("citizen", {"display_name": "x"}, False),
    ("eco_steward", {"display_name": "x"}, False),
    ("steward", {"display_name": "x"}, False),  # a colleague, not an admin
    ("self", {"display_name": "我自己", "email": "me@example.gz.gov.cn"}, True),
    ("self", {"role": "dept_admin"}, False),
    ("self", {"department": "gz-ecology-environment"}, False),
    ("deptadmin", {"display_name": "交通局专员", "email": "s@example.gz.gov.cn"}, True),
    ("deptadmin", {"role": "analyst"}, True),
    ("deptadmin", {"role": "dept_admin"}, False),
    ("deptadmin", {"role": "platform_admin"}, False),
    ("deptadmin", {"department": "gz-ecology-environment"}, False),
    ("admin", {"role": "dept_admin", "display_name": "新部门管理员"}, True),
    ("admin", {"department": "gz-ecology-environment"}, True),
])
def test_user_update_matrix(demo: Store, who: str | None, change: dict[str, Any], allowed: bool) -> None:
    name = _user("steward", "gz-transport")
    actor = name if who == "self" else who
    before = call_as("system", "user_show", {"name": name})
    if allowed:
        after = call_as(actor, "user_update", {"name": name, **change})
        for key, value in change.items():
            assert after[key] == value
    else:
        with pytest.raises(NotAuthenticated if who is None else NotAuthorized):
            call_as(actor, "user_update", {"name": name, **change})
        assert call_as("system", "user_show", {"name": name}) == before


@pytest.mark.parametrize("who, change, allowed", [
    (None, {"contact_name": "张三"}, False),
    ("steward", {"contact_name": "张三"}, False),
    ("eco_steward", {"contact_name": "张三"}, False),
    ("deptadmin", {"contact_name": "张三", "contact_phone": "020-83123456", "contact_email": "data@jtj.gz.gov.cn",
                   "name_en": "Guangzhou Transport Bureau", "description": "交通数据"}, True),
    ("deptadmin", {"name": "改名的交通局"}, False),
    ("deptadmin", {"uscc": "SELF"}, False),
    ("admin", {"name": "NEW", "short_name": "新简称", "name_en": "Renamed", "uscc": "NEW"}, True),
])
def test_department_update_matrix(demo: Store, who: str | None, change: dict[str, Any], allowed: bool) -> None:
    slug = _department()
    if who == "deptadmin":  # the dept admin's own department is gz-transport: use it, and put it back after
        slug = "gz-transport"
    change = {k: (unique("新名称局") if v == "NEW" and k == "name" else _uscc("114401000") if v in ("NEW", "SELF")
                  else v) for k, v in change.items()}
    before = call_as("system", "department_show", {"slug": slug})
    try:
        if allowed:
            after = call_as(who, "department_update", {"slug": slug, **change})
            assert {k: after[k] for k in change} == change
        else:
            with pytest.raises(NotAuthenticated if who is None else NotAuthorized):
                call_as(who, "department_update", {"slug": slug, **change})
            assert call_as("system", "department_show", {"slug": slug}) == before
    finally:
        restore = {k: before[k] for k in change}
        call_as("system", "department_update", {"slug": slug, **restore})


# -- what the actions do ---------------------------------------------------------------------------------------------


def test_disable_ends_sessions_and_tokens_and_enable_lets_back_in(demo: Store) -> None:
    name = _user()
    session = _sign_in(name)
    token = token_for(name)
    result = call_as("admin", "user_disable", {"name": name})
    assert result["user"]["active"] is False
    assert (result["sessions_ended"], result["tokens_revoked"]) == (1, 1)
    assert call_as(None, "session_resolve", {"token": session["token"]}) is None
    with pytest.raises(NotAuthenticated):
        call_as(None, "token_resolve", {"token": token})
    with pytest.raises(NotAuthenticated):
        _sign_in(name)  # the right password, but disabled: the same answer as a wrong one
    call_as("admin", "user_enable", {"name": name})
    assert _sign_in(name)["token"]
    with pytest.raises(NotAuthenticated):  # revoked tokens stay revoked
        call_as(None, "token_resolve", {"token": token})
    audit = call_as("system", "audit_list", {"limit": 20, "actor": "admin"})
    disabled = next(r for r in audit if r["action"] == "user_disable")
    assert disabled["target"] == name and json.loads(disabled["detail"])["tokens_revoked"] == 1


def test_admins_cannot_lock_themselves_out(sqlite_empty: Store) -> None:
    call_as("system", "user_create", {"name": "only_admin", "password": PASSWORD, "role": "platform_admin"})
    with pytest.raises(NotAuthorized):
        call_as("only_admin", "user_disable", {"name": "only_admin"})
    with pytest.raises(Conflict):  # the operator (CLI) cannot disable the last platform admin either
        call_as("system", "user_disable", {"name": "only_admin"})
    call_as("system", "user_create", {"name": "second_admin", "password": PASSWORD, "role": "platform_admin"})
    assert call_as("only_admin", "user_disable", {"name": "second_admin"})["user"]["active"] is False


def test_department_update_validates_the_merged_record(demo: Store) -> None:
    slug = _department()
    good = _uscc("114401000")
    with pytest.raises(ValidationError) as bad_code:
        call_as("admin", "department_update", {"slug": slug, "uscc": good[:-1] + ("0" if good[-1] != "0" else "1")})
    assert "uscc" in bad_code.value.fields
    taken = call_as("system", "department_show", {"slug": "gz-transport"})
    with pytest.raises(Conflict) as dup:
        call_as("admin", "department_update", {"slug": slug, "uscc": taken["uscc"]})
    assert dup.value.fields == {"uscc": ["duplicate"]}
    with pytest.raises(Conflict):
        call_as("admin", "department_update", {"slug": slug, "name": taken["name"]})
    with pytest.raises(ValidationError):  # a district-level department needs its district
        call_as("admin", "department_update", {"slug": slug, "level": "区"})
    with pytest.raises(ValidationError):
        call_as("admin", "department_update", {"slug": slug, "contact_email": "not-an-address"})
    done = call_as("admin", "department_update", {"slug": slug, "level": "区", "district": "天河区",
                                                  "uscc": good, "contact_phone": "+86 20 8312 3456"})
    assert (done["level"], done["district"], done["uscc"], done["contact_phone"]) == ("区", "天河区", good,
                                                                                      "+86 20 8312 3456")
    back = call_as("admin", "department_update", {"slug": slug, "level": "市", "district": ""})
    assert back["district"] is None
    record = call_as("system", "audit_list", {"limit": 5, "action": "department_update"})[0]
    assert record["outcome"] == "success" and json.loads(record["detail"]) == {"changed": ["district", "level"]}


# -- the native API --------------------------------------------------------------------------------------------------


def test_api_admin_endpoints(app_client: TestClient, demo: Store) -> None:
    name = _user()
    admin = {"Authorization": token_for("admin")}
    steward = {"Authorization": token_for("steward")}
    assert app_client.post(f"/api/v1/users/{name}/disable", headers=steward).status_code == 403
    assert app_client.post(f"/api/v1/users/{name}/disable").status_code == 401
    resp = app_client.post(f"/api/v1/users/{name}/disable", headers=admin)
    assert resp.status_code == 200 and resp.json()["user"]["active"] is False
    assert app_client.post(f"/api/v1/users/{name}/enable", headers=admin).json()["user"]["active"] is True
    reset = app_client.post(f"/api/v1/users/{name}/password-reset", headers=admin)
    assert reset.status_code == 200 and reset.headers["cache-control"] == "no-store"
    assert reset.json()["temporary_password"] and reset.json()["user"]["must_change_password"] is True
    assert app_client.post("/api/v1/users/nobody-at-all/disable", headers=admin).status_code == 404
    patched = app_client.patch(f"/api/v1/users/{name}", headers=admin, json={"role": "analyst",
                                                                              "display_name": "分析员"})
    assert patched.status_code == 200 and patched.json()["role"] == "analyst"
    assert app_client.patch(f"/api/v1/users/{name}", headers=admin, json={"active": False}).status_code == 422
    slug = _department()
    dept = app_client.patch(f"/api/v1/departments/{slug}", headers=admin,
                            json={"name_en": "Test Bureau", "contact_name": "李四"})
    assert dept.status_code == 200 and dept.json()["contact_name"] == "李四"
    assert app_client.patch(f"/api/v1/departments/{slug}", headers=admin,
                            json={"uscc": "not-a-code"}).status_code == 422


# -- the CLI ---------------------------------------------------------------------------------------------------------


def test_cli_user_commands(demo: Store) -> None:
    name = _user()
    token = token_for(name)
    off = runner.invoke(app, ["user", "disable", name])
    assert off.exit_code == 0, off.output
    assert "API tokens revoked" in off.output and call_as("system", "user_show", {"name": name})["active"] is False
    assert runner.invoke(app, ["user", "enable", name]).exit_code == 0
    assert call_as("system", "user_show", {"name": name})["active"] is True
    reset = runner.invoke(app, ["user", "reset-password", name])
    assert reset.exit_code == 0, reset.output
    temporary = reset.stdout.strip().splitlines()[0]
    with pytest.raises(NotAuthenticated) as needs:
        _sign_in(name, temporary)
    assert "new_password" in needs.value.fields
    with pytest.raises(NotAuthenticated):
        call_as(None, "token_resolve", {"token": token})
    upd = runner.invoke(app, ["user", "update", name, "--role", "analyst", "--department", "",
                              "--display-name", "城市分析员"])
    assert upd.exit_code == 0, upd.output
    shown = call_as("system", "user_show", {"name": name})
    assert (shown["role"], shown["department"], shown["display_name"]) == ("analyst", None, "城市分析员")
    assert runner.invoke(app, ["user", "update", name]).exit_code == 2  # nothing to change
    missing = runner.invoke(app, ["user", "disable", "nobody-at-all"])
    assert missing.exit_code == 2 and "nobody-at-all" in missing.output


def test_cli_department_update(demo: Store) -> None:
    slug = _department()
    ok = runner.invoke(app, ["department", "update", slug, "--name-en", "Test Bureau of Guangzhou",
                             "--contact-name", "王五", "--contact-phone", "020-12345678"])
    assert ok.exit_code == 0, ok.output
    dept = call_as("system", "department_show", {"slug": slug})
    assert (dept["name_en"], dept["contact_name"], dept["contact_phone"]) == ("Test Bureau of Guangzhou", "王五",
                                                                              "020-12345678")
    bad = runner.invoke(app, ["department", "update", slug, "--uscc", "91440101MA59XXXXX0"])
    assert bad.exit_code == 2 and "uscc" in bad.output
    assert call_as("system", "department_show", {"slug": slug})["uscc"] == dept["uscc"]


def test_department_roles_keep_a_department(demo: Store) -> None:
    name = _user("steward", "gz-transport")
    with pytest.raises(ValidationError) as err:
        call_as("admin", "user_update", {"name": name, "department": ""})
    assert "department" in err.value.fields
    assert call_as("system", "user_show", {"name": name})["department"] == "gz-transport"
    moved = call_as("admin", "user_update", {"name": name, "role": "analyst", "department": ""})
    assert (moved["role"], moved["department"], moved["department_name"]) == ("analyst", None, None)
