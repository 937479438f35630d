"""Sign-in: no user enumeration by timing, throttling per account and per address (separately), and the
client address taken from X-Forwarded-For only when the connection comes from a configured trusted proxy."""

from __future__ import annotations

import datetime as dt
import statistics
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cityhub.context import Context
from cityhub.errors import NotAuthenticated, TooManyRequests
from tests.conftest import Store, call_as, set_settings, unique

PASSWORD = "Signin-Test-Passphrase-2026"


def _user(**over: Any) -> str:
    name = unique("si").replace("-", "_")
    call_as("system", "user_create", {"name": name, "password": PASSWORD, "role": "analyst", **over})
    return name


def _sign_in(username: str, password: str, source: str = "10.1.1.1") -> dict[str, Any]:
    from cityhub import actions

    result: dict[str, Any] = actions.call("session_create", Context(source=source, via="test"),
                                          {"username": username, "password": password})
    return result


# -- timing -----------------------------------------------------------------------------------------------------------


def test_disabled_and_unknown_accounts_take_as_long_as_a_wrong_password(
        sqlite_empty: Store, settings_env: dict[str, str]) -> None:
    """A wrong password for an active account, any password for a disabled account and any name that does not
    exist: the median of 21 sign-ins of each kind is within 30 % of the others (before the fix a disabled
    account answered without running argon2: several times faster)."""
    set_settings(settings_env, login_max_failures=10_000, login_address_max_failures=10_000)
    active = _user()
    disabled = _user()
    call_as("system", "user_disable", {"name": disabled})
    names = {"active": active, "disabled": disabled, "unknown": unique("nobody")}
    times: dict[str, list[float]] = {kind: [] for kind in names}
    _sign_in(active, PASSWORD)  # warm up (argon2, the connection pool)
    for i in range(21):  # interleaved, so that load from elsewhere on the machine hits every kind alike
        for kind, username in names.items():
            started = time.perf_counter()
            with pytest.raises(NotAuthenticated):
                _sign_in(username, f"wrong-password-{i}", source=f"10.2.0.{i}")
            times[kind].append((time.perf_counter() - started) * 1000)
    medians = {kind: statistics.median(values) for kind, values in times.items()}
    base = medians["active"]
    for kind, value in medians.items():
        assert 0.7 <= value / base <= 1.3, f"{kind}: {value:.1f} ms against {base:.1f} ms for a wrong password"


# -- throttling -------------------------------------------------------------------------------------------------------


def _fail(username: str, source: str, times: int) -> None:
    for _ in range(times):
        with pytest.raises(NotAuthenticated):
            _sign_in(username, "wrong-password-xyz", source)


def test_many_failures_from_one_address_do_not_lock_other_accounts(sqlite_empty: Store) -> None:
    """Behind a proxy every user shares an address: 25 failed guesses (5 accounts x 5) from it must not stop
    a sixth user signing in from the same address; each guessed account is locked by itself."""
    victims = [_user() for _ in range(5)]
    bystander = _user()
    for name in victims:
        _fail(name, "192.0.2.10", 4)
    assert _sign_in(bystander, PASSWORD, "192.0.2.10")["token"]
    for name in victims:
        _fail(name, "192.0.2.10", 1)  # the fifth failure of each
    assert _sign_in(bystander, PASSWORD, "192.0.2.10")["token"]  # 25 failures from that address
    for name in victims:  # each guessed account is locked, from any address, even with its password
        with pytest.raises(TooManyRequests):
            _sign_in(name, PASSWORD, "198.51.100.7")


def test_per_address_limit_is_much_higher_and_separate(sqlite_empty: Store, settings_env: dict[str, str]) -> None:
    set_settings(settings_env, login_address_max_failures=30)
    names = [_user() for _ in range(10)]
    for name in names:
        _fail(name, "203.0.113.5", 3)  # 30 failures, no account locked
    with pytest.raises(TooManyRequests) as err:
        _sign_in(names[0], PASSWORD, "203.0.113.5")
    assert "address" in err.value.message_en
    assert _sign_in(names[0], PASSWORD, "203.0.113.6")["token"]  # the account itself is not locked


