"""Changing one's password (needs the current one; ends the other sessions and revokes every API token) and an
administrator's reset to a one-time password that serves only to choose a new one at the next sign-in."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cityhub.context import Context
from cityhub.errors import NotAuthenticated, NotAuthorized, TooManyRequests, ValidationError
from tests.conftest import Store, call_as, login, token_for, unique

PASSWORD = "Password-Change-Test-2026"
NEW = "shamian island banyan dawn"


def _user(role: str = "steward", department: str | None = "gz-transport") -> str:
    name = unique("pw").replace("-", "_")
    call_as("system", "user_create", {"name": name, "password": PASSWORD, "role": role, "department": department})
    return name


def _sign_in(username: str, password: str, **more: Any) -> dict[str, Any]:
    from cityhub import actions

    result: dict[str, Any] = actions.call("session_create", Context(source="10.7.0.1", via="test"),
                                          {"username": username, "password": password, **more})
    return result


def _session_alive(token: str) -> bool:
    return call_as(None, "session_resolve", {"token": token}) is not None


def _token_alive(token: str) -> bool:
    try:
        call_as(None, "token_resolve", {"token": token})
    except NotAuthenticated:
        return False
    return True


# -- changing one's own password ----------------------------------------------------------------------------------


def test_change_needs_the_current_password_and_ends_everything_else(demo: Store) -> None:
    from cityhub import actions
    from tests.conftest import actor_ctx

    name = _user()
    first, second = _sign_in(name, PASSWORD), _sign_in(name, PASSWORD)
    tokens = [token_for(name), token_for(name)]
    with pytest.raises(ValidationError) as wrong:
        call_as(name, "user_password_change", {"name": name, "current_password": "not-my-password-1",
                                               "new_password": NEW})
    assert "current_password" in wrong.value.fields
    assert all(_token_alive(t) for t in tokens) and _session_alive(first["token"])
    ctx = actor_ctx(name)
    ctx.web_session = call_as(None, "session_resolve", {"token": first["token"]})["session_id"]
    changed = actions.call("user_password_change", ctx, {"name": name, "current_password": PASSWORD,
                                                         "new_password": NEW})
    assert (changed["sessions_ended"], changed["tokens_revoked"]) == (1, 2)
    assert "2" in changed["message_en"] and "API tokens revoked" in changed["message_en"]
    assert "撤销" in changed["message"]
    assert _session_alive(first["token"])  # the session the change came from stays
    assert not _session_alive(second["token"])
    assert not any(_token_alive(t) for t in tokens)
    with pytest.raises(NotAuthenticated):
        _sign_in(name, PASSWORD)
    assert _sign_in(name, NEW)["token"]
    audit = call_as("system", "audit_list", {"limit": 10, "action": "user_password_change"})
    assert [r["outcome"] for r in audit[:2]] == ["success", "validation_error"]
    assert json.loads(audit[0]["detail"]) == {"sessions_ended": 1, "tokens_revoked": 2}
    assert NEW not in json.dumps(audit) and PASSWORD not in json.dumps(audit)


def test_new_password_follows_the_policy(demo: Store) -> None:
    name = _user()
    for bad in ("qwertyuiop123", "short-one", PASSWORD):
        with pytest.raises(ValidationError) as err:
            call_as(name, "user_password_change", {"name": name, "current_password": PASSWORD, "new_password": bad})
        assert "new_password" in err.value.fields, bad
    assert _sign_in(name, PASSWORD)["token"]  # nothing changed


def test_wrong_current_passwords_are_throttled_like_sign_ins(demo: Store) -> None:
    """A stolen session cannot be used to guess the password: wrong current passwords lock the account."""
    name = _user()
    for _ in range(5):
        with pytest.raises(ValidationError):
            call_as(name, "user_password_change", {"name": name, "current_password": "guess-guess-guess",
                                                   "new_password": NEW})
    with pytest.raises(TooManyRequests):
        call_as(name, "user_password_change", {"name": name, "current_password": PASSWORD, "new_password": NEW})
    with pytest.raises(TooManyRequests):
        _sign_in(name, PASSWORD)


def test_only_the_user_changes_their_own_password(demo: Store) -> None:
    name = _user()
    data = {"name": name, "current_password": PASSWORD, "new_password": NEW}
    for who in ("admin", "deptadmin", "steward"):
        with pytest.raises(NotAuthorized):
            call_as(who, "user_password_change", data)
    with pytest.raises(NotAuthenticated):
        call_as(None, "user_password_change", data)
    assert _sign_in(name, PASSWORD)["token"]


def test_user_update_no_longer_takes_a_password(demo: Store) -> None:
    name = _user()
    with pytest.raises(ValidationError) as err:
        call_as(name, "user_update", {"name": name, "password": NEW})
    assert "password" in err.value.fields


def test_api_change_keeps_this_session_and_ends_the_others(app_client: TestClient, demo: Store) -> None:
    from cityhub.web.app import create_app

    name = _user()
    token = token_for(name)
    with TestClient(create_app(), base_url="http://127.0.0.1:8000") as other:
        login(other, name, PASSWORD)
        assert other.get("/api/v1/tokens").status_code == 200
        csrf = login(app_client, name, PASSWORD)["csrf_token"]
        old = app_client.patch(f"/api/v1/users/{name}", json={"password": NEW}, headers={"X-CSRF-Token": csrf})
        assert old.status_code == 422  # the old way, without the current password, is gone
        resp = app_client.post(f"/api/v1/users/{name}/password", headers={"X-CSRF-Token": csrf},
                               json={"current_password": PASSWORD, "new_password": NEW})
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["sessions_ended"] == 1 and body["tokens_revoked"] == 1 and body["message_en"]
        assert resp.headers["cache-control"] == "no-store"
        assert app_client.get("/api/v1/tokens").status_code == 200  # this session goes on
        assert other.get("/api/v1/tokens").status_code == 401  # the other one ended
    assert app_client.get("/api/v1/tokens", headers={"Authorization": token}).status_code == 401


def test_account_page_changes_the_password_and_says_what_ended(app_client: TestClient, demo: Store) -> None:
    from tests.web.test_pages import HTML, csrf_of, page, web_login

    name = _user()
    token_for(name)
    assert web_login(app_client, name, PASSWORD).status_code == 303
    form = page(app_client, "/account")
    assert 'id="password-form"' in form
    csrf = csrf_of(form, "password-form")
    wrong = app_client.post("/account/password", headers=HTML, data={
        "csrf_token": csrf, "current_password": "not-the-password", "new_password": NEW})
    assert wrong.status_code == 422 and "当前密码不正确" in wrong.text
    ok = app_client.post("/account/password", headers=HTML, data={
        "csrf_token": csrf, "current_password": PASSWORD, "new_password": NEW})
    assert ok.status_code == 200
    notice = re.search(r'id="password-changed">([^<]*)<', ok.text)
    assert notice and "撤销全部 1 个API令牌" in notice.group(1)


# -- an administrator's reset -------------------------------------------------------------------------------------


def test_reset_gives_a_one_time_password_that_must_be_replaced(demo: Store) -> None:
    name = _user()
    session = _sign_in(name, PASSWORD)
    token = token_for(name)
    reset = call_as("admin", "user_password_reset", {"name": name})
    temporary = reset["temporary_password"]
    assert re.fullmatch(r"[a-z2-9]{4}(-[a-z2-9]{4}){3}", temporary)
    assert reset["sessions_ended"] == 1 and reset["tokens_revoked"] == 1 and reset["user"]["must_change_password"]
    assert not _session_alive(session["token"]) and not _token_alive(token)
    with pytest.raises(NotAuthenticated):
        _sign_in(name, PASSWORD)
    with pytest.raises(NotAuthenticated) as needs:
        _sign_in(name, temporary)
    assert "new_password" in needs.value.fields
    with pytest.raises(ValidationError) as weak:
        _sign_in(name, temporary, new_password="qwertyuiop123")
    assert "new_password" in weak.value.fields
    signed_in = _sign_in(name, temporary, new_password=NEW)
    assert signed_in["token"] and not signed_in["user"]["must_change_password"]
    with pytest.raises(NotAuthenticated):
        _sign_in(name, temporary)
    assert _sign_in(name, NEW)["token"]
    records = call_as("system", "audit_list", {"limit": 50})
    reset_record = next(r for r in records if r["action"] == "user_password_reset")
    assert reset_record["actor"] == "admin" and reset_record["target"] == name
    assert temporary not in json.dumps(records)
    outcomes = [r["outcome"] for r in records if r["action"] == "session_create" and r["target"] == name]
    assert "password_change_required" in outcomes


def test_an_expired_one_time_password_is_refused(demo: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from cityhub.accounts import actions as account_actions

    name = _user()
    temporary = call_as("admin", "user_password_reset", {"name": name})["temporary_password"]
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=73)
    monkeypatch.setattr(account_actions, "utcnow", lambda: later)
    with pytest.raises(NotAuthenticated) as err:
        _sign_in(name, temporary, new_password=NEW)
    assert "expired" in err.value.message_en


def test_web_sign_in_after_a_reset_asks_for_the_new_password(app_client: TestClient, demo: Store) -> None:
    from tests.web.test_pages import HTML, csrf_of, page

    name = _user()
    temporary = call_as("admin", "user_password_reset", {"name": name})["temporary_password"]
    form = page(app_client, "/login")
    data = {"username": name, "password": temporary, "next": "/account", "csrf_token": csrf_of(form, "login-form")}
    first = app_client.post("/login", data=data, headers=HTML, follow_redirects=False)
    assert first.status_code == 401 and 'name="new_password"' in first.text
    weak = app_client.post("/login", data={**data, "new_password": "qwertyuiop123"}, headers=HTML,
                           follow_redirects=False)
    assert weak.status_code == 422 and "已泄露" in weak.text and 'name="new_password"' in weak.text
    done = app_client.post("/login", data={**data, "new_password": NEW}, headers=HTML, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/account"
