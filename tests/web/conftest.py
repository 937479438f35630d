"""Fixtures of the browser tests: one uvicorn serving the demo store and one headless Chromium per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import Store
from tests.live import launch_chromium, require_chromium, serve_in_thread


@pytest.fixture(scope="module")
def server(sqlite_demo_store: Store) -> Iterator[str]:
    require_chromium()
    from cityhub.web.app import create_app

    sqlite_demo_store.activate()
    with serve_in_thread(create_app()) as url:
        yield url


@pytest.fixture(scope="module")
def browser(server: str) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch_chromium(p)
        yield b
        b.close()
