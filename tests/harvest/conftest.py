"""Harvest test helpers: a local department to harvest into, a tiny scriptable HTTP server (DCAT files,
500s, garbage, slow answers) and a second CityHub instance started as a real uvicorn subprocess."""

from __future__ import annotations

import contextlib
import http.server
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN_PASSWORD, Store, call_as, unique

ROOT = Path(__file__).resolve().parents[2]


def make_department(slug: str | None = None) -> str:
    """A local department (valid unified social credit code) to harvest into; returns its slug."""
    from cityhub.ids import uscc_check_char

    raw = "1144010000" + unique("")[-7:].upper()
    first = "".join(c if c in "0123456789ABCDEFGHJKLMNPQRTUWXY" else "1" for c in raw)[:17]
    slug = slug or unique("hv")
    call_as("system", "department_create", {"slug": slug, "name": unique("采集部门"), "short_name": "采集",
                                            "uscc": first + uscc_check_char(first), "level": "市"})
    return slug


#: the harvest tests read servers on loopback, which the harvester refuses by default: they allow it explicitly
LOOPBACK = "127.0.0.0/8,::1"


@pytest.fixture(autouse=True)
def allow_loopback(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from cityhub.settings import get_settings

    monkeypatch.setenv("CITYHUB_HARVEST_ALLOWED_NETWORKS", LOOPBACK)
    get_settings.cache_clear()
    yield
    monkeypatch.delenv("CITYHUB_HARVEST_ALLOWED_NETWORKS")
    get_settings.cache_clear()


@dataclass
class Script:
    """What the tiny server answers: path → (status, content type, body, delay seconds), plus extra headers
    per path (e.g. a redirect's ``Location``)."""

    routes: dict[str, tuple[int, str, bytes, float]] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)
    headers: dict[str, dict[str, str]] = field(default_factory=dict)


class _Handler(http.server.BaseHTTPRequestHandler):
    script: Script

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        self.script.hits.append(self.path)
        status, ctype, body, delay = self.script.routes.get(path, (404, "text/plain", b"not found", 0.0))
        if delay:
            time.sleep(delay)
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for key, value in self.script.headers.get(path, {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, format: str, *args: Any) -> None:
        return


@contextlib.contextmanager
def scripted_server(host: str = "127.0.0.1") -> Iterator[tuple[str, Script]]:
    """A threaded HTTP server on ``host`` (any loopback address) whose answers the test scripts."""
    script = Script()
    handler = type("H", (_Handler,), {"script": script})
    srv = http.server.ThreadingHTTPServer((host, 0), handler)
    srv.daemon_threads = True
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{srv.server_address[1]}", script
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.fixture
def tiny_server() -> Iterator[tuple[str, Script]]:
    """A threaded HTTP server on loopback whose answers the test scripts."""
    with scripted_server() as served:
        yield served


@dataclass
class Instance:
    """A second CityHub: its own home, SQLite database, demo content and uvicorn process."""

    url: str
    home: Path
    proc: subprocess.Popen[bytes]
    env: dict[str, str]

    def token(self, user: str = "admin") -> str:
        out = self.cli("token", "create", "--user", user)
        for line in out.splitlines():
            word = line.strip().split()[-1] if line.strip() else ""
            if len(word) > 30:
                return word
        raise AssertionError(f"no token in {out!r}")

    def cli(self, *args: str) -> str:
        res = subprocess.run([sys.executable, "-m", "cityhub.cli.main", *args], env=self.env, capture_output=True,
                             text=True, timeout=300, cwd=ROOT)
        assert res.returncode == 0, res.stdout + res.stderr
        return res.stdout

    def api(self, token: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=60)


def start_instance(home: Path, port: int, demo: bool = True,
                   prepare: Callable[[Instance], None] | None = None) -> Instance:
    """Migrate (and load the demo into) a fresh home, then serve it with uvicorn on ``port``."""
    home.mkdir(parents=True, exist_ok=True)
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "CITYHUB_HOME": str(home), "CITYHUB_DATABASE_URL": f"sqlite:///{home / 'cityhub.db'}",
           "CITYHUB_BASE_URL": url, "CITYHUB_ADMIN_PASSWORD": ADMIN_PASSWORD, "CITYHUB_ENV": "test",
           "CITYHUB_JOBS_INLINE": "false", "PYTHONPATH": str(ROOT / "src"),
           "CITYHUB_HARVEST_ALLOWED_NETWORKS": LOOPBACK}  # it harvests this instance back, over loopback
    env.setdefault("CITYHUB_SECRET_KEY", "test-secret-key-harvest-0123456789")
    inst = Instance(url=url, home=home, proc=None, env=env)  # type: ignore[arg-type]
    inst.cli("db", "upgrade")
    if demo:
        inst.cli("demo", "load")
    if prepare:
        prepare(inst)
    inst.proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "cityhub.web.app:create_app", "--factory",
                                  "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                                 env=env, cwd=ROOT)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/api/3/action/status_show", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or inst.proc.poll() is not None:
            inst.proc.kill()
            pytest.fail("second CityHub instance did not start")
        time.sleep(0.2)
    return inst


def stop_instance(inst: Instance) -> None:
    inst.proc.terminate()
    try:
        inst.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        inst.proc.kill()


def harvest(source: str) -> dict[str, Any]:
    """Run a source in this thread and return the finished run (with its log)."""
    started = call_as("system", "harvest_run", {"source": source, "wait": True})
    run: dict[str, Any] = call_as("system", "harvest_run_show", {"id": started["id"]})
    return run


def local_state(source: str) -> dict[str, str]:
    """name → state of the datasets a source harvested (read through the actions)."""
    from cityhub import actions
    from cityhub.context import system_context

    out = actions.call("harvest_dataset_list", system_context("test"), {"source": source})
    return {d["name"]: d["state"] for d in out}


def store_admin(store: Store) -> None:
    store.activate()
