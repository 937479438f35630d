"""No page loads anything from another host: a government intranet has no internet, and public CDNs are
unreliable in mainland China. The crawl covers every page a visitor, a steward and the admin reach by
following links, plus the API documentation; the browser test checks the same with Chromium's own requests."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urljoin, urlsplit

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Store
from tests.web.crawl import HTML, crawl, parse
from tests.web.test_pages import signed_in

LOCAL = ("", "testserver", "127.0.0.1:8000")


@pytest.fixture
def client(sqlite_demo_store: Store) -> Iterator[TestClient]:
    """The demo on SQLite only: what a page loads does not depend on the database."""
    from cityhub.web.app import create_app

    sqlite_demo_store.activate()
    with TestClient(create_app(), base_url="http://127.0.0.1:8000") as c:
        yield c


def _outside(url: str, value: str) -> bool:
    target = urlsplit(urljoin(url, value.strip().split(" ")[0]))
    return target.scheme not in ("", "http", "https", "data") or (target.scheme != "data" and target.netloc not in LOCAL)


def _css_urls(client: TestClient, href: str) -> list[str]:
    css = client.get(href).text
    return re.findall(r"url\(\s*['\"]?([^'\")]+)", css) + re.findall(r"@import\s+['\"]([^'\"]+)", css)


@pytest.mark.parametrize("who", [None, "steward", "admin"])
def test_no_page_loads_anything_from_another_host(client: TestClient, sqlite_demo_store: Store,
                                                  who: str | None) -> None:
    if who:
        signed_in(client, sqlite_demo_store.passwords, who)
    starts = ["/", "/dataset", "/organization", "/plans", "/api/docs", "/login"]
    if who:
        starts += ["/account", "/dataset/new", "/admin/departments", "/admin/users", "/admin/audit"]
    pages = crawl(client, starts, limit=70)
    assert "/api/docs" in pages and len(pages) > 20
    bad: list[str] = []
    for url, (_status, body) in pages.items():
        for tag, attr, value in parse(url, body).assets:
            if _outside(url, value):
                bad.append(f"{url}: <{tag} {attr}={value!r}>")
            if tag == "link" and value.split("?")[0].endswith(".css"):
                bad += [f"{value}: url({u})" for u in _css_urls(client, value)
                        if not u.startswith(("data:", "#")) and _outside(value, u)]
    assert not bad, "\n".join(sorted(set(bad)))


def test_api_docs_are_served_from_the_package(client: TestClient) -> None:
    resp = client.get("/api/docs", headers=HTML)
    assert resp.status_code == 200
    page = parse("/api/docs", resp.text)
    loaded = {v.split("?")[0] for _t, _a, v in page.assets}
    assert {"/static/vendor/swagger-ui/swagger-ui-bundle.js", "/static/vendor/swagger-ui/swagger-ui.css"} <= loaded
    for asset in loaded:
        got = client.get(asset)
        assert got.status_code == 200 and len(got.content) > 500, asset
    # the start-up script runs under a CSP that names it by hash and lets nothing load from elsewhere
    csp = resp.headers["content-security-policy"]
    assert "script-src 'self' 'sha256-" in csp and "connect-src 'self'" in csp and "unsafe-eval" not in csp
    assert '"validatorUrl": null' in resp.text  # no badge from validator.swagger.io
    assert client.get("/api/redoc").status_code == 404  # not served (it would need its own bundle)
    licence = client.get("/static/vendor/swagger-ui/LICENSE")
    assert licence.status_code == 200 and "Apache License" in licence.text
