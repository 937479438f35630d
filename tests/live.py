"""Live servers and a real browser for tests: a free port, the app under uvicorn in a thread, Debian's Chromium.

The ``server`` and ``browser`` fixtures of ``tests/web/conftest.py`` are built from these; tests that need a
server of their own (another app, a small upload cap) use :func:`serve_in_thread` directly."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def require_chromium() -> None:
    """Browser tests run wherever Chromium is; in CI its absence is a failure, elsewhere a skip with the fix."""
    if CHROMIUM.exists():
        return
    reason = f"{CHROMIUM} not found (apt-get install chromium fonts-wqy-microhei)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"browser tests must run in CI: {reason}")
    pytest.skip(reason)


@contextmanager
def serve_in_thread(app: Any, *, lifespan: str = "on", timeout: float = 30) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port in a daemon thread; yields its base URL."""
    import uvicorn

    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan=lifespan))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


def launch_chromium(playwright: Any) -> Any:
    """Headless Debian Chromium with the flags the brief asks for (no sandbox, no GPU, no background traffic)."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)


def portal_sign_in(page: Any, server: str, user: str, password: str, *, landing: str | None = "/") -> None:
    """Sign in through the portal's login form; wait for ``landing`` (None: do not wait, e.g. a form that
    asks for a new password or a second factor next)."""
    page.goto(server + "/login")
    page.fill("#f-username", user)
    page.fill("#f-password", password)
    page.locator('#login-form button[type="submit"]').click()
    if landing is not None:
        page.wait_for_url(server + landing)
