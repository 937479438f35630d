"""Second factor (TOTP) for sign-in: enrolment, codes, replay, reset, and the platform-admin requirement."""

from __future__ import annotations

import time

import pytest

from cityhub.accounts import totp
from tests.conftest import Store, call_as, unique

PASSWORD = "Totp-Test-Passphrase-2026"


def test_codes_drift_and_replay() -> None:
    secret = totp.new_secret()
    now = 1_800_000_000.0
    step = int(now) // totp.INTERVAL
    assert totp.matching_step(secret, totp.now_code(secret, now), None, now) == step
    # one step of clock drift either way is accepted, two are not
    assert totp.matching_step(secret, totp.now_code(secret, now - 30), None, now) == step - 1
    assert totp.matching_step(secret, totp.now_code(secret, now + 30), None, now) == step + 1
    assert totp.matching_step(secret, totp.now_code(secret, now - 90), None, now) is None
    # a used step (or an older one) is refused: no replay
    assert totp.matching_step(secret, totp.now_code(secret, now), step, now) is None
    assert totp.matching_step(secret, "12345", None, now) is None
    assert totp.matching_step(secret, "abcdef", None, now) is None
    code = totp.now_code(secret, now)
    assert totp.matching_step(secret, f"{code[:3]} {code[3:]}", None, now) == step  # spaces as apps show them


def test_secret_is_sealed_with_the_secret_key() -> None:
    sealed = totp.seal("JBSWY3DPEHPK3PXP", "a-secret-key-of-enough-length")
    assert "JBSWY3DP" not in sealed
    assert totp.unseal(sealed, "a-secret-key-of-enough-length") == "JBSWY3DPEHPK3PXP"
    assert totp.unseal(sealed, "another-secret-key-entirely") is None
    assert totp.provisioning_uri(totp.new_secret(), "alice", "开放广州").startswith("otpauth://totp/")


def _user(role: str = "analyst", department: str | None = "gz-transport") -> str:
    name = unique("mfa").replace("-", "_")
    call_as("system", "user_create", {"name": name, "password": PASSWORD, "role": role, "department": department})
    return name


def _enrol(name: str) -> str:
    begun = call_as(name, "user_totp_begin", {"user": name})
    secret: str = begun["secret"]
    assert begun["uri"].startswith("otpauth://totp/")
    # a code from an earlier step enables it, leaving the current step free for the first sign-in
    call_as(name, "user_totp_enable", {"user": name, "code": totp.now_code(secret, time.time() - 30)})
    return secret


def test_sign_in_needs_the_code_once_enrolled(demo: Store) -> None:
    from cityhub.errors import NotAuthenticated, ValidationError

    name = _user()
    with pytest.raises(ValidationError):  # a wrong confirmation code does not enable it
        call_as(name, "user_totp_begin", {"user": name})
        call_as(name, "user_totp_enable", {"user": name, "code": "000000"})
    assert call_as("system", "user_show", {"name": name})["totp_enabled"] is False
    secret = _enrol(name)
    assert call_as("system", "user_show", {"name": name})["totp_enabled"] is True

    with pytest.raises(NotAuthenticated) as missing:
        call_as(None, "session_create", {"username": name, "password": PASSWORD})
    assert "totp_code" in missing.value.fields
    with pytest.raises(NotAuthenticated) as wrong:
        call_as(None, "session_create", {"username": name, "password": PASSWORD, "totp_code": "000000"})
    assert wrong.value.fields == {"totp_code": ["invalid"]}
    with pytest.raises(NotAuthenticated) as bad_password:  # the code never rescues a wrong password
        call_as(None, "session_create", {"username": name, "password": "wrong-" + PASSWORD,
                                         "totp_code": totp.now_code(secret)})
    assert "totp_code" not in bad_password.value.fields
    code = totp.now_code(secret)
    session = call_as(None, "session_create", {"username": name, "password": PASSWORD, "totp_code": code})
    assert session["token"]
    with pytest.raises(NotAuthenticated):  # the same code cannot be replayed
        call_as(None, "session_create", {"username": name, "password": PASSWORD, "totp_code": code})

    rows = call_as("system", "audit_list", {"actor": name, "action": "session_create", "limit": 50})
    outcomes = [r["outcome"] for r in rows if r["action"] == "session_create"]
    assert {"totp_required", "totp_failure", "success"} <= set(outcomes)


def test_disable_needs_a_code_but_an_admin_may_reset(demo: Store) -> None:
    from cityhub.errors import NotAuthorized, ValidationError

    name, other = _user(), _user()
    secret = _enrol(name)
    with pytest.raises(NotAuthorized):  # nobody else may touch another user's second factor
        call_as(other, "user_totp_disable", {"user": name, "code": totp.now_code(secret)})
    with pytest.raises(NotAuthorized):
        call_as(other, "user_totp_begin", {"user": name})
    with pytest.raises(ValidationError):
        call_as(name, "user_totp_disable", {"user": name, "code": "123456"})
    assert call_as("system", "user_show", {"name": name})["totp_enabled"] is True
    call_as("admin", "user_totp_disable", {"user": name, "code": ""})  # lost phone: the platform admin resets
    assert call_as("system", "user_show", {"name": name})["totp_enabled"] is False
    assert call_as(None, "session_create", {"username": name, "password": PASSWORD})["token"]


def test_platform_admins_must_enrol_when_required(demo: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from cityhub.errors import NotAuthorized
    from cityhub.settings import get_settings

    admin = _user(role="platform_admin", department=None)
    plain = _user()
    monkeypatch.setenv("CITYHUB_ADMIN_TOTP_REQUIRED", "true")
    get_settings.cache_clear()
    try:
        with pytest.raises(NotAuthorized) as refused:
            call_as(None, "session_create", {"username": admin, "password": PASSWORD})
        assert "totp-enable" in refused.value.message_en
        assert call_as(None, "session_create", {"username": plain, "password": PASSWORD})["token"]
        secret = _enrol(admin)
        assert call_as(None, "session_create", {"username": admin, "password": PASSWORD,
                                                "totp_code": totp.now_code(secret)})["token"]
    finally:
        monkeypatch.delenv("CITYHUB_ADMIN_TOTP_REQUIRED")
        get_settings.cache_clear()
    assert get_settings().admin_totp_enforced is False  # tests run with CITYHUB_ENV=test


def test_login_page_asks_for_the_code(app_client: object) -> None:
    from fastapi.testclient import TestClient

    client: TestClient = app_client  # type: ignore[assignment]
    name = _user()
    secret = _enrol(name)
    page = client.get("/login")
    csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    resp = client.post("/login", data={"username": name, "password": PASSWORD, "csrf_token": csrf, "next": "/account"},
                       follow_redirects=False)
    assert resp.status_code == 401
    assert 'name="totp_code"' in resp.text and "field-attention" in resp.text
    resp = client.post("/login", data={"username": name, "password": PASSWORD, "csrf_token": csrf,
                                       "next": "/account", "totp_code": totp.now_code(secret)},
                       follow_redirects=False)
    assert resp.status_code == 303, resp.text
    account = client.get("/account")
    assert "totp-disable-form" in account.text