def test_account_lock_backs_off_and_a_success_resets_it(sqlite_empty: Store, monkeypatch: pytest.MonkeyPatch,
                                                        settings_env: dict[str, str]) -> None:
    from cityhub.accounts import actions as account_actions

    set_settings(settings_env, login_max_failures=3, login_lock_minutes=1, login_lock_max_minutes=60)
    name = _user()
    clock = [dt.datetime.now(dt.UTC)]
    monkeypatch.setattr(account_actions, "utcnow", lambda: clock[0])

    def advance(minutes: float) -> None:
        clock[0] += dt.timedelta(minutes=minutes)

    _fail(name, "10.3.0.1", 3)
    with pytest.raises(TooManyRequests) as err:  # locked for 1 minute
        _sign_in(name, PASSWORD, "10.3.0.2")
    assert err.value.retry_after == 60
    advance(1.01)
    _fail(name, "10.3.0.3", 1)  # the 4th failure: 2 minutes
    advance(1.5)
    with pytest.raises(TooManyRequests) as err:
        _sign_in(name, PASSWORD, "10.3.0.2")
    assert 20 <= err.value.retry_after <= 31
    advance(0.6)
    _fail(name, "10.3.0.3", 1)  # the 5th: 4 minutes
    advance(3.5)
    with pytest.raises(TooManyRequests):
        _sign_in(name, PASSWORD, "10.3.0.2")
    advance(0.6)
    assert _sign_in(name, PASSWORD, "10.3.0.2")["token"]  # unlocked; the success clears the count
    _fail(name, "10.3.0.3", 2)
    assert _sign_in(name, PASSWORD, "10.3.0.2")["token"]


def test_unknown_names_are_locked_like_real_ones(sqlite_empty: Store) -> None:
    """Locks are kept per name, whether or not it exists: the lock itself tells nothing."""
    ghost = unique("ghost")
    _fail(ghost, "10.4.0.1", 5)
    with pytest.raises(TooManyRequests):
        _sign_in(ghost, "anything-at-all-123", "10.4.0.2")


# -- the client address behind a proxy --------------------------------------------------------------------------------


def _client(peer: str) -> TestClient:
    from cityhub.web.app import create_app

    return TestClient(create_app(), base_url="http://127.0.0.1:8000", client=(peer, 40000))


def _last_signin_source() -> str:
    rows = call_as("system", "audit_list", {"limit": 5, "action": "session_create"})
    return str(rows[0]["source"])


def test_forwarded_for_is_believed_only_from_a_trusted_proxy(sqlite_empty: Store,
                                                             settings_env: dict[str, str]) -> None:
    set_settings(settings_env, trusted_proxies="10.0.0.2, 172.16.0.0/12")
    body = {"username": "nobody-here", "password": "wrong-password-123"}
    spoof = {"X-Forwarded-For": "198.51.100.1"}
    with _client("10.0.0.2") as client:  # the proxy: the real client is the last address it appended
        client.post("/api/v1/session", json=body, headers={"X-Forwarded-For": "203.0.113.9, 198.51.100.77"})
        assert _last_signin_source() == "198.51.100.77"
    with _client("172.20.1.1") as client:  # a trusted network, two proxies deep
        client.post("/api/v1/session", json=body, headers={"X-Forwarded-For": "198.51.100.78, 10.0.0.2"})
        assert _last_signin_source() == "198.51.100.78"
    with _client("192.0.2.50") as client:  # anyone else: the header is ignored
        client.post("/api/v1/session", json=body, headers=spoof)
        assert _last_signin_source() == "192.0.2.50"
    set_settings(settings_env, trusted_proxies="")
    with _client("10.0.0.2") as client:  # no proxy configured: nobody is believed
        client.post("/api/v1/session", json=body, headers=spoof)
        assert _last_signin_source() == "10.0.0.2"
