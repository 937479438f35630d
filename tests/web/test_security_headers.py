"""HTTP hardening: Secure cookies and HSTS in production, no caching of authenticated responses, and CSRF
refusals in the audit log."""

from __future__ import annotations

import time
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import Store, call_as, dataset_payload, set_settings, token_for


def _client(base_url: str = "http://127.0.0.1:8000") -> TestClient:
    from cityhub.web.app import create_app

    return TestClient(create_app(), base_url=base_url)


def _set_cookies(resp: Any) -> list[str]:
    return [v for k, v in resp.headers.multi_items() if k.lower() == "set-cookie"]


def test_production_sends_hsts_and_secure_cookies(demo: Store, settings_env: dict[str, str]) -> None:
    set_settings(settings_env, env="production")
    with _client("https://127.0.0.1:8000") as client:
        home = client.get("/", headers={"Accept": "text/html"})
        assert home.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
        login_form = client.get("/login", headers={"Accept": "text/html"})
        cookies = _set_cookies(login_form)
        assert cookies and all("Secure" in c for c in cookies), cookies
        resp = client.post("/api/v1/session", json={"username": "steward", "password": demo.passwords["steward"]})
        assert resp.status_code == 200, resp.text
        session_cookie = next(c for c in _set_cookies(resp) if c.startswith("cityhub_session="))
        assert "Secure" in session_cookie and "HttpOnly" in session_cookie
        assert resp.headers["cache-control"] == "no-store"


def test_development_over_http_keeps_cookies_usable(demo: Store) -> None:
    with _client() as client:
        resp = client.post("/api/v1/session", json={"username": "steward", "password": demo.passwords["steward"]})
        assert resp.status_code == 200
        assert "strict-transport-security" not in resp.headers
        assert not any("Secure" in c for c in _set_cookies(resp))


def test_authenticated_json_is_never_cached(demo: Store) -> None:
    name = call_as("system", "dataset_create", dataset_payload())["name"]
    headers = {"Authorization": token_for("steward")}
    with _client() as client:
        for url in (f"/api/v1/datasets/{name}", f"/api/3/action/package_show?id={name}", "/api/v1/tokens",
                    "/api/v1/datasets?q=公交"):
            resp = client.get(url, headers=headers)
            assert resp.status_code == 200, (url, resp.text[:200])
            assert resp.headers.get("cache-control") == "no-store", url
        anonymous = client.get(f"/api/v1/datasets/{name}")
        assert "no-store" not in anonymous.headers.get("cache-control", "")


def test_csrf_refusals_are_audited(demo: Store) -> None:
    since = call_as("system", "audit_list", {"limit": 1})[0]["seq"]
    with _client() as client:
        resp = client.post("/api/v1/session", json={"username": "steward", "password": demo.passwords["steward"]})
        assert resp.status_code == 200
        refused = client.post("/api/v1/datasets", json=dataset_payload())  # no X-CSRF-Token
        assert refused.status_code == 401
        forged = client.post("/api/v1/datasets", json=dataset_payload(), headers={"X-CSRF-Token": "forged"})
        assert forged.status_code == 401
        page_post = client.post("/logout", headers={"Accept": "text/html"})  # an async page route
        assert page_post.status_code == 401
    with _client() as client:  # nobody signed in: the sign-in form's own token
        login = client.post("/login", data={"username": "analyst", "password": "whatever-it-is-123"},
                            headers={"Accept": "text/html"})
        assert login.status_code == 400
    deadline = time.monotonic() + 5  # the page route's record is written off the event loop
    while True:
        rows = [r for r in call_as("system", "audit_list", {"limit": 20, "action": "csrf_check"})
                if r["seq"] > since]
        if len(rows) >= 4 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(rows) == 4, rows
    assert any(r["target"] == "POST /logout" and r["actor"] == "steward" for r in rows), rows
    api = [r for r in rows if r["target"] == "POST /api/v1/datasets"]
    assert {r["actor"] for r in api} == {"steward"} and all(r["outcome"] == "denied" for r in api)
    assert any("missing" in r["detail"] for r in api) and any("mismatch" in r["detail"] for r in api)
    assert any(r["target"] == "POST /login" and r["actor"] == "anonymous" for r in rows), rows
