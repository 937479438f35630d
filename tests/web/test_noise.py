"""What `make test` and a server print besides results: nothing (no warnings at start, no leak reports at exit)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CITYHUB_HOME": str(tmp_path), "CITYHUB_DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}",
           "CITYHUB_ENV": "test", "CITYHUB_SECRET_KEY": "noise-test-secret-key-123"}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def test_app_starts_without_warnings(tmp_path: Path) -> None:
    # was: UserWarning: Field name "schema" in "Body_datastore_load" shadows an attribute in parent "BaseModel"
    done = _run("import warnings; warnings.simplefilter('error')\n"
                "from cityhub.web.app import create_app\ncreate_app().openapi()\nprint('ok')", tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
    assert done.stderr == ""


def test_server_process_exits_without_duckdb_leak_reports(tmp_path: Path) -> None:
    # the lifespan freezes the start-up objects (gc.freeze); frozen objects are never collected, so DuckDB's
    # bindings (nanobind) reported ~100 "leaked instance/type/function" lines at every worker's exit
    code = """
from cityhub.migrate import upgrade
import os
upgrade(os.environ["CITYHUB_DATABASE_URL"])
import duckdb
from fastapi.testclient import TestClient
from cityhub.web.app import create_app
conn = duckdb.connect(":memory:")
rel = conn.sql("SELECT 1 AS a")
with TestClient(create_app(), base_url="http://127.0.0.1:8000") as client:
    assert client.get("/api/3/action/status_show").status_code == 200
print("ok")
"""
    done = _run(code, tmp_path)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-2000:]
    assert "nanobind" not in done.stderr and "leaked" not in done.stderr, done.stderr[-2000:]
